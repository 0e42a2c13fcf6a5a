/**
 * Builds the oneDNN addon when it is missing (or was built from another oneDNN), for `npm start`:
 * `build.mjs --if-missing`, which is a no-op once built. Never throws: without a compiler, or when
 * the build fails, the trainer runs the wasm step, and the result says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeSettings } from './native-step';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ADDON_FILE = path.join(HERE, 'build', 'Release', 'lenet_native.node');

export function ensureNativeAddon(
  onStart: (line: string) => void = () => {},
  settings: NativeSettings = {},
): { ok: true; built: boolean } | { ok: false; reason: string } {
  if (settings.enabled === false) return { ok: false, reason: 'disabled by LENET_NATIVE=0' };
  const build = path.join(HERE, 'build.mjs');
  const check = spawnSync(process.execPath, [build, '--check'], { encoding: 'utf8' });
  if (check.status === 0) return { ok: true, built: false };
  if (check.status === 2) return { ok: false, reason: lastLine(check.stderr, check.status) };
  const existed = existsSync(ADDON_FILE);
  onStart(
    existed
      ? 'rebuilding the native training addon (oneDNN changed; npm run build:native)'
      : 'building the native training addon once: oneDNN 3.2 from PyPI into .venv-onednn/ (~40 MB), then g++ (npm run build:native)',
  );
  const run = spawnSync(process.execPath, [build, '--if-missing'], { encoding: 'utf8' });
  if (run.status === 0) return { ok: true, built: true };
  return { ok: false, reason: lastLine(run.stderr, run.status) };
}

function lastLine(stderr: string | null, status: number | null): string {
  const last = `${stderr ?? ''}`.trim().split('\n').filter(Boolean).at(-1) ?? `exit status ${status}`;
  return last.replace(/^build:native: /, '');
}
