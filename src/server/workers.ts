import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/**
 * Several worker processes serve one port (node:cluster: the primary accepts connections and hands them out),
 * so that every core serves requests. Each worker is a full Trent node over the same stores; what the stores do
 * not tell each other at once travels over this bus:
 *
 * - `changed`: a worker that ran a state-changing call tells every other worker to drop its cached key records,
 *   aliases, identities and policies, and waits until each has done so (or CHANGE_TIMEOUT_MS has passed, after
 *   which the caches' own bounds apply: a second for keys and policies, five for access keys) before the
 *   call is answered. A key disabled through one connection is refused on every other one at once.
 * - `ready`: a worker tells the primary its port and its audit recorder's name, so that the primary can recover
 *   the recorder's intents at once if the worker dies.
 */
const CHANGE_TIMEOUT_MS = 1_000;

type ToPrimary =
  | { trent: 'listening' }
  | { trent: 'ready'; port: number; recorder?: string }
  | { trent: 'changed'; id: number; scope: string };
type ToWorker = { trent: 'drop'; id: number; from: number; scope: string } | { trent: 'changed-done'; id: number } | { trent: 'stop' };
type FromWorker = { trent: 'dropped'; id: number; from: number };

/** The worker side: publish changes, drop caches on others' changes. A single process has no peers: everything is local. */
export class WorkerBus {
  readonly #droppers: Array<(scope: string) => void> = [];
  readonly #waiting = new Map<number, () => void>();
  #next = 1;
  #onStop: (() => void) | undefined;

  constructor() {
    if (!cluster.isWorker) return;
    process.on('message', (m: ToWorker) => {
      if (!m || typeof m !== 'object') return;
      if (m.trent === 'drop') {
        for (const d of this.#droppers) d(m.scope);
        process.send?.({ trent: 'dropped', id: m.id, from: m.from } satisfies FromWorker);
      } else if (m.trent === 'changed-done') {
        this.#waiting.get(m.id)?.();
        this.#waiting.delete(m.id);
      } else if (m.trent === 'stop') this.#onStop?.();
    });
  }

  get clustered(): boolean {
    return cluster.isWorker;
  }

  /** Register a cache to drop when another worker changes state (scope: the service's signing name). */
  onDrop(fn: (scope: string) => void): void {
    this.#droppers.push(fn);
  }

  /** The primary asks this worker to stop (the same as SIGTERM). */
  onStop(fn: () => void): void {
    this.#onStop = fn;
  }

  /** After a state-changing call, before its answer: every other worker has dropped what it cached. */
  changed(scope: string): Promise<void> {
    if (!cluster.isWorker || !process.send) return Promise.resolve();
    const id = this.#next++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve();
      }, CHANGE_TIMEOUT_MS);
      this.#waiting.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      process.send!({ trent: 'changed', id, scope } satisfies ToPrimary);
    });
  }

  /** The port is bound: the primary may let go of its hold on it (see reservePort). */
  listening(): void {
    if (cluster.isWorker) process.send?.({ trent: 'listening' } satisfies ToPrimary);
  }

  ready(port: number, recorder: string | undefined): void {
    if (cluster.isWorker) process.send?.({ trent: 'ready', port, ...(recorder ? { recorder } : {}) } satisfies ToPrimary);
  }
}

export interface PrimaryOptions {
  workers: number;
  log: Logger;
  /** A worker died: recover what its recorder left (its intents become events now, not after its heartbeat ages). */
  recoverRecorder: (owner: string) => Promise<void>;
  /** The first worker has bound the port (from then on, its socket keeps any other server from checking the port free). */
  onFirstListening?: () => void;
}

/**
 * The primary: forks the workers, relays the bus, replaces a worker that dies (with a growing pause if they keep
 * dying at once), and stops them all on `stop()`.
 */
export class Primary {
  readonly #opts: PrimaryOptions;
  readonly #recorders = new Map<Worker, string>();
  readonly #ports = new Map<Worker, number>();
  #stopping = false;
  #restarts: number[] = [];
  /** Called when the set of serving workers changes (one replaced). */
  onChange: (() => void) | undefined;

  constructor(opts: PrimaryOptions) {
    this.#opts = opts;
  }

  get pids(): number[] {
    return Object.values(cluster.workers ?? {}).flatMap((w) => (w?.process.pid ? [w.process.pid] : []));
  }

