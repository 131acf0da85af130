import { createHash, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { UnstorableText, type Database, type Migration, type Queryable, type SqlValue } from './database.ts';
import { UniqueViolation } from './database.ts';

/**
 * The metadata (or audit) store on PostgreSQL, for a cluster of Trent nodes sharing one database.
 *
 * Every store lives in its own schema (for example `trent` for metadata and `trent_trail` for the audit
 * trail), so that both can share one PostgreSQL database without their tables, `schema_migrations`
 * included, colliding. Each pooled connection starts with `search_path` set to that schema only, as a
 * start-up option (`options=-c search_path=...`): a connection pooler in front of PostgreSQL must pass
 * start-up options through to the server (check yours; connect directly if it drops or refuses them).
 *
 * Services write SQL in the subset SQLite and PostgreSQL share, with `?` placeholders; this backend
 * rewrites them to `$1..$n`. Values come back as SQLite's do: 64-bit integers (BIGINT, count(*)) and
 * NUMERIC (sum()) as JS numbers, BYTEA as Buffer.
 *
 * Transactions. The SQLite store runs one writer at a time, and code relies on that (TrailStore.append
 * computes `max(seq) + 1` inside its transaction; other bodies read, check, then write). Here two modes
 * give the same guarantee across any number of nodes:
 *
 * - `writers: 'serializable'` (the default): every transaction runs at SERIALIZABLE, and so does every
 *   single statement outside one (`default_transaction_isolation`), so that PostgreSQL's serializable
 *   snapshot isolation sees all the reads and writes. When PostgreSQL refuses to commit because of a
 *   concurrent transaction (40001) or picks this one as a deadlock victim (40P01), the whole body runs
 *   again, up to MAX_ATTEMPTS times, after a jittered, growing pause. Writers that touch different rows run
 *   in parallel. Against retry storms on a hot spot (measured: eight nodes appending to one audit trail at
 *   once, without what follows, exhausted the retries), every attempt holds a lock on the schema in a shared
 *   mode, and a transaction that has failed ESCALATE_AFTER times makes its further attempts holding it
 *   exclusively: it then runs alone among this schema's transactions and is not starved.
 * - `writers: 'locked'`: every transaction takes that lock exclusively and runs at READ COMMITTED: writers
 *   take turns exactly as on SQLite (BEGIN IMMEDIATE), with no retries; so does every statement outside a
 *   transaction that is not a SELECT (an UPDATE on its own must not slip between another writer's read and
 *   write). This suits the audit trail: its transactions are short and every append conflicts with every
 *   other one on `max(seq)`, so optimistic attempts there mostly fail and retry, while a lock queue keeps
 *   appends flowing in order.
 *
 * Either way a transaction body MUST be safe to run more than once: database work (and crypto that
 * produces values to store) only, no side effects outside the database that assume the commit happens
 * (pushing to a caller's array, logging "done", filling a cache with uncommitted values); do those after
 * `transaction()` resolves. And a statement that fails inside a transaction aborts the whole transaction
 * on PostgreSQL (SQLite undoes only the statement), so a body must not catch a database error and carry on:
 * the next statement fails, and a body that returns anyway makes `transaction()` reject rather than report
 * a commit that did not happen.
 */

export interface PostgresOptions {
  /** The schema holding this store's tables, created if missing: lower-case letters, digits and underscores. */
  schema: string;
  /** Most connections the pool opens (default 10). */
  max?: number;
  /** How concurrent writers are kept apart (see above): 'serializable' (default) or 'locked' (one at a time). */
  writers?: 'serializable' | 'locked';
}

/** Whole-body retries on serialization failure or deadlock before the error reaches the caller. */
export const MAX_ATTEMPTS = 12;
/** Failed attempts after which a serializable transaction waits for the schema's write lock before trying again. */
export const ESCALATE_AFTER = 3;
const BACKOFF_BASE_MS = 4;
const BACKOFF_CAP_MS = 400;

/** pg's OIDs of the types whose text form is parsed here rather than by pg's defaults. */
const OID_INT8 = 20;
const OID_NUMERIC = 1700;

/** 64-bit integers: a number when it is exact in a double (timestamps in ms, sequence numbers, sizes), else a bigint. */
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

const TYPES = new pg.TypeOverrides();
TYPES.setTypeParser(OID_INT8, parseInt8);
TYPES.setTypeParser(OID_NUMERIC, (text: string) => Number(text));
// BYTEA keeps pg's default parser, which returns a Buffer.

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const SCHEMA_MIGRATIONS = 'schema_migrations (id BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)';

/** A signed 64-bit advisory-lock key for a purpose and a schema, as text for a `$n::bigint` parameter. */
function lockKey(purpose: string, schema: string): string {
  return createHash('sha256').update(`trent:${purpose}:${schema}`).digest().readBigInt64BE(0).toString();
}

/** Where the end of the quoted text or comment starting at `i` is (just past it). */
function skipQuoted(sql: string, i: number): number {
  const c = sql[i]!;
  if (c === "'" || c === '"') {
    let j = i + 1;
    for (;;) {
      const k = sql.indexOf(c, j);
      if (k < 0) return sql.length;
      if (sql[k + 1] === c) j = k + 2; // a doubled quote stands for itself
      else return k + 1;
    }
  }
  if (c === '-' && sql[i + 1] === '-') {
    const k = sql.indexOf('\n', i);
    return k < 0 ? sql.length : k + 1;
  }
  if (c === '/' && sql[i + 1] === '*') {
    const k = sql.indexOf('*/', i + 2);
    return k < 0 ? sql.length : k + 2;
  }
  return i;
}

/** Split SQL into code and quoted parts (string literals, quoted identifiers, comments), in order. */
function splitQuoted(sql: string): Array<{ code: boolean; text: string }> {
  const parts: Array<{ code: boolean; text: string }> = [];
  let start = 0;
  let i = 0;
  while (i < sql.length) {
    const end = skipQuoted(sql, i);
    if (end === i) {
      i++;
      continue;
    }
    if (i > start) parts.push({ code: true, text: sql.slice(start, i) });
    parts.push({ code: false, text: sql.slice(i, end) });
    start = i = end;
  }
  if (start < sql.length) parts.push({ code: true, text: sql.slice(start) });
  return parts;
}

/** `?` placeholders to PostgreSQL's `$1..$n`, leaving `?` inside literals, quoted identifiers and comments alone. */
export function toPositional(sql: string): string {
  let n = 0;
  return splitQuoted(sql)
    .map((p) => (p.code ? p.text.replace(/\?/g, () => `$${++n}`) : p.text))
    .join('');
}

/** SQLite constructs the DDL translation below does not handle: such a migration needs an explicit postgres variant. */
const UNTRANSLATABLE: ReadonlyArray<[RegExp, string]> = [
  [/\bINSERT\s+OR\b/i, 'INSERT OR ...'],
  [/\bREPLACE\s+INTO\b/i, 'REPLACE INTO'],
  [/\bPRAGMA\b/i, 'PRAGMA'],
  [/\bAUTOINCREMENT\b/i, 'AUTOINCREMENT outside INTEGER PRIMARY KEY AUTOINCREMENT'],
  [/\bCREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i, 'triggers'],
  [/\bCREATE\s+VIRTUAL\b/i, 'virtual tables'],
  [/\b(?:IFNULL|strftime|datetime|julianday|unixepoch|typeof|randomblob|zeroblob|printf|instr)\s*\(/i, "SQLite's functions"],
  [/\bGLOB\b/i, 'GLOB'],
  [/\browid\b/i, 'rowid'],
];

/**
 * A migration written for SQLite, as PostgreSQL DDL. Only the column types and table options differ in
 * Trent's migrations, so the translation is a few word substitutions outside quoted text:
 *
 * - `INTEGER PRIMARY KEY AUTOINCREMENT` -> `BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY`
 * - `INTEGER` -> `BIGINT` (SQLite's integers are 64-bit; a plain `INTEGER PRIMARY KEY` becomes `BIGINT PRIMARY
 *   KEY`, which is not filled in automatically: Trent's code always supplies those keys)
 * - `BLOB` -> `BYTEA`, `REAL` -> `DOUBLE PRECISION`, `WITHOUT ROWID` is dropped
 * - `TEXT` -> `TEXT COLLATE "C"`: SQLite compares text bytewise (its BINARY collation), and code relies on that
 *   order (S3 lists keys in UTF-8 byte order, pages resume after `key > ?`); PostgreSQL would otherwise use
 *   the database's locale.
 *
 * Anything else SQLite-only makes the translation throw, naming the migration: give that migration
 * `sql: { sqlite, postgres }` instead.
 */
export function sqliteDdlToPostgres(sql: string, what = 'a migration'): string {
  return splitQuoted(sql)
    .map((p) => {
      if (!p.code) return p.text;
      let t = p.text
        .replace(/\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b/gi, 'BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY')
        .replace(/\s*\bWITHOUT\s+ROWID\b/gi, '');
      for (const [pattern, name] of UNTRANSLATABLE) {
        if (pattern.test(t)) throw new Error(`${what} uses ${name}, which has no automatic PostgreSQL translation: give it sql: { sqlite, postgres }`);
      }
      t = t
        .replace(/\bINTEGER\b/gi, 'BIGINT')
        .replace(/\bBLOB\b/gi, 'BYTEA')
        .replace(/\bREAL\b/gi, 'DOUBLE PRECISION')
        .replace(/\bTEXT\b(?!\s+COLLATE\b)/gi, 'TEXT COLLATE "C"');
      return t;
    })
    .join('');
}

/** The PostgreSQL script of a migration: its explicit postgres variant, or its one script translated. */
export function postgresMigrationSql(m: Migration): string {
  return typeof m.sql === 'string' ? sqliteDdlToPostgres(m.sql, `migration ${m.id} (${m.name})`) : m.sql.postgres;
}

/** Serialization failure or deadlock: PostgreSQL undid the transaction, and running it again may well succeed. */
function isRetryable(err: unknown): boolean {
  const code = err instanceof pg.DatabaseError ? err.code : undefined;
  return code === '40001' || code === '40P01';
}

function mapError(err: unknown): unknown {
  return err instanceof pg.DatabaseError && err.code === '23505' ? new UniqueViolation(err) : err;
}

/** Full jitter over an exponentially growing window, so that transactions that collided do not collide again. */
function backoff(attempt: number): Promise<void> {
  const window = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return sleep(randomInt(0, window + 1));
}

function toParams(params: readonly SqlValue[]): unknown[] {
  return params.map((v) => {
    // PostgreSQL text cannot hold NUL: say so plainly (callers answer the client) rather than fail inside the driver.
    if (typeof v === 'string' && v.includes('\u0000')) throw new UnstorableText();
    return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
  });
}

/** `options` from the URL's query string, removed from it so that ours are not overridden but joined. */
function splitOptions(url: string): { url: string; options: string } {
  try {
    const u = new URL(url);
    const options = u.searchParams.get('options') ?? '';
    if (!options) return { url, options: '' };
    u.searchParams.delete('options');
    return { url: u.toString(), options };
  } catch {
    return { url, options: '' };
  }
}

interface TxState {
  open: boolean;
  /** The first statement error in this attempt: after it PostgreSQL refuses everything but ROLLBACK. */
  failure: unknown;
}

const MAX_CACHED = 1000;

export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #writers: 'serializable' | 'locked';
  readonly #migrateLock: string;
  readonly #positional = new Map<string, string>();
  #closed = false;

  private constructor(pool: pg.Pool, schema: string, writers: 'serializable' | 'locked') {
    this.#pool = pool;
    this.schema = schema;
    this.#writers = writers;
    this.#migrateLock = lockKey('migrate', schema);
  }

  /**
   * Connect to `url` (postgres://user:password@host:port/database; TLS and the rest as node-postgres reads
   * them from the URL) and make sure `opts.schema` exists. Nothing is migrated here: call migrate().
   */
  static async open(url: string, opts: PostgresOptions): Promise<PostgresDatabase> {
    const schema = opts.schema;
    if (!SCHEMA_NAME.test(schema)) throw new RangeError(`schema name ${JSON.stringify(schema)}: use lower-case letters, digits and underscores, at most 63`);
    const writers = opts.writers ?? 'serializable';
    const split = splitOptions(url);
    const settings = [`-c search_path=${schema}`];
    if (writers === 'serializable') settings.push('-c default_transaction_isolation=serializable');
    const pool = new pg.Pool({
      connectionString: split.url,
      max: opts.max ?? 10,
      // Set at connection start-up, before any statement can run on the connection.
      options: [split.options, ...settings].filter(Boolean).join(' '),
      types: TYPES,
      application_name: 'trent',
      connectionTimeoutMillis: 30_000,
    });
    // A pooled connection that breaks while idle is dropped by the pool; the next query opens another.
    pool.on('error', () => undefined);
    const db = new PostgresDatabase(pool, schema, writers);
    try {
      await db.#ensureSchema();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return db;
  }

  /**
   * Create the schema and its schema_migrations table unless they exist, under an advisory lock (concurrent
   * CREATE SCHEMA / CREATE TABLE IF NOT EXISTS can fail). schema_migrations exists from the start because
   * transactions lock it (see #inTransaction).
   */
  async #ensureSchema(): Promise<void> {
    const ready = async (q: pg.Pool | pg.PoolClient) =>
      (await q.query<{ ok: boolean }>("SELECT to_regclass(format('%I.schema_migrations', $1::text)) IS NOT NULL AS ok", [this.schema])).rows[0]?.ok === true;
    if (await ready(this.#pool)) return;
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey('schema', this.schema)]);
      if (!(await ready(client))) {
        const exists = (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema])).rowCount !== 0;
        if (!exists) await client.query(`CREATE SCHEMA "${this.schema}"`);
        await client.query(`CREATE TABLE IF NOT EXISTS "${this.schema}".${SCHEMA_MIGRATIONS}`);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  #sql(sql: string): string {
    let text = this.#positional.get(sql);
    if (text === undefined) {
      text = toPositional(sql);
      if (this.#positional.size >= MAX_CACHED) this.#positional.clear();
      this.#positional.set(sql, text);
    }
    return text;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('database is closed');
  }

  /** One statement on its own (an implicit transaction), run again on serialization failure or deadlock. */
  async #statement(sql: string, params: readonly SqlValue[] = []): Promise<pg.QueryResult> {
    this.#checkOpen();
    const text = this.#sql(sql);
    const values = toParams(params);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#pool.query({ text, values });
      } catch (err) {
        if (attempt < MAX_ATTEMPTS && isRetryable(err)) {
          await backoff(attempt);
          continue;
        }
        throw mapError(err);
      }
    }
  }

  /** A statement on its own; in 'locked' mode one that may write takes its turn among the writers. */
  async #single(sql: string, params: readonly SqlValue[] = []): Promise<pg.QueryResult> {
    if (this.#writers === 'locked' && !/^\s*SELECT\b/i.test(sql)) return this.#transact((client, state) => this.#exec(client, state, sql, params));
    return this.#statement(sql, params);
  }

  async all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return (await this.#single(sql, params)).rows as T[];
  }
  async get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return (await this.#single(sql, params)).rows[0] as T | undefined;
  }
  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return { changes: (await this.#single(sql, params)).rowCount ?? 0 };
  }

  /** A statement inside a transaction: the first failure is remembered (it aborted the transaction) and refuses the rest. */
  async #exec(client: pg.PoolClient, state: TxState, sql: string, params: readonly SqlValue[] = []): Promise<pg.QueryResult> {
    if (!state.open) throw new Error('transaction already finished');
    if (state.failure !== undefined) throw new Error('an earlier statement of this transaction failed, and PostgreSQL has aborted the transaction', { cause: state.failure });
    try {
      return await client.query({ text: this.#sql(sql), values: toParams(params) });
    } catch (err) {
      state.failure = err;
      throw mapError(err);
    }
  }

  #txQueryable(client: pg.PoolClient, state: TxState): Queryable {
    const exec = (sql: string, params?: readonly SqlValue[]) => this.#exec(client, state, sql, params);
    return {
      all: async <T>(sql: string, params?: readonly SqlValue[]) => (await exec(sql, params)).rows as T[],
      get: async <T>(sql: string, params?: readonly SqlValue[]) => (await exec(sql, params)).rows[0] as T | undefined,
      run: async (sql: string, params?: readonly SqlValue[]) => ({ changes: (await exec(sql, params)).rowCount ?? 0 }),
    };
  }

  /** Run `fn` in one transaction, again from the start on serialization failure or deadlock (see the class comment). */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#transact((client, state) => fn(this.#txQueryable(client, state)));
  }

  async #transact<T>(body: (client: pg.PoolClient, state: TxState) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#checkOpen();
      const state: TxState = { open: true, failure: undefined };
      try {
        return await this.#inTransaction((client) => body(client, state), state, attempt > ESCALATE_AFTER);
      } catch (err) {
        // The body may have turned a failed statement into an error of its own: the statement's error decides.
        if (attempt < MAX_ATTEMPTS && (isRetryable(err) || isRetryable(state.failure))) {
          await backoff(attempt);
          continue;
        }
        throw mapError(err);
      }
    }
  }

  /**
   * One attempt: BEGIN and the mode's lock in one round trip, `body`, COMMIT; ROLLBACK on any error. The lock is
   * a table lock on this schema's schema_migrations (created with the schema): LOCK TABLE, unlike a SELECT of an
   * advisory-lock function, does not fix a SERIALIZABLE transaction's snapshot, so the snapshot is taken after
   * any wait; and it ends with the transaction. ROW SHARE (ordinary serializable attempts) conflicts only with
   * EXCLUSIVE (escalated attempts, and every 'locked' transaction), which conflicts with both and itself.
   */
  async #inTransaction<T>(body: (client: pg.PoolClient) => Promise<T>, state: TxState, escalate: boolean): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      if (this.#writers === 'locked') await client.query('BEGIN ISOLATION LEVEL READ COMMITTED; LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
      else await client.query(`BEGIN ISOLATION LEVEL SERIALIZABLE; LOCK TABLE schema_migrations IN ${escalate ? 'EXCLUSIVE' : 'ROW SHARE'} MODE`);
      let result: T;
      try {
        result = await body(client);
      } finally {
        state.open = false;
      }
      // The body caught a failed statement and returned: PostgreSQL would answer COMMIT with a rollback.
      if (state.failure !== undefined) throw state.failure;
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      // A connection that could not even roll back is closed rather than returned to the pool.
      client.release(broken);
    }
  }

  /**
   * Apply the migrations not yet applied, in one transaction holding this schema's migration lock, so that
   * nodes starting together migrate exactly once: the others wait, then find the work done. READ COMMITTED,
   * so that a node that waited sees what the lock holder committed.
   */
  async migrate(list: readonly Migration[]): Promise<number> {
    this.#checkOpen();
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [this.#migrateLock]);
      await client.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_MIGRATIONS}`);
      const done = new Set((await client.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map((r) => Number(r.id)));
      const todo = [...list].sort((a, b) => a.id - b.id).filter((m) => !done.has(m.id));
      // Writers lock this table first too (see #inTransaction): taking it before any DDL, a migration waits for the
      // transactions under way and holds new ones back until it commits, rather than deadlocking with them.
      if (todo.length) await client.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
      let applied = 0;
      for (const m of todo) {
        // No parameters: the simple query protocol, which runs a script of several statements.
        await client.query(postgresMigrationSql(m));
        await client.query('INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [m.id, m.name, new Date().toISOString()]);
        applied++;
      }
      await client.query('COMMIT');
      return applied;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw mapError(err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * SQLite's checkpoint makes deletions final on disk (secure_delete zeroes the rows, the WAL is truncated).
   * PostgreSQL has no secure delete: a deleted row stays in its page as a dead version until VACUUM prunes it,
   * and its bytes can remain after that in free space, in WAL segments until they are recycled, and in
   * backups and replicas. This VACUUMs this schema's tables (cheap: pages with nothing dead are skipped by
   * the visibility map), so destroyed key material is at least no longer kept as row versions; a
   * transaction open elsewhere with an older snapshot can still hold it back. Deployments that need
   * destroyed material gone from the media must keep PostgreSQL's data, WAL and backups on encrypted
   * storage whose key they control (the material is also wrapped by Trent's root key).
   */
  async checkpoint(): Promise<void> {
    this.#checkOpen();
    const tables = await this.#pool.query<{ t: string }>('SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [this.schema]);
    if (tables.rows.length === 0) return;
    // VACUUM cannot run inside a transaction block: this is a statement of its own (simple protocol, no parameters).
    await this.#pool.query(`VACUUM ${tables.rows.map((r) => `"${this.schema}"."${r.t.replace(/"/g, '""')}"`).join(', ')}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#positional.clear();
    await this.#pool.end();
  }
}
