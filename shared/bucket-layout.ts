/**
 * The data bucket's key layout, in one place: every reader and writer, the lifecycle rules and the
 * IAM prefixes build their keys here. No runtime dependencies (infra imports it too).
 *
 *   datasets/<name>/<IDX file>[.gz]                 datasets (the default is datasets/mnist/)
 *   jobs/<jobId>.json                               job status document
 *   jobs/<jobId>.progress                           in-epoch progress (not .json: listing reads only status docs)
 *   jobs/<jobId>.lease                              job lease (conditional writes)
 *   jobs/<jobId>.cancel                             cancel request (created once, never rewritten)
 *   jobs-index/<inverted ms timestamp>-<jobId>      empty; lists jobs newest first, a page at a time
 *   checkpoints/<jobId>/epoch-NNNN/                 checkpoint after each epoch (expires)
 *   checkpoints/<jobId>/partial-eNNNN-bNNNNNN/      mid-epoch checkpoint written on stop (expires)
 *   checkpoints/<jobId>/batch/part-NNNNNN.jsonl     a batch prediction's finished chunks: its checkpoint (expires)
 *   batch/<any prefix>/                             batch prediction inputs, and outputs: predictions.jsonl, summary.json
 *   models/<jobId>/final/                           final model (kept)
 *   models/latest.json                              pointer to the served model
 *   sweeps/<sweepId>.json                           a sweep: its request and its jobs (POST /sweeps)
 *   sweeps/<sweepId>.promotion                      create-only claim: the one trainer that promotes the sweep's winner
 *   sweeps/<sweepId>.promoted                       create-only: that promotion's outcome
 *   sweeps/<sweepId>.cancel                         create-only: the sweep's cancel (who, when); no promotion after it
 *   sweeps-index/<inverted ms timestamp>-<sweepId>  empty; lists sweeps newest first (the page's newest sweep)
 *   models/history/<inverted ms timestamp>-<changeId>.json
 *                                                   one change of the served model each, created once
 *                                                   (If-None-Match), never rewritten: lists newest first.
 *                                                   Not the versions of latest.json: those expire.
 *
 * Every checkpoint and model prefix holds model.json, weights.bin and, written last, checkpoint.json.
 */

export const PREFIXES = {
  datasets: 'datasets/',
  jobs: 'jobs/',
  /** One empty object per job, keyed so that S3's lexicographic listing is newest first. */
  jobsIndex: 'jobs-index/',
  /** Epoch and partial checkpoints only: a lifecycle rule expires everything under it. */
  checkpoints: 'checkpoints/',
  /** Final models and the served-model pointer: never expired. */
  models: 'models/',
  /** Sweep documents and their promotion claim and outcome. */
  sweeps: 'sweeps/',
  /** One empty object per sweep, newest first, as jobs-index/ for jobs. */
  sweepsIndex: 'sweeps-index/',
  /**
   * Batch prediction's inputs and outputs (POST /batch-predictions): users put images under it and
   * name a prefix of it for the results. Only the batch role may read or write it, one job's two prefixes at a time.
   */
  batch: 'batch/',
} as const;

export const DEFAULT_DATASET_PREFIX = `${PREFIXES.datasets}mnist/`;

/** The four files under a dataset prefix, in the original IDX names (each may also end in `.gz`). */
export const DATASET_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The key of one dataset file (`file` may carry a `.gz`). */
export const datasetKey = (prefix: string, file: string) => prefix + file;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export const jobKeys = {
  status: (jobId: string) => `${PREFIXES.jobs}${jobId}.json`,
  /** A key of its own, so the frequent progress writes never race the read-modify-write of the status document. */
  progress: (jobId: string) => `${PREFIXES.jobs}${jobId}.progress`,
  lease: (jobId: string) => `${PREFIXES.jobs}${jobId}.lease`,
  cancel: (jobId: string) => `${PREFIXES.jobs}${jobId}.cancel`,
};

export const sweepKeys = {
  doc: (sweepId: string) => `${PREFIXES.sweeps}${sweepId}.json`,
  /** Created once (If-None-Match: *) by the trainer that promotes the winner: two trainers finishing at once promote once. */
  promotionClaim: (sweepId: string) => `${PREFIXES.sweeps}${sweepId}.promotion`,
  promotionOutcome: (sweepId: string) => `${PREFIXES.sweeps}${sweepId}.promoted`,
  /** Created once (If-None-Match: *) by POST /sweeps/{id}/cancel; a trainer reads it before claiming the promotion. */
  cancel: (sweepId: string) => `${PREFIXES.sweeps}${sweepId}.cancel`,
};

