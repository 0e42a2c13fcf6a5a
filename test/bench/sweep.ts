/**
 * Sweep wall time with 1 trainer and with 2 (issue 23): a 4-variant sweep (learningRate × seed) is
 * submitted through the api function's own code (SweepsApi in this process, against the emulator's
 * S3 and SQS) to a fresh queue, and timed from the submit until every job has ended, run by N trainer
 * host processes started (and ready) beforehand. 1 and 2 trainers alternate within one run, the order
 * reversed every other round. Prints one JSON object: per-round times, medians, and the ratio
 * (1-trainer time / 2-trainer time) as the median of per-round ratios.
 *
 *   LENET_EMULATOR_PORT=4721 npx tsx test/bench/sweep.ts [--rounds 2] [--epochs 2] [--train 6000] [--threads auto|N]
 *
 * The whole of MNIST is in the bucket; each job trains on the first --train images (validation split
 * 0.1) and is scored on all 10,000 test images, on the trainer's default route (TFJS_BACKEND wasm, as
 * the tests' trainers: the training step is the native addon's when it is built, else wasm).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { makeSqsClient } from '../../shared/aws';
import { JobStore } from '../../shared/job-store';
import { isTerminal, SweepRequest } from '../../shared/sweep';
import { JobsApi } from '../../functions/api/jobs-api';
import { SweepsApi } from '../../functions/api/sweeps-api';
import { median } from '../../functions/trainer/steps/thread-chooser';
import { uploadMnist } from '../../cli/upload-mnist';
import { freshBucket, freshQueue } from '../helpers/aws';
import { spawnTrainer, stopTrainer, type Trainer, waitFor } from '../helpers/trainer';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '2' },
    train: { type: 'string', default: '6000' },
    /** The jobs' gradient threads (job parameter): 'auto' (the default) or a count. */
    threads: { type: 'string', default: 'auto' },
  },
});
const rounds = Number(values.rounds);
const epochs = Number(values.epochs);
const train = Number(values.train);
const threads = values.threads === 'auto' ? 'auto' : Number(values.threads);
const log = (line: string) => process.stderr.write(`${line}\n`);

const bucket = await freshBucket('bench-sweep');
await uploadMnist(bucket);
const jobs = new JobStore(bucket);

/** One sweep on `n` fresh trainers: seconds from submit to every job ended, and where each job ran. */
async function timeSweep(n: number, round: number) {
  // A queue of its own, visible for longer than any job takes, so no job comes back mid-run.
  const queueUrl = await freshQueue('bench-sweep', { VisibilityTimeout: '300' });
  const sweeps = new SweepsApi(bucket, new JobsApi(bucket, makeSqsClient(), queueUrl, { minAccuracy: 0 }));
  const trainers: Trainer[] = [];
  const names = Array.from({ length: n }, (_, i) => `bench-${round}-${n}-${i}`);
  try {
    for (const name of names) trainers.push(spawnTrainer(name, bucket, queueUrl));
    await waitFor(`${n} trainers ready`, async () => trainers.every((t) => t.logs().some((l) => l.message === 'trainer ready')), 120_000);
    const request = SweepRequest.parse({
      grid: { learningRate: [0.0005, 0.001], seed: [1 + round * 10, 2 + round * 10] },
      base: { epochs, trainSubset: train, threads },
    });
    const started = performance.now();
    const sweep = await sweeps.submit(request);
    const ended = await waitFor(
      'every job of the sweep to end',
      async () => {
        const all = await Promise.all(sweep.variants.map((v) => jobs.get(v.jobId)));
        return all.every((s) => s && isTerminal(s.status)) ? all : undefined;
      },
      1_800_000,
      200,
    );
    const seconds = (performance.now() - started) / 1000;
    const failed = ended.filter((s) => s!.status !== 'SUCCEEDED');
    if (failed.length) throw new Error(`jobs failed: ${failed.map((s) => `${s!.jobId}: ${s!.reason}`).join('; ')}`);
    const route = ended[0]!.metrics.at(-1)?.route;
    log(`round ${round}, ${n} trainer(s): ${seconds.toFixed(1)} s (${route})`);
    return { seconds, route, jobsPerTrainer: names.map((name) => ended.filter((s) => s!.trainer === name).length) };
  } finally {
    await Promise.all(trainers.map((t) => stopTrainer(t)));
  }
}

const results: { round: number; trainers: number; seconds: number; route?: string; jobsPerTrainer: number[] }[] = [];
for (let round = 0; round < rounds; round++) {
  // Alternating, the order reversed every other round, so neither count always runs first.
  for (const n of round % 2 ? [2, 1] : [1, 2]) {
    const { seconds, route, jobsPerTrainer } = await timeSweep(n, round);
    results.push({ round, trainers: n, seconds: Math.round(seconds * 10) / 10, route, jobsPerTrainer });
  }
}
const of = (n: number) => results.filter((r) => r.trainers === n).map((r) => r.seconds);
const ratios = Array.from({ length: rounds }, (_, round) => {
  const at = (n: number) => results.find((r) => r.round === round && r.trainers === n)!.seconds;
  return at(1) / at(2);
});
console.log(
  JSON.stringify(
    {
      sweep: { variants: 4, epochs, trainSubset: train, threads, testImages: 10_000 },
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      rounds: results,
      medianSeconds: { oneTrainer: median(of(1)), twoTrainers: median(of(2)) },
      speedup: Math.round(median(ratios) * 100) / 100,
      perRoundSpeedup: ratios.map((r) => Math.round(r * 100) / 100),
    },
    null,
    2,
  ),
);
