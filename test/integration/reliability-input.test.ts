/**
 * Reliability against bad input, with a REAL trainer process on a real queue with a dead-letter
 * queue (maxReceiveCount 3): poison messages, a transient failure that exhausts its retries and goes
 * to the DLQ, broken datasets, and the promotion rules (including concurrent promotions). One trainer
 * takes every job in order, which also shows the trainer goes on after each bad one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { gzipSync } from 'node:zlib';
import { makeSqsClient } from '../../shared/aws';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { JobStore } from '../../shared/job-store';
import { JobsApi } from '../../functions/api/jobs-api';
import { HttpError } from '../../shared/http';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { modelKeys, DATASET_FILES } from '../../shared/bucket-layout';
import { promoteIfBetter, readLatestPointer } from '../../shared/promotion';
import type { Bucket } from '../../shared/s3-objects';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { freshBucket, freshQueue, useEmulator, emulatorReady } from '../helpers/aws';
import {
  idx,
  mnistSlices,
  queueArn,
  queueCounts,
  sendJob,
  spawnTrainer,
  stopTrainer,
  uploadSmallMnist,
  waitFor,
  type Trainer,
} from '../helpers/trainer';
import type { JobStatus } from '../../shared/documents';

useEmulator();

const DATA = 'datasets/mnist-small/';
let bucket: Bucket;
let jobs: JobStore;
let queueUrl: string;
let dlqUrl: string;
let trainer: Trainer;
const figures: Record<string, unknown> = {};

before(async () => {
  await emulatorReady();
  await initTrainingBackend('wasm');
  bucket = await freshBucket('reliability-input');
  jobs = new JobStore(bucket);
  dlqUrl = await freshQueue('reliability-dlq');
  queueUrl = await freshQueue('reliability-in', {
    VisibilityTimeout: '5',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(dlqUrl), maxReceiveCount: 3 }),
  });
  await uploadSmallMnist(bucket, DATA, 3000, 1000);
  trainer = spawnTrainer('input', bucket, queueUrl, {
    VISIBILITY_TIMEOUT_SECONDS: '5',
    HEARTBEAT_SECONDS: '1',
    RETRY_BASE_SECONDS: '1',
    MAX_RECEIVES: '3',
    PROMOTION_MIN_ACCURACY: '0.7',
  });
});

after(async () => {
  await stopTrainer(trainer, 5_000);
  console.log(`RELIABILITY INPUT FIGURES ${JSON.stringify(figures)}`);
});

const ended = (jobId: string) => async () => {
  const s = await jobs.get(jobId);
  return s && (s.status === 'SUCCEEDED' || s.status === 'FAILED') ? s : undefined;
};
const small = (extra: object = {}) => ({
  datasetPrefix: DATA,
  epochs: 1,
  trainSubset: 500,
  testSubset: 500,
  validationSplit: 0,
  augmentShift: 0,
  ...extra,
});

test('poison messages: each ends FAILED with a readable reason, is deleted (not retried, not dead-lettered), and the trainer goes on', async () => {
  const cases: [string, unknown, RegExp][] = [
    ['p-badjson', '{"jobId": "p-badjson", "params": ', /not valid JSON/],
    ['p-missing', { jobId: 'p-missing' }, /params: /],
    ['p-unknown', { jobId: 'p-unknown', params: small(), priority: 'high' }, /Unrecognized key.*priority/],
    ['p-unknown-param', { jobId: 'p-unknown-param', params: { ...small(), colour: 'red' } }, /params.*colour/],
    ['p-zero', { jobId: 'p-zero', params: small({ epochs: 0 }) }, /params\.epochs/],
    ['p-negative', { jobId: 'p-negative', params: small({ epochs: -3 }) }, /params\.epochs/],
    ['p-cap', { jobId: 'p-cap', params: small({ epochs: 101 }) }, /params\.epochs: Too big/],
    [
      'p-nodata',
      { jobId: 'p-nodata', params: small({ datasetPrefix: 'datasets/nothing-here/' }) },
      /datasets\/nothing-here\/: no dataset under this prefix/,
    ],
  ];
  const started = Date.now();
  for (const [, body] of cases) await sendJob(queueUrl, body);
  await waitFor('every poison message to be handled', async () => (await queueCounts(queueUrl)).total === 0, 60_000);
  const all = await jobs.scanAll();
  for (const [jobId, , reason] of cases) {
    // Malformed JSON carries no readable job id, so its failure is filed under the message id.
    const status = jobId === 'p-badjson' ? all.find((j) => j.jobId.startsWith('message-')) : await jobs.get(jobId);
    assert.equal(status?.status, 'FAILED', jobId);
    assert.match(status!.reason!, reason, `${jobId}: ${status!.reason}`);
  }
  assert.equal((await queueCounts(dlqUrl)).total, 0, 'permanent failures are not dead-lettered');
  figures.poison = {
    messages: cases.length,
    failedWithReason: cases.length,
    deleted: cases.length,
    deadLettered: 0,
    seconds: (Date.now() - started) / 1000,
  };
});

test('a transient failure (dataset archived to Glacier: GetObject 403 InvalidObjectState) is retried, marked FAILED on the 3rd receive and dead-lettered; the trainer goes on', async () => {
  const prefix = 'datasets/archived/';
  await uploadSmallMnist(bucket, prefix, 200, 100);
  // Re-write one file in the GLACIER storage class, as a lifecycle rule would: it can no longer be read.
  const bytes = (await bucket.getBytes(prefix + DATASET_FILES.trainImages))!;
  await bucket.s3.send(
    new PutObjectCommand({ Bucket: bucket.name, Key: prefix + DATASET_FILES.trainImages, Body: bytes, StorageClass: 'GLACIER' }),
  );
  const started = Date.now();
  await sendJob(queueUrl, { jobId: 't-archived', params: small({ datasetPrefix: prefix }) });

  const dead = await waitFor(
    'the message in the DLQ',
    async () => {
      const out = await makeSqsClient().send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
      return out.Messages?.[0];
    },
    90_000,
  );
  assert.equal(JSON.parse(dead.Body!).jobId, 't-archived');
  await makeSqsClient().send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: dead.ReceiptHandle }));
  const status = (await jobs.get('t-archived'))!;
  assert.equal(status.status, 'FAILED');
  assert.match(status.reason!, /failed on 3 attempts; last error: .*storage class/);
  assert.equal((await queueCounts(queueUrl)).total, 0, 'gone from the main queue');
  const failures = trainer.logs().filter((l) => l.message === 'job failed' && l.jobId === 't-archived');
  assert.deepEqual(
    failures.map((l) => l.receives),
    [1, 2, 3],
  );
  assert.ok(failures.every((l) => l.permanent === false));
  figures.transientToDlq = { receives: 3, deadLettered: true, status: status.status, secondsToDlq: (Date.now() - started) / 1000 };
});

test('broken datasets: truncated, corrupt gzip, wrong magic, label/image counts that disagree, wrong image size, labels outside 10 classes → FAILED naming the file', async () => {
  const s = await mnistSlices(200, 100);
  const good: Record<string, Uint8Array> = {
    [DATASET_FILES.trainImages]: idx([200, 28, 28], s.trainImages),
    [DATASET_FILES.trainLabels]: idx([200], s.trainLabels),
    [DATASET_FILES.testImages]: idx([100, 28, 28], s.testImages),
    [DATASET_FILES.testLabels]: idx([100], s.testLabels),
  };
  const badLabels = s.testLabels.slice();
  badLabels[7] = 12;
  const wrongMagic = good[DATASET_FILES.trainLabels].slice();
  wrongMagic.set([0x47, 0x49, 0x46, 0x38]); // "GIF8"
  const corruptGzip = gzipSync(good[DATASET_FILES.testImages]).slice(0, 500);
  const cases: [string, Record<string, Uint8Array>, RegExp][] = [
    [
      'd-truncated',
      { [DATASET_FILES.trainImages]: good[DATASET_FILES.trainImages].subarray(0, 50_000) },
      /train-images-idx3-ubyte: is truncated/,
    ],
    ['d-gzip', { [`${DATASET_FILES.testImages}.gz`]: corruptGzip }, /t10k-images-idx3-ubyte\.gz: gzip data is corrupt/],
    ['d-magic', { [DATASET_FILES.trainLabels]: wrongMagic }, /train-labels-idx1-ubyte: bad magic number 0x47494638/],
    [
      'd-counts',
      { [DATASET_FILES.trainLabels]: idx([150], s.trainLabels.subarray(0, 150)) },
      /train-labels-idx1-ubyte: has 150 labels but .*train-images-idx3-ubyte has 200 images/,
    ],
    [
      'd-shape',
      { [DATASET_FILES.trainImages]: idx([800, 14, 14], s.trainImages) },
      /train-images-idx3-ubyte: has shape \[800, 14, 14\]; expected \[N, 28, 28\]/,
    ],
    ['d-classes', { [DATASET_FILES.testLabels]: idx([100], badLabels) }, /t10k-labels-idx1-ubyte: label 12 at index 7 is outside 0\.\.9/],
  ];
  for (const [jobId, override] of cases) {
    const prefix = `datasets/${jobId}/`;
    const files = { ...good, ...override };
    if (override[`${DATASET_FILES.testImages}.gz`]) delete files[DATASET_FILES.testImages];
    for (const [name, bytes] of Object.entries(files)) await bucket.putBytes(prefix + name, bytes);
    await sendJob(queueUrl, { jobId, params: small({ datasetPrefix: prefix, trainSubset: undefined, testSubset: undefined }) });
  }
  for (const [jobId, , reason] of cases) {
    const status = await waitFor<JobStatus>(`${jobId} to end`, ended(jobId), 60_000);
    assert.equal(status.status, 'FAILED', jobId);
    assert.match(status.reason!, new RegExp(`s3://${bucket.name}/datasets/${jobId}/`), `${jobId} names the file: ${status.reason}`);
    assert.match(status.reason!, reason, `${jobId}: ${status.reason}`);
    assert.equal(status.attempts ?? 0, 0, 'failed before training, on its first receive');
  }
  await waitFor('queue to drain', async () => (await queueCounts(queueUrl)).total === 0, 30_000);
  assert.equal((await queueCounts(dlqUrl)).total, 0);
  figures.badDatasets = { kinds: cases.length, failedNamingFile: cases.length };
});

/** A complete final model (weights, model.json, then the marker) for a made-up job. */
async function finalModel(jobId: string, testAccuracy: number) {
  const model = buildLeNet5({ seed: 1 });
  await saveCheckpoint(bucket, modelKeys.final(jobId), model, {
    jobId,
    epoch: 1,
    backend: 'wasm',
    testAccuracy,
    testLoss: 1,
    testImages: 1000,
    fullTestSet: true,
    createdAt: new Date().toISOString(),
    includeOptimizer: false,
  });
  disposeModel(model);
}

