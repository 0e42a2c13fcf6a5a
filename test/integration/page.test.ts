/**
 * The web page in Chromium, at a phone size and a desktop size, against the stack deployed on the
 * emulator (real API Gateway, real api and predict Lambdas): draw a digit (touch on the phone, mouse
 * on the desktop), upload and drop a PNG of a real MNIST digit, compare the 28x28 preview with the
 * server's own preprocessing, read the served-model card and the charts, check that nothing
 * overflows its card, and save screenshots under artifacts/.
 *
 * The served model is a real LeNet-5 trained here for 2 epochs on 6,000 images (the trainer
 * process's own path is e2e.test.ts); its status document is written as the trainer writes one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import * as tf from '@tensorflow/tfjs-core';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../shared/aws';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take, type Dataset } from '../../shared/idx';
import { jobKeys, modelKeys, sweepIndexKeys, sweepKeys } from '../../shared/bucket-layout';
import { jobIdAt, JobStore } from '../../shared/job-store';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { promoteIfBetter } from '../../shared/promotion';
import { Bucket } from '../../shared/s3-objects';
import { TrainingParams } from '../../shared/schemas';
import { train } from '../../functions/trainer/loop/train';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { imageToMnist } from '../../shared/digits/image';
import { PAGE_CSP } from '../../functions/api/page';
import { deployStack } from '../../local/emulator';
import { useEmulator, emulatorReady } from '../helpers/aws';
import type { EpochMetrics, SweepDoc } from '../../shared/documents';

let apiUrl: string;
let bucket: Bucket;
let browser: Browser;
let testSet: Dataset;
let servedId: string;
let runningId: string;
let sweep: SweepDoc;
let pngPath: string;
let pngBytes: Buffer;
let pngLabel: number;

/** A real MNIST test digit drawn 4x larger, dark on light, as a photo or scan would be. */
function digitPng(index: number): Buffer {
  const png = new PNG({ width: 112, height: 112 });
  for (let y = 0; y < 112; y++) {
    for (let x = 0; x < 112; x++) {
      const v = Math.round(255 * (1 - testSet.images[index * 784 + Math.floor(y / 4) * 28 + Math.floor(x / 4)]));
      png.data.set([v, v, v, 255], (y * 112 + x) * 4);
    }
  }
  return PNG.sync.write(png);
}

