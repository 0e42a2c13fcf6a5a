/** The shared contracts: bucket layout, route table (against the README), and the api bundle staying free of tfjs. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { isJobStatusKey, jobKeys, modelKeys, parseCheckpointMarker, parseFinalModelMarker } from '../../shared/bucket-layout';
import { describeRoutes, matchRoute, ROUTES } from '../../shared/routes';
import { RUNTIME_SDK_MODULES } from '../../infra/service-api';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('bucket layout: key builders and parsers agree', () => {
  assert.deepEqual(parseCheckpointMarker(modelKeys.epoch('job-1', 12) + modelKeys.marker), { kind: 'epoch', jobId: 'job-1', epoch: 12 });
  assert.deepEqual(parseCheckpointMarker(modelKeys.partial('job-1', 3, 250) + modelKeys.marker), {
    kind: 'partial',
    jobId: 'job-1',
    epoch: 3,
    batch: 250,
  });
  assert.equal(parseCheckpointMarker(modelKeys.epoch('job-1', 12) + 'model.json'), undefined);
  assert.equal(parseCheckpointMarker(modelKeys.final('job-1') + modelKeys.marker), undefined);
  assert.equal(parseFinalModelMarker(modelKeys.final('job-1') + modelKeys.marker), 'job-1');
  assert.equal(parseFinalModelMarker(modelKeys.epoch('job-1', 1) + modelKeys.marker), undefined);
  assert.ok(modelKeys.epoch('job-1', 1).startsWith(modelKeys.checkpoints('job-1')));
  assert.ok(modelKeys.partial('job-1', 1, 2).startsWith(modelKeys.checkpoints('job-1')));
  assert.ok(isJobStatusKey(jobKeys.status('j')));
  assert.ok(!isJobStatusKey(jobKeys.progress('j')) && !isJobStatusKey(jobKeys.lease('j')));
});

test('routes: matching by concrete path and by resource template', () => {
  assert.deepEqual(matchRoute('GET', '/jobs/abc')?.params, { id: 'abc' });
  assert.equal(matchRoute('GET', '/jobs/{id}')?.route.path, '/jobs/{id}');
  assert.deepEqual(matchRoute('GET', '/models/abc/download')?.params, { id: 'abc' });
  assert.equal(matchRoute('POST', '/models/promote')?.route.path, '/models/promote');
  // A fixed segment and a path parameter side by side: /models/history is not a job id.
  assert.equal(matchRoute('GET', '/models/history')?.route.path, '/models/history');
  assert.equal(matchRoute('GET', '/')?.route.target, 'api');
  assert.equal(matchRoute('POST', '/predict')?.route.target, 'predict');
  assert.equal(matchRoute('DELETE', '/jobs'), undefined);
  assert.equal(matchRoute('GET', '/nope'), undefined);
  assert.equal(
    describeRoutes(),
    'GET /, GET /summary, GET /jobs, POST /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel, POST /batch-predictions, GET /models, GET /models/{id}/download, POST /models/promote, POST /models/promote/force, GET /models/history, POST /models/rollback, POST /sweeps, GET /sweeps/{id}, POST /sweeps/{id}/cancel, POST /predict',
  );
});

test("routes: the README's API table lists exactly the route table", () => {
  const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('### The API'));
  const documented = [
    ...section.slice(0, section.indexOf('\n\n', section.indexOf('| Route'))).matchAll(/^\| `(GET|POST) ([^`]+)` \|/gm),
  ].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(documented.sort(), ROUTES.map((r) => `${r.method} ${r.path}`).sort());
});

test('the api function bundle carries no tfjs, and bundles the S3 presigner rather than trusting the runtime for it', async () => {
  const out = await build({
    entryPoints: [`${REPO_ROOT}functions/api/handler.ts`],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: [...RUNTIME_SDK_MODULES],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(out.metafile.inputs);
  assert.deepEqual(
    inputs.filter((f) => f.includes('@tensorflow/')),
    [],
  );
  assert.ok(inputs.some((f) => f.includes('@aws-sdk/s3-request-presigner/')));
  assert.ok(!inputs.some((f) => f.includes('@aws-sdk/client-')));
});

test('configuration: defaults, and a bad or missing variable fails naming it', async () => {
  const { readTrainerConfig } = await import('../../functions/trainer/config');
  const { readApiConfig } = await import('../../functions/api/config');
  const base = { BUCKET_NAME: 'b', QUEUE_URL: 'q' };
  const trainer = readTrainerConfig({ ...base, TRAINER_ID: '', LEASE_SECONDS: '' });
  assert.equal(trainer.VISIBILITY_TIMEOUT_SECONDS, 300);
  assert.equal(trainer.MAX_RECEIVES, 3);
  assert.equal(trainer.PROMOTION_MIN_ACCURACY, 0.98);
  assert.equal(trainer.TRAINER_THREADS, undefined, 'unset: the trainer uses defaultThreads(), auto');
  assert.equal(trainer.TRAINER_ID, undefined);
  assert.equal(trainer.LEASE_SECONDS, undefined);
  assert.equal(readTrainerConfig({ ...base, TRAINER_THREADS: '2', HEARTBEAT_SECONDS: '0.5' }).TRAINER_THREADS, 2);
  assert.throws(() => readTrainerConfig({ ...base, TRAINER_THREADS: '99' }), /TRAINER_THREADS="99": must be 'auto'/);
  assert.throws(() => readTrainerConfig({ ...base, HEARTBEAT_SECONDS: 'soon' }), /HEARTBEAT_SECONDS="soon"/);
  assert.throws(() => readTrainerConfig({ BUCKET_NAME: 'b' }), /QUEUE_URL is not set/);
  assert.throws(() => readApiConfig({ ...base, PROMOTION_MIN_ACCURACY: 'x' }), /PROMOTION_MIN_ACCURACY="x"/);
  assert.equal(readApiConfig({ ...base, PROMOTION_MIN_ACCURACY: '0.9' }).PROMOTION_MIN_ACCURACY, 0.9);
});

test('job consumer: what becomes of a failed job message', async () => {
  const { dispositionAfterFailure } = await import('../../functions/trainer/lifecycle/disposition');
  const base = { permanent: false, maxReceives: 3, retryBaseSeconds: 30, visibilitySeconds: 300 };
  assert.deepEqual(dispositionAfterFailure({ ...base, permanent: true, receives: 1 }), { action: 'delete' });
  assert.deepEqual(dispositionAfterFailure({ ...base, receives: 1 }), { action: 'retry', delaySeconds: 30 });
  assert.deepEqual(dispositionAfterFailure({ ...base, receives: 2 }), { action: 'retry', delaySeconds: 60 });
  assert.deepEqual(dispositionAfterFailure({ ...base, receives: 3 }), { action: 'to-dlq' });
  assert.deepEqual(dispositionAfterFailure({ ...base, maxReceives: 10, receives: 6 }), { action: 'retry', delaySeconds: 300 });
});
