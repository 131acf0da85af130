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

/**
 * Keys in custom key stores have ciphertext formats of their own (docs/formats.md), sharing the first two
 * fields (format version, key id length and key id) with version 1 so that Decrypt can tell whose key a
 * blob names before anything else is read.
 *
 * Version 2, a key in a PKCS#11 key store (AES-256-GCM inside the token):
 *
 *   0       1     format version (0x02)
 *   1       1     key id length L (36)
 *   2       L     key id (ASCII)
 *   2+L     12    AES-GCM IV (random, chosen by Trent)
 *   14+L    n     ciphertext
 *   end-16  16    AES-GCM tag
 *
 * AAD = the header (bytes 0 .. 2+L) followed by the canonical encryption context.
 *
 * Version 3, a key in an external key store: the plaintext is first sealed as a version 1 blob under the KMS
 * key's own backing key (Trent's layer), and that blob is then encrypted by the external key store proxy (the
 * outer layer); what the proxy returns is kept here:
 *
 *   0           1     format version (0x03)
 *   1           1     key id length L (36)
 *   2           L     key id (ASCII)
 *   2+L         1     ciphertext metadata length m (0 .. 20)
 *   3+L         m     the proxy's ciphertextMetadata
 *   3+L+m       1     IV length v (12 or 16)
 *   4+L+m       v     the proxy's initializationVector
 *   4+L+m+v     16    the proxy's authenticationTag
 *   20+L+m+v    n     the proxy's ciphertext (as long as the version 1 blob it encrypts)
 *
 * The additionalAuthenticatedData sent to the proxy is the header (bytes 0 .. 2+L) followed by the SHA-256 of
 * the canonical encryption context, so the outer layer is bound to the key and the context as well.
 */
export const FORMAT_HSM = 0x02;
export const FORMAT_XKS = 0x03;
export const XKS_MAX_METADATA = 20;
const TAG = 16;

/** The format and key a blob names, without checking the rest; undefined for anything that is not one of Trent's blobs. */
export function peekBlob(blob: Uint8Array): { format: number; keyId: string } | undefined {
  /* Precondition: the version byte, the key id length byte and a UUID-length key id are present. */
  if (blob.length < 38 || blob[1] !== 36) return undefined;
  const format = blob[0]!;
  if (format !== FORMAT_V1 && format !== FORMAT_HSM && format !== FORMAT_XKS) return undefined;
  const keyId = Buffer.from(blob.buffer, blob.byteOffset + 2, 36).toString('latin1');
  return KEY_ID.test(keyId) ? { format, keyId } : undefined;
}

/** The header shared by versions 2 and 3: format version, key id length and key id. */
export function encodeKeyHeader(format: typeof FORMAT_HSM | typeof FORMAT_XKS, keyId: string): Buffer {
  if (!KEY_ID.test(keyId)) throw new RangeError('key id must be a lower-case UUID');
  return Buffer.concat([Buffer.of(format, 36), Buffer.from(keyId, 'ascii')]);
}

export interface HsmBlob {
  keyId: string;
  header: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function encodeHsmBlob(keyId: string, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Buffer {
  if (iv.length !== IV_BYTES || tag.length !== TAG) throw new RangeError('invalid IV or tag length');
  return Buffer.concat([encodeKeyHeader(FORMAT_HSM, keyId), iv, ciphertext, tag]);
}

export function decodeHsmBlob(blob: Uint8Array): HsmBlob {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const peeked = peekBlob(b);
  /* Precondition: a version 2 blob with its header, IV, at least one byte of ciphertext and its tag. */
  if (!peeked || peeked.format !== FORMAT_HSM || b.length < 38 + IV_BYTES + 1 + TAG) throw new InvalidCiphertextException();
  return Object.freeze({
    keyId: peeked.keyId,
    header: b.subarray(0, 38),
    iv: b.subarray(38, 38 + IV_BYTES),
    ciphertext: b.subarray(38 + IV_BYTES, b.length - TAG),
    tag: b.subarray(b.length - TAG),
  });
}

export interface XksBlob {
  keyId: string;
  header: Buffer;
  metadata: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

export function encodeXksBlob(keyId: string, parts: { metadata: Uint8Array; iv: Uint8Array; tag: Uint8Array; ciphertext: Uint8Array }): Buffer {
  if (parts.metadata.length > XKS_MAX_METADATA) throw new RangeError('ciphertext metadata longer than 20 bytes');
  if ((parts.iv.length !== 12 && parts.iv.length !== 16) || parts.tag.length !== TAG) throw new RangeError('invalid IV or tag length');
  return Buffer.concat([encodeKeyHeader(FORMAT_XKS, keyId), Buffer.of(parts.metadata.length), parts.metadata, Buffer.of(parts.iv.length), parts.iv, parts.tag, parts.ciphertext]);
}

export function decodeXksBlob(blob: Uint8Array): XksBlob {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const peeked = peekBlob(b);
  /* Precondition: a version 3 blob with its metadata length byte. */
  if (!peeked || peeked.format !== FORMAT_XKS || b.length < 39) throw new InvalidCiphertextException();
  const m = b[38]!;
  /* Precondition: metadata within the proxy's 20 bytes, followed by the IV length byte. */
  if (m > XKS_MAX_METADATA || b.length < 39 + m + 1) throw new InvalidCiphertextException();
  const v = b[39 + m]!;
  const ivAt = 40 + m;
  /* Precondition: a 12- or 16-byte IV, the tag and at least one byte of ciphertext. */
  if ((v !== 12 && v !== 16) || b.length < ivAt + v + TAG + 1) throw new InvalidCiphertextException();
  return Object.freeze({
    keyId: peeked.keyId,
    header: b.subarray(0, 38),
    metadata: b.subarray(39, 39 + m),
    iv: b.subarray(ivAt, ivAt + v),
    tag: b.subarray(ivAt + v, ivAt + v + TAG),
    ciphertext: b.subarray(ivAt + v + TAG),
  });
}
