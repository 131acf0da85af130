import { existsSync } from 'node:fs';
import type { Database, Migration, SqlValue } from '../store/database.ts';
import type { TrailWriter } from './writer.ts';

/** Rows per multi-row INSERT: well under SQLite's and PostgreSQL's limits on bound parameters. */
const ROWS_PER_INSERT = 200;
import { prepareEvent, type PreparedEvent, type TrailEvent } from './event.ts';

/**
 * Where audit events live for lookups. The embedded store is its own SQLite file, so the
 * append-heavy trail never waits behind metadata transactions (and can move to PostgreSQL alone).
 */
/** The trail schema for a dialect: they differ only in the auto-assigned key and the 64-bit integer type. */
function trailSchema(seq: string, bigint: string): string {
  return `
    CREATE TABLE trail_events (
      seq           ${seq},
      event_id      TEXT NOT NULL UNIQUE,
      event_time    ${bigint} NOT NULL,
      event_name    TEXT NOT NULL,
      event_source  TEXT NOT NULL,
      username      TEXT,
      access_key_id TEXT,
      read_only     INTEGER NOT NULL,
      error_code    TEXT,
      record        TEXT NOT NULL
    );
    CREATE INDEX trail_by_time ON trail_events(event_time, seq);
    CREATE INDEX trail_by_name ON trail_events(event_name, event_time, seq);
    CREATE INDEX trail_by_username ON trail_events(username, event_time, seq);
    CREATE INDEX trail_by_access_key ON trail_events(access_key_id, event_time, seq);
    CREATE INDEX trail_by_source ON trail_events(event_source, event_time, seq);
    CREATE INDEX trail_by_read_only ON trail_events(read_only, event_time, seq);
    CREATE TABLE trail_event_resources (
      seq           ${bigint} NOT NULL REFERENCES trail_events(seq) ON DELETE CASCADE,
      event_time    ${bigint} NOT NULL,
      resource_type TEXT NOT NULL,
      resource_name TEXT NOT NULL
    );
    CREATE INDEX trail_resources_by_name ON trail_event_resources(resource_name, event_time, seq);
    CREATE INDEX trail_resources_by_type ON trail_event_resources(resource_type, event_time, seq);
    CREATE INDEX trail_resources_by_seq ON trail_event_resources(seq);
  `;
}

export const trailMigrations: Migration[] = [
  {
    id: 1,
    name: 'trail: events and their resources, indexed for LookupEvents',
    sql: { sqlite: trailSchema('INTEGER PRIMARY KEY', 'INTEGER'), postgres: trailSchema('BIGINT PRIMARY KEY', 'BIGINT') },
  },
  {
    id: 2,
    name: 'trail: a one-row table for write probes',
    sql: 'CREATE TABLE trail_probe (id INTEGER PRIMARY KEY, at BIGINT NOT NULL)',
  },
  {
    id: 3,
    name: 'trail: data events (S3 object reads and writes) are kept for delivery but, as on AWS, not returned by LookupEvents',
    sql: 'ALTER TABLE trail_events ADD COLUMN management INTEGER NOT NULL DEFAULT 1',
  },
  {
    id: 4,
    name: 'trail: intents (a state-changing call on record before it runs) and the recorders that wrote them',
    sql: `
      CREATE TABLE trail_intents (
        event_id   TEXT PRIMARY KEY,
        owner      TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        record     TEXT NOT NULL
      );
      CREATE INDEX trail_intents_by_owner ON trail_intents(owner, started_at);
      CREATE TABLE trail_writers (
        owner     TEXT PRIMARY KEY,
        heartbeat BIGINT NOT NULL
      );
    `,
  },
];

/** One group commit: events to append, intents to put on record, and the intents that appended events complete. */
export interface TrailBatch {
  events: readonly PreparedEvent[];
  intents?: ReadonlyArray<{ event: PreparedEvent; owner: string }>;
}

export type LookupAttributeKey = 'EventId' | 'EventName' | 'ReadOnly' | 'Username' | 'ResourceType' | 'ResourceName' | 'EventSource' | 'AccessKeyId';

export interface LookupQuery {
  attribute?: { key: LookupAttributeKey; value: string };
  startTime: number;
  endTime: number;
  limit: number;
  /** Continue after this (event_time, seq), newest first. */
  after?: { time: number; seq: number };
}

export interface StoredEvent {
  seq: number;
  eventTime: number;
  record: string;
}

