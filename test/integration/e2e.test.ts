/**
 * The main job's path, end to end on the local emulator with a small subset: cdk deploy → upload
 * MNIST → trainer host process → POST /jobs → GET /jobs/{id} → GET /models → POST /predict,
 * all through the emulator's API Gateway and Lambdas.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { launchChromium } from '../helpers/browser';
import { DeleteObjectCommand, GetBucketLifecycleConfigurationCommand, GetBucketVersioningCommand } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../shared/aws';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import type { Dataset } from '../../shared/idx';
import { jobIdAt, JobStore, jobKey, progressKey } from '../../shared/job-store';
import { modelKeys } from '../../shared/bucket-layout';
import { Bucket } from '../../shared/s3-objects';
import { ApiClient, ApiError } from '../../cli/api-client';
import { deployStack, emulatorGap, emulatorInfo, type StackOutputs } from '../../local/emulator';
import { startLocalTrainer } from '../../local/local-trainer';
import { uploadMnist } from '../../cli/upload-mnist';
import { useEmulator, emulatorReady } from '../helpers/aws';
import { defaultTrainerBackend, jobFinishedViaApi, waitFor } from '../helpers/trainer';

useEmulator();
/** Set when the emulator cannot run the stack's Lambdas here: every test below then skips with this reason. */
const skip = emulatorGap('lambda');

let outputs: StackOutputs;
let api: ApiClient;
let bucket: Bucket;
let trainer: ChildProcess;
let testSet: Dataset;

before(async () => {
  if (skip) return;
  await emulatorReady();
  outputs = await deployStack({ stackName: 'LenetE2e', quiet: true });
  api = new ApiClient(outputs.ApiUrl);
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  await uploadMnist(bucket);
  // A stack left by an earlier local run may serve a model already; start from none, as on a fresh emulator.
  await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: modelKeys.latest }));
  trainer = startLocalTrainer({
    bucketName: outputs.BucketName,
    queueUrl: outputs.QueueUrl,
    // The 90-of-100 assertion below is the quality bar here; promotion rules have their own tests.
    env: { PROMOTION_MIN_ACCURACY: '0.8', WAIT_TIME_SECONDS: '2' },
    logFile: '.local/e2e-trainer.log',
  });
  testSet = (await loadDatasetFromDir(mnistDataDir())).test;
});

after(async () => {
  trainer?.kill('SIGTERM');
  await new Promise((resolve) => (trainer?.exitCode !== null ? resolve(null) : trainer.once('exit', resolve)));
});

test('a job submitted through API Gateway trains, checkpoints every epoch, is listed, and serves >= 90% of 100 real test digits', {
  skip,
}, async () => {
  // Scored on the whole test set: only such models are served.
  const submitted = await api.submit({ epochs: 2, trainSubset: 12_000, augmentShift: 0 });
  assert.equal(submitted.status, 'QUEUED');
  const done = await waitFor(`job ${submitted.jobId} to end`, jobFinishedViaApi(api, submitted.jobId), 600_000, 1000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.testImages, 10_000);
  assert.equal(done.fullTestSet, true);
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    [1, 2],
  );
  for (const m of done.metrics) {
    assert.ok(m.loss > 0 && m.accuracy > 0.5 && m.valAccuracy! > 0.5 && m.imagesPerSecond > 0, JSON.stringify(m));
    assert.equal(m.backend, defaultTrainerBackend());
  }
  for (const epoch of [1, 2]) {
    const keys = await bucket.listKeys(modelKeys.epoch(done.jobId, epoch));
    assert.deepEqual(keys.map((k) => k.split('/').pop()).sort(), ['checkpoint.json', 'model.json', 'weights.bin'], `epoch ${epoch}`);
  }

  const { models, latest } = await api.models();
  assert.equal(latest?.jobId, done.jobId, `not served: ${done.promotion} (test accuracy ${done.testAccuracy})`);
  assert.ok(models.some((m) => m.jobId === done.jobId && m.latest && m.testAccuracy === done.testAccuracy));

  const instances = Array.from({ length: 50 }, (_, i) => i);
  let correct = 0;
  for (const offset of [0, 50]) {
    const body = {
      instances: instances.map((i) => ({ pixels: Array.from(testSet.images.subarray((offset + i) * 784, (offset + i + 1) * 784)) })),
    };
    const { predictions } = await api.predict<{ predictions: { digit: number }[] }>(body);
    predictions.forEach((p, i) => (correct += Number(p.digit === testSet.labels[offset + i])));
  }
  assert.ok(correct >= 90, `${correct}/100 test digits correct through API Gateway`);
});

