/**
 * Local AWS emulator (MiniStack, https://pypi.org/project/ministack/) for development and tests.
 *
 *   npx tsx local/emulator.ts start    # create .venv/ if needed, start MiniStack on 127.0.0.1:4566
 *                                        # (--auth: AUTH=true, verify signatures and IAM policies)
 *                                        # (another port: LENET_EMULATOR_PORT=4567)
 *   npx tsx local/emulator.ts status
 *   npx tsx local/emulator.ts reset    # wipe all emulated state (POST /_ministack/reset)
 *   npx tsx local/emulator.ts deploy   # cdk bootstrap + cdk deploy -c local=true, prints the outputs
 *   npx tsx local/emulator.ts stop
 *
 * MiniStack runs as a host process (no Docker): Python in the git-ignored `.venv/`, log in
 * `.local/ministack.log`, pid in `.local/ministack.pid`. See docs/ministack-notes.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The exact MiniStack release this project is tested against. Change it here only. */
export const MINISTACK_VERSION = '1.5.33';
export const EMULATOR_HOST = '127.0.0.1';
/** 4566 (LocalStack's port), or LENET_EMULATOR_PORT when that one is taken. */
export const EMULATOR_PORT = emulatorPort(process.env.LENET_EMULATOR_PORT);
export const EMULATOR_URL = `http://${EMULATOR_HOST}:${EMULATOR_PORT}`;
/** Account and region MiniStack uses by default. */
export const EMULATOR_ACCOUNT = '000000000000';
export const EMULATOR_REGION = 'us-east-1';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const VENV_DIR = path.join(REPO_ROOT, '.venv');
const VENV_PYTHON = path.join(VENV_DIR, 'bin', 'python');
const LOCAL_DIR = path.join(REPO_ROOT, '.local');
export const LOG_FILE = path.join(LOCAL_DIR, 'ministack.log');
export const PID_FILE = path.join(LOCAL_DIR, 'ministack.pid');
export const OUTPUTS_FILE = path.join(LOCAL_DIR, 'outputs.json');

export function emulatorPort(value: string | undefined): number {
  if (value === undefined || value === '') return 4566;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`LENET_EMULATOR_PORT must be a TCP port number (1-65535), got '${value}'`);
  }
  return port;
}

/** Environment that points AWS SDKs and the CDK CLI at the emulator (path-style S3 at 127.0.0.1). */
export function emulatorEnv(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: EMULATOR_URL,
    AWS_ENDPOINT_URL_S3: EMULATOR_URL,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: EMULATOR_REGION,
    AWS_DEFAULT_REGION: EMULATOR_REGION,
  };
}

/** `process.env` with the emulator env on top and anything that could pick real credentials removed. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...emulatorEnv(), ...extra };
  for (const key of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE']) {
    delete env[key];
  }
  return env;
}

function log(message: string): void {
  process.stderr.write(`[emulator] ${message}\n`);
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; quiet?: boolean; cwd?: string } = {}): void {
  const result = spawnSync(cmd, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: opts.env ?? process.env,
    stdio: opts.quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    const detail = opts.quiet ? `\n${result.stdout ?? ''}${result.stderr ?? ''}` : '';
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.status ?? result.signal})${detail}`);
  }
}

function installedVersion(): string | undefined {
  if (!existsSync(VENV_PYTHON)) return undefined;
  const r = spawnSync(VENV_PYTHON, ['-c', 'import importlib.metadata as m; print(m.version("ministack"))'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Creates `.venv/` (python3 -m venv) and installs the pinned MiniStack into it, if not done yet. */
export function ensureVenv(): void {
  if (!existsSync(VENV_PYTHON)) {
    log(`creating ${path.relative(REPO_ROOT, VENV_DIR)}/ (python3 -m venv)`);
    run('python3', ['-m', 'venv', VENV_DIR]);
  }
  const version = installedVersion();
  if (version !== MINISTACK_VERSION) {
    log(`installing ministack==${MINISTACK_VERSION}${version ? ` (found ${version})` : ''}`);
    run(VENV_PYTHON, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `ministack==${MINISTACK_VERSION}`], {
      quiet: true,
    });
  }
}

/** True when `/_ministack/health` answers. */
export async function isHealthy(timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`${EMULATOR_URL}/_ministack/health`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

/** True when something accepts TCP connections on the emulator's address. */
function portTaken(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: EMULATOR_HOST, port: EMULATOR_PORT });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

