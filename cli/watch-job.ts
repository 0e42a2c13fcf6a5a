import cliProgress from 'cli-progress';
import type { ApiClient } from './api-client';
import { isFinished, type JobStatus, routeName } from '../shared/documents';
import { InterruptedError } from './exit-codes';

const fmt = (x: number | undefined, digits = 4) => (x === undefined ? '-' : x.toFixed(digits));

/** One line of the latest metrics of a job: the training route (the backend for jobs that predate routes) and its threads. */
export function describeMetrics(status: JobStatus): string {
  const m = status.metrics.at(-1);
  if (!m) return status.reason ?? '';
  const threads = m.threads ? `, ${m.threads} thread${m.threads > 1 ? 's' : ''}` : '';
  return `loss ${fmt(m.loss)} acc ${fmt(m.accuracy)} val_acc ${fmt(m.valAccuracy)} ${Math.round(m.imagesPerSecond)} img/s (${m.route ? routeName(m.route) : m.backend}${threads})`;
}

/** Epochs done, with the running epoch's finished fraction. */
export function epochsDone(status: JobStatus): number {
  const p = status.progress;
  return p ? p.epoch - 1 + p.batch / p.batches : (status.epoch ?? 0);
}

/** "epoch 3/20", or "epoch 4/20 batch 812/1688" while an epoch runs. */
export function describePosition(status: JobStatus): string {
  const p = status.progress;
  // A batch prediction reports its chunks as the batches of one epoch.
  if (status.kind === 'batch-predict') return p ? `chunk ${p.batch}/${p.batches}` : `${status.batch?.objects ?? '?'} objects`;
  const total = status.totalEpochs ?? '?';
  return p ? `epoch ${p.epoch}/${total} batch ${p.batch}/${p.batches}` : `epoch ${status.epoch ?? 0}/${total}`;
}

export interface WatchOptions {
  /** Time between two polls. Default 2000 ms. */
  intervalMs?: number;
  /**
   * Asked on Ctrl-C: true cancels the job and watches it to its end; false stops watching and leaves
   * it running (InterruptedError). Without it, Ctrl-C ends the CLI as usual.
   */
  confirmCancel?: (jobId: string) => Promise<boolean>;
}

/** Polls a job and shows a progress bar of its epochs until it ends; returns the final status. */
export async function watchJob(client: ApiClient, jobId: string, opts: WatchOptions = {}): Promise<JobStatus> {
  const intervalMs = opts.intervalMs ?? 2000;
  let interrupted: (() => void) | undefined;
  let interrupt = new Promise<void>((resolve) => (interrupted = resolve));
  const onSigint = () => interrupted?.();
  if (opts.confirmCancel) process.on('SIGINT', onSigint);
  try {
    return await watch();
  } finally {
    process.off('SIGINT', onSigint);
  }

  async function watch(): Promise<JobStatus> {
    const interactive = Boolean(process.stderr.isTTY);
    const bar = new cliProgress.SingleBar(
      {
        format: ' {status} |{bar}| {where} | {metrics}',
        hideCursor: true,
        noTTYOutput: !interactive,
        notTTYSchedule: 1e9, // non-interactive: we print a line per change ourselves
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    let status = await client.job(jobId);
    let lastLine = '';
    // The bar counts hundredths of an epoch, so it moves inside an epoch too (from the job's progress).
    if (interactive)
      bar.start(100 * (status.totalEpochs ?? 1), 0, {
        status: status.status,
        where: describePosition(status),
        metrics: describeMetrics(status),
      });
    for (;;) {
      const line = `${status.status} epoch ${status.epoch ?? 0}/${status.totalEpochs ?? '?'} ${describeMetrics(status)}`;
      if (interactive) {
        bar.setTotal(100 * (status.totalEpochs ?? 1));
        bar.update(Math.round(100 * epochsDone(status)), {
          status: status.status.padEnd(9),
          where: describePosition(status),
          metrics: describeMetrics(status),
        });
      } else if (line !== lastLine) {
        process.stderr.write(`${line}\n`);
      }
      lastLine = line;
      if (isFinished(status.status)) break;
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), intervalMs)));
      const woke = await Promise.race([tick, interrupt.then(() => 'interrupt' as const)]);
      clearTimeout(timer);
      if (woke === 'interrupt') {
        if (interactive) bar.stop();
        if (!(await opts.confirmCancel!(jobId)))
          throw new InterruptedError(`stopped watching; job ${jobId} still runs (cancel it with: npx lenet cancel ${jobId})`);
        status = await client.cancel(jobId);
        process.stderr.write(`cancel requested: job ${jobId} is ${status.status}\n`);
        if (interactive) bar.start(100 * (status.totalEpochs ?? 1), 0, { status: status.status, where: '', metrics: '' });
        // A second Ctrl-C ends the CLI as usual.
        process.off('SIGINT', onSigint);
        interrupt = new Promise<void>(() => {});
        continue;
      }
      status = await client.job(jobId);
    }
    if (interactive) bar.stop();
    return status;
  }
}
