/**
 * Retrying calls to S3 and SQS through short outages (a dropped connection, a restarting endpoint,
 * throttling, 5xx). The SDK's own retries (3 attempts, a few hundred ms) cover blips; this covers
 * outages of tens of seconds, which the trainer must ride out without losing the job.
 */
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';

export interface RetryOptions {
  /** Give up after this long in total. Default 120 s. */
  deadlineMs?: number;
  /** The first backoff cap; doubled on every failure up to maxDelayMs. Default 500 ms. */
  baseDelayMs?: number;
  /** Default 8 s. */
  maxDelayMs?: number;
  /** Uniform in [0, 1); the jitter's source. Default Math.random. */
  random?: () => number;
  /** Told about each failure that will be retried. */
  onRetry?: (info: { what: string; attempt: number; delayMs: number; error: unknown }) => void;
}

type SdkError = Parameters<typeof isTransientError>[0];

/**
 * Retryable as the SDK's own retry strategy classifies it: throttling, transient (timeouts, dropped
 * or refused connections, 500/502/503/504, errors the service marks retryable) or another 5xx.
 * Not 501 / NotImplemented: the endpoint does not implement the call (LocalStack answers a
 * conditional DELETE that way), so waiting will not help. Anything else, a 4xx or a programming
 * error such as a TypeError, fails at once.
 */
export function isTransientAwsError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as SdkError & { code?: string };
  if (e.$metadata?.httpStatusCode === 501 || e.name === 'NotImplemented' || e.code === 'NotImplemented') return false;
  return isThrottlingError(e) || isTransientError(e) || isServerError(e);
}

/** Runs `fn`, retrying transient failures with full-jitter exponential backoff until the deadline. */
export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.deadlineMs ?? 120_000);
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 8_000;
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      // Full jitter: uniform below the exponential cap, so callers that failed together spread out.
      const delayMs = Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
      if (!isTransientAwsError(err) || Date.now() + delayMs > deadline) throw err;
      opts.onRetry?.({ what, attempt, delayMs, error: err });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
