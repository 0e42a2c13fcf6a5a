/**
 * Cancelling a job. POST /jobs/{id}/cancel files a request (`jobs/<id>.cancel`, created once: the
 * first request wins) and, while no trainer has the job, marks it CANCELLED itself; a trainer reads
 * the request before it starts a job and while it trains, and ends the job CANCELLED. CANCELLED is
 * final: JobStore refuses to move a job out of it, so a trainer that took the job in the same
 * instant cannot undo the cancel.
 */
import { jobKeys } from './bucket-layout';
import type { CancelRequest, JobStatus } from './documents';
import type { Bucket } from './s3-objects';

/** Thrown by a status change that would move a CANCELLED job to another state. */
export class JobCancelledError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} was cancelled`);
    this.name = 'JobCancelledError';
  }
}

export function readCancelRequest(bucket: Bucket, jobId: string): Promise<CancelRequest | undefined> {
  return bucket.getJson<CancelRequest>(jobKeys.cancel(jobId));
}

/** Files a cancel request; a repeat returns the first one, unchanged. */
export async function fileCancelRequest(bucket: Bucket, jobId: string, requestedBy: string): Promise<CancelRequest> {
  const request: CancelRequest = { jobId, requestedBy, requestedAt: new Date().toISOString() };
  const written = await bucket.putJsonIf(jobKeys.cancel(jobId), request, { ifNoneMatch: '*' });
  if (written.ok) return request;
  return (await readCancelRequest(bucket, jobId)) ?? request;
}

/** The status fields of a job ended by `request`. */
export function cancelledPatch(request: CancelRequest): Pick<JobStatus, 'status' | 'cancelledBy' | 'cancelledAt' | 'reason'> {
  return {
    status: 'CANCELLED',
    cancelledBy: request.requestedBy,
    cancelledAt: request.requestedAt,
    reason: `cancelled by ${request.requestedBy} at ${request.requestedAt}`,
  };
}

/**
 * Marks a QUEUED job CANCELLED with one PUT conditional on the status document it read. Returns the
 * new document, or undefined if the job was not QUEUED or a trainer changed it in between (then the
 * trainer sees the request and ends the job itself).
 */
export async function cancelQueuedJob(bucket: Bucket, request: CancelRequest): Promise<JobStatus | undefined> {
  const key = jobKeys.status(request.jobId);
  const found = await bucket.getWithEtag(key);
  if (!found?.etag) return undefined;
  const current = JSON.parse(Buffer.from(found.bytes).toString('utf8')) as JobStatus;
  if (current.status !== 'QUEUED') return undefined;
  const next: JobStatus = { ...current, ...cancelledPatch(request), updatedAt: new Date().toISOString() };
  const written = await bucket.putJsonIf(key, next, { ifMatch: found.etag });
  return written.ok ? next : undefined;
}
