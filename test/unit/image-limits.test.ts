/** The cost limits of POST /predict's input path: each hostile image is refused before it is decoded. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { errorResponse, HttpError, MAX_DETAILS_CHARS, MAX_ERROR_CHARS } from '../../shared/http';
import { imageToMnist } from '../../shared/digits/image';
import { pngInflatedSize, readImageHeader } from '../../shared/digits/image-header';
import { readPredictInput } from '../../functions/predict/body';
import { toImages } from '../../shared/digits/input';
import { MAX_BATCH_IMAGES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MAX_JPEG_SCANS, MAX_REQUEST_IMAGE_PIXELS } from '../../shared/digits/limits';
import {
  blackPng,
  bombPng,
  digitJpeg,
  digitPng,
  interlacedPng,
  jpegDeclaring,
  jpegWithScans,
  rawPng,
  renderDigit,
} from '../helpers/images';

const { test: testSet } = await loadDatasetFromDir(mnistDataDir());
const digit = (i: number) => testSet.images.subarray(i * 784, (i + 1) * 784);

const refused = (status: number, pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof HttpError, String(err));
  assert.equal(err.statusCode, status, err.message);
  assert.match(err.message, pattern);
  return true;
};

/** Runs fn and returns how long it took, in ms. */
function timed(fn: () => void): number {
  const t0 = performance.now();
  try {
    fn();
  } catch {
    /* the caller asserts on the error separately */
  }
  return performance.now() - t0;
}

test('PNG and JPEG headers give the declared size without decoding', () => {
  assert.deepEqual(readImageHeader(digitPng(digit(0), 100)), { format: 'PNG', width: 100, height: 100, interlaced: false });
  assert.deepEqual(readImageHeader(digitJpeg(digit(0), 120)), { format: 'JPEG', width: 120, height: 120 });
  assert.equal(readImageHeader(digitPng(digit(0), 64, { interlace: true })).interlaced, true);
});

test('the largest accepted image (4 megapixels) decodes and preprocesses; one pixel more per side is refused', async () => {
  const side = Math.floor(Math.sqrt(MAX_IMAGE_PIXELS));
  const out = imageToMnist(digitPng(digit(3), side));
  assert.equal(out.length, 784);
  assert.throws(() => readImageHeader(rawPng({ width: side + 1, height: side + 1, idat: Buffer.alloc(0) })), refused(413, /4 megapixels/));
  assert.throws(
    () => readImageHeader(rawPng({ width: MAX_IMAGE_SIDE + 1, height: 10, idat: Buffer.alloc(0) })),
    refused(413, /4096 pixels per side/),
  );
  assert.throws(
    () => readImageHeader(jpegDeclaring(digitJpeg(digit(3), 64), MAX_IMAGE_SIDE + 1, 10)),
    refused(413, /JPEG is 4097x10 pixels/),
  );
});

test('a 20000x20000 PNG is refused from its header in milliseconds', async () => {
  const png = await blackPng(20000, 20000);
  let ms = timed(() => imageToMnist(png));
  assert.throws(() => imageToMnist(png), refused(413, /The PNG is 20000x20000 pixels; the limit is 4096 pixels per side and 4 megapixels/));
  assert.ok(ms < 200, `${ms} ms`);
  const jpeg = jpegDeclaring(digitJpeg(digit(0), 64), 20000, 20000);
  ms = timed(() => imageToMnist(jpeg));
  assert.throws(() => imageToMnist(jpeg), refused(413, /The JPEG is 20000x20000 pixels/));
  assert.ok(ms < 200, `${ms} ms`);
});

test('interlaced PNGs decode within the same limits, and an interlaced or plain decompression bomb is refused', async () => {
  const plain = imageToMnist(digitPng(digit(5), 140));
  const interlaced = imageToMnist(digitPng(digit(5), 140, { interlace: true }));
  assert.deepEqual(Array.from(interlaced), Array.from(plain));
  for (const interlace of [true, false]) {
    const bomb = await bombPng(1024 ** 3, interlace);
    assert.ok(bomb.length > 900_000 && bomb.length < 1_200_000, `${bomb.length} bytes`);
    const ms = timed(() => imageToMnist(bomb));
    assert.throws(
      () => imageToMnist(bomb),
      refused(400, /inflates to more than the \d+ bytes its header implies; refused as a decompression bomb/),
    );
    assert.ok(ms < 200, `interlace ${interlace}: ${ms} ms`);
  }
});

