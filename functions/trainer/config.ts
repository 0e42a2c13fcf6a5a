import { z } from 'zod';
import { envNumber, optionalEnvNumber, envString, optionalEnvString, readConfig } from '../../shared/config';
import { DEFAULT_PROMOTION_MIN_ACCURACY, QUEUE_DEFAULTS } from '../../shared/settings';
import { GradientThreads } from '../../shared/schemas';
import type { NativeSettings } from './steps/native/native-step';
import { STEP_MODES, type StepMode } from './steps/step-modes';

const THREADS_RULE = "must be 'auto' or a whole number from 1 to 16";

/** A gradient thread count from the environment; undefined when unset. Throws naming the variable. */
function threadsSetting(name: string, value: string | undefined): number | 'auto' | undefined {
  if (value === undefined || value === '') return undefined;
  // The job param's own schema, so the env and the param accept the same values.
  const parsed = GradientThreads.safeParse(value === 'auto' ? value : Number(value));
  if (parsed.success) return parsed.data;
  throw new Error(`${name} ${THREADS_RULE}, got '${value}'`);
}

/** An env variable holding a gradient thread count ('auto' or 1-16), read with the job param's own schema. */
const threadsEnv = (name: string) =>
  z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        try {
          return threadsSetting(name, v);
        } catch {
          ctx.addIssue({ code: 'custom', message: THREADS_RULE });
          return z.NEVER;
        }
      }),
  );

/**
 * What the trainer reads from its environment. infra/trainer-service.ts sets BUCKET_NAME, QUEUE_URL,
 * PROMOTION_MIN_ACCURACY, VISIBILITY_TIMEOUT_SECONDS and MAX_RECEIVES from the constants that define
 * the queue and the API; the rest are tuning knobs for tests and the local harness.
 */
/**
 * How the training step is chosen, from the environment: read once by an entry point (the trainer,
 * a bench) and passed down to the loop and the stepper.
 */
export const StepSettingsSchema = z.object({
  /** auto | layers | wasm | native: 'auto' is native when the addon loads, else wasm, else layers. */
  LENET_STEP: z.preprocess((v) => (v === '' ? undefined : v), z.enum(STEP_MODES).default('auto')),
  /** '0' disables the native oneDNN addon. */
  LENET_NATIVE: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['0', '1']).default('1')),
  /** Another build of the addon (the bench compares two oneDNN versions). */
  LENET_NATIVE_ADDON: optionalEnvString(),
  /**
   * Gradient threads when a job does not set `threads`: auto or 1-16; unset: auto. A fixed 2 trains
   * faster than 1 on an idle 2-core machine but slower than 1 while another process holds a core;
   * 'auto' follows whichever is faster at the moment.
   */
  TRAINER_THREADS: threadsEnv('TRAINER_THREADS'),
});

/** The step settings as the loop and the stepper take them. */
export interface StepSettings {
  mode: StepMode;
  /** Gradient threads for a job that sets none. */
  defaultThreads: number | 'auto';
  native: NativeSettings;
}

export function stepSettings(c: z.infer<typeof StepSettingsSchema>): StepSettings {
  return {
    mode: c.LENET_STEP,
    defaultThreads: c.TRAINER_THREADS ?? 'auto',
    native: { enabled: c.LENET_NATIVE === '1', addonPath: c.LENET_NATIVE_ADDON },
  };
}

/** Step settings from an environment, for entry points other than the trainer (benches, tools). */
export const readStepSettings = (env: NodeJS.ProcessEnv = process.env): StepSettings => stepSettings(readConfig(StepSettingsSchema, env));

export const TrainerConfigSchema = StepSettingsSchema.extend({
  BUCKET_NAME: envString(),
  QUEUE_URL: envString(),
  /** tensorflow | wasm | cpu; unset: the best that loads. */
  TFJS_BACKEND: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['tensorflow', 'wasm', 'cpu']).optional()),
  PROMOTION_MIN_ACCURACY: envNumber(DEFAULT_PROMOTION_MIN_ACCURACY, { max: 1 }),
  /** Long-poll wait. */
  WAIT_TIME_SECONDS: envNumber(QUEUE_DEFAULTS.receiveWaitSeconds, { max: 20 }),
  /** How long each heartbeat hides the message; also the job lease length. The queue's visibility timeout. */
  VISIBILITY_TIMEOUT_SECONDS: envNumber(QUEUE_DEFAULTS.visibilityTimeoutSeconds, { max: 43_200 }),
  /** How often the heartbeat renews the lease and the visibility. */
  HEARTBEAT_SECONDS: envNumber(60),
  /** Job lease length, if not the visibility timeout. */
  LEASE_SECONDS: optionalEnvNumber(),
  /** A transiently failed job comes back after base * 2^(receives-1) s. */
  RETRY_BASE_SECONDS: envNumber(30),
  /** The queue's maxReceiveCount: the last try marks a failing job FAILED. */
  MAX_RECEIVES: envNumber(QUEUE_DEFAULTS.maxReceiveCount, { min: 1 }),
  /** How long S3 and SQS calls are retried through an outage. */
  S3_RETRY_SECONDS: envNumber(120),
  /** This trainer's name in job leases. */
  TRAINER_ID: optionalEnvString(),
  /**
   * The role assumed for a batch prediction's S3 reads and writes (infra sets it); unset, a batch
   * uses the trainer's own credentials, which on AWS have no access to batch/.
   */
  BATCH_ROLE_ARN: optionalEnvString(),
  /** Tests only: the trainer stops itself (SIGSTOP) right after the lease check before this write. */
  LENET_TEST_STOP_AFTER_LEASE_CHECK: optionalEnvString(),
});
export type TrainerConfig = z.infer<typeof TrainerConfigSchema>;

export const readTrainerConfig = (env: NodeJS.ProcessEnv = process.env): TrainerConfig => readConfig(TrainerConfigSchema, env);
