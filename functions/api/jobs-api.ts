import { randomUUID } from 'node:crypto';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { z } from 'zod';
import { HttpError } from '../../shared/http';
import { jobIdAt, JobStore } from '../../shared/job-store';
import {
  DATASET_FILES,
  datasetKey,
  DEFAULT_DATASET_PREFIX,
  jobIndexKeys,
  servedModelHistoryKeys,
  modelKeys,
  parseFinalModelMarker,
  PREFIXES,
} from '../../shared/bucket-layout';
import { jobProblems, MNIST_COUNTS, type DatasetCounts } from '../../shared/job-limits';
import { promoteIfBetter, readLatestPointer, rollbackServedModel, type PromotionPolicy } from '../../shared/promotion';
import { ensureServedModelChange, readServedModelHistory } from '../../shared/served-model-history';
import type { Bucket } from '../../shared/s3-objects';
import { JobId, type TrainingParams, type JobMessage } from '../../shared/schemas';
import { type CheckpointInfo, isFinished, type JobStatus, type LatestModel, type ServedModelChange } from '../../shared/documents';
import { cancelQueuedJob, fileCancelRequest } from '../../shared/job-cancel';

export interface ModelSummary {
  jobId: string;
  epoch: number;
  testAccuracy?: number;
  backend: string;
  createdAt: string;
  latest: boolean;
  /** Test images the accuracy was measured on. */
  testImages?: number;
  /** Whether that was the dataset's whole test set: only such models are ever served. */
  fullTestSet?: boolean;
}

/** `force` is not accepted here: the override is POST /models/promote/force, a route of its own for IAM. */
export const PromoteRequest = z.strictObject({ jobId: JobId });

/** POST /models/rollback: without a job id, the model served before the current one. */
export const RollbackRequest = z.strictObject({ jobId: JobId.optional() });

/** Page size of GET /models/history, as GET /jobs. */
export const HISTORY_PAGE = { default: 20, max: 100 } as const;

/** Page size of GET /jobs: 20 by default, at most 100. */
export const JOBS_PAGE = { default: 20, max: 100 } as const;

/** The `next` token of GET /jobs: the last index key of the page, base64url (opaque to clients). */
const encodeNext = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
function decodeNext(token: string): string {
  const key = /^[A-Za-z0-9_-]{1,200}$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  if (!jobIndexKeys.parse(key))
    throw new HttpError(400, 'Invalid "next" token; pass the "next" value of the previous GET /jobs answer unchanged.');
  return key;
}

/** How long a download URL works: long enough to start two GETs, short enough that a leaked one soon dies. */
export const DOWNLOAD_URL_SECONDS = 300;

/** The files of a final model (shared/model-store.ts writes exactly these two). */
export const MODEL_FILES = ['model.json', 'weights.bin'] as const;

/** GET /models/{id}/download: presigned GET URLs of a finished model's files. */
export interface ModelDownload {
  jobId: string;
  format: 'tfjs';
  files: Record<(typeof MODEL_FILES)[number], string>;
  expiresAt: string;
}

/** How POST /sweeps submits its jobs (functions/api/sweeps-api.ts): their ids and sweep chosen, the dataset counted once. */
export interface SubmitTag {
  jobId?: string;
  sweepId?: string;
  counts?: DatasetCounts;
}

/** The job and model operations behind the REST API, free of any HTTP detail but errors. */
export class JobsApi {
  private readonly jobs: JobStore;

  constructor(
    private readonly bucket: Bucket,
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly promotion: PromotionPolicy,
  ) {
    this.jobs = new JobStore(bucket);
  }

