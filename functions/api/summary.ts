/**
 * GET /summary: what anonymous visitors of the page may see. The served model's card and the newest
 * job's progress and curves, built field by field from allowlists, so job parameters, error text
 * and anything added to the status documents later stay private unless added here on purpose.
 */
import { JobStore } from '../../shared/job-store';
import { readLatestPointer } from '../../shared/promotion';
import type { Bucket } from '../../shared/s3-objects';
import type { EpochMetrics, JobState, JobStatus, ServedModelChangeReason } from '../../shared/documents';

/** One epoch of a curve: train and validation loss and accuracy, nothing about how it was trained. */
export interface PublicEpoch {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}

export interface PublicJob {
  jobId: string;
  status: JobState;
  createdAt: string;
  updatedAt: string;
  /** Epochs done, of totalEpochs. */
  epoch: number;
  totalEpochs?: number;
  /** While RUNNING: batches done of the epoch being trained. */
  progress?: { epoch: number; batch: number; batches: number };
  testAccuracy?: number;
  metrics: PublicEpoch[];
}

export interface ModelCard {
  jobId: string;
  /** Epochs the served model was trained for. */
  epoch: number;
  testAccuracy: number;
  /** How many test images the accuracy was measured on, when the trainer recorded it. */
  testImages?: number;
  promotedAt: string;
  /** When its job finished, if its status document is still there. */
  trainedAt?: string;
  /**
   * When the served model last changed (the pointer's promotedAt), how, and from which job when the
   * pointer records it. Never who: callers' IAM identities are for GET /models/history only.
   */
  lastChange: { at: string; why?: ServedModelChangeReason; fromJobId?: string };
  metrics: PublicEpoch[];
}

export interface Summary {
  model: ModelCard | null;
  newestJob: PublicJob | null;
}

/** Fields that may be missing on this branch's types but are shown when a writer records them. */
type MaybeTestImages = { testImages?: unknown };

const finite = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function publicEpoch(m: EpochMetrics): PublicEpoch {
  const out: PublicEpoch = { epoch: m.epoch, loss: m.loss, accuracy: m.accuracy };
  const valLoss = finite(m.valLoss);
  const valAccuracy = finite(m.valAccuracy);
  if (valLoss !== undefined) out.valLoss = valLoss;
  if (valAccuracy !== undefined) out.valAccuracy = valAccuracy;
  return out;
}

export function publicJob(s: JobStatus): PublicJob {
  const out: PublicJob = {
    jobId: s.jobId,
    status: s.status,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    epoch: s.epoch ?? 0,
    metrics: (s.metrics ?? []).map(publicEpoch),
  };
  if (s.totalEpochs !== undefined) out.totalEpochs = s.totalEpochs;
  if (s.progress) out.progress = { epoch: s.progress.epoch, batch: s.progress.batch, batches: s.progress.batches };
  if (s.status === 'SUCCEEDED' && s.testAccuracy !== undefined) out.testAccuracy = s.testAccuracy;
  return out;
}

/**
 * Reads the pointer, the served job's status document, and the newest job (a listing bounded by
 * JobStore.newestJobId, its status and its progress): the same few S3 calls with 10 jobs or 100,000.
 */
export async function readSummary(bucket: Bucket): Promise<Summary> {
  const jobs = new JobStore(bucket);
  const [pointer, newestId] = await Promise.all([readLatestPointer(bucket), jobs.newestJobId()]);
  const [servedJob, newest] = await Promise.all([
    pointer ? jobs.get(pointer.jobId) : undefined,
    newestId ? jobs.getWithProgress(newestId) : undefined,
  ]);
  let model: ModelCard | null = null;
  if (pointer) {
    model = {
      jobId: pointer.jobId,
      epoch: pointer.epoch,
      testAccuracy: pointer.testAccuracy,
      promotedAt: pointer.promotedAt,
      lastChange: { at: pointer.promotedAt },
      metrics: (servedJob?.metrics ?? []).map(publicEpoch),
    };
    if (pointer.why) model.lastChange.why = pointer.why;
    if (pointer.from) model.lastChange.fromJobId = pointer.from.jobId;
    const testImages = finite((pointer as MaybeTestImages).testImages) ?? finite((servedJob as MaybeTestImages | undefined)?.testImages);
    if (testImages !== undefined) model.testImages = testImages;
    if (servedJob?.status === 'SUCCEEDED') model.trainedAt = servedJob.updatedAt;
  }
  return { model, newestJob: newest ? publicJob(newest) : null };
}
