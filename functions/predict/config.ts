import { z } from 'zod';
import { envNumber, envString, readConfig } from '../../shared/config';
import { DEFAULT_MODEL_REFRESH_SECONDS } from '../../shared/settings';

/** What the predict function reads from its environment (infra/service-api.ts sets it). */
export const PredictConfigSchema = z.object({
  BUCKET_NAME: envString(),
  MODEL_REFRESH_SECONDS: envNumber(DEFAULT_MODEL_REFRESH_SECONDS),
});
export type PredictConfig = z.infer<typeof PredictConfigSchema>;

export const readPredictConfig = (env: NodeJS.ProcessEnv = process.env): PredictConfig => readConfig(PredictConfigSchema, env);
