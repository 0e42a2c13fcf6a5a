import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUEUE_DEFAULTS } from '../shared/settings';

/** Props of {@link JobQueue}. */
export interface JobQueueProps {
  /**
   * Visibility timeout of the job queue. The trainer extends a received message's
   * visibility every 60 s by 5 min while it trains, so 5 min is the window in which a
   * crashed trainer's job becomes visible again.
   * @default Duration.minutes(5)
   */
  readonly visibilityTimeout?: Duration;

  /**
   * Receives before a job message moves to the dead-letter queue.
   * @default 3
   */
  readonly maxReceiveCount?: number;

  /**
   * Retention of messages in the job queue.
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;

  /**
   * Retention of messages in the dead-letter queue.
   * @default Duration.days(14)
   */
  readonly deadLetterRetentionPeriod?: Duration;
}

/** The training-job queue with its dead-letter queue; SQS-managed encryption and TLS only on both. */
export class JobQueue extends Construct {
  /** The training-job queue. */
  readonly queue: sqs.Queue;
  /** The dead-letter queue that takes jobs received `maxReceiveCount` times. */
  readonly deadLetterQueue: sqs.Queue;
  /** The configured max receive count (the trainer's last try). */
  readonly maxReceiveCount: number;
  /** The configured visibility timeout (the trainer's heartbeat extension and lease length). */
  readonly visibilityTimeout: Duration;

  constructor(scope: Construct, id: string, props: JobQueueProps = {}) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? QUEUE_DEFAULTS.maxReceiveCount;
    this.visibilityTimeout = props.visibilityTimeout ?? Duration.seconds(QUEUE_DEFAULTS.visibilityTimeoutSeconds);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.deadLetterRetentionPeriod ?? Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: this.visibilityTimeout,
      retentionPeriod: props.retentionPeriod ?? Duration.days(4),
      // Long polling by default, so a consumer that does not pass WaitTimeSeconds still long-polls.
      receiveMessageWaitTime: Duration.seconds(QUEUE_DEFAULTS.receiveWaitSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
  }
}
