import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from '@aws-lambda-powertools/logger';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DatasetError } from '../../../shared/idx';
import { JobRefusedError } from '../../../shared/job-limits';
import { StaleFenceError } from '../../../shared/fenced-write';
import { JobStore, queuedStatus } from '../../../shared/job-store';
import { JobLease, LeaseLostError } from './lease';
import { withRetry } from '../../../shared/retry';
import type { Bucket } from '../../../shared/s3-objects';
import { JobMessage, JobId, TrainingParams, describeZodError } from '../../../shared/schemas';
import { noMetrics, type TrainerMetrics } from './metrics';
import type { PromotionPolicy } from '../../../shared/promotion';
import { runJob, type JobContext } from './run-job';
import { runBatchJob } from './run-batch';
import { batchBuckets } from './batch-access';
import { BatchPredictMessage } from '../../../shared/batch-predict';
import { dispositionAfterFailure } from './disposition';
import { JobHeartbeat } from './heartbeat';
import { settleSweep } from './sweep-promotion';
import { CancelWatch } from './cancel-watch';
import { JobCancelledError } from '../../../shared/job-cancel';
import type { JobStatus } from '../../../shared/documents';
import type { StepSettings } from '../config';

export interface JobConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  bucket: Bucket;
  backend: string;
  logger: Logger;
  promotion: PromotionPolicy;
  /** Long-poll wait per ReceiveMessage call. Default 20 s (the SQS maximum). */
  waitTimeSeconds?: number;
  /** How long each heartbeat hides the message. Default 300 s (the queue's visibility timeout). */
  visibilityTimeoutSeconds?: number;
  /** How often the heartbeat extends visibility. Default 60 s. */
  heartbeatSeconds?: number;
  /** Receives after which a failing job is marked FAILED (the queue's maxReceiveCount). Default 3. */
  maxReceives?: number;
  /**
   * How long the job lease (jobs/<id>.lease) lasts without renewal; renewed with every heartbeat and
   * before every checkpoint. Default: the visibility timeout, so a crashed trainer's lease has expired
   * by the time SQS shows its message again.
   */
  leaseSeconds?: number;
  /** After a transient failure the message comes back after retryBaseSeconds * 2^(receives-1) (capped at the visibility timeout). Default 30. */
  retryBaseSeconds?: number;
  /** This trainer's name in leases and logs. Default <hostname>-<pid>-<random>. */
  trainerId?: string;
  /** How long SQS calls that must not be lost (delete, release) are retried through an outage. Default 120 s. */
  sqsRetryDeadlineMs?: number;
  onBatchEnd?: JobContext['onBatchEnd'];
  /** Least time between two writes of a job's in-epoch progress. Default 5000 ms. */
  progressEveryMs?: number;
  /** CloudWatch metrics (EMF on stdout in the trainer process). Default: none. */
  metrics?: TrainerMetrics;
  /**
   * Test seam: the trainer stops itself (SIGSTOP) once, right after the lease check that guards this
   * write (e.g. "epoch-2", "final", "succeeded"), as a long GC pause or a frozen VM would (the
   * trainer config's LENET_TEST_STOP_AFTER_LEASE_CHECK). Unset in production.
   */
  stopAfterLeaseCheck?: string;
  /** How the training step is chosen, passed to every job. */
  steps?: StepSettings;
  /** How often a running job looks for its cancel request. Default 2000 ms. */
  cancelPollMs?: number;
  /** The role assumed for batch predictions' S3 access (lifecycle/batch-access.ts); unset: the trainer's own credentials. */
  batchRoleArn?: string;
}

/** Long-polls the queue and runs one job at a time until stopped. */
export class JobConsumer {
  private stopping = false;
  private readonly jobs: JobStore;
  readonly trainerId: string;

  private stopAfterLeaseCheck: string | undefined;

  constructor(private readonly opts: JobConsumerOptions) {
    this.jobs = new JobStore(opts.bucket);
    this.trainerId = opts.trainerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.stopAfterLeaseCheck = opts.stopAfterLeaseCheck;
  }

  /** The test seam (stopAfterLeaseCheck): fires once per process. */
  private afterLeaseCheck = (jobId: string) => (what: string) => {
    if (what !== this.stopAfterLeaseCheck) return;
    this.stopAfterLeaseCheck = undefined;
    this.opts.logger.warn('test seam: stopping this process after the lease check', { before: what, pid: process.pid });
    process.kill(process.pid, 'SIGSTOP');
  };

  private get visibilitySeconds(): number {
    return this.opts.visibilityTimeoutSeconds ?? 300;
  }

