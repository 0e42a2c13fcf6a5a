import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { makeSqsClient } from '../../shared/aws';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { JobStore, progressKey } from '../../shared/job-store';
import { makeLogger } from '../../shared/log';
import { loadModel } from '../../shared/model-store';
import { modelKeys } from '../../shared/bucket-layout';
import { readLatestPointer } from '../../shared/promotion';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { MNIST_NORMALIZATION, normalizeDataset } from '../../shared/input-normalization';
import { disposeModel } from '../../shared/model';
import { evaluate } from '../../functions/trainer/loop/evaluate';
import type { Bucket } from '../../shared/s3-objects';
import { JobConsumer, type JobConsumerOptions } from '../../functions/trainer/lifecycle/job-consumer';
import { uploadMnist } from '../../cli/upload-mnist';
import { freshBucket, freshQueue, useEmulator, emulatorReady } from '../helpers/aws';
import type { CheckpointInfo, JobProgress } from '../../shared/documents';

useEmulator();

let bucket: Bucket;
let queueUrl: string;
const sqs = () => makeSqsClient();
// Scored on the whole test set: only such models are promoted.
const tiny = { epochs: 2, trainSubset: 600, validationSplit: 0.1 };

before(async () => {
  await emulatorReady();
  await initTrainingBackend('wasm');
  bucket = await freshBucket('worker');
  queueUrl = await freshQueue('worker');
  await uploadMnist(bucket);
});

function worker(extra: Partial<JobConsumerOptions> = {}) {
  return new JobConsumer({
    sqs: sqs(),
    queueUrl,
    bucket,
    backend: 'wasm',
    logger: makeLogger('trainer-test'),
    promotion: { minAccuracy: 0 },
    waitTimeSeconds: 1,
    ...extra,
  });
}

async function send(body: unknown) {
  await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }));
}

async function queueDepth(): Promise<number> {
  const out = await sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(out.Attributes!.ApproximateNumberOfMessages) + Number(out.Attributes!.ApproximateNumberOfMessagesNotVisible);
}

test('a job runs from the queue to SUCCEEDED with a checkpoint per epoch, a final model and the message deleted', async () => {
  await send({ jobId: 'job-ok', params: tiny });
  // Progress is written while training (at most one write in flight); record what watchers could see.
  const seen: JobProgress[] = [];
  const jobs = new JobStore(bucket);
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const progress = (await jobs.getWithProgress('job-ok'))?.progress;
      if (progress) seen.push(progress);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  assert.equal(await worker({ progressEveryMs: 0 }).pollOnce(), true);
  watching = false;
  await watcher;
  const status = (await jobs.get('job-ok'))!;
  const batches = Math.ceil((tiny.trainSubset * (1 - tiny.validationSplit)) / 32);
  assert.ok(seen.length > 0, 'a watcher saw in-epoch progress');
  assert.ok(
    seen.every((p) => p.epoch >= 1 && p.epoch <= 2 && p.batch >= 1 && p.batch <= batches && p.batches === batches),
    JSON.stringify(seen),
  );
  const last = await bucket.getJson<JobProgress>(progressKey('job-ok'));
  assert.ok(last && last.epoch === 2 && last.batch >= 1, `last progress written: ${JSON.stringify(last)}`);
  assert.equal((await jobs.getWithProgress('job-ok'))?.progress, undefined, 'no progress once the job has ended');
  assert.equal(status.status, 'SUCCEEDED', status.reason);
  assert.deepEqual(
    status.metrics.map((m) => m.epoch),
    [1, 2],
  );
  assert.ok(status.metrics.every((m) => m.backend === 'wasm' && m.imagesPerSecond > 0 && m.valAccuracy !== undefined));
  assert.ok(status.testAccuracy! > 0.5, `test accuracy ${status.testAccuracy}`);
  for (const prefix of [modelKeys.epoch('job-ok', 1), modelKeys.epoch('job-ok', 2), modelKeys.final('job-ok')]) {
    const info = await bucket.getJson<CheckpointInfo>(prefix + modelKeys.marker);
    assert.equal(info?.backend, 'wasm', `${prefix} marker`);
  }
  assert.equal((await readLatestPointer(bucket))?.jobId, 'job-ok');
  assert.equal(await queueDepth(), 0);
});

