import type { Bucket } from './s3-objects';
import type { JobProgress, JobStatus, TrainingParams } from './schemas';

import { isJobStatusKey, jobKeys, PREFIXES } from './bucket-layout';

export const jobKey = jobKeys.status;
export const progressKey = jobKeys.progress;

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

  async list(): Promise<JobStatus[]> {
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
