/**
 * Reads what a PNG or JPEG declares (format, width, height) from its header, without decoding it,
 * so that the cost of decoding can be refused before it is paid.
 */
import { inflateSync } from 'node:zlib';
import { HttpError } from '../http';
import { MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MAX_JPEG_SCANS } from './limits';

export interface ImageHeader {
  format: 'PNG' | 'JPEG';
  width: number;
  height: number;
  /** PNG only: Adam7 interlacing. */
  interlaced?: boolean;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Samples per pixel of each PNG colour type. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export function sniffFormat(bytes: Buffer): 'PNG' | 'JPEG' | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'PNG';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'JPEG';
  return undefined;
}

/**
 * The declared format and size, refused with a 4xx when the file is not a PNG or JPEG, its header
 * is malformed, or it declares more than the limits allow.
 */
export function readImageHeader(bytes: Buffer): ImageHeader {
  const format = sniffFormat(bytes);
  if (!format) throw new HttpError(400, 'The image is neither a PNG nor a JPEG; send a .png or .jpg file.');
  const header = format === 'PNG' ? readPngHeader(bytes) : readJpegHeader(bytes);
  checkSize(header);
  return header;
}

function checkSize({ format, width, height }: ImageHeader): void {
  if (width < 1 || height < 1) throw new HttpError(400, `The ${format} header declares a ${width}x${height} image; it has no pixels.`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new HttpError(
      413,
      `The ${format} is ${width}x${height} pixels; the limit is ${MAX_IMAGE_SIDE} pixels per side and ${MAX_IMAGE_PIXELS / 1e6} megapixels. Scale it down: the model sees 28x28.`,
    );
  }
}

function readPngHeader(bytes: Buffer): ImageHeader {
  // The first chunk must be IHDR (length 13): width, height, depth, colour type, compression, filter, interlace.
  if (bytes.length < 33 || bytes.readUInt32BE(8) !== 13 || bytes.toString('latin1', 12, 16) !== 'IHDR') {
    throw new HttpError(400, 'The PNG has no valid IHDR header; the file is truncated or corrupt.');
  }
  const interlace = bytes[28];
  if (interlace > 1) throw new HttpError(400, 'The PNG header declares an unknown interlace method.');
  return { format: 'PNG', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), interlaced: interlace === 1 };
}

/** The seven passes of Adam7 interlacing (PNG spec): first column and row, then column and row step. */
export const ADAM7_PASSES: readonly (readonly [x0: number, y0: number, dx: number, dy: number])[] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/**
 * Bytes the PNG's image data must inflate to, from its header: a filter byte plus the packed
 * samples of every row, for each of the seven Adam7 passes when interlaced.
 */
export function pngInflatedSize(bytes: Buffer): number {
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  const depth = bytes[24];
  const channels = PNG_CHANNELS[bytes[25]];
  if (!channels || ![1, 2, 4, 8, 16].includes(depth))
    throw new HttpError(400, `The PNG header declares an unsupported colour type ${bytes[25]} or bit depth ${depth}.`);
  const bitsPerPixel = channels * depth;
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (bytes[28] !== 1) return rows(width, height);
  return ADAM7_PASSES.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/**
 * Inflates the PNG's image data with a cap at the size its header implies, and refuses the image
 * if the data inflates to more (a decompression bomb) or less (truncated). pngjs inflates
 * interlaced images without any cap, so this check has to come first.
 */
export function checkPngData(bytes: Buffer): void {
  const expected = pngInflatedSize(bytes);
  const idat: Buffer[] = [];
  for (let offset = 8; offset + 8 <= bytes.length; ) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > bytes.length)
      throw new HttpError(400, `The PNG is truncated: its ${type.replace(/[^A-Za-z]/g, '?')} chunk runs past the end of the file.`);
    if (type === 'IDAT') idat.push(bytes.subarray(offset + 8, offset + 8 + length));
    if (type === 'IEND') break;
    offset = end;
  }
  let inflated: Buffer;
  try {
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new HttpError(
        400,
        `The PNG's image data inflates to more than the ${expected} bytes its header implies; refused as a decompression bomb.`,
      );
    }
    throw new HttpError(400, `The PNG's image data does not inflate (${(err as Error).message}); the file is truncated or corrupt.`);
  }
  if (inflated.length !== expected) {
    throw new HttpError(
      400,
      `The PNG's image data inflates to ${inflated.length} bytes where its header implies ${expected}; the file is truncated or corrupt.`,
    );
  }
}

/** Start-of-frame markers (SOF0..SOF15 except DHT, JPG and DAC), which carry the image size. */
const isSof = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/**
 * Walks the JPEG's marker segments up to the end of the image: the size comes from the frame
 * header (SOFn), and the scans (SOS) are counted, skipping their entropy-coded data.
 */
function readJpegHeader(bytes: Buffer): ImageHeader {
  let frame: { width: number; height: number } | undefined;
  let scans = 0;
  let offset = 2;
  const truncated = () => new HttpError(400, 'The JPEG is truncated or corrupt: its markers run past the end of the file.');
  while (offset < bytes.length) {
    if (bytes[offset] !== 0xff) throw new HttpError(400, 'The JPEG is corrupt: expected a marker between segments.');
    while (bytes[offset] === 0xff) offset++; // fill bytes
    if (offset >= bytes.length) throw truncated();
    const marker = bytes[offset++];
    if (marker === 0xd9) break; // EOI
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (offset + 2 > bytes.length) throw truncated();
    const length = bytes.readUInt16BE(offset);
    if (length < 2 || offset + length > bytes.length) throw truncated();
    if (isSof(marker)) {
      if (length < 8) throw truncated();
      if (frame) throw new HttpError(400, 'The JPEG has more than one frame header; only single-frame JPEGs are accepted.');
      frame = { height: bytes.readUInt16BE(offset + 3), width: bytes.readUInt16BE(offset + 5) };
      // Refuse an oversize frame as soon as it is seen, not after walking the rest of the file.
      checkSize({ format: 'JPEG', ...frame });
    }
    offset += length;
    if (marker === 0xda) {
      if (++scans > MAX_JPEG_SCANS)
        throw new HttpError(413, `The JPEG has more than ${MAX_JPEG_SCANS} scans; at most ${MAX_JPEG_SCANS} are accepted.`);
      // Entropy-coded data ends at the next marker that is neither a stuffed 0xFF00 nor a restart marker.
      while (
        offset + 1 < bytes.length &&
        !(bytes[offset] === 0xff && bytes[offset + 1] !== 0 && (bytes[offset + 1] < 0xd0 || bytes[offset + 1] > 0xd7))
      )
        offset++;
      if (offset + 1 >= bytes.length) break; // no EOI: jpeg-js decides whether what is there decodes
    }
  }
  if (!frame) throw new HttpError(400, 'The JPEG has no frame header (SOF marker); the file is truncated or corrupt.');
  return { format: 'JPEG', ...frame };
}
