/**
 * GET /models/{id}/download through the emulator's API Gateway and the deployed api function, and
 * `lenet export` (cli/export.ts) on top of it: 404s that say why, presigned URLs that fetch the
 * stored files, and both formats written to disk (the ONNX file run with onnxruntime-node).
 * Unsigned and unauthorised calls to this route are refused in test/integration/auth.test.ts,
 * which tries every IAM route of shared/routes.ts.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { makeS3Client } from '../../shared/aws';
import { jobKeys, modelKeys } from '../../shared/bucket-layout';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { Bucket } from '../../shared/s3-objects';
import type { JobStatus } from '../../shared/documents';
import { predictDigits } from '../../shared/digits/predict';
import { DOWNLOAD_URL_SECONDS } from '../../functions/api/jobs-api';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { ApiClient, ApiError } from '../../cli/api-client';
import { downloadUrls, exportModel, registerExport } from '../../cli/export';
import { deployStack } from '../../local/emulator';
import { emulatorReady, useEmulator } from '../helpers/aws';

useEmulator();

let api: ApiClient;
let bucket: Bucket;
const FINISHED = 'download-done';
const RUNNING = 'download-running';
const dir = mkdtempSync(join(tmpdir(), 'lenet-export-'));

before(async () => {
  await emulatorReady();
  const outputs = await deployStack({ stackName: 'LenetDownload', quiet: true });
  api = new ApiClient(outputs.ApiUrl, { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  await initTrainingBackend('wasm');
  const now = new Date().toISOString();
  const running: JobStatus = {
    jobId: RUNNING,
    status: 'RUNNING',
    params: {} as JobStatus['params'],
    createdAt: now,
    updatedAt: now,
    metrics: [],
    epoch: 1,
  };
  await bucket.putJson(jobKeys.status(RUNNING), running);
  // Untrained weights are enough: the test is that the bytes and the digits survive the trip.
  const model = buildLeNet5({ seed: 3 });
  await saveCheckpoint(bucket, modelKeys.final(FINISHED), model, {
    jobId: FINISHED,
    epoch: 1,
    backend: 'wasm',
    createdAt: now,
    includeOptimizer: false,
  });
  disposeModel(model);
});

const refusal = async (jobId: string) => {
  try {
    await downloadUrls(api, jobId);
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, message: err.message };
    throw err;
  }
  assert.fail(`${jobId}: no error`);
};

test('a job with no final model is a 404 that says why: unknown, or not finished (with its status); a bad id is a 400', async () => {
  const unknown = await refusal('no-such-job');
  assert.equal(unknown.status, 404);
  assert.match(unknown.message, /No job "no-such-job"/);
  const running = await refusal(RUNNING);
  assert.equal(running.status, 404);
  assert.match(running.message, /has not finished \(status RUNNING\)/);
  // The route takes one path segment; a dot is not a job id character.
  assert.equal((await refusal('bad.id')).status, 400);
});

test('a finished job: presigned URLs (short expiry) that fetch exactly the stored model files', async () => {
  const before = Date.now();
  const d = await downloadUrls(api, FINISHED);
  assert.equal(d.jobId, FINISHED);
  assert.equal(d.format, 'tfjs');
  assert.deepEqual(Object.keys(d.files).sort(), ['model.json', 'weights.bin']);
  const expires = Date.parse(d.expiresAt) - before;
  assert.ok(expires > (DOWNLOAD_URL_SECONDS - 60) * 1000 && expires <= (DOWNLOAD_URL_SECONDS + 60) * 1000, `expires in ${expires} ms`);
  for (const [file, url] of Object.entries(d.files)) {
    const u = new URL(url);
    assert.equal(u.searchParams.get('X-Amz-Expires'), String(DOWNLOAD_URL_SECONDS));
    assert.ok(u.searchParams.get('X-Amz-Signature'), 'signed');
    assert.ok(u.pathname.endsWith(`/${modelKeys.final(FINISHED)}${file}`), u.pathname);
    const res = await fetch(url);
    assert.equal(res.status, 200, file);
    const stored = await bucket.getBytes(modelKeys.final(FINISHED) + file);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), stored, file);
  }
});

test('lenet export: tfjs writes the two files; onnx writes lenet5.onnx, which gives the same digits as the stored model', async () => {
  const tfjs = await exportModel(api, FINISHED, { format: 'tfjs', out: join(dir, 'tfjs') });
  assert.deepEqual(tfjs, [join(dir, 'tfjs', 'model.json'), join(dir, 'tfjs', 'weights.bin')]);
  assert.deepEqual(new Uint8Array(readFileSync(tfjs[1])), await bucket.getBytes(modelKeys.final(FINISHED) + 'weights.bin'));

  // Through the command as the CLI registers it.
  const program = new Command('lenet').exitOverride();
  registerExport(program, async () => api);
  await program.parseAsync(['export', FINISHED, '--format', 'onnx', '--out', join(dir, 'onnx')], { from: 'user' });
  const session = await ort.InferenceSession.create(join(dir, 'onnx', 'lenet5.onnx'));
  const images = (await loadDatasetFromDir(mnistDataDir())).test.images.slice(0, 100 * 784);
  const out = await session.run({ pixels: new ort.Tensor('float32', images, [100, 1, 28, 28]) });
  const probs = out.probabilities.data as Float32Array;
  const { loadModel } = await import('../../shared/model-store');
  const model = await loadModel(bucket, modelKeys.final(FINISHED));
  const ours = predictDigits(
    model,
    Array.from({ length: 100 }, (_, i) => images.subarray(i * 784, (i + 1) * 784)),
  );
  ours.forEach((p, i) => {
    const theirs = probs.subarray(i * 10, (i + 1) * 10);
    assert.equal(theirs.indexOf(Math.max(...theirs)), p.digit, `image ${i}`);
    for (let k = 0; k < 10; k++) assert.ok(Math.abs(p.probabilities[k] - theirs[k]) < 1e-5, `image ${i}, class ${k}`);
  });
  model.dispose();
  await assert.rejects(
    exportModel(api, RUNNING, { format: 'onnx', out: join(dir, 'none') }),
    (err: unknown) => err instanceof ApiError && err.status === 404 && /has not finished/.test(err.message),
  );
});
