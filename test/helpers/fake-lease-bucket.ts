/**
 * An in-memory stand-in for the Bucket calls a job lease makes: conditional JSON PUTs and reads.
 * DELETE answers 501 (as LocalStack's conditional DELETE does) and is counted: a lease never deletes.
 */
import { randomUUID } from 'node:crypto';
import type { Bucket, ConditionalResult } from '../../shared/s3-objects';

export class FakeLeaseBucket {
  readonly objects = new Map<string, { bytes: Uint8Array; etag: string }>();
  deletes = 0;
  async getWithEtag(key: string) {
    const o = this.objects.get(key);
    return o && { bytes: o.bytes, etag: o.etag };
  }
  async putJsonIf(key: string, value: unknown, cond: { ifNoneMatch?: '*'; ifMatch?: string }): Promise<ConditionalResult> {
    const cur = this.objects.get(key);
    if (cond.ifNoneMatch === '*' && cur) return { ok: false, status: 412 };
    if (cond.ifMatch !== undefined && cond.ifMatch !== '*' && cur?.etag !== cond.ifMatch) return { ok: false, status: cur ? 412 : 404 };
    const etag = `"${randomUUID()}"`;
    this.objects.set(key, { bytes: Buffer.from(JSON.stringify(value)), etag });
    return { ok: true, etag };
  }
  async delete(): Promise<ConditionalResult> {
    this.deletes++;
    throw Object.assign(new Error('NotImplemented'), { name: 'NotImplemented', $metadata: { httpStatusCode: 501 } });
  }
  asBucket(): Bucket {
    return this as unknown as Bucket;
  }
}
