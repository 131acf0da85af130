import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from './database.ts';

/** This process's name in lease rows: host, pid and a random part (a restarted process is a new holder). */
export const NODE_ID = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/**
 * A named lease in the shared metadata database (table cluster_leases), so that a background job runs on one
 * node of a cluster at a time: whoever holds an unexpired lease runs the job; the others skip that round. A
 * holder renews by acquiring again; a node that dies lets its lease expire after `ttlMs`. One atomic upsert
 * decides, on SQLite and PostgreSQL alike. Jobs under a lease must still be safe to repeat (a holder that
 * stalls longer than the lease can overlap with the next holder), which Trent's jobs are: each step is its own
 * transaction that re-checks the state it changes.
 */
export class Lease {
  readonly #db: Database;
  readonly name: string;
  readonly #ttlMs: number;
  readonly #holder: string;

  constructor(db: Database, name: string, ttlMs: number, holder = NODE_ID) {
    this.#db = db;
    this.name = name;
    this.#ttlMs = ttlMs;
    this.#holder = holder;
  }

  /** Takes or renews the lease; true when this holder has it until now + ttl. */
  async acquire(now = Date.now()): Promise<boolean> {
    const r = await this.#db.run(
      `INSERT INTO cluster_leases (name, holder, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at < ?`,
      [this.name, this.#holder, now + this.#ttlMs, now],
    );
    return r.changes === 1;
  }

  /** Gives the lease up (at shutdown), so another node takes over without waiting for it to expire. */
  async release(): Promise<void> {
    await this.#db.run('DELETE FROM cluster_leases WHERE name = ? AND holder = ?', [this.name, this.#holder]);
  }

  /** Runs `fn` if this node holds (or can take) the lease; returns whether it ran. */
  async run(fn: () => Promise<void>): Promise<boolean> {
    if (!(await this.acquire())) return false;
    await fn();
    return true;
  }
}
