import type { TrainingParams } from '../../../shared/schemas';

/** Share of a one-cycle run spent warming up. */
const ONECYCLE_WARMUP = 0.25;

/**
 * Learning rate for a 0-based epoch: constant (seed recipe) or cosine decay to 1% of the start.
 * 'onecycle' also depends on the position inside the epoch (`batchFraction`, 0 to 1).
 */
export function learningRateFor(
  params: Pick<TrainingParams, 'learningRate' | 'lrSchedule' | 'epochs'>,
  epoch: number,
  batchFraction = 0,
): number {
  if (params.lrSchedule === 'constant') return params.learningRate;
  if (params.lrSchedule === 'onecycle') {
    const progress = (epoch + batchFraction) / params.epochs;
    if (progress < ONECYCLE_WARMUP) return params.learningRate * (0.1 + 0.9 * (progress / ONECYCLE_WARMUP));
    const decay = (progress - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP);
    return params.learningRate * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, decay))));
  }
  const progress = params.epochs <= 1 ? 0 : epoch / (params.epochs - 1);
  return params.learningRate * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