test('the web page: CSP and nosniff, no CORS; the served model and a running job from GET /summary, updated live; drawn digits predicted', {
  skip,
}, async () => {
  const browser = await launchChromium();
  // A job in the middle of an epoch, as a trainer leaves it in S3 (status document + progress): the newest job.
  const runningId = jobIdAt(new Date(), 'e2epage');
  try {
    const jobs = new JobStore(bucket);
    const now = new Date().toISOString();
    await jobs.record({ jobId: runningId, status: 'RUNNING', createdAt: now, updatedAt: now, epoch: 3, totalEpochs: 20, metrics: [] });
    await jobs.putProgress(runningId, { epoch: 4, batch: 812, batches: 1688 });
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const response = await page.goto(api.baseUrl);
    const headers = response!.headers();
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.match(headers['content-security-policy'], /default-src 'none'.*script-src 'sha256-/);
    assert.equal(headers['access-control-allow-origin'], undefined);
    const { latest } = await api.models();
    await page.locator(`#model-card span[title="${latest!.jobId}"]`).waitFor();
    assert.match(await page.locator('#model-card').innerText(), new RegExp(`Test accuracy\\s+${(latest!.testAccuracy * 100).toFixed(2)}%`));
    await page.locator(`#job-card span[title="${runningId}"]`).waitFor();
    assert.equal(await page.locator('#job-where').innerText(), 'Epoch 4 of 20, batch 812 of 1688');
    // The trainer moves on: the page shows it at its next poll (every 5 s), without a reload.
    await jobs.putProgress(runningId, { epoch: 4, batch: 1300, batches: 1688 });
    await page.waitForFunction(() => document.getElementById('job-where')!.textContent === 'Epoch 4 of 20, batch 1300 of 1688', null, {
      timeout: 15_000,
    });
    assert.equal(
      await page.locator('#job-card [role=progressbar]').getAttribute('aria-valuenow'),
      String(Math.round(((3 + 1300 / 1688) / 20) * 100)),
    );

    const pad = (await page.locator('#pad').boundingBox())!;
    const stroke = async (points: [number, number][]) => {
      await page.mouse.move(pad.x + points[0][0], pad.y + points[0][1]);
      await page.mouse.down();
      for (const [x, y] of points.slice(1)) await page.mouse.move(pad.x + x, pad.y + y, { steps: 4 });
      await page.mouse.up();
    };
    const shown = async () => {
      await page.waitForFunction(() => document.getElementById('digit')!.textContent !== '?');
      return page.locator('#digit').innerText();
    };

    await stroke([
      [140, 40],
      [140, 240],
    ]);
    assert.equal(await shown(), '1');
    assert.equal(await page.locator('#bars li').count(), 10);

    await page.click('#clear');
    const ring = Array.from({ length: 25 }, (_, i): [number, number] => [
      140 + 60 * Math.sin((i / 24) * 2 * Math.PI),
      140 - 95 * Math.cos((i / 24) * 2 * Math.PI),
    ]);
    await stroke(ring);
    assert.equal(await shown(), '0');
    mkdirSync('artifacts', { recursive: true });
    await page.screenshot({ path: 'artifacts/draw-a-digit.png', fullPage: true });
  } finally {
    for (const key of [jobKey(runningId), progressKey(runningId)])
      await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key }));
    await browser.close();
  }
});

