import { randomUUID } from 'node:crypto';
import { modelKeys } from './bucket-layout';
import type { Bucket } from './s3-objects';
import type { CheckpointInfo, LatestModel } from './documents';
import { recordServedModelChange, wasServed } from './served-model-history';

export interface PromotionPolicy {
  /** Minimum test accuracy a model needs to be served. Default 0.98. */
  minAccuracy: number;
  /** Promote even if the current latest model is more accurate. */
  force?: boolean;
  /** Who asks (an IAM ARN, or `trainer <id>`), recorded in the served-model history. Default 'unknown'. */
  by?: string;
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

/** What a promotion or rollback did: `pointer` is the pointer served afterwards, when it may be served. */
export type ServeResult = PromotionDecision & {
  pointer?: LatestModel;
  /** Set when the pointer moved but its history entry could not be written yet (the next swap, or GET /models/history, writes it). */
  historyError?: string;
};

type NextPointer = Pick<LatestModel, 'jobId' | 'epoch' | 'testAccuracy' | 'testImages' | 'why' | 'by'>;

/**
 * One conditional swap of `models/latest.json` from `current` (read with ETag `etag`) to `next`.
 * First the current pointer's history entry is made sure of (its writer may have died before
 * writing it), then the pointer is replaced with If-Match (If-None-Match: * when there was none),
 * then the new pointer's entry is written. So no pointer is ever replaced without its entry.
 * Undefined when another writer changed the pointer in between: decide again.
 */
async function swapPointer(
  bucket: Bucket,
  found: { etag?: string } | undefined,
  current: LatestModel | undefined,
  next: NextPointer,
): Promise<{ pointer: LatestModel; historyError?: string } | undefined> {
  if (current) await recordServedModelChange(bucket, current);
  // Strictly after the pointer it replaces: the history (keyed by time) then lists in swap order,
  // even for two swaps in one millisecond or a writer whose clock is behind.
  const previous = current ? Date.parse(current.promotedAt) : Number.NaN;
  const now = Date.now();
  const pointer: LatestModel = {
    ...next,
    modelPrefix: modelKeys.final(next.jobId),
    promotedAt: new Date(previous >= now ? previous + 1 : now).toISOString(),
    promotionId: randomUUID(),
    ...(current ? { from: { jobId: current.jobId, testAccuracy: current.testAccuracy } } : {}),
  };
  const written = await bucket.putJsonIf(modelKeys.latest, pointer, found?.etag ? { ifMatch: found.etag } : { ifNoneMatch: '*' });
  // A retried PUT whose first try landed reads back as ours; anything else lost a race.
  if (!written.ok && (await bucket.getJson<LatestModel>(modelKeys.latest))?.promotionId !== pointer.promotionId) return undefined;
  try {
    await recordServedModelChange(bucket, pointer);
  } catch (err) {
    // The pointer is served already; its entry is written by the next swap or history read.
    return { pointer, historyError: String(err) };
  }
  return { pointer };
}

async function readPointerWithEtag(bucket: Bucket) {
  const found = await bucket.getWithEtag(modelKeys.latest);
  return { found, current: found && (JSON.parse(Buffer.from(found.bytes).toString('utf8')) as LatestModel) };
}

const KEPT_CHANGING: ServeResult = { promote: false, reason: 'the served model kept changing under concurrent promotions; try again' };

/** The final model's marker if it may be served at all: complete, and scored on the whole test set. */
async function servableMarker(bucket: Bucket, jobId: string): Promise<CheckpointInfo | PromotionDecision> {
  const modelPrefix = modelKeys.final(jobId);
  const marker = await bucket.getJson<CheckpointInfo>(modelPrefix + modelKeys.marker);
  if (!marker) return { promote: false, reason: `job ${jobId} has no complete final model (no ${modelPrefix}${modelKeys.marker})` };
  // A score on a few chosen test images says nothing: only whole-test-set models compete.
  if (marker.fullTestSet !== true) {
    return {
      promote: false,
      reason: `scored on ${marker.testImages ?? 'an unknown number of'} test images, not the dataset's whole test set (testSubset); such models are never promoted`,
    };
  }
  return marker;
}

/**
 * Points `models/latest.json` at a finished model if the policy allows.
 *
 * - The model must be complete: its marker (`final/checkpoint.json`, written after the weights and
 *   model.json) must exist, so a prediction can never load a half-written model.
 * - The pointer changes with one conditional PUT (swapPointer): if another promotion changed it in
 *   between, the PUT fails, and the decision is made again against the new pointer; so two
 *   concurrent promotions can never clobber each other, and readers see the old or the new pointer,
 *   never half of one. Every change is recorded in the served-model history.
 * - The model served already is not served again: its pointer is returned unchanged (so a retried
 *   promotion records no change from a model to itself).
 */
export async function promoteIfBetter(
  bucket: Bucket,
  candidate: Pick<LatestModel, 'jobId' | 'epoch' | 'testAccuracy' | 'testImages'>,
  policy: PromotionPolicy,
): Promise<ServeResult> {
  const marker = await servableMarker(bucket, candidate.jobId);
  if ('promote' in marker) return marker;
  for (let attempt = 0; attempt < 5; attempt++) {
    const { found, current } = await readPointerWithEtag(bucket);
    if (current?.jobId === candidate.jobId) return { promote: true, reason: `job ${candidate.jobId} is served already`, pointer: current };
    const decision = decidePromotion(candidate, current, policy);
    if (!decision.promote) return decision;
    const next = { ...candidate, why: policy.force ? ('forced' as const) : ('promoted' as const), by: policy.by ?? 'unknown' };
    const swapped = await swapPointer(bucket, found, current, next);
    if (swapped) return { ...decision, ...swapped };
  }
  return KEPT_CHANGING;
}

/**
 * Serves an earlier model again, with the same conditional swap as promoteIfBetter. Without `jobId`:
 * the model served before the current one (the pointer's `from`; so a second rollback undoes the
 * first). With `jobId`: a model the history records as served, not the one served now. Either way
 * the model must still be servable at the threshold (it may be less accurate than the current one:
 * rolling back is an administrator's decision, like a forced promotion).
 */
export async function rollbackServedModel(
  bucket: Bucket,
  request: { jobId?: string; by: string },
  policy: Pick<PromotionPolicy, 'minAccuracy'>,
): Promise<ServeResult> {
  if (request.jobId && !(await wasServed(bucket, request.jobId))) {
    const current = await readLatestPointer(bucket);
    // The current pointer may predate the history: its own entry is written by the swap below, not yet.
    if (current?.jobId !== request.jobId && current?.from?.jobId !== request.jobId) {
      return {
        promote: false,
        reason: `job ${request.jobId} was never served (it is not in GET /models/history); promote it instead`,
      };
    }
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const { found, current } = await readPointerWithEtag(bucket);
    const refuse = (reason: string): ServeResult => ({ promote: false, reason });
    if (!current) return refuse('no earlier model: no model has been served yet');
    const target = request.jobId ?? current.from?.jobId;
    if (!target) return refuse(`no earlier model: job ${current.jobId} is the first model served`);
    if (target === current.jobId) return refuse(`job ${target} is the model served now`);
    const marker = await servableMarker(bucket, target);
    if ('promote' in marker) return refuse(marker.reason);
    if (marker.testAccuracy === undefined) return refuse(`job ${target}'s final model has no test accuracy`);
    const decision = decidePromotion({ testAccuracy: marker.testAccuracy }, current, { minAccuracy: policy.minAccuracy, force: true });
    if (!decision.promote) return refuse(decision.reason);
    const next: NextPointer = {
      jobId: target,
      epoch: marker.epoch,
      testAccuracy: marker.testAccuracy,
      testImages: marker.testImages,
      why: 'rollback',
      by: request.by,
    };
    const swapped = await swapPointer(bucket, found, current, next);
    if (swapped) return { promote: true, reason: `rolled back from job ${current.jobId} to job ${target}`, ...swapped };
  }
  return KEPT_CHANGING;
}
