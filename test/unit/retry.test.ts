import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTransientAwsError, withRetry } from '../../shared/retry';

const awsError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra });

test('transient: no HTTP answer, throttling, 500/503, 429', () => {
  assert.equal(isTransientAwsError(Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isTransientAwsError(awsError('SlowDown', 503)), true);
  assert.equal(isTransientAwsError(awsError('InternalError', 500)), true);
  assert.equal(isTransientAwsError(awsError('TooManyRequests', 429)), true);
});

test('permanent: 4xx, and 501 / NotImplemented even when the SDK marks it retryable', () => {
  assert.equal(isTransientAwsError(awsError('NoSuchKey', 404)), false);
  assert.equal(isTransientAwsError(awsError('PreconditionFailed', 412)), false);
  assert.equal(isTransientAwsError(awsError('NotImplemented', 501)), false);
  assert.equal(isTransientAwsError(awsError('NotImplemented', 501, { $retryable: {} })), false);
  assert.equal(isTransientAwsError(awsError('SomethingElse', 501)), false);
  assert.equal(isTransientAwsError(Object.assign(new Error('x'), { code: 'NotImplemented' })), false);
});

test('withRetry gives up on a 501 at the first attempt and retries a 503', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      'conditional DELETE',
      async () => {
        calls++;
        throw awsError('NotImplemented', 501);
      },
      { baseDelayMs: 1 },
    ),
    /NotImplemented/,
  );
  assert.equal(calls, 1);
  calls = 0;
  const out = await withRetry(
    'GET',
    async () => {
      if (++calls < 3) throw awsError('ServiceUnavailable', 503);
      return 'ok';
    },
    { baseDelayMs: 1 },
  );
  assert.equal(out, 'ok');
  assert.equal(calls, 3);
});

test('a programming error fails at once: a TypeError is not retried', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      'GET',
      async () => {
        calls++;
        throw new TypeError("Cannot read properties of undefined (reading 'Body')");
      },
      { baseDelayMs: 1 },
    ),
    TypeError,
  );
  assert.equal(calls, 1);
  assert.equal(isTransientAwsError(new Error('plain')), false);
  assert.equal(isTransientAwsError(new RangeError('bad length')), false);
});

test("the SDK's own answer for a refused connection is transient", async () => {
  const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
  // Port 9 (discard): nothing listens, so every address localhost resolves to refuses the connection.
  const s3 = new S3Client({
    endpoint: 'http://localhost:9',
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const err = await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })).then(
    () => assert.fail('expected a refused connection'),
    (e: unknown) => e,
  );
  assert.equal(isTransientAwsError(err), true, String(err));
});

test('full jitter: each delay is uniform below the doubling cap', async () => {
  const delays: number[] = [];
  const draws = [0.5, 0, 0.999, 0.25];
  let calls = 0;
  await withRetry(
    'GET',
    async () => {
      if (++calls <= draws.length) throw awsError('ServiceUnavailable', 503);
      return 'ok';
    },
    { baseDelayMs: 4, maxDelayMs: 8, random: () => draws[delays.length], onRetry: ({ delayMs }) => delays.push(delayMs) },
  );
  // Caps 4, 8, 8, 8 (doubling, then maxDelayMs), times the draws.
  assert.deepEqual(delays, [2, 0, 7, 2]);
});
