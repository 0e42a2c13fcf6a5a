import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { shimNodeUtilForTfjsNode } from './tfjs-node-shim';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/**
 * The default order, fastest training first, as measured on the routes each backend trains on
 * when the native addon is absent (wasm: the hand-written wasm step; tensorflow: trainOnBatch): see
 * docs/benchmarks.md, "Issue 19: tfjs-node against wasm".
 */
export const ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

const TFJS_NODE = '@tensorflow/tfjs-node';

/** A backend passed over on the way to the one chosen, and why. */
export interface Fallback {
  backend: string;
  reason: string;
  /** The backend is not installed (tfjs-node is an optional dependency): expected, not a failure. */
  absent?: boolean;
}

export interface BackendChoice {
  /** The backend now active. */
  name: string;
  /** Backends passed over in this call, in order. One passed over by an earlier call is skipped silently. */
  fallbacks: Fallback[];
}

/**
 * In Node the wasm backend finds its .wasm files next to its own script (__dirname); pointing it
 * at the installed package explicitly keeps that working when this code is bundled.
 */
function setWasmDir(): void {
  try {
    const wasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
    setWasmPaths(wasmDir + path.sep);
  } catch {
    // Not resolvable (e.g. bundled without node_modules) or already initialised: keep the default.
  }
}

function tfjsNodeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve(TFJS_NODE);
    return true;
  } catch {
    return false;
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}

/**
 * Runs a small matMul and add on the active backend and reads the result back. A backend can
 * initialise and still fail every op (tfjs-node 4.22 on Node >= 23 without the shim did), so
 * `setBackend` succeeding proves nothing. Returns why it failed, or undefined.
 */
export function checkBackendOp(): string | undefined {
  const want = [18, 40]; // [[1, 2], [3, 4]] x [[5], [6]] + 1
  try {
    const got = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6], [2, 1])), 1).dataSync());
    if (got.length !== want.length || want.some((v, i) => Math.abs(got[i]! - v) > 1e-4)) {
      return `a test matMul gave [${Array.from(got).join(', ')}] instead of [${want.join(', ')}]`;
    }
    return undefined;
  } catch (err) {
    return `a test op failed: ${firstLine(err)}`;
  }
}

/** Activates `name` and checks that it computes; a Fallback says why it cannot be used. */
async function tryBackend(name: string): Promise<Fallback | undefined> {
  try {
    if (name === 'tensorflow') {
      if (!tfjsNodeInstalled()) return { backend: name, reason: `${TFJS_NODE} is not installed`, absent: true };
      // Before tfjs-node runs any op: it calls node:util functions Node 23 removed.
      shimNodeUtilForTfjsNode();
      // Optional dependency: registers the 'tensorflow' backend. The specifier is kept in a
      // variable so bundlers and tsc don't require the package to exist.
      const tfjsNode = TFJS_NODE;
      await import(tfjsNode);
    }
    if (name === 'wasm') setWasmDir();
    if (!(await tf.setBackend(name))) return { backend: name, reason: 'it did not initialise' };
    await tf.ready();
    if (tf.getBackend() !== name) return { backend: name, reason: `tfjs activated '${tf.getBackend()}' instead` };
    const failed = checkBackendOp();
    return failed ? { backend: name, reason: failed } : undefined;
  } catch (err) {
    return { backend: name, reason: `it did not load: ${firstLine(err)}` };
  }
}

/** Backends that failed or are absent in this process, and why: not tried again. */
const broken = new Map<string, string>();
let queue: Promise<unknown> = Promise.resolve();

/**
 * Activates the first backend of `order` (default ORDER, with `preferred` (the trainer config's
 * TFJS_BACKEND) moved first) that loads and computes a real op correctly. Calls run one after another: racing
 * initialisations can leave a slower backend active. `order` may name any registered backend.
 */
export function chooseBackend(preferred?: BackendName, order: readonly string[] = ORDER): Promise<BackendChoice> {
  const wanted = preferred;
  const candidates = wanted && order.includes(wanted) ? [wanted, ...order.filter((b) => b !== wanted)] : order;
  const result = queue.then(async () => {
    const fallbacks: Fallback[] = [];
    for (const name of candidates) {
      if (broken.has(name)) continue;
      const failed = await tryBackend(name);
      if (!failed) return { name, fallbacks };
      fallbacks.push(failed);
      broken.set(name, failed.reason);
    }
    const why = candidates.filter((b) => broken.has(b)).map((b) => `${b}: ${broken.get(b)}`);
    throw new Error(`no tfjs backend could be initialised (${why.join('; ')})`);
  });
  queue = result.catch(() => undefined);
  return result;
}

/**
 * Activates the fastest available tfjs backend that works (see chooseBackend) and returns its name.
 * Fallbacks are not reported here; the trainer reports them (functions/trainer/steps/training-backend.ts).
 */
export async function initBackend(preferred?: BackendName): Promise<BackendName> {
  return (await chooseBackend(preferred)).name as BackendName;
}
