import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * AWS clients that work both on AWS and on a LocalStack-compatible emulator.
 * The SDK reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 itself; on a custom endpoint
 * S3 must be path-style (bucket.localhost does not resolve) and checksums only when required.
 */
const customEndpoint = () => Boolean(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3);

/**
 * For long-running processes (the trainer): no request may hang forever on a dead connection, so
 * connects and idle sockets time out and the call fails over to the caller's retries.
 */
export interface ClientTuning {
  connectionTimeoutMs?: number;
  /** Socket idle time after which a request fails. Must exceed the SQS long-poll wait (20 s). */
  requestTimeoutMs?: number;
}

function tuning(t?: ClientTuning) {
  return t ? { requestHandler: { connectionTimeout: t.connectionTimeoutMs ?? 5_000, requestTimeout: t.requestTimeoutMs ?? 60_000 } } : {};
}

/** An S3 client; `credentials` replaces the default chain (a batch job's assumed-role session). */
export function makeS3Client(t?: ClientTuning, credentials?: S3ClientConfig['credentials']): S3Client {
  return new S3Client({
    ...(credentials ? { credentials } : {}),
    ...(customEndpoint()
      ? {
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : {}),
    ...tuning(t),
  });
}

export function makeSqsClient(t?: ClientTuning): SQSClient {
  // Without an explicit endpoint the SQS client sends calls to the host inside the QueueUrl.
  return new SQSClient({ ...(customEndpoint() ? { endpoint: process.env.AWS_ENDPOINT_URL } : {}), ...tuning(t) });
}

export function makeEcsClient(): ECSClient {
  return new ECSClient({});
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Environment variable ${name} is not set; it must name the ${name.toLowerCase().replace(/_/g, ' ')}.`);
  return value;
}
