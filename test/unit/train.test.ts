import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5 } from '../../shared/model';
import { TrainingParams } from '../../shared/schemas';
import { batchTensors, shuffledIndices } from '../../functions/trainer/loop/data';
import { evaluate } from '../../functions/trainer/loop/evaluate';
import { learningRateFor } from '../../functions/trainer/loop/schedule';
import { train } from '../../functions/trainer/loop/train';
import type { EpochMetrics } from '../../shared/documents';

test('one epoch on 8,000 real MNIST images on the portable backend reaches >= 90% on the 10,000 test images', async () => {
  const backend = await initTrainingBackend('wasm');
  assert.equal(backend, 'wasm');
  const data = await loadDatasetFromDir(mnistDataDir());
  const model = buildLeNet5({ seed: 3 });
  const params = TrainingParams.parse({ epochs: 1, validationSplit: 0.1, lrSchedule: 'constant', augmentShift: 0, seed: 3 });
  const seen: EpochMetrics[] = [];
  const tensorsBefore = tf.memory().numTensors;
  await train(model, take(data.train, 8000), { params, backend, hooks: { onEpochEnd: async (m) => void seen.push(m) } });
  assert.equal(tf.memory().numTensors, tensorsBefore + 20, 'only the Adam moments (2 per weight) are added');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].backend, 'wasm');
  assert.ok(seen[0].valAccuracy! > 0.8, `validation accuracy ${seen[0].valAccuracy}`);
  const result = await evaluate(model, data.test);
  assert.ok(result.accuracy >= 0.9, `test accuracy ${result.accuracy}`);
  model.dispose();
});

test('stopping between batches returns "stopped" without running the epoch hook', async () => {
  await initTrainingBackend('wasm');
  const data = await loadDatasetFromDir(mnistDataDir());
  const model = buildLeNet5({ seed: 1 });
  let batches = 0;
  let epochs = 0;
  const outcome = await train(model, take(data.train, 320), {
    params: TrainingParams.parse({ epochs: 2, validationSplit: 0 }),
    backend: 'wasm',
    hooks: { onBatchEnd: () => void batches++, shouldStop: () => batches >= 3, onEpochEnd: async () => void epochs++ },
  });
  assert.equal(outcome, 'stopped');
  assert.equal(batches, 3);
  assert.equal(epochs, 0);
  model.dispose();
});

test('the data order depends only on seed and epoch; cosine decays to 1% and constant keeps the seed rate', () => {
  assert.deepEqual(shuffledIndices(50, 7), shuffledIndices(50, 7));
  assert.notDeepEqual(shuffledIndices(50, 7), shuffledIndices(50, 8));
  assert.deepEqual(
    [...shuffledIndices(50, 7)].sort((a, b) => a - b),
    [...Array(50).keys()],
  );
  const cosine = { learningRate: 0.001, lrSchedule: 'cosine' as const, epochs: 20 };
  assert.equal(learningRateFor(cosine, 0), 0.001);
  assert.ok(Math.abs(learningRateFor(cosine, 19) - 0.00001) < 1e-12);
  assert.ok(learningRateFor(cosine, 10) < learningRateFor(cosine, 9));
  assert.equal(learningRateFor({ ...cosine, lrSchedule: 'constant' }, 19), 0.001);
  // One-cycle over 4 epochs: 10% of the peak at the start, the peak after the first quarter, 1% at the end.
  const onecycle = { learningRate: 0.004, lrSchedule: 'onecycle' as const, epochs: 4 };
  assert.ok(Math.abs(learningRateFor(onecycle, 0) - 0.0004) < 1e-12);
  assert.ok(Math.abs(learningRateFor(onecycle, 0, 0.5) - 0.0022) < 1e-12);
  assert.ok(Math.abs(learningRateFor(onecycle, 1) - 0.004) < 1e-12);
  assert.ok(learningRateFor(onecycle, 2, 0.5) < learningRateFor(onecycle, 2, 0.4));
  assert.ok(Math.abs(learningRateFor(onecycle, 3, 1) - 0.00004) < 1e-12);
});

test('augmentation shifts each image by the drawn offset and fills with background', () => {
  const image = Float32Array.from({ length: 784 }, (_, i) => (i % 97) / 97 + 0.01);
  const data = { count: 1, images: image, labels: Uint8Array.of(4) };
  for (const [draw, d] of [
    [0.99, 2],
    [0, -2],
    [0.5, 0],
  ] as const) {
    const { xs, ys } = batchTensors(data, [0], { random: () => draw, maxShift: 2 });
    const out = xs.dataSync();
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const sy = y - d;
        const sx = x - d;
        const expected = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? image[sy * 28 + sx] : 0;
        assert.equal(out[y * 28 + x], expected, `shift ${d} at (${x},${y})`);
      }
    }
    assert.deepEqual(Array.from(ys.dataSync()), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    tf.dispose([xs, ys]);
  }
});
