/** POST /jobs starts a trainer task when the service is at 0, and leaves a running service alone. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ECSClient } from '@aws-sdk/client-ecs';
import { wakeTrainer } from '../../functions/api/wake-trainer';

function fakeEcs(desiredCount: number | undefined) {
  const calls: Array<{ name: string; input: Record<string, unknown> }> = [];
  const ecs = {
    send: async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
      calls.push({ name: cmd.constructor.name, input: cmd.input });
      return cmd.constructor.name === 'DescribeServicesCommand' ? { services: desiredCount === undefined ? [] : [{ desiredCount }] } : {};
    },
  } as unknown as ECSClient;
  return { ecs, calls };
}
const target = { cluster: 'c', service: 's' };

test('desired count 0: one UpdateService to 1 on that service', async () => {
  const { ecs, calls } = fakeEcs(0);
  assert.equal(await wakeTrainer(ecs, target), 'started');
  assert.deepEqual(calls, [
    { name: 'DescribeServicesCommand', input: { cluster: 'c', services: ['s'] } },
    { name: 'UpdateServiceCommand', input: { cluster: 'c', service: 's', desiredCount: 1 } },
  ]);
});

test('a service already running (1 or 2 tasks) is not touched: never scaled down by a submit', async () => {
  for (const n of [1, 2]) {
    const { ecs, calls } = fakeEcs(n);
    assert.equal(await wakeTrainer(ecs, target), 'running');
    assert.deepEqual(
      calls.map((c) => c.name),
      ['DescribeServicesCommand'],
    );
  }
});

test('without a configured service (host-process trainer locally) it calls nothing', async () => {
  const { ecs, calls } = fakeEcs(0);
  assert.equal(await wakeTrainer(ecs, undefined), 'off');
  assert.equal(calls.length, 0);
});
