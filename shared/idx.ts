import { gunzipSync } from 'node:zlib';
import { IMAGE_SIZE, NUM_CLASSES } from './model';

/** A parsed IDX file of unsigned bytes (the only type MNIST-style datasets use). */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Images scaled to [0,1] and integer labels, ready to become tensors. */
export interface Dataset {
  count: number;
  /** count * 28 * 28 pixels in [0,1] (or standardised: ./input-normalization.ts), row-major. */
  images: Float32Array;
  labels: Uint8Array;
  /** The value of an empty pixel, which augmentation shifts in at the edges: 0 unless standardised. */
  background?: number;
}

export class DatasetError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'DatasetError';
  }
}

const UBYTE = 0x08;

/** Parses an IDX file (gzip-compressed or not) and checks its header against its length. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new DatasetError(file, `gzip data is corrupt (${(err as Error).message}); re-upload the file.`);
    }
  }
  if (bytes.length < 4) throw new DatasetError(file, `is ${bytes.length} bytes, too short for an IDX header.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = view.getUint32(0).toString(16).padStart(8, '0');
    throw new DatasetError(file, `bad magic number 0x${magic}; an IDX file starts with 0x0000 (is this an IDX file?).`);
  }
  if (bytes[2] !== UBYTE) {
    throw new DatasetError(file, `data type 0x${bytes[2].toString(16)} is not supported; only unsigned bytes (0x08) are.`);
  }
  const rank = bytes[3];
  const headerLength = 4 + 4 * rank;
  if (rank < 1 || bytes.length < headerLength) {
    throw new DatasetError(file, `header declares ${rank} dimensions but the file is only ${bytes.length} bytes.`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const expected = headerLength + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'longer than its header says';
    throw new DatasetError(file, `is ${what}: header [${dims.join(', ')}] needs ${expected} bytes, file has ${bytes.length}.`);
  }
  return { dims, data: bytes.subarray(headerLength) };
}

/** Checks that images and labels describe the same 28x28, 10-class dataset and normalises pixels. */
export function toDataset(images: IdxArray, labels: IdxArray, imagesFile: string, labelsFile: string): Dataset {
  const [count, rows, cols] = images.dims;
  if (images.dims.length !== 3 || rows !== IMAGE_SIZE || cols !== IMAGE_SIZE) {
    throw new DatasetError(imagesFile, `has shape [${images.dims.join(', ')}]; expected [N, 28, 28] grayscale images.`);
  }
  if (labels.dims.length !== 1) {
    throw new DatasetError(labelsFile, `has shape [${labels.dims.join(', ')}]; expected [N] labels.`);
  }
  if (labels.dims[0] !== count) {
    throw new DatasetError(labelsFile, `has ${labels.dims[0]} labels but ${imagesFile} has ${count} images; they must match.`);
  }
  const bad = labels.data.findIndex((label) => label >= NUM_CLASSES);
  if (bad >= 0) {
    throw new DatasetError(
      labelsFile,
      `label ${labels.data[bad]} at index ${bad} is outside 0..9; the model has exactly ${NUM_CLASSES} classes.`,
    );
  }
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i] / 255;
  return { count, images: pixels, labels: labels.data.slice() };
}

/** The first `n` examples of a dataset (no copy). */
export function take(ds: Dataset, n: number): Dataset {
  if (n >= ds.count) return ds;
  const px = IMAGE_SIZE * IMAGE_SIZE;
  return { ...ds, count: n, images: ds.images.subarray(0, n * px), labels: ds.labels.subarray(0, n) };
}
