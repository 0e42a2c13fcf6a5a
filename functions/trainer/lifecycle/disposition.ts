/** What becomes of a message whose job failed (the lease still held). */
export type Disposition =
  | { action: 'delete' } // permanent: no retry can fix it, so it never reaches the DLQ
  | { action: 'to-dlq' } // a transient failure on its last receive: visible at once, SQS moves it to the DLQ
  | { action: 'retry'; delaySeconds: number }; // back on the queue after an exponential delay

export function dispositionAfterFailure(f: {
  permanent: boolean;
  receives: number;
  maxReceives: number;
  retryBaseSeconds: number;
  visibilitySeconds: number;
}): Disposition {
  if (f.permanent) return { action: 'delete' };
  if (f.receives >= f.maxReceives) return { action: 'to-dlq' };
  return { action: 'retry', delaySeconds: Math.min(f.visibilitySeconds, Math.ceil(f.retryBaseSeconds * 2 ** (f.receives - 1))) };
}
