/**
 * MiniStack with AUTH=true (signatures verified, IAM policies evaluated) for the IAM tests, behind
 * an HTTP proxy on EMULATOR_PORT that marks every request as TLS (`X-Forwarded-Proto: https`).
 *
 * Why the proxy: under AUTH=true MiniStack also enforces `aws:SecureTransport`, and plain HTTP to
 * the emulator counts as insecure, so the `enforceSSL` deny of the data bucket, the queues and the
 * CDK bootstrap bucket refuses every call. On AWS every call is HTTPS. MiniStack's Lambdas inherit
 * its AWS_ENDPOINT_URL, which points at the proxy, so their calls are marked too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { EMULATOR_HOST, emulatorEnv, emulatorPort, emulatorUrl, isHealthy } from '../../local/emulator';

const EMULATOR_PORT = emulatorPort(process.env.LENET_EMULATOR_PORT);
const EMULATOR_URL = emulatorUrl();

const REPO_ROOT = new URL('../..', import.meta.url).pathname;

export interface AuthEmulator {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts MiniStack (AUTH=true) on EMULATOR_PORT + 1000 and the marking proxy on EMULATOR_PORT. */
export async function startAuthEmulator(): Promise<AuthEmulator> {
  if (await isHealthy())
    throw new Error(`an emulator is already running at ${EMULATOR_URL}; stop it (npm run stop) or use another LENET_EMULATOR_PORT`);
  const innerPort = EMULATOR_PORT + 1000;
  mkdirSync(`${REPO_ROOT}.local`, { recursive: true });
  const fd = openSync(`${REPO_ROOT}.local/ministack-auth.log`, 'a');
  const child: ChildProcess = spawn(`${REPO_ROOT}.venv/bin/python`, ['-m', 'ministack'], {
    cwd: REPO_ROOT,
    // AWS_ENDPOINT_URL (the proxy) is inherited by the Lambda processes MiniStack starts.
    env: {
      ...process.env,
      ...emulatorEnv(),
      AUTH: 'true',
      BIND_HOST: EMULATOR_HOST,
      GATEWAY_PORT: String(innerPort),
      LOG_LEVEL: 'WARNING',
    },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);

  const proxy = spawn(process.execPath, [`${REPO_ROOT}test/helpers/secure-proxy.mjs`, String(EMULATOR_PORT), String(innerPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    proxy.stdout!.once('data', resolve);
    proxy.once('exit', (code) => reject(new Error(`the proxy exited with ${code}`)));
  });

  const stop = async () => {
    proxy.kill('SIGTERM');
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  };
  const deadline = Date.now() + 60_000;
  while (!(await isHealthy())) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`MiniStack (AUTH=true) did not start; see .local/ministack-auth.log`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  Object.assign(process.env, emulatorEnv());
  return { url: EMULATOR_URL, stop };
}
