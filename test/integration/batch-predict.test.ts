/**
 * Batch prediction end to end on the emulator: POST /batch-predictions (and `lenet batch-predict`)
 * through API Gateway, run by a REAL trainer host process that assumes the stack's batch role, over
 * 10,000 PNGs made from the MNIST test set, with bad objects among them; its digits checked against
 * POST /predict on 100 of the same files. Then a trainer killed (-9) mid-batch, and another that
 * finishes the batch without writing a line twice. The role's refusals: batch-roles.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { makeS3Client } from '../../shared/aws';
import type { BatchLine, BatchSummary } from '../../shared/batch-predict';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import type { Dataset } from '../../shared/idx';
import { Bucket } from '../../shared/s3-objects';
import { ApiClient } from '../../cli/api-client';
import { batchPredict } from '../../cli/batch-predict';
import { EXIT } from '../../cli/exit-codes';
import { uploadMnist } from '../../cli/upload-mnist';
import { deployStack, emulatorGap, type StackOutputs } from '../../local/emulator';
import { emulatorReady, useEmulator } from '../helpers/aws';
import { mnistPng } from '../helpers/images';
import { jobFinishedViaApi, stopTrainer, waitFor, TrainerFleet } from '../helpers/trainer';
import { refusal } from '../helpers/refusal';

useEmulator();
const skip = emulatorGap('lambda');

let outputs: StackOutputs;
let api: ApiClient;
let bucket: Bucket;
let testSet: Dataset;
let modelJobId: string;
/** The served model's accuracy on the whole test set, as its trainer measured it on the raw pixels. */
let modelAccuracy: number;
const fleet = new TrainerFleet(() => ({ bucket, queueUrl: outputs.QueueUrl, env: { BATCH_ROLE_ARN: outputs.raw.BatchRoleArn } }));
const IMAGES = 10_000;

const png = (i: number) => mnistPng(testSet.images.subarray(i * 784, (i + 1) * 784));
const key = (prefix: string, i: number) => `${prefix}digit-${String(i).padStart(5, '0')}.png`;

/** PUTs objects `concurrency` at a time. */
async function putAll(entries: Array<[string, Uint8Array]>, concurrency = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < entries.length; i = next++) await bucket.putBytes(entries[i][0], entries[i][1]);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const readLines = async (prefix: string) =>
  Buffer.from((await bucket.getBytes(`${prefix}predictions.jsonl`)) ?? new Uint8Array())
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as BatchLine);

