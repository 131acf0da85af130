// The embedded store's group commit (src/store/sqlite.ts): concurrent transactions share one SQLite commit and one
// fdatasync of the log, each in a savepoint of its own; none is answered before the log is durable; reads never see a
// group half done; a writer that finds another process writing waits without blocking the event loop; and every
// acknowledged transaction survives a SIGKILL of its process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { removeDir, tempDir, REPO } from '../helpers/trent.ts';

const M = [{ id: 1, name: 't', sql: 'CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)' }];

async function withDb(fn: (db: SqliteDatabase, dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  const db = SqliteDatabase.open(join(dir, 'x.db'));
  try {
    await db.migrate(M);
    await fn(db, dir);
  } finally {
    await db.close();
    await removeDir(dir);
  }
}

async function keys(db: SqliteDatabase): Promise<string[]> {
  return (await db.all<{ k: string }>('SELECT k FROM t ORDER BY k')).map((r) => r.k);
}

test('concurrent transactions share group commits and fdatasyncs; each is answered only after a sync that began after it was asked for', async () => {
  await withDb(async (db) => {
    const before = db.stats;
    const n = 300;
    const late: number[] = [];
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const syncsAsked = db.stats.syncs;
        await db.transaction(async (tx) => {
          await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [`k${String(i).padStart(3, '0')}`, i]);
        });
        if (db.stats.syncs <= syncsAsked) late.push(i);
      }),
    );
    const after = db.stats;
    assert.deepEqual(late, [], 'no transaction resolved before a sync of the log that came after it');
    assert.equal(after.transactions - before.transactions, n, 'every transaction committed');
    assert.ok(after.groups - before.groups < n / 4, `${after.groups - before.groups} group commits for ${n} transactions`);
    assert.ok(after.syncs - before.syncs <= after.groups - before.groups, `${after.syncs - before.syncs} fdatasyncs, at most one per group`);
    assert.equal((await keys(db)).length, n);
  });
});

test('a body that fails rolls back alone: the other transactions of its group commit', async () => {
  await withDb(async (db) => {
    const groups = db.stats.groups;
    const a = db.transaction((tx) => tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1]));
    const b = db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['b', 1]);
      throw new Error('b changes its mind');
    });
    const dup = db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['d', 1]);
      await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 2]); // a unique violation, after a write of its own
    });
    const c = db.transaction((tx) => tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['c', 1]));
    await Promise.allSettled([a, b, dup, c]);
    await a;
    await assert.rejects(b, /b changes its mind/);
    await assert.rejects(dup, { name: 'UniqueViolation' });
    await c;
    assert.equal(db.stats.groups - groups, 1, 'the four ran in one group commit');
    assert.deepEqual(await keys(db), ['a', 'c'], "the failed bodies' writes are gone, the others' kept");
  });
});

test('a group SQLite aborts as a whole is undone, and its other bodies run again, each alone', async () => {
  await withDb(async (db) => {
    let runsOfA = 0;
    const a = db.transaction(async (tx) => {
      runsOfA++;
      await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1]);
      return 'a done';
    });
    // A body that ends the whole SQLite transaction (as a full disk or an I/O error would).
    const b = db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['b', 1]);
      await tx.run('ROLLBACK');
      throw new Error('the transaction was lost');
    });
    await Promise.allSettled([a, b]);
    assert.equal(await a, 'a done');
    await assert.rejects(b, /the transaction was lost/);
    assert.equal(runsOfA, 2, 'the body that had succeeded ran again, alone');
    assert.deepEqual(await keys(db), ['a']);
  });
});

test('reads outside a transaction see only committed state, never a group half done', async () => {
  await withDb(async (db) => {
    let inside!: () => void;
    const written = new Promise<void>((r) => (inside = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const tx = db.transaction(async (q) => {
      await q.run('INSERT INTO t (k, v) VALUES (?, ?)', ['x', 1]);
      inside();
      await held;
    });
    await written;
    assert.deepEqual(await keys(db), [], 'the open transaction is invisible');
    release();
    await tx;
    assert.deepEqual(await keys(db), ['x'], 'committed, it is seen');
    // A write through get (RETURNING) goes to the writer.
    assert.equal((await db.get<{ v: number }>('UPDATE t SET v = v + 1 WHERE k = ? RETURNING v', ['x']))!.v, 2);
    assert.equal((await db.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['x']))!.v, 2);
  });
});

test('a writer that finds another connection writing waits without blocking the event loop', async () => {
  await withDb(async (db, dir) => {
    const Libsql = createRequire(import.meta.url)('libsql') as new (p: string) => { exec(sql: string): void; pragma(s: string): unknown; close(): void };
    const other = new Libsql(join(dir, 'x.db'));
    other.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    other.exec("INSERT INTO t (k, v) VALUES ('other', 1)");
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      let done = false;
      const mine = db.transaction((tx) => tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['mine', 1])).then(() => (done = true));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(done, false, 'the transaction waits for the other writer');
      assert.ok(ticks >= 10, `the event loop kept turning while it waited (${ticks} ticks of 5 ms in 200 ms)`);
      other.exec('COMMIT');
      await mine;
      assert.deepEqual(await keys(db), ['mine', 'other']);
    } finally {
      clearInterval(timer);
      other.close();
    }
  });
});

test('every acknowledged transaction survives a SIGKILL of its process', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'crash.db');
    // A child commits transactions 32 at a time and prints each one's number once it is acknowledged; it is killed mid-stream.
    const script = `
      import { SqliteDatabase } from ${JSON.stringify(join(REPO, 'src/store/sqlite.ts'))};
      const db = SqliteDatabase.open(${JSON.stringify(file)});
      await db.migrate(${JSON.stringify(M)});
      let i = 0;
      const one = async () => {
        for (;;) {
          const n = i++;
          await db.transaction(async (tx) => { await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['k' + n, n]); await tx.run('UPDATE t SET v = v + 1 WHERE k = ?', ['k' + n]); });
          process.stdout.write('acked ' + n + '\\n');
        }
      };
      await Promise.all(Array.from({ length: 32 }, one));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d) => {
        out += String(d);
        if ((out.match(/acked/g) ?? []).length >= 500) resolve();
      }),
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Only whole lines: a line cut by the kill was not seen by anyone.
    const acked = [...out.matchAll(/acked (\d+)\n/g)].map((m) => Number(m[1]));
    const db = SqliteDatabase.open(file);
    try {
      const rows = new Map((await db.all<{ k: string; v: number }>('SELECT k, v FROM t')).map((r) => [r.k, Number(r.v)]));
      const missing = acked.filter((n) => rows.get(`k${n}`) !== n + 1);
      assert.deepEqual(missing, [], `${acked.length} acknowledged transactions, all of them whole after the restart`);
    } finally {
      await db.close();
    }
  } finally {
    await removeDir(dir);
  }
});
