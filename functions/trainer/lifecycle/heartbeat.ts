import { ChangeMessageVisibilityCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '@aws-lambda-powertools/logger';
import { setTaskProtection } from './task-protection';

export interface JobHeartbeatOptions {
  sqs: SQSClient;
  queueUrl: string;
  logger: Logger;
  /** The message of the running job. */
  message: Message;
  /** How long each beat hides the message (the queue's visibility timeout, also the lease length). */
  visibilitySeconds: number;
  /** Time between two beats. */
  intervalSeconds: number;
  /** Renews the job lease; called first on every beat after the first. */
  renewLease: () => Promise<void>;
}

/**
 * While a job runs, keeps its lease fresh, its message hidden and the ECS task protected from
 * scale-in. Each beat's failures are logged, not thrown: a missed beat is made up by the next one,
 * and if they all fail SQS shows the message again, which is the crash path.
 */
export class JobHeartbeat {
  private stopped = false;
  private beating = false;
  private readonly timer: NodeJS.Timeout;

  /** Starts beating at once. */
  constructor(private readonly opts: JobHeartbeatOptions) {
    // The lease was just written; the first beat only needs to extend the message.
    void this.extendVisibility();
    void this.protectTask();
    this.timer = setInterval(() => this.beat(), opts.intervalSeconds * 1000);
  }

  /** Stops beating and lifts the task's scale-in protection. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    void setTaskProtection(false).catch((err) => this.opts.logger.warn('task protection release failed', { error: String(err) }));
  }

  private async beat(): Promise<void> {
    if (this.beating) return; // the previous beat is still retrying through an outage
    this.beating = true;
    try {
      // The lease first: it must expire before the message can reappear (both are set to the same length).
      await this.opts.renewLease().catch((err) => this.opts.logger.warn('lease renewal failed', { error: String(err) }));
      if (this.stopped) return;
      await Promise.all([this.extendVisibility(), this.protectTask()]);
    } finally {
      this.beating = false;
    }
  }

  private extendVisibility(): Promise<unknown> {
    const { sqs, queueUrl, message, visibilitySeconds, logger } = this.opts;
    return sqs
      .send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: visibilitySeconds,
        }),
      )
      .catch((err) => logger.warn('heartbeat failed', { error: String(err) }));
  }

  private protectTask(): Promise<void> {
    return setTaskProtection(true, Math.ceil((this.opts.visibilitySeconds * 2) / 60)).catch((err) =>
      this.opts.logger.warn('task protection failed', { error: String(err) }),
    );
  }
}
