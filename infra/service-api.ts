import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { bucketWildcardAcks, grantBucketAccess, operatorPolicies } from './access';
import { acknowledge, refOf } from './nag';
import { Construct } from 'constructs';
import { REPO_ROOT } from './paths';
import { BINARY_MEDIA_TYPES, ROUTES, type Route, type RouteTarget } from '../shared/routes';
import { DEFAULT_MODEL_REFRESH_SECONDS, ENV } from '../shared/settings';
import { pageDefines } from '../functions/api/web/build';

/** Props of {@link ServiceApi}. */
/**
 * What the functions take from the Lambda runtime instead of bundling: the AWS SDK's service
 * clients, which Node.js runtimes ship. Everything else, the S3 presigner included, is bundled: the
 * runtime's copy of those is a convenience AWS does not promise.
 */
export const RUNTIME_SDK_MODULES = ['@aws-sdk/client-*'] as const;

export interface ServiceApiProps {
  /** Bucket with the models (read by predict; read/write by the api function). */
  readonly bucket: s3.IBucket;
  /** Training-job queue the api function sends jobs to. */
  readonly queue: sqs.IQueue;
  /** Least test accuracy for `POST /models/promote` (the trainer gets the same). */
  readonly promotionMinAccuracy: number;
  /**
   * The trainer's ECS service: POST /jobs raises its desired count from 0 to 1 so a job does not wait
   * for the queue-depth alarm. The api function may describe and update this one service only.
   */
  readonly trainerService?: ecs.FargateService;
  /**
   * How often the predict function re-checks the served-model pointer.
   * @default DEFAULT_MODEL_REFRESH_SECONDS (shared/settings.ts)
   */
  readonly modelRefreshSeconds?: number;

