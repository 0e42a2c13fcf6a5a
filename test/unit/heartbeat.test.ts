/** The job heartbeat against a fake SQS client: what it sends, in which order, and that failures are logged. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '@aws-lambda-powertools/logger';
import { JobHeartbeat } from '../../functions/trainer/lifecycle/heartbeat';

function setup(opts: { sqsFails?: boolean; leaseFails?: boolean } = {}) {
  const events: string[] = [];
  const warnings: string[] = [];
  const sqs = {
    send: async (command: { constructor: { name: string }; input: { ReceiptHandle?: string; VisibilityTimeout?: number } }) => {
      events.push(`${command.constructor.name} ${command.input.ReceiptHandle} ${command.input.VisibilityTimeout}`);
      if (opts.sqsFails) throw new Error('sqs down');
      return {};
    },
  } as unknown as SQSClient;
  const logger = { warn: (message: string) => warnings.push(message) } as unknown as Logger;
  const heartbeat = new JobHeartbeat({
    sqs,
    queueUrl: 'q',
    logger,
    message: { ReceiptHandle: 'rh' },
    visibilitySeconds: 300,
    intervalSeconds: 0.05,
    renewLease: async () => {
      events.push('renew');
      if (opts.leaseFails) throw new Error('s3 down');
    },
  });
  return { heartbeat, events, warnings };
}

/** Waits until `done()` holds (timers run late on a busy machine), at most 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (const started = Date.now(); !done() && Date.now() - started < 10_000; ) await sleep(10);
}

test('heartbeat: hides the message at once, then renews the lease before each extension; nothing after stop', async () => {
  const { heartbeat, events, warnings } = setup();
  assert.deepEqual(events, ['ChangeMessageVisibilityCommand rh 300']);
  await until(() => events.length >= 5);
  heartbeat.stop();
  const stoppedAt = events.length;
  assert.deepEqual(events.slice(0, 5), [
    'ChangeMessageVisibilityCommand rh 300',
    'renew',
    'ChangeMessageVisibilityCommand rh 300',
    'renew',
    'ChangeMessageVisibilityCommand rh 300',
  ]);
  await sleep(120);
  assert.equal(events.length, stoppedAt);
  assert.deepEqual(warnings, []);
});

test('heartbeat: a failed extension or lease renewal is logged, and the beats go on', async () => {
  const { heartbeat, events, warnings } = setup({ sqsFails: true, leaseFails: true });
  await until(() => events.filter((e) => e === 'renew').length >= 2 && warnings.length >= 4);
  heartbeat.stop();
  assert.ok(events.filter((e) => e === 'renew').length >= 2, events.join(', '));
  assert.ok(warnings.includes('heartbeat failed'), warnings.join(', '));
  assert.ok(warnings.includes('lease renewal failed'), warnings.join(', '));
});
