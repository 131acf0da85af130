import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile, rm } from 'node:fs/promises';
import { pino } from 'pino';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { TrailStore, trailMigrations } from '../../src/trail/store.ts';
import { Recorder } from '../../src/trail/recorder.ts';
import { ThreadTrailWriter } from '../../src/trail/writer.ts';
import { TrailRetention } from '../../src/trail/retention.ts';
import { prepareEvent, type TrailEvent } from '../../src/trail/event.ts';
import { tempDir, removeDir } from '../helpers/trent.ts';
import { event } from '../helpers/trail-event.ts';

const log = pino({ level: 'silent' });


async function openStore(dir: string, faultFile?: string): Promise<{ db: SqliteDatabase; store: TrailStore }> {
  const db = SqliteDatabase.open(join(dir, 'trail.db'));
  await db.migrate(trailMigrations);
  return { db, store: new TrailStore(db, faultFile) };
}

test('concurrent records are group-committed and all durable when their promises resolve', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    let transactions = 0;
    const original = db.transaction.bind(db);
    db.transaction = ((fn: Parameters<typeof db.transaction>[0]) => {
      transactions++;
      return original(fn);
    }) as typeof db.transaction;
    const recorder = new Recorder(store, log);
    const now = new Date();
    await Promise.all(Array.from({ length: 500 }, (_, i) => recorder.record(event(i % 2 ? 'Encrypt' : 'Decrypt', now))));
    assert.ok(transactions < 20, `500 events took ${transactions} transactions; group commit should need a handful`);
    const count = await db.get<{ n: number }>('SELECT count(*) AS n FROM trail_events');
    assert.equal(Number(count!.n), 500);
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('a failing store rejects the batch, marks the recorder failing, and recovers', async () => {
  const dir = await tempDir();
  const fault = join(dir, 'FAIL');
  const { db, store } = await openStore(dir, fault);
  try {
    const recorder = new Recorder(store, log);
    await recorder.record(event('Encrypt', new Date()));
    assert.equal(recorder.failing, false);
    await writeFile(fault, '');
    const results = await Promise.allSettled([recorder.record(event('Encrypt', new Date())), recorder.record(event('Decrypt', new Date()))]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(recorder.failing, true);
    await rm(fault);
    await recorder.record(event('Encrypt', new Date()));
    assert.equal(recorder.failing, false);
    const count = await db.get<{ n: number }>('SELECT count(*) AS n FROM trail_events');
    assert.equal(Number(count!.n), 2, 'only the recorded events exist');
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('lookups by attribute, time range and pages; last use; retention', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    const base = Date.parse('2026-11-01T00:00:00Z');
    const key = 'arn:aws:kms:us-east-1:111122223333:key/k';
    const events: TrailEvent[] = [];
    for (let i = 0; i < 30; i++) {
      events.push(
        event(i % 3 === 0 ? 'Decrypt' : 'Encrypt', new Date(base + i * 60_000), {
          resources: [{ ARN: key, accountId: '111122223333', type: 'AWS::KMS::Key' }],
          ...(i === 29 ? { errorCode: 'InvalidCiphertextException', errorMessage: 'x' } : {}),
        }),
      );
    }
    await store.append(events);
    const all = { startTime: base, endTime: base + 3600_000 };
    const seen: string[] = [];
    let after: { time: number; seq: number } | undefined;
    for (;;) {
      const page = await store.lookup({ ...all, limit: 7, ...(after ? { after } : {}) });
      if (page.length === 0) break;
      for (const r of page) seen.push((JSON.parse(r.record) as TrailEvent).eventID);
      const last = page[page.length - 1]!;
      after = { time: last.eventTime, seq: last.seq };
    }
    assert.deepEqual(seen, events.map((e) => e.eventID).reverse(), 'newest first, no gaps or repeats');
    const decrypts = await store.lookup({ ...all, limit: 50, attribute: { key: 'EventName', value: 'Decrypt' } });
    assert.equal(decrypts.length, 10);
    const byResource = await store.lookup({ ...all, limit: 50, attribute: { key: 'ResourceName', value: key } });
    assert.equal(byResource.length, 30);
    const window = await store.lookup({ startTime: base + 10 * 60_000, endTime: base + 14 * 60_000, limit: 50 });
    assert.equal(window.length, 5);
    const last = await store.lastUse(key, ['Encrypt', 'Decrypt']);
    assert.equal(last?.eventID, events[28]!.eventID, 'the failed call at the end does not count as a use');

    const retention = new TrailRetention(store, 1, log);
    const removed = await retention.runOnce(base + 24 * 3600_000 + 15 * 60_000);
    assert.equal(removed, 15);
    const left = await store.lookup({ ...all, limit: 50, attribute: { key: 'ResourceName', value: key } });
    assert.equal(left.length, 15);
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('expiring every old event keeps the newest, so sequence numbers (trail delivery cursors) never restart', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    const old = new Date(Date.now() - 200 * 24 * 3600 * 1000);
    await store.append([event('Encrypt', old), event('Decrypt', old), event('Sign', old)]);
    const top = await store.maxSeq();
    assert.equal(top, 3, 'three events');
    const removed = await store.expire(Date.now());
    assert.equal(removed, 2, 'all but the newest expired');
    assert.equal(await store.maxSeq(), top, 'the newest stays');
    await store.append([event('Verify', new Date())]);
    const after = await store.since(top, 10);
    assert.deepEqual(after.map((r) => r.seq), [top + 1], 'numbering continues after the cursor');
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('data events are stored for delivery but LookupEvents leaves them out', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    const now = new Date();
    await store.append([
      event('GetObject', now, { eventSource: 's3.amazonaws.com', managementEvent: false, eventCategory: 'Data', resources: [{ ARN: 'arn:aws:s3:::b/k', accountId: '1', type: 'AWS::S3::Object' }] }),
      event('CreateBucket', now, { eventSource: 's3.amazonaws.com' }),
    ]);
    const found = await store.lookup({ startTime: now.getTime() - 5000, endTime: now.getTime() + 5000, limit: 10 });
    assert.deepEqual(found.map((r) => JSON.parse(r.record).eventName), ['CreateBucket'], 'only the management event');
    const byResource = await store.lookup({ attribute: { key: 'ResourceName', value: 'arn:aws:s3:::b/k' }, startTime: now.getTime() - 5000, endTime: now.getTime() + 5000, limit: 10 });
    assert.equal(byResource.length, 0, 'data event resources are not indexed');
    assert.equal((await store.since(0, 10)).length, 2, 'both are there for delivery');
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

/** A store that refuses any batch holding an event named `poison`, as a store refuses one bad row. */
function poisonedBy(store: TrailStore, poison: string): TrailStore {
  const write = store.write.bind(store);
  store.write = (batch) => (batch.events.some((e) => e.name === poison) ? Promise.reject(new Error('row refused')) : write(batch));
  return store;
}

test('one event the store refuses costs only its own request: the rest of its batch is recorded', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    const recorder = new Recorder(poisonedBy(store, 'Poison'), log);
    const now = new Date();
    const names = Array.from({ length: 200 }, (_, i) => (i === 77 ? 'Poison' : `Op${i}`));
    const results = await Promise.allSettled(names.map((n) => recorder.record(event(n, now))));
    assert.deepEqual(
      results.flatMap((r, i) => (r.status === 'rejected' ? [names[i]] : [])),
      ['Poison'],
      'only the poisoned request is refused',
    );
    assert.equal(recorder.failing, false, 'the store still writes: the recorder is not failing');
    const count = await db.get<{ n: number }>('SELECT count(*) AS n FROM trail_events');
    assert.equal(Number(count!.n), 199);
    await recorder.record(event('Next', now));
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('an event nested too deeply or too large is recorded without its fields, never thrown', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    const recorder = new Recorder(store, log);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) deep = { x: deep };
    const now = new Date();
    await Promise.all([
      recorder.record(event('Deep', now, { requestParameters: deep })),
      recorder.record(event('Large', now, { requestParameters: { v: 'x'.repeat(600_000) } })),
      recorder.record(event('Nul\u0000Name', now, { userAgent: 'a\u0000b' })),
      recorder.record(event('Fine', now, { requestParameters: { keyId: 'k' } })),
    ]);
    const rows = await db.all<{ event_name: string; record: string }>('SELECT event_name, record FROM trail_events ORDER BY seq');
    assert.equal(rows.length, 4);
    for (const r of rows) {
      const e = JSON.parse(r.record) as TrailEvent;
      if (r.event_name === 'Deep' || r.event_name === 'Large') {
        assert.equal(e.requestParameters, null);
        assert.match(String(e.additionalEventData?.['parametersOmitted']), /too large or too deeply nested/);
        assert.ok(r.record.length < 300_000);
      }
    }
    assert.ok(rows.some((r) => r.event_name === 'Nul\uFFFDName'), 'control characters never reach a column');
    assert.deepEqual((JSON.parse(rows.find((r) => r.event_name === 'Fine')!.record) as TrailEvent).requestParameters, { keyId: 'k' });
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('intents: an event replaces its intent; intents of a stopped process become events whose outcome is unknown', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    const earlier = new Recorder(store, log);
    const now = new Date();
    const finished = event('CreateKey', now);
    const interrupted = event('CreateSecret', now, { requestParameters: { name: 'db-password' } });
    await Promise.all([earlier.begin(finished), earlier.begin(interrupted)]);
    assert.equal(await store.intentCount(), 2);
    await earlier.record({ ...finished, responseElements: { keyMetadata: { keyId: 'k' } } });
    assert.equal(await store.intentCount(), 1, 'the finished call left no intent');
    assert.equal((await db.all('SELECT 1 FROM trail_events')).length, 1);
    // The process stops without recording the second call; the next one recovers it at start.
    const next = new Recorder(store, log);
    await next.start(true);
    await next.stop();
    assert.equal(await store.intentCount(), 0);
    const rows = await db.all<{ event_id: string; record: string }>('SELECT event_id, record FROM trail_events ORDER BY seq');
    assert.equal(rows.length, 2);
    const recovered = JSON.parse(rows[1]!.record) as TrailEvent;
    assert.equal(recovered.eventID, interrupted.eventID);
    assert.equal(recovered.eventName, 'CreateSecret');
    assert.deepEqual(recovered.requestParameters, { name: 'db-password' });
    assert.match(String(recovered.additionalEventData?.['outcome']), /^unknown/);
    // Recovering again, or the call's own event arriving late, never records it twice.
    await store.write({ events: [prepareEvent(interrupted)] });
    assert.equal((await db.all('SELECT 1 FROM trail_events')).length, 2);
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('intents of another live recorder are left alone until its heartbeat ages', async () => {
  const dir = await tempDir();
  const { db, store } = await openStore(dir);
  try {
    const other = new Recorder(store, log);
    await other.start(false);
    await other.begin(event('PutSecretValue', new Date()));
    const me = new Recorder(store, log);
    assert.equal(await store.recoverIntents(me.owner, Date.now() - 120_000, false), 0, 'a fresh heartbeat keeps its intents');
    assert.equal(await store.intentCount(), 1);
    await db.run('UPDATE trail_writers SET heartbeat = ? WHERE owner = ?', [Date.now() - 600_000, other.owner]);
    assert.equal(await store.recoverIntents(me.owner, Date.now() - 120_000, false), 1, 'a silent recorder is taken as stopped');
    assert.equal(await store.intentCount(), 0);
    await other.stop();
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('a call that ran while the store failed keeps its event and writes it once the store recovers', async () => {
  const dir = await tempDir();
  const fault = join(dir, 'FAIL');
  const { db, store } = await openStore(dir, fault);
  try {
    const recorder = new Recorder(store, log);
    await recorder.start(true);
    const e = event('DeleteSecret', new Date());
    await recorder.begin(e);
    await writeFile(fault, '');
    await assert.rejects(recorder.record(e));
    recorder.hold(e);
    assert.equal(recorder.held, 1);
    await rm(fault);
    await recorder.record(event('Encrypt', new Date()));
    assert.equal(recorder.held, 0);
    const rows = await db.all<{ record: string }>("SELECT record FROM trail_events WHERE event_name = 'DeleteSecret'");
    assert.equal(rows.length, 1);
    assert.match(String((JSON.parse(rows[0]!.record) as TrailEvent).additionalEventData?.['responseWithheld']), /answered 503/);
    assert.equal(await store.intentCount(), 0);
    await recorder.stop();
  } finally {
    await db.close();
    await removeDir(dir);
  }
});

test('the embedded store\'s writes run in a writer thread: batches, intents and recovery as on the main thread', async () => {
  const dir = await tempDir();
  const db = SqliteDatabase.open(join(dir, 'trail.db'));
  await db.migrate(trailMigrations);
  const writer = new ThreadTrailWriter(db.path);
  const store = new TrailStore(db, undefined, { writer });
  try {
    const recorder = new Recorder(store, log);
    await recorder.start(true);
    const now = new Date();
    const intent = event('CreateSecret', now);
    await recorder.begin(intent);
    await Promise.all(Array.from({ length: 300 }, (_, i) => recorder.record(event(`Op${i}`, now))));
    assert.equal(await store.intentCount(), 1, 'read on the main thread, written by the writer thread');
    await recorder.record(intent);
    assert.equal(await store.intentCount(), 0);
    assert.equal(Number((await db.get<{ n: number }>('SELECT count(*) AS n FROM trail_events'))!.n), 301);
    await recorder.stop();
  } finally {
    await store.close();
    await db.close();
    await removeDir(dir);
  }
});
