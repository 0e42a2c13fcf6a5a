/**
 * Load on POST /predict through the emulator's API Gateway and Lambda: `--requests` requests with
 * up to `--concurrency` in flight, started at `--rate` per second (0 = as fast as possible),
 * loopback only (127.0.0.1), bounded in count and time (`--max-seconds`), stops by itself.
 * Prints JSON: requests, errors, HTTP statuses, throughput, latency p50/p90/p99/max in ms.
 *
 * The stage throttles at 50 requests/s (burst 100; infra/service-api.ts) and MiniStack enforces
 * it, so the default rate of 40/s stays under it; above it the extra requests get 429 by design.
 *
 *   npx tsx test/bench/predict-load.ts [--requests 600] [--concurrency 16] [--rate 40] [--max-seconds 180]
 *
 * Needs the emulator running (it is not started or stopped here). Deploys its own stack
 * ('LenetLoad') and serves an untrained LeNet-5 (latency does not depend on the weights).
 */
import { parseArgs } from 'node:util';
import { makeS3Client } from '../../shared/aws';
import { initBackend } from '../../shared/backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { modelKeys } from '../../shared/bucket-layout';
import { promoteIfBetter } from '../../shared/promotion';
import { Bucket } from '../../shared/s3-objects';
import { deployStack, emulatorEnv, emulatorUrl, isHealthy } from '../../local/emulator';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '600' },
    rate: { type: 'string', default: '40' },
    concurrency: { type: 'string', default: '16' },
    'max-seconds': { type: 'string', default: '180' },
  },
});
const requests = Math.min(5000, Number(values.requests));
const concurrency = Math.min(64, Number(values.concurrency));
const maxMs = Math.min(600, Number(values['max-seconds'])) * 1000;
const rate = Math.max(0, Number(values.rate));

Object.assign(process.env, emulatorEnv());
if (!(await isHealthy())) throw new Error(`no emulator on ${emulatorUrl()}; start it with: npx tsx local/emulator.ts start`);
const outputs = await deployStack({ stackName: 'LenetLoad', quiet: true });
if (!/^http:\/\/127\.0\.0\.1[:/]/.test(outputs.ApiUrl)) throw new Error(`refusing a non-loopback API: ${outputs.ApiUrl}`);
const bucket = new Bucket(makeS3Client(), outputs.BucketName);
await initBackend('wasm');
const model = buildLeNet5({ seed: 1 });
await saveCheckpoint(bucket, modelKeys.final('load'), model, {
  jobId: 'load',
  epoch: 1,
  backend: 'wasm',
  testAccuracy: 0.99,
  testLoss: 0,
  testImages: 10_000,
  fullTestSet: true,
  createdAt: new Date().toISOString(),
  includeOptimizer: false,
});
disposeModel(model);
await promoteIfBetter(bucket, { jobId: 'load', epoch: 1, testAccuracy: 0.99 }, { minAccuracy: 0, force: true });

const { test } = await loadDatasetFromDir(mnistDataDir());
const bodies = Array.from({ length: 100 }, (_, i) => JSON.stringify({ pixels: Array.from(test.images.subarray(i * 784, (i + 1) * 784)) }));
const url = `${outputs.ApiUrl}predict`;

async function call(i: number): Promise<{ ms: number; ok: boolean; status: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: bodies[i % bodies.length],
      signal: AbortSignal.timeout(30_000),
    });
    const json = (await res.json()) as { digit?: number };
    return { ms: performance.now() - t0, ok: res.status === 200 && typeof json.digit === 'number', status: res.status };
  } catch {
    return { ms: performance.now() - t0, ok: false, status: 0 };
  }
}

// Warm-up: cold start(s) of the Lambda worker(s) are not part of the steady-state figures.
const warm = await Promise.all(Array.from({ length: concurrency }, (_, i) => call(i)));
const coldMaxMs = Math.max(...warm.map((w) => w.ms));

const samples: number[] = [];
const statuses: Record<string, number> = {};
let errors = 0;
let next = 0;
const started = performance.now();
const deadline = started + maxMs;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < requests && performance.now() < deadline) {
      const i = next++;
      const due = rate > 0 ? started + (i * 1000) / rate : 0;
      if (due > performance.now()) await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
      const r = await call(i);
      samples.push(r.ms);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (!r.ok) errors++;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const sorted = [...samples].sort((a, b) => a - b);
const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
console.log(
  JSON.stringify(
    {
      endpoint: 'POST /predict via MiniStack API Gateway (127.0.0.1) → predict Lambda (host process)',
      requests: samples.length,
      concurrency,
      ratePerSecond: rate || 'unpaced',
      errors,
      statuses,
      seconds: Math.round(seconds * 10) / 10,
      requestsPerSecond: Math.round((samples.length / seconds) * 10) / 10,
      latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) },
      warmupMaxMs: Math.round(coldMaxMs),
      stoppedByDeadline: samples.length < requests,
    },
    null,
    2,
  ),
);
process.exit(0);
