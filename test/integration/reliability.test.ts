/**
 * Reliability of the trainer, with REAL trainer processes (functions/trainer/main.ts spawned as host
 * processes) against the local emulator's real queue and bucket: duplicates and the job lease, a
 * hard crash (kill -9), a graceful stop (SIGTERM) with a mid-epoch checkpoint, and S3/SQS becoming
 * unreachable mid-job (a TCP proxy between the trainer and the emulator is cut; the shared emulator
 * itself is never stopped). Figures from these runs are in docs/reliability.md.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { JobStore } from '../../shared/job-store';
import { readLease } from '../../functions/trainer/lifecycle/lease';
import { modelKeys } from '../../shared/bucket-layout';
import type { Bucket } from '../../shared/s3-objects';
import { emulatorUrl } from '../../local/emulator';
import { freshBucket, freshQueue, useEmulator, emulatorReady } from '../helpers/aws';
import { TcpProxy } from '../helpers/tcp-proxy';
import {
  FAST_TRAINER_ENV,
  jobFinished,
  queueCounts,
  SMALL_MNIST,
  sendJob,
  smallJobParams,
  spawnTrainer,
  stopTrainer,
  uploadSmallMnist,
  waitFor,
  type Trainer,
} from '../helpers/trainer';
import type { CheckpointInfo, JobStatus } from '../../shared/documents';

useEmulator();

let bucket: Bucket;
let jobs: JobStore;
const running: Trainer[] = [];
/** Outcomes, printed at the end for docs/reliability.md. */
const figures: Record<string, unknown> = {};

before(async () => {
  await emulatorReady();
  bucket = await freshBucket('reliability');
  jobs = new JobStore(bucket);
  await uploadSmallMnist(bucket, SMALL_MNIST, 6000, 1000);
});

after(async () => {
  await Promise.all(running.map((t) => stopTrainer(t, 5_000)));
  console.log(`RELIABILITY FIGURES ${JSON.stringify(figures)}`);
});

function trainer(name: string, queueUrl: string, env: Record<string, string> = {}): Trainer {
  const t = spawnTrainer(name, bucket, queueUrl, env);
  running.push(t);
  return t;
}

const queue = () => freshQueue('reliability', { VisibilityTimeout: FAST_TRAINER_ENV.VISIBILITY_TIMEOUT_SECONDS });

const logsOf = (t: Trainer, message: string, jobId?: string) =>
  t.logs().filter((l) => l.message === message && (!jobId || l.jobId === jobId));

test('duplicates: two trainers and the same job sent twice train it once; a finished job sent again is a no-op', async () => {
  const q = await queue();
  const jobId = 'dup-1';
  const body = { jobId, params: smallJobParams({ epochs: 2, trainSubset: 2000 }) };
  await sendJob(q, body);
  await sendJob(q, body);
  const a = trainer('dup-a', q, FAST_TRAINER_ENV);
  const b = trainer('dup-b', q, FAST_TRAINER_ENV);

  const done = await waitFor<JobStatus>('dup-1 to finish', jobFinished(jobs, jobId), 180_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.attempts, 1, 'trained by exactly one trainer, once');
  // The duplicate message is deleted once the job is done (it bounced on the lease meanwhile).
  await waitFor('queue to drain', async () => (await queueCounts(q)).total === 0, 60_000);
  const starts = [...logsOf(a, 'starting', jobId), ...logsOf(b, 'starting', jobId)];
  assert.equal(starts.length, 1, 'one "starting" across both trainers');
  const bounced = [
    ...logsOf(a, 'job is leased by another trainer; returning the message for later', jobId),
    ...logsOf(b, 'job is leased by another trainer; returning the message for later', jobId),
  ];
  const dupDeleted = [
    ...logsOf(a, 'job already succeeded; deleting the duplicate message', jobId),
    ...logsOf(b, 'job already succeeded; deleting the duplicate message', jobId),
  ];
  assert.ok(bounced.length + dupDeleted.length >= 1, 'the second copy was either held back by the lease or dropped as already done');
  assert.equal((await readLease(bucket, jobId))?.released, true, 'lease released (marked free by a conditional PUT, not deleted)');

  // A finished job delivered again: no-op (nothing retrained, message deleted).
  const marker = await bucket.getJson<CheckpointInfo>(modelKeys.final(jobId) + modelKeys.marker);
  await sendJob(q, body);
  await waitFor('redelivered finished job to be deleted', async () => (await queueCounts(q)).total === 0, 30_000);
  assert.deepEqual(await bucket.getJson(modelKeys.final(jobId) + modelKeys.marker), marker, 'final model untouched');
  assert.equal((await jobs.get(jobId))!.attempts, 1);
  figures.duplicates = {
    messages: 3,
    trainings: starts.length,
    leaseBounces: bounced.length,
    duplicateDeletes: dupDeleted.length,
    testAccuracy: done.testAccuracy,
  };
  await Promise.all([stopTrainer(a), stopTrainer(b)]);
});

