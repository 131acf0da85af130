import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Where a worker thread's code is: the compiled module beside the caller (dist/), or, when running from the
 * TypeScript sources, a small script that registers tsx first (a worker does not inherit the parent's module hooks).
 */
export function threadEntry(callerUrl: string, name: string): { file: URL | string; eval: boolean } {
  const self = new URL(callerUrl);
  if (self.pathname.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(new URL(`./${name}.ts`, self).href)}); });`;
    return { file: code, eval: true };
  }
  return { file: new URL(`./${name}.js`, self), eval: false };
}

/** What a thread answers to a call: its value, or the message (and the name) of the error it threw. */
export type ThreadReply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; message: string; name?: string };

export interface ThreadChannelOptions {
  /** The thread's module, beside the caller's (see threadEntry). */
  callerUrl: string;
  name: string;
  workerData?: unknown;
  /** Named in the error that fails the calls a thread held when it stopped. */
  what: string;
  /** A thread with no call in flight does not keep the process alive. */
  idleUnref?: boolean;
  /** close() ends the thread by sending it 'close' (it closes what it holds, then its port) instead of terminating it. */
  closeMessage?: boolean;
}

/**
 * Calls to one worker thread, each answered by a ThreadReply with the call's id. The thread starts with the first
 * call; one that dies (an error, an exit) fails the calls it held, and the next call starts another.
 */
export class ThreadChannel<Call extends object> {
  readonly #opts: ThreadChannelOptions;
  #worker: Worker | undefined;
  #next = 1;
  #closing = false;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(opts: ThreadChannelOptions) {
    this.#opts = opts;
  }

  /** Calls sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const e = threadEntry(this.#opts.callerUrl, this.#opts.name);
    const options: WorkerOptions = { eval: e.eval };
    if (this.#opts.workerData !== undefined) options.workerData = this.#opts.workerData;
    const w = new Worker(e.file, options);
    if (this.#opts.idleUnref) w.unref();
    w.on('message', (r: ThreadReply) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      if (this.#opts.idleUnref && this.#pending.size === 0 && !this.#closing) w.unref();
      if (r.ok) p.resolve(r.value);
      else p.reject(Object.assign(new Error(r.message), r.name ? { name: r.name } : {}));
    });
    const fail = (err: Error) => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        p.reject(err);
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`${this.#opts.what} stopped (exit code ${code})`)));
    this.#worker = w;
    return w;
  }

  call<T>(call: Call): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const w = this.#thread();
      // Someone waits for an answer: the thread keeps the process alive until it comes.
      if (this.#opts.idleUnref) w.ref();
      w.postMessage({ id, ...call });
    });
  }

  /** End the thread (calls still in flight fail); the next call would start another. */
  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    if (!this.#opts.closeMessage) {
      await w.terminate();
      return;
    }
    // The thread keeps the process alive until it has closed what it holds.
    this.#closing = true;
    w.ref();
    await new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      w.postMessage('close');
    });
    this.#closing = false;
  }
}
