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

  constructor(store: TrailStore, days: number, log: Logger) {
    this.#store = store;
    this.#days = days;
    this.#log = log;
  }

  async runOnce(now = Date.now()): Promise<number> {
    const removed = await this.#store.expire(now - this.#days * 24 * 3600 * 1000);
    if (removed) this.#log.info({ removed, retentionDays: this.#days }, 'expired audit lookup records');
    return removed;
  }

  start(intervalMs = 3600_000): void {
    this.#timer = setInterval(() => void this.runOnce().catch((err) => this.#log.error({ err }, 'audit retention failed')), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
