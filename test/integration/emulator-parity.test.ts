/**
 * The S3 and SQS behaviours this project relies on (or avoids), checked against whichever emulator
 * runs: the evidence behind docs/emulators.md. Where the emulators differ, the expected answer per
 * emulator is written down here, so a new emulator release that changes it fails this test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { makeSqsClient } from '../../shared/aws';
import { emulatorInfo } from '../../local/emulator';
import { freshBucket, freshQueue, useEmulator } from '../helpers/aws';

useEmulator();
const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    return status(err) ?? -1;
  }
}

test('S3 conditional PUT (If-None-Match: *, If-Match) and conditional GET (If-None-Match → 304)', async () => {
  const bucket = await freshBucket('parity');
  const put = (cond: { IfNoneMatch?: string; IfMatch?: string }, body = 'x') =>
    bucket.s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'k', Body: body, ...cond }));
  const first = await put({ IfNoneMatch: '*' }, 'one');
  assert.equal(await statusOf(put({ IfNoneMatch: '*' })), 412, 'create-only PUT on an existing key');
  assert.equal(await statusOf(put({ IfMatch: '"0123456789abcdef0123456789abcdef"' })), 412, 'If-Match with a stale ETag');
  const second = await put({ IfMatch: first.ETag! }, 'two');
  assert.notEqual(second.ETag, first.ETag);
  assert.equal(await statusOf(bucket.s3.send(new GetObjectCommand({ Bucket: bucket.name, Key: 'k', IfNoneMatch: second.ETag }))), 304);
  assert.equal(await statusOf(bucket.s3.send(new GetObjectCommand({ Bucket: bucket.name, Key: 'k', IfNoneMatch: first.ETag }))), 200);
});

test('S3 conditional DELETE (If-Match): MiniStack honours it, LocalStack answers 501 (the lease no longer uses it)', async () => {
  const bucket = await freshBucket('parity');
  await bucket.s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'k', Body: 'x' }));
  const stale = await statusOf(
    bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: 'k', IfMatch: '"0123456789abcdef0123456789abcdef"' })),
  );
  const expected = { ministack: 412, localstack: 501 }[emulatorInfo().name];
  assert.equal(stale, expected, `DELETE with a stale If-Match on ${emulatorInfo().label}`);
});

test('S3 versioning keeps every version; lifecycle rules are stored and read back', async () => {
  const bucket = await freshBucket('parity');
  await bucket.s3.send(new PutBucketVersioningCommand({ Bucket: bucket.name, VersioningConfiguration: { Status: 'Enabled' } }));
  for (const body of ['a', 'b', 'c']) await bucket.s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'v', Body: body }));
  const versions = await bucket.s3.send(new ListObjectVersionsCommand({ Bucket: bucket.name, Prefix: 'v' }));
  assert.equal(versions.Versions?.length, 3);
  await bucket.s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: bucket.name,
      LifecycleConfiguration: {
        Rules: [
          {
            ID: 'expire-checkpoints',
            Status: 'Enabled',
            Filter: { Prefix: 'models/' },
            Expiration: { Days: 30 },
            NoncurrentVersionExpiration: { NoncurrentDays: 7 },
          },
        ],
      },
    }),
  );
  const lc = await bucket.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket.name }));
  assert.equal(lc.Rules?.[0]?.ID, 'expire-checkpoints');
  assert.equal(lc.Rules?.[0]?.Expiration?.Days, 30);
});

test('SQS: long poll waits, visibility hides, ChangeMessageVisibility extends, redrive dead-letters after maxReceiveCount', async () => {
  const sqs = makeSqsClient();
  const dlq = await freshQueue('parity-dlq');
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const q = await freshQueue('parity', {
    VisibilityTimeout: '1',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
  });
  let t = Date.now();
  const empty = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 2 }));
  assert.equal(empty.Messages?.length ?? 0, 0);
  assert.ok(Date.now() - t >= 1500, `long poll returned after ${Date.now() - t} ms`);
  await sqs.send(new SendMessageCommand({ QueueUrl: q, MessageBody: 'm' }));
  const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 2 }));
  assert.equal(first.Messages?.length, 1);
  await sqs.send(
    new ChangeMessageVisibilityCommand({ QueueUrl: q, ReceiptHandle: first.Messages![0].ReceiptHandle!, VisibilityTimeout: 3 }),
  );
  t = Date.now();
  const hidden = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 1 }));
  assert.equal(hidden.Messages?.length ?? 0, 0, 'still invisible after the default 1 s timeout (extended to 3 s)');
  await new Promise((r) => setTimeout(r, 3200 - (Date.now() - t)));
  const second = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 2 }));
  assert.equal(second.Messages?.length, 1, 'visible again (2nd receive)');
  await new Promise((r) => setTimeout(r, 1200));
  const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q, WaitTimeSeconds: 1 }));
  assert.equal(third.Messages?.length ?? 0, 0, 'a 3rd receive finds nothing: moved to the DLQ');
  const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, WaitTimeSeconds: 2 }));
  assert.equal(dead.Messages?.[0]?.Body, 'm');
});
