import type { Database } from '../store/database.ts';
import type { KeyRecord } from './keys.ts';

interface Usage {
  operation: string;
  at: number;
  requestId: string;
}

/**
 * GetKeyLastUsage's data. A durable write per Encrypt would halve throughput, so uses are kept in
 * memory and written in one transaction a second; a crash can lose at most that last second of
 * tracking (the audit trail, not this table, is the record of every use).
 */
export class LastUsageTracker {
  readonly #db: Database;
  /** The newest use of each key seen by this process; `#dirty` holds the ones not yet written. */
  readonly #latest = new Map<string, Usage>();
  readonly #dirty = new Set<string>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(db: Database, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  record(keyId: string, operation: string, requestId: string): void {
    this.#latest.set(keyId, { operation, at: this.#now(), requestId });
    this.#dirty.add(keyId);
  }

  get(key: KeyRecord): Usage | undefined {
    const latest = this.#latest.get(key.keyId);
    if (latest) return latest;
    if (key.lastUsedOperation && key.lastUsedAt !== null) return { operation: key.lastUsedOperation, at: key.lastUsedAt, requestId: key.lastUsedRequestId ?? '' };
    return undefined;
  }

  /** Trent tracks every key from its creation. */
  trackingStart(key: KeyRecord): number {
    return key.createdAt;
  }

  async flush(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const batch = [...this.#dirty].map((keyId) => [keyId, this.#latest.get(keyId)!] as const);
    this.#dirty.clear();
    await this.#db.transaction(async (tx) => {
      for (const [keyId, u] of batch) {
        await tx.run('UPDATE kms_keys SET last_used_operation = ?, last_used_at = ?, last_used_request_id = ? WHERE key_id = ?', [u.operation, u.at, u.requestId, keyId]);
      }
    });
  }

  start(intervalMs = 1000): void {
    this.#timer = setInterval(() => void this.flush().catch(() => undefined), intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
