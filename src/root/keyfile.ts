import { readFile, stat } from 'node:fs/promises';
import { createHmac } from 'node:crypto';
import { randomBytes } from '../crypto/random.ts';
import { AeadError, openFromBytes, sealToBytes, KEY_BYTES } from '../crypto/aead.ts';
import { DEFAULT_SCRYPT, deriveKeyFromPassphrase, type ScryptParams } from '../crypto/kdf.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { RootKeyError, RootUnwrapError, type RootOfTrust } from './root-of-trust.ts';

const FORMAT = 'trent-root-key';
const WRAP_VERSION = 0x01;
const SEAL_AAD = Buffer.from('trent-root-key-file-v1');

interface PlainFile {
  format: typeof FORMAT;
  version: 1;
  sealed: false;
  key: string;
}
interface SealedFile {
  format: typeof FORMAT;
  version: 1;
  sealed: true;
  kdf: 'scrypt';
  params: ScryptParams;
  salt: string;
  box: string;
}
type KeyFile = PlainFile | SealedFile;

/** Root of trust held in a file readable by its owner only, optionally sealed by a passphrase (scrypt, then AES-256-GCM). */
export class KeyFileRoot implements RootOfTrust {
  readonly kind = 'keyfile';
  readonly wrapPrefix = WRAP_VERSION;
  readonly keyCheckValue: string;
  #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
    // A one-way fingerprint under a fixed label: identifies the key without revealing it.
    this.keyCheckValue = createHmac('sha256', key).update('trent key check value').digest('hex').slice(0, 16);
  }

  /** Create a new key file. Fails if one exists: a root key is never silently replaced. */
  static async create(path: string, passphrase?: string): Promise<KeyFileRoot> {
    const key = randomBytes(KEY_BYTES);
    let file: KeyFile;
    if (passphrase) {
      const salt = randomBytes(16);
      const kek = await deriveKeyFromPassphrase(passphrase, salt, DEFAULT_SCRYPT);
      file = {
        format: FORMAT,
        version: 1,
        sealed: true,
        kdf: 'scrypt',
        params: DEFAULT_SCRYPT,
        salt: salt.toString('base64'),
        box: sealToBytes(kek, key, SEAL_AAD).toString('base64'),
      };
      kek.fill(0);
    } else {
      file = { format: FORMAT, version: 1, sealed: false, key: key.toString('base64') };
    }
    await writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n', 0o600, { exclusive: true });
    return new KeyFileRoot(key);
  }

  static async load(path: string, passphrase?: string): Promise<KeyFileRoot> {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      throw new RootKeyError(`root key file ${path} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
    }
    let file: KeyFile;
    try {
      file = JSON.parse(await readFile(path, 'utf8')) as KeyFile;
    } catch {
      throw new RootKeyError(`root key file ${path} is not valid JSON`);
    }
    if (file.format !== FORMAT || file.version !== 1) throw new RootKeyError(`root key file ${path} has an unknown format`);
    if (!file.sealed) {
      const key = Buffer.from(file.key, 'base64');
      if (key.length !== KEY_BYTES) throw new RootKeyError(`root key file ${path} holds a key of the wrong length`);
      return new KeyFileRoot(key);
    }
    if (!passphrase) throw new RootKeyError(`root key file ${path} is sealed: supply the passphrase (TRENT_ROOT_PASSPHRASE or --root-passphrase-file)`);
    const kek = await deriveKeyFromPassphrase(passphrase, Buffer.from(file.salt, 'base64'), file.params);
    try {
      return new KeyFileRoot(openFromBytes(kek, Buffer.from(file.box, 'base64'), SEAL_AAD));
    } catch (err) {
      if (err instanceof AeadError) throw new RootKeyError(`wrong passphrase for root key file ${path}`);
      throw err;
    } finally {
      kek.fill(0);
    }
  }

  async wrap(plaintext: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return Buffer.concat([Buffer.of(WRAP_VERSION), sealToBytes(this.#key, plaintext, aad)]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    if (wrapped.length < 1 || wrapped[0] !== WRAP_VERSION) throw new RootUnwrapError('unknown wrapped-key format');
    try {
      return openFromBytes(this.#key, wrapped.subarray(1), aad);
    } catch (err) {
      if (err instanceof AeadError) throw new RootUnwrapError();
      throw err;
    }
  }

  checkAvailable(): void {
    /* a key file in memory is always available */
  }

  async close(): Promise<void> {
    this.#key.fill(0);
  }
}
