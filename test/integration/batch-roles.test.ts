/**
 * The batch role's limits under enforced IAM (MiniStack AUTH=true): the trainer's task role has no
 * access to the bucket's batch/ area; the batch role, assumed from the task role with the per-job
 * session policy of shared/batch-predict.ts, reads only the job's input prefix and writes only its
 * output prefix; and a real trainer running as the task role finishes a batch through it.
 *
 * MiniStack does not give ECS tasks their role's credentials, so the test makes them: the deployed
 * task role is made assumable by one test user (its trust policy gains that user beside
 * ecs-tasks.amazonaws.com), and that user's session of the task role is the trainer's identity,
 * with the task role's own policies, as deployed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudFormationClient, DescribeStackResourceCommand, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  GetRoleCommand,
  IAMClient,
  PutUserPolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity } from '@smithy/types';
import { makeS3Client } from '../../shared/aws';
import { batchSessionPolicy, type BatchLine } from '../../shared/batch-predict';
import { modelKeys } from '../../shared/bucket-layout';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { Bucket } from '../../shared/s3-objects';
import { ApiClient } from '../../cli/api-client';
import { batchPredict } from '../../cli/batch-predict';
import { deployStack, emulatorName, type StackOutputs } from '../../local/emulator';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { startAuthEmulator, type AuthEmulator } from '../helpers/auth-emulator';
import { mnistPng } from '../helpers/images';
import { jobFinishedViaApi, mnistSlices, spawnTrainer, stopTrainer, type Trainer, waitFor } from '../helpers/trainer';

const skip =
  emulatorName() === 'ministack'
    ? false
    : `IAM enforcement is tested on MiniStack (AUTH=true) only; ${emulatorName()} does not enforce IAM`;

const STACK = 'LenetBatchRoles';
let emulator: AuthEmulator | undefined;
let outputs: StackOutputs;
let root: Bucket;
let taskRoleArn: string;
/** The trainer's identity: a session of the deployed task role. */
let task: AwsCredentialIdentity;
const trainers: Trainer[] = [];
const INPUT = { prefix: 'batch/roles-in/' };
const OUTPUT = { prefix: 'batch/roles-out/' };

before(async () => {
  if (skip) return;
  emulator = await startAuthEmulator();
  outputs = await deployStack({ stackName: STACK, quiet: true });
  root = new Bucket(makeS3Client(), outputs.BucketName);
  const { testImages } = await mnistSlices(0, 3);
  const digit = (i: number) => Array.from(testImages.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
  for (let i = 0; i < 3; i++) await root.putBytes(`${INPUT.prefix}d${i}.png`, mnistPng(digit(i)));
  await root.putBytes('batch/elsewhere/secret.png', mnistPng(digit(0)));
  // A finished model to predict with (untrained weights: this test is about access, not digits).
  await initTrainingBackend('wasm');
  const model = buildLeNet5({ seed: 1 });
  await saveCheckpoint(root, modelKeys.final('roles-model'), model, {
    jobId: 'roles-model',
    epoch: 1,
    backend: 'wasm',
    createdAt: new Date().toISOString(),
    includeOptimizer: false,
  });
  disposeModel(model);

  taskRoleArn = await deployedTaskRoleArn();
  const iam = new IAMClient({});
  const userName = `batch-roles-${Date.now()}`;
  const { User } = await iam.send(new CreateUserCommand({ UserName: userName }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: userName,
      PolicyName: 'assume-task-role',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: taskRoleArn }],
      }),
    }),
  );
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  const roleName = taskRoleArn.split('/').pop()!;
  const trust = JSON.parse(
    decodeURIComponent((await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role!.AssumeRolePolicyDocument!),
  );
  trust.Statement.push({ Effect: 'Allow', Principal: { AWS: User!.Arn }, Action: 'sts:AssumeRole' });
  await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: JSON.stringify(trust) }));
  const user = { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
  task = await assume(user, taskRoleArn);
});

after(async () => {
  await Promise.all(trainers.map((t) => stopTrainer(t, 5_000)));
  await emulator?.stop();
});

/** The task role the deployed trainer task definition names (CloudFormation, then IAM). */
async function deployedTaskRoleArn(): Promise<string> {
  const cfn = new CloudFormationClient({});
  const template = JSON.parse((await cfn.send(new GetTemplateCommand({ StackName: STACK }))).TemplateBody!);
  const taskDefinition = Object.values(template.Resources as Record<string, any>).find((r) => r.Type === 'AWS::ECS::TaskDefinition');
  const logicalId = taskDefinition.Properties.TaskRoleArn['Fn::GetAtt'][0];
  const { StackResourceDetail } = await cfn.send(new DescribeStackResourceCommand({ StackName: STACK, LogicalResourceId: logicalId }));
  const { Role } = await new IAMClient({}).send(new GetRoleCommand({ RoleName: StackResourceDetail!.PhysicalResourceId! }));
  return Role!.Arn!;
}

