import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { prepareEvent, type PreparedEvent, type TrailEvent } from './event.ts';
import type { TrailBatch, TrailStore } from './store.ts';

interface Pending {
  kind: 'event' | 'intent';
  event: PreparedEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const MAX_BATCH = 2000;
/** Events of calls that ran but could not be recorded in time, kept to retry: beyond this, the oldest go to the log only. */
const MAX_HELD = 100_000;
/** How often a recorder says it is alive, and after how long without a word its intents are taken as orphaned. */
const HEARTBEAT_MS = Number(process.env['TRENT_TRAIL_HEARTBEAT_SECONDS'] ?? 15) * 1000;
const ORPHANED_AFTER_MS = 8 * HEARTBEAT_MS;

/**
 * Records every API call durably before its response leaves. Concurrent requests' events are
 * group-committed: whatever arrived while the previous batch was being written goes into the next
 * single transaction, so durability costs one commit per batch, not per request.
 *
 * No request can harm another's record: every event is serialised (prepareEvent, which cannot throw)
 * before it joins a batch, and a batch that fails while the store itself still writes is split until the
 * one row the store refuses is found; only that request is refused.
 *
 * No state change without its event: before a state-changing call runs, `begin` puts its intent on
 * record (the event as known before the call, in the same group commit as other events); the call's
 * event later replaces it in one transaction. If that event cannot be written, the recorder keeps it and
 * retries until the store takes it; if the process dies first, the intent is turned into an event whose
 * outcome is marked unknown (at the next start of an embedded store, or by any other node once this one's
 * heartbeat has gone silent). See docs/security.md, "Audit trail".
 *
 * Fail closed: when the store cannot write, every request in the failed batch gets an error instead of its
 * response, and `failing` stays set until a later write succeeds.
 */
export class Recorder {
  readonly #store: TrailStore | undefined;
  readonly #log: Logger;
  /** This process's name in the store's intents and heartbeats. */
  readonly owner = randomUUID();
  #queue: Pending[] = [];
  /** Events whose calls ran but whose commit failed: written with the next batch that can be. */
  #held: PreparedEvent[] = [];
  #flushing = false;
  #idle: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  /** When a write last committed (ms). */
  #lastWrite = 0;
  failing = false;