test('a finished job delivered again is a no-op', async () => {
  const markerBefore = await bucket.getJson<CheckpointInfo>(modelKeys.final('job-ok') + modelKeys.marker);
  await send({ jobId: 'job-ok', params: tiny });
  assert.equal(await worker().pollOnce(), true);
  assert.deepEqual(await bucket.getJson(modelKeys.final('job-ok') + modelKeys.marker), markerBefore);
  assert.equal(await queueDepth(), 0);
});

test('a stopped job goes back to the queue and resumes from its last complete checkpoint, not epoch 0', async () => {
  await send({ jobId: 'job-resume', params: { ...tiny, epochs: 3 } });
  const first = worker({ onBatchEnd: (epoch) => epoch === 1 && first.stop() });
  await first.pollOnce();
  const stopped = (await new JobStore(bucket).get('job-resume'))!;
  assert.equal(stopped.status, 'RUNNING');
  assert.equal(stopped.epoch, 1);
  const epoch1 = await bucket.getJson<CheckpointInfo>(modelKeys.epoch('job-resume', 1) + modelKeys.marker);
  assert.equal(await queueDepth(), 1, 'the message is back on the queue');

  assert.equal(await worker().pollOnce(), true);
  const done = (await new JobStore(bucket).get('job-resume'))!;
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.resumedFromEpoch, 1);
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    [1, 2, 3],
  );
  assert.deepEqual(await bucket.getJson(modelKeys.epoch('job-resume', 1) + modelKeys.marker), epoch1, 'epoch 1 was not trained again');
  assert.equal(await queueDepth(), 0);
});

test('a crash between writing an epoch checkpoint and updating the job record loses no epoch metrics on resume', async () => {
  await send({ jobId: 'job-gap', params: { ...tiny, epochs: 3 } });
  const first = worker({ onBatchEnd: (epoch) => epoch === 1 && first.stop() });
  await first.pollOnce();
  const epoch1 = await bucket.getJson<CheckpointInfo>(modelKeys.epoch('job-gap', 1) + modelKeys.marker);
  // As if the trainer died right after the checkpoint: the record never got epoch 1's metrics.
  await new JobStore(bucket).update('job-gap', { epoch: 0, metrics: [] });

  assert.equal(await worker().pollOnce(), true);
  const done = (await new JobStore(bucket).get('job-gap'))!;
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.resumedFromEpoch, 1);
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    [1, 2, 3],
  );
  assert.deepEqual(done.metrics[0], epoch1?.metrics, "epoch 1's metrics come back from its checkpoint");
});

test('poison messages end FAILED with a readable reason, are deleted, and the trainer goes on', async () => {
  const cases: [string, unknown, RegExp][] = [
    ['job-badjson', '{"jobId": "job-badjson", ', /not valid JSON/],
    ['job-unknown', { jobId: 'job-unknown', params: tiny, priority: 'high' }, /priority/],
    ['job-missing', { jobId: 'job-missing' }, /params/],
    ['job-zero', { jobId: 'job-zero', params: { epochs: 0 } }, /params\.epochs/],
    ['job-toomany', { jobId: 'job-toomany', params: { epochs: 1000 } }, /params\.epochs/],
    [
      'job-nodata',
      { jobId: 'job-nodata', params: { ...tiny, datasetPrefix: 'datasets/nothing-here/' } },
      /datasets\/nothing-here\/.*no dataset/,
    ],
  ];
  const w = worker();
  for (const [, body] of cases) await send(body);
  for (let i = 0; i < cases.length; i++) assert.equal(await w.pollOnce(), true);
  const jobs = new JobStore(bucket);
  const all = await jobs.scanAll();
  for (const [jobId, , reason] of cases) {
    // Malformed JSON carries no readable job id, so its failure is filed under the message id.
    const status = jobId === 'job-badjson' ? all.find((j) => j.jobId.startsWith('message-')) : await jobs.get(jobId);
    assert.equal(status?.status, 'FAILED', jobId);
    assert.match(status!.reason!, reason, jobId);
  }
  assert.equal(await queueDepth(), 0);
});

