/** GET /summary: only the public fields, and a bounded number of S3 calls. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobIndexKeys, jobKeys, modelKeys, sweepIndexKeys, sweepKeys } from '../../shared/bucket-layout';
import { jobIdAt, JobStore } from '../../shared/job-store';
import type { Bucket } from '../../shared/s3-objects';
import { PAGE_CSP, PAGE_HTML } from '../../functions/api/page';
import { readSummary } from '../../functions/api/summary';
import type { JobStatus, LatestModel, SweepDoc } from '../../shared/documents';

/** An in-memory bucket with what the summary reads (getJson, listPage), counting the calls. */
function memoryBucket(objects: Record<string, unknown>) {
  const calls = { get: 0, list: 0 };
  const bucket = {
    async getJson(key: string) {
      calls.get++;
      return objects[key] === undefined ? undefined : structuredClone(objects[key]);
    },
    async listPage(prefix: string, limit: number, startAfter?: string) {
      calls.list++;
      const keys = Object.keys(objects)
        .filter((k) => k.startsWith(prefix) && (!startAfter || k > startAfter))
        .sort();
      return { keys: keys.slice(0, limit), more: keys.length > limit };
    },
  };
  return { bucket: bucket as unknown as Bucket, calls };
}

const SECRET = 'SECRET-do-not-show';

/** Index entries for [jobId, age in ms] pairs, as JobStore.record writes them. */
function indexOf(...jobs: [string, number][]): Record<string, unknown> {
  return Object.fromEntries(jobs.map(([id, age]) => [jobIndexKeys.entry(new Date(Date.now() - age).toISOString(), id), {}]));
}
const epoch = (n: number) => ({
  epoch: n,
  loss: 1 / n,
  accuracy: 0.9,
  valLoss: 1.1 / n,
  valAccuracy: 0.88,
  learningRate: 0.0005,
  seconds: 3,
  imagesPerSecond: 2000,
  backend: 'wasm',
  threads: 2,
});

function job(jobId: string, patch: Partial<JobStatus> = {}): JobStatus {
  return {
    jobId,
    status: 'SUCCEEDED',
    params: {
      epochs: 2,
      batchSize: 32,
      learningRate: 0.0005,
      lrSchedule: 'cosine',
      augmentShift: 2,
      validationSplit: 0.1,
      seed: 42,
      datasetPrefix: `datasets/${SECRET}/`,
    },
    createdAt: '2026-11-27T10:00:00.000Z',
    updatedAt: '2026-11-27T10:05:00.000Z',
    epoch: 2,
    totalEpochs: 2,
    metrics: [epoch(1), epoch(2)],
    testAccuracy: 0.99,
    modelPrefix: `models/${jobId}/final/`,
    promotion: `replaces ${SECRET}`,
    reason: `Error: ${SECRET} at /var/task/index.js`,
    attempts: 3,
    ...patch,
  };
}

