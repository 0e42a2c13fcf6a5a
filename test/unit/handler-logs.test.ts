/** The Lambda handlers' log lines carry the invocation's request id (Powertools addContext). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Invokes a handler in a child process with a Lambda context and returns its status and log lines
 * (Powertools writes through its own Console, so the logs are read from outside).
 */
function invoke(handlerPath: string, event: unknown, env: Record<string, string | undefined>) {
  const script = `
    const { handler } = await import(${JSON.stringify(`${ROOT}${handlerPath}`)});
    const context = { awsRequestId: 'req-8f2c', functionName: 'fn', functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn', memoryLimitInMB: '1024' };
    const res = await handler(${JSON.stringify(event)}, context);
    console.error('STATUS ' + res.statusCode);`;
  const env2 = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env2[k];
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: env2,
    encoding: 'utf8',
  });
  const status = Number(/STATUS (\d+)/.exec(out.stderr)?.[1]);
  const lines = `${out.stdout}\n${out.stderr}`
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status, lines, stderr: out.stderr };
}

const pixels = { body: JSON.stringify({ pixels: new Array(784).fill(0) }), headers: { 'content-type': 'application/json' } };

test("predict: a failed invocation's error log names its request id", () => {
  // A valid request, but no BUCKET_NAME: the configuration fails, a 500 that is logged.
  const { status, lines, stderr } = invoke('functions/predict/handler.ts', pixels, { BUCKET_NAME: undefined });
  assert.equal(status, 500, stderr);
  const error = lines.find((l) => l.message === 'unhandled error');
  assert.ok(error, JSON.stringify(lines));
  assert.equal(error.function_request_id, 'req-8f2c');
  assert.equal(error.function_name, 'fn');
});

test("api: a failed invocation's error log names its request id", () => {
  const event = { httpMethod: 'GET', path: '/jobs/j-1', resource: '/jobs/{id}', pathParameters: { id: 'j-1' } };
  const { status, lines, stderr } = invoke('functions/api/handler.ts', event, { BUCKET_NAME: undefined, QUEUE_URL: undefined });
  assert.equal(status, 500, stderr);
  const error = lines.find((l) => l.message === 'unhandled error');
  assert.ok(error, JSON.stringify(lines));
  assert.equal(error.function_request_id, 'req-8f2c');
});