function readPid(): number | undefined {
  if (!existsSync(PID_FILE)) return undefined;
  const pid = Number.parseInt(readFileSync(PID_FILE, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** True if `pid` is alive and is a MiniStack process (guards against a recycled pid). */
function isMiniStackProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ministack');
  } catch {
    return true; // no /proc (macOS): trust the pid file
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface StartResult {
  readonly pid?: number;
  /** False if an emulator was already running (and left as it was). */
  readonly started: boolean;
  readonly url: string;
}

/**
 * Starts MiniStack in the background on 127.0.0.1:EMULATOR_PORT (creating the venv first if needed) and
 * waits until `/_ministack/health` answers. Does nothing if it is already healthy.
 */
export async function startEmulator(opts: { timeoutMs?: number; auth?: boolean } = {}): Promise<StartResult> {
  if (await isHealthy()) {
    const pid = readPid();
    // AUTH=true (signatures verified, IAM policies evaluated) is a start-time setting of MiniStack.
    const health = (await (await fetch(`${EMULATOR_URL}/_ministack/health`)).json()) as { auth?: string };
    if ((health.auth === 'enabled') !== Boolean(opts.auth)) {
      throw new Error(
        `the emulator at ${EMULATOR_URL} runs with IAM auth ${health.auth}, this needs it ${opts.auth ? 'enabled' : 'disabled'}: ` +
          `stop it (npm run stop) or use another LENET_EMULATOR_PORT`,
      );
    }
    log(`already running at ${EMULATOR_URL}${pid ? ` (pid ${pid})` : ' (not started by this script)'}`);
    return { pid, started: false, url: EMULATOR_URL };
  }
  if (await portTaken()) {
    throw new Error(
      `${EMULATOR_HOST}:${EMULATOR_PORT} is in use by something that is not MiniStack (no answer on /_ministack/health). ` +
      `Stop it, or run MiniStack on another port: LENET_EMULATOR_PORT=4567 npm start`,
    );
  }
  ensureVenv();
  mkdirSync(LOCAL_DIR, { recursive: true });
  const fd = openSync(LOG_FILE, 'a');
  // Lambda functions run as children of MiniStack and inherit its environment (plus their own
  // variables and an injected AWS_ENDPOINT_URL), so the emulator env is passed on to them too.
  const child = spawn(VENV_PYTHON, ['-m', 'ministack'], {
    cwd: REPO_ROOT,
    env: childEnv({
      BIND_HOST: EMULATOR_HOST,
      GATEWAY_PORT: String(EMULATOR_PORT),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'INFO',
      ...(opts.auth ? { AUTH: 'true' } : {}),
    }),
    detached: true, // own process group: stopEmulator() ends MiniStack and its Lambda workers together
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const pid = child.pid;
  if (!pid) throw new Error('could not spawn MiniStack');
  child.unref();
  writeFileSync(PID_FILE, `${pid}\n`);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));

  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (await isHealthy()) {
      log(`MiniStack ${MINISTACK_VERSION} up at ${EMULATOR_URL} (pid ${pid}, log ${path.relative(REPO_ROOT, LOG_FILE)})`);
      return { pid, started: true, url: EMULATOR_URL };
    }
    if (exited !== undefined) break;
    await sleep(200);
  }
  const tail = existsSync(LOG_FILE) ? readFileSync(LOG_FILE, 'utf8').split('\n').slice(-20).join('\n') : '';
  await stopEmulator().catch(() => undefined);
  throw new Error(`MiniStack did not become healthy${exited !== undefined ? ` (exited with ${exited})` : ''}. Log tail:\n${tail}`);
}

/** Stops the MiniStack started by {@link startEmulator} (SIGTERM to its process group, SIGKILL after 10 s). */
export async function stopEmulator(): Promise<boolean> {
  const pid = readPid();
  if (pid === undefined || !isMiniStackProcess(pid)) {
    rmSync(PID_FILE, { force: true });
    log('not running (no live pid in .local/ministack.pid)');
    return false;
  }
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal); // the group this script created with detached: true
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
  };
  signalGroup('SIGTERM');
  for (let i = 0; i < 50 && isMiniStackProcess(pid); i++) await sleep(200);
  if (isMiniStackProcess(pid)) {
    log(`pid ${pid} ignored SIGTERM; sending SIGKILL`);
    signalGroup('SIGKILL');
    for (let i = 0; i < 25 && isMiniStackProcess(pid); i++) await sleep(200);
  }
  rmSync(PID_FILE, { force: true });
  log(`stopped (pid ${pid})`);
  return true;
}

/** Wipes all emulated state (buckets, queues, stacks, functions...). */
export async function resetEmulator(): Promise<void> {
  const res = await fetch(`${EMULATOR_URL}/_ministack/reset`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`reset failed: HTTP ${res.status} ${await res.text()}`);
}

export interface EmulatorStatus {
  readonly healthy: boolean;
  readonly pid?: number;
  readonly pidAlive: boolean;
  readonly version?: string;
}

export async function emulatorStatus(): Promise<EmulatorStatus> {
  const pid = readPid();
  return { healthy: await isHealthy(), pid, pidAlive: pid !== undefined && isMiniStackProcess(pid), version: installedVersion() };
}

