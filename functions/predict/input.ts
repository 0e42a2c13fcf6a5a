import { z } from 'zod';
import { HttpError } from '../../shared/http';
import { IMAGE_SIZE } from '../../shared/model';

const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** The most images one request may carry. */
export const MAX_INSTANCES = 64;

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const PixelArray = z.union([
  z.array(finite).length(PIXELS, `must have exactly ${PIXELS} numbers (28x28)`),
  z.array(z.array(finite).length(IMAGE_SIZE, 'each row must have 28 numbers')).length(IMAGE_SIZE, 'must have 28 rows'),
]);
const Instance = z.strictObject({ pixels: PixelArray });

export const PredictRequest = z.union([
  Instance,
  z.strictObject({
    instances: z.array(z.union([Instance, PixelArray])).min(1).max(MAX_INSTANCES, `at most ${MAX_INSTANCES} instances per request`),
  }),
]);
export type PredictRequest = z.infer<typeof PredictRequest>;

/** Turns a validated request into 784-pixel images in [0,1]. */
export function toImages(request: PredictRequest): Float32Array[] {
  const instances = 'instances' in request ? request.instances : [request];
  return instances.map((instance, i) => normalisePixels(Array.isArray(instance) ? instance : instance.pixels, i));
}

function normalisePixels(pixels: number[] | number[][], index: number): Float32Array {
  const flat = (pixels as (number | number[])[]).flat() as number[];
  const max = Math.max(...flat);
  const min = Math.min(...flat);
  if (min < 0 || max > 255) {
    throw new HttpError(400, `Instance ${index}: pixel values must be in 0..1 or 0..255; found ${min}..${max}.`);
  }
  const scale = max > 1 ? 1 / 255 : 1;
  return Float32Array.from(flat, (v) => v * scale);
}
