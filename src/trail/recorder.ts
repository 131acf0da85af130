import type { Logger } from 'pino';
import type { TrailEvent } from './event.ts';
import type { TrailStore } from './store.ts';

interface Pending {
  event: TrailEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const MAX_BATCH = 2000;

/**
 * Records every API call durably before its response leaves. Concurrent requests' events are
 * group-committed: whatever arrived while the previous batch was being written goes into the next
 * single transaction, so durability costs one commit per batch, not per request.
 *
 * Fail closed: when a batch cannot be written, every request in it gets an error instead of its
 * response, and `failing` stays set until a later write succeeds.
 */
export class Recorder {
  readonly #store: TrailStore | undefined;
  readonly #log: Logger;
  #queue: Pending[] = [];
  #flushing = false;
  #idle: Array<() => void> = [];
  failing = false;

  /** `store` undefined: recording disabled (a benchmark-only configuration, announced loudly at start). */
  constructor(store: TrailStore | undefined, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  get enabled(): boolean {
    return this.#store !== undefined;
  }

  record(event: TrailEvent): Promise<void> {
    if (!this.#store) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        // Let the requests of this turn of the event loop join the batch.
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      try {
        await this.#store!.append(batch.map((p) => p.event));
        if (this.failing) this.#log.warn('audit store recovered: serving requests again');
        this.failing = false;
        for (const p of batch) p.resolve();
      } catch (err) {
        if (!this.failing) this.#log.error({ err: (err as Error).message }, 'audit store write failed: refusing requests until it recovers');
        this.failing = true;
        for (const p of batch) p.reject(err);
      }
    }
    this.#flushing = false;
    for (const f of this.#idle.splice(0)) f();
  }

  /**
   * Before an operation that changes state: fail now (and mark the recorder failing) if the store cannot
   * commit, rather than after the change is made. Read-only operations skip this; their results are
   * simply withheld if their event cannot be written.
   */
  async preflight(): Promise<void> {
    if (!this.#store) return;
    try {
      await this.#store.probe();
    } catch (err) {
      if (!this.failing) this.#log.error({ err: (err as Error).message }, 'audit store write failed: refusing requests until it recovers');
      this.failing = true;
      throw err;
    }
  }

  /** Resolves once everything queued so far has been written (or refused). */
  drained(): Promise<void> {
    if (!this.#flushing) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
