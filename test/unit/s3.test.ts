import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, hkdfSync, randomBytes, randomInt } from 'node:crypto';
import { appendFile, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Rng } from '../helpers/rng.ts';
import { removeDir, tempDir } from '../helpers/trent.ts';
import {
  blobKey,
  decryptPackages,
  PACKAGE_SIZE,
  PackageEncryptor,
  PackageIntegrityError,
  packageCount,
  SALT_BYTES,
  storedRange,
  storedSize,
  TAG_BYTES,
} from '../../src/s3/packages.ts';
import { BodyLimitExceeded, readSegments, writeBlob, type Segment } from '../../src/s3/objects.ts';
import { addressOf, route, type S3Route } from '../../src/s3/routing.ts';
import { parseCustomerKey, parseSseHeaders } from '../../src/s3/sse.ts';
import { parseRange, writeConditions } from '../../src/s3/preconditions.ts';
import type { ObjectRecord } from '../../src/s3/objects.ts';
import { FsBlobStore } from '../../src/store/fs-blob-store.ts';
import { AwsError } from '../../src/wire/errors.ts';

const PS = PACKAGE_SIZE;
/** One full package on disk: ciphertext and tag. */
const STORED = PACKAGE_SIZE + TAG_BYTES;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function fuzzSeed(): number {
  const env = process.env['S3_FUZZ_SEED'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`S3_FUZZ_SEED must be an integer 0..4294967295, not ${env}`);
    return n;
  }
  return randomInt(0, 0xffffffff);
}

/** A seeded generator for one test, its seed printed so that a failure replays. */
function seeded(t: { diagnostic(message: string): void }): Rng {
  const seed = fuzzSeed();
  t.diagnostic(`seed ${seed} (replay with S3_FUZZ_SEED=${seed})`);
  return new Rng(seed);
}

/** Cut `buf` into chunks of random sizes (tiny, around a package, several packages), with some empty ones. */
function chunksOf(buf: Buffer, rng: Rng): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const kind = rng.int(10);
    if (kind === 0) out.push(Buffer.alloc(0));
    const n = kind < 4 ? rng.range(1, 64) : kind < 8 ? rng.range(1, PS + 2 * TAG_BYTES) : rng.range(1, 3 * PS);
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  if (rng.int(4) === 0) out.push(Buffer.alloc(0));
  return out;
}

async function* feed(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

/** Encrypt `plain` through a PackageEncryptor, fed in random chunks. The key is copied: the encryptor zeroes its own. */
async function encrypt(key: Buffer, plain: Buffer, rng: Rng): Promise<{ stored: Buffer; plainBytes: number }> {
  const enc = new PackageEncryptor(Buffer.from(key));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunksOf(plain, rng)), enc, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return { stored: Buffer.concat(out), plainBytes: enc.plainBytes };
}

/** Run decryptPackages to its end or first error, keeping what it yielded before the error. */
async function drain(gen: AsyncIterable<Buffer>): Promise<{ out: Buffer; err: unknown }> {
  const out: Buffer[] = [];
  try {
    for await (const c of gen) out.push(c);
  } catch (err) {
    return { out: Buffer.concat(out), err };
  }
  return { out: Buffer.concat(out), err: undefined };
}

/** Decrypt plaintext [start, end] from `stored` (the bytes storedRange names), fed in random chunks. */
async function decrypt(key: Buffer, stored: Buffer, plainSize: number, start: number, end: number, rng: Rng): Promise<Buffer> {
  const { out, err } = await drain(decryptPackages(Buffer.from(key), feed(chunksOf(stored, rng)), plainSize, start, end));
  if (err !== undefined) throw err;
  return out;
}

function assertIntegrityError(err: unknown, message: string): void {
  assert.ok(err !== undefined, `${message}: expected PackageIntegrityError, nothing was thrown`);
  assert.ok(err instanceof PackageIntegrityError, `${message}: expected PackageIntegrityError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
}

/** The whole blob decrypted (as a full-object GET would): must fail, and nothing of the damaged package may come out first. */
async function assertTamperedFull(key: Buffer, stored: Buffer, plainSize: number, plain: Buffer, firstBad: number, rng: Rng, message: string): Promise<void> {
  const end = Math.max(0, plainSize - 1);
  const { out, err } = await drain(decryptPackages(Buffer.from(key), feed(chunksOf(stored, rng)), plainSize, 0, end));
  assertIntegrityError(err, message);
  const good = Math.min(plain.length, firstBad * PS);
  assert.ok(out.length <= good, `${message}: ${out.length} bytes were yielded, but only ${good} precede the damaged package ${firstBad}`);
  assert.ok(out.equals(plain.subarray(0, out.length)), `${message}: what was yielded before the failure is not the plaintext`);
}

function flipBit(buf: Buffer, offset: number, bit: number): Buffer {
  const b = Buffer.from(buf);
  b[offset] = b[offset]! ^ (1 << bit);
  return b;
}

/** Package i of a stored blob (ciphertext and tag). */
function pkg(stored: Buffer, i: number): Buffer {
  return stored.subarray(i * STORED, Math.min(stored.length, (i + 1) * STORED));
}

/** The range of stored bytes [storedStart, storedEnd] holding plaintext [start, end], worked out from the format description. */
function expectedStoredRange(size: number, start: number, end: number): { storedStart: number; storedEnd: number } {
  const first = Math.floor(start / PS);
  const last = Math.floor(end / PS);
  const lastIndex = Math.max(1, Math.ceil(size / PS)) - 1;
  const storedEnd = last === lastIndex ? size + (lastIndex + 1) * TAG_BYTES - 1 : (last + 1) * STORED - 1;
  return { storedStart: first * STORED, storedEnd };
}

/** Interesting [start, end] pairs for an object of `size` bytes: package (or other) boundaries, plus random ones. */
function ranges(size: number, boundaries: number[], rng: Rng, randomCount: number): Array<[number, number]> {
  const points = new Set<number>();
  for (const b of [0, size - 1, ...boundaries]) for (const d of [-1, 0, 1]) if (b + d >= 0 && b + d < size) points.add(b + d);
  const sorted = [...points].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (const s of sorted) for (const e of sorted) if (e >= s) out.push([s, e]);
  for (let i = 0; i < randomCount; i++) {
    const s = rng.int(size);
    const e = rng.int(4) === 0 ? Math.min(size - 1, s + rng.int(64)) : rng.range(s, size - 1);
    out.push([s, e]);
  }
  return out;
}

function packageBoundaries(size: number): number[] {
  const out: number[] = [];
  for (let b = PS; b < size; b += PS) out.push(b);
  return out;
}

// ---------------------------------------------------------------------------------------------
// packages.ts: sizes and round trips
// ---------------------------------------------------------------------------------------------

test('packageCount and storedSize: one tag per package, an empty body is one empty package', () => {
  const cases: Array<[number, number]> = [
    [0, 1],
    [1, 1],
    [PS - 1, 1],
    [PS, 1],
    [PS + 1, 2],
    [2 * PS, 2],
    [3 * PS, 3],
    [3 * PS + 1, 4],
  ];
  for (const [size, count] of cases) {
    assert.equal(packageCount(size), count, `packageCount(${size})`);
    assert.equal(storedSize(size), size + count * TAG_BYTES, `storedSize(${size})`);
  }
});

test('PackageEncryptor + decryptPackages round trip edge and random sizes, fed in random chunks', async (t) => {
  const rng = seeded(t);
  const objectKey = rng.bytes(32);
  const sizes = [0, 1, 15, 16, 17, PS - 1, PS, PS + 1, 2 * PS - 1, 2 * PS, 2 * PS + 1, 3 * PS];
  for (let i = 0; i < 12; i++) sizes.push(rng.range(0, 5 * PS));
  for (const size of sizes) {
    const salt = rng.bytes(SALT_BYTES);
    const part = rng.range(0, 10000);
    const key = blobKey(objectKey, salt, part);
    const plain = rng.bytes(size);
    const { stored, plainBytes } = await encrypt(key, plain, rng);
    assert.equal(plainBytes, size, `size ${size}: the encryptor counts the plaintext bytes it saw`);
    assert.equal(stored.length, storedSize(size), `size ${size}: the encryptor's output is storedSize() bytes`);
    const back = await decrypt(key, stored, size, 0, Math.max(0, size - 1), rng);
    assert.ok(back.equals(plain), `size ${size}: the whole blob decrypts to the plaintext`);
  }
});

