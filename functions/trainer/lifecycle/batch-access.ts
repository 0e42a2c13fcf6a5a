import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { makeS3Client } from '../../../shared/aws';
import { batchSessionPolicy, type BatchPredictMessage } from '../../../shared/batch-predict';
import { Bucket } from '../../../shared/s3-objects';
import type { RetryOptions } from '../../../shared/retry';

/** The input and output buckets of one batch job, as that job's credentials reach them. */
export interface BatchBuckets {
  input: Bucket;
  output: Bucket;
}

/**
 * S3 access for one batch job: the batch role (`roleArn`) assumed with a session policy that allows
 * listing and reading the input prefix and writing the output prefix, nothing else. The SDK renews
 * the session before it expires. Without a role, the trainer's own credentials (local runs).
 */
export function batchBuckets(job: BatchPredictMessage, roleArn: string | undefined, retry?: RetryOptions): BatchBuckets {
  const credentials = roleArn
    ? fromTemporaryCredentials({
        params: {
          RoleArn: roleArn,
          RoleSessionName: `batch-${job.jobId}`.slice(0, 64),
          Policy: batchSessionPolicy(job.input, job.output, roleArn.split(':')[1] || 'aws'),
          DurationSeconds: 3600,
        },
        clientConfig: process.env.AWS_ENDPOINT_URL ? { endpoint: process.env.AWS_ENDPOINT_URL } : {},
      })
    : undefined;
  const s3 = makeS3Client({}, credentials);
  return { input: new Bucket(s3, job.input.bucket, retry), output: new Bucket(s3, job.output.bucket, retry) };
}
