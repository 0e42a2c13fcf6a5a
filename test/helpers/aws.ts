import { after, before } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { Bucket } from '../../shared/s3-objects';
import { emulatorEnv, startEmulator, stopEmulator } from '../../local/emulator';

let ready: Promise<boolean> | undefined;

/**
 * Starts the emulator once per test file (unless one is already running) and points this
 * process's AWS SDK clients at it; resolves to whether this file started it.
 */
export function emulatorReady(opts: { auth?: boolean } = {}): Promise<boolean> {
  ready ??= (async () => {
    Object.assign(process.env, emulatorEnv());
    return (await startEmulator(opts)).started;
  })();
  return ready;
}

/**
 * Registers the emulator for a test file and stops it afterwards only if this file started it.
 * Node 20 may run a file's top-level before() hooks concurrently, so every hook that talks to the
 * emulator awaits emulatorReady() itself (freshBucket and freshQueue do).
 */
export function useEmulator(opts: { auth?: boolean } = {}): void {
  before(async () => void (await emulatorReady(opts)));
  after(async () => {
    if (ready && (await ready)) await stopEmulator();
  });
}

/** A fresh bucket with a unique name on the emulator. */
export async function freshBucket(prefix = 'test'): Promise<Bucket> {
  await emulatorReady();
  const s3 = makeS3Client();
  const name = `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return new Bucket(s3, name);
}

/** A fresh queue with a unique name on the emulator; returns its URL. */
export async function freshQueue(prefix = 'test', attributes: Record<string, string> = {}): Promise<string> {
  await emulatorReady();
  const out = await makeSqsClient().send(
    new CreateQueueCommand({ QueueName: `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, Attributes: attributes }),
  );
  return out.QueueUrl!;
}
