import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5 } from '../../shared/model';
import { findResumePoint, loadModel, s3ModelHandler, saveCheckpoint } from '../../shared/model-store';
import { modelKeys } from '../../shared/bucket-layout';
import { TrainingParams } from '../../shared/schemas';
import { batchTensors } from '../../functions/trainer/loop/data';
import { train } from '../../functions/trainer/loop/train';
import { freshBucket, useEmulator } from '../helpers/aws';

useEmulator();

async function predictions(model: ReturnType<typeof buildLeNet5>, xs: tf.Tensor) {
  return Array.from(await (model.predict(xs) as tf.Tensor).data());
}

test('a checkpoint saved to S3 loads back with identical predictions and optimizer state, on wasm and on cpu', async () => {
  await initTrainingBackend('wasm');
  const bucket = await freshBucket();
  const data = await loadDatasetFromDir(mnistDataDir());
  const model = buildLeNet5({ seed: 5 });
  await train(model, take(data.train, 256), { params: TrainingParams.parse({ epochs: 1, validationSplit: 0 }), backend: 'wasm' });
  const { xs } = batchTensors(data.test, [0, 1, 2, 3]);
  const before = await predictions(model, xs);

  const prefix = modelKeys.epoch('job-rt', 1);
  await saveCheckpoint(bucket, prefix, model, { jobId: 'job-rt', epoch: 1, backend: 'wasm', createdAt: new Date().toISOString() });
  const keys = await bucket.listKeys(prefix);
  assert.deepEqual(keys.sort(), [`${prefix}checkpoint.json`, `${prefix}model.json`, `${prefix}weights.bin`]);

  const loaded = await loadModel(bucket, prefix);
  assert.deepEqual(await predictions(loaded, xs), before);
  // Adam's moments came back too, so training resumes where it stopped.
  const optimizerWeights = await loaded.optimizer.getWeights();
  assert.equal(optimizerWeights.length, 1 + 2 * model.getWeights().length);

  // A model trained on wasm loads and predicts on the pure-JS cpu backend.
  await tf.setBackend('cpu');
  const onCpu = await loadModel(bucket, prefix);
  const { xs: xsCpu } = batchTensors(data.test, [0, 1, 2, 3]);
  const cpuPredictions = await predictions(onCpu, xsCpu);
  cpuPredictions.forEach((p, i) => assert.ok(Math.abs(p - before[i]) < 1e-4, `prob ${i}: ${p} vs ${before[i]}`));
  await tf.setBackend('wasm');
});

test('a checkpoint without its marker is never picked for resume', async () => {
  await initTrainingBackend('wasm');
  const bucket = await freshBucket();
  const model = buildLeNet5({ seed: 1 });
  const info = (epoch: number) => ({ jobId: 'job-m', epoch, backend: 'wasm', createdAt: new Date().toISOString() });
  assert.equal(await findResumePoint(bucket, 'job-m'), undefined);
  await saveCheckpoint(bucket, modelKeys.epoch('job-m', 1), model, info(1));
  await saveCheckpoint(bucket, modelKeys.epoch('job-m', 2), model, info(2));
  // Epoch 3 crashed mid-write: model files exist, the marker does not.
  await model.save(s3ModelHandler(bucket, modelKeys.epoch('job-m', 3)));
  assert.equal((await findResumePoint(bucket, 'job-m'))?.info.epoch, 2);
  model.dispose();
});
