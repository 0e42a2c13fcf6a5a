/**
 * `npm run bench:batch`: batch prediction against POST /predict in a loop (issue 23, "Speed"), in one
 * run on the emulator. Deploys the stack, trains a short model with a host trainer (one epoch on
 * --train images, scored on all 10,000 test images, so it is promoted and served), writes the 10,000
 * MNIST test images as 28×28 grayscale PNGs (test/helpers/images.ts mnistPng) under the bucket's
 * batch/ area, then alternates, for --rounds rounds (the order reversed every other round):
 * - batch: POST /batch-predictions (signed, through the emulator's API Gateway) over the 10,000 PNGs,
 *   run by one host trainer started (and ready) beforehand and stopped after; timed from the submit
 *   until the job document says SUCCEEDED (read from S3 every 200 ms), as images/s; with the
 *   trainer's own imagesPerSecond from summary.json (its first chunk read to its last part written);
 * - single: POST /predict with one PNG per request (the raw PNG body, as `lenet` and the tests send
 *   one file), sequential, over --sample of the same PNGs (every 10,000/sample-th one);
 * - batched: POST /predict with {"instances": [{"image": base64}, …16]} (the CLI's batching of
 *   `lenet predict FILES`), sequential, over --batched-sample PNGs;
 * each loop after a few untimed warm-up requests. Nothing is extrapolated: each figure is images
 * measured / seconds measured. Ratios are batch images/s over loop images/s, per round, and their
 * median. Also checks that the loops' digits equal the batch's predictions.jsonl on their sample.
 * Then, to explain the batch's figure, its parts timed one by one in this process over --parts-sample
 * of the PNGs: S3 GETs at the trainer's concurrency (8), PNG decode + /predict preprocessing
 * (shared/digits), and the model on chunks of 250 (BATCH_CHUNK) on the wasm backend with the trainer's
 * kernels, as the trainer runs them (and with tfjs' own kernels, as the predict Lambda runs it).
 * Prints one JSON object; progress on stderr.
 *
 *   LENET_EMULATOR_PORT=4741 npx tsx test/bench/batch-predict.ts [--rounds 2] [--sample 500] [--batched-sample 2000] [--train 6000]
 *
 * Starts the emulator on LENET_EMULATOR_PORT if none answers there (and stops it at the end); use a
 * port of your own (its pid file is .local/ministack-<port>.pid), or pass LENET_EMULATOR_URL for one
 * already running (neither started nor stopped here). Trainers run as host processes (TFJS_BACKEND
 * wasm, as in the tests). Figures and what they mean: docs/benchmarks.md, issue 23, batch prediction.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { makeS3Client } from '../../shared/aws';
import { BATCH_CHUNK, type BatchLine, type BatchSummary } from '../../shared/batch-predict';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { isFinished, type JobStatus } from '../../shared/documents';
import { JobStore } from '../../shared/job-store';
import { Bucket } from '../../shared/s3-objects';
import { ApiClient } from '../../cli/api-client';
import { batchPredict } from '../../cli/batch-predict';
import { FILES_PER_REQUEST } from '../../cli/predict-files';
import { uploadMnist } from '../../cli/upload-mnist';
import { deployStack, emulatorEnv, emulatorInfo, startEmulator, stopEmulator, type StackOutputs } from '../../local/emulator';
import { median } from '../../functions/trainer/steps/thread-chooser';
import { initBackend } from '../../shared/backend';
import { registerWasmTrainingKernels } from '../../functions/trainer/steps/wasm/wasm-kernels';
import { modelKeys } from '../../shared/bucket-layout';
import { toImages } from '../../shared/digits/input';
import { predictDigits } from '../../shared/digits/predict';
import { disposeModel } from '../../shared/model';
import { loadModel } from '../../shared/model-store';
import { mnistPng } from '../helpers/images';
import { FAST_TRAINER_ENV, jobFinishedViaApi, spawnTrainer, stopTrainer, type Trainer, waitFor } from '../helpers/trainer';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    sample: { type: 'string', default: '500' },
    'batched-sample': { type: 'string', default: '2000' },
    train: { type: 'string', default: '6000' },
    'parts-sample': { type: 'string', default: '2000' },
  },
});
const rounds = Number(values.rounds);
const sample = Number(values.sample);
const batchedSample = Number(values['batched-sample']);
const train = Number(values.train);
const partsSample = Number(values['parts-sample']);
const IMAGES = 10_000;
const IN_PREFIX = 'batch/bench-in/';
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const load = () => os.loadavg().map(r2);
const key = (i: number) => `${IN_PREFIX}digit-${String(i).padStart(5, '0')}.png`;
/** `n` image indices spread evenly over the test set. */
const spread = (n: number) => Array.from({ length: n }, (_, j) => Math.floor((j * IMAGES) / n));