  /**
   * Memory of the predict function (MiB). TF.js-wasm inference of LeNet-5 is CPU-bound and
   * Lambda CPU scales with memory.
   * @default 1024
   */
  readonly predictMemorySize?: number;
  /**
   * Reserved concurrency of the predict function: the most copies that run at once, which caps
   * what anonymous prediction traffic can spend (the stage throttle caps requests, this caps
   * the compute behind them, and keeps the rest of the account's concurrency for other
   * functions). Lambda keeps 100 of the account's concurrency unreserved, so the account's limit
   * must be at least this plus 100. New accounts start at 10, where any reservation fails the
   * deploy, so there is none by default (`-c predictReservedConcurrency=N` sets one;
   * `npm run predeploy-check -- --reserved N` says whether it fits). docs/security.md has the trade-off.
   * @default undefined (no reservation: the stage throttle alone caps prediction traffic)
   */
  readonly predictReservedConcurrency?: number;
  /**
   * Timeout of the predict function (covers a cold start that loads the model from S3).
   * @default Duration.seconds(15)
   */
  readonly predictTimeout?: Duration;
  /**
   * Memory of the api function (MiB).
   * @default 256
   */
  readonly apiMemorySize?: number;
  /**
   * Timeout of the api function.
   * @default Duration.seconds(10)
   */
  readonly apiTimeout?: Duration;
  /**
   * Lambda architecture. arm64 (Graviton) because both functions are pure JavaScript plus
   * WebAssembly, with no native modules, and arm64 costs less per GB-second.
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;
  /**
   * Lambda runtime of both functions; the bundles target the same Node major. Node.js 24 has Lambda
   * support until 2028; nodejs20.x is deprecated (no new functions from early 2027).
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
  /**
   * Bundle `@aws-sdk/*` into the functions instead of using the copy in the Lambda runtime.
   * Needed on an emulator that runs handlers with the host's `node` (MiniStack), which has no SDK.
   * @default false
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * Name of the API Gateway stage.
   * @default 'prod'
   */
  readonly stageName?: string;
  /**
   * Stage-wide throttling (steady requests per second; burst is twice this).
   * @default 50
   */
  readonly throttlingRateLimit?: number;
  /**
   * Retention of the function and API access log groups.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of those log groups.
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The REST API and its two Lambda functions, predict and api, with the routes of shared/routes.ts.
 * All are Lambda proxy integrations. Raw image and multipart bodies are binary media types, so
 * they reach the function base64-encoded.
 */
export class ServiceApi extends Construct {
  /** The predict function (S3 read only). */
  readonly predictFunction: NodejsFunction;
  /** The api function (S3 read/write, SQS send). */
  readonly apiFunction: NodejsFunction;
  /** The REST API. */
  readonly restApi: apigw.RestApi;
  /** The URL of the deployed stage, ending in '/'. */
  readonly url: string;
  /** Attach to people who submit and read jobs and promote better models. */
  readonly jobsOperatorPolicy: iam.ManagedPolicy;
  /** Attach to people who may also serve a model over a better one (force). */
  readonly modelAdminPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: ServiceApiProps) {
    super(scope, id);
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const removalPolicy = props.logRemovalPolicy ?? RemovalPolicy.DESTROY;
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const runtime = props.runtime ?? lambda.Runtime.NODEJS_24_X;

    const bundling = (copyWasm: boolean): BundlingOptions => ({
      format: OutputFormat.CJS,
      target: esbuildTarget(runtime),
      minify: true,
      sourceMap: false,
      externalModules: props.bundleAwsSdk ? [] : [...RUNTIME_SDK_MODULES],
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        // The wasm backend loads its .wasm binary at run time from next to index.js (= LAMBDA_TASK_ROOT).
        // Only the SIMD build and its plain fallback: Node runs tfjs-wasm single-threaded, so the
        // threaded build would never load.
        afterBundling: (inputDir: string, outputDir: string) =>
          copyWasm
            ? ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'].map(
                (file) => `cp "${inputDir}/node_modules/@tensorflow/tfjs-backend-wasm/dist/${file}" "${outputDir}/"`,
              )
            : [],
      },
    });

    const common = {
      runtime,
      architecture,
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
    };

    this.predictFunction = new NodejsFunction(this, 'PredictFunction', {
      ...common,
      entry: path.join(REPO_ROOT, 'functions/predict/handler.ts'),
      description: 'POST /predict: LeNet-5 inference with TF.js (wasm backend)',
      memorySize: props.predictMemorySize ?? 1024,
      timeout: props.predictTimeout ?? Duration.seconds(15),
      reservedConcurrentExecutions: props.predictReservedConcurrency,
      environment: {
        [ENV.bucketName]: props.bucket.bucketName,
        [ENV.modelRefreshSeconds]: String(props.modelRefreshSeconds ?? DEFAULT_MODEL_REFRESH_SECONDS),
      },
      bundling: bundling(true),
      logGroup: new logs.LogGroup(this, 'PredictLogs', { retention, removalPolicy }),
    });
    grantBucketAccess(props.bucket, 'predict', this.predictFunction);

    this.apiFunction = new NodejsFunction(this, 'ApiFunction', {
      ...common,
      entry: path.join(REPO_ROOT, 'functions/api/handler.ts'),
      description: 'Web page, models and training jobs API',
      memorySize: props.apiMemorySize ?? 256,
      timeout: props.apiTimeout ?? Duration.seconds(10),
      environment: {
        [ENV.bucketName]: props.bucket.bucketName,
        [ENV.queueUrl]: props.queue.queueUrl,
        [ENV.promotionMinAccuracy]: String(props.promotionMinAccuracy),
        ...(props.trainerService
          ? { [ENV.trainerCluster]: props.trainerService.cluster.clusterName, [ENV.trainerService]: props.trainerService.serviceName }
          : {}),
      },
      // The page is built here, at synth, and enters the bundle as string constants (functions/api/page.ts).
      bundling: { ...bundling(false), define: pageDefines() },
      logGroup: new logs.LogGroup(this, 'ApiLogs', { retention, removalPolicy }),
    });
    grantBucketAccess(props.bucket, 'api', this.apiFunction);
    props.queue.grantSendMessages(this.apiFunction);
    if (props.trainerService) {
      this.apiFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'StartTrainer',
          actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
          resources: [props.trainerService.serviceArn],
        }),
      );
    }

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention, removalPolicy });
    const rate = props.throttlingRateLimit ?? 50;
    const stageName = props.stageName ?? 'prod';
    this.restApi = new apigw.RestApi(this, 'RestApi', {
      description: 'LeNet-5 MNIST: predictions, models and training jobs',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // POST /predict takes raw images and multipart forms; API Gateway passes these to the
      // function base64-encoded (isBase64Encoded) instead of as text, which would corrupt them.
      binaryMediaTypes: BINARY_MEDIA_TYPES,
      // The role API Gateway logs through is one per account and region (AWS::ApiGateway::Account):
      // deleting this stack must not take logging away from every other API in the account.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        throttlingRateLimit: rate,
        throttlingBurstLimit: rate * 2,
        methodOptions: Object.fromEntries(
          (ROUTES as readonly Route[])
            .filter((r) => r.throttle)
            .map((r) => [
              `${r.path}/${r.method}`,
              { throttlingRateLimit: r.throttle!.rateLimit, throttlingBurstLimit: r.throttle!.burstLimit },
            ]),
        ),
      },
    });

    const integrations: Record<RouteTarget, apigw.LambdaIntegration> = {
      predict: new apigw.LambdaIntegration(this.predictFunction, { allowTestInvoke: false }),
      api: new apigw.LambdaIntegration(this.apiFunction, { allowTestInvoke: false }),
    };
    for (const route of ROUTES as readonly Route[]) {
      // resourceForPath adds each missing path part with the part as its construct id, as addResource did.
      const resource = route.path === '/' ? this.restApi.root : this.restApi.root.resourceForPath(route.path);
      resource.addMethod(route.method, integrations[route.target], {
        authorizationType: route.auth === 'iam' ? apigw.AuthorizationType.IAM : apigw.AuthorizationType.NONE,
      });
    }
    this.url = this.restApi.url;
    const policies = operatorPolicies(this, this.restApi, stageName);
    this.jobsOperatorPolicy = policies.operator;
    this.modelAdminPolicy = policies.admin;

    const basicRole = {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: "AWSLambdaBasicExecutionRole only allows writing the function's own CloudWatch logs.",
    };
    acknowledge(this.predictFunction, [basicRole, ...bucketWildcardAcks(props.bucket, 'predict')]);
    acknowledge(this.apiFunction, [basicRole, ...bucketWildcardAcks(props.bucket, 'api')]);
    acknowledge(this.restApi, [
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'AmazonAPIGatewayPushToCloudWatchLogs is the AWS-managed policy of the account-level API Gateway logging role.',
      },
      { id: 'AwsSolutions-APIG2', reason: 'The handlers validate every request body with zod schemas and answer 400 themselves.' },
      {
        id: 'AwsSolutions-APIG3',
        reason: 'Demo/training API: stage throttling limits abuse; a WAF web ACL would cost more than the rest of the stack.',
      },
    ]);
    // APIG4 only for the public routes; COG4 for all: the others use IAM (SigV4), not Cognito.
    for (const route of ROUTES as readonly Route[]) {
      const resource = route.path === '/' ? this.restApi.root : this.restApi.root.resourceForPath(route.path);
      const method = resource.node.findChild(route.method);
      const what = `${route.method} ${route.path}`;
      acknowledge(
        method,
        route.auth === 'none'
          ? [
              {
                id: 'AwsSolutions-APIG4',
                reason: `${what} is public on purpose: the draw-a-digit page and its predictions need no account (issue 10).`,
              },
              { id: 'AwsSolutions-COG4', reason: `${what} is public on purpose; the job and model routes use IAM authorization.` },
            ]
          : [
              {
                id: 'AwsSolutions-COG4',
                reason: `${what} uses IAM (SigV4) authorization: its callers are AWS identities, not Cognito users.`,
              },
            ],
      );
    }
    // One acknowledgement per IAM route with a path parameter (invokeArns writes it as "*"), from the route table.
    const parameterised = (ROUTES as readonly Route[]).filter((r) => r.auth === 'iam' && r.path.includes('{'));
    for (const policy of [this.jobsOperatorPolicy, this.modelAdminPolicy]) {
      acknowledge(
        policy,
        parameterised.map((r) => ({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:${refOf(this.restApi)}/${stageName}/${r.method}${r.path.replace(/\{[^}]+\}/g, '*')}]`,
          reason: `execute-api:Invoke on ${r.method} ${r.path} of this API and stage: "*" stands for the job id path parameter.`,
        })),
      );
    }
  }
}

/** The esbuild target for a Lambda Node.js runtime: `nodejs24.x` → `node24`. */
export function esbuildTarget(runtime: lambda.Runtime): string {
  const major = /^nodejs(\d+)\.x$/.exec(runtime.name)?.[1];
  if (!major) throw new Error(`not a Node.js Lambda runtime: ${runtime.name}`);
  return `node${major}`;
}
