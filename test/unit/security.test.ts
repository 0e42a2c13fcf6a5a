/** Pure parts of the control-plane hardening: job limits, the jobs index keys, the page's CSP, response headers. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { jobIndexKeys } from '../../shared/bucket-layout';
import { HttpError, json, parseJsonBody } from '../../shared/http';
import { jobProblems, jobSteps, MAX_JOB_STEPS } from '../../shared/job-limits';
import { TrainingParams } from '../../shared/schemas';
import { PAGE_CSP, PAGE_HTML } from '../../functions/api/page';
import { apiRegion } from '../../cli/api-client';

const MNIST = { trainImages: 60_000, testImages: 10_000 };
const params = (p: object) => TrainingParams.parse(p);

test('job limits: the default job and the largest allowed run; jobs that cannot run or cost too much are refused with the reason', () => {
  assert.deepEqual(jobProblems(params({}), MNIST), []);
  assert.deepEqual(jobProblems(params({ epochs: 100, validationSplit: 0 }), MNIST), []);
  assert.equal(jobSteps(params({ epochs: 100, validationSplit: 0 }), MNIST), MAX_JOB_STEPS);
  const refused: [object, RegExp][] = [
    [{ epochs: 100, batchSize: 1 }, /would take 5400000 steps .* the limit is 187500/],
    [{ epochs: 100, batchSize: 16, validationSplit: 0 }, /limit is 187500/],
    [{ trainSubset: 10, batchSize: 32 }, /batchSize 32 is larger than the 9 training images/],
    [{ trainSubset: 3, validationSplit: 0, batchSize: 3, threads: 4 }, /threads 4 is more than the 3 images of a batch/],
    [{ batchSize: 2, threads: 3 }, /threads 3 is more than the 2 images of a batch/],
    [{ testSubset: 20_000 }, /testSubset 20000 is more than the dataset's 10000 test images/],
  ];
  for (const [p, pattern] of refused) assert.match(jobProblems(params(p), MNIST).join('; '), pattern, JSON.stringify(p));
});

test('jobs index: keys sort newest first and give back the job id', () => {
  const older = jobIndexKeys.entry('2026-01-01T00:00:00.000Z', 'job-a');
  const newer = jobIndexKeys.entry('2026-01-01T00:00:00.001Z', 'job-b');
  assert.ok(newer < older);
  assert.match(newer, /^jobs-index\/\d{13}-job-b$/);
  assert.equal(jobIndexKeys.parse(newer), 'job-b');
  assert.equal(jobIndexKeys.parse('jobs-index/../jobs/x'), undefined);
  assert.throws(() => jobIndexKeys.entry('not a date', 'x'), /not a date/);
});

test('page CSP: nothing from other origins, inline script and style only by the hash of the served blocks', () => {
  const sha = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const block = (tag: string) => PAGE_HTML.match(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`))![1];
  assert.match(PAGE_CSP, /default-src 'none'/);
  assert.match(PAGE_CSP, /connect-src 'self'/);
  assert.match(PAGE_CSP, /frame-ancestors 'none'/);
  assert.ok(PAGE_CSP.includes(`script-src ${sha(block('script'))}`), PAGE_CSP);
  assert.ok(PAGE_CSP.includes(`style-src ${sha(block('style'))}`), PAGE_CSP);
  assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(PAGE_CSP), PAGE_CSP);
});

test('responses: nosniff on every JSON answer and no CORS header', () => {
  const res = json(200, {});
  assert.equal(res.headers?.['x-content-type-options'], 'nosniff');
  assert.ok(!Object.keys(res.headers ?? {}).some((h) => h.toLowerCase().startsWith('access-control-')));
});

test('mutating routes: a body without Content-Type is a 415 when JSON is required', () => {
  const event = (headers: Record<string, string>) => ({ headers, body: '{}' }) as unknown as APIGatewayProxyEvent;
  assert.throws(
    () => parseJsonBody(event({}), TrainingParams, '', { requireJsonContentType: true }),
    (e: unknown) => e instanceof HttpError && e.statusCode === 415,
  );
  assert.throws(
    () => parseJsonBody(event({ 'Content-Type': 'text/plain' }), TrainingParams, '', { requireJsonContentType: true }),
    (e: unknown) => e instanceof HttpError && e.statusCode === 415,
  );
  assert.equal(
    parseJsonBody(event({ 'content-type': 'application/json' }), TrainingParams, '', { requireJsonContentType: true }).epochs,
    20,
  );
});

test('CLI signing region: from the execute-api host, else AWS_REGION', () => {
  assert.equal(apiRegion('https://abc123.execute-api.eu-west-1.amazonaws.com/prod/', {}), 'eu-west-1');
  assert.equal(apiRegion('http://127.0.0.1:4566/_aws/execute-api/abc/prod/', { AWS_REGION: 'us-east-1' }), 'us-east-1');
  assert.throws(() => apiRegion('http://127.0.0.1:4566/x', {}), /set AWS_REGION/);
});
