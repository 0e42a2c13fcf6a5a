/**
 * IAM (SigV4) authorization end to end, on MiniStack with AUTH=true (signatures verified, IAM
 * policies evaluated), through the emulator's API Gateway with real HTTP: unsigned requests,
 * identities without the permission, a wrong secret, the JobsOperator and ModelAdmin policies of the
 * deployed stack attached to IAM users, the CLI, and the public routes.
 *
 * Starts its own emulator with AUTH=true (test/helpers/auth-emulator.ts): stop a running one first
 * (npm run stop) or use another LENET_EMULATOR_PORT. Root's test/test keys skip identity policies, so every denial is tried with
 * IAM-user keys.
 *
 * The trainer: a real trainer host process runs with an IAM user's keys whose policies are copied
 * from the deployed task role (MiniStack does not emulate ECS task roles), trains a job submitted
 * through the API, and must finish it; the same keys are refused what the role lacks, and a copy
 * missing one statement must fail the job.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CloudFormationClient, DescribeStackResourceCommand, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateUserCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { PurgeQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsCredentialIdentity } from '@smithy/types';
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { Bucket } from '../../shared/s3-objects';
import { DATASET_FILES, DEFAULT_DATASET_PREFIX, jobIndexKeys, jobKeys, modelKeys, PREFIXES } from '../../shared/bucket-layout';
import { QUEUE_DEFAULTS } from '../../shared/settings';
import { ROUTES, type Route } from '../../shared/routes';
import { ApiClient, ApiError } from '../../cli/api-client';
import { deployStack, emulatorName, type StackOutputs } from '../../local/emulator';
import { startAuthEmulator, type AuthEmulator } from '../helpers/auth-emulator';
import {
  jobFinishedViaApi,
  mnistSlices,
  queueCounts,
  spawnTrainer,
  stopTrainer,
  type Trainer,
  uploadSmallMnist,
  waitFor,
} from '../helpers/trainer';

let emulator: AuthEmulator | undefined;
const trainers: Trainer[] = [];
after(async () => {
  for (const t of trainers) await stopTrainer(t, 5_000);
  await emulator?.stop();
});

const STACK = 'LenetAuth';
let outputs: StackOutputs;
let url: string;
const users: Record<'nobody' | 'operator' | 'admin', AwsCredentialIdentity> = {} as never;
// The whole dataset the trainer sees: a job without testSubset is scored on all TEST_IMAGES, so it may be promoted.
const TRAIN_IMAGES = 300;
const TEST_IMAGES = 100;

type PolicyDocument = { Version: string; Statement: Array<{ Sid?: string; Effect: string; Action: string | string[] }> };

/** An IAM user with keys and nothing else, or the managed policy `policyArn`, or these inline policies. */
async function makeUser(name: string, policyArn?: string, inline: Record<string, PolicyDocument> = {}): Promise<AwsCredentialIdentity> {
  const iam = new IAMClient({});
  const userName = `${name}-${Date.now()}`;
  await iam.send(new CreateUserCommand({ UserName: userName }));
  if (policyArn) await iam.send(new AttachUserPolicyCommand({ UserName: userName, PolicyArn: policyArn }));
  for (const [policyName, doc] of Object.entries(inline)) {
    await iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: policyName, PolicyDocument: JSON.stringify(doc) }));
  }
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  return { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
}

// IAM is enforced only by MiniStack's AUTH=true here; LocalStack's community edition accepts any signature.
const skip =
  emulatorName() === 'ministack'
    ? false
    : `IAM enforcement is tested on MiniStack (AUTH=true) only; ${emulatorName()} does not enforce IAM`;
if (skip) console.log(`# skipping auth tests: ${skip}`);

