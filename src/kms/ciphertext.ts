import { InvalidCiphertextException } from './errors.ts';

/**
 * Trent's symmetric ciphertext blob, version 1 (docs/formats.md):
 *
 *   offset  size  field
 *   0       1     format version (0x01)
 *   1       1     key id length L (36: a UUID)
 *   2       L     key id (ASCII)
 *   2+L     4     backing key version (uint32, big-endian, >= 1)
 *   6+L     32    nonce N: the per-request key is HKDF-SHA256(backing key, salt = N)
 *   38+L    12    AES-GCM IV
 *   50+L    n     ciphertext
 *   end-16  16    AES-GCM tag
 *
 * AAD = the header (bytes 0 .. 38+L) followed by the canonical encryption context, so neither
 * the key id, the version, the nonce nor the context can be changed without failing authentication.
 */
export const FORMAT_V1 = 0x01;
export const NONCE_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface CiphertextBlob {
  keyId: string;
  version: number;
  nonce: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  /** The exact header bytes, used as the first part of the AAD. */
  header: Buffer;
}

export function encodeHeader(keyId: string, version: number, nonce: Uint8Array): Buffer {
  if (!KEY_ID.test(keyId)) throw new RangeError('key id must be a lower-case UUID');
  if (!Number.isInteger(version) || version < 1 || version > 0xffffffff) throw new RangeError('invalid backing key version');
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 32 bytes');
  const id = Buffer.from(keyId, 'ascii');
  const h = Buffer.alloc(2 + id.length + 4 + NONCE_BYTES);
  h[0] = FORMAT_V1;
  h[1] = id.length;
  id.copy(h, 2);
  h.writeUInt32BE(version, 2 + id.length);
  Buffer.from(nonce).copy(h, 6 + id.length);
  return h;
}

export function encodeBlob(header: Buffer, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Buffer {
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new RangeError('invalid IV or tag length');
  return Buffer.concat([header, iv, ciphertext, tag]);
}

/** Parse with every bound checked before it is read; any malformation is InvalidCiphertextException. */
export function decodeBlob(blob: Uint8Array): CiphertextBlob {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  /* Precondition: the version byte and the key id length byte are present. */
  if (b.length < 2) throw new InvalidCiphertextException();
  /* Precondition: a format this server writes. */
  if (b[0] !== FORMAT_V1) throw new InvalidCiphertextException();
  const idLen = b[1]!;
  /* Precondition: a UUID-length key id. */
  if (idLen !== 36) throw new InvalidCiphertextException();
  const headerLen = 2 + idLen + 4 + NONCE_BYTES;
  /* Precondition: header, IV and tag fit; the ciphertext may be empty only in theory (plaintext is at least 1 byte). */
  if (b.length < headerLen + IV_BYTES + TAG_BYTES + 1) throw new InvalidCiphertextException();
  const keyId = b.subarray(2, 2 + idLen).toString('latin1');
  if (!KEY_ID.test(keyId)) throw new InvalidCiphertextException();
  const version = b.readUInt32BE(2 + idLen);
  if (version < 1) throw new InvalidCiphertextException();
  return Object.freeze({
    keyId,
    version,
    nonce: b.subarray(6 + idLen, headerLen),
    iv: b.subarray(headerLen, headerLen + IV_BYTES),
    ciphertext: b.subarray(headerLen + IV_BYTES, b.length - TAG_BYTES),
    tag: b.subarray(b.length - TAG_BYTES),
    header: b.subarray(0, headerLen),
  });
}
