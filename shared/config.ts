import { z } from 'zod';

/** Unset and empty both mean "use the default". */
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);

const number = (opts: { min?: number; max?: number }) =>
  z.coerce
    .number({ error: 'must be a number' })
    .min(opts.min ?? 0)
    .max(opts.max ?? Number.MAX_SAFE_INTEGER);

/** A number from the environment ("30", "0.5"), at least 0 unless `min` says otherwise, or `fallback` when unset. */
export const envNumber = (fallback: number, opts: { min?: number; max?: number } = {}) =>
  z.preprocess(unsetIfEmpty, number(opts).default(fallback));
/** A number from the environment, or undefined when unset. */
export const optionalEnvNumber = (opts: { min?: number; max?: number } = {}) => z.preprocess(unsetIfEmpty, number(opts).optional());

export const envString = () => z.preprocess(unsetIfEmpty, z.string().min(1));
export const optionalEnvString = () => z.preprocess(unsetIfEmpty, z.string().min(1).optional());

/**
 * Reads a deployable's configuration from the environment once, or throws one error naming every
 * bad or missing variable.
 */
export function readConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const picked = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k]]));
  const out = schema.safeParse(picked);
  if (out.success) return out.data;
  const problems = out.error.issues.map((i) => {
    const name = String(i.path[0]);
    const raw = env[name];
    return raw === undefined || raw === '' ? `${name} is not set` : `${name}="${raw}": ${i.message}`;
  });
  throw new Error(`Bad environment: ${problems.join('; ')}.`);
}