  /** `store` undefined: recording disabled (a benchmark-only configuration, announced loudly at start). */
  constructor(store: TrailStore | undefined, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  get enabled(): boolean {
    return this.#store !== undefined;
  }

  /** Events of calls that ran but are not yet in the store. */
  get held(): number {
    return this.#held.length;
  }

  /**
   * Start: register this recorder, recover intents that can no longer complete, and keep doing both.
   * `exclusive`: this process is the store's only writer (the embedded store), so every intent left by an
   * earlier process is orphaned now, without waiting for its heartbeat to age.
   */
  async start(exclusive: boolean): Promise<void> {
    if (!this.#store) return;
    await this.#store.heartbeat(this.owner, Date.now());
    await this.#recover(exclusive);
    this.#timer = setInterval(() => void this.#tick(), HEARTBEAT_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.drained();
    if (this.#held.length) await this.#flushHeld();
    if (this.#store && this.#held.length === 0 && !this.failing) await this.#store.retire(this.owner).catch(() => undefined);
  }

  async #tick(): Promise<void> {
    const store = this.#store!;
    try {
      await store.heartbeat(this.owner, Date.now());
      this.#recovered();
      if (this.#held.length && !this.#flushing) await this.#flushHeld();
      await this.#recover(false);
    } catch (err) {
      // A store that cannot take a heartbeat cannot take events either: say so (health) before a call finds out.
      this.#failed(err);
    }
  }

  async #recover(allForeign: boolean): Promise<void> {
    let total = 0;
    for (;;) {
      const n = await this.#store!.recoverIntents(this.owner, Date.now() - ORPHANED_AFTER_MS, allForeign);
      total += n;
      if (n === 0) break;
    }
    if (total) this.#log.warn({ events: total }, 'recorded calls interrupted before their outcome was known (intents recovered as events)');
  }

  /** Record the event of a finished call. Resolves once it is durable; rejects if it cannot be made durable now. */
  record(event: TrailEvent): Promise<void> {
    return this.#enqueue('event', event);
  }

  /**
   * Before a call that changes state: put it on record, so that the change can never exist without an event.
   * Rejects (and the call must not run) when the store cannot commit.
   */
  begin(event: TrailEvent): Promise<void> {
    return this.#enqueue('intent', event);
  }

  /**
   * A call that began (has an intent) ran, but its event could not be committed: keep it and write it as soon
   * as the store takes writes again, noting that its client was refused.
   */
  hold(event: TrailEvent): void {
    if (!this.#store) return;
    const noted: TrailEvent = {
      ...event,
      additionalEventData: { ...(event.additionalEventData ?? {}), responseWithheld: 'the call ran, but its event could not be recorded in time, so the client was answered 503 ServiceUnavailable' },
    };
    this.#held.push(prepareEvent(noted));
    if (this.#held.length > MAX_HELD) {
      const dropped = this.#held.shift()!;
      // Its intent is still in the store: recovery records the call, with its outcome unknown.
      this.#log.error({ eventId: dropped.eventId, eventName: dropped.name }, 'too many unrecorded events held; this call stays on record only as its intent');
    }
  }

  #enqueue(kind: Pending['kind'], event: TrailEvent): Promise<void> {
    if (!this.#store) return Promise.resolve();
    const prepared = prepareEvent(event);
    return new Promise((resolve, reject) => {
      this.#queue.push({ kind, event: prepared, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        // Let the requests of this turn of the event loop join the batch.
        setImmediate(() => void this.#flush());
      }
    });
  }

  #batchOf(items: readonly Pending[], held: readonly PreparedEvent[]): TrailBatch {
    const events: PreparedEvent[] = [...held];
    const intents: Array<{ event: PreparedEvent; owner: string }> = [];
    for (const p of items) {
      if (p.kind === 'event') events.push(p.event);
      else intents.push({ event: p.event, owner: this.owner });
    }
    return { events, intents };
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      const held = this.#held.splice(0, MAX_BATCH);
      try {
        await this.#store!.write(this.#batchOf(batch, held));
        this.#recovered();
        for (const p of batch) p.resolve();
      } catch (err) {
        this.#held.unshift(...held);
        await this.#isolate(batch, err);
      }
    }
    this.#flushing = false;
    for (const f of this.#idle.splice(0)) f();
  }

  /**
   * A batch failed. If the store still writes (a heartbeat, a tiny write of its own, commits), the failure was
   * some row's own: split the batch until each refused row stands alone, and refuse only those requests. If
   * nothing can be written, the store is failing: refuse them all.
   */
  async #isolate(batch: Pending[], err: unknown): Promise<void> {
    const store = this.#store!;
    try {
      await store.heartbeat(this.owner, Date.now());
    } catch {
      this.#failed(err);
      for (const p of batch) p.reject(err);
      return;
    }
    const attempt = async (items: Pending[], held: PreparedEvent[]): Promise<void> => {
      try {
        await store.write(this.#batchOf(items, held));
        for (const p of items) p.resolve();
      } catch (e) {
        if (held.length) {
          this.#held.unshift(...held);
          return attempt(items, []);
        }
        if (items.length <= 1) {
          for (const p of items) {
            this.#log.error({ err: (e as Error).message, eventName: p.event.name, eventId: p.event.eventId }, 'the audit store refused one event: that request alone was refused');
            p.reject(e);
          }
          return;
        }
        const half = Math.ceil(items.length / 2);
        await attempt(items.slice(0, half), []);
        await attempt(items.slice(half), []);
      }
    };
    await attempt(batch, this.#held.splice(0, MAX_BATCH));
    this.#recovered();
  }

  #failed(err: unknown): void {
    if (!this.failing) this.#log.error({ err: (err as Error).message }, 'audit store write failed: refusing requests until it recovers');
    this.failing = true;
  }

  #recovered(): void {
    this.#lastWrite = Date.now();
    if (this.failing) this.#log.warn('audit store recovered: serving requests again');
    this.failing = false;
  }

  async #flushHeld(): Promise<void> {
    while (this.#held.length) {
      const held = this.#held.splice(0, MAX_BATCH);
      try {
        await this.#store!.write({ events: held });
        this.#recovered();
      } catch (err) {
        try {
          await this.#store!.heartbeat(this.owner, Date.now());
        } catch {
          this.#held.unshift(...held);
          this.#failed(err);
          return;
        }
        // The store writes, but not these together: one at a time; a row it refuses stays on record as its intent.
        for (const e of held) {
          await this.#store!.write({ events: [e] }).catch((e2: unknown) =>
            this.#log.error({ err: (e2 as Error).message, eventId: e.eventId, eventName: e.name }, 'the audit store refused a held event; the call stays on record as its intent'),
          );
        }
      }
    }
  }

  /**
   * Is the store writable now? A write (a heartbeat) is attempted if none succeeded in the last second, at most one
   * at a time, so that health answers the truth without a write per probe.
   */
  async check(): Promise<boolean> {
    if (!this.#store) return true;
    if (Date.now() - this.#lastWrite < 1000 && !this.failing) return true;
    this.#checking ??= this.#store
      .heartbeat(this.owner, Date.now())
      .then(
        () => this.#recovered(),
        (err: unknown) => this.#failed(err),
      )
      .finally(() => (this.#checking = undefined));
    await this.#checking;
    return !this.failing;
  }

  /** Resolves once everything queued so far has been written (or refused). */
  drained(): Promise<void> {
    if (!this.#flushing) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
