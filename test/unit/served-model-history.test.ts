/**
 * The served-model history and rollback (shared/served-model-history.ts, shared/promotion.ts) on an
 * in-memory bucket with S3's conditional writes: every pointer version gets its entry even when its
 * writer dies before writing it, rollbacks pick the right model or refuse saying why, and concurrent
 * swaps lose no change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelKeys, servedModelHistoryKeys } from '../../shared/bucket-layout';
import type { CheckpointInfo, LatestModel, ServedModelChange } from '../../shared/documents';
import { HttpError } from '../../shared/http';
import { promoteIfBetter, readLatestPointer, rollbackServedModel } from '../../shared/promotion';
import { historyKeyOf, readServedModelHistory } from '../../shared/served-model-history';
import { JobsApi } from '../../functions/api/jobs-api';
import { MemoryBucket } from '../helpers/memory-bucket';

/** A complete final model's marker (the weights are not read by promotion). */
async function finalModel(b: MemoryBucket, jobId: string, testAccuracy: number, fullTestSet = true) {
  const info: CheckpointInfo = { jobId, epoch: 1, backend: 'test', testAccuracy, testImages: 10_000, fullTestSet, createdAt: '' };
  await b.putJson(modelKeys.final(jobId) + modelKeys.marker, info);
}

const promote = (b: MemoryBucket, jobId: string, testAccuracy: number, opts: { force?: boolean; by?: string; min?: number } = {}) =>
  promoteIfBetter(
    b.asBucket(),
    { jobId, epoch: 1, testAccuracy },
    { minAccuracy: opts.min ?? 0, force: opts.force, by: opts.by ?? 'tester' },
  );

async function history(b: MemoryBucket): Promise<ServedModelChange[]> {
  return (await readServedModelHistory(b.asBucket(), 1000)).changes;
}

/** Each change starts where the one before it ended: no change is missing from the record. */
function assertChained(changes: ServedModelChange[]) {
  for (let i = 0; i + 1 < changes.length; i++) {
    assert.equal(changes[i].from?.jobId, changes[i + 1].to.jobId, `change ${i} starts where change ${i + 1} ended`);
  }
}

const api = (b: MemoryBucket, minAccuracy = 0) => new JobsApi(b.asBucket(), {} as never, 'unused', { minAccuracy });
const conflict = (pattern: RegExp) => (err: unknown) =>
  err instanceof HttpError && err.statusCode === 409 && pattern.test(err.message) ? true : assert.fail(String(err));

test('history keys: 13-digit inverted timestamps, newest first; the parser takes only entry keys', () => {
  const early = servedModelHistoryKeys.entry('2026-01-01T00:00:00.000Z', 'abc-1');
  const late = servedModelHistoryKeys.entry('2026-12-03T08:00:00.000Z', 'abc-2');
  assert.match(early, /^models\/history\/\d{13}-abc-1\.json$/);
  assert.ok(late < early, 'later changes list first');
  assert.equal(servedModelHistoryKeys.parse(late), 'abc-2');
  assert.equal(servedModelHistoryKeys.parse('models/history/final/checkpoint.json'), undefined);
  assert.equal(servedModelHistoryKeys.parse(modelKeys.latest), undefined);
  assert.throws(() => servedModelHistoryKeys.entry('not a date', 'x'));
});

test('every promotion is recorded: from, to, when, who, why; the pointer says the same', async () => {
  const b = new MemoryBucket();
  await finalModel(b, 'a', 0.98);
  await finalModel(b, 'b', 0.99);
  await finalModel(b, 'c', 0.97);
  assert.equal((await promote(b, 'a', 0.98, { by: 'trainer t1' })).promote, true);
  assert.equal((await promote(b, 'b', 0.99, { by: 'arn:aws:iam::000000000000:user/op' })).promote, true);
  assert.equal((await promote(b, 'c', 0.97)).promote, false, 'worse, not forced');
  const forced = await promote(b, 'c', 0.97, { force: true, by: 'arn:aws:iam::000000000000:user/admin' });
  assert.equal(forced.pointer?.why, 'forced');
  assert.deepEqual(forced.pointer?.from, { jobId: 'b', testAccuracy: 0.99 });

  const changes = await history(b);
  assert.deepEqual(
    changes.map((c) => [c.to.jobId, c.from?.jobId, c.why, c.by]),
    [
      ['c', 'b', 'forced', 'arn:aws:iam::000000000000:user/admin'],
      ['b', 'a', 'promoted', 'arn:aws:iam::000000000000:user/op'],
      ['a', undefined, 'promoted', 'trainer t1'],
    ],
  );
  const pointer = (await readLatestPointer(b.asBucket()))!;
  assert.equal(changes[0].changeId, pointer.promotionId);
  assert.equal(changes[0].at, pointer.promotedAt);
  assertChained(changes);
});

