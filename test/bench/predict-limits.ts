/**
 * Cost of the worst accepted and the hostile POST /predict bodies in the predict function's input
 * path (body parsing, image checks, decoding, MNIST preprocessing; the model is not involved).
 * Each case runs in its own process, so its peak RSS is its own.
 *
 *   npx tsx test/bench/predict-limits.ts [--root <checkout>] [--timeout 120] [case...]
 *
 * --root runs another checkout's code (for example the code before the limits) with these payloads.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { blackPng, bombPng, digitGrayPng, digitJpeg, digitPng } from '../helpers/images';

type Payload = { contentType: string; body: Buffer };
const json = (value: unknown): Payload => ({ contentType: 'application/json', body: Buffer.from(JSON.stringify(value)) });

async function payload(name: string): Promise<Payload> {
  const digit = (await loadDatasetFromDir(mnistDataDir())).test.images.subarray(0, 784);
  switch (name) {
    case 'digit-280-png':
      return json({ image: digitPng(digit, 280).toString('base64') });
    case 'digit-2000-png': // the largest accepted image: 4 megapixels
      return json({ image: digitPng(digit, 2000).toString('base64') });
    case 'digit-2000-jpeg':
      return json({ image: digitJpeg(digit, 2000).toString('base64') });
    case 'batch-2x2000-jpeg': // the costliest accepted request: two 4 MP JPEGs, 8 megapixels
      return json({ instances: Array(2).fill({ image: digitJpeg(digit, 2000).toString('base64') }) });
    case 'batch-4x2000-jpeg': // refused now; accepted before
      return json({ instances: Array(4).fill({ image: digitJpeg(digit, 2000).toString('base64') }) });
    case 'batch-16x4mp-png': // 16 images of the largest accepted size: 64 megapixels in all
      return json({ instances: Array(16).fill({ image: digitPng(digit, 2000).toString('base64') }) });
    case 'png-20000x20000':
      return json({ image: (await blackPng(20000, 20000)).toString('base64') });
    case 'png-interlaced-bomb':
      return json({ image: (await bombPng(1024 ** 3, true)).toString('base64') });
    case 'batch-64x16mp-png': {
      const big = digitGrayPng(digit, 4000).toString('base64');
      return json({ instances: Array(64).fill({ image: big }) });
    }
    case 'deep-json': {
      const depth = 100_000;
      const pixels = Array(784).fill('0');
      pixels[0] = '['.repeat(depth) + ']'.repeat(depth);
      return { contentType: 'application/json', body: Buffer.from(`{"pixels":[${pixels.join(',')}]}`) };
    }
    case 'string-pixel-5mb':
      return json({ pixels: ['x'.repeat(5 * 1024 * 1024), ...Array(783).fill(0)] });
    default:
      throw new Error(`unknown case ${name}`);
  }
}

export const CASES = [
  'digit-280-png',
  'digit-2000-png',
  'digit-2000-jpeg',
  'batch-2x2000-jpeg',
  'batch-4x2000-jpeg',
  'png-20000x20000',
  'png-interlaced-bomb',
  'batch-64x16mp-png',
  'batch-16x4mp-png',
  'deep-json',
  'string-pixel-5mb',
];

/**
 * The child: one request through the checkout's input path, bundled with esbuild as the Lambda is,
 * so the RSS it reports is Node's own plus the request's (no TypeScript compiler in the process).
 */
const CHILD = (root: string) => `
import { readFileSync, existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as http from '${root}/shared/http.ts';
import * as input from '${root}/${existsSync(join(root, 'shared/digits/input.ts')) ? 'shared/digits' : 'functions/predict'}/input.ts';
${existsSync(join(root, 'functions/predict/body.ts')) ? `import { readPredictInput } from '${root}/functions/predict/body.ts';` : 'const readPredictInput = undefined;'}
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const event = { httpMethod: 'POST', path: '/predict', headers: { 'content-type': p.contentType }, body: p.body, isBase64Encoded: false };
// Importing tfjs peaks higher than most requests, so the high-water mark (maxRSS) says nothing
// about the request: a worker thread samples the process RSS every 2 ms while it runs instead.
const peak = new Int32Array(new SharedArrayBuffer(8));
const sampler = new Worker('const { workerData: p } = require("node:worker_threads"); setInterval(() => { const mb = Math.round(process.memoryUsage.rss() / 2 ** 20); if (mb > Atomics.load(p, 0)) Atomics.store(p, 0, mb); Atomics.store(p, 1, 1); }, 2);', { eval: true, workerData: peak });
while (Atomics.load(peak, 1) === 0) await new Promise((r) => setTimeout(r, 5));
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
let status = 200, answer = '';
try {
  if (readPredictInput) {
    const { instances, batch } = await readPredictInput(event);
    input.toImages(instances, batch);
  } else {
    input.toImages(http.parseJsonBody(event, input.PredictRequest, input.USAGE));
  }
} catch (err) {
  const res = http.errorResponse(err, () => undefined);
  status = res.statusCode;
  answer = res.body;
}
const ms = performance.now() - t0;
await new Promise((r) => setTimeout(r, 10));
await sampler.terminate();
console.log(JSON.stringify({ status, ms: Math.round(ms), rssBeforeMB: Math.round(rssBefore / 2 ** 20), peakRssMB: Atomics.load(peak, 0), answerBytes: answer.length, answer: answer.slice(0, 160) }));
`;

function bundleChild(root: string): string {
  const dir = join(tmpdir(), `lenet-predict-limits-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'child.ts');
  writeFileSync(entry, CHILD(root));
  const out = join(dir, 'child.mjs');
  buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: out,
    nodePaths: [join(root, 'node_modules')],
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return out;
}

const args = process.argv.slice(2);
const take = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const root = resolve(take('--root') ?? fileURLToPath(new URL('../..', import.meta.url)));
const timeout = Number(take('--timeout') ?? 120) * 1000;
const bundle = bundleChild(root);
for (const name of args.length ? args : CASES) {
  // Built here and handed over in a file, so the child's RSS is the request's alone.
  const p = await payload(name);
  const file = join(tmpdir(), `lenet-predict-limits-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({ contentType: p.contentType, body: p.body.toString('utf8') }));
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [bundle, file], { encoding: 'utf8', timeout, maxBuffer: 1 << 24 });
  rmSync(file, { force: true });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && line.startsWith('{')) console.log(JSON.stringify({ case: name, bodyBytes: p.body.length, ...JSON.parse(line) }));
  else
    console.log(
      JSON.stringify({
        case: name,
        failed: r.signal ?? `exit ${r.status}`,
        afterMs: Date.now() - t0,
        stderr: r.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300),
      }),
    );
}
