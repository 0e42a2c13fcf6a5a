/** How a batch may be trained (./stepper.ts): a module of its own, so reading the config loads no tfjs. */
export const STEP_MODES = ['auto', 'layers', 'wasm', 'native'] as const;
export type StepMode = (typeof STEP_MODES)[number];
