import type * as tfl from '@tensorflow/tfjs-layers';
import {
  BATCH_CHUNK,
  type BatchLine,
  type BatchPredictMessage,
  type BatchSummary,
  batchOutputKeys,
  isBatchInputKey,
  MAX_BATCH_OBJECTS,
  s3Uri,
} from '../../../shared/batch-predict';
import { modelKeys } from '../../../shared/bucket-layout';
import { instancesOf, PredictRequest, toImages } from '../../../shared/digits/input';
import { predictDigits } from '../../../shared/digits/predict';
import { objectOps, putFenced } from '../../../shared/fenced-write';
import { MAX_BODY_BYTES } from '../../../shared/http';
import { JobRefusedError } from '../../../shared/job-limits';
import { JobStore } from '../../../shared/job-store';
import { disposeModel } from '../../../shared/model';
import { loadModel } from '../../../shared/model-store';
import type { Bucket } from '../../../shared/s3-objects';
import type { BatchBuckets } from './batch-access';
import { endCancelled, type JobContext, type JobOutcome } from './run-job';

/** The objects one batch reads, fixed by its first run: a resume never re-lists, so chunks never shift. */
interface Manifest {
  objects: Array<{ key: string; size: number }>;
}

/** Objects read at once within a chunk. */
const READ_CONCURRENCY = 8;

/**
 * Runs one batch prediction: reads every image under the input prefix with the /predict
 * preprocessing (shared/digits/), predicts with one model, and writes predictions.jsonl and
 * summary.json under the output prefix. Each chunk of objects is written once as a part under the
 * job's checkpoints (fenced), so a crash resumes at the first missing part and no line is written
 * twice. Throws on failure, as runJob does.
 */
export async function runBatchJob(job: BatchPredictMessage, ctx: JobContext, buckets: BatchBuckets): Promise<JobOutcome> {
  const { bucket, logger, fence } = ctx;
  const jobs = new JobStore(bucket);
  const existing = await jobs.get(job.jobId);
  if (existing?.status === 'SUCCEEDED') return 'already-done';
  const cancelled = await ctx.cancel?.check();
  if (cancelled) return endCancelled(ctx, jobs, cancelled);

  const manifest = await readOrWriteManifest(job, ctx, buckets.input);
  const chunks = Math.ceil(manifest.objects.length / BATCH_CHUNK);
  const done = new Set(await bucket.listKeys(modelKeys.batchParts(job.jobId)));
  const todo = Array.from({ length: chunks }, (_, c) => c).filter((c) => !done.has(modelKeys.batchPart(job.jobId, c)));
  const batchInfo = { input: s3Uri(job.input), output: s3Uri(job.output), modelJobId: job.modelJobId, objects: manifest.objects.length };
  await jobs.update(
    job.jobId,
    { status: 'RUNNING', kind: 'batch-predict', batch: batchInfo, attempts: (existing?.attempts ?? 0) + 1, reason: undefined },
    fence,
  );
  logger.info(todo.length < chunks ? 'resuming batch prediction' : 'starting batch prediction', {
    objects: manifest.objects.length,
    chunks,
    chunksDone: chunks - todo.length,
    model: job.modelJobId,
  });

  const started = Date.now();
  let read = 0;
  const model = await loadModel(bucket, modelKeys.final(job.modelJobId));
  try {
    for (const c of todo) {
      if (ctx.shouldStop?.()) return ctx.cancel?.request ? endCancelled(ctx, jobs, ctx.cancel.request) : 'stopped';
      const objects = manifest.objects.slice(c * BATCH_CHUNK, (c + 1) * BATCH_CHUNK);
      const lines = await predictChunk(model, buckets.input, objects);
      read += objects.length;
      const body = Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const key = modelKeys.batchPart(job.jobId, c);
      await ctx.assertLeaseHeld?.();
      await ctx.afterLeaseCheck?.(`batch-part-${c}`);
      if (fence === undefined) await bucket.putBytes(key, body, 'application/x-ndjson');
      else await putFenced(objectOps(bucket), key, body, fence, 'application/x-ndjson');
      done.add(key);
      await jobs
        .putProgress(job.jobId, { epoch: 1, batch: done.size, batches: chunks }, fence)
        .catch((err) => logger.warn('progress write failed', { error: String(err) }));
    }
  } finally {
    disposeModel(model);
  }

  const last = await ctx.cancel?.check();
  if (last) return endCancelled(ctx, jobs, last);
  const seconds = (Date.now() - started) / 1000;
  const summary = await writeOutput(job, ctx, buckets.output, chunks, {
    ...batchInfo,
    seconds: Math.round(seconds * 10) / 10,
    imagesPerSecond: seconds > 0 ? Math.round(read / seconds) : 0,
  });
  await ctx.assertLeaseHeld?.();
  await jobs.update(job.jobId, { status: 'SUCCEEDED', batch: summary }, fence);
  logger.info('batch prediction succeeded', { ...summary });
  return 'succeeded';
}

