/**
 * `lenet export <jobId> --format tfjs|onnx --out DIR`: downloads a finished job's model through
 * GET /models/{id}/download (presigned S3 URLs), as the stored tfjs LayersModel or converted here
 * to ONNX (cli/onnx.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { ModelDownload } from '../functions/api/jobs-api';
import { type ApiClient, ApiError } from './api-client';

export const EXPORT_FORMATS = ['tfjs', 'onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const ONNX_FILE = 'lenet5.onnx';

/** The presigned URLs of a finished job's model files. */
export function downloadUrls(api: ApiClient, jobId: string): Promise<ModelDownload> {
  return api.call('GET', `models/${encodeURIComponent(jobId)}/download`);
}

async function fetchFile(url: string, file: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  } catch (err) {
    throw new ApiError(0, `Cannot download ${file} (${(err as Error).cause ?? (err as Error).message}).`);
  }
  // S3 answers in XML: the status and its first words are enough to tell an expired URL.
  if (!res.ok) throw new ApiError(res.status, `Downloading ${file} failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The ONNX bytes of a tfjs model given as its two files. Loads tfjs only when called. */
export async function tfjsFilesToOnnx(modelJson: Uint8Array, weights: Uint8Array, description?: string): Promise<Uint8Array> {
  const tf = await import('@tensorflow/tfjs-core');
  const tfl = await import('@tensorflow/tfjs-layers');
  await import('@tensorflow/tfjs-backend-cpu');
  const { layersModelToOnnx } = await import('./onnx');
  // Keeps a backend already chosen (a test's); else the CPU one, which is enough to read weights.
  await tf.ready();
  const json = JSON.parse(Buffer.from(modelJson).toString('utf8')) as import('@tensorflow/tfjs-core').io.ModelJSON;
  const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => [manifest.flatMap((g) => g.weights), buffer]);
  const model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    return layersModelToOnnx(model, { description });
  } finally {
    model.dispose();
  }
}

/** Writes the model of `jobId` into `out` and returns the paths written. */
export async function exportModel(api: ApiClient, jobId: string, opts: { format: ExportFormat; out: string }): Promise<string[]> {
  const { files } = await downloadUrls(api, jobId);
  const [modelJson, weights] = await Promise.all([
    fetchFile(files['model.json'], 'model.json'),
    fetchFile(files['weights.bin'], 'weights.bin'),
  ]);
  await mkdir(opts.out, { recursive: true });
  if (opts.format === 'tfjs') {
    const paths = [join(opts.out, 'model.json'), join(opts.out, 'weights.bin')];
    await writeFile(paths[0], modelJson);
    await writeFile(paths[1], weights);
    return paths;
  }
  const description = `LeNet-5 of job ${jobId}: input "pixels" float32 [N,1,28,28], raw pixels 0..1; output "probabilities" [N,10].`;
  const path = join(opts.out, ONNX_FILE);
  await writeFile(path, await tfjsFilesToOnnx(modelJson, weights, description));
  return [path];
}

/** Adds `export` to the CLI; `client` makes the signed API client. */
export function registerExport(program: Command, client: () => Promise<ApiClient>): Command {
  return program
    .command('export <jobId>')
    .description("download a finished job's model: tfjs (model.json, weights.bin) or onnx (lenet5.onnx, converted here)")
    .addOption(new Option('--format <format>', 'file format').choices(EXPORT_FORMATS).default('tfjs'))
    .requiredOption('--out <dir>', 'folder to write into (created if missing)')
    .option('--json', 'print {jobId, format, files} as JSON')
    .action(async (jobId: string, opts: { format: ExportFormat; out: string; json?: boolean }) => {
      const files = await exportModel(await client(), jobId, opts);
      if (opts.json) console.log(JSON.stringify({ jobId, format: opts.format, files }, null, 2));
      else for (const f of files) console.log(`wrote ${f}`);
    });
}
