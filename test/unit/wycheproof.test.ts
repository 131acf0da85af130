// Wycheproof known-answer and negative tests for Trent's AES-GCM and HKDF-SHA256 wrappers, plus a
// randomized round-trip / bit-flip property test for AES-GCM.
//
// The vectors live outside the repository, in ../shared/data/vectors/wycheproof (see the README there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AeadError, gcmDecrypt, gcmEncryptWithIv, openFromBytes, sealToBytes } from '../../src/crypto/aead.ts';
import { hkdfSha256 } from '../../src/crypto/hkdf.ts';

const VECTOR_DIR = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'vectors', 'wycheproof');

/** Trent only ever uses 96-bit IVs and 128-bit tags; every other GCM parameter set must be refused. */
const SUPPORTED_IV_BITS = 96;
const SUPPORTED_TAG_BITS = 128;

type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

interface WycheproofFile<G> {
  algorithm: string;
  numberOfTests: number;
  testGroups: G[];
}

interface AeadTestCase {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: WycheproofResult;
}

interface AeadTestGroup {
  ivSize: number;
  keySize: number;
  tagSize: number;
  type: string;
  tests: AeadTestCase[];
}

interface HkdfTestCase {
  tcId: number;
  comment: string;
  flags: string[];
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
  result: WycheproofResult;
}

interface HkdfTestGroup {
  keySize: number;
  type: string;
  tests: HkdfTestCase[];
}

function loadVectors<G>(file: string, algorithm: string): WycheproofFile<G> {
  if (!existsSync(VECTOR_DIR)) {
    assert.fail(
      `Wycheproof vector directory not found at ${VECTOR_DIR}: the repository's parent directory must hold ` +
        `shared/data/vectors/wycheproof (CI always checks it out next to the repository)`,
    );
  }
  const path = join(VECTOR_DIR, file);
  if (!existsSync(path)) assert.fail(`Wycheproof vector file missing: ${path}`);
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as WycheproofFile<G>;
  assert.equal(parsed.algorithm, algorithm, `${file}: unexpected algorithm`);
  assert.ok(Array.isArray(parsed.testGroups) && parsed.testGroups.length > 0, `${file}: no test groups`);
  assert.ok(Number.isInteger(parsed.numberOfTests) && parsed.numberOfTests > 0, `${file}: no numberOfTests header`);
  return parsed;
}

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Runs fn and reports what happened, so that a case can never "pass" by returning data it should not have. */
function attempt(fn: () => Buffer): { ok: true; value: Buffer } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

const isRefusal = (e: unknown): boolean => e instanceof RangeError || e instanceof AeadError;

