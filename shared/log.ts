import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logs for every part of the system. */
export function makeLogger(serviceName: string): Logger {
  return new Logger({ serviceName, logLevel: (process.env.LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });
}
