import { after, before } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { Bucket } from '../../shared/s3-objects';
import { emulatorEnv, startEmulator, stopEmulator } from './emulator';

/**
 * Starts the emulator for a test file (unless one is already running) and points this process's
 * AWS SDK clients at it. Stops it afterwards only if this file started it.
 */
export function useEmulator(): void {
  let startedHere = false;
  before(async () => {
    Object.assign(process.env, emulatorEnv());
    startedHere = (await startEmulator()).started;
  });
  after(async () => {
    if (startedHere) await stopEmulator();
  });
}

/** A fresh bucket with a unique name on the emulator. */
export async function freshBucket(prefix = 'test'): Promise<Bucket> {
  const s3 = makeS3Client();
  const name = `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return new Bucket(s3, name);
}

/** A fresh queue with a unique name on the emulator; returns its URL. */
export async function freshQueue(prefix = 'test', attributes: Record<string, string> = {}): Promise<string> {
  const out = await makeSqsClient().send(
    new CreateQueueCommand({ QueueName: `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, Attributes: attributes }),
  );
  return out.QueueUrl!;
}
