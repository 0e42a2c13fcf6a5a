import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Stage } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { acknowledge, refOf } from './nag';
import { bucketWildcardAcks, grantBucketAccess } from './access';
import { Construct } from 'constructs';
import { REPO_ROOT } from './paths';
import { ENV } from '../shared/settings';

/** How {@link TrainerService} mixes Fargate Spot and on-demand tasks (a capacity provider strategy). */
export interface SpotOptions {
  /** @default 4 */
  readonly spotWeight?: number;
  /** @default 1 */
  readonly onDemandWeight?: number;
  /** @default 1 */
  readonly onDemandBase?: number;
}

/** The defaults of {@link TrainerServiceProps}, as documented there. */
const DEFAULTS = {
  dockerfile: 'functions/trainer/Dockerfile',
  exclude: ['node_modules', 'cdk.out', '.git', '.venv', '.venv-tools', '.local', 'artifacts', 'tmp', '*.log'],
  cpu: 2048,
  memoryLimitMiB: 4096,
  cpuArchitecture: ecs.CpuArchitecture.X86_64,
  maxTasks: 2,
  autoScaling: true,
  spot: { spotWeight: 4, onDemandWeight: 1, onDemandBase: 1 },
  vpcFlowLogs: true,
  restrictDefaultSecurityGroup: true,
  logRetention: logs.RetentionDays.ONE_MONTH,
  logRemovalPolicy: RemovalPolicy.DESTROY,
} as const;

/** Props of {@link TrainerService}. */
export interface TrainerServiceProps {
  /** Bucket the trainer reads datasets from and writes checkpoints, models and job documents to (read/write). */
  readonly bucket: s3.IBucket;
  /** Training-job queue the trainer long-polls (receive, change visibility, delete). */
  readonly queue: sqs.IQueue;
  /** The queue's visibility timeout: the trainer's heartbeat extends messages by it and its lease lasts as long. */
  readonly queueVisibilityTimeout: Duration;
  /** The queue's maxReceiveCount: the trainer marks a failing job FAILED on that receive. */
  readonly queueMaxReceiveCount: number;
  /** Least test accuracy for the trainer to promote a finished model (the api function gets the same). */
  readonly promotionMinAccuracy: number;

  /**
   * Container image of the trainer. Give one to skip the Docker asset, e.g.
   * `ecs.ContainerImage.fromRegistry(...)` where Docker cannot build (local emulator).
   * @default ecs.ContainerImage.fromAsset(buildContext, { file: dockerfile, platform }) — built by `cdk deploy`
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Docker build context of the default image asset. The repo root, because the trainer
   * imports `shared/`. The root `.dockerignore` (which CDK reads) allow-lists what the image needs,
   * so `cdk synth -o <any dir>` never stages the assembly into its own asset.
   * @default the repository root
   */
  readonly buildContext?: string;
  /**
   * Dockerfile of the default image asset, relative to `buildContext`.
   * @default 'functions/trainer/Dockerfile'
   */
  readonly dockerfile?: string;
  /**
   * Paths (.dockerignore syntax) left out of the build context, which also keeps asset hashing fast.
   * @default node_modules, cdk.out, .git, .venv, .venv-tools, .local, artifacts, tmp, *.log
   */
  readonly exclude?: string[];

  /**
   * Fargate task CPU units.
   * @default 2048 (2 vCPU)
   */
  readonly cpu?: number;
  /**
   * Fargate task memory (MiB).
   * @default 4096
   */
  readonly memoryLimitMiB?: number;
  /**
   * CPU architecture of the task (and of the default image asset). x86_64 because the
   * trainer may use the native `@tensorflow/tfjs-node` binding, whose prebuilt libtensorflow
   * is x86_64 only.
   * @default ecs.CpuArchitecture.X86_64
   */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
  /**
   * Upper bound of running trainer tasks; the service scales between 0 and this on queue depth.
   * @default 2
   */
  readonly maxTasks?: number;
  /**
   * Scale on queue depth with Application Auto Scaling. Turn off where it cannot be
   * provisioned (MiniStack has no AWS::ApplicationAutoScaling::* resources); the service then
   * stays at its desired count of 0 until changed by hand.
   * @default true
   */
  readonly autoScaling?: boolean;
  /**
   * Fargate Spot with on-demand Fargate beside it (a capacity provider strategy). ECS places each
   * new task by the weights: of every `spotWeight + onDemandWeight` tasks, `onDemandWeight` run
   * on-demand, after the first `onDemandBase` tasks, which always do. A Spot task that AWS
   * reclaims gets SIGTERM two minutes ahead; the trainer checkpoints mid-epoch and returns its
   * job to the queue, and the next task resumes it. ECS waits for Spot capacity rather than falling
   * back, so the first task is on-demand: a job never waits with no task running. `false` runs
   * every task on-demand.
   * @default { spotWeight: 4, onDemandWeight: 1, onDemandBase: 1 }
   */
  readonly spot?: false | SpotOptions;
  /**
   * Extra environment variables of the trainer container (the bucket, queue and promotion settings are always set).
   * @default none
   */
  readonly environment?: Record<string, string>;

