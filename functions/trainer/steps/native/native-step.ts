/**
 * The 'native' training route: the LeNet-5 step of ../wasm-step.ts on oneDNN primitives, in a
 * Node-API addon (./lenet_native.cc, built by `npm run build:native`).
 *
 * The addon keeps its own copy of the weights and Adam moments (in oneDNN's layouts) between
 * steps. The LayersModel stays the source of truth at the edges: the stepper loads the model's
 * variables and its Adam state when created, and `sync()` writes them back (weights, `/m`, `/v`,
 * β powers; the iteration count is kept step by step), which train() calls before every
 * evaluation and checkpoint. So checkpoints are the same as the wasm step's, and move freely
 * between routes.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from '../../../../shared/idx';
import { type AdamInternals, lenetStepSupported, type StepResult } from '../wasm-step';
import { ThreadChooser } from '../thread-chooser';

export interface NativeAddon {
  /** The oneDNN version of the headers it was compiled against, and of the library loaded at run time. */
  dnnlVersion: string;
  dnnlLoaded: string;
  maxThreads(): number;
  LeNetTrainer: new () => NativeTrainer;
}

export interface NativeTrainer {
  /** Builds the primitives for a batch size and thread count (done lazily by step() otherwise). */
  prepare(batch: number, threads: number): void;
  /**
   * Forward and backward on a batch; the gradients of scale × Σ loss stay in the addon, the loss
   * taken against one-hot labels smoothed by `smoothing` (default 0). Returns [lossSum, correct].
   */
  step(pixels: Float32Array, labels: Uint8Array, threads: number, scale: number, smoothing?: number): [number, number];
  /** The forward pass and loss only (evaluation). Returns [lossSum, correct]. */
  evaluate(pixels: Float32Array, labels: Uint8Array, threads: number): [number, number];
  /** Applies the last step's gradients: tf.AdamOptimizer's update with step = lr / (1 − β1^t), inv2 = 1 / (1 − β2^t). */
  adam(beta1: number, beta2: number, step: number, inv2: number, epsilon: number, threads: number): void;
  /** Copies parameter `index` (model order) out to / in from a Keras-layout array. kind: 0 weights, 1 m, 2 v, 3 last gradient. */
  getParam(index: number, kind: ParamKind, out: Float32Array): void;
  setParam(index: number, kind: ParamKind, from: Float32Array): void;
  /** Which oneDNN implementation runs each primitive, and the per-step reorders, per built shape. */
  describe(): string;
}

export const ParamKind = { Weights: 0, FirstMoment: 1, SecondMoment: 2, Gradient: 3 } as const;
export type ParamKind = (typeof ParamKind)[keyof typeof ParamKind];

/** The built addon. */
export const ADDON_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build', 'Release', 'lenet_native.node');

/** Whether to use the addon, and which build (the trainer's config: LENET_NATIVE, LENET_NATIVE_ADDON). */
export interface NativeSettings {
  /** Default true. */
  enabled?: boolean;
  /** Default ADDON_PATH. */
  addonPath?: string;
}

const loaded = new Map<string, { addon?: NativeAddon; error?: string }>();

/**
 * The addon, or why it is unavailable (not built, libdnnl missing, or disabled), with how to get it.
 * Each build is loaded once per process.
 */
export function loadNativeAddon(settings: NativeSettings = {}): { addon?: NativeAddon; error?: string } {
  if (settings.enabled === false) return { error: 'disabled by LENET_NATIVE=0' };
  const addonPath = settings.addonPath ?? ADDON_PATH;
  let cached = loaded.get(addonPath);
  if (!cached) {
    if (!existsSync(addonPath)) {
      cached = {
        error: `the oneDNN addon is not built (no ${path.relative(process.cwd(), addonPath)}); npm run build:native builds it (needs g++, make and python3-venv; no root)`,
      };
    } else {
      try {
        cached = { addon: createRequire(import.meta.url)(addonPath) as NativeAddon };
      } catch (err) {
        const message = (err as Error).message.split('\n')[0];
        cached = { error: `the oneDNN addon does not load (${message}); npm run build:native rebuilds it and its oneDNN in .venv-onednn/` };
      }
    }
    loaded.set(addonPath, cached);
  }
  return cached;
}

/**
 * One model's weights and Adam state inside the addon. `step` trains a batch on `threads` OpenMP
 * threads; `sync` writes everything back to the model's variables and optimizer.
 */
export class NativeLeNet {
  private readonly trainer: NativeTrainer;
  private readonly adam: AdamInternals;
  private accBeta1: number;
  private accBeta2: number;
  private dirty = false;

  constructor(
    addon: NativeAddon,
    private readonly vars: tf.Variable[],
    optimizer: tf.Optimizer,
    prepare: { batch: number; threads: number[] },
  ) {
    this.trainer = new addon.LeNetTrainer();
    this.adam = optimizer as unknown as AdamInternals;
    // The first shape built fixes the addon's weight layouts; build the common ones now.
    for (const threads of prepare.threads) this.trainer.prepare(prepare.batch, threads);
    vars.forEach((v, i) => {
      this.trainer.setParam(i, ParamKind.Weights, v.dataSync() as Float32Array);
      const m = this.adam.accumulatedFirstMoment[i]?.variable;
      const s = this.adam.accumulatedSecondMoment[i]?.variable;
      const zeros = new Float32Array(v.size);
      this.trainer.setParam(i, ParamKind.FirstMoment, m ? (m.dataSync() as Float32Array) : zeros);
      this.trainer.setParam(i, ParamKind.SecondMoment, s ? (s.dataSync() as Float32Array) : zeros);
    });
    this.accBeta1 = this.adam.accBeta1.dataSync()[0];
    this.accBeta2 = this.adam.accBeta2.dataSync()[0];
  }

