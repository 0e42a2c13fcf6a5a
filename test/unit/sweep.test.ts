/** shared/sweep.ts: the request schema, expansion and its caps, ranking, and the promote-best decision. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_JOB_STEPS, MNIST_COUNTS } from '../../shared/job-limits';
import {
  expandSweep,
  type RankInput,
  rankVariants,
  SWEEP_MAX_VARIANTS,
  SweepRefusedError,
  SweepRequest,
  sweepDatasetPrefixes,
  sweepSize,
  sweepWinner,
} from '../../shared/sweep';

const parse = (body: unknown) => SweepRequest.parse(body);
const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SweepRefusedError, String(err));
    return err.message;
  }
  assert.fail('not refused');
};

test('a grid expands to every combination in a stable order: schema order of the parameters, the last one fastest', () => {
  // Sent in another key order: the schema's order (learningRate, labelSmoothing, seed) decides.
  const req = parse({ grid: { seed: [1, 2], labelSmoothing: [0, 0.1], learningRate: [0.0005, 0.001] }, base: { epochs: 2 } });
  const variants = expandSweep(req, MNIST_COUNTS);
  assert.equal(variants.length, 8);
  assert.deepEqual(
    variants.map((v) => [v.patch.learningRate, v.patch.labelSmoothing, v.patch.seed]),
    [
      [0.0005, 0, 1],
      [0.0005, 0, 2],
      [0.0005, 0.1, 1],
      [0.0005, 0.1, 2],
      [0.001, 0, 1],
      [0.001, 0, 2],
      [0.001, 0.1, 1],
      [0.001, 0.1, 2],
    ],
  );
  assert.deepEqual(
    variants.map((v) => v.index),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  // The patch is the variant's own choices; params are complete, with the base and the defaults.
  assert.deepEqual(Object.keys(variants[0].patch).sort(), ['labelSmoothing', 'learningRate', 'seed']);
  assert.equal(variants[0].params.epochs, 2);
  assert.equal(variants[0].params.batchSize, 32);
});

test('a list of variants keeps its order, and a variant overrides the base', () => {
  const req = parse({ variants: [{ seed: 5 }, { seed: 6, epochs: 3 }], base: { epochs: 1, seed: 9 } });
  const variants = expandSweep(req, MNIST_COUNTS);
  assert.deepEqual(
    variants.map((v) => [v.params.seed, v.params.epochs]),
    [
      [5, 1],
      [6, 3],
    ],
  );
});

test('the request schema: exactly one of grid and variants, known parameters, valid values, no empty lists', () => {
  const bad = (body: unknown) => SweepRequest.safeParse(body).success;
  assert.equal(bad({ grid: { seed: [1] }, variants: [{ seed: 1 }] }), false);
  assert.equal(bad({}), false);
  assert.equal(bad({ grid: {} }), false);
  assert.equal(bad({ grid: { seed: [] } }), false);
  assert.equal(bad({ grid: { colour: [1, 2] } }), false);
  assert.equal(bad({ grid: { learningRate: [0.001, -1] } }), false);
  assert.equal(bad({ variants: [] }), false);
  assert.equal(bad({ variants: [{ seed: 1, priority: 'high' }] }), false);
  assert.equal(bad({ grid: { seed: [1] }, promote: 'all' }), false);
  assert.equal(bad({ grid: { seed: [1] }, extra: true }), false);
  assert.equal(parse({ grid: { seed: [1, 2] } }).promote, 'none');
  assert.equal(parse({ variants: [{}], promote: 'best' }).promote, 'best');
});

test('the size cap is checked on the product of the choices before anything is expanded, and the 400 states both', () => {
  // 50,000 combinations: refused from the counts alone, never expanded.
  const values = Array.from({ length: 10 }, (_, i) => i + 1);
  const huge = parse({ grid: { seed: values, epochs: values, batchSize: values, augmentShift: [0, 1, 2, 3, 4], trainSubset: values } });
  assert.equal(sweepSize(huge).size, 50_000);
  const started = performance.now();
  const message = refusal(() => expandSweep(huge, MNIST_COUNTS));
  assert.ok(performance.now() - started < 50, 'refused without expanding');
  assert.match(message, /epochs 10 × batchSize 10 × augmentShift 5 × seed 10 × trainSubset 10 = 50000 combinations/);
  assert.match(message, new RegExp(`limit is ${SWEEP_MAX_VARIANTS} variants`));
  // At the cap is fine; one over is not.
  const atCap = parse({ grid: { seed: [1, 2, 3, 4], learningRate: [0.001, 0.002, 0.003, 0.004] }, base: { epochs: 1 } });
  assert.equal(expandSweep(atCap, MNIST_COUNTS).length, 16);
  const over = parse({ variants: Array.from({ length: 17 }, (_, i) => ({ seed: i })) });
  assert.match(
    refusal(() => expandSweep(over, MNIST_COUNTS)),
    /17 variants; the limit is 16/,
  );
});

test('a variant over the per-job compute cap refuses the whole sweep, naming the variant', () => {
  const req = parse({ grid: { epochs: [2, 100], batchSize: [1, 64] } });
  const message = refusal(() => expandSweep(req, MNIST_COUNTS));
  // epochs 100 at batch 1 is 5.4M steps; every other combination is within the cap.
  assert.match(message, /variant 3 \(epochs=100, batchSize=1\): the job would take \d+ steps/);
  assert.match(message, new RegExp(`limit is ${MAX_JOB_STEPS}`));
  assert.doesNotMatch(message, /variant [124]/);
});

test('a variant the dataset cannot run, or that repeats another, refuses the sweep', () => {
  const small = { trainImages: 500, testImages: 100 };
  assert.match(
    refusal(() => expandSweep(parse({ grid: { testSubset: [50, 200] } }), small)),
    /variant 2 \(testSubset=200\): testSubset 200 is more than the dataset's 100 test images/,
  );
  assert.match(
    refusal(() => expandSweep(parse({ variants: [{ seed: 42 }, {}] }), MNIST_COUNTS)),
    /variant 2 \(\(base only\)\) is the same job as variant 1/,
  );
});

const job = (jobId: string, extra: Partial<RankInput> = {}): RankInput => ({ jobId, status: 'SUCCEEDED', fullTestSet: true, ...extra });

test('ranking: scored jobs by test accuracy, ties by the lower loss; then the others by best validation accuracy', () => {
  const ranked = rankVariants([
    job('running-low', { status: 'RUNNING', metrics: [{ valAccuracy: 0.5 }, { valAccuracy: 0.6 }] }),
    job('b', { testAccuracy: 0.95, testLoss: 0.2 }),
    job('failed', { status: 'FAILED' }),
    job('a', { testAccuracy: 0.97, testLoss: 0.3 }),
    job('c', { testAccuracy: 0.95, testLoss: 0.1 }),
    job('running-high', { status: 'RUNNING', metrics: [{ valAccuracy: 0.9 }] }),
    job('queued', { status: 'QUEUED' }),
  ]);
  assert.deepEqual(
    ranked.map((j) => j.jobId),
    ['a', 'c', 'b', 'running-high', 'running-low', 'failed', 'queued'],
  );
});

test('promote best: waits for every variant to end, then picks the whole-test-set best, ties by the lower loss', () => {
  assert.deepEqual(sweepWinner([job('a', { testAccuracy: 0.9 }), job('b', { status: 'RUNNING' }), job('c', { status: undefined })]), {
    ready: false,
    pending: ['b', 'c'],
  });
  const tie = sweepWinner([
    job('a', { testAccuracy: 0.95, testLoss: 0.2 }),
    job('b', { testAccuracy: 0.95, testLoss: 0.1 }),
    job('f', { status: 'FAILED' }),
    // The highest accuracy, but on a testSubset: never promoted.
    job('subset', { testAccuracy: 0.99, testLoss: 0.01, fullTestSet: false }),
  ]);
  assert.deepEqual(tie, { ready: true, winner: 'b', testAccuracy: 0.95, testLoss: 0.1 });
  // Any end state counts as ended (e.g. a cancelled job), not only SUCCEEDED and FAILED.
  assert.equal(sweepWinner([job('a', { testAccuracy: 0.9 }), job('x', { status: 'CANCELLED' })]).ready, true);
  const none = sweepWinner([job('f', { status: 'FAILED' })]);
  assert.equal(none.ready && none.winner, undefined);
  assert.match((none as { reason: string }).reason, /no variant succeeded/);
  const subsetOnly = sweepWinner([job('s', { testAccuracy: 0.99, fullTestSet: false })]);
  assert.match((subsetOnly as { reason: string }).reason, /whole test set/);
});

test('the datasets a sweep trains on, each once, so the API counts each dataset once', () => {
  assert.deepEqual(sweepDatasetPrefixes(parse({ grid: { seed: [1, 2] } })), ['datasets/mnist/']);
  assert.deepEqual(sweepDatasetPrefixes(parse({ grid: { seed: [1, 2] }, base: { datasetPrefix: 'datasets/a/' } })), ['datasets/a/']);
  assert.deepEqual(sweepDatasetPrefixes(parse({ grid: { datasetPrefix: ['datasets/a/', 'datasets/b/'], seed: [1, 2] } })), [
    'datasets/a/',
    'datasets/b/',
  ]);
  assert.deepEqual(
    sweepDatasetPrefixes(
      parse({ variants: [{ seed: 1 }, { datasetPrefix: 'datasets/b/' }, { seed: 2 }], base: { datasetPrefix: 'datasets/a/' } }),
    ),
    ['datasets/a/', 'datasets/b/'],
  );
  // Each variant is checked against its own dataset's counts.
  const counts = (prefix: string) => (prefix === 'datasets/b/' ? { trainImages: 100, testImages: 10 } : MNIST_COUNTS);
  assert.match(
    refusal(() => expandSweep(parse({ grid: { datasetPrefix: ['datasets/a/', 'datasets/b/'] }, base: { testSubset: 50 } }), counts)),
    /variant 2 \(datasetPrefix="datasets\/b\/"\): testSubset 50 is more than the dataset's 10 test images/,
  );
});
