/**
 * The ONNX export (cli/onnx.ts) against our own predict, through onnxruntime-node: on all 10,000
 * real MNIST test images a briefly trained LeNet-5 must give the same digits, with every probability
 * within PROB_TOLERANCE; random weights and a small model with a spatial Flatten check the layouts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { train } from '../../functions/trainer/loop/train';
import { predictDigits } from '../../shared/digits/predict';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5, IMAGE_SIZE } from '../../shared/model';
import { TrainingParams } from '../../shared/schemas';
import { layersModelToOnnx, ONNX_INPUT, ONNX_OUTPUT } from '../../cli/onnx';
import { tfjsFilesToOnnx } from '../../cli/export';

const PX = IMAGE_SIZE * IMAGE_SIZE;
/** Our predict rounds probabilities to 1e-6; float32 noise between the two runtimes is far below. */
const PROB_TOLERANCE = 1e-5;
const dir = mkdtempSync(join(tmpdir(), 'lenet-onnx-'));

/** Runs the ONNX file (written to disk, then loaded from the path) on `count` images, in batches. */
async function onnxProbabilities(bytes: Uint8Array, images: Float32Array, count: number): Promise<Float32Array> {
  const path = join(dir, `model-${Math.random().toString(36).slice(2)}.onnx`);
  writeFileSync(path, bytes);
  const session = await ort.InferenceSession.create(path);
  assert.deepEqual(session.inputNames, [ONNX_INPUT]);
  assert.deepEqual(session.outputNames, [ONNX_OUTPUT]);
  const out = new Float32Array(count * 10);
  for (let start = 0; start < count; start += 1000) {
    const n = Math.min(1000, count - start);
    // NCHW [n, 1, 28, 28]: for one channel, the same bytes as the NHWC images.
    const input = new ort.Tensor('float32', images.slice(start * PX, (start + n) * PX), [n, 1, IMAGE_SIZE, IMAGE_SIZE]);
    const result = await session.run({ [ONNX_INPUT]: input });
    out.set(result[ONNX_OUTPUT].data as Float32Array, start * 10);
  }
  await session.release();
  return out;
}

/** Digits and the largest probability difference, ONNX against shared/digits/predict.ts. */
async function compare(model: tfl.LayersModel, onnx: Uint8Array, images: Float32Array, count: number) {
  const theirs = await onnxProbabilities(onnx, images, count);
  let maxDiff = 0;
  const mismatches: { image: number; ours: number; onnx: number; margin: number }[] = [];
  for (let start = 0; start < count; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - start) }, (_, i) => images.subarray((start + i) * PX, (start + i + 1) * PX));
    predictDigits(model, batch).forEach((ours, i) => {
      const p = theirs.subarray((start + i) * 10, (start + i + 1) * 10);
      for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(p[k] - ours.probabilities[k]));
      const digit = p.indexOf(Math.max(...p));
      if (digit !== ours.digit) {
        const sorted = [...ours.probabilities].sort((a, b) => b - a);
        mismatches.push({ image: start + i, ours: ours.digit, onnx: digit, margin: sorted[0] - sorted[1] });
      }
    });
  }
  return { maxDiff, mismatches };
}

test('ONNX of a trained LeNet-5, from its stored files: the same digits as our predict on all 10,000 test images', async () => {
  await initTrainingBackend('wasm');
  const data = await loadDatasetFromDir(mnistDataDir());
  const model = buildLeNet5({ seed: 21 });
  await train(model, take(data.train, 4000), {
    params: TrainingParams.parse({ epochs: 1, validationSplit: 0, augmentShift: 0, seed: 21 }),
    backend: 'wasm',
  });
  // The two files as shared/model-store.ts stores them and GET /models/{id}/download serves them.
  let modelJson = new Uint8Array();
  let weights = new Uint8Array();
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(a.weightData!));
      const json = {
        modelTopology: a.modelTopology,
        format: a.format,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      };
      modelJson = Buffer.from(JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
    { includeOptimizer: false },
  );
  const onnx = await tfjsFilesToOnnx(modelJson, weights, 'test');
  const { maxDiff, mismatches } = await compare(model, onnx, data.test.images, data.test.count);
  console.log(`# trained: max probability difference ${maxDiff.toExponential(2)} over 10,000 images; ONNX ${onnx.length} bytes`);
  assert.deepEqual(mismatches, [], 'every digit the same');
  assert.ok(maxDiff < PROB_TOLERANCE, `max probability difference ${maxDiff}`);
  model.dispose();
});

test('ONNX of an untrained LeNet-5 (random weights): probabilities within the tolerance on all 10,000 test images', async () => {
  await initTrainingBackend('wasm');
  const data = await loadDatasetFromDir(mnistDataDir());
  const model = buildLeNet5({ seed: 5 });
  const { maxDiff, mismatches } = await compare(model, layersModelToOnnx(model), data.test.images, data.test.count);
  console.log(`# random weights: max probability difference ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff < PROB_TOLERANCE, `max probability difference ${maxDiff}`);
  // Near-uniform outputs: a digit may differ only where the top two are within rounding of each other.
  for (const m of mismatches) assert.ok(m.margin < 2 * PROB_TOLERANCE, JSON.stringify(m));
  model.dispose();
});

test('ONNX layouts beyond LeNet-5: strided conv, max pooling, relu and a Flatten over 4x2x3 (Dense rows reordered)', async () => {
  await initTrainingBackend('wasm');
  const data = await loadDatasetFromDir(mnistDataDir());
  const seeded = (seed: number) => ({
    kernelInitializer: tfl.initializers.glorotUniform({ seed }),
    biasInitializer: tfl.initializers.randomNormal({ seed, stddev: 0.1 }),
  });
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: [3, 5], strides: 2, activation: 'relu', ...seeded(1) }),
      tfl.layers.maxPooling2d({ poolSize: [2, 3] }),
      tfl.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'sigmoid', ...seeded(2) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 10, activation: 'softmax', ...seeded(3) }),
    ],
  });
  // Not square, so a swapped height and width would show.
  assert.deepEqual(model.layers[2].outputShape, [null, 4, 2, 3]);
  const { maxDiff, mismatches } = await compare(model, layersModelToOnnx(model), data.test.images, 1000);
  assert.ok(maxDiff < PROB_TOLERANCE, `max probability difference ${maxDiff}`);
  for (const m of mismatches) assert.ok(m.margin < 2 * PROB_TOLERANCE, JSON.stringify(m));
  model.dispose();
});

test('ONNX export refuses a layer it cannot write, naming it', () => {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3, padding: 'same' }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2 }),
    ],
  });
  assert.throws(() => layersModelToOnnx(model), /padding "same" is not supported/);
  model.dispose();
});
