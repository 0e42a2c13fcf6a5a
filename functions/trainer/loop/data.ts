// How the training loop reads a dataset: validation split, seeded shuffles, batches and augmentation shifts.
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../../../shared/idx';
import { IMAGE_SIZE, NUM_CLASSES } from '../../../shared/model';

const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

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
    ...data,
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
  // Shifts leave edge pixels unwritten: they are background.
  if (augment && data.background) pixels.fill(data.background);
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

/** Copies a 28x28 image shifted by (dx, dy); pixels shifted in from outside are left as they were (background). */
function shiftInto(src: Float32Array, dst: Float32Array, dx: number, dy: number): void {
  for (let y = 0; y < IMAGE_SIZE; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= IMAGE_SIZE) continue;
    const from = Math.max(0, dx);
    const to = Math.min(IMAGE_SIZE, IMAGE_SIZE + dx);
    dst.set(src.subarray(sy * IMAGE_SIZE + from - dx, sy * IMAGE_SIZE + to - dx), y * IMAGE_SIZE + from);
  }
}
