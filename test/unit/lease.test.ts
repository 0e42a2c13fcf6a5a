/**
 * The job lease against an in-memory bucket with S3's conditional-write semantics (If-None-Match: *,
 * If-Match: <etag>) and no DELETE at all: release must work with conditional PUT alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLeaseFree, JobLease, leaseKey, readLease } from '../../functions/trainer/lifecycle/lease';
import { FakeLeaseBucket } from '../helpers/fake-lease-bucket';

const asBucket = (b: FakeLeaseBucket) => b.asBucket();

test('one holder at a time; a released lease is free at once and is not reported as a takeover', async () => {
  const fake = new FakeLeaseBucket();
  const bucket = asBucket(fake);
  const a = await JobLease.acquire(bucket, 'job1', 'trainer-a', 60_000);
  assert.equal(a.acquired, true);
  const b = await JobLease.acquire(bucket, 'job1', 'trainer-b', 60_000);
  assert.equal(b.acquired, false);
  if (!b.acquired) {
    assert.equal(b.holder, 'trainer-a');
    assert.ok(b.remainingMs > 50_000);
  }
  assert.ok(a.acquired);
  assert.equal(await a.lease.release(), true);
  const doc = await readLease(bucket, 'job1');
  assert.equal(doc?.released, true);
  assert.ok(doc && isLeaseFree(doc));
  assert.equal(fake.deletes, 0, 'release does not DELETE');

  const c = await JobLease.acquire(bucket, 'job1', 'trainer-b', 60_000);
  assert.equal(c.acquired, true, 'the next trainer takes a released lease without waiting for its expiry');
  assert.ok(c.acquired);
  assert.equal(c.tookOverFrom, undefined);
  const d = await readLease(bucket, 'job1');
  assert.equal(d?.owner, 'trainer-b');
  assert.equal(d?.released, undefined);
  assert.equal(isLeaseFree(d!), false);
});

test('an expired lease is taken over; the old holder can neither renew nor release it', async () => {
  const bucket = asBucket(new FakeLeaseBucket());
  const a = await JobLease.acquire(bucket, 'job2', 'trainer-a', 50);
  assert.ok(a.acquired);
  await new Promise((r) => setTimeout(r, 80));
  const b = await JobLease.acquire(bucket, 'job2', 'trainer-b', 60_000);
  assert.ok(b.acquired);
  assert.equal(b.tookOverFrom, 'trainer-a');
  await assert.rejects(a.lease.renew(), /lost the lease on job job2: now held by trainer-b/);
  assert.equal(await a.lease.release(), false, "a stale release does not free the new holder's lease");
  const doc = await readLease(bucket, 'job2');
  assert.equal(doc?.owner, 'trainer-b');
  assert.equal(isLeaseFree(doc!), false);
  const c = await JobLease.acquire(bucket, 'job2', 'trainer-c', 60_000);
  assert.equal(c.acquired, false);
});

test('renew extends the lease; release after renew uses the renewed ETag', async () => {
  const bucket = asBucket(new FakeLeaseBucket());
  const a = await JobLease.acquire(bucket, 'job3', 'trainer-a', 1_000);
  assert.ok(a.acquired);
  const before = Date.parse((await readLease(bucket, 'job3'))!.expiresAt);
  await new Promise((r) => setTimeout(r, 20));
  await a.lease.renew();
  assert.ok(Date.parse((await readLease(bucket, 'job3'))!.expiresAt) > before);
  assert.equal(await a.lease.release(), true);
  assert.equal((await readLease(bucket, 'job3'))?.released, true);
});

test('racing acquirers of a released lease: exactly one wins', async () => {
  const bucket = asBucket(new FakeLeaseBucket());
  const a = await JobLease.acquire(bucket, 'job4', 'trainer-a', 60_000);
  assert.ok(a.acquired);
  await a.lease.release();
  const results = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((w) => JobLease.acquire(bucket, 'job4', w, 60_000)));
  assert.equal(results.filter((r) => r.acquired).length, 1);
  assert.equal(leaseKey('job4'), 'jobs/job4.lease');
});
