import { ThreadChannel, type ThreadReply } from '../threads/channel.ts';

export type CheckpointCall = { id: number; method: 'passive' | 'truncate' };
export type CheckpointReply = ThreadReply;

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
  readonly #thread: ThreadChannel<Omit<CheckpointCall, 'id'>>;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(file: string) {
    this.#thread = new ThreadChannel({
      callerUrl: import.meta.url,
      name: 'sqlite-checkpoint-thread',
      workerData: { file },
      what: 'the checkpoint thread',
      idleUnref: true,
      closeMessage: true,
    });
  }

  #call(method: CheckpointCall['method']): Promise<void> {
    return this.#thread.call<void>({ method });
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
    await this.#thread.close();
  }
}
