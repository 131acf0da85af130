import { randomBytes, randomInt } from 'node:crypto';

export { randomBytes };

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Uniformly random string over an alphabet, from the CSPRNG (rejection sampling lives in randomInt). */
export function randomString(length: number, alphabet: string): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** AWS-style identifiers: AKIA..., AIDA..., with a base32 upper-case body. */
export function awsId(prefix: string, bodyLength = 16): string {
  return prefix + randomString(bodyLength, UPPER_ALNUM);
}

/** A 12-digit account id that does not start with 0. */
export function accountId(): string {
  return String(randomInt(1, 10)) + randomString(11, '0123456789');
}
