/**
 * GET /jobs with many jobs: writes N job documents and index entries, then times the first page and
 * a deep page, with the answer's size. Prints one JSON object.
 *
 * --via process (default): a fresh bucket on the emulator, and JobsApi.listJobs (the api handler's
 *   code) called in this process against the emulator's S3.
 * --via api: the whole path. MiniStack with AUTH=true (test/helpers/auth-emulator.ts), the stack
 *   deployed, the jobs written to its bucket, and signed GET /jobs requests (SigV4, an IAM user with
 *   the JobsOperator policy) through the emulator's API Gateway to the api Lambda, which reads S3
 *   under its enforced execution role. Times are the client's: signing, HTTP and the Lambda.
 *
 *   LENET_EMULATOR_PORT=4576 npx tsx test/bench/jobs-list.ts [--jobs 10000] [--rounds 20] [--via process|api]
 */
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { AttachUserPolicyCommand, CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { JobStore } from '../../shared/job-store';
import { Bucket } from '../../shared/s3-objects';
import { JobsApi } from '../../functions/api/jobs-api';
import { ApiClient } from '../../cli/api-client';
import { deployStack, emulatorEnv, emulatorInfo, startEmulator, stopEmulator } from '../../local/emulator';
import { startAuthEmulator } from '../helpers/auth-emulator';
import type { JobStatus } from '../../shared/documents';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '20' },
    via: { type: 'string', default: 'process' },
  },
});
const n = Number(values.jobs);
const rounds = Number(values.rounds);
const via = values.via;
if (via !== 'process' && via !== 'api') throw new Error(`--via must be 'process' or 'api', got '${via}'`);
if (!(Number.isInteger(n) && n > 0 && Number.isInteger(rounds) && rounds > 0))
  throw new Error('--jobs and --rounds must be whole numbers above 0');
const log = (line: string) => process.stderr.write(`${line}\n`);

type Page = { jobs: JobStatus[]; next?: string };
type ListFn = (query: { limit?: string; next?: string }) => Promise<{ page: Page; bytes: number }>;

async function writeJobs(bucket: Bucket): Promise<number> {
  const store = new JobStore(bucket);
  const t0 = Date.now();
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) => {
        const at = new Date(base + (i + k) * 1000).toISOString();
        const doc: JobStatus = {
          jobId: `bench-${i + k}`,
          status: 'SUCCEEDED',
          createdAt: at,
          updatedAt: at,
          epoch: 20,
          totalEpochs: 20,
          metrics: [],
          testAccuracy: 0.99,
        };
        return store.record(doc);
      }),
    );
    if ((i + 50) % 1000 === 0) log(`wrote ${i + 50} jobs`);
  }
  return (Date.now() - t0) / 1000;
}

async function measure(list: ListFn): Promise<Record<string, unknown>> {
  const once = async (query: { limit?: string; next?: string }) => {
    const t = performance.now();
    const { page, bytes } = await list(query);
    return { ms: performance.now() - t, page, bytes };
  };
  const cold = await once({});
  const series = async (query: { limit?: string; next?: string }) => {
    const ms: number[] = [];
    let bytes = 0;
    let jobs = 0;
    for (let r = 0; r < rounds; r++) {
      const one = await once(query);
      ms.push(one.ms);
      bytes = one.bytes;
      jobs = one.page.jobs.length;
    }
    ms.sort((a, b) => a - b);
    const round1 = (x: number) => Math.round(x * 10) / 10;
    return { p50Ms: round1(ms[Math.floor(rounds / 2)]), maxMs: round1(ms.at(-1)!), minMs: round1(ms[0]), bytes, jobs };
  };
  const first20 = await series({});
  const first100 = await series({ limit: '100' });
  // Walk to page 51 (or the last page) through the `next` tokens, as a client would.
  const before = Math.min(50, Math.ceil(n / 100) - 1);
  let next: string | undefined;
  const walk: number[] = [];
  for (let i = 0; i < before; i++) {
    const one = await once({ limit: '100', next });
    walk.push(one.ms);
    next = one.page.next;
    if (!next) throw new Error(`page ${i + 1} has no next token`);
  }
  walk.sort((a, b) => a - b);
  return {
    firstCallMs: Math.round(cold.ms),
    'first page, limit 20': first20,
    'first page, limit 100': first100,
    ...(before > 0
      ? {
          [`pages 1-${before}, limit 100 (the walk)`]: { p50Ms: Math.round(walk[Math.floor(before / 2)]), maxMs: Math.round(walk.at(-1)!) },
          [`page ${before + 1}, limit 100`]: await series({ limit: '100', next }),
        }
      : {}),
  };
}

async function viaProcess() {
  Object.assign(process.env, emulatorEnv());
  const { started } = await startEmulator();
  try {
    const s3 = makeS3Client();
    const name = `bench-jobs-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    const bucket = new Bucket(s3, name);
    const writeSeconds = await writeJobs(bucket);
    const api = new JobsApi(bucket, makeSqsClient(), 'unused', { minAccuracy: 0.98 });
    const list: ListFn = async (query) => {
      const page = await api.listJobs(query);
      return { page, bytes: Buffer.byteLength(JSON.stringify(page)) };
    };
    return { writeSeconds, ...(await measure(list)) };
  } finally {
    if (started) await stopEmulator();
  }
}

async function viaApi() {
  const emulator = await startAuthEmulator();
  try {
    const t0 = Date.now();
    const outputs = await deployStack({ stackName: 'LenetJobsBench', quiet: true });
    const deploySeconds = (Date.now() - t0) / 1000;
    log(`deployed in ${deploySeconds} s`);
    const writeSeconds = await writeJobs(new Bucket(makeS3Client(), outputs.BucketName));
    const iam = new IAMClient({});
    const userName = `bench-operator-${Date.now()}`;
    await iam.send(new CreateUserCommand({ UserName: userName }));
    await iam.send(new AttachUserPolicyCommand({ UserName: userName, PolicyArn: outputs.raw.JobsOperatorPolicyArn }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
    const client = new ApiClient(outputs.ApiUrl, {
      credentials: { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! },
      region: 'us-east-1',
    });
    const list: ListFn = async (query) => {
      const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
      const url = `${client.baseUrl}jobs${q.size ? `?${q}` : ''}`;
      const res = await fetch(url, { headers: await client.headers('GET', url) });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 200)}`);
      return { page: JSON.parse(text) as Page, bytes: Buffer.byteLength(text) };
    };
    return { deploySeconds, writeSeconds, ...(await measure(list)) };
  } finally {
    await emulator.stop();
  }
}

const started = Date.now();
const figures = via === 'api' ? await viaApi() : await viaProcess();
const { label, version } = emulatorInfo();
console.log(
  JSON.stringify(
    { bench: 'jobs-list', via, jobs: n, rounds, emulator: `${label} ${version}`, ...figures, totalSeconds: (Date.now() - started) / 1000 },
    null,
    2,
  ),
);