before(async () => {
  if (skip) return;
  emulator = await startAuthEmulator();
  outputs = await deployStack({ stackName: STACK, quiet: true });
  url = outputs.ApiUrl;
  await uploadSmallMnist(new Bucket(makeS3Client(), outputs.BucketName), DEFAULT_DATASET_PREFIX, TRAIN_IMAGES, TEST_IMAGES);
  users.nobody = await makeUser('nobody');
  users.operator = await makeUser('operator', outputs.raw.JobsOperatorPolicyArn);
  users.admin = await makeUser('admin', outputs.raw.ModelAdminPolicyArn);
});

const IAM_ROUTES = (ROUTES as readonly Route[]).filter((r) => r.auth === 'iam');
const bodyOf = (r: Route) => (r.method === 'POST' ? (r.path === '/jobs' ? { epochs: 1 } : { jobId: 'no-such-job' }) : undefined);
const pathOf = (r: Route) => r.path.slice(1).replace('{id}', 'no-such-job');

/** The HTTP status of one route's request with a client; 0 never happens (network errors throw). */
async function status(client: ApiClient, r: Route): Promise<number> {
  try {
    await client.call(r.method, pathOf(r), bodyOf(r));
    return 200;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 0) throw err;
    return err.status;
  }
}

test('every job and model route refuses an unsigned request with 403', { skip }, async () => {
  const unsigned = new ApiClient(url, { credentials: false });
  for (const r of IAM_ROUTES) assert.equal(await status(unsigned, r), 403, `${r.method} ${r.path}`);
  // Raw, as a browser or curl would send it.
  const res = await fetch(url + 'jobs');
  assert.equal(res.status, 403);
  assert.match(await res.text(), /Missing Authentication Token/);
});

test('a request signed by an IAM user without the permission, or with a wrong secret, gets 403', { skip }, async () => {
  const nobody = new ApiClient(url, { credentials: users.nobody, region: 'us-east-1' });
  for (const r of IAM_ROUTES) assert.equal(await status(nobody, r), 403, `nobody: ${r.method} ${r.path}`);
  const forged = new ApiClient(url, { credentials: { ...users.operator, secretAccessKey: 'not-the-secret' }, region: 'us-east-1' });
  for (const r of IAM_ROUTES) assert.equal(await status(forged, r), 403, `forged: ${r.method} ${r.path}`);
});

test('JobsOperator: submit and cancel, read jobs and models, download a model, promote (not forced); forced is 403', { skip }, async () => {
  const operator = new ApiClient(url, { credentials: users.operator, region: 'us-east-1' });
  const job = await operator.submit({ epochs: 1, trainSubset: 100, batchSize: 32 });
  assert.equal(job.status, 'QUEUED');
  const { jobs } = await operator.jobs({ limit: 5 });
  assert.ok(jobs.some((j) => j.jobId === job.jobId));
  assert.equal((await operator.job(job.jobId)).jobId, job.jobId);
  assert.ok(Array.isArray((await operator.models()).models));
  // Reaching the handler is the proof of authorization: it answers that the job has no model.
  const promote = IAM_ROUTES.find((r) => r.path === '/models/promote')!;
  const force = IAM_ROUTES.find((r) => r.path === '/models/promote/force')!;
  assert.equal(await status(operator, promote), 404);
  assert.equal(await status(operator, force), 403);
  // The model download is an operator's read: it reaches the handler, which says the job has no model.
  const download = IAM_ROUTES.find((r) => r.path === '/models/{id}/download')!;
  assert.equal(await status(operator, download), 404);
  // Cancel is an operator's action too: it reaches the handler, which answers that there is no such job.
  const cancel = IAM_ROUTES.find((r) => r.path === '/jobs/{id}/cancel')!;
  assert.equal(await status(operator, cancel), 404);
  // The served-model history is an operator's read; rolling back (which may serve a worse model) is not.
  assert.deepEqual(await operator.history(), { changes: [] });
  const rollback = IAM_ROUTES.find((r) => r.path === '/models/rollback')!;
  assert.equal(await status(operator, rollback), 403);
  await assert.rejects(operator.rollback(), (err: unknown) => err instanceof ApiError && err.status === 403);
});

