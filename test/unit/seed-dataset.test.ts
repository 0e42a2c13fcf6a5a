/** The trainer seeds MNIST at the default prefix, with conditional PUTs; POST /jobs accepts the default before it is seeded. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DATASET_FILES, DEFAULT_DATASET_PREFIX } from '../../shared/bucket-layout';
import type { Bucket, ConditionalResult } from '../../shared/s3-objects';
import { MNIST_COUNTS } from '../../shared/job-limits';
import { TrainingParams } from '../../shared/schemas';
import { seedDefaultDataset } from '../../functions/trainer/lifecycle/seed-dataset';
import { JobsApi } from '../../functions/api/jobs-api';

const dir = mkdtempSync(join(tmpdir(), 'seed-'));
for (const f of Object.values(DATASET_FILES)) writeFileSync(join(dir, f), f);
after(() => rmSync(dir, { recursive: true, force: true }));

/** An in-memory bucket; `onPut` runs before each conditional PUT (a second writer's seam). */
class MemoryBucket {
  readonly name = 'memory';
  readonly objects = new Map<string, Uint8Array>();
  onPut?: (key: string) => void;
  async listKeys(prefix: string) {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async putBytesIf(key: string, body: Uint8Array, cond: { ifNoneMatch?: '*' }): Promise<ConditionalResult> {
    this.onPut?.(key);
    if (cond.ifNoneMatch === '*' && this.objects.has(key)) return { ok: false, status: 412 };
    this.objects.set(key, body);
    return { ok: true };
  }
  async putBytes(key: string, body: Uint8Array) {
    this.objects.set(key, body);
  }
  async putJson(key: string, value: unknown) {
    this.objects.set(key, Buffer.from(JSON.stringify(value)));
  }
}
const asBucket = (b: MemoryBucket) => b as unknown as Bucket;
const key = (f: string) => DEFAULT_DATASET_PREFIX + f;

test('an empty default prefix gets the four IDX files of the package', async () => {
  const b = new MemoryBucket();
  const out = await seedDefaultDataset(asBucket(b), DEFAULT_DATASET_PREFIX, dir);
  assert.deepEqual(out.written, Object.values(DATASET_FILES).map(key));
  assert.deepEqual(out.raced, []);
  assert.equal(Buffer.from(b.objects.get(key(DATASET_FILES.trainImages))!).toString(), DATASET_FILES.trainImages);
  assert.deepEqual(await seedDefaultDataset(asBucket(b), DEFAULT_DATASET_PREFIX, dir), { written: [], raced: [] }, 'once only');
});

test('files already there, with or without .gz, are never replaced; only the missing ones are written', async () => {
  const b = new MemoryBucket();
  b.objects.set(key(`${DATASET_FILES.trainImages}.gz`), new Uint8Array([1]));
  b.objects.set(key(DATASET_FILES.testLabels), new Uint8Array([2]));
  const out = await seedDefaultDataset(asBucket(b), DEFAULT_DATASET_PREFIX, dir);
  assert.deepEqual(out.written, [key(DATASET_FILES.trainLabels), key(DATASET_FILES.testImages)]);
  assert.equal(b.objects.has(key(DATASET_FILES.trainImages)), false);
  assert.deepEqual([...b.objects.get(key(DATASET_FILES.testLabels))!], [2]);
});

test('two trainers seeding at once: the one that lost the conditional PUT keeps the winner’s object', async () => {
  const b = new MemoryBucket();
  b.onPut = (k) => {
    // Another trainer wrote this file after our listing.
    if (k === key(DATASET_FILES.trainLabels)) b.objects.set(k, new Uint8Array([9]));
  };
  const out = await seedDefaultDataset(asBucket(b), DEFAULT_DATASET_PREFIX, dir);
  assert.deepEqual(out.raced, [key(DATASET_FILES.trainLabels)]);
  assert.equal(out.written.length, 3);
  assert.deepEqual([...b.objects.get(key(DATASET_FILES.trainLabels))!], [9]);
});

test('any other prefix is left alone: only the default has a known source', async () => {
  const b = new MemoryBucket();
  assert.deepEqual(await seedDefaultDataset(asBucket(b), 'datasets/fashion/', dir), { written: [], raced: [] });
  assert.equal(b.objects.size, 0);
});

test('POST /jobs takes a job on the empty default prefix (MNIST counts: the trainer seeds it), and still refuses another empty prefix', async () => {
  const b = new MemoryBucket();
  const sent: string[] = [];
  const sqs = { send: async (cmd: { input: { MessageBody: string } }) => sent.push(cmd.input.MessageBody) } as unknown as SQSClient;
  const api = new JobsApi(asBucket(b), sqs, 'queue', { minAccuracy: 0.98 });
  const job = await api.submit(TrainingParams.parse({ epochs: 1 }));
  assert.equal(job.status, 'QUEUED');
  assert.equal(sent.length, 1);
  await assert.rejects(api.submit(TrainingParams.parse({ datasetPrefix: 'datasets/other/' })), /No dataset at datasets\/other\//);
  // Within MNIST's counts: a test subset beyond 10,000 images is refused as before.
  await assert.rejects(api.submit(TrainingParams.parse({ testSubset: MNIST_COUNTS.testImages + 1 })), /testSubset/);
});