  /**
   * VPC to run in. Tasks need outbound HTTPS to S3, SQS, ECR, CloudWatch Logs and ECS.
   * @default a new VPC with public subnets only in 2 AZs and no NAT gateway
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Add VPC flow logs (to CloudWatch Logs) to the VPC this construct creates (AwsSolutions-VPC7).
   * @default true
   */
  readonly vpcFlowLogs?: boolean;
  /**
   * Strip every rule from the default security group of the VPC this construct creates (a
   * CDK custom resource; the tasks use their own group). Off where custom-resource Lambdas
   * cannot call EC2 (MiniStack).
   * @default true
   */
  readonly restrictDefaultSecurityGroup?: boolean;
  /**
   * Retention of the container and flow log groups.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log groups.
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A Fargate service that runs the long-running trainer (`functions/trainer/main.ts`). It
 * long-polls the job queue, scales from 0 to `maxTasks` on queue depth, and is never cut off
 * mid-job by scale-in because the trainer sets ECS task scale-in protection while it trains.
 *
 * Networking: tasks run in PUBLIC subnets with a public IP and a security group with no
 * inbound rules, so they reach S3, SQS, ECR, CloudWatch Logs and the ECS APIs over the
 * internet gateway. That costs nothing at rest, whereas one NAT gateway (~$32/month) or the
 * 6+ interface endpoints (ECR api/dkr, logs, sqs, ecs...; ~$7/month each per AZ) a private
 * subnet would need cost money even when the service is scaled to 0.
 */
export class TrainerService extends Construct {
  /** The VPC the tasks run in. */
  readonly vpc: ec2.IVpc;
  /** The ECS cluster. */
  readonly cluster: ecs.Cluster;
  /** The Fargate task definition. */
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The trainer container. */
  readonly container: ecs.ContainerDefinition;
  /** The role the trainer assumes for batch predictions' S3 reads and writes. */
  readonly batchRole: iam.Role;
  /** The Fargate service. */
  readonly service: ecs.FargateService;
  /** The security group of the tasks (no inbound rules). */
  readonly securityGroup: ec2.SecurityGroup;
  /** The container log group. */
  readonly logGroup: logs.LogGroup;
  /** The scalable task count, if auto scaling is on. */
  readonly scalableTaskCount?: ecs.ScalableTaskCount;
  /** The queue-depth metric the service scales on (visible + in-flight messages). */
  readonly queueDepthMetric: cloudwatch.IMetric;

  constructor(scope: Construct, id: string, props: TrainerServiceProps) {
    super(scope, id);
    const logGroupProps: logs.LogGroupProps = {
      retention: props.logRetention ?? DEFAULTS.logRetention,
      removalPolicy: props.logRemovalPolicy ?? DEFAULTS.logRemovalPolicy,
    };
    const cpuArchitecture = props.cpuArchitecture ?? DEFAULTS.cpuArchitecture;
    const spot = props.spot === false ? undefined : { ...DEFAULTS.spot, ...props.spot };
    const autoScaling = props.autoScaling ?? DEFAULTS.autoScaling;

    this.vpc = props.vpc ?? this.createVpc(props, logGroupProps);
    this.cluster = this.createCluster(spot !== undefined, cpuArchitecture);
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: props.cpu ?? DEFAULTS.cpu,
      memoryLimitMiB: props.memoryLimitMiB ?? DEFAULTS.memoryLimitMiB,
      runtimePlatform: { cpuArchitecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.logGroup = new logs.LogGroup(this, 'LogGroup', logGroupProps);
    this.container = this.addTrainerContainer(props, cpuArchitecture);
    this.grantTaskRole(props);
    this.batchRole = this.createBatchRole(props);
    this.container.addEnvironment(ENV.batchRoleArn, this.batchRole.roleArn);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Trainer tasks: no inbound, HTTPS out to AWS APIs',
      allowAllOutbound: true,
    });
    this.service = this.createService(spot, autoScaling);
    this.queueDepthMetric = queueDepthMetric(props.queue);
    if (autoScaling) this.scalableTaskCount = this.scaleOnQueueDepth(props.maxTasks ?? DEFAULTS.maxTasks);
    this.acknowledgeNagFindings(props.bucket);
  }