test('summary: the served model card and the newest job, with no params, errors or internals', async () => {
  const now = new Date();
  const served = jobIdAt(new Date(now.getTime() - 3 * 86_400_000), 'aaaaaaaa');
  const older = jobIdAt(new Date(now.getTime() - 2 * 86_400_000), 'bbbbbbbb');
  const newest = jobIdAt(new Date(now.getTime() - 60_000), 'cccccccc');
  const pointer: LatestModel & { testImages: number } = {
    jobId: served,
    epoch: 2,
    modelPrefix: modelKeys.final(served),
    testAccuracy: 0.99,
    promotedAt: '2026-11-27T10:06:00.000Z',
    promotionId: SECRET,
    testImages: 10_000,
  };
  const { bucket, calls } = memoryBucket({
    [modelKeys.latest]: pointer,
    [jobKeys.status(served)]: job(served),
    [jobKeys.status(older)]: job(older, { status: 'FAILED' }),
    [jobKeys.status(newest)]: job(newest, { status: 'RUNNING', epoch: 1, totalEpochs: 20, metrics: [epoch(1)], testAccuracy: undefined }),
    [jobKeys.progress(newest)]: { epoch: 2, batch: 812, batches: 1688, updatedAt: now.toISOString() },
    [jobKeys.lease(newest)]: { owner: SECRET },
    ...indexOf([served, 3 * 86_400_000], [older, 2 * 86_400_000], [newest, 60_000]),
  });

  const summary = await readSummary(bucket);
  assert.deepEqual(summary.model, {
    jobId: served,
    epoch: 2,
    testAccuracy: 0.99,
    testImages: 10_000,
    promotedAt: '2026-11-27T10:06:00.000Z',
    lastChange: { at: '2026-11-27T10:06:00.000Z' },
    trainedAt: '2026-11-27T10:05:00.000Z',
    metrics: [1, 2].map((n) => ({ epoch: n, loss: 1 / n, accuracy: 0.9, valLoss: 1.1 / n, valAccuracy: 0.88 })),
  });
  assert.deepEqual(summary.newestJob, {
    jobId: newest,
    status: 'RUNNING',
    createdAt: '2026-11-27T10:00:00.000Z',
    updatedAt: '2026-11-27T10:05:00.000Z',
    epoch: 1,
    totalEpochs: 20,
    progress: { epoch: 2, batch: 812, batches: 1688 },
    metrics: [{ epoch: 1, loss: 1, accuracy: 0.9, valLoss: 1.1, valAccuracy: 0.88 }],
  });
  const text = JSON.stringify(summary);
  for (const leak of [SECRET, 'params', 'reason', 'promotion', 'attempts', 'modelPrefix', 'learningRate', 'backend', 'datasetPrefix']) {
    assert.ok(!text.includes(leak), `summary shows ${leak}: ${text}`);
  }
  assert.equal(summary.newestSweep, null);
  // The pointer, the served job, the newest job's status and progress; one listing each of the job and sweep indexes.
  assert.deepEqual(calls, { get: 4, list: 2 });
});

test('summary: a failed newest job shows its status but not its error; nothing served, nothing listed', async () => {
  const id = jobIdAt(new Date(Date.now() - 400 * 86_400_000), 'dddddddd');
  const { bucket, calls } = memoryBucket({
    [jobKeys.status(id)]: job(id, { status: 'FAILED', testAccuracy: undefined, metrics: [] }),
    ...indexOf([id, 400 * 86_400_000]),
  });
  const summary = await readSummary(bucket);
  assert.equal(summary.model, null);
  assert.deepEqual(summary.newestJob, {
    jobId: id,
    status: 'FAILED',
    createdAt: '2026-11-27T10:00:00.000Z',
    updatedAt: '2026-11-27T10:05:00.000Z',
    epoch: 2,
    totalEpochs: 2,
    metrics: [],
  });
  // However old the newest job, one listing of the index finds it (and one finds no sweep).
  assert.equal(calls.list, 2);
  assert.deepEqual(await readSummary(memoryBucket({}).bucket), { model: null, newestJob: null, newestSweep: null });
});

test('summary: when the served model last changed and how (a rollback, from which job), never who', async () => {
  const served = 'job-20261127100000-aaaaaaaa';
  const pointer: LatestModel = {
    jobId: served,
    epoch: 2,
    modelPrefix: modelKeys.final(served),
    testAccuracy: 0.98,
    promotedAt: '2026-12-03T08:00:00.000Z',
    promotionId: SECRET,
    from: { jobId: 'job-20261128100000-bbbbbbbb', testAccuracy: 0.99 },
    why: 'rollback',
    by: `arn:aws:iam::000000000000:user/${SECRET}`,
  };
  const summary = await readSummary(memoryBucket({ [modelKeys.latest]: pointer }).bucket);
  assert.deepEqual(summary.model?.lastChange, {
    at: '2026-12-03T08:00:00.000Z',
    why: 'rollback',
    fromJobId: 'job-20261128100000-bbbbbbbb',
  });
  assert.ok(!JSON.stringify(summary).includes(SECRET), 'neither the caller nor the change id is public');
});