const COLUMN: Partial<Record<LookupAttributeKey, string>> = {
  EventId: 'event_id',
  EventName: 'event_name',
  Username: 'username',
  EventSource: 'event_source',
  AccessKeyId: 'access_key_id',
};

/** The audit store over any Database: append in one transaction per batch, look up by CloudTrail's attributes. */
export class TrailStore {
  readonly #db: Database;
  /** Tests point this at a file; while it exists, appends fail as a full or broken disk would. */
  readonly #faultFile: string | undefined;
  /** Where the recorder's writes go when they must not run on this thread (the embedded store's writer thread). */
  readonly #writer: TrailWriter | undefined;

  constructor(db: Database, faultFile?: string, opts: { writer?: TrailWriter } = {}) {
    this.#db = db;
    this.#faultFile = faultFile;
    this.#writer = opts.writer;
  }

  /** Stop the writer thread, if any (the database itself is closed by its owner). */
  async close(): Promise<void> {
    await this.#writer?.close();
  }

  get db(): Database {
    return this.#db;
  }

  /** Append events (tests and tools; the recorder prepares its events itself and calls write). */
  async append(events: readonly TrailEvent[]): Promise<void> {
    await this.write({ events: events.map(prepareEvent) });
  }

  /**
   * One transaction: the batch's intents are put on record, its events appended, and the intents those
   * events complete removed. An event whose id is already stored (an intent turned into an event by
   * recovery, then the call's own event retried) is not stored twice.
   */
  async write(batch: TrailBatch): Promise<void> {
    if (this.#writer) return this.#writer.write(batch);
    if (this.#faultFile && existsSync(this.#faultFile)) throw new Error('audit store write failed (injected I/O error)');
    const intents = batch.intents ?? [];
    if (batch.events.length === 0 && intents.length === 0) return;
    await this.#db.transaction(async (tx) => {
      for (let i = 0; i < intents.length; i += ROWS_PER_INSERT) {
        const chunk = intents.slice(i, i + ROWS_PER_INSERT);
        await tx.run(
          `INSERT INTO trail_intents (event_id, owner, started_at, record) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')} ON CONFLICT (event_id) DO NOTHING`,
          chunk.flatMap((x) => [x.event.eventId, x.owner, x.event.time, x.event.record]),
        );
      }
      let events = batch.events;
      if (events.length === 0) return;
      // Sequence numbers are assigned here, inside the write transaction (one writer at a time), so that a
      // whole batch goes in as a few multi-row INSERTs rather than two statements per event.
      const ids = events.map((e) => e.eventId);
      const existing = new Set<string>();
      for (let i = 0; i < ids.length; i += ROWS_PER_INSERT) {
        const chunk = ids.slice(i, i + ROWS_PER_INSERT);
        const rows = await tx.all<{ event_id: string }>(`SELECT event_id FROM trail_events WHERE event_id IN (${chunk.map(() => '?').join(', ')})`, chunk);
        for (const r of rows) existing.add(r.event_id);
        await tx.run(`DELETE FROM trail_intents WHERE event_id IN (${chunk.map(() => '?').join(', ')})`, chunk);
      }
      if (existing.size) events = events.filter((e) => !existing.has(e.eventId));
      const top = await tx.get<{ m: number | null }>('SELECT max(seq) AS m FROM trail_events');
      let seq = Number(top?.m ?? 0);
      const rows: SqlValue[][] = [];
      const resources: SqlValue[][] = [];
      const seen = new Set<string>();
      for (const e of events) {
        if (seen.has(e.eventId)) continue;
        seen.add(e.eventId);
        seq++;
        rows.push([seq, e.eventId, e.time, e.name, e.source, e.username, e.accessKeyId, e.readOnly ? 1 : 0, e.errorCode, e.management ? 1 : 0, e.record]);
        // Resources index lookups, which never return data events: only management events' resources are indexed.
        for (const r of e.resources) resources.push([seq, e.time, r.type, r.name]);
      }
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const chunk = rows.slice(i, i + ROWS_PER_INSERT);
        await tx.run(
          `INSERT INTO trail_events (seq, event_id, event_time, event_name, event_source, username, access_key_id, read_only, error_code, management, record)
           VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
          chunk.flat(),
        );
      }
      for (let i = 0; i < resources.length; i += ROWS_PER_INSERT) {
        const chunk = resources.slice(i, i + ROWS_PER_INSERT);
        await tx.run(`INSERT INTO trail_event_resources (seq, event_time, resource_type, resource_name) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')}`, chunk.flat());
      }
    });
  }

