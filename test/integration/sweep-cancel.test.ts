/**
 * Cancelling a sweep (POST /sweeps/{id}/cancel, `lenet sweep cancel`) through the emulator's API
 * Gateway and the deployed api function, with REAL trainer host processes: a sweep cancelled while
 * no trainer runs has every job CANCELLED at once, and a trainer started afterwards runs none of them
 * and empties the queue; a sweep cancelled while one of its jobs trains stops that job at its next
 * batch; and a cancel that comes too late for a job's final model still keeps the sweep from
 * promoting it. None promotes anything, though all ask for --promote best. Unsigned and unauthorised
 * calls are refused in test/integration/auth.test.ts (it covers every IAM route).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { jobKeys, modelKeys, sweepKeys } from '../../shared/bucket-layout';
import type { CancelRequest, SweepCancel, SweepPromotionClaim } from '../../shared/documents';
import { Bucket } from '../../shared/s3-objects';
import type { SweepView } from '../../functions/api/sweeps-api';
import { ApiClient } from '../../cli/api-client';
import { EXIT } from '../../cli/exit-codes';
import { deployStack, emulatorGap, type StackOutputs } from '../../local/emulator';
import { emulatorReady, useEmulator } from '../helpers/aws';
import { refusal } from '../helpers/refusal';
import { queueCounts, SMALL_MNIST, stopTrainer, uploadSmallMnist, waitFor, TrainerFleet } from '../helpers/trainer';

useEmulator();
const skip = emulatorGap('lambda');

let outputs: StackOutputs;
let api: ApiClient;
let bucket: Bucket;
const fleet = new TrainerFleet(() => ({ bucket, queueUrl: outputs.QueueUrl }));

before(async () => {
  if (skip) return;
  await emulatorReady();
  outputs = await deployStack({ stackName: 'LenetSweepCancel', quiet: true });
  api = new ApiClient(outputs.ApiUrl, { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  await uploadSmallMnist(bucket, SMALL_MNIST, 2000, 300);
  // A stack left by an earlier run may serve a model and hold messages: start from none of either.
  await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: modelKeys.latest }));
  await makeSqsClient().send(new PurgeQueueCommand({ QueueUrl: outputs.QueueUrl }));
  await waitFor('the purged queue to be empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 30_000);
});

after(() => fleet.stopAll());

const lenet = (...args: string[]) =>
  spawnSync('npx', ['lenet', ...args], {
    env: {
      ...process.env,
      LENET_API_URL: outputs.ApiUrl,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
    },
    encoding: 'utf8',
  });

/** Small jobs on the uploaded set, scored on its whole test set: each would be promotable. */
const base = (epochs: number) => ({
  datasetPrefix: SMALL_MNIST,
  epochs,
  trainSubset: 2000,
  validationSplit: 0.1,
  lrSchedule: 'constant' as const,
  augmentShift: 0,
});

/** Nothing of the sweep was promoted: the claim is the cancel's, no outcome, no served model. */
async function nothingPromoted(sweepId: string): Promise<void> {
  const claim = await bucket.getJson<SweepPromotionClaim>(sweepKeys.promotionClaim(sweepId));
  assert.ok(claim?.cancelled, `the promotion claim is the cancel's: ${JSON.stringify(claim)}`);
  assert.equal(await bucket.getJson(sweepKeys.promotionOutcome(sweepId)), undefined, 'no promotion outcome');
  assert.equal(await bucket.getJson(modelKeys.latest), undefined, 'no model served');
}

