/**
 * Template assertions on the CDK stack (normal and local/MiniStack mode) plus cdk-nag.
 * No Docker needed: NodejsFunction bundles with the local esbuild, and the trainer's
 * DockerImageAsset is only hashed/staged at synth time (never built).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { LenetStack } from '../../infra/lenet-stack';
import { AwsSolutionsChecks } from '../../infra/nag';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { DEFAULT_DATASET_PREFIX, jobKeys, modelKeys } from '../../shared/bucket-layout';
import { saveCheckpoint } from '../../shared/model-store';
import { buildLeNet5 } from '../../shared/model';
import type { Bucket } from '../../shared/s3-objects';
import type { z } from 'zod';
import { ApiConfigSchema } from '../../functions/api/config';
import { PredictConfigSchema } from '../../functions/predict/config';
import { TrainerConfigSchema } from '../../functions/trainer/config';
import { readConfig } from '../../shared/config';
import { DEFAULT_PROMOTION_MIN_ACCURACY, METRICS } from '../../shared/settings';
import { CFN_LINT, cfnLint } from '../../infra/cfn-lint';
import { esbuildTarget } from '../../infra/service-api';
import { StackOutput } from '../../shared/stack';
import { Runtime } from 'aws-cdk-lib/aws-lambda';

/** The object keys of an epoch, a partial and a final checkpoint, written as the trainer writes them, into a bucket that only records keys. */
async function writtenCheckpointKeys(): Promise<{ epoch: string[]; partial: string[]; final: string[] }> {
  await tf.setBackend('cpu');
  const written: string[] = [];
  const bucket = {
    name: 'fake',
    putBytes: async (key: string) => void written.push(key),
    putJson: async (key: string) => void written.push(key),
  } as unknown as Bucket;
  const model = buildLeNet5({ seed: 1 });
  const info = { jobId: 'job-x', epoch: 1, backend: 'cpu', createdAt: new Date().toISOString() };
  const collect = async (prefix: string) => {
    written.length = 0;
    await saveCheckpoint(bucket, prefix, model, info);
    return [...written];
  };
  const keys = {
    epoch: await collect(modelKeys.epoch('job-x', 1)),
    partial: await collect(modelKeys.partial('job-x', 1, 10)),
    final: await collect(modelKeys.final('job-x')),
  };
  model.dispose();
  return keys;
}

interface Synth {
  app: App;
  stack: LenetStack;
  template: Template;
  outdir: string;
}

/** The feature flags in cdk.json, which `cdk synth`/`cdk deploy` apply: the tests synthesize with the same. */
const CDK_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../cdk.json', import.meta.url)), 'utf8'),
).context;

function synth(local: boolean): Synth {
  const app = new App({ context: CDK_CONTEXT });
  const stack = new LenetStack(app, local ? 'LocalStack' : 'AwsStack', { local });
  const template = Template.fromStack(stack);
  return { app, stack, template, outdir: app.outdir };
}

type Resources = Record<string, { Type: string; Properties?: any; Metadata?: any }>;

/** "METHOD /path" of every API Gateway method, with the function id its proxy integration calls. */
function routes(template: Template): Map<string, string> {
  const resources = template.toJSON().Resources as Resources;
  const pathOf = (ref: any): string => {
    if (ref?.['Fn::GetAtt']) return ''; // RootResourceId
    const id = ref.Ref as string;
    const r = resources[id].Properties;
    return `${pathOf(r.ParentId)}/${r.PathPart}`;
  };
  const out = new Map<string, string>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::ApiGateway::Method') continue;
    const p = r.Properties;
    assert.equal(p.Integration.Type, 'AWS_PROXY');
    const uri = JSON.stringify(p.Integration.Uri);
    const fn = /"(Api\w+Function\w+)"/.exec(uri)?.[1] ?? '?';
    out.set(`${p.HttpMethod} ${pathOf(p.ResourceId) || '/'}`, fn);
  }
  return out;
}

function nagFindings(s: Synth): string[] {
  const report = new AwsSolutionsChecks(s.app).validateScope(s.stack);
  return report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
}

