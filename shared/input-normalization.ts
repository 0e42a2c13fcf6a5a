import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from './idx';

/**
 * Training on standardised pixels, (x − mean) / std, and serving on raw [0,1] pixels (job param
 * `normalizeInputs`). A model trains and checkpoints in the standardised space; its final model
 * has the standardisation folded into conv1, so the served model takes raw pixels like any other.
 * Folding is exact because conv1 has no padding: every output sees 25 real pixels.
 */
export interface InputNormalization {
  mean: number;
  std: number;
}

/** The pixel mean and standard deviation of the 60,000 MNIST training images. */
export const MNIST_NORMALIZATION: InputNormalization = { mean: 0.1307, std: 0.3081 };

/** A copy of the dataset with standardised pixels; `background` is the value of an empty pixel. */
export function normalizeDataset(data: Dataset, norm: InputNormalization): Dataset {
  const images = new Float32Array(data.images.length);
  for (let i = 0; i < images.length; i++) images[i] = (data.images[i] - norm.mean) / norm.std;
  return { ...data, images, background: -norm.mean / norm.std };
}

/**
 * Rewrites conv1 so the model takes raw pixels: kernel k / std, and bias b − (mean / std) · Σ k over
 * each filter's 5×5×1 window. The model's other layers are unchanged.
 */
export function foldInputNormalization(model: tfl.LayersModel, norm: InputNormalization): void {
  const conv1 = model.layers.find((layer) => layer.getClassName() === 'Conv2D');
  if (!conv1) throw new Error('foldInputNormalization: the model has no Conv2D layer');
  const [kernel, bias] = conv1.getWeights();
  const k = kernel.dataSync();
  const b = bias.dataSync();
  const filters = b.length;
  const foldedKernel = new Float32Array(k.length);
  const foldedBias = new Float32Array(filters);
  // Keras kernel layout [kh, kw, in, out]: filter f's weights are every `filters`-th value from f.
  for (let f = 0; f < filters; f++) {
    let sum = 0;
    for (let i = f; i < k.length; i += filters) {
      sum += k[i];
      foldedKernel[i] = k[i] / norm.std;
    }
    foldedBias[f] = b[f] - (norm.mean / norm.std) * sum;
  }
  const tensors = [tf.tensor(foldedKernel, kernel.shape), tf.tensor(foldedBias, bias.shape)];
  conv1.setWeights(tensors);
  tf.dispose(tensors);
}
