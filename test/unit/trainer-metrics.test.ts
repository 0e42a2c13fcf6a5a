import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { makeTrainerMetrics } from '../../functions/trainer/lifecycle/metrics';
import { METRICS } from '../../shared/settings';

/** Runs fn with stdout captured; returns the EMF objects printed (lines with an `_aws` key). */
async function emfLines(fn: () => void): Promise<any[]> {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = write;
  }
  return lines
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((o) => o._aws);
}

test('trainer metrics: one EMF line per event, in the stack namespace with the service dimension', async () => {
  const metrics = makeTrainerMetrics(new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.service }));
  const out = await emfLines(() => {
    metrics.epoch({
      epoch: 1,
      loss: 0.5,
      accuracy: 0.9,
      valLoss: 0.4,
      valAccuracy: 0.92,
      learningRate: 0.001,
      seconds: 10,
      imagesPerSecond: 1234,
      backend: 'wasm',
    });
    metrics.timeToFirstStep(3.5);
    metrics.testAccuracy(0.95);
    metrics.jobOutcome('SUCCEEDED');
    metrics.jobOutcome('RETRIED');
    metrics.jobOutcome('FAILED');
    metrics.jobOutcome('CANCELLED');
  });
  assert.equal(out.length, 7);
  for (const o of out) {
    const [directive] = o._aws.CloudWatchMetrics;
    assert.equal(directive.Namespace, METRICS.namespace);
    assert.deepEqual(directive.Dimensions, [['service']]);
    assert.equal(o.service, METRICS.service);
    for (const m of directive.Metrics) assert.equal(typeof o[m.Name], 'number', m.Name);
  }
  const N = METRICS.names;
  assert.deepEqual(
    {
      ips: out[0][N.imagesPerSecond],
      loss: out[0][N.trainLoss],
      acc: out[0][N.trainAccuracy],
      val: out[0][N.valAccuracy],
      valLoss: out[0][N.valLoss],
    },
    { ips: 1234, loss: 0.5, acc: 0.9, val: 0.92, valLoss: 0.4 },
  );
  assert.equal(out[1][N.timeToFirstStep], 3.5);
  assert.equal(out[2][N.testAccuracy], 0.95);
  assert.deepEqual(
    out.slice(3).map((o) => o._aws.CloudWatchMetrics[0].Metrics[0].Name),
    [N.succeededJobs, N.retriedJobs, N.failedJobs, N.cancelledJobs],
  );
});
