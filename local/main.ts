/**
 * The main job, end to end on the local emulator:
 * start MiniStack → cdk deploy → start the trainer → POST /jobs → watch it train (the trainer seeds
 * MNIST into the bucket on the first job) → POST /predict with real test digits through API Gateway.
 *
 *   npm start                       # quick: 3 epochs on 20,000 images (timings: README)
 *   npm start -- --full             # the reference run: 20 epochs on all 60,000 images
 *   npm start -- --epochs 5 --train-subset 30000 --lr-schedule constant
 *   npm start -- --ecs              # train in the stack's ECS service, run by MiniStack as a Docker container
 *   npm run stop                    # stop the trainer and the emulator afterwards
 *   npm start -- --expect-route native --min-correct 95   # fail unless so (CI's checks of a fresh clone)
 */
import { parseArgs } from 'node:util';
import { loadDatasetFromDir, mnistDataDir } from '../shared/dataset';
import type { TrainingParams } from '../shared/schemas';
import { ApiClient } from '../cli/api-client';
import { deployStack, emulatorEnv, emulatorInfo, startEmulator } from './emulator';
import { startLocalTrainer, stopLocalTrainer, TRAINER_LOG } from './local-trainer';
import { buildTrainerImage, waitForEcsTrainer } from './ecs-trainer';
import { ensureNativeAddon } from '../functions/trainer/steps/native/ensure-addon';
import { readStepSettings } from '../functions/trainer/config';
import { watchJob } from '../cli/watch-job';

const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    epochs: { type: 'string' },
    'train-subset': { type: 'string' },
    'lr-schedule': { type: 'string' },
    'batch-size': { type: 'string' },
    digits: { type: 'string', default: '100' },
    'min-accuracy': { type: 'string' },
    ecs: { type: 'boolean', default: false },
    'expect-route': { type: 'string' },
    'min-correct': { type: 'string' },
  },
});

const step = (n: number, text: string) => console.log(`\n[${n}/6] ${text}`);

