/**
 * Sweeps (POST /sweeps, `lenet sweep`): one request that becomes many ordinary jobs, a grid or a
 * list of variants over the job parameters. Pure functions: the request schema, its expansion to
 * concrete jobs (each checked like POST /jobs checks one), the ranking of the variants, and which
 * one `promote: 'best'` serves. The API (functions/api/sweeps-api.ts) and the trainer
 * (functions/trainer/lifecycle/sweep-promotion.ts) both decide from here.
 */
import { z } from 'zod';
import { type DatasetCounts, jobProblems } from './job-limits';
import { describeZodError, TrainingParams, type TrainingParamsInput } from './schemas';

/**
 * The most variants one sweep may have. A sweep turns one request (throttled like one POST /jobs)
 * into that many jobs, each up to the per-job compute cap, so this caps a request's work at 16
 * jobs' worth; it also bounds GET /sweeps/{id} at 2 reads per variant. 16 is a 2×2×2×2 grid, or 8
 * rounds of the service's default maxTasks (2).
 */
export const SWEEP_MAX_VARIANTS = 16;

export type ParamKey = keyof TrainingParams;
/** The job parameters in the schema's order: a grid's keys are expanded in this order. */
export const PARAM_KEYS = Object.keys(TrainingParams.shape) as ParamKey[];

/** A parameter's schema without its default, so a variant's choices stay what the caller sent. */
export function paramSchema(key: ParamKey): z.ZodType {
  const s = TrainingParams.shape[key] as z.ZodType;
  return s instanceof z.ZodDefault ? (s.unwrap() as z.ZodType) : s;
}

/** Some job parameters, unfilled (a variant's or the base's choices). */
export type ParamsPatch = Partial<TrainingParamsInput>;

const ParamsPatchSchema = z.strictObject(
  Object.fromEntries(PARAM_KEYS.map((k) => [k, paramSchema(k).optional()])) as Record<ParamKey, z.ZodOptional<z.ZodType>>,
) as unknown as z.ZodType<ParamsPatch>;

const GridSchema = z.strictObject(
  Object.fromEntries(PARAM_KEYS.map((k) => [k, z.array(paramSchema(k)).min(1, 'needs at least one value').optional()])) as Record<
    ParamKey,
    z.ZodOptional<z.ZodArray<z.ZodType>>
  >,
) as unknown as z.ZodType<Partial<Record<ParamKey, unknown[]>>>;

/** The body of POST /sweeps: exactly one of `grid` (every combination) and `variants` (a list). */
export const SweepRequest = z
  .strictObject({
    /** Values per parameter; the sweep is every combination (the last parameter, in schema order, varies fastest). */
    grid: GridSchema.optional(),
    /** The jobs, each as the parameters it changes. */
    variants: z.array(ParamsPatchSchema).min(1, 'needs at least one variant').optional(),
    /** Parameters every variant shares (a variant's or the grid's own value wins). */
    base: ParamsPatchSchema.optional(),
    /** 'best': once every variant has ended, serve the best one under the usual promotion rules. */
    promote: z.enum(['best', 'none']).default('none'),
  })
  .refine((r) => (r.grid === undefined) !== (r.variants === undefined), {
    message: 'give exactly one of "grid" (values per parameter) and "variants" (a list of parameter sets)',
  })
  .refine((r) => r.grid === undefined || Object.keys(r.grid).length > 0, {
    message: 'needs at least one parameter',
    path: ['grid'],
  });
export type SweepRequest = z.infer<typeof SweepRequest>;
export type SweepRequestInput = z.input<typeof SweepRequest>;

/** A sweep refused before anything is written: every reason, one line each. */
export class SweepRefusedError extends Error {
  constructor(readonly problems: string[]) {
    super(`Sweep refused: ${problems.join('; ')}.`);
    this.name = 'SweepRefusedError';
  }
}

/** The grid's parameters that are given, in schema order, with their values. */
function gridAxes(grid: Partial<Record<ParamKey, unknown[]>>): [ParamKey, unknown[]][] {
  return PARAM_KEYS.filter((k) => grid[k] !== undefined).map((k) => [k, grid[k]!]);
}

/** How many variants the request makes, from the list's length or the product of the grid's choices, without expanding it. */
export function sweepSize(request: Pick<SweepRequest, 'grid' | 'variants'>): { size: number; how: string } {
  if (request.variants) return { size: request.variants.length, how: `${request.variants.length} variants` };
  const axes = gridAxes(request.grid ?? {});
  const size = axes.reduce((n, [, values]) => n * values.length, 1);
  return { size, how: `${axes.map(([k, v]) => `${k} ${v.length}`).join(' × ')} = ${size} combinations` };
}

/** "learningRate=0.001, seed=2": a variant's own choices, for messages and tables. */
export function describePatch(patch: ParamsPatch): string {
  const entries = Object.entries(patch);
  return entries.length ? entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') : '(base only)';
}

export interface SweepVariant {
  /** 1-based, in expansion order. */
  index: number;
  /** The variant's own choices (the grid's values, or the list entry), without the base. */
  patch: ParamsPatch;
  /** The job's parameters: base, then the variant's choices, with the schema's defaults. */
  params: TrainingParams;
}

/**
 * The sweep's jobs, in a stable order: the list's, or the grid's combinations with the last
 * parameter (in schema order) varying fastest. The size cap is checked on the count first, so a
 * huge grid is refused without being expanded. Then every variant is checked as POST /jobs checks a
 * job (schema, feasibility, compute cap on the dataset's counts); any refusal refuses the whole
 * sweep, naming the variants. Two variants that would be the same job are refused too.
 */
