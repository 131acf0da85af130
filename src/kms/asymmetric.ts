import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPair,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { randomBytes } from '../crypto/random.ts';
import { hashOf, KEY_SPECS, type KeySpecInfo } from './key-specs.ts';
import { signDigest, verifyDigest } from './prehashed.ts';
import { mlDsaSign, mlDsaSpki, mlDsaVerify } from './ml-dsa.ts';

/**
 * Asymmetric and HMAC key material and its operations, all through node:crypto (OpenSSL). Private keys
 * are kept as PKCS#8 DER (wrapped by the root of trust like any backing key); HMAC keys as raw bytes.
 */
/** Key generation off the event loop (an RSA-4096 key takes seconds). */
export function generateMaterialAsync(spec: KeySpecInfo): Promise<Buffer> {
  if (spec.kind !== 'rsa' && spec.kind !== 'ec' && spec.kind !== 'ed25519') return Promise.resolve(generateMaterial(spec));
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _pub: unknown, priv: Buffer) => (err ? reject(err) : resolve(priv));
    const enc = { privateKeyEncoding: { type: 'pkcs8' as const, format: 'der' as const }, publicKeyEncoding: { type: 'spki' as const, format: 'der' as const } };
    if (spec.kind === 'rsa') generateKeyPair('rsa', { modulusLength: spec.bits!, publicExponent: 65537, ...enc }, done);
    else if (spec.kind === 'ec') generateKeyPair('ec', { namedCurve: spec.curve!, ...enc }, done);
    else generateKeyPair('ed25519', enc, done);
  });
}

export function generateMaterial(spec: KeySpecInfo): Buffer {
  switch (spec.kind) {
    case 'rsa':
      return generateKeyPairSync('rsa', { modulusLength: spec.bits!, publicExponent: 65537 }).privateKey.export({ type: 'pkcs8', format: 'der' });
    case 'ec':
      return generateKeyPairSync('ec', { namedCurve: spec.curve! }).privateKey.export({ type: 'pkcs8', format: 'der' });
    case 'ed25519':
      return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' });
    case 'hmac':
      return randomBytes(spec.macBytes!);
    case 'mldsa':
      // The 32-byte seed FIPS 204's key generation starts from.
      return randomBytes(32);
    case 'symmetric':
      return randomBytes(32);
  }
}

/** Parsing PEM/DER on every call costs a quarter of RSA signing's speed: KeyObjects are kept, by material. */
const keyObjects = new WeakMap<Buffer, { privateKey: KeyObject; publicKey: KeyObject }>();

export function keyPair(material: Buffer): { privateKey: KeyObject; publicKey: KeyObject } {
  let pair = keyObjects.get(material);
  if (!pair) {
    const privateKey = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
    pair = { privateKey, publicKey: createPublicKey(privateKey) };
    keyObjects.set(material, pair);
  }
  return pair;
}

export function publicKeyDer(material: Buffer): Buffer {
  return keyPair(material).publicKey.export({ type: 'spki', format: 'der' });
}

/** GetPublicKey's SubjectPublicKeyInfo for a key of this spec. */
export function publicKeyFor(keySpec: string, spec: KeySpecInfo, material: Buffer): Buffer {
  return spec.kind === 'mldsa' ? mlDsaSpki(keySpec, material) : publicKeyDer(material);
}

function signOptions(spec: KeySpecInfo, algorithm: string, key: KeyObject): Parameters<typeof sign>[2] {
  if (spec.kind === 'rsa') {
    const pss = algorithm.startsWith('RSASSA_PSS');
    return pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : { key, padding: constants.RSA_PKCS1_PADDING };
  }
  // KMS's ECDSA signatures are DER-encoded (as OpenSSL's default).
  return { key, dsaEncoding: 'der' };
}

/**
 * Sign a RAW message (hashed here, by OpenSSL) or a DIGEST (signed as given: prehashed.ts). For ML-DSA keys
 * (`keySpec` names the parameter set) `digest` means EXTERNAL_MU: the message is the 64-byte mu.
 */
export function signMessage(spec: KeySpecInfo, material: Buffer, algorithm: string, message: Buffer, digest: boolean, keySpec = ''): Buffer {
  if (spec.kind === 'mldsa') return mlDsaSign(keySpec, material, message, digest);
  const { privateKey } = keyPair(material);
  if (spec.kind === 'ed25519') return sign(null, message, privateKey);
  const hash = hashOf(algorithm) as 'sha256' | 'sha384' | 'sha512';
  if (!digest) return sign(hash, message, signOptions(spec, algorithm, privateKey));
  return signDigest(spec, privateKey, algorithm, hash, message);
}

export function verifyMessage(spec: KeySpecInfo, material: Buffer, algorithm: string, message: Buffer, digest: boolean, signature: Buffer, keySpec = ''): boolean {
  if (spec.kind === 'mldsa') return mlDsaVerify(keySpec, material, message, digest, signature);
  const { publicKey } = keyPair(material);
  const hash = hashOf(algorithm) as 'sha256' | 'sha384' | 'sha512';
  if (digest && spec.kind !== 'ed25519') return verifyDigest(spec, publicKey, algorithm, hash, message, signature);
  try {
    if (spec.kind === 'ed25519') return verify(null, message, publicKey, signature);
    return verify(hash, message, signOptions(spec, algorithm, publicKey) as Parameters<typeof verify>[2], signature);
  } catch {
    return false;
  }
}

export function rsaEncrypt(material: Buffer, algorithm: string, plaintext: Buffer): Buffer {
  return publicEncrypt({ key: keyPair(material).publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' }, plaintext);
}

/** Throws on any malformed or foreign ciphertext (OAEP decoding errors). */
export function rsaDecrypt(material: Buffer, algorithm: string, ciphertext: Buffer): Buffer {
  return privateDecrypt({ key: keyPair(material).privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' }, ciphertext);
}

export function mac(material: Buffer, algorithm: string, message: Buffer): Buffer {
  return createHmac(hashOf(algorithm), material).update(message).digest();
}

export function macEquals(material: Buffer, algorithm: string, message: Buffer, candidate: Buffer): boolean {
  const expected = mac(material, algorithm, message);
  return expected.length === candidate.length && timingSafeEqual(expected, candidate);
}

/** ECDH with the peer's SubjectPublicKeyInfo; throws if it is malformed or on another curve. */
export function deriveShared(material: Buffer, peerSpki: Buffer): Buffer {
  const peer = createPublicKey({ key: peerSpki, format: 'der', type: 'spki' });
  const own = keyPair(material);
  if (peer.asymmetricKeyType !== 'ec' || peer.asymmetricKeyDetails?.namedCurve !== own.privateKey.asymmetricKeyDetails?.namedCurve) throw new RangeError('curve mismatch');
  return diffieHellman({ privateKey: own.privateKey, publicKey: peer });
}

/** A data key pair for GenerateDataKeyPair: the private key as PKCS#8 DER, the public key as SPKI DER. */
export function dataKeyPair(keyPairSpec: string): { privateKey: Buffer; publicKey: Buffer } {
  const spec = KEY_SPECS[keyPairSpec];
  if (!spec || (spec.kind !== 'rsa' && spec.kind !== 'ec' && spec.kind !== 'ed25519')) throw new RangeError(`not a key pair spec: ${keyPairSpec}`);
  const privateKey = generateMaterial(spec);
  return { privateKey, publicKey: publicKeyDer(privateKey) };
}

export function digestLength(algorithm: string): number {
  return createHash(hashOf(algorithm)).digest().length;
}
