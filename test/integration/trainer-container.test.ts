/**
 * The trainer IMAGE (functions/trainer/Dockerfile, built as lenet-trainer:local by
 * local/docker/build-trainer-image.sh) run as real containers against the local emulator's real
 * queue and bucket with real MNIST: it runs as non-root with node as PID 1, trains a job to a
 * promoted model, checkpoints mid-epoch on `docker stop` and exits 0 (a second container resumes at
 * that batch), and after `docker kill` a second container resumes from the last complete epoch.
 * Host network: MiniStack binds 127.0.0.1 only (docs: /work/shared/notes/ministack-ecs-and-iam.md).
 * Figures are printed at the end (CONTAINER FIGURES) for docs/container.md.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readLease } from '../../functions/trainer/lifecycle/lease';
import { EMULATOR_REGION, emulatorUrl } from '../../local/emulator';
import { JobStore } from '../../shared/job-store';
import { modelKeys } from '../../shared/bucket-layout';
import type { Bucket } from '../../shared/s3-objects';
import { freshBucket, freshQueue, useEmulator, emulatorReady } from '../helpers/aws';
import { docker, dockerUnavailable, removeContainers, runContainer, type Container } from '../helpers/docker';
import {
  FAST_TRAINER_ENV,
  jobFinished,
  queueCounts,
  SMALL_MNIST,
  sendJob,
  smallJobParams,
  testTrainerEnv,
  uploadSmallMnist,
  waitFor,
} from '../helpers/trainer';
import type { CheckpointInfo, JobStatus, LatestModel } from '../../shared/documents';

const IMAGE = 'lenet-trainer:local';
const skip = dockerUnavailable();
if (skip) console.log(`# skipping trainer-container tests: ${skip}`);

let bucket: Bucket;
let jobs: JobStore;
const containers: Container[] = [];
const figures: Record<string, unknown> = {};

if (!skip) {
  useEmulator();
  before(async () => {
    // Always (re)build: a stale image would test old code. Cached layers keep this short.
    const build = promisify(execFile)('local/docker/build-trainer-image.sh', [IMAGE], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 15 * 60_000,
    });
    await emulatorReady();
    bucket = await freshBucket('container');
    jobs = new JobStore(bucket);
    await uploadSmallMnist(bucket, SMALL_MNIST, 6000, 1000);
    await build;
    figures.imageBytes = Number(await docker('image', 'inspect', '-f', '{{.Size}}', IMAGE));
  });
  after(async () => {
    await removeContainers(containers);
    console.log(`CONTAINER FIGURES ${JSON.stringify(figures)}`);
  });
}

const queue = () => freshQueue('container', { VisibilityTimeout: FAST_TRAINER_ENV.VISIBILITY_TIMEOUT_SECONDS });

/** A trainer container on the host network, pointed at the emulator with test credentials. */
async function trainer(name: string, queueUrl: string, env: Record<string, string> = {}): Promise<Container> {
  const c = await runContainer(
    `lenet-test-${name}-${Date.now()}`,
    IMAGE,
    {
      AWS_ENDPOINT_URL: emulatorUrl(),
      AWS_ENDPOINT_URL_S3: emulatorUrl(),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: EMULATOR_REGION,
      BUCKET_NAME: bucket.name,
      QUEUE_URL: queueUrl,
      ...testTrainerEnv(name),
      ...FAST_TRAINER_ENV,
      ...env,
    },
    ['--network', 'host'],
  );
  containers.push(c);
  return c;
}

const logOf = async (c: Container, message: string) => (await c.logs()).find((l) => l.message === message);
const seconds = (ms: number) => Math.round(ms / 100) / 10;

