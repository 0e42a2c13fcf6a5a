/**
 * The training worker: a long-running process (Fargate task, or a host process locally)
 * that takes jobs from the SQS queue one at a time.
 *
 * Env: BUCKET_NAME, QUEUE_URL; optional TFJS_BACKEND (tensorflow|wasm|cpu),
 * PROMOTION_MIN_ACCURACY (default 0.98), AWS_ENDPOINT_URL for an emulator.
 */
import { makeS3Client, makeSqsClient, requireEnv } from '../../shared/aws';
import { initBackend, type BackendName } from '../../shared/backend';
import { makeLogger } from '../../shared/log';
import { DEFAULT_MIN_ACCURACY } from '../../shared/promotion';
import { Bucket } from '../../shared/s3-objects';
import { TrainerWorker } from './worker';

const logger = makeLogger('trainer');

async function main() {
  const bucket = new Bucket(makeS3Client(), requireEnv('BUCKET_NAME'));
  const queueUrl = requireEnv('QUEUE_URL');
  const backend = await initBackend(process.env.TFJS_BACKEND as BackendName | undefined);
  const minAccuracy = Number(process.env.PROMOTION_MIN_ACCURACY ?? DEFAULT_MIN_ACCURACY);
  logger.info('trainer started', { backend, bucket: bucket.name, queueUrl, minAccuracy, pid: process.pid });

  const worker = new TrainerWorker({
    sqs: makeSqsClient(),
    queueUrl,
    bucket,
    backend,
    logger,
    promotion: { minAccuracy },
    waitTimeSeconds: Number(process.env.WAIT_TIME_SECONDS ?? 20),
  });
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

main().then(
  () => process.exit(0),
  (err) => {
    logger.error('trainer crashed', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  },
);
