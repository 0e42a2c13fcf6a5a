import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Bucket } from './s3-objects';
import type { EpochMetrics, LatestModel } from './schemas';

/** Where models live in the bucket. A checkpoint counts only once its marker exists. */
export const modelKeys = {
  job: (jobId: string) => `models/${jobId}/`,
  epoch: (jobId: string, epoch: number) => `models/${jobId}/epoch-${String(epoch).padStart(4, '0')}/`,
  final: (jobId: string) => `models/${jobId}/final/`,
  /**
   * A mid-epoch checkpoint written when a worker is asked to stop (SIGTERM): `epoch` epochs done
   * plus `batch` batches of the next. Each gets its own prefix, so none is ever overwritten in place.
   */
  partial: (jobId: string, epoch: number, batch: number) =>
    `models/${jobId}/partial-e${String(epoch).padStart(4, '0')}-b${String(batch).padStart(6, '0')}/`,
  latest: 'models/latest.json',
  /** Written last: its presence means every other object of the checkpoint is complete. */
  marker: 'checkpoint.json',
};

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** Metadata written into every checkpoint's marker. */
export interface CheckpointInfo {
  jobId: string;
  epoch: number;
  backend: string;
  metrics?: EpochMetrics;
  testAccuracy?: number;
  testLoss?: number;
  createdAt: string;
  /** For a mid-epoch checkpoint: where in the epoch it was taken, with the epoch's running sums. */
  position?: TrainPosition;
}

/** A point inside training: `epoch` epochs complete and `batch` batches of the next one done. */
export interface TrainPosition {
  epoch: number;
  batch: number;
  /** The running sums of the partly done epoch, so its metrics come out as if it had not stopped. */
  lossSum: number;
  correct: number;
}

/** A tfjs IOHandler that saves and loads a model straight to and from S3, with no temp files. */
export function s3ModelHandler(bucket: Bucket, prefix: string): tf.io.IOHandler {
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
      await bucket.putBytes(prefix + WEIGHTS_BIN, new Uint8Array(weights));
      await bucket.putJson(prefix + MODEL_JSON, modelJson);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const modelJson = await bucket.getJson<tf.io.ModelJSON>(prefix + MODEL_JSON);
      if (!modelJson) throw new Error(`No model at s3://${bucket.name}/${prefix}${MODEL_JSON}.`);
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const parts = await Promise.all(
          manifest.flatMap((group) => group.paths).map(async (path) => {
            const bytes = await bucket.getBytes(prefix + path);
            if (!bytes) throw new Error(`Weights missing at s3://${bucket.name}/${prefix}${path}.`);
            return bytes;
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
 * resumes exactly where it stopped.
 */
export async function saveCheckpoint(
  bucket: Bucket,
  prefix: string,
  model: tfl.LayersModel,
  { includeOptimizer = true, ...info }: CheckpointInfo & { includeOptimizer?: boolean },
) {
  await model.save(s3ModelHandler(bucket, prefix), { includeOptimizer });
  await bucket.putJson(prefix + modelKeys.marker, info);
}

export async function loadModel(bucket: Bucket, prefix: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(s3ModelHandler(bucket, prefix));
}

/** The last checkpoint of a job whose marker was written, or undefined if there is none. */
export async function findLastCheckpoint(bucket: Bucket, jobId: string): Promise<CheckpointInfo | undefined> {
  const keys = await bucket.listKeys(modelKeys.job(jobId));
  const epochs = keys
    .map((key) => key.match(/\/epoch-(\d{4,})\/checkpoint\.json$/)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  if (epochs.length === 0) return undefined;
  return bucket.getJson<CheckpointInfo>(modelKeys.epoch(jobId, Math.max(...epochs)) + modelKeys.marker);
}

export async function readLatestPointer(bucket: Bucket): Promise<LatestModel | undefined> {
  return bucket.getJson<LatestModel>(modelKeys.latest);
}

/**
 * Where to resume a job: the most advanced complete checkpoint, an epoch checkpoint or a mid-epoch
 * one (only those with a marker count; a partial older than the last epoch checkpoint is ignored).
 */
export async function findResumePoint(
  bucket: Bucket,
  jobId: string,
): Promise<{ prefix: string; info: CheckpointInfo; position?: TrainPosition } | undefined> {
  const keys = await bucket.listKeys(modelKeys.job(jobId));
  const epochs = keys
    .map((key) => key.match(/\/epoch-(\d{4,})\/checkpoint\.json$/)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  const lastEpoch = epochs.length ? Math.max(...epochs) : 0;
  const partials = keys
    .map((key) => key.match(/\/partial-e(\d{4,})-b(\d{6,})\/checkpoint\.json$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ epoch: Number(m[1]), batch: Number(m[2]) }))
    .filter((p) => p.epoch >= lastEpoch && p.batch > 0)
    .sort((a, b) => b.epoch - a.epoch || b.batch - a.batch);
  if (partials.length) {
    const prefix = modelKeys.partial(jobId, partials[0].epoch, partials[0].batch);
    const info = await bucket.getJson<CheckpointInfo>(prefix + modelKeys.marker);
    if (info?.position) return { prefix, info, position: info.position };
  }
  if (!epochs.length) return undefined;
  const prefix = modelKeys.epoch(jobId, lastEpoch);
  const info = await bucket.getJson<CheckpointInfo>(prefix + modelKeys.marker);
  return info && { prefix, info };
}
