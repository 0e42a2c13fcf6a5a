import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from '../../shared/idx';
import type { TrainPosition } from '../../shared/model-store';
import { IMAGE_SIZE, NUM_CLASSES, setLearningRate } from '../../shared/model';
import { TrainingParams, type EpochMetrics } from '../../shared/schemas';
import { createStepper, type StepMode } from './stepper';

const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

export interface TrainHooks {
  /** Called after every complete epoch; a checkpoint is written here. */
  onEpochEnd?(metrics: EpochMetrics): Promise<void>;
  onBatchEnd?(epoch: number, batch: number, batches: number): void;
  /** Polled between batches; when true, training stops before the next batch. */
  shouldStop?(): boolean;
  /** Called when training stops early (shouldStop), with where it stopped; a mid-epoch checkpoint is written here. */
  onStop?(at: TrainPosition): Promise<void>;
  /** Called once the training route is chosen (e.g. 'native×auto', 'fast×2'), with why a faster one was not taken. */
  onRoute?(route: string, fallback?: string): void;
}

export interface TrainOptions {
  params: TrainingParams;
  backend: string;
  /** Number of epochs already done (resume point). */
  startEpoch?: number;
  /** Resume inside an epoch (from a mid-epoch checkpoint); takes precedence over startEpoch. */
  resumeAt?: TrainPosition;
  hooks?: TrainHooks;
  /**
   * How a batch is trained: 'layers' (model.trainOnBatch), 'fast' (hand-written LeNet-5 step,
   * wasm only), 'native' (the same step on oneDNN, ./native/) or 'auto' (native, else fast, when
   * possible). Default: env LENET_STEP, else 'auto'.
   */
  step?: StepMode;
}

/**
 * Gradient threads when params.workers is unset: env TRAINER_WORKERS (a count or 'auto'), else
 * 'auto'. A fixed 2 trains ~1.5x faster than 1 on an idle 2-core machine but slower than 1 while
 * another process holds a core; 'auto' follows whichever is faster at the moment.
 */
export function defaultWorkers(env: string | undefined = process.env.TRAINER_WORKERS): number | 'auto' {
  if (env === undefined || env === '') return 'auto';
  // The job param's own schema, so the env and the param accept the same values.
  const parsed = TrainingParams.shape.workers.safeParse(env === 'auto' ? env : Number(env));
  if (parsed.success && parsed.data !== undefined) return parsed.data;
  throw new Error(`TRAINER_WORKERS must be 'auto' or a whole number from 1 to 16, got '${env}'`);
}

export type TrainOutcome = 'completed' | 'stopped';

/** Share of a one-cycle run spent warming up. */
const ONECYCLE_WARMUP = 0.25;

/**
 * Learning rate for a 0-based epoch: constant (seed recipe) or cosine decay to 1% of the start.
 * 'onecycle' also depends on the position inside the epoch (`batchFraction`, 0 to 1).
 */
export function learningRateFor(
  params: Pick<TrainingParams, 'learningRate' | 'lrSchedule' | 'epochs'>,
  epoch: number,
  batchFraction = 0,
): number {
  if (params.lrSchedule === 'constant') return params.learningRate;
  if (params.lrSchedule === 'onecycle') {
    const progress = (epoch + batchFraction) / params.epochs;
    if (progress < ONECYCLE_WARMUP) return params.learningRate * (0.1 + 0.9 * (progress / ONECYCLE_WARMUP));
    const decay = (progress - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP);
    return params.learningRate * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, decay))));
  }
  const progress = params.epochs <= 1 ? 0 : epoch / (params.epochs - 1);
  return params.learningRate * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Splits off the last `fraction` of the examples for validation, as Keras' validationSplit does. */
export function splitValidation(data: Dataset, fraction: number): { train: Dataset; validation?: Dataset } {
  const valCount = Math.floor(data.count * fraction);
  if (valCount === 0) return { train: data };
  const trainCount = data.count - valCount;
  return {
    train: slice(data, 0, trainCount),
    validation: slice(data, trainCount, data.count),
  };
}

function slice(data: Dataset, from: number, to: number): Dataset {
  return {
    count: to - from,
    images: data.images.subarray(from * PIXELS, to * PIXELS),
    labels: data.labels.subarray(from, to),
  };
}

/** A small seeded PRNG (mulberry32), so a job's data order depends only on its seed and epoch. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffledIndices(count: number, seed: number): Uint32Array {
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  const random = seededRandom(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * The pixels, labels and one-hot labels of the given example indices, as flat arrays. With
 * `random`, each image is shifted by up to `maxShift` pixels in x and y (data augmentation).
 */
export function batchArrays(
  data: Dataset,
  indices: ArrayLike<number>,
  augment?: { random: () => number; maxShift: number },
): { pixels: Float32Array; labels: Uint8Array; oneHot: Float32Array } {
  const n = indices.length;
  const pixels = new Float32Array(n * PIXELS);
  const labels = new Uint8Array(n);
  const oneHot = new Float32Array(n * NUM_CLASSES);
  for (let i = 0; i < n; i++) {
    const idx = indices[i];
    const image = data.images.subarray(idx * PIXELS, (idx + 1) * PIXELS);
    if (augment) {
      const span = 2 * augment.maxShift + 1;
      const dx = Math.floor(augment.random() * span) - augment.maxShift;
      const dy = Math.floor(augment.random() * span) - augment.maxShift;
      shiftInto(image, pixels.subarray(i * PIXELS, (i + 1) * PIXELS), dx, dy);
    } else {
      pixels.set(image, i * PIXELS);
    }
    labels[i] = data.labels[idx];
    oneHot[i * NUM_CLASSES + data.labels[idx]] = 1;
  }
  return { pixels, labels, oneHot };
}