  /** Public subnets only, no NAT gateway (see the class comment), with REJECT flow logs unless turned off. */
  private createVpc(props: TrainerServiceProps, logGroupProps: logs.LogGroupProps): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      restrictDefaultSecurityGroup: props.restrictDefaultSecurityGroup ?? DEFAULTS.restrictDefaultSecurityGroup,
    });
    if (props.vpcFlowLogs ?? DEFAULTS.vpcFlowLogs) {
      vpc.addFlowLog('FlowLog', {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(new logs.LogGroup(this, 'FlowLogGroup', logGroupProps)),
        trafficType: ec2.FlowLogTrafficType.REJECT,
      });
    }
    return vpc;
  }

  private createCluster(spot: boolean, cpuArchitecture: ecs.CpuArchitecture): ecs.Cluster {
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    if (spot) {
      if (cpuArchitecture !== ecs.CpuArchitecture.X86_64)
        throw new Error('Fargate Spot runs X86_64 tasks only; set spot: false for ARM64.');
      // On the cluster itself rather than through cluster.enableFargateCapacityProviders(), whose
      // AWS::ECS::ClusterCapacityProviderAssociations resource MiniStack cannot create.
      (cluster.node.defaultChild as ecs.CfnCluster).capacityProviders = ['FARGATE', 'FARGATE_SPOT'];
    }
    return cluster;
  }

  /** The trainer container, with every setting its config reads from the constants that define the queue and the API. */
  private addTrainerContainer(props: TrainerServiceProps, cpuArchitecture: ecs.CpuArchitecture): ecs.ContainerDefinition {
    return this.taskDefinition.addContainer('trainer', {
      image: props.image ?? this.imageAsset(props, cpuArchitecture),
      essential: true,
      environment: {
        ...props.environment,
        [ENV.bucketName]: props.bucket.bucketName,
        [ENV.queueUrl]: props.queue.queueUrl,
        [ENV.promotionMinAccuracy]: String(props.promotionMinAccuracy),
        [ENV.visibilityTimeoutSeconds]: String(props.queueVisibilityTimeout.toSeconds()),
        [ENV.maxReceives]: String(props.queueMaxReceiveCount),
      },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'trainer', logGroup: this.logGroup }),
      // Fargate's maximum: time for the trainer to write a checkpoint and release its message on SIGTERM.
      stopTimeout: Duration.seconds(120),
    });
  }

  /** The image `cdk deploy` builds from functions/trainer/Dockerfile. */
  private imageAsset(props: TrainerServiceProps, cpuArchitecture: ecs.CpuArchitecture): ecs.ContainerImage {
    const buildContext = props.buildContext ?? REPO_ROOT;
    return ecs.ContainerImage.fromAsset(buildContext, {
      file: props.dockerfile ?? DEFAULTS.dockerfile,
      exclude: [...(props.exclude ?? DEFAULTS.exclude), ...outdirInside(buildContext, Stage.of(this)?.outdir)],
      platform: cpuArchitecture === ecs.CpuArchitecture.ARM64 ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
    });
  }

  /**
   * The role a trainer assumes for one batch prediction's S3 reads and writes. It may touch only the
   * bucket's batch area, and each session narrows it further to one job's two prefixes; the task
   * role itself has no access to batch/.
   */
  private createBatchRole(props: TrainerServiceProps): iam.Role {
    const role = new iam.Role(this, 'BatchRole', {
      assumedBy: new iam.ArnPrincipal(this.taskDefinition.taskRole.roleArn),
      description: 'Batch prediction: read one input prefix and write one output prefix of the batch area (session policy per job)',
      maxSessionDuration: Duration.hours(1),
    });
    grantBucketAccess(props.bucket, 'batch', role);
    role.grantAssumeRole(this.taskDefinition.taskRole);
    acknowledge(role, bucketWildcardAcks(props.bucket, 'batch'));
    return role;
  }

  private grantTaskRole(props: TrainerServiceProps): void {
    const taskRole = this.taskDefinition.taskRole;
    grantBucketAccess(props.bucket, 'trainer', taskRole);
    props.queue.grantConsumeMessages(taskRole);
    // Task scale-in protection. The trainer PUTs $ECS_AGENT_URI/task-protection/v1/state
    // ({"ProtectionEnabled": true, "ExpiresInMinutes": n}) while a job runs. The agent endpoint
    // is not IAM-free: the ECS agent forwards it as ecs:UpdateTaskProtection / ecs:GetTaskProtection
    // signed with the TASK ROLE's credentials, so the task role needs both, scoped to tasks of this cluster.
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:UpdateTaskProtection', 'ecs:GetTaskProtection'],
        resources: [Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` })],
      }),
    );
  }

  private createService(spot: Required<SpotOptions> | undefined, autoScaling: boolean): ecs.FargateService {
    return new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      // Left unset with auto scaling, which owns the count: a DesiredCount in the template would be
      // re-applied by every deploy. Without it nothing else sets the count, so it starts at 0.
      desiredCount: autoScaling ? undefined : 0,
      capacityProviderStrategies: spot && [
        { capacityProvider: 'FARGATE_SPOT', weight: spot.spotWeight },
        { capacityProvider: 'FARGATE', weight: spot.onDemandWeight, base: spot.onDemandBase },
      ],
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      assignPublicIp: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [this.securityGroup],
      circuitBreaker: { enable: true, rollback: true },
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
  }

  /** One task per job, up to maxTasks: exact capacity = min(jobs, maxTasks). */
  private scaleOnQueueDepth(maxTasks: number): ecs.ScalableTaskCount {
    const taskCount = this.service.autoScaleTaskCount({ minCapacity: 0, maxCapacity: maxTasks });
    const steps: appscaling.ScalingInterval[] = [{ upper: 0, change: 0 }];
    for (let n = 1; n <= maxTasks; n++) steps.push({ lower: n, change: n });
    taskCount.scaleOnMetric('ScaleOnQueueDepth', {
      metric: this.queueDepthMetric,
      scalingSteps: steps,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.seconds(60),
      evaluationPeriods: 1,
    });
    return taskCount;
  }

  private acknowledgeNagFindings(bucket: s3.IBucket): void {
    acknowledge(this.taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason: 'BUCKET_NAME and QUEUE_URL are resource names, not secrets; there is nothing to keep in Secrets Manager/SSM.',
      },
      ...bucketWildcardAcks(bucket, 'trainer'),
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/${refOf(this.cluster)}/*]`,
        reason: "Task scale-in protection of this cluster's own tasks; task ids are not known in advance.",
      },
    ]);
    if (this.taskDefinition.executionRole) {
      acknowledge(this.taskDefinition.executionRole, [
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason:
            'Only ecr:GetAuthorizationToken, which has no resource-level permissions (AWS requires "*"); the image pull actions themselves are scoped to the asset repository.',
        },
      ]);
    }
  }
}

/**
 * Queue depth = visible + in-flight messages: a job being trained stays "in flight", so the service
 * is only scaled to 0 once no job is queued or running. Scale-in while a task is still busy is
 * harmless anyway: ECS skips tasks with scale-in protection.
 */
function queueDepthMetric(queue: sqs.IQueue): cloudwatch.IMetric {
  return new cloudwatch.MathExpression({
    expression: 'visible + inflight',
    label: 'Training jobs queued or running',
    period: Duration.minutes(1),
    usingMetrics: {
      visible: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
      inflight: queue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
    },
  });
}

/**
 * The synthesis output directory, relative to the build context, when it lies inside it: staging the
 * context into it would copy the asset into itself (`cdk synth -o <a folder in the repo>`).
 */
function outdirInside(buildContext: string, outdir: string | undefined): string[] {
  if (!outdir) return [];
  const rel = path.relative(path.resolve(buildContext), path.resolve(outdir));
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? [rel] : [];
}
