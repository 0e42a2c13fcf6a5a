import { z } from 'zod';
import { DEFAULT_DATASET_PREFIX } from './bucket-layout';

/** A gradient thread count: 'auto' or 1 to 16. */
export const GradientThreads = z.union([
  z.literal('auto', { error: "must be 'auto' or a whole number from 1 to 16" }),
  z.number().int().min(1).max(16),
]);

/** The learning-rate schedules a job may name (see TrainingParams.lrSchedule). */
export const LR_SCHEDULES = ['constant', 'cosine', 'onecycle'] as const;

/** Hyperparameters of a training job, with defaults and bounds. */
export const TrainingParams = z.strictObject({
  epochs: z.number().int().min(1).max(100).default(20),
  batchSize: z.number().int().min(1).max(1024).default(32),
  /**
   * Adam's (peak) rate. 0.0005 with the cosine schedule ends higher than 0.001 (Keras' default, the
   * Keras recipe's) in every run so far: docs/benchmarks.md, the recipes table.
   */
  learningRate: z.number().positive().max(1).default(0.0005),
  /**
   * `constant` is the Keras recipe's (Adam at a fixed rate). `cosine` decays the rate
   * to 1% of its start over the run, which closes the gap to 99% test accuracy. `onecycle`
   * (for short runs with large batches) changes the rate every batch: a linear warm-up from 10%
   * to the peak `learningRate` over the first quarter of the run, then cosine decay to 1%.
   */
  lrSchedule: z.enum(LR_SCHEDULES).default('cosine'),
  /**
   * Train on standardised pixels, (x − mean) / std with MNIST's training-set figures: higher test
   * accuracy early (docs/benchmarks.md, the recipe search). The final model has it folded into
   * conv1, so it takes raw pixels like any other (shared/input-normalization.ts).
   */
  normalizeInputs: z.boolean().optional(),
  /**
   * Train against one-hot labels smoothed towards uniform by this much (Keras' label_smoothing):
   * 0.1 moves 10% of each target to the other classes. The reported training loss stays
   * plain cross-entropy (smoothed on the 'layers' route, as Keras reports it).
   */
  labelSmoothing: z.number().min(0).max(0.5).optional(),
  /** Data augmentation: shift each training image by up to N pixels per axis. 0 is the Keras recipe's. */
  augmentShift: z.number().int().min(0).max(4).default(2),
  validationSplit: z.number().min(0).max(0.5).default(0.1),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(42),
  /**
   * Data-parallel gradient threads on the portable wasm backend: each computes the gradients of
   * an equal share of every batch. 'auto' times 1 and 2+ threads as it trains and uses the
   * faster, so a busy core does not slow it down; a number fixes the count (bit-exact reruns).
   * Unset: env TRAINER_THREADS, else 'auto'. Ignored on other backends.
   */
  threads: GradientThreads.optional(),
  /** Train on the first N training images only (fast trials and tests). */
  trainSubset: z.number().int().min(1).max(10_000_000).optional(),
  /** Evaluate on the first N test images only. */
  testSubset: z.number().int().min(1).max(10_000_000).optional(),
  /**
   * Also evaluate on the test set (or testSubset) after every epoch, recording testAccuracy,
   * testLoss and testedAt in that epoch's metrics: for time-to-accuracy measurements
   * (test/bench/time-to-99.ts). Costs one forward pass over the test images per epoch.
   */
  testEachEpoch: z.boolean().optional(),
  datasetPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._\-/]+\/$/, 'must be an S3 key prefix of letters, digits, . _ - / ending in "/"')
    .refine((p) => !p.includes('..') && !p.startsWith('/'), 'must not contain ".." or start with "/"')
    .default(DEFAULT_DATASET_PREFIX),
});
/** Training params as parsed: defaults filled in. */
export type TrainingParams = z.infer<typeof TrainingParams>;
/** Training params as a client may send them: every field optional. */
export type TrainingParamsInput = z.input<typeof TrainingParams>;

export const JobId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "-" or "_"');

export const SweepId = z.string().regex(/^sweep-[A-Za-z0-9_-]{1,58}$/, 'must be "sweep-" and 1-58 letters, digits, "-" or "_"');

/** The body of a message on the training-job queue. */
export const JobMessage = z.strictObject({
  jobId: JobId,
  params: TrainingParams,
  submittedAt: z.string().optional(),
  /** Set on a sweep's jobs (POST /sweeps): the sweep, not the job, decides promotion. */
  sweepId: SweepId.optional(),
});
export type JobMessage = z.infer<typeof JobMessage>;

type Issue = z.core.$ZodIssue;

/**
 * Turns a zod error into one line a person can act on. For a union, only the branch that came
 * closest to matching (fewest issues) is described, instead of every alternative.
 */
export function describeZodError(error: z.ZodError, maxIssues = 3): string {
  const issues = closestIssues(error.issues, []);
  const lines = issues.slice(0, maxIssues).map((issue) => `${issue.path.length ? issue.path.join('.') : 'body'}: ${issue.message}`);
  if (issues.length > maxIssues) lines.push(`and ${issues.length - maxIssues} more`);
  return lines.join('; ');
}

function closestIssues(issues: readonly Issue[], prefix: PropertyKey[]): Issue[] {
  return issues.flatMap((issue): Issue[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const branches = issue.errors.map((branch) => closestIssues(branch, path));
      return branches.reduce((best, branch) => (branch.length < best.length ? branch : best));
    }
    return [{ ...issue, path }];
  });
}
