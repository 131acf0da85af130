import type { Readable } from 'node:stream';

/** What a protocol writer produces and the listener sends. */
export interface WireResponse {
  status: number;
  headers: Record<string, string | number | string[]>;
  body?: Buffer | string | Readable;
}
