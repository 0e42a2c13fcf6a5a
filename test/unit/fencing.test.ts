/**
 * Fenced writes (shared/fenced-write.ts) against in-memory objects with S3's conditional-PUT
 * semantics, the lease's fence, and the order checkpoints are tried in on resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fenceOf, mayOverwrite, type ObjectOps, putFenced, StaleFenceError, updateFenced } from '../../shared/fenced-write';
import { JobLease } from '../../functions/trainer/lifecycle/lease';
import { resumeOrder } from '../../shared/model-store';
import { modelKeys } from '../../shared/bucket-layout';
import { FakeLeaseBucket } from '../helpers/fake-lease-bucket';

type Stored = { bytes: Uint8Array; etag: string; fence?: number };

/** S3's conditional PUT on one map; `beforePut` runs before each PUT is decided (to interleave another writer). */
class FakeObjects implements ObjectOps {
  readonly objects = new Map<string, Stored>();
  beforePut?: (key: string) => void;
  puts = 0;
  async head(key: string) {
    const o = this.objects.get(key);
    return o && { etag: o.etag, fence: o.fence };
  }
  async get(key: string) {
    return this.objects.get(key);
  }
  async put(key: string, bytes: Uint8Array, _type: string, fence: number, cond: { ifNoneMatch: '*' } | { ifMatch: string }) {
    this.puts++;
    const hook = this.beforePut;
    this.beforePut = undefined;
    hook?.(key);
    const cur = this.objects.get(key);
    if ('ifNoneMatch' in cond ? cur !== undefined : cur?.etag !== cond.ifMatch) return undefined;
    const etag = `"${randomUUID()}"`;
    this.objects.set(key, { bytes, etag, fence });
    return etag;
  }
  /** Another writer's plain write. */
  write(key: string, text: string, fence?: number) {
    this.objects.set(key, { bytes: Buffer.from(text), etag: `"${randomUUID()}"`, fence });
  }
  text(key: string) {
    return Buffer.from(this.objects.get(key)!.bytes).toString('utf8');
  }
}

const bytes = (s: string) => Buffer.from(s);

test('fence arithmetic: unstamped objects count as 0; equal fences are the same owner', () => {
  assert.equal(mayOverwrite(undefined, 1), true);
  assert.equal(mayOverwrite(2, 2), true);
  assert.equal(mayOverwrite(3, 2), false);
  assert.equal(fenceOf({ fence: '7' }), 7);
  assert.equal(fenceOf({ fence: 'x' }), undefined);
  assert.equal(fenceOf(undefined), undefined);
});

test('putFenced: creates, replaces older or unstamped objects, and never an object of a newer fence', async () => {
  const s3 = new FakeObjects();
  await putFenced(s3, 'k', bytes('a1'), 1);
  assert.equal(s3.text('k'), 'a1');
  await putFenced(s3, 'k', bytes('b2'), 2);
  assert.equal(s3.text('k'), 'b2');
  await assert.rejects(putFenced(s3, 'k', bytes('a1-late'), 1), (e) => e instanceof StaleFenceError && e.storedFence === 2);
  assert.equal(s3.text('k'), 'b2', 'the newer owner’s object is intact');
  // Half-written leftovers without a fence (a crash before fencing existed) are replaced.
  s3.write('old', 'planted');
  await putFenced(s3, 'old', bytes('c3'), 3);
  assert.equal(s3.objects.get('old')!.fence, 3);
});

test('putFenced: a newer owner writing between the stale one’s check and its PUT still wins', async () => {
  const s3 = new FakeObjects();
  s3.write('k', 'a1', 1);
  // A (fence 1) tries a create, is refused, reads fence 1 (its own), and goes to If-Match; B writes just before that PUT.
  let round = 0;
  const interleave = () => {
    round++;
    if (round === 2) s3.write('k', 'b2', 2);
    else s3.beforePut = interleave;
  };
  s3.beforePut = interleave;
  await assert.rejects(putFenced(s3, 'k', bytes('a1-again'), 1), StaleFenceError);
  assert.equal(s3.text('k'), 'b2');
});

test('putFenced with a known ETag takes one PUT while nobody else writes', async () => {
  const s3 = new FakeObjects();
  const etag = await putFenced(s3, 'p', bytes('1'), 4);
  s3.puts = 0;
  await putFenced(s3, 'p', bytes('2'), 4, 'application/json', etag);
  assert.equal(s3.puts, 1);
});

test('updateFenced: read-modify-write that is refused once a newer owner wrote, and re-reads on a lost race', async () => {
  const s3 = new FakeObjects();
  s3.write('job', JSON.stringify({ status: 'QUEUED', n: 0 })); // written by the API: no fence
  await updateFenced<{ status: string; n: number }>(s3, 'job', 1, (cur) => ({ ...cur!, status: 'RUNNING', n: cur!.n + 1 }));
  // Another write of the same owner lands between the read and the PUT: the update is redone on it.
  s3.beforePut = () => s3.write('job', JSON.stringify({ status: 'RUNNING', n: 10 }), 1);
  const out = await updateFenced<{ status: string; n: number }>(s3, 'job', 1, (cur) => ({ ...cur!, n: cur!.n + 1 }));
  assert.equal(out.n, 11);
  s3.write('job', JSON.stringify({ status: 'SUCCEEDED', n: 12 }), 2);
  await assert.rejects(
    updateFenced<{ status: string }>(s3, 'job', 1, (cur) => ({ ...cur!, status: 'FAILED' })),
    StaleFenceError,
  );
  assert.equal(JSON.parse(s3.text('job')).status, 'SUCCEEDED');
});

test('the lease fence grows with every new owner and stays through renewals', async () => {
  const bucket = new FakeLeaseBucket().asBucket();
  const a = await JobLease.acquire(bucket, 'j', 'a', 20);
  assert.ok(a.acquired);
  assert.equal(a.lease.fence, 1);
  await a.lease.renew();
  assert.equal(a.lease.fence, 1);
  await new Promise((r) => setTimeout(r, 30)); // a's lease expires
  const b = await JobLease.acquire(bucket, 'j', 'b', 60_000);
  assert.ok(b.acquired);
  assert.equal(b.tookOverFrom, 'a');
  assert.equal(b.lease.fence, 2);
  await assert.rejects(a.lease.renew(), /lost the lease/);
  assert.equal(await b.lease.release(), true);
  const c = await JobLease.acquire(bucket, 'j', 'c', 60_000);
  assert.ok(c.acquired);
  assert.equal(c.lease.fence, 3, 'a released lease still hands on a larger fence');
});

test('resume order: most advanced first; an epoch checkpoint is batch 0 of the next epoch; batch-0 partials and other keys ignored', () => {
  const m = (prefix: string) => prefix + modelKeys.marker;
  const keys = [
    m(modelKeys.epoch('j', 1)),
    m(modelKeys.epoch('j', 2)),
    m(modelKeys.partial('j', 1, 50)),
    m(modelKeys.partial('j', 2, 7)),
    m(modelKeys.partial('j', 2, 0)),
    `${modelKeys.epoch('j', 3)}weights.bin`,
  ];
  const order = resumeOrder(keys).map((r) => (r.kind === 'epoch' ? `e${r.epoch}` : `p${r.epoch}-${r.batch}`));
  assert.deepEqual(order, ['p2-7', 'e2', 'p1-50', 'e1']);
});
