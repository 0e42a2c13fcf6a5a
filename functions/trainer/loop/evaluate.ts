import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from '../../../shared/idx';
import { batchTensors } from './data';
import { type NativeSettings, nativeEvaluate } from '../steps/native/native-step';

/**
 * Loss and accuracy over a whole dataset, in chunks so memory stays bounded; on the native addon
 * when `native` allows it and it loads.
 */
export async function evaluate(
  model: tfl.LayersModel,
  data: Dataset,
  native: NativeSettings = {},
  chunk = 1000,
): Promise<{ loss: number; accuracy: number }> {
  // The oneDNN forward pass when the addon is built; the same figures up to float rounding.
  const onNative = nativeEvaluate(model, data, native);
  if (onNative) return onNative;
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
