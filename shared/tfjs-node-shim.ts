/**
 * Restores the `node:util` functions that @tensorflow/tfjs-node 4.22.0 (the newest release) calls
 * and Node 23 removed, so that its ops run on Node >= 23. Without them the package loads and its
 * backend initialises, but every op throws `(0 , util_1.isNullOrUndefined) is not a function`
 * (tensorflow/tfjs#8609; fixed upstream by tensorflow/tfjs#8425, not yet released).
 *
 * tfjs-node's own code (dist/nodejs_kernel_backend.js, dist/kernels/TopK.js) uses exactly two:
 * `util.isNullOrUndefined` (removed in Node 23) and `util.isArray` (deprecated, still present in
 * Node 24). Each is added only when missing, with Node's own former definition; nothing that exists
 * is replaced. Remove this module once a tfjs-node release without these calls is pinned.
 */
import { createRequire } from 'node:module';

type LegacyUtil = Record<string, unknown>;

const LEGACY: Record<string, (value: unknown) => boolean> = {
  isNullOrUndefined: (value) => value === null || value === undefined,
  isArray: (value) => Array.isArray(value),
};

/**
 * Adds the missing functions to the `util` module object that CommonJS code gets from
 * `require('util')` (the same object as `node:util`). Call before tfjs-node runs an op; idempotent.
 * Returns the names it added (empty on Node < 23, or when already applied).
 */
export function shimNodeUtilForTfjsNode(): string[] {
  const util = createRequire(import.meta.url)('node:util') as LegacyUtil;
  const added: string[] = [];
  for (const [name, fn] of Object.entries(LEGACY)) {
    if (typeof util[name] === 'function') continue;
    util[name] = fn;
    added.push(name);
  }
  return added;
}
