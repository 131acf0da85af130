import { ValidationException } from './errors.ts';

export type EncryptionContext = Record<string, string>;

/** Validate a wire encryption context: a flat map of strings. */
export function readEncryptionContext(value: unknown, field = 'EncryptionContext'): EncryptionContext {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ValidationException(`${field} must be a map of strings.`);
  // A null-prototype map: a key named "__proto__" is data to bind, not a prototype to set.
  const out: EncryptionContext = Object.create(null) as EncryptionContext;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new ValidationException(`${field} values must be strings; '${k}' is not.`);
    out[k] = v;
  }
  return out;
}

/**
 * The canonical byte form bound into a ciphertext as AAD: pairs sorted by key (UTF-8 byte order),
 * each key and value length-prefixed. Two contexts give the same bytes exactly when they are equal
 * as maps, whatever order the client sent them in (the Encryption SDK sorts on Decrypt only).
 */
export function canonicalEncryptionContext(ec: EncryptionContext): Buffer {
  const pairs = Object.entries(ec).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Buffer[] = [u32(pairs.length)];
  for (const [k, v] of pairs) parts.push(u32(k.length), k, u32(v.length), v);
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
