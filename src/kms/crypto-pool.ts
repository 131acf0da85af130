import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { threadEntry } from '../crypto/thread-entry.ts';
import type { dataKeyPair, rsaDecrypt, rsaEncrypt, signMessage, verifyMessage } from './asymmetric.ts';
import type { KeySpecInfo } from './key-specs.ts';

type Ops = {
  sign: typeof signMessage;
  verify: typeof verifyMessage;
  rsaDecrypt: typeof rsaDecrypt;
  rsaEncrypt: typeof rsaEncrypt;
  dataKeyPair: typeof dataKeyPair;
};
export type PoolCall = { [K in keyof Ops]: { id: number; op: K; args: Parameters<Ops[K]> } }[keyof Ops];
export type PoolReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string; name: string };

/**
 * Slow asymmetric cryptography off the event loop: RSA (signing, OAEP decryption, data key pairs), ECDSA over a given
 * digest and ML-DSA (both in JavaScript, several milliseconds each) run in a few worker threads, so that a burst of
 * RSA-4096 signatures delays only the calls that wait for them, never Encrypt or any other call. Cheap operations
 * (ECDSA and Ed25519 on a message, HMAC) are not worth a thread hop and run in place.
 *
 * The threads get the key material they need for each call (it never leaves the process); a thread that dies fails
 * the calls it held and is replaced.
 */
export class CryptoPool {
  readonly size: number;
  readonly #threads: Array<{ worker: Worker; busy: number }> = [];
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; thread: number }>();
  #next = 1;

  constructor(size = Number(process.env['TRENT_CRYPTO_THREADS'] ?? Math.max(1, Math.min(4, availableParallelism() - 1)))) {
    this.size = Math.max(1, size);
  }

  #thread(): number {
    // The least busy thread; threads start on first use.
    let best = -1;
    for (let i = 0; i < this.#threads.length; i++) if (best < 0 || this.#threads[i]!.busy < this.#threads[best]!.busy) best = i;
    if (this.#threads.length < this.size && (best < 0 || this.#threads[best]!.busy > 0)) return this.#start(this.#threads.length);
    return best;
  }

  #start(i: number): number {
    const e = threadEntry(import.meta.url, 'crypto-thread');
    const worker = new Worker(e.file, { eval: e.eval });
    worker.unref();
    worker.on('message', (r: PoolReply) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      const t = this.#threads[p.thread];
      if (t) t.busy--;
      if (r.ok) p.resolve(buffers(r.value));
      else p.reject(Object.assign(new Error(r.message), { name: r.name }));
    });
    const fail = (err: Error) => {
      for (const [id, p] of this.#pending) {
        if (p.thread !== i) continue;
        this.#pending.delete(id);
        p.reject(err);
      }
      this.#threads[i] = { worker: undefined as unknown as Worker, busy: Number.POSITIVE_INFINITY };
      this.#start(i);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.#threads[i]?.worker === worker) fail(new Error(`a crypto thread stopped (exit code ${code})`));
    });
    this.#threads[i] = { worker, busy: 0 };
    return i;
  }

  run<K extends keyof Ops>(op: K, ...args: Parameters<Ops[K]>): Promise<ReturnType<Ops[K]>> {
    const id = this.#next++;
    const thread = this.#thread();
    const t = this.#threads[thread]!;
    t.busy++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, thread });
      t.worker.ref();
      t.worker.postMessage({ id, op, args } as PoolCall);
    }).finally(() => {
      if (t.busy <= 0) t.worker.unref();
    }) as Promise<ReturnType<Ops[K]>>;
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.worker?.terminate()));
    this.#threads.length = 0;
  }
}

/** Whether an operation on a key of this spec is slow enough to be worth a thread (see CryptoPool). */
export function slow(spec: KeySpecInfo, digest = false): boolean {
  return spec.kind === 'rsa' || spec.kind === 'mldsa' || (spec.kind === 'ec' && digest);
}

/** Buffers cross a thread as plain Uint8Arrays: made Buffers again (top level, or one level into an object). */
function buffers(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = x instanceof Uint8Array ? Buffer.from(x.buffer, x.byteOffset, x.byteLength) : x;
    return out;
  }
  return v;
}