  /** A recorder says it is alive (its intents belong to calls still running). */
  async heartbeat(owner: string, at: number): Promise<void> {
    if (this.#writer) return this.#writer.heartbeat(owner, at);
    if (this.#faultFile && existsSync(this.#faultFile)) throw new Error('audit store write failed (injected I/O error)');
    await this.#db.run('INSERT INTO trail_writers (owner, heartbeat) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET heartbeat = excluded.heartbeat', [owner, at]);
  }

  /** A recorder stopping cleanly: it has no intents left, and nobody need wait for its heartbeat to age. */
  async retire(owner: string): Promise<void> {
    if (this.#writer) return this.#writer.retire(owner);
    await this.#db.run('DELETE FROM trail_writers WHERE owner = ?', [owner]);
  }

  /**
   * Intents whose calls can no longer record their own events: those of recorders other than `self` whose last
   * heartbeat is older than `staleBefore` (or, with `allForeign`, every other recorder's: an embedded store has one
   * process, so at its start every earlier recorder is gone). Each becomes an event saying the call's outcome is
   * unknown, in one transaction with the intent's removal. Returns how many were recovered.
   */
  async recoverIntents(self: string, staleBefore: number, allForeign: boolean): Promise<number> {
    if (this.#writer) return this.#writer.recoverIntents(self, staleBefore, allForeign);
    if (this.#faultFile && existsSync(this.#faultFile)) throw new Error('audit store write failed (injected I/O error)');
    const rows = await this.#db.all<{ event_id: string; owner: string; record: string }>(
      allForeign
        ? 'SELECT event_id, owner, record FROM trail_intents WHERE owner <> ? ORDER BY started_at LIMIT 2000'
        : `SELECT i.event_id, i.owner, i.record FROM trail_intents i LEFT JOIN trail_writers w ON w.owner = i.owner
            WHERE i.owner <> ? AND (w.heartbeat IS NULL OR w.heartbeat < ?) ORDER BY i.started_at LIMIT 2000`,
      allForeign ? [self] : [self, staleBefore],
    );
    if (rows.length === 0) {
      if (allForeign) await this.#db.run('DELETE FROM trail_writers WHERE owner <> ?', [self]);
      return 0;
    }
    const events = rows.flatMap((r) => outcomeUnknown(r.record));
    await this.write({ events });
    return events.length;
  }

  /** The intents of one recorder known to be gone (a worker that died): recovered at once, as recoverIntents does. */
  async recoverIntentsOf(owner: string): Promise<number> {
    if (this.#writer) return this.#writer.recoverIntentsOf(owner);
    let total = 0;
    for (;;) {
      const rows = await this.#db.all<{ record: string }>('SELECT record FROM trail_intents WHERE owner = ? ORDER BY started_at LIMIT 2000', [owner]);
      if (rows.length === 0) break;
      await this.write({ events: rows.flatMap((r) => outcomeUnknown(r.record)) });
      total += rows.length;
    }
    await this.#db.run('DELETE FROM trail_writers WHERE owner = ?', [owner]);
    return total;
  }

  /** How many intents are on record (calls in flight, or interrupted and not yet recovered). */
  async intentCount(): Promise<number> {
    const row = await this.#db.get<{ n: number }>('SELECT count(*) AS n FROM trail_intents');
    return Number(row?.n ?? 0);
  }

  async lookup(q: LookupQuery): Promise<StoredEvent[]> {
    const params: Array<string | number> = [];
    const page = (t: string, s: string) => {
      if (!q.after) return '';
      params.push(q.after.time, q.after.time, q.after.seq);
      return ` AND (${t} < ? OR (${t} = ? AND ${s} < ?))`;
    };
    let sql: string;
    const a = q.attribute;
    if (a && (a.key === 'ResourceName' || a.key === 'ResourceType')) {
      params.push(a.value, q.startTime, q.endTime);
      const column = a.key === 'ResourceName' ? 'resource_name' : 'resource_type';
      // DISTINCT: an event naming two resources of one type (ReEncrypt's two keys) is still one event.
      sql = `SELECT e.seq, e.event_time, e.record FROM (
               SELECT DISTINCT r.seq, r.event_time FROM trail_event_resources r
                WHERE r.${column} = ? AND r.event_time >= ? AND r.event_time <= ?${page('r.event_time', 'r.seq')}
                ORDER BY r.event_time DESC, r.seq DESC LIMIT ?
             ) x JOIN trail_events e ON e.seq = x.seq ORDER BY x.event_time DESC, x.seq DESC`;
    } else {
      let where = 'management = 1 AND event_time >= ? AND event_time <= ?';
      if (a?.key === 'ReadOnly') {
        where = 'read_only = ? AND ' + where;
        params.push(a.value === 'true' ? 1 : 0);
      } else if (a) {
        where = `${COLUMN[a.key]} = ? AND ` + where;
        params.push(a.value);
      }
      params.push(q.startTime, q.endTime);
      sql = `SELECT seq, event_time, record FROM trail_events WHERE ${where}${page('event_time', 'seq')} ORDER BY event_time DESC, seq DESC LIMIT ?`;
    }
    params.push(q.limit);
    const rows = await this.#db.all<{ seq: number; event_time: number; record: string }>(sql, params);
    return rows.map((r) => ({ seq: Number(r.seq), eventTime: Number(r.event_time), record: r.record }));
  }

  /**
   * A durable write that records nothing: proves the store can commit right now. Run before an
   * operation that changes state, so that a store that has just failed is noticed before the change.
   */
  async probe(): Promise<void> {
    if (this.#faultFile && existsSync(this.#faultFile)) throw new Error('audit store write failed (injected I/O error)');
    await this.#db.transaction(async (tx) => {
      await tx.run("INSERT INTO trail_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at", [Date.now()]);
    });
  }

  /** Events after `seq` in recording order (trail delivery), at most `limit`. */
  async since(seq: number, limit: number): Promise<Array<{ seq: number; eventTime: number; record: string }>> {
    const rows = await this.#db.all<{ seq: number; event_time: number; record: string }>('SELECT seq, event_time, record FROM trail_events WHERE seq > ? ORDER BY seq LIMIT ?', [seq, limit]);
    return rows.map((r) => ({ seq: Number(r.seq), eventTime: Number(r.event_time), record: r.record }));
  }

  /** The sequence number of the newest event (0 when there is none). */
  async maxSeq(): Promise<number> {
    const row = await this.#db.get<{ m: number | null }>('SELECT max(seq) AS m FROM trail_events');
    return Number(row?.m ?? 0);
  }

  /** The newest successful use of a key by one of `operations` (KMS GetKeyLastUsage). */
  async lastUse(resourceArn: string, operations: readonly string[]): Promise<TrailEvent | undefined> {
    const row = await this.#db.get<{ record: string }>(
      `SELECT e.record FROM trail_event_resources r JOIN trail_events e ON e.seq = r.seq
        WHERE r.resource_name = ? AND e.error_code IS NULL AND e.event_name IN (${operations.map(() => '?').join(', ')})
        ORDER BY r.event_time DESC, r.seq DESC LIMIT 1`,
      [resourceArn, ...operations],
    );
    return row ? (JSON.parse(row.record) as TrailEvent) : undefined;
  }

  /** Drop lookup records older than `before` (ms). Log files already delivered are not touched. */
  async expire(before: number): Promise<number> {
    return this.#db.transaction(async (tx) => {
      // The newest event always stays: sequence numbers continue from it, so trail delivery cursors stay valid.
      const top = await tx.get<{ m: number | null }>('SELECT max(seq) AS m FROM trail_events');
      const keep = Number(top?.m ?? 0);
      await tx.run('DELETE FROM trail_event_resources WHERE event_time < ? AND seq < ?', [before, keep]);
      return (await tx.run('DELETE FROM trail_events WHERE event_time < ? AND seq < ?', [before, keep])).changes;
    });
  }

  async oldestEventTime(): Promise<number | undefined> {
    const row = await this.#db.get<{ t: number | null }>('SELECT min(event_time) AS t FROM trail_events');
    return row?.t === null || row?.t === undefined ? undefined : Number(row.t);
  }
}

/** An intent turned into the event of a call whose outcome was never recorded. */
function outcomeUnknown(record: string): PreparedEvent[] {
  let e: TrailEvent;
  try {
    e = JSON.parse(record) as TrailEvent;
  } catch {
    return []; // written by prepareEvent, so always JSON; a damaged row stays for an operator to see
  }
  return [
    prepareEvent({
      ...e,
      additionalEventData: {
        ...(e.additionalEventData ?? {}),
        outcome: 'unknown: the server stopped before the result of this call was recorded; the change it asked for may have been made',
      },
    }),
  ];
}
