/**
 * Local AWS emulators for development and tests: MiniStack (default) or LocalStack.
 *
 *   npx tsx local/emulator.ts start    # install if needed (own git-ignored venv), start on 127.0.0.1:4566
 *                                      # (--auth: MiniStack with AUTH=true, verifying signatures and IAM policies)
 *   npx tsx local/emulator.ts status
 *   npx tsx local/emulator.ts reset    # wipe all emulated state (MiniStack: POST /_ministack/reset; LocalStack: restart)
 *   npx tsx local/emulator.ts deploy   # cdk bootstrap + cdk deploy -c local=true, prints the outputs
 *   npx tsx local/emulator.ts stop
 *
 * Chosen by environment variables, read lazily (nothing here can throw at import time):
 * - `LENET_EMULATOR=ministack|localstack` (default ministack);
 * - `LENET_EMULATOR_PORT=4567`: another port than 4566;
 * - `LENET_EMULATOR_URL=http://host:port`: use an emulator that is already running there; it is
 *   never started, stopped or restarted by these scripts.
 *
 * Both run as host processes: MiniStack in `.venv/`, LocalStack in `.venv-localstack/` (CPython >= 3.13
 * from pyenv or PATH); logs and pids in `.local/<name>.log|pid` (`.local/<name>-<port>.log|pid` on another port). See docs/emulators.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { emulatorApiUrl, STACK_NAME } from '../shared/stack';
import { localstackLambdaEnabled, localstackLambdaEnv } from './localstack/lambda';

/** The exact MiniStack release this project is tested against. Change it here only. */
export const MINISTACK_VERSION = '1.5.33';
/** The exact LocalStack (community runtime) release, and the pins it needs on top (see docs/emulators.md). */
export const LOCALSTACK_VERSION = '2026.3.0';
export const LOCALSTACK_REQUIREMENTS = [
  `localstack-core[runtime]==${LOCALSTACK_VERSION}`,
  'cbor2<6',
  'cryptography<45',
  'pyopenssl<25.1',
  'service-identity',
] as const;
/**
 * Docker SDK for Python, installed next to MiniStack: with it (and a Docker socket) MiniStack runs
 * ECS tasks as real containers (docs/ministack-notes.md, "ECS through MiniStack"). Without Docker
 * MiniStack still starts; ECS tasks then stay records only.
 */
export const DOCKER_SDK_VERSION = '7.1.0';
export const EMULATOR_HOST = '127.0.0.1';
/** Account and region both emulators use by default. */
export const EMULATOR_ACCOUNT = '000000000000';
export const EMULATOR_REGION = 'us-east-1';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOCAL_DIR = path.join(REPO_ROOT, '.local');

export type EmulatorName = 'ministack' | 'localstack';

/** What differs between the emulators. Everything else (SDK env, deploy, URLs) is shared. */
interface EmulatorKind {
  readonly name: EmulatorName;
  readonly label: string;
  readonly version: string;
  /** GET path that answers 200 once the emulator serves requests. */
  readonly healthPath: string;
  readonly venvDir: string;
  /** Substring of the server's command line (guards against a recycled pid). */
  readonly processMarker: string;
  /** Creates the venv and installs the pinned release if needed (package registry only). */
  ensureInstalled(): void;
  installedVersion(): string | undefined;
  /** Command, arguments and extra environment that start the server in the foreground. */
  command(host: string, port: number): { cmd: string; args: string[]; env: Record<string, string> };
  /** Wipes all state. `restart` is given for emulators that can only be reset by restarting. */
  reset(url: string, restart: () => Promise<void>): Promise<void>;
}

const venvPython = (venv: string) => path.join(venv, 'bin', 'python');

/** Creates the venv with the Python `base()` names, unless it exists; returns the venv's python. */
function createVenv(venvDir: string, base: () => string): string {
  const py = venvPython(venvDir);
  if (!existsSync(py)) {
    const python = base();
    log(`creating ${path.relative(REPO_ROOT, venvDir)}/ (${python} -m venv)`);
    run(python, ['-m', 'venv', venvDir]);
  }
  return py;
}

