import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { hkdfSha256 } from '../crypto/hkdf.ts';

/**
 * Streamed object encryption. A stored blob (a whole object, or one multipart part) is a sequence of
 * packages, each up to PACKAGE_SIZE plaintext bytes sealed with AES-256-GCM and followed by its tag:
 *
 *   blob    = package_0 || package_1 || ... || package_(n-1)       (n >= 1; an empty body is one empty package)
 *   package = ciphertext (PACKAGE_SIZE bytes, the last one 0..PACKAGE_SIZE) || tag (16 bytes)
 *
 * The key of a blob is HKDF-SHA256(object key, salt, "trent:s3:packages:v1:" || part number), where the
 * 16-byte salt is random for every blob and kept in the metadata database (not in the blob), so a
 * rewritten part never reuses a key and a blob cannot be swapped for another one. Package i is sealed
 * with IV = 0x00000000 || uint64_be(i), unique under that key, and AAD = one byte, 1 for the last
 * package and 0 otherwise: reordering packages fails their IV, dropping the tail fails the last-package
 * mark, and a stretched or cut blob fails the size check made before reading.
 *
 * A Range read decrypts only the packages it touches.
 */

export const PACKAGE_SIZE = 64 * 1024;
export const TAG_BYTES = 16;
export const SALT_BYTES = 16;
const STORED_PACKAGE = PACKAGE_SIZE + TAG_BYTES;

/** A benchmark-only switch: packages are stored as plaintext (with zero tags) to measure what encryption costs. Never set it otherwise. */
export const BENCH_PLAINTEXT = process.env['TRENT_BENCH_S3_PLAINTEXT'] === '1';

export class PackageIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageIntegrityError';
  }
}

export function packageCount(plainSize: number): number {
  return Math.max(1, Math.ceil(plainSize / PACKAGE_SIZE));
}

/** Bytes on disk for a blob of `plainSize` plaintext bytes. */
export function storedSize(plainSize: number): number {
  return plainSize + packageCount(plainSize) * TAG_BYTES;
}

export function blobKey(objectKey: Uint8Array, salt: Uint8Array, partNumber: number): Buffer {
  return hkdfSha256(objectKey, salt, Buffer.from(`trent:s3:packages:v1:${partNumber}`), 32);
}

function iv(index: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(BigInt(index), 4);
  return b;
}

const LAST = Buffer.from([1]);
const NOT_LAST = Buffer.from([0]);

/** One stored package as a single buffer (ciphertext || tag), so the blob store writes whole packages. */
function sealPackage(key: Buffer, index: number, last: boolean, plain: Buffer): Buffer {
  const out = Buffer.allocUnsafe(plain.length + TAG_BYTES);
  if (BENCH_PLAINTEXT) {
    plain.copy(out);
    out.fill(0, plain.length);
    return out;
  }
  const c = createCipheriv('aes-256-gcm', key, iv(index), { authTagLength: TAG_BYTES });
  c.setAAD(last ? LAST : NOT_LAST);
  const n = c.update(plain).copy(out);
  c.final();
  c.getAuthTag().copy(out, n);
  return out;
}

function openPackage(key: Buffer, index: number, last: boolean, stored: Buffer): Buffer {
  if (stored.length < TAG_BYTES) throw new PackageIntegrityError(`package ${index} is truncated`);
  const body = stored.subarray(0, stored.length - TAG_BYTES);
  if (BENCH_PLAINTEXT) return Buffer.from(body);
  const d = createDecipheriv('aes-256-gcm', key, iv(index), { authTagLength: TAG_BYTES });
  d.setAAD(last ? LAST : NOT_LAST);
  d.setAuthTag(stored.subarray(stored.length - TAG_BYTES));
  try {
    const out = d.update(body);
    d.final();
    return out;
  } catch {
    throw new PackageIntegrityError(`package ${index} failed authentication`);
  }
}

/**
 * Encrypts a plaintext stream into packages. A full package is held back until more data arrives,
 * so that the last package (possibly full, possibly empty) is the one marked last.
 */
export class PackageEncryptor extends Transform {
  readonly #key: Buffer;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #index = 0;
  plainBytes = 0;

  constructor(key: Buffer) {
    super({ highWaterMark: 4 * STORED_PACKAGE });
    this.#key = key;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.plainBytes += chunk.length;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes > PACKAGE_SIZE) {
      let all = Buffer.concat(this.#pending, this.#pendingBytes);
      // Keep at least one byte back: the package that turns out to be the last must be marked so.
      while (all.length > PACKAGE_SIZE) {
        this.push(sealPackage(this.#key, this.#index++, false, all.subarray(0, PACKAGE_SIZE)));
        all = all.subarray(PACKAGE_SIZE);
      }
      this.#pending = [all];
      this.#pendingBytes = all.length;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    const rest = Buffer.concat(this.#pending, this.#pendingBytes);
    this.push(sealPackage(this.#key, this.#index++, true, rest));
    this.#pending = [];
    this.#key.fill(0);
    done();
  }
}

/** Where plaintext byte range [start, end] lives in a blob: the stored byte range to read and the packages it covers. */
export function storedRange(plainSize: number, start: number, end: number): { first: number; last: number; storedStart: number; storedEnd: number } {
  const first = Math.floor(start / PACKAGE_SIZE);
  const last = Math.floor(end / PACKAGE_SIZE);
  const lastStoredByte = Math.min(storedSize(plainSize), (last + 1) * STORED_PACKAGE) - 1;
  return { first, last, storedStart: first * STORED_PACKAGE, storedEnd: lastStoredByte };
}

/**
 * Decrypts stored packages [first..last] of a blob of `plainSize` bytes as they stream in, yielding
 * only plaintext bytes [start, end] (inclusive, relative to the blob). Any tampering throws
 * PackageIntegrityError before the affected bytes are yielded.
 */
export async function* decryptPackages(
  key: Buffer,
  stored: AsyncIterable<Buffer>,
  plainSize: number,
  start: number,
  end: number,
): AsyncGenerator<Buffer> {
  const { first, last } = storedRange(plainSize, start, end);
  const lastIndex = packageCount(plainSize) - 1;
  let index = first;
  let buf: Buffer[] = [];
  let bufBytes = 0;
  const emit = (plain: Buffer, i: number): Buffer => {
    const base = i * PACKAGE_SIZE;
    const from = Math.max(0, start - base);
    const to = Math.min(plain.length, end - base + 1);
    return plain.subarray(from, to);
  };
  const expected = (i: number): number => (i === lastIndex ? plainSize - i * PACKAGE_SIZE + TAG_BYTES : STORED_PACKAGE);
  try {
    for await (const chunk of stored) {
      buf.push(chunk);
      bufBytes += chunk.length;
      while (index <= last && bufBytes >= expected(index)) {
        const all = buf.length === 1 ? buf[0]! : Buffer.concat(buf, bufBytes);
        const want = expected(index);
        const plain = openPackage(key, index, index === lastIndex, all.subarray(0, want));
        const rest = all.subarray(want);
        buf = rest.length ? [rest] : [];
        bufBytes = rest.length;
        const out = emit(plain, index);
        index++;
        if (out.length) yield out;
      }
    }
    if (index <= last) throw new PackageIntegrityError(`the blob ends inside package ${index}`);
  } finally {
    key.fill(0);
  }
}
