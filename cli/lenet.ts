/**
 * The `lenet` CLI: submit and watch training jobs, list and promote models, and predict digits.
 * Finds the API from --api-url, $LENET_API_URL, or the deployed stack's ApiUrl output.
 * Every command that prints data takes --json; exit codes: ./exit-codes.ts.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiClient, resolveApiUrl } from './api-client';
import { EXIT, exitCodeFor } from './exit-codes';
import { registerExport } from './export';
import { registerBatchPredict } from './batch-predict';
import { registerSweep } from './sweep';
import { registerHistory } from './history';
import { predictFiles } from './predict-files';
import { describeMetrics, watchJob } from './watch-job';
import { isFinished } from '../shared/documents';
import { RECIPES, type RecipeName } from '../shared/recipes';
import { LR_SCHEDULES, TrainingParams } from '../shared/schemas';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('lenet')
  .description('Train LeNet-5 on MNIST and predict digits, on AWS or the local emulator.')
  .version(version)
  .option('--api-url <url>', 'API base URL (default: $LENET_API_URL or the stack output ApiUrl)')
  .addHelpText(
    'after',
    `\nExit codes: ${EXIT.ok} success; ${EXIT.failed} the job or request failed; ${EXIT.usage} bad usage; ${EXIT.notFound} not found; ${EXIT.authOrNetwork} auth or network; ${EXIT.interrupted} Ctrl-C while watching, the job left running.`,
  )
  // Usage errors end as a CommanderError, so they get their own exit code (exitCodeFor).
  .exitOverride();

/** The job schema's defaults, for the help text: the API fills in the same ones. */
const DEFAULTS = TrainingParams.parse({});

const client = async () => new ApiClient(await resolveApiUrl(program.opts().apiUrl));
const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
const JSON_HELP = 'print JSON instead of a table';
const number = (kind: 'int' | 'float') => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n)))
    throw new InvalidArgumentError(`"${value}" is not ${kind === 'int' ? 'an integer' : 'a number'}.`);
  return n;
};

const threadsOption = (value: string): 'auto' | number => {
  if (value === 'auto') return value;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is neither "auto" nor a whole number.`);
  return Number(value);
};

program
  .command('submit')
  .description('submit a training job')
  .addOption(
    new Option('--recipe <name>', 'start from a named recipe (shared/recipes.ts); the options below override it').choices(
      Object.keys(RECIPES),
    ),
  )
  .option('--epochs <n>', `epochs (default ${DEFAULTS.epochs})`, number('int'))
  .option('--batch-size <n>', `batch size (default ${DEFAULTS.batchSize})`, number('int'))
  .option('--learning-rate <x>', `Adam (peak) learning rate (default ${DEFAULTS.learningRate})`, number('float'))
  .addOption(
    new Option('--lr-schedule <name>', `learning-rate schedule (default ${DEFAULTS.lrSchedule}; constant is the keras recipe's)`).choices(
      LR_SCHEDULES,
    ),
  )
  .option('--augment-shift <n>', `shift training images by up to N pixels (default ${DEFAULTS.augmentShift})`, number('int'))
  .option('--validation-split <x>', `fraction held out for validation (default ${DEFAULTS.validationSplit})`, number('float'))
  .option('--normalize-inputs', 'train on standardised pixels (the served model still takes raw ones)')
  .option('--label-smoothing <x>', 'smooth the one-hot labels by x, 0 to 0.5 (default 0)', number('float'))
  .option('--seed <n>', `random seed for weights and data order (default ${DEFAULTS.seed})`, number('int'))
  .option('--train-subset <n>', 'train on the first N images only', number('int'))
  .option('--test-subset <n>', 'evaluate on the first N test images only', number('int'))
  .option('--dataset-prefix <prefix>', `S3 prefix of the IDX dataset (default ${DEFAULTS.datasetPrefix})`)
  .option('--threads <auto|n>', "gradient threads (default: the trainer's TRAINER_THREADS, else auto)", threadsOption)
  .option('--watch', 'watch the job until it ends')
  .option('--json', 'print the submitted job as JSON (with --watch: the job when it ends; progress goes to stderr)')
  .action(async (opts) => {
    const { watch, recipe, json, ...params } = opts;
    const api = await client();
    const job = await api.submit({ ...(recipe ? RECIPES[recipe as RecipeName] : {}), ...params });
    if (json && !watch) return print(job);
    if (!json) console.log(`submitted ${job.jobId}`);
    if (watch) await report(await watchJob(api, job.jobId, { confirmCancel }), json);
  });

program
  .command('status <jobId>')
  .description('show a job; --watch shows a live progress bar until it ends')
  .option('--watch', 'follow the job')
  .option('--json', 'with --watch: print the job as JSON when it ends (progress goes to stderr; without --watch it is always JSON)')
  .action(async (jobId: string, opts) => {
    const api = await client();
    if (opts.watch) await report(await watchJob(api, jobId, { confirmCancel }), opts.json);
    else print(await api.job(jobId));
  });