test('a corrupt dataset fails the job with a reason that names the file', async () => {
  const prefix = 'datasets/broken/';
  await uploadMnist(bucket, prefix);
  const labels = (await bucket.getBytes(`${prefix}train-labels-idx1-ubyte`))!;
  await bucket.putBytes(`${prefix}train-labels-idx1-ubyte`, labels.subarray(0, 5000));
  await send({ jobId: 'job-corrupt', params: { ...tiny, datasetPrefix: prefix } });
  await worker().pollOnce();
  const status = (await new JobStore(bucket).get('job-corrupt'))!;
  assert.equal(status.status, 'FAILED');
  assert.match(status.reason!, /train-labels-idx1-ubyte: is truncated/);
  assert.equal(await queueDepth(), 0);
});

test('a normalizeInputs job checkpoints in the standardised space and its final model takes raw pixels', async () => {
  const params = { ...tiny, normalizeInputs: true, labelSmoothing: 0.1, testEachEpoch: true };
  await send({ jobId: 'job-norm', params });
  assert.equal(await worker().pollOnce(), true);
  const status = (await new JobStore(bucket).get('job-norm'))!;
  assert.equal(status.status, 'SUCCEEDED', status.reason);
  const epochPrefix = modelKeys.epoch('job-norm', 2);
  const epochInfo = await bucket.getJson<CheckpointInfo>(epochPrefix + modelKeys.marker);
  const finalInfo = await bucket.getJson<CheckpointInfo>(modelKeys.final('job-norm') + modelKeys.marker);
  assert.deepEqual(epochInfo?.inputNormalization, MNIST_NORMALIZATION, 'epoch checkpoints say their weights expect standardised pixels');
  assert.equal(finalInfo?.inputNormalization, undefined, 'the final model takes raw pixels');

  const { test: testSet } = await loadDatasetFromDir(mnistDataDir());
  const finalModel = await loadModel(bucket, modelKeys.final('job-norm'));
  const lastCheckpoint = await loadModel(bucket, epochPrefix);
  try {
    const served = await evaluate(finalModel, testSet);
    assert.equal(served.accuracy, status.testAccuracy, "the recorded accuracy is the final model's on raw pixels");
    assert.ok(served.accuracy > 0.5, `final model on raw pixels: ${served.accuracy}`);
    // The last checkpoint on standardised pixels is the same model up to float rounding: at most 2 of 10,000 answers differ.
    const trained = await evaluate(lastCheckpoint, normalizeDataset(testSet, MNIST_NORMALIZATION));
    assert.ok(Math.abs(trained.accuracy - served.accuracy) <= 2 / testSet.count, `${trained.accuracy} vs ${served.accuracy}`);
    assert.equal(status.metrics.at(-1)?.testAccuracy, trained.accuracy, 'testEachEpoch scores the standardised pixels');
    // Unfolded, the checkpoint answers raw pixels differently: the fold is what makes the two agree.
    const unfolded = await evaluate(lastCheckpoint, testSet);
    assert.ok(
      Math.abs(unfolded.accuracy - served.accuracy) > 10 / testSet.count && Math.abs(unfolded.loss - served.loss) > 0.05,
      `the checkpoint on raw pixels: ${JSON.stringify(unfolded)}, the final model: ${JSON.stringify(served)}`,
    );
  } finally {
    disposeModel(finalModel);
    disposeModel(lastCheckpoint);
  }
});