test('Wycheproof AES-GCM (aes_gcm_test.json)', (t) => {
  const file = loadVectors<AeadTestGroup>('aes_gcm_test.json', 'AES-GCM');
  const tally = { valid: 0, invalid: 0, acceptable: 0, acceptableAccepted: 0, refused: 0, total: 0 };
  const refusedParams = new Map<string, number>();

  for (const group of file.testGroups) {
    const supported = group.ivSize === SUPPORTED_IV_BITS && group.tagSize === SUPPORTED_TAG_BITS;
    for (const tc of group.tests) {
      tally.total++;
      const where = `tcId ${tc.tcId} (${tc.result}; iv ${group.ivSize} bits, key ${group.keySize} bits, tag ${group.tagSize} bits; ${tc.comment || tc.flags.join(',')})`;
      const key = hex(tc.key);
      const iv = hex(tc.iv);
      const aad = hex(tc.aad);
      const msg = hex(tc.msg);
      const ct = hex(tc.ct);
      const tag = hex(tc.tag);
      assert.equal(key.length * 8, group.keySize, `${where}: key length disagrees with the group`);
      assert.equal(iv.length * 8, group.ivSize, `${where}: IV length disagrees with the group`);

      if (!supported) {
        // Parameter sets Trent never uses: the API must refuse them, whatever the expected result.
        const dec = attempt(() => gcmDecrypt(key, iv, ct, tag, aad));
        assert.equal(dec.ok, false, `${where}: gcmDecrypt accepted an unsupported parameter set`);
        if (!dec.ok) assert.ok(isRefusal(dec.error), `${where}: gcmDecrypt threw ${String(dec.error)}, expected RangeError or AeadError`);
        if (group.ivSize !== SUPPORTED_IV_BITS) {
          const enc = attempt(() => gcmEncryptWithIv(key, iv, msg, aad).ciphertext);
          assert.equal(enc.ok, false, `${where}: gcmEncryptWithIv accepted a ${group.ivSize}-bit IV`);
          if (!enc.ok) assert.ok(isRefusal(enc.error), `${where}: gcmEncryptWithIv threw ${String(enc.error)}, expected RangeError or AeadError`);
        } else {
          // Only the tag size differs: encryption cannot be asked for it, so it must not produce such a tag.
          assert.notEqual(gcmEncryptWithIv(key, iv, msg, aad).tag.length * 8, group.tagSize, `${where}: produced an unsupported tag size`);
        }
        tally.refused++;
        const k = `iv=${group.ivSize},tag=${group.tagSize}`;
        refusedParams.set(k, (refusedParams.get(k) ?? 0) + 1);
        continue;
      }

      switch (tc.result) {
        case 'valid': {
          const enc = gcmEncryptWithIv(key, iv, msg, aad);
          assert.equal(enc.ciphertext.toString('hex'), tc.ct, `${where}: ciphertext mismatch`);
          assert.equal(enc.tag.toString('hex'), tc.tag, `${where}: tag mismatch`);
          const dec = attempt(() => gcmDecrypt(key, iv, ct, tag, aad));
          assert.ok(dec.ok, `${where}: decryption of a valid case failed: ${dec.ok ? '' : String(dec.error)}`);
          if (dec.ok) assert.equal(dec.value.toString('hex'), tc.msg, `${where}: decrypted plaintext mismatch`);
          tally.valid++;
          break;
        }
        case 'invalid': {
          const dec = attempt(() => gcmDecrypt(key, iv, ct, tag, aad));
          assert.equal(dec.ok, false, `${where}: invalid case decrypted (returned ${dec.ok ? dec.value.length : 0} bytes)`);
          if (!dec.ok) assert.ok(dec.error instanceof AeadError, `${where}: threw ${String(dec.error)}, expected AeadError`);
          tally.invalid++;
          break;
        }
        case 'acceptable': {
          const dec = attempt(() => gcmDecrypt(key, iv, ct, tag, aad));
          if (dec.ok) {
            assert.equal(dec.value.toString('hex'), tc.msg, `${where}: acceptable case decrypted to the wrong plaintext`);
            tally.acceptableAccepted++;
          }
          tally.acceptable++;
          break;
        }
        default:
          assert.fail(`${where}: unknown result ${String(tc.result)}`);
      }
    }
  }

  t.diagnostic(
    `aes_gcm_test.json: ${tally.total} cases: valid ${tally.valid}, invalid ${tally.invalid}, ` +
      `acceptable ${tally.acceptable} (${tally.acceptableAccepted} decrypted), refused (unsupported parameters) ${tally.refused}`,
  );
  t.diagnostic(`refused parameter sets: ${[...refusedParams].map(([k, n]) => `${k}: ${n}`).join('; ')}`);

  assert.equal(tally.total, file.numberOfTests, 'processed case count disagrees with the file header numberOfTests');
  assert.equal(tally.valid + tally.invalid + tally.acceptable + tally.refused, tally.total);
  assert.ok(tally.total >= 300, `only ${tally.total} AES-GCM cases processed`);
  assert.ok(tally.valid >= 100, `only ${tally.valid} valid 96-bit-IV cases checked`);
  assert.ok(tally.invalid >= 50, `only ${tally.invalid} invalid 96-bit-IV cases checked`);
  assert.ok(tally.refused > 0, 'no unsupported parameter sets were exercised');
});

test('Wycheproof HKDF-SHA256 (hkdf_sha256_test.json)', (t) => {
  const file = loadVectors<HkdfTestGroup>('hkdf_sha256_test.json', 'HKDF-SHA-256');
  const tally = { valid: 0, invalid: 0, acceptable: 0, acceptableAccepted: 0, total: 0 };

  for (const group of file.testGroups) {
    for (const tc of group.tests) {
      tally.total++;
      const where = `tcId ${tc.tcId} (${tc.result}; size ${tc.size}; ${tc.comment || tc.flags.join(',')})`;
      const derive = (): Buffer => hkdfSha256(hex(tc.ikm), hex(tc.salt), hex(tc.info), tc.size);
      switch (tc.result) {
        case 'valid': {
          const out = attempt(derive);
          assert.ok(out.ok, `${where}: derivation failed: ${out.ok ? '' : String(out.error)}`);
          if (out.ok) assert.equal(out.value.toString('hex'), tc.okm, `${where}: okm mismatch`);
          tally.valid++;
          break;
        }
        case 'invalid': {
          const out = attempt(derive);
          assert.equal(out.ok, false, `${where}: invalid case produced ${out.ok ? out.value.length : 0} bytes`);
          if (!out.ok) assert.ok(out.error instanceof RangeError, `${where}: threw ${String(out.error)}, expected RangeError`);
          tally.invalid++;
          break;
        }
        case 'acceptable': {
          const out = attempt(derive);
          if (out.ok) {
            assert.equal(out.value.toString('hex'), tc.okm, `${where}: acceptable case produced the wrong okm`);
            tally.acceptableAccepted++;
          }
          tally.acceptable++;
          break;
        }
        default:
          assert.fail(`${where}: unknown result ${String(tc.result)}`);
      }
    }
  }

  t.diagnostic(
    `hkdf_sha256_test.json: ${tally.total} cases: valid ${tally.valid}, invalid ${tally.invalid}, ` +
      `acceptable ${tally.acceptable} (${tally.acceptableAccepted} derived)`,
  );
  assert.equal(tally.total, file.numberOfTests, 'processed case count disagrees with the file header numberOfTests');
  assert.ok(tally.valid >= 50, `only ${tally.valid} valid HKDF cases checked`);
  assert.ok(tally.invalid > 0, 'no invalid HKDF cases checked');
});

