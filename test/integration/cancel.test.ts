/**
 * Cancelling jobs (POST /jobs/{id}/cancel, `lenet cancel`) through the emulator's API Gateway and the
 * deployed api function, with REAL trainer host processes: a queued job cancelled while no trainer
 * runs never starts; a running job stops within a few batches and keeps its checkpoints; and the
 * race with the job's own end, made deterministic by freezing the trainer (SIGSTOP, the
 * LENET_TEST_STOP_AFTER_LEASE_CHECK seam) just before its final model, or just after it.
 * Unsigned and unauthorised cancels are refused in test/integration/auth.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { makeS3Client } from '../../shared/aws';
import { jobKeys, modelKeys } from '../../shared/bucket-layout';
import { readLatestPointer } from '../../shared/promotion';
import { Bucket } from '../../shared/s3-objects';
import type { CancelRequest, JobStatus } from '../../shared/documents';
import { ApiClient } from '../../cli/api-client';
import { EXIT } from '../../cli/exit-codes';
import { deployStack, emulatorGap, emulatorName, type StackOutputs } from '../../local/emulator';
import { emulatorReady, useEmulator } from '../helpers/aws';
import {
  jobFinishedViaApi,
  queueCounts,
  SMALL_MNIST,
  smallJobParams,
  stopTrainer,
  uploadSmallMnist,
  waitFor,
  type Trainer,
  TrainerFleet,
} from '../helpers/trainer';
import { refusal } from '../helpers/refusal';

useEmulator();
const skip = emulatorGap('lambda');

let outputs: StackOutputs;
let api: ApiClient;
let bucket: Bucket;
const fleet = new TrainerFleet(() => ({ bucket, queueUrl: outputs.QueueUrl }));

before(async () => {
  if (skip) return;
  await emulatorReady();
  outputs = await deployStack({ stackName: 'LenetCancel', quiet: true });
  api = new ApiClient(outputs.ApiUrl, { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  await uploadSmallMnist(bucket, SMALL_MNIST, 2000, 500);
});

after(() => fleet.stopAll());

/** A small job on the uploaded set, scored on its whole (500-image) test set, so it may be served. */
const smallJob = (extra: { epochs: number; trainSubset: number }) => {
  const { testSubset: _all, ...params } = smallJobParams(extra);
  return params;
};