  /**
   * Records the job as QUEUED, then enqueues it; the status exists before any worker can see the
   * message. A job that cannot run, or would cost more than the cap, is refused first.
   */
  async submit(params: TrainingParams, tag: SubmitTag = {}): Promise<JobStatus> {
    const counts = tag.counts ?? (await this.datasetCounts(params.datasetPrefix));
    const problems = jobProblems(params, counts);
    if (problems.length > 0) throw new HttpError(400, `Job refused: ${problems.join('; ')}.`, { problems, dataset: counts });
    const jobId = tag.jobId ?? jobIdAt(new Date(), randomUUID().slice(0, 8));
    const now = new Date().toISOString();
    const sweep = tag.sweepId ? { sweepId: tag.sweepId } : {};
    const status: JobStatus = {
      jobId,
      status: 'QUEUED',
      ...sweep,
      params,
      createdAt: now,
      updatedAt: now,
      metrics: [],
      totalEpochs: params.epochs,
      epoch: 0,
    };
    await this.jobs.record(status);
    const message: JobMessage = { jobId, params, submittedAt: now, ...sweep };
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message) }));
    return status;
  }

  /**
   * The dataset's training and test image counts, from the headers of its IDX files (a Range GET
   * each); refuses a job whose dataset is not in the bucket, before it reaches the queue.
   */
  async datasetCounts(prefix: string): Promise<DatasetCounts> {
    const keys = new Set(await this.bucket.listKeys(prefix));
    const found = (f: string) => [datasetKey(prefix, f), datasetKey(prefix, `${f}.gz`)].find((k) => keys.has(k));
    const missing = Object.values(DATASET_FILES).filter((f) => !found(f));
    // The trainer seeds MNIST there on the first job (functions/trainer/lifecycle/seed-dataset.ts).
    if (prefix === DEFAULT_DATASET_PREFIX && missing.length > 0) return MNIST_COUNTS;
    if (missing.length > 0) {
      throw new HttpError(
        400,
        `No dataset at ${prefix}: missing ${missing.join(', ')} (optionally .gz). Upload one first (npm run upload-mnist) or fix datasetPrefix.`,
      );
    }
    const count = async (file: string) => {
      const key = found(file)!;
      let head = (await this.bucket.getHead(key, key.endsWith('.gz') ? 4096 : 8)) ?? new Uint8Array(0);
      // A truncated gzip stream inflates as far as it goes with a sync flush.
      if (key.endsWith('.gz')) head = gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      if (head.length < 8) throw new HttpError(400, `Dataset file ${key} is too short to be an IDX file.`);
      return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(4);
    };
    const [trainImages, testImages] = await Promise.all([count(DATASET_FILES.trainImages), count(DATASET_FILES.testImages)]);
    return { trainImages, testImages };
  }

  async status(jobId: string): Promise<JobStatus> {
    const id = JobId.safeParse(jobId);
    if (!id.success) throw new HttpError(400, `Invalid job id "${jobId}": ${id.error.issues[0].message}.`);
    const status = await this.jobs.getWithProgress(id.data, true);
    if (!status) throw new HttpError(404, `No job "${jobId}". List jobs with GET /jobs.`);
    return status;
  }

  /**
   * Cancels a queued or running job on behalf of `by`. A job no trainer holds ends CANCELLED at once;
   * a running one at its trainer's next batch (the answer then says RUNNING, with cancelRequested).
   */
  async cancel(jobId: string, by: string): Promise<JobStatus> {
    const status = await this.status(jobId);
    if (isFinished(status.status)) {
      const how =
        status.status === 'CANCELLED'
          ? `was cancelled by ${status.cancelledBy} at ${status.cancelledAt}`
          : `has already finished (status ${status.status})`;
      throw new HttpError(409, `Job "${status.jobId}" ${how}; there is nothing to cancel.`);
    }
    const request = await fileCancelRequest(this.bucket, status.jobId, by);
    const cancelled = await cancelQueuedJob(this.bucket, request);
    return cancelled ?? (await this.status(status.jobId));
  }

  /** A page of jobs, newest first, and the token of the next page if there is one. */
  async listJobs(query: { limit?: string; next?: string } = {}): Promise<{ jobs: JobStatus[]; next?: string }> {
    const limit = query.limit === undefined ? JOBS_PAGE.default : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > JOBS_PAGE.max) {
      throw new HttpError(400, `Invalid "limit" ${JSON.stringify(query.limit)}: must be a whole number from 1 to ${JOBS_PAGE.max}.`);
    }
    const page = await this.jobs.page(limit, query.next === undefined ? undefined : decodeNext(query.next));
    return page.last ? { jobs: page.jobs, next: encodeNext(page.last) } : { jobs: page.jobs };
  }

  async listModels(): Promise<{ latest: LatestModel | null; models: ModelSummary[] }> {
    const [keys, latest] = await Promise.all([this.bucket.listKeys(PREFIXES.models), readLatestPointer(this.bucket)]);
    const markers = keys.filter((k) => parseFinalModelMarker(k) !== undefined);
    const infos = await Promise.all(markers.map((k) => this.bucket.getJson<CheckpointInfo>(k)));
    const models = infos
      .filter((i): i is CheckpointInfo => i !== undefined)
      .map((i) => ({
        jobId: i.jobId,
        epoch: i.epoch,
        testAccuracy: i.testAccuracy,
        backend: i.backend,
        createdAt: i.createdAt,
        latest: latest?.jobId === i.jobId,
        testImages: i.testImages,
        fullTestSet: i.fullTestSet === true,
      }))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return { latest: latest ?? null, models };
  }

  /**
   * Presigned GET URLs of a finished model's files, signed by this function's role (which reads
   * models/), each for its one key: no new permission, and the bytes never pass through the Lambda.
   */
  async download(jobId: string): Promise<ModelDownload> {
    const id = JobId.safeParse(jobId);
    if (!id.success) throw new HttpError(400, `Invalid job id "${jobId}": ${id.error.issues[0].message}.`);
    const prefix = modelKeys.final(id.data);
    // The marker is written last: without it the model's files may be incomplete.
    if (!(await this.bucket.getJson<CheckpointInfo>(prefix + modelKeys.marker))) {
      const job = await this.jobs.get(id.data);
      throw new HttpError(
        404,
        job
          ? `Job "${jobId}" has not finished (status ${job.status}); only SUCCEEDED jobs have a model to download.`
          : `No job "${jobId}", so no model to download. List models with GET /models.`,
      );
    }
    const expiresAt = new Date(Date.now() + DOWNLOAD_URL_SECONDS * 1000).toISOString();
    const sign = (file: string) =>
      getSignedUrl(this.bucket.s3, new GetObjectCommand({ Bucket: this.bucket.name, Key: prefix + file }), {
        expiresIn: DOWNLOAD_URL_SECONDS,
      });
    const [modelJson, weights] = await Promise.all(MODEL_FILES.map(sign));
    return { jobId: id.data, format: 'tfjs', files: { 'model.json': modelJson, 'weights.bin': weights }, expiresAt };
  }

  /**
   * Serves a finished model; refuses one that is worse than the current, unless forced (an
   * administrator's route). Forced or not, promoteIfBetter's rules hold: scored on the dataset's
   * whole test set, and at the threshold.
   */
  async promote({ jobId }: z.infer<typeof PromoteRequest>, force = false, by = 'unknown'): Promise<LatestModel> {
    const info = await this.bucket.getJson<CheckpointInfo>(modelKeys.final(jobId) + modelKeys.marker);
    if (!info || info.testAccuracy === undefined) {
      throw new HttpError(404, `Job "${jobId}" has no finished model; only SUCCEEDED jobs can be promoted.`);
    }
    const decision = await promoteIfBetter(
      this.bucket,
      { jobId, epoch: info.epoch, testAccuracy: info.testAccuracy, testImages: info.testImages },
      { ...this.promotion, force, by },
    );
    if (!decision.pointer) throw new HttpError(409, `Not promoted: ${decision.reason}.`);
    return decision.pointer;
  }

  /**
   * Serves an earlier model again (shared/promotion.ts rollbackServedModel): 409 saying why when
   * there is none, or the one named is served now, was never served, or is no longer servable.
   */
  async rollback({ jobId }: z.infer<typeof RollbackRequest>, by: string): Promise<LatestModel> {
    const result = await rollbackServedModel(this.bucket, { jobId, by }, this.promotion);
    if (!result.pointer) throw new HttpError(409, `Not rolled back: ${result.reason}.`);
    return result.pointer;
  }

  /**
   * A page of served-model changes, newest first. The first page first makes sure the current
   * pointer's own entry exists: its writer may have stopped between the swap and the entry.
   */
  async history(query: { limit?: string; next?: string } = {}): Promise<{ changes: ServedModelChange[]; next?: string }> {
    const limit = query.limit === undefined ? HISTORY_PAGE.default : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_PAGE.max) {
      throw new HttpError(400, `Invalid "limit" ${JSON.stringify(query.limit)}: must be a whole number from 1 to ${HISTORY_PAGE.max}.`);
    }
    let after: string | undefined;
    if (query.next !== undefined) {
      after = /^[A-Za-z0-9_-]{1,200}$/.test(query.next) ? Buffer.from(query.next, 'base64url').toString('utf8') : '';
      if (!servedModelHistoryKeys.parse(after))
        throw new HttpError(400, 'Invalid "next" token; pass the "next" value of the previous GET /models/history answer unchanged.');
    } else {
      const current = await readLatestPointer(this.bucket);
      if (current) await ensureServedModelChange(this.bucket, current);
    }
    const page = await readServedModelHistory(this.bucket, limit, after);
    return page.last ? { changes: page.changes, next: encodeNext(page.last) } : { changes: page.changes };
  }
}
