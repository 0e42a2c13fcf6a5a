/** Shared-memory layout between ./parallel.ts and ./grad-thread.ts. */

/** Slots of the Int32 control block. */
export const CTRL = {
  /** Job sequence number; the main thread increments it to start a step. */
  seq: 0,
  /** The gradient thread copies `seq` here when the step's gradients are written. */
  done: 1,
  /** Examples in this step's share. */
  n: 2,
  /** Set by the main thread to end the gradient thread. */
  stop: 3,
  /** Set by the gradient thread when it is initialised. */
  ready: 4,
  /** Set by the gradient thread when a step (or start-up) failed; details on its stderr. */
  failed: 5,
  size: 8,
} as const;

/** Slots of the Float64 result block: the step's inputs from the main thread, its outputs back. */
export const RESULT = {
  /** Out: the share's summed loss. */
  lossSum: 0,
  /** Out: the share's correct predictions. */
  correct: 1,
  /** In: the gradients' scale (1 / the whole batch's size). */
  scale: 2,
  /** In: label smoothing. */
  labelSmoothing: 3,
  size: 4,
} as const;

export interface GradThreadInit {
  shapes: number[][];
  control: SharedArrayBuffer;
  /** All weights, flattened in model order. */
  weights: SharedArrayBuffer;
  /** The thread's gradients, same layout as `weights`. */
  grads: SharedArrayBuffer;
  /** The thread's share of the batch: pixels [n, 28, 28, 1]. */
  images: SharedArrayBuffer;
  /** Int32 labels of the share. */
  labels: SharedArrayBuffer;
  /** Float64, slots RESULT. */
  result: SharedArrayBuffer;
}
