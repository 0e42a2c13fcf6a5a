import { test } from 'node:test';
import assert from 'node:assert/strict';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { HttpError } from '../../shared/http';
import { imageToMnist } from '../../shared/digits/image';

const { test: testSet } = await loadDatasetFromDir(mnistDataDir());
const digit = (i: number) => testSet.images.subarray(i * 784, (i + 1) * 784);

/** Renders a 28x28 digit as a big RGBA picture: scaled, padded, optionally dark ink on a light page. */
function render(pixels: Float32Array, { scale = 10, pad = 40, darkOnLight = true, offsetX = 0 } = {}) {
  const size = 28 * scale + 2 * pad;
  const width = size + offsetX;
  const data = Buffer.alloc(width * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < width; x++) {
      const sx = Math.floor((x - pad - offsetX) / scale);
      const sy = Math.floor((y - pad) / scale);
      const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? pixels[sy * 28 + sx] : 0;
      const v = Math.round(255 * (darkOnLight ? 1 - ink : ink));
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return { width, height: size, data };
}

const png = (img: ReturnType<typeof render>) =>
  PNG.sync.write(Object.assign(new PNG({ width: img.width, height: img.height }), { data: img.data }));

/** Best correlation over shifts of up to 2 pixels: centring by mass may move a digit by a pixel. */
function similarity(a: Float32Array, b: Float32Array): number {
  let best = -1;
  for (let dy = -2; dy <= 2; dy++) {
    for (let dx = -2; dx <= 2; dx++) {
      const shifted = new Float32Array(784);
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const sx = x + dx;
          const sy = y + dy;
          if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) shifted[y * 28 + x] = a[sy * 28 + sx];
        }
      }
      best = Math.max(best, correlation(shifted, b));
    }
  }
  return best;
}

function correlation(a: Float32Array, b: Float32Array): number {
  const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
  const [ma, mb] = [mean(a), mean(b)];
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

test('a big dark-on-light PNG of an MNIST digit comes back close to the original 28x28', () => {
  for (const i of [0, 1, 2, 3, 4]) {
    const out = imageToMnist(png(render(digit(i))));
    assert.equal(out.length, 784);
    assert.ok(Math.max(...out) <= 1 && Math.min(...out) >= 0);
    assert.ok(similarity(out, digit(i)) > 0.85, `digit ${i}: similarity ${similarity(out, digit(i))}`);
  }
});

test('light-on-dark, off-centre and JPEG images are handled the same way', () => {
  const reference = imageToMnist(png(render(digit(7))));
  const lightOnDark = imageToMnist(png(render(digit(7), { darkOnLight: false })));
  const offCentre = imageToMnist(png(render(digit(7), { offsetX: 300, pad: 10 })));
  const img = render(digit(7));
  const asJpeg = imageToMnist(jpeg.encode({ ...img, data: img.data }, 90).data);
  for (const [name, out] of [
    ['light on dark', lightOnDark],
    ['off centre', offCentre],
    ['jpeg', asJpeg],
  ] as const) {
    assert.ok(similarity(out, reference) > 0.9, `${name}: similarity ${similarity(out, reference)}`);
  }
});

test('bad images get 400s that say what is wrong', () => {
  const blank = render(new Float32Array(784));
  const cases: [Buffer, RegExp][] = [
    [png(blank), /no ink/],
    [Buffer.from('hello, not an image at all'), /neither a PNG nor a JPEG/],
    [png(render(digit(0))).subarray(0, 300), /PNG is truncated/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(
      () => imageToMnist(bytes),
      (err: unknown) => err instanceof HttpError && err.statusCode === 400 && pattern.test(err.message),
    );
  }
});
