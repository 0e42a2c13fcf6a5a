/**
 * Sweeps on the emulator, through its API Gateway and the deployed api function, run by TWO trainer
 * host processes on the stack's queue: `lenet sweep` (the real CLI) submits a 4-variant grid with
 * --promote best; both trainers take its jobs side by side, each job is leased and run once, the
 * ranking is by test accuracy (ties: lower loss), and the winner is promoted exactly once, after
 * all have ended. Also: POST /sweeps refuses an over-cap grid and an over-cap variant with a 400
 * and queues nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { jobKeys, modelKeys, PREFIXES, sweepKeys } from '../../shared/bucket-layout';
import type { LatestModel, LeaseDoc, SweepPromotionClaim } from '../../shared/documents';
import { JobStore } from '../../shared/job-store';
import { Bucket } from '../../shared/s3-objects';
import type { SweepView } from '../../functions/api/sweeps-api';
import { ApiClient, ApiError } from '../../cli/api-client';
import { deployStack, emulatorGap, type StackOutputs } from '../../local/emulator';
import { emulatorReady, useEmulator } from '../helpers/aws';
import { queueCounts, SMALL_MNIST, spawnTrainer, stopTrainer, type Trainer, uploadSmallMnist, waitFor } from '../helpers/trainer';

useEmulator();
const skip = emulatorGap('lambda');

const CLI = fileURLToPath(new URL('../../cli/lenet.mjs', import.meta.url));
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const TRAINERS = ['sweep-a', 'sweep-b'];

let outputs: StackOutputs;
let api: ApiClient;
let bucket: Bucket;
const trainers: Trainer[] = [];

before(async () => {
  if (skip) return;
  await emulatorReady();
  outputs = await deployStack({ stackName: 'LenetSweep', quiet: true });
  api = new ApiClient(outputs.ApiUrl, { region: 'us-east-1', credentials: CREDENTIALS });
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  // The whole test set is 300 images, so every variant is scored on all of it and may be promoted.
  await uploadSmallMnist(bucket, SMALL_MNIST, 2000, 300);
  // A stack left by an earlier run may serve a model and hold messages: start from none of either.
  await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: modelKeys.latest }));
  await makeSqsClient().send(new PurgeQueueCommand({ QueueUrl: outputs.QueueUrl }));
  await waitFor('the purged queue to be empty', async () => (await queueCounts(outputs.QueueUrl)).total === 0, 30_000);
});

after(async () => {
  await Promise.all(trainers.map((t) => stopTrainer(t)));
});

/** The real CLI against the deployed API. */
function lenet(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      LENET_API_URL: outputs.ApiUrl,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    },
  });
}