before(async () => {
  if (skip) return;
  await emulatorReady();
  outputs = await deployStack({ stackName: 'LenetBatch', quiet: true });
  api = new ApiClient(outputs.ApiUrl, { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  testSet = (await loadDatasetFromDir(mnistDataDir())).test;
  await uploadMnist(bucket);
  // A model worth comparing: one epoch on 6,000 images, scored on the whole test set, so it is served.
  const t = fleet.start('batch-train');
  const job = await api.submit({ epochs: 1, trainSubset: 6000 });
  const done = await waitFor('the model to train', jobFinishedViaApi(api, job.jobId), 300_000, 500);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.promoted, true, done.promotion);
  modelJobId = done.jobId;
  modelAccuracy = done.testAccuracy!;
  await stopTrainer(t, 5_000);
});

after(() => fleet.stopAll());

test('bad batches are refused at submit with a 4xx that says why', { skip }, async () => {
  const b = outputs.BucketName;
  await bucket.putBytes('batch/empty/readme.txt', Buffer.from('no images here'));
  const cases: Array<[object, number, RegExp]> = [
    [{ input: `s3://${b}/batch/empty/`, output: `s3://${b}/batch/out-empty/` }, 400, /no \.png, \.jpg, \.jpeg, \.json objects under/],
    [{ input: `s3://${b}/datasets/mnist/`, output: `s3://${b}/batch/out/` }, 400, /input must be a prefix under s3:\/\/.*\/batch\//],
    [{ input: `s3://other-bucket/batch/in/`, output: `s3://${b}/batch/out/` }, 400, /input must be a prefix under/],
    [{ input: `s3://${b}/batch/in/`, output: `s3://${b}/batch/in/out/` }, 400, /overlap/],
    [{ input: `s3://${b}/batch/in`, output: `s3://${b}/batch/out/` }, 400, /input: must be an S3 prefix/],
    [{ input: `s3://${b}/batch/in/`, output: `s3://${b}/batch/out/`, modelJobId: 'job-none' }, 404, /no finished model/],
  ];
  for (const [body, status, message] of cases) {
    const r = await refusal(api.call('POST', 'batch-predictions', body));
    assert.equal(r.status, status, JSON.stringify(body));
    assert.match(r.message, message, JSON.stringify(body));
  }
});

test('a batch over 10,000 PNGs (and bad objects) writes a line per object; its digits match POST /predict on 100 of them', {
  skip,
}, async (t) => {
  const inPrefix = 'batch/mnist-test/';
  const outPrefix = 'batch/mnist-test-out/';
  const pngs = Array.from({ length: IMAGES }, (_, i) => png(i));
  const pixelsJson = JSON.stringify({ pixels: Array.from(testSet.images.subarray(0, 784)) });
  await putAll([
    ...pngs.map((bytes, i): [string, Uint8Array] => [key(inPrefix, i), bytes]),
    [`${inPrefix}not-really.png`, Buffer.from('this is no PNG')],
    [`${inPrefix}wrong-size.json`, Buffer.from(JSON.stringify({ pixels: [1, 2, 3] }))],
    [`${inPrefix}first-as-pixels.json`, Buffer.from(pixelsJson)],
    [`${inPrefix}notes.txt`, Buffer.from('not an image: not read')],
  ]);
  const runner = fleet.start('batch-run');
  t.after(() => stopTrainer(runner, 5_000));
  // The CLI, as a user types it.
  const cli = spawnSync(
    'npx',
    [
      'lenet',
      'batch-predict',
      '--input',
      `s3://${outputs.BucketName}/${inPrefix}`,
      '--output',
      `s3://${outputs.BucketName}/${outPrefix}`,
      '--json',
    ],
    { env: { ...process.env, LENET_API_URL: outputs.ApiUrl, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, encoding: 'utf8' },
  );
  assert.equal(cli.status, EXIT.ok, cli.stderr);
  const submitted = JSON.parse(cli.stdout) as Awaited<ReturnType<typeof batchPredict>>;
  assert.equal(submitted.kind, 'batch-predict');
  assert.equal(submitted.batch?.objects, IMAGES + 3);
  assert.equal(submitted.batch?.modelJobId, modelJobId, 'the served model by default');

  const done = await waitFor('the batch to end', jobFinishedViaApi(api, submitted.jobId), 600_000, 1000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  const lines = await readLines(outPrefix);
  assert.equal(lines.length, IMAGES + 3);
  assert.equal(new Set(lines.map((l) => l.key)).size, lines.length, 'one line per object');
  const byKey = new Map(lines.map((l) => [l.key, l]));
  assert.match((byKey.get(`${inPrefix}not-really.png`) as { error: string }).error, /PNG|JPEG|image/i);
  assert.match((byKey.get(`${inPrefix}wrong-size.json`) as { error: string }).error, /784 numbers/);
  const first = byKey.get(key(inPrefix, 0)) as { digit: number };
  assert.equal((byKey.get(`${inPrefix}first-as-pixels.json`) as { digit: number }).digit, testSet.labels[0]);
  assert.ok('digit' in first);

  let correct = 0;
  for (let i = 0; i < IMAGES; i++) {
    const l = byKey.get(key(inPrefix, i));
    assert.ok(l && 'digit' in l, `line of image ${i}: ${JSON.stringify(l)}`);
    assert.equal(l.probabilities.length, 10);
    correct += Number(l.digit === testSet.labels[i]);
  }
  // These PNGs are the test set itself: through /predict's preprocessing the model must score about
  // what its trainer measured on the raw pixels (a one-epoch model: near 86%, so no fixed bar).
  assert.ok(
    Math.abs(correct / IMAGES - modelAccuracy) < 0.02,
    `${correct}/${IMAGES} correct; the model's test accuracy is ${modelAccuracy}`,
  );

  const summary = JSON.parse(Buffer.from((await bucket.getBytes(`${outPrefix}summary.json`))!).toString('utf8')) as BatchSummary;
  assert.equal(summary.objects, IMAGES + 3);
  assert.equal(summary.errors, 2);
  assert.equal(summary.predicted, IMAGES + 1);
  assert.equal(
    summary.digits.reduce((a, b) => a + b, 0),
    IMAGES + 1,
  );
  assert.deepEqual(done.batch?.digits, summary.digits);

  // The same files through POST /predict: the same digit for each, from the shared preprocessing.
  for (let i = 0; i < 100; i++) {
    const n = i * 97;
    const answer = await api.predictImage(pngs[n], 'image/png');
    assert.equal((byKey.get(key(inPrefix, n)) as { digit: number }).digit, answer.digit, `image ${n}`);
  }
});

test('a trainer killed (-9) mid-batch: another resumes at the first missing chunk, and no line is written twice', { skip }, async () => {
  const inPrefix = 'batch/kill-in/';
  const outPrefix = 'batch/kill-out/';
  const count = 3000;
  await putAll(Array.from({ length: count }, (_, i): [string, Uint8Array] => [key(inPrefix, i), png(i)]));
  // Frozen before writing its fourth chunk, then killed: three parts written, the rest to do.
  const first = fleet.start('batch-killed', { LENET_TEST_STOP_AFTER_LEASE_CHECK: 'batch-part-3' });
  const job = await batchPredict(api, {
    input: `s3://${outputs.BucketName}/${inPrefix}`,
    output: `s3://${outputs.BucketName}/${outPrefix}`,
  });
  const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
  await waitFor('the trainer to freeze at chunk 3', async () => procState(first.child.pid!) === 'T', 300_000, 100);
  first.child.kill('SIGKILL');
  await first.exited;

  const second = fleet.start('batch-resumer');
  const done = await waitFor('the batch to end', jobFinishedViaApi(api, job.jobId), 300_000, 500);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.attempts, 2);
  const resumed = second.logs().find((l) => l.message === 'resuming batch prediction');
  assert.ok(resumed, 'the second trainer resumed');
  assert.equal(resumed.chunksDone, 3);
  const lines = await readLines(outPrefix);
  assert.equal(lines.length, count);
  assert.deepEqual(
    lines.map((l) => l.key),
    Array.from({ length: count }, (_, i) => key(inPrefix, i)),
    'every object once, in key order',
  );
});
