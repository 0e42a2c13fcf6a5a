/** The trainer's tfjs backend: the shared backend choice plus the project's wasm gradient kernels. */
import { type BackendName, chooseBackend, type Fallback } from '../../../shared/backend';
import { makeLogger } from '../../../shared/log';
import { registerWasmTrainingKernels } from './wasm/wasm-kernels';

export interface TrainingBackendOptions {
  /** Candidate backends in order (default: shared/backend.ts's ORDER); tests pass a broken one. */
  order?: readonly string[];
  /** Where the fallback line goes (default: the trainer's structured log). */
  report?: (message: string, details: { backend: string; fallbacks: Fallback[] }) => void;
}

let logger: ReturnType<typeof makeLogger> | undefined;

function logFallback(message: string, details: { backend: string; fallbacks: Fallback[] }): void {
  logger ??= makeLogger('trainer');
  if (details.fallbacks.some((f) => !f.absent)) logger.warn(message, details);
  else logger.info(message, details);
}

/** One line: which backend the trainer fell back to, and why each one before it was passed over. */
export function fallbackMessage(backend: string, fallbacks: Fallback[]): string {
  return `tfjs backend: using ${backend}; ${fallbacks.map((f) => `${f.backend} ${f.absent ? 'unavailable' : 'failed'}: ${f.reason}`).join('; ')}`;
}

/**
 * Registers the wasm training kernels (idempotent), then activates the first backend that loads
 * and runs a real op (shared/backend.ts). When it had to pass over one, says so in one line: a
 * broken backend is never retried in this process, so the line comes once.
 */
export async function initTrainingBackend(preferred?: BackendName, opts: TrainingBackendOptions = {}): Promise<BackendName> {
  registerWasmTrainingKernels();
  const { name, fallbacks } = await chooseBackend(preferred, opts.order);
  if (fallbacks.length > 0) (opts.report ?? logFallback)(fallbackMessage(name, fallbacks), { backend: name, fallbacks });
  return name as BackendName;
}
