import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsyncDir } from './atomic-file.ts';
import type { Database, Migration, Queryable, SqlValue } from './database.ts';
import { UniqueViolation, UnstorableText } from './database.ts';
import { Checkpointer } from './sqlite-checkpointer.ts';

const require = createRequire(import.meta.url);
// libsql: better-sqlite3's API with a prebuilt binary shipped in an npm package (installs in about a second, offline).
const Libsql = require('libsql') as new (path: string, opts?: Record<string, unknown>) => LibsqlDb;

interface LibsqlStatement {
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): { changes: number };
}
interface LibsqlDb {
  prepare(sql: string): LibsqlStatement;
  exec(sql: string): void;
  pragma(sql: string, opts?: { simple?: boolean }): unknown;
  close(): void;
  readonly inTransaction: boolean;
}

function toParam(v: SqlValue): unknown {
  // libsql stores a NUL inside text but reads the text back cut at it: refuse it, as PostgreSQL does, rather than
  // store one value and return another.
  if (typeof v === 'string' && v.includes('\u0000')) throw new UnstorableText();
  return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
}

/** BLOB columns come back from libsql as ArrayBuffer from some calls: every row leaves here with Buffers. */
function normalise<T>(row: unknown): T {
  if (row && typeof row === 'object') {
    for (const [k, v] of Object.entries(row as Record<string, unknown>)) if (v instanceof ArrayBuffer) (row as Record<string, unknown>)[k] = Buffer.from(v);
  }
  return row as T;
}

function codeOf(err: unknown): string {
  return (err as { code?: string }).code ?? '';
}

function mapError(err: unknown): never {
  const code = codeOf(err);
  if (code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY')) throw new UniqueViolation(err);
  throw err;
}

/** Prepared statements of one connection, by SQL text. */
class Statements {
  readonly #db: LibsqlDb;
  readonly #cache = new Map<string, LibsqlStatement>();
  constructor(db: LibsqlDb) {
    this.#db = db;
  }
  get(sql: string): LibsqlStatement {
    let st = this.#cache.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      if (this.#cache.size > 500) this.#cache.clear();
      this.#cache.set(sql, st);
    }
    return st;
  }
  clear(): void {
    this.#cache.clear();
  }
}

/** Synchronous statements on one connection, as the Queryable interface's promises. */
function queryable(st: Statements): Queryable {
  return {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => {
      try {
        return (st.get(sql).all(...params.map(toParam)) as unknown[]).map((r) => normalise<T>(r));
      } catch (err) {
        mapError(err);
      }
    },
    get: async <T>(sql: string, params: readonly SqlValue[] = []) => {
      try {
        const row = st.get(sql).get(...params.map(toParam));
        return row === undefined || row === null ? undefined : normalise<T>(row);
      } catch (err) {
        mapError(err);
      }
    },
    run: async (sql: string, params: readonly SqlValue[] = []) => {
      try {
        return { changes: st.get(sql).run(...params.map(toParam)).changes };
      } catch (err) {
        mapError(err);
      }
    },
  };
}

interface Job {
  body: (tx: Queryable) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** Run again alone: the group it first ran in was undone as a whole, for another member's failure. */
  alone?: boolean;
}

/** Most transactions in one group commit, and the longest a group stays open taking more. */
const MAX_GROUP = 256;
const MAX_GROUP_MS = 20;
/** How long a writer waits, without blocking the event loop, for another process's write transaction to end. */
const BUSY_WAIT_MS = 5000;

/**
 * Embedded metadata store: one SQLite file in WAL mode. Two connections: one that writes, one that reads (read-only,
 * so a reader never sees another caller's transaction half done), and a checkpoint thread (sqlite-checkpointer.ts).
 *
 * Group commit. Transactions queue; the writer runs whatever is queued as one SQLite transaction, each caller's
 * body in a SAVEPOINT of its own, so that a body that fails rolls back alone while the others carry on. A group
 * commits once (one set of log frames for all), and its callers are answered only once that commit is durable.
 * Durability does not block the event loop: the connection runs with synchronous = NORMAL, under which a COMMIT
 * writes its frames to the write-ahead log without an fsync, and the store then fdatasyncs the log file itself, in
 * libuv's thread pool, before it resolves any transaction of the group. Meanwhile the next group runs; one fdatasync
 * that starts after several COMMITs makes them all durable at once. Why this gives exactly what synchronous = FULL
 * gives an acknowledged commit is set out in docs/operations.md ("Durability of the embedded store").
 *
 * Nothing on the event loop waits for the disk: checkpoints (copying the log into the database file, with their
 * fsyncs) run in the checkpoint thread, and a writer whose BEGIN finds another process writing (the worker processes
 * of one server share the file) retries after a pause instead of sleeping in SQLite's busy handler.
 *
 * Transaction bodies may run more than once (as on PostgreSQL): a group that SQLite itself aborts (a full disk, an
 * I/O error) is undone, and the bodies that had succeeded in it run again, each alone.
 */
