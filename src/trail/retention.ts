import type { Lease } from '../store/lease.ts';
import type { Logger } from 'pino';
import type { TrailStore } from './store.ts';

/**
 * Drops lookup records older than the retention period (CloudTrail keeps 90 days of LookupEvents).
 * Delivered log files and digests are separate objects, so expiring lookups never touches a digest chain.
 */
export class TrailRetention {
  readonly #store: TrailStore;
  readonly #days: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  readonly #lease: Lease | undefined;

  /** With a lease, expiry runs on one node of a cluster at a time. */
  constructor(store: TrailStore, days: number, log: Logger, lease?: Lease) {
    this.#store = store;
    this.#days = days;
    this.#log = log;
    this.#lease = lease;
  }

  async runOnce(now = Date.now()): Promise<number> {
    if (this.#lease && !(await this.#lease.acquire(now))) return 0;
    const removed = await this.#store.expire(now - this.#days * 24 * 3600 * 1000);
    if (removed) this.#log.info({ removed, retentionDays: this.#days }, 'expired audit lookup records');
    return removed;
  }

  start(intervalMs = 3600_000): void {
    this.#timer = setInterval(() => void this.runOnce().catch((err) => this.#log.error({ err }, 'audit retention failed')), intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#lease?.release().catch(() => undefined);
  }
}
