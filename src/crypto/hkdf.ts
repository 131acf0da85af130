import { hkdfSync } from 'node:crypto';

/** HKDF-SHA256 (RFC 5869) from OpenSSL through node:crypto. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (length < 1 || length > 255 * 32) throw new RangeError('HKDF-SHA256 output length must be between 1 and 8160 bytes');
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}
