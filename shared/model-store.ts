import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Bucket } from './s3-objects';
import type { EpochMetrics, LatestModel } from './schemas';

/** Where models live in the bucket. A checkpoint counts only once its marker exists. */
export const modelKeys = {
  job: (jobId: string) => `models/${jobId}/`,
  epoch: (jobId: string, epoch: number) => `models/${jobId}/epoch-${String(epoch).padStart(4, '0')}/`,
  final: (jobId: string) => `models/${jobId}/final/`,
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
