import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  BATCH_EXTENSIONS,
  batchLocationProblem,
  type BatchPredictMessage,
  type BatchPredictRequest,
  isBatchInputKey,
  MAX_BATCH_OBJECTS,
  s3Uri,
} from '../../shared/batch-predict';
import { modelKeys } from '../../shared/bucket-layout';
import type { CheckpointInfo, JobStatus } from '../../shared/documents';
import { HttpError } from '../../shared/http';
import { jobIdAt, JobStore } from '../../shared/job-store';
import { readLatestPointer } from '../../shared/promotion';
import type { Bucket } from '../../shared/s3-objects';

/** POST /batch-predictions: checks a batch, records it as a QUEUED job, and queues it for a trainer. */
export class BatchPredictionsApi {
  private readonly jobs: JobStore;

  constructor(
    private readonly bucket: Bucket,
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {
    this.jobs = new JobStore(bucket);
  }

  async submit(request: BatchPredictRequest): Promise<JobStatus> {
    const problem = batchLocationProblem(request.input, request.output, this.bucket.name);
    if (problem) throw new HttpError(400, `Batch refused: ${problem}.`);
    const modelJobId = await this.model(request.modelJobId);
    // Counted now, so an empty or oversized batch is refused before it reaches the queue.
    const listed = await this.bucket.listObjects(request.input.prefix, MAX_BATCH_OBJECTS, isBatchInputKey);
    if (listed.truncated) {
      throw new HttpError(400, `Batch refused: ${s3Uri(request.input)} has more than ${MAX_BATCH_OBJECTS} objects to read; split it.`);
    }
    if (listed.objects.length === 0) {
      throw new HttpError(400, `Batch refused: no ${BATCH_EXTENSIONS.join(', ')} objects under ${s3Uri(request.input)}.`);
    }
    const jobId = jobIdAt(new Date(), randomUUID().slice(0, 8));
    const now = new Date().toISOString();
    const status: JobStatus = {
      jobId,
      status: 'QUEUED',
      kind: 'batch-predict',
      batch: { input: s3Uri(request.input), output: s3Uri(request.output), modelJobId, objects: listed.objects.length },
      createdAt: now,
      updatedAt: now,
      metrics: [],
    };
    await this.jobs.record(status);
    const message: BatchPredictMessage = {
      kind: 'batch-predict',
      jobId,
      input: request.input,
      output: request.output,
      modelJobId,
      submittedAt: now,
    };
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message) }));
    return status;
  }

  /** The named finished model, or the one served now: fixed at submit, so one batch uses one model. */
  private async model(named: string | undefined): Promise<string> {
    if (named) {
      if (!(await this.bucket.getJson<CheckpointInfo>(modelKeys.final(named) + modelKeys.marker))) {
        throw new HttpError(404, `Job "${named}" has no finished model; name a SUCCEEDED job (GET /models lists them).`);
      }
      return named;
    }
    const served = await readLatestPointer(this.bucket);
    if (!served)
      throw new HttpError(409, 'No model is served yet, so there is none to predict with: train one first, or name one with "modelJobId".');
    return served.jobId;
  }
}
