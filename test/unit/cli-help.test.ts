/** The CLI's help for `submit` shows the job schema's own choices and defaults (it repeats none by hand). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LR_SCHEDULES, TrainingParams } from '../../shared/schemas';

const CLI = fileURLToPath(new URL('../../cli/lenet.mjs', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test("lenet submit --help: every lrSchedule choice and the schema's defaults", () => {
  const help = run('submit', '--help').stdout.replace(/\s+/g, ' ');
  const d = TrainingParams.parse({});
  for (const schedule of LR_SCHEDULES) assert.match(help, new RegExp(`"${schedule}"`));
  for (const [flag, value] of [
    ['--epochs', d.epochs],
    ['--batch-size', d.batchSize],
    ['--learning-rate', d.learningRate],
    ['--lr-schedule', d.lrSchedule],
    ['--augment-shift', d.augmentShift],
    ['--validation-split', d.validationSplit],
    ['--seed', d.seed],
    ['--dataset-prefix', d.datasetPrefix],
  ] as const) {
    assert.match(help, new RegExp(`${flag} <\\w+> (?:(?! --).)*\\(default ${String(value).replace(/[.]/g, '\\.')}[;)]`), flag);
  }
});

test('lenet submit refuses an unknown schedule before any request, naming the choices', () => {
  const out = run('submit', '--lr-schedule', 'linear', '--api-url', 'http://127.0.0.1:9/');
  assert.notEqual(out.status, 0);
  assert.match(out.stderr, /Allowed choices are constant, cosine, onecycle/);
});

test('lenet --help lists every command of the lifecycle, sweeps and batch prediction; every command takes --json', () => {
  const help = run('--help').stdout;
  const commands = [...help.split('Commands:')[1].matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1]).filter((c) => c !== 'help');
  for (const expected of [
    'submit',
    'status',
    'cancel',
    'jobs',
    'models',
    'promote',
    'history',
    'rollback',
    'export',
    'predict',
    'sweep',
    'batch-predict',
  ])
    assert.ok(commands.includes(expected), `${expected} in ${commands}`);
  for (const command of commands) assert.match(run(command, '--help').stdout, /--json/, command);
});

test('lenet --help lists history and rollback, and both take --json', () => {
  const help = run('--help').stdout;
  assert.match(help, /^\s+history \[options\]/m);
  assert.match(help, /^\s+rollback \[options\] \[jobId\]/m);
  for (const command of ['history', 'rollback']) assert.match(run(command, '--help').stdout, /--json/, command);
});
