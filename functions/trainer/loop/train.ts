import type * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from '../../../shared/idx';
import { setLearningRate } from '../../../shared/model';
import type { TrainingParams } from '../../../shared/schemas';
import { batchArrays, seededRandom, shuffledIndices, splitValidation } from './data';
import { evaluate } from './evaluate';
import { learningRateFor } from './schedule';
import { createStepper } from '../steps/stepper';
import type { StepMode } from '../steps/step-modes';
import type { NativeSettings } from '../steps/native/native-step';
import type { EpochMetrics, TrainPosition } from '../../../shared/documents';

export interface TrainHooks {
  /** Called after every complete epoch; a checkpoint is written here. */
  onEpochEnd?(metrics: EpochMetrics): Promise<void>;
  onBatchEnd?(epoch: number, batch: number, batches: number): void;
  /** Polled between batches; when true, training stops before the next batch. */
  shouldStop?(): boolean;
  /** Called when training stops early (shouldStop), with where it stopped; a mid-epoch checkpoint is written here. */
  onStop?(at: TrainPosition): Promise<void>;
  /** Called once the training route is chosen (e.g. 'native×auto', 'wasm×2'), with why a faster one was not taken. */
  onRoute?(route: string, fallback?: string): void;
}

export interface TrainOptions {
  params: TrainingParams;
  backend: string;
  /** Number of epochs already done (resume point). */
  startEpoch?: number;
  /** Resume inside an epoch (from a mid-epoch checkpoint); takes precedence over startEpoch. */
  resumeAt?: TrainPosition;
  hooks?: TrainHooks;
  /**
   * How a batch is trained: 'layers' (model.trainOnBatch), 'wasm' (hand-written LeNet-5 step,
   * wasm backend only), 'native' (the same step on oneDNN, ../steps/native/) or 'auto' (native, else wasm, when
   * possible). Default 'auto'.
   */
  step?: StepMode;
  /** Whether and from where the native step loads its addon (the trainer config's LENET_NATIVE). */
  native?: NativeSettings;
  /** Gradient threads when the job sets none (the trainer config's TRAINER_THREADS). Default 'auto'. */
  defaultThreads?: number | 'auto';
}

export type TrainOutcome = 'completed' | 'stopped';

/** Trains epoch by epoch from `startEpoch`, calling the hooks after every epoch. */
export async function train(model: tfl.LayersModel, data: Dataset, opts: TrainOptions): Promise<TrainOutcome> {
  const { params, backend, hooks = {} } = opts;
  const { train: trainSet, validation } = splitValidation(data, params.validationSplit);
  const batches = Math.ceil(trainSet.count / params.batchSize);
  const stepper = await createStepper(model, {
    mode: opts.step,
    native: opts.native,
    threads: params.threads ?? opts.defaultThreads ?? 'auto',
    maxBatch: params.batchSize,
    labelSmoothing: params.labelSmoothing,
  });
  hooks.onRoute?.(stepper.name, stepper.fallback);
  try {
    for (let epoch = opts.resumeAt?.epoch ?? opts.startEpoch ?? 0; epoch < params.epochs; epoch++) {
      const learningRate = learningRateFor(params, epoch);
      setLearningRate(model, learningRate);
      const order = shuffledIndices(trainSet.count, params.seed * 1000 + epoch);
      const augment =
        params.augmentShift > 0 ? { random: seededRandom(params.seed * 1000 + epoch + 500), maxShift: params.augmentShift } : undefined;
      const resume = opts.resumeAt?.epoch === epoch ? opts.resumeAt : undefined;
      const firstBatch = resume?.batch ?? 0;
      // Replay the augmentation draws of the batches already done, so the rest of the epoch is identical.
      for (let b = 0; augment && b < firstBatch; b++)
        batchArrays(trainSet, order.subarray(b * params.batchSize, (b + 1) * params.batchSize), augment);
      const started = performance.now();
      let lossSum = resume?.lossSum ?? 0;
      let correct = resume?.correct ?? 0;
      let yielded = performance.now();
      for (let b = firstBatch; b < batches; b++) {
        // The wasm step blocks the main thread (Atomics.wait), so let timers and signal handlers run
        // now and then: the SQS/lease heartbeat and SIGTERM must not wait for the end of the epoch.
        if (performance.now() - yielded > 200) {
          await new Promise((resolve) => setImmediate(resolve));
          yielded = performance.now();
        }
        if (hooks.shouldStop?.()) {
          stepper.sync();
          await hooks.onStop?.({ epoch, batch: b, lossSum, correct });
          return 'stopped';
        }
        if (params.lrSchedule === 'onecycle') setLearningRate(model, learningRateFor(params, epoch, b / batches));
        const batch = batchArrays(trainSet, order.subarray(b * params.batchSize, (b + 1) * params.batchSize), augment);
        const result = await stepper.step(batch);
        lossSum += result.lossSum;
        correct += result.correct;
        hooks.onBatchEnd?.(epoch, b + 1, batches);
      }
      const seconds = (performance.now() - started) / 1000;
      stepper.sync();
      const val = validation ? await evaluate(model, validation, opts.native) : undefined;
      await hooks.onEpochEnd?.({
        epoch: epoch + 1,
        loss: lossSum / trainSet.count,
        accuracy: correct / trainSet.count,
        valLoss: val?.loss,
        valAccuracy: val?.accuracy,
        learningRate,
        seconds,
        imagesPerSecond: Math.max(1, trainSet.count - firstBatch * params.batchSize) / seconds,
        backend,
        route: stepper.name,
        threads: stepper.takeThreadsUsed(),
      });
    }
  } finally {
    await stepper.dispose();
  }
  return 'completed';
}