test('the stored format is the documented one: HKDF key, IV 0^4 || be64(i), AAD 1 on the last package only', async (t) => {
  const rng = seeded(t);
  for (const size of [0, PS, 2 * PS + 5]) {
    const objectKey = rng.bytes(32);
    const salt = rng.bytes(SALT_BYTES);
    const part = rng.range(1, 10000);
    const key = Buffer.from(hkdfSync('sha256', objectKey, salt, Buffer.from(`trent:s3:packages:v1:${part}`), 32));
    assert.ok(blobKey(objectKey, salt, part).equals(key), `size ${size}: blobKey is HKDF-SHA256(object key, salt, "trent:s3:packages:v1:" || part)`);
    const plain = rng.bytes(size);
    const { stored } = await encrypt(key, plain, rng);
    const n = packageCount(size);
    const opened: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const p = pkg(stored, i);
      const iv = Buffer.alloc(12);
      iv.writeBigUInt64BE(BigInt(i), 4);
      const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      d.setAAD(Buffer.from([i === n - 1 ? 1 : 0]));
      d.setAuthTag(p.subarray(p.length - TAG_BYTES));
      opened.push(d.update(p.subarray(0, p.length - TAG_BYTES)));
      assert.doesNotThrow(() => d.final(), `size ${size}: package ${i} of ${n} opens as documented`);
    }
    assert.ok(Buffer.concat(opened).equals(plain), `size ${size}: the packages hold the plaintext in order`);
  }
});

