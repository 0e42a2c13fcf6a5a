/**
 * Cancelling a sweep (SweepsApi.cancel) on an in-memory bucket: which jobs it cancels and how, its
 * create-only record, the 404 and 409, and that a cancelled sweep's trainer promotes nothing.
 * Through the real API and trainers: test/integration/sweep-cancel.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobKeys, modelKeys, sweepKeys } from '../../shared/bucket-layout';
import type { CancelRequest, CheckpointInfo, JobStatus, SweepDoc, SweepPromotionClaim } from '../../shared/documents';
import { HttpError } from '../../shared/http';
import { makeLogger } from '../../shared/log';
import type { JobsApi } from '../../functions/api/jobs-api';
import { SweepsApi } from '../../functions/api/sweeps-api';
import { settleSweep } from '../../functions/trainer/lifecycle/sweep-promotion';
import { MemoryBucket } from '../helpers/memory-bucket';

const SWEEP = 'sweep-20261203000000-abcdef12';
const logger = makeLogger('sweep-cancel-test');

async function setup(jobs: Partial<JobStatus>[], promote: 'best' | 'none' = 'best') {
  const bucket = new MemoryBucket();
  const doc: SweepDoc = {
    sweepId: SWEEP,
    createdAt: '2026-12-03T00:00:00.000Z',
    request: { grid: { seed: jobs.map((_, i) => i) }, promote },
    promote,
    variants: jobs.map((j, i) => ({ jobId: j.jobId!, params: { seed: i } })),
  };
  await bucket.putJson(sweepKeys.doc(SWEEP), doc);
  for (const j of jobs) {
    if (!j.status) continue; // no status document: a job POST /sweeps has not queued yet
    await bucket.putJson(jobKeys.status(j.jobId!), { createdAt: '', updatedAt: '', metrics: [], ...j });
    if (j.status === 'SUCCEEDED') {
      const marker: CheckpointInfo = {
        jobId: j.jobId!,
        epoch: 1,
        backend: 'wasm',
        createdAt: '',
        testAccuracy: 0.95,
        testImages: 300,
        fullTestSet: true,
      };
      await bucket.putJson(modelKeys.final(j.jobId!) + modelKeys.marker, marker);
    }
  }
  const api = new SweepsApi(bucket.asBucket(), {} as JobsApi);
  return { bucket, api };
}

async function refusal(call: Promise<unknown>): Promise<HttpError> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    return err;
  }
  assert.fail('not refused');
}

const succeeded = (jobId: string): Partial<JobStatus> => ({
  jobId,
  status: 'SUCCEEDED',
  testAccuracy: 0.95,
  testLoss: 0.2,
  fullTestSet: true,
});

test('cancel: queued jobs end CANCELLED at once, a running one gets a request, finished ones are left alone, a missing one gets a request', async () => {
  const { bucket, api } = await setup([
    succeeded('a'),
    { jobId: 'b', status: 'QUEUED' },
    { jobId: 'c', status: 'RUNNING' },
    { jobId: 'd', status: 'FAILED' },
    { jobId: 'e' },
  ]);
  const view = await api.cancel(SWEEP, 'arn:aws:iam::000000000000:user/ops');
  assert.deepEqual(
    view.variants.map((v) => [v.jobId, v.status]),
    [
      ['a', 'SUCCEEDED'],
      ['b', 'CANCELLED'],
      ['c', 'RUNNING'],
      ['d', 'FAILED'],
      ['e', 'MISSING'],
    ],
  );
  assert.equal(view.cancel?.requestedBy, 'arn:aws:iam::000000000000:user/ops');
  assert.deepEqual(view.cancel?.jobIds, ['b', 'c', 'e']);
  const b = await bucket.getJson<JobStatus>(jobKeys.status('b'));
  assert.equal(b?.cancelledBy, 'arn:aws:iam::000000000000:user/ops');
  for (const id of ['b', 'c', 'e']) assert.equal((await bucket.getJson<CancelRequest>(jobKeys.cancel(id)))?.jobId, id, id);
  for (const id of ['a', 'd']) assert.equal(await bucket.getJson(jobKeys.cancel(id)), undefined, `${id} finished: no request`);
  // The record is created once: If-None-Match, never a plain PUT.
  assert.equal(bucket.puts.filter((k) => k === sweepKeys.cancel(SWEEP)).length, 1);
});

test('cancel again while a job is still stopping: the first record (who, when) stays; once all have ended, 409 naming it', async () => {
  const { bucket, api } = await setup([{ jobId: 'a', status: 'RUNNING' }]);
  await api.cancel(SWEEP, 'first');
  const again = await api.cancel(SWEEP, 'second');
  assert.equal(again.cancel?.requestedBy, 'first');
  assert.equal((await bucket.getJson<CancelRequest>(jobKeys.cancel('a')))?.requestedBy, 'first');
  await bucket.putJson(jobKeys.status('a'), { jobId: 'a', status: 'CANCELLED', createdAt: '', updatedAt: '', metrics: [] });
  const late = await refusal(api.cancel(SWEEP, 'third'));
  assert.equal(late.statusCode, 409);
  assert.match(late.message, /was cancelled by first at .*nothing to cancel/);
});

test('cancel: 409 when every job had already finished (and no record is written); 404 unknown; 400 malformed', async () => {
  const { bucket, api } = await setup([succeeded('a'), { jobId: 'b', status: 'FAILED' }]);
  const done = await refusal(api.cancel(SWEEP, 'x'));
  assert.equal(done.statusCode, 409);
  assert.match(done.message, /all 2 of its jobs have finished; there is nothing to cancel/);
  assert.equal(await bucket.getJson(sweepKeys.cancel(SWEEP)), undefined);
  assert.equal((await refusal(api.cancel('sweep-20261203000000-00000000', 'x'))).statusCode, 404);
  assert.equal((await refusal(api.cancel('../jobs/a', 'x'))).statusCode, 400);
});

test('a cancel that comes after the last trainer claimed the promotion is a 409 and writes no cancel record', async () => {
  const { bucket, api } = await setup([succeeded('a'), { jobId: 'b', status: 'RUNNING' }]);
  // Between the cancel's read of the jobs (b running) and its claim, b ended and its trainer claimed the sweep.
  const claim: SweepPromotionClaim = { sweepId: SWEEP, claimId: 'c1', claimedBy: 't9', claimedAt: '2026-12-03T01:00:00.000Z', winner: 'a' };
  await bucket.putJson(sweepKeys.promotionClaim(SWEEP), claim);
  const late = await refusal(api.cancel(SWEEP, 'ops'));
  assert.equal(late.statusCode, 409);
  assert.match(late.message, /trainer t9 began promoting its winner at .*nothing to cancel/);
  assert.equal(await bucket.getJson(sweepKeys.cancel(SWEEP)), undefined);
  assert.equal(await bucket.getJson(jobKeys.cancel('b')), undefined, 'no job was cancelled');
});

test('a cancelled sweep promotes nothing when its last job ends, and says why', async () => {
  const { bucket, api } = await setup([succeeded('a'), { jobId: 'b', status: 'RUNNING' }]);
  await api.cancel(SWEEP, 'ops');
  // b's trainer stops it; the sweep has ended, with a SUCCEEDED variant that would otherwise win.
  await bucket.putJson(jobKeys.status('b'), { jobId: 'b', status: 'CANCELLED', createdAt: '', updatedAt: '', metrics: [] });
  const settled = await settleSweep({ bucket: bucket.asBucket(), sweepId: SWEEP, policy: { minAccuracy: 0 }, trainerId: 't1', logger });
  assert.equal(settled, 'cancelled');
  assert.equal(await bucket.getJson(modelKeys.latest), undefined);
  const claim = await bucket.getJson<SweepPromotionClaim>(sweepKeys.promotionClaim(SWEEP));
  assert.equal(claim?.cancelled?.requestedBy, 'ops', 'the cancel holds the promotion claim');
  const view = await api.status(SWEEP);
  assert.equal(view.done, true);
  assert.equal(view.cancel?.requestedBy, 'ops');
  assert.equal(view.promotion?.outcome, undefined, 'nothing promoted');
  // A trainer that read no cancel record (it landed just after that read) still cannot promote: the claim is the cancel's.
  await bucket.objects.delete(sweepKeys.cancel(SWEEP));
  assert.equal(
    await settleSweep({ bucket: bucket.asBucket(), sweepId: SWEEP, policy: { minAccuracy: 0 }, trainerId: 't1', logger }),
    'cancelled',
  );
  // Without the cancel's claim the same sweep would have promoted a: the claim is what stopped it.
  await bucket.objects.delete(sweepKeys.promotionClaim(SWEEP));
  assert.equal(
    await settleSweep({ bucket: bucket.asBucket(), sweepId: SWEEP, policy: { minAccuracy: 0 }, trainerId: 't1', logger }),
    'promoted',
  );
});