test('promoting the model served already changes nothing and records nothing', async () => {
  const b = new MemoryBucket();
  await finalModel(b, 'a', 0.98);
  const first = await promote(b, 'a', 0.98);
  const again = await promote(b, 'a', 0.98, { force: true });
  assert.equal(again.promote, true);
  assert.match(again.reason, /served already/);
  assert.equal(again.pointer?.promotionId, first.pointer?.promotionId);
  assert.equal((await history(b)).length, 1);
});

test('no lost entry: a pointer whose writer died before its entry gets one from the next swap', async () => {
  const b = new MemoryBucket();
  await finalModel(b, 'a', 0.98);
  await finalModel(b, 'b', 0.985);
  await finalModel(b, 'c', 0.99);
  await promote(b, 'a', 0.98);
  // b's writer swaps the pointer, then dies before its history entry.
  b.failPut = (key) => key.startsWith(servedModelHistoryKeys.prefix) && !b.objects.has(key);
  const died = await promote(b, 'b', 0.985, { by: 'writer that died' });
  b.failPut = undefined;
  assert.equal(died.pointer?.jobId, 'b', 'the pointer moved');
  assert.match(died.historyError ?? '', /injected failure/);
  const pointerB = (await readLatestPointer(b.asBucket()))!;
  assert.equal(await b.getJson(historyKeyOf(pointerB)), undefined, "b's entry is missing for now");
  assert.deepEqual(
    (await history(b)).map((c) => c.to.jobId),
    ['a'],
  );

  await promote(b, 'c', 0.99);
  const changes = await history(b);
  assert.deepEqual(
    changes.map((c) => [c.to.jobId, c.by]),
    [
      ['c', 'tester'],
      ['b', 'writer that died'],
      ['a', 'tester'],
    ],
  );
  assertChained(changes);
});

test('no lost entry: a pointer written without its entry is repaired by GET /models/history', async () => {
  const b = new MemoryBucket();
  await finalModel(b, 'a', 0.98);
  // As a writer that died between the swap and the entry would leave it.
  const pointer: LatestModel = {
    jobId: 'a',
    epoch: 1,
    modelPrefix: modelKeys.final('a'),
    testAccuracy: 0.98,
    promotedAt: '2026-12-03T08:00:00.000Z',
    promotionId: 'p-1',
    why: 'promoted',
    by: 'trainer t9',
  };
  await b.putJson(modelKeys.latest, pointer);
  const page = await api(b).history();
  assert.deepEqual(page.changes, [
    { changeId: 'p-1', at: pointer.promotedAt, to: { jobId: 'a', testAccuracy: 0.98 }, why: 'promoted', by: 'trainer t9' },
  ]);
  // A second read writes nothing more.
  const puts = b.puts.length;
  await api(b).history();
  assert.equal(b.puts.length, puts);
});

test('a pointer written before the history (no promotionId, why or by) gets a stable entry of its own', async () => {
  const b = new MemoryBucket();
  await finalModel(b, 'old', 0.98);
  await finalModel(b, 'new', 0.99);
  await b.putJson(modelKeys.latest, {
    jobId: 'old',
    epoch: 1,
    modelPrefix: modelKeys.final('old'),
    testAccuracy: 0.98,
    promotedAt: '2026-11-01T00:00:00.000Z',
  });
  await promote(b, 'new', 0.99);
  await api(b).history();
  const changes = await history(b);
  assert.deepEqual(
    changes.map((c) => [c.to.jobId, c.why, c.by]),
    [
      ['new', 'promoted', 'tester'],
      ['old', 'promoted', 'unknown'],
    ],
  );
  assert.match(changes[1].changeId, /^legacy-[0-9a-f]{24}$/);
  assert.equal(changes.length, 2, 'the legacy entry is written once, not once per reader');
});