/** pip-installs pinned requirements into a venv (from the package registry). */
function pipInstall(py: string, requirements: readonly string[]): void {
  run(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...requirements], { quiet: true });
}

function pipVersion(venv: string, dist: string): string | undefined {
  if (!existsSync(venvPython(venv))) return undefined;
  const r = spawnSync(venvPython(venv), ['-c', `import importlib.metadata as m; print(m.version("${dist}"))`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const MINISTACK: EmulatorKind = {
  name: 'ministack',
  label: 'MiniStack',
  version: MINISTACK_VERSION,
  healthPath: '/_ministack/health',
  venvDir: path.join(REPO_ROOT, '.venv'),
  processMarker: 'ministack',
  installedVersion() {
    return pipVersion(this.venvDir, 'ministack');
  },
  ensureInstalled() {
    const py = createVenv(this.venvDir, () => 'python3');
    for (const [dist, version, why] of [
      ['ministack', MINISTACK_VERSION, ''],
      ['docker', DOCKER_SDK_VERSION, ' (Docker SDK for Python: ECS tasks as containers)'],
    ]) {
      const found = pipVersion(this.venvDir, dist);
      if (found === version) continue;
      log(`installing ${dist}==${version}${why}${found ? ` (found ${found})` : ''}`);
      pipInstall(py, [`${dist}==${version}`]);
    }
  },
  command(host, port) {
    return {
      cmd: venvPython(this.venvDir),
      args: ['-m', 'ministack'],
      env: { BIND_HOST: host, GATEWAY_PORT: String(port), LOG_LEVEL: process.env.LOG_LEVEL ?? 'INFO' },
    };
  },
  async reset(url) {
    const res = await fetch(`${url}/_ministack/reset`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`reset failed: HTTP ${res.status} ${await res.text()}`);
  },
};

/** CPython >= 3.13 for LocalStack 2026.3.0: it declares 3.10 but uses PEP 695 generics (3.12) and `from warnings import deprecated` (3.13). */
export function findPythonForLocalStack(): string {
  const fromEnv = process.env.LENET_LOCALSTACK_PYTHON;
  if (fromEnv) return fromEnv;
  const candidates: string[] = [];
  const pyenv = path.join(process.env.PYENV_ROOT ?? path.join(homedir(), '.pyenv'), 'versions');
  if (existsSync(pyenv)) {
    for (const v of readdirSync(pyenv)
      .filter((d) => /^3\.(1[3-9]|[2-9]\d)\.\d+$/.test(d))
      .sort()
      .reverse()) {
      candidates.push(path.join(pyenv, v, 'bin', 'python'));
    }
  }
  candidates.push('python3.14', 'python3.13', 'python3');
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 13) else 1)'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  throw new Error(
    'LocalStack needs CPython >= 3.13 with venv (none on PATH or in ~/.pyenv/versions); install one, e.g. `pyenv install 3.13`, or set LENET_LOCALSTACK_PYTHON',
  );
}

const LOCALSTACK_STAMP = () => path.join(LOCALSTACK.venvDir, '.lenet-requirements');

