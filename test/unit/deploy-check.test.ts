import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GetRoleCommand } from '@aws-sdk/client-iam';
import { missingServiceLinkedRoles, report, SERVICE_LINKED_ROLES } from '../../cli/predeploy-check';

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
