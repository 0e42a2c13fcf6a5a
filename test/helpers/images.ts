/**
 * Real MNIST digits rendered as PNG and JPEG files, and hostile images built byte by byte:
 * oversize declarations, decompression bombs, interlaced bombs, truncated files, endless scans.
 */
import { createDeflate, crc32 as zlibCrc32, deflateSync } from 'node:zlib';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ADAM7_PASSES } from '../../shared/digits/image-header';

/** A 28x28 digit (values 0..1, ink high) drawn as a `size`x`size` RGBA picture, dark ink on a light page. */
export function renderDigit(pixels: ArrayLike<number>, size = 280, pad = Math.round(size / 7)) {
  const data = Buffer.alloc(size * size * 4);
  const scale = (size - 2 * pad) / 28;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sx = Math.floor((x - pad) / scale);
      const sy = Math.floor((y - pad) / scale);
      const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? pixels[sy * 28 + sx] : 0;
      const v = Math.round(255 * (1 - ink));
      data[(y * size + x) * 4] = v;
      data[(y * size + x) * 4 + 1] = v;
      data[(y * size + x) * 4 + 2] = v;
      data[(y * size + x) * 4 + 3] = 255;
    }
  }
  return { width: size, height: size, data };
}

export const digitPng = (pixels: ArrayLike<number>, size?: number, opts: { interlace?: boolean } = {}) => {
  const img = renderDigit(pixels, size);
  const png = new PNG({ width: img.width, height: img.height });
  img.data.copy(png.data);
  return opts.interlace ? interlacedPng(img) : PNG.sync.write(png);
};
/** The digit as an 8-bit grayscale PNG (smaller than RGBA, so big ones fit in a request). */
export function digitGrayPng(pixels: ArrayLike<number>, size: number): Buffer {
  const { data } = renderDigit(pixels, size);
  const rows = Buffer.alloc(size * (size + 1));
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) rows[y * (size + 1) + 1 + x] = data[(y * size + x) * 4];
  return rawPng({ width: size, height: size, idat: deflateSync(rows, { level: 9 }) });
}

/** An MNIST image as MNIST stores it, as a 28x28 8-bit grayscale PNG: white ink on black. */
export function mnistPng(pixels: ArrayLike<number>): Buffer {
  const rows = Buffer.alloc(28 * 29);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) rows[y * 29 + 1 + x] = Math.round(255 * pixels[y * 28 + x]);
  return rawPng({ width: 28, height: 28, idat: deflateSync(rows) });
}

export const digitJpeg = (pixels: ArrayLike<number>, size?: number) => jpeg.encode(renderDigit(pixels, size), 90).data;

const crc32 = (buf: Buffer) => (zlibCrc32 ? zlibCrc32(buf) : 0) >>> 0;

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A PNG from its IHDR fields and already-compressed image data. */
export function rawPng(opts: {
  width: number;
  height: number;
  colorType?: number;
  depth?: number;
  interlace?: boolean;
  idat: Buffer;
}): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(opts.width, 0);
  ihdr.writeUInt32BE(opts.height, 4);
  ihdr[8] = opts.depth ?? 8;
  ihdr[9] = opts.colorType ?? 0;
  ihdr[12] = opts.interlace ? 1 : 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', opts.idat),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An Adam7-interlaced RGBA PNG of `img` (pngjs writes only non-interlaced ones). */
export function interlacedPng(img: { width: number; height: number; data: Buffer }): Buffer {
  const rows: Buffer[] = [];
  for (const [x0, y0, dx, dy] of ADAM7_PASSES) {
    const w = Math.ceil((img.width - x0) / dx);
    const h = Math.ceil((img.height - y0) / dy);
    if (w <= 0 || h <= 0) continue;
    for (let y = y0; y < img.height; y += dy) {
      const row = Buffer.alloc(1 + 4 * w); // filter type 0
      for (let i = 0, x = x0; x < img.width; x += dx, i++)
        img.data.copy(row, 1 + 4 * i, (y * img.width + x) * 4, (y * img.width + x) * 4 + 4);
      rows.push(row);
    }
  }
  return rawPng({ width: img.width, height: img.height, colorType: 6, interlace: true, idat: deflateSync(Buffer.concat(rows)) });
}

/** zlib data of `bytes` zero bytes, built in 1 MB pieces (no buffer of that size), cached in the temp dir. */
export async function deflatedZeros(bytes: number): Promise<Buffer> {
  const dir = join(tmpdir(), 'lenet-hostile-images');
  const file = join(dir, `zeros-${bytes}.zz`);
  if (existsSync(file)) return readFileSync(file);
  const deflate = createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  const piece = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= piece.length) {
    if (!deflate.write(left >= piece.length ? piece : piece.subarray(0, left))) await new Promise((r) => deflate.once('drain', r));
  }
  deflate.end();
  await done;
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, Buffer.concat(out));
  return Buffer.concat(out);
}

/** A grayscale PNG declaring width x height whose data is all zero rows (filter 0, black): complete and valid. */
export async function blackPng(width: number, height: number): Promise<Buffer> {
  return rawPng({ width, height, idat: await deflatedZeros(height * (width + 1)) });
}

/** A PNG declaring 28x28 whose data inflates to `inflated` bytes: a decompression bomb. */
export async function bombPng(inflated: number, interlace: boolean): Promise<Buffer> {
  return rawPng({ width: 28, height: 28, interlace, idat: await deflatedZeros(inflated) });
}

/** A JPEG with its frame header (SOF0) rewritten to declare width x height. */
export function jpegDeclaring(bytes: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(bytes);
  const sof = out.indexOf(Buffer.from([0xff, 0xc0]));
  out.writeUInt16BE(height, sof + 5);
  out.writeUInt16BE(width, sof + 7);
  return out;
}

/** A JPEG with its scan repeated until it has `scans` of them. */
export function jpegWithScans(bytes: Buffer, scans: number): Buffer {
  const sos = bytes.indexOf(Buffer.from([0xff, 0xda]));
  const eoi = bytes.lastIndexOf(Buffer.from([0xff, 0xd9]));
  const scan = bytes.subarray(sos, eoi);
  return Buffer.concat([bytes.subarray(0, sos), ...Array(scans).fill(scan), bytes.subarray(eoi)]);
}