function assume(from: AwsCredentialIdentity, roleArn: string, policy?: string): Promise<AwsCredentialIdentity> {
  return fromTemporaryCredentials({
    masterCredentials: from,
    params: { RoleArn: roleArn, RoleSessionName: 'batch-roles-test', ...(policy ? { Policy: policy } : {}) },
    clientConfig: { endpoint: process.env.AWS_ENDPOINT_URL, region: 'us-east-1' },
  })();
}

const s3As = (credentials: AwsCredentialIdentity) =>
  new S3Client({ credentials, region: 'us-east-1', endpoint: process.env.AWS_ENDPOINT_URL, forcePathStyle: true });

/** 'ok', or the HTTP status of the refusal. */
async function outcome(call: Promise<unknown>): Promise<'ok' | number> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === undefined) throw err;
    return status;
  }
}

function probes(s3: S3Client) {
  const Bucket = outputs.BucketName;
  const get = (Key: string) => outcome(s3.send(new GetObjectCommand({ Bucket, Key })));
  const put = (Key: string) => outcome(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'x' })));
  const list = (Prefix: string) => outcome(s3.send(new ListObjectsV2Command({ Bucket, Prefix })));
  return { get, put, list };
}

test('the task role cannot touch batch/ itself: reads, lists and writes there are refused', { skip }, async () => {
  const { get, put, list } = probes(s3As(task));
  assert.equal(await get(`${INPUT.prefix}d0.png`), 403);
  assert.equal(await list(INPUT.prefix), 403);
  assert.equal(await put(`${OUTPUT.prefix}predictions.jsonl`), 403);
  // It still reads its own prefixes (the probe is meaningful).
  assert.equal(await list('jobs/'), 'ok');
});

test('a batch session reads only its input prefix and writes only its output prefix; the role without the session policy reaches the whole batch area', {
  skip,
}, async () => {
  const where = (prefix: string) => ({ bucket: outputs.BucketName, prefix });
  const session = await assume(task, outputs.raw.BatchRoleArn, batchSessionPolicy(where(INPUT.prefix), where(OUTPUT.prefix)));
  const { get, put, list } = probes(s3As(session));
  // Allowed: exactly the job's two prefixes.
  assert.equal(await get(`${INPUT.prefix}d0.png`), 'ok');
  assert.equal(await list(INPUT.prefix), 'ok');
  assert.equal(await put(`${OUTPUT.prefix}predictions.jsonl`), 'ok');
  // Refused reads: another prefix of the batch area, and everything outside it.
  assert.equal(await get('batch/elsewhere/secret.png'), 403);
  assert.equal(await list('batch/elsewhere/'), 403);
  assert.equal(await get(modelKeys.final('roles-model') + modelKeys.marker), 403);
  assert.equal(await get(`${OUTPUT.prefix}predictions.jsonl`), 403, 'it writes its output, never reads it');
  // Refused writes: the input, another batch prefix, the served-model pointer.
  assert.equal(await put(`${INPUT.prefix}d0.png`), 403);
  assert.equal(await put('batch/elsewhere/x.png'), 403);
  assert.equal(await put(modelKeys.latest), 403);

  // The session policy is what narrows it: the role alone reaches the batch area, and only that.
  const whole = probes(s3As(await assume(task, outputs.raw.BatchRoleArn)));
  assert.equal(await whole.get('batch/elsewhere/secret.png'), 'ok');
  assert.equal(await whole.get(modelKeys.final('roles-model') + modelKeys.marker), 403);
});

test('a trainer running as the task role finishes a batch through the batch role', { skip }, async () => {
  const t = spawnTrainer('batch-roles', root, outputs.QueueUrl, {
    AWS_ACCESS_KEY_ID: task.accessKeyId,
    AWS_SECRET_ACCESS_KEY: task.secretAccessKey,
    AWS_SESSION_TOKEN: task.sessionToken!,
    BATCH_ROLE_ARN: outputs.raw.BatchRoleArn,
    TRAINER_THREADS: '1',
  });
  trainers.push(t);
  const api = new ApiClient(outputs.ApiUrl, { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const job = await batchPredict(api, {
    input: `s3://${outputs.BucketName}/${INPUT.prefix}`,
    output: `s3://${outputs.BucketName}/${OUTPUT.prefix}`,
    modelJobId: 'roles-model',
  });
  const done = await waitFor('the batch to end', jobFinishedViaApi(api, job.jobId), 120_000, 500);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  const lines = Buffer.from((await root.getBytes(`${OUTPUT.prefix}predictions.jsonl`))!)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as BatchLine);
  assert.deepEqual(
    lines.map((l) => [l.key, 'digit' in l]),
    [0, 1, 2].map((i) => [`${INPUT.prefix}d${i}.png`, true]),
  );
});
