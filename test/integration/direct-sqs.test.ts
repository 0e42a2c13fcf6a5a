/**
 * Jobs sent straight to SQS (the README's `aws sqs send-message` example, parsed out of README.md), run by a
 * real trainer process, and the CloudWatch metrics (EMF lines on its stdout) that trainer writes for them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { makeSqsClient } from '../../shared/aws';
import { JobStore } from '../../shared/job-store';
import type { Bucket } from '../../shared/s3-objects';
import { TrainingParams } from '../../shared/schemas';
import { METRICS } from '../../shared/settings';
import { DEFAULT_DATASET_PREFIX } from '../../shared/bucket-layout';
import { freshBucket, freshQueue, useEmulator, emulatorReady } from '../helpers/aws';
import { queueCounts, spawnTrainer, stopTrainer, uploadSmallMnist, waitFor, type Trainer } from '../helpers/trainer';
import type { JobStatus } from '../../shared/documents';

useEmulator();

let bucket: Bucket;
let jobs: JobStore;
let queueUrl: string;
let trainer: Trainer;

/** The --message-body of the README's one `aws sqs send-message` command. */
function readmeMessageBody(): string {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const commands = readme.split('\n').filter((l) => l.startsWith('aws sqs send-message '));
  assert.equal(commands.length, 1, 'README.md has one aws sqs send-message example');
  const body = /--message-body '([^']*)'/.exec(commands[0])?.[1];
  assert.ok(body, commands[0]);
  return body;
}

async function send(body: string): Promise<{ messageId: string; sentAt: number }> {
  const sentAt = Date.now();
  const out = await makeSqsClient().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  return { messageId: out.MessageId!, sentAt };
}

const ended = (jobId: string) => async () => {
  const s = await jobs.get(jobId);
  return s && (s.status === 'SUCCEEDED' || s.status === 'FAILED') ? s : undefined;
};

before(async () => {
  await emulatorReady();
  bucket = await freshBucket('direct-sqs');
  jobs = new JobStore(bucket);
  queueUrl = await freshQueue('direct-sqs');
  // Real MNIST images at the default prefix, as upload-mnist leaves them, but only the first few thousand.
  await uploadSmallMnist(bucket, DEFAULT_DATASET_PREFIX, 3000, 1000);
  trainer = spawnTrainer('direct-sqs', bucket, queueUrl);
});

after(async () => {
  await stopTrainer(trainer, 10_000);
});

test("the README's aws sqs send-message body trains as a job recorded like one from POST /jobs, under message-<MessageId>", async () => {
  const body = readmeMessageBody();
  const { messageId, sentAt } = await send(body);
  const jobId = `message-${messageId}`;
  const done = await waitFor<JobStatus>(`${jobId} to end`, ended(jobId), 180_000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.deepEqual(done.params, TrainingParams.parse(JSON.parse(body)), 'the parameters with the defaults POST /jobs fills in');
  assert.equal(done.totalEpochs, done.params!.epochs);
  assert.deepEqual(
    done.metrics.map((m) => m.epoch),
    Array.from({ length: done.params!.epochs }, (_, i) => i + 1),
  );
  assert.ok(done.testAccuracy! > 0.5, `test accuracy ${done.testAccuracy}`);
  // createdAt is when SQS took the message (its SentTimestamp), not when the trainer got to it.
  assert.ok(Math.abs(Date.parse(done.createdAt) - sentAt) < 5_000, `createdAt ${done.createdAt} vs sent ${new Date(sentAt).toISOString()}`);
  assert.equal(done.attempts, 1);
  assert.ok(
    (await jobs.scanAll()).some((j) => j.jobId === jobId),
    'listed like any job',
  );
  const recorded = trainer.logs().find((l) => l.message === 'recorded a job sent straight to the queue' && l.jobId === jobId);
  assert.equal(recorded?.form, 'params', 'recorded QUEUED before it ran');
  assert.equal((await queueCounts(queueUrl)).total, 0, 'message deleted');
});

test('bad parameters sent straight to SQS: FAILED with the reason, message deleted, not retried', async () => {
  const { messageId } = await send('{"epochs": 0, "trainSubset": 100}');
  const jobId = `message-${messageId}`;
  const failed = await waitFor<JobStatus>(`${jobId} to end`, ended(jobId), 60_000);
  assert.equal(failed.status, 'FAILED');
  assert.match(failed.reason!, /^invalid job: epochs: Too small/);
  assert.equal(failed.attempts, undefined, 'never trained');
  await waitFor('the message to be deleted', async () => (await queueCounts(queueUrl)).total === 0, 30_000);
  const rejections = trainer.logs().filter((l) => l.message === 'rejected job message' && l.messageId === messageId);
  assert.equal(rejections.length, 1, 'received once: not put back for a retry');
});

test('a job over the cost cap sent straight to SQS is refused by the trainer: FAILED with the reason, deleted, never trained', async () => {
  // 100 epochs at batch 1 of the 2,700 training images left after the validation split: 270,000 steps.
  const { messageId } = await send('{"epochs": 100, "batchSize": 1}');
  const jobId = `message-${messageId}`;
  const failed = await waitFor<JobStatus>(`${jobId} to end`, ended(jobId), 60_000);
  assert.equal(failed.status, 'FAILED');
  assert.match(failed.reason!, /^Job refused: the job would take 270000 steps .*the limit is 187500/);
  assert.deepEqual(failed.metrics, [], 'never trained');
  await waitFor('the message to be deleted', async () => (await queueCounts(queueUrl)).total === 0, 30_000);
  const failures = trainer.logs().filter((l) => l.message === 'job failed' && l.jobId === jobId);
  assert.equal(failures.length, 1, 'received once: not put back for a retry');
  assert.equal(failures[0].permanent, true);
});

test("the trainer's stdout carries CloudWatch EMF metrics for those jobs: per epoch, test accuracy, time to first step, outcomes", async () => {
  const N = METRICS.names;
  const emf = trainer.logs().filter((l) => (l as { _aws?: unknown })._aws) as Array<Record<string, any>>;
  for (const line of emf) {
    assert.equal(line._aws.CloudWatchMetrics[0].Namespace, METRICS.namespace);
    assert.deepEqual(line._aws.CloudWatchMetrics[0].Dimensions, [['service']]);
    assert.equal(line.service, METRICS.service);
  }
  const [job] = (await jobs.scanAll()).filter((j) => j.status === 'SUCCEEDED');
  const value = (name: string) => emf.filter((l) => l[name] !== undefined).map((l) => l[name] as number);
  // One data point per epoch, in order.
  const epochs = job.metrics;
  assert.deepEqual(
    value(N.imagesPerSecond),
    epochs.map((m) => m.imagesPerSecond),
  );
  assert.deepEqual(
    value(N.trainLoss),
    epochs.map((m) => m.loss),
  );
  assert.deepEqual(
    value(N.trainAccuracy),
    epochs.map((m) => m.accuracy),
  );
  // Only epochs with a validation split report one (the README's body may have validationSplit 0).
  assert.deepEqual(
    value(N.valAccuracy),
    epochs.flatMap((m) => (m.valAccuracy === undefined ? [] : [m.valAccuracy])),
  );
  assert.deepEqual(value(N.testAccuracy), [job.testAccuracy]);
  const [firstStep] = value(N.timeToFirstStep);
  assert.ok(firstStep > 0 && firstStep < 120, `time to first step ${firstStep} s`);
  assert.deepEqual(value(N.succeededJobs), [1]);
  assert.deepEqual(value(N.failedJobs), [1, 1], 'the rejected message and the job over the cap');
  assert.deepEqual(value(N.retriedJobs), []);
});