/**
 * Builds the input and one-hot label tensors for the given example indices. With `random`, each
 * image is shifted by up to `maxShift` pixels in x and y (data augmentation).
 */
export function batchTensors(
  data: Dataset,
  indices: ArrayLike<number>,
  augment?: { random: () => number; maxShift: number },
): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const { pixels, oneHot } = batchArrays(data, indices, augment);
  const n = indices.length;
  return {
    xs: tf.tensor4d(pixels, [n, IMAGE_SIZE, IMAGE_SIZE, 1]),
    ys: tf.tensor2d(oneHot, [n, NUM_CLASSES]),
  };
}

/** Copies a 28x28 image shifted by (dx, dy); pixels shifted in from outside are 0 (background). */
function shiftInto(src: Float32Array, dst: Float32Array, dx: number, dy: number): void {
  for (let y = 0; y < IMAGE_SIZE; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= IMAGE_SIZE) continue;
    const from = Math.max(0, dx);
    const to = Math.min(IMAGE_SIZE, IMAGE_SIZE + dx);
    dst.set(src.subarray(sy * IMAGE_SIZE + from - dx, sy * IMAGE_SIZE + to - dx), y * IMAGE_SIZE + from);
  }
}

/** Loss and accuracy over a whole dataset, in chunks so memory stays bounded. */
export async function evaluate(model: tfl.LayersModel, data: Dataset, chunk = 1000): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0;
  let correct = 0;
  for (let from = 0; from < data.count; from += chunk) {
    const indices = Array.from({ length: Math.min(chunk, data.count - from) }, (_, i) => from + i);
    const { xs, ys } = batchTensors(data, indices);
    const [loss, hits] = tf.tidy(() => {
      const probs = model.predict(xs) as tf.Tensor2D;
      const crossEntropy = tf.neg(tf.sum(tf.mul(ys, tf.log(tf.clipByValue(probs, 1e-7, 1)))));
      return [crossEntropy, tf.sum(tf.equal(tf.argMax(probs, 1), tf.argMax(ys, 1)))];
    });
    lossSum += (await loss.data())[0];
    correct += (await hits.data())[0];
    tf.dispose([xs, ys, loss, hits]);
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count };
}

/** Trains epoch by epoch from `startEpoch`, calling the hooks after every epoch. */
export async function train(model: tfl.LayersModel, data: Dataset, opts: TrainOptions): Promise<TrainOutcome> {
  const { params, backend, hooks = {} } = opts;
  const { train: trainSet, validation } = splitValidation(data, params.validationSplit);
  const batches = Math.ceil(trainSet.count / params.batchSize);
  const stepper = await createStepper(model, { mode: opts.step, workers: params.workers ?? defaultWorkers(), maxBatch: params.batchSize });
  hooks.onRoute?.(stepper.name, stepper.fallback);
  try {
    for (let epoch = opts.resumeAt?.epoch ?? opts.startEpoch ?? 0; epoch < params.epochs; epoch++) {
      const learningRate = learningRateFor(params, epoch);
      setLearningRate(model, learningRate);
      const order = shuffledIndices(trainSet.count, params.seed * 1000 + epoch);
      const augment =
        params.augmentShift > 0 ? { random: seededRandom(params.seed * 1000 + epoch + 500), maxShift: params.augmentShift } : undefined;
      const resume = opts.resumeAt?.epoch === epoch ? opts.resumeAt : undefined;
      const firstBatch = resume?.batch ?? 0;
      // Replay the augmentation draws of the batches already done, so the rest of the epoch is identical.
      for (let b = 0; augment && b < firstBatch; b++)
        batchArrays(trainSet, order.subarray(b * params.batchSize, (b + 1) * params.batchSize), augment);
      const started = performance.now();
      let lossSum = resume?.lossSum ?? 0;
      let correct = resume?.correct ?? 0;
      let yielded = performance.now();
      for (let b = firstBatch; b < batches; b++) {
        // The fast step blocks the main thread (Atomics.wait), so let timers and signal handlers run
        // now and then: the SQS/lease heartbeat and SIGTERM must not wait for the end of the epoch.
        if (performance.now() - yielded > 200) {
          await new Promise((resolve) => setImmediate(resolve));
          yielded = performance.now();
        }
        if (hooks.shouldStop?.()) {
          stepper.sync();
          await hooks.onStop?.({ epoch, batch: b, lossSum, correct });
          return 'stopped';
        }
        if (params.lrSchedule === 'onecycle') setLearningRate(model, learningRateFor(params, epoch, b / batches));
        const batch = batchArrays(trainSet, order.subarray(b * params.batchSize, (b + 1) * params.batchSize), augment);
        const result = await stepper.step(batch);
        lossSum += result.lossSum;
        correct += result.correct;
        hooks.onBatchEnd?.(epoch, b + 1, batches);
      }
      const seconds = (performance.now() - started) / 1000;
      stepper.sync();
      const val = validation ? await evaluate(model, validation) : undefined;
      await hooks.onEpochEnd?.({
        epoch: epoch + 1,
        loss: lossSum / trainSet.count,
        accuracy: correct / trainSet.count,
        valLoss: val?.loss,
        valAccuracy: val?.accuracy,
        learningRate,
        seconds,
        imagesPerSecond: Math.max(1, trainSet.count - firstBatch * params.batchSize) / seconds,
        backend,
        route: stepper.name,
        threads: stepper.takeThreadsUsed(),
      });
    }
  } finally {
    await stepper.dispose();
  }
  return 'completed';
}