/** The manifest of an earlier run, or a new one from listing the input prefix (with the job's own credentials). */
async function readOrWriteManifest(job: BatchPredictMessage, ctx: JobContext, input: Bucket): Promise<Manifest> {
  const key = `${modelKeys.batchParts(job.jobId)}manifest.json`;
  const found = await ctx.bucket.getJson<Manifest>(key);
  if (found) return found;
  const listed = await input.listObjects(job.input.prefix, MAX_BATCH_OBJECTS, isBatchInputKey);
  if (listed.truncated) throw new JobRefusedError([`${s3Uri(job.input)} has more than ${MAX_BATCH_OBJECTS} objects to read`]);
  if (listed.objects.length === 0) throw new JobRefusedError([`no images under ${s3Uri(job.input)}`]);
  const manifest: Manifest = { objects: listed.objects };
  const body = Buffer.from(JSON.stringify(manifest));
  if (ctx.fence === undefined) await ctx.bucket.putBytes(key, body, 'application/json');
  else await putFenced(objectOps(ctx.bucket), key, body, ctx.fence, 'application/json');
  return manifest;
}

/** One chunk's lines, in the manifest's order: a digit per readable image, an error line per bad object. */
async function predictChunk(model: tfl.LayersModel, input: Bucket, objects: Manifest['objects']): Promise<BatchLine[]> {
  const images: Array<Float32Array | string> = new Array(objects.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < objects.length; i = next++) images[i] = await readImage(input, objects[i]);
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, objects.length) }, worker));
  const valid = images.flatMap((x, i) => (typeof x === 'string' ? [] : [{ i, pixels: x }]));
  const predictions = valid.length
    ? predictDigits(
        model,
        valid.map((v) => v.pixels),
      )
    : [];
  const lines: BatchLine[] = objects.map((o, i) => ({ key: o.key, error: images[i] as string }));
  valid.forEach((v, j) => (lines[v.i] = { key: objects[v.i].key, ...predictions[j] }));
  return lines;
}

/**
 * One object's 784 pixels, through the same checks and preprocessing as POST /predict, or the
 * reason it cannot be read. S3 failures other than a vanished object are thrown: the job retries.
 */
async function readImage(input: Bucket, object: { key: string; size: number }): Promise<Float32Array | string> {
  if (object.size > MAX_BODY_BYTES) return `the object is ${object.size} bytes; the limit is ${MAX_BODY_BYTES} bytes, as for POST /predict`;
  const bytes = await input.getBytes(object.key);
  if (!bytes) return 'the object was deleted after the batch was listed';
  try {
    if (object.key.toLowerCase().endsWith('.json')) {
      const parsed = PredictRequest.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
      if (!parsed.success) return `not a /predict body: ${parsed.error.issues[0].message}`;
      if (parsed.data.instances) return 'one digit per .json object: use {"pixels": …} or {"image": …}, not "instances"';
      return toImages(instancesOf(parsed.data), false)[0];
    }
    return toImages([{ image: Buffer.from(bytes) }], false)[0];
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Joins the parts into predictions.jsonl, counts them into the summary, and writes both. */
async function writeOutput(
  job: BatchPredictMessage,
  ctx: JobContext,
  output: Bucket,
  chunks: number,
  base: Omit<BatchSummary, 'predicted' | 'errors' | 'digits'>,
): Promise<BatchSummary> {
  const parts: Uint8Array[] = [];
  for (let c = 0; c < chunks; c++) {
    const part = await ctx.bucket.getBytes(modelKeys.batchPart(job.jobId, c));
    if (!part) throw new Error(`batch part ${c} of ${chunks} is missing`);
    parts.push(part);
  }
  const digits = new Array(10).fill(0);
  let errors = 0;
  for (const part of parts) {
    for (const line of Buffer.from(part).toString('utf8').split('\n')) {
      if (!line) continue;
      const parsed = JSON.parse(line) as BatchLine;
      if ('digit' in parsed) digits[parsed.digit]++;
      else errors++;
    }
  }
  const summary: BatchSummary = { ...base, predicted: base.objects - errors, errors, digits };
  const keys = batchOutputKeys(job.output);
  await ctx.assertLeaseHeld?.();
  await output.putBytes(keys.predictions, Buffer.concat(parts), 'application/x-ndjson');
  await output.putJson(keys.summary, { jobId: job.jobId, ...summary });
  return summary;
}
