/** The trainer's tfjs backend: the shared backend choice plus the project's wasm gradient kernels. */
import { initBackend, type BackendName } from '../../shared/backend';
import { registerWasmTrainingKernels } from './wasm/wasm-kernels';

/** Registers the wasm training kernels (idempotent), then activates the backend as `initBackend` does. */
export function initTrainingBackend(preferred?: BackendName): Promise<BackendName> {
  registerWasmTrainingKernels();
  return initBackend(preferred);
}
