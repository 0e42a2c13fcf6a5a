/**
 * `npm run bench:omp`: how OpenMP's waiting (libgomp's OMP_WAIT_POLICY and GOMP_SPINCOUNT, read
 * once at process start) changes the native route's images/s at 1 and 2 threads and 'auto'.
 * Each setting runs `npm run bench`'s native routes in a child process with that environment; the
 * settings alternate, round by round, in a rotated order. Prints JSON: per-round figures, medians
 * and each setting's median ratio to the default (libgomp's own: spin for a while, then sleep).
 *
 *   npx tsx test/bench/omp-env.ts [--rounds 3] [--batches 300] [--load 0]
 *        [--settings 'default;OMP_WAIT_POLICY=passive;OMP_WAIT_POLICY=active;GOMP_SPINCOUNT=10000;GOMP_SPINCOUNT=1000000']
 *
 * --load N: N busy processes beside it (npm run bench's --load), for a machine shared with other work.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../../functions/trainer/steps/thread-chooser';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '300' },
    load: { type: 'string', default: '0' },
    routes: { type: 'string', default: 'native×1,native×2,native×auto' },
    settings: {
      type: 'string',
      default: 'default;OMP_WAIT_POLICY=passive;OMP_WAIT_POLICY=active;GOMP_SPINCOUNT=10000;GOMP_SPINCOUNT=1000000',
    },
  },
});
const settings = values.settings!.split(';').map((s) => s.trim());
const routes = values.routes!.split(',');
const bench = path.join(path.dirname(fileURLToPath(import.meta.url)), 'run.ts');
const OMP_VARS = ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'OMP_PROC_BIND', 'OMP_PLACES'];

function run(setting: string): Record<string, number> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of OMP_VARS) delete env[k];
  if (setting !== 'default') for (const kv of setting.split(',')) env[kv.split('=')[0]] = kv.split('=')[1];
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      bench,
      '--rounds',
      '1',
      '--batches',
      values.batches!,
      '--routes',
      values.routes!,
      '--load',
      values.load!,
      '--skip-keras',
      '--skip-pytorch',
    ],
    { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return JSON.parse(out).imagesPerSecond.perRound[0];
}

const perRound: Record<string, Record<string, number>>[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  const row: Record<string, Record<string, number>> = {};
  const order = settings.map((_, i) => settings[(i + r) % settings.length]);
  for (const s of order) row[s] = run(s);
  perRound.push(row);
  console.error(JSON.stringify({ round: r + 1, ...row }));
}
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const medians = Object.fromEntries(
  settings.map((s) => [s, Object.fromEntries(routes.map((k) => [k, round(median(perRound.map((r) => r[s][k])))]))]),
);
const vsDefault = settings.includes('default')
  ? Object.fromEntries(
      settings.map((s) => [s, Object.fromEntries(routes.map((k) => [k, round(median(perRound.map((r) => r[s][k] / r.default[k])), 3)]))]),
    )
  : undefined;
console.log(
  JSON.stringify(
    {
      batches: Number(values.batches),
      busyProcesses: Number(values.load),
      cpus: os.availableParallelism(),
      loadAverage: os.loadavg(),
      medians,
      ratioVsDefault: vsDefault,
      perRound,
    },
    null,
    2,
  ),
);
