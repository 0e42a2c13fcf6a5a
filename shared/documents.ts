/**
 * The documents the system stores in the bucket, typed in one place: job status and progress
 * (jobs/), the served-model pointer (models/latest.json), checkpoint markers (checkpoints/, models/),
 * job leases (jobs/<id>.lease) and sweeps (sweeps/). Where each lives: shared/bucket-layout.ts.
 */
import type { InputNormalization } from './input-normalization';
import type { TrainingParams } from './schemas';
import type { ParamsPatch, SweepRequest } from './sweep';
import type { BatchSummary } from './batch-predict';

export type JobState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** The states a job never leaves. */
export const FINISHED_STATES: readonly JobState[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
export const isFinished = (state: JobState) => FINISHED_STATES.includes(state);

/**
 * A request to cancel a job (`jobs/<jobId>.cancel`), written once by POST /jobs/{id}/cancel and
 * never rewritten: the first request wins. The trainer reads it before starting the job and while
 * training; it is what makes a job end CANCELLED.
 */
export interface CancelRequest {
  jobId: string;
  /** The caller's IAM identity (its ARN where the API knows it). */
  requestedBy: string;
  requestedAt: string;
}

export interface EpochMetrics {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  learningRate: number;
  seconds: number;
  imagesPerSecond: number;
  backend: string;
  /**
   * The training step's route: 'native×auto', 'wasm×2', 'layers'… (functions/trainer/steps/stepper.ts).
   * Jobs recorded before the wasm route got its name say 'fast' for it: read it with routeName().
   */
  route?: string;
  /** Gradient threads used for most of the epoch's steps (wasm and native routes). */
  threads?: number;
  /** With the job parameter testEachEpoch: the test set's accuracy and loss after this epoch, and when they were known (ISO time). */
  testAccuracy?: number;
  testLoss?: number;
  testedAt?: string;
}

/** Where a running job is inside its current epoch (`jobs/<jobId>.progress`, rewritten every few seconds). */
export interface JobProgress {
  /** The epoch being trained, 1-based. */
  epoch: number;
  /** Batches of it done so far, of `batches`. */
  batch: number;
  batches: number;
  updatedAt: string;
}

/** The job status document kept at `jobs/<jobId>.json`. */
export interface JobStatus {
  jobId: string;
  status: JobState;
  params?: TrainingParams;
  createdAt: string;
  updatedAt: string;
  epoch?: number;
  totalEpochs?: number;
  metrics: EpochMetrics[];
  resumedFromEpoch?: number;
  /** Set when the job resumed from a mid-epoch checkpoint: batches of epoch resumedFromEpoch + 1 already done. */
  resumedFromBatch?: number;
  backend?: string;
  testAccuracy?: number;
  testLoss?: number;
  /** Test images testAccuracy was measured on, and whether they were the dataset's whole test set. */
  testImages?: number;
  fullTestSet?: boolean;
  modelPrefix?: string;
  promoted?: boolean;
  promotion?: string;
  reason?: string;
  attempts?: number;
  /** Set when the job ended CANCELLED: who asked and when (from its CancelRequest). */
  cancelledBy?: string;
  cancelledAt?: string;
  /** Only in GET /jobs/{id} answers, while a requested cancel has not taken effect yet. */
  cancelRequested?: CancelRequest;
  /** Only in GET /jobs/{id} answers, while the job is RUNNING: the current epoch's batches done. */
  progress?: JobProgress;
  /** The sweep the job belongs to (POST /sweeps); such a job is never promoted on its own. */
  sweepId?: string;
  /** The trainer (its lease owner name) running or last running the job. */
  trainer?: string;
  /** 'batch-predict' for a batch prediction (POST /batch-predictions); absent for training. */
  kind?: 'batch-predict';
  /** A batch prediction's request, and once it has finished its summary (shared/batch-predict.ts). */
  batch?: { input: string; output: string; modelJobId: string; objects: number } & Partial<BatchSummary>;
}

/** A sweep (`sweeps/<sweepId>.json`), written once by POST /sweeps before its jobs are queued. */
export interface SweepDoc {
  sweepId: string;
  createdAt: string;
  /** The request as accepted (shared/sweep.ts SweepRequest). */
  request: SweepRequest;
  promote: 'best' | 'none';
  /** One job per variant, in expansion order, with the variant's own choices (the base is in `request`). */
  variants: { jobId: string; params: ParamsPatch }[];
}

/** `sweeps/<sweepId>.promotion`: the claim of the one trainer that promotes a finished sweep's winner. */
export interface SweepPromotionClaim {
  sweepId: string;
  claimId: string;
  claimedBy: string;
  claimedAt: string;
  /** The variant chosen (shared/sweep.ts sweepWinner), or none with the reason. */
  winner?: string;
  reason?: string;
  /**
   * Set when POST /sweeps/{id}/cancel took the claim first: the sweep promotes nothing. The claim is
   * the one key a cancel and the last trainer both create, so exactly one of them wins.
   */
  cancelled?: { requestedBy: string; requestedAt: string };
}

/** `sweeps/<sweepId>.cancel`: a sweep's cancel, written once by POST /sweeps/{id}/cancel; no winner is promoted after it. */
export interface SweepCancel {
  sweepId: string;
  /** The caller's IAM identity, as a job's CancelRequest. */
  requestedBy: string;
  requestedAt: string;
  /** The jobs that had not finished when it was filed: each got its own cancel request. */
  jobIds: string[];
}

/** `sweeps/<sweepId>.promoted`: what the promotion did. */
export interface SweepPromotionOutcome {
  sweepId: string;
  winner?: string;
  promoted: boolean;
  reason: string;
  /** The served-model pointer it wrote, when promoted. */
  pointer?: LatestModel;
  at: string;
}

/** The pointer at `models/latest.json` to the model the prediction Lambda serves. */
export interface LatestModel {
  jobId: string;
  epoch: number;
  modelPrefix: string;
  testAccuracy: number;
  /** Test images testAccuracy was measured on (always the dataset's whole test set). */
  testImages?: number;
  promotedAt: string;
  /** Random id of the promotion that wrote this pointer (recognises a retried write as our own). */
  promotionId?: string;
  /** How the pointer got here (absent in pointers written before the history): see ServedModelChange. */
  from?: ServedModelRef;
  why?: ServedModelChangeReason;
  by?: string;
}

/** Why the served model changed: a better model (API or trainer), an administrator's override, a rollback. */
export type ServedModelChangeReason = 'promoted' | 'forced' | 'rollback';

export interface ServedModelRef {
  jobId: string;
  testAccuracy: number;
}

/**
 * One change of the served model (`models/history/<inverted ms>-<changeId>.json`), created once and
 * never rewritten. `changeId` and `at` are the new pointer's promotionId and promotedAt.
 */
export interface ServedModelChange {
  changeId: string;
  at: string;
  to: ServedModelRef;
  /** Absent for the first model served (or a pointer written before the history). */
  from?: ServedModelRef;
  why: ServedModelChangeReason;
  /** The caller's IAM identity (ARN), `trainer <id>` for the trainer's own promotion, or 'unknown'. */
  by: string;
}

/** Metadata written into every checkpoint's marker. */
export interface CheckpointInfo {
  jobId: string;
  epoch: number;
  backend: string;
  /** The training step's route (functions/trainer/steps/stepper.ts), when known. */
  route?: string;
  metrics?: EpochMetrics;
  /** Every complete epoch's metrics up to this checkpoint: a resume restores them even when the job record missed the last update. */
  history?: EpochMetrics[];
  testAccuracy?: number;
  testLoss?: number;
  /** Test images testAccuracy was measured on. */
  testImages?: number;
  /** True only when those were all of the dataset's test images; nothing else is ever served. */
  fullTestSet?: boolean;
  createdAt: string;
  /** Set when the weights expect standardised pixels (a checkpoint of a normalizeInputs job; never a final model). */
  inputNormalization?: InputNormalization;
  /** For a mid-epoch checkpoint: where in the epoch it was taken, with the epoch's running sums. */
  position?: TrainPosition;
  /** The lease fence of the trainer that wrote it (absent in checkpoints written before fencing). */
  fence?: number;
  /**
   * SHA-256 (hex) of model.json and weights.bin as this marker committed them. A loader checks them,
   * so a checkpoint whose files were rewritten after its marker (by a newer owner, half done) is never
   * loaded as a mix. Absent in checkpoints written before fencing.
   */
  files?: Record<string, string>;
}

/** A point inside training: `epoch` epochs complete and `batch` batches of the next one done. */
export interface TrainPosition {
  epoch: number;
  batch: number;
  /** The running sums of the partly done epoch, so its metrics come out as if it had not stopped. */
  lossSum: number;
  correct: number;
}

/**
 * A job lease (functions/trainer/lifecycle/lease.ts): which trainer holds a job, until when, and its fence.
 */
export interface LeaseDoc {
  jobId: string;
  owner: string;
  token: string;
  /** The owner's fencing token: grows with every new owner. Absent in leases written before fencing (read as 0). */
  fence?: number;
  messageId?: string;
  acquiredAt: string;
  expiresAt: string;
  /** Set by release(): the lease is free from `releasedAt` on, whatever `expiresAt` says. */
  released?: boolean;
  releasedAt?: string;
}

/** A recorded route under its current name: the wasm route was called 'fast' ('fast×2' is 'wasm×2'). */
export function routeName(route: string): string {
  return route.replace(/^fast(?=×|$)/, 'wasm');
}
