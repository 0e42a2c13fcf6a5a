import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const ORDER: BackendName[] = ['tensorflow', 'wasm', 'cpu'];

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

async function tryBackend(name: BackendName): Promise<boolean> {
  try {
    if (name === 'tensorflow') {
      // Optional dependency: registers the 'tensorflow' backend when installed. The specifier is
      // kept in a variable so bundlers and tsc don't require the package to exist.
      const tfjsNode = '@tensorflow/tfjs-node';
      await import(tfjsNode);
    }
    if (name === 'wasm') {
      setWasmDir();
    }
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Activates the fastest available tfjs backend: `preferred` (or env TFJS_BACKEND) first, then
 * tfjs-node ('tensorflow'), wasm, cpu. Returns the name of the backend now active.
 * Calls run one after another: racing initialisations can leave a slower backend active.
 */
export function initBackend(preferred?: BackendName): Promise<BackendName> {
  const wanted = preferred ?? (process.env.TFJS_BACKEND as BackendName | undefined);
  const order = wanted && ORDER.includes(wanted) ? [wanted, ...ORDER.filter((b) => b !== wanted)] : ORDER;
  const result = queue.then(async () => {
    for (const name of order) {
      if (await tryBackend(name)) return name;
    }
    throw new Error('no tfjs backend could be initialised');
  });
  queue = result.catch(() => undefined);
  return result;
}
