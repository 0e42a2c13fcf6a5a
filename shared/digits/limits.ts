/**
 * Every limit that bounds what one POST /predict may cost, in one place. The reasons and the
 * measurements behind the numbers are in docs/security.md ("Limits of POST /predict").
 */

/** Longest side of an image, in pixels, read from its header before anything is decoded. */
export const MAX_IMAGE_SIDE = 4096;

/**
 * Most pixels in one image (4 megapixels), read from its header before decoding. Decoding and
 * preprocessing hold a few RGBA and float copies of the image at once, so this bounds the memory
 * of one image well inside the function's memory, and its time well inside the timeout.
 */
export const MAX_IMAGE_PIXELS = 4_000_000;

/**
 * Most image pixels one request may decode, summed over its images (two of the largest): a batch
 * of large images costs as much as that many single ones, and is refused before any is decoded.
 * JPEG decoding is the slowest path, and it must fit the timeout on Lambda's share of a CPU.
 */
export const MAX_REQUEST_IMAGE_PIXELS = 8_000_000;

/** Most images (PNG or JPEG) in one batch: each may need decoding, unlike a pixel array. */
export const MAX_BATCH_IMAGES = 16;

/** Most instances (pixel arrays or images) in one batch. */
export const MAX_INSTANCES = 64;

/**
 * Most scans in a JPEG. Each progressive scan walks every block of the image again, so a small
 * file with thousands of empty scans would cost thousands of full passes. Encoders write about
 * ten (libjpeg's progressive script) or a few dozen at most.
 */
export const MAX_JPEG_SCANS = 64;

/** jpeg-js stops with an error when its buffers would need more than this (MB). */
export const JPEG_MAX_MEMORY_MB = 128;

/** Parts of a multipart form that are read before the request is refused. */
export const MAX_MULTIPART_PARTS = 8;
