import { createPrivateKey, createPublicKey, sign as opensslSign, verify as opensslVerify, type KeyObject } from 'node:crypto';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';

/**
 * ML-DSA (FIPS 204) signing keys: ML_DSA_44, ML_DSA_65 and ML_DSA_87 with ML_DSA_SHAKE_256, as AWS KMS
 * offers them. RAW signatures are made and checked by OpenSSL (3.5, through node:crypto on Node.js 24), from the
 * seed-only PKCS#8 form of the private key; node:crypto cannot sign a given mu, so EXTERNAL_MU signatures, and the
 * expansion of the seed into the public key, come from @noble/post-quantum (audited). Nothing here is hand-written
 * but the keys' encodings; each implementation verifies the other's signatures (tests).
 *
 * - The private key is kept as its 32-byte seed (FIPS 204's xi, the form RFC 9881 recommends), wrapped by
 *   the root of trust like any backing key; the expanded keys are derived from it on use.
 * - RAW: pure ML-DSA.Sign over the message with an empty context, hedged (fresh randomness per signature).
 * - EXTERNAL_MU: the caller's 64-byte mu (FIPS 204 section 6.2: SHAKE256(SHAKE256(pk, 64) || 0 || 0 || M, 64))
 *   is signed as is. A RAW signature and an EXTERNAL_MU one over the mu of the same message verify alike.
 * - GetPublicKey returns the DER SubjectPublicKeyInfo of RFC 5280 with the ML-DSA algorithm identifiers of
 *   RFC 9881 (id-ml-dsa-44/65/87, no parameters) and the raw public key as the BIT STRING.
 */
const PARAMETERS = {
  ML_DSA_44: { impl: ml_dsa44, oid: 0x11 },
  ML_DSA_65: { impl: ml_dsa65, oid: 0x12 },
  ML_DSA_87: { impl: ml_dsa87, oid: 0x13 },
} as const;

export type MlDsaSpec = keyof typeof PARAMETERS;
export const SEED_BYTES = 32;
export const MU_BYTES = 64;

function parameters(spec: string) {
  const p = PARAMETERS[spec as MlDsaSpec];
  if (!p) throw new RangeError(`not an ML-DSA key spec: ${spec}`);
  return p;
}

/** Expanded keys per seed buffer (deriving them costs more than a signature). */
const expanded = new WeakMap<Buffer, { publicKey: Uint8Array; secretKey: Uint8Array }>();

function keysOf(spec: string, seed: Buffer): { publicKey: Uint8Array; secretKey: Uint8Array } {
  let keys = expanded.get(seed);
  if (!keys) {
    if (seed.length !== SEED_BYTES) throw new RangeError('an ML-DSA seed is 32 bytes');
    keys = parameters(spec).impl.keygen(seed);
    expanded.set(seed, keys);
  }
  return keys;
}

/** The raw public key (FIPS 204 pkEncode). */
export function mlDsaPublicKey(spec: string, seed: Buffer): Buffer {
  return Buffer.from(keysOf(spec, seed).publicKey);
}

/** DER length octets for lengths below 65536 (every ML-DSA public key is). */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}

/** SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier { id-ml-dsa-N }, BIT STRING (0 unused bits) pk }. */
export function mlDsaSpki(spec: string, seed: Buffer): Buffer {
  const pk = mlDsaPublicKey(spec, seed);
  // 2.16.840.1.101.3.4.3.{17,18,19}: NIST's sigAlgs arc.
  const algorithm = Buffer.from([0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, parameters(spec).oid]);
  const bitString = Buffer.concat([Buffer.from([0x03]), derLength(pk.length + 1), Buffer.from([0x00]), pk]);
  const body = Buffer.concat([algorithm, bitString]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** OpenSSL's key objects per seed buffer: the private key from its seed-only PKCS#8 form, and its public key. */
const opensslKeys = new WeakMap<Buffer, { privateKey: KeyObject; publicKey: KeyObject }>();

function opensslKeysOf(spec: string, seed: Buffer): { privateKey: KeyObject; publicKey: KeyObject } {
  let keys = opensslKeys.get(seed);
  if (!keys) {
    if (seed.length !== SEED_BYTES) throw new RangeError('an ML-DSA seed is 32 bytes');
    // OneAsymmetricKey { version 0, AlgorithmIdentifier { id-ml-dsa-N }, privateKey OCTET STRING { seed [0] IMPLICIT OCTET STRING } }.
    const pkcs8 = Buffer.concat([
      Buffer.from([0x30, 0x34, 0x02, 0x01, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, parameters(spec).oid, 0x04, 0x22, 0x80, 0x20]),
      seed,
    ]);
    const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    keys = { privateKey, publicKey: createPublicKey(privateKey) };
    opensslKeys.set(seed, keys);
  }
  return keys;
}

export function mlDsaSign(spec: string, seed: Buffer, message: Buffer, externalMu: boolean): Buffer {
  const { impl } = parameters(spec);
  if (externalMu) return Buffer.from(impl.internal.sign(message, keysOf(spec, seed).secretKey, { externalMu: true }));
  // Pure ML-DSA with an empty context, hedged (OpenSSL's default: fresh randomness in every signature).
  return opensslSign(null, message, opensslKeysOf(spec, seed).privateKey);
}

/** False for any signature that does not verify, malformed ones included. */
export function mlDsaVerify(spec: string, seed: Buffer, message: Buffer, externalMu: boolean, signature: Buffer): boolean {
  const { impl } = parameters(spec);
  try {
    if (signature.length !== impl.lengths.signature) return false;
    if (externalMu) return impl.internal.verify(signature, message, keysOf(spec, seed).publicKey, { externalMu: true });
    return opensslVerify(null, message, opensslKeysOf(spec, seed).publicKey, signature);
  } catch {
    return false;
  }
}
