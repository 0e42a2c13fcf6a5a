import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMetrics, describePosition, epochsDone } from '../../cli/watch-job';
import type { JobStatus } from '../../shared/documents';

const base: JobStatus = { jobId: 'j', status: 'RUNNING', createdAt: '', updatedAt: '', epoch: 3, totalEpochs: 20, metrics: [] };

test('the CLI progress: whole epochs, or the running epoch to the batch', () => {
  assert.equal(epochsDone(base), 3);
  assert.equal(describePosition(base), 'epoch 3/20');
  const running = { ...base, progress: { epoch: 4, batch: 422, batches: 1688, updatedAt: '' } };
  assert.equal(epochsDone(running), 3.25);
  assert.equal(describePosition(running), 'epoch 4/20 batch 422/1688');
  assert.equal(describePosition({ ...base, epoch: undefined, totalEpochs: undefined }), 'epoch 0/?');
});

test('the CLI metrics line names the training route (else the backend) and gradient threads', () => {
  const m = {
    epoch: 3,
    loss: 0.1,
    accuracy: 0.97,
    valAccuracy: 0.98,
    learningRate: 0.0005,
    seconds: 25,
    imagesPerSecond: 2101.6,
    backend: 'wasm',
  };
  assert.equal(
    describeMetrics({ ...base, metrics: [{ ...m, threads: 2 }] }),
    'loss 0.1000 acc 0.9700 val_acc 0.9800 2102 img/s (wasm, 2 threads)',
  );
  assert.match(describeMetrics({ ...base, metrics: [{ ...m, threads: 1 }] }), /\(wasm, 1 thread\)$/);
  assert.match(describeMetrics({ ...base, metrics: [m] }), /\(wasm\)$/);
  assert.equal(
    describeMetrics({ ...base, metrics: [{ ...m, route: 'native×auto', threads: 2 }] }),
    'loss 0.1000 acc 0.9700 val_acc 0.9800 2102 img/s (native×auto, 2 threads)',
  );
  assert.match(describeMetrics({ ...base, metrics: [{ ...m, route: 'layers' }] }), /\(layers\)$/);
  // Jobs recorded before the wasm route got its name say 'fast'.
  assert.match(describeMetrics({ ...base, metrics: [{ ...m, route: 'fast×2', threads: 2 }] }), /\(wasm×2, 2 threads\)$/);
  assert.match(describeMetrics({ ...base, metrics: [{ ...m, route: 'fast' }] }), /\(wasm\)$/);
  assert.match(describeMetrics({ ...base, metrics: [{ ...m, route: 'wasm×auto' }] }), /\(wasm×auto\)$/);
});
