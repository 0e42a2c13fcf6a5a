import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { emulatorEnv, emulatorGap, emulatorInfo, emulatorName, emulatorUrl, localApiUrl, localQueueUrl } from '../../local/emulator';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `fn` with these variables set (undefined: unset), restoring them afterwards. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v))
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

const none = {
  LENET_EMULATOR: undefined,
  LENET_EMULATOR_PORT: undefined,
  LENET_EMULATOR_URL: undefined,
  LENET_LOCALSTACK_LAMBDA: undefined,
};

test('LENET_EMULATOR picks ministack (default) or localstack, and names anything else in one line', () => {
  assert.equal(emulatorName(undefined), 'ministack');
  assert.equal(emulatorName(''), 'ministack');
  assert.equal(emulatorName('ministack'), 'ministack');
  assert.equal(emulatorName('localstack'), 'localstack');
  assert.throws(() => emulatorName('LocalStack2'), /^Error: LENET_EMULATOR must be 'ministack' or 'localstack', got 'LocalStack2'$/);
});

test('the URL: 127.0.0.1 and LENET_EMULATOR_PORT (default 4566), or LENET_EMULATOR_URL as given', () => {
  withEnv(none, () => {
    assert.equal(emulatorUrl(), 'http://127.0.0.1:4566');
    assert.deepEqual(emulatorInfo(), {
      name: 'ministack',
      label: 'MiniStack',
      version: '1.5.33',
      url: 'http://127.0.0.1:4566',
      external: false,
    });
  });
  withEnv({ ...none, LENET_EMULATOR: 'localstack', LENET_EMULATOR_PORT: '4580' }, () => {
    assert.equal(emulatorUrl(), 'http://127.0.0.1:4580');
    assert.equal(emulatorInfo().label, 'LocalStack');
    assert.equal(emulatorEnv().AWS_ENDPOINT_URL_S3, 'http://127.0.0.1:4580');
  });
  withEnv(
    { ...none, LENET_EMULATOR: 'localstack', LENET_EMULATOR_URL: 'http://localstack.internal:4566/', LENET_EMULATOR_PORT: '4580' },
    () => {
      assert.equal(emulatorUrl(), 'http://localstack.internal:4566');
      assert.equal(emulatorInfo().external, true);
      assert.equal(emulatorEnv().AWS_ENDPOINT_URL, 'http://localstack.internal:4566');
    },
  );
  withEnv({ ...none, LENET_EMULATOR_URL: 'localhost:4566' }, () => {
    assert.throws(
      () => emulatorUrl(),
      /LENET_EMULATOR_URL must be an http\(s\) URL such as http:\/\/127\.0\.0\.1:4566, got 'localhost:4566'/,
    );
  });
});

test('importing the emulator module never throws, whatever the variables say (the CLI imports it)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./local/emulator.ts').then(() => console.log('imported'))"], {
    cwd: ROOT,
    env: { ...process.env, LENET_EMULATOR: 'bogus', LENET_EMULATOR_PORT: 'x', LENET_EMULATOR_URL: '::' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /imported/);
});

test("queue URLs in either emulator's form become callable at the emulator's own address", () => {
  withEnv({ ...none, LENET_EMULATOR_PORT: '4573' }, () => {
    // MiniStack: localhost (may resolve to ::1 while it listens on 127.0.0.1)
    assert.equal(localQueueUrl('http://localhost:4573/000000000000/jobs'), 'http://127.0.0.1:4573/000000000000/jobs');
    // LocalStack, path strategy (as started here) and its default domain strategy (a user's own LocalStack)
    assert.equal(localQueueUrl('http://127.0.0.1:4573/000000000000/jobs-dlq'), 'http://127.0.0.1:4573/000000000000/jobs-dlq');
    assert.equal(
      localQueueUrl('http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/jobs'),
      'http://127.0.0.1:4573/000000000000/jobs',
    );
    // Anything else is left alone.
    assert.equal(localQueueUrl('https://sqs.us-east-1.amazonaws.com/123/jobs'), 'https://sqs.us-east-1.amazonaws.com/123/jobs');
    assert.equal(localQueueUrl(undefined), undefined);
    assert.equal(
      localApiUrl('https://abc123.execute-api.us-east-1.amazonaws.com/prod/'),
      'http://127.0.0.1:4573/_aws/execute-api/abc123/prod/',
    );
  });
});

test('Lambda is a gap only on LocalStack without its Docker executor, and the reason says how to close it', () => {
  withEnv(none, () => assert.equal(emulatorGap('lambda'), undefined));
  withEnv({ ...none, LENET_EMULATOR: 'localstack' }, () =>
    assert.match(emulatorGap('lambda')!, /^LocalStack runs Lambda functions only in Docker containers.*setup-lambda\.sh/),
  );
  withEnv({ ...none, LENET_EMULATOR: 'localstack', LENET_LOCALSTACK_LAMBDA: 'docker' }, () =>
    assert.equal(emulatorGap('lambda'), undefined),
  );
});