  /** Asks the trainer to stop: the running job stops at the next batch and its message goes back to the queue. */
  stop(): void {
    this.stopping = true;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.pollOnce();
        failures = 0;
      } catch (err) {
        // The queue or bucket is unreachable: back off and keep the loop alive.
        failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
        this.opts.logger.warn('poll failed; retrying', { error: String(err), retryInMs: delay });
        await sleep(delay);
      }
    }
  }

  /** Receives at most one message and handles it. Returns whether a message was handled. */
  async pollOnce(): Promise<boolean> {
    const { sqs, queueUrl } = this.opts;
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 1,
        WaitTimeSeconds: this.opts.waitTimeSeconds ?? 20,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      }),
    );
    const message = out.Messages?.[0];
    if (!message || this.stopping) {
      if (message) await this.release(message);
      return false;
    }
    await this.handle(message);
    return true;
  }

  private get metrics(): TrainerMetrics {
    return this.opts.metrics ?? noMetrics;
  }

  private async handle(message: Message): Promise<void> {
    const parsed = parseJobMessage(message);
    // Every log line while this message is handled names its job and message.
    this.opts.logger.appendKeys({ jobId: parsed.ok ? parsed.job.jobId : parsed.jobId, messageId: message.MessageId });
    try {
      await this.handleParsed(message, parsed);
    } finally {
      this.opts.logger.removeKeys(['jobId', 'messageId']);
    }
  }

  private async handleParsed(message: Message, parsed: ReturnType<typeof parseJobMessage>): Promise<void> {
    const { logger, bucket } = this.opts;
    const receivedAt = Date.now();
    const receives = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
    const sentAt = sentTime(message);
    if (!parsed.ok) {
      // Permanent: no retry can fix the message. Record why, then delete it (it never reaches the DLQ).
      logger.error('rejected job message', { reason: parsed.reason });
      const existing = await this.jobs.get(parsed.jobId);
      const failed = {
        ...(existing ?? queuedStatus(parsed.jobId, sentAt)),
        status: 'FAILED' as const,
        reason: parsed.reason,
        updatedAt: new Date().toISOString(),
      };
      // A job first seen here is indexed too, so GET /jobs lists it with its reason.
      await (existing ? this.jobs.put(failed) : this.jobs.record(failed));
      this.metrics.jobOutcome('FAILED');
      await this.delete(message);
      return;
    }
    const job = parsed.job;
    const existing = await this.jobs.get(job.jobId);
    if (existing?.status === 'SUCCEEDED' || existing?.status === 'CANCELLED') {
      logger.info(`job already ${existing.status.toLowerCase()}; deleting its message`);
      // A sweep's job that ended without its sweep settled (a failure after it ended): settle it now.
      if (!(await this.settledSweep(job))) return;
      await this.delete(message);
      return;
    }
    if (!existing) {
      // Sent straight to SQS, not through POST /jobs: record the job as that would have, before it runs.
      await this.jobs.record(queuedStatus(job.jobId, job.submittedAt ?? sentAt, 'kind' in job ? undefined : job.params));
      logger.info('recorded a job sent straight to the queue', { form: parsed.form });
    }

    // Only the holder of the job's lease trains it: a duplicate message or a redelivery while
    // another trainer is still on the job must not start a second run.
    const leaseMs = (this.opts.leaseSeconds ?? this.visibilitySeconds) * 1000;
    const got = await JobLease.acquire(bucket, job.jobId, this.trainerId, leaseMs, message.MessageId);
    if (!got.acquired) {
      // Not deleted: the holder may still crash, and then this message is what brings the job back.
      const delay = Math.min(43_200, Math.max(1, Math.ceil(got.remainingMs / 1000) + 1));
      logger.info('job is leased by another trainer; returning the message for later', {
        holder: got.holder,
        leaseExpiresAt: got.expiresAt,
        retryInSeconds: delay,
      });
      await this.setVisibility(message, delay);
      return;
    }
    const lease = got.lease;
    const fence = lease.fence;
    if (got.tookOverFrom) logger.warn('took over an expired job lease', { from: got.tookOverFrom, fence });

    let leaseLost = false;
    const renewLease = async () => {
      try {
        await lease.renew();
      } catch (err) {
        if (err instanceof LeaseLostError) leaseLost = true;
        throw err;
      }
    };
    const cancel = new CancelWatch(bucket, job.jobId, logger, this.opts.cancelPollMs ?? 2000);
    cancel.start();
    const heartbeat = new JobHeartbeat({
      sqs: this.opts.sqs,
      queueUrl: this.opts.queueUrl,
      logger,
      message,
      visibilitySeconds: this.visibilitySeconds,
      intervalSeconds: this.opts.heartbeatSeconds ?? 60,
      renewLease,
    });
    try {
      const context: JobContext = {
        steps: this.opts.steps,
        bucket,
        backend: this.opts.backend,
        logger,
        // Recorded as who changed the served model when this job is promoted.
        promotion: { ...this.opts.promotion, by: `trainer ${this.trainerId}` },
        shouldStop: () => this.stopping || leaseLost || cancel.request !== undefined,
        // A cancelled job is never resumed: its epoch checkpoints are all it keeps.
        checkpointOnStop: () => !leaseLost && cancel.request === undefined,
        cancel,
        assertLeaseHeld: renewLease,
        sweepId: 'sweepId' in job ? job.sweepId : undefined,
        trainerId: this.trainerId,
        fence,
        afterLeaseCheck: this.afterLeaseCheck(job.jobId),
        onBatchEnd: this.opts.onBatchEnd,
        progressEveryMs: this.opts.progressEveryMs,
        metrics: this.metrics,
        receivedAt,
      };
      const outcome =
        'kind' in job
          ? await runBatchJob(job, context, batchBuckets(job, this.opts.batchRoleArn, bucket.retry))
          : await runJob(job, context);
      if (leaseLost) {
        await this.leaveToNewHolder(message, job.jobId, leaseMs);
      } else if (outcome === 'stopped') {
        logger.info('job stopped; returning it to the queue');
        heartbeat.stop();
        await lease.release().catch((err) => logger.warn('lease release failed', { error: String(err) }));
        await this.release(message);
      } else {
        if (outcome === 'succeeded') this.metrics.jobOutcome('SUCCEEDED');
        if (outcome === 'cancelled') this.metrics.jobOutcome('CANCELLED');
        // Not deleted when settling failed: the message comes back, and the ended-job path above settles again.
        if (!(await this.settledSweep(job))) return;
        await this.delete(message);
      }
    } catch (err) {
      heartbeat.stop();
      if (err instanceof JobCancelledError) {
        // Cancelled by the API while this trainer took the job: never run, never retried.
        logger.info('job was cancelled as it started; deleting its message');
        this.metrics.jobOutcome('CANCELLED');
        await this.delete(message);
        return;
      }
      const reason = err instanceof Error ? err.message : String(err);
      // A fenced write refused: a newer owner has written for the job, so the lease is no longer ours.
      if (err instanceof StaleFenceError) leaseLost = true;
      if (err instanceof LeaseLostError || leaseLost) {
        await this.leaveToNewHolder(message, job.jobId, leaseMs, reason);
        return;
      }
      const permanent = err instanceof DatasetError || err instanceof JobRefusedError;
      const next = dispositionAfterFailure({
        permanent,
        receives,
        maxReceives: this.opts.maxReceives ?? 3,
        retryBaseSeconds: this.opts.retryBaseSeconds ?? 30,
        visibilitySeconds: this.visibilitySeconds,
      });
      logger.error('job failed', { reason, permanent, receives });
      this.metrics.jobOutcome(next.action === 'retry' ? 'RETRIED' : 'FAILED');
      const record = async (patch: Partial<JobStatus>) => {
        try {
          await this.jobs.update(job.jobId, patch, fence);
          return true;
        } catch (e) {
          if (!(e instanceof StaleFenceError)) throw e;
          // A newer owner took the job while this one failed: its record stands, and the job is its own.
          leaseLost = true;
          await this.leaveToNewHolder(message, job.jobId, leaseMs, e.message);
          return false;
        }
      };
      if (next.action === 'retry') {
        if (!(await record({ status: 'QUEUED', reason: `retrying in ${next.delaySeconds} s after error: ${reason}` }))) return;
        await this.setVisibility(message, next.delaySeconds).catch(this.logFailure('delaying the retry failed', job.jobId));
      } else {
        const why = permanent ? reason : `failed on ${receives} attempts; last error: ${reason}`;
        if (!(await record({ status: 'FAILED', reason: why }))) return;
        await this.settledSweep(job);
        if (next.action === 'delete') await this.delete(message);
        else await this.setVisibility(message, 0).catch(this.logFailure('handing the message to the DLQ failed', job.jobId));
      }
    } finally {
      heartbeat.stop();
      cancel.stop();
      if (!leaseLost) await lease.release().catch((err) => logger.warn('lease release failed', { error: String(err) }));
    }
  }

  /**
   * After a sweep's job has ended: promotes the sweep's winner if it was the last (lifecycle/sweep-promotion.ts).
   * True when done or nothing to do; false (logged) when it failed.
   */
  private async settledSweep(job: JobMessage | BatchPredictMessage): Promise<boolean> {
    if (!('sweepId' in job) || !job.sweepId) return true;
    const { bucket, logger } = this.opts;
    try {
      await settleSweep({
        bucket,
        sweepId: job.sweepId,
        // Recorded in the served-model history as who promoted the sweep's winner.
        policy: { ...this.opts.promotion, by: `trainer ${this.trainerId}` },
        trainerId: this.trainerId,
        logger,
      });
      return true;
    } catch (err) {
      logger.warn('settling the sweep failed', { sweepId: job.sweepId, error: String(err) });
      return false;
    }
  }

  /** Another trainer holds the job's lease now: hide the message for a lease length, so it only comes back if that one dies too. */
  private async leaveToNewHolder(message: Message, jobId: string, leaseMs: number, reason?: string): Promise<void> {
    this.opts.logger.warn('job lease lost; leaving the job to its new holder', { reason });
    await this.setVisibility(message, Math.ceil(leaseMs / 1000)).catch(
      this.logFailure('returning the message to the new lease holder failed', jobId),
    );
  }

  /** A catch handler for a call whose failure the job can survive (SQS puts the message back by itself): logged, not thrown. */
  private logFailure(what: string, jobId: string) {
    return (err: unknown) => this.opts.logger.warn(what, { error: String(err) });
  }

  private sqsCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(`sqs ${what}`, fn, {
      deadlineMs: this.opts.sqsRetryDeadlineMs ?? 120_000,
      onRetry: ({ what: w, attempt, delayMs, error }) =>
        this.opts.logger.warn('retrying', { what: w, attempt, delayMs, error: String(error) }),
    });
  }

  private async delete(message: Message) {
    await this.sqsCall('DeleteMessage', () =>
      this.opts.sqs.send(new DeleteMessageCommand({ QueueUrl: this.opts.queueUrl, ReceiptHandle: message.ReceiptHandle })),
    );
  }

  private async setVisibility(message: Message, seconds: number) {
    await this.sqsCall('ChangeMessageVisibility', () =>
      this.opts.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.opts.queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: seconds,
        }),
      ),
    );
  }

  /** Makes the message visible again at once so another trainer can take the job. */
  private async release(message: Message) {
    await this.setVisibility(message, 0);
  }
}

