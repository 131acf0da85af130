import { ThreadChannel, type ThreadReply } from '../threads/channel.ts';
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
export type WriterReply = ThreadReply;

type Distribute<T> = T extends { method: infer M; args: infer A } ? { method: M; args: A } : never;

/**
 * The embedded audit store's writes, run in a thread of their own (see writer-thread.ts). A thread that dies
 * fails the calls it held (the recorder refuses those requests, fail closed) and is started again for the next.
 */
export class ThreadTrailWriter implements TrailWriter {
  readonly #thread: ThreadChannel<Distribute<WriterCall>>;

  constructor(file: string, faultFile?: string) {
    this.#thread = new ThreadChannel({
      callerUrl: import.meta.url,
      name: 'writer-thread',
      workerData: { file, ...(faultFile ? { faultFile } : {}) },
      what: 'the audit writer thread',
      closeMessage: true,
    });
  }

  #call<T>(call: Distribute<WriterCall>): Promise<T> {
    return this.#thread.call<T>(call);
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

  close(): Promise<void> {
    return this.#thread.close();
  }
}
