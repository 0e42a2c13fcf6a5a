import { z } from 'zod';
import { envNumber, envString, optionalEnvString, readConfig } from '../../shared/config';
import { DEFAULT_PROMOTION_MIN_ACCURACY } from '../../shared/settings';

/** What the api function reads from its environment (infra/service-api.ts sets it). */
export const ApiConfigSchema = z.object({
  BUCKET_NAME: envString(),
  QUEUE_URL: envString(),
  PROMOTION_MIN_ACCURACY: envNumber(DEFAULT_PROMOTION_MIN_ACCURACY, { max: 1 }),
  /** The trainer's ECS cluster and service: POST /jobs starts a task when none runs. Unset: it does not. */
  TRAINER_CLUSTER: optionalEnvString(),
  TRAINER_SERVICE: optionalEnvString(),
});
export type ApiConfig = z.infer<typeof ApiConfigSchema>;

export const readApiConfig = (env: NodeJS.ProcessEnv = process.env): ApiConfig => readConfig(ApiConfigSchema, env);
