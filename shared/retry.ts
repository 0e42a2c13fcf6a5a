/**
 * Retrying calls to S3 and SQS through short outages (a dropped connection, a restarting endpoint,
 * throttling, 5xx). The SDK's own retries (3 attempts, a few hundred ms) cover blips; this covers
 * outages of tens of seconds, which the trainer must ride out without losing the job.
 */

export interface RetryOptions {
  /** Give up after this long in total. Default 120 s. */
  deadlineMs?: number;
  /** First delay; doubled on every failure up to maxDelayMs. Default 500 ms. */
  baseDelayMs?: number;
  /** Default 8 s. */
  maxDelayMs?: number;
  /** Told about each failure that will be retried. */
  onRetry?: (info: { what: string; attempt: number; delayMs: number; error: unknown }) => void;
}

/**
 * Network errors, throttling and 5xx are worth retrying; 4xx answers (missing key, precondition, bad
 * request) are not, and neither is 501 / NotImplemented: the endpoint does not implement the call
 * (LocalStack answers a conditional DELETE that way), so waiting will not help.
 */
export function isTransientAwsError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  const status = e.$metadata?.httpStatusCode;
  if (status === 501 || e.name === 'NotImplemented' || e.code === 'NotImplemented') return false;
  if (e.$retryable) return true;
  if (
    ['ThrottlingException', 'Throttling', 'SlowDown', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'AbortError'].includes(
      e.name ?? '',
    )
  ) {
    return true;
  }
  if (status === undefined) return true; // no HTTP answer at all: connection refused/reset, DNS, socket timeout
  return status >= 500 || status === 429;
}

/** Runs `fn`, retrying transient failures with exponential backoff until the deadline. */
export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.deadlineMs ?? 120_000);
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 8_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const delayMs = Math.min(max, base * 2 ** (attempt - 1));
      if (!isTransientAwsError(err) || Date.now() + delayMs > deadline) throw err;
      opts.onRetry?.({ what, attempt, delayMs, error: err });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