test('image: runs as a non-root user, with node itself as PID 1', { skip }, async () => {
  assert.equal(await docker('image', 'inspect', '-f', '{{.Config.User}}', IMAGE), 'node');
  const uid = await docker('run', '--rm', '--network', 'none', IMAGE, 'id', '-u');
  assert.notEqual(uid, '0');
  assert.equal(uid, '1000');
  // PID 1 of the default command (not a one-off `id`): read from a running trainer container.
  const c = await trainer('pid1', await queue());
  const cmdline = (await docker('exec', c.id, 'cat', '/proc/1/cmdline')).split('\0');
  assert.equal(cmdline[0], 'node', `PID 1 is ${cmdline.join(' ')}`);
  assert.equal(await docker('exec', c.id, 'id', '-u'), '1000');
  await docker('rm', '-f', c.id);
});

test('a container takes a job from SQS, writes epoch checkpoints and a final model to S3 and promotes it', { skip }, async () => {
  const q = await queue();
  const jobId = 'ctr-job-1';
  await sendJob(q, { jobId, params: smallJobParams({ epochs: 2, trainSubset: 2000 }) });
  const c = await trainer('job', q);
  const done = await waitFor<JobStatus>(`${jobId} to finish`, jobFinished(jobs, jobId), 240_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.backend, 'wasm', 'the image trains on wasm (no tfjs-node)');
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    [1, 2],
  );
  assert.ok(done.testAccuracy! > 0.8, `test accuracy ${done.testAccuracy}`);
  for (const epoch of [1, 2]) {
    const marker = await bucket.getJson<CheckpointInfo>(modelKeys.epoch(jobId, epoch) + modelKeys.marker);
    assert.equal(marker?.epoch, epoch, `epoch ${epoch} checkpoint marker`);
  }
  assert.ok(await bucket.getBytes(modelKeys.final(jobId) + 'weights.bin'), 'final weights');
  assert.equal((await bucket.getJson<CheckpointInfo>(modelKeys.final(jobId) + modelKeys.marker))?.jobId, jobId);
  const latest = await bucket.getJson<LatestModel>(modelKeys.latest);
  assert.equal(latest?.jobId, jobId, 'models/latest.json points at the new model');
  assert.equal(latest?.modelPrefix, modelKeys.final(jobId));
  await waitFor('queue to drain', async () => (await queueCounts(q)).total === 0, 30_000);

  const started = await c.startedAt();
  const first = await logOf(c, 'first batch done');
  assert.ok(first, 'a "first batch done" log line');
  figures.coldStart = {
    containerStartToTrainerStartedSeconds: seconds(Date.parse(String((await logOf(c, 'trainer started'))!.timestamp)) - started),
    containerStartToFirstBatchSeconds: seconds(Date.parse(String(first.timestamp)) - started),
    nodeUptimeAtFirstBatchSeconds: first.processUptimeSeconds,
    note: 'job already queued when the container started; includes the dataset download from the emulator',
  };
  // Idle (between jobs) stop: also exit 0.
  await docker('stop', '-t', '60', c.id);
  assert.equal(await c.wait(), 0);
});

