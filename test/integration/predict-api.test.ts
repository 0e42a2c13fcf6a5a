/**
 * POST /predict through the emulator's API Gateway, as people send images: raw PNG and JPEG
 * bodies, multipart forms (with curl and with fetch), and the hostile inputs of issue 10.
 * The stack is deployed with `cdk deploy`, so the REST API has the binary media types of infra/.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeS3Client } from '../../shared/aws';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import type { Dataset } from '../../shared/idx';
import { Bucket } from '../../shared/s3-objects';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { deployStack } from '../../local/emulator';
import { blackPng, bombPng, digitGrayPng, digitJpeg, digitPng, jpegDeclaring } from '../helpers/images';
import { emulatorReady, useEmulator } from '../helpers/aws';
import { trainAndPromote } from '../helpers/models';

useEmulator();

let url: string;
let testSet: Dataset;
const digit = (i: number) => testSet.images.subarray(i * 784, (i + 1) * 784);
const dir = mkdtempSync(join(tmpdir(), 'lenet-predict-api-'));

before(async () => {
  await emulatorReady();
  const outputs = await deployStack({ stackName: 'LenetPredictApi', quiet: true });
  url = `${outputs.ApiUrl}predict`;
  const data = await loadDatasetFromDir(mnistDataDir());
  testSet = data.test;
  // A model good enough to read real digits, trained here and promoted in the deployed stack's bucket.
  await initTrainingBackend('wasm');
  const bucket = new Bucket(makeS3Client(), outputs.BucketName);
  await trainAndPromote(bucket, 'predict-api', { images: 12_000, params: { epochs: 2, augmentShift: 0 }, force: true });
});

interface Answer {
  status: number;
  body: { digit?: number; predictions?: { digit: number }[]; error?: string; details?: unknown };
  bytes: number;
  ms: number;
}

async function post(body: Buffer | string | FormData, headers: Record<string, string> = {}): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: Buffer.isBuffer(body) ? new Uint8Array(body) : body,
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  let parsed: Answer['body'];
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body: parsed, bytes: text.length, ms };
}

function curl(...args: string[]): { status: number; body: Answer['body'] } {
  const r = spawnSync('curl', ['-sS', '-w', '\n%{http_code}', ...args, url], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, body: JSON.parse(lines.join('\n')) };
}

test('raw image/png and image/jpeg bodies of real MNIST digits are read right through API Gateway', async () => {
  let right = 0;
  const tried = 20;
  for (let i = 0; i < tried / 2; i++) {
    const png = await post(digitPng(digit(i), 280), { 'Content-Type': 'image/png' });
    assert.equal(png.status, 200, JSON.stringify(png.body));
    const jpeg = await post(digitJpeg(digit(i + 10), 200), { 'Content-Type': 'image/jpeg' });
    assert.equal(jpeg.status, 200, JSON.stringify(jpeg.body));
    right += Number(png.body.digit === testSet.labels[i]) + Number(jpeg.body.digit === testSet.labels[i + 10]);
  }
  assert.ok(right >= 17, `${right}/${tried} right`);
});

test('curl --data-binary and curl -F, as in the README, and a fetch FormData upload', async () => {
  writeFileSync(join(dir, 'digit.png'), digitPng(digit(0), 280));
  writeFileSync(join(dir, 'photo.jpg'), digitJpeg(digit(1), 300));
  const raw = curl('--data-binary', `@${join(dir, 'digit.png')}`, '-H', 'Content-Type: image/png');
  assert.equal(raw.status, 200, JSON.stringify(raw.body));
  assert.equal(raw.body.digit, testSet.labels[0]);
  const form = curl('-F', `image=@${join(dir, 'photo.jpg')}`);
  assert.equal(form.status, 200, JSON.stringify(form.body));
  assert.equal(form.body.digit, testSet.labels[1]);
  // A file part under another name, from a browser-like FormData with other fields around it.
  const data = new FormData();
  data.append('comment', 'my digit');
  data.append('upload', new Blob([new Uint8Array(digitPng(digit(2), 200))], { type: 'image/png' }), 'two.png');
  const fromFetch = await post(data);
  assert.equal(fromFetch.status, 200, JSON.stringify(fromFetch.body));
  assert.equal(fromFetch.body.digit, testSet.labels[2]);
  // JSON keeps working: base64 inside JSON, and pixels.
  const json = await post(JSON.stringify({ image: digitPng(digit(3), 100).toString('base64') }), { 'Content-Type': 'application/json' });
  assert.equal(json.body.digit, testSet.labels[3]);
});

test('hostile images and bodies get a quick, short 4xx naming the limit', async () => {
  const big = digitGrayPng(digit(0), 4000).toString('base64');
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const png = digitPng(digit(5), 200);
  const cases: [string, Buffer | string | FormData, Record<string, string>, number, RegExp][] = [
    [
      '20000x20000 PNG',
      await blackPng(20000, 20000),
      { 'Content-Type': 'image/png' },
      413,
      /PNG is 20000x20000 pixels; the limit is 4096 pixels per side and 4 megapixels/,
    ],
    ['20000x20000 JPEG (multipart)', formOf(jpegDeclaring(digitJpeg(digit(0), 64), 20000, 20000)), {}, 413, /JPEG is 20000x20000 pixels/],
    [
      '1 MB interlaced PNG bomb',
      await bombPng(1024 ** 3, true),
      { 'Content-Type': 'image/png' },
      400,
      /inflates to more than the 837 bytes its header implies; refused as a decompression bomb/,
    ],
    ['1 MB PNG bomb', await bombPng(1024 ** 3, false), { 'Content-Type': 'image/png' }, 400, /inflates to more than the 812 bytes/],
    ['truncated PNG', png.subarray(0, png.length - 50), { 'Content-Type': 'image/png' }, 400, /PNG is truncated/],
    [
      'truncated JPEG',
      digitJpeg(digit(5), 200).subarray(0, 300),
      { 'Content-Type': 'image/jpeg' },
      400,
      /JPEG (is truncated|image could not be decoded)/,
    ],
    ['GIF sent as image/png', Buffer.from('GIF89a\x01\x00\x01\x00'), { 'Content-Type': 'image/png' }, 400, /neither a PNG nor a JPEG/],
    [
      'wrong content type',
      png,
      { 'Content-Type': 'text/plain' },
      415,
      /Unsupported content type "text\/plain"; POST \/predict accepts application\/json, image\/png, image\/jpeg, multipart\/form-data/,
    ],
    ['image/gif', png, { 'Content-Type': 'image/gif' }, 415, /accepts application\/json, image\/png/],
    [
      '64 x 16 MP batch',
      JSON.stringify({ instances: Array(64).fill({ image: big }) }),
      { 'Content-Type': 'application/json' },
      413,
      /64 images; at most 16 images per request/,
    ],
    [
      '16 x 16 MP batch',
      JSON.stringify({ instances: Array(16).fill({ image: big }) }),
      { 'Content-Type': 'application/json' },
      413,
      /Instance 0: The PNG is 4000x4000 pixels/,
    ],
    [
      '3 x 4 MP batch',
      JSON.stringify({ instances: Array(3).fill({ image: digitPng(digit(0), 2000).toString('base64') }) }),
      { 'Content-Type': 'application/json' },
      413,
      /12\.0 megapixels in all; the limit is 8 megapixels per request/,
    ],
    [
      'deeply nested pixel',
      `{"pixels":[${deep}${',0'.repeat(783)}]}`,
      { 'Content-Type': 'application/json' },
      400,
      /pixels\[0\] is an array of 1 item/,
    ],
    [
      '5 MB string pixel',
      JSON.stringify({ pixels: ['x'.repeat(5 * 1024 * 1024), ...Array(783).fill(0)] }),
      { 'Content-Type': 'application/json' },
      400,
      /pixels\[0\] is "x{40}"… \(a string of 5242880 characters\)/,
    ],
    [
      '5 MB unknown key',
      `{"${'k'.repeat(5 * 1024 * 1024)}":1}`,
      { 'Content-Type': 'application/json' },
      400,
      /Unrecognized key: "k+… \(\d+ characters\)/,
    ],
  ];
  const figures: string[] = [];
  for (const [name, body, headers, status, pattern] of cases) {
    const res = await post(body, headers);
    figures.push(`${name}: ${res.status} in ${Math.round(res.ms)} ms, ${res.bytes} bytes`);
    assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body).slice(0, 300)}`);
    assert.match(res.body.error ?? '', pattern, name);
    assert.ok(res.bytes < 2000, `${name}: answer of ${res.bytes} bytes`);
    // Refused from headers and counts, before decoding: well under the cost of decoding one big image.
    assert.ok(res.ms < 5000, `${name}: ${Math.round(res.ms)} ms`);
  }
  console.log(figures.join('\n'));
});

test('the largest accepted image (4 MP) and batch (2 x 4 MP) answer 200 through API Gateway', async () => {
  // The same digit as a small image: the big one must be read the same way.
  const small = await post(digitPng(digit(0), 280), { 'Content-Type': 'image/png' });
  const one = await post(digitPng(digit(0), 2000), { 'Content-Type': 'image/png' });
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal(one.body.digit, small.body.digit);
  const two = await post(
    JSON.stringify({ instances: [digitPng(digit(0), 2000), digitJpeg(digit(0), 2000)].map((b) => ({ image: b.toString('base64') })) }),
    { 'Content-Type': 'application/json' },
  );
  assert.equal(two.status, 200, JSON.stringify(two.body));
  assert.deepEqual(
    two.body.predictions?.map((p) => p.digit),
    [small.body.digit, small.body.digit],
  );
  console.log(`4 MP PNG: ${Math.round(one.ms)} ms; 4 MP PNG + 4 MP JPEG batch: ${Math.round(two.ms)} ms`);
});

function formOf(bytes: Buffer): FormData {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)]), 'image.jpg');
  return form;
}
