import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadChooser } from '../../functions/trainer/steps/thread-chooser';
import { readStepSettings } from '../../functions/trainer/config';

/** Runs `steps` steps where a step on `threads` takes costOf(threads, step) ms per image; returns the threads used per step. */
function simulate(chooser: ThreadChooser, steps: number, costOf: (threads: number, step: number) => number): number[] {
  const used: number[] = [];
  for (let s = 0; s < steps; s++) {
    const threads = chooser.choose();
    chooser.record(threads, costOf(threads, s));
    used.push(threads);
  }
  return used;
}

const count = (xs: number[], x: number) => xs.filter((v) => v === x).length;

test('thread chooser: times every candidate, then keeps to the fastest, re-timing the other less and less often', () => {
  const chooser = new ThreadChooser({ candidates: [1, 2], window: 5, firstRecheck: 20, recheckEvery: 100, recheckSteps: 3 });
  const used = simulate(chooser, 600, (threads) => (threads === 2 ? 0.5 : 0.8));
  // The first 10 steps take turns; afterwards 1 thread is only re-timed, 3 steps at a time.
  assert.deepEqual(used.slice(0, 10).sort(), [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
  const starts = used.map((t, i) => (i >= 10 && t === 1 && used[i - 1] === 2 ? i : -1)).filter((i) => i >= 0);
  starts.forEach((start) => assert.deepEqual(used.slice(start, start + 4), [1, 1, 1, 2]));
  // Rechecks after 20, 40, 80, then every 100 steps on 2 threads.
  const gaps = [starts[0] - 10, ...starts.slice(1).map((s, i) => s - starts[i] - 3)];
  assert.deepEqual(gaps, [20, 40, 80, 100, 100, 100, 100]);
  assert.equal(chooser.takeUsage(), 2);
});

test('thread chooser: moves to the other choice when the current one slows down, and back', () => {
  const chooser = new ThreadChooser({ candidates: [1, 2], window: 5, firstRecheck: 10, recheckEvery: 50, recheckSteps: 3 });
  // 2 threads are fast until step 300 (a busy core from then on), then fast again from step 700.
  const busy = (s: number) => s >= 300 && s < 700;
  const used = simulate(chooser, 1000, (threads, s) => (threads === 1 ? 0.8 : busy(s) ? 1.0 : 0.5));
  assert.ok(count(used.slice(200, 300), 2) >= 90);
  assert.ok(count(used.slice(400, 700), 1) >= 270, `1 thread in the busy stretch: ${count(used.slice(400, 700), 1)}/300`);
  assert.ok(count(used.slice(800), 2) >= 180);
});

test('thread chooser: one outlier step does not flip the choice; usage counts reset', () => {
  const chooser = new ThreadChooser({ candidates: [1, 2], window: 5, recheckEvery: 1000 });
  simulate(chooser, 20, (threads) => (threads === 2 ? 0.5 : 0.8));
  chooser.takeUsage();
  const used = simulate(chooser, 10, (threads, s) => (threads === 2 && s === 0 ? 50 : threads === 2 ? 0.5 : 0.8));
  assert.deepEqual(used, Array(10).fill(2));
  assert.equal(chooser.takeUsage(), 2);
  assert.equal(chooser.takeUsage(), undefined);
  assert.throws(() => new ThreadChooser({ candidates: [] }), /at least one candidate/);
});

test('step settings from the environment: TRAINER_THREADS auto by default, a count, or a clear error; LENET_STEP; LENET_NATIVE', () => {
  const threads = (v?: string) => readStepSettings(v === undefined ? {} : { TRAINER_THREADS: v }).defaultThreads;
  assert.equal(threads(), 'auto');
  assert.equal(threads(''), 'auto');
  assert.equal(threads('auto'), 'auto');
  assert.equal(threads('2'), 2);
  for (const bad of ['0', '17', '1.5', 'two']) {
    assert.throws(
      () => threads(bad),
      new RegExp(`TRAINER_THREADS="${bad.replace('.', '\\.')}": must be 'auto' or a whole number from 1 to 16`),
    );
  }
  assert.deepEqual(readStepSettings({}), { mode: 'auto', defaultThreads: 'auto', native: { enabled: true, addonPath: undefined } });
  assert.deepEqual(readStepSettings({ LENET_STEP: 'wasm', LENET_NATIVE: '0', LENET_NATIVE_ADDON: '/x/lenet_native.node' }), {
    mode: 'wasm',
    defaultThreads: 'auto',
    native: { enabled: false, addonPath: '/x/lenet_native.node' },
  });
  assert.throws(() => readStepSettings({ LENET_STEP: 'fast' }), /LENET_STEP="fast"/);
  assert.throws(() => readStepSettings({ LENET_NATIVE: 'no' }), /LENET_NATIVE="no"/);
});

test('thread chooser with a recheck budget: a much slower choice is re-timed rarely, and still found again when it recovers', () => {
  const chooser = new ThreadChooser({ candidates: [1, 2], window: 7, recheckSteps: 4, recheckBudget: 0.02, maxRecheckGap: 2000 });
  // A busy machine: 2 OpenMP threads take 10x as long as 1 until step 6,000, then half as long.
  const cost = (threads: number, s: number) => (threads === 1 ? 1 : s < 6000 ? 10 : 0.5);
  const used = simulate(chooser, 9000, cost);
  const slowSteps = count(used.slice(1000, 6000), 2);
  // Each recheck is 4 steps at 9 extra units: within ~2% of the time of the 1-thread steps around them.
  const extra = (slowSteps * 9) / 5000;
  assert.ok(extra <= 0.03, `rechecks of the slow choice cost ${(100 * extra).toFixed(1)}% (${slowSteps} steps)`);
  assert.ok(slowSteps > 0, 'it is still re-timed');
  // Without a budget the same machine spends far more on rechecks.
  const plain = simulate(new ThreadChooser({ candidates: [1, 2], window: 7, recheckSteps: 4 }), 6000, cost);
  assert.ok(count(plain.slice(1000, 6000), 2) > 3 * slowSteps);
  // Once 2 threads are fast again, it moves to them within the longest gap.
  assert.ok(count(used.slice(6000 + 2000 + 50), 2) >= 0.95 * (9000 - 8050), `2 threads after recovery: ${count(used.slice(8050), 2)}`);
});
