/**
 * `lenet sweep`: a grid over the job parameters (a comma-separated list on any parameter's option
 * varies it; a single value is shared by every variant), and `lenet sweep status <id>` with each
 * variant's status, epoch, accuracy and rank. The options come from the job schema, as `submit`'s.
 */
import { type Command, Option } from 'commander';
import { z } from 'zod';
import type { SweepVariantView, SweepView } from '../functions/api/sweeps-api';
import { describeZodError, TrainingParams } from '../shared/schemas';
import { describePatch, PARAM_KEYS, type ParamKey, SWEEP_MAX_VARIANTS, SweepRequest, type SweepRequestInput } from '../shared/sweep';
import type { ApiClient } from './api-client';
import { UsageError } from './exit-codes';

/** `learningRate` → `learning-rate`; commander maps the option back to the camel-case key. */
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The parameter's schema without default and optional wrappers. */
function inner(key: ParamKey): z.ZodType {
  let s = TrainingParams.shape[key] as z.ZodType;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}

/** One value of a comma list as the schema's type (range checks are the schema's, in sweepRequestFrom). */
function parseValue(key: ParamKey, text: string): unknown {
  const s = inner(key);
  const number = () => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${kebab(key)}: "${text}" is not a number.`);
    return n;
  };
  if (s instanceof z.ZodNumber) return number();
  if (s instanceof z.ZodBoolean) {
    if (text !== 'true' && text !== 'false') throw new UsageError(`--${kebab(key)}: "${text}" is neither true nor false.`);
    return text === 'true';
  }
  // threads: 'auto' or a number.
  if (s instanceof z.ZodUnion) return text === 'auto' ? text : number();
  return text;
}

const DEFAULTS = TrainingParams.parse({});

function describeOption(key: ParamKey): string {
  const s = inner(key);
  const choices = s instanceof z.ZodEnum ? ` (${(s.options as string[]).join(', ')})` : s instanceof z.ZodBoolean ? ' (true, false)' : '';
  const d = DEFAULTS[key];
  return `${key}: a value, or comma-separated values to vary${choices}${d === undefined ? '' : ` (default ${d})`}`;
}

/**
 * The POST /sweeps body from the options: parameters given a list make the grid, single values the
 * base. Checked against the request schema here, so a mistake is a usage error before any request.
 */
export function sweepRequestFrom(values: Partial<Record<ParamKey, string>>, promote?: string): SweepRequestInput {
  const grid: Record<string, unknown[]> = {};
  const base: Record<string, unknown> = {};
  for (const key of PARAM_KEYS) {
    const text = values[key];
    if (text === undefined) continue;
    const list = text.split(',').map((v) => parseValue(key, v.trim()));
    if (list.length > 1) grid[key] = list;
    else base[key] = list[0];
  }
  if (Object.keys(grid).length === 0) {
    throw new UsageError('A sweep varies at least one parameter: give an option comma-separated values, e.g. --seed 1,2,3.');
  }
  const request = { grid, ...(Object.keys(base).length ? { base } : {}), ...(promote ? { promote } : {}) };
  const parsed = SweepRequest.safeParse(request);
  if (!parsed.success) throw new UsageError(`Invalid sweep: ${describeZodError(parsed.error)}.`);
  return request as SweepRequestInput;
}

const fmt = (x: number | undefined, digits = 4) => (x === undefined ? '' : x.toFixed(digits));

/** "2/3", or "2/3 b40/57" while an epoch runs. */
function epochOf(v: SweepVariantView): string {
  const p = v.progress;
  return `${v.epoch}/${v.totalEpochs ?? '?'}${p ? ` b${p.batch}/${p.batches}` : ''}`;
}

/** The sweep as a table, best first. */
export function sweepTable(sweep: SweepView) {
  return [...sweep.variants]
    .sort((a, b) => a.rank - b.rank)
    .map((v) => ({
      rank: v.rank,
      job: v.jobId,
      status: v.status,
      epoch: epochOf(v),
      best_val_acc: fmt(v.bestValAccuracy),
      test_acc: fmt(v.testAccuracy),
      test_loss: fmt(v.testLoss),
      trainer: v.trainer ?? '',
      params: describePatch(v.params),
    }));
}

/** One line: how many variants are where, and the promotion's outcome when there is one. */
export function sweepLine(sweep: SweepView): string {
  const counts = new Map<string, number>();
  for (const v of sweep.variants) counts.set(v.status, (counts.get(v.status) ?? 0) + 1);
  const states = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  const leader = sweep.variants.find((v) => v.rank === 1);
  const lead = leader?.testAccuracy !== undefined ? `; best ${leader.jobId} ${fmt(leader.testAccuracy)}` : '';
  return `sweep ${sweep.sweepId}: ${states}${lead}${cancelLine(sweep)}${promotionLine(sweep)}`;
}

function cancelLine(sweep: SweepView): string {
  const c = sweep.cancel;
  if (!c) return '';
  return `; cancelled by ${c.requestedBy} at ${c.requestedAt}${sweep.promote === 'best' && !sweep.promotion?.outcome ? ', nothing promoted' : ''}`;
}

function promotionLine(sweep: SweepView): string {
  if (sweep.promote !== 'best' || !sweep.done) return '';
  // A cancelled sweep is never settled: no outcome will come (cancelLine says so).
  if (sweep.cancel && !sweep.promotion?.outcome) return '';
  const outcome = sweep.promotion?.outcome;
  if (!outcome) return '; promotion pending';
  return outcome.promoted ? `; promoted ${outcome.winner}` : `; not promoted: ${outcome.reason}`;
}

/** How long --watch waits for the trainer's promotion after the last variant ended. */
const PROMOTION_WAIT_MS = 60_000;

/** Polls the sweep until every variant has ended (and, with promote best, the promotion is recorded). */
export async function watchSweep(api: ApiClient, sweepId: string, intervalMs = 2000): Promise<SweepView> {
  let last = '';
  let doneAt: number | undefined;
  for (;;) {
    const sweep = await api.sweepStatus(sweepId);
    const line = sweepLine(sweep);
    if (line !== last) process.stderr.write(`${line}\n`);
    last = line;
    if (sweep.done) {
      doneAt ??= Date.now();
      if (sweep.promote !== 'best' || sweep.cancel || sweep.promotion?.outcome || Date.now() - doneAt > PROMOTION_WAIT_MS) return sweep;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function registerSweep(program: Command, client: () => Promise<ApiClient>): void {
  const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
  /** The sweep as a table (or JSON); a watched sweep with a FAILED variant exits 1. */
  const report = (sweep: SweepView, json: boolean | undefined, watched: boolean) => {
    if (json) print(sweep);
    else {
      console.log(sweepLine(sweep));
      console.table(sweepTable(sweep));
    }
    const failed = sweep.variants.filter((v) => v.status === 'FAILED');
    if (watched && failed.length) throw new Error(`${failed.length} of the sweep's jobs failed: ${failed.map((v) => v.jobId).join(', ')}`);
  };

  const sweep = program
    .command('sweep')
    .description(`train one job per combination of the values given (at most ${SWEEP_MAX_VARIANTS}); "sweep status <id>" shows one`)
    .addOption(
      new Option('--promote <what>', 'best: once all have ended, serve the best (whole test set, promotion rules)').choices([
        'best',
        'none',
      ]),
    )
    .option('--watch', 'follow the sweep until every job has ended')
    .option('--json', 'print the sweep as JSON (with --watch: when it ends; progress goes to stderr)');
  for (const key of PARAM_KEYS) sweep.option(`--${kebab(key)} <values>`, describeOption(key));
  sweep.action(async (opts) => {
    const { promote, watch, json, ...values } = opts as Record<string, string> & { watch?: boolean; json?: boolean };
    const request = sweepRequestFrom(values as Partial<Record<ParamKey, string>>, promote);
    const api = await client();
    const submitted = await api.sweep(request);
    if (!watch) return report(submitted, json, false);
    if (!json) console.error(`submitted sweep ${submitted.sweepId}: ${submitted.variants.length} jobs`);
    report(await watchSweep(api, submitted.sweepId), json, true);
  });

  sweep
    .command('status <sweepId>')
    .description("a sweep's jobs, best first: status, epoch, best validation accuracy, test accuracy and loss")
    .option('--watch', 'follow the sweep until every job has ended')
    .option('--json', 'print the sweep as JSON')
    .action(async (sweepId: string, _opts, cmd: Command) => {
      // --watch and --json are also the parent's options, which commander fills first: read both.
      const opts = cmd.optsWithGlobals() as { watch?: boolean; json?: boolean };
      const api = await client();
      report(opts.watch ? await watchSweep(api, sweepId) : await api.sweepStatus(sweepId), opts.json, Boolean(opts.watch));
    });

  sweep
    .command('cancel <sweepId>')
    .description(
      "cancel a sweep's jobs that have not finished (queued ones at once, running ones at their next batch); nothing is promoted after",
    )
    .option('--json', 'print the sweep as JSON')
    .action(async (sweepId: string, _opts, cmd: Command) => {
      const opts = cmd.optsWithGlobals() as { json?: boolean };
      const cancelled = await (await client()).sweepCancel(sweepId);
      if (opts.json) return print(cancelled);
      const stopping = cancelled.variants.filter((v) => v.status === 'RUNNING').length;
      console.log(sweepLine(cancelled));
      console.table(sweepTable(cancelled));
      if (stopping) console.log(`${stopping} running job(s) stop at their next batch: lenet sweep status ${sweepId} --watch`);
    });
}
