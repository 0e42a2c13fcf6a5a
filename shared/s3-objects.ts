import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';

/** Small typed helpers over one bucket, so callers deal in keys and values, not commands. */
export class Bucket {
  constructor(readonly s3: S3Client, readonly name: string) {}

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    const found = await this.getWithEtag(key);
    return found?.bytes;
  }

  async getWithEtag(key: string): Promise<{ bytes: Uint8Array; etag?: string } | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
      return { bytes: await out.Body!.transformToByteArray(), etag: out.ETag };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.getBytes(key);
    return bytes && (JSON.parse(Buffer.from(bytes).toString('utf8')) as T);
  }

  async putBytes(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentType: contentType }));
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.putBytes(key, Buffer.from(JSON.stringify(value, null, 2)), 'application/json');
  }

  /** Every key under a prefix (follows pagination). */
  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of out.Contents ?? []) if (item.Key) keys.push(item.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof NoSuchKey ||
    (err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404))
  );
}