test('docker stop mid-epoch: a mid-epoch checkpoint is written, the container exits 0, and a second container resumes at that batch', {
  skip,
}, async () => {
  const q = await queue();
  const jobId = 'ctr-stop-1';
  await sendJob(q, { jobId, params: smallJobParams({ epochs: 3, trainSubset: 6000 }) });
  const a = await trainer('stop-a', q);
  await waitFor('the first batch', () => logOf(a, 'first batch done'), 180_000, 200);
  await new Promise((resolve) => setTimeout(resolve, 300)); // inside epoch 1: on the native route 3 epochs can end within 1.5 s
  const t0 = Date.now();
  await docker('stop', '-t', '60', a.id); // SIGTERM, SIGKILL only after 60 s
  const stopSeconds = (Date.now() - t0) / 1000;
  const exitCode = await a.wait();
  assert.equal(exitCode, 0, 'exit code 0 (not 137: SIGTERM reached the trainer, no SIGKILL needed)');
  assert.ok(stopSeconds < 30, `stopped in ${stopSeconds} s`);
  assert.ok(await logOf(a, 'stopping after the current batch'), 'the trainer saw SIGTERM');
  const written = await logOf(a, 'mid-epoch checkpoint written');
  assert.ok(written, 'a mid-epoch checkpoint was written');
  const position = { epoch: Number(written.epoch), batch: Number(written.batch) };
  assert.ok(position.batch > 0);
  const marker = await bucket.getJson<CheckpointInfo>(modelKeys.partial(jobId, position.epoch, position.batch) + modelKeys.marker);
  assert.deepEqual({ epoch: marker?.position?.epoch, batch: marker?.position?.batch }, position, 'marker of the partial checkpoint in S3');
  assert.equal((await queueCounts(q)).visible, 1, 'the message is visible again at once');
  assert.equal((await readLease(bucket, jobId))?.released, true, 'lease released (marked free by a conditional PUT)');

  const b = await trainer('stop-b', q);
  const done = await waitFor<JobStatus>(`${jobId} to finish`, jobFinished(jobs, jobId), 240_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.resumedFromEpoch, position.epoch);
  assert.equal(done.resumedFromBatch, position.batch);
  const resumed = await logOf(b, 'resuming from checkpoint');
  assert.equal(resumed?.checkpoint, modelKeys.partial(jobId, position.epoch, position.batch));
  assert.equal(resumed?.startBatch, position.batch);
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    [1, 2, 3],
  );
  assert.ok(done.testAccuracy! > 0.85, `test accuracy ${done.testAccuracy}`);
  figures.dockerStop = {
    stopToExitSeconds: Math.round(stopSeconds * 10) / 10,
    exitCode,
    checkpointAt: position,
    resumedFrom: { epoch: done.resumedFromEpoch, batch: done.resumedFromBatch },
    testAccuracy: done.testAccuracy,
  };
  await docker('stop', '-t', '60', b.id);
});

test('docker kill mid-epoch: a second container resumes from the last complete epoch', { skip }, async () => {
  const q = await queue();
  const jobId = 'ctr-kill-1';
  await sendJob(q, { jobId, params: smallJobParams({ epochs: 3, trainSubset: 6000 }) });
  const a = await trainer('kill-a', q);
  await waitFor('epoch 1 checkpoint', async () => ((await jobs.get(jobId))?.epoch ?? 0) >= 1, 240_000, 100);
  await new Promise((resolve) => setTimeout(resolve, 200)); // into epoch 2, short of its end even on the native route
  await docker('kill', a.id); // SIGKILL: no chance to checkpoint or return the message
  const killedAt = Date.now();
  assert.equal(await a.wait(), 137);
  assert.equal(await logOf(a, 'mid-epoch checkpoint written'), undefined, 'no checkpoint on SIGKILL');
  const markers = (await bucket.listKeys(modelKeys.checkpoints(jobId))).filter((k) => /epoch-\d+\/checkpoint\.json$/.test(k));
  const lastEpoch = markers.length;
  assert.ok(lastEpoch >= 1 && lastEpoch < 3, `killed after ${lastEpoch} complete epochs`);
  assert.equal((await bucket.listKeys(modelKeys.checkpoints(jobId))).filter((k) => k.includes('/partial-')).length, 0);

  const b = await trainer('kill-b', q);
  const done = await waitFor<JobStatus>(`${jobId} to finish`, jobFinished(jobs, jobId), 300_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.resumedFromEpoch, lastEpoch, `resumed from epoch ${lastEpoch}`);
  assert.equal(done.resumedFromBatch, undefined, 'from an epoch boundary, not mid-epoch');
  assert.equal(done.attempts, 2);
  const resumed = await logOf(b, 'resuming from checkpoint');
  assert.equal(resumed?.checkpoint, modelKeys.epoch(jobId, lastEpoch));
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    [1, 2, 3],
  );
  figures.dockerKill = {
    killedDuringEpoch: lastEpoch + 1,
    resumedFromEpoch: done.resumedFromEpoch,
    pickedUpAfterSeconds: seconds(Date.parse(String(resumed!.timestamp)) - killedAt),
    leaseTakenOver: Boolean(await logOf(b, 'took over an expired job lease')),
    testAccuracy: done.testAccuracy,
  };
  await docker('stop', '-t', '60', b.id);
});
