/** The CLI's exit codes, by kind of failure (cli/exit-codes.ts), and the real CLI's --version. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { ApiError } from '../../cli/api-client';
import { EXIT, exitCodeFor, InterruptedError, UsageError } from '../../cli/exit-codes';

const CLI = fileURLToPath(new URL('../../cli/lenet.mjs', import.meta.url));
const run = (args: string[], env: Record<string, string | undefined> = {}) => {
  const all: Record<string, string | undefined> = { ...process.env, AWS_REGION: 'us-east-1', AWS_PROFILE: undefined, ...env };
  for (const [k, v] of Object.entries(all)) if (v === undefined) delete all[k];
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: all });
};

test('exit codes: 1 failed, 2 usage, 3 not found, 4 auth or network', () => {
  assert.equal(exitCodeFor(new ApiError(400, 'Invalid request')), EXIT.failed);
  assert.equal(exitCodeFor(new ApiError(409, 'Not promoted')), EXIT.failed);
  assert.equal(exitCodeFor(new ApiError(500, 'Internal error')), EXIT.failed);
  assert.equal(exitCodeFor(new Error('job j failed: boom')), EXIT.failed);
  assert.equal(exitCodeFor(new UsageError('cannot read x.png')), EXIT.usage);
  assert.equal(exitCodeFor(new InterruptedError('stopped watching')), EXIT.interrupted);
  assert.equal(exitCodeFor(new CommanderError(1, 'commander.unknownOption', "unknown option '--x'")), EXIT.usage);
  assert.equal(exitCodeFor(new CommanderError(0, 'commander.version', '0.1.0')), EXIT.ok);
  assert.equal(exitCodeFor(new ApiError(404, 'No job')), EXIT.notFound);
  assert.equal(exitCodeFor(new ApiError(0, 'Cannot reach the API')), EXIT.authOrNetwork);
  assert.equal(exitCodeFor(new ApiError(403, 'User is not authorized')), EXIT.authOrNetwork);
});

test('the real CLI: --version is the package version; bad usage exits 2, no credentials or an unreachable API 4, each in one line', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const v = run(['--version']);
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), version);
  const usage = run(['submit', '--epochs', 'many']);
  assert.equal(usage.status, 2, usage.stderr);
  assert.equal(usage.stderr.trim().split('\n').length, 1, usage.stderr);
  // Port 9 (discard): nothing listens there.
  const url = ['--api-url', 'http://127.0.0.1:9/'];
  const noCredentials = run(['jobs', ...url], {
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_SESSION_TOKEN: undefined,
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    AWS_CONFIG_FILE: '/nonexistent',
  });
  assert.equal(noCredentials.status, 4, noCredentials.stderr);
  assert.match(noCredentials.stderr, /^lenet: Cannot sign the request: no AWS credentials/);
  const down = run(['jobs', ...url], { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  assert.equal(down.status, 4, down.stderr);
  assert.match(down.stderr, /^lenet: Cannot reach the API at http:\/\/127\.0\.0\.1:9\//);
});