async function main() {
  Object.assign(process.env, emulatorEnv());
  const emulator = emulatorInfo();
  // Augmentation pays off over long runs only, so the quick run leaves it out.
  const params: Partial<TrainingParams> = values.full ? {} : { epochs: 3, trainSubset: 20_000, augmentShift: 0 };
  if (values.epochs) params.epochs = Number(values.epochs);
  if (values['train-subset']) params.trainSubset = Number(values['train-subset']);
  if (values['batch-size']) params.batchSize = Number(values['batch-size']);
  if (values['lr-schedule']) params.lrSchedule = values['lr-schedule'] as TrainingParams['lrSchedule'];
  // The quick run cannot reach the production bar of 0.98, so its model is served from 0.9 up.
  const minAccuracy = values['min-accuracy'] ?? (values.full ? '0.98' : '0.9');

  step(
    1,
    emulator.external
      ? `Using the local AWS emulator at ${emulator.url} (${emulator.label}, LENET_EMULATOR_URL)`
      : `Starting the local AWS emulator (${emulator.label} on ${emulator.url})`,
  );
  await startEmulator();

  step(2, `Deploying the stack with cdk deploy (local mode${values.ecs ? ', trainer as an ECS service: -c localEcs=true' : ''})`);
  if (values.ecs) {
    console.log('  building the trainer image lenet-trainer:local (npm run build:trainer-image)');
    await buildTrainerImage();
  }
  // The api function's POST /models/promote uses the same threshold as the trainer.
  const context: Record<string, string> = { promotionMinAccuracy: minAccuracy };
  if (values.ecs) context.localEcs = 'true';
  const outputs = await deployStack({ quiet: true, context });
  console.log(`  API ${outputs.ApiUrl}\n  bucket ${outputs.BucketName}\n  queue ${outputs.QueueUrl}`);

  await stopLocalTrainer();
  let running: string;
  if (values.ecs) {
    step(3, "Waiting for MiniStack to run the trainer service's ECS task as a Docker container");
    const name = await waitForEcsTrainer(outputs.BucketName);
    running = `the trainer container ${name} (docker logs ${name})`;
    console.log(`  container ${name}`);
  } else {
    step(3, `Starting the trainer as a host process (log: ${TRAINER_LOG})`);
    // The fast (native oneDNN) route needs the addon: built here the first time, from PyPI, no root.
    const native = ensureNativeAddon((line) => console.log(`  ${line}`), readStepSettings().native);
    if (!native.ok)
      console.log(
        `  no native route (${native.reason}): the trainer takes the portable one (tfjs-node or wasm, several times slower); the native route needs g++, make and python3-venv, then npm run build:native`,
      );
    const trainer = startLocalTrainer({
      bucketName: outputs.BucketName,
      queueUrl: outputs.QueueUrl,
      // The batch role is what a Fargate task assumes for batch predictions; a host trainer does too.
      env: { PROMOTION_MIN_ACCURACY: minAccuracy, BATCH_ROLE_ARN: outputs.raw.BatchRoleArn ?? '' },
      detached: true,
    });
    running = `the trainer (pid ${trainer.pid})`;
    console.log(`  pid ${trainer.pid}`);
  }

  step(4, 'Submitting a training job: POST /jobs');
  const api = new ApiClient(outputs.ApiUrl);
  const job = await api.submit(params);
  console.log(`  job ${job.jobId}: ${JSON.stringify(job.params)}`);

  step(5, 'Training (GET /jobs/{id} until it ends)');
  const done = await watchJob(api, job.jobId);
  if (done.status !== 'SUCCEEDED') throw new Error(`job ${job.jobId} ${done.status}: ${done.reason}`);
  const route = done.metrics.at(-1)?.route ?? done.backend ?? 'unknown';
  console.log(
    `  route ${route}; test accuracy ${done.testAccuracy?.toFixed(4)}; ${done.promoted ? 'promoted' : 'not promoted'}: ${done.promotion}`,
  );
  const expectRoute = values['expect-route'];
  if (expectRoute && !route.startsWith(expectRoute))
    throw new Error(`job ${job.jobId} trained on ${route}, not ${expectRoute} (--expect-route)`);

  step(6, `Predicting ${values.digits} real MNIST test digits: POST /predict`);
  const { test } = await loadDatasetFromDir(mnistDataDir());
  const count = Math.min(Number(values.digits), test.count);
  let correct = 0;
  const rows: string[] = [];
  for (let from = 0; from < count; from += 50) {
    const batch = Array.from({ length: Math.min(50, count - from) }, (_, i) => ({
      pixels: Array.from(test.images.subarray((from + i) * 784, (from + i + 1) * 784)),
    }));
    const { predictions } = await api.predict<{ predictions: { digit: number; probabilities: number[] }[] }>({ instances: batch });
    predictions.forEach((p, i) => {
      const label = test.labels[from + i];
      if (p.digit === label) correct++;
      if (rows.length < 10)
        rows.push(`  #${from + i}: label ${label} → predicted ${p.digit} (p=${Math.max(...p.probabilities).toFixed(3)})`);
    });
  }
  console.log(rows.join('\n'));
  console.log(`\n${correct}/${count} correct (${((100 * correct) / count).toFixed(1)}%) through API Gateway.`);
  const minCorrect = values['min-correct'];
  if (minCorrect && correct < Number(minCorrect)) throw new Error(`${correct}/${count} correct, fewer than ${minCorrect} (--min-correct)`);
  console.log(`\nStill running: the emulator (${emulator.label}, ${emulator.url}) and ${running}.`);
  console.log(`Page: ${outputs.ApiUrl}`);
  // The emulator scripts read the choice from the environment: repeat non-default settings in the hints.
  const port = ['LENET_EMULATOR', 'LENET_EMULATOR_PORT', 'LENET_EMULATOR_URL']
    .filter((k) => process.env[k])
    .map((k) => `${k}=${process.env[k]} `)
    .join('');
  console.log(
    `CLI: eval "$(${port}npx tsx local/emulator.ts env)"; then npx lenet jobs | npx lenet models | npx lenet submit --epochs 1 --watch`,
  );
  console.log(`Stop everything: ${port}npm run stop`);
}

main().catch((err) => {
  console.error(`\nerror: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