const LOCALSTACK: EmulatorKind = {
  name: 'localstack',
  label: 'LocalStack',
  version: LOCALSTACK_VERSION,
  healthPath: '/_localstack/health',
  venvDir: path.join(REPO_ROOT, '.venv-localstack'),
  processMarker: 'localstack',
  installedVersion() {
    return pipVersion(this.venvDir, 'localstack-core');
  },
  ensureInstalled() {
    const py = createVenv(this.venvDir, findPythonForLocalStack);
    const wanted = LOCALSTACK_REQUIREMENTS.join('\n');
    const stamp = existsSync(LOCALSTACK_STAMP()) ? readFileSync(LOCALSTACK_STAMP(), 'utf8') : '';
    if (stamp !== wanted || this.installedVersion() !== LOCALSTACK_VERSION) {
      log(`installing ${LOCALSTACK_REQUIREMENTS.join(' ')} (a few minutes the first time)`);
      pipInstall(py, LOCALSTACK_REQUIREMENTS);
      writeFileSync(LOCALSTACK_STAMP(), wanted);
    }
  },
  command(host, port) {
    const filesystemRoot = path.join(LOCAL_DIR, `localstack-${port}`);
    return {
      cmd: venvPython(this.venvDir),
      args: ['-m', 'localstack.runtime.main'],
      env: {
        GATEWAY_LISTEN: `${host}:${port}`,
        LOCALSTACK_HOST: `${host}:${port}`,
        // Host mode: this machine may have /.dockerenv; keep LocalStack's files under .local/.
        OVERRIDE_IN_DOCKER: '0',
        FILESYSTEM_ROOT: filesystemRoot,
        DNS_ADDRESS: '0',
        SKIP_SSL_CERT_DOWNLOAD: '1',
        SQS_ENDPOINT_STRATEGY: 'off', // queue URLs http://<LOCALSTACK_HOST>/<account>/<name>
        DISABLE_EVENTS: '1', // no analytics calls
        ...localstackLambdaEnv(host, port, filesystemRoot),
      },
    };
  },
  async reset(_url, restart) {
    await restart(); // LocalStack community has no reset endpoint; its state is in memory only
  },
};

/** `LENET_EMULATOR`: which emulator (default ministack). Throws a one-line error for anything else. */
export function emulatorName(value = process.env.LENET_EMULATOR): EmulatorName {
  if (value === undefined || value === '' || value === 'ministack') return 'ministack';
  if (value === 'localstack') return 'localstack';
  throw new Error(`LENET_EMULATOR must be 'ministack' or 'localstack', got '${value}'`);
}

function kind(): EmulatorKind {
  return emulatorName() === 'localstack' ? LOCALSTACK : MINISTACK;
}

/** 4566 (the port both emulators default to), or LENET_EMULATOR_PORT when that one is taken. */
export function emulatorPort(value: string | undefined): number {
  if (value === undefined || value === '') return 4566;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`LENET_EMULATOR_PORT must be a TCP port number (1-65535), got '${value}'`);
  }
  return port;
}

/** The emulator's base URL (no trailing slash): LENET_EMULATOR_URL, else http://127.0.0.1:<port>. */
export function emulatorUrl(): string {
  const external = externalUrl();
  return external ? external.origin : `http://${EMULATOR_HOST}:${emulatorPort(process.env.LENET_EMULATOR_PORT)}`;
}

/** LENET_EMULATOR_URL parsed, when set: an emulator someone else runs. */
function externalUrl(): URL | undefined {
  const value = process.env.LENET_EMULATOR_URL;
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`LENET_EMULATOR_URL must be an http(s) URL such as http://127.0.0.1:4566, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`LENET_EMULATOR_URL must be an http(s) URL such as http://127.0.0.1:4566, got '${value}'`);
  }
  return url;
}

/** True when the emulator is the user's own (LENET_EMULATOR_URL): used, never started or stopped. */
export function isExternalEmulator(): boolean {
  return externalUrl() !== undefined;
}

/** Which emulator, where, and whether these scripts manage it. */
export function emulatorInfo(): { name: EmulatorName; label: string; version: string; url: string; external: boolean } {
  const k = kind();
  return { name: k.name, label: k.label, version: k.version, url: emulatorUrl(), external: isExternalEmulator() };
}

/** Features a test may need that an emulator may lack here. */
export type EmulatorFeature = 'lambda';

/**
 * Why the chosen emulator cannot serve `feature` on this machine (a one-line reason for a skipped
 * test), or undefined when it can. MiniStack runs Lambdas as host processes; LocalStack only in
 * Docker, with the images and runtime-init that local/localstack/setup-lambda.sh provides.
 */