export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  /** The database file (another connection, in another thread, may open it too). */
  readonly path: string;
  readonly #writer: LibsqlDb;
  readonly #reader: LibsqlDb;
  readonly #writes: Statements;
  readonly #reads: Statements;
  readonly #readQ: Queryable;
  readonly #checkpointer: Checkpointer;
  readonly #sync: LogSync;
  /** SQL that turned out to write (INSERT ... RETURNING through get): it goes to the writer from then on. */
  readonly #writingSql = new Set<string>();
  #queue: Job[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #groups = 0;
  #committed = 0;

  private constructor(path: string, writer: LibsqlDb, reader: LibsqlDb) {
    this.path = path;
    this.#writer = writer;
    this.#reader = reader;
    this.#writes = new Statements(writer);
    this.#reads = new Statements(reader);
    this.#readQ = queryable(this.#reads);
    this.#checkpointer = new Checkpointer(path);
    this.#sync = new LogSync(`${path}-wal`);
  }

  static open(path: string): SqliteDatabase {
    const writer = new Libsql(path);
    try {
      writer.pragma('journal_mode = WAL');
      // NORMAL: a COMMIT writes the log without an fsync; the store syncs the log itself, off the event loop (see above).
      writer.pragma('synchronous = NORMAL');
      writer.pragma('wal_autocheckpoint = 0');
      writer.pragma('foreign_keys = ON');
      // BEGIN IMMEDIATE answers SQLITE_BUSY at once while another process writes; #begin waits without blocking.
      writer.pragma('busy_timeout = 0');
      // Deleted rows (destroyed key material, deleted object versions) are overwritten with zeros, not left in free pages.
      writer.pragma('secure_delete = ON');
    } catch (err) {
      writer.close();
      throw err;
    }
    const reader = new Libsql(path);
    reader.pragma('query_only = ON');
    // A reader in WAL mode waits only while another connection recovers the log after a crash.
    reader.pragma('busy_timeout = 5000');
    return new SqliteDatabase(path, writer, reader);
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('database is closed');
  }

  /** A statement outside any transaction: a read on the reading connection; a write as a transaction of its own. */
  async #single<R>(sql: string, read: (q: Queryable) => Promise<R>): Promise<R> {
    this.#checkOpen();
    if (!this.#writingSql.has(sql)) {
      try {
        return await read(this.#readQ);
      } catch (err) {
        if (codeOf(err) !== 'SQLITE_READONLY') throw err;
        this.#writingSql.add(sql);
      }
    }
    return this.transaction((tx) => read(tx));
  }

  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#single(sql, (q) => q.all<T>(sql, params));
  }
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.#single(sql, (q) => q.get<T>(sql, params));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    if (this.#closed) return Promise.reject(new Error('database is closed'));
    return this.transaction((tx) => tx.run(sql, params));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('database is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ body: fn as Job['body'], resolve: resolve as Job['resolve'], reject });
      this.#running ??= this.#drain().finally(() => (this.#running = undefined));
    });
  }

  /** Run groups until the queue is empty. */
  async #drain(): Promise<void> {
    while (this.#queue.length) {
      try {
        await this.#begin();
      } catch (err) {
        for (const job of this.#queue.splice(0)) job.reject(err);
        return;
      }
      await this.#group();
    }
  }

  /** BEGIN IMMEDIATE; while another process holds the write lock, try again after a pause, up to BUSY_WAIT_MS. */
  async #begin(): Promise<void> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, 16)) {
      try {
        this.#writer.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        if (codeOf(err) !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      }
      await sleep(pause);
    }
  }

  /** One group: queued bodies, each in a savepoint, then one COMMIT; callers answered once it is durable. */
  async #group(): Promise<void> {
    const done: Array<{ job: Job; value: unknown }> = [];
    const started = Date.now();
    let aborted: unknown;
    while (this.#queue.length && done.length < MAX_GROUP && (done.length === 0 || Date.now() - started < MAX_GROUP_MS)) {
      // A body to run alone runs in a group of its own.
      if (this.#queue[0]!.alone && done.length > 0) break;
      const job = this.#queue.shift()!;
      let open = true;
      const inner = queryable(this.#writes);
      const guard = <F extends (...a: never[]) => Promise<unknown>>(f: F): F =>
        ((...a: never[]) => (open ? f(...a) : Promise.reject(new Error('transaction already finished')))) as F;
      const tx: Queryable = { all: guard(inner.all), get: guard(inner.get), run: guard(inner.run) };
      this.#writer.exec('SAVEPOINT trent_tx');
      try {
        const value = await job.body(tx);
        open = false;
        this.#writer.exec('RELEASE trent_tx');
        done.push({ job, value });
      } catch (err) {
        open = false;
        job.reject(err);
        if (this.#writer.inTransaction) {
          try {
            this.#writer.exec('ROLLBACK TO trent_tx');
            this.#writer.exec('RELEASE trent_tx');
          } catch (e) {
            aborted = e;
          }
        } else aborted = err;
      }
      if (aborted !== undefined || job.alone) break;
    }
    if (aborted === undefined) {
      try {
        this.#writer.exec('COMMIT');
        // Every body failed: nothing was written, nobody waits for the log.
        if (done.length === 0) return;
      } catch (err) {
        aborted = err;
      }
    }
    if (aborted !== undefined) {
      try {
        if (this.#writer.inTransaction) this.#writer.exec('ROLLBACK');
      } catch {
        /* SQLite rolled it back itself */
      }
      // Undone as a whole: bodies that had succeeded run again, alone, once; a body that fails alone fails its caller.
      const again = done.filter((d) => !d.job.alone).map((d) => ({ ...d.job, alone: true }));
      for (const d of done) if (d.job.alone) d.job.reject(aborted);
      this.#queue.unshift(...again);
      return;
    }
    this.#groups++;
    this.#committed += done.length;
    this.#checkpointer.dirty();
    this.#sync.durable().then(
      () => {
        for (const d of done) d.job.resolve(d.value);
      },
      (err: unknown) => {
        for (const d of done) d.job.reject(err);
      },
    );
  }

  /** Transactions committed, the group commits they took, and the fdatasyncs of the log that made them durable. */
  get stats(): { transactions: number; groups: number; syncs: number } {
    return { transactions: this.#committed, groups: this.#groups, syncs: this.#sync.syncs };
  }

  async migrate(list: readonly Migration[]): Promise<number> {
    return this.transaction(async (tx) => {
      await tx.run('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const done = new Set((await tx.all<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => Number(r.id)));
      let applied = 0;
      for (const m of [...list].sort((a, b) => a.id - b.id)) {
        if (done.has(m.id)) continue;
        this.#writer.exec(typeof m.sql === 'string' ? m.sql : m.sql.sqlite);
        await tx.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [m.id, m.name, new Date().toISOString()]);
        applied++;
      }
      this.#writes.clear();
      this.#reads.clear();
      return applied;
    });
  }

  /**
   * Copy the log into the main file and truncate it, so that overwritten (deleted) pages leave the log too. Runs in the
   * checkpoint thread, after every transaction queued before it is durable.
   */
  async checkpoint(): Promise<void> {
    this.#checkOpen();
    await this.transaction(async () => undefined);
    await this.#checkpointer.truncate();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Refuse new work; what is queued still runs and is answered.
    this.#closed = true;
    while (this.#running) await this.#running;
    await this.#sync.close();
    await this.#checkpointer.close();
    this.#writes.clear();
    this.#reads.clear();
    this.#reader.close();
    this.#writer.close();
  }
}

/**
 * The write-ahead log's durability: every COMMIT counts one; `durable()` resolves once an fdatasync of the log that
 * began after the latest COMMIT so far has finished. One fdatasync at a time; commits made while one runs are covered
 * by the next, so a busy store makes one fdatasync per batch of commits, not per commit. After a failed fdatasync
 * nothing written since can be trusted to reach the disk (the kernel may have dropped the pages): every later
 * `durable()` fails, until the process restarts and SQLite recovers the log.
 */
class LogSync {
  readonly #path: string;
  #fh: FileHandle | undefined;
  #committed = 0;
  #durable = 0;
  #running = false;
  #failed: Error | undefined;
  syncs = 0;
  #waiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];

  constructor(walPath: string) {
    this.#path = walPath;
  }

  /** Resolves once an fdatasync that began after the latest COMMIT so far has finished. */
  durable(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    const seq = ++this.#committed;
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ seq, resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#durable < this.#committed) {
        const target = this.#committed;
        if (!this.#fh) {
          // The log is created by the first write and kept while this connection is open (SQLite deletes it only when
          // the last connection closes). Its directory entry is made durable once, before the first commit is answered.
          // No log yet: the commits so far wrote nothing (an empty transaction), so there is nothing to sync.
          const fh = await open(this.#path, 'r').catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return undefined;
            throw err;
          });
          if (fh) {
            await fsyncDir(dirname(this.#path));
            this.#fh = fh;
          }
        }
        await this.#fh?.datasync();
        this.syncs++;
        this.#durable = target;
        const ready = this.#waiters.filter((w) => w.seq <= target);
        this.#waiters = this.#waiters.filter((w) => w.seq > target);
        for (const w of ready) w.resolve();
      }
    } catch (err) {
      this.#failed = new Error(`the database log could not be made durable: ${(err as Error).message}`, { cause: err });
      for (const w of this.#waiters.splice(0)) w.reject(this.#failed);
    } finally {
      this.#running = false;
    }
  }

  /** Once every waiter is answered, let go of the log file. */
  async close(): Promise<void> {
    while (this.#running || this.#waiters.length) await sleep(1);
    await this.#fh?.close().catch(() => undefined);
    this.#fh = undefined;
  }
}
