import { Worker } from 'node:worker_threads';

export type CheckpointCall = { id: number; method: 'passive' | 'truncate' | 'close' };
export type CheckpointReply = { id: number; ok: true } | { id: number; ok: false; message: string };

/** Where the thread's code is: beside this module, compiled (dist/) or, when running from source, through tsx. */
function entry(): { file: URL | string; eval: boolean } {
  const self = new URL(import.meta.url);
  if (self.pathname.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./sqlite-checkpoint-thread.ts', self).href)}); });`;
    return { file: code, eval: true };
  }
  return { file: new URL('./sqlite-checkpoint-thread.js', self), eval: false };
}

/** How long commits may pile up in the write-ahead log before a checkpoint copies them into the database file. */
const PASSIVE_EVERY_MS = 250;

/**
 * Checkpoints of one SQLite database, run in a thread of its own (sqlite-checkpoint-thread.ts) so that the copying
 * and its fsyncs never block an event loop. The serving connection reports its commits (`dirty`); at most every
 * PASSIVE_EVERY_MS a PASSIVE checkpoint follows, which copies what it can without waiting for any reader or writer.
 * `truncate` waits for one that empties the log (deleted rows must not live on in it). The thread starts with the
 * first commit and never keeps the process alive.
 */
export class Checkpointer {
  readonly #file: string;
  #worker: Worker | undefined;
  #next = 1;
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(file: string) {
    this.#file = file;
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const e = entry();
    const w = new Worker(e.file, { eval: e.eval, workerData: { file: this.#file } });
    w.unref();
    w.on('message', (r: CheckpointReply) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      if (this.#pending.size === 0 && !this.#closed) w.unref();
      if (r.ok) p.resolve();
      else p.reject(new Error(r.message));
    });
    const fail = (err: Error) => {
      if (this.#worker === w) this.#worker = undefined;
      for (const [id, p] of this.#pending) {
        p.reject(err);
        this.#pending.delete(id);
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the checkpoint thread stopped (exit code ${code})`)));
    this.#worker = w;
    return w;
  }

  #call(method: CheckpointCall['method']): Promise<void> {
    const id = this.#next++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const w = this.#thread();
      // Someone waits for an answer: the thread keeps the process alive until it comes.
      w.ref();
      w.postMessage({ id, method } satisfies CheckpointCall);
    });
  }

  /** Commits were made: a PASSIVE checkpoint will follow soon (a failed one is tried again at the next commit). */
  dirty(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.#call('passive')
        .catch(() => undefined)
        .finally(() => (this.#timer = undefined));
    }, PASSIVE_EVERY_MS);
    this.#timer.unref();
  }

  /** Copy every commit into the database file and empty the log. */
  truncate(): Promise<void> {
    return this.#call('truncate');
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const w = this.#worker;
    if (!w) return;
    await new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      void this.#call('close').catch(() => undefined);
    });
  }
}