test('hard crash: kill -9 mid-epoch, a new trainer resumes from the last complete checkpoint (a half-written one is ignored)', async () => {
  const q = await queue();
  const jobId = 'crash-1';
  // Enough epochs that the kill lands mid-job on either route: an epoch is short on the native
  // step of an idle machine and long on the wasm step of a busy one.
  const EPOCHS = 6;
  await sendJob(q, { jobId, params: smallJobParams({ epochs: EPOCHS, trainSubset: 6000 }) });
  const a = trainer('crash-a', q, FAST_TRAINER_ENV);
  await waitFor('epoch 1 checkpoint', async () => ((await jobs.get(jobId))?.epoch ?? 0) >= 1, 180_000, 100);
  await new Promise((resolve) => setTimeout(resolve, 300)); // into the next epoch
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  assert.equal((await a.exited).signal, 'SIGKILL');
  // The last complete checkpoint is the last epoch with a marker (read after the kill: nothing can change now).
  const markers = (await bucket.listKeys(modelKeys.checkpoints(jobId))).filter((k) => /epoch-\d+\/checkpoint\.json$/.test(k));
  const lastEpoch = markers.length;
  assert.ok(lastEpoch >= 1 && lastEpoch < EPOCHS, `killed after ${lastEpoch} complete epochs`);
  const epochMarker = await bucket.getJson<CheckpointInfo>(modelKeys.epoch(jobId, lastEpoch) + modelKeys.marker);
  // What a crash in the middle of writing the next checkpoint leaves: weights and model.json, no marker.
  const half = modelKeys.epoch(jobId, lastEpoch + 1);
  await bucket.putBytes(half + 'weights.bin', new Uint8Array([1, 2, 3]));
  await bucket.putBytes(half + 'model.json', new TextEncoder().encode('{"not": "a model"'));

  const b = trainer('crash-b', q, FAST_TRAINER_ENV);
  const done = await waitFor<JobStatus>('crash-1 to finish', jobFinished(jobs, jobId), 240_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.resumedFromEpoch, lastEpoch, `resumed from epoch ${lastEpoch}, not 0`);
  assert.equal(done.attempts, 2);
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    Array.from({ length: EPOCHS }, (_, i) => i + 1),
  );
  assert.ok(done.testAccuracy! > 0.85, `test accuracy ${done.testAccuracy}`);
  assert.deepEqual(
    await bucket.getJson(modelKeys.epoch(jobId, lastEpoch) + modelKeys.marker),
    epochMarker,
    'completed epochs not retrained',
  );
  const resumed = logsOf(b, 'resuming from checkpoint', jobId)[0];
  assert.equal(resumed?.checkpoint, modelKeys.epoch(jobId, lastEpoch));
  const tookOver = logsOf(b, 'took over an expired job lease', jobId).length > 0;
  await waitFor('queue to drain', async () => (await queueCounts(q)).total === 0, 30_000);
  const pickedUpAfterMs = Date.parse(String(resumed.timestamp)) - killedAt;
  figures.hardCrash = {
    epochs: EPOCHS,
    killedDuringEpoch: lastEpoch + 1,
    resumedFromEpoch: done.resumedFromEpoch,
    pickedUpAfterSeconds: Math.round(pickedUpAfterMs / 100) / 10,
    leaseTakenOver: tookOver,
    testAccuracy: done.testAccuracy,
    messagesLost: 0,
  };
  await stopTrainer(b);
});

