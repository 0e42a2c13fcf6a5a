import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GetRoleCommand } from '@aws-sdk/client-iam';
import {
  concurrencyReport,
  LAMBDA_CONCURRENCY_QUOTA,
  lambdaConcurrency,
  missingServiceLinkedRoles,
  report,
  SERVICE_LINKED_ROLES,
} from '../../cli/predeploy-check';

/** An IAM client whose GetRole answers from a set of existing role names. */
function fakeIam(existing: string[], error?: { name: string; message: string }) {
  const asked: string[] = [];
  return {
    asked,
    send: async (command: GetRoleCommand) => {
      const name = command.input.RoleName!;
      asked.push(name);
      if (error) throw Object.assign(new Error(error.message), { name: error.name });
      if (!existing.includes(name))
        throw Object.assign(new Error(`The role with name ${name} cannot be found.`), { name: 'NoSuchEntityException' });
      return { Role: { RoleName: name } };
    },
  };
}

test('predeploy-check: both service-linked roles there → exit 0', async () => {
  const iam = fakeIam(['AWSServiceRoleForECS', 'AWSServiceRoleForApplicationAutoScaling_ECSService']);
  const missing = await missingServiceLinkedRoles(iam as never);
  assert.deepEqual(iam.asked, ['AWSServiceRoleForECS', 'AWSServiceRoleForApplicationAutoScaling_ECSService']);
  assert.deepEqual(missing, []);
  assert.equal(report(missing).exitCode, 0);
});

test('predeploy-check: a missing role → exit 1 and the exact command that creates it', async () => {
  const missing = await missingServiceLinkedRoles(fakeIam(['AWSServiceRoleForECS']) as never);
  const { text, exitCode } = report(missing);
  assert.equal(exitCode, 1);
  const commands = text
    .split('\n')
    .filter((l) => l.trim().startsWith('aws '))
    .map((l) => l.trim().split('    #')[0]);
  assert.deepEqual(commands, ['aws iam create-service-linked-role --aws-service-name ecs.application-autoscaling.amazonaws.com']);

  const none = report(await missingServiceLinkedRoles(fakeIam([]) as never));
  assert.equal(none.text.split('\n').filter((l) => l.includes('create-service-linked-role')).length, SERVICE_LINKED_ROLES.length);
  assert.match(none.text, /--aws-service-name ecs\.amazonaws\.com/);
});

test('predeploy-check: no permission to look → an error naming the role, not a false "missing"', async () => {
  await assert.rejects(
    missingServiceLinkedRoles(fakeIam([], { name: 'AccessDenied', message: 'not authorized to perform: iam:GetRole' }) as never),
    /cannot check AWSServiceRoleForECS: AccessDenied: not authorized to perform: iam:GetRole/,
  );
});

/** A Lambda client whose GetAccountSettings answers as an account with this quota and reservations. */
const fakeLambda = (limit: number, reservedElsewhere = 0) => ({
  send: async () => ({ AccountLimit: { ConcurrentExecutions: limit, UnreservedConcurrentExecutions: limit - reservedElsewhere } }),
});

test('predeploy-check: a new account (concurrency 10) cannot reserve 10 for predict → exit 1, the fix and the quota request', async () => {
  const c = await lambdaConcurrency(fakeLambda(10) as never);
  assert.deepEqual(c, { limit: 10, unreserved: 10 });
  const { text, exitCode } = concurrencyReport(c, 10);
  assert.equal(exitCode, 1);
  assert.match(text, /quota is 10, of which 10 is unreserved/);
  assert.match(text, /would leave 0, below the 100 Lambda keeps unreserved/);
  assert.match(text, /drop -c predictReservedConcurrency/);
  assert.match(text, new RegExp(`--service-code lambda --quota-code ${LAMBDA_CONCURRENCY_QUOTA} --desired-value 1000`));
});

test('predeploy-check: the default deploy reserves nothing and passes on any account, reporting the quota', async () => {
  const { text, exitCode } = concurrencyReport(await lambdaConcurrency(fakeLambda(10) as never), undefined);
  assert.equal(exitCode, 0);
  assert.match(text, /quota is 10, of which 10 is unreserved/);
});

test('predeploy-check: a reservation that leaves 100 unreserved passes; one that leaves 99 does not', async () => {
  assert.equal(concurrencyReport(await lambdaConcurrency(fakeLambda(1000, 890) as never), 10).exitCode, 0);
  assert.equal(concurrencyReport(await lambdaConcurrency(fakeLambda(1000, 891) as never), 10).exitCode, 1);
});
