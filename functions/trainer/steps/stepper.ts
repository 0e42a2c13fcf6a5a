/**
 * One training step on a batch, by one of three equivalent routes:
 *  - 'layers': tfjs-layers' `model.trainOnBatch` (any model, any backend);
 *  - 'wasm':   the hand-written LeNet-5 step of ./wasm-step.ts (gradients + fused Adam), optionally
 *              data-parallel over worker threads (./parallel.ts). wasm backend, `buildLeNet5` models.
 *  - 'native': the same step on oneDNN in a Node-API addon (./native/), OpenMP threads. Any
 *              backend, `buildLeNet5` models, when the addon is built.
 * All train the same LayersModel variables and optimizer state.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { IMAGE_SIZE, NUM_CLASSES } from '../../../shared/model';
import { adamUpdate, lenetStepSupported, lenetGradients, type StepResult } from './wasm-step';
import { loadNativeAddon, modelVariables, NativeLeNet, type NativeSettings } from './native/native-step';
import { ParallelGradients } from './parallel';
import { ThreadChooser } from './thread-chooser';
import { STEP_MODES, type StepMode } from './step-modes';

export interface Batch {
  pixels: Float32Array;
  labels: Uint8Array;
  oneHot: Float32Array;
}

export interface BatchStepper {
  /** 'layers', 'wasm', 'wasm×N' (N data-parallel gradient threads), 'wasm×auto', 'native×N' or 'native×auto'. */
  readonly name: string;
  /** Why a faster route was not taken, when one was wanted (e.g. the addon is not built). */
  readonly fallback?: string;
  step(batch: Batch): Promise<StepResult>;
  /** The thread count used for most steps since the last call (undefined if none). */
  takeThreadsUsed(): number | undefined;
  /** Brings the model's variables and optimizer state up to date (before evaluating or saving it). */
  sync(): void;
  dispose(): Promise<void>;
}

export interface StepperOptions {
  /** Default 'auto': 'native' when the addon loads, else 'wasm' when supported, else 'layers'. */
  mode?: StepMode;
  /** Whether and from where to load the native addon. Default: enabled, the built one. */
  native?: NativeSettings;
  /**
   * Data-parallel gradient threads: a count (1 = this thread only), or 'auto' to pick the faster
   * of 1 and 2+ threads step by step from their timings (./thread-chooser.ts).
   */
  threads?: number | 'auto';
  /** Largest batch that will be passed (sizes the shared buffers). */
  maxBatch: number;
  /** Train against one-hot labels smoothed towards uniform by this much (default 0; Keras' label_smoothing). */
  labelSmoothing?: number;
}

function requestedThreads(opts: StepperOptions): number | 'auto' | undefined {
  return opts.threads;
}

/** Whether the 'wasm' route can train `model` on the active backend. */
export function wasmStepAvailable(model: tfl.LayersModel): boolean {
  return tf.getBackend() === 'wasm' && lenetStepSupported(model);
}