test('graceful stop: SIGTERM mid-epoch writes a mid-epoch checkpoint, returns the message, exits 0 within 30 s; another trainer resumes at that batch', async () => {
  const q = await queue();
  const jobId = 'stop-1';
  // Three epochs: the native step can finish an epoch of 6,000 images in well under a second, so the
  // stop must land mid-epoch whatever the speed (any epoch will do).
  await sendJob(q, { jobId, params: smallJobParams({ epochs: 3, trainSubset: 6000 }) });
  const a = trainer('stop-a', q, FAST_TRAINER_ENV);
  await waitFor('job to run', async () => (await jobs.get(jobId))?.status === 'RUNNING', 120_000, 100);
  // Into epoch 1: right after its first batch (a fixed sleep lands before it on a loaded machine, and
  // after the whole job on an idle one).
  await waitFor('the first batch', async () => logsOf(a, 'first batch done', jobId).length > 0, 180_000, 50);
  const t0 = Date.now();
  a.child.kill('SIGTERM');
  const exit = await a.exited;
  const stopSeconds = (Date.now() - t0) / 1000;
  assert.equal(exit.code, 0, 'exit code 0');
  assert.ok(stopSeconds < 30, `stopped in ${stopSeconds} s`);
  const written = logsOf(a, 'mid-epoch checkpoint written', jobId)[0];
  assert.ok(written, 'a mid-epoch checkpoint was written');
  const position = { epoch: Number(written.epoch), batch: Number(written.batch) };
  assert.ok(position.batch > 0);
  const marker = await bucket.getJson<CheckpointInfo>(modelKeys.partial(jobId, position.epoch, position.batch) + modelKeys.marker);
  assert.deepEqual({ epoch: marker?.position?.epoch, batch: marker?.position?.batch }, position);
  assert.equal((await queueCounts(q)).visible, 1, 'the message is visible again at once');
  assert.equal((await readLease(bucket, jobId))?.released, true, 'lease released (marked free by a conditional PUT, not deleted)');

  const b = trainer('stop-b', q, FAST_TRAINER_ENV);
  const done = await waitFor<JobStatus>('stop-1 to finish', jobFinished(jobs, jobId), 240_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.resumedFromEpoch, position.epoch);
  assert.equal(done.resumedFromBatch, position.batch);
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    [1, 2, 3],
  );
  assert.ok(
    done.metrics.every((m) => m.accuracy > 0.5 && m.accuracy <= 1),
    'epoch metrics cover whole epochs (running sums carried over)',
  );
  assert.ok(done.testAccuracy! > 0.85, `test accuracy ${done.testAccuracy}`);
  await waitFor('queue to drain', async () => (await queueCounts(q)).total === 0, 30_000);
  figures.gracefulStop = {
    sigtermDuringEpoch: position.epoch + 1,
    checkpointAtBatch: position.batch,
    secondsToExit: Math.round(stopSeconds * 10) / 10,
    exitCode: exit.code,
    resumedFrom: { epoch: done.resumedFromEpoch, batch: done.resumedFromBatch },
    testAccuracy: done.testAccuracy,
    messagesLost: 0,
  };
  await stopTrainer(b);
});

test('dependency fault: S3 and SQS unreachable for 15 s mid-job (proxy cut); the trainer retries, finishes the job and takes the next', async () => {
  const q = await queue();
  const target = new URL(emulatorUrl());
  const proxy = new TcpProxy(target.hostname, Number(target.port));
  await proxy.start();
  try {
    const viaProxy = q.replace(emulatorUrl(), proxy.url);
    const a = trainer('fault-a', viaProxy, {
      ...FAST_TRAINER_ENV,
      VISIBILITY_TIMEOUT_SECONDS: '30',
      HEARTBEAT_SECONDS: '3',
      AWS_ENDPOINT_URL: proxy.url,
      AWS_ENDPOINT_URL_S3: proxy.url,
    });
    const jobId = 'fault-1';
    await sendJob(q, { jobId, params: smallJobParams({ epochs: 3, trainSubset: 3000 }) });
    await waitFor('epoch 1', async () => ((await jobs.get(jobId))?.epoch ?? 0) >= 1, 180_000, 100);
    await proxy.cut();
    const cutAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const duringCut = (await jobs.get(jobId))!;
    await proxy.restore();
    const done = await waitFor<JobStatus>('fault-1 to finish', jobFinished(jobs, jobId), 240_000);
    assert.equal(done.status, 'SUCCEEDED', done.reason);
    assert.equal(done.attempts, 1, 'finished in its first attempt: no restart, nothing lost');
    assert.deepEqual(
      done.metrics.map((m) => m.epoch),
      [1, 2, 3],
    );
    assert.ok(done.testAccuracy! > 0.85, `test accuracy ${done.testAccuracy}`);
    const retries = a
      .logs()
      .filter(
        (l) =>
          l.message === 'retrying' ||
          l.message === 'heartbeat failed' ||
          l.message === 'lease renewal failed' ||
          l.message === 'poll failed; retrying',
      );
    assert.ok(retries.length > 0, 'the trainer saw the outage and retried');
    assert.equal(a.child.exitCode, null, 'the trainer is still running');

    // The loop survived: the next job runs too.
    await sendJob(q, { jobId: 'fault-2', params: smallJobParams({ epochs: 1, trainSubset: 500 }) });
    const next = await waitFor<JobStatus>('fault-2 to finish', jobFinished(jobs, 'fault-2'), 120_000);
    assert.equal(next.status, 'SUCCEEDED', next.reason);
    await waitFor('queue to drain', async () => (await queueCounts(q)).total === 0, 30_000);
    figures.dependencyFault = {
      cutSeconds: 15,
      cutDuringEpoch: (duringCut.epoch ?? 0) + 1,
      retriesLogged: retries.length,
      finishedSecondsAfterRestore: Math.round((Date.parse(done.updatedAt) - cutAt - 15_000) / 100) / 10,
      attempts: done.attempts,
      testAccuracy: done.testAccuracy,
      nextJob: next.status,
      messagesLost: 0,
    };
    await stopTrainer(a);
  } finally {
    await proxy.close();
  }
});
