import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { batchArrays, seededRandom, splitValidation } from '../../functions/trainer/loop/data';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { foldInputNormalization, MNIST_NORMALIZATION, normalizeDataset } from '../../shared/input-normalization';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { maxAbsDiff } from '../helpers/numeric';

const data = await loadDatasetFromDir(mnistDataDir());
await initTrainingBackend('wasm');
const norm = MNIST_NORMALIZATION;
const indices = Array.from({ length: 64 }, (_, i) => 7 * i);

test("MNIST_NORMALIZATION is the training images' own mean and standard deviation", () => {
  const px = data.train.images;
  let sum = 0;
  let squares = 0;
  for (const v of px) {
    sum += v;
    squares += v * v;
  }
  const mean = sum / px.length;
  const std = Math.sqrt(squares / px.length - mean * mean);
  assert.ok(Math.abs(mean - norm.mean) < 1e-4, `mean ${mean}`);
  assert.ok(Math.abs(std - norm.std) < 1e-4, `std ${std}`);
});

test('normalizeDataset standardises every pixel, marks the background, and slices keep it', () => {
  const normalized = normalizeDataset(take(data.test, 100), norm);
  assert.equal(normalized.background, -norm.mean / norm.std);
  assert.ok(Math.abs(normalized.images[300] - (data.test.images[300] - norm.mean) / norm.std) < 1e-6);
  assert.equal(data.test.background, undefined, 'the source dataset is left as it was');
  assert.equal(take(normalized, 10).background, normalized.background);
  assert.equal(splitValidation(normalized, 0.1).validation?.background, normalized.background);
});

test('a shifted batch of standardised images equals the standardised shifted raw batch (background shifted in)', () => {
  const normalized = normalizeDataset(data.train, norm);
  const raw = batchArrays(data.train, indices, { random: seededRandom(3), maxShift: 2 });
  const mine = batchArrays(normalized, indices, { random: seededRandom(3), maxShift: 2 });
  const expected = raw.pixels.map((v) => (v - norm.mean) / norm.std);
  assert.ok(maxAbsDiff(mine.pixels, expected) < 1e-5, `max difference ${maxAbsDiff(mine.pixels, expected)}`);
  assert.deepEqual(mine.labels, raw.labels);
});

test('folding the standardisation into conv1 makes the model answer raw pixels as it answered standardised ones', () => {
  const model = buildLeNet5({ seed: 7 });
  const raw = batchArrays(data.test, indices).pixels;
  const standardised = raw.map((v) => (v - norm.mean) / norm.std);
  const predict = (pixels: Float32Array) =>
    tf.tidy(() => (model.predict(tf.tensor4d(pixels, [indices.length, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
  const before = predict(standardised);
  const rawBefore = predict(raw);
  const weightsBefore = model.getWeights().map((w) => w.dataSync().slice());
  foldInputNormalization(model, norm);
  const after = predict(raw);
  assert.ok(maxAbsDiff(after, before) < 1e-5, `folded model differs by ${maxAbsDiff(after, before)}`);
  assert.ok(maxAbsDiff(rawBefore, before) > 1e-2, 'the standardisation made no difference: the test proves nothing');
  // Only conv1's kernel and bias change.
  model.getWeights().forEach((w, i) => {
    if (i > 1) assert.deepEqual(w.dataSync(), weightsBefore[i], `weight ${i} changed`);
  });
  disposeModel(model);
});
