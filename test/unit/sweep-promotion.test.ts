/**
 * The trainer's promote-best step (functions/trainer/lifecycle/sweep-promotion.ts) on an in-memory
 * bucket: nothing while a variant runs, the winner once all have ended, and exactly one promotion
 * when several trainers settle the same sweep at once. (Two real trainers: test/integration/sweep.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobKeys, modelKeys, sweepKeys } from '../../shared/bucket-layout';
import type { CheckpointInfo, JobStatus, LatestModel, SweepDoc, SweepPromotionOutcome } from '../../shared/documents';
import { makeLogger } from '../../shared/log';
import { settleSweep } from '../../functions/trainer/lifecycle/sweep-promotion';
import { FakeLeaseBucket } from '../helpers/fake-lease-bucket';

/** The Bucket calls promotion and the job store make, in memory; counts writes per key. */
class MemoryBucket extends FakeLeaseBucket {
  readonly writes = new Map<string, number>();
  async getJson<T>(key: string): Promise<T | undefined> {
    const o = this.objects.get(key);
    return o && (JSON.parse(Buffer.from(o.bytes).toString('utf8')) as T);
  }
  async putJson(key: string, value: unknown) {
    await super.putJsonIf(key, value, {});
  }
  override async putJsonIf(key: string, value: unknown, cond: { ifNoneMatch?: '*'; ifMatch?: string }) {
    // Yield first, so concurrent callers interleave as separate requests would.
    await new Promise((r) => setImmediate(r));
    const result = await super.putJsonIf(key, value, cond);
    if (result.ok) this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    return result;
  }
  async head(key: string) {
    const o = this.objects.get(key);
    return o && { etag: o.etag };
  }
  async listPage(prefix: string, limit: number) {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    return { keys: keys.slice(0, limit), more: keys.length > limit };
  }
}

const logger = makeLogger('sweep-promotion-test');
const SWEEP = 'sweep-20261203000000-abcdef12';

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
    await bucket.putJson(jobKeys.status(j.jobId!), { createdAt: '', updatedAt: '', metrics: [], ...j });
    if (j.status === 'SUCCEEDED') {
      const marker: CheckpointInfo = {
        jobId: j.jobId!,
        epoch: 2,
        backend: 'wasm',
        createdAt: '',
        testAccuracy: j.testAccuracy,
        testLoss: j.testLoss,
        testImages: 300,
        fullTestSet: j.fullTestSet,
      };
      await bucket.putJson(modelKeys.final(j.jobId!) + modelKeys.marker, marker);
    }
  }
  bucket.writes.clear();
  const settle = (trainerId: string) =>
    settleSweep({ bucket: bucket.asBucket(), sweepId: SWEEP, policy: { minAccuracy: 0 }, trainerId, logger });
  return { bucket, settle };
}

const done = (jobId: string, testAccuracy: number, testLoss: number): Partial<JobStatus> => ({
  jobId,
  status: 'SUCCEEDED',
  testAccuracy,
  testLoss,
  fullTestSet: true,
});

test('nothing is promoted while a variant is still queued or running', async () => {
  const { bucket, settle } = await setup([done('a', 0.9, 0.3), { jobId: 'b', status: 'RUNNING' }]);
  assert.equal(await settle('t1'), 'pending');
  assert.equal(bucket.writes.size, 0);
});

test('once all have ended, the best (ties: lower loss) is promoted, and the claim and outcome say so', async () => {
  const { bucket, settle } = await setup([done('a', 0.95, 0.3), done('b', 0.95, 0.2), { jobId: 'c', status: 'FAILED' }]);
  assert.equal(await settle('t1'), 'promoted');
  assert.equal((await bucket.getJson<LatestModel>(modelKeys.latest))?.jobId, 'b');
  const outcome = await bucket.getJson<SweepPromotionOutcome>(sweepKeys.promotionOutcome(SWEEP));
  assert.equal(outcome?.winner, 'b');
  assert.equal(outcome?.promoted, true);
  // Settling again (a redelivered message) changes nothing.
  assert.equal(await settle('t2'), 'claimed-elsewhere');
  assert.equal(bucket.writes.get(modelKeys.latest), 1);
});

test('four trainers settling the same finished sweep at once promote it exactly once', async () => {
  const { bucket, settle } = await setup([done('a', 0.91, 0.3), done('b', 0.97, 0.1), done('c', 0.93, 0.2)]);
  const results = await Promise.all(['t1', 't2', 't3', 't4'].map(settle));
  assert.deepEqual(results.filter((r) => r === 'promoted').length, 1, String(results));
  assert.deepEqual(results.filter((r) => r === 'claimed-elsewhere').length, 3, String(results));
  assert.equal(bucket.writes.get(modelKeys.latest), 1);
  assert.equal(bucket.writes.get(sweepKeys.promotionClaim(SWEEP)), 1);
  assert.equal((await bucket.getJson<LatestModel>(modelKeys.latest))?.jobId, 'b');
});

test('no promotion: a sweep without promote best, or one whose best was scored on a testSubset', async () => {
  const none = await setup([done('a', 0.9, 0.3)], 'none');
  assert.equal(await none.settle('t1'), 'no-promotion');
  assert.equal(none.bucket.writes.size, 0);
  const subset = await setup([{ ...done('a', 0.99, 0.1), fullTestSet: false }]);
  assert.equal(await subset.settle('t1'), 'not-promoted');
  assert.equal(await subset.bucket.getJson(modelKeys.latest), undefined);
  assert.match((await subset.bucket.getJson<SweepPromotionOutcome>(sweepKeys.promotionOutcome(SWEEP)))!.reason, /whole test set/);
});
