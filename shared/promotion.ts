import { modelKeys, readLatestPointer } from './model-store';
import type { Bucket } from './s3-objects';
import type { LatestModel } from './schemas';

export interface PromotionPolicy {
  /** Minimum test accuracy a model needs to be served. Default 0.98. */
  minAccuracy: number;
  /** Promote even if the current latest model is more accurate. */
  force?: boolean;
}

export const DEFAULT_MIN_ACCURACY = 0.98;

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

/** Points `models/latest.json` at a finished model if the policy allows; one PUT, so readers see old or new, never half. */
export async function promoteIfBetter(
  bucket: Bucket,
  candidate: Omit<LatestModel, 'promotedAt' | 'modelPrefix'>,
  policy: PromotionPolicy,
): Promise<PromotionDecision & { pointer?: LatestModel }> {
  const decision = decidePromotion(candidate, await readLatestPointer(bucket), policy);
  if (!decision.promote) return decision;
  const pointer: LatestModel = { ...candidate, modelPrefix: modelKeys.final(candidate.jobId), promotedAt: new Date().toISOString() };
  await bucket.putJson(modelKeys.latest, pointer);
  return { ...decision, pointer };
}
