import { Worker } from 'node:worker_threads';
import type { TrailBatch } from './store.ts';

/** The writes the audit store can hand to a thread: everything the recorder does, nothing that reads for a caller. */
export interface TrailWriter {
  write(batch: TrailBatch): Promise<void>;
  heartbeat(owner: string, at: number): Promise<void>;
  retire(owner: string): Promise<void>;
  recoverIntents(self: string, staleBefore: number, allForeign: boolean): Promise<number>;
  recoverIntentsOf(owner: string): Promise<number>;
  close(): Promise<void>;
}

export type WriterCall =
  | { id: number; method: 'write'; args: [TrailBatch] }
  | { id: number; method: 'heartbeat'; args: [string, number] }
  | { id: number; method: 'retire'; args: [string] }
  | { id: number; method: 'recoverIntents'; args: [string, number, boolean] }
  | { id: number; method: 'recoverIntentsOf'; args: [string] };
export type WriterReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

type Distribute<T> = T extends { method: infer M; args: infer A } ? { method: M; args: A } : never;

/** Where the thread's code is: beside this module, compiled (dist/) or, when running from source, through tsx. */
function entry(): { file: URL | string; eval: boolean } {
  const self = new URL(import.meta.url);
  if (self.pathname.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./writer-thread.ts', self).href)}); });`;
    return { file: code, eval: true };
  }
  return { file: new URL('./writer-thread.js', self), eval: false };
}

/**
 * The embedded audit store's writes, run in a thread of their own (see writer-thread.ts). A thread that dies
 * fails the calls it held (the recorder refuses those requests, fail closed) and is started again for the next.
 */
export class ThreadTrailWriter implements TrailWriter {
  readonly #file: string;
  readonly #faultFile: string | undefined;
  #worker: Worker | undefined;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(file: string, faultFile?: string) {
    this.#file = file;
    this.#faultFile = faultFile;
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const e = entry();
    const w = new Worker(e.file, { eval: e.eval, workerData: { file: this.#file, ...(this.#faultFile ? { faultFile: this.#faultFile } : {}) } });
    w.on('message', (r: WriterReply) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
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
    w.on('exit', (code) => fail(new Error(`the audit writer thread stopped (exit code ${code})`)));
    this.#worker = w;
    return w;
  }

  #call<T>(call: Distribute<WriterCall>): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#thread().postMessage({ id, ...call });
    });
  }

  write(batch: TrailBatch): Promise<void> {
    return this.#call({ method: 'write', args: [batch] });
  }
  heartbeat(owner: string, at: number): Promise<void> {
    return this.#call({ method: 'heartbeat', args: [owner, at] });
  }
  retire(owner: string): Promise<void> {
    return this.#call({ method: 'retire', args: [owner] });
  }
  recoverIntents(self: string, staleBefore: number, allForeign: boolean): Promise<number> {
    return this.#call({ method: 'recoverIntents', args: [self, staleBefore, allForeign] });
  }
  recoverIntentsOf(owner: string): Promise<number> {
    return this.#call({ method: 'recoverIntentsOf', args: [owner] });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    this.#worker = undefined;
    await new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      w.postMessage('close');
    });
  }
}