test('ModelAdmin: may call the forced promotion (which still needs a finished model)', { skip }, async () => {
  const admin = new ApiClient(url, { credentials: users.admin, region: 'us-east-1' });
  await assert.rejects(
    admin.promote('no-such-job', true),
    (err: unknown) => err instanceof ApiError && err.status === 404 && /no finished model/.test(err.message),
  );
  // Rollback reaches the handler, which says there is nothing to roll back to.
  await assert.rejects(
    admin.rollback(),
    (err: unknown) => err instanceof ApiError && err.status === 409 && /no earlier model/.test(err.message),
  );
});

test("the CLI signs with the default credential chain: an operator's keys work, none fail in one line", { skip }, () => {
  const lenet = (env: Record<string, string>) =>
    spawnSync('npx', ['lenet', 'jobs', '--limit', '3'], { env: { ...process.env, LENET_API_URL: url, ...env }, encoding: 'utf8' });
  const ok = lenet({ AWS_ACCESS_KEY_ID: users.operator.accessKeyId, AWS_SECRET_ACCESS_KEY: users.operator.secretAccessKey });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /QUEUED/);
  const denied = lenet({ AWS_ACCESS_KEY_ID: users.nobody.accessKeyId, AWS_SECRET_ACCESS_KEY: users.nobody.secretAccessKey });
  assert.notEqual(denied.status, 0);
  assert.match(
    denied.stderr
      .split('\n')
      .filter((l) => l && !l.startsWith('npm warn'))
      .join('\n'),
    /^lenet: .*(not authorized|denied|AccessDenied)/i,
  );
});

test('public routes need no credentials: the page and predictions', { skip }, async () => {
  const page = await fetch(url).catch((err: Error) => {
    throw new Error(`GET / failed: ${err.message} (${String((err as { cause?: unknown }).cause)})`);
  });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const predict = await fetch(url + 'predict', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pixels: [1, 2, 3] }),
  });
  assert.equal(predict.status, 400);
  assert.match(((await predict.json()) as { error: string }).error, /784 numbers/);
});

// ---- The trainer under its task role's policy -------------------------------------------------

/** IAM returns policy documents URL-encoded (AWS does; an emulator may not). */
const parsePolicy = (doc: string): PolicyDocument => JSON.parse(doc.trimStart().startsWith('{') ? doc : decodeURIComponent(doc));

/**
 * The policies of the role the deployed trainer task definition names (its TaskRoleArn), read back
 * from the emulator's IAM: inline policies and the default version of each attached managed policy.
 * The role is found through CloudFormation (GetTemplate, DescribeStackResource) because there is no
 * ECS client in this project's dependencies; the documents themselves come from IAM, as deployed.
 */
async function trainerRolePolicies(): Promise<{ roleName: string; documents: Record<string, PolicyDocument> }> {
  const cfn = new CloudFormationClient({});
  const template = JSON.parse((await cfn.send(new GetTemplateCommand({ StackName: STACK }))).TemplateBody!) as {
    Resources: Record<string, { Type: string; Properties: { TaskRoleArn?: { 'Fn::GetAtt': [string, string] } } }>;
  };
  const taskDefinitions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::ECS::TaskDefinition');
  assert.equal(taskDefinitions.length, 1, 'one task definition: the trainer');
  const logicalId = taskDefinitions[0].Properties.TaskRoleArn!['Fn::GetAtt'][0];
  const { StackResourceDetail } = await cfn.send(new DescribeStackResourceCommand({ StackName: STACK, LogicalResourceId: logicalId }));
  const roleName = StackResourceDetail!.PhysicalResourceId!;

  const iam = new IAMClient({});
  const documents: Record<string, PolicyDocument> = {};
  for (const name of (await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames ?? []) {
    const { PolicyDocument } = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
    documents[name] = parsePolicy(PolicyDocument!);
  }
  for (const attached of (await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }))).AttachedPolicies ?? []) {
    const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: attached.PolicyArn! }));
    const { PolicyVersion } = await iam.send(
      new GetPolicyVersionCommand({ PolicyArn: attached.PolicyArn!, VersionId: Policy!.DefaultVersionId! }),
    );
    documents[attached.PolicyName!] = parsePolicy(PolicyVersion!.Document!);
  }
  return { roleName, documents };
}

