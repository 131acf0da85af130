// The bucket records the S3 object data path reads through (src/s3/buckets.ts, BucketCache): kept for a bounded
// time, dropped at once by invalidate(), and never kept when the read began before an invalidation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BucketCache } from '../../src/s3/buckets.ts';
import type { Queryable } from '../../src/store/database.ts';

/** A database of one table, s3_buckets, whose reads are counted and may be held back. */
function fakeDb(policy: { value: string | null }) {
  let reads = 0;
  let hold: Promise<void> | undefined;
  const q = {
    get: async (sql: string, params: unknown[]) => {
      assert.match(sql, /FROM s3_buckets WHERE bucket_name = \?/);
      reads++;
      // The row as it is when the read starts; the caller may hold the answer back.
      const row = params[0] === 'b' ? { bucket_name: 'b', region: 'us-east-1', created_at: 0, encryption: null, public_access_block: null, tags: null, policy: policy.value, cors: null, versioning: null, object_lock: null, lifecycle: null } : undefined;
      if (hold) await hold;
      return row;
    },
  } as unknown as Queryable;
  return {
    q,
    reads: () => reads,
    holdNext: () => {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}

test('records are kept for the bound, then read again; absent buckets too', async () => {
  let now = 1_000;
  const policy = { value: 'p1' };
  const db = fakeDb(policy);
  const cache = new BucketCache(1_000, () => now);
  assert.equal((await cache.find(db.q, 'b'))?.policy, 'p1');
  policy.value = 'p2';
  now += 999;
  assert.equal((await cache.find(db.q, 'b'))?.policy, 'p1', 'within the bound: the kept record');
  assert.equal(db.reads(), 1);
  now += 1;
  assert.equal((await cache.find(db.q, 'b'))?.policy, 'p2', 'past the bound: read again');
  assert.equal(await cache.find(db.q, 'none'), undefined);
  assert.equal(await cache.find(db.q, 'none'), undefined);
  assert.equal(db.reads(), 3);
  await assert.rejects(cache.get(db.q, 'none'), { name: 'NoSuchBucket' });
});

test('invalidate() drops every record at once', async () => {
  const policy = { value: 'p1' };
  const db = fakeDb(policy);
  const cache = new BucketCache(60_000);
  await cache.find(db.q, 'b');
  policy.value = 'p2';
  cache.invalidate();
  assert.equal((await cache.find(db.q, 'b'))?.policy, 'p2');
});

test('a read that began before an invalidation is answered but not kept', async () => {
  const policy = { value: 'old' };
  const db = fakeDb(policy);
  const cache = new BucketCache(60_000);
  const release = db.holdNext();
  const slow = cache.find(db.q, 'b'); // reads the old row, answer held back
  await new Promise((r) => setImmediate(r));
  policy.value = 'new';
  cache.invalidate(); // the change committed and invalidated while the read was in flight
  release();
  assert.equal((await slow)?.policy, 'old', 'the read in flight answers what it read');
  assert.equal((await cache.find(db.q, 'b'))?.policy, 'new', 'but did not keep it past the invalidation');
});
