import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildLeNet5, LENET5_PARAMS } from '../../shared/model';

test('LeNet-5 has the reference layer shapes and 303,626 trainable parameters', async () => {
  await tf.setBackend('cpu');
  const model = buildLeNet5({ seed: 1 });
  const shapes = model.layers.map((layer) => [layer.getClassName(), layer.outputShape, layer.countParams()]);
  assert.deepEqual(shapes, [
    ['Conv2D', [null, 24, 24, 6], 156],
    ['AveragePooling2D', [null, 23, 23, 6], 0],
    ['Conv2D', [null, 19, 19, 16], 2416],
    ['AveragePooling2D', [null, 9, 9, 16], 0],
    ['Conv2D', [null, 5, 5, 120], 48120],
    ['Flatten', [null, 3000], 0],
    ['Dense', [null, 84], 252084],
    ['Dense', [null, 10], 850],
  ]);
  assert.equal(model.countParams(), LENET5_PARAMS);
  assert.equal(LENET5_PARAMS, 303_626);
  const activations = model.layers.map((l) => (l.getConfig() as { activation?: string }).activation).filter(Boolean);
  assert.deepEqual(activations, ['tanh', 'tanh', 'tanh', 'tanh', 'softmax']);
  model.dispose();
});

test('the same seed builds the same initial weights', async () => {
  await tf.setBackend('cpu');
  const a = buildLeNet5({ seed: 7 });
  const b = buildLeNet5({ seed: 7 });
  const c = buildLeNet5({ seed: 8 });
  const first = (m: typeof a) => m.getWeights()[0].dataSync();
  assert.deepEqual(first(a), first(b));
  assert.notDeepEqual(first(a), first(c));
  [a, b, c].forEach((m) => m.dispose());
});