program
  .command('cancel <jobId>')
  .description('cancel a queued or running job: it ends CANCELLED and keeps its checkpoints')
  .option('--wait', 'wait until the job has stopped')
  .option('--json', 'print the job as JSON')
  .action(async (jobId: string, opts: { wait?: boolean; json?: boolean }) => {
    const api = await client();
    let job = await api.cancel(jobId);
    for (let i = 0; opts.wait && !isFinished(job.status) && i < CANCEL_WAIT_POLLS; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      job = await api.job(jobId);
    }
    if (opts.json) return print(job);
    if (job.status === 'CANCELLED') console.log(`job ${jobId} CANCELLED (by ${job.cancelledBy} at ${job.cancelledAt})`);
    else if (isFinished(job.status)) console.log(`job ${jobId} ${job.status}: ${job.reason ?? ''}`);
    else console.log(`cancel requested: job ${jobId} is ${job.status} and stops at its next batch`);
  });

program
  .command('jobs')
  .description('list training jobs, newest first, a page at a time')
  .option('--limit <n>', 'jobs per page (1-100)', (v) => Number(v))
  .option('--next <token>', 'the page after the one that printed this token')
  .option('--json', JSON_HELP)
  .action(async (opts: { limit?: number; next?: string; json?: boolean }) => {
    const { jobs, next } = await (await client()).jobs({ limit: opts.limit, next: opts.next });
    if (opts.json) return print({ jobs, next });
    console.table(
      jobs.map((j) => ({
        job: j.jobId,
        status: j.status,
        epoch: `${j.epoch ?? 0}/${j.totalEpochs ?? '?'}`,
        test_acc: j.testAccuracy?.toFixed(4) ?? '',
        latest: describeMetrics(j),
      })),
    );
    if (next) console.log(`more: lenet jobs --next ${next}`);
  });

program
  .command('models')
  .description('list trained models and which one is served')
  .option('--json', JSON_HELP)
  .action(async (opts: { json?: boolean }) => {
    const list = await (await client()).models();
    if (opts.json) return print(list);
    const { models } = list;
    console.table(
      models.map((m) => ({
        job: m.jobId,
        epochs: m.epoch,
        test_acc: m.testAccuracy?.toFixed(4),
        backend: m.backend,
        served: m.latest ? '*' : '',
      })),
    );
  });

program
  .command('promote <jobId>')
  .description("serve a finished job's model")
  .option('--force', 'promote even if the served model is more accurate')
  .option('--json', 'print the served-model pointer as JSON')
  .action(async (jobId: string, opts: { force?: boolean; json?: boolean }) => {
    const pointer = await (await client()).promote(jobId, Boolean(opts.force));
    if (opts.json) return print(pointer);
    console.log(`serving job ${pointer.jobId} (test accuracy ${pointer.testAccuracy.toFixed(4)}) since ${pointer.promotedAt}`);
  });

program
  .command('predict <files...>')
  .description('predict digits in PNG, JPEG or JSON ({"pixels": [...]}) files, 16 files a request')
  .option('--json', JSON_HELP)
  .action(async (files: string[], opts: { json?: boolean }) => {
    const predictions = await predictFiles(client, files);
    if (opts.json) return print(predictions);
    console.table(
      predictions.map((p) => ({
        file: p.file,
        digit: p.digit,
        confidence: Math.max(...p.probabilities).toFixed(3),
        model: `${p.model.jobId}@${p.model.epoch}`,
      })),
    );
  });

registerExport(program, client);
registerBatchPredict(program, client);
registerSweep(program, client);
registerHistory(program, client);

/** How long `cancel --wait` waits for a running job's trainer to stop it, in 1 s polls. */
const CANCEL_WAIT_POLLS = 120;

/** Ctrl-C while watching, on a terminal: asks whether to cancel the job (anything but y/yes leaves it running). */
async function confirmCancel(jobId: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.on('SIGINT', () => resolve('n'));
      rl.question(`\nCancel job ${jobId}? [y/N] `, resolve);
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** The end of a watched job: a line (or the job as JSON); a FAILED or CANCELLED job exits 1. */
async function report(status: Awaited<ReturnType<ApiClient['job']>>, json = false) {
  if (json) print(status);
  if (status.status === 'FAILED') throw new Error(`job ${status.jobId} failed: ${status.reason}`);
  if (status.status === 'CANCELLED') throw new Error(`job ${status.jobId} was cancelled by ${status.cancelledBy} at ${status.cancelledAt}`);
  if (!json)
    console.log(`job ${status.jobId} ${status.status}: test accuracy ${status.testAccuracy?.toFixed(4)} (${status.promotion ?? ''})`);
}

program.parseAsync().catch((err) => {
  // Commander has printed its own usage errors (and --help, --version) already.
  if (!(err instanceof CommanderError)) console.error(`lenet: ${err instanceof Error ? err.message : err}`);
  process.exit(exitCodeFor(err));
});
