/**
 * A job lease: `jobs/<jobId>.lease` in the bucket says which trainer is training a job and until when.
 *
 * SQS delivers at least once, so two trainers can hold the same job (a duplicate message, or a
 * message that came back while its first trainer was still busy). Only the lease holder trains.
 * Every change is a conditional PUT, so S3 decides races atomically:
 * - acquire: `If-None-Match: *` (create only if no lease exists);
 * - take over an expired or released lease, renew, release: `If-Match: <the ETag we last saw>`.
 * Release is a conditional PUT too, not a DELETE: it rewrites the lease as `released: true` with
 * `expiresAt` = now, so the next acquirer takes it at once. S3 has conditional DELETE only since
 * 2024 and not every S3 implementation has it (LocalStack answers 501), while conditional PUT is
 * what the lease needs anyway. A released lease document stays in the bucket (a few hundred bytes
 * per job) and reads as free.
 * Each write carries a fresh random token, so two writes never have the same ETag (no ABA) and a
 * write whose answer was lost to a network error can be recognised on the read back.
 *
 * Every acquisition or takeover bumps `fence` (the previous document's plus one; renewals keep it),
 * so each owner of a job has its own, larger than every earlier owner's. Writes of the job's
 * objects carry it and are refused once a newer owner has written (shared/fenced-write.ts): that, not
 * the lease check before a write, is what stops a paused ex-owner.
 *
 * Expiry uses the trainers' wall clocks: they must agree to well within the lease time (NTP on
 * Fargate keeps them within milliseconds).
 */
import { randomUUID } from 'node:crypto';
import { jobKeys } from '../../../shared/bucket-layout';
import type { Bucket } from '../../../shared/s3-objects';
import type { LeaseDoc } from '../../../shared/documents';

/** True when nobody holds the lease any more: given up by its holder, or past its expiry. */
export function isLeaseFree(doc: LeaseDoc, now = Date.now()): boolean {
  return doc.released === true || Date.parse(doc.expiresAt) <= now;
}

export class LeaseLostError extends Error {
  constructor(jobId: string, detail: string) {
    super(`lost the lease on job ${jobId}: ${detail}`);
    this.name = 'LeaseLostError';
  }
}

export type AcquireResult =
  | { acquired: true; lease: JobLease; tookOverFrom?: string }
  | { acquired: false; holder: string; expiresAt: string; remainingMs: number };

export const leaseKey = jobKeys.lease;

/** The fence of the next owner after `previous` (undefined: no lease was ever written). */
export const nextFence = (previous: Pick<LeaseDoc, 'fence'> | undefined) => (previous?.fence ?? 0) + 1;

export class JobLease {
  private constructor(
    private readonly bucket: Bucket,
    private doc: LeaseDoc,
    private etag: string | undefined,
    private readonly ttlMs: number,
  ) {}

  get expiresAt(): string {
    return this.doc.expiresAt;
  }

  /** This owner's fencing token (see LeaseDoc.fence). */
  get fence(): number {
    return this.doc.fence ?? 0;
  }

  /** Takes the job's lease if it is free or expired; otherwise says who holds it and for how long. */
  static async acquire(bucket: Bucket, jobId: string, owner: string, ttlMs: number, messageId?: string): Promise<AcquireResult> {
    const key = leaseKey(jobId);
    for (let round = 0; round < 3; round++) {
      const now = Date.now();
      const doc: LeaseDoc = {
        jobId,
        owner,
        token: randomUUID(),
        fence: nextFence(undefined),
        messageId,
        acquiredAt: new Date(now).toISOString(),
        expiresAt: new Date(now + ttlMs).toISOString(),
      };
      const created = await bucket.putJsonIf(key, doc, { ifNoneMatch: '*' });
      if (created.ok) return { acquired: true, lease: new JobLease(bucket, doc, created.etag, ttlMs) };

      const current = await read(bucket, key);
      if (!current) continue; // deleted in between (by hand, or a lease from an older release): create it again
      if (current.doc.token === doc.token) return { acquired: true, lease: new JobLease(bucket, doc, current.etag, ttlMs) };
      const free = isLeaseFree(current.doc);
      if (!free && current.doc.owner !== owner) {
        return {
          acquired: false,
          holder: current.doc.owner,
          expiresAt: current.doc.expiresAt,
          remainingMs: Date.parse(current.doc.expiresAt) - Date.now(),
        };
      }
      // Released, expired (its holder crashed or stalled), or a leftover of this same trainer: take it over.
      // Taking a released lease is not a takeover: its holder gave it up.
      const tookOverFrom = current.doc.released ? undefined : current.doc.owner;
      const next: LeaseDoc = { ...doc, fence: nextFence(current.doc) };
      const taken = await bucket.putJsonIf(key, next, { ifMatch: current.etag });
      if (taken.ok) return { acquired: true, lease: new JobLease(bucket, next, taken.etag, ttlMs), tookOverFrom };
      const after = await read(bucket, key);
      if (after?.doc.token === next.token) return { acquired: true, lease: new JobLease(bucket, next, after.etag, ttlMs), tookOverFrom };
      // Someone else won the takeover; look again.
    }
    const current = await read(bucket, key);
    return {
      acquired: false,
      holder: current?.doc.owner ?? 'unknown',
      expiresAt: current?.doc.expiresAt ?? new Date().toISOString(),
      remainingMs: 1000,
    };
  }

