/**
 * GET /summary: what anonymous visitors of the page may see. The served model's card, the newest
 * job's progress and curves, and the newest sweep's accuracy curves, built field by field from
 * allowlists, so job parameters, error text and anything added to the status documents later stay
 * private unless added here on purpose.
 */
import { PREFIXES, sweepIndexKeys, sweepKeys } from '../../shared/bucket-layout';
import { JobStore } from '../../shared/job-store';
import { readLatestPointer } from '../../shared/promotion';
import type { Bucket } from '../../shared/s3-objects';
import type { EpochMetrics, JobState, JobStatus, ServedModelChangeReason, SweepDoc } from '../../shared/documents';
import type { ParamsPatch } from '../../shared/sweep';

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

/** One variant of the newest sweep: what tells it apart, its state, and one accuracy per epoch. */
export interface PublicVariant {
  jobId: string;
  /** Its varied numeric values ("lr 0.001, seed 2"), or "variant <n>" when a varied value is not a number. */
  label: string;
  status: JobState | 'MISSING';
  /** Index i is epoch i + 1: validation accuracy, or training accuracy when the sweep has no validation split. */
  accuracy: (number | null)[];
}

export interface PublicSweep {
  sweepId: string;
  createdAt: string;
  /** Which accuracy the curves are. */
  metric: 'valAccuracy' | 'accuracy';
  cancelled: boolean;
  variants: PublicVariant[];
}

export interface Summary {
  model: ModelCard | null;
  newestJob: PublicJob | null;
  newestSweep: PublicSweep | null;
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

const SHORT: Partial<Record<string, string>> = { learningRate: 'lr' };

/** A variant's label: only numbers are shown (a dataset prefix or any other string could be private). */
export function variantLabel(patch: ParamsPatch, index: number): string {
  const entries = Object.entries(patch);
  if (!entries.length || entries.some(([, v]) => finite(v) === undefined)) return `variant ${index + 1}`;
  return entries.map(([k, v]) => `${SHORT[k] ?? k} ${v}`).join(', ');
}

/** The newest sweep's public view, from its document and its jobs' status documents (at most SWEEP_MAX_VARIANTS). */
export function publicSweep(doc: SweepDoc, statuses: (JobStatus | undefined)[], cancelled: boolean): PublicSweep {
  const epochs = statuses.map((s) => (s?.metrics ?? []).map(publicEpoch));
  const metric = epochs.some((ms) => ms.some((m) => m.valAccuracy !== undefined)) ? 'valAccuracy' : 'accuracy';
  return {
    sweepId: doc.sweepId,
    createdAt: doc.createdAt,
    metric,
    cancelled,
    variants: doc.variants.map((v, i) => {
      const accuracy: (number | null)[] = [];
      for (const m of epochs[i]) if (m.epoch >= 1 && m.epoch <= 1000) accuracy[m.epoch - 1] = finite(m[metric]) ?? null;
      return {
        jobId: v.jobId,
        label: variantLabel(v.params, i),
        status: statuses[i]?.status ?? 'MISSING',
        accuracy: Array.from(accuracy, (a) => a ?? null),
      };
    }),
  };
}

/** The newest sweep by one listing of sweeps-index/, then its document, cancel record and jobs: bounded by the sweep size cap. */
async function readNewestSweep(bucket: Bucket, jobs: JobStore): Promise<PublicSweep | null> {
  const { keys } = await bucket.listPage(PREFIXES.sweepsIndex, 1);
  const sweepId = keys[0] === undefined ? undefined : sweepIndexKeys.parse(keys[0]);
  if (!sweepId) return null;
  const [doc, cancel] = await Promise.all([bucket.getJson<SweepDoc>(sweepKeys.doc(sweepId)), bucket.getJson(sweepKeys.cancel(sweepId))]);
  if (!doc) return null;
  const statuses = await Promise.all(doc.variants.map((v) => jobs.get(v.jobId)));
  return publicSweep(doc, statuses, cancel !== undefined);
}

/**
 * Reads the pointer, the served job's status document, the newest job (a listing bounded by
 * JobStore.newestJobId, its status and its progress), and the newest sweep (a listing, its two
 * documents, one status per variant): the same few S3 calls with 10 jobs or 100,000.
 */
export async function readSummary(bucket: Bucket): Promise<Summary> {
  const jobs = new JobStore(bucket);
  const [pointer, newestId, newestSweep] = await Promise.all([
    readLatestPointer(bucket),
    jobs.newestJobId(),
    readNewestSweep(bucket, jobs),
  ]);
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
  return { model, newestJob: newest ? publicJob(newest) : null, newestSweep };
}
