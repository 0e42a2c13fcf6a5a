import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { modelKeys, parseCheckpointMarker, type CheckpointRef } from './bucket-layout';
import { objectOps, putFenced } from './fenced-write';
import type { InputNormalization } from './input-normalization';
import type { Bucket } from './s3-objects';
import type { CheckpointInfo, TrainPosition } from './documents';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** A checkpoint's files were not the ones its marker committed (see CheckpointInfo.files). */
export class TornCheckpointError extends Error {
  constructor(prefix: string, file: string) {
    super(`checkpoint ${prefix}: ${file} is not the file its marker committed (rewritten since)`);
    this.name = 'TornCheckpointError';
  }
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export interface ModelHandlerOptions {
  /** Save with fenced writes (shared/fenced-write.ts) under this lease fence. */
  fence?: number;
  /** Filled on save: each file's SHA-256. */
  written?: Record<string, string>;
  /** On load: the SHA-256 each file must have (a marker's `files`); TornCheckpointError otherwise. */
  expect?: Record<string, string>;
}

/** A tfjs IOHandler that saves and loads a model straight to and from S3, with no temp files. */
export function s3ModelHandler(bucket: Bucket, prefix: string, opts: ModelHandlerOptions = {}): tf.io.IOHandler {
  const put = async (file: string, bytes: Uint8Array, contentType: string) => {
    if (opts.written) opts.written[file] = sha256(bytes);
    if (opts.fence === undefined) await bucket.putBytes(prefix + file, bytes, contentType);
    else await putFenced(objectOps(bucket), prefix + file, bytes, opts.fence, contentType);
  };
  const check = (file: string, bytes: Uint8Array) => {
    const want = opts.expect?.[file];
    if (want !== undefined && sha256(bytes) !== want) throw new TornCheckpointError(prefix, file);
    return bytes;
  };
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (!artifacts.modelTopology || artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('Only LayersModel topologies (JSON) can be saved to S3.');
      }
      const weights = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        trainingConfig: artifacts.trainingConfig,
        userDefinedMetadata: artifacts.userDefinedMetadata,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      };
      await put(WEIGHTS_BIN, new Uint8Array(weights), 'application/octet-stream');
      await put(MODEL_JSON, Buffer.from(JSON.stringify(modelJson, null, 2)), 'application/json');
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonBytes = await bucket.getBytes(prefix + MODEL_JSON);
      if (!jsonBytes) throw new Error(`No model at s3://${bucket.name}/${prefix}${MODEL_JSON}.`);
      const modelJson = JSON.parse(Buffer.from(check(MODEL_JSON, jsonBytes)).toString('utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const parts = await Promise.all(
          manifest
            .flatMap((group) => group.paths)
            .map(async (path) => {
              const bytes = await bucket.getBytes(prefix + path);
              if (!bytes) throw new Error(`Weights missing at s3://${bucket.name}/${prefix}${path}.`);
              return check(path, bytes);
            }),
        );
        return [specs, tf.io.concatenateArrayBuffers(parts.map(toArrayBuffer))];
      });
    },
  };
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * Saves a model and then its marker. The optimizer state is included by default, so training
 * resumes exactly where it stopped. With `fence` (the job lease's), every file is a fenced write
 * (refused with StaleFenceError once a newer owner wrote it) and the marker records the fence and
 * the files' digests.
 */
export async function saveCheckpoint(
  bucket: Bucket,
  prefix: string,
  model: tfl.LayersModel,
  { includeOptimizer = true, ...info }: CheckpointInfo & { includeOptimizer?: boolean },
) {
  if (info.fence === undefined) {
    await model.save(s3ModelHandler(bucket, prefix), { includeOptimizer });
    await bucket.putJson(prefix + modelKeys.marker, info);
    return;
  }
  const written: Record<string, string> = {};
  await model.save(s3ModelHandler(bucket, prefix, { fence: info.fence, written }), { includeOptimizer });
  const marker: CheckpointInfo = { ...info, files: written };
  await putFenced(
    objectOps(bucket),
    prefix + modelKeys.marker,
    Buffer.from(JSON.stringify(marker, null, 2)),
    info.fence,
    'application/json',
  );
}

/** Loads a model; with its marker's `info`, only if its files are the ones the marker committed (TornCheckpointError otherwise). */
export async function loadModel(bucket: Bucket, prefix: string, info?: Pick<CheckpointInfo, 'files'>): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(s3ModelHandler(bucket, prefix, { expect: info?.files }));
}

/** A job's checkpoints from their marker keys, most advanced first (an epoch checkpoint is batch 0 of the next epoch). */
export function resumeOrder(markerKeys: string[]): CheckpointRef[] {
  const pos = (r: CheckpointRef) => [r.epoch, r.kind === 'partial' ? r.batch : 0];
  return markerKeys
    .map(parseCheckpointMarker)
    .filter((r): r is CheckpointRef => r !== undefined && (r.kind === 'epoch' || r.batch > 0))
    .sort((a, b) => pos(b)[0] - pos(a)[0] || pos(b)[1] - pos(a)[1]);
}

const refPrefix = (r: CheckpointRef) =>
  r.kind === 'epoch' ? modelKeys.epoch(r.jobId, r.epoch) : modelKeys.partial(r.jobId, r.epoch, r.batch);

type ResumePoint = { prefix: string; info: CheckpointInfo; position?: TrainPosition };

async function resumePrefixes(bucket: Bucket, jobId: string): Promise<string[]> {
  return resumeOrder(await bucket.listKeys(modelKeys.checkpoints(jobId))).map(refPrefix);
}

/**
 * Where to resume a job: the most advanced complete checkpoint, an epoch checkpoint or a mid-epoch
 * one (only those with a marker count; a partial older than the last epoch checkpoint is ignored).
 */
export async function findResumePoint(bucket: Bucket, jobId: string): Promise<ResumePoint | undefined> {
  for (const prefix of await resumePrefixes(bucket, jobId)) {
    const point = await readPoint(bucket, prefix);
    if (point) return point;
  }
  return undefined;
}

/**
 * The most advanced checkpoint that loads as its marker committed it, loaded; one whose files were
 * rewritten after its marker (a torn overwrite) is skipped for the next one.
 */
export async function loadResumePoint(
  bucket: Bucket,
  jobId: string,
  onSkip?: (prefix: string, reason: string) => void,
): Promise<(ResumePoint & { model: tfl.LayersModel }) | undefined> {
  for (const prefix of await resumePrefixes(bucket, jobId)) {
    const point = await readPoint(bucket, prefix);
    if (!point) continue;
    try {
      return { ...point, model: await loadModel(bucket, prefix, point.info) };
    } catch (err) {
      if (!(err instanceof TornCheckpointError)) throw err;
      onSkip?.(prefix, err.message);
    }
  }
  return undefined;
}

async function readPoint(bucket: Bucket, prefix: string): Promise<ResumePoint | undefined> {
  const info = await bucket.getJson<CheckpointInfo>(prefix + modelKeys.marker);
  if (!info) return undefined;
  const partial = parseCheckpointMarker(prefix + modelKeys.marker)?.kind === 'partial';
  if (partial && !info.position) return undefined;
  return partial ? { prefix, info, position: info.position } : { prefix, info };
}
