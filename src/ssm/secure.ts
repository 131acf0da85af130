import type { CallContext } from '../server/service.ts';
import type { KmsServiceClient } from '../kms/service-client.ts';
import { AeadError, openFromBytes, sealToBytes } from '../crypto/aead.ts';
import { InvalidKeyId, kmsFailure } from './errors.ts';

/**
 * SecureString values, encrypted under KMS with the encryption context {"PARAMETER_ARN": <arn>} as
 * Parameter Store does. What is stored (and what GetParameter without WithDecryption returns, base64):
 *
 *   Standard tier: the KMS CiphertextBlob of the UTF-8 value (KMS Encrypt takes at most 4096 bytes,
 *   the Standard tier's limit).
 *
 *   Advanced tier (values up to 8 KB): an envelope, made with a KMS data key (GenerateDataKey, same
 *   encryption context):
 *
 *     byte 0        format tag, 0x01
 *     bytes 1-2     L, the length of the wrapped data key (unsigned, big-endian)
 *     bytes 3..3+L  the KMS CiphertextBlob of the 256-bit data key
 *     rest          AES-256-GCM of the value under the data key: IV (12) || ciphertext || tag (16),
 *                   with associated data "trent-ssm-advanced-v1" || 0x00 || the parameter ARN
 *
 * The plaintext data key lives only in memory for the call and is zeroed afterwards.
 */

export const SSM_CONTEXT_KEY = 'PARAMETER_ARN';
export const ENVELOPE_V1 = 0x01;
const AAD_LABEL = 'trent-ssm-advanced-v1';

export function encryptionContext(arn: string): Record<string, string> {
  return { [SSM_CONTEXT_KEY]: arn };
}

function aad(arn: string): Buffer {
  return Buffer.concat([Buffer.from(AAD_LABEL), Buffer.from([0]), Buffer.from(arn, 'utf8')]);
}

export function encodeEnvelope(wrappedKey: Buffer, sealed: Buffer): Buffer {
  if (wrappedKey.length > 0xffff) throw new RangeError('wrapped data key too long');
  const head = Buffer.alloc(3);
  head[0] = ENVELOPE_V1;
  head.writeUInt16BE(wrappedKey.length, 1);
  return Buffer.concat([head, wrappedKey, sealed]);
}

export function decodeEnvelope(blob: Buffer): { wrappedKey: Buffer; sealed: Buffer } {
  if (blob.length < 3 || blob[0] !== ENVELOPE_V1) throw new InvalidKeyId('The stored SecureString value is not in a format Trent can read.');
  const len = blob.readUInt16BE(1);
  if (blob.length < 3 + len) throw new InvalidKeyId('The stored SecureString value is truncated.');
  return { wrappedKey: blob.subarray(3, 3 + len), sealed: blob.subarray(3 + len) };
}

/** Encrypt a SecureString value for a version of tier `tier`; KMS failures come back as SSM reports them. */
export async function sealValue(kms: KmsServiceClient, ctx: CallContext, tier: 'Standard' | 'Advanced', keyId: string, arn: string, plaintext: Buffer): Promise<Buffer> {
  const ec = encryptionContext(arn);
  try {
    if (tier === 'Standard') return (await kms.encrypt(ctx, 'ssm', keyId, plaintext, ec)).ciphertext;
    const dk = await kms.generateDataKey(ctx, 'ssm', keyId, ec);
    try {
      return encodeEnvelope(dk.ciphertext, sealToBytes(dk.plaintext, plaintext, aad(arn)));
    } finally {
      dk.plaintext.fill(0);
    }
  } catch (err) {
    throw kmsFailure(err);
  }
}

/** Decrypt a stored SecureString value (the caller zeroes the result when done with it). */
export async function openValue(kms: KmsServiceClient, ctx: CallContext, tier: string, blob: Buffer, arn: string): Promise<Buffer> {
  const ec = encryptionContext(arn);
  try {
    if (tier !== 'Advanced') return (await kms.decrypt(ctx, 'ssm', blob, ec)).plaintext;
    const { wrappedKey, sealed } = decodeEnvelope(blob);
    const dk = await kms.decrypt(ctx, 'ssm', wrappedKey, ec);
    try {
      return openFromBytes(dk.plaintext, sealed, aad(arn));
    } catch (err) {
      if (err instanceof AeadError) throw new InvalidKeyId('The stored SecureString value failed its integrity check.');
      throw err;
    } finally {
      dk.plaintext.fill(0);
    }
  } catch (err) {
    throw kmsFailure(err);
  }
}
