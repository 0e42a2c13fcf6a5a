import type { Logger } from '@aws-lambda-powertools/logger';
import { readCancelRequest } from '../../../shared/job-cancel';
import type { CancelRequest } from '../../../shared/documents';
import type { Bucket } from '../../../shared/s3-objects';

/**
 * While a job runs, looks for its cancel request (`jobs/<id>.cancel`) every `everyMs`, so training
 * can stop at the next batch: one small GET per interval, never one per batch.
 */
export class CancelWatch {
  private found: CancelRequest | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly bucket: Bucket,
    private readonly jobId: string,
    private readonly logger: Logger,
    private readonly everyMs: number,
  ) {}

  /** The request, once seen. */
  get request(): CancelRequest | undefined {
    return this.found;
  }

  /** Reads the request now (before starting a job, before writing its final model). */
  async check(): Promise<CancelRequest | undefined> {
    this.found ??= await readCancelRequest(this.bucket, this.jobId);
    return this.found;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.checking || this.found) return;
      this.checking = true;
      // A failed read is tried again at the next interval; the request is never lost, only seen later.
      this.check()
        .catch((err) => this.logger.warn('reading the cancel request failed', { error: String(err) }))
        .finally(() => (this.checking = false));
    }, this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
