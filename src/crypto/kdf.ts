import { scrypt } from 'node:crypto';

/** scrypt parameters stored beside what they protect, so they can be raised later without breaking old files. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** About 128 MiB and roughly half a second here: a memory-hard cost for an offline passphrase guess. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

export function deriveKeyFromPassphrase(passphrase: string, salt: Uint8Array, params: ScryptParams, length = 32): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFKC'), salt, length, { ...params, maxmem: 128 * params.N * params.r * 2 + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}