async function refusal(body: Parameters<ApiClient['sweep']>[0]): Promise<ApiError> {
  try {
    await api.sweep(body);
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  assert.fail('the sweep was accepted');
}

test('POST /sweeps: over the size cap or with a variant over the compute cap is a 400 that says so, and queues nothing', {
  skip,
}, async () => {
  const sweepsBefore = await bucket.listKeys(PREFIXES.sweeps);
  const big = await refusal({ grid: { seed: [1, 2, 3, 4, 5], learningRate: [0.001, 0.002, 0.003, 0.004] }, base: { epochs: 1 } });
  assert.equal(big.status, 400);
  assert.match(big.message, /learningRate 4 × seed 5 = 20 combinations; the limit is 16 variants/);
  // On MNIST (60,000 images, the default dataset): 100 epochs at batch 1 is 5.4 million steps.
  const costly = await refusal({ grid: { epochs: [1, 100] }, base: { batchSize: 1 } });
  assert.equal(costly.status, 400);
  assert.match(costly.message, /variant 2 \(epochs=100\): the job would take 5400000 steps/);
  assert.doesNotMatch(costly.message, /variant 1/);
  const both = await refusal({ grid: { seed: [1] }, variants: [{ seed: 2 }] });
  assert.equal(both.status, 400);
  assert.match(both.message, /exactly one of "grid"/);
  assert.deepEqual(await bucket.listKeys(PREFIXES.sweeps), sweepsBefore, 'no sweep recorded');
  assert.equal((await queueCounts(outputs.QueueUrl)).total, 0);
  // The CLI says the same, as a failed request (exit 1).
  const cli = lenet('sweep', '--seed', '1,2,3,4,5', '--learning-rate', '0.001,0.002,0.003,0.004');
  assert.equal(cli.status, 1, cli.stderr);
  assert.match(cli.stderr, /20 combinations; the limit is 16/);
});

test('a 4-variant sweep on two trainers: side by side, each job leased and run once, ranked, the winner promoted once', {
  skip,
}, async () => {
  for (const name of TRAINERS) trainers.push(spawnTrainer(name, bucket, outputs.QueueUrl));
  await waitFor(
    'both trainers to be ready',
    async () => trainers.every((t) => t.logs().some((l) => l.message === 'trainer ready')),
    120_000,
  );
  const submittedAt = new Date();
  const cli = lenet(
    ...['sweep', '--learning-rate', '0.0005,0.003', '--seed', '1,2', '--epochs', '3', '--dataset-prefix', SMALL_MNIST],
    ...['--lr-schedule', 'constant', '--augment-shift', '0', '--promote', 'best', '--json'],
  );
  assert.equal(cli.status, 0, cli.stderr);
  const submitted = JSON.parse(cli.stdout) as SweepView;
  assert.equal(submitted.variants.length, 4);
  assert.deepEqual(
    submitted.variants.map((v) => [v.params.learningRate, v.params.seed, v.status]),
    [
      [0.0005, 1, 'QUEUED'],
      [0.0005, 2, 'QUEUED'],
      [0.003, 1, 'QUEUED'],
      [0.003, 2, 'QUEUED'],
    ],
  );
  const sweep = await waitFor(
    'the sweep to end and its promotion to be recorded',
    async () => {
      const s = await api.sweepStatus(submitted.sweepId);
      return s.done && s.promotion?.outcome ? s : undefined;
    },
    600_000,
    1000,
  );

  // Every job SUCCEEDED on its first attempt, leased once (fence 1: no second owner), nothing left on the queue.
  const jobs = new JobStore(bucket);
  const statuses = await Promise.all(sweep.variants.map(async (v) => (await jobs.get(v.jobId))!));
  for (const s of statuses) {
    assert.equal(s.status, 'SUCCEEDED', `${s.jobId}: ${s.reason}`);
    assert.equal(s.attempts, 1, s.jobId);
    assert.equal(s.sweepId, submitted.sweepId);
    assert.equal(s.fullTestSet, true);
    assert.equal(s.promoted, false, `${s.jobId} did not promote itself: ${s.promotion}`);
    assert.equal((await bucket.getJson<LeaseDoc>(jobKeys.lease(s.jobId)))?.fence, 1, `${s.jobId} leased once`);
  }
  assert.equal((await queueCounts(outputs.QueueUrl)).total, 0);

  // Both trainers ran jobs, each job ran once (one start and one end in all the logs), and two ran at the same time.
  const runs = trainers.flatMap((t, i) =>
    sweep.variants.flatMap((v) => {
      const lines = t.logs().filter((l) => l.jobId === v.jobId);
      const starts = lines.filter((l) => l.message === 'starting' || l.message === 'resuming from checkpoint');
      const ends = lines.filter((l) => l.message === 'job succeeded');
      assert.ok(
        starts.length <= 1 && ends.length === starts.length,
        `${TRAINERS[i]} ${v.jobId}: ${starts.length} starts, ${ends.length} ends`,
      );
      return starts.length
        ? [
            {
              trainer: TRAINERS[i],
              jobId: v.jobId,
              from: Date.parse(String(starts[0].timestamp)),
              to: Date.parse(String(ends[0].timestamp)),
            },
          ]
        : [];
    }),
  );
  assert.deepEqual(runs.map((r) => r.jobId).sort(), sweep.variants.map((v) => v.jobId).sort(), 'every job started exactly once');
  for (const r of runs) assert.equal(statuses.find((s) => s.jobId === r.jobId)?.trainer, r.trainer, `${r.jobId} records its trainer`);
  assert.deepEqual([...new Set(runs.map((r) => r.trainer))].sort(), TRAINERS, 'both trainers took jobs');
  const overlapping = runs.some((a) => runs.some((b) => a.trainer !== b.trainer && a.from < b.to && b.from < a.to));
  assert.ok(overlapping, `no two runs overlapped: ${JSON.stringify(runs)}`);

  // The ranking: by test accuracy, ties by the lower loss; ranks 1..4.
  const expected = [...statuses].sort((a, b) => b.testAccuracy! - a.testAccuracy! || a.testLoss! - b.testLoss!).map((s) => s.jobId);
  assert.deepEqual(sweep.ranking, expected, JSON.stringify(statuses.map((s) => [s.jobId, s.testAccuracy, s.testLoss])));
  assert.deepEqual(
    sweep.ranking.map((id) => sweep.variants.find((v) => v.jobId === id)?.rank),
    [1, 2, 3, 4],
  );
  for (const v of sweep.variants) assert.ok(v.bestValAccuracy! > 0 && v.epoch === 3 && v.totalEpochs === 3, JSON.stringify(v));

  // The winner was promoted once, by one of the two trainers, after every job had ended.
  const winner = sweep.ranking[0];
  const outcome = sweep.promotion!.outcome!;
  assert.equal(outcome.winner, winner);
  assert.equal(outcome.promoted, true, outcome.reason);
  const claim = await bucket.getJson<SweepPromotionClaim>(sweepKeys.promotionClaim(submitted.sweepId));
  assert.ok(claim && TRAINERS.includes(claim.claimedBy) && claim.winner === winner, JSON.stringify(claim));
  assert.ok(
    statuses.every((s) => s.updatedAt <= claim.claimedAt),
    'claimed after every job had ended',
  );
  const latest = await bucket.getJson<LatestModel>(modelKeys.latest);
  assert.equal(latest?.jobId, winner);
  assert.equal(latest?.promotionId, outcome.pointer?.promotionId);
  const versions = await bucket.s3.send(new ListObjectVersionsCommand({ Bucket: bucket.name, Prefix: modelKeys.latest }));
  const written = (versions.Versions ?? []).filter((v) => v.Key === modelKeys.latest && v.LastModified! >= submittedAt);
  assert.equal(written.length, 1, `models/latest.json written ${written.length} times during the sweep`);
  const finished = trainers.flatMap((t) => t.logs().filter((l) => l.message === 'sweep finished'));
  assert.equal(finished.length, 1, 'one trainer settled the sweep');

  // `lenet sweep status` shows the same ranking.
  const status = lenet('sweep', 'status', submitted.sweepId, '--json');
  assert.equal(status.status, 0, status.stderr);
  assert.deepEqual((JSON.parse(status.stdout) as SweepView).ranking, sweep.ranking);
  const table = lenet('sweep', 'status', submitted.sweepId);
  assert.match(table.stdout, new RegExp(`promoted ${winner}`));
  assert.equal(lenet('sweep', 'status', 'sweep-nope').status, 3, 'an unknown sweep exits 3');
});