for (const local of [false, true]) {
  describe(`LenetStack (${local ? 'local/MiniStack' : 'AWS'} mode)`, () => {
    let s: Synth;
    before(() => {
      s = synth(local);
    });

    it('bucket: versioned, encrypted, public access blocked, TLS only', () => {
      s.template.hasResourceProperties('AWS::S3::Bucket', {
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
      });
      const dataBucketId = s.stack.getLogicalId(s.stack.data.bucket.node.defaultChild as any);
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: dataBucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('bucket lifecycle expires the checkpoints the trainer writes, and never final models or the pointer', async () => {
      const bucket = s.template.toJSON().Resources[s.stack.getLogicalId(s.stack.data.bucket.node.defaultChild as any)];
      const rules: any[] = bucket.Properties.LifecycleConfiguration.Rules;
      const expiring = rules.filter((r) => r.ExpirationInDays !== undefined);
      const expires = (key: string) => expiring.some((r) => key.startsWith(r.Prefix ?? '') && !r.TagFilters);
      const keys = await writtenCheckpointKeys();
      assert.ok(keys.epoch.length >= 3 && keys.partial.length >= 3 && keys.final.length >= 3, JSON.stringify(keys));
      for (const key of [...keys.epoch, ...keys.partial]) assert.ok(expires(key), `${key} is not expired by ${JSON.stringify(expiring)}`);
      for (const key of [...keys.final, modelKeys.latest, jobKeys.status('j'), DEFAULT_DATASET_PREFIX + 'train-images-idx3-ubyte']) {
        assert.ok(!expires(key), `${key} must never expire`);
      }
      assert.ok(rules.some((r) => r.NoncurrentVersionExpiration?.NoncurrentDays === 30));
    });

    it('queue: DLQ with maxReceiveCount 3, 5 min visibility, SSE, TLS only', () => {
      s.template.hasResourceProperties('AWS::SQS::Queue', {
        VisibilityTimeout: 300,
        ReceiveMessageWaitTimeSeconds: 20,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { maxReceiveCount: 3, deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'Arn'] } },
      });
      s.template.resourceCountIs('AWS::SQS::Queue', 2);
      const policies = s.template.findResources('AWS::SQS::QueuePolicy');
      assert.equal(Object.keys(policies).length, 2);
      for (const p of Object.values(policies)) {
        assert.match(JSON.stringify(p), /"aws:SecureTransport":"false"/);
      }
    });

    it('API: the api routes (5 specified + GET /jobs + GET /summary + the force route + the model download) and POST /predict, all Lambda proxy integrations', () => {
      const r = routes(s.template);
      const predictId = s.stack.getLogicalId(s.stack.api.predictFunction.node.defaultChild as any);
      const apiId = s.stack.getLogicalId(s.stack.api.apiFunction.node.defaultChild as any);
      assert.deepEqual(
        Object.fromEntries([...r].sort()),
        Object.fromEntries(
          [
            ['GET /', apiId],
            ['GET /summary', apiId],
            ['GET /jobs', apiId],
            ['GET /jobs/{id}', apiId],
            ['GET /models', apiId],
            ['GET /models/{id}/download', apiId],
            ['POST /jobs', apiId],
            ['POST /models/promote', apiId],
            ['POST /models/promote/force', apiId],
            ['POST /sweeps', apiId],
            ['GET /sweeps/{id}', apiId],
            ['POST /sweeps/{id}/cancel', apiId],
            ['GET /models/history', apiId],
            ['POST /models/rollback', apiId],
            ['POST /jobs/{id}/cancel', apiId],
            ['POST /batch-predictions', apiId],
            ['POST /predict', predictId],
          ].sort(),
        ),
      );
      // Raw images and multipart forms must reach POST /predict base64-encoded; JSON stays text.
      s.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        BinaryMediaTypes: ['image/png', 'image/jpeg', 'multipart/form-data'],
      });
    });

    it("Lambdas: Node 24, arm64 on AWS (the host's architecture locally), memory/timeout, env vars", () => {
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: [local && process.arch !== 'arm64' ? 'x86_64' : 'arm64'],
        MemorySize: 1024,
        Timeout: 15,
        // No reservation by default: on a new account (concurrency 10) any would fail the deploy.
        ReservedConcurrentExecutions: Match.absent(),
        Handler: 'index.handler',
        Environment: { Variables: { BUCKET_NAME: Match.anyValue() } },
      });
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Environment: { Variables: { BUCKET_NAME: Match.anyValue(), QUEUE_URL: Match.anyValue() } },
      });
      // Ours; in AWS mode the template also has CDK's custom-resource handler that empties the VPC's default security group.
      assert.equal(Object.keys(s.template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } })).length, 2);
      s.template.resourceCountIs('Custom::VpcRestrictDefaultSG', local ? 0 : 1);
    });

    it("environment: each function and the trainer task get exactly what their config schema reads, from the resources' own settings", () => {
      const res = s.template.toJSON().Resources as Resources;
      const fnEnv = (fn: any) =>
        res[s.stack.getLogicalId(fn.node.defaultChild)].Properties.Environment.Variables as Record<string, unknown>;
      const taskDef = Object.values(res).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
      const trainerEnv = Object.fromEntries(
        (taskDef.Properties.ContainerDefinitions[0].Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]),
      );
      const cases = [
        ['predict', fnEnv(s.stack.api.predictFunction), PredictConfigSchema],
        ['api', fnEnv(s.stack.api.apiFunction), ApiConfigSchema],
        ['trainer', trainerEnv, TrainerConfigSchema],
      ] as const;
      for (const [name, env, schema] of cases) {
        const read = Object.keys(schema.shape);
        const required = read.filter((k) => !(schema.shape as Record<string, z.ZodType>)[k].safeParse(undefined).success);
        assert.deepEqual(
          Object.keys(env).filter((k) => !read.includes(k)),
          [],
          `${name} gets variables its config does not read`,
        );
        assert.deepEqual(
          required.filter((k) => !(k in env)),
          [],
          `${name} lacks required variables`,
        );
        // Tokens (Refs) stand in as placeholder strings; literal values must pass the schema.
        const asStrings = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : 'token']));
        assert.doesNotThrow(() => readConfig(schema, asStrings), name);
      }
      const queue = Object.values(res).find((r) => r.Type === 'AWS::SQS::Queue' && r.Properties?.RedrivePolicy)!.Properties;
      assert.equal(trainerEnv.VISIBILITY_TIMEOUT_SECONDS, String(queue.VisibilityTimeout));
      assert.equal(trainerEnv.MAX_RECEIVES, String(queue.RedrivePolicy.maxReceiveCount));
      assert.equal(trainerEnv.PROMOTION_MIN_ACCURACY, String(DEFAULT_PROMOTION_MIN_ACCURACY));
      assert.equal(fnEnv(s.stack.api.apiFunction).PROMOTION_MIN_ACCURACY, trainerEnv.PROMOTION_MIN_ACCURACY);
    });

    it('one promotion threshold for the trainer and the api function', () => {
      const stack = new LenetStack(new App(), 'Threshold', { local, promotionMinAccuracy: 0.9 });
      const t = Template.fromStack(stack);
      t.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ QUEUE_URL: Match.anyValue(), PROMOTION_MIN_ACCURACY: '0.9' }) },
      });
      t.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'PROMOTION_MIN_ACCURACY', Value: '0.9' }]) })],
      });
    });

    it('predict bundle ships the single-threaded tfjs wasm binaries, not the threaded one Node never loads', () => {
      const fn = s.template.toJSON().Resources[s.stack.getLogicalId(s.stack.api.predictFunction.node.defaultChild as any)];
      const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
      const assetDir = path.join(s.outdir, `asset.${hash}`);
      const files = readdirSync(assetDir);
      assert.ok(files.includes('index.js'), files.join(','));
      assert.deepEqual(files.filter((f) => f.endsWith('.wasm')).sort(), ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm']);
    });

    it('Fargate trainer: Spot with on-demand beside it, public IP, env, logs, task protection permission', () => {
      s.template.hasResourceProperties('AWS::ECS::Service', {
        LaunchType: Match.absent(),
        CapacityProviderStrategy: [
          { CapacityProvider: 'FARGATE_SPOT', Weight: 4 },
          // The first task is always on-demand: a job never waits for Spot capacity with nothing running.
          { CapacityProvider: 'FARGATE', Weight: 1, Base: 1 },
        ],
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED' }) },
      });
      s.template.hasResourceProperties('AWS::ECS::Cluster', { CapacityProviders: ['FARGATE', 'FARGATE_SPOT'] });
      s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      });
      // Auto scaling owns the count on AWS, so the template must not (every deploy would reset it);
      // locally nothing scales, so the service says 0.
      const service = Object.values(s.template.findResources('AWS::ECS::Service'))[0];
      assert.equal(service.Properties.DesiredCount, local ? 0 : undefined);
      s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Cpu: '2048',
        Memory: '4096',
        RequiresCompatibilities: ['FARGATE'],
        ContainerDefinitions: [
          Match.objectLike({
            Environment: Match.arrayWith([
              { Name: 'BUCKET_NAME', Value: Match.anyValue() },
              { Name: 'QUEUE_URL', Value: Match.anyValue() },
            ]),
            LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          }),
        ],
      });
      s.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
      s.template.resourceCountIs('AWS::EC2::NatGateway', 0);
      s.template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection'], Effect: 'Allow' }),
          ]),
        },
      });
    });

    it('IAM: no Resource "*" except ecr:GetAuthorizationToken', () => {
      for (const [id, p] of Object.entries(s.template.findResources('AWS::IAM::Policy'))) {
        for (const st of p.Properties.PolicyDocument.Statement) {
          const resources = [st.Resource].flat();
          if (resources.includes('*')) assert.deepEqual(st.Action, 'ecr:GetAuthorizationToken', `${id}: ${JSON.stringify(st)}`);
        }
      }
    });

    it('alarms: a job in the DLQ and a FailedJobs data point > 0, on the metrics the trainer writes', () => {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::GetAtt': [s.stack.getLogicalId(s.stack.jobs.deadLetterQueue.node.defaultChild as any), 'QueueName'] },
          },
        ],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        TreatMissingData: 'notBreaching',
      });
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: METRICS.namespace,
        MetricName: METRICS.names.failedJobs,
        Dimensions: [{ Name: 'service', Value: METRICS.service }],
        Statistic: 'Sum',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        TreatMissingData: 'notBreaching',
        AlarmActions: Match.absent(),
      });
    });

    it('alarms notify an SNS topic when one is given', () => {
      const arn = 'arn:aws:sns:us-east-1:123456789012:lenet-alarms';
      const t = Template.fromStack(new LenetStack(new App({ context: CDK_CONTEXT }), 'WithTopic', { local, alarmTopicArn: arn }));
      const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a) =>
        /DeadLetter|FailedJobs|failed/i.test(JSON.stringify(a)),
      );
      assert.equal(alarms.filter((a) => JSON.stringify(a.Properties.AlarmActions) === JSON.stringify([arn])).length, 2);
    });

    it('dashboard: queue and DLQ depth, images/s, test accuracy, job outcomes, predict latency and errors', () => {
      const dashboards = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'));
      assert.equal(dashboards.length, 1);
      const body = JSON.stringify(s.stack.resolve(dashboards[0].Properties.DashboardBody));
      for (const name of [
        'ApproximateNumberOfMessagesVisible',
        'ApproximateNumberOfMessagesNotVisible',
        'Duration',
        'Errors',
        '5XXError',
        METRICS.names.imagesPerSecond,
        METRICS.names.testAccuracy,
        METRICS.names.succeededJobs,
        METRICS.names.failedJobs,
        METRICS.names.retriedJobs,
        METRICS.names.cancelledJobs,
      ]) {
        assert.ok(body.includes(`\\"${name}\\"`), `dashboard lacks ${name}`);
      }
      assert.ok(body.includes(METRICS.namespace));
    });

    it('the account-wide API Gateway CloudWatch role and account setting outlive the stack', () => {
      const role = Object.entries(s.template.findResources('AWS::IAM::Role')).find(([, r]) =>
        JSON.stringify(r).includes('AmazonAPIGatewayPushToCloudWatchLogs'),
      )!;
      assert.equal(role[1].DeletionPolicy, 'Retain');
      const account = Object.values(s.template.findResources('AWS::ApiGateway::Account'))[0];
      assert.equal(account.DeletionPolicy, 'Retain');
    });

    it('feature flags: cdk.json holds the recommended set of this aws-cdk-lib; the access-log bucket gets a bucket policy, not an ACL', () => {
      const recommended = JSON.parse(
        readFileSync(fileURLToPath(new URL('../../node_modules/aws-cdk-lib/recommended-feature-flags.json', import.meta.url)), 'utf8'),
      );
      for (const [flag, value] of Object.entries(recommended)) assert.deepEqual(CDK_CONTEXT[flag], value, flag);
      for (const bucket of Object.values(s.template.findResources('AWS::S3::Bucket')))
        assert.equal(bucket.Properties.AccessControl, undefined);
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' })]),
        },
      });
    });

    it('no DependsOn that a Ref or GetAtt of the same resource already implies (cfn-lint W3005)', () => {
      const resources = s.template.toJSON().Resources as Record<string, { DependsOn?: string[]; Properties?: unknown }>;
      for (const [id, r] of Object.entries(resources)) {
        const props = JSON.stringify(r.Properties ?? {});
        for (const dep of r.DependsOn ?? []) {
          assert.ok(
            !props.includes(`{"Ref":"${dep}"}`) && !props.includes(`"Fn::GetAtt":["${dep}"`),
            `${id} DependsOn ${dep}, which it references`,
          );
        }
      }
    });

    it('cfn-lint: no errors, warnings or notes', {
      skip: !existsSync(CFN_LINT) && 'cfn-lint is not installed (.ci/run installs it: npx tsx infra/cfn-lint.ts install)',
    }, () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'cfn-lint-'));
      try {
        const file = path.join(dir, `${local ? 'local' : 'aws'}.template.json`);
        writeFileSync(file, JSON.stringify(s.template.toJSON(), null, 1));
        const { status, output } = cfnLint([file]);
        assert.equal(output, '');
        assert.equal(status, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('API auth: every job and model method is AWS_IAM; only GET / and POST /predict are open', () => {
      const resources = s.template.toJSON().Resources as Resources;
      const pathOf = (ref: any): string =>
        ref?.['Fn::GetAtt'] ? '' : `${pathOf(resources[ref.Ref].Properties.ParentId)}/${resources[ref.Ref].Properties.PathPart}`;
      const auth = Object.fromEntries(
        Object.values(s.template.findResources('AWS::ApiGateway::Method')).map((m) => [
          `${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId) || '/'}`,
          m.Properties.AuthorizationType,
        ]),
      );
      assert.deepEqual(auth, {
        'GET /': 'NONE',
        'GET /summary': 'NONE',
        'POST /predict': 'NONE',
        'GET /jobs': 'AWS_IAM',
        'POST /jobs': 'AWS_IAM',
        'GET /jobs/{id}': 'AWS_IAM',
        'GET /models': 'AWS_IAM',
        'GET /models/{id}/download': 'AWS_IAM',
        'POST /models/promote': 'AWS_IAM',
        'POST /models/promote/force': 'AWS_IAM',
        'POST /sweeps': 'AWS_IAM',
        'GET /sweeps/{id}': 'AWS_IAM',
        'POST /sweeps/{id}/cancel': 'AWS_IAM',
        'GET /models/history': 'AWS_IAM',
        'POST /models/rollback': 'AWS_IAM',
        'POST /jobs/{id}/cancel': 'AWS_IAM',
        'POST /batch-predictions': 'AWS_IAM',
      });
      // No OPTIONS methods: no CORS preflight is ever answered.
      assert.ok(!Object.keys(auth).some((k) => k.startsWith('OPTIONS')));
    });

    it('API throttles: POST /jobs and promotion low, per route', () => {
      const stage = Object.values(s.template.findResources('AWS::ApiGateway::Stage'))[0].Properties;
      const settings = Object.fromEntries(
        (stage.MethodSettings as any[])
          .filter((m) => m.ResourcePath !== '/*')
          .map((m) => [`${m.HttpMethod} ${m.ResourcePath}`, [m.ThrottlingRateLimit, m.ThrottlingBurstLimit]]),
      );
      assert.deepEqual(settings['POST /~1jobs'], [1, 2]);
      assert.deepEqual(settings['POST /~1models~1promote'], [1, 2]);
      assert.deepEqual(settings['POST /~1models~1promote~1force'], [1, 2]);
      assert.deepEqual(settings['GET /~1jobs'], [10, 20]);
      assert.deepEqual(settings['GET /~1models~1{id}~1download'], [10, 20]);
      assert.deepEqual(settings['POST /~1sweeps'], [1, 2]);
      assert.deepEqual(settings['GET /~1sweeps~1{id}'], [10, 20]);
      assert.deepEqual(settings['POST /~1sweeps~1{id}~1cancel'], [1, 2]);
    });

    it('IAM least privilege: no identity or bucket policy allows deleting objects or versions; predict reads models/ only', () => {
      // Every document that can grant: role and user policies, managed policies, inline role policies, the bucket policy.
      const policies = Object.values(s.template.findResources('AWS::IAM::Policy'));
      const docs = [
        ...policies.map((p) => p.Properties.PolicyDocument),
        ...Object.values(s.template.findResources('AWS::IAM::ManagedPolicy')).map((p) => p.Properties.PolicyDocument),
        ...Object.values(s.template.findResources('AWS::IAM::Role')).flatMap((r) =>
          (r.Properties.Policies ?? []).map((p: any) => p.PolicyDocument),
        ),
        ...Object.values(s.template.findResources('AWS::S3::BucketPolicy')).map((p) => p.Properties.PolicyDocument),
      ];
      assert.ok(docs.length >= 4, `found ${docs.length} policy documents`);
      // An action pattern grants a delete if its wildcards can expand to one (s3:*, s3:Delete*, *Object*, *).
      const grantsDelete = (pattern: string) => {
        const re = new RegExp(
          `^${pattern
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.')}$`,
          'i',
        );
        return ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:DeleteBucket', 's3:PutLifecycleConfiguration'].some((a) => re.test(a));
      };
      assert.ok(grantsDelete('s3:*') && grantsDelete('s3:Delete*') && grantsDelete('*') && !grantsDelete('s3:GetObject'));
      for (const st of docs.flatMap((d) => d.Statement as any[])) {
        if (st.Effect !== 'Allow') continue;
        assert.equal(st.NotAction, undefined, `an Allow with NotAction grants everything else: ${JSON.stringify(st)}`);
        const actions = [st.Action].flat() as string[];
        assert.ok(!actions.some(grantsDelete), JSON.stringify(st));
      }
      const predictRole = s.stack.getLogicalId(s.stack.api.predictFunction.role!.node.defaultChild as any);
      const predict = policies.find((p) => JSON.stringify(p.Properties.Roles).includes(predictRole))!;
      const s3 = (predict.Properties.PolicyDocument.Statement as any[]).filter((st) => JSON.stringify(st.Action).includes('s3:'));
      assert.deepEqual(
        s3.map((st) => st.Action),
        ['s3:GetObject', 's3:ListBucket'],
      );
      assert.match(JSON.stringify(s3[0].Resource), /\/models\/\*"/);
      assert.deepEqual(s3[1].Condition, { StringLike: { 's3:prefix': ['models/*'] } });
    });

    it('only the trainer may write under datasets/: the default dataset it seeds (datasets/mnist/*, not datasets/*), create-only (If-None-Match)', () => {
      const writes = Object.values(s.template.findResources('AWS::IAM::Policy')).flatMap((p) =>
        (p.Properties.PolicyDocument.Statement as any[])
          .filter((st) => st.Effect === 'Allow' && [st.Action].flat().some((a: string) => /^s3:(PutObject|\*)$/.test(a)))
          .flatMap((st) => [st.Resource].flat().map((r) => ({ roles: JSON.stringify(p.Properties.Roles), r: JSON.stringify(r), st }))),
      );
      const datasetWrites = writes.filter((w) => w.r.includes('/datasets/'));
      const trainerRole = s.stack.getLogicalId(s.stack.trainer.taskDefinition.taskRole.node.defaultChild as any);
      assert.deepEqual(
        datasetWrites.map((w) => [w.roles.includes(trainerRole), w.r.match(/"\/(datasets\/[^"]*)"/)?.[1], w.st.Condition]),
        [[true, `${DEFAULT_DATASET_PREFIX}*`, { Null: { 's3:if-none-match': 'false' } }]],
      );
      assert.equal(DEFAULT_DATASET_PREFIX, 'datasets/mnist/');
    });

    it('batch/: only the batch role reads and writes it; the trainer task may assume that role and nothing else; the api only lists it', () => {
      const taskRole = s.stack.trainer.taskDefinition.taskRole;
      const trainerRole = s.stack.getLogicalId(taskRole.node.defaultChild as any);
      const batchRole = s.stack.getLogicalId(s.stack.trainer.batchRole.node.defaultChild as any);
      const apiRole = s.stack.getLogicalId(s.stack.api.apiFunction.role!.node.defaultChild as any);
      const statements = Object.values(s.template.findResources('AWS::IAM::Policy')).flatMap((p) =>
        (p.Properties.PolicyDocument.Statement as any[]).map((st) => ({ roles: JSON.stringify(p.Properties.Roles), st })),
      );
      const touching = statements.filter(({ st }) => JSON.stringify(st).includes('batch/'));
      const owner = (roles: string) =>
        roles.includes(batchRole) ? 'batch' : roles.includes(apiRole) ? 'api' : roles.includes(trainerRole) ? 'trainer' : roles;
      assert.deepEqual(touching.map(({ roles, st }) => [owner(roles), [st.Action].flat().sort().join(',')]).sort(), [
        ['api', 's3:ListBucket'],
        ['batch', 's3:GetObject'],
        ['batch', 's3:ListBucket'],
        ['batch', 's3:PutObject'],
      ]);
      const assumes = statements.filter(({ st }) => [st.Action].flat().includes('sts:AssumeRole'));
      assert.deepEqual(
        assumes.map(({ roles, st }) => [owner(roles), JSON.stringify(st.Resource)]),
        [['trainer', JSON.stringify({ 'Fn::GetAtt': [batchRole, 'Arn'] })]],
      );
      const trust = s.template.findResources('AWS::IAM::Role')[batchRole].Properties.AssumeRolePolicyDocument.Statement;
      assert.deepEqual(
        trust.map((st: any) => st.Principal),
        [{ AWS: { 'Fn::GetAtt': [trainerRole, 'Arn'] } }],
      );
      const env = JSON.stringify(s.template.findResources('AWS::ECS::TaskDefinition'));
      assert.match(env, new RegExp(`"Name":"BATCH_ROLE_ARN","Value":\\{"Fn::GetAtt":\\["${batchRole}","Arn"\\]`));
    });

    it('sweeps/: the api role writes sweep documents and may only create the cancel record and (for a cancel) the promotion claim; the trainer may only create the promotion claim and outcome (If-None-Match)', () => {
      const apiRole = s.stack.getLogicalId(s.stack.api.apiFunction.role!.node.defaultChild as any);
      const trainerRole = s.stack.getLogicalId(s.stack.trainer.taskDefinition.taskRole.node.defaultChild as any);
      const sweepWrites = Object.values(s.template.findResources('AWS::IAM::Policy')).flatMap((p) => {
        const roles = JSON.stringify(p.Properties.Roles);
        const who = roles.includes(apiRole) ? 'api' : roles.includes(trainerRole) ? 'trainer' : roles;
        return (p.Properties.PolicyDocument.Statement as any[])
          .filter((st) => st.Effect === 'Allow' && [st.Action].flat().some((a: string) => /^s3:(PutObject|\*)$/.test(a)))
          .flatMap((st) =>
            [st.Resource].flat().map((r) => [who, JSON.stringify(r).match(/"\/(sweeps\/[^"]*)"/)?.[1], st.Condition ?? null]),
          )
          .filter(([, key]) => key !== undefined);
      });
      const createOnly = { Null: { 's3:if-none-match': 'false' } };
      assert.deepEqual(sweepWrites.sort(), [
        ['api', 'sweeps/*.cancel', createOnly],
        ['api', 'sweeps/*.json', null],
        ['api', 'sweeps/*.promotion', createOnly],
        ['trainer', 'sweeps/*.promoted', createOnly],
        ['trainer', 'sweeps/*.promotion', createOnly],
      ]);
    });

    it('sweeps-index/: only the api role writes it (empty entries, as jobs-index/), and it may list it for GET /summary', () => {
      const apiRole = s.stack.getLogicalId(s.stack.api.apiFunction.role!.node.defaultChild as any);
      const policies = Object.values(s.template.findResources('AWS::IAM::Policy'));
      const writers = policies.flatMap((p) =>
        (p.Properties.PolicyDocument.Statement as any[])
          .filter((st) => st.Effect === 'Allow' && [st.Action].flat().some((a: string) => /^s3:(PutObject|\*)$/.test(a)))
          .filter((st) => JSON.stringify(st.Resource).includes('/sweeps-index/'))
          .map(() => p.Properties.Roles),
      );
      assert.deepEqual(writers, [[{ Ref: apiRole }]]);
      const api = policies.find((p) => JSON.stringify(p.Properties.Roles).includes(apiRole))!;
      const listed = (api.Properties.PolicyDocument.Statement as any[])
        .filter((st) => [st.Action].flat().includes('s3:ListBucket'))
        .flatMap((st) => st.Condition.StringLike['s3:prefix']);
      assert.ok(listed.includes('sweeps-index/*'), String(listed));
    });

    it('the served-model history: the api role may only create entries (If-None-Match), never replace one', () => {
      const apiRole = s.stack.getLogicalId(s.stack.api.apiFunction.role!.node.defaultChild as any);
      const policy = Object.values(s.template.findResources('AWS::IAM::Policy')).find((p) =>
        JSON.stringify(p.Properties.Roles).includes(apiRole),
      )!;
      const writes = (policy.Properties.PolicyDocument.Statement as any[]).filter(
        (st) => [st.Action].flat().includes('s3:PutObject') && JSON.stringify(st.Resource).includes('/models/history/'),
      );
      assert.deepEqual(
        writes.map((st) => [JSON.stringify(st.Resource).match(/"\/(models\/[^"]*)"/)?.[1], st.Condition]),
        [['models/history/*', { Null: { 's3:if-none-match': 'false' } }]],
      );
    });

    it('every prefix a role reads it may list, and no listing is unconditioned (S3 answers a missing key with 403 without ListBucket)', () => {
      const objectPattern = (r: unknown) => JSON.stringify(r).match(/"\/([^"]*)"\]\]\}$/)?.[1];
      let roles = 0;
      for (const p of Object.values(s.template.findResources('AWS::IAM::Policy'))) {
        const sts = p.Properties.PolicyDocument.Statement as any[];
        const reads = sts
          .filter((st) => [st.Action].flat().includes('s3:GetObject'))
          .flatMap((st) => [st.Resource].flat().map(objectPattern));
        const lists = sts.filter((st) => [st.Action].flat().includes('s3:ListBucket'));
        for (const st of lists)
          assert.ok(st.Condition?.StringLike?.['s3:prefix'], `ListBucket without a prefix condition: ${JSON.stringify(st)}`);
        if (!reads.length || reads.includes(undefined)) continue;
        roles++;
        const listed = lists.flatMap((st) => st.Condition.StringLike['s3:prefix']);
        for (const read of reads)
          assert.ok(listed.includes(read), `${JSON.stringify(p.Properties.Roles)} reads ${read} but may not list it (${listed})`);
      }
      assert.equal(roles, 4, 'predict, api, trainer and the batch role');
    });

    it('managed policies JobsOperator and ModelAdmin: only ModelAdmin may force a promotion; ARNs are outputs', () => {
      const docs = Object.values(s.template.findResources('AWS::IAM::ManagedPolicy')).map((p) => JSON.stringify(p.Properties));
      const operator = docs.find((d) => d.includes('JobsOperator') || d.includes('submit and read'))!;
      const admin = docs.find((d) => d.includes('force)'))!;
      assert.ok(operator && admin);
      assert.ok(!operator.includes('/POST/models/promote/force'));
      assert.ok(admin.includes('/POST/models/promote/force'));
      // Downloading a model is an operator's read (a presigned URL, no new S3 permission).
      for (const d of [operator, admin]) assert.ok(d.includes('/GET/models/*/download'));
      // Rolling back may serve a less accurate model: ModelAdmin only; the history is an operator's read.
      assert.ok(!operator.includes('/POST/models/rollback'));
      assert.ok(admin.includes('/POST/models/rollback'));
      for (const d of [operator, admin]) assert.ok(d.includes('/GET/models/history'));
      for (const name of ['JobsOperatorPolicyArn', 'ModelAdminPolicyArn']) s.template.hasOutput(name, {});
    });

    it('outputs ApiUrl, BucketName, QueueUrl', () => {
      for (const name of Object.values(StackOutput)) s.template.hasOutput(name, {});
    });

    if (!local) {
      it('scales 0..N on queue depth (step scaling on ApproximateNumberOfMessagesVisible)', () => {
        s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
          MinCapacity: 0,
          MaxCapacity: 2,
          ScalableDimension: 'ecs:service:DesiredCount',
        });
        s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
          PolicyType: 'StepScaling',
          StepScalingPolicyConfiguration: Match.objectLike({ AdjustmentType: 'ExactCapacity' }),
        });
        const alarms = JSON.stringify(s.template.findResources('AWS::CloudWatch::Alarm'));
        assert.match(alarms, /ApproximateNumberOfMessagesVisible/);
        assert.match(alarms, /ApproximateNumberOfMessagesNotVisible/);
      });

      it('synthesizes into any folder, also one inside the repository, without staging that folder into the image context', () => {
        const outdir = fileURLToPath(new URL(`../../synth-out-${process.pid}`, import.meta.url));
        try {
          const app = new App({ context: CDK_CONTEXT, outdir });
          const stack = new LenetStack(app, 'InsideRepo');
          const assembly = app.synth();
          const assets = JSON.parse(readFileSync(path.join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8'));
          const [image] = Object.values(assets.dockerImages) as any[];
          const staged = path.join(assembly.directory, image.source.directory);
          assert.ok(existsSync(path.join(staged, 'functions/trainer/Dockerfile')), 'the context is staged');
          assert.ok(!existsSync(path.join(staged, path.basename(outdir))), 'the output folder is not in the staged context');
        } finally {
          rmSync(outdir, { recursive: true, force: true });
        }
      });

      it('trainer image is a Docker asset built from functions/trainer/Dockerfile; VPC has flow logs', () => {
        const td = Object.values(s.template.findResources('AWS::ECS::TaskDefinition'))[0];
        assert.match(JSON.stringify(td.Properties.ContainerDefinitions[0].Image), /container-assets/);
        const assets = JSON.parse(readFileSync(path.join(s.outdir, `${s.stack.artifactId}.assets.json`), 'utf8'));
        const images = Object.values(assets.dockerImages ?? {}) as any[];
        assert.equal(images.length, 1);
        assert.equal(images[0].source.dockerFile, 'functions/trainer/Dockerfile');
        assert.equal(images[0].source.platform, 'linux/amd64');
        s.template.resourceCountIs('AWS::EC2::FlowLog', 1);
      });
    } else {
      it('local: keeps the ECS resources, uses a registry image, drops what MiniStack cannot create', () => {
        s.template.resourceCountIs('AWS::ECS::Cluster', 1);
        s.template.resourceCountIs('AWS::ECS::Service', 1);
        s.template.resourceCountIs('AWS::ECS::TaskDefinition', 1);
        s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
          ContainerDefinitions: [Match.objectLike({ Image: 'public.ecr.aws/docker/library/node:20-slim' })],
        });
        s.template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
        s.template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 0);
        s.template.resourceCountIs('AWS::EC2::FlowLog', 0);
      });
    }

    it(`POST /jobs starts the trainer: ${local ? 'not in local mode (the host-process trainer takes the jobs)' : 'the api function may describe and update the trainer service only, named in its env'}`, () => {
      const ecsStatements = Object.values(s.template.findResources('AWS::IAM::Policy')).flatMap((p) =>
        (p.Properties.PolicyDocument.Statement as any[])
          .filter((st) => [st.Action].flat().some((a: string) => /^ecs:(\*|Update|Describe|.*\*)/.test(a)))
          .map((st) => ({ roles: JSON.stringify(p.Properties.Roles), st })),
      );
      const apiRole = s.stack.getLogicalId(s.stack.api.apiFunction.role!.node.defaultChild as any);
      const apiEcs = ecsStatements.filter((e) => e.roles.includes(apiRole)).map((e) => e.st);
      const env = (s.template.toJSON().Resources as Resources)[s.stack.getLogicalId(s.stack.api.apiFunction.node.defaultChild as any)]
        .Properties.Environment.Variables;
      if (local) {
        assert.deepEqual(apiEcs, []);
        assert.equal(env.TRAINER_SERVICE, undefined);
        return;
      }
      const serviceId = s.stack.getLogicalId(s.stack.trainer.service.node.defaultChild as any);
      assert.deepEqual(apiEcs, [
        { Sid: 'StartTrainer', Effect: 'Allow', Action: ['ecs:DescribeServices', 'ecs:UpdateService'], Resource: { Ref: serviceId } },
      ]);
      assert.deepEqual(env.TRAINER_SERVICE, { 'Fn::GetAtt': [serviceId, 'Name'] });
      assert.ok(JSON.stringify(env.TRAINER_CLUSTER).includes(s.stack.getLogicalId(s.stack.trainer.cluster.node.defaultChild as any)));
      // No other role may change the service's count.
      for (const e of ecsStatements.filter((x) => !x.roles.includes(apiRole)))
        assert.ok(![e.st.Action].flat().includes('ecs:UpdateService'), JSON.stringify(e.st));
    });

    it('cdk-nag AwsSolutions: no unacknowledged errors or warnings', () => {
      const findings = nagFindings(s);
      assert.deepEqual(findings, []);
    });
  });
}

