import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { acknowledge } from './nag';
import { Construct } from 'constructs';

/** Props of {@link ModelBucket}. */
export interface ModelBucketProps {
  /**
   * Removal policy of both buckets (data and access logs).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Days after which a non-current (overwritten or deleted) object version expires.
   * Only old versions expire: the current `models/latest.json` and every current
   * `models/<jobId>/final/` object are never touched by this rule.
   * @default 30
   */
  readonly noncurrentVersionExpirationDays?: number;

  /**
   * Days after which *current* epoch checkpoints expire. S3 lifecycle filters can only
   * match a key prefix, tags or size, and `models/<jobId>/epoch-NNNN/` has the job id
   * before `epoch-`, so the rule matches a tag instead: the trainer must tag its epoch
   * checkpoint objects with {@link checkpointTag}. Untagged objects (final models,
   * `models/latest.json`, datasets, job docs) never match. `undefined` disables the rule.
   * @default 14
   */
  readonly checkpointExpirationDays?: number;

  /**
   * The object tag that marks an expendable epoch checkpoint.
   * @default { key: 'lenet:kind', value: 'epoch-checkpoint' }
   */
  readonly checkpointTag?: { readonly key: string; readonly value: string };

  /**
   * Write S3 server access logs to a separate bucket (AwsSolutions-S1).
   * @default true
   */
  readonly serverAccessLogs?: boolean;
}

/**
 * The project bucket: datasets under `datasets/`, checkpoints `models/<jobId>/epoch-NNNN/`,
 * final models `models/<jobId>/final/`, the pointer `models/latest.json` and job documents
 * `jobs/<jobId>.json`. Versioned, S3-managed encryption, no public access, TLS only.
 */
export class ModelBucket extends Construct {
  /** Default tag that marks expendable epoch checkpoints. */
  static readonly DEFAULT_CHECKPOINT_TAG = { key: 'lenet:kind', value: 'epoch-checkpoint' } as const;

  /** The data bucket. */
  readonly bucket: s3.Bucket;
  /** The server access log bucket, if enabled. */
  readonly accessLogsBucket?: s3.Bucket;
  /** The tag that marks expendable epoch checkpoints. */
  readonly checkpointTag: { readonly key: string; readonly value: string };

  constructor(scope: Construct, id: string, props: ModelBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.checkpointTag = props.checkpointTag ?? ModelBucket.DEFAULT_CHECKPOINT_TAG;
    const checkpointDays = 'checkpointExpirationDays' in props ? props.checkpointExpirationDays : 14;

    if (props.serverAccessLogs ?? true) {
      this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        removalPolicy,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      });
      acknowledge(this.accessLogsBucket, [
        {
          id: 'AwsSolutions-S1',
          reason: 'This is the server access log bucket itself; logging it into itself or another bucket would recurse.',
        },
      ]);
    }

    const lifecycleRules: s3.LifecycleRule[] = [
      {
        id: 'expire-noncurrent-versions',
        noncurrentVersionExpiration: Duration.days(props.noncurrentVersionExpirationDays ?? 30),
        abortIncompleteMultipartUploadAfter: Duration.days(7),
      },
    ];
    if (checkpointDays !== undefined) {
      lifecycleRules.push({
        id: 'expire-epoch-checkpoints',
        prefix: 'models/',
        tagFilters: { [this.checkpointTag.key]: this.checkpointTag.value },
        expiration: Duration.days(checkpointDays),
      });
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: this.accessLogsBucket ? 'data-bucket/' : undefined,
      lifecycleRules,
    });
  }
}
