import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cancelQueuedJob, fileCancelRequest, JobCancelledError, readCancelRequest } from '../../shared/job-cancel';
import { JobStore, queuedStatus } from '../../shared/job-store';
import type { JobStatus } from '../../shared/documents';
import type { ApiClient } from '../../cli/api-client';
import { InterruptedError } from '../../cli/exit-codes';
import { watchJob } from '../../cli/watch-job';
import { MemoryBucket } from '../helpers/memory-bucket';

async function queued(jobId: string) {
  const bucket = new MemoryBucket();
  const jobs = new JobStore(bucket.asBucket());
  await jobs.put(queuedStatus(jobId, new Date().toISOString()));
  return { bucket, jobs };
}

test('the first cancel request wins; a repeat gets it back unchanged', async () => {
  const { bucket } = await queued('j1');
  const first = await fileCancelRequest(bucket.asBucket(), 'j1', 'arn:aws:iam::1:user/ann');
  const second = await fileCancelRequest(bucket.asBucket(), 'j1', 'arn:aws:iam::1:user/bob');
  assert.deepEqual(second, first);
  assert.deepEqual(await readCancelRequest(bucket.asBucket(), 'j1'), first);
});

test('a queued job is CANCELLED with who and when, and CANCELLED is final: a trainer cannot move it to RUNNING', async () => {
  const { bucket, jobs } = await queued('j2');
  const request = await fileCancelRequest(bucket.asBucket(), 'j2', 'arn:aws:iam::1:user/ann');
  const done = await cancelQueuedJob(bucket.asBucket(), request);
  assert.equal(done?.status, 'CANCELLED');
  assert.equal(done?.cancelledBy, 'arn:aws:iam::1:user/ann');
  assert.equal(done?.cancelledAt, request.requestedAt);
  await assert.rejects(jobs.update('j2', { status: 'RUNNING' }), JobCancelledError);
  await assert.rejects(jobs.update('j2', { status: 'SUCCEEDED' }), JobCancelledError);
  assert.equal((await jobs.get('j2'))?.status, 'CANCELLED');
  // Writes that keep the state still land (the trainer's own CANCELLED record).
  assert.equal((await jobs.update('j2', { status: 'CANCELLED', epoch: 1 })).epoch, 1);
});

test('a trainer that starts the job between the read and the write wins: the API leaves the job to it', async () => {
  const { bucket, jobs } = await queued('j3');
  const request = await fileCancelRequest(bucket.asBucket(), 'j3', 'ann');
  const read = bucket.getWithEtag.bind(bucket);
  bucket.getWithEtag = async (key: string) => {
    const found = await read(key);
    bucket.getWithEtag = read;
    await jobs.update('j3', { status: 'RUNNING' });
    return found;
  };
  assert.equal(await cancelQueuedJob(bucket.asBucket(), request), undefined);
  assert.equal((await jobs.get('j3'))?.status, 'RUNNING');
  // A running job is not the API's to end: only its trainer, on reading the request.
  assert.equal(await cancelQueuedJob(bucket.asBucket(), request), undefined);
});

/** A client whose job is RUNNING until cancelled. */
function fakeClient() {
  const calls: string[] = [];
  let status: JobStatus = { jobId: 'w', status: 'RUNNING', createdAt: '', updatedAt: '', epoch: 1, totalEpochs: 5, metrics: [] };
  const client = {
    job: async () => status,
    cancel: async () => {
      calls.push('cancel');
      status = { ...status, status: 'CANCELLED', cancelledBy: 'me', cancelledAt: 'now' };
      return status;
    },
  } as unknown as ApiClient;
  return { client, calls };
}

test('Ctrl-C while watching asks; yes cancels the job and watches it end, no leaves it running', async () => {
  const listeners = process.listenerCount('SIGINT');
  const yes = fakeClient();
  const asked: string[] = [];
  const watching = watchJob(yes.client, 'w', {
    intervalMs: 50,
    confirmCancel: async (id) => {
      asked.push(id);
      return true;
    },
  });
  await new Promise((r) => setTimeout(r, 20));
  process.emit('SIGINT');
  assert.equal((await watching).status, 'CANCELLED');
  assert.deepEqual(asked, ['w']);
  assert.deepEqual(yes.calls, ['cancel']);

  const no = fakeClient();
  const leaving = watchJob(no.client, 'w', { intervalMs: 50, confirmCancel: async () => false });
  await new Promise((r) => setTimeout(r, 20));
  process.emit('SIGINT');
  await assert.rejects(leaving, (err: unknown) => err instanceof InterruptedError && /still runs .*lenet cancel w/.test(err.message));
  assert.deepEqual(no.calls, []);
  assert.equal(process.listenerCount('SIGINT'), listeners, 'the watch removes its SIGINT handler');
});