/** Stack outputs of a local deployment, with URLs rewritten to be callable at 127.0.0.1. */
export interface StackOutputs {
  /** API base URL ending in '/', e.g. http://127.0.0.1:4566/_aws/execute-api/<id>/prod/ */
  readonly ApiUrl: string;
  readonly BucketName: string;
  readonly QueueUrl: string;
  readonly DeadLetterQueueUrl?: string;
  readonly ClusterName?: string;
  readonly TrainerServiceName?: string;
  /** The API's URL as CloudFormation reported it (https://<id>.execute-api.<region>.amazonaws.com/<stage>/). */
  readonly ApiUrlAws: string;
  /** All outputs, unmodified. */
  readonly raw: Record<string, string>;
}

export interface DeployOptions {
  /** @default 'LenetMnist' */
  readonly stackName?: string;
  /** Extra `-c key=value` context (`local=true` is always set). */
  readonly context?: Record<string, string>;
  /** Run `cdk bootstrap` first (idempotent, ~1-2 s). @default true */
  readonly bootstrap?: boolean;
  /** Capture CDK output instead of streaming it; it is shown only on failure. @default false */
  readonly quiet?: boolean;
}

/** `https://<id>.execute-api.<region>.amazonaws.com/<stage>/` → `http://127.0.0.1:<port>/_aws/execute-api/<id>/<stage>/`. */
export function localApiUrl(awsUrl: string): string {
  const m = /^https?:\/\/([a-z0-9]+)\.execute-api\.[^/]+\/(.*)$/.exec(awsUrl);
  if (!m) return awsUrl;
  return `${EMULATOR_URL}/_aws/execute-api/${m[1]}/${m[2]}`;
}

/** MiniStack names queues `http://localhost:4566/...`; `localhost` may resolve to ::1 while it listens on 127.0.0.1. */
function localQueueUrl(url: string | undefined): string | undefined {
  return url?.replace(/^http:\/\/localhost(:\d+)?\//, `${EMULATOR_URL}/`);
}

/** Bootstraps and deploys the stack to the running emulator in local mode; returns its outputs. */
export async function deployStack(opts: DeployOptions = {}): Promise<StackOutputs> {
  const stackName = opts.stackName ?? 'LenetMnist';
  const env = childEnv({ CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' });
  if (!(await isHealthy())) throw new Error(`no emulator at ${EMULATOR_URL}; run: npx tsx local/emulator.ts start`);
  mkdirSync(LOCAL_DIR, { recursive: true });
  const quiet = opts.quiet ?? false;
  if (opts.bootstrap ?? true) {
    // Run outside the repo root: with cdk.json in the cwd, `cdk bootstrap` synthesizes the app
    // first even when given an explicit environment (a wasted synth + bundling).
    run('npx', ['--no-install', 'cdk', 'bootstrap', `aws://${EMULATOR_ACCOUNT}/${EMULATOR_REGION}`], { env, quiet, cwd: LOCAL_DIR });
  }
  const context = { ...opts.context, local: 'true', stackName };
  const contextArgs = Object.entries(context).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  rmSync(OUTPUTS_FILE, { force: true });
  run(
    'npx',
    ['cdk', 'deploy', stackName, '--require-approval', 'never', '--outputs-file', OUTPUTS_FILE, ...contextArgs],
    { env, quiet },
  );
  const all = JSON.parse(readFileSync(OUTPUTS_FILE, 'utf8')) as Record<string, Record<string, string>>;
  const raw = all[stackName];
  if (!raw?.ApiUrl || !raw.BucketName || !raw.QueueUrl) {
    throw new Error(`${OUTPUTS_FILE} lacks ApiUrl/BucketName/QueueUrl for ${stackName}: ${JSON.stringify(all)}`);
  }
  return {
    ApiUrl: localApiUrl(raw.ApiUrl),
    ApiUrlAws: raw.ApiUrl,
    BucketName: raw.BucketName,
    QueueUrl: localQueueUrl(raw.QueueUrl)!,
    DeadLetterQueueUrl: localQueueUrl(raw.DeadLetterQueueUrl),
    ClusterName: raw.ClusterName,
    TrainerServiceName: raw.TrainerServiceName,
    raw,
  };
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      await startEmulator({ auth: rest.includes('--auth') });
      break;
    case 'stop':
      await stopEmulator();
      break;
    case 'status': {
      const s = await emulatorStatus();
      console.log(JSON.stringify({ url: EMULATOR_URL, pinned: MINISTACK_VERSION, ...s }, null, 2));
      if (!s.healthy) process.exitCode = 1;
      break;
    }
    case 'reset':
      await resetEmulator();
      log('state reset');
      break;
    case 'env':
      for (const [k, v] of Object.entries(emulatorEnv())) console.log(`export ${k}=${v}`);
      break;
    case 'deploy': {
      // deploy [-c key=value ...]
      const context: Record<string, string> = {};
      for (let i = 0; i < rest.length; i++) {
        if (rest[i] === '-c' && rest[i + 1]?.includes('=')) {
          const [k, ...v] = rest[++i].split('=');
          context[k] = v.join('=');
        }
      }
      console.log(JSON.stringify(await deployStack({ context }), null, 2));
      break;
    }
    default:
      console.error('usage: npx tsx local/emulator.ts start|stop|status|reset|env|deploy [-c key=value ...]');
      process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