/** The documents without the statement whose Sid is `sid` (which must exist exactly once). */
function withoutStatement(documents: Record<string, PolicyDocument>, sid: string): Record<string, PolicyDocument> {
  let removed = 0;
  const out = Object.fromEntries(
    Object.entries(documents).map(([name, doc]) => {
      const kept = doc.Statement.filter((s) => s.Sid !== sid);
      removed += doc.Statement.length - kept.length;
      return [name, { ...doc, Statement: kept }];
    }),
  );
  assert.equal(removed, 1, `exactly one statement ${sid}`);
  return out;
}

const trainerEnv = (keys: AwsCredentialIdentity) => ({
  AWS_ACCESS_KEY_ID: keys.accessKeyId,
  AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
  TRAINER_THREADS: '1',
  RETRY_BASE_SECONDS: '1',
});

const s3As = (keys: AwsCredentialIdentity) =>
  new S3Client({
    credentials: keys,
    region: 'us-east-1',
    endpoint: process.env.AWS_ENDPOINT_URL,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

/** Rejects with 403 AccessDenied (not some other failure, which would prove nothing). */
async function assertDenied(what: string, call: Promise<unknown>): Promise<void> {
  await assert.rejects(
    call,
    (err: { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.$metadata?.httpStatusCode, 403, `${what}: ${err.name} ${err.message}`);
      assert.match(`${err.name} ${err.message}`, /AccessDenied|not authorized/i, what);
      return true;
    },
    `${what} must be refused`,
  );
}

let trainerPolicy: { roleName: string; documents: Record<string, PolicyDocument> };
let trainerKeys: AwsCredentialIdentity;
let trainedJobId: string;

test("the trainer under its task role's policy: a job submitted through the API trains, is recorded, promoted and served", {
  skip,
  timeout: 300_000,
}, async () => {
  trainerPolicy = await trainerRolePolicies();
  const statements = Object.values(trainerPolicy.documents).flatMap((d) => d.Statement);
  assert.ok(statements.length > 0, `role ${trainerPolicy.roleName} has policies`);
  const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
  assert.ok(!actions.some((a) => /^s3:(Delete|\*)/.test(a) || a === '*'), `no delete or wildcard actions: ${actions.join(', ')}`);
  trainerKeys = await makeUser('trainer', undefined, trainerPolicy.documents);

  // The JobsOperator test left a job on the queue: this test's job must be the only one trained.
  const root = new Bucket(makeS3Client(), outputs.BucketName);
  await makeSqsClient().send(new PurgeQueueCommand({ QueueUrl: outputs.QueueUrl }));
  await waitFor('the purged queue to be empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 30_000);

  const trainer = spawnTrainer('auth-trainer', root, outputs.QueueUrl, trainerEnv(trainerKeys));
  trainers.push(trainer);
  const operator = new ApiClient(url, { credentials: users.operator, region: 'us-east-1' });

  // A job sent straight to the queue (not through the API) is recorded and indexed by the trainer:
  // an invalid one fails at once, so this costs no training.
  const directId = `direct-${Date.now()}`;
  await makeSqsClient().send(
    new SendMessageCommand({ QueueUrl: outputs.QueueUrl, MessageBody: JSON.stringify({ jobId: directId, params: { epochs: 0 } }) }),
  );
  const direct = await waitFor('the direct job to be recorded FAILED', async () => {
    const s = await operator.job(directId).catch(() => undefined);
    return s?.status === 'FAILED' && s;
  });
  assert.match(direct.reason ?? '', /epochs/);
  assert.ok(await root.getBytes(jobIndexKeys.entry(direct.createdAt, directId)), 'the trainer wrote the index entry');

  const submitted = await operator.submit({ epochs: 1, batchSize: 32, validationSplit: 0, augmentShift: 0 });
  trainedJobId = submitted.jobId;
  const done = await waitFor(`job ${trainedJobId} to end`, jobFinishedViaApi(operator, trainedJobId), 240_000, 1000);
  assert.equal(
    done.status,
    'SUCCEEDED',
    `${done.reason}\n${trainer
      .logs()
      .map((l) => JSON.stringify(l))
      .join('\n')}`,
  );
  assert.equal(done.testImages, TEST_IMAGES);
  assert.equal(done.fullTestSet, true);
  assert.equal(done.promoted, true, 'scored on the whole test set with PROMOTION_MIN_ACCURACY 0, it must be promoted');

  // Everything the trainer writes, written under its policy.
  const exists = async (key: string) => assert.ok(await root.getBytes(key), `${key} was written`);
  await exists(modelKeys.epoch(trainedJobId, 1) + modelKeys.marker);
  await exists(modelKeys.final(trainedJobId) + modelKeys.marker);
  await exists(`${modelKeys.final(trainedJobId)}weights.bin`);
  await exists(jobKeys.lease(trainedJobId));
  await exists(jobKeys.progress(trainedJobId));
  await exists(jobIndexKeys.entry(done.createdAt, trainedJobId));
  assert.ok(trainer.logs().some((l) => l.message === 'first batch done'));
  // The calls whose failure a job survives (heartbeat, progress, lease release) are only logged: none may be.
  const problems = trainer.logs().filter((l) => /WARN|ERROR/.test(String(l.level)) && l.message !== 'rejected job message');
  assert.deepEqual(problems, [], 'no warning or error in the trainer log');

  // S3 answers a GET of a missing key 403, not 404, unless the caller may list it; emulators answer 404
  // regardless. So the keys the trainer reads while they may still be missing must be listable.
  const trainerS3 = s3As(trainerKeys);
  for (const key of [`${modelKeys.final('new-job')}${modelKeys.marker}`, modelKeys.latest, jobKeys.status('new-job')]) {
    await trainerS3.send(new ListObjectsV2Command({ Bucket: outputs.BucketName, Prefix: key }));
  }

  assert.equal((await operator.models()).latest?.jobId, trainedJobId);
  // The trainer recorded its promotion, under its own policy, as itself; the operator reads it back.
  const [change] = (await operator.history()).changes;
  assert.equal(change.to.jobId, trainedJobId);
  assert.equal(change.why, 'promoted');
  assert.match(change.by, /^trainer \S+/);
  // The predict function, under its own enforced role, loads the promoted model from models/.
  const { testImages } = await mnistSlices(0, 1);
  const res = await fetch(`${url}predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pixels: Array.from(testImages) }),
  });
  const body = (await res.json()) as { digit?: number; model?: { jobId: string }; error?: string };
  assert.equal(res.status, 200, body.error);
  assert.equal(body.model?.jobId, trainedJobId);
  assert.ok(Number.isInteger(body.digit));
});

test("the trainer's keys are refused what its role lacks: deleting models or versions, writing datasets, listing the index or the whole bucket, sending jobs", {
  skip,
}, async () => {
  assert.ok(trainedJobId, 'needs the trained job of the previous test');
  const s3 = s3As(trainerKeys);
  const name = outputs.BucketName;
  const modelJson = `${modelKeys.final(trainedJobId)}model.json`;
  // Allowed calls first: the keys work, so the refusals below are the policy's.
  const head = await s3.send(new HeadObjectCommand({ Bucket: name, Key: modelJson }));
  await s3.send(new ListObjectsV2Command({ Bucket: name, Prefix: modelKeys.checkpoints(trainedJobId) }));

  await assertDenied('DeleteObject on a final model', s3.send(new DeleteObjectCommand({ Bucket: name, Key: modelJson })));
  assert.ok(head.VersionId, 'the bucket is versioned');
  await assertDenied(
    'DeleteObjectVersion on a final model',
    s3.send(new DeleteObjectCommand({ Bucket: name, Key: modelJson, VersionId: head.VersionId })),
  );
  await assertDenied('DeleteObject on a lease', s3.send(new DeleteObjectCommand({ Bucket: name, Key: jobKeys.lease(trainedJobId) })));
  await assertDenied(
    'PutObject over the dataset',
    s3.send(new PutObjectCommand({ Bucket: name, Key: DEFAULT_DATASET_PREFIX + DATASET_FILES.trainLabels, Body: 'x' })),
  );
  await assertDenied('PutObject outside its prefixes', s3.send(new PutObjectCommand({ Bucket: name, Key: 'elsewhere/x', Body: 'x' })));
  // The prefix condition is evaluated: checkpoints/ above may be listed, the index may not.
  await assertDenied('ListBucket of jobs-index/', s3.send(new ListObjectsV2Command({ Bucket: name, Prefix: PREFIXES.jobsIndex })));
  await assertDenied('ListBucket of the whole bucket', s3.send(new ListObjectsV2Command({ Bucket: name })));
  const { keys } = await new Bucket(makeS3Client(), name).listPage(PREFIXES.jobsIndex, 1);
  await assertDenied('GetObject of an index entry', s3.send(new GetObjectCommand({ Bucket: name, Key: keys[0] })));

  const sqs = new SQSClient({ credentials: trainerKeys, region: 'us-east-1', endpoint: process.env.AWS_ENDPOINT_URL });
  await assertDenied('SendMessage', sqs.send(new SendMessageCommand({ QueueUrl: outputs.QueueUrl, MessageBody: '{"epochs":1}' })));
  await assertDenied('PurgeQueue', sqs.send(new PurgeQueueCommand({ QueueUrl: outputs.QueueUrl })));

  // Nothing was deleted.
  const after = await makeS3Client().send(new HeadObjectCommand({ Bucket: name, Key: modelJson }));
  assert.equal(after.VersionId, head.VersionId);
});

test('a trainer whose policy lacks one needed statement (List) fails its job with AccessDenied', { skip, timeout: 120_000 }, async () => {
  assert.ok(trainerPolicy, 'needs the policy read by the first trainer test');
  for (const t of trainers) await stopTrainer(t, 10_000);
  const keys = await makeUser('trainer-nolist', undefined, withoutStatement(trainerPolicy.documents, 'List'));
  const trainer = spawnTrainer('auth-trainer-nolist', new Bucket(makeS3Client(), outputs.BucketName), outputs.QueueUrl, trainerEnv(keys));
  trainers.push(trainer);
  const operator = new ApiClient(url, { credentials: users.operator, region: 'us-east-1' });
  const { jobId } = await operator.submit({ epochs: 1, batchSize: 32 });
  const done = await waitFor(`job ${jobId} to end`, jobFinishedViaApi(operator, jobId), 90_000, 500);
  assert.equal(done.status, 'FAILED');
  // Worded as AWS does: "User: … is not authorized to perform: s3:ListBucket … because no identity-based policy allows …".
  const denied = /not authorized to perform: s3:ListBucket/;
  // Retried as a transient failure would be, then FAILED on the queue's last receive (not silently dead-lettered).
  assert.match(done.reason ?? '', new RegExp(`^failed on ${QUEUE_DEFAULTS.maxReceiveCount} attempts; last error: `));
  assert.match(done.reason ?? '', denied);
  assert.ok(trainer.logs().some((l) => l.message === 'job failed' && denied.test(String(l.reason))));
  assert.equal(await new Bucket(makeS3Client(), outputs.BucketName).getBytes(modelKeys.final(jobId) + modelKeys.marker), undefined);
});
