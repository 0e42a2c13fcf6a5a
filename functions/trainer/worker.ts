import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DatasetError } from '../../shared/idx';
import { JobStore } from '../../shared/job-store';
import type { Bucket } from '../../shared/s3-objects';
import { JobMessage, JobId, describeZodError } from '../../shared/schemas';
import type { PromotionPolicy } from '../../shared/promotion';
import { runJob, type JobContext } from './run-job';
import { setTaskProtection } from './task-protection';

export interface WorkerOptions {
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
  onBatchEnd?: JobContext['onBatchEnd'];
}

/** A job error that retrying cannot fix: the job is marked FAILED and its message deleted. */
export class PermanentJobError extends Error {}

/** Long-polls the queue and runs one job at a time until stopped. */
export class TrainerWorker {
  private stopping = false;
  private readonly jobs: JobStore;

  constructor(private readonly opts: WorkerOptions) {
    this.jobs = new JobStore(opts.bucket);
  }

  /** Asks the worker to stop: the running job stops at the next batch and its message goes back to the queue. */
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
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
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

  private async handle(message: Message): Promise<void> {
    const { logger } = this.opts;
    const receives = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
    const parsed = parseJobMessage(message);
    if (!parsed.ok) {
      logger.error('rejected job message', { messageId: message.MessageId, reason: parsed.reason });
      await this.jobs.update(parsed.jobId, { status: 'FAILED', reason: parsed.reason });
      await this.delete(message);
      return;
    }
    const job = parsed.job;
    const heartbeat = this.startHeartbeat(message);
    try {
      const outcome = await runJob(job, {
        bucket: this.opts.bucket,
        backend: this.opts.backend,
        logger,
        promotion: this.opts.promotion,
        shouldStop: () => this.stopping,
        onBatchEnd: this.opts.onBatchEnd,
      });
      if (outcome === 'stopped') {
        logger.info('job stopped; returning it to the queue', { jobId: job.jobId });
        await this.release(message);
      } else {
        await this.delete(message);
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof DatasetError || err instanceof PermanentJobError;
      const lastTry = receives >= (this.opts.maxReceives ?? 3);
      logger.error('job failed', { jobId: job.jobId, reason, permanent, receives });
      if (permanent || lastTry) {
        const why = permanent ? reason : `failed on ${receives} attempts; last error: ${reason}`;
        await this.jobs.update(job.jobId, { status: 'FAILED', reason: why });
        // A transient failure on its last try stays on the queue so SQS moves it to the DLQ.
        if (permanent) await this.delete(message);
      } else {
        await this.jobs.update(job.jobId, { status: 'QUEUED', reason: `retrying after error: ${reason}` });
      }
    } finally {
      heartbeat.stop();
    }
  }

  /** Keeps the message hidden (and the ECS task protected from scale-in) while the job runs. */
  private startHeartbeat(message: Message) {
    const { sqs, queueUrl, logger } = this.opts;
    const visibility = this.opts.visibilityTimeoutSeconds ?? 300;
    const beat = async () => {
      await Promise.all([
        sqs
          .send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: visibility }))
          .catch((err) => logger.warn('heartbeat failed', { error: String(err) })),
        setTaskProtection(true, Math.ceil((visibility * 2) / 60)).catch((err) =>
          logger.warn('task protection failed', { error: String(err) }),
        ),
      ]);
    };
    void beat();
    const timer = setInterval(beat, (this.opts.heartbeatSeconds ?? 60) * 1000);
    return {
      stop: () => {
        clearInterval(timer);
        void setTaskProtection(false).catch(() => undefined);
      },
    };
  }

  private async delete(message: Message) {
    await this.opts.sqs.send(new DeleteMessageCommand({ QueueUrl: this.opts.queueUrl, ReceiptHandle: message.ReceiptHandle }));
  }

  /** Makes the message visible again at once so another worker can take the job. */
  private async release(message: Message) {
    await this.opts.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: this.opts.queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }),
    );
  }
}

type ParsedMessage = { ok: true; job: JobMessage } | { ok: false; jobId: string; reason: string };

/** Validates a queue message; a bad one still yields a job id (its own, or the message id) to record the failure under. */
export function parseJobMessage(message: Pick<Message, 'Body' | 'MessageId'>): ParsedMessage {
  const fallbackId = `message-${message.MessageId ?? 'unknown'}`;
  let body: unknown;
  try {
    body = JSON.parse(message.Body ?? '');
  } catch (err) {
    return { ok: false, jobId: fallbackId, reason: `message body is not valid JSON (${(err as Error).message})` };
  }
  const candidateId = JobId.safeParse((body as { jobId?: unknown } | null)?.jobId);
  const jobId = candidateId.success ? candidateId.data : fallbackId;
  const result = JobMessage.safeParse(body);
  if (!result.success) return { ok: false, jobId, reason: `invalid job: ${describeZodError(result.error)}` };
  return { ok: true, job: result.data };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