test('the inflated size a PNG header implies matches what pngjs and the Adam7 writer produce', () => {
  assert.equal(pngInflatedSize(rawPng({ width: 28, height: 28, idat: Buffer.alloc(0) })), 28 * 29);
  assert.equal(pngInflatedSize(rawPng({ width: 3, height: 2, colorType: 6, depth: 16, idat: Buffer.alloc(0) })), 2 * (1 + 3 * 8));
  assert.equal(pngInflatedSize(rawPng({ width: 1, height: 1, colorType: 0, depth: 1, interlace: true, idat: Buffer.alloc(0) })), 2);
  // 10x10 RGBA interlaced: passes are 2x2, 1x2, 3x1, 2x3, 5x2, 5x5, 10x5 pixels.
  const expected = [
    [2, 2],
    [1, 2],
    [3, 1],
    [2, 3],
    [5, 2],
    [5, 5],
    [10, 5],
  ].reduce((s, [w, h]) => s + h * (1 + 4 * w), 0);
  assert.equal(pngInflatedSize(interlacedPng(renderDigit(digit(0), 10, 1))), expected);
});

test('truncated and corrupt files get 400s that say so', () => {
  const png = digitPng(digit(1), 200);
  const jpeg = digitJpeg(digit(1), 200);
  const cases: [Buffer, RegExp][] = [
    [png.subarray(0, 20), /no valid IHDR/],
    [png.subarray(0, png.length - 40), /PNG is truncated/],
    [rawPng({ width: 28, height: 28, idat: Buffer.alloc(0) }), /does not inflate|inflates to 0 bytes/],
    [jpeg.subarray(0, 10), /JPEG is truncated/],
    [jpeg.subarray(0, 400), /JPEG (image could not be decoded|is truncated)/],
    [Buffer.from('GIF89a...'), /neither a PNG nor a JPEG/],
  ];
  for (const [bytes, pattern] of cases) assert.throws(() => imageToMnist(bytes), refused(400, pattern));
});

test(`a JPEG with more than ${MAX_JPEG_SCANS} scans is refused before decoding; one within the limit decodes`, () => {
  const base = digitJpeg(digit(2), 100);
  assert.throws(() => imageToMnist(jpegWithScans(base, MAX_JPEG_SCANS + 1)), refused(413, /more than 64 scans/));
  assert.equal(readImageHeader(jpegWithScans(base, 2)).width, 100);
});

const event = (contentType: string | undefined, body: string, isBase64Encoded = false) =>
  ({
    httpMethod: 'POST',
    path: '/predict',
    headers: contentType ? { 'Content-Type': contentType } : {},
    body,
    isBase64Encoded,
  }) as unknown as APIGatewayProxyEvent;

test('batches: images are counted and their declared pixels summed before any is decoded', async () => {
  const big = (await blackPng(2000, 2000)).toString('base64'); // 4 MP each, all black: decoding would fail "no ink"
  const many = Array.from({ length: MAX_BATCH_IMAGES + 1 }, () => ({ image: digitPng(digit(0), 28).toString('base64') }));
  await assert.rejects(
    async () => {
      const { instances, batch } = await readPredictInput(event('application/json', JSON.stringify({ instances: many })));
      toImages(instances, batch);
    },
    refused(413, /17 images; at most 16 images per request \(and 64 pixel arrays\)/),
  );
  const over = Array.from({ length: MAX_REQUEST_IMAGE_PIXELS / 4e6 + 1 }, () => ({ image: big }));
  await assert.rejects(
    async () => {
      const { instances, batch } = await readPredictInput(event('application/json', JSON.stringify({ instances: over })));
      toImages(instances, batch);
    },
    refused(413, /12\.0 megapixels in all; the limit is 8 megapixels per request/),
  );
  // 16 small images and 48 pixel arrays are fine.
  const mixed = [...many.slice(0, 16), ...Array.from({ length: 48 }, (_, i) => ({ pixels: Array.from(digit(i)) }))];
  const { instances, batch } = await readPredictInput(event('application/json', JSON.stringify({ instances: mixed })));
  assert.equal(toImages(instances, batch).length, 64);
});

