/**
 * The real tfjs-node, when it is in node_modules (local/tfjs-node/build.sh --install, or npm ci
 * with internet): on Node >= 23 its ops fail without shared/tfjs-node-shim.ts and the backend
 * check catches it; with the shim the default choice takes it and it computes. Each case runs in
 * its own process: the shim changes node:util for the whole process. Skips, saying why, when
 * tfjs-node is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const backendTs = path.join(repo, 'shared', 'backend.ts');
let skip: string | false = false;
try {
  createRequire(path.join(repo, 'package.json')).resolve('@tensorflow/tfjs-node');
} catch {
  skip = '@tensorflow/tfjs-node is not in node_modules (local/tfjs-node/build.sh --install puts it there)';
}
if (skip) console.log(`# tfjs-node-backend: skipped: ${skip}`);
const nodeMajor = Number(process.versions.node.split('.')[0]);

/** Runs an ES module snippet in a child Node with tsx; returns its last stdout line, parsed. */
function child(code: string, env: Record<string, string | undefined> = {}): Record<string, unknown> {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', code], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', TFJS_BACKEND: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

test('without the shim, tfjs-node initialises but its first op fails on Node >= 23, and the backend check says why', { skip }, () => {
  const got = child(`
    import { createRequire } from 'node:module';
    import * as tf from '@tensorflow/tfjs-core';
    const { checkBackendOp } = await import(${JSON.stringify(backendTs)});
    createRequire(${JSON.stringify(path.join(repo, 'package.json'))})('@tensorflow/tfjs-node');
    const initialised = await tf.setBackend('tensorflow');
    console.log(JSON.stringify({ initialised, backend: tf.getBackend(), failure: checkBackendOp() ?? null }));
  `);
  assert.equal(got.initialised, true);
  assert.equal(got.backend, 'tensorflow');
  if (nodeMajor >= 23) assert.match(String(got.failure), /a test op failed: .*isNullOrUndefined\) is not a function/);
  else assert.equal(got.failure, null, `Node ${process.version} still has util.isNullOrUndefined`);
});

test('the default backend choice shims, loads and verifies tfjs-node and trains a step on it', { skip }, () => {
  const got = child(`
    import * as tf from '@tensorflow/tfjs-core';
    const { chooseBackend, ORDER } = await import(${JSON.stringify(backendTs)});
    const choice = await chooseBackend();
    const { buildLeNet5 } = await import(${JSON.stringify(path.join(repo, 'shared', 'model.ts'))});
    const model = buildLeNet5({ seed: 1 });
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10);
    const loss = await model.trainOnBatch(x, y);
    const probs = model.predict(x).sum(1).dataSync();
    console.log(JSON.stringify({ choice, order: ORDER, backend: tf.getBackend(), loss, probs: Array.from(probs) }));
  `);
  const order = got.order as string[];
  const choice = got.choice as { name: string; fallbacks: unknown[] };
  assert.equal(choice.name, order[0], 'the first backend of ORDER');
  assert.deepEqual(choice.fallbacks, []);
  assert.equal(got.backend, choice.name);
  const loss = Array.isArray(got.loss) ? (got.loss as number[])[0]! : (got.loss as number);
  assert.ok(Number.isFinite(loss) && loss > 0, `trainOnBatch loss ${got.loss}`);
  for (const p of got.probs as number[]) assert.ok(Math.abs(p - 1) < 1e-4, `softmax rows sum to 1: ${p}`);
});

test("preferring 'tensorflow' (the trainer config's TFJS_BACKEND) picks tfjs-node whatever the default order", { skip }, () => {
  const got = child(
    `
    import * as tf from '@tensorflow/tfjs-core';
    const { chooseBackend } = await import(${JSON.stringify(backendTs)});
    const choice = await chooseBackend('tensorflow');
    console.log(JSON.stringify({ choice, sum: Array.from(tf.add(tf.tensor1d([1, 2]), 3).dataSync()) }));
  `,
  );
  assert.deepEqual(got.choice, { name: 'tensorflow', fallbacks: [] });
  assert.deepEqual(got.sum, [4, 5]);
});