before(async () => {
  await emulatorReady();
  const outputs = await deployStack({ stackName: 'LenetPage', quiet: true });
  apiUrl = outputs.ApiUrl;
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  await initTrainingBackend('wasm');
  const data = await loadDatasetFromDir(mnistDataDir());
  testSet = data.test;

  const started = new Date(Date.now() - 120_000);
  servedId = jobIdAt(started, 'pageserv');
  const params = TrainingParams.parse({ epochs: 2, augmentShift: 0 });
  const metrics: EpochMetrics[] = [];
  const model = buildLeNet5({ seed: 5 });
  await train(model, take(data.train, 6000), { params, backend: 'wasm', hooks: { onEpochEnd: async (m) => void metrics.push(m) } });
  // Scored on the whole test set, as the trainer scores a model it may serve.
  const TEST_IMAGES = testSet.count;
  const predicted = tf.tidy(() =>
    tf
      .argMax(model.predict(tf.tensor4d(testSet.images.subarray(0, TEST_IMAGES * 784), [TEST_IMAGES, 28, 28, 1])) as tf.Tensor, -1)
      .dataSync(),
  );
  const testAccuracy = Array.from(predicted).filter((d, i) => d === testSet.labels[i]).length / TEST_IMAGES;
  await saveCheckpoint(bucket, modelKeys.final(servedId), model, {
    jobId: servedId,
    epoch: 2,
    backend: 'wasm',
    testAccuracy,
    testImages: TEST_IMAGES,
    fullTestSet: true,
    createdAt: new Date().toISOString(),
    includeOptimizer: false,
  });
  disposeModel(model);
  const jobs = new JobStore(bucket);
  const finished = new Date().toISOString();
  await jobs.record({
    jobId: servedId,
    status: 'SUCCEEDED',
    params,
    createdAt: started.toISOString(),
    updatedAt: finished,
    epoch: 2,
    totalEpochs: 2,
    metrics,
    testAccuracy,
    ...{ testImages: TEST_IMAGES },
  });
  // force: an earlier run on the same emulator may have left a better model served.
  const promoted = await promoteIfBetter(bucket, { jobId: servedId, epoch: 2, testAccuracy }, { minAccuracy: 0, force: true });
  assert.ok(promoted.pointer, promoted.reason);

  // The newest job: in the middle of its 4th epoch, as a trainer leaves it (status document + progress).
  runningId = jobIdAt(new Date(), 'pagerun');
  const now = new Date().toISOString();
  await jobs.record({
    jobId: runningId,
    status: 'RUNNING',
    params,
    createdAt: now,
    updatedAt: now,
    epoch: 3,
    totalEpochs: 20,
    metrics: metrics.concat({ ...metrics[1], epoch: 3 }),
    reason: 'SECRET-reason',
  });
  await jobs.putProgress(runningId, { epoch: 4, batch: 812, batches: 1688 });

  // The newest sweep: three variants with their own validation curves, as a sweep's trainers leave them
  // (created before the running job, which stays the newest job). A variant's error must never show.
  const sweepAt = new Date(Date.now() - 60_000);
  const choices = [
    { learningRate: 0.001, seed: 1 },
    { learningRate: 0.003, seed: 1 },
    { learningRate: 0.001, seed: 2 },
  ];
  sweep = {
    sweepId: `sweep-${jobIdAt(sweepAt, 'pagesw').slice(4)}`,
    createdAt: sweepAt.toISOString(),
    request: { grid: { learningRate: [0.001, 0.003], seed: [1, 2] }, promote: 'none' },
    promote: 'none',
    variants: choices.map((params, i) => ({ jobId: jobIdAt(sweepAt, `pagesw${i}`), params })),
  };
  await bucket.putJson(sweepKeys.doc(sweep.sweepId), sweep);
  await bucket.putBytes(sweepIndexKeys.entry(sweep.createdAt, sweep.sweepId), new Uint8Array(0));
  for (const [i, v] of sweep.variants.entries()) {
    const epochs = 3 - (i === 2 ? 1 : 0);
    await jobs.record({
      jobId: v.jobId,
      status: i === 2 ? 'FAILED' : 'SUCCEEDED',
      sweepId: sweep.sweepId,
      params: TrainingParams.parse({ ...v.params, epochs: 3 }),
      createdAt: sweep.createdAt,
      updatedAt: sweep.createdAt,
      epoch: epochs,
      totalEpochs: 3,
      metrics: Array.from({ length: epochs }, (_x, e) => ({ ...metrics[0], epoch: e + 1, valAccuracy: 0.8 + 0.05 * e - 0.1 * i })),
      ...(i === 2 ? { reason: 'SECRET-sweep-reason' } : {}),
    });
  }

  pngLabel = testSet.labels[0];
  pngBytes = digitPng(0);
  pngPath = join(mkdtempSync(join(tmpdir(), 'lenet-page-')), `digit-${pngLabel}.png`);
  writeFileSync(pngPath, pngBytes);
  mkdirSync('artifacts', { recursive: true });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  const sweepKeysToDrop = sweep ? [sweepIndexKeys.entry(sweep.createdAt, sweep.sweepId)] : [];
  for (const key of runningId ? [jobKeys.status(runningId), jobKeys.progress(runningId), ...sweepKeysToDrop] : []) {
    await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key }));
  }
});

// After the hooks above, so its after() (which may stop the emulator) runs after theirs.
useEmulator();

/** Elements that stick out of their card, and whether the page scrolls sideways. */
function overflows(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const bad: string[] = [];
    // No named helper functions in here: the test runner's transpiler would wrap them in a __name() the page lacks.
    for (const card of document.querySelectorAll('.card')) {
      const c = card.getBoundingClientRect();
      if (card.scrollWidth > card.clientWidth + 1) bad.push(`${card.id} scrolls sideways (${card.scrollWidth} > ${card.clientWidth})`);
      for (const e of card.querySelectorAll('*')) {
        const r = e.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.left < c.left - 1 || r.right > c.right + 1 || r.top < c.top - 1 || r.bottom > c.bottom + 1) {
          bad.push(
            `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${e.getAttribute('class') ?? ''} [${Math.round(r.left)}..${Math.round(r.right)}] outside ${card.id} [${Math.round(c.left)}..${Math.round(c.right)}]`,
          );
        }
      }
    }
    if (document.documentElement.scrollWidth > window.innerWidth)
      bad.push(`page is ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`);
    return bad;
  });
}

/** The 28x28 preview canvas as 784 values in 0..1. */
function previewPixels(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const c = document.getElementById('seen') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, 28, 28).data;
    return Array.from({ length: 784 }, (_, i) => d[4 * i] / 255);
  });
}

/** Waits for a prediction different from `previous` and returns the digit shown. */
async function nextPrediction(page: Page, previous: string | null): Promise<string> {
  await page.waitForFunction((prev) => {
    const t = document.getElementById('digit')!.textContent;
    return t !== '?' && t !== prev && document.getElementById('bars')!.children.length === 10;
  }, previous);
  return page.locator('#digit').innerText();
}

