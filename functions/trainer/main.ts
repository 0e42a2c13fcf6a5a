/**
 * The training worker: a long-running process (Fargate task, or a host process locally)
 * that takes jobs from the SQS queue one at a time.
 *
 * Env: BUCKET_NAME, QUEUE_URL; optional TFJS_BACKEND (tensorflow|wasm|cpu),
 * PROMOTION_MIN_ACCURACY (default 0.98), AWS_ENDPOINT_URL for an emulator, and the reliability
 * knobs (defaults suit the deployed queue, whose visibility timeout is 300 s):
 *   WAIT_TIME_SECONDS (20)           long-poll wait
 *   VISIBILITY_TIMEOUT_SECONDS (300) how long each heartbeat hides the message; also the job lease length
 *   HEARTBEAT_SECONDS (60)           how often the heartbeat renews the lease and the visibility
 *   LEASE_SECONDS                    job lease length, if not the visibility timeout
 *   RETRY_BASE_SECONDS (30)          a transiently failed job comes back after base * 2^(receives-1) s
 *   MAX_RECEIVES (3)                 the queue's maxReceiveCount: the last try marks a failing job FAILED
 *   S3_RETRY_SECONDS (120)           how long S3 and SQS calls are retried through an outage
 *   WORKER_ID                        the name this worker uses in job leases
 *   TRAINER_WORKERS (auto)           gradient threads when a job does not set `workers`: auto or 1-16
 */
import { makeS3Client, makeSqsClient, requireEnv } from '../../shared/aws';
import { type BackendName } from '../../shared/backend';
import { initTrainingBackend } from './training-backend';
import { makeLogger } from '../../shared/log';
import { DEFAULT_MIN_ACCURACY } from '../../shared/promotion';
import { Bucket } from '../../shared/s3-objects';
import { defaultWorkers } from './train';
import { TrainerWorker } from './worker';

const logger = makeLogger('trainer');

async function main() {
  const retrySeconds = numberEnv('S3_RETRY_SECONDS') ?? 120;
  const bucket = new Bucket(makeS3Client({}), requireEnv('BUCKET_NAME'), {
    deadlineMs: retrySeconds * 1000,
    onRetry: ({ what, attempt, delayMs, error }) => logger.warn('retrying', { what, attempt, delayMs, error: String(error) }),
  });
  const queueUrl = requireEnv('QUEUE_URL');
  const backend = await initTrainingBackend(process.env.TFJS_BACKEND as BackendName | undefined);
  const minAccuracy = Number(process.env.PROMOTION_MIN_ACCURACY ?? DEFAULT_MIN_ACCURACY);
  logger.info('trainer started', { backend, bucket: bucket.name, queueUrl, minAccuracy, workers: defaultWorkers(), pid: process.pid });

  const worker = new TrainerWorker({
    sqs: makeSqsClient({}),
    queueUrl,
    bucket,
    backend,
    logger,
    promotion: { minAccuracy },
    waitTimeSeconds: numberEnv('WAIT_TIME_SECONDS') ?? 20,
    visibilityTimeoutSeconds: numberEnv('VISIBILITY_TIMEOUT_SECONDS'),
    heartbeatSeconds: numberEnv('HEARTBEAT_SECONDS'),
    leaseSeconds: numberEnv('LEASE_SECONDS'),
    retryBaseSeconds: numberEnv('RETRY_BASE_SECONDS'),
    maxReceives: numberEnv('MAX_RECEIVES'),
    sqsRetryDeadlineMs: retrySeconds * 1000,
    workerId: process.env.WORKER_ID || undefined,
  });
  logger.info('worker ready', { workerId: worker.workerId });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (worker.isStopping) process.exit(130);
      logger.info('stopping after the current batch', { signal });
      worker.stop();
    });
  }
  await worker.run();
  logger.info('trainer stopped');
}

function numberEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`Environment variable ${name} must be a non-negative number, not "${raw}".`);
  return value;
}

main().then(
  () => process.exit(0),
  (err) => {
    logger.error('trainer crashed', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  },
);