  private pending: Promise<unknown> = Promise.resolve();

  /**
   * Extends the lease by its TTL from now. Throws LeaseLostError if another trainer has taken it.
   * Calls are serialised (the heartbeat and a checkpoint may renew at the same moment; two
   * concurrent If-Match writes from the same holder would otherwise make one of them look lost).
   */
  renew(): Promise<void> {
    const next = this.pending.then(() => this.renewNow());
    this.pending = next.catch(() => undefined);
    return next;
  }

  private async renewNow(): Promise<void> {
    const key = leaseKey(this.doc.jobId);
    const next: LeaseDoc = { ...this.doc, token: randomUUID(), expiresAt: new Date(Date.now() + this.ttlMs).toISOString() };
    const out = await this.bucket.putJsonIf(key, next, { ifMatch: this.etag ?? '*' });
    if (out.ok) {
      this.doc = next;
      this.etag = out.etag;
      return;
    }
    const current = await read(this.bucket, key);
    if (current?.doc.token === next.token || (current?.doc.owner === this.doc.owner && current.doc.acquiredAt === this.doc.acquiredAt)) {
      // Our write landed but its answer was lost (a retried request), or it is our own acquisition: still ours.
      this.doc = { ...current.doc };
      this.etag = current.etag;
      return;
    }
    throw new LeaseLostError(
      this.doc.jobId,
      current ? `now held by ${current.doc.owner} until ${current.doc.expiresAt}` : 'the lease was deleted',
    );
  }

  /**
   * Gives the lease up, only if it is still ours: a conditional PUT (If-Match on our last ETag) of the
   * lease marked released and expired now. Returns false when it was no longer ours (another trainer
   * took it over, so there is nothing to give up). Serialised with renew().
   */
  release(): Promise<boolean> {
    const next = this.pending.then(() => this.releaseNow());
    this.pending = next.catch(() => undefined);
    return next;
  }

  private async releaseNow(): Promise<boolean> {
    const key = leaseKey(this.doc.jobId);
    const now = new Date().toISOString();
    const next: LeaseDoc = { ...this.doc, token: randomUUID(), expiresAt: now, released: true, releasedAt: now };
    const out = await this.bucket.putJsonIf(key, next, { ifMatch: this.etag ?? '*' });
    if (out.ok) {
      this.doc = next;
      this.etag = out.etag;
      return true;
    }
    // Refused: either our write landed and its answer was lost (a retried request), or someone else holds it now.
    const current = await read(this.bucket, key);
    return current?.doc.token === next.token;
  }
}

/** The job's lease document as stored, if any (released leases included: see isLeaseFree). */
export async function readLease(bucket: Bucket, jobId: string): Promise<LeaseDoc | undefined> {
  return (await read(bucket, leaseKey(jobId)))?.doc;
}

async function read(bucket: Bucket, key: string): Promise<{ doc: LeaseDoc; etag?: string } | undefined> {
  const found = await bucket.getWithEtag(key);
  return found && { doc: JSON.parse(Buffer.from(found.bytes).toString('utf8')) as LeaseDoc, etag: found.etag };
}