test('raw image bodies, multipart forms and content types', async () => {
  const png = digitPng(digit(4), 100);
  const raw = await readPredictInput(event('image/png', png.toString('base64'), true));
  assert.deepEqual(raw, { instances: [{ image: png }], batch: false });
  const jpeg = digitJpeg(digit(4), 100);
  assert.deepEqual((await readPredictInput(event('image/jpeg; q=1', jpeg.toString('base64'), true))).instances, [{ image: jpeg }]);

  const form = new FormData();
  form.append('note', 'hello');
  form.append('other', new Blob([Buffer.from('not this one')]), 'other.txt');
  form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'digit.png');
  const req = new Request('http://x/', { method: 'POST', body: form });
  const body = Buffer.from(await req.arrayBuffer());
  const multipart = await readPredictInput(event(req.headers.get('content-type')!, body.toString('base64'), true));
  assert.deepEqual(multipart.instances, [{ image: png }]);

  const onlyFile = new FormData();
  onlyFile.append('file', new Blob([new Uint8Array(jpeg)]), 'x.jpg');
  const req2 = new Request('http://x/', { method: 'POST', body: onlyFile });
  const m2 = await readPredictInput(
    event(req2.headers.get('content-type')!, Buffer.from(await req2.arrayBuffer()).toString('base64'), true),
  );
  assert.deepEqual(m2.instances, [{ image: jpeg }]);

  await assert.rejects(
    readPredictInput(event('multipart/form-data', 'abc', false)),
    refused(400, /multipart\/form-data body could not be read/),
  );
  await assert.rejects(
    readPredictInput(
      event(
        'multipart/form-data; boundary=x',
        Buffer.from('--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n').toString('base64'),
        true,
      ),
    ),
    refused(400, /has no file/),
  );
  await assert.rejects(
    readPredictInput(event(undefined, '{}')),
    refused(415, /needs a Content-Type header: one of application\/json, image\/png, image\/jpeg, multipart\/form-data/),
  );
  await assert.rejects(
    readPredictInput(event('image/gif', 'R0lG', true)),
    refused(
      415,
      /Unsupported content type "image\/gif"; POST \/predict accepts application\/json, image\/png, image\/jpeg, multipart\/form-data/,
    ),
  );
  await assert.rejects(
    readPredictInput(event('text/' + 'x'.repeat(10_000), 'a')),
    (err: HttpError) => err.statusCode === 415 && err.message.length < 300,
  );
  await assert.rejects(readPredictInput(event('image/png', '', true)), refused(400, /body is empty/));
});

test('hostile JSON: deep nesting and huge strings get short 400s, never a 500 or an echo', async () => {
  const answer = async (body: string) => {
    try {
      const { instances, batch } = await readPredictInput(event('application/json', body));
      toImages(instances, batch);
      return { statusCode: 200, body: '' };
    } catch (err) {
      return errorResponse(err, () => undefined);
    }
  };
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const huge = 'x'.repeat(5 * 1024 * 1024);
  const cases: [string, RegExp][] = [
    [`{"pixels":[${deep}${',0'.repeat(783)}]}`, /pixels\[0\] is an array of 1 item; every pixel must be a finite number/],
    [`{"instances":[{"pixels":${deep}}]}`, /pixels must be 784 numbers/],
    [`{"image":${deep}}`, /image: Invalid input: expected string, received array/],
    [`{"pixels":["${huge}"${',0'.repeat(783)}]}`, /pixels\[0\] is "x{40}"… \(a string of 5242880 characters\)/],
    [`{"${huge}":1}`, /Unrecognized key: "x+… \(\d+ characters\)/],
    [`{"image":"${huge}"}`, /./],
    [`{"pixels":[1,${huge}`, /not valid JSON/],
    [`{${Array.from({ length: 50_000 }, (_, i) => `"key${i}":1`).join(',')}}`, /Unrecognized keys/],
  ];
  for (const [body, pattern] of cases) {
    const res = await answer(body);
    const parsed = JSON.parse(res.body);
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 200)}`);
    assert.match(parsed.error, pattern);
    assert.ok(parsed.error.length <= MAX_ERROR_CHARS + 40, `error of ${parsed.error.length} chars`);
    assert.ok(JSON.stringify(parsed.details).length <= MAX_DETAILS_CHARS + 40, `details of ${JSON.stringify(parsed.details).length} chars`);
    assert.ok(res.body.length < 4000, `answer of ${res.body.length} bytes`);
  }
});