for (const size of [
  { name: 'phone', width: 360, height: 740, touch: true },
  { name: 'desktop', width: 1280, height: 900, touch: false },
]) {
  test(`the page at ${size.width}x${size.height} (${size.name}): draw, upload, preview, model card, charts, job progress, nothing overflows`, async () => {
    const context = await browser.newContext({
      viewport: { width: size.width, height: size.height },
      hasTouch: size.touch,
      isMobile: size.touch,
    });
    const page = await context.newPage();
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
    });
    try {
      const res = await page.goto(apiUrl);
      assert.equal(res?.headers()['content-security-policy'], PAGE_CSP);
      assert.equal(res?.headers()['x-content-type-options'], 'nosniff');

      // The served-model card and the newest (running) job, from GET /summary.
      const modelCard = page.locator('#model-card');
      await modelCard.locator('svg.plot').nth(1).waitFor();
      const modelText = await modelCard.innerText();
      assert.match(modelText, /Test accuracy\s+\d\d\.\d\d%/);
      assert.match(modelText, /Test images\s+10,000/);
      assert.match(modelText, /Trained\s+\S/);
      assert.match(modelText, /Promoted\s+\S/);
      assert.equal(
        await modelCard.locator(`span[title="${servedId}"]`).count(),
        1,
        'the long id is shortened with the full id in its title',
      );
      assert.ok(!modelText.includes(servedId), 'the id is shortened');
      assert.deepEqual(await modelCard.locator('.chart figcaption').allInnerTexts(), ['Loss', 'Accuracy']);
      assert.deepEqual(await modelCard.locator('.chart').first().locator('.legend li').allInnerTexts(), ['Train', 'Validation']);
      assert.equal(await modelCard.locator('.chart').first().locator('svg.plot circle.train').count(), 2);
      assert.equal(await modelCard.locator('.chart').first().locator('svg.plot circle.val').count(), 2);
      assert.match(
        await modelCard
          .locator('.chart')
          .nth(1)
          .locator('.axis .label')
          .allTextContents()
          .then((t) => t.join('|')),
        /epoch\|accuracy \(%\)/,
      );

      const jobCard = page.locator('#job-card');
      await jobCard.locator('#job-where').waitFor();
      assert.equal(await jobCard.locator('#job-where').innerText(), 'Epoch 4 of 20, batch 812 of 1688');
      assert.equal(await jobCard.locator('.status').innerText(), 'RUNNING');
      const bar = jobCard.locator('[role=progressbar]');
      assert.equal(await bar.getAttribute('aria-valuenow'), String(Math.round(((3 + 812 / 1688) / 20) * 100)));
      assert.match(await jobCard.innerText(), /need AWS credentials: npx lenet jobs/);
      assert.doesNotMatch(await page.content(), /SECRET-reason/);
      assert.equal(await jobCard.locator('svg.plot').count(), 2, 'the running job has its own curves');

      // The newest sweep: one validation-accuracy curve per variant on one chart, each in its own colour,
      // with a legend naming the variant by its numeric choices; no bigger than the model's charts.
      const sweepCard = page.locator('#sweep-card');
      await sweepCard.locator('svg.plot').waitFor();
      assert.equal(await sweepCard.locator('.chart').count(), 1);
      assert.equal(await sweepCard.locator('.chart figcaption').innerText(), 'Validation accuracy per variant');
      assert.deepEqual(await sweepCard.locator('.legend li').allInnerTexts(), ['lr 0.001, seed 1', 'lr 0.003, seed 1', 'lr 0.001, seed 2']);
      const lines = await sweepCard.locator('svg.plot path').evaluateAll((ps) => ps.map((p) => p.getAttribute('stroke')));
      const keys = await sweepCard.locator('.legend path').evaluateAll((ps) => ps.map((p) => p.getAttribute('stroke')));
      assert.equal(lines.length, 3, 'one line per variant');
      assert.equal(new Set(lines).size, 3, `three colours: ${lines}`);
      assert.deepEqual(keys, lines, "each legend entry in its line's colour");
      assert.equal(await sweepCard.locator('svg.plot circle').count(), 3 + 3 + 2, 'a point per finished epoch');
      assert.match(await sweepCard.innerText(), /2 SUCCEEDED, 1 FAILED/);
      assert.doesNotMatch(await page.content(), /SECRET-sweep-reason/);
      const sweepBox = (await sweepCard.locator('svg.plot').boundingBox())!;
      const modelBox = (await modelCard.locator('svg.plot').first().boundingBox())!;
      assert.ok(
        sweepBox.height <= modelBox.height && sweepBox.width <= modelBox.width + 1,
        `${JSON.stringify(sweepBox)} vs ${JSON.stringify(modelBox)}`,
      );
      await sweepCard.locator('svg.plot').focus();
      assert.match(
        await sweepCard.locator('.readout').innerText(),
        /^Epoch 3: lr 0\.001, seed 1: 90\.00%; lr 0\.003, seed 1: 80\.00%; lr 0\.001, seed 2: n\/a$/,
      );

      // Values on focus and with the arrow keys, and on hover.
      const lossChart = modelCard.locator('.chart').first();
      await lossChart.locator('svg.plot').focus();
      assert.match(await lossChart.locator('.readout').innerText(), /^Epoch 2: train \d\.\d+, validation \d\.\d+$/);
      await page.keyboard.press('ArrowLeft');
      assert.match(await lossChart.locator('.readout').innerText(), /^Epoch 1: /);
      const accChart = modelCard.locator('.chart').nth(1);
      await accChart.locator('circle.train').last().hover({ force: true });
      assert.match(await accChart.locator('.readout').innerText(), /^Epoch 2: train \d+\.\d\d%, validation \d+\.\d\d%$/);

      // Draw a 1: with a finger on the phone (touch events through CDP), with the mouse on the desktop.
      const padLocator = page.locator('#pad');
      await padLocator.scrollIntoViewIfNeeded();
      const pad = (await padLocator.boundingBox())!;
      const k = pad.width / 280;
      const stroke: [number, number][] = Array.from({ length: 11 }, (_, i) => [140 + i, 40 + i * 20]);
      if (size.touch) {
        const cdp = await context.newCDPSession(page);
        const point = ([x, y]: [number, number]) => ({ x: pad.x + x * k, y: pad.y + y * k });
        await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point(stroke[0])] });
        for (const p of stroke.slice(1)) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [point(p)] });
        await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      } else {
        await page.mouse.move(pad.x + stroke[0][0] * k, pad.y + stroke[0][1] * k);
        await page.mouse.down();
        for (const [x, y] of stroke.slice(1)) await page.mouse.move(pad.x + x * k, pad.y + y * k, { steps: 3 });
        await page.mouse.up();
      }
      assert.equal(await nextPrediction(page, null), '1');
      // The preview is the server's 28x28: a tall, thin stroke centred in the frame.
      const drawn = await previewPixels(page);
      const rows = Array.from({ length: 28 }, (_, y) => drawn.slice(y * 28, y * 28 + 28).some((v) => v > 0.5));
      const cols = Array.from({ length: 28 }, (_, x) => drawn.some((v, i) => i % 28 === x && v > 0.5));
      assert.ok(rows.filter(Boolean).length >= 18 && cols.filter(Boolean).length <= 8, 'a vertical stroke, 20 px tall');
      assert.match(await page.locator('#by').innerText(), /^Model job-\S+…\S+, test accuracy \d\d\.\d\d%$/);

      // Upload a PNG of a real test digit: the preview must be the server's preprocessing of those bytes.
      await page.setInputFiles('#file', pngPath);
      assert.equal(await nextPrediction(page, '1'), String(pngLabel));
      const expected = imageToMnist(pngBytes);
      await page.waitForFunction(() => document.querySelector<HTMLImageElement>('#input-img')!.complete);
      const shown = await previewPixels(page);
      const worst = Math.max(...shown.map((v, i) => Math.abs(v - expected[i])));
      assert.ok(worst <= 1.5 / 255, `preview differs from the server's preprocessing by up to ${worst}`);
      assert.match((await page.locator('#input-img').getAttribute('src'))!, /^blob:/);
      assert.equal(await page.locator('#bars li.top').count(), 1);

      if (!size.touch) {
        // Drop a file on the page: the same digit as a JPEG-less PNG, dropped instead of chosen.
        await page.click('#clear');
        assert.equal(await page.locator('#digit').innerText(), '?');
        const dataTransfer = await page.evaluateHandle((b64) => {
          const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
          return dt;
        }, pngBytes.toString('base64'));
        await page.dispatchEvent('#drop', 'drop', { dataTransfer });
        assert.equal(await nextPrediction(page, null), String(pngLabel));
        // A file that is not an image is refused with a message, not sent.
        await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('seven') });
        assert.match(await page.locator('#error').innerText(), /Choose a PNG or JPEG image/);
      }

      await page.screenshot({ path: `artifacts/page-${size.width}x${size.height}.png`, fullPage: true });
      assert.deepEqual(await overflows(page), []);
      assert.deepEqual(cspErrors, []);
    } finally {
      await context.close();
    }
  });
}