export function emulatorGap(feature: EmulatorFeature): string | undefined {
  if (feature === 'lambda' && kind().name === 'localstack' && !localstackLambdaEnabled()) {
    return (
      'LocalStack runs Lambda functions only in Docker containers, and its Docker executor is not set up here ' +
      '(run local/localstack/setup-lambda.sh and set LENET_LOCALSTACK_LAMBDA=docker; npm run test:localstack does both when Docker works)'
    );
  }
  return undefined;
}

/** `.local/<name>.log|pid` on the default port, `.local/<name>-<port>.log|pid` on another: emulators on two ports never share one. */
const localFile = (ext: 'log' | 'pid') => {
  const port = emulatorPort(process.env.LENET_EMULATOR_PORT);
  return path.join(LOCAL_DIR, port === 4566 ? `${kind().name}.${ext}` : `${kind().name}-${port}.${ext}`);
};
const logFile = () => localFile('log');
const pidFile = () => localFile('pid');
/** Environment that points AWS SDKs and the CDK CLI at the emulator (path-style S3). */
export function emulatorEnv(): Record<string, string> {
  const url = emulatorUrl();
  return {
    AWS_ENDPOINT_URL: url,
    AWS_ENDPOINT_URL_S3: url,
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
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.status ?? result.signal ?? result.error?.message})${detail}`);
  }
}

/** Creates the chosen emulator's venv and installs its pinned release into it, if not done yet. */
export function ensureVenv(): void {
  kind().ensureInstalled();
}

/** True when the emulator's health path answers 200. */
export async function isHealthy(timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`${emulatorUrl()}${kind().healthPath}`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

/** True when something accepts TCP connections on the emulator's address. */
function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: EMULATOR_HOST, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function readPid(): number | undefined {
  if (!existsSync(pidFile())) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile(), 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** True if `pid` is alive and is the chosen emulator's process (guards against a recycled pid). */
function isEmulatorProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(kind().processMarker);
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
 * Starts the chosen emulator in the background on 127.0.0.1:<port> (installing it first if needed)
 * and waits until its health path answers. Does nothing if it is already healthy. With
 * LENET_EMULATOR_URL it only checks that the emulator there answers.
 */
export async function startEmulator(opts: { timeoutMs?: number; auth?: boolean } = {}): Promise<StartResult> {
  const k = kind();
  const url = emulatorUrl();
  if (opts.auth && k.name !== 'ministack') throw new Error(`IAM enforcement (auth) is tested on MiniStack only, not on ${k.label}`);
  if (isExternalEmulator()) {
    if (await isHealthy(5000)) {
      log(`using ${k.label} at ${url} (LENET_EMULATOR_URL; not started or stopped here)`);
      return { started: false, url };
    }
    throw new Error(
      `LENET_EMULATOR_URL=${process.env.LENET_EMULATOR_URL}: no ${k.label} answers on ${url}${k.healthPath} (start it, or set LENET_EMULATOR to the one that runs there)`,
    );
  }
  if (await isHealthy()) {
    const pid = readPid();
    if (k.name === 'ministack') {
      // AUTH=true (signatures verified, IAM policies evaluated) is a start-time setting of MiniStack.
      const health = (await (await fetch(`${url}${k.healthPath}`)).json()) as { auth?: string };
      if ((health.auth === 'enabled') !== Boolean(opts.auth)) {
        throw new Error(
          `the emulator at ${url} runs with IAM auth ${health.auth}, this needs it ${opts.auth ? 'enabled' : 'disabled'}: ` +
            `stop it (npm run stop) or use another LENET_EMULATOR_PORT`,
        );
      }
    }
    log(`already running at ${url}${pid ? ` (pid ${pid})` : ' (not started by this script)'}`);
    return { pid, started: false, url };
  }
  const port = emulatorPort(process.env.LENET_EMULATOR_PORT);
  if (await portTaken(port)) {
    throw new Error(
      `${EMULATOR_HOST}:${port} is in use by something that is not ${k.label} (no answer on ${k.healthPath}). ` +
        `Stop it, or run ${k.label} on another port: LENET_EMULATOR_PORT=4567 npm start, ` +
        `or use the emulator that runs there: LENET_EMULATOR_URL=${url} LENET_EMULATOR=${k.name === 'ministack' ? 'localstack' : 'ministack'}`,
    );
  }
  k.ensureInstalled();
  mkdirSync(LOCAL_DIR, { recursive: true });
  const fd = openSync(logFile(), 'a');
  const { cmd, args, env } = k.command(EMULATOR_HOST, port);
  // MiniStack's Lambda functions run as its children and inherit its environment (plus their own
  // variables and an injected AWS_ENDPOINT_URL), so the emulator env is passed on to them too.
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    env: childEnv({ ...env, ...(opts.auth ? { AUTH: 'true' } : {}) }),
    detached: true, // own process group: stopEmulator() ends the server and its children together
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const pid = child.pid;
  if (!pid) throw new Error(`could not spawn ${k.label} (${cmd})`);
  child.unref();
  writeFileSync(pidFile(), `${pid}\n`);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));

  const deadline = Date.now() + (opts.timeoutMs ?? (k.name === 'localstack' ? 90_000 : 30_000));
  while (Date.now() < deadline) {
    if (await isHealthy()) {
      log(`${k.label} ${k.version} up at ${url} (pid ${pid}, log ${path.relative(REPO_ROOT, logFile())})`);
      return { pid, started: true, url };
    }
    if (exited !== undefined) break;
    await sleep(200);
  }
  const tail = existsSync(logFile()) ? readFileSync(logFile(), 'utf8').split('\n').slice(-20).join('\n') : '';
  await stopEmulator().catch(() => undefined);
  throw new Error(`${k.label} did not become healthy${exited !== undefined ? ` (exited with ${exited})` : ''}. Log tail:\n${tail}`);
}

/** Stops the emulator started by {@link startEmulator} (SIGTERM to its process group, SIGKILL after 10 s). Never an external one. */
export async function stopEmulator(): Promise<boolean> {
  if (isExternalEmulator()) {
    log(`not stopping ${emulatorUrl()} (LENET_EMULATOR_URL: not managed here)`);
    return false;
  }
  const pid = readPid();
  if (pid === undefined || !isEmulatorProcess(pid)) {
    rmSync(pidFile(), { force: true });
    log(`not running (no live pid in ${path.relative(REPO_ROOT, pidFile())})`);
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
  for (let i = 0; i < 50 && isEmulatorProcess(pid); i++) await sleep(200);
  if (isEmulatorProcess(pid)) {
    log(`pid ${pid} ignored SIGTERM; sending SIGKILL`);
    signalGroup('SIGKILL');
    for (let i = 0; i < 25 && isEmulatorProcess(pid); i++) await sleep(200);
  }
  rmSync(pidFile(), { force: true });
  log(`stopped (pid ${pid})`);
  return true;
}

/** Wipes all emulated state (buckets, queues, stacks, functions...). LocalStack: by a restart. */
export async function resetEmulator(): Promise<void> {
  const k = kind();
  await k.reset(emulatorUrl(), async () => {
    if (isExternalEmulator()) {
      throw new Error(
        `${k.label} can only be reset by restarting it, and ${emulatorUrl()} (LENET_EMULATOR_URL) is not managed here; restart it yourself`,
      );
    }
    await stopEmulator();
    await startEmulator();
  });
}

export interface EmulatorStatus {
  readonly emulator: EmulatorName;
  readonly url: string;
  readonly external: boolean;
  readonly healthy: boolean;
  readonly pid?: number;
  readonly pidAlive: boolean;
  readonly pinned: string;
  readonly version?: string;
}

export async function emulatorStatus(): Promise<EmulatorStatus> {
  const k = kind();
  const pid = readPid();
  return {
    emulator: k.name,
    url: emulatorUrl(),
    external: isExternalEmulator(),
    healthy: await isHealthy(),
    pid,
    pidAlive: pid !== undefined && isEmulatorProcess(pid),
    pinned: k.version,
    version: k.installedVersion(),
  };
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
  /** @default STACK_NAME */
  readonly stackName?: string;
  /** Extra `-c key=value` context (`local=true` is always set). */
  readonly context?: Record<string, string>;
  /** Run `cdk bootstrap` first (idempotent, quick). @default true */
  readonly bootstrap?: boolean;
  /** Capture CDK output instead of streaming it; it is shown only on failure. @default false */
  readonly quiet?: boolean;
}

/** `https://<id>.execute-api.<region>.amazonaws.com/<stage>/` → `http://127.0.0.1:<port>/_aws/execute-api/<id>/<stage>/`. */
export function localApiUrl(awsUrl: string): string {
  return emulatorApiUrl(awsUrl, emulatorUrl());
}