/** Where checkpoints and models live. A checkpoint counts only once its marker exists. */
export const modelKeys = {
  /** Every checkpoint (epoch and partial) of a job. */
  checkpoints: (jobId: string) => `${PREFIXES.checkpoints}${jobId}/`,
  epoch: (jobId: string, epoch: number) => `${PREFIXES.checkpoints}${jobId}/epoch-${pad(epoch, 4)}/`,
  /**
   * A mid-epoch checkpoint written when the trainer is asked to stop (SIGTERM): `epoch` epochs done
   * plus `batch` batches of the next. Each gets its own prefix, so none is ever overwritten in place.
   */
  partial: (jobId: string, epoch: number, batch: number) => `${PREFIXES.checkpoints}${jobId}/partial-e${pad(epoch, 4)}-b${pad(batch, 6)}/`,
  final: (jobId: string) => `${PREFIXES.models}${jobId}/final/`,
  /** A batch prediction's finished chunks, one part per chunk, written once each. */
  batchParts: (jobId: string) => `${PREFIXES.checkpoints}${jobId}/batch/`,
  batchPart: (jobId: string, chunk: number) => `${PREFIXES.checkpoints}${jobId}/batch/part-${pad(chunk, 6)}.jsonl`,
  latest: `${PREFIXES.models}latest.json`,
  /** Written last: its presence means every other object of the checkpoint is complete. */
  marker: 'checkpoint.json',
};

export type CheckpointRef =
  | { kind: 'epoch'; jobId: string; epoch: number }
  | { kind: 'partial'; jobId: string; epoch: number; batch: number };

/** The checkpoint a marker key belongs to, or undefined if the key is not a checkpoint marker. */
export function parseCheckpointMarker(key: string): CheckpointRef | undefined {
  const epoch = key.match(/^checkpoints\/([^/]+)\/epoch-(\d{4,})\/checkpoint\.json$/);
  if (epoch) return { kind: 'epoch', jobId: epoch[1], epoch: Number(epoch[2]) };
  const partial = key.match(/^checkpoints\/([^/]+)\/partial-e(\d{4,})-b(\d{6,})\/checkpoint\.json$/);
  if (partial) return { kind: 'partial', jobId: partial[1], epoch: Number(partial[2]), batch: Number(partial[3]) };
  return undefined;
}

/** The job id of a final model's marker key, or undefined if the key is not one. */
export function parseFinalModelMarker(key: string): string | undefined {
  return key.match(/^models\/([^/]+)\/final\/checkpoint\.json$/)?.[1];
}

/** Larger than any millisecond timestamp until the year 2286, so inverted stamps keep 13 digits. */
const INDEX_EPOCH_MS = 9_999_999_999_999;

export const jobIndexKeys = {
  /** The index entry of a job created at `createdAt` (ISO-8601): later jobs sort first. */
  entry: (createdAt: string, jobId: string) => {
    const ms = Date.parse(createdAt);
    if (!Number.isFinite(ms)) throw new Error(`job ${jobId}: createdAt "${createdAt}" is not a date`);
    return `${PREFIXES.jobsIndex}${pad(INDEX_EPOCH_MS - ms, 13)}-${jobId}`;
  },
  /** The job id of an index entry key, or undefined if the key is not one. */
  parse: (key: string) => key.match(/^jobs-index\/\d{13}-([A-Za-z0-9_-]{1,64})$/)?.[1],
};

export const sweepIndexKeys = {
  /** The index entry of a sweep created at `createdAt` (ISO-8601): later sweeps sort first. */
  entry: (createdAt: string, sweepId: string) => {
    const ms = Date.parse(createdAt);
    if (!Number.isFinite(ms)) throw new Error(`sweep ${sweepId}: createdAt "${createdAt}" is not a date`);
    return `${PREFIXES.sweepsIndex}${pad(INDEX_EPOCH_MS - ms, 13)}-${sweepId}`;
  },
  parse: (key: string) => key.match(/^sweeps-index\/\d{13}-([A-Za-z0-9_-]{1,64})$/)?.[1],
};

export const servedModelHistoryKeys = {
  prefix: `${PREFIXES.models}history/`,
  /**
   * The entry of the served-model change `changeId` made at `at` (ISO-8601): later changes sort
   * first. Deterministic, so any writer that knows a pointer can tell whether its entry exists.
   */
  entry: (at: string, changeId: string) => {
    const ms = Date.parse(at);
    if (!Number.isFinite(ms)) throw new Error(`served-model change ${changeId}: "${at}" is not a date`);
    return `${PREFIXES.models}history/${pad(INDEX_EPOCH_MS - ms, 13)}-${changeId}.json`;
  },
  /** The change id of an entry key, or undefined if the key is not one. */
  parse: (key: string) => key.match(/^models\/history\/\d{13}-([A-Za-z0-9-]{1,64})\.json$/)?.[1],
};

/** Whether a key is a job status document (not its progress or lease). */
export const isJobStatusKey = (key: string) => key.startsWith(PREFIXES.jobs) && key.endsWith('.json');
