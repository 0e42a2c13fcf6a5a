/**
 * IAM (SigV4) authorization end to end, on MiniStack with AUTH=true (signatures verified, IAM
 * policies evaluated), through the emulator's API Gateway with real HTTP: unsigned requests,
 * identities without the permission, a wrong secret, the JobsOperator and ModelAdmin policies of the
 * deployed stack attached to IAM users, the CLI, and the public routes.
 *
 * Starts its own emulator with AUTH=true (test/helpers/auth-emulator.ts): stop a running one first
 * (npm run stop) or use another LENET_EMULATOR_PORT. Root's test/test keys skip identity policies, so every denial is tried with
 * IAM-user keys.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { AttachUserPolicyCommand, CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import type { AwsCredentialIdentity } from '@smithy/types';
import { makeS3Client } from '../../shared/aws';
import { Bucket } from '../../shared/s3-objects';
import { DEFAULT_DATASET_PREFIX } from '../../shared/bucket-layout';
import { ROUTES, type Route } from '../../shared/routes';
import { ApiClient, ApiError } from '../../cli/api-client';
import { deployStack, emulatorName, type StackOutputs } from '../../local/emulator';
import { startAuthEmulator, type AuthEmulator } from '../helpers/auth-emulator';
import { uploadSmallMnist } from '../helpers/trainer';

let emulator: AuthEmulator | undefined;
after(async () => emulator?.stop());

let outputs: StackOutputs;
let url: string;
const users: Record<'nobody' | 'operator' | 'admin', AwsCredentialIdentity> = {} as never;

async function makeUser(name: string, policyArn?: string): Promise<AwsCredentialIdentity> {
  const iam = new IAMClient({});
  const userName = `${name}-${Date.now()}`;
  await iam.send(new CreateUserCommand({ UserName: userName }));
  if (policyArn) await iam.send(new AttachUserPolicyCommand({ UserName: userName, PolicyArn: policyArn }));
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
  outputs = await deployStack({ stackName: 'LenetAuth', quiet: true });
  url = outputs.ApiUrl;
  await uploadSmallMnist(new Bucket(makeS3Client(), outputs.BucketName), DEFAULT_DATASET_PREFIX, 300, 100);
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

test('JobsOperator: submit, list, read jobs and models, promote (not forced); the forced promotion is 403', { skip }, async () => {
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
});

test('ModelAdmin: may call the forced promotion (which still needs a finished model)', { skip }, async () => {
  const admin = new ApiClient(url, { credentials: users.admin, region: 'us-east-1' });
  await assert.rejects(
    admin.promote('no-such-job', true),
    (err: unknown) => err instanceof ApiError && err.status === 404 && /no finished model/.test(err.message),
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