const lenet = (...args: string[]) =>
  spawnSync('npx', ['lenet', ...args], {
    env: { ...process.env, LENET_API_URL: outputs.ApiUrl, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    encoding: 'utf8',
  });

const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
const frozen = (t: Trainer) => async () => t.child.pid !== undefined && procState(t.child.pid) === 'T';

test('a job queued while no trainer runs is CANCELLED at once, never starts, and its message is deleted when a trainer comes', {
  skip,
}, async () => {
  const job = await api.submit(smallJob({ epochs: 1, trainSubset: 500 }));
  // The CLI, as a user types it: JSON out, exit 0.
  const out = lenet('cancel', job.jobId, '--json');
  assert.equal(out.status, EXIT.ok, out.stderr);
  const cancelled = JSON.parse(out.stdout) as JobStatus;
  assert.equal(cancelled.status, 'CANCELLED');
  // LocalStack's API Gateway passes no caller identity (docs/emulators.md): the API records 'unknown'.
  assert.match(cancelled.cancelledBy ?? '', emulatorName() === 'localstack' ? /^unknown$/ : /^arn:aws:(iam|sts)::\d{12}:/);
  assert.ok(Date.now() - Date.parse(cancelled.cancelledAt!) < 60_000);
  const request = await bucket.getJson<CancelRequest>(jobKeys.cancel(job.jobId));
  assert.equal(request?.requestedBy, cancelled.cancelledBy);

  const again = await refusal(api.cancel(job.jobId));
  assert.equal(again.status, 409);
  assert.match(again.message, /was cancelled by .* at .*nothing to cancel/);
  const unknown = lenet('cancel', 'job-that-never-was');
  assert.equal(unknown.status, EXIT.notFound, unknown.stderr);
  assert.match(unknown.stderr, /No job "job-that-never-was"/);

  const t = fleet.start('cancel-down');
  await waitFor('the queue to empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 60_000, 500);
  const after = await api.job(job.jobId);
  assert.equal(after.status, 'CANCELLED');
  assert.equal(after.attempts, undefined, 'the job must never have started');
  assert.deepEqual(await bucket.listKeys(modelKeys.checkpoints(job.jobId)), []);
  assert.ok(t.logs().some((l) => l.message === 'job already cancelled; deleting its message' && l.jobId === job.jobId));
  await stopTrainer(t, 5_000);
});

test('a running job stops at its next batch, ends CANCELLED with who and when, keeps its epoch checkpoints, and its message is deleted', {
  skip,
}, async () => {
  const t = fleet.start('cancel-running');
  const job = await api.submit(smallJob({ epochs: 40, trainSubset: 2000 }));
  await waitFor('a finished epoch', async () => ((await api.job(job.jobId)).epoch ?? 0) >= 1, 120_000, 100);
  const answer = await api.cancel(job.jobId);
  // The trainer may already have stopped it; if not, the answer says the request is pending.
  if (answer.status !== 'CANCELLED') {
    assert.equal(answer.status, 'RUNNING');
    assert.equal(answer.cancelRequested?.jobId, job.jobId);
  }
  const done = await waitFor('the job to end', jobFinishedViaApi(api, job.jobId), 60_000, 250);
  assert.equal(done.status, 'CANCELLED', done.reason);
  assert.ok((done.epoch ?? 0) < 40, `stopped at epoch ${done.epoch}`);
  assert.ok(done.cancelledBy && done.cancelledAt);
  assert.equal(done.cancelRequested, undefined);
  const kept = await bucket.listKeys(modelKeys.epoch(job.jobId, 1));
  assert.ok(
    kept.some((k) => k.endsWith(modelKeys.marker)),
    'epoch 1 checkpoint kept',
  );
  assert.equal(await bucket.getJson(modelKeys.final(job.jobId) + modelKeys.marker), undefined, 'no final model');
  await waitFor('the queue to empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 30_000, 500);
  assert.ok(t.logs().some((l) => l.message === 'job cancelled' && l.jobId === job.jobId));
  // Nothing was retried: one attempt.
  assert.equal(done.attempts, 1);
  await stopTrainer(t, 5_000);
});

test('cancel racing the end: a request before the final model wins (CANCELLED, nothing served); one after it loses (SUCCEEDED, says so)', {
  skip,
}, async () => {
  const params = smallJob({ epochs: 1, trainSubset: 500 });
  // Before: frozen right after the lease check that guards the final model.
  const before = fleet.start('cancel-race-before', { LENET_TEST_STOP_AFTER_LEASE_CHECK: 'final' });
  const first = await api.submit(params);
  await waitFor('the trainer to freeze before the final model', frozen(before), 120_000, 100);
  const pending = await api.cancel(first.jobId);
  assert.equal(pending.status, 'RUNNING');
  assert.ok(pending.cancelRequested);
  before.child.kill('SIGCONT');
  const lost = await waitFor('the first job to end', jobFinishedViaApi(api, first.jobId), 60_000, 250);
  assert.equal(lost.status, 'CANCELLED', lost.reason);
  assert.equal(await bucket.getJson(modelKeys.final(first.jobId) + modelKeys.marker), undefined);
  assert.notEqual((await readLatestPointer(bucket))?.jobId, first.jobId);
  await stopTrainer(before, 5_000);

  // After: frozen once the final model is written, before the job is recorded SUCCEEDED.
  const afterFinal = fleet.start('cancel-race-after', { LENET_TEST_STOP_AFTER_LEASE_CHECK: 'succeeded' });
  const second = await api.submit(params);
  await waitFor('the trainer to freeze after the final model', frozen(afterFinal), 120_000, 100);
  assert.equal((await api.cancel(second.jobId)).status, 'RUNNING');
  afterFinal.child.kill('SIGCONT');
  const won = await waitFor('the second job to end', jobFinishedViaApi(api, second.jobId), 60_000, 250);
  assert.equal(won.status, 'SUCCEEDED', won.reason);
  assert.match(won.reason ?? '', /cancel request .* came after the final model was written/);
  assert.ok(await bucket.getJson(modelKeys.final(second.jobId) + modelKeys.marker));
  const late = await refusal(api.cancel(second.jobId));
  assert.equal(late.status, 409);
  assert.match(late.message, /has already finished \(status SUCCEEDED\)/);
  await waitFor('the queue to empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 30_000, 500);
  await stopTrainer(afterFinal, 5_000);
});
