/**
 * What each KMS key spec is and allows (AWS's rules: CreateKey KeyUsage doc, key spec tables).
 * One place for every rule about specs, usages and algorithms.
 */
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT';

export interface KeySpecInfo {
  kind: 'symmetric' | 'rsa' | 'ec' | 'ed25519' | 'hmac' | 'mldsa';
  usages: readonly KeyUsage[];
  /** RSA modulus bits. */
  bits?: number;
  /** OpenSSL curve name. */
  curve?: string;
  /** HMAC key bytes and digest. */
  macBytes?: number;
  signing: readonly string[];
  encryption: readonly string[];
  mac: readonly string[];
  keyAgreement: readonly string[];
}

const RSA_SIGNING = ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'];
const RSA_ENCRYPTION = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];

const rsa = (bits: number): KeySpecInfo => ({ kind: 'rsa', bits, usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'], signing: RSA_SIGNING, encryption: RSA_ENCRYPTION, mac: [], keyAgreement: [] });
const ec = (curve: string, algorithm: string, agreement: boolean): KeySpecInfo => ({
  kind: 'ec',
  curve,
  usages: agreement ? ['SIGN_VERIFY', 'KEY_AGREEMENT'] : ['SIGN_VERIFY'],
  signing: [algorithm],
  encryption: [],
  mac: [],
  keyAgreement: agreement ? ['ECDH'] : [],
});
const mldsa = (): KeySpecInfo => ({ kind: 'mldsa', usages: ['SIGN_VERIFY'], signing: ['ML_DSA_SHAKE_256'], encryption: [], mac: [], keyAgreement: [] });
const hmac = (bits: number): KeySpecInfo => ({ kind: 'hmac', macBytes: bits / 8, usages: ['GENERATE_VERIFY_MAC'], signing: [], encryption: [], mac: [`HMAC_SHA_${bits}`], keyAgreement: [] });

export const KEY_SPECS: Readonly<Record<string, KeySpecInfo>> = {
  SYMMETRIC_DEFAULT: { kind: 'symmetric', usages: ['ENCRYPT_DECRYPT'], signing: [], encryption: ['SYMMETRIC_DEFAULT'], mac: [], keyAgreement: [] },
  RSA_2048: rsa(2048),
  RSA_3072: rsa(3072),
  RSA_4096: rsa(4096),
  ECC_NIST_P256: ec('prime256v1', 'ECDSA_SHA_256', true),
  ECC_NIST_P384: ec('secp384r1', 'ECDSA_SHA_384', true),
  ECC_NIST_P521: ec('secp521r1', 'ECDSA_SHA_512', true),
  ECC_SECG_P256K1: ec('secp256k1', 'ECDSA_SHA_256', false),
  ECC_NIST_EDWARDS25519: { kind: 'ed25519', usages: ['SIGN_VERIFY'], signing: ['ED25519_SHA_512'], encryption: [], mac: [], keyAgreement: [] },
  // ML-DSA (FIPS 204): sign and verify only, with ML_DSA_SHAKE_256.
  ML_DSA_44: mldsa(),
  ML_DSA_65: mldsa(),
  ML_DSA_87: mldsa(),
  HMAC_224: hmac(224),
  HMAC_256: hmac(256),
  HMAC_384: hmac(384),
  HMAC_512: hmac(512),
};

/** The largest plaintext RSA-OAEP can take: k - 2*hLen - 2 (AWS's published limits: 214/190, 342/318, 470/446). */
export function maxRsaPlaintext(bits: number, algorithm: string): number {
  const hashBytes = algorithm === 'RSAES_OAEP_SHA_1' ? 20 : 32;
  return bits / 8 - 2 * hashBytes - 2;
}

/** The hash a signing or MAC algorithm names. */
export function hashOf(algorithm: string): 'sha224' | 'sha256' | 'sha384' | 'sha512' {
  const m = /(224|256|384|512)$/.exec(algorithm);
  return `sha${m ? m[1] : '256'}` as 'sha224' | 'sha256' | 'sha384' | 'sha512';
}
