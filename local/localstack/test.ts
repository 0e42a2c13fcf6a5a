/**
 * `npm run test:localstack`: the integration tests against LocalStack instead of MiniStack.
 *
 * 1. Installs LocalStack (pinned, .venv-localstack/) unless LENET_EMULATOR_URL names a running one.
 * 2. Sets up its Docker Lambda executor (local/localstack/setup-lambda.sh: registry, runtime image,
 *    runtime-init) unless LENET_LOCALSTACK_LAMBDA=off; if that cannot work here (no Docker, ...), says
 *    why in one line and goes on without Lambda: the tests that need Lambda then skip, naming the gap.
 * 3. Starts LocalStack (port: LENET_EMULATOR_PORT, default 4566), runs every file in
 *    test/integration (or the files given as arguments), then stops LocalStack and the registry.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
process.env.LENET_EMULATOR = 'localstack';
const { emulatorInfo, ensureVenv, startEmulator, stopEmulator, isExternalEmulator } = await import('../emulator');

const log = (m: string) => process.stderr.write(`[test:localstack] ${m}\n`);
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(path.join(ROOT, 'test/integration'))
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => `test/integration/${f}`);

let registryStartedHere = false;
if (process.env.LENET_LOCALSTACK_LAMBDA === 'off' || isExternalEmulator()) {
  process.env.LENET_LOCALSTACK_LAMBDA = 'off';
  log(
    isExternalEmulator()
      ? 'LENET_EMULATOR_URL: using that LocalStack as it runs (Lambda tests need LENET_LOCALSTACK_LAMBDA=docker there)'
      : 'Lambda: off (LENET_LOCALSTACK_LAMBDA=off)',
  );
} else {
  const registryWasUp = await fetch('http://127.0.0.1:5073/v2/', { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );
  const setup = spawnSync(path.join(ROOT, 'local/localstack/setup-lambda.sh'), {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  process.stderr.write(setup.stderr ?? '');
  if (setup.status === 0) {
    process.env.LENET_LOCALSTACK_LAMBDA = 'docker';
    registryStartedHere = !registryWasUp;
  } else {
    const reason = (setup.stderr ?? '').trim().split('\n').pop() ?? `exit ${setup.status}`;
    log(`Lambda: not available, tests that need it will skip (${reason})`);
    process.env.LENET_LOCALSTACK_LAMBDA = 'off';
  }
}

ensureVenv();
const started = (await startEmulator()).started;
const info = emulatorInfo();
log(`${info.label} ${info.version} at ${info.url}; Lambda: ${process.env.LENET_LOCALSTACK_LAMBDA}; files: ${files.length}`);
let code = 1;
try {
  code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
      cwd: ROOT,
      stdio: 'inherit',
      env: process.env,
    });
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
} finally {
  if (started) await stopEmulator();
  if (registryStartedHere) spawnSync(path.join(ROOT, 'local/localstack/setup-lambda.sh'), ['stop'], { cwd: ROOT, stdio: 'inherit' });
}
process.exitCode = code;