/**
 * A queue URL as the emulator names it, made callable at the emulator's own address:
 * MiniStack says `http://localhost:4566/<account>/<name>` (`localhost` may resolve to ::1 while it
 * listens on 127.0.0.1); LocalStack says `http://<LOCALSTACK_HOST>/<account>/<name>` with the path
 * strategy used here, or `http://sqs.<region>.localhost.localstack.cloud:4566/<account>/<name>` with its
 * default strategy (a user's own LocalStack). All become `<emulator URL>/<account>/<name>`.
 */
export function localQueueUrl(url: string): string;
export function localQueueUrl(url: string | undefined): string | undefined;
export function localQueueUrl(url: string | undefined): string | undefined {
  return url?.replace(/^https?:\/\/[^/]+\/(\d{12}\/[^/]+)$/, `${emulatorUrl()}/$1`);
}

/** `<emulator>-<port or host>`: deploys to different emulators at once keep their files apart. */
function deployTag(): string {
  const where = isExternalEmulator()
    ? new URL(emulatorUrl()).host.replace(/[^a-z0-9.-]/gi, '_')
    : String(emulatorPort(process.env.LENET_EMULATOR_PORT));
  return `${kind().name}-${where}`;
}
const cdkOutDir = () => path.join(LOCAL_DIR, `cdk.out-${deployTag()}`);
/** Stack outputs of the last deploy to the chosen emulator (`.local/outputs-<emulator>-<port>.json`). */
export const outputsFile = () => path.join(LOCAL_DIR, `outputs-${deployTag()}.json`);

