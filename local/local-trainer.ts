/**
 * Runs the trainer (functions/trainer/main.ts) as a host process against the emulator, the local
 * stand-in for the Fargate service (ECS tasks need Docker, which these machines lack).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emulatorEnv } from './emulator';
import { ENV, QUEUE_DEFAULTS } from '../shared/settings';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOCAL_DIR = path.join(REPO_ROOT, '.local');
export const TRAINER_LOG = path.join(LOCAL_DIR, 'trainer.log');
const PID_FILE = path.join(LOCAL_DIR, 'trainer.pid');

export interface LocalTrainerOptions {
  bucketName: string;
  queueUrl: string;
  /** Extra environment, e.g. PROMOTION_MIN_ACCURACY or TFJS_BACKEND. */
  env?: Record<string, string>;
  /** Log file. Default .local/trainer.log */
  logFile?: string;
  /** Keep running after this process exits (the main job leaves it up for further jobs). Default false. */
  detached?: boolean;
}

/** Starts a trainer host process; returns the child (its pid is also kept in .local/trainer.pid). */
export function startLocalTrainer(opts: LocalTrainerOptions): ChildProcess {
  mkdirSync(LOCAL_DIR, { recursive: true });
  const fd = openSync(opts.logFile ?? TRAINER_LOG, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'functions/trainer/main.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...emulatorEnv(),
      // What infra/trainer-service.ts gives the Fargate task, for a stack deployed with the queue defaults.
      [ENV.bucketName]: opts.bucketName,
      [ENV.queueUrl]: opts.queueUrl,
      [ENV.visibilityTimeoutSeconds]: String(QUEUE_DEFAULTS.visibilityTimeoutSeconds),
      [ENV.maxReceives]: String(QUEUE_DEFAULTS.maxReceiveCount),
      ...opts.env,
    },
    stdio: ['ignore', fd, fd],
    detached: opts.detached ?? false,
  });
  closeSync(fd);
  if (opts.detached) {
    child.unref();
    writeFileSync(PID_FILE, `${child.pid}\n`);
  }
  return child;
}

/** Stops a trainer started with `detached` (SIGTERM: it finishes the current batch and returns its job to the queue). */
export async function stopLocalTrainer(): Promise<boolean> {
  if (!existsSync(PID_FILE)) return false;
  const pid = Number(readFileSync(PID_FILE, 'utf8'));
  rmSync(PID_FILE, { force: true });
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  for (let i = 0; i < 150; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  process.kill(pid, 'SIGKILL');
  return true;
}
