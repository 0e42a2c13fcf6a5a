/**
 * Fenced writes: every object a trainer writes for a job (checkpoint files, the final model, the
 * status and progress documents) is stamped with the writer's lease fence (x-amz-meta-fence), and a
 * write replaces an object only if the stored fence is not newer than the writer's. The check and
 * the write are one atomic S3 conditional PUT (If-Match on the ETag the check read, or
 * If-None-Match: * for a new key), so a paused trainer whose lease was taken over can never
 * overwrite an object of the new owner, however long it slept between its lease check and its
 * write. Needs only s3:GetObject (HEAD) and s3:PutObject. See docs/reliability.md.
 */
import type { Bucket } from './s3-objects';

/** The user-metadata name of the fence (x-amz-meta-fence). */
export const FENCE_METADATA = 'fence';

export class StaleFenceError extends Error {
  constructor(
    readonly key: string,
    readonly fence: number,
    readonly storedFence: number,
  ) {
    super(`refused to write ${key} with fence ${fence}: it was written with the newer fence ${storedFence} (the job has a new owner)`);
    this.name = 'StaleFenceError';
  }
}

/** Whether a writer holding `fence` may replace an object stamped `stored` (absent or unstamped objects count as 0). */
export const mayOverwrite = (stored: number | undefined, fence: number) => (stored ?? 0) <= fence;

/** The fence of an object's user metadata, or undefined if it has none. */
export function fenceOf(metadata: Record<string, string> | undefined): number | undefined {
  const raw = metadata?.[FENCE_METADATA];
  const n = raw === undefined ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

type Condition = { ifNoneMatch: '*' } | { ifMatch: string };

/** The object operations fenced writes need; `FencedObjects.of(bucket)` is the S3 one (tests pass fakes). */
export interface ObjectOps {
  head(key: string): Promise<{ etag: string; fence?: number } | undefined>;
  get(key: string): Promise<{ bytes: Uint8Array; etag: string; fence?: number } | undefined>;
  /** A conditional PUT stamped with `fence`: the new ETag, or undefined if the condition did not hold. */
  put(key: string, body: Uint8Array, contentType: string, fence: number, cond: Condition): Promise<string | undefined>;
}

/** Conditional PUTs lost to another writer this many times in a row give up (a transient error). */
const MAX_ROUNDS = 8;

/**
 * Writes `body` at `key` stamped with `fence`, unless the stored object carries a newer fence
 * (StaleFenceError). Tries a create first (If-None-Match: *; or If-Match on `knownEtag`, the ETag
 * of our own last write of the key); if that is refused, reads the stored fence and retries with
 * If-Match on the ETag it read. Returns the new ETag.
 */
export async function putFenced(
  ops: ObjectOps,
  key: string,
  body: Uint8Array,
  fence: number,
  contentType = 'application/octet-stream',
  knownEtag?: string,
): Promise<string> {
  let cond: Condition = knownEtag ? { ifMatch: knownEtag } : { ifNoneMatch: '*' };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const etag = await ops.put(key, body, contentType, fence, cond);
    if (etag !== undefined) return etag;
    const current = await ops.head(key);
    if (current && !mayOverwrite(current.fence, fence)) throw new StaleFenceError(key, fence, current.fence ?? 0);
    cond = current ? { ifMatch: current.etag } : { ifNoneMatch: '*' };
  }
  throw new Error(`fenced PUT ${key}: lost ${MAX_ROUNDS} conditional writes in a row`);
}

/**
 * Read-modify-write of a JSON document under the fence: reads it, refuses if its fence is newer,
 * writes `change(current)` conditional on the ETag read, and starts again if someone wrote in between.
 */
export async function updateFenced<T>(ops: ObjectOps, key: string, fence: number, change: (current: T | undefined) => T): Promise<T> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const current = await ops.get(key);
    if (current && !mayOverwrite(current.fence, fence)) throw new StaleFenceError(key, fence, current.fence ?? 0);
    const next = change(current && (JSON.parse(Buffer.from(current.bytes).toString('utf8')) as T));
    const body = Buffer.from(JSON.stringify(next, null, 2));
    const cond: Condition = current ? { ifMatch: current.etag } : { ifNoneMatch: '*' };
    if ((await ops.put(key, body, 'application/json', fence, cond)) !== undefined) return next;
  }
  throw new Error(`fenced update of ${key}: lost ${MAX_ROUNDS} conditional writes in a row`);
}

/** The S3 implementation of ObjectOps: the Bucket's own GET, HEAD and conditional PUT (with its retry policy). */
export function objectOps(bucket: Bucket): ObjectOps {
  return {
    head: async (key) => {
      const found = await bucket.head(key);
      return found && { etag: found.etag ?? '', fence: fenceOf(found.metadata) };
    },
    get: async (key) => {
      const found = await bucket.getWithEtag(key);
      return found && { bytes: found.bytes, etag: found.etag ?? '', fence: fenceOf(found.metadata) };
    },
    put: async (key, body, contentType, fence, cond) => {
      const written = await bucket.putBytesIf(key, body, cond, contentType, { [FENCE_METADATA]: String(fence) });
      return written.ok ? (written.etag ?? '') : undefined;
    },
  };
}
