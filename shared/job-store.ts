import type { Bucket } from './s3-objects';
import type { JobProgress, JobStatus } from './schemas';

import { isJobStatusKey, jobKeys, PREFIXES } from './bucket-layout';

export const jobKey = jobKeys.status;
export const progressKey = jobKeys.progress;

const JOB_ID_PREFIX = 'job-';
/** How far back newestJobId looks, widening only when nothing newer exists (undefined: from the start). */
const NEWEST_JOB_WINDOWS_HOURS = [1, 24, 24 * 30, 24 * 365, undefined];
/** The UTC time part of a job id: YYYYMMDDHHMMSS. */
const jobIdStamp = (at: Date) => at.toISOString().replace(/[-:TZ.]/g, '').slice(0, 14);
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
   * The id of the newest job, with a bounded number of S3 calls and no document reads. Ids start
   * with their creation time (`job-YYYYMMDDHHMMSS-…`, see jobIdAt) and S3 lists keys in order, so
   * the newest is the last status key; listing from a recent time gets there in one page, and
   * older windows are tried only when nothing newer exists. Each window reads one page only: with
   * more keys than a page inside the last hour it answers a slightly older job, which the job
   * index (newest first) will replace.
   */
  async newestJobId(now = new Date()): Promise<string | undefined> {
    const prefix = `${PREFIXES.jobs}${JOB_ID_PREFIX}`;
    for (const hours of NEWEST_JOB_WINDOWS_HOURS) {
      const startAfter = hours === undefined ? undefined : prefix + jobIdStamp(new Date(now.getTime() - hours * 3_600_000));
      const { keys } = await this.bucket.listPage(prefix, { startAfter });
      const status = keys.filter(isJobStatusKey);
      if (status.length) return status[status.length - 1].slice(PREFIXES.jobs.length, -'.json'.length);
    }
    return undefined;
  }

  async list(): Promise<JobStatus[]> {
    const keys = (await this.bucket.listKeys(PREFIXES.jobs)).filter(isJobStatusKey);
    const docs = await Promise.all(keys.map((k) => this.bucket.getJson<JobStatus>(k)));
    return docs.filter((d): d is JobStatus => d !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }
}