test('every Range decrypts from exactly the stored range storedRange names', async (t) => {
  const rng = seeded(t);
  const objectKey = rng.bytes(32);
  const sizes = [1, PS - 1, PS, PS + 1, 3 * PS, 3 * PS + 7, rng.range(2, 5 * PS)];
  for (const size of sizes) {
    const key = blobKey(objectKey, rng.bytes(SALT_BYTES), 1);
    const plain = rng.bytes(size);
    const { stored } = await encrypt(key, plain, rng);
    for (const [start, end] of ranges(size, packageBoundaries(size), rng, 60)) {
      const what = `size ${size}, range ${start}-${end}`;
      const r = storedRange(size, start, end);
      const want = expectedStoredRange(size, start, end);
      assert.equal(r.first, Math.floor(start / PS), `${what}: first package`);
      assert.equal(r.last, Math.floor(end / PS), `${what}: last package`);
      assert.equal(r.storedStart, want.storedStart, `${what}: stored start`);
      assert.equal(r.storedEnd, want.storedEnd, `${what}: stored end`);
      assert.ok(r.storedEnd < stored.length, `${what}: the stored range lies inside the blob`);
      const slice = stored.subarray(r.storedStart, r.storedEnd + 1);
      let consumed = 0;
      const counted = async function* (): AsyncGenerator<Buffer> {
        for (const c of chunksOf(slice, rng)) {
          consumed += c.length;
          yield c;
        }
      };
      const { out, err } = await drain(decryptPackages(Buffer.from(key), counted(), size, start, end));
      assert.equal(err, undefined, `${what}: decrypts without error (${(err as Error | undefined)?.message})`);
      assert.ok(out.equals(plain.subarray(start, end + 1)), `${what}: yields exactly the plaintext range`);
      assert.equal(consumed, slice.length, `${what}: the whole stored range was read`);
      // The whole of that range is needed: one byte short fails.
      const short = await drain(decryptPackages(Buffer.from(key), feed([slice.subarray(0, slice.length - 1)]), size, start, end));
      assertIntegrityError(short.err, `${what}: stored range one byte short`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// packages.ts: tampering
// ---------------------------------------------------------------------------------------------

test('a flipped bit anywhere in any package fails that package, and nothing of it is yielded', async (t) => {
  const rng = seeded(t);
  for (const size of [0, PS, 3 * PS + 100]) {
    const key = blobKey(rng.bytes(32), rng.bytes(SALT_BYTES), 1);
    const plain = rng.bytes(size);
    const { stored } = await encrypt(key, plain, rng);
    const n = packageCount(size);
    for (let i = 0; i < n; i++) {
      const p = pkg(stored, i);
      const base = i * STORED;
      // First ciphertext byte, last ciphertext byte, first and last tag bytes, and a few random ones.
      const offsets = new Set<number>([p.length - 1, p.length - TAG_BYTES]);
      if (p.length > TAG_BYTES) offsets.add(0).add(p.length - TAG_BYTES - 1);
      for (let k = 0; k < 4; k++) offsets.add(rng.int(p.length));
      for (const off of offsets) {
        const bad = flipBit(stored, base + off, rng.int(8));
        const what = `size ${size}, package ${i}, byte ${off}`;
        await assertTamperedFull(key, bad, size, plain, i, rng, what);
        if (size > 0) {
          // A Range inside that package alone fails too.
          const start = i * PS + rng.int(Math.min(PS, size - i * PS));
          const end = Math.min(size - 1, i * PS + PS - 1);
          const r = storedRange(size, start, end);
          const { out, err } = await drain(decryptPackages(Buffer.from(key), feed([bad.subarray(r.storedStart, r.storedEnd + 1)]), size, start, end));
          assertIntegrityError(err, `${what}: range ${start}-${end}`);
          assert.equal(out.length, 0, `${what}: range ${start}-${end} yields nothing of the damaged package`);
        }
      }
    }
  }
});

test('swapped packages, or a package from another blob, fail', async (t) => {
  const rng = seeded(t);
  const objectKey = rng.bytes(32);
  const size = 3 * PS + 100;
  const plain = rng.bytes(size);
  const key = blobKey(objectKey, rng.bytes(SALT_BYTES), 1);
  const { stored } = await encrypt(key, plain, rng);
  const parts = [0, 1, 2, 3].map((i) => pkg(stored, i));
  const swapped01 = Buffer.concat([parts[1]!, parts[0]!, parts[2]!, parts[3]!]);
  await assertTamperedFull(key, swapped01, size, plain, 0, rng, 'packages 0 and 1 swapped');
  const swapped12 = Buffer.concat([parts[0]!, parts[2]!, parts[1]!, parts[3]!]);
  await assertTamperedFull(key, swapped12, size, plain, 1, rng, 'packages 1 and 2 swapped');
  // Two full packages swapped while the last (short) one moves: lengths no longer line up either.
  const rotated = Buffer.concat([parts[0]!, parts[1]!, parts[3]!, parts[2]!]);
  await assertTamperedFull(key, rotated, size, plain, 2, rng, 'packages 2 and 3 swapped');
  // The same object key and plaintext under another salt: its packages do not fit this blob.
  const other = await encrypt(blobKey(objectKey, rng.bytes(SALT_BYTES), 1), plain, rng);
  for (let i = 0; i < 4; i++) {
    const mixed = Buffer.concat(parts.map((p, j) => (j === i ? pkg(other.stored, i) : p)));
    await assertTamperedFull(key, mixed, size, plain, i, rng, `package ${i} taken from a blob with another salt`);
  }
});

test('a blob without its last package fails: the one before it was not sealed as the last', async (t) => {
  const rng = seeded(t);
  for (const size of [2 * PS, 3 * PS, 3 * PS + 100]) {
    const key = blobKey(rng.bytes(32), rng.bytes(SALT_BYTES), 1);
    const plain = rng.bytes(size);
    const { stored } = await encrypt(key, plain, rng);
    const n = packageCount(size);
    const dropped = stored.subarray(0, (n - 1) * STORED);
    const claimed = (n - 1) * PS;
    // Metadata that agrees with the shortened blob: the new last package fails its last-package mark.
    await assertTamperedFull(key, dropped, claimed, plain, n - 2, rng, `size ${size} cut to ${claimed} bytes`);
    const tail = storedRange(claimed, claimed - 1, claimed - 1);
    const { err } = await drain(decryptPackages(Buffer.from(key), feed([dropped.subarray(tail.storedStart, tail.storedEnd + 1)]), claimed, claimed - 1, claimed - 1));
    assertIntegrityError(err, `size ${size} cut to ${claimed} bytes: the last byte alone`);
    // Metadata that still says the original size: the blob ends early.
    await assertTamperedFull(key, dropped, size, plain, n - 1, rng, `size ${size} without its last package`);
  }
});

test('truncated or stretched blobs fail in decryptPackages', async (t) => {
  const rng = seeded(t);
  const size = 2 * PS + 300;
  const key = blobKey(rng.bytes(32), rng.bytes(SALT_BYTES), 3);
  const plain = rng.bytes(size);
  const { stored } = await encrypt(key, plain, rng);
  for (const cut of [1, TAG_BYTES, TAG_BYTES + 1, 300 + TAG_BYTES, 300 + TAG_BYTES + 1, STORED + 5]) {
    const firstBad = Math.floor((stored.length - cut) / STORED);
    await assertTamperedFull(key, stored.subarray(0, stored.length - cut), size, plain, firstBad, rng, `cut by ${cut} bytes`);
  }
  // Extra bytes with metadata claiming them: the last package is then the wrong length.
  for (const extra of [1, TAG_BYTES, 1000]) {
    const longer = Buffer.concat([stored, rng.bytes(extra)]);
    await assertTamperedFull(key, longer, size + extra, plain, 2, rng, `stretched by ${extra} bytes, claimed size ${size + extra}`);
  }
  // An empty object cut to nothing.
  const emptyKey = blobKey(rng.bytes(32), rng.bytes(SALT_BYTES), 1);
  const empty = await encrypt(emptyKey, Buffer.alloc(0), rng);
  await assertTamperedFull(emptyKey, empty.stored.subarray(0, TAG_BYTES - 1), 0, Buffer.alloc(0), 0, rng, 'an empty blob cut by one byte');
});

// ---------------------------------------------------------------------------------------------
// packages.ts: keys
// ---------------------------------------------------------------------------------------------

test('blob keys differ per salt, part number and object key; the wrong one fails', async (t) => {
  const rng = seeded(t);
  const objectKey = rng.bytes(32);
  const salt = rng.bytes(SALT_BYTES);
  const otherSalt = rng.bytes(SALT_BYTES);
  const key = blobKey(objectKey, salt, 1);
  assert.equal(key.length, 32, 'a blob key is 256 bits');
  assert.ok(blobKey(objectKey, salt, 1).equals(key), 'the same object key, salt and part give the same blob key');
  const others = {
    'another salt': blobKey(objectKey, otherSalt, 1),
    'another part number': blobKey(objectKey, salt, 2),
    'part 0 instead of 1': blobKey(objectKey, salt, 0),
    'another object key': blobKey(rng.bytes(32), salt, 1),
  };
  const seen = new Set([key.toString('hex')]);
  for (const [what, k] of Object.entries(others)) {
    assert.ok(!seen.has(k.toString('hex')), `${what}: a different blob key`);
    seen.add(k.toString('hex'));
  }

  const size = PS + 1000;
  const plain = rng.bytes(size);
  const { stored } = await encrypt(key, plain, rng);
  for (const [what, k] of Object.entries(others)) {
    await assertTamperedFull(k, stored, size, plain, 0, rng, `decrypted with ${what}`);
  }

  // The same plaintext under another salt: no package shares a keystream (IVs repeat, keys do not).
  const again = await encrypt(blobKey(objectKey, otherSalt, 1), plain, rng);
  assert.equal(again.stored.length, stored.length, 'the same plaintext gives the same stored size');
  for (let i = 0; i < packageCount(size); i++) {
    const a = pkg(stored, i);
    const b = pkg(again.stored, i);
    let same = 0;
    for (let j = 0; j < a.length; j++) if (a[j] === b[j]) same++;
    // Independent keystreams agree on about 1/256 of the bytes; a reused one on all of them.
    assert.ok(same < a.length / 32, `package ${i}: ${same} of ${a.length} bytes equal under two salts, as if a keystream were reused`);
  }
  // And a second encryption under the same key is deterministic (it is the salt that makes keys unique).
  const same = await encrypt(key, plain, rng);
  assert.ok(same.stored.equals(stored), 'the same blob key and plaintext give the same blob');
});

test('decryptPackages and PackageEncryptor zero the key they were given', async (t) => {
  const rng = seeded(t);
  const key = blobKey(rng.bytes(32), rng.bytes(SALT_BYTES), 1);
  const plain = rng.bytes(PS + 5);
  const encKey = Buffer.from(key);
  const enc = new PackageEncryptor(encKey);
  const out: Buffer[] = [];
  await pipeline(Readable.from([plain]), enc, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  assert.ok(encKey.every((b) => b === 0), 'the encryptor zeroes its key once done');
  const stored = Buffer.concat(out);
  const good = Buffer.from(key);
  const { err } = await drain(decryptPackages(good, feed([stored]), plain.length, 0, plain.length - 1));
  assert.equal(err, undefined, 'the intact blob decrypts');
  assert.ok(good.every((b) => b === 0), 'decryptPackages zeroes its key after a successful read');
  const bad = Buffer.from(key);
  const failed = await drain(decryptPackages(bad, feed([flipBit(stored, 3, 0)]), plain.length, 0, plain.length - 1));
  assertIntegrityError(failed.err, 'a damaged blob');
  assert.ok(bad.every((b) => b === 0), 'decryptPackages zeroes its key after a failed read');
});

// ---------------------------------------------------------------------------------------------
// objects.ts: writeBlob / readSegments on a real FsBlobStore
// ---------------------------------------------------------------------------------------------

async function listAll(store: FsBlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const k of store.list('')) out.push(k);
  return out;
}

function blobPath(store: FsBlobStore, name: string): string {
  return join(store.root, ...name.split('/'));
}

/** Write `plain` as consecutive parts of an object (each its own blob, salt and part number). */
async function writeParts(store: FsBlobStore, objectKey: Buffer, bodies: Buffer[], rng: Rng): Promise<Segment[]> {
  const segments: Segment[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const body = bodies[i]!;
    const { segment, md5, checksum } = await writeBlob(store, objectKey, i + 1, Readable.from(chunksOf(body, rng)), 'SHA256', Number.MAX_SAFE_INTEGER);
    assert.equal(segment.part, i + 1, `part ${i + 1}: the segment keeps its part number`);
    assert.equal(segment.size, body.length, `part ${i + 1}: the segment records the plaintext size`);
    assert.equal(Buffer.from(segment.salt, 'base64').length, SALT_BYTES, `part ${i + 1}: a ${SALT_BYTES}-byte salt`);
    assert.ok(md5.equals(createHash('md5').update(body).digest()), `part ${i + 1}: the MD5 of the plaintext`);
    assert.equal(checksum, createHash('sha256').update(body).digest('base64'), `part ${i + 1}: the SHA256 checksum of the plaintext`);
    assert.equal(await store.size(segment.blob), storedSize(body.length), `part ${i + 1}: the blob on disk is storedSize() bytes`);
    segments.push(segment);
  }
  assert.equal(new Set(segments.map((s) => s.salt)).size, segments.length, 'every blob has its own salt');
  assert.equal(new Set(segments.map((s) => s.blob)).size, segments.length, 'every blob has its own name');
  return segments;
}

test('writeBlob + readSegments: a multi-part object reads back any range across part boundaries', async (t) => {
  const rng = seeded(t);
  const dir = await tempDir();
  try {
    const store = await FsBlobStore.open(dir);
    const objectKey = rng.bytes(32);
    const bodies = [rng.bytes(PS + 5), rng.bytes(3), Buffer.alloc(0), rng.bytes(2 * PS), rng.bytes(PS - 1), rng.bytes(rng.range(1, 2 * PS))];
    const segments = await writeParts(store, objectKey, bodies, rng);
    assert.equal((await listAll(store)).length, bodies.length, 'one blob per part in the store');
    const plain = Buffer.concat(bodies);
    const boundaries: number[] = [];
    let base = 0;
    for (const b of bodies) {
      for (let p = 0; p < b.length; p += PS) boundaries.push(base + p);
      base += b.length;
      boundaries.push(base);
    }
    for (const [start, end] of ranges(plain.length, boundaries, rng, 100)) {
      const { out, err } = await drain(readSegments(store, objectKey, segments, start, end));
      assert.equal(err, undefined, `range ${start}-${end}: no error (${(err as Error | undefined)?.message})`);
      assert.ok(out.equals(plain.subarray(start, end + 1)), `range ${start}-${end} of ${plain.length}: the plaintext range`);
    }
  } finally {
    await removeDir(dir);
  }
});

test('readSegments refuses a cut, stretched, damaged, missing or misattributed blob before yielding any byte of it', async (t) => {
  const rng = seeded(t);
  const dir = await tempDir();
  try {
    const store = await FsBlobStore.open(dir);
    const objectKey = rng.bytes(32);
    const size = 2 * PS + 10;
    const [seg] = await writeParts(store, objectKey, [rng.bytes(size)], rng);
    const path = blobPath(store, seg!.blob);
    const original = await readFile(path);
    const expectFailure = async (what: string, segment: Segment = seg!) => {
      // A range in the first package only: the size check (or the first package) must stop it.
      for (const [start, end] of [
        [0, size - 1],
        [0, 0],
        [PS + 1, PS + 2],
      ] as const) {
        const { out, err } = await drain(readSegments(store, objectKey, [segment], start, end));
        assertIntegrityError(err, `${what}, range ${start}-${end}`);
        assert.equal(out.length, 0, `${what}, range ${start}-${end}: nothing yielded`);
      }
    };

    await truncate(path, original.length - 1);
    await expectFailure('blob cut by one byte');
    await truncate(path, original.length - STORED);
    await expectFailure('blob cut by one package');
    await writeFile(path, original);
    await appendFile(path, Buffer.from([0]));
    await expectFailure('blob stretched by one byte');
    await writeFile(path, original);
    await appendFile(path, rng.bytes(STORED));
    await expectFailure('blob stretched by one package');

    // Same size, damaged first package: ranges in package 0 fail; a range in package 1 alone does not read package 0.
    await writeFile(path, flipBit(original, 7, 2));
    for (const [start, end] of [
      [0, size - 1],
      [0, 0],
    ] as const) {
      const { out, err } = await drain(readSegments(store, objectKey, [seg!], start, end));
      assertIntegrityError(err, `package 0 damaged, range ${start}-${end}`);
      assert.equal(out.length, 0, `package 0 damaged, range ${start}-${end}: nothing yielded`);
    }
    await writeFile(path, original);

    await expectFailure('another salt', { ...seg!, salt: rng.bytes(SALT_BYTES).toString('base64') });
    await expectFailure('another part number', { ...seg!, part: seg!.part + 1 });
    await expectFailure('a size one byte smaller', { ...seg!, size: size - 1 });

    // The intact blob still reads (the checks above were not stateful).
    const { out, err } = await drain(readSegments(store, objectKey, [seg!], 0, size - 1));
    assert.equal(err, undefined, 'the restored blob reads');
    assert.equal(out.length, size, 'the restored blob reads in full');
    const wrongObjectKey = await drain(readSegments(store, rng.bytes(32), [seg!], 0, size - 1));
    assertIntegrityError(wrongObjectKey.err, 'another object key');

    await store.delete(seg!.blob);
    await expectFailure('a missing blob');
  } finally {
    await removeDir(dir);
  }
});

test('writeBlob: a body that fails midway rejects and leaves no blob behind', async (t) => {
  const rng = seeded(t);
  const dir = await tempDir();
  try {
    const store = await FsBlobStore.open(dir);
    const objectKey = rng.bytes(32);
    const [kept] = await writeParts(store, objectKey, [rng.bytes(1000)], rng);
    const tmpFiles = async () => readdir(join(dir, '.tmp'));

    // The body errors after more than two packages went to disk.
    const failing = async function* (): AsyncGenerator<Buffer> {
      yield rng.bytes(PS);
      yield rng.bytes(PS + 100);
      yield rng.bytes(PS);
      throw new Error('client connection reset');
    };
    await assert.rejects(writeBlob(store, objectKey, 1, Readable.from(failing()), undefined, Number.MAX_SAFE_INTEGER), /client connection reset/, 'writeBlob rejects with the body error');
    assert.deepEqual(await listAll(store), [kept!.blob], 'a failed body leaves no blob (only the earlier one)');
    assert.deepEqual(await tmpFiles(), [], 'a failed body leaves no temp file');

    // The body is destroyed without an error (the client went away).
    const body = new Readable({ read() {} });
    body.push(rng.bytes(2 * PS + 1));
    setTimeout(() => body.destroy(), 20);
    await assert.rejects(writeBlob(store, objectKey, 1, body, undefined, Number.MAX_SAFE_INTEGER), 'writeBlob rejects when the body closes early');
    assert.deepEqual(await listAll(store), [kept!.blob], 'a body closed early leaves no blob');
    assert.deepEqual(await tmpFiles(), [], 'a body closed early leaves no temp file');

    // A body over the limit.
    await assert.rejects(
      writeBlob(store, objectKey, 1, Readable.from(chunksOf(rng.bytes(3 * PS), rng)), undefined, 2 * PS),
      BodyLimitExceeded,
      'writeBlob rejects a body over its limit with BodyLimitExceeded',
    );
    assert.deepEqual(await listAll(store), [kept!.blob], 'a body over the limit leaves no blob');
    assert.deepEqual(await tmpFiles(), [], 'a body over the limit leaves no temp file');
  } finally {
    await removeDir(dir);
  }
});

// ---------------------------------------------------------------------------------------------
// routing.ts
// ---------------------------------------------------------------------------------------------

const VHOSTS = ['localhost', 's3.example.test'] as const;

function q(s = ''): Map<string, string> {
  return new Map([...new URLSearchParams(s)]);
}

function routeOf(method: string, path: string, query = '', headers: Record<string, string | undefined> = {}): S3Route {
  return route(method, path, q(query), { host: 'localhost:4566', ...headers }, VHOSTS);
}

function assertRoute(r: S3Route, want: { operation: string; bucket?: string; key?: string }, message: string): void {
  assert.equal(r.error, undefined, `${message}: no error (${r.error?.message})`);
  assert.deepEqual({ operation: r.operation, bucket: r.bucket, key: r.key }, { operation: want.operation, bucket: want.bucket, key: want.key }, message);
}

function assertRouteError(r: S3Route, code: string, status: number, message: string): void {
  assert.ok(r.error instanceof AwsError, `${message}: an AwsError on the route, got ${String(r.error)}`);
  assert.equal(r.error.code, code, `${message}: error code`);
  assert.equal(r.error.status, status, `${message}: HTTP status`);
}

test('addressOf: path style', () => {
  const cases: Array<[string, { bucket?: string; key?: string }]> = [
    ['/', {}],
    ['', {}],
    ['/bucket', { bucket: 'bucket' }],
    ['/bucket/', { bucket: 'bucket' }],
    ['/bucket/a%20b%2Bc~.txt', { bucket: 'bucket', key: 'a b+c~.txt' }],
    ['/bucket/a+b', { bucket: 'bucket', key: 'a+b' }],
    ['/bucket/dir/sub/file', { bucket: 'bucket', key: 'dir/sub/file' }],
    ['/bucket/dir/', { bucket: 'bucket', key: 'dir/' }],
    ['/bucket//a//b', { bucket: 'bucket', key: '/a//b' }],
    ['/bucket/a//b/', { bucket: 'bucket', key: 'a//b/' }],
    ['/bucket/%2F', { bucket: 'bucket', key: '/' }],
    ['/bucket/%E2%82%AC%C3%A9', { bucket: 'bucket', key: '€é' }],
  ];
  for (const [path, want] of cases) {
    for (const host of [undefined, 'localhost', 'localhost:4566', 'LOCALHOST:443', '127.0.0.1:9000', 's3.example.test', 'other.example.com']) {
      assert.deepEqual(addressOf(path, host, VHOSTS), want, `path ${JSON.stringify(path)} with Host ${String(host)}`);
    }
  }
});

test('addressOf: virtual-host style, with and without a port', () => {
  const cases: Array<[string, string, { bucket?: string; key?: string }]> = [
    ['bucket.localhost', '/', { bucket: 'bucket' }],
    ['bucket.localhost:4566', '/', { bucket: 'bucket' }],
    ['bucket.localhost:4566', '', { bucket: 'bucket' }],
    ['bucket.localhost:4566', '/a%20b%2Bc~.txt', { bucket: 'bucket', key: 'a b+c~.txt' }],
    ['bucket.s3.example.test', '/dir/file', { bucket: 'bucket', key: 'dir/file' }],
    ['bucket.s3.example.test:8443', '/dir/', { bucket: 'bucket', key: 'dir/' }],
    ['my.dotted.bucket.s3.example.test:8443', '/k', { bucket: 'my.dotted.bucket', key: 'k' }],
    ['Bucket.S3.Example.Test', '/k', { bucket: 'bucket', key: 'k' }],
    ['bucket.localhost', '//a//b/', { bucket: 'bucket', key: '/a//b/' }],
    // The bucket-looking first path segment is part of the key under virtual-host style.
    ['bucket.localhost', '/other/k', { bucket: 'bucket', key: 'other/k' }],
  ];
  for (const [host, path, want] of cases) {
    assert.deepEqual(addressOf(path, host, VHOSTS), want, `Host ${host}, path ${JSON.stringify(path)}`);
  }
  // Hosts that are not a label under an endpoint host stay path style.
  for (const host of ['localhost', 's3.example.test:443', '.localhost', 'bucketlocalhost', 'bucket.s3.example.test.evil.com', 'example.test']) {
    assert.deepEqual(addressOf('/b/k', host, VHOSTS), { bucket: 'b', key: 'k' }, `Host ${host} is not virtual-host addressing`);
  }
});

test('route: operations by method, address and sub-resource', () => {
  const cases: Array<[string, string, string, Record<string, string>, { operation: string; bucket?: string; key?: string }]> = [
    ['GET', '/', '', {}, { operation: 'ListBuckets' }],
    ['PUT', '/b', '', {}, { operation: 'CreateBucket', bucket: 'b' }],
    ['PUT', '/b/', '', {}, { operation: 'CreateBucket', bucket: 'b' }],
    ['HEAD', '/b', '', {}, { operation: 'HeadBucket', bucket: 'b' }],
    ['DELETE', '/b', '', {}, { operation: 'DeleteBucket', bucket: 'b' }],
    ['GET', '/b', '', {}, { operation: 'ListObjects', bucket: 'b' }],
    ['GET', '/b', 'list-type=2', {}, { operation: 'ListObjectsV2', bucket: 'b' }],
    ['GET', '/b', 'list-type=2&prefix=a%2F&delimiter=%2F', {}, { operation: 'ListObjectsV2', bucket: 'b' }],
    ['GET', '/b', 'list-type=1', {}, { operation: 'ListObjects', bucket: 'b' }],
    ['GET', '/b', 'uploads', {}, { operation: 'ListMultipartUploads', bucket: 'b' }],
    ['GET', '/b', 'location', {}, { operation: 'GetBucketLocation', bucket: 'b' }],
    ['POST', '/b', 'delete', {}, { operation: 'DeleteObjects', bucket: 'b' }],
    ['PUT', '/b', 'encryption', {}, { operation: 'PutBucketEncryption', bucket: 'b' }],
    ['GET', '/b', 'encryption', {}, { operation: 'GetBucketEncryption', bucket: 'b' }],
    ['DELETE', '/b', 'encryption', {}, { operation: 'DeleteBucketEncryption', bucket: 'b' }],
    ['PUT', '/b', 'tagging', {}, { operation: 'PutBucketTagging', bucket: 'b' }],
    ['GET', '/b', 'tagging', {}, { operation: 'GetBucketTagging', bucket: 'b' }],
    ['DELETE', '/b', 'tagging', {}, { operation: 'DeleteBucketTagging', bucket: 'b' }],
    ['GET', '/b', 'acl', {}, { operation: 'GetBucketAcl', bucket: 'b' }],
    ['PUT', '/b', 'acl', {}, { operation: 'PutBucketAcl', bucket: 'b' }],
    ['GET', '/b/k', 'acl', {}, { operation: 'GetObjectAcl', bucket: 'b', key: 'k' }],
    ['PUT', '/b/k', 'acl', {}, { operation: 'PutObjectAcl', bucket: 'b', key: 'k' }],
    ['PUT', '/b/k', '', {}, { operation: 'PutObject', bucket: 'b', key: 'k' }],
    ['GET', '/b/k', '', {}, { operation: 'GetObject', bucket: 'b', key: 'k' }],
    ['HEAD', '/b/k', '', {}, { operation: 'HeadObject', bucket: 'b', key: 'k' }],
    ['DELETE', '/b/k', '', {}, { operation: 'DeleteObject', bucket: 'b', key: 'k' }],
    ['PUT', '/b/k', '', { 'x-amz-copy-source': '/src/key' }, { operation: 'CopyObject', bucket: 'b', key: 'k' }],
    ['POST', '/b/k', 'uploads', {}, { operation: 'CreateMultipartUpload', bucket: 'b', key: 'k' }],
    ['PUT', '/b/k', 'partNumber=2&uploadId=abc', {}, { operation: 'UploadPart', bucket: 'b', key: 'k' }],
    ['PUT', '/b/k', 'uploadId=abc&partNumber=2', { 'x-amz-copy-source': 'src/key' }, { operation: 'UploadPartCopy', bucket: 'b', key: 'k' }],
    ['GET', '/b/k', 'uploadId=abc', {}, { operation: 'ListParts', bucket: 'b', key: 'k' }],
    ['POST', '/b/k', 'uploadId=abc', {}, { operation: 'CompleteMultipartUpload', bucket: 'b', key: 'k' }],
    ['DELETE', '/b/k', 'uploadId=abc', {}, { operation: 'AbortMultipartUpload', bucket: 'b', key: 'k' }],
    // Versioning, Object Lock, object tags, lifecycle.
    ['PUT', '/b', 'versioning', {}, { operation: 'PutBucketVersioning', bucket: 'b' }],
    ['GET', '/b', 'versions&prefix=a', {}, { operation: 'ListObjectVersions', bucket: 'b' }],
    ['GET', '/b/k', 'versionId=v', {}, { operation: 'GetObject', bucket: 'b', key: 'k' }],
    ['DELETE', '/b/k', 'versionId=v', {}, { operation: 'DeleteObject', bucket: 'b', key: 'k' }],
    ['PUT', '/b', 'object-lock', {}, { operation: 'PutObjectLockConfiguration', bucket: 'b' }],
    ['GET', '/b', 'object-lock', {}, { operation: 'GetObjectLockConfiguration', bucket: 'b' }],
    ['PUT', '/b/k', 'retention&versionId=v', {}, { operation: 'PutObjectRetention', bucket: 'b', key: 'k' }],
    ['GET', '/b/k', 'retention', {}, { operation: 'GetObjectRetention', bucket: 'b', key: 'k' }],
    ['PUT', '/b/k', 'legal-hold', {}, { operation: 'PutObjectLegalHold', bucket: 'b', key: 'k' }],
    ['GET', '/b/k', 'legal-hold', {}, { operation: 'GetObjectLegalHold', bucket: 'b', key: 'k' }],
    ['PUT', '/b/k', 'tagging', {}, { operation: 'PutObjectTagging', bucket: 'b', key: 'k' }],
    ['GET', '/b/k', 'tagging&versionId=v', {}, { operation: 'GetObjectTagging', bucket: 'b', key: 'k' }],
    ['DELETE', '/b/k', 'tagging', {}, { operation: 'DeleteObjectTagging', bucket: 'b', key: 'k' }],
    ['PUT', '/b', 'lifecycle', {}, { operation: 'PutBucketLifecycleConfiguration', bucket: 'b' }],
    ['GET', '/b', 'lifecycle', {}, { operation: 'GetBucketLifecycleConfiguration', bucket: 'b' }],
    ['DELETE', '/b', 'lifecycle', {}, { operation: 'DeleteBucketLifecycle', bucket: 'b' }],
    ['GET', '/b/a%20b%2Bc~.txt', '', {}, { operation: 'GetObject', bucket: 'b', key: 'a b+c~.txt' }],
    ['PUT', '/b/dir/', '', {}, { operation: 'PutObject', bucket: 'b', key: 'dir/' }],
    ['GET', '/b//x', '', {}, { operation: 'GetObject', bucket: 'b', key: '/x' }],
    // Virtual-host style through the Host header.
    ['GET', '/', 'list-type=2', { host: 'b.s3.example.test:8443' }, { operation: 'ListObjectsV2', bucket: 'b' }],
    ['PUT', '/', '', { host: 'b.localhost:4566' }, { operation: 'CreateBucket', bucket: 'b' }],
    ['PUT', '/k/x', 'uploadId=u&partNumber=1', { host: 'b.localhost:4566' }, { operation: 'UploadPart', bucket: 'b', key: 'k/x' }],
    ['GET', '/k', '', { host: 'b.s3.example.test' }, { operation: 'GetObject', bucket: 'b', key: 'k' }],
  ];
  for (const [method, path, query, headers, want] of cases) {
    assertRoute(routeOf(method, path, query, headers), want, `${method} ${path}${query ? `?${query}` : ''} ${JSON.stringify(headers)}`);
  }
});

test('route: unsupported sub-resources are NotImplemented, unknown methods MethodNotAllowed, with the address kept', () => {
  const notImplemented: Array<[string, string, string]> = [
    ['GET', '/b', 'website'],
    ['PUT', '/b', 'logging'],
    ['GET', '/b/k', 'torrent'],
    ['POST', '/b/k', 'restore'],
    ['GET', '/b', 'replication'],
    ['GET', '/b/k', 'select'],
    // A sub-resource of objects named on a bucket, and one of buckets named on an object.
    ['PUT', '/b', 'retention'],
    ['GET', '/b', 'legal-hold'],
    ['GET', '/b/k', 'versions'],
    ['PUT', '/b/k', 'lifecycle'],
    ['GET', '/b/k', 'object-lock'],
    // An unsupported sub-resource next to a supported one is still refused, not misread.
    ['GET', '/b', 'website&list-type=2'],
    ['PUT', '/b/k', 'torrent&uploadId=u&partNumber=1'],
  ];
  for (const [method, path, query] of notImplemented) {
    const what = `${method} ${path}?${query}`;
    const r = routeOf(method, path, query);
    assertRouteError(r, 'NotImplemented', 501, what);
    const [bucket, key] = path.slice(1).split('/');
    assert.equal(r.bucket, bucket, `${what}: the route keeps the bucket`);
    assert.equal(r.key, key, `${what}: the route keeps the key`);
    assert.ok(r.operation.endsWith(`:${query.split('&')[0]}`), `${what}: operation ${r.operation} names the sub-resource`);
  }
  const r = routeOf('GET', '/', '', { host: 'b.localhost' });
  assert.equal(r.error, undefined, 'GET / on a virtual host is a bucket request, not an error');

  const notAllowed: Array<[string, string, string]> = [
    ['PATCH', '/b', ''],
    ['PATCH', '/b/k', ''],
    // OPTIONS on a bucket or object is a CORS preflight (cors.ts); without a bucket it is refused.
    ['OPTIONS', '/', ''],
    ['TRACE', '/b', ''],
    // POST on a bucket is an HTML form upload (PostObject); on an object, without ?uploads or ?uploadId, nothing.
    ['POST', '/b/k', ''],
    ['PUT', '/', ''],
    ['DELETE', '/', ''],
    ['POST', '/', ''],
  ];
  for (const [method, path, query] of notAllowed) {
    const what = `${method} ${path}`;
    const got = routeOf(method, path, query);
    assertRouteError(got, 'MethodNotAllowed', 405, what);
    const [bucket, key] = path.slice(1).split('/');
    assert.equal(got.bucket, bucket || undefined, `${what}: the route keeps the bucket`);
    assert.equal(got.key, key, `${what}: the route keeps the key`);
  }
});

// ---------------------------------------------------------------------------------------------
// sse.ts
// ---------------------------------------------------------------------------------------------

function b64json(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64');
}

function customerHeaders(key: Buffer, prefix = ''): Record<string, string> {
  return {
    [`x-amz-${prefix}server-side-encryption-customer-algorithm`]: 'AES256',
    [`x-amz-${prefix}server-side-encryption-customer-key`]: key.toString('base64'),
    [`x-amz-${prefix}server-side-encryption-customer-key-md5`]: createHash('md5').update(key).digest('base64'),
  };
}

function assertInvalidArgument(fn: () => unknown, message: string): void {
  let threw: unknown;
  try {
    fn();
  } catch (err) {
    threw = err;
  }
  assert.ok(threw !== undefined, `${message}: expected InvalidArgument, nothing was thrown`);
  assert.ok(threw instanceof AwsError, `${message}: expected an AwsError, got ${String(threw)}`);
  assert.equal(threw.code, 'InvalidArgument', `${message}: error code (message: ${threw.message})`);
  assert.equal(threw.status, 400, `${message}: HTTP status`);
}

test('parseSseHeaders: valid SSE-S3, SSE-KMS and SSE-C requests', () => {
  assert.deepEqual(parseSseHeaders({}), {}, 'no SSE headers: nothing requested');
  assert.deepEqual(parseSseHeaders({ 'x-amz-server-side-encryption': 'AES256' }), { algorithm: 'AES256' }, 'SSE-S3');
  assert.deepEqual(parseSseHeaders({ 'x-amz-server-side-encryption': ' AES256 ' }), { algorithm: 'AES256' }, 'SSE-S3, value with spaces around it');
  assert.deepEqual(parseSseHeaders({ 'x-amz-server-side-encryption': 'aws:kms' }), { algorithm: 'aws:kms' }, 'SSE-KMS under the default key');
  const arn = 'arn:aws:kms:us-east-1:111122223333:key/1b4e28ba-2fa1-41d2-883f-0016d3cca427';
  assert.deepEqual(
    parseSseHeaders({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': arn }),
    { algorithm: 'aws:kms', kmsKeyId: arn },
    'SSE-KMS with a key ARN',
  );
  const context = { department: 'finance', 'project:id': 'äöü €' };
  assert.deepEqual(
    parseSseHeaders({
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'alias/mine',
      'x-amz-server-side-encryption-context': b64json(context),
      'x-amz-server-side-encryption-bucket-key-enabled': 'true',
    }),
    { algorithm: 'aws:kms', kmsKeyId: 'alias/mine', context, bucketKeyEnabled: true },
    'SSE-KMS with alias, context and bucket key',
  );
  assert.deepEqual(
    parseSseHeaders({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-context': b64json({}) }),
    { algorithm: 'aws:kms', context: {} },
    'an empty context object',
  );
  for (const [value, want] of [
    ['True', true],
    ['true', true],
    ['TRUE', true],
    ['false', false],
    ['False', false],
  ] as const) {
    assert.deepEqual(
      parseSseHeaders({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-bucket-key-enabled': value }),
      { algorithm: 'aws:kms', bucketKeyEnabled: want },
      `bucket key enabled: ${value}`,
    );
  }
  const key = randomBytes(32);
  const got = parseSseHeaders(customerHeaders(key));
  assert.ok(got.customer, 'SSE-C: a customer key');
  assert.ok(got.customer.key.equals(key), 'SSE-C: the decoded key');
  assert.equal(got.customer.md5, createHash('md5').update(key).digest('base64'), 'SSE-C: the key MD5');
  assert.equal(got.algorithm, undefined, 'SSE-C: no x-amz-server-side-encryption algorithm');
  assert.equal(parseSseHeaders({ 'x-amz-copy-source-server-side-encryption-customer-key': 'x' }).customer, undefined, 'the copy-source SSE-C headers are not the object headers');
});

test('parseCustomerKey: plain and copy-source headers', () => {
  const key = randomBytes(32);
  assert.equal(parseCustomerKey({}, ''), undefined, 'no SSE-C headers');
  assert.equal(parseCustomerKey(customerHeaders(key), 'copy-source-'), undefined, 'object SSE-C headers are not copy-source ones');
  const src = parseCustomerKey(customerHeaders(key, 'copy-source-'), 'copy-source-');
  assert.ok(src?.key.equals(key), 'the copy-source key');
  assert.equal(src?.md5, createHash('md5').update(key).digest('base64'), 'the copy-source key MD5');
  const noMd5 = customerHeaders(key);
  delete noMd5['x-amz-server-side-encryption-customer-key-md5'];
  assert.throws(() => parseCustomerKey(noMd5, ''), (e: { code?: string }) => e.code === 'InvalidArgument', 'a key without its MD5 header is refused, as on AWS');
  assertInvalidArgument(() => parseCustomerKey({ ...customerHeaders(key, 'copy-source-'), 'x-amz-copy-source-server-side-encryption-customer-key': randomBytes(16).toString('base64') }, 'copy-source-'), 'a 128-bit copy-source key');
});

test('parseSseHeaders and parseCustomerKey: InvalidArgument for bad SSE headers', () => {
  const key = randomBytes(32);
  const kms = { 'x-amz-server-side-encryption': 'aws:kms' };
  const cases: Array<[string, Record<string, string>]> = [
    ['unknown algorithm', { 'x-amz-server-side-encryption': 'AES128' }],
    ['algorithm in the wrong case', { 'x-amz-server-side-encryption': 'aes256' }],
    ['DSSE-KMS', { 'x-amz-server-side-encryption': 'aws:kms:dsse' }],
    ['empty algorithm', { 'x-amz-server-side-encryption': '' }],
    ['key id without any algorithm', { 'x-amz-server-side-encryption-aws-kms-key-id': 'alias/k' }],
    ['key id with AES256', { 'x-amz-server-side-encryption': 'AES256', 'x-amz-server-side-encryption-aws-kms-key-id': 'alias/k' }],
    ['empty key id', { ...kms, 'x-amz-server-side-encryption-aws-kms-key-id': '  ' }],
    ['context with AES256', { 'x-amz-server-side-encryption': 'AES256', 'x-amz-server-side-encryption-context': b64json({ a: 'b' }) }],
    ['context not base64', { ...kms, 'x-amz-server-side-encryption-context': '{"a":"b"}' }],
    ['context base64 of text that is not JSON', { ...kms, 'x-amz-server-side-encryption-context': Buffer.from('a=b').toString('base64') }],
    ['context a JSON array', { ...kms, 'x-amz-server-side-encryption-context': b64json(['a', 'b']) }],
    ['context a JSON string', { ...kms, 'x-amz-server-side-encryption-context': b64json('a') }],
    ['context JSON null', { ...kms, 'x-amz-server-side-encryption-context': b64json(null) }],
    ['context with a number value', { ...kms, 'x-amz-server-side-encryption-context': b64json({ a: 1 }) }],
    ['context with an object value', { ...kms, 'x-amz-server-side-encryption-context': b64json({ a: { b: 'c' } }) }],
    ['context with a null value', { ...kms, 'x-amz-server-side-encryption-context': b64json({ a: null }) }],
    ['bucket key neither true nor false', { ...kms, 'x-amz-server-side-encryption-bucket-key-enabled': 'yes' }],
    ['SSE-C key of 16 bytes', { ...customerHeaders(key), 'x-amz-server-side-encryption-customer-key': randomBytes(16).toString('base64') }],
    ['SSE-C key of 33 bytes', { ...customerHeaders(key), 'x-amz-server-side-encryption-customer-key': randomBytes(33).toString('base64') }],
    ['SSE-C key not base64', { ...customerHeaders(key), 'x-amz-server-side-encryption-customer-key': key.toString('hex') }],
    ['SSE-C key MD5 mismatch', { ...customerHeaders(key), 'x-amz-server-side-encryption-customer-key-md5': createHash('md5').update(randomBytes(32)).digest('base64') }],
    ['SSE-C key MD5 in hex', { ...customerHeaders(key), 'x-amz-server-side-encryption-customer-key-md5': createHash('md5').update(key).digest('hex') }],
    ['SSE-C with x-amz-server-side-encryption AES256', { ...customerHeaders(key), 'x-amz-server-side-encryption': 'AES256' }],
    ['SSE-C with x-amz-server-side-encryption aws:kms', { ...customerHeaders(key), ...kms }],
    ['SSE-C algorithm not AES256', { ...customerHeaders(key), 'x-amz-server-side-encryption-customer-algorithm': 'AES128' }],
    ['SSE-C algorithm aws:kms', { ...customerHeaders(key), 'x-amz-server-side-encryption-customer-algorithm': 'aws:kms' }],
    ['SSE-C key without an algorithm', { 'x-amz-server-side-encryption-customer-key': key.toString('base64') }],
    ['SSE-C algorithm without a key', { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }],
  ];
  for (const [what, headers] of cases) {
    assertInvalidArgument(() => parseSseHeaders(headers), what);
  }
  assertInvalidArgument(() => parseSseHeaders(kms, { allowKms: false }), 'aws:kms where SSE-KMS is not allowed');
  assert.deepEqual(parseSseHeaders({ 'x-amz-server-side-encryption': 'AES256' }, { allowKms: false }), { algorithm: 'AES256' }, 'AES256 where SSE-KMS is not allowed');
});

// ---------------------------------------------------------------------------------------------
// api.ts: parseRange
// ---------------------------------------------------------------------------------------------

test('parseRange: byte ranges, suffixes, clamping, and what is ignored', () => {
  const size = 1000;
  const ok: Array<[string, number, { start: number; end: number }]> = [
    ['bytes=0-0', size, { start: 0, end: 0 }],
    ['bytes=0-9', size, { start: 0, end: 9 }],
    ['bytes=10-19', size, { start: 10, end: 19 }],
    ['bytes=999-999', size, { start: 999, end: 999 }],
    ['bytes=500-', size, { start: 500, end: 999 }],
    ['bytes=0-', size, { start: 0, end: 999 }],
    ['bytes=999-', size, { start: 999, end: 999 }],
    ['bytes=-1', size, { start: 999, end: 999 }],
    ['bytes=-100', size, { start: 900, end: 999 }],
    ['bytes=-1000', size, { start: 0, end: 999 }],
    ['bytes=-5000', size, { start: 0, end: 999 }],
    ['bytes=0-999', size, { start: 0, end: 999 }],
    ['bytes=0-1000', size, { start: 0, end: 999 }],
    ['bytes=900-123456789012', size, { start: 900, end: 999 }],
    ['  bytes=1-2  ', size, { start: 1, end: 2 }],
    ['bytes=0-0', 1, { start: 0, end: 0 }],
    ['bytes=-3', 1, { start: 0, end: 0 }],
  ];
  for (const [value, sz, want] of ok) {
    assert.deepEqual(parseRange(value, sz), want, `${JSON.stringify(value)} on ${sz} bytes`);
  }
  const ignored = [undefined, '', 'bytes=', 'bytes=-', 'bytes=5-3', 'bytes=2000-1000', 'bytes=0-1,5-6', 'bytes=a-b', 'bytes=1-b', 'bytes=1.5-2', 'bytes= 1-2', 'items=0-1', 'bytes 0-1', '0-1', 'bytes=--1', 'bytes=+1-2'];
  for (const value of ignored) {
    assert.equal(parseRange(value, size), undefined, `${JSON.stringify(value)} is ignored (the whole object)`);
  }
  const unsatisfiable: Array<[string, number]> = [
    ['bytes=1000-', size],
    ['bytes=1000-1000', size],
    ['bytes=1001-2000', size],
    ['bytes=-0', size],
    ['bytes=0-', 0],
    ['bytes=0-0', 0],
    ['bytes=-1', 0],
  ];
  for (const [value, sz] of unsatisfiable) {
    let threw: unknown;
    try {
      parseRange(value, sz);
    } catch (err) {
      threw = err;
    }
    assert.ok(threw instanceof AwsError, `${value} on ${sz} bytes: an AwsError, got ${String(threw)}`);
    assert.equal(threw.code, 'InvalidRange', `${value} on ${sz} bytes: InvalidRange`);
    assert.equal(threw.status, 416, `${value} on ${sz} bytes: HTTP 416`);
    assert.equal(threw.headers['content-range'], `bytes */${sz}`, `${value} on ${sz} bytes: Content-Range names the size`);
  }
});

test('writeConditions: If-Match / If-None-Match: * before a write (412, 404) and as it commits (409 when the object changed meanwhile)', () => {
  const object = (etag: string) => ({ etag }) as ObjectRecord;
  const code = (f: () => void): string => {
    try {
      f();
      return 'ok';
    } catch (err) {
      return `${(err as AwsError).code} ${(err as AwsError).status}`;
    }
  };
  assert.equal(writeConditions({}, 'PutObject'), undefined, 'no condition, nothing to check');
  assert.equal(code(() => writeConditions({ 'if-none-match': '"abc"' }, 'PutObject')), 'NotImplemented 501', 'If-None-Match takes only *');
  const none = writeConditions({ 'if-none-match': '*' }, 'PutObject')!;
  assert.equal(code(() => none.before(undefined, 'k')), 'ok');
  assert.equal(code(() => none.before(object('abc'), 'k')), 'PreconditionFailed 412');
  assert.equal(code(() => none.committing(object('abc'), 'k')), 'ConditionalRequestConflict 409', 'created by another request meanwhile');
  const match = writeConditions({ 'if-match': '"abc"' }, 'CompleteMultipartUpload')!;
  assert.equal(code(() => match.before(object('abc'), 'k')), 'ok');
  assert.equal(code(() => match.before(object('def'), 'k')), 'PreconditionFailed 412');
  assert.equal(code(() => match.before(undefined, 'k')), 'NoSuchKey 404');
  assert.equal(code(() => match.committing(object('def'), 'k')), 'ConditionalRequestConflict 409', 'replaced by another request meanwhile');
  assert.equal(code(() => match.committing(undefined, 'k')), 'NoSuchKey 404', 'deleted meanwhile');
  assert.equal(code(() => writeConditions({ 'if-match': '"x", "abc"' }, 'PutObject')!.before(object('abc'), 'k')), 'ok', 'a list of ETags');
});