export function expandSweep(
  request: SweepRequest,
  counts: DatasetCounts | ((datasetPrefix: string) => DatasetCounts),
  max = SWEEP_MAX_VARIANTS,
): SweepVariant[] {
  const { size, how } = sweepSize(request);
  if (size > max) {
    throw new SweepRefusedError([`the sweep has ${how}; the limit is ${max} variants per sweep: fewer values or several sweeps`]);
  }
  const patches: ParamsPatch[] = request.variants ?? cartesian(gridAxes(request.grid ?? {}));
  const problems: string[] = [];
  const variants: SweepVariant[] = [];
  const seen = new Map<string, number>();
  patches.forEach((patch, i) => {
    const index = i + 1;
    const name = `variant ${index} (${describePatch(patch)})`;
    const parsed = TrainingParams.safeParse({ ...request.base, ...patch });
    if (!parsed.success) {
      problems.push(`${name}: ${describeZodError(parsed.error)}`);
      return;
    }
    const refused = jobProblems(parsed.data, typeof counts === 'function' ? counts(parsed.data.datasetPrefix) : counts);
    if (refused.length) {
      problems.push(`${name}: ${refused.join('; ')}`);
      return;
    }
    const same = seen.get(canonical(parsed.data));
    if (same !== undefined) problems.push(`${name} is the same job as variant ${same}`);
    else seen.set(canonical(parsed.data), index);
    variants.push({ index, patch, params: parsed.data });
  });
  if (problems.length) throw new SweepRefusedError(problems);
  return variants;
}

/** The dataset prefixes the sweep's variants train on, each once, so the caller can count each dataset once (call after the size check). */
export function sweepDatasetPrefixes(request: SweepRequest): string[] {
  const fallback = request.base?.datasetPrefix ?? (TrainingParams.shape.datasetPrefix.parse(undefined) as string);
  const used = request.variants
    ? request.variants.map((v) => v.datasetPrefix ?? fallback)
    : ((request.grid?.datasetPrefix as string[] | undefined) ?? [fallback]);
  return [...new Set(used)];
}

/** Every combination of the axes' values, the last axis fastest. */
function cartesian(axes: [ParamKey, unknown[]][]): ParamsPatch[] {
  let out: ParamsPatch[] = [{}];
  for (const [key, values] of axes) out = out.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  return out;
}

const canonical = (p: TrainingParams) => JSON.stringify(PARAM_KEYS.map((k) => p[k]));

/**
 * What ranking and promotion read of a variant's job: the fields of its JobStatus (shared/documents.ts,
 * which imports this module's types, so they are restated here rather than imported).
 */
export interface RankInput {
  jobId: string;
  /** The job's state (JobState); undefined when its status document is missing. */
  status?: string;
  testAccuracy?: number;
  testLoss?: number;
  /** Whether testAccuracy was measured on the dataset's whole test set. */
  fullTestSet?: boolean;
  metrics?: Array<{ valAccuracy?: number }>;
}

/** The best validation accuracy of any finished epoch so far. */
export function bestValAccuracy(job: Pick<RankInput, 'metrics'>): number | undefined {
  const values = (job.metrics ?? []).map((m) => m.valAccuracy).filter((v): v is number => v !== undefined);
  return values.length ? Math.max(...values) : undefined;
}

/** A job that will not change any more: anything but queued or running (FAILED, SUCCEEDED, and any later end state). */
export const isTerminal = (status: RankInput['status']) => status !== undefined && status !== 'QUEUED' && status !== 'RUNNING';

const scored = (j: RankInput) => j.status === 'SUCCEEDED' && j.testAccuracy !== undefined;

/** Higher accuracy first; at equal accuracy the lower loss (a missing loss counts as the worst). */
const byTest = (a: RankInput, b: RankInput) =>
  b.testAccuracy! - a.testAccuracy! || (a.testLoss ?? Number.POSITIVE_INFINITY) - (b.testLoss ?? Number.POSITIVE_INFINITY);

/**
 * The variants best first: finished and scored ones by test accuracy (ties: lower test loss), then
 * the rest by their best validation accuracy so far (none last). Stable: equal ones keep their order.
 */
export function rankVariants<T extends RankInput>(jobs: readonly T[]): T[] {
  const done = jobs.filter(scored).sort(byTest);
  const rest = jobs
    .filter((j) => !scored(j))
    .map((j) => ({ j, v: bestValAccuracy(j) ?? Number.NEGATIVE_INFINITY }))
    .sort((a, b) => b.v - a.v)
    .map(({ j }) => j);
  return [...done, ...rest];
}

export type SweepWinner =
  | { ready: false; pending: string[] }
  | { ready: true; winner: string; testAccuracy: number; testLoss?: number }
  | { ready: true; winner?: undefined; reason: string };

/**
 * Which variant `promote: 'best'` serves, once every variant has ended: the SUCCEEDED one scored on
 * the whole test set with the best test accuracy (ties: lower test loss). Models scored on a
 * testSubset never compete, as in shared/promotion.ts. The promotion itself still goes through
 * promoteIfBetter (threshold, the served model).
 */
export function sweepWinner(jobs: readonly RankInput[]): SweepWinner {
  const pending = jobs.filter((j) => !isTerminal(j.status)).map((j) => j.jobId);
  if (pending.length) return { ready: false, pending };
  const [best] = jobs.filter((j) => scored(j) && j.fullTestSet === true).sort(byTest);
  if (!best) {
    const succeeded = jobs.filter((j) => j.status === 'SUCCEEDED').length;
    return {
      ready: true,
      reason: succeeded
        ? `none of the ${succeeded} succeeded variants was scored on the dataset's whole test set (testSubset); such models are never promoted`
        : 'no variant succeeded',
    };
  }
  return { ready: true, winner: best.jobId, testAccuracy: best.testAccuracy!, testLoss: best.testLoss };
}
