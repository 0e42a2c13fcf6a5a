/**
 * `lenet batch-predict --input s3://… --output s3://… [--model <jobId>]`: predicts every image under
 * an S3 prefix as a job on the trainer service (POST /batch-predictions), writing predictions.jsonl
 * and summary.json under the output prefix.
 */
import type { Command } from 'commander';
import type { JobStatus } from '../shared/documents';
import type { ApiClient } from './api-client';
import { watchJob } from './watch-job';

export function batchPredict(api: ApiClient, request: { input: string; output: string; modelJobId?: string }): Promise<JobStatus> {
  return api.call('POST', 'batch-predictions', request);
}

/** Adds `batch-predict` to the CLI; `client` makes the signed API client. */
export function registerBatchPredict(program: Command, client: () => Promise<ApiClient>): Command {
  return program
    .command('batch-predict')
    .description('predict every PNG, JPEG and .json image under an S3 prefix of the batch area, as a job; writes predictions.jsonl')
    .requiredOption('--input <s3uri>', 'prefix to read, e.g. s3://<BucketName>/batch/in/')
    .requiredOption('--output <s3uri>', 'prefix to write predictions.jsonl and summary.json to, e.g. s3://<BucketName>/batch/out/')
    .option('--model <jobId>', 'the finished job whose model predicts (default: the served model at submit)')
    .option('--watch', 'follow the job until it ends')
    .option('--json', 'print the job as JSON (with --watch: when it ends)')
    .action(async (opts: { input: string; output: string; model?: string; watch?: boolean; json?: boolean }) => {
      const api = await client();
      let job = await batchPredict(api, { input: opts.input, output: opts.output, modelJobId: opts.model });
      if (!opts.json || opts.watch) console.error(`submitted ${job.jobId}: ${job.batch?.objects} objects, model ${job.batch?.modelJobId}`);
      if (opts.watch) job = await watchJob(api, job.jobId);
      if (opts.json) return console.log(JSON.stringify(job, null, 2));
      if (job.status === 'SUCCEEDED' && job.batch)
        console.log(`${job.batch.predicted} predicted, ${job.batch.errors} errors: ${job.batch.output}predictions.jsonl`);
      else if (job.status === 'FAILED' || job.status === 'CANCELLED') throw new Error(`job ${job.jobId} ${job.status}: ${job.reason}`);
    });
}