/** Deterministic byte stream (AES-128-CTR keystream) so that a failing run can be replayed from its seed. */
class Rng {
  private readonly stream;
  constructor(seed: Buffer) {
    this.stream = createCipheriv('aes-128-ctr', seed, Buffer.alloc(16));
  }
  bytes(n: number): Buffer {
    return n === 0 ? Buffer.alloc(0) : this.stream.update(Buffer.alloc(n));
  }
  /** Uniform-enough integer in [0, n) for the small n used here. */
  int(n: number): number {
    return this.bytes(4).readUInt32BE(0) % n;
  }
}

function flipBit(buf: Buffer, bit: number): Buffer {
  const out = Buffer.from(buf);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

test('AES-GCM property: round trip, and any single flipped bit is rejected', (t) => {
  const seedHex = process.env.WYCHEPROOF_PROPERTY_SEED ?? randomBytes(16).toString('hex');
  t.diagnostic(`seed ${seedHex} (replay with WYCHEPROOF_PROPERTY_SEED=${seedHex})`);
  const rng = new Rng(hex(seedHex));
  const ROUNDS = 200;
  const flips = { ciphertext: 0, tag: 0, iv: 0, aad: 0 };

  for (let i = 0; i < ROUNDS; i++) {
    const key = rng.bytes([16, 24, 32][rng.int(3)]!);
    const iv = rng.bytes(12);
    const aad = rng.bytes(rng.int(4) === 0 ? 0 : 1 + rng.int(64));
    const msg = rng.bytes(rng.int(4) === 0 ? rng.int(2) : rng.int(300));
    const where = `round ${i} (seed ${seedHex}; key ${key.length}, aad ${aad.length}, msg ${msg.length} bytes)`;

    const { ciphertext, tag } = gcmEncryptWithIv(key, iv, msg, aad);
    assert.equal(ciphertext.length, msg.length, `${where}: ciphertext length`);
    assert.equal(tag.length, 16, `${where}: tag length`);
    assert.deepEqual(gcmDecrypt(key, iv, ciphertext, tag, aad), msg, `${where}: round trip`);

    const tamper = (field: keyof typeof flips, buf: Buffer, decrypt: (flipped: Buffer) => Buffer): void => {
      if (buf.length === 0) return;
      const bit = rng.int(buf.length * 8);
      const r = attempt(() => decrypt(flipBit(buf, bit)));
      assert.equal(r.ok, false, `${where}: flipping bit ${bit} of the ${field} was not detected`);
      if (!r.ok) assert.ok(r.error instanceof AeadError, `${where}: flipped ${field} bit ${bit} threw ${String(r.error)}, expected AeadError`);
      flips[field]++;
    };
    tamper('ciphertext', ciphertext, (c) => gcmDecrypt(key, iv, c, tag, aad));
    tamper('tag', tag, (g) => gcmDecrypt(key, iv, ciphertext, g, aad));
    tamper('iv', iv, (v) => gcmDecrypt(key, v, ciphertext, tag, aad));
    tamper('aad', aad, (a) => gcmDecrypt(key, iv, ciphertext, tag, a));

    // The random-IV envelope form used inside Trent round-trips the same tuple (32-byte keys only).
    if (key.length === 32) assert.deepEqual(openFromBytes(key, sealToBytes(key, msg, aad), aad), msg, `${where}: sealToBytes/openFromBytes`);
  }

  t.diagnostic(`${ROUNDS} tuples; bit flips rejected: ciphertext ${flips.ciphertext}, tag ${flips.tag}, iv ${flips.iv}, aad ${flips.aad}`);
  assert.equal(flips.tag, ROUNDS);
  assert.equal(flips.iv, ROUNDS);
  assert.ok(flips.ciphertext > ROUNDS / 2 && flips.aad > ROUNDS / 2, 'too few ciphertext / aad flips exercised');
});
