import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import type { Dataset } from '../../shared/idx';
import type { Bucket } from '../../shared/s3-objects';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { handler } from '../../functions/predict/handler';
import { freshBucket, useEmulator, emulatorReady } from '../helpers/aws';
import { trainAndPromote } from '../helpers/models';

useEmulator();

let bucket: Bucket;
let testSet: Dataset;
const pixels = (i: number) => Array.from(testSet.images.subarray(i * 784, (i + 1) * 784));

function event(body: string | undefined, headers: Record<string, string> = { 'Content-Type': 'application/json' }): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    path: '/predict',
    resource: '/predict',
    headers,
    body,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEvent;
}

async function call(body: unknown, headers?: Record<string, string>) {
  const res = await handler(event(typeof body === 'string' ? body : JSON.stringify(body), headers));
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

before(async () => {
  await emulatorReady();
  // The test trains its models, so it needs the trainer's gradient kernels on top of the predict backend.
  await initTrainingBackend('wasm');
  bucket = await freshBucket('predict');
  process.env.BUCKET_NAME = bucket.name;
  process.env.MODEL_REFRESH_SECONDS = '0';
  testSet = (await loadDatasetFromDir(mnistDataDir())).test;
});

test('with no model promoted yet, /predict answers 503 and says what to do', async () => {
  const res = await call({ pixels: pixels(0) });
  assert.equal(res.status, 503);
  assert.match(res.body.error, /No model has been trained/);
});

test('pixels, 28x28 rows, 0..255 values, batches and images all predict, with the model version', async () => {
  await trainAndPromote(bucket, 'job-a', { images: 4000 });
  const single = await call({ pixels: pixels(0) });
  assert.equal(single.status, 200, JSON.stringify(single.body));
  assert.equal(single.body.probabilities.length, 10);
  assert.ok(Math.abs(single.body.probabilities.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-3);
  assert.deepEqual(single.body.model, { jobId: 'job-a', epoch: 1, testAccuracy: 0.95 });

  const rows = Array.from({ length: 28 }, (_, y) =>
    pixels(0)
      .slice(y * 28, y * 28 + 28)
      .map((v) => Math.round(v * 255)),
  );
  assert.equal((await call({ pixels: rows })).body.digit, single.body.digit);

  const batch = await call({ instances: Array.from({ length: 50 }, (_, i) => ({ pixels: pixels(i) })) });
  assert.equal(batch.status, 200);
  const correct = batch.body.predictions.filter((p: { digit: number }, i: number) => p.digit === testSet.labels[i]).length;
  assert.ok(correct >= 40, `${correct}/50 correct`);

  // The same digit drawn big, dark on light, as a PNG gives the same answer as its pixels.
  const img = new PNG({ width: 280, height: 280 });
  for (let y = 0; y < 280; y++) {
    for (let x = 0; x < 280; x++) {
      const v = Math.round(255 * (1 - testSet.images[Math.floor(y / 10) * 28 + Math.floor(x / 10)]));
      img.data.set([v, v, v, 255], (y * 280 + x) * 4);
    }
  }
  const fromImage = await call({ image: PNG.sync.write(img).toString('base64') });
  assert.equal(fromImage.status, 200, JSON.stringify(fromImage.body));
  assert.equal(fromImage.body.digit, testSet.labels[0]);
});

test('every bad request is a 4xx with {error, details}, never a 500', async () => {
  const cases: [string | unknown, number, RegExp, Record<string, string>?][] = [
    ['{"pixels": [1, 2', 400, /not valid JSON/],
    ['', 400, /send exactly one of "pixels", "image" or "instances"/],
    [{ pixels: pixels(0), image: 'abc' }, 400, /send exactly one of/],
    [{ pixels: [1, 2, 3] }, 400, /pixels must be 784 numbers or 28 rows of 28 numbers; got 3 numbers/],
    [{ pixels: Array(28).fill(Array(27).fill(0)) }, 400, /got 28 items \(28 of them arrays\)/],
    [{ pixels: Array(784).fill('a') }, 400, /pixels\[0\] is "a"; every pixel must be a finite number/],
    [
      {
        pixels: Array(28)
          .fill(Array(28).fill(0.5))
          .map((row, y) => (y === 3 ? [...row.slice(0, 27), true] : row)),
      },
      400,
      /pixels\[3\]\[27\] is true/,
    ],
    [{ pixels: Array(784).fill(300) }, 400, /0\.\.1 or 0\.\.255; found 300\.\.300/],
    [{ pixels: Array(784).fill(-1) }, 400, /found -1\.\.-1/],
    [{ pixels: Array(784).fill(null) }, 400, /pixels\[0\] is null/],
    [{ pixels: pixels(0), extra: 1 }, 400, /Unrecognized key: "extra"/],
    [{ image: '!!!not base64!!!' }, 400, /base64/],
    [{ image: Buffer.from('plain text').toString('base64') }, 400, /neither a PNG nor a JPEG/],
    [
      {
        image: PNG.sync
          .write(Object.assign(new PNG({ width: 50, height: 50 }), { data: Buffer.alloc(50 * 50 * 4, 255) }))
          .toString('base64'),
      },
      400,
      /no ink/,
    ],
    [{ instances: [] }, 400, /instances: Too small/],
    [{ instances: Array(65).fill({ pixels: pixels(0) }) }, 400, /at most 64/],
    [{ pixels: pixels(0) }, 415, /Unsupported content type "text\/plain"/, { 'content-type': 'text/plain' }],
    ['x'.repeat(6 * 1024 * 1024 + 1), 413, /limit is 6291456 bytes/],
  ];
  for (const [body, status, pattern, headers] of cases) {
    const res = await call(body, headers);
    assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 60)} → ${JSON.stringify(res.body).slice(0, 200)}`);
    assert.match(res.body.error, pattern);
    assert.ok('details' in res.body);
  }
});

test('1,000 warm calls leave the tensor count flat, and a newly promoted model is swapped in without a restart', async () => {
  await call({ pixels: pixels(0) });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 1000; i++) await call({ instances: [{ pixels: pixels(i % 100) }, { pixels: pixels((i + 1) % 100) }] });
  assert.equal(tf.memory().numTensors, before);

  await trainAndPromote(bucket, 'job-b', { images: 500, force: true });
  const res = await call({ pixels: pixels(0) });
  assert.equal(res.body.model.jobId, 'job-b');
  assert.equal(tf.memory().numTensors, before, 'the old model was disposed');
});
