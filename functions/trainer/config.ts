import { z } from 'zod';
import { envNumber, optionalEnvNumber, envString, optionalEnvString, readConfig } from '../../shared/config';
import { DEFAULT_PROMOTION_MIN_ACCURACY, QUEUE_DEFAULTS } from '../../shared/settings';
import { GradientThreads } from '../../shared/schemas';

const THREADS_RULE = "must be 'auto' or a whole number from 1 to 16";

/** A gradient thread count from the environment; undefined when unset. Throws naming the variable. */
function threadsSetting(name: string, value: string | undefined): number | 'auto' | undefined {
  if (value === undefined || value === '') return undefined;
  // The job param's own schema, so the env and the param accept the same values.
  const parsed = GradientThreads.safeParse(value === 'auto' ? value : Number(value));
  if (parsed.success) return parsed.data;
  throw new Error(`${name} ${THREADS_RULE}, got '${value}'`);
}

/**
 * Gradient threads when a job sets none: env TRAINER_THREADS (a count or 'auto'), else 'auto'. A fixed 2 trains faster than 1 on an idle 2-core machine but
 * slower than 1 while another process holds a core; 'auto' follows whichever is faster at the moment.
 */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env): number | 'auto' {
  return threadsSetting('TRAINER_THREADS', env.TRAINER_THREADS) ?? 'auto';
}

/** An env variable holding a gradient thread count, validated as defaultThreads reads it. */
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
export const TrainerConfigSchema = z.object({
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
  /** Gradient threads when a job does not set `threads`: auto or 1-16; unset: auto. */
  TRAINER_THREADS: threadsEnv('TRAINER_THREADS'),
});
export type TrainerConfig = z.infer<typeof TrainerConfigSchema>;

export const readTrainerConfig = (env: NodeJS.ProcessEnv = process.env): TrainerConfig => readConfig(TrainerConfigSchema, env);
