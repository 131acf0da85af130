import { hkdfSync, type KeyObject } from 'node:crypto';

/**
 * HKDF-SHA256 (RFC 5869) from OpenSSL through node:crypto. A key that is used again and again should come as a
 * KeyObject (createSecretKey once): given bytes, node:crypto builds a KeyObject from them on every call.
 */
export function hkdfSha256(ikm: Uint8Array | KeyObject, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (length < 1 || length > 255 * 32) throw new RangeError('HKDF-SHA256 output length must be between 1 and 8160 bytes');
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}
