/**
 * Settings that infra and the deployables must agree on: environment variable names and the
 * defaults both sides use. Plain constants only, so infra/ can import it without runtime code.
 */

/** The job queue. The trainer's heartbeat and lease follow the visibility timeout; its last try is maxReceiveCount. */
export const QUEUE_DEFAULTS = {
  visibilityTimeoutSeconds: 300,
  maxReceiveCount: 3,
  /** Long-poll wait (the SQS maximum). */
  receiveWaitSeconds: 20,
} as const;

/** Least test accuracy a model needs to be promoted, by the trainer and by POST /models/promote alike. */
export const DEFAULT_PROMOTION_MIN_ACCURACY = 0.98;

/** How often the predict function re-checks the served-model pointer. */
export const DEFAULT_MODEL_REFRESH_SECONDS = 30;

/** Environment variable names, per deployable. */
export const ENV = {
  bucketName: 'BUCKET_NAME',
  queueUrl: 'QUEUE_URL',
  promotionMinAccuracy: 'PROMOTION_MIN_ACCURACY',
  modelRefreshSeconds: 'MODEL_REFRESH_SECONDS',
  visibilityTimeoutSeconds: 'VISIBILITY_TIMEOUT_SECONDS',
  maxReceives: 'MAX_RECEIVES',
  trainerCluster: 'TRAINER_CLUSTER',
  trainerService: 'TRAINER_SERVICE',
  /** The role a trainer assumes for a batch prediction's reads and writes (shared/batch-predict.ts). */
  batchRoleArn: 'BATCH_ROLE_ARN',
} as const;

/**
 * The trainer's CloudWatch metrics: it prints them to stdout in the embedded metric format (EMF), the
 * awslogs driver ships stdout to CloudWatch Logs, and CloudWatch turns those lines into metrics. The
 * stack's alarms and dashboard read the same names, under the one `service` dimension Powertools adds.
 */
export const METRICS = {
  namespace: 'LenetMnist',
  service: 'trainer',
  names: {
    imagesPerSecond: 'ImagesPerSecond',
    trainLoss: 'TrainLoss',
    trainAccuracy: 'TrainAccuracy',
    valLoss: 'ValLoss',
    valAccuracy: 'ValAccuracy',
    testAccuracy: 'TestAccuracy',
    /** From the job's message being received to the end of its first training step (dataset load and model build included). */
    timeToFirstStep: 'TimeToFirstStep',
    succeededJobs: 'SucceededJobs',
    failedJobs: 'FailedJobs',
    /** A transient failure sent back to the queue for another try. */
    retriedJobs: 'RetriedJobs',
    /** A job ended by a cancel request (POST /jobs/{id}/cancel). */
    cancelledJobs: 'CancelledJobs',
  },
} as const;
