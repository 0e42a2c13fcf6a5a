import type { Bucket } from './s3-objects';
import type { JobStatus } from './schemas';

export const jobKey = (jobId: string) => `jobs/${jobId}.json`;

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

  async list(): Promise<JobStatus[]> {
    const keys = (await this.bucket.listKeys('jobs/')).filter((k) => k.endsWith('.json'));
    const docs = await Promise.all(keys.map((k) => this.bucket.getJson<JobStatus>(k)));
    return docs.filter((d): d is JobStatus => d !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }
}