describe('LenetStack (local mode with localEcs: MiniStack runs the trainer service as a container)', () => {
  const template = (props: { local: boolean; localEcs?: boolean }) => Template.fromStack(new LenetStack(new App(), 'EcsStack', props));
  const taskDefinition = (t: Template) => Object.values(t.findResources('AWS::ECS::TaskDefinition'))[0].Properties;
  const service = (t: Template) => Object.values(t.findResources('AWS::ECS::Service'))[0].Properties;

  it('local image, host network, region and test credentials in the env, desired count 1, no awsvpc configuration', () => {
    const t = template({ local: true, localEcs: true });
    const td = taskDefinition(t);
    assert.equal(td.NetworkMode, 'host');
    assert.equal(td.ContainerDefinitions[0].Image, 'lenet-trainer:local');
    const env = Object.fromEntries(td.ContainerDefinitions[0].Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
    assert.deepEqual([env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY], ['test', 'test']);
    assert.deepEqual(env.AWS_REGION, { Ref: 'AWS::Region' });
    assert.ok(env.BUCKET_NAME && env.QUEUE_URL);
    const svc = service(t);
    assert.equal(svc.DesiredCount, 1);
    assert.equal(svc.NetworkConfiguration, undefined);
    t.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
  });

  it('is ignored outside local mode, and off by default in local mode', () => {
    for (const t of [template({ local: false, localEcs: true }), template({ local: true })]) {
      const td = taskDefinition(t);
      assert.equal(td.NetworkMode, 'awsvpc');
      const names = td.ContainerDefinitions[0].Environment.map((e: { Name: string }) => e.Name);
      assert.ok(!names.includes('AWS_ACCESS_KEY_ID') && !names.includes('AWS_REGION'), names.join());
      assert.notEqual(service(t).DesiredCount, 1); // unset with auto scaling (AWS), 0 in local mode
      assert.ok(service(t).NetworkConfiguration.AwsvpcConfiguration);
    }
  });
});

describe('esbuildTarget', () => {
  it("bundles for the Lambda runtime's Node major and refuses a runtime that is not Node.js", () => {
    assert.equal(esbuildTarget(Runtime.NODEJS_24_X), 'node24');
    assert.equal(esbuildTarget(Runtime.NODEJS_22_X), 'node22');
    assert.throws(() => esbuildTarget(Runtime.PYTHON_3_13), /not a Node.js Lambda runtime: python3.13/);
  });
});

describe('predict reservation', () => {
  it('is set only when asked for (-c predictReservedConcurrency=N reaches the predict function alone)', () => {
    const t = Template.fromStack(
      new LenetStack(new App({ context: CDK_CONTEXT }), 'Reserved', { local: false, api: { predictReservedConcurrency: 10 } }),
    );
    const fns = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } }));
    const reserved = fns.map((f) => f.Properties.ReservedConcurrentExecutions).filter((v) => v !== undefined);
    assert.deepEqual(reserved, [10]);
  });
});
