/**
 * The start-up check that a missing key reads as 404. S3 answers a GET of a missing key with 403 when
 * the caller may not list the bucket, and every role reads keys that may be missing; infra/access.ts
 * grants ListBucket per read prefix (statement "List"). If that grant ever fails to apply (S3 not
 * evaluating s3:prefix as assumed, a policy edited by hand), this says so once, at start, by name.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PREFIXES } from './bucket-layout';

/** The prefixes each runtime reads (the `get` patterns of infra/access.ts; a unit test keeps them equal). */
export const READ_PREFIXES = {
  predict: [PREFIXES.models],
  trainer: [PREFIXES.datasets, PREFIXES.jobs, PREFIXES.checkpoints, PREFIXES.models, PREFIXES.sweeps],
} as const;

/** Never written by anything: its GET must be a 404. */
export const PROBE_KEY = '.missing-key-probe';

export interface ProbeResult {
  prefix: string;
  /** HTTP status of the GET: 404 expected, 403 when listing is not allowed. */
  status: number;
}

/** The one error to log, or undefined when every probe got its 404 (or anything but a 403). */
export function accessProbeMessage(role: keyof typeof READ_PREFIXES, results: ProbeResult[]): string | undefined {
  const denied = results.filter((r) => r.status === 403).map((r) => r.prefix);
  if (!denied.length) return undefined;
  return (
    `S3 answered 403, not 404, for a missing key under ${denied.join(', ')}: the ${role} role may not list ` +
    `${denied.length > 1 ? 'these prefixes' : 'this prefix'}, so every read of a key that does not exist yet ` +
    `will fail as AccessDenied. Widen the "List" statement of the ${role} role (infra/access.ts, s3:ListBucket ` +
    `with s3:prefix ${denied.map((p) => `${p}*`).join(', ')}) and redeploy.`
  );
}

/** GETs PROBE_KEY under each prefix; a network error counts as no answer and is left out. */
export async function probeMissingKeys(s3: S3Client, bucket: string, prefixes: readonly string[]): Promise<ProbeResult[]> {
  const results = await Promise.all(
    prefixes.map(async (prefix) => {
      try {
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + PROBE_KEY }));
        return { prefix, status: 200 };
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        return status ? { prefix, status } : undefined;
      }
    }),
  );
  return results.filter((r): r is ProbeResult => r !== undefined);
}

/** Probes and logs the one error, if any. Never throws: it only informs. */
export async function checkMissingKeyReads(
  s3: S3Client,
  bucket: string,
  role: keyof typeof READ_PREFIXES,
  log: (message: string, extra: Record<string, unknown>) => void,
): Promise<void> {
  try {
    const message = accessProbeMessage(role, await probeMissingKeys(s3, bucket, READ_PREFIXES[role]));
    if (message) log(message, { statement: 'List', role });
  } catch {
    // Informational only.
  }
}