interface Phase {
  round: number;
  what: 'batch' | 'single' | 'batched';
  images: number;
  requests: number;
  seconds: number;
  imagesPerSecond: number;
  loadBefore: number[];
  loadAfter: number[];
  /** batch: the trainer's own figures from summary.json. */
  trainer?: { seconds: number; imagesPerSecond: number };
  /** loops: per-request latency, ms. */
  requestMs?: { p50: number; p90: number; max: number };
}

async function putAll(bucket: Bucket, entries: Array<[string, Uint8Array]>, concurrency = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < entries.length; i = next++) await bucket.putBytes(entries[i][0], entries[i][1]);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * The batch's work, part by part, in this process: S3 GETs `concurrency` at a time, decode +
 * preprocessing, and the model on chunks of `chunk`; images/s of each, and what they add up to.
 */
async function batchParts(bucket: Bucket, modelJobId: string, keys: string[], concurrency: number, chunk: number) {
  const bytes: Uint8Array[] = new Array(keys.length);
  let next = 0;
  let t = performance.now();
  const worker = async () => {
    for (let i = next++; i < keys.length; i = next++) bytes[i] = (await bucket.getBytes(keys[i]))!;
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const getSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const images = bytes.map((b) => toImages([{ image: Buffer.from(b) }], false)[0]);
  const decodeSeconds = (performance.now() - t) / 1000;
  // The model first on tfjs' own wasm kernels (as the predict Lambda runs it), then with the
  // trainer's (functions/trainer/steps/wasm/wasm-kernels.ts: Tanh and BatchMatMul among them).
  await initBackend('wasm');
  const model = await loadModel(bucket, modelKeys.final(modelJobId));
  const timeModel = () => {
    predictDigits(model, images.slice(0, chunk)); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < images.length; i += chunk) predictDigits(model, images.slice(i, i + chunk));
    return (performance.now() - t0) / 1000;
  };
  const stockSeconds = timeModel();
  registerWasmTrainingKernels();
  const predictSeconds = timeModel();
  disposeModel(model);
  const ips = (s: number) => Math.round(keys.length / s);
  return {
    images: keys.length,
    s3GetImagesPerSecond: ips(getSeconds),
    decodeAndPreprocessImagesPerSecond: ips(decodeSeconds),
    modelImagesPerSecond: ips(predictSeconds),
    modelOnStockWasmKernelsImagesPerSecond: ips(stockSeconds),
    allThreeInSeriesImagesPerSecond: ips(getSeconds + decodeSeconds + predictSeconds),
    how: `GETs ${concurrency} at a time; decode + preprocessing one by one; the model on chunks of ${chunk} (wasm with the trainer's kernels, and with tfjs' own as the predict Lambda), after one warm-up chunk`,
  };
}

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function main() {
  const { started } = await startEmulator();
  Object.assign(process.env, emulatorEnv());
  const trainers: Trainer[] = [];
  try {
    log(`deploying to ${emulatorInfo().label} at ${emulatorInfo().url}`);
    const outputs: StackOutputs = await deployStack({ stackName: 'LenetBenchBatch', quiet: true });
    const api = new ApiClient(outputs.ApiUrl, { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const bucket = new Bucket(makeS3Client(), outputs.BucketName);
    const jobs = new JobStore(bucket);
    const trainer = (name: string) => {
      const t = spawnTrainer(name, bucket, outputs.QueueUrl, { ...FAST_TRAINER_ENV, BATCH_ROLE_ARN: outputs.raw.BatchRoleArn });
      trainers.push(t);
      return t;
    };
    const ready = (t: Trainer) =>
      waitFor(`trainer ${t.logFile} ready`, async () => t.logs().some((l) => l.message === 'trainer ready'), 120_000, 100);

    const testSet = (await loadDatasetFromDir(mnistDataDir())).test;
    await uploadMnist(bucket);

    // The model: one short epoch, scored on the whole test set, so it is promoted and served.
    log(`training: 1 epoch on ${train} images`);
    const t0 = trainer('bench-batch-train');
    const job = await api.submit({ epochs: 1, trainSubset: train });
    const trained = await waitFor('the model to train', jobFinishedViaApi(api, job.jobId), 600_000, 500);
    if (trained.status !== 'SUCCEEDED' || !trained.promoted)
      throw new Error(`training: ${trained.status} ${trained.reason ?? trained.promotion}`);
    await stopTrainer(t0, 5_000);
    const trainerStarted = t0.logs().find((l) => l.message === 'trainer started');

    // 10,000 PNGs from the test set, in the batch area.
    const pngs = Array.from({ length: IMAGES }, (_, i) => mnistPng(testSet.images.subarray(i * 784, (i + 1) * 784)));
    const uploadStart = performance.now();
    await putAll(
      bucket,
      pngs.map((bytes, i): [string, Uint8Array] => [key(i), bytes]),
    );
    const uploadSeconds = (performance.now() - uploadStart) / 1000;
    log(`uploaded ${IMAGES} PNGs (${pngs.reduce((a, p) => a + p.length, 0)} bytes) in ${r1(uploadSeconds)} s`);

    const phases: Phase[] = [];
    const loopDigits = new Map<number, number>();
    let batchLines: Map<string, BatchLine> | undefined;

    async function runBatch(round: number): Promise<Phase> {
      const outPrefix = `batch/bench-out-${round}/`;
      const t = trainer(`bench-batch-run-${round}`);
      try {
        await ready(t);
        const loadBefore = load();
        const startedAt = performance.now();
        const submitted = await batchPredict(api, {
          input: `s3://${outputs.BucketName}/${IN_PREFIX}`,
          output: `s3://${outputs.BucketName}/${outPrefix}`,
        });
        const done = await waitFor<JobStatus>(
          'the batch to end',
          async () => {
            const s = await jobs.get(submitted.jobId);
            return s && isFinished(s.status) ? s : undefined;
          },
          1_800_000,
          200,
        );
        const seconds = (performance.now() - startedAt) / 1000;
        const loadAfter = load();
        if (done.status !== 'SUCCEEDED') throw new Error(`batch ${done.jobId}: ${done.status} ${done.reason}`);
        const summary = JSON.parse(Buffer.from((await bucket.getBytes(`${outPrefix}summary.json`))!).toString('utf8')) as BatchSummary;
        if (summary.predicted !== IMAGES || summary.errors !== 0) throw new Error(`batch summary: ${JSON.stringify(summary)}`);
        if (!batchLines) {
          const text = Buffer.from((await bucket.getBytes(`${outPrefix}predictions.jsonl`))!).toString('utf8');
          batchLines = new Map(
            text
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as BatchLine)
              .map((l) => [l.key, l]),
          );
        }
        return {
          round,
          what: 'batch',
          images: IMAGES,
          requests: 1,
          seconds: r2(seconds),
          imagesPerSecond: Math.round(IMAGES / seconds),
          loadBefore,
          loadAfter,
          trainer: { seconds: summary.seconds, imagesPerSecond: summary.imagesPerSecond },
        };
      } finally {
        await stopTrainer(t, 5_000);
      }
    }

    type Predictions = { predictions: Array<{ digit: number }> };
    async function runLoop(round: number, what: 'single' | 'batched'): Promise<Phase> {
      const perRequest = what === 'single' ? 1 : FILES_PER_REQUEST;
      const indices = spread(what === 'single' ? sample : batchedSample);
      const groups: number[][] = [];
      for (let i = 0; i < indices.length; i += perRequest) groups.push(indices.slice(i, i + perRequest));
      const send = async (group: number[]): Promise<number[]> => {
        if (what === 'single') return [(await api.predictImage(pngs[group[0]], 'image/png')).digit];
        const out = await api.predict<Predictions>({ instances: group.map((i) => ({ image: pngs[i].toString('base64') })) });
        return out.predictions.map((p) => p.digit);
      };
      // Untimed warm-up: the emulator's Lambda worker and the function's model cache.
      for (let w = 0; w < 5; w++) await send(groups[w % groups.length]);
      const loadBefore = load();
      const latencies: number[] = [];
      const startedAt = performance.now();
      for (const group of groups) {
        const t = performance.now();
        const digits = await send(group);
        latencies.push(performance.now() - t);
        group.forEach((i, j) => loopDigits.set(i, digits[j]));
      }
      const seconds = (performance.now() - startedAt) / 1000;
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        round,
        what,
        images: indices.length,
        requests: groups.length,
        seconds: r2(seconds),
        imagesPerSecond: r1(indices.length / seconds),
        loadBefore,
        loadAfter: load(),
        requestMs: { p50: r1(percentile(sorted, 0.5)), p90: r1(percentile(sorted, 0.9)), max: r1(sorted.at(-1)!) },
      };
    }

    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? (['batched', 'single', 'batch'] as const) : (['batch', 'single', 'batched'] as const);
      for (const what of order) {
        const phase = what === 'batch' ? await runBatch(round) : await runLoop(round, what);
        log(
          `round ${round} ${what}: ${phase.images} images in ${phase.seconds} s = ${phase.imagesPerSecond} images/s` +
            (phase.trainer ? ` (trainer's own ${phase.trainer.imagesPerSecond})` : '') +
            ` (load ${phase.loadBefore[0]} → ${phase.loadAfter[0]})`,
        );
        phases.push(phase);
      }
    }

    log(`timing the batch's parts over ${partsSample} images`);
    const parts = await batchParts(bucket, trained.jobId, spread(partsSample).map(key), 8, BATCH_CHUNK);
    log(`parts: ${JSON.stringify(parts)}`);

    // The loops' digits against the batch's lines for the same files.
    let agree = 0;
    for (const [i, digit] of loopDigits) {
      const line = batchLines!.get(key(i));
      if (line && 'digit' in line && line.digit === digit) agree++;
    }

    const at = (round: number, what: Phase['what']) => phases.find((p) => p.round === round && p.what === what)!;
    const perRound = Array.from({ length: rounds }, (_, round) => ({
      round,
      batchOverSingle: r2(at(round, 'batch').imagesPerSecond / at(round, 'single').imagesPerSecond),
      batchOverBatched: r2(at(round, 'batch').imagesPerSecond / at(round, 'batched').imagesPerSecond),
      trainerOwnOverSingle: r2(at(round, 'batch').trainer!.imagesPerSecond / at(round, 'single').imagesPerSecond),
      trainerOwnOverBatched: r2(at(round, 'batch').trainer!.imagesPerSecond / at(round, 'batched').imagesPerSecond),
      batchedOverSingle: r2(at(round, 'batched').imagesPerSecond / at(round, 'single').imagesPerSecond),
    }));
    const med = (what: Phase['what']) => median(phases.filter((p) => p.what === what).map((p) => p.imagesPerSecond));
    const medRatio = (k: Exclude<keyof (typeof perRound)[number], 'round'>) => r2(median(perRound.map((r) => r[k])));
    console.log(
      JSON.stringify(
        {
          bench: 'batch-predict',
          when: new Date().toISOString(),
          machine: {
            cpus: os.cpus().length,
            model: os.cpus()[0]?.model,
            node: process.version,
            emulator: `${emulatorInfo().label} ${emulatorInfo().version}`,
            loadAverageAtEnd: load(),
          },
          setup: {
            images: IMAGES,
            pngBytes: pngs.reduce((a, p) => a + p.length, 0),
            uploadSeconds: r1(uploadSeconds),
            model: { jobId: trained.jobId, trainSubset: train, epochs: 1, testAccuracy: trained.testAccuracy },
            trainer: { backend: trainerStarted?.backend, native: trainerStarted?.native, step: trainerStarted?.step },
            singleSample: sample,
            batchedSample,
            imagesPerRequest: { single: 1, batched: FILES_PER_REQUEST },
          },
          phases,
          medianImagesPerSecond: {
            batchWall: med('batch'),
            batchTrainerOwn: median(phases.filter((p) => p.what === 'batch').map((p) => p.trainer!.imagesPerSecond)),
            singleLoop: med('single'),
            batchedLoop: med('batched'),
          },
          ratios: {
            batchOverSingle: medRatio('batchOverSingle'),
            batchOverBatched: medRatio('batchOverBatched'),
            trainerOwnOverSingle: medRatio('trainerOwnOverSingle'),
            trainerOwnOverBatched: medRatio('trainerOwnOverBatched'),
            batchedOverSingle: medRatio('batchedOverSingle'),
            perRound,
          },
          batchPartsInProcess: parts,
          loopDigitsMatchBatch: { compared: loopDigits.size, agree },
        },
        null,
        2,
      ),
    );
  } finally {
    await Promise.all(trainers.map((t) => stopTrainer(t, 5_000)));
    if (started) await stopEmulator();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
