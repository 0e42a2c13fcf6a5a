import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { emulatorPort } from '../../local/emulator';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('the emulator port is 4566 unless LENET_EMULATOR_PORT names another valid port', () => {
  assert.equal(emulatorPort(undefined), 4566);
  assert.equal(emulatorPort(''), 4566);
  assert.equal(emulatorPort('4567'), 4567);
  for (const bad of ['abc', '0', '70000', '45.5']) {
    assert.throws(() => emulatorPort(bad), new RegExp(`LENET_EMULATOR_PORT must be a TCP port number \\(1-65535\\), got '${bad}'`));
  }
});

test('starting the emulator on a port something else holds fails at once and says what to do', async () => {
  // Something else on the port: answers HTTP, but not as MiniStack.
  const server = createServer((socket) => {
    socket.on('error', () => undefined); // clients hang up early
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    // Asynchronous: the server in this process must keep answering while the child runs.
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'local/emulator.ts', 'start'],
        {
          cwd: ROOT,
          env: { ...process.env, LENET_EMULATOR_PORT: String(port) },
          timeout: 60_000,
        },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is in use by something that is not (MiniStack|LocalStack)`));
    assert.match(result.stderr, /LENET_EMULATOR_PORT=4567 npm start/);
  } finally {
    server.close();
  }
  // A bad port value is reported before anything starts.
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'local/emulator.ts', 'status'], {
    cwd: ROOT,
    env: { ...process.env, LENET_EMULATOR_PORT: 'http://x' },
    encoding: 'utf8',
  });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /LENET_EMULATOR_PORT must be a TCP port number/);
});