test('promotion: only SUCCEEDED jobs at or above the threshold and at least as good as the served model move the pointer, unless forced', async () => {
  await finalModel('served-high', 0.99);
  assert.equal((await promoteIfBetter(bucket, { jobId: 'served-high', epoch: 1, testAccuracy: 0.99 }, { minAccuracy: 0 })).promote, true);
  const pointerEtag = async () => (await bucket.getWithEtag(modelKeys.latest))?.etag;
  const before = await pointerEtag();

  // Below the trainer's threshold (PROMOTION_MIN_ACCURACY=0.7): one batch of training.
  await sendJob(queueUrl, { jobId: 'promo-low', params: small({ trainSubset: 32, testSubset: 1000 }) });
  const low = await waitFor<JobStatus>('promo-low', ended('promo-low'), 120_000);
  assert.equal(low.status, 'SUCCEEDED', low.reason);
  assert.ok(low.testAccuracy! < 0.7, `accuracy ${low.testAccuracy}`);
  assert.equal(low.promoted, false);
  assert.match(low.promotion!, /below the promotion threshold 0.7/);
  assert.equal(await pointerEtag(), before, 'pointer untouched');

  // Above the threshold but worse than the served model.
  await sendJob(queueUrl, { jobId: 'promo-mid', params: small({ trainSubset: 1500, testSubset: 1000 }) });
  const mid = await waitFor<JobStatus>('promo-mid', ended('promo-mid'), 120_000);
  assert.equal(mid.status, 'SUCCEEDED', mid.reason);
  assert.ok(mid.testAccuracy! >= 0.7 && mid.testAccuracy! < 0.99, `accuracy ${mid.testAccuracy}`);
  assert.equal(mid.promoted, false);
  assert.match(mid.promotion!, /below the served model's 0.9900 \(job served-high\)/);
  assert.equal(await pointerEtag(), before, 'pointer untouched');

  // Forced (what POST /models/promote with force does): it moves.
  const forced = await promoteIfBetter(
    bucket,
    { jobId: 'promo-mid', epoch: 1, testAccuracy: mid.testAccuracy! },
    { minAccuracy: 0.7, force: true },
  );
  assert.equal(forced.promote, true);
  assert.equal((await readLatestPointer(bucket))?.jobId, 'promo-mid');
  // Force does not bypass the threshold.
  await finalModel('forced-low', 0.3);
  const refused = await promoteIfBetter(bucket, { jobId: 'forced-low', epoch: 1, testAccuracy: 0.3 }, { minAccuracy: 0.7, force: true });
  assert.equal(refused.promote, false);

  // Better than the served model: the trainer promotes it, pointing at a complete final model.
  await sendJob(queueUrl, {
    jobId: 'promo-better',
    params: small({ epochs: 2, lrSchedule: 'constant', trainSubset: 3000, testSubset: 1000 }),
  });
  const better = await waitFor<JobStatus>('promo-better', ended('promo-better'), 120_000);
  assert.equal(better.status, 'SUCCEEDED', better.reason);
  assert.ok(better.testAccuracy! > mid.testAccuracy!, `${better.testAccuracy} > ${mid.testAccuracy}`);
  assert.equal(better.promoted, true, better.promotion);
  const pointer = (await readLatestPointer(bucket))!;
  assert.equal(pointer.jobId, 'promo-better');
  assert.equal(pointer.modelPrefix, modelKeys.final('promo-better'));
  const keys = (await bucket.listKeys(pointer.modelPrefix)).map((k) => k.slice(pointer.modelPrefix.length)).sort();
  assert.deepEqual(keys, ['checkpoint.json', 'model.json', 'weights.bin']);
  figures.promotion = {
    lowAccuracy: low.testAccuracy,
    midAccuracy: mid.testAccuracy,
    betterAccuracy: better.testAccuracy,
    served: pointer.jobId,
  };
});

test('promotion cannot be gamed: a job scored on a test subset is never served, even at 100% on its one test image, and records how many it was scored on', async () => {
  const before = (await bucket.getWithEtag(modelKeys.latest))?.etag;
  // The attack of issue 10: one epoch on 64 images, scored on a single test image.
  await sendJob(queueUrl, { jobId: 'game-1', params: small({ trainSubset: 64, testSubset: 1, seed: 3 }) });
  const game = await waitFor<JobStatus>('game-1', ended('game-1'), 120_000);
  assert.equal(game.status, 'SUCCEEDED', game.reason);
  assert.equal(game.testImages, 1);
  assert.equal(game.fullTestSet, false);
  assert.equal(game.promoted, false);
  assert.match(game.promotion!, /scored on 1 test images, not the dataset's whole test set/);
  // Forcing does not help either: the accuracy is not comparable.
  const forced = await promoteIfBetter(bucket, { jobId: 'game-1', epoch: 1, testAccuracy: 1 }, { minAccuracy: 0, force: true });
  assert.equal(forced.promote, false);
  // The administrator's route applies the same rule: a 409 that says why.
  const api = new JobsApi(bucket, makeSqsClient(), queueUrl, { minAccuracy: 0 });
  await assert.rejects(
    api.promote({ jobId: 'game-1' }, true),
    (err: unknown) =>
      err instanceof HttpError && err.statusCode === 409 && /scored on 1 test images, not the dataset's whole test set/.test(err.message),
  );
  assert.equal((await bucket.getWithEtag(modelKeys.latest))?.etag, before);
});

test('promotion: a model without its marker (half-written) is never served, and concurrent promotions never clobber the better one', async () => {
  const before = (await bucket.getWithEtag(modelKeys.latest))?.etag;
  await bucket.putBytes(modelKeys.final('half') + 'weights.bin', new Uint8Array(1000));
  await bucket.putBytes(modelKeys.final('half') + 'model.json', new TextEncoder().encode('{}'));
  const half = await promoteIfBetter(bucket, { jobId: 'half', epoch: 1, testAccuracy: 1 }, { minAccuracy: 0, force: true });
  assert.equal(half.promote, false);
  assert.match(half.reason, /no complete final model/);
  assert.equal((await bucket.getWithEtag(modelKeys.latest))?.etag, before);

  await finalModel('c-base', 0.5);
  await finalModel('c-lo', 0.6);
  await finalModel('c-hi', 0.7);
  const rounds = 12;
  for (let i = 0; i < rounds; i++) {
    await promoteIfBetter(bucket, { jobId: 'c-base', epoch: 1, testAccuracy: 0.5 }, { minAccuracy: 0, force: true });
    const order = i % 2 === 0 ? (['c-lo', 'c-hi'] as const) : (['c-hi', 'c-lo'] as const);
    await Promise.all(
      order.map((jobId) => promoteIfBetter(bucket, { jobId, epoch: 1, testAccuracy: jobId === 'c-hi' ? 0.7 : 0.6 }, { minAccuracy: 0 })),
    );
    assert.equal((await readLatestPointer(bucket))?.jobId, 'c-hi', `round ${i}: the better model is served`);
  }
  figures.concurrentPromotion = { rounds, betterServedEveryRound: true };
});
