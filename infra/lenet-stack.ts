import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { acknowledge } from './nag';
import type { Construct } from 'constructs';
import { DEFAULT_PROMOTION_MIN_ACCURACY } from '../shared/settings';
import { JobQueue, type JobQueueProps } from './job-queue';
import { DataBucket, type DataBucketProps } from './data-bucket';
import { ServiceApi, type ServiceApiProps } from './service-api';
import { TrainerService, type TrainerServiceProps } from './trainer-service';

/** Props of {@link LenetStack}. */
export interface LenetStackProps extends StackProps {
  /**
   * Local mode, for the MiniStack emulator (`cdk deploy -c local=true`). Changes only what the
   * emulator cannot do, and keeps every resource type it can:
   * - trainer image from a registry instead of a Docker asset (no Docker engine to build it);
   * - no Application Auto Scaling resources (MiniStack cannot provision them);
   * - no VPC flow log (MiniStack cannot provision AWS::EC2::FlowLog);
   * - `@aws-sdk/*` bundled into the functions (MiniStack runs them with the host's node, which has no SDK);
   * - data bucket removal policy DESTROY.
   * @default false
   */
  readonly local?: boolean;
  /**
   * Trainer image used in local mode. Never pulled: MiniStack only records the task definition
   * and the service stays at 0 tasks.
   * @default 'public.ecr.aws/docker/library/node:20-slim'
   */
  readonly localTrainerImage?: string;
  /**
   * Options of the data bucket.
   * @default DataBucket defaults
   */
  readonly bucket?: DataBucketProps;
  /**
   * Options of the job queue.
   * @default JobQueue defaults
   */
  readonly queue?: JobQueueProps;
  /**
   * Options of the trainer service (bucket and queue are wired by the stack).
   * @default TrainerService defaults
   */
  readonly trainer?: Omit<TrainerServiceProps, 'bucket' | 'queue' | 'queueVisibilityTimeout' | 'queueMaxReceiveCount' | 'promotionMinAccuracy'>;
  /**
   * Options of the API and its functions (bucket and queue are wired by the stack).
   * @default ServiceApi defaults
   */
  readonly api?: Omit<ServiceApiProps, 'bucket' | 'queue' | 'promotionMinAccuracy'>;
  /**
   * Least test accuracy for a model to be promoted, by the trainer and by `POST /models/promote`.
   * @default DEFAULT_PROMOTION_MIN_ACCURACY (shared/settings.ts)
   */
  readonly promotionMinAccuracy?: number;
}

/** The whole system: bucket, job queue, Fargate trainer and the prediction/jobs REST API. */
export class LenetStack extends Stack {
  /** The data bucket: datasets, jobs, checkpoints, models (shared/bucket-layout.ts). */
  readonly data: DataBucket;
  readonly jobs: JobQueue;
  readonly trainer: TrainerService;
  readonly api: ServiceApi;

  constructor(scope: Construct, id: string, props: LenetStackProps = {}) {
    super(scope, id, props);
    const local = props.local ?? false;

    // Construct id kept from the former ModelBucket, so the bucket's logical id (and the bucket) stay.
    this.data = new DataBucket(this, 'Storage', {
      removalPolicy: local ? RemovalPolicy.DESTROY : undefined,
      ...props.bucket,
    });
    this.jobs = new JobQueue(this, 'Jobs', props.queue);
    const bucket = this.data.bucket;
    const queue = this.jobs.queue;
    const promotionMinAccuracy = props.promotionMinAccuracy ?? DEFAULT_PROMOTION_MIN_ACCURACY;

    this.trainer = new TrainerService(this, 'Trainer', {
      ...(local
        ? {
            image: ecs.ContainerImage.fromRegistry(props.localTrainerImage ?? 'public.ecr.aws/docker/library/node:20-slim'),
            autoScaling: false,
            vpcFlowLogs: false,
          }
        : {}),
      ...props.trainer,
      bucket,
      queue,
      queueVisibilityTimeout: this.jobs.visibilityTimeout,
      queueMaxReceiveCount: this.jobs.maxReceiveCount,
      promotionMinAccuracy,
    });

    this.api = new ServiceApi(this, 'Api', {
      ...(local ? { bundleAwsSdk: true } : {}),
      ...props.api,
      bucket,
      queue,
      promotionMinAccuracy,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the REST API stage' });
    new CfnOutput(this, 'BucketName', { value: bucket.bucketName });
    new CfnOutput(this, 'QueueUrl', { value: queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.jobs.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'ClusterName', { value: this.trainer.cluster.clusterName });
    new CfnOutput(this, 'TrainerServiceName', { value: this.trainer.service.serviceName });
    new CfnOutput(this, 'JobsOperatorPolicyArn', {
      value: this.api.jobsOperatorPolicy.managedPolicyArn,
      description: 'Attach to IAM users/roles that submit and read jobs and promote better models',
    });
    new CfnOutput(this, 'ModelAdminPolicyArn', {
      value: this.api.modelAdminPolicy.managedPolicyArn,
      description: 'Attach to IAM users/roles that may also force a promotion (POST /models/promote/force)',
    });

    if (local && this.trainer.vpc.node.scope === this.trainer) {
      acknowledge(this.trainer.vpc, [
        {
          id: 'AwsSolutions-VPC7',
          reason: 'Local (MiniStack) mode only: the emulator cannot provision AWS::EC2::FlowLog; the AWS deployment has flow logs.',
        },
      ]);
    }
  }
}
