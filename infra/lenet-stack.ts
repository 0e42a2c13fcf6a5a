import { Aspects, CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { DropImpliedDependsOn } from './depends-on';
import { Monitoring } from './monitoring';
import { acknowledge } from './nag';
import type { Construct } from 'constructs';
import { DEFAULT_PROMOTION_MIN_ACCURACY } from '../shared/settings';
import { StackOutput } from '../shared/stack';
import { JobQueue, type JobQueueProps } from './job-queue';
import { DataBucket, type DataBucketProps } from './data-bucket';
import { ServiceApi, type ServiceApiProps } from './service-api';
import { TrainerService, type TrainerServiceProps } from './trainer-service';
import { LOCAL_ECS_IMAGE, runOnMiniStackEcs } from './local-ecs';

/** Props of {@link LenetStack}. */
export interface LenetStackProps extends StackProps {
  /**
   * Local mode, for the MiniStack emulator (`cdk deploy -c local=true`). Changes only what the
   * emulator cannot do, and keeps every resource type it can:
   * - trainer image from a registry instead of a Docker asset (no Docker engine to build it);
   * - no Application Auto Scaling resources (MiniStack cannot provision them);
   * - no VPC flow log (MiniStack cannot provision AWS::EC2::FlowLog);
   * - the VPC's default security group keeps its rules (the custom resource that strips them needs
   *   a Lambda runtime with the AWS SDK, which MiniStack's host-process Lambdas lack);
   * - `@aws-sdk/*` bundled into the functions (MiniStack runs them with the host's node, which has no SDK);
   * - data bucket removal policy DESTROY.
   * @default false
   */
  readonly local?: boolean;
  /**
   * Trainer image used in local mode. Without `localEcs` it is never pulled: MiniStack only records
   * the task definition and the service stays at 0 tasks. With `localEcs` it must exist in local Docker.
   * @default LOCAL_ECS_IMAGE ('lenet-trainer:local') with `localEcs`, else 'public.ecr.aws/docker/library/node:20-slim'
   */
  readonly localTrainerImage?: string;
  /**
   * Local mode only (`-c localEcs=true`): keep the trainer a real ECS service that MiniStack runs as
   * a Docker container (needs Docker and the Docker SDK for Python in MiniStack's venv), with the
   * locally built image (`localTrainerImage`, default {@link LOCAL_ECS_IMAGE}), host network mode,
   * region and test credentials in its environment (MiniStack does not emulate task roles) and a
   * desired count of 1 (MiniStack has no auto scaling). See infra/local-ecs.ts. Ignored outside local mode.
   * @default false (the service stays at 0 tasks; `npm start` runs the trainer as a host process)
   */
  readonly localEcs?: boolean;
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
  readonly trainer?: Omit<
    TrainerServiceProps,
    'bucket' | 'queue' | 'queueVisibilityTimeout' | 'queueMaxReceiveCount' | 'promotionMinAccuracy'
  >;
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
  /**
   * ARN of an existing SNS topic for the alarms (dead-lettered jobs, failed jobs); from the app:
   * `cdk deploy -c alarmTopicArn=arn:aws:sns:...`.
   * @default no notifications; the alarms show in the CloudWatch console and on the dashboard
   */
  readonly alarmTopicArn?: string;
}

/** The whole system: bucket, job queue, Fargate trainer and the prediction/jobs REST API. */
export class LenetStack extends Stack {
  /** The data bucket: datasets, jobs, checkpoints, models (shared/bucket-layout.ts). */
  readonly data: DataBucket;
  readonly jobs: JobQueue;
  readonly trainer: TrainerService;
  readonly api: ServiceApi;
  readonly monitoring: Monitoring;

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
            image: ecs.ContainerImage.fromRegistry(
              props.localTrainerImage ?? (props.localEcs ? LOCAL_ECS_IMAGE : 'public.ecr.aws/docker/library/node:20-slim'),
            ),
            autoScaling: false,
            vpcFlowLogs: false,
            restrictDefaultSecurityGroup: false,
          }
        : {}),
      ...props.trainer,
      bucket,
      queue,
      queueVisibilityTimeout: this.jobs.visibilityTimeout,
      queueMaxReceiveCount: this.jobs.maxReceiveCount,
      promotionMinAccuracy,
    });
    if (local && props.localEcs) runOnMiniStackEcs(this.trainer);

    this.api = new ServiceApi(this, 'Api', {
      // Locally the functions run on this machine's CPU (LocalStack's Docker executor pulls the image for
      // the function's architecture; MiniStack ignores it).
      ...(local
        ? { bundleAwsSdk: true, architecture: process.arch === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64 }
        : {}),
      ...props.api,
      bucket,
      queue,
      promotionMinAccuracy,
      // Locally only the ECS mode runs the service; otherwise the host-process trainer takes the jobs.
      trainerService: !local || props.localEcs ? this.trainer.service : undefined,
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      queue,
      deadLetterQueue: this.jobs.deadLetterQueue,
      queueDepth: this.trainer.queueDepthMetric,
      predictFunction: this.api.predictFunction,
      restApi: this.api.restApi,
      alarmTopic: props.alarmTopicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) : undefined,
    });

    // cfn-lint W3005: CDK writes DependsOn entries that a Ref/GetAtt already implies.
    Aspects.of(this).add(new DropImpliedDependsOn());

    new CfnOutput(this, StackOutput.ApiUrl, { value: this.api.url, description: 'Base URL of the REST API stage' });
    new CfnOutput(this, StackOutput.BucketName, { value: bucket.bucketName });
    new CfnOutput(this, StackOutput.QueueUrl, { value: queue.queueUrl });
    new CfnOutput(this, StackOutput.DeadLetterQueueUrl, { value: this.jobs.deadLetterQueue.queueUrl });
    new CfnOutput(this, StackOutput.ClusterName, { value: this.trainer.cluster.clusterName });
    new CfnOutput(this, StackOutput.TrainerServiceName, { value: this.trainer.service.serviceName });
    new CfnOutput(this, StackOutput.BatchRoleArn, {
      value: this.trainer.batchRole.roleArn,
      description: 'The role trainers assume for batch predictions (a host trainer reads it from BATCH_ROLE_ARN)',
    });
    new CfnOutput(this, StackOutput.JobsOperatorPolicyArn, {
      value: this.api.jobsOperatorPolicy.managedPolicyArn,
      description: 'Attach to IAM users/roles that submit and read jobs and promote better models',
    });
    new CfnOutput(this, StackOutput.ModelAdminPolicyArn, {
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