test('a sweep cancelled while no trainer runs: every job CANCELLED at once; a trainer started afterwards runs none and empties the queue; nothing promoted', {
  skip,
}, async () => {
  const sweep = await api.sweep({ grid: { seed: [1, 2, 3] }, base: base(1), promote: 'best' });
  assert.deepEqual(
    sweep.variants.map((v) => v.status),
    ['QUEUED', 'QUEUED', 'QUEUED'],
  );
  assert.equal((await queueCounts(outputs.QueueUrl)).total, 3);

  // The CLI, as a user types it.
  const out = lenet('sweep', 'cancel', sweep.sweepId, '--json');
  assert.equal(out.status, EXIT.ok, out.stderr);
  const cancelled = JSON.parse(out.stdout) as SweepView;
  assert.deepEqual(
    cancelled.variants.map((v) => v.status),
    ['CANCELLED', 'CANCELLED', 'CANCELLED'],
  );
  assert.equal(cancelled.done, true);
  const by = cancelled.cancel?.requestedBy ?? '';
  assert.ok(by, 'the cancel records who');
  assert.ok(Date.now() - Date.parse(cancelled.cancel!.requestedAt) < 60_000);
  assert.deepEqual(
    cancelled.cancel?.jobIds,
    sweep.variants.map((v) => v.jobId),
  );
  // The record is the bucket's, created once; each job's own request names the same caller.
  assert.equal((await bucket.getJson<SweepCancel>(sweepKeys.cancel(sweep.sweepId)))?.requestedBy, by);
  for (const v of sweep.variants) {
    const job = await api.job(v.jobId);
    assert.equal(job.cancelledBy, by, v.jobId);
    assert.equal((await bucket.getJson<CancelRequest>(jobKeys.cancel(v.jobId)))?.requestedBy, by);
  }

  // Again: every job has finished, so 409 naming the first cancel; an unknown sweep is a 404 (CLI exit 3).
  const again = await refusal(api.sweepCancel(sweep.sweepId));
  assert.equal(again.status, 409);
  assert.match(again.message, /was cancelled by .* at .*nothing to cancel/);
  const unknown = lenet('sweep', 'cancel', 'sweep-20000101000000-00000000');
  assert.equal(unknown.status, EXIT.notFound, unknown.stderr);
  assert.match(unknown.stderr, /No sweep "sweep-20000101000000-00000000"/);

  const t = fleet.start('sweep-cancel-down');
  await waitFor('the queue to empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 120_000, 500);
  for (const v of sweep.variants) {
    const job = await api.job(v.jobId);
    assert.equal(job.status, 'CANCELLED', v.jobId);
    assert.equal(job.attempts, undefined, `${v.jobId} never started`);
    assert.deepEqual(await bucket.listKeys(modelKeys.checkpoints(v.jobId)), [], `${v.jobId}: no checkpoints`);
    assert.ok(
      t.logs().some((l) => l.jobId === v.jobId && /deleting its message/.test(String(l.message))),
      `${v.jobId}: message deleted unrun`,
    );
  }
  assert.ok(!t.logs().some((l) => l.message === 'starting'), 'the trainer started no job');
  // Ending the last job settles the sweep: the trainer read the cancel record and claimed nothing.
  await waitFor(
    'the sweep to be settled',
    async () => t.logs().some((l) => l.message === 'sweep cancelled; its winner is not promoted'),
    30_000,
  );
  await nothingPromoted(sweep.sweepId);
  // `sweep status` says so.
  const status = lenet('sweep', 'status', sweep.sweepId);
  assert.equal(status.status, EXIT.ok, status.stderr);
  assert.match(status.stdout, /3 CANCELLED; cancelled by .* at .*, nothing promoted/);
  await stopTrainer(t, 5_000);
});

test('a sweep cancelled while one of its jobs trains: that job stops at its next batch and ends CANCELLED, the queued one never starts, nothing promoted', {
  skip,
}, async () => {
  const t = fleet.start('sweep-cancel-running');
  // One trainer: the first variant runs, the second waits on the queue.
  const sweep = await api.sweep({ grid: { seed: [1, 2] }, base: base(40), promote: 'best' });
  const [first, second] = sweep.variants.map((v) => v.jobId);
  await waitFor('a finished epoch of the first job', async () => ((await api.job(first)).epoch ?? 0) >= 1, 120_000, 100);
  const answer = await api.sweepCancel(sweep.sweepId);
  assert.equal(answer.variants.find((v) => v.jobId === second)?.status, 'CANCELLED', 'the queued one at once');
  // The trainer may already have stopped the running one; if not, the sweep is not done yet (a 202).
  const running = answer.variants.find((v) => v.jobId === first)!;
  if (running.status !== 'CANCELLED') {
    assert.equal(running.status, 'RUNNING');
    assert.equal(answer.done, false);
  }
  assert.deepEqual(answer.cancel?.jobIds, [first, second]);

  const done = await waitFor(
    'the sweep to end',
    async () => {
      const s = await api.sweepStatus(sweep.sweepId);
      return s.done ? s : undefined;
    },
    60_000,
    250,
  );
  assert.deepEqual(
    done.variants.map((v) => v.status),
    ['CANCELLED', 'CANCELLED'],
  );
  const stopped = await api.job(first);
  assert.ok((stopped.epoch ?? 0) < 40, `stopped at epoch ${stopped.epoch}`);
  assert.equal(stopped.attempts, 1);
  assert.equal(stopped.cancelledBy, answer.cancel?.requestedBy);
  assert.equal(await bucket.getJson(modelKeys.final(first) + modelKeys.marker), undefined, 'no final model');
  assert.equal((await api.job(second)).attempts, undefined, 'the queued job never started');
  await waitFor('the queue to empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 60_000, 500);
  assert.ok(t.logs().some((l) => l.message === 'job cancelled' && l.jobId === first));
  await nothingPromoted(sweep.sweepId);
  await stopTrainer(t, 5_000);
});

const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];

test('a sweep cancelled after its running job wrote its final model: that job ends SUCCEEDED, yet the sweep promotes nothing', {
  skip,
}, async () => {
  // Frozen (SIGSTOP seam) once the final model is written, before the job is recorded SUCCEEDED.
  const t = fleet.start('sweep-cancel-late', { LENET_TEST_STOP_AFTER_LEASE_CHECK: 'succeeded' });
  const sweep = await api.sweep({ grid: { seed: [1, 2] }, base: base(1), promote: 'best' });
  const [first, second] = sweep.variants.map((v) => v.jobId);
  await waitFor('the trainer to freeze after the final model', async () => procState(t.child.pid!) === 'T', 120_000, 100);
  const answer = await api.sweepCancel(sweep.sweepId);
  assert.equal(answer.done, false);
  assert.deepEqual(
    answer.variants.map((v) => v.status),
    ['RUNNING', 'CANCELLED'],
  );
  t.child.kill('SIGCONT');
  const done = await waitFor(
    'the sweep to end',
    async () => {
      const s = await api.sweepStatus(sweep.sweepId);
      return s.done ? s : undefined;
    },
    60_000,
    250,
  );
  const won = await api.job(first);
  assert.equal(won.status, 'SUCCEEDED', won.reason);
  assert.match(won.reason ?? '', /came after the final model was written/);
  assert.equal((await api.job(second)).attempts, undefined);
  // Without the sweep's cancel record the trainer ending the last job would serve the first: it has the only model.
  assert.ok(await bucket.getJson(modelKeys.final(first) + modelKeys.marker), 'the first job has a final model');
  await waitFor(
    'the sweep to be settled',
    async () => t.logs().some((l) => l.message === 'sweep cancelled; its winner is not promoted'),
    30_000,
  );
  await nothingPromoted(sweep.sweepId);
  assert.equal(done.cancel?.requestedBy, answer.cancel?.requestedBy);
  await waitFor('the queue to empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 60_000, 500);
  await stopTrainer(t, 5_000);
});
