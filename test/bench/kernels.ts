/**
 * LeNet-5 training throughput on the wasm backend (with shared/wasm-kernels.ts), plus a
 * per-kernel profile of one training step. Prints JSON.
 *
 *   npx tsx test/bench/kernels.ts [--batches 20] [--warmup 3] [--batch-size 32] [--backend wasm]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../../shared/backend';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { buildLeNet5 } from '../../shared/model';

const { values: opts } = parseArgs({
  options: {
    batches: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    'batch-size': { type: 'string', default: '32' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const batches = Number(opts.batches);
const warmup = Number(opts.warmup);
const batchSize = Number(opts['batch-size']);

const backend = await initTrainingBackend(opts.backend as BackendName);
const model = buildLeNet5({ seed: 1 });

// A few distinct random batches, cycled, so every step sees a different input tensor.
const data = Array.from({ length: 4 }, () => ({
  x: tf.randomUniform([batchSize, 28, 28, 1]),
  y: tf.oneHot(tf.randomUniform([batchSize], 0, 10, 'int32') as tf.Tensor1D, 10),
}));
const step = async (i: number) => {
  const { x, y } = data[i % data.length];
  return (await model.trainOnBatch(x, y)) as number[];
};

for (let i = 0; i < warmup; i++) await step(i);
const tensorsBefore = tf.memory().numTensors;
const t0 = performance.now();
for (let i = 0; i < batches; i++) await step(i);
const seconds = (performance.now() - t0) / 1000;
const tensorsAfter = tf.memory().numTensors;

const profile = await tf.profile(async () => {
  await step(0);
});
const perKernel: Record<string, { ms: number; calls: number }> = {};
for (const k of profile.kernels) {
  // Ops such as fusedConv2d__op wrap a kernel that is listed too; keep kernels only.
  if (k.name.endsWith('__op')) continue;
  perKernel[k.name] ??= { ms: 0, calls: 0 };
  const e = perKernel[k.name];
  e.ms += Number(k.kernelTimeMs);
  e.calls++;
}
const kernels = Object.fromEntries(
  Object.entries(perKernel)
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([name, e]) => [name, { ms: Number(e.ms.toFixed(3)), calls: e.calls }]),
);

console.log(
  JSON.stringify(
    {
      backend,
      batchSize,
      batches,
      imagesPerSecond: Math.round((batches * batchSize) / seconds),
      msPerBatch: Number(((seconds * 1000) / batches).toFixed(2)),
      leakedTensors: tensorsAfter - tensorsBefore,
      profileOneStep: {
        totalKernelMs: Number(
          Object.values(perKernel)
            .reduce((s, e) => s + e.ms, 0)
            .toFixed(2),
        ),
        kernels,
      },
    },
    null,
    2,
  ),
);
