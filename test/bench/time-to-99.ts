/**
 * Time to 99% test accuracy through a real job: the emulator, the deployed stack, the queue and the
 * trainer as a host process (as `npm start` runs them), one job per recipe and seed, one after
 * another. Each job has `testEachEpoch`, so the trainer scores the test set after every epoch and
 * stamps when it knew (`testedAt`). Time to 99% = from just before `POST /jobs` to the `testedAt` of
 * the first epoch with test accuracy ≥ 99.0%, wall clock. Prints one JSON line per job, then a
 * summary per recipe (also written to --out).
 *
 *   LENET_EMULATOR_PORT=4630 npx tsx test/bench/time-to-99.ts [--recipes default,fast] [--seeds 1,2,3] [--out file.json] [--override '{"epochs":1}']
 *
 * Recipes are shared/recipes.ts's. Starts the emulator on LENET_EMULATOR_PORT if none answers there
 * (and stops it at the end only if it started it); the trainer's log is .local/time-to-99-trainer.log.
 */
import os from 'node:os';
import path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiClient } from '../../cli/api-client';
import { uploadMnist } from '../../cli/upload-mnist';
import { deployStack, emulatorEnv, startEmulator, stopEmulator } from '../../local/emulator';
import { startLocalTrainer } from '../../local/local-trainer';
import { makeS3Client } from '../../shared/aws';
import { JobStore } from '../../shared/job-store';
import { RECIPES, type RecipeName } from '../../shared/recipes';
import { Bucket } from '../../shared/s3-objects';
import type { TrainingParams } from '../../shared/schemas';
import type { JobStatus } from '../../shared/documents';

const { values } = parseArgs({
  options: {
    recipes: { type: 'string', default: 'default,fast' },
    seeds: { type: 'string', default: '1,2,3' },
    out: { type: 'string' },
    /** JSON merged into every job's parameters (e.g. '{"epochs":1,"trainSubset":2000}' for a smoke run). */
    override: { type: 'string', default: '{}' },
  },
});
const override = JSON.parse(values.override!) as Partial<TrainingParams>;
const recipes = values.recipes!.split(',').map((r) => r.trim()) as RecipeName[];
for (const r of recipes) if (!(r in RECIPES)) throw new Error(`unknown recipe '${r}' (${Object.keys(RECIPES).join(', ')})`);
const seeds = values.seeds!.split(',').map(Number);
const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TARGET = 0.99;

Object.assign(process.env, emulatorEnv());
const emulator = await startEmulator();
const outputs = await deployStack({ quiet: true, context: { promotionMinAccuracy: '0.98' } });
const bucket = new Bucket(makeS3Client(), outputs.BucketName);
await uploadMnist(bucket);
const logStart = (await readFile(path.join(REPO, '.local', 'time-to-99-trainer.log'), 'utf8').catch(() => '')).length;
const trainer = startLocalTrainer({
  bucketName: outputs.BucketName,
  queueUrl: outputs.QueueUrl,
  env: { PROMOTION_MIN_ACCURACY: '0.98' },
  logFile: path.join(REPO, '.local', 'time-to-99-trainer.log'),
});
const trainerLog = path.join(REPO, '.local', 'time-to-99-trainer.log');
// A Fargate trainer is up before jobs come: wait for this one to poll the queue, so no job's time includes its start.
for (const deadline = Date.now() + 120_000; ; ) {
  const log = await readFile(trainerLog, 'utf8').catch(() => '');
  if (log.slice(logStart).includes('"trainer ready"')) break;
  if (Date.now() > deadline || trainer.exitCode !== null) throw new Error('the trainer did not start; see .local/time-to-99-trainer.log');
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const jobs = new JobStore(bucket);
const api = new ApiClient(outputs.ApiUrl);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Run {
  recipe: RecipeName;
  seed: number;
  jobId: string;
  status: string;
  secondsTo99: number | null;
  epochTo99: number | null;
  finalTestAccuracy?: number;
  totalSeconds: number;
  epochs: {
    epoch: number;
    testAccuracy?: number;
    seconds: number;
    imagesPerSecond: number;
    route?: string;
    threads?: number;
    atSeconds?: number;
  }[];
  loadAverage: number[];
}
const runs: Run[] = [];
try {
  for (const recipe of recipes) {
    for (const seed of seeds) {
      const loadBefore = os.loadavg();
      const submittedAt = Date.now();
      const { jobId } = await api.submit({ ...RECIPES[recipe], seed, ...override, testEachEpoch: true });
      let job: JobStatus | undefined;
      // The job record in S3 directly (not GET /jobs/{id}): no Lambda runs beside the trainer while it is timed.
      for (;;) {
        await sleep(1000);
        if (trainer.exitCode !== null) throw new Error(`the trainer exited (${trainer.exitCode}); see .local/time-to-99-trainer.log`);
        job = await jobs.get(jobId);
        if (job?.status === 'SUCCEEDED' || job?.status === 'FAILED') break;
      }
      const at = (iso?: string) => (iso ? Math.round((Date.parse(iso) - submittedAt) / 100) / 10 : undefined);
      const first = job.metrics.find((m) => (m.testAccuracy ?? 0) >= TARGET);
      const run: Run = {
        recipe,
        seed,
        jobId,
        status: job.status,
        secondsTo99: first ? at(first.testedAt)! : null,
        epochTo99: first?.epoch ?? null,
        finalTestAccuracy: job.testAccuracy,
        totalSeconds: at(job.updatedAt)!,
        epochs: job.metrics.map((m) => ({
          epoch: m.epoch,
          testAccuracy: m.testAccuracy,
          seconds: Math.round(m.seconds * 10) / 10,
          imagesPerSecond: Math.round(m.imagesPerSecond),
          route: m.route,
          threads: m.threads,
          atSeconds: at(m.testedAt),
        })),
        loadAverage: [...loadBefore, ...os.loadavg()].map((x) => Math.round(x * 100) / 100),
      };
      runs.push(run);
      console.log(JSON.stringify(run));
    }
  }
} finally {
  if (trainer.exitCode === null) {
    const exited = new Promise((resolve) => trainer.once('exit', resolve));
    trainer.kill('SIGTERM');
    await exited;
  }
  if (emulator.started) await stopEmulator();
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = Object.fromEntries(
  recipes.map((recipe) => {
    const mine = runs.filter((r) => r.recipe === recipe);
    const finals = mine.map((r) => r.finalTestAccuracy ?? 0);
    return [
      recipe,
      {
        params: RECIPES[recipe],
        seeds,
        secondsTo99: mine.map((r) => r.secondsTo99),
        epochTo99: mine.map((r) => r.epochTo99),
        reached99: `${mine.filter((r) => r.secondsTo99 !== null).length} of ${mine.length}`,
        finalTestAccuracy: { perSeed: finals, mean: mean(finals) },
        totalSeconds: mine.map((r) => r.totalSeconds),
      },
    ];
  }),
);
console.log(JSON.stringify({ summary, cpus: os.availableParallelism() }, null, 2));
if (values.out) await writeFile(values.out, JSON.stringify({ summary, runs }, null, 2));
