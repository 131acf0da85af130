import { availableParallelism } from 'node:os';
import { ThreadChannel, type ThreadReply } from '../threads/channel.ts';
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
export type PoolReply = ThreadReply;

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
  readonly #threads: Array<ThreadChannel<Omit<PoolCall, 'id'>>> = [];

  constructor(size = Number(process.env['TRENT_CRYPTO_THREADS'] ?? Math.max(1, Math.min(4, availableParallelism() - 1)))) {
    this.size = Math.max(1, size);
  }

  #thread(): ThreadChannel<Omit<PoolCall, 'id'>> {
    // The least busy thread; another starts only while every one started is busy.
    let best: ThreadChannel<Omit<PoolCall, 'id'>> | undefined;
    for (const t of this.#threads) if (!best || t.inFlight < best.inFlight) best = t;
    if (best && (best.inFlight === 0 || this.#threads.length >= this.size)) return best;
    const t = new ThreadChannel<Omit<PoolCall, 'id'>>({ callerUrl: import.meta.url, name: 'crypto-thread', what: 'a crypto thread', idleUnref: true });
    this.#threads.push(t);
    return t;
  }

  async run<K extends keyof Ops>(op: K, ...args: Parameters<Ops[K]>): Promise<ReturnType<Ops[K]>> {
    return buffers(await this.#thread().call({ op, args } as Omit<PoolCall, 'id'>)) as ReturnType<Ops[K]>;
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.close()));
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
