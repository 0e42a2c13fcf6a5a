/**
 * Prediction figures (issue: prediction, page and CLI): prints JSON with
 * - the zipped size of the predict Lambda bundle as `cdk synth` builds it;
 * - cold start of that bundle in a fresh Node process: module init, then the first call (model load + predict);
 * - warm single-image latency p50/p99, in-process (the bundled handler) and through the emulator's API Gateway.
 *
 *   npx tsx test/bench/predict.ts [--calls 500]
 * Needs the emulator (started if not running) and leaves it as it found it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeS3Client } from '../../shared/aws';
import { initBackend } from '../../shared/backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { modelKeys } from '../../shared/bucket-layout';
import { promoteIfBetter } from '../../shared/promotion';
import { STACK_NAME } from '../../shared/stack';
import { Bucket } from '../../shared/s3-objects';
import { deployStack, emulatorEnv, startEmulator, stopEmulator } from '../../local/emulator';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '500' } } });
const calls = Number(values.calls);
const out = '.local/bench-cdk.out';

/** Latency percentiles in ms. */
function percentiles(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: samples.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted.at(-1)!) };
}
const round = (x: number) => Math.round(x * 100) / 100;

/**
 * Synthesizes the stack (AWS mode: SDK left to the runtime) and returns a copy of the predict bundle
 * outside the repo, where no package.json "type": "module" changes how Node loads index.js.
 */
function predictBundle(): string {
  rmSync(out, { recursive: true, force: true });
  execFileSync('npx', ['cdk', 'synth', '-q', '-o', out, '-c', 'nag=false'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const template = JSON.parse(readFileSync(join(out, `${STACK_NAME}.template.json`), 'utf8'));
  const fn = Object.entries<{ Type: string; Metadata?: Record<string, string> }>(template.Resources).find(
    ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.includes('PredictFunction'),
  );
  const copy = join(tmpdir(), 'lenet-predict-bundle');
  rmSync(copy, { recursive: true, force: true });
  cpSync(join(out, fn![1].Metadata!['aws:asset:path']), copy, { recursive: true });
  return copy;
}

function zippedBytes(dir: string): { zipped: number; unzipped: number; files: Record<string, number> } {
  const zip = join(process.cwd(), '.local/bench-predict.zip');
  rmSync(zip, { force: true });
  execFileSync('zip', ['-q', '-r', '-9', zip, '.'], { cwd: dir });
  const files = Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).size]));
  return { zipped: statSync(zip).size, unzipped: Object.values(files).reduce((a, b) => a + b, 0), files };
}

/** Runs the bundled handler in a fresh process: cold start, then `calls` warm calls. */
function runBundle(dir: string, bucketName: string, pixels: number[]) {
  const script = `
    const t0 = performance.now();
    const { handler } = require(${JSON.stringify(join(dir, 'index.js'))});
    const initMs = performance.now() - t0;
    const event = { httpMethod: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(JSON.stringify({ pixels }))} };
    (async () => {
      let t = performance.now();
      const first = await handler(event);
      const firstCallMs = performance.now() - t;
      const warm = [];
      for (let i = 0; i < ${calls}; i++) { t = performance.now(); const r = await handler(event); warm.push(performance.now() - t); if (r.statusCode !== 200) throw new Error(r.body); }
      console.log(JSON.stringify({ initMs, firstCallMs, status: first.statusCode, warm }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const res = spawnSync(process.execPath, ['-e', script], {
    // NODE_PATH stands in for the Lambda runtime's own AWS SDK, which the bundle leaves out.
    env: {
      ...process.env,
      ...emulatorEnv(),
      NODE_PATH: join(process.cwd(), 'node_modules'),
      BUCKET_NAME: bucketName,
      MODEL_REFRESH_SECONDS: '30',
      LOG_LEVEL: 'ERROR',
    },
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`bundle run failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { initMs: number; firstCallMs: number; warm: number[] };
}

async function main() {
  mkdirSync('.local', { recursive: true });
  const { started } = await startEmulator();
  Object.assign(process.env, emulatorEnv());
  try {
    const bundleDir = predictBundle();
    const size = zippedBytes(bundleDir);

    const outputs = await deployStack({ stackName: 'LenetBench', quiet: true });
    const bucket = new Bucket(makeS3Client(), outputs.BucketName);
    await initBackend('wasm');
    const model = buildLeNet5({ seed: 1 });
    await saveCheckpoint(bucket, modelKeys.final('bench'), model, {
      jobId: 'bench',
      epoch: 1,
      backend: 'wasm',
      testAccuracy: 0.99,
      testImages: 10_000,
      fullTestSet: true,
      createdAt: new Date().toISOString(),
      includeOptimizer: false,
    });
    await promoteIfBetter(bucket, { jobId: 'bench', epoch: 1, testAccuracy: 0.99 }, { minAccuracy: 0, force: true });
    disposeModel(model);
    const { test } = await loadDatasetFromDir(mnistDataDir());
    const pixels = Array.from(test.images.subarray(0, 784));

    const inProcess = runBundle(bundleDir, outputs.BucketName, pixels);

    const body = JSON.stringify({ pixels });
    const viaGateway: number[] = [];
    for (let i = 0; i < Math.min(calls, 200) + 5; i++) {
      const t = performance.now();
      const res = await fetch(`${outputs.ApiUrl}predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.text();
      if (res.status !== 200) throw new Error(`gateway call ${i}: HTTP ${res.status}`);
      if (i >= 5) viaGateway.push(performance.now() - t); // the first calls start the Lambda worker
    }

    console.log(
      JSON.stringify(
        {
          bench: 'predict',
          bundle: { zippedBytes: size.zipped, zippedMB: round(size.zipped / 1024 / 1024), unzippedBytes: size.unzipped, files: size.files },
          coldStart: {
            moduleInitMs: round(inProcess.initMs),
            firstCallMs: round(inProcess.firstCallMs),
            totalMs: round(inProcess.initMs + inProcess.firstCallMs),
          },
          warmInProcessMs: percentiles(inProcess.warm),
          warmViaApiGatewayMs: percentiles(viaGateway),
          targets: { inProcessP99Ms: 5, coldInitMs: 500, zippedMB: 5 },
          how: 'bundle = cdk synth (AWS mode) predict asset; cold = fresh node process require + first call, model from emulator S3; warm = sequential single-image calls',
        },
        null,
        2,
      ),
    );
  } finally {
    if (started) await stopEmulator();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
