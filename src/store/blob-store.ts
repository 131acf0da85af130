import type { Readable } from 'node:stream';

/**
 * Opaque blobs (ciphertext only: callers encrypt before they store). A put is atomic: a reader sees
 * the whole new blob or the previous state, never a partial one, even across a crash.
 */
export interface BlobStore {
  put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ size: number }>;
  /** Stream a blob, optionally a byte range [start, end] inclusive. Throws BlobNotFound. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  read(key: string): Promise<Buffer>;
  size(key: string): Promise<number | undefined>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<string>;
}

export class BlobNotFound extends Error {
  constructor(key: string) {
    super(`no blob at ${key}`);
    this.name = 'BlobNotFound';
  }
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._=-]{0,254}$/;

/** Blob keys are slash-separated segments of a safe alphabet: no traversal, no hidden files. */
export function assertBlobKey(key: string): void {
  const parts = key.split('/');
  if (key.length === 0 || key.length > 1024 || parts.some((p) => !SEGMENT.test(p) || p === '..' || p === '.')) {
    throw new RangeError(`invalid blob key: ${JSON.stringify(key)}`);
  }
}
