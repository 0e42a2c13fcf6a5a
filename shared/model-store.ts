import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { modelKeys, parseCheckpointMarker } from './bucket-layout';
import type { InputNormalization } from './input-normalization';
import type { Bucket } from './s3-objects';
import type { EpochMetrics } from './schemas';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** Metadata written into every checkpoint's marker. */
export interface CheckpointInfo {
  jobId: string;
  epoch: number;
  backend: string;
  /** The training step's route (functions/trainer/stepper.ts), when known. */
  route?: string;
  metrics?: EpochMetrics;
  /** Every complete epoch's metrics up to this checkpoint: a resume restores them even when the job record missed the last update. */
  history?: EpochMetrics[];
  testAccuracy?: number;
  testLoss?: number;
  /** Test images testAccuracy was measured on. */
  testImages?: number;
  /** True only when those were all of the dataset's test images; nothing else is ever served. */
  fullTestSet?: boolean;
  createdAt: string;
  /** Set when the weights expect standardised pixels (a checkpoint of a normalizeInputs job; never a final model). */
  inputNormalization?: InputNormalization;
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
          manifest
            .flatMap((group) => group.paths)
            .map(async (path) => {
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

/**
 * Where to resume a job: the most advanced complete checkpoint, an epoch checkpoint or a mid-epoch
 * one (only those with a marker count; a partial older than the last epoch checkpoint is ignored).
 */
export async function findResumePoint(
  bucket: Bucket,
  jobId: string,
): Promise<{ prefix: string; info: CheckpointInfo; position?: TrainPosition } | undefined> {
  const refs = (await bucket.listKeys(modelKeys.checkpoints(jobId))).map(parseCheckpointMarker);
  const epochs = refs.flatMap((r) => (r?.kind === 'epoch' ? [r.epoch] : []));
  const lastEpoch = epochs.length ? Math.max(...epochs) : 0;
  const partials = refs
    .flatMap((r) => (r?.kind === 'partial' ? [r] : []))
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
