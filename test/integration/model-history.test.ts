/**
 * The served-model history and rollback end to end: GET /models/history, POST /models/rollback and
 * the promotions through the emulator's API Gateway and the deployed api function, the predict
 * function serving what the pointer says after each swap, GET /summary's last change, and the
 * `lenet history` and `lenet rollback` commands. Finished models are written with real (untrained)
 * weights, as model-download.test.ts does, so no training is needed.
 * Unsigned, policy-less and operator (not admin) calls are refused in test/integration/auth.test.ts.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { makeS3Client } from '../../shared/aws';
import { modelKeys, servedModelHistoryKeys } from '../../shared/bucket-layout';
import type { LatestModel, ServedModelChange } from '../../shared/documents';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { Bucket } from '../../shared/s3-objects';
import type { Summary } from '../../functions/api/summary';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { ApiClient } from '../../cli/api-client';
import { deployStack, emulatorGap, emulatorName } from '../../local/emulator';
import { emulatorReady, useEmulator } from '../helpers/aws';
import { waitFor } from '../helpers/trainer';
import { refusal } from '../helpers/refusal';

useEmulator();
// Everything here goes through the API's Lambda functions.
const skip = emulatorGap('lambda');

let api: ApiClient;
let bucket: Bucket;
let url: string;
// Over the stack's default threshold (0.98); c is worse than b, so it is served only by force.
const MODELS = { 'hist-a': 0.985, 'hist-b': 0.99, 'hist-c': 0.982, 'hist-never': 0.995 } as const;

before(async () => {
  if (skip) return;
  await emulatorReady();
  const outputs = await deployStack({ stackName: 'LenetHistory', quiet: true });
  url = outputs.ApiUrl;
  api = new ApiClient(url, { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  await initTrainingBackend('wasm');
  for (const [jobId, testAccuracy] of Object.entries(MODELS)) {
    const model = buildLeNet5({ seed: 3 });
    await saveCheckpoint(bucket, modelKeys.final(jobId), model, {
      jobId,
      epoch: 1,
      backend: 'wasm',
      testAccuracy,
      testImages: 10_000,
      fullTestSet: true,
      createdAt: new Date().toISOString(),
      includeOptimizer: false,
    });
    disposeModel(model);
  }
});

/** The job id the predict function answers with: the model it actually serves. */
async function predictedBy(): Promise<string> {
  const res = await fetch(`${url}predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pixels: new Array(784).fill(0).map((_, i) => (i % 29 === 0 ? 1 : 0)) }),
  });
  const body = (await res.json()) as { model?: { jobId: string }; error?: string };
  assert.equal(res.status, 200, body.error);
  return body.model!.jobId;
}

const lenet = (...args: string[]) =>
  spawnSync('npx', ['lenet', ...args], { env: { ...process.env, LENET_API_URL: url }, encoding: 'utf8', timeout: 60_000 });

test('before any model is served: an empty history, and rollback is a 409 that says there is no earlier model', { skip }, async () => {
  assert.deepEqual(await api.history(), { changes: [] });
  const none = await refusal(api.rollback());
  assert.equal(none.status, 409);
  assert.match(none.message, /no earlier model: no model has been served yet/);
  // The CLI says the same in one line and exits 1 (the request failed).
  const cli = lenet('rollback');
  assert.equal(cli.status, 1, cli.stderr);
  assert.match(cli.stderr, /^lenet: Not rolled back: no earlier model/m);
});

let served: LatestModel;

test('promote, refuse a worse one, promote a better, force the worse: each change recorded with from, to, when, who, why', {
  skip,
}, async () => {
  served = await api.promote('hist-a');
  assert.equal(served.why, 'promoted');
  assert.equal(served.from, undefined);
  const only = await refusal(api.rollback());
  assert.equal(only.status, 409);
  assert.match(only.message, /no earlier model: job hist-a is the first model served/);
  assert.equal((await refusal(api.promote('hist-c'))).status, 409);
  await api.promote('hist-b');
  served = await api.promote('hist-c', true);
  assert.equal(served.why, 'forced');
  assert.deepEqual(served.from, { jobId: 'hist-b', testAccuracy: MODELS['hist-b'] });
  assert.equal(await predictedBy(), 'hist-c');

  const { changes } = await api.history();
  assert.deepEqual(
    changes.map((c) => [c.to.jobId, c.from?.jobId, c.why]),
    [
      ['hist-c', 'hist-b', 'forced'],
      ['hist-b', 'hist-a', 'promoted'],
      ['hist-a', undefined, 'promoted'],
    ],
  );
  assert.equal(changes[0].changeId, served.promotionId);
  assert.equal(changes[0].at, served.promotedAt);
  assert.deepEqual(changes[0].to, { jobId: 'hist-c', testAccuracy: MODELS['hist-c'] });
  // The caller's identity as API Gateway verified it (the emulator's root keys here). LocalStack's
  // community API Gateway checks no signature and passes no identity: the API records 'unknown'.
  const who = emulatorName() === 'localstack' ? /^unknown$/ : /^arn:aws:(iam|sts)::\d{12}:/;
  for (const c of changes) assert.match(c.by, who, c.by);
  assert.ok(Date.parse(changes[0].at) > Date.parse(changes[1].at) && Date.parse(changes[1].at) > Date.parse(changes[2].at));
});

test('rollback serves the previous model again (and predict follows); rollback <jobId> an earlier one', {
  skip,
  timeout: 90_000,
}, async () => {
  const back = await api.rollback();
  assert.equal(back.jobId, 'hist-b');
  assert.equal(back.why, 'rollback');
  assert.deepEqual(back.from, { jobId: 'hist-c', testAccuracy: MODELS['hist-c'] });
  // The predict function re-reads the pointer every MODEL_REFRESH_SECONDS (30 s by default).
  await waitFor('predict to serve hist-b', async () => (await predictedBy()) === 'hist-b', 45_000, 1000);

  const named = await api.rollback('hist-a');
  assert.equal(named.jobId, 'hist-a');
  assert.equal(named.testAccuracy, MODELS['hist-a']);
  assert.deepEqual(named.from, { jobId: 'hist-b', testAccuracy: MODELS['hist-b'] });
  served = named;

  const now = await refusal(api.rollback('hist-a'));
  assert.equal(now.status, 409);
  assert.match(now.message, /job hist-a is the model served now/);
  const never = await refusal(api.rollback('hist-never'));
  assert.equal(never.status, 409);
  assert.match(never.message, /job hist-never was never served/);
  const bad = await refusal(api.call('POST', 'models/rollback', { jobId: 'x', force: true }));
  assert.equal(bad.status, 400);
  assert.equal((await api.models()).latest?.jobId, 'hist-a', 'refusals leave the pointer alone');
});

test('history: newest first, one unbroken chain, paged with an opaque next; every entry an object of its own', { skip }, async () => {
  const all: ServedModelChange[] = [];
  let next: string | undefined;
  let pages = 0;
  do {
    const page = await api.history({ limit: 2, next });
    assert.ok(page.changes.length <= 2);
    all.push(...page.changes);
    next = page.next;
    pages++;
  } while (next);
  assert.equal(pages, 3);
  assert.deepEqual(
    all.map((c) => [c.to.jobId, c.why]),
    [
      ['hist-a', 'rollback'],
      ['hist-b', 'rollback'],
      ['hist-c', 'forced'],
      ['hist-b', 'promoted'],
      ['hist-a', 'promoted'],
    ],
  );
  for (let i = 0; i + 1 < all.length; i++) assert.equal(all[i].from?.jobId, all[i + 1].to.jobId);
  const keys = (await bucket.listKeys(servedModelHistoryKeys.prefix)).filter((k) => servedModelHistoryKeys.parse(k));
  assert.equal(keys.length, 5);
  const bad = await refusal(api.history({ next: 'not-a-token' }));
  assert.equal(bad.status, 400);
  assert.equal((await refusal(api.history({ limit: 0 }))).status, 400);
});

test('GET /summary (public) says when the served model last changed and how, never who', { skip }, async () => {
  const summary = (await (await fetch(`${url}summary`)).json()) as Summary;
  assert.deepEqual(summary.model?.lastChange, { at: served.promotedAt, why: 'rollback', fromJobId: 'hist-b' });
  assert.equal(summary.model?.promotedAt, served.promotedAt);
  assert.doesNotMatch(JSON.stringify(summary), /arn:aws|promotionId|changeId/);
});

test('lenet history and rollback: --json, a table, and --help lists both', { skip }, async () => {
  const json = lenet('history', '--json', '--limit', '1');
  assert.equal(json.status, 0, json.stderr);
  const page = JSON.parse(json.stdout) as { changes: ServedModelChange[]; next?: string };
  assert.equal(page.changes[0].to.jobId, 'hist-a');
  assert.ok(page.next);
  const table = lenet('history');
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /hist-a \(0\.9850\).*rollback|rollback.*hist-a \(0\.9850\)/);
  const rolled = lenet('rollback', '--json');
  assert.equal(rolled.status, 0, rolled.stderr);
  const pointer = JSON.parse(rolled.stdout) as LatestModel;
  assert.equal(pointer.jobId, 'hist-b');
  assert.equal(pointer.why, 'rollback');
  const named = lenet('rollback', 'hist-c');
  assert.equal(named.status, 0, named.stderr);
  assert.match(named.stdout, /now serving hist-c \(0\.9820\), rolled back from hist-b \(0\.9900\)/);
  const help = lenet('--help');
  assert.match(help.stdout, /^\s+history\b/m);
  assert.match(help.stdout, /^\s+rollback \[options\] \[jobId\]/m);
});
