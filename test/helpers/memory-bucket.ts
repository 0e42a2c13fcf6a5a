/**
 * FakeLeaseBucket plus the reads, plain PUTs and listing the promotion and served-model history
 * make: enough of Bucket for unit tests of shared/promotion.ts, in memory. Listing is lexicographic,
 * as S3's. `failPut` makes the PUTs of matching keys throw (a writer that dies before them).
 */
import { randomUUID } from 'node:crypto';
import { FakeLeaseBucket } from './fake-lease-bucket';
import type { ConditionalResult } from '../../shared/s3-objects';

export class MemoryBucket extends FakeLeaseBucket {
  failPut?: (key: string) => boolean;
  readonly puts: string[] = [];

  override async putJsonIf(key: string, value: unknown, cond: { ifNoneMatch?: '*'; ifMatch?: string }): Promise<ConditionalResult> {
    if (this.failPut?.(key)) throw new Error(`injected failure: PUT ${key}`);
    const out = await super.putJsonIf(key, value, cond);
    if (out.ok) this.puts.push(key);
    return out;
  }
  async putJson(key: string, value: unknown): Promise<void> {
    this.objects.set(key, { bytes: Buffer.from(JSON.stringify(value)), etag: `"${randomUUID()}"` });
  }
  async getBytes(key: string) {
    return this.objects.get(key)?.bytes;
  }
  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = this.objects.get(key)?.bytes;
    return bytes && (JSON.parse(Buffer.from(bytes).toString('utf8')) as T);
  }
  async head(key: string) {
    const o = this.objects.get(key);
    return o && { etag: o.etag };
  }
  async listPage(prefix: string, limit: number, startAfter?: string) {
    const all = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && (startAfter === undefined || k > startAfter)).sort();
    return { keys: all.slice(0, limit), more: all.length > limit };
  }
  async listKeys(prefix: string) {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