/** Bootstraps and deploys the stack to the running emulator in local mode; returns its outputs. */
export async function deployStack(opts: DeployOptions = {}): Promise<StackOutputs> {
  const stackName = opts.stackName ?? STACK_NAME;
  const env = childEnv({ CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' });
  if (!(await isHealthy())) throw new Error(`no ${kind().label} at ${emulatorUrl()}; run: npx tsx local/emulator.ts start`);
  mkdirSync(LOCAL_DIR, { recursive: true });
  const quiet = opts.quiet ?? false;
  if (opts.bootstrap ?? true) {
    // Run outside the repo root: with cdk.json in the cwd, `cdk bootstrap` synthesizes the app
    // first even when given an explicit environment (a wasted synth + bundling).
    run('npx', ['--no-install', 'cdk', 'bootstrap', `aws://${EMULATOR_ACCOUNT}/${EMULATOR_REGION}`], { env, quiet, cwd: LOCAL_DIR });
  }
  const context = { ...opts.context, local: 'true', stackName };
  const contextArgs = Object.entries(context).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const OUTPUTS_FILE = outputsFile();
  rmSync(OUTPUTS_FILE, { force: true });
  run(
    'npx',
    // Own cdk.out per emulator and port: two deploys at once (MiniStack and LocalStack) must not share one.
    ['cdk', 'deploy', stackName, '--require-approval', 'never', '--outputs-file', OUTPUTS_FILE, '--output', cdkOutDir(), ...contextArgs],
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
      console.log(JSON.stringify(s, null, 2));
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