type ParsedMessage =
  | { ok: true; job: JobMessage | BatchPredictMessage; form: 'envelope' | 'params' | 'batch' }
  | { ok: false; jobId: string; reason: string };

/**
 * The job id of a message that names none: `message-<SQS MessageId>`. A redelivered message keeps its
 * MessageId, so every delivery of it is the same job (one status document, one set of checkpoints).
 */
export function jobIdFromMessageId(messageId: string | undefined): string {
  return `message-${(messageId ?? 'unknown').replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 64);
}

/**
 * Validates a queue message. Two forms: what POST /jobs sends, `{"jobId": ..., "params": {...}}`
 * (the id may be left out), and the training parameters alone, e.g. `{"epochs": 5}`, for people
 * who send jobs with `aws sqs send-message`. Without a jobId the job id comes from the message id.
 * A bad message still yields a job id (its own, or the message's) to record the failure under.
 */
export function parseJobMessage(message: Pick<Message, 'Body' | 'MessageId'>): ParsedMessage {
  const fallbackId = jobIdFromMessageId(message.MessageId);
  let body: unknown;
  try {
    body = JSON.parse(message.Body ?? '');
  } catch (err) {
    return { ok: false, jobId: fallbackId, reason: `message body is not valid JSON (${(err as Error).message})` };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return {
      ok: false,
      jobId: fallbackId,
      reason: 'message body must be a JSON object: the training parameters, or {"jobId": ..., "params": {...}}',
    };
  }
  if ('kind' in body) {
    const candidate = JobId.safeParse((body as { jobId?: unknown }).jobId);
    const batch = BatchPredictMessage.safeParse(body);
    if (!batch.success)
      return {
        ok: false,
        jobId: candidate.success ? candidate.data : fallbackId,
        reason: `invalid batch job: ${describeZodError(batch.error)}`,
      };
    return { ok: true, job: batch.data, form: 'batch' };
  }
  if (!('jobId' in body) && !('params' in body)) {
    const params = TrainingParams.safeParse(body);
    if (!params.success) return { ok: false, jobId: fallbackId, reason: `invalid job: ${describeZodError(params.error)}` };
    return { ok: true, job: { jobId: fallbackId, params: params.data }, form: 'params' };
  }
  const candidateId = JobId.safeParse((body as { jobId?: unknown }).jobId);
  const jobId = candidateId.success ? candidateId.data : fallbackId;
  const result = JobMessage.safeParse('jobId' in body ? body : { ...body, jobId });
  if (!result.success) return { ok: false, jobId, reason: `invalid job: ${describeZodError(result.error)}` };
  return { ok: true, job: result.data, form: 'envelope' };
}

/** When SQS received the message (its SentTimestamp), as an ISO string; now if SQS did not say. */
function sentTime(message: Message): string {
  const ms = Number(message.Attributes?.SentTimestamp);
  return new Date(Number.isFinite(ms) && ms > 0 ? ms : Date.now()).toISOString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
