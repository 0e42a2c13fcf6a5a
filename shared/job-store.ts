import type { Bucket } from './s3-objects';
import type { JobProgress, JobStatus, TrainingParams } from './schemas';

import { isJobStatusKey, jobIndexKeys, jobKeys, PREFIXES } from './bucket-layout';

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
  constructor(private readonly bucket: Bucket) {}

  get(jobId: string): Promise<JobStatus | undefined> {
    return this.bucket.getJson<JobStatus>(jobKey(jobId));
  }

  async put(status: JobStatus): Promise<JobStatus> {
    await this.bucket.putJson(jobKey(status.jobId), status);
    return status;
  }

  /** Merges `patch` into the current document (or a new one) and stamps updatedAt. */
  async update(jobId: string, patch: Partial<JobStatus>): Promise<JobStatus> {
    const now = new Date().toISOString();
    const current = (await this.get(jobId)) ?? { jobId, status: 'QUEUED', createdAt: now, updatedAt: now, metrics: [] };
    return this.put({ ...current, ...patch, jobId, updatedAt: now });
  }

  putProgress(jobId: string, progress: Omit<JobProgress, 'updatedAt'>): Promise<void> {
    return this.bucket.putJson(progressKey(jobId), { ...progress, updatedAt: new Date().toISOString() });
  }

  /** The status with `progress` added while the job is RUNNING and its progress is of the epoch after the last finished one. */
  async getWithProgress(jobId: string): Promise<JobStatus | undefined> {
    const [status, progress] = await Promise.all([this.get(jobId), this.bucket.getJson<JobProgress>(progressKey(jobId))]);
    if (!status || status.status !== 'RUNNING' || !progress || progress.epoch !== (status.epoch ?? 0) + 1) return status;
    return { ...status, progress };
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
