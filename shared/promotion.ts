import { randomUUID } from 'node:crypto';
import { modelKeys } from './bucket-layout';
import type { Bucket } from './s3-objects';
import type { CheckpointInfo, LatestModel } from './documents';

export interface PromotionPolicy {
  /** Minimum test accuracy a model needs to be served. Default 0.98. */
  minAccuracy: number;
  /** Promote even if the current latest model is more accurate. */
  force?: boolean;
}

export async function readLatestPointer(bucket: Bucket): Promise<LatestModel | undefined> {
  return bucket.getJson<LatestModel>(modelKeys.latest);
}

export interface PromotionDecision {
  promote: boolean;
  reason: string;
}

/** Decides whether a finished model may replace the one being served. */
export function decidePromotion(
  candidate: Pick<LatestModel, 'testAccuracy'>,
  current: LatestModel | undefined,
  policy: PromotionPolicy,
): PromotionDecision {
  const acc = candidate.testAccuracy;
  if (!(acc >= policy.minAccuracy)) {
    return { promote: false, reason: `test accuracy ${acc.toFixed(4)} is below the promotion threshold ${policy.minAccuracy}` };
  }
  if (current && acc < current.testAccuracy && !policy.force) {
    return {
      promote: false,
      reason: `test accuracy ${acc.toFixed(4)} is below the served model's ${current.testAccuracy.toFixed(4)} (job ${current.jobId}); promote with force to override`,
    };
  }
  return { promote: true, reason: current ? `replaces job ${current.jobId} (${current.testAccuracy.toFixed(4)})` : 'first model served' };
}

/**
 * Points `models/latest.json` at a finished model if the policy allows.
 *
 * - The model must be complete: its marker (`final/checkpoint.json`, written after the weights and
 *   model.json) must exist, so a prediction can never load a half-written model.
 * - The pointer changes with one conditional PUT: `If-Match` on the ETag of the pointer the decision
 *   was made against (`If-None-Match: *` when there was none). If another promotion changed it in
 *   between, the PUT fails, and the decision is made again against the new pointer; so two
 *   concurrent promotions can never clobber each other, and readers see the old or the new pointer,
 *   never half of one.
 */
export async function promoteIfBetter(
  bucket: Bucket,
  candidate: Omit<LatestModel, 'promotedAt' | 'modelPrefix'>,
  policy: PromotionPolicy,
): Promise<PromotionDecision & { pointer?: LatestModel }> {
  const modelPrefix = modelKeys.final(candidate.jobId);
  const marker = await bucket.getJson<CheckpointInfo>(modelPrefix + modelKeys.marker);
  if (!marker) {
    return { promote: false, reason: `job ${candidate.jobId} has no complete final model (no ${modelPrefix}${modelKeys.marker})` };
  }
  // A score on a few chosen test images says nothing: only whole-test-set models compete.
  if (marker.fullTestSet !== true) {
    return {
      promote: false,
      reason: `scored on ${marker.testImages ?? 'an unknown number of'} test images, not the dataset's whole test set (testSubset); such models are never promoted`,
    };
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const found = await bucket.getWithEtag(modelKeys.latest);
    const current = found && (JSON.parse(Buffer.from(found.bytes).toString('utf8')) as LatestModel);
    const decision = decidePromotion(candidate, current, policy);
    if (!decision.promote) return decision;
    const pointer: LatestModel = { ...candidate, modelPrefix, promotedAt: new Date().toISOString(), promotionId: randomUUID() };
    const written = await bucket.putJsonIf(modelKeys.latest, pointer, found?.etag ? { ifMatch: found.etag } : { ifNoneMatch: '*' });
    if (written.ok) return { ...decision, pointer };
    // A retried PUT whose first try landed reads back as ours; anything else lost a race: decide again.
    const now = await bucket.getJson<LatestModel>(modelKeys.latest);
    if (now?.promotionId === pointer.promotionId) return { ...decision, pointer };
  }
  return { promote: false, reason: 'the served model kept changing under concurrent promotions; try again' };
}
