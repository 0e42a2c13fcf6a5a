/**
 * Fenced writes with REAL trainer processes on the emulator: trainer A is frozen (SIGSTOP, by the
 * LENET_TEST_STOP_AFTER_LEASE_CHECK seam) right after its lease check for the epoch-2 checkpoint,
 * stays frozen past its lease, trainer B takes the job over and finishes it; then A is thawed and
 * makes the write its lease check allowed. The write must be refused and nothing of B's changed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JobStore, jobKey, progressKey } from '../../shared/job-store';
import { readLease } from '../../functions/trainer/lifecycle/lease';
import { modelKeys } from '../../shared/bucket-layout';
import { objectOps } from '../../shared/fenced-write';
import type { Bucket } from '../../shared/s3-objects';
import { freshBucket, freshQueue, useEmulator, emulatorReady } from '../helpers/aws';
import {
  FAST_TRAINER_ENV,
  jobFinished,
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

before(async () => {
  await emulatorReady();
  bucket = await freshBucket('fencing');
  jobs = new JobStore(bucket);
  await uploadSmallMnist(bucket, SMALL_MNIST, 2000, 1000);
});

after(async () => {
  for (const t of running) if (t.child.pid && t.child.exitCode === null) t.child.kill('SIGCONT');
  await Promise.all(running.map((t) => stopTrainer(t, 5_000)));
});

const logsOf = (t: Trainer, message: string) => t.logs().filter((l) => l.message === message);

/** The process state letter from /proc (T: stopped). */
const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];

/** Every object of the job B owns now, with its ETag, fence and bytes. */
async function snapshot(jobId: string) {
  const ops = objectOps(bucket);
  const keys = [
    ...(await bucket.listKeys(modelKeys.checkpoints(jobId))),
    ...(await bucket.listKeys(modelKeys.final(jobId))),
    jobKey(jobId),
    progressKey(jobId),
  ].sort();
  const out: Record<string, { etag: string; fence?: number; bytes: string }> = {};
  for (const key of keys) {
    const o = await ops.get(key);
    if (o) out[key] = { etag: o.etag, fence: o.fence, bytes: Buffer.from(o.bytes).toString('base64') };
  }
  return out;
}

test('a trainer paused past its lease between its lease check and its write: the write is refused, the new owner’s objects are untouched', async () => {
  const q = await freshQueue('fencing', { VisibilityTimeout: FAST_TRAINER_ENV.VISIBILITY_TIMEOUT_SECONDS });
  const jobId = 'fence-1';
  await sendJob(q, { jobId, params: smallJobParams({ epochs: 3, trainSubset: 2000 }) });
  const a = spawnTrainer('fence-a', bucket, q, { ...FAST_TRAINER_ENV, LENET_TEST_STOP_AFTER_LEASE_CHECK: 'epoch-2' });
  running.push(a);

  // A passes its lease check for the epoch-2 checkpoint and freezes before writing it.
  await waitFor(
    'A to freeze after its lease check',
    async () => logsOf(a, 'test seam: stopping this process after the lease check').length > 0,
    240_000,
  );
  await waitFor('A to be stopped', async () => procState(a.child.pid!) === 'T', 10_000, 50);
  const leaseA = await readLease(bucket, jobId);
  assert.equal(leaseA?.owner, 'fence-a');
  assert.equal(leaseA?.fence, 1);
  assert.ok(await bucket.getJson(modelKeys.epoch(jobId, 1) + modelKeys.marker), 'A wrote epoch 1');
  assert.equal(await bucket.getJson(modelKeys.epoch(jobId, 2) + modelKeys.marker), undefined, 'A has not written epoch 2');

  // A's lease (10 s) and its message's visibility run out; B takes the job over and finishes it.
  const b = spawnTrainer('fence-b', bucket, q, FAST_TRAINER_ENV);
  running.push(b);
  const done = await waitFor<JobStatus>('B to finish the job', jobFinished(jobs, jobId), 240_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.resumedFromEpoch, 1, 'B resumed from A’s epoch-1 checkpoint');
  assert.equal(done.attempts, 2);
  assert.equal(procState(a.child.pid!), 'T', 'A was frozen the whole time');
  const leaseB = await readLease(bucket, jobId);
  assert.equal(leaseB?.owner, 'fence-b');
  assert.equal(leaseB?.fence, 2);
  const epoch2 = await bucket.getJson<CheckpointInfo>(modelKeys.epoch(jobId, 2) + modelKeys.marker);
  assert.equal(epoch2?.fence, 2, 'B wrote epoch 2');
  assert.equal((await bucket.getJson<CheckpointInfo>(modelKeys.final(jobId) + modelKeys.marker))?.fence, 2);
  const before = await snapshot(jobId);
  for (const [key, o] of Object.entries(before)) {
    if (key.includes('/epoch-0001/')) assert.equal(o.fence, 1, key);
    else assert.equal(o.fence, 2, `${key} written by B`);
  }

  // A thaws and makes the write its (stale) lease check allowed.
  a.child.kill('SIGCONT');
  const left = await waitFor('A to give the job up', async () => logsOf(a, 'job lease lost; leaving the job to its new holder')[0], 60_000);
  assert.match(
    String(left.reason),
    /refused to write checkpoints\/fence-1\/epoch-0002\/\S+ with fence 1: it was written with the newer fence 2/,
  );
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // anything A might still do
  assert.deepEqual(await snapshot(jobId), before, 'nothing of B’s was overwritten (same ETags, fences and bytes)');
  const final = await jobs.get(jobId);
  assert.equal(final?.status, 'SUCCEEDED');
  assert.equal(final?.attempts, 2);
  assert.equal(logsOf(a, 'epoch done').filter((l) => l.epoch === 2).length, 0, 'A recorded no epoch 2');
  const succeeded = [...logsOf(a, 'job succeeded'), ...logsOf(b, 'job succeeded')];
  assert.equal(succeeded.length, 1, 'SUCCEEDED recorded once, by B');
  assert.equal((await readLease(bucket, jobId))?.owner, 'fence-b', 'A did not touch the lease');
  console.log(
    `FENCING FIGURES ${JSON.stringify({ aFence: leaseA?.fence, bFence: leaseB?.fence, objectsOfB: Object.keys(before).length, refused: left.reason })}`,
  );
});
