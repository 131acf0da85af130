import { createHash } from 'node:crypto';

/**
 * What both sides of the External Key Store (XKS) Proxy API share: the path layout, the error names and their
 * HTTP statuses, the Ciphertext Data Integrity Value and the AAD framing an AES-GCM proxy uses. Trent speaks
 * the API as a client (xks-client.ts, a KMS key in an external key store) and as a proxy (xks-proxy.ts).
 */

/** The SigV4 service name of every XKS proxy request. */
export const XKS_SIGNING_SERVICE = 'kms-xks-proxy';
/** Every XKS proxy path ends so (API version 1). */
export const XKS_API_SUFFIX = '/kms/xks/v1';
/** The AES-GCM encryption the API offers (version 1 knows no other). */
export const XKS_ALGORITHM = 'AES_GCM';
export const XKS_CDIV_ALGORITHM = 'SHA_256';
/** Sizes the API requires every proxy to accept. */
export const XKS_MAX_PLAINTEXT = 4300;
export const XKS_MAX_AAD = 8192;
/** External key ids: 1 to 128 letters, digits, '-', '_' and '.'. */
export const XKS_KEY_ID = /^[a-zA-Z0-9._-]{1,128}$/;

/** The proxy's error names and the HTTP status each comes with. */
export const XKS_ERRORS = {
  ValidationException: 400,
  InvalidStateException: 400,
  InvalidCiphertextException: 400,
  InvalidKeyUsageException: 400,
  AuthenticationFailedException: 401,
  AccessDeniedException: 403,
  KeyNotFoundException: 404,
  InvalidUriPathException: 404,
  ThrottlingException: 429,
  InternalException: 500,
  UnsupportedOperationException: 501,
  DependencyTimeoutException: 503,
} as const;
export type XksErrorName = keyof typeof XKS_ERRORS;

export function isXksErrorName(name: unknown): name is XksErrorName {
  return typeof name === 'string' && Object.hasOwn(XKS_ERRORS, name);
}

/**
 * The Ciphertext Data Integrity Value: base64 SHA-256 over the request's AAD and the response's ciphertext
 * metadata, IV, ciphertext and tag, concatenated without lengths (an absent field counts as empty).
 */
export function ciphertextDataIntegrityValue(parts: { aad?: Uint8Array | undefined; metadata?: Uint8Array | undefined; iv: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array }): string {
  const h = createHash('sha256');
  if (parts.aad) h.update(parts.aad);
  if (parts.metadata) h.update(parts.metadata);
  return h.update(parts.iv).update(parts.ciphertext).update(parts.tag).digest('base64');
}

/**
 * The AAD an AES-GCM proxy feeds its key manager: the 2-byte big-endian length of the request's AAD, the AAD,
 * the 1-byte length of the ciphertext metadata and the metadata. The lengths keep metadata passed off as AAD
 * (or the other way round) from decrypting.
 */
export function gcmAadFor(aad: Uint8Array | undefined, metadata: Uint8Array | undefined): Buffer {
  const a = aad ?? Buffer.alloc(0);
  const m = metadata ?? Buffer.alloc(0);
  if (a.length > 0xffff || m.length > 0xff) throw new RangeError('AAD or ciphertext metadata too long');
  const out = Buffer.alloc(2 + a.length + 1 + m.length);
  out.writeUInt16BE(a.length, 0);
  out.set(a, 2);
  out[2 + a.length] = m.length;
  out.set(m, 3 + a.length);
  return out;
}

/** Strict base64 (the padded, standard alphabet): undefined for anything else. */
export function decodeBase64(v: unknown): Buffer | undefined {
  if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  return Buffer.from(v, 'base64');
}
