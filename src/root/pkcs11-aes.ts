import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** pkcs11js: the maintained Node binding of PKCS#11 v2.40 (graphene-pk11 is built on it). */
export const pkcs11 = require('pkcs11js') as typeof import('pkcs11js');
export type Pkcs11Library = InstanceType<typeof pkcs11.PKCS11>;
type Handle = Buffer;

/** The CKR_ code of a pkcs11js error ("CKR_PIN_INCORRECT: ..."), or the message of any other. */
export function pkcs11Code(err: unknown): string {
  return err instanceof Error ? err.message.split(':')[0]!.trim() : String(err);
}

/** CKM_AES_GCM parameters: the IV and AAD given, a 128-bit tag. */
export function gcmParams(iv: Buffer, aad: Buffer): import('pkcs11js').AesGCM {
  return { type: pkcs11.CK_PARAMS_AES_GCM, iv, aad, ivBits: iv.length * 8, tagBits: 128 };
}

/**
 * The template of an AES-256 token key that never leaves the token: private, sensitive, not extractable, and usable
 * for encryption and decryption only (no wrapping, signing or derivation).
 */
export function aesKeyTemplate(label: string, id?: Buffer): import('pkcs11js').Template {
  return [
    { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
    { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_AES },
    { type: pkcs11.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11.CKA_LABEL, value: label },
    ...(id ? [{ type: pkcs11.CKA_ID, value: id }] : []),
    { type: pkcs11.CKA_TOKEN, value: true },
    { type: pkcs11.CKA_PRIVATE, value: true },
    { type: pkcs11.CKA_SENSITIVE, value: true },
    { type: pkcs11.CKA_EXTRACTABLE, value: false },
    { type: pkcs11.CKA_ENCRYPT, value: true },
    { type: pkcs11.CKA_DECRYPT, value: true },
    { type: pkcs11.CKA_WRAP, value: false },
    { type: pkcs11.CKA_UNWRAP, value: false },
    { type: pkcs11.CKA_SIGN, value: false },
    { type: pkcs11.CKA_DERIVE, value: false },
  ];
}

/** The secret keys on the token with this label (at most two: enough to tell one from several). */
export function findSecretKeys(lib: Pkcs11Library, session: Handle, label: string): Handle[] {
  lib.C_FindObjectsInit(session, [
    { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
    { type: pkcs11.CKA_LABEL, value: label },
  ]);
  try {
    return lib.C_FindObjects(session, 2);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/**
 * Whether a key's value cannot leave the token: sensitive and not extractable; with `generatedInToken`, also never
 * extractable at any time (so it was made there, not imported).
 */
export function staysInToken(lib: Pkcs11Library, session: Handle, key: Handle, generatedInToken: boolean): boolean {
  const types = [{ type: pkcs11.CKA_EXTRACTABLE }, { type: pkcs11.CKA_SENSITIVE }, ...(generatedInToken ? [{ type: pkcs11.CKA_NEVER_EXTRACTABLE }] : [])];
  const flags = lib.C_GetAttributeValue(session, key, types).map((a) => Buffer.isBuffer(a.value) && a.value[0] === 1);
  return !flags[0] && flags[1]! && (!generatedInToken || flags[2]!);
}
