/**
 * What a job may cost, and whether it can run at all, from its parameters and the dataset's image
 * counts. The trainer enforces it on every job before training (run-job.ts), which every job passes,
 * whether it came through POST /jobs or straight to SQS; POST /jobs checks it first too, to answer 400
 * before anything is queued.
 */
import type { TrainingParams } from './schemas';

/**
 * The most gradient steps (batches) one job may take: 100 epochs of all 60,000 MNIST training
 * images at batch 32. Steps, not images, because a step's fixed cost dominates at small batches.
 */
export const MAX_JOB_STEPS = 100 * Math.ceil(60_000 / 32);

export interface DatasetCounts {
  trainImages: number;
  testImages: number;
}

/** MNIST's counts: what the trainer seeds at the default prefix when a job finds it empty. */
export const MNIST_COUNTS: DatasetCounts = { trainImages: 60_000, testImages: 10_000 };

/** The training images left after the subset and the validation split (as train.ts splits). */
export function trainingImages(params: Pick<TrainingParams, 'trainSubset' | 'validationSplit'>, counts: DatasetCounts): number {
  const used = Math.min(params.trainSubset ?? counts.trainImages, counts.trainImages);
  return used - Math.floor(used * params.validationSplit);
}

/** Gradient steps a job takes: epochs × batches per epoch. */
export function jobSteps(
  params: Pick<TrainingParams, 'epochs' | 'batchSize' | 'trainSubset' | 'validationSplit'>,
  counts: DatasetCounts,
): number {
  return params.epochs * Math.ceil(trainingImages(params, counts) / params.batchSize);
}

/** Every reason the job cannot or may not run; empty when it may. */
export function jobProblems(params: TrainingParams, counts: DatasetCounts): string[] {
  const problems: string[] = [];
  const train = trainingImages(params, counts);
  if (train < 1) {
    problems.push(
      `no training images are left: ${Math.min(params.trainSubset ?? counts.trainImages, counts.trainImages)} images with validationSplit ${params.validationSplit}`,
    );
    return problems;
  }
  if (params.batchSize > train) problems.push(`batchSize ${params.batchSize} is larger than the ${train} training images`);
  if (typeof params.threads === 'number' && params.threads > Math.min(train, params.batchSize)) {
    problems.push(`threads ${params.threads} is more than the ${Math.min(train, params.batchSize)} images of a batch`);
  }
  if (params.testSubset !== undefined && params.testSubset > counts.testImages) {
    problems.push(`testSubset ${params.testSubset} is more than the dataset's ${counts.testImages} test images`);
  }
  const steps = jobSteps(params, counts);
  if (steps > MAX_JOB_STEPS) {
    problems.push(
      `the job would take ${steps} steps (epochs ${params.epochs} × ${Math.ceil(train / params.batchSize)} batches of ${params.batchSize}); ` +
        `the limit is ${MAX_JOB_STEPS} (100 epochs of 60,000 images at batch 32): fewer epochs, a larger batchSize or a trainSubset`,
    );
  }
  return problems;
}

/** A job that cannot or may not run: permanent, so it is never retried. */
export class JobRefusedError extends Error {
  constructor(readonly problems: string[]) {
    super(`Job refused: ${problems.join('; ')}.`);
    this.name = 'JobRefusedError';
  }
}

/** Throws JobRefusedError with every reason the job cannot or may not run. */
export function assertJobAllowed(params: TrainingParams, counts: DatasetCounts): void {
  const problems = jobProblems(params, counts);
  if (problems.length > 0) throw new JobRefusedError(problems);
}
