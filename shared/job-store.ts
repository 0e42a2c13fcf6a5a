import { objectOps, putFenced, updateFenced } from './fenced-write';
import { JobCancelledError, readCancelRequest } from './job-cancel';
import type { Bucket } from './s3-objects';
import type { TrainingParams } from './schemas';

import { isJobStatusKey, jobIndexKeys, jobKeys, PREFIXES } from './bucket-layout';
import { isFinished, type JobProgress, type JobStatus } from './documents';

export const jobKey = jobKeys.status;
export const progressKey = jobKeys.progress;

const JOB_ID_PREFIX = 'job-';
/** How far back newestJobId looks, widening only when nothing newer exists (undefined: from the start). */
/** The UTC time part of a job id: YYYYMMDDHHMMSS. */
const jobIdStamp = (at: Date) =>
  at
    .toISOString()
    .replace(/[-:TZ.]/g, '')
    .slice(0, 14);
/** A new job id: its creation time first, so ids sort by age (newestJobId relies on it). */
export const jobIdAt = (at: Date, suffix: string) => `${JOB_ID_PREFIX}${jobIdStamp(at)}-${suffix}`;

/** Job status documents in S3, one per job, rewritten whole on every change. */
export class JobStore {
  /** ETags of this store's own last fenced progress writes. */
  private readonly etags = new Map<string, string>();

  constructor(private readonly bucket: Bucket) {}

  get(jobId: string): Promise<JobStatus | undefined> {
    return this.bucket.getJson<JobStatus>(jobKey(jobId));
  }

  async put(status: JobStatus): Promise<JobStatus> {
    await this.bucket.putJson(jobKey(status.jobId), status);
    return status;
  }

  /**
   * Merges `patch` into the current document (or a new one) and stamps updatedAt. With `fence` (the
   * job lease's), a fenced read-modify-write: refused with StaleFenceError once a newer owner wrote.
   */
  async update(jobId: string, patch: Partial<JobStatus>, fence?: number): Promise<JobStatus> {
    const now = new Date().toISOString();
    const merge = (current: JobStatus | undefined): JobStatus => {
      // CANCELLED is final (shared/job-cancel.ts): a trainer that took the job as it was cancelled must not revive it.
      if (current?.status === 'CANCELLED' && patch.status !== undefined && patch.status !== 'CANCELLED') throw new JobCancelledError(jobId);
      return { ...(current ?? { jobId, status: 'QUEUED', createdAt: now, metrics: [] }), ...patch, jobId, updatedAt: now };
    };
    if (fence !== undefined) return updateFenced(objectOps(this.bucket), jobKey(jobId), fence, merge);
    return this.put(merge(await this.get(jobId)));
  }

  /** The job's in-epoch progress; with `fence`, a fenced write (see update). */
  async putProgress(jobId: string, progress: Omit<JobProgress, 'updatedAt'>, fence?: number): Promise<void> {
    const doc = { ...progress, updatedAt: new Date().toISOString() };
    if (fence === undefined) return this.bucket.putJson(progressKey(jobId), doc);
    const key = progressKey(jobId);
    const body = Buffer.from(JSON.stringify(doc, null, 2));
    // If-Match on our own last write first: one request per write while nobody else writes.
    this.etags.set(key, await putFenced(objectOps(this.bucket), key, body, fence, 'application/json', this.etags.get(key)));
  }

  /**
   * The status with `progress` added while the job is RUNNING and its progress is of the epoch after
   * the last finished one, and with `withCancelRequest` (GET /jobs/{id}), `cancelRequested` while a
   * cancel has not taken effect yet.
   */
  async getWithProgress(jobId: string, withCancelRequest = false): Promise<JobStatus | undefined> {
    const [status, progress, cancel] = await Promise.all([
      this.get(jobId),
      this.bucket.getJson<JobProgress>(progressKey(jobId)),
      withCancelRequest ? readCancelRequest(this.bucket, jobId) : undefined,
    ]);
    if (!status || isFinished(status.status)) return status;
    const running = status.status === 'RUNNING' && progress && progress.epoch === (status.epoch ?? 0) + 1;
    return { ...status, ...(running ? { progress } : {}), ...(cancel ? { cancelRequested: cancel } : {}) };
  }

  /**
   * Records a new job: its status document, then its index entry (so a listed job always has a
   * document). Every path that creates a job calls this: POST /jobs, and the trainer for a job
   * that reached the queue without the API.
   */
  async record(status: JobStatus): Promise<JobStatus> {
    await this.put(status);
    await this.index(status);
    return status;
  }

  /** Writes the job's (empty) index entry; idempotent. */
  async index(status: Pick<JobStatus, 'jobId' | 'createdAt'>): Promise<void> {
    await this.bucket.putBytes(jobIndexKeys.entry(status.createdAt, status.jobId), new Uint8Array(0));
  }

  /**
   * One page of jobs, newest first: one LIST of the index and `limit` GETs, however many jobs
   * exist. `after` is the last index key of the previous page.
   */
  async page(limit: number, after?: string): Promise<{ jobs: JobStatus[]; last?: string }> {
    const { keys, more } = await this.bucket.listPage(PREFIXES.jobsIndex, limit, after);
    const ids = keys.map(jobIndexKeys.parse);
    const docs = await Promise.all(ids.map((id) => (id ? this.get(id) : undefined)));
    return { jobs: docs.filter((d): d is JobStatus => d !== undefined), last: more ? keys.at(-1) : undefined };
  }

  /** The id of the newest job: one LIST of one index key, however many jobs exist. */
  async newestJobId(): Promise<string | undefined> {
    const { keys } = await this.bucket.listPage(PREFIXES.jobsIndex, 1);
    return keys[0] === undefined ? undefined : jobIndexKeys.parse(keys[0]);
  }

  /** The newest `n` jobs (a cheap read for summaries). */
  async newest(n: number): Promise<JobStatus[]> {
    return (await this.page(n)).jobs;
  }

  /** Every job document, by reading them all: for tests and tools only, never a request's path. */
  async scanAll(): Promise<JobStatus[]> {
    const keys = (await this.bucket.listKeys(PREFIXES.jobs)).filter(isJobStatusKey);
    const docs = await Promise.all(keys.map((k) => this.bucket.getJson<JobStatus>(k)));
    return docs.filter((d): d is JobStatus => d !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }
}

/** The status document of a job that has just been queued, as POST /jobs writes it. */
export function queuedStatus(jobId: string, createdAt: string, params?: TrainingParams): JobStatus {
  return {
    jobId,
    status: 'QUEUED',
    ...(params ? { params, totalEpochs: params.epochs, epoch: 0 } : {}),
    createdAt,
    updatedAt: new Date().toISOString(),
    metrics: [],
  };
}
