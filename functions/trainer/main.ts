/**
 * The trainer: a long-running process (Fargate task, or a host process locally) that takes jobs
 * from the SQS queue one at a time. Its environment is described and validated by ./config.ts.
 */
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { initTrainingBackend } from './steps/training-backend';
import { checkMissingKeyReads } from '../../shared/access-probe';
import { makeLogger } from '../../shared/log';
import { Bucket } from '../../shared/s3-objects';
import { readTrainerConfig, stepSettings } from './config';
import { JobConsumer } from './lifecycle/job-consumer';
import { loadNativeAddon } from './steps/native/native-step';
import { makeTrainerMetrics } from './lifecycle/metrics';
import { STARTUP_PROTECTION_MINUTES, setTaskProtection } from './lifecycle/task-protection';

const logger = makeLogger('trainer');

async function main() {
  const config = readTrainerConfig();
  const steps = stepSettings(config);
  const retrySeconds = config.S3_RETRY_SECONDS;
  const bucket = new Bucket(makeS3Client({}), config.BUCKET_NAME, {
    deadlineMs: retrySeconds * 1000,
    onRetry: ({ what, attempt, delayMs, error }) => logger.warn('retrying', { what, attempt, delayMs, error: String(error) }),
  });
  // A missing key must read as 404, not 403: say once, now, if the List statement does not cover it.
  void checkMissingKeyReads(bucket.s3, bucket.name, 'trainer', (message, extra) => logger.error(message, extra));
  const queueUrl = config.QUEUE_URL;
  const backend = await initTrainingBackend(config.TFJS_BACKEND);
  const minAccuracy = config.PROMOTION_MIN_ACCURACY;
  const native = loadNativeAddon(steps.native);
  logger.info('trainer started', {
    backend,
    native: native.addon ? `oneDNN ${native.addon.dnnlVersion}` : native.error,
    bucket: bucket.name,
    queueUrl,
    minAccuracy,
    step: steps.mode,
    threads: steps.defaultThreads,
    pid: process.pid,
  });

  const consumer = new JobConsumer({
    sqs: makeSqsClient({}),
    queueUrl,
    bucket,
    backend,
    logger,
    promotion: { minAccuracy },
    waitTimeSeconds: config.WAIT_TIME_SECONDS,
    visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
    heartbeatSeconds: config.HEARTBEAT_SECONDS,
    leaseSeconds: config.LEASE_SECONDS,
    retryBaseSeconds: config.RETRY_BASE_SECONDS,
    maxReceives: config.MAX_RECEIVES,
    sqsRetryDeadlineMs: retrySeconds * 1000,
    trainerId: config.TRAINER_ID,
    steps,
    stopAfterLeaseCheck: config.LENET_TEST_STOP_AFTER_LEASE_CHECK,
    batchRoleArn: config.BATCH_ROLE_ARN,
    metrics: makeTrainerMetrics(),
  });
  logger.info('trainer ready', { trainerId: consumer.trainerId });
  // A task started for a job (POST /jobs sets the desired count) must outlive the queue-depth alarm,
  // which may still say "0 jobs" for minutes, until it takes the job; the job's heartbeat then protects it.
  setTaskProtection(true, STARTUP_PROTECTION_MINUTES).catch((err) =>
    logger.warn('start-up task protection failed', { error: String(err) }),
  );
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (consumer.isStopping) process.exit(130);
      logger.info('stopping after the current batch', { signal });
      consumer.stop();
    });
  }
  await consumer.run();
  logger.info('trainer stopped');
}

main().then(
  () => process.exit(0),
  (err) => {
    logger.error('trainer crashed', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  },
);