test('the lenet CLI lists jobs and models, shows status, predicts PNG and JSON files in one request, prints --json, and fails in one line with its exit code', {
  skip,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lenet-cli-'));
  const png = new PNG({ width: 112, height: 112 });
  for (let y = 0; y < 112; y++) {
    for (let x = 0; x < 112; x++) {
      const v = Math.round(255 * (1 - testSet.images[Math.floor(y / 4) * 28 + Math.floor(x / 4)]));
      png.data.set([v, v, v, 255], (y * 112 + x) * 4);
    }
  }
  writeFileSync(join(dir, 'seven.png'), PNG.sync.write(png));
  writeFileSync(join(dir, 'two.json'), JSON.stringify({ pixels: Array.from(testSet.images.subarray(784, 1568)) }));
  const lenet = (...args: string[]) =>
    spawnSync('npx', ['lenet', ...args], { env: { ...process.env, LENET_API_URL: api.baseUrl }, encoding: 'utf8' });

  const jobs = lenet('jobs');
  assert.equal(jobs.status, 0, jobs.stderr);
  assert.match(jobs.stdout, /SUCCEEDED/);
  const models = lenet('models');
  assert.match(models.stdout, new RegExp(`${defaultTrainerBackend()}.*\\*`));
  const { jobs: list } = await api.jobs();
  const status = lenet('status', list[0].jobId);
  assert.equal(JSON.parse(status.stdout).jobId, list[0].jobId);

  const predicted = lenet('predict', join(dir, 'seven.png'), join(dir, 'two.json'));
  assert.equal(predicted.status, 0, predicted.stderr);
  assert.match(predicted.stdout, /seven\.png.*│ 7 /);
  assert.match(predicted.stdout, /two\.json.*│ 2 /);

  // --json: the same data, parseable; 20 files go in 2 requests of at most 16 (POST /predict's image limit).
  const asJson = <T>(...args: string[]) => {
    const res = lenet(...args, '--json');
    assert.equal(res.status, 0, res.stderr);
    return JSON.parse(res.stdout) as T;
  };
  assert.ok(asJson<{ jobs: { status: string }[] }>('jobs').jobs.some((j) => j.status === 'SUCCEEDED'));
  assert.ok(asJson<{ models: { latest?: boolean }[] }>('models').models.some((m) => m.latest));
  const many = Array.from({ length: 20 }, (_, i) => join(dir, i % 2 ? 'seven.png' : 'two.json'));
  const digits = asJson<{ file: string; digit: number }[]>('predict', ...many);
  assert.deepEqual(
    digits.map((d) => [d.file, d.digit]),
    many.map((f, i) => [f, i % 2 ? 7 : 2]),
  );

  // Exit codes: 1 the request failed, 2 bad usage, 3 not found (README, "CLI").
  for (const [args, pattern, code] of [
    [['status', 'no-such-job'], /^lenet: No job "no-such-job"/, 3],
    [['predict', join(dir, 'missing.png')], /^lenet: cannot read .*missing\.png: ENOENT/, 2],
    [['submit', '--epochs', 'many'], /"many" is not an integer/, 2],
    [['submit', '--epochs', '0'], /^lenet: Invalid request: epochs: Too small/, 1],
    [['submit', '--threads', 'many'], /"many" is neither "auto" nor a whole number/, 2],
    [['submit', '--threads', '0'], /^lenet: Invalid request: threads: /, 1],
    [['submit', '--workers', '2'], /unknown option '--workers'/, 2],
    [['submit', '--augment-shift', '9'], /^lenet: Invalid request: augmentShift: Too big/, 1],
  ] as const) {
    const res = lenet(...args);
    assert.equal(res.status, code, `${args.join(' ')}: ${res.stderr}`);
    // npx may print its own "npm warn" lines first; the CLI's error is one line.
    const lines = res.stderr.split('\n').filter((l) => l && !l.startsWith('npm warn'));
    assert.equal(lines.length, 1, res.stderr);
    assert.match(lines[0], pattern);
  }
});

