/**
 * Checkpoints as files (model.json + weights.bin, the layout the trainer writes to S3), for
 * test/integration/backend-checkpoints.test.ts and its tfjs-node side, test/helpers/tfjs-node-train.ts.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export async function saveCheckpointFiles(model: tfl.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      await writeFile(path.join(dir, 'weights.bin'), new Uint8Array(weights));
      await writeFile(path.join(dir, 'model.json'), JSON.stringify({ ...artifacts, weightData: undefined }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
}

/** Loads a checkpoint with its optimizer state (as the trainer's resume does) onto the active backend. */
export async function loadCheckpointFiles(dir: string): Promise<tfl.LayersModel> {
  const artifacts = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelArtifacts;
  const bytes = await readFile(path.join(dir, 'weights.bin'));
  artifacts.weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts));
}
