import { z } from 'zod';
import { describeValue, HttpError } from '../http';
import { IMAGE_SIZE } from '../model';
import { imageToMnist } from './image';
import { readImageHeader } from './image-header';
import { MAX_BATCH_IMAGES, MAX_INSTANCES, MAX_REQUEST_IMAGE_PIXELS } from './limits';

const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

// Flat or 28 rows. Shape and values are checked in one pass in normalisePixels: a per-element zod
// union costs more than the prediction itself, and there the message can say what it got.
const PixelArray = z.array(z.unknown(), 'must be an array of 784 numbers or 28 rows of 28 numbers');
const ImageData = z
  .string()
  .min(1, 'must not be empty')
  .transform((s) => s.replace(/^data:image\/[a-z+.-]+;base64,/i, ''))
  .refine((s) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(s.replace(/\s/g, '')), 'must be base64 of a PNG or JPEG file');
const exactlyOne = (keys: string[]) => (value: Record<string, unknown>) => keys.filter((k) => value[k] !== undefined).length === 1;

const Instance = z
  .strictObject({ pixels: PixelArray.optional(), image: ImageData.optional() })
  .refine(exactlyOne(['pixels', 'image']), 'each instance needs exactly one of "pixels" or "image"');

export const PredictRequest = z
  .strictObject({
    pixels: PixelArray.optional(),
    image: ImageData.optional(),
    instances: z.array(Instance).min(1).max(MAX_INSTANCES, `at most ${MAX_INSTANCES} instances per request`).optional(),
  })
  .refine(exactlyOne(['pixels', 'image', 'instances']), 'send exactly one of "pixels", "image" or "instances"');
export type PredictRequest = z.infer<typeof PredictRequest>;

export const USAGE = `Send {"pixels": [784 numbers in 0..1 or 0..255, or 28 rows of 28]}, {"image": "<base64 PNG or JPEG>"}, or {"instances": [up to ${MAX_INSTANCES} of either, at most ${MAX_BATCH_IMAGES} of them images]}; or the PNG or JPEG itself as the body (Content-Type image/png or image/jpeg) or as the "image" field of a multipart/form-data form.`;

/** One thing to classify: a pixel array, or the bytes of a PNG or JPEG. */
export type PredictInstance = { pixels: unknown[] } | { image: Buffer };

/** The instances of a validated JSON request. */
export function instancesOf(request: PredictRequest): PredictInstance[] {
  return (request.instances ?? [request]).map((i) => (i.pixels ? { pixels: i.pixels } : { image: Buffer.from(i.image!, 'base64') }));
}

/**
 * Turns instances into 784-pixel images in [0,1]. Every image's header is read and the request's
 * image count and total pixels are checked before any image is decoded, so a refused batch costs
 * no decoding at all.
 */
export function toImages(instances: PredictInstance[], batch: boolean): Float32Array[] {
  const label = (i: number) => (batch ? `Instance ${i}: ` : '');
  const inInstance = <T>(i: number, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof HttpError && batch) throw new HttpError(err.statusCode, `${label(i)}${err.message}`);
      throw err;
    }
  };
  const imageCount = instances.filter((x) => 'image' in x).length;
  if (imageCount > MAX_BATCH_IMAGES) {
    throw new HttpError(
      413,
      `The request has ${imageCount} images; at most ${MAX_BATCH_IMAGES} images per request (and ${MAX_INSTANCES} pixel arrays).`,
    );
  }
  const headers = instances.map((x, i) => ('image' in x ? inInstance(i, () => readImageHeader(x.image)) : undefined));
  const totalPixels = headers.reduce((sum, h) => sum + (h ? h.width * h.height : 0), 0);
  if (totalPixels > MAX_REQUEST_IMAGE_PIXELS) {
    throw new HttpError(
      413,
      `The request's images have ${(totalPixels / 1e6).toFixed(1)} megapixels in all; the limit is ${MAX_REQUEST_IMAGE_PIXELS / 1e6} megapixels per request. Send smaller images or fewer per request.`,
    );
  }
  return instances.map((x, i) => ('image' in x ? inInstance(i, () => imageToMnist(x.image, headers[i])) : normalisePixels(x.pixels, i)));
}

function normalisePixels(pixels: unknown[], index: number): Float32Array {
  const out = new Float32Array(PIXELS);
  const isRows = pixels.length === IMAGE_SIZE && pixels.every((row) => Array.isArray(row) && row.length === IMAGE_SIZE);
  if (!isRows && pixels.length !== PIXELS) {
    const rows = pixels.filter(Array.isArray).length;
    const got = rows ? `${pixels.length} items (${rows} of them arrays)` : `${pixels.length} numbers`;
    throw new HttpError(
      400,
      `Instance ${index}: pixels must be ${PIXELS} numbers or ${IMAGE_SIZE} rows of ${IMAGE_SIZE} numbers; got ${got}.`,
    );
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < PIXELS; i++) {
    const v = isRows ? (pixels[Math.floor(i / IMAGE_SIZE)] as unknown[])[i % IMAGE_SIZE] : pixels[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const where = isRows ? `pixels[${Math.floor(i / IMAGE_SIZE)}][${i % IMAGE_SIZE}]` : `pixels[${i}]`;
      throw new HttpError(400, `Instance ${index}: ${where} is ${describeValue(v)}; every pixel must be a finite number.`);
    }
    out[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min < 0 || max > 255) {
    throw new HttpError(400, `Instance ${index}: pixel values must be in 0..1 or 0..255; found ${min}..${max}.`);
  }
  if (max > 1) for (let i = 0; i < PIXELS; i++) out[i] /= 255;
  return out;
}
