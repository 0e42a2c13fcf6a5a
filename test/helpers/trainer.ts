/** Real trainer processes (functions/trainer/main.ts) for reliability tests, and small queue/bucket helpers. */
import { createRequire } from 'node:module';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { makeSqsClient } from '../../shared/aws';
import { mnistDataDir } from '../../shared/dataset';
import { DATASET_FILES } from '../../shared/bucket-layout';
import type { JobStore } from '../../shared/job-store';
import type { Bucket } from '../../shared/s3-objects';
import type { ApiClient } from '../../cli/api-client';
import { startLocalTrainer } from '../../local/local-trainer';
import { isFinished, type JobStatus } from '../../shared/documents';

export interface Trainer {
  child: ChildProcess;
  logFile: string;
  /** The trainer's log lines (powertools JSON), parsed. */
  logs(): Array<Record<string, unknown> & { message: string }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Where the trainer tests upload their small MNIST (uploadSmallMnist). */
export const SMALL_MNIST = 'datasets/mnist-small/';

/** Short visibility for tests: a lost message comes back after 10 s. Give the queue the same VisibilityTimeout. */
export const FAST_TRAINER_ENV = { VISIBILITY_TIMEOUT_SECONDS: '10', HEARTBEAT_SECONDS: '2', RETRY_BASE_SECONDS: '1' };

/** Knobs of every test trainer, host process or container: quick polls, no promotion bar, its name in leases. */
export const testTrainerEnv = (name: string) => ({ WAIT_TIME_SECONDS: '1', PROMOTION_MIN_ACCURACY: '0', TRAINER_ID: name });

/** A small, deterministic job on SMALL_MNIST; `extra` adds or overrides params. */
export const smallJobParams = (extra: object = {}) => ({
  datasetPrefix: SMALL_MNIST,
  testSubset: 1000,
  validationSplit: 0,
  lrSchedule: 'constant' as const,
  augmentShift: 0,
  ...extra,
});

const ended = (s: JobStatus | undefined) => (s && isFinished(s.status) ? s : undefined);

/** For waitFor: the job's status, read from the bucket, once it has finished (SUCCEEDED, FAILED or CANCELLED). */
export const jobFinished = (jobs: JobStore, jobId: string) => async (): Promise<JobStatus | undefined> => ended(await jobs.get(jobId));

/** For waitFor: the job's status, read through `GET /jobs/{id}`, once it has finished. */
export const jobFinishedViaApi = (api: ApiClient, jobId: string) => async (): Promise<JobStatus | undefined> => ended(await api.job(jobId));

/** Starts a trainer host process with short test knobs; `env` overrides them. */
export function spawnTrainer(name: string, bucket: Bucket, queueUrl: string, env: Record<string, string> = {}): Trainer {
  const logFile = `.local/reliability-${name}-${Date.now()}.log`;
  const child = startLocalTrainer({
    bucketName: bucket.name,
    queueUrl,
    logFile,
    env: { ...testTrainerEnv(name), TFJS_BACKEND: 'wasm', ...env },
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    logFile,
    exited,
    logs: () =>
      (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l)),
  };
}

/**
 * The trainer processes one test file starts on one stack: `start` spawns one with the fast test
 * knobs plus `env`; `stopAll` (for `after`) thaws any a test froze (SIGSTOP seams) and stops them all.
 */
export class TrainerFleet {
  private readonly trainers: Trainer[] = [];

  constructor(private readonly target: () => { bucket: Bucket; queueUrl: string; env?: Record<string, string> }) {}

  start(name: string, env: Record<string, string> = {}): Trainer {
    const { bucket, queueUrl, env: base } = this.target();
    const t = spawnTrainer(name, bucket, queueUrl, { ...FAST_TRAINER_ENV, ...base, ...env });
    this.trainers.push(t);
    return t;
  }

  async stopAll(): Promise<void> {
    for (const t of this.trainers) if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGCONT');
    await Promise.all(this.trainers.map((t) => stopTrainer(t, 5_000)));
  }
}

/** SIGTERM, then SIGKILL if it is still up after `graceMs`. */
export async function stopTrainer(t: Trainer | undefined, graceMs = 30_000): Promise<void> {
  if (!t || t.child.exitCode !== null || t.child.signalCode !== null) return;
  t.child.kill('SIGTERM');
  const timer = setTimeout(() => t.child.kill('SIGKILL'), graceMs);
  await t.exited;
  clearTimeout(timer);
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export async function sendJob(queueUrl: string, body: unknown): Promise<void> {
  await makeSqsClient().send(
    new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }),
  );
}

/** Visible and in-flight messages. */
export async function queueCounts(queueUrl: string): Promise<{ visible: number; inFlight: number; total: number }> {
  const out = await makeSqsClient().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const visible = Number(out.Attributes!.ApproximateNumberOfMessages);
  const inFlight = Number(out.Attributes!.ApproximateNumberOfMessagesNotVisible);
  return { visible, inFlight, total: visible + inFlight };
}

export async function queueArn(queueUrl: string): Promise<string> {
  const out = await makeSqsClient().send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  return out.Attributes!.QueueArn!;
}

/** An IDX file of unsigned bytes from dims and data. */
export function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** The first images of real MNIST as raw bytes (images [n,28,28] and labels [n]), train and test. */
export async function mnistSlices(train: number, test: number) {
  const read = (f: string) => readFile(join(mnistDataDir(), f));
  const [trI, trL, teI, teL] = await Promise.all(Object.values(DATASET_FILES).map(read));
  const px = 28 * 28;
  return {
    trainImages: new Uint8Array(trI.subarray(16, 16 + train * px)),
    trainLabels: new Uint8Array(trL.subarray(8, 8 + train)),
    testImages: new Uint8Array(teI.subarray(16, 16 + test * px)),
    testLabels: new Uint8Array(teL.subarray(8, 8 + test)),
  };
}

/** Uploads a small real-MNIST dataset (the first `train` and `test` images) as the four IDX files. */
export async function uploadSmallMnist(bucket: Bucket, prefix: string, train: number, test: number): Promise<void> {
  const s = await mnistSlices(train, test);
  await bucket.putBytes(prefix + DATASET_FILES.trainImages, idx([train, 28, 28], s.trainImages));
  await bucket.putBytes(prefix + DATASET_FILES.trainLabels, idx([train], s.trainLabels));
  await bucket.putBytes(prefix + DATASET_FILES.testImages, idx([test, 28, 28], s.testImages));
  await bucket.putBytes(prefix + DATASET_FILES.testLabels, idx([test], s.testLabels));
}

/**
 * The tfjs backend a trainer started without TFJS_BACKEND (as npm start starts it) chooses:
 * tfjs-node when it is installed (the measured order, shared/backend.ts), else wasm.
 */
export function defaultTrainerBackend(): 'tensorflow' | 'wasm' {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return 'tensorflow';
  } catch {
    return 'wasm';
  }
}
