import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { RootOfTrust } from '../root/root-of-trust.ts';
import type { Database } from '../store/database.ts';

/** How long a digest signing key signs new digests before a new one is made (its public key stays listed). */
const KEY_LIFETIME_MS = 365 * 24 * 3600 * 1000;

export interface PublicKeyInfo {
  fingerprint: string;
  /** The RSA public key, DER-encoded PKCS#1 (RSAPublicKey), as CloudTrail's ListPublicKeys returns it. */
  publicDer: Buffer;
  validFrom: number;
  validTo: number;
}

export function signingKeyAad(fingerprint: string): Buffer {
  return Buffer.from(`trent:cloudtrail:digest-signing-key:${fingerprint}`);
}

/** CloudTrail's fingerprint of a digest public key: hex MD5 of its PKCS#1 DER. */
export function fingerprintOf(publicDer: Buffer): string {
  return createHash('md5').update(publicDer).digest('hex');
}

/**
 * The region's RSA-2048 key pairs that sign digest files (SHA256withRSA). Private keys are stored only
 * wrapped by the root of trust; public keys are what ListPublicKeys returns.
 */
export class DigestSigner {
  readonly #db: Database;
  readonly #root: RootOfTrust;
  readonly #region: string;
  #current: { fingerprint: string; key: KeyObject; validTo: number } | undefined;

  constructor(db: Database, root: RootOfTrust, region: string) {
    this.#db = db;
    this.#root = root;
    this.#region = region;
  }

  /** The key signing digests now, created when none is valid. */
  async current(now = Date.now()): Promise<{ fingerprint: string; key: KeyObject }> {
    this.#root.checkAvailable();
    if (this.#current && this.#current.validTo > now) return this.#current;
    const row = await this.#db.get<{ fingerprint: string; private_wrapped: Buffer; valid_to: number }>(
      'SELECT fingerprint, private_wrapped, valid_to FROM ct_signing_keys WHERE region = ? AND valid_from <= ? AND valid_to > ? ORDER BY valid_from DESC LIMIT 1',
      [this.#region, now, now],
    );
    if (row) {
      const der = await this.#root.unwrap(row.private_wrapped, signingKeyAad(row.fingerprint));
      try {
        this.#current = { fingerprint: row.fingerprint, key: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), validTo: Number(row.valid_to) };
      } finally {
        der.fill(0);
      }
      return this.#current;
    }
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    const publicDer = publicKey.export({ type: 'pkcs1', format: 'der' });
    const fingerprint = fingerprintOf(publicDer);
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    try {
      const wrapped = await this.#root.wrap(der, signingKeyAad(fingerprint));
      await this.#db.run('INSERT INTO ct_signing_keys (fingerprint, region, public_der, private_wrapped, valid_from, valid_to) VALUES (?, ?, ?, ?, ?, ?)', [
        fingerprint,
        this.#region,
        publicDer,
        wrapped,
        now,
        now + KEY_LIFETIME_MS,
      ]);
    } finally {
      der.fill(0);
    }
    this.#current = { fingerprint, key: privateKey, validTo: now + KEY_LIFETIME_MS };
    return this.#current;
  }

  /** Public keys valid at some point in [start, end]. */
  async publicKeys(start: number, end: number): Promise<PublicKeyInfo[]> {
    const rows = await this.#db.all<{ fingerprint: string; public_der: Buffer; valid_from: number; valid_to: number }>(
      'SELECT fingerprint, public_der, valid_from, valid_to FROM ct_signing_keys WHERE region = ? AND valid_from <= ? AND valid_to >= ? ORDER BY valid_from',
      [this.#region, end, start],
    );
    return rows.map((r) => ({ fingerprint: r.fingerprint, publicDer: Buffer.from(r.public_der), validFrom: Number(r.valid_from), validTo: Number(r.valid_to) }));
  }
}

/** CloudTrail's string to sign for a digest file. */
export function digestStringToSign(endTime: string, bucket: string, key: string, uncompressedDigest: Buffer, previousSignature: string | null): Buffer {
  const hash = createHash('sha256').update(uncompressedDigest).digest('hex');
  return Buffer.from(`${endTime}\n${bucket}/${key}\n${hash}\n${previousSignature ?? 'null'}`);
}

export function signDigest(key: KeyObject, toSign: Buffer): string {
  return sign('sha256', toSign, key).toString('hex');
}

export function verifyDigest(publicDer: Buffer, toSign: Buffer, signatureHex: string): boolean {
  if (!/^[0-9a-f]+$/i.test(signatureHex)) return false;
  const key = createPublicKey({ key: publicDer, format: 'der', type: 'pkcs1' });
  return verify('sha256', toSign, key, Buffer.from(signatureHex, 'hex'));
}
