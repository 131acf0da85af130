import { constants, privateEncrypt, publicDecrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from '../crypto/random.ts';
import type { KeySpecInfo } from './key-specs.ts';

/**
 * Signatures over a digest the caller computed (Sign/Verify with MessageType DIGEST). node:crypto signs
 * only what it hashes itself (crypto.sign with a null algorithm hashes again with the key's default
 * digest), so the part that must take the digest as given comes from a library:
 * - RSASSA-PKCS1-v1_5: OpenSSL's type-1 padding of DigestInfo || digest (RFC 8017 9.2).
 * - RSASSA-PSS: node-forge's EMSA-PSS encoding (RFC 8017 9.1, salt as long as the digest, MGF1 with
 *   the same hash), then OpenSSL's raw RSA private-key operation (blinded, constant time).
 * - ECDSA: @noble/curves (audited), hedged RFC 6979 nonces, DER signatures as KMS returns them.
 * Every signature verifies with OpenSSL against the message the digest was taken of.
 */

// DER DigestInfo prefixes (RFC 8017 section 9.2, note 1): what PKCS#1 v1.5 signs before the digest.
const DIGEST_INFO: Record<string, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

const CURVES = { prime256v1: p256, secp384r1: p384, secp521r1: p521, secp256k1 } as const;

function curveOf(spec: KeySpecInfo) {
  const curve = CURVES[spec.curve as keyof typeof CURVES];
  if (!curve) throw new RangeError(`no digest signing for curve ${spec.curve}`);
  return curve;
}

const b64url = (s: string | undefined): Uint8Array => {
  if (!s) throw new RangeError('incomplete EC key');
  return Buffer.from(s, 'base64url');
};

/** forge's binary strings, to and from bytes. */
const binary = (b: Uint8Array): string => Buffer.from(b).toString('binary');

function pss(hash: 'sha256' | 'sha384' | 'sha512') {
  const md = () => forge.md[hash].create();
  return forge.pss.create({
    md: md(),
    mgf: forge.mgf.mgf1.create(md()),
    saltLength: md().digestLength,
    // The salt comes from node:crypto's CSPRNG rather than forge's own generator.
    prng: { getBytesSync: (n: number) => binary(randomBytes(n)) },
  });
}

function modulusBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (!bits) throw new RangeError('not an RSA key');
  return bits;
}

export function signDigest(spec: KeySpecInfo, privateKey: KeyObject, algorithm: string, hash: 'sha256' | 'sha384' | 'sha512', digest: Buffer): Buffer {
  if (spec.kind === 'rsa' && algorithm.startsWith('RSASSA_PKCS1_V1_5')) {
    return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[hash]!, digest]));
  }
  if (spec.kind === 'rsa' && algorithm.startsWith('RSASSA_PSS')) {
    const bits = modulusBits(privateKey);
    const encoded = Buffer.from(pss(hash).encode({ digest: () => forge.util.createBuffer(binary(digest)) } as unknown as forge.md.MessageDigest, bits), 'binary');
    // EM is ceil((modBits - 1) / 8) bytes: one short of the modulus when modBits is 1 mod 8, never for KMS's sizes.
    const k = Math.ceil(bits / 8);
    const block = encoded.length === k ? encoded : Buffer.concat([Buffer.alloc(k - encoded.length), encoded]);
    return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, block);
  }
  if (spec.kind === 'ec') {
    const d = b64url(privateKey.export({ format: 'jwk' }).d);
    try {
      return Buffer.from(curveOf(spec).sign(digest, d, { prehash: false, format: 'der', extraEntropy: true }));
    } finally {
      d.fill(0);
    }
  }
  throw new RangeError(`no digest signing for ${spec.kind} ${algorithm}`);
}

/** False for any signature that does not verify, malformed ones included. */
export function verifyDigest(spec: KeySpecInfo, publicKey: KeyObject, algorithm: string, hash: 'sha256' | 'sha384' | 'sha512', digest: Buffer, signature: Buffer): boolean {
  try {
    if (spec.kind === 'rsa' && algorithm.startsWith('RSASSA_PKCS1_V1_5')) {
      const expected = Buffer.concat([DIGEST_INFO[hash]!, digest]);
      const recovered = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      return recovered.length === expected.length && timingSafeEqual(recovered, expected);
    }
    if (spec.kind === 'rsa' && algorithm.startsWith('RSASSA_PSS')) {
      const bits = modulusBits(publicKey);
      if (signature.length !== Math.ceil(bits / 8)) return false;
      const encoded = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
      return pss(hash).verify(binary(digest), binary(encoded), bits);
    }
    if (spec.kind === 'ec') {
      const jwk = publicKey.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.from([0x04]), b64url(jwk.x), b64url(jwk.y)]);
      // lowS: false: OpenSSL and AWS KMS make signatures with either half of s.
      return curveOf(spec).verify(signature, digest, point, { prehash: false, format: 'der', lowS: false });
    }
  } catch {
    return false;
  }
  throw new RangeError(`no digest verification for ${spec.kind} ${algorithm}`);
}
