import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { withRetry, type RetryOptions } from './retry';

/** What a conditional write or delete did: done (with the new ETag), or refused because the condition did not hold. */
export type ConditionalResult = { ok: true; etag?: string } | { ok: false; status: number };

/** Small typed helpers over one bucket, so callers deal in keys and values, not commands. */
export class Bucket {
  /**
   * With `retry`, every call is retried through transient failures (network errors, throttling,
   * 5xx) until its deadline: the trainer uses that to ride out short S3 outages.
   */
  constructor(
    readonly s3: S3Client,
    readonly name: string,
    readonly retry?: RetryOptions,
  ) {}

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.retry ? withRetry(`s3 ${what}`, fn, this.retry) : fn();
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    const found = await this.getWithEtag(key);
    return found?.bytes;
  }

  /** An object's bytes with its ETag and user metadata, or undefined if it does not exist. */
  async getWithEtag(key: string): Promise<{ bytes: Uint8Array; etag?: string; metadata?: Record<string, string> } | undefined> {
    return this.call(`GET ${key}`, async () => {
      try {
        const out = await this.s3.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
        return { bytes: await out.Body!.transformToByteArray(), etag: out.ETag, metadata: out.Metadata };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** An object's ETag and user metadata (a HEAD), or undefined if it does not exist. */
  async head(key: string): Promise<{ etag?: string; metadata?: Record<string, string> } | undefined> {
    return this.call(`HEAD ${key}`, async () => {
      try {
        const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
        return { etag: out.ETag, metadata: out.Metadata };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.getBytes(key);
    return bytes && (JSON.parse(Buffer.from(bytes).toString('utf8')) as T);
  }

  async putBytes(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    await this.call(`PUT ${key}`, () =>
      this.s3.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentType: contentType })),
    );
  }

  /**
   * A conditional PUT of a JSON document: `ifNoneMatch: '*'` creates it only if the key is free,
   * `ifMatch: etag` replaces it only if nobody changed it since that ETag was read. Atomic on S3.
   */
  async putJsonIf(key: string, value: unknown, cond: { ifNoneMatch?: '*'; ifMatch?: string }): Promise<ConditionalResult> {
    return this.putBytesIf(key, Buffer.from(JSON.stringify(value, null, 2)), cond, 'application/json');
  }

  /** putJsonIf for raw bytes, with optional user metadata (x-amz-meta-*). */
  async putBytesIf(
    key: string,
    body: Uint8Array,
    cond: { ifNoneMatch?: '*'; ifMatch?: string },
    contentType = 'application/octet-stream',
    metadata?: Record<string, string>,
  ): Promise<ConditionalResult> {
    return this.call(`conditional PUT ${key}`, async () => {
      try {
        const out = await this.s3.send(
          new PutObjectCommand({
            Bucket: this.name,
            Key: key,
            Body: body,
            ContentType: contentType,
            Metadata: metadata,
            IfNoneMatch: cond.ifNoneMatch,
            IfMatch: cond.ifMatch,
          }),
        );
        return { ok: true, etag: out.ETag };
      } catch (err) {
        const status = conditionStatus(err);
        if (status) return { ok: false, status };
        throw err;
      }
    });
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.putBytes(key, Buffer.from(JSON.stringify(value, null, 2)), 'application/json');
  }

  /** The first `bytes` bytes of an object (a Range GET), or undefined if it does not exist. */
  async getHead(key: string, bytes: number): Promise<Uint8Array | undefined> {
    return this.call(`GET ${key} bytes=0-${bytes - 1}`, async () => {
      try {
        const out = await this.s3.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: `bytes=0-${bytes - 1}` }));
        return await out.Body!.transformToByteArray();
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** One page of keys under a prefix, in S3's (lexicographic) order, after `startAfter`. */
  async listPage(prefix: string, limit: number, startAfter?: string): Promise<{ keys: string[]; more: boolean }> {
    const out = await this.call(`LIST ${prefix} after ${startAfter ?? ''}`, () =>
      this.s3.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, MaxKeys: limit, StartAfter: startAfter })),
    );
    const keys = (out.Contents ?? []).flatMap((item) => (item.Key ? [item.Key] : []));
    return { keys, more: Boolean(out.IsTruncated) };
  }

  /** Every key under a prefix (follows pagination). */
  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.call(`LIST ${prefix}`, () =>
        this.s3.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token })),
      );
      for (const item of out.Contents ?? []) if (item.Key) keys.push(item.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /**
   * The objects under a prefix that `keep` accepts, with their sizes, in key order: at most `max`
   * (then `truncated`); it also stops, truncated, after scanning ten times `max` keys, so a huge
   * prefix costs a bounded number of LISTs.
   */
  async listObjects(
    prefix: string,
    max: number,
    keep: (key: string) => boolean = () => true,
  ): Promise<{ objects: Array<{ key: string; size: number }>; truncated: boolean }> {
    const objects: Array<{ key: string; size: number }> = [];
    let scanned = 0;
    let token: string | undefined;
    do {
      const out = await this.call(`LIST ${prefix}`, () =>
        this.s3.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token })),
      );
      for (const item of out.Contents ?? []) {
        if (++scanned > max * 10) return { objects, truncated: true };
        if (!item.Key || !keep(item.Key)) continue;
        if (objects.length === max) return { objects, truncated: true };
        objects.push({ key: item.Key, size: item.Size ?? 0 });
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return { objects, truncated: false };
  }
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof NoSuchKey || (err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404))
  );
}

/** 412 (precondition failed), 409 (a concurrent conditional write won) or 404 (If-Match on a missing key), else undefined. */
function conditionStatus(err: unknown): number | undefined {
  const status = err instanceof S3ServiceException ? err.$metadata?.httpStatusCode : undefined;
  return status === 412 || status === 409 || status === 404 ? status : undefined;
}
