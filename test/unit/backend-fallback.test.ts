/**
 * The backend choice checks a real op before it accepts a backend (shared/backend.ts), and the
 * trainer says once which backend it fell back to and why (functions/trainer/steps/training-backend.ts).
 * Fake backends: the cpu backend and its kernels under another name, except that matMul throws as
 * tfjs-node 4.22's ops did on Node >= 23, or returns zeros. They initialise fine; only an op shows them broken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { fallbackMessage, initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { checkBackendOp, type Fallback } from '../../shared/backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { TrainingParams } from '../../shared/schemas';
import { evaluate } from '../../functions/trainer/loop/evaluate';
import { train } from '../../functions/trainer/loop/train';

const NODE_ERROR = '(0 , util_1.isNullOrUndefined) is not a function';

function registerFake(name: string, matMul: tf.KernelFunc): void {
  tf.registerBackend(name, () => new MathBackendCPU(), 0);
  for (const k of tf.getKernelsForBackend('cpu')) if (k.kernelName !== tf.BatchMatMul) tf.registerKernel({ ...k, backendName: name });
  tf.registerKernel({ kernelName: tf.BatchMatMul, backendName: name, kernelFunc: matMul });
}

registerFake('throws-on-first-op', () => {
  throw new TypeError(NODE_ERROR);
});
registerFake('wrong-numbers', ({ inputs, backend }) => {
  const a = inputs.a as tf.TensorInfo;
  const b = inputs.b as tf.TensorInfo;
  const shape = [...a.shape.slice(0, -1), b.shape.at(-1)!];
  return (backend as MathBackendCPU).makeTensorInfo(shape, 'float32', new Float32Array(tf.util.sizeFromShape(shape)));
});

type Reported = { message: string; fallbacks: Fallback[] };

test('a backend that initialises but fails its first op is passed over for the next; the trainer says so once', async () => {
  const reported: Reported[] = [];
  const report = (message: string, d: { fallbacks: Fallback[] }) => void reported.push({ message, fallbacks: d.fallbacks });
  const order = ['throws-on-first-op', 'wasm', 'cpu'];
  assert.equal(await initTrainingBackend(undefined, { order, report }), 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(reported.length, 1);
  assert.deepEqual(reported[0]!.fallbacks, [{ backend: 'throws-on-first-op', reason: `a test op failed: ${NODE_ERROR}` }]);
  assert.equal(reported[0]!.message, `tfjs backend: using wasm; throws-on-first-op failed: a test op failed: ${NODE_ERROR}`);

  // Asked for again (another caller, or the trainer config's TFJS_BACKEND naming it): skipped without a second line.
  assert.equal(await initTrainingBackend('throws-on-first-op' as never, { order, report }), 'wasm');
  assert.equal(reported.length, 1, 'the fallback is reported once');
});

test('a backend whose op gives wrong numbers is passed over too', async () => {
  const reported: Reported[] = [];
  const backend = await initTrainingBackend(undefined, {
    order: ['wrong-numbers', 'cpu'],
    report: (message, d) => void reported.push({ message, fallbacks: d.fallbacks }),
  });
  assert.equal(backend, 'cpu');
  assert.equal(reported.length, 1);
  assert.match(reported[0]!.fallbacks[0]!.reason, /gave \[1, 1\] instead of \[18, 40\]/);
});

test('checkBackendOp passes on the working backends', async () => {
  for (const name of ['cpu', 'wasm'] as const) {
    await initTrainingBackend(name);
    assert.equal(tf.getBackend(), name);
    assert.equal(checkBackendOp(), undefined, name);
  }
});

test('with every candidate broken, the error names each and why', async () => {
  await assert.rejects(
    initTrainingBackend(undefined, { order: ['throws-on-first-op', 'wrong-numbers'], report: () => {} }),
    (err: Error) => {
      assert.match(err.message, /no tfjs backend could be initialised/);
      assert.match(err.message, /throws-on-first-op: a test op failed: \(0 , util_1\.isNullOrUndefined\)/);
      assert.match(err.message, /wrong-numbers: a test matMul gave \[1, 1\]/);
      return true;
    },
  );
});

test('after falling back, a small job trains, evaluates and its model predicts on the chosen backend', async () => {
  const reported: string[] = [];
  const backend = await initTrainingBackend(undefined, { order: ['throws-on-first-op', 'wasm'], report: (m) => void reported.push(m) });
  assert.equal(backend, 'wasm');
  assert.equal(reported.length, 0, 'the broken backend was reported by the first test, not again');
  const data = await loadDatasetFromDir(mnistDataDir());
  const model = buildLeNet5({ seed: 1 });
  const params = TrainingParams.parse({
    epochs: 1,
    validationSplit: 0,
    augmentShift: 0,
    lrSchedule: 'constant',
    learningRate: 0.001,
    threads: 1,
  });
  const outcome = await train(model, take(data.train, 2000), { params, backend });
  assert.notEqual(outcome, 'stopped');
  const result = await evaluate(model, take(data.test, 1000));
  assert.ok(result.accuracy > 0.6, `test accuracy ${result.accuracy} after 2,000 images`);
  disposeModel(model);
});

test('fallbackMessage names absent and failed backends differently', () => {
  assert.equal(
    fallbackMessage('wasm', [
      { backend: 'tensorflow', reason: '@tensorflow/tfjs-node is not installed', absent: true },
      { backend: 'x', reason: 'it did not initialise' },
    ]),
    'tfjs backend: using wasm; tensorflow unavailable: @tensorflow/tfjs-node is not installed; x failed: it did not initialise',
  );
});
