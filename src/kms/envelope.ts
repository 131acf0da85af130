import type { KeyObject } from 'node:crypto';
import { randomBytes } from '../crypto/random.ts';
import { AeadError, gcmDecrypt, gcmEncryptWithIv, IV_BYTES } from '../crypto/aead.ts';
import { hkdfSha256 } from '../crypto/hkdf.ts';
import { decodeBlob, encodeBlob, encodeHeader, NONCE_BYTES, type CiphertextBlob } from './ciphertext.ts';
import { canonicalEncryptionContext, type EncryptionContext } from './encryption-context.ts';
import { InvalidCiphertextException } from './errors.ts';

const HKDF_INFO = Buffer.from('trent kms v1 per-request key');

/**
 * Encrypt under one backing-key version, after AWS KMS's published design: a random 256-bit nonce N,
 * a per-request key K = HKDF-SHA256(backing key, salt = N), AES-256-GCM with a random IV, and the
 * blob header plus the canonical encryption context as AAD. K differs for every call, so no
 * (key, IV) pair is ever reused.
 */
export function sealUnderBackingKey(keyId: string, version: number, backingKey: Uint8Array | KeyObject, plaintext: Uint8Array, ec: EncryptionContext): Buffer {
  const random = randomBytes(NONCE_BYTES + IV_BYTES);
  const nonce = random.subarray(0, NONCE_BYTES);
  const iv = random.subarray(NONCE_BYTES);
  const header = encodeHeader(keyId, version, nonce);
  const k = hkdfSha256(backingKey, nonce, HKDF_INFO, 32);
  try {
    const { ciphertext, tag } = gcmEncryptWithIv(k, iv, plaintext, Buffer.concat([header, canonicalEncryptionContext(ec)]));
    return encodeBlob(header, iv, ciphertext, tag);
  } finally {
    k.fill(0);
  }
}

export function openUnderBackingKey(blob: CiphertextBlob, backingKey: Uint8Array | KeyObject, ec: EncryptionContext): Buffer {
  const k = hkdfSha256(backingKey, blob.nonce, HKDF_INFO, 32);
  try {
    return gcmDecrypt(k, blob.iv, blob.ciphertext, blob.tag, Buffer.concat([blob.header, canonicalEncryptionContext(ec)]));
  } catch (err) {
    if (err instanceof AeadError || err instanceof RangeError) throw new InvalidCiphertextException();
    throw err;
  } finally {
    k.fill(0);
  }
}

export { decodeBlob };
