import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { IMAGE_SIZE } from '../model';

export interface Prediction {
  digit: number;
  probabilities: number[];
}

/** Classifies 784-pixel images; every tensor is freed before returning. */
export function predictDigits(model: tfl.LayersModel, images: Float32Array[]): Prediction[] {
  const pixels = new Float32Array(images.length * IMAGE_SIZE * IMAGE_SIZE);
  images.forEach((img, i) => pixels.set(img, i * IMAGE_SIZE * IMAGE_SIZE));
  const probs = tf.tidy(() => {
    const xs = tf.tensor4d(pixels, [images.length, IMAGE_SIZE, IMAGE_SIZE, 1]);
    return (model.predict(xs) as tf.Tensor2D).arraySync();
  });
  return probs.map((p) => ({
    digit: p.indexOf(Math.max(...p)),
    probabilities: p.map((v) => Math.round(v * 1e6) / 1e6),
  }));
}
