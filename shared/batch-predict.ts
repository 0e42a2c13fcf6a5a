/**
 * Batch prediction over S3 (POST /batch-predictions, `lenet batch-predict`), in one place: the
 * request, the queue message, what counts as an image, where results go, and the session policy
 * that limits a batch job to reading its input prefix and writing its output prefix.
 */
import { z } from 'zod';
import { PREFIXES } from './bucket-layout';
import { JobId } from './schemas';

/** Object names a batch reads: PNG and JPEG files, and `.json` files of the /predict forms `{"pixels": …}` or `{"image": …}`. */
export const BATCH_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.json'] as const;
export const isBatchInputKey = (key: string) => BATCH_EXTENSIONS.some((ext) => key.toLowerCase().endsWith(ext));

/** Most objects one batch may read: the bound on one job's work, like the compute cap on training jobs. */
export const MAX_BATCH_OBJECTS = 50_000;

/** Objects per chunk: a chunk's results are written as one part, the batch's checkpoint. */
export const BATCH_CHUNK = 250;

/** An S3 bucket and a key prefix ending in '/'. */
export const S3Location = z.strictObject({ bucket: z.string(), prefix: z.string() });
export type S3Location = z.infer<typeof S3Location>;

const S3_PREFIX_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/([A-Za-z0-9!_.*'()/-]+\/)$/;

/** `s3://bucket/some/prefix/` → {bucket, prefix}. */
export const S3PrefixUri = z
  .string()
  .regex(S3_PREFIX_URI, 'must be an S3 prefix like s3://bucket/batch/in/ (ending in "/", no spaces)')
  .refine(
    (uri) => !uri.slice(5).includes('//') && !uri.includes('/../') && !uri.includes('/./'),
    'must not contain "//", "." or ".." parts',
  )
  .transform((uri): S3Location => {
    const [, bucket, prefix] = uri.match(S3_PREFIX_URI)!;
    return { bucket, prefix };
  });

export const s3Uri = (l: S3Location) => `s3://${l.bucket}/${l.prefix}`;

export const BatchPredictRequest = z.strictObject({
  input: S3PrefixUri,
  output: S3PrefixUri,
  /** The finished job whose model predicts; default: the model served when the batch is submitted. */
  modelJobId: JobId.optional(),
});
export type BatchPredictRequest = z.infer<typeof BatchPredictRequest>;

/** The queue message of a batch job: the model is fixed at submit, so the whole batch uses one. */
export const BatchPredictMessage = z.strictObject({
  kind: z.literal('batch-predict'),
  jobId: JobId,
  input: S3Location,
  output: S3Location,
  modelJobId: JobId,
  submittedAt: z.string().optional(),
});
export type BatchPredictMessage = z.infer<typeof BatchPredictMessage>;

/** What a batch writes under its output prefix. */
export const batchOutputKeys = (output: S3Location) => ({
  predictions: `${output.prefix}predictions.jsonl`,
  summary: `${output.prefix}summary.json`,
});

/** One line of predictions.jsonl: a digit, or why the object could not be read. */
export type BatchLine = { key: string; digit: number; probabilities: number[] } | { key: string; error: string };

/** summary.json, and the `batch` field of the job's status document once it has finished. */
export interface BatchSummary {
  input: string;
  output: string;
  modelJobId: string;
  /** Objects read (images and .json files under the input prefix). */
  objects: number;
  predicted: number;
  errors: number;
  /** How many objects were predicted as each digit, 0 to 9. */
  digits: number[];
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Where a batch may read and write: both prefixes inside the stack bucket's batch area, and neither
 * inside the other (a batch must never read its own results). Returns the problem, or undefined.
 */
export function batchLocationProblem(input: S3Location, output: S3Location, bucket: string): string | undefined {
  for (const [name, l] of [
    ['input', input],
    ['output', output],
  ] as const) {
    if (l.bucket !== bucket || !l.prefix.startsWith(PREFIXES.batch) || l.prefix === PREFIXES.batch) {
      return `${name} must be a prefix under s3://${bucket}/${PREFIXES.batch} (the stack's batch area), such as s3://${bucket}/${PREFIXES.batch}${name === 'input' ? 'in' : 'out'}/; got ${s3Uri(l)}`;
    }
  }
  if (input.prefix.startsWith(output.prefix) || output.prefix.startsWith(input.prefix)) {
    return `input ${s3Uri(input)} and output ${s3Uri(output)} overlap; use two separate prefixes`;
  }
  return undefined;
}

/**
 * The session policy a batch job's credentials carry (STS AssumeRole `Policy`): the batch role's own
 * policy allows the whole batch area, and this narrows one job's session to listing and reading its
 * input prefix and writing its output prefix. `partition` comes from the role's ARN.
 */
export function batchSessionPolicy(input: S3Location, output: S3Location, partition = 'aws'): string {
  const arn = (bucket: string, key = '') => `arn:${partition}:s3:::${bucket}${key}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'ReadInput', Effect: 'Allow', Action: 's3:GetObject', Resource: arn(input.bucket, `/${input.prefix}*`) },
      {
        Sid: 'ListInput',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: arn(input.bucket),
        Condition: { StringLike: { 's3:prefix': `${input.prefix}*` } },
      },
      { Sid: 'WriteOutput', Effect: 'Allow', Action: 's3:PutObject', Resource: arn(output.bucket, `/${output.prefix}*`) },
    ],
  });
}
