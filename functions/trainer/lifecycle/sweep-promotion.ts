/**
 * `promote: 'best'` of a sweep, done by the trainer that ends its last job: the sweep's jobs never
 * promote themselves (run-job.ts), so the winner is chosen only once every variant has ended, from
 * the recorded results (shared/sweep.ts sweepWinner), and promoted under the usual rules
 * (shared/promotion.ts promoteIfBetter). Two trainers ending the last two jobs at once may both
 * see the sweep finished: a create-only claim (sweeps/<id>.promotion, If-None-Match: *) lets exactly
 * one of them promote; the outcome goes to a second create-only key (sweeps/<id>.promoted).
 * A cancelled sweep promotes nothing: POST /sweeps/{id}/cancel creates the same claim (marked
 * cancelled) before it cancels any job, so either the cancel or one trainer holds it, never both.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { randomUUID } from 'node:crypto';
import { modelKeys, sweepKeys } from '../../../shared/bucket-layout';
import type { CheckpointInfo, SweepCancel, SweepDoc, SweepPromotionClaim, SweepPromotionOutcome } from '../../../shared/documents';
import { JobStore } from '../../../shared/job-store';
import { promoteIfBetter, type PromotionPolicy } from '../../../shared/promotion';
import type { Bucket } from '../../../shared/s3-objects';
import { sweepWinner } from '../../../shared/sweep';

export type SweepSettlement = 'no-sweep' | 'no-promotion' | 'pending' | 'cancelled' | 'claimed-elsewhere' | 'promoted' | 'not-promoted';

export interface SettleOptions {
  bucket: Bucket;
  sweepId: string;
  policy: PromotionPolicy;
  trainerId: string;
  logger: Logger;
}

/**
 * Called after a sweep's job has ended (its status recorded): if every variant has ended and the
 * sweep asks for it, promotes the winner once. Throws only on storage errors (the caller retries).
 */
export async function settleSweep({ bucket, sweepId, policy, trainerId, logger }: SettleOptions): Promise<SweepSettlement> {
  const sweep = await bucket.getJson<SweepDoc>(sweepKeys.doc(sweepId));
  if (!sweep) {
    logger.warn('the job names a sweep that does not exist', { sweepId });
    return 'no-sweep';
  }
  if (sweep.promote !== 'best') return 'no-promotion';
  const jobs = new JobStore(bucket);
  const statuses = await Promise.all(sweep.variants.map(async (v) => ({ jobId: v.jobId, ...(await jobs.get(v.jobId)) })));
  const decision = sweepWinner(statuses);
  if (!decision.ready) {
    logger.info('sweep not finished; nothing to promote yet', { sweepId, pending: decision.pending.length });
    return 'pending';
  }
  // Saves a claim attempt; the claim itself is what settles a race with a cancel.
  const cancelled = await bucket.getJson<SweepCancel>(sweepKeys.cancel(sweepId));
  if (cancelled) {
    logger.info('sweep cancelled; its winner is not promoted', { sweepId, by: cancelled.requestedBy, at: cancelled.requestedAt });
    return 'cancelled';
  }
  const claimKey = sweepKeys.promotionClaim(sweepId);
  const claim: SweepPromotionClaim = {
    sweepId,
    claimId: randomUUID(),
    claimedBy: trainerId,
    claimedAt: new Date().toISOString(),
    ...(decision.winner === undefined ? { reason: decision.reason } : { winner: decision.winner }),
  };
  const created = await bucket.putJsonIf(claimKey, claim, { ifNoneMatch: '*' });
  if (!created.ok) {
    // A retried PUT whose first try landed reads back as ours; anything else is another trainer's claim.
    const existing = await bucket.getJson<SweepPromotionClaim>(claimKey);
    if (existing?.cancelled) {
      logger.info('sweep cancelled; its winner is not promoted', { sweepId, by: existing.cancelled.requestedBy });
      return 'cancelled';
    }
    if (existing?.claimId !== claim.claimId) {
      logger.info('another trainer promotes this sweep', { sweepId, claimedBy: existing?.claimedBy });
      return 'claimed-elsewhere';
    }
  }
  let outcome: SweepPromotionOutcome;
  if (decision.winner === undefined) {
    outcome = { sweepId, promoted: false, reason: decision.reason, at: new Date().toISOString() };
  } else {
    const marker = await bucket.getJson<CheckpointInfo>(modelKeys.final(decision.winner) + modelKeys.marker);
    const result = await promoteIfBetter(
      bucket,
      { jobId: decision.winner, epoch: marker?.epoch ?? 0, testAccuracy: decision.testAccuracy, testImages: marker?.testImages },
      policy,
    );
    outcome = {
      sweepId,
      winner: decision.winner,
      promoted: result.pointer !== undefined,
      reason: result.reason,
      ...(result.pointer ? { pointer: result.pointer } : {}),
      at: new Date().toISOString(),
    };
  }
  await bucket.putJsonIf(sweepKeys.promotionOutcome(sweepId), outcome, { ifNoneMatch: '*' });
  logger.info('sweep finished', { sweepId, winner: outcome.winner, promoted: outcome.promoted, reason: outcome.reason });
  return outcome.promoted ? 'promoted' : 'not-promoted';
}
