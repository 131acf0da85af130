import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { UniqueViolation, UnstorableText, type Database } from '../../src/store/database.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { FsBlobStore } from '../../src/store/fs-blob-store.ts';
import { BlobNotFound, assertBlobKey } from '../../src/store/blob-store.ts';
import { tempDir, removeDir, REPO } from '../helpers/trent.ts';
import { freshPostgres, SKIP_POSTGRES } from '../helpers/postgres.ts';

const M = [{ id: 1, name: 't', sql: 'CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)' }];

/** The metadata database tests run on every backend: SQLite always, PostgreSQL when TRENT_TEST_POSTGRES_URL names a server. */
const BACKENDS: Array<{ name: string; skip: string | false; open: () => Promise<{ db: Database; done: () => Promise<void> }> }> = [
  {
    name: 'sqlite',
    skip: false,
    open: async () => {
      const dir = await tempDir();
      const db = SqliteDatabase.open(join(dir, 'x.db'));
      return { db, done: () => removeDir(dir) };
    },
  },
  {
    name: 'postgres',
    skip: SKIP_POSTGRES,
    open: async () => {
      const pg = await freshPostgres('trent_store');
      const db = await PostgresDatabase.open(pg.url, { schema: 'trent' });
      return { db, done: () => pg.drop() };
    },
  },
];

for (const backend of BACKENDS) {
  test(`${backend.name}: migrations apply once; transactions commit together or not at all`, { skip: backend.skip }, async () => {
    const { db, done } = await backend.open();
    try {
      assert.equal(await db.migrate(M), 1);
      assert.equal(await db.migrate(M), 0);
      await db.transaction(async (tx) => {
        await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1]);
        await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['b', 2]);
      });
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['c', 3]);
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.deepEqual((await db.all<{ k: string }>('SELECT k FROM t ORDER BY k')).map((r) => r.k), ['a', 'b']);
      await assert.rejects(db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 9]), UniqueViolation);
      assert.equal((await db.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['a']))!.v, 1);
    } finally {
      await db.close();
      await done();
    }
  });

  test(`${backend.name}: concurrent read-modify-write transactions never lose an update`, { skip: backend.skip }, async () => {
    const { db, done } = await backend.open();
    try {
      await db.migrate(M);
      await db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['n', 0]);
      await Promise.all(
        Array.from({ length: 50 }, () =>
          db.transaction(async (tx) => {
            const { v } = (await tx.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['n']))!;
            await new Promise((r) => setImmediate(r));
            await tx.run('UPDATE t SET v = ? WHERE k = ?', [Number(v) + 1, 'n']);
          }),
        ),
      );
      assert.equal(Number((await db.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['n']))!.v), 50);
    } finally {
      await db.close();
      await done();
    }
  });

  test(`${backend.name}: text with a NUL character is refused before it is stored, never stored as something else`, { skip: backend.skip }, async () => {
    const { db, done } = await backend.open();
    try {
      await db.migrate(M);
      await assert.rejects(db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a\u0000b', 1]), UnstorableText);
      await assert.rejects(db.transaction((tx) => tx.get('SELECT v FROM t WHERE k = ?', ['\u0000'])), UnstorableText);
      assert.deepEqual(await db.all('SELECT k FROM t'), [], 'nothing was stored');
    } finally {
      await db.close();
      await done();
    }
  });
}

test('blob store: put, ranged get, list, delete; keys cannot escape the root', async () => {
  const dir = await tempDir();
  try {
    const blobs = await FsBlobStore.open(dir);
    await blobs.put('a/b/one', Buffer.from('0123456789'));
    await blobs.put('a/two', Readable.from([Buffer.from('xy'), Buffer.from('z')]));
    assert.equal((await blobs.read('a/b/one')).toString(), '0123456789');
    const chunks: Buffer[] = [];
    for await (const c of await blobs.get('a/b/one', { start: 2, end: 4 })) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), '234');
    assert.equal(await blobs.size('a/two'), 3);
    const keys: string[] = [];
    for await (const k of blobs.list('a/')) keys.push(k);
    assert.deepEqual(keys, ['a/b/one', 'a/two']);
    await blobs.delete('a/two');
    await blobs.delete('a/two');
    await assert.rejects(blobs.read('a/two'), BlobNotFound);
    await assert.rejects(blobs.get('missing'), BlobNotFound);
    for (const bad of ['../x', 'a/../../x', '/abs', '.hidden', 'a//b', '']) assert.throws(() => assertBlobKey(bad), RangeError);
  } finally {
    await removeDir(dir);
  }
});

test('a process killed in the middle of a put leaves no partial blob; reopening cleans up', async () => {
  const dir = await tempDir();
  try {
    // A child streams a large blob slowly and is SIGKILLed half-way.
    const script = `
      import { FsBlobStore } from ${JSON.stringify(join(REPO, 'src/store/fs-blob-store.ts'))};
      const store = await FsBlobStore.open(${JSON.stringify(dir)});
      await store.put('victim', Buffer.from('old value'));
      async function* slow() { for (let i = 0; i < 1000; i++) { yield Buffer.alloc(64 * 1024, 1); if (i === 20) process.stdout.write('mid\\n'); await new Promise(r => setTimeout(r, 5)); } }
      await store.put('victim', slow());`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => String(d).includes('mid') && resolve()));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok((await readdir(join(dir, '.tmp'))).length > 0, 'the interrupted write left only a temp file');
    const store = await FsBlobStore.open(dir);
    assert.equal((await store.read('victim')).toString(), 'old value');
    assert.deepEqual(await readdir(join(dir, '.tmp')), []);
  } finally {
    await removeDir(dir);
  }
});
