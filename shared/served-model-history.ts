/**
 * The served-model history: one create-only object per change of `models/latest.json`
 * (`models/history/<inverted ms>-<changeId>.json`, shared/bucket-layout.ts), newest first.
 *
 * Why not the versions of latest.json: the bucket expires non-current versions, and a version says
 * nothing about who changed it or why. Why every writer can repair a missing entry: an entry is a
 * pure function of the pointer it records (same key, same body), so whoever is about to replace a
 * pointer first creates that pointer's entry (If-None-Match: *; "already there" is success), and a
 * writer that dies between its pointer swap and its own entry loses nothing (shared/promotion.ts).
 */
import { createHash } from 'node:crypto';
import { servedModelHistoryKeys } from './bucket-layout';
import type { Bucket } from './s3-objects';
import type { LatestModel, ServedModelChange } from './documents';

/** The change id of a pointer: its promotionId, or for a pointer written before promotion ids, one derived from it. */
export function changeIdOf(pointer: LatestModel): string {
  if (pointer.promotionId) return pointer.promotionId;
  return `legacy-${createHash('sha256').update(`${pointer.jobId}@${pointer.promotedAt}`).digest('hex').slice(0, 24)}`;
}

/** The history entry that records how `pointer` came to be served. Pure: the same pointer gives the same entry. */
export function changeOf(pointer: LatestModel): ServedModelChange {
  const change: ServedModelChange = {
    changeId: changeIdOf(pointer),
    at: pointer.promotedAt,
    to: { jobId: pointer.jobId, testAccuracy: pointer.testAccuracy },
    // A pointer written before the history says neither: it was a promotion by someone.
    why: pointer.why ?? 'promoted',
    by: pointer.by ?? 'unknown',
  };
  if (pointer.from) change.from = { jobId: pointer.from.jobId, testAccuracy: pointer.from.testAccuracy };
  return change;
}

export const historyKeyOf = (pointer: LatestModel) => servedModelHistoryKeys.entry(pointer.promotedAt, changeIdOf(pointer));

/**
 * Creates the pointer's entry unless it exists. A refused conditional PUT (412, or 409 for a
 * concurrent create of the same key) means another writer created it, with the same body.
 */
export async function recordServedModelChange(bucket: Bucket, pointer: LatestModel): Promise<void> {
  await bucket.putJsonIf(historyKeyOf(pointer), changeOf(pointer), { ifNoneMatch: '*' });
}

/** recordServedModelChange for readers: a HEAD first, so reading the history writes only when an entry is missing. */
export async function ensureServedModelChange(bucket: Bucket, pointer: LatestModel): Promise<void> {
  if (!(await bucket.head(historyKeyOf(pointer)))) await recordServedModelChange(bucket, pointer);
}

/** A page of changes, newest first, after the entry key `after`; `last` is set when more follow. */
export async function readServedModelHistory(
  bucket: Bucket,
  limit: number,
  after?: string,
): Promise<{ changes: ServedModelChange[]; last?: string }> {
  const page = await bucket.listPage(servedModelHistoryKeys.prefix, limit, after);
  const keys = page.keys.filter((k) => servedModelHistoryKeys.parse(k) !== undefined);
  const changes = (await Promise.all(keys.map((k) => bucket.getJson<ServedModelChange>(k)))).filter(
    (c): c is ServedModelChange => c !== undefined,
  );
  return page.more && page.keys.length ? { changes, last: page.keys[page.keys.length - 1] } : { changes };
}

/** Whether the history records `jobId` as served at some time (as a change's `to` or `from`). Reads the whole history. */
export async function wasServed(bucket: Bucket, jobId: string): Promise<boolean> {
  let after: string | undefined;
  do {
    const { changes, last } = await readServedModelHistory(bucket, 100, after);
    if (changes.some((c) => c.to.jobId === jobId || c.from?.jobId === jobId)) return true;
    after = last;
  } while (after);
  return false;
}
