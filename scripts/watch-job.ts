import cliProgress from 'cli-progress';
import type { JobStatus } from '../shared/schemas';
import type { ApiClient } from './api-client';

const fmt = (x: number | undefined, digits = 4) => (x === undefined ? '-' : x.toFixed(digits));

/** One line of the latest metrics of a job. */
export function describeMetrics(status: JobStatus): string {
  const m = status.metrics.at(-1);
  if (!m) return status.reason ?? '';
  return `loss ${fmt(m.loss)} acc ${fmt(m.accuracy)} val_acc ${fmt(m.valAccuracy)} ${Math.round(m.imagesPerSecond)} img/s (${m.backend}${m.threads ? `, ${m.threads} thread${m.threads > 1 ? 's' : ''}` : ''})`;
}

/** Polls a job and shows a progress bar of its epochs until it ends; returns the final status. */
export async function watchJob(client: ApiClient, jobId: string, intervalMs = 2000): Promise<JobStatus> {
  const interactive = Boolean(process.stderr.isTTY);
  const bar = new cliProgress.SingleBar(
    {
      format: ' {status} |{bar}| epoch {value}/{total} | {metrics}',
      hideCursor: true,
      noTTYOutput: !interactive,
      notTTYSchedule: 1e9, // non-interactive: we print a line per change ourselves
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let status = await client.job(jobId);
  let lastLine = '';
  if (interactive) bar.start(status.totalEpochs ?? 1, status.epoch ?? 0, { status: status.status, metrics: describeMetrics(status) });
  for (;;) {
    const line = `${status.status} epoch ${status.epoch ?? 0}/${status.totalEpochs ?? '?'} ${describeMetrics(status)}`;
    if (interactive) {
      bar.setTotal(status.totalEpochs ?? 1);
      bar.update(status.epoch ?? 0, { status: status.status.padEnd(9), metrics: describeMetrics(status) });
    } else if (line !== lastLine) {
      process.stderr.write(`${line}\n`);
    }
    lastLine = line;
    if (status.status === 'SUCCEEDED' || status.status === 'FAILED') break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    status = await client.job(jobId);
  }
  if (interactive) bar.stop();
  return status;
}
