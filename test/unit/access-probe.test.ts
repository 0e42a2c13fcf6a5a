/** The start-up 403 check: its message, and that it probes exactly the prefixes each role reads. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { BUCKET_ACCESS } from '../../infra/access';
import { accessProbeMessage, checkMissingKeyReads, PROBE_KEY, probeMissingKeys, READ_PREFIXES } from '../../shared/access-probe';

test('404s (or anything but 403) log nothing', () => {
  assert.equal(accessProbeMessage('trainer', [{ prefix: 'models/', status: 404 }]), undefined);
  assert.equal(accessProbeMessage('predict', []), undefined);
});

test('a 403 names the prefixes, the role, the List statement of infra/access.ts and the s3:prefix values to add', () => {
  const message = accessProbeMessage('trainer', [
    { prefix: 'datasets/', status: 404 },
    { prefix: 'jobs/', status: 403 },
    { prefix: 'checkpoints/', status: 403 },
  ]);
  assert.equal(
    message,
    'S3 answered 403, not 404, for a missing key under jobs/, checkpoints/: the trainer role may not list these prefixes, ' +
      'so every read of a key that does not exist yet will fail as AccessDenied. Widen the "List" statement of the trainer role ' +
      '(infra/access.ts, s3:ListBucket with s3:prefix jobs/*, checkpoints/*) and redeploy.',
  );
  assert.match(
    accessProbeMessage('predict', [{ prefix: 'models/', status: 403 }])!,
    /the predict role may not list this prefix.*models\/\*/,
  );
});

test('the probed prefixes are the read prefixes of infra/access.ts, for both runtimes', () => {
  for (const role of ['predict', 'trainer'] as const)
    assert.deepEqual(
      [...READ_PREFIXES[role]],
      BUCKET_ACCESS[role].get.map((p) => p.replace(/\*$/, '')),
      role,
    );
});

test('one GET of the probe key per prefix; statuses from the SDK error, network errors left out; one log line', async () => {
  const keys: string[] = [];
  const s3 = {
    send: async (cmd: { input: { Key: string } }) => {
      keys.push(cmd.input.Key);
      if (cmd.input.Key.startsWith('jobs/')) throw Object.assign(new Error('AccessDenied'), { $metadata: { httpStatusCode: 403 } });
      if (cmd.input.Key.startsWith('models/')) throw new Error('ECONNRESET');
      throw Object.assign(new Error('NoSuchKey'), { $metadata: { httpStatusCode: 404 } });
    },
  } as unknown as S3Client;
  assert.deepEqual(await probeMissingKeys(s3, 'b', ['datasets/', 'jobs/', 'models/']), [
    { prefix: 'datasets/', status: 404 },
    { prefix: 'jobs/', status: 403 },
  ]);
  assert.deepEqual(keys, [`datasets/${PROBE_KEY}`, `jobs/${PROBE_KEY}`, `models/${PROBE_KEY}`]);
  const logged: Array<[string, Record<string, unknown>]> = [];
  await checkMissingKeyReads(s3, 'b', 'trainer', (m, e) => logged.push([m, e]));
  assert.equal(logged.length, 1);
  assert.match(logged[0][0], /under jobs\/: the trainer role/);
  assert.deepEqual(logged[0][1], { statement: 'List', role: 'trainer' });
});
