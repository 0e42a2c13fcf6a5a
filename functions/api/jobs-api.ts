import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { HttpError } from '../../shared/http';
import { jobIdAt, JobStore } from '../../shared/job-store';
import { DATASET_FILES, datasetKey, modelKeys, parseFinalModelMarker, PREFIXES } from '../../shared/bucket-layout';
import type { CheckpointInfo } from '../../shared/model-store';
import { promoteIfBetter, readLatestPointer, type PromotionPolicy } from '../../shared/promotion';
import type { Bucket } from '../../shared/s3-objects';
import { JobId, TrainingParams, type JobMessage, type JobStatus, type LatestModel } from '../../shared/schemas';

export interface ModelSummary {
  jobId: string;
  epoch: number;
  testAccuracy?: number;
  backend: string;
  createdAt: string;
  latest: boolean;
}

export const PromoteRequest = z.strictObject({ jobId: JobId, force: z.boolean().default(false) });

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

  /** Records the job as QUEUED, then enqueues it; the status exists before any worker can see the message. */
  async submit(params: TrainingParams): Promise<JobStatus> {
    await this.checkDatasetExists(params.datasetPrefix);
    const jobId = jobIdAt(new Date(), randomUUID().slice(0, 8));
    const now = new Date().toISOString();
    const status: JobStatus = { jobId, status: 'QUEUED', params, createdAt: now, updatedAt: now, metrics: [], totalEpochs: params.epochs, epoch: 0 };
    await this.jobs.put(status);
    const message: JobMessage = { jobId, params, submittedAt: now };
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message) }));
    return status;
  }

  /** Refuses a job whose dataset is not in the bucket, before it reaches the queue. */
  private async checkDatasetExists(prefix: string): Promise<void> {
    const keys = new Set(await this.bucket.listKeys(prefix));
    const missing = Object.values(DATASET_FILES).filter((f) => !keys.has(datasetKey(prefix, f)) && !keys.has(datasetKey(prefix, `${f}.gz`)));
    if (missing.length > 0) {
      throw new HttpError(400, `No dataset at ${prefix}: missing ${missing.join(', ')} (optionally .gz). Upload one first (npm run upload-mnist) or fix datasetPrefix.`);
    }
  }

  async status(jobId: string): Promise<JobStatus> {
    const id = JobId.safeParse(jobId);
    if (!id.success) throw new HttpError(400, `Invalid job id "${jobId}": ${id.error.issues[0].message}.`);
    const status = await this.jobs.getWithProgress(id.data);
    if (!status) throw new HttpError(404, `No job "${jobId}". List jobs with GET /jobs.`);
    return status;
  }

  listJobs(): Promise<JobStatus[]> {
    return this.jobs.list();
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
      }))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return { latest: latest ?? null, models };
  }

  /** Serves a finished model; refuses one that is worse than the current, unless forced. */
  async promote({ jobId, force }: z.infer<typeof PromoteRequest>): Promise<LatestModel> {
    const info = await this.bucket.getJson<CheckpointInfo>(modelKeys.final(jobId) + modelKeys.marker);
    if (!info || info.testAccuracy === undefined) {
      throw new HttpError(404, `Job "${jobId}" has no finished model; only SUCCEEDED jobs can be promoted.`);
    }
    const decision = await promoteIfBetter(
      this.bucket,
      { jobId, epoch: info.epoch, testAccuracy: info.testAccuracy },
      { ...this.promotion, force },
    );
    if (!decision.pointer) throw new HttpError(409, `Not promoted: ${decision.reason}.`);
    return decision.pointer;
  }
}