test('rollback: none before any model or after the first; then the previous model, and a second rollback undoes the first', async () => {
  const b = new MemoryBucket();
  await assert.rejects(api(b).rollback({}, 'admin'), conflict(/no earlier model: no model has been served yet/));
  await finalModel(b, 'a', 0.98);
  await finalModel(b, 'b', 0.99);
  await promote(b, 'a', 0.98);
  await assert.rejects(api(b).rollback({}, 'admin'), conflict(/no earlier model: job a is the first model served/));
  await promote(b, 'b', 0.99);

  const back = await api(b).rollback({}, 'arn:aws:iam::000000000000:user/admin');
  assert.equal(back.jobId, 'a', 'the less accurate previous model is served again');
  assert.equal(back.testAccuracy, 0.98);
  assert.equal(back.modelPrefix, modelKeys.final('a'));
  assert.deepEqual(back.from, { jobId: 'b', testAccuracy: 0.99 });
  assert.equal(back.why, 'rollback');
  assert.equal(back.by, 'arn:aws:iam::000000000000:user/admin');
  assert.equal((await api(b).rollback({}, 'admin')).jobId, 'b');
  const changes = await history(b);
  assert.deepEqual(
    changes.map((c) => [c.to.jobId, c.why]),
    [
      ['b', 'rollback'],
      ['a', 'rollback'],
      ['b', 'promoted'],
      ['a', 'promoted'],
    ],
  );
  assertChained(changes);
});

test('rollback <jobId>: only a model served before, not the one served now, still servable at the threshold', async () => {
  const b = new MemoryBucket();
  for (const [id, acc] of [
    ['a', 0.98],
    ['b', 0.985],
    ['c', 0.99],
    ['never', 0.999],
  ] as const)
    await finalModel(b, id, acc);
  await promote(b, 'a', 0.98);
  await promote(b, 'b', 0.985);
  await promote(b, 'c', 0.99);
  await assert.rejects(api(b).rollback({ jobId: 'c' }, 'admin'), conflict(/job c is the model served now/));
  await assert.rejects(api(b).rollback({ jobId: 'never' }, 'admin'), conflict(/job never was never served/));
  // The threshold applies as to any promotion: a raised one refuses a model under it.
  await assert.rejects(api(b, 0.981).rollback({ jobId: 'a' }, 'admin'), conflict(/below the promotion threshold 0.981/));
  assert.equal((await readLatestPointer(b.asBucket()))?.jobId, 'c', 'refusals leave the pointer alone');

  const two = await api(b).rollback({ jobId: 'a' }, 'admin');
  assert.equal(two.jobId, 'a');
  assert.deepEqual(two.from, { jobId: 'c', testAccuracy: 0.99 });
  // A served model whose files are gone (never by this system: nothing deletes) is refused, saying so.
  b.objects.delete(modelKeys.final('b') + modelKeys.marker);
  await assert.rejects(api(b).rollback({ jobId: 'b' }, 'admin'), conflict(/job b has no complete final model/));
});

test('a rollback racing promotions: every swap lands or retries, and the record stays one unbroken chain', async () => {
  for (let round = 0; round < 20; round++) {
    const b = new MemoryBucket();
    await finalModel(b, 'a', 0.98);
    await finalModel(b, 'b', 0.985);
    await finalModel(b, 'c', 0.99);
    await promote(b, 'a', 0.98);
    await promote(b, 'b', 0.985);
    const [rolled, promoted] = await Promise.all([api(b).rollback({}, 'admin'), promote(b, 'c', 0.99)]);
    assert.equal(rolled.why, 'rollback');
    assert.equal(promoted.promote, true, promoted.reason);
    const changes = await history(b);
    const pointer = (await readLatestPointer(b.asBucket()))!;
    assert.equal(changes.length, 4, `round ${round}: both swaps recorded`);
    assert.equal(changes[0].changeId, pointer.promotionId, 'the newest entry is the served pointer');
    assertChained(changes);
  }
});
