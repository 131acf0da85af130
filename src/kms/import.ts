import { constants, createDecipheriv, createHash, createPrivateKey, generateKeyPair, privateDecrypt } from 'node:crypto';
import type { KeySpecInfo } from './key-specs.ts';
import { IncorrectKeyMaterialException, InvalidCiphertextException } from './errors.ts';

/** Wrapping algorithms Trent accepts for ImportKeyMaterial (RSAES_PKCS1_V1_5 is deprecated by AWS and refused). */
export const WRAPPING_ALGORITHMS = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];
export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;

/** RFC 5649's alternative initial value, which node's id-aes256-wrap-pad cipher takes as its IV. */
const KWP_IV = Buffer.from('A65959A6', 'hex');

export function generateWrappingKey(spec: (typeof WRAPPING_KEY_SPECS)[number]): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  return new Promise((resolve, reject) =>
    generateKeyPair(
      'rsa',
      { modulusLength: Number(spec.slice(4)), publicExponent: 65537, privateKeyEncoding: { type: 'pkcs8', format: 'der' }, publicKeyEncoding: { type: 'spki', format: 'der' } },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ privateKey, publicKey })),
    ),
  );
}

/**
 * Unwrap EncryptedKeyMaterial as AWS defines it: RSA-OAEP directly, or RSA_AES_KEY_WRAP: an
 * RSA-OAEP-encrypted ephemeral AES-256 key followed by the material wrapped with AES key wrap with
 * padding (RFC 5649) under it.
 */
export function unwrapImportedMaterial(wrappingKeyDer: Buffer, algorithm: WrappingAlgorithm, wrapped: Buffer): Buffer {
  const key = createPrivateKey({ key: wrappingKeyDer, format: 'der', type: 'pkcs8' });
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  const rsaBytes = (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  try {
    if (algorithm.startsWith('RSAES_OAEP')) return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, wrapped);
    if (wrapped.length <= rsaBytes) throw new Error('too short');
    const aesKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, wrapped.subarray(0, rsaBytes));
    try {
      if (aesKey.length !== 32) throw new Error('the ephemeral key must be AES-256');
      const d = createDecipheriv('id-aes256-wrap-pad', aesKey, KWP_IV);
      return Buffer.concat([d.update(wrapped.subarray(rsaBytes)), d.final()]);
    } finally {
      aesKey.fill(0);
    }
  } catch {
    throw new InvalidCiphertextException('The wrapped key material could not be decrypted with the wrapping key of this import token and algorithm.');
  }
}

const HMAC_LENGTHS: Record<number, [number, number]> = { 28: [28, 64], 32: [32, 64], 48: [48, 128], 64: [64, 128] };

/** Check imported material against the key's spec: size for symmetric and HMAC keys, type and size or curve for private keys. */
export function checkImportedMaterial(keySpec: string, spec: KeySpecInfo, material: Buffer): void {
  const bad = (why: string) => new IncorrectKeyMaterialException(`The key material does not fit KeySpec ${keySpec}: ${why}.`);
  switch (spec.kind) {
    case 'symmetric':
      if (material.length !== 32) throw bad('symmetric key material must be 256 bits');
      return;
    case 'hmac': {
      const [min, max] = HMAC_LENGTHS[spec.macBytes!]!;
      if (material.length < min || material.length > max) throw bad(`HMAC key material must be ${min} to ${max} bytes`);
      return;
    }
    default: {
      let key;
      try {
        key = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
      } catch {
        throw bad('asymmetric key material must be a DER-encoded PKCS#8 private key');
      }
      const d = key.asymmetricKeyDetails;
      if (spec.kind === 'rsa' && (key.asymmetricKeyType !== 'rsa' || d?.modulusLength !== spec.bits)) throw bad(`expected an RSA ${spec.bits}-bit key`);
      if (spec.kind === 'ec' && (key.asymmetricKeyType !== 'ec' || d?.namedCurve !== spec.curve)) throw bad(`expected an EC key on ${spec.curve}`);
      if (spec.kind === 'ed25519' && key.asymmetricKeyType !== 'ed25519') throw bad('expected an Ed25519 key');
    }
  }
}

export function tokenHash(token: Buffer): string {
  return createHash('sha256').update(token).digest('hex');
}
