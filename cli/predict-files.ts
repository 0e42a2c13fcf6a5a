/**
 * `lenet predict FILES`: each file as one instance of POST /predict's batch body, sent 16 at a time
 * (the route's limit of images per request).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { ApiClient } from './api-client';
import { ApiError } from './api-client';
import { UsageError } from './exit-codes';

/** Images per request: POST /predict takes at most 16 images in one batch. */
export const FILES_PER_REQUEST = 16;

export interface FilePrediction {
  file: string;
  digit: number;
  probabilities: number[];
  model: { jobId: string; epoch: number };
}

/** One file as a batch instance: a PNG or JPEG as base64, a JSON file as its {"pixels"} or {"image"} object. */
export async function instanceFor(file: string): Promise<Record<string, unknown>> {
  const bytes = await readFile(file).catch((err) => {
    throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`);
  });
  const ext = extname(file).toLowerCase();
  if (ext === '.png' || ext === '.jpg' || ext === '.jpeg') return { image: bytes.toString('base64') };
  if (ext !== '.json') throw new UsageError(`${file}: unsupported file type "${ext}"; use .png, .jpg, .jpeg or .json.`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json) || !('pixels' in json || 'image' in json)) {
    throw new UsageError(`${file}: a JSON file must be an object with "pixels" (784 numbers, or 28 rows of 28) or "image" (base64).`);
  }
  return json as Record<string, unknown>;
}

type Batch = { predictions: { digit: number; probabilities: number[] }[]; model: { jobId: string; epoch: number } };

/**
 * Predicts every file, FILES_PER_REQUEST per request. A batch refused as too large (413: its images'
 * pixels together pass the per-request limit) is sent again one file per request.
 */
export async function predictFiles(client: () => Promise<ApiClient>, files: string[]): Promise<FilePrediction[]> {
  // Every file is read and checked before the first request.
  const instances = await Promise.all(files.map(instanceFor));
  const api = await client();
  const out: FilePrediction[] = [];
  for (let from = 0; from < files.length; from += FILES_PER_REQUEST) {
    const group = files.slice(from, from + FILES_PER_REQUEST).map((file, i) => ({ file, instance: instances[from + i] }));
    let answers: { file: string; batch: Batch; index: number }[];
    try {
      const batch = await api.predict<Batch>({ instances: group.map((g) => g.instance) });
      answers = group.map((g, index) => ({ file: g.file, batch, index }));
    } catch (err) {
      // The API names a bad instance by its index in the batch: name the file instead.
      const bad = err instanceof ApiError && err.status === 400 ? /^Instance (\d+): (.*)$/s.exec(err.message) : null;
      if (bad && group[Number(bad[1])]) throw new ApiError(400, `${group[Number(bad[1])].file}: ${bad[2]}`, (err as ApiError).details);
      if (!(err instanceof ApiError && err.status === 413) || group.length === 1) throw err;
      answers = [];
      for (const g of group) answers.push({ file: g.file, batch: await api.predict<Batch>({ instances: [g.instance] }), index: 0 });
    }
    for (const { file, batch, index } of answers) out.push({ file, ...batch.predictions[index], model: batch.model });
  }
  return out;
}