  step(pixels: Float32Array, labels: Uint8Array, threads: number, labelSmoothing = 0): StepResult {
    const [lossSum, correct] = this.trainer.step(pixels, labels, threads, 1 / labels.length, labelSmoothing);
    const { beta1, beta2, epsilon, learningRate } = this.adam;
    // The same constants, in the same precision, as adamUpdate in ../wasm-step.ts.
    this.trainer.adam(beta1, beta2, learningRate / (1 - this.accBeta1), 1 / (1 - this.accBeta2), epsilon, threads);
    this.accBeta1 = Math.fround(this.accBeta1 * beta1);
    this.accBeta2 = Math.fround(this.accBeta2 * beta2);
    this.adam.incrementIterations();
    this.dirty = true;
    return { lossSum, correct };
  }

  /** Gradients of scale × Σ loss on a batch, in the model's layouts (for tests; no update). */
  gradients(
    pixels: Float32Array,
    labels: Uint8Array,
    threads: number,
    scale: number,
    labelSmoothing = 0,
  ): { grads: Float32Array[]; result: StepResult } {
    const [lossSum, correct] = this.trainer.step(pixels, labels, threads, scale, labelSmoothing);
    const grads = this.vars.map((v, i) => {
      const out = new Float32Array(v.size);
      this.trainer.getParam(i, ParamKind.Gradient, out);
      return out;
    });
    return { grads, result: { lossSum, correct } };
  }

  /** Writes the weights and the Adam state back to the model (no-op if no step since the last sync). */
  sync(): void {
    if (!this.dirty) return;
    const write = (target: tf.Variable, index: number, kind: ParamKind) => {
      const values = new Float32Array(target.size);
      this.trainer.getParam(index, kind, values);
      const t = tf.tensor(values, target.shape, 'float32');
      target.assign(t);
      t.dispose();
    };
    this.vars.forEach((v, i) => {
      write(v, i, ParamKind.Weights);
      this.adam.accumulatedFirstMoment[i] ??= { originalName: `${v.name}/m`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) };
      this.adam.accumulatedSecondMoment[i] ??= { originalName: `${v.name}/v`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) };
      write(this.adam.accumulatedFirstMoment[i].variable, i, ParamKind.FirstMoment);
      write(this.adam.accumulatedSecondMoment[i].variable, i, ParamKind.SecondMoment);
    });
    for (const [variable, value] of [
      [this.adam.accBeta1, this.accBeta1],
      [this.adam.accBeta2, this.accBeta2],
    ] as const) {
      const t = tf.scalar(value, 'float32');
      variable.assign(t);
      t.dispose();
    }
    this.dirty = false;
  }

  describe(): string {
    return this.trainer.describe();
  }
}

/** The model's trainable tf.Variables, in model order. */
export function modelVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

/** Images per forward pass when evaluating (divides MNIST's 10,000 test and 6,000 validation images). */
const EVAL_CHUNK = 250;
let evaluator: { trainer: NativeTrainer; chooser: ThreadChooser } | undefined;

/**
 * Loss (Keras' clipped categorical cross-entropy) and accuracy of `model` on `data`, by the addon's
 * forward pass from the model's current weights; undefined when the addon is not loaded or the
 * model is not the buildLeNet5 one. One addon instance per process serves every call.
 */
export function nativeEvaluate(
  model: tfl.LayersModel,
  data: Dataset,
  settings: NativeSettings = {},
): { loss: number; accuracy: number } | undefined {
  const { addon } = loadNativeAddon(settings);
  if (!addon || data.count === 0 || !lenetStepSupported(model)) return undefined;
  if (!evaluator) {
    // 1 or 2 threads, whichever is faster now, chunk by chunk (on a busy machine 2 OpenMP threads are several times slower).
    const chooser = new ThreadChooser({ candidates: [...new Set([1, Math.min(2, Math.max(1, addon.maxThreads()))])], window: 3 });
    evaluator = { trainer: new addon.LeNetTrainer(), chooser };
    evaluator.trainer.prepare(EVAL_CHUNK, chooser.candidates[0]);
  }
  const { trainer, chooser } = evaluator;
  modelVariables(model).forEach((v, i) => trainer.setParam(i, ParamKind.Weights, v.dataSync() as Float32Array));
  const pixels = data.images.length / data.count;
  let lossSum = 0;
  let correct = 0;
  for (let from = 0; from < data.count; from += EVAL_CHUNK) {
    const to = Math.min(data.count, from + EVAL_CHUNK);
    const threads = chooser.choose();
    const started = performance.now();
    const [loss, hits] = trainer.evaluate(data.images.subarray(from * pixels, to * pixels), data.labels.subarray(from, to), threads);
    chooser.record(threads, (performance.now() - started) / (to - from));
    lossSum += loss;
    correct += hits;
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count };
}