test('summary: the newest sweep (one listing of its index), a curve per variant labelled by its numeric choices only, no errors or params', async () => {
  const sweep = (sweepId: string, createdAt: string, variants: SweepDoc['variants']): SweepDoc => ({
    sweepId,
    createdAt,
    request: { grid: {}, promote: 'best' } as SweepDoc['request'],
    promote: 'best',
    variants,
  });
  const older = sweep('sweep-20261201000000-aaaaaaaa', '2026-12-01T00:00:00.000Z', [{ jobId: 'job-old', params: { seed: 1 } }]);
  const newest = sweep('sweep-20261202000000-bbbbbbbb', '2026-12-02T00:00:00.000Z', [
    { jobId: 'job-a', params: { learningRate: 0.001, seed: 2 } },
    { jobId: 'job-b', params: { learningRate: 0.003, seed: 2 } },
    { jobId: 'job-c', params: { datasetPrefix: `datasets/${SECRET}/` } },
    { jobId: 'job-d', params: { seed: 3 } },
  ]);
  const { bucket, calls } = memoryBucket({
    [sweepKeys.doc(older.sweepId)]: older,
    [sweepKeys.doc(newest.sweepId)]: newest,
    [sweepIndexKeys.entry(older.createdAt, older.sweepId)]: {},
    [sweepIndexKeys.entry(newest.createdAt, newest.sweepId)]: {},
    [sweepKeys.cancel(newest.sweepId)]: { sweepId: newest.sweepId, requestedBy: SECRET, requestedAt: '', jobIds: [] },
    [jobKeys.status('job-a')]: job('job-a', { sweepId: newest.sweepId }),
    [jobKeys.status('job-b')]: job('job-b', { status: 'FAILED', metrics: [epoch(1)] }),
    [jobKeys.status('job-c')]: job('job-c', { status: 'RUNNING', metrics: [{ ...epoch(1), valAccuracy: Number.NaN }] }),
  });
  const summary = await readSummary(bucket);
  assert.deepEqual(summary.newestSweep, {
    sweepId: newest.sweepId,
    createdAt: newest.createdAt,
    metric: 'valAccuracy',
    cancelled: true,
    variants: [
      { jobId: 'job-a', label: 'lr 0.001, seed 2', status: 'SUCCEEDED', accuracy: [0.88, 0.88] },
      { jobId: 'job-b', label: 'lr 0.003, seed 2', status: 'FAILED', accuracy: [0.88] },
      // A string choice (here a dataset prefix) could be private: the variant is only numbered.
      { jobId: 'job-c', label: 'variant 3', status: 'RUNNING', accuracy: [null] },
      { jobId: 'job-d', label: 'seed 3', status: 'MISSING', accuracy: [] },
    ],
  });
  const text = JSON.stringify(summary.newestSweep);
  for (const leak of [SECRET, 'params', 'reason', 'promotion', 'requestedBy', 'learningRate', 'datasetPrefix']) {
    assert.ok(!text.includes(leak), `the sweep shows ${leak}: ${text}`);
  }
  // No pointer, no job index: 2 listings; the pointer, the sweep and its cancel record, one status per variant.
  assert.deepEqual(calls, { get: 1 + 2 + 4, list: 2 });
});

test('newestJobId: the first entry of the newest-first index, not the highest id', async () => {
  const objects = indexOf(['job-20261127115900-x', 120_000], ['job-20261127110000-y', 60_000], ['job-20261127115930-z', 180_000]);
  objects[jobKeys.status('job-20261127115959-w')] = {}; // a document without an index entry is not listed
  assert.equal(await new JobStore(memoryBucket(objects).bucket).newestJobId(), 'job-20261127110000-y');
  assert.equal(jobIdAt(new Date('2026-11-27T12:00:00Z'), 'abc'), 'job-20261127120000-abc');
});

test('page: no inline handlers or style attributes a strict CSP would block, and no innerHTML', () => {
  assert.doesNotMatch(PAGE_HTML, /\son[a-z]+=/i);
  assert.doesNotMatch(PAGE_HTML, /\sstyle=/i);
  assert.doesNotMatch(PAGE_HTML, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  assert.equal((PAGE_HTML.match(/<script>/g) ?? []).length, 1);
  assert.match(PAGE_CSP, /default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-[A-Za-z0-9+/]+=*'/);
  assert.doesNotMatch(PAGE_CSP, /unsafe/);
});