test('bad requests through API Gateway get a 4xx with a JSON error naming the problem', { skip }, async () => {
  const expectError = async (promise: Promise<unknown>, status: number, pattern: RegExp) => {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.status, status, err.message);
      assert.match(err.message, pattern);
      return true;
    });
  };
  await expectError(api.submit({ epochs: -1 }), 400, /epochs/);
  await expectError(api.submit({ epochs: 1, datasetPrefix: '../../etc/' }), 400, /datasetPrefix/);
  await expectError(
    api.submit({ epochs: 1, datasetPrefix: 'datasets/nothing/' }),
    400,
    /No dataset at datasets\/nothing\/.*train-images-idx3-ubyte/,
  );
  await expectError(api.submit({ epochs: 1, colour: 'red' } as object), 400, /Unrecognized key: "colour"/);
  await expectError(api.submit({ epochs: 1, labelSmoothing: 0.9 }), 400, /labelSmoothing/);
  await expectError(api.submit({ epochs: 1, normalizeInputs: 'yes' } as object), 400, /normalizeInputs/);
  await expectError(api.call('GET', 'jobs/no-such-job'), 404, /No job "no-such-job"/);
  await expectError(api.predict({ pixels: [1, 2, 3] }), 400, /784 numbers/);
  await expectError(api.predict({ image: 'bm90IGFuIGltYWdl' }), 400, /neither a PNG nor a JPEG/);

  // Malformed JSON has to be sent raw: the client always sends valid JSON.
  for (const [path, body] of [
    ['jobs', '{"epochs": '],
    ['predict', '{"pixels": [1,'],
  ] as const) {
    const res = await fetch(api.baseUrl + path, { method: 'POST', headers: await api.headers('POST', api.baseUrl + path, body), body });
    assert.equal(res.status, 400, path);
    assert.match(((await res.json()) as { error: string }).error, /not valid JSON/);
  }

  // Jobs that cannot run, or would cost more than the cap, are refused before the queue.
  await expectError(api.submit({ epochs: 100, batchSize: 1 }), 400, /Job refused: the job would take 5400000 steps .*limit is 187500/);
  await expectError(api.submit({ trainSubset: 10, batchSize: 32 }), 400, /batchSize 32 is larger than the 9 training images/);
  await expectError(api.submit({ batchSize: 2, threads: 3 }), 400, /threads 3 is more than the 2 images of a batch/);
  // Mutating routes take JSON only: no Content-Type (what a cross-site form can send) is a 415.
  const bare = await fetch(api.baseUrl + 'jobs', {
    method: 'POST',
    headers: await api.headers('POST', api.baseUrl + 'jobs', '{}').then(({ 'content-type': _, ...h }) => h),
    body: '{}',
  });
  assert.equal(bare.status, 415);
  assert.equal(bare.headers.get('access-control-allow-origin'), null);
  // force is its own (ModelAdmin) route; in the body of POST /models/promote it is an unknown field.
  await expectError(api.call('POST', 'models/promote', { jobId: 'x', force: true }), 400, /force.*POST \/models\/promote\/force/);
});

test("the deployed bucket is versioned; the template's lifecycle rules do not arrive on either emulator (their CloudFormation drops them)", {
  skip,
}, async () => {
  const versioning = await bucket.s3.send(new GetBucketVersioningCommand({ Bucket: bucket.name }));
  assert.equal(versioning.Status, 'Enabled');
  const rules = await bucket.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket.name })).then(
    (out) => out.Rules ?? [],
    (err: { name?: string }) => (err.name === 'NoSuchLifecycleConfiguration' ? [] : Promise.reject(err)),
  );
  // Measured: MiniStack 1.5.33 and LocalStack 2026.3.0 both answer NoSuchLifecycleConfiguration. The rules
  // themselves are checked on the synthesized template (test/unit/infra.test.ts); AWS applies them.
  const expected = { ministack: false, localstack: false }[emulatorInfo().name];
  assert.equal(rules.length > 0, expected, `lifecycle rules on ${emulatorInfo().label}: ${JSON.stringify(rules.map((r) => r.ID))}`);
});
