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
