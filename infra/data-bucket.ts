import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { PREFIXES } from '../shared/bucket-layout';
import { acknowledge } from './nag';
import { Construct } from 'constructs';

/** Props of {@link DataBucket}. */
export interface DataBucketProps {
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
   * Days after which epoch and mid-epoch checkpoints expire. They live under their own prefix
   * (`checkpoints/`, see shared/bucket-layout.ts), so a prefix filter matches them and nothing else:
   * final models, the served-model pointer, datasets and job documents are never touched.
   * `undefined` disables the rule.
   * @default 14
   */
  readonly checkpointExpirationDays?: number;

  /**
   * Write S3 server access logs to a separate bucket (AwsSolutions-S1).
   * @default true
   */
  readonly serverAccessLogs?: boolean;
}

/**
 * The project's data bucket: datasets, job documents and leases, checkpoints, final models and the
 * served-model pointer, laid out as shared/bucket-layout.ts says. Versioned, S3-managed encryption,
 * no public access, TLS only.
 */
export class DataBucket extends Construct {
  /** The data bucket. */
  readonly bucket: s3.Bucket;
  /** The server access log bucket, if enabled. */
  readonly accessLogsBucket?: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
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
        id: 'expire-checkpoints',
        prefix: PREFIXES.checkpoints,
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
