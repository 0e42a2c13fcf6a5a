import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { clip, HttpError } from '../http';
import { IMAGE_SIZE } from '../model';
import { checkPngData, readImageHeader, type ImageHeader } from './image-header';
import { JPEG_MAX_MEMORY_MB, MAX_IMAGE_PIXELS } from './limits';

/** The digit is scaled to fit this box inside the 28x28 frame, as MNIST was made. */
const DIGIT_BOX = 20;

interface Gray {
  width: number;
  height: number;
  /** Ink intensity per pixel, 0 (background) .. 255 (ink). */
  ink: Float32Array;
}

/**
 * Decodes a PNG or JPEG into RGBA, within the limits of ./limits: the declared size is checked
 * before decoding, and a PNG's compressed data must inflate to exactly what its header implies.
 */
export function decodeImage(
  bytes: Buffer,
  header: ImageHeader = readImageHeader(bytes),
): { width: number; height: number; data: Uint8Array } {
  const { format } = header;
  if (format === 'PNG') checkPngData(bytes);
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image =
      format === 'PNG'
        ? PNG.sync.read(bytes)
        : jpeg.decode(bytes, {
            useTArray: true,
            formatAsRGBA: true,
            maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
            maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
          });
  } catch (err) {
    throw new HttpError(400, `The ${format} image could not be decoded: ${clip((err as Error).message, 200)}.`);
  }
  if (image.width !== header.width || image.height !== header.height || image.data.length < image.width * image.height * 4) {
    throw new HttpError(
      400,
      `The ${format} decoded to ${image.width}x${image.height}, not the ${header.width}x${header.height} its header declares; the file is corrupt.`,
    );
  }
  return image;
}

/**
 * MNIST preprocessing of a photo or drawing of one digit: grayscale, invert when the background is
 * light, crop to the ink, scale to fit 20x20 keeping the aspect ratio, and centre by centre of mass
 * in 28x28. Returns 784 values in [0,1].
 */
export function imageToMnist(bytes: Buffer, header?: ImageHeader): Float32Array {
  const rgba = decodeImage(bytes, header);
  const gray = toInk(rgba);
  const box = inkBoundingBox(gray);
  if (!box) throw new HttpError(400, 'The image has no ink: it is blank or has no contrast. Send an image of a digit.');
  const digit = resizeToFit(gray, box, DIGIT_BOX);
  return centreByMass(digit);
}

/** Grayscale with transparency composited on white, turned into ink (light strokes on dark). */
function toInk({ width, height, data }: { width: number; height: number; data: Uint8Array }): Gray {
  const lum = new Float32Array(width * height);
  for (let i = 0; i < lum.length; i++) {
    const a = data[4 * i + 3] / 255;
    const l = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2];
    lum[i] = a * l + (1 - a) * 255;
  }
  // The border is mostly background: a light border means dark ink on a light page, so invert.
  let borderSum = 0;
  let borderCount = 0;
  for (let x = 0; x < width; x++) {
    borderSum += lum[x] + lum[(height - 1) * width + x];
    borderCount += 2;
  }
  for (let y = 0; y < height; y++) {
    borderSum += lum[y * width] + lum[y * width + width - 1];
    borderCount += 2;
  }
  const background = borderSum / borderCount;
  const invert = background > 127;
  const ink = new Float32Array(lum.length);
  for (let i = 0; i < lum.length; i++) {
    // Measure ink relative to the background level so a grey page is not read as faint ink.
    const v = invert ? background - lum[i] : lum[i] - background;
    ink[i] = Math.max(0, v) * (255 / Math.max(1, invert ? background : 255 - background));
  }
  return { width, height, ink };
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The bounding box of pixels with clear ink, or undefined when there is none. */
function inkBoundingBox({ width, height, ink }: Gray): Box | undefined {
  let max = 0;
  for (const v of ink) if (v > max) max = v;
  if (max < 40) return undefined;
  const threshold = max * 0.25;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/** Area-average resampling of the box so its longer side becomes `size` pixels. */
function resizeToFit(src: Gray, box: Box, size: number): Gray {
  const bw = box.x1 - box.x0;
  const bh = box.y1 - box.y0;
  const scale = size / Math.max(bw, bh);
  const width = Math.max(1, Math.round(bw * scale));
  const height = Math.max(1, Math.round(bh * scale));
  const out = new Float32Array(width * height);
  const sub = 4; // sub-samples per axis per output pixel, so thin strokes survive downscaling
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let sy = 0; sy < sub; sy++) {
        for (let sx = 0; sx < sub; sx++) {
          const fx = box.x0 + ((x + (sx + 0.5) / sub) / width) * bw - 0.5;
          const fy = box.y0 + ((y + (sy + 0.5) / sub) / height) * bh - 0.5;
          sum += bilinear(src, fx, fy);
        }
      }
      out[y * width + x] = sum / (sub * sub);
    }
  }
  return { width, height, ink: out };
}

function bilinear({ width, height, ink }: Gray, fx: number, fy: number): number {
  const x = Math.min(Math.max(fx, 0), width - 1);
  const y = Math.min(Math.max(fy, 0), height - 1);
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const x1 = Math.min(x0 + 1, width - 1);
  const y1 = Math.min(y0 + 1, height - 1);
  const dx = x - x0;
  const dy = y - y0;
  const top = ink[y0 * width + x0] * (1 - dx) + ink[y0 * width + x1] * dx;
  const bottom = ink[y1 * width + x0] * (1 - dx) + ink[y1 * width + x1] * dx;
  return top * (1 - dy) + bottom * dy;
}

/** Places the digit in a 28x28 frame with its centre of mass at the centre, scaled to [0,1]. */
function centreByMass(digit: Gray): Float32Array {
  let mass = 0;
  let mx = 0;
  let my = 0;
  let max = 0;
  for (let y = 0; y < digit.height; y++) {
    for (let x = 0; x < digit.width; x++) {
      const v = digit.ink[y * digit.width + x];
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
      if (v > max) max = v;
    }
  }
  const clampOffset = (offset: number, extent: number) => Math.min(Math.max(offset, 0), IMAGE_SIZE - extent);
  const ox = clampOffset(Math.round(IMAGE_SIZE / 2 - mx / mass), digit.width);
  const oy = clampOffset(Math.round(IMAGE_SIZE / 2 - my / mass), digit.height);
  const out = new Float32Array(IMAGE_SIZE * IMAGE_SIZE);
  for (let y = 0; y < digit.height; y++) {
    for (let x = 0; x < digit.width; x++) {
      out[(y + oy) * IMAGE_SIZE + x + ox] = digit.ink[y * digit.width + x] / max;
    }
  }
  return out;
}
