import { createRequire } from 'node:module';
import type { Database, Migration, Queryable, SqlValue } from './database.ts';
import { UniqueViolation, UnstorableText } from './database.ts';

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

function mapError(err: unknown): never {
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY')) throw new UniqueViolation(err);
  throw err;
}

/**
 * Embedded metadata store: one SQLite file in WAL mode with synchronous=FULL, so an acknowledged
 * commit survives a crash or power cut. One connection; transactions are serialised by a queue
 * so that an awaiting transaction never interleaves with other statements.
 */
export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  #db: LibsqlDb;
  #statements = new Map<string, LibsqlStatement>();
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** The database file (another connection, in another thread, may open it too). */
  readonly path: string;

  private constructor(db: LibsqlDb, path: string) {
    this.#db = db;
    this.path = path;
  }

  static open(path: string): SqliteDatabase {
    const db = new Libsql(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // Deleted rows (destroyed key material) are overwritten with zeros, not left in free pages.
    db.pragma('secure_delete = ON');
    return new SqliteDatabase(db, path);
  }

  #statement(sql: string): LibsqlStatement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      if (this.#statements.size > 500) this.#statements.clear();
      this.#statements.set(sql, st);
    }
    return st;
  }

  #direct(): Queryable {
    return {
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => {
        try {
          return (this.#statement(sql).all(...params.map(toParam)) as unknown[]).map((r) => normalise<T>(r));
        } catch (err) {
          mapError(err);
        }
      },
      get: async <T>(sql: string, params: readonly SqlValue[] = []) => {
        try {
          const row = this.#statement(sql).get(...params.map(toParam));
          return row === undefined || row === null ? undefined : normalise<T>(row);
        } catch (err) {
          mapError(err);
        }
      },
      run: async (sql: string, params: readonly SqlValue[] = []) => {
        try {
          const r = this.#statement(sql).run(...params.map(toParam));
          return { changes: r.changes };
        } catch (err) {
          mapError(err);
        }
      },
    };
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('database is closed'));
    const next = this.#tail.then(fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#serial(() => this.#direct().all<T>(sql, params));
  }
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.#serial(() => this.#direct().get<T>(sql, params));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.#serial(() => this.#direct().run(sql, params));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      let open = true;
      const inner = this.#direct();
      const guard = <F extends (...a: never[]) => unknown>(f: F): F =>
        ((...a: never[]) => {
          if (!open) throw new Error('transaction already finished');
          return f(...a);
        }) as F;
      const tx: Queryable = { all: guard(inner.all), get: guard(inner.get), run: guard(inner.run) };
      try {
        const result = await fn(tx);
        open = false;
        this.#db.exec('COMMIT');
        return result;
      } catch (err) {
        open = false;
        try {
          this.#db.exec('ROLLBACK');
        } catch {
          /* the transaction may already have been rolled back by SQLite itself */
        }
        throw err;
      }
    });
  }

  async migrate(list: readonly Migration[]): Promise<number> {
    return this.transaction(async (tx) => {
      await tx.run('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const done = new Set((await tx.all<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => Number(r.id)));
      let applied = 0;
      for (const m of [...list].sort((a, b) => a.id - b.id)) {
        if (done.has(m.id)) continue;
        this.#db.exec(typeof m.sql === 'string' ? m.sql : m.sql.sqlite);
        await tx.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [m.id, m.name, new Date().toISOString()]);
        applied++;
      }
      return applied;
    });
  }

  /** Copy the WAL into the main file and truncate it, so that overwritten (deleted) pages leave the WAL too. */
  checkpoint(): Promise<void> {
    return this.#serial(async () => {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  async close(): Promise<void> {
    await this.#serial(async () => undefined);
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }
}