  /** Fork every worker and wait until each is listening; resolves with the port they share. */
  async start(): Promise<number> {
    cluster.on('message', (w, m: ToPrimary | FromWorker) => this.#message(w, m));
    cluster.on('exit', (w, code, signal) => void this.#exited(w, code, signal));
    const ports = await Promise.all(Array.from({ length: this.#opts.workers }, () => this.#fork()));
    return ports[0]!;
  }

  #fork(): Promise<number> {
    const w = cluster.fork();
    return new Promise<number>((resolve, reject) => {
      const onReady = (m: ToPrimary) => {
        if (m?.trent !== 'ready') return;
        w.off('message', onReady);
        w.off('exit', onExit);
        resolve(m.port);
      };
      const onExit = (code: number | null) => reject(new Error(`a worker exited with ${code} before it was ready`));
      w.on('message', onReady);
      w.once('exit', onExit);
    });
  }

  /** Changes waiting for acks: the worker that made the change, its number for it, and the workers yet to ack. */
  #pendingDrops = new Map<string, { from: Worker; id: number; left: Set<Worker> }>();

  #done(key: string): void {
    const p = this.#pendingDrops.get(key);
    if (!p || p.left.size > 0) return;
    this.#pendingDrops.delete(key);
    if (p.from.isConnected()) p.from.send({ trent: 'changed-done', id: p.id } satisfies ToWorker);
  }

  #message(w: Worker, m: ToPrimary | FromWorker): void {
    if (!m || typeof m !== 'object') return;
    if (m.trent === 'listening') {
      const first = this.#opts.onFirstListening;
      this.#opts.onFirstListening = undefined;
      first?.();
    } else if (m.trent === 'ready') {
      this.#ports.set(w, m.port);
      if (m.recorder) this.#recorders.set(w, m.recorder);
      this.#opts.log.info({ pid: w.process.pid }, 'worker serving');
      this.onChange?.();
    } else if (m.trent === 'changed') {
      const others = Object.values(cluster.workers ?? {}).filter((o): o is Worker => !!o && o !== w && o.isConnected());
      if (others.length === 0) {
        w.send({ trent: 'changed-done', id: m.id } satisfies ToWorker);
        return;
      }
      const key = `${w.id}:${m.id}`;
      this.#pendingDrops.set(key, { from: w, id: m.id, left: new Set(others) });
      for (const o of others) o.send({ trent: 'drop', id: m.id, from: w.id, scope: m.scope } satisfies ToWorker);
    } else if (m.trent === 'dropped') {
      // Acks name the change by its originating worker and that worker's own number for it.
      const key = `${m.from}:${m.id}`;
      this.#pendingDrops.get(key)?.left.delete(w);
      this.#done(key);
    }
  }

  async #exited(w: Worker, code: number | null, signal: string | null): Promise<void> {
    const owner = this.#recorders.get(w);
    this.#recorders.delete(w);
    this.#ports.delete(w);
    for (const [key, p] of this.#pendingDrops) {
      // A dead worker's own changes need no answer; one it was asked to drop caches for counts as done (it has none now).
      if (p.from === w) this.#pendingDrops.delete(key);
      else {
        p.left.delete(w);
        this.#done(key);
      }
    }
    if (this.#stopping) return;
    this.#opts.log.error({ pid: w.process.pid, code, signal }, 'a worker stopped unexpectedly; starting another');
    if (owner) await this.#opts.recoverRecorder(owner).catch((err: unknown) => this.#opts.log.error({ err: (err as Error).message }, 'recovering the dead worker\'s audit intents failed; its heartbeat will age'));
    const now = Date.now();
    this.#restarts = this.#restarts.filter((t) => now - t < 60_000);
    this.#restarts.push(now);
    // Workers that die as soon as they start (a broken disk, a missing HSM): pause longer each time, up to 30 s.
    const pause = this.#restarts.length > 3 ? Math.min(30_000, 1000 * 2 ** (this.#restarts.length - 3)) : 0;
    setTimeout(() => {
      if (!this.#stopping) this.#fork().catch((err: unknown) => this.#opts.log.error({ err: (err as Error).message }, 'a replacement worker failed to start'));
    }, pause).unref();
  }

  /** Ask every worker to stop and wait for them (SIGKILL after `graceMs`). */
  async stop(graceMs = 15_000): Promise<void> {
    this.#stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => w.process.kill('SIGKILL'), graceMs);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (w.isConnected()) w.send({ trent: 'stop' } satisfies ToWorker);
            else w.process.kill('SIGTERM');
          }),
      ),
    );
  }
}
