/** `lenet sweep` (cli/sweep.ts): comma lists make the grid, single values the base; mistakes are usage errors (exit 2) before any request. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sweepLine, sweepRequestFrom } from '../../cli/sweep';
import { UsageError } from '../../cli/exit-codes';
import { LR_SCHEDULES } from '../../shared/schemas';

const CLI = fileURLToPath(new URL('../../cli/lenet.mjs', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('comma lists become the grid, single values the base, each as the schema type', () => {
  assert.deepEqual(
    sweepRequestFrom(
      { learningRate: '0.0005,0.001', labelSmoothing: '0, 0.1', seed: '1,2,3', epochs: '2', threads: 'auto,2', normalizeInputs: 'true' },
      'best',
    ),
    {
      grid: { learningRate: [0.0005, 0.001], labelSmoothing: [0, 0.1], seed: [1, 2, 3], threads: ['auto', 2] },
      base: { epochs: 2, normalizeInputs: true },
      promote: 'best',
    },
  );
  assert.deepEqual(sweepRequestFrom({ lrSchedule: LR_SCHEDULES.join(',') }), { grid: { lrSchedule: [...LR_SCHEDULES] } });
});

test('usage errors: nothing varied, a value of the wrong type, a value out of range', () => {
  assert.throws(
    () => sweepRequestFrom({ epochs: '2' }),
    (e) => e instanceof UsageError && /--seed 1,2,3/.test(e.message),
  );
  assert.throws(
    () => sweepRequestFrom({ seed: '1,two' }),
    (e) => e instanceof UsageError && /--seed: "two" is not a number/.test(e.message),
  );
  assert.throws(
    () => sweepRequestFrom({ normalizeInputs: 'true,yes' }),
    (e) => e instanceof UsageError && /--normalize-inputs: "yes" is neither true nor false/.test(e.message),
  );
  assert.throws(
    () => sweepRequestFrom({ lrSchedule: 'cosine,linear' }),
    (e) => e instanceof UsageError && /grid\.lrSchedule\.1/.test(e.message),
  );
});

test('the real CLI: sweep is in --help, its options come from the job schema, and a bad sweep exits 2 before any request', () => {
  assert.match(run('--help').stdout, /sweep \[options\]/);
  const help = run('sweep', '--help').stdout.replace(/\s+/g, ' ');
  for (const flag of [
    '--learning-rate <values>',
    '--label-smoothing <values>',
    '--seed <values>',
    '--test-each-epoch <values>',
    '--promote <what>',
  ])
    assert.ok(help.includes(flag), flag);
  assert.match(help, /constant, cosine, onecycle/);
  const bad = run('sweep', '--seed', '1,x', '--api-url', 'http://127.0.0.1:9/');
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /"x" is not a number/);
  assert.match(run('sweep', 'status', '--help').stdout, /best first/);
});

test('sweep cancel: in the help with --json; the status line says who cancelled and that nothing is promoted', () => {
  const help = run('sweep', 'cancel', '--help').stdout.replace(/\s+/g, ' ');
  assert.match(help, /cancel \[options\] <sweepId>/);
  assert.match(help, /--json/);
  const base = {
    sweepId: 'sweep-1',
    createdAt: '',
    request: { grid: { seed: [1, 2] }, promote: 'best' as const },
    promote: 'best' as const,
    ranking: ['a', 'b'],
    variants: (['CANCELLED', 'CANCELLED'] as const).map((status, i) => ({
      rank: i + 1,
      jobId: 'ab'[i],
      params: { seed: i + 1 },
      status,
      epoch: 0,
    })),
    done: true,
  };
  const cancelled = {
    ...base,
    cancel: { sweepId: 'sweep-1', requestedBy: 'arn:aws:iam::1:user/ops', requestedAt: 'T', jobIds: ['a', 'b'] },
  };
  assert.equal(sweepLine(cancelled), 'sweep sweep-1: 2 CANCELLED; cancelled by arn:aws:iam::1:user/ops at T, nothing promoted');
  // Not cancelled: the promotion is still awaited.
  assert.equal(sweepLine(base), 'sweep sweep-1: 2 CANCELLED; promotion pending');
});