export async function createStepper(model: tfl.LayersModel, opts: StepperOptions): Promise<BatchStepper> {
  const mode = opts.mode ?? 'auto';
  const smoothing = opts.labelSmoothing ?? 0;
  if (!STEP_MODES.includes(mode)) throw new Error(`unknown step mode '${mode}' (auto, layers, wasm or native)`);
  let fallback: string | undefined;
  if (mode === 'native' || mode === 'auto') {
    const { addon, error } = loadNativeAddon(opts.native);
    if (addon && lenetStepSupported(model)) return nativeStepper(model, addon, opts, smoothing);
    fallback = error ?? 'the native step supports only the buildLeNet5 model with Adam';
    if (mode === 'native') throw new Error(`native training step unavailable: ${fallback}`);
  }
  const wasm = mode === 'wasm' || (mode === 'auto' && wasmStepAvailable(model));
  if (!wasm) return { ...layersStepper(model, smoothing), fallback };
  if (!wasmStepAvailable(model)) {
    throw new Error(`the wasm training step needs the wasm backend and the buildLeNet5 model (backend: ${tf.getBackend()})`);
  }
  const vars = modelVariables(model);
  const requested = requestedThreads(opts);
  const auto = requested === 'auto';
  const poolSize = auto ? autoThreadPool() : Math.max(1, Math.floor(Number(requested ?? 1)));
  const parallel =
    poolSize > 1
      ? await ParallelGradients.create(
          vars.map((v) => v.shape),
          poolSize,
          opts.maxBatch,
        )
      : undefined;
  const chooser = auto && parallel ? new ThreadChooser({ candidates: [...new Set([1, 2, poolSize])] }) : undefined;
  return {
    name: chooser ? 'wasm×auto' : parallel ? `wasm×${poolSize}` : 'wasm',
    fallback,
    async step({ pixels, labels }) {
      const n = labels.length;
      const threads = chooser?.choose() ?? poolSize;
      const started = performance.now();
      const { grads, result } = parallel
        ? parallel.gradients(vars, pixels, labels, threads, smoothing)
        : lenetGradients(vars, pixels, labels, 1 / n, smoothing);
      try {
        adamUpdate(model.optimizer, vars, grads);
      } finally {
        tf.dispose(grads);
      }
      chooser?.record(threads, (performance.now() - started) / n);
      return result;
    },
    takeThreadsUsed: () => (chooser ? chooser.takeUsage() : poolSize),
    // The wasm step trains the model's own variables.
    sync() {},
    async dispose() {
      await parallel?.dispose();
    },
  };
}

/**
 * The oneDNN step. 'auto' threads: the faster of 1 and all cores (at most 2), chosen step by step
 * as for the wasm route, since OpenMP's threads wait for a descheduled one just the same.
 */
function nativeStepper(
  model: tfl.LayersModel,
  addon: NonNullable<ReturnType<typeof loadNativeAddon>['addon']>,
  opts: StepperOptions,
  labelSmoothing: number,
): BatchStepper {
  const requested = requestedThreads(opts);
  const auto = requested === 'auto';
  const cores = Math.max(1, addon.maxThreads());
  const poolSize = auto ? Math.min(2, cores) : Math.max(1, Math.floor(Number(requested ?? 1)));
  // A small recheck budget: on a busy machine a 2-thread step can take many times a 1-thread one (docs/benchmarks.md).
  const chooser = auto && poolSize > 1 ? new ThreadChooser({ candidates: [1, poolSize], recheckBudget: 0.02 }) : undefined;
  const net = new NativeLeNet(addon, modelVariables(model), model.optimizer, {
    batch: opts.maxBatch,
    threads: chooser ? [...chooser.candidates] : [poolSize],
  });
  return {
    name: chooser ? 'native×auto' : `native×${poolSize}`,
    step({ pixels, labels }) {
      const threads = chooser?.choose() ?? poolSize;
      const started = performance.now();
      const result = net.step(pixels, labels, threads, labelSmoothing);
      chooser?.record(threads, (performance.now() - started) / labels.length);
      return Promise.resolve(result);
    },
    takeThreadsUsed: () => (chooser ? chooser.takeUsage() : poolSize),
    sync: () => net.sync(),
    async dispose() {
      net.sync();
    },
  };
}

/** Threads 'auto' may use: the cores, at most 4 (LeNet-5's batch of 32 gains little past that). */
function autoThreadPool(): number {
  return Math.min(4, Math.max(1, os.availableParallelism()));
}

function layersStepper(model: tfl.LayersModel, labelSmoothing: number): BatchStepper {
  return {
    name: 'layers',
    async step({ pixels, labels, oneHot }) {
      const n = labels.length;
      const xs = tf.tensor4d(pixels, [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
      // Smoothed targets: categorical cross-entropy against them is Keras' label_smoothing (its reported loss included).
      const ys = tf.tidy(() => {
        const y = tf.tensor2d(oneHot, [n, NUM_CLASSES]);
        return labelSmoothing ? tf.add(tf.mul(y, 1 - labelSmoothing), labelSmoothing / NUM_CLASSES) : y;
      });
      try {
        const [loss, acc] = (await model.trainOnBatch(xs, ys)) as number[];
        return { lossSum: loss * n, correct: acc * n };
      } finally {
        tf.dispose([xs, ys]);
      }
    },
    // The backend decides its own threading.
    takeThreadsUsed: () => undefined,
    sync() {},
    async dispose() {},
  };
}
