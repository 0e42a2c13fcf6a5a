import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export const IMAGE_SIZE = 28;
export const NUM_CLASSES = 10;

/** Trainable parameters of the reference Keras LeNet-5 with `valid` padding. */
export const LENET5_PARAMS = 303_626;

export interface ModelOptions {
  /** Adam learning rate. Default 0.001 (Keras default). */
  learningRate?: number;
  /** Seed for the weight initialisers, so the same seed builds the same model. */
  seed?: number;
}

/**
 * The classic Keras LeNet-5: tanh convolutions 6@5x5, 16@5x5, 120@5x5 with average
 * pooling in between, then dense 84 (tanh) and 10 (softmax).
 */
export function buildLeNet5({ learningRate = 0.001, seed }: ModelOptions = {}): tfl.LayersModel {
  // Each layer gets its own seed so they don't start from identical random streams.
  let layerSeed = seed ?? Math.floor(Math.random() * 2 ** 31);
  const init = () => ({
    kernelInitializer: tfl.initializers.glorotUniform({ seed: layerSeed++ }),
    biasInitializer: 'zeros' as const,
  });
  const model = tfl.sequential({
    name: 'lenet5',
    layers: [
      tfl.layers.conv2d({ inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1], filters: 6, kernelSize: 5, activation: 'tanh', ...init() }),
      tfl.layers.averagePooling2d({ poolSize: 2, strides: 1 }),
      tfl.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'tanh', ...init() }),
      tfl.layers.averagePooling2d({ poolSize: 2, strides: 2 }),
      tfl.layers.conv2d({ filters: 120, kernelSize: 5, activation: 'tanh', ...init() }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 84, activation: 'tanh', ...init() }),
      tfl.layers.dense({ units: NUM_CLASSES, activation: 'softmax', ...init() }),
    ],
  });
  compileLeNet5(model, learningRate);
  return model;
}

export function compileLeNet5(model: tfl.LayersModel, learningRate: number): void {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
}

/** Sets the learning rate of a compiled model's Adam optimizer in place (keeps its moments). */
export function setLearningRate(model: tfl.LayersModel, learningRate: number): void {
  // tfjs reads `learningRate` on every step; it is not exposed as a setter.
  (model.optimizer as unknown as { learningRate: number }).learningRate = learningRate;
}

/** Frees a model and its optimizer (a model compiled with an optimizer instance does not own it). */
export function disposeModel(model: tfl.LayersModel): void {
  const optimizer = model.optimizer;
  model.dispose();
  optimizer?.dispose();
}
