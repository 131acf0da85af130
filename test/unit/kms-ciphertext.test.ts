import { test } from 'node:test';
import { Rng } from '../helpers/rng.ts';
import assert from 'node:assert/strict';
import { createCipheriv, hkdfSync, randomBytes, randomInt } from 'node:crypto';
import { decodeBlob, encodeBlob, encodeHeader, FORMAT_V1, IV_BYTES, NONCE_BYTES, TAG_BYTES } from '../../src/kms/ciphertext.ts';
import { openUnderBackingKey, sealUnderBackingKey } from '../../src/kms/envelope.ts';
import { canonicalEncryptionContext, readEncryptionContext, type EncryptionContext } from '../../src/kms/encryption-context.ts';
import { InvalidCiphertextException } from '../../src/kms/errors.ts';

const KEY_A = '1b4e28ba-2fa1-41d2-883f-0016d3cca427';
const KEY_B = '6fa459ea-ee8a-4ca4-894e-db77e160355e';
/** Offsets in a version 1 blob with a 36-byte key id (docs/formats.md). */
const ID_LEN = 36;
const VERSION_AT = 2 + ID_LEN;
const NONCE_AT = VERSION_AT + 4;
const IV_AT = NONCE_AT + NONCE_BYTES;
const CT_AT = IV_AT + IV_BYTES;

/** decodeBlob then openUnderBackingKey, as Decrypt does once it has found the key. */
function open(blob: Uint8Array, backingKey: Uint8Array, ec: EncryptionContext = {}): Buffer {
  return openUnderBackingKey(decodeBlob(blob), backingKey, ec);
}

function assertInvalid(fn: () => unknown, message: string): void {
  let threw: unknown;
  try {
    fn();
  } catch (err) {
    threw = err;
  }
  assert.ok(threw !== undefined, `${message}: expected InvalidCiphertextException, nothing was thrown`);
  if (!(threw instanceof InvalidCiphertextException)) {
    assert.fail(`${message}: expected InvalidCiphertextException, got ${(threw as Error)?.name}: ${(threw as Error)?.message}`);
  }
  assert.equal(threw.code, 'InvalidCiphertextException');
  assert.equal(threw.status, 400);
}

// ---------------------------------------------------------------------------------------------
// Format
// ---------------------------------------------------------------------------------------------

test('encodeHeader + encodeBlob round-trip through decodeBlob field for field', () => {
  const nonce = randomBytes(NONCE_BYTES);
  const iv = randomBytes(IV_BYTES);
  const ciphertext = randomBytes(17);
  const tag = randomBytes(TAG_BYTES);
  for (const version of [1, 2, 255, 256, 65_536, 0x7fffffff, 0xffffffff]) {
    const header = encodeHeader(KEY_A, version, nonce);
    assert.equal(header.length, 2 + ID_LEN + 4 + NONCE_BYTES);
    assert.equal(header[0], FORMAT_V1);
    assert.equal(header[1], ID_LEN);
    assert.equal(header.subarray(2, VERSION_AT).toString('ascii'), KEY_A);
    assert.equal(header.readUInt32BE(VERSION_AT), version);
    assert.deepEqual(header.subarray(NONCE_AT), nonce);

    const blob = encodeBlob(header, iv, ciphertext, tag);
    assert.equal(blob.length, header.length + IV_BYTES + ciphertext.length + TAG_BYTES);
    const d = decodeBlob(blob);
    assert.ok(Object.isFrozen(d), 'decodeBlob returns a frozen object');
    assert.equal(d.keyId, KEY_A);
    assert.equal(d.version, version);
    assert.deepEqual(d.nonce, nonce);
    assert.deepEqual(d.iv, iv);
    assert.deepEqual(d.ciphertext, ciphertext);
    assert.deepEqual(d.tag, tag);
    assert.deepEqual(d.header, header);
    assert.throws(() => {
      (d as { keyId: string }).keyId = KEY_B;
    }, TypeError);
    assert.equal(d.keyId, KEY_A);
  }
});

test('decodeBlob reads a Uint8Array view at a non-zero offset of a larger buffer', () => {
  const header = encodeHeader(KEY_B, 7, Buffer.alloc(NONCE_BYTES, 0xaa));
  const blob = encodeBlob(header, Buffer.alloc(IV_BYTES, 0xbb), Buffer.from('xyz'), Buffer.alloc(TAG_BYTES, 0xcc));
  const backing = new Uint8Array(blob.length + 100).fill(0xee);
  backing.set(blob, 50);
  const view = new Uint8Array(backing.buffer, 50, blob.length);
  const d = decodeBlob(view);
  assert.equal(d.keyId, KEY_B);
  assert.equal(d.version, 7);
  assert.deepEqual(d.ciphertext, Buffer.from('xyz'));
  assert.deepEqual(d.tag, Buffer.alloc(TAG_BYTES, 0xcc));
});

test('encodeHeader and encodeBlob reject bad inputs with RangeError', () => {
  const nonce = randomBytes(NONCE_BYTES);
  for (const id of ['', 'not-a-uuid', KEY_A.toUpperCase(), KEY_A.slice(1), `${KEY_A}0`, ` ${KEY_A.slice(1)}`, KEY_A.replace(/-/g, '_'), `${KEY_A.slice(0, 35)}\u00e9`]) {
    assert.throws(() => encodeHeader(id, 1, nonce), RangeError, `key id ${JSON.stringify(id)}`);
  }
  for (const v of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 0x1_0000_0000, Number.MAX_SAFE_INTEGER]) {
    assert.throws(() => encodeHeader(KEY_A, v, nonce), RangeError, `version ${v}`);
  }
  for (const n of [0, 16, 31, 33, 64]) {
    assert.throws(() => encodeHeader(KEY_A, 1, new Uint8Array(n)), RangeError, `nonce of ${n} bytes`);
  }
  const header = encodeHeader(KEY_A, 1, nonce);
  assert.throws(() => encodeBlob(header, new Uint8Array(11), Buffer.from('x'), new Uint8Array(TAG_BYTES)), RangeError);
  assert.throws(() => encodeBlob(header, new Uint8Array(16), Buffer.from('x'), new Uint8Array(TAG_BYTES)), RangeError);
  assert.throws(() => encodeBlob(header, new Uint8Array(IV_BYTES), Buffer.from('x'), new Uint8Array(12)), RangeError);
  assert.throws(() => encodeBlob(header, new Uint8Array(IV_BYTES), Buffer.from('x'), new Uint8Array(17)), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------------------------

test('seal/open round trip with empty and non-empty encryption contexts', () => {
  const key = randomBytes(32);
  const contexts: EncryptionContext[] = [{}, { purpose: 'test' }, { a: '1', b: '2', c: '' }, { 'clé': 'välue', '\u{1F511}': '\u{1F512}' }];
  for (const ec of contexts) {
    for (const size of [1, 2, 15, 16, 17, 1000, 4096]) {
      const plaintext = randomBytes(size);
      const blob = sealUnderBackingKey(KEY_A, 3, key, plaintext, ec);
      assert.equal(blob.length, CT_AT + size + TAG_BYTES, 'GCM adds no padding');
      const d = decodeBlob(blob);
      assert.equal(d.keyId, KEY_A);
      assert.equal(d.version, 3);
      assert.equal(d.ciphertext.length, size);
      // A short ciphertext equals its plaintext by chance (1 in 256 for one byte): compared from 16 bytes on (2^-128).
      if (size >= 16) assert.notDeepEqual(d.ciphertext, plaintext);
      assert.deepEqual(openUnderBackingKey(d, key, ec), plaintext);
      // The same context in another insertion order opens too.
      const reordered = Object.fromEntries(Object.entries(ec).reverse());
      assert.deepEqual(open(blob, key, reordered), plaintext);
    }
  }
});

test('a blob built independently from docs/formats.md opens with openUnderBackingKey', () => {
  const backing = randomBytes(32);
  const ec = { tenant: 'acme', b: 'x' };
  const plaintext = Buffer.from('format check');
  const blob = specSeal(KEY_B, 9, backing, plaintext, ec, randomBytes(NONCE_BYTES), randomBytes(IV_BYTES));
  assert.deepEqual(open(blob, backing, ec), plaintext);
});

test('canonical encryption context: order-independent, case-sensitive, length-prefixed, UTF-8 byte order', () => {
  const c = canonicalEncryptionContext;
  assert.deepEqual(c({}), Buffer.from([0, 0, 0, 0]));
  assert.deepEqual(c({ a: '1', b: '2' }), c({ b: '2', a: '1' }));
  assert.deepEqual(
    c({ b: '2', a: '1' }),
    Buffer.from([0, 0, 0, 2, 0, 0, 0, 1, 0x61, 0, 0, 0, 1, 0x31, 0, 0, 0, 1, 0x62, 0, 0, 0, 1, 0x32]),
  );
  assert.notDeepEqual(c({ a: '1' }), c({ A: '1' }), 'keys are case-sensitive');
  assert.notDeepEqual(c({ a: 'x' }), c({ a: 'X' }), 'values are case-sensitive');
  assert.notDeepEqual(c({ ab: 'c' }), c({ a: 'bc' }), 'length prefixes separate key and value');
  assert.notDeepEqual(c({ a: 'b', c: '' }), c({ a: 'bc' }));
  assert.notDeepEqual(c({ '': 'a' }), c({ a: '' }));
  assert.notDeepEqual(c({}), c({ '': '' }));
  // Unicode: NFC and NFD forms are different keys; lengths count UTF-8 bytes.
  assert.notDeepEqual(c({ '\u00e9': 'v' }), c({ 'e\u0301': 'v' }));
  assert.deepEqual(c({ '\u00e9': '\u{1F600}' }), Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 0xc3, 0xa9, 0, 0, 0, 4]), Buffer.from('\u{1F600}')]));
  // Sorted by UTF-8 bytes, not UTF-16 code units: U+FFFF (EF BF BF) sorts before U+1F600 (F0 9F 98 80),
  // although JavaScript's default string order puts the surrogate pair (D83D ...) first.
  const uni = c({ '\u{1F600}': 'x', '\uffff': 'y' });
  assert.deepEqual(uni, c({ '\uffff': 'y', '\u{1F600}': 'x' }));
  assert.ok(uni.indexOf(Buffer.from('\uffff')) < uni.indexOf(Buffer.from('\u{1F600}')), 'U+FFFF sorts before U+1F600');
  assert.deepEqual(c({ z: '1', '\u00e9': '2', a: '3' }), c({ a: '3', '\u00e9': '2', z: '1' }));

  // The same distinctions hold when opening.
  const key = randomBytes(32);
  const blob = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('secret'), { ab: 'c' });
  assert.deepEqual(open(blob, key, { ab: 'c' }), Buffer.from('secret'));
  assertInvalid(() => open(blob, key, { a: 'bc' }), '{ab:c} opened with {a:bc}');
  assertInvalid(() => open(blob, key, { AB: 'c' }), '{ab:c} opened with {AB:c}');
  assertInvalid(() => open(blob, key, { ab: 'C' }), '{ab:c} opened with {ab:C}');
  const u = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('secret'), { '\u00e9': '1' });
  assert.deepEqual(open(u, key, { '\u00e9': '1' }), Buffer.from('secret'));
  assertInvalid(() => open(u, key, { 'e\u0301': '1' }), 'NFC key opened with NFD key');
});

test(
  'an encryption context pair named "__proto__" is bound like any other',
  () => {
    // JSON.parse (as the awsJson body parser uses) makes "__proto__" an own key; the pair must survive.
    const wire = JSON.parse('{"__proto__":"tenant-a","b":"1"}') as unknown;
    const ec = readEncryptionContext(wire);
    assert.deepEqual(Object.keys(ec).sort(), ['__proto__', 'b']);
    assert.notDeepEqual(canonicalEncryptionContext(ec), canonicalEncryptionContext({ b: '1' }));
    const other = readEncryptionContext(JSON.parse('{"__proto__":"tenant-b","b":"1"}') as unknown);
    assert.notDeepEqual(canonicalEncryptionContext(ec), canonicalEncryptionContext(other));
  },
);

test('a different, missing or extra encryption context fails', () => {
  const key = randomBytes(32);
  const ec = { purpose: 'payroll', tenant: 't1' };
  const blob = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('pay'), ec);
  assertInvalid(() => open(blob, key, {}), 'empty context');
  assertInvalid(() => open(blob, key, { purpose: 'payroll' }), 'a subset');
  assertInvalid(() => open(blob, key, { ...ec, extra: '' }), 'a superset');
  assertInvalid(() => open(blob, key, { purpose: 'payroll', tenant: 't2' }), 'another value');
  const bare = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('pay'), {});
  assert.deepEqual(open(bare, key, {}), Buffer.from('pay'));
  assertInvalid(() => open(bare, key, { a: 'b' }), 'a context where none was used');
  assertInvalid(() => open(bare, key, { '': '' }), 'an empty-string pair where none was used');
});

test('a wrong backing key fails', () => {
  const key = randomBytes(32);
  const blob = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('data'), {});
  assertInvalid(() => open(blob, randomBytes(32)), 'random key');
  const near = Buffer.from(key);
  near[31]! ^= 1;
  assertInvalid(() => open(blob, near), 'key with one bit changed');
  assertInvalid(() => open(blob, Buffer.alloc(32)), 'zero key');
  assertInvalid(() => open(blob, key.subarray(0, 16)), 'a prefix of the key');
});

test('two seals of the same plaintext differ in nonce, IV, ciphertext and tag', () => {
  const key = randomBytes(32);
  const plaintext = Buffer.from('same plaintext, same key, same context');
  const seen = { nonce: new Set<string>(), iv: new Set<string>(), ct: new Set<string>() };
  for (let i = 0; i < 50; i++) {
    const d = decodeBlob(sealUnderBackingKey(KEY_A, 1, key, plaintext, { a: 'b' }));
    seen.nonce.add(d.nonce.toString('hex'));
    seen.iv.add(d.iv.toString('hex'));
    seen.ct.add(Buffer.concat([d.ciphertext, d.tag]).toString('hex'));
  }
  assert.equal(seen.nonce.size, 50);
  assert.equal(seen.iv.size, 50);
  assert.equal(seen.ct.size, 50);
});

// ---------------------------------------------------------------------------------------------
// Tampering
// ---------------------------------------------------------------------------------------------

test('every single-bit flip anywhere in a sealed blob is refused with InvalidCiphertextException', () => {
  const key = randomBytes(32);
  for (const ec of [{}, { k: 'v' }] as EncryptionContext[]) {
    const blob = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('abc'), ec);
    assert.deepEqual(open(blob, key, ec), Buffer.from('abc'));
    let flips = 0;
    for (let bit = 0; bit < blob.length * 8; bit++) {
      const m = Buffer.from(blob);
      m[bit >> 3]! ^= 1 << (bit & 7);
      assertInvalid(() => open(m, key, ec), `flip of bit ${bit & 7} of byte ${bit >> 3}`);
      flips++;
    }
    assert.equal(flips, (CT_AT + 3 + TAG_BYTES) * 8);
  }
});

test('every truncation is refused with InvalidCiphertextException', () => {
  const key = randomBytes(32);
  const blob = sealUnderBackingKey(KEY_B, 2, key, Buffer.from('truncate me'), { x: 'y' });
  for (let len = 0; len < blob.length; len++) {
    assertInvalid(() => open(blob.subarray(0, len), key, { x: 'y' }), `first ${len} of ${blob.length} bytes`);
    // Dropping bytes from the front is no better.
    assertInvalid(() => open(blob.subarray(blob.length - len), key, { x: 'y' }), `last ${len} of ${blob.length} bytes`);
  }
  assert.deepEqual(open(blob, key, { x: 'y' }), Buffer.from('truncate me'));
  // Extra bytes at the end move the tag: refused too.
  assertInvalid(() => open(Buffer.concat([blob, Buffer.from([0])]), key, { x: 'y' }), 'one byte appended');
});

test('decodeBlob refuses a format version other than 0x01', () => {
  const blob = sealUnderBackingKey(KEY_A, 1, randomBytes(32), Buffer.from('v'), {});
  for (let v = 0; v < 256; v++) {
    if (v === FORMAT_V1) continue;
    const m = Buffer.from(blob);
    m[0] = v;
    assertInvalid(() => decodeBlob(m), `format version ${v}`);
  }
});

test('decodeBlob refuses a key id length other than 36', () => {
  const blob = sealUnderBackingKey(KEY_A, 1, randomBytes(32), Buffer.from('v'), {});
  for (let l = 0; l < 256; l++) {
    if (l === ID_LEN) continue;
    const m = Buffer.from(blob);
    m[1] = l;
    assertInvalid(() => decodeBlob(m), `key id length ${l}`);
  }
  // A self-consistent blob with a 32-byte key id (header and all) is refused just the same.
  const short = Buffer.concat([Buffer.from([FORMAT_V1, 32]), Buffer.from(KEY_A.replace(/-/g, '')), blob.subarray(VERSION_AT)]);
  assertInvalid(() => decodeBlob(short), 'a 32-character key id');
});

test('decodeBlob refuses a key id that is not a lower-case UUID', () => {
  const key = randomBytes(32);
  const blob = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('v'), {});
  const withId = (id: Buffer) => {
    assert.equal(id.length, ID_LEN);
    const m = Buffer.from(blob);
    id.copy(m, 2);
    return m;
  };
  const bad = [
    KEY_A.toUpperCase(),
    KEY_A.replace(/-/g, 'x'),
    KEY_A.replace('-', '0'),
    `{${KEY_A.slice(1, 35)}}`,
    'g'.repeat(8) + KEY_A.slice(8),
    KEY_A.slice(0, 35) + ' ',
    KEY_A.slice(0, 35) + '\n',
    '/'.repeat(36),
  ];
  for (const id of bad) assertInvalid(() => decodeBlob(withId(Buffer.from(id, 'latin1'))), `key id ${JSON.stringify(id)}`);
  for (const b of [0x00, 0x80, 0xe9, 0xff]) {
    const id = Buffer.from(KEY_A, 'ascii');
    id[10] = b;
    assertInvalid(() => decodeBlob(withId(id)), `key id with byte 0x${b.toString(16)}`);
  }
  // A well-formed but different key id parses, and then fails authentication: the id is in the AAD.
  const other = withId(Buffer.from(KEY_B, 'ascii'));
  assert.equal(decodeBlob(other).keyId, KEY_B);
  assertInvalid(() => open(other, key), 'another key id under the same backing key');
});

test('backing key version 0 is refused; another version fails authentication', () => {
  const key = randomBytes(32);
  const blob = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('v'), {});
  const m = Buffer.from(blob);
  m.writeUInt32BE(0, VERSION_AT);
  assertInvalid(() => decodeBlob(m), 'version 0');
  for (const v of [2, 256, 0x01000001, 0xffffffff]) {
    const n = Buffer.from(blob);
    n.writeUInt32BE(v, VERSION_AT);
    assert.equal(decodeBlob(n).version, v);
    assertInvalid(() => open(n, key), `version ${v}`);
  }
});

test('a blob claiming another key, or another blob’s nonce or IV, fails', () => {
  const key = randomBytes(32);
  const a = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('aaaa'), {});
  const b = sealUnderBackingKey(KEY_A, 1, key, Buffer.from('bbbb'), {});
  const swapNonce = Buffer.concat([a.subarray(0, NONCE_AT), b.subarray(NONCE_AT, IV_AT), a.subarray(IV_AT)]);
  assertInvalid(() => open(swapNonce, key), 'nonce of another blob');
  const swapIv = Buffer.concat([a.subarray(0, IV_AT), b.subarray(IV_AT, CT_AT), a.subarray(CT_AT)]);
  assertInvalid(() => open(swapIv, key), 'IV of another blob');
  const swapTag = Buffer.concat([a.subarray(0, a.length - TAG_BYTES), b.subarray(b.length - TAG_BYTES)]);
  assertInvalid(() => open(swapTag, key), 'tag of another blob');
  const swapHeader = Buffer.concat([b.subarray(0, IV_AT), a.subarray(IV_AT)]);
  assertInvalid(() => open(swapHeader, key), 'header of another blob');
});

// ---------------------------------------------------------------------------------------------
// Randomized fuzz
// ---------------------------------------------------------------------------------------------


function fuzzSeed(): number {
  const env = process.env['KMS_FUZZ_SEED'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`KMS_FUZZ_SEED must be an integer 0..4294967295, not ${env}`);
    return n;
  }
  return randomInt(0, 0xffffffff);
}

/**
 * A version 1 blob written from the format description alone, so that the fuzz corpus is a pure
 * function of the seed (sealUnderBackingKey draws its nonce and IV from the CSPRNG).
 */
function specSeal(keyId: string, version: number, backing: Uint8Array, plaintext: Uint8Array, ec: EncryptionContext, nonce: Buffer, iv: Buffer): Buffer {
  const header = Buffer.alloc(2 + ID_LEN + 4);
  header[0] = 0x01;
  header[1] = ID_LEN;
  header.write(keyId, 2, 'ascii');
  header.writeUInt32BE(version, VERSION_AT);
  const fullHeader = Buffer.concat([header, nonce]);
  const k = Buffer.from(hkdfSync('sha256', backing, nonce, Buffer.from('trent kms v1 per-request key'), 32));
  const c = createCipheriv('aes-256-gcm', k, iv, { authTagLength: 16 });
  c.setAAD(Buffer.concat([fullHeader, canonicalEncryptionContext(ec)]));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([fullHeader, iv, ct, c.getAuthTag()]);
}

interface Sample {
  keyId: string;
  version: number;
  ec: EncryptionContext;
  plaintext: Buffer;
  blob: Buffer;
}

const MUTATIONS = ['random', 'structured', 'bitflip', 'insert', 'delete', 'splice', 'length-field', 'overwrite', 'resize', 'original'] as const;
type Mutation = (typeof MUTATIONS)[number];

function mutate(rng: Rng, kind: Mutation, base: Sample, corpus: readonly Sample[]): Buffer {
  const src = base.blob;
  switch (kind) {
    case 'random':
      return rng.bytes(rng.range(0, 7000));
    case 'structured': {
      // A plausible header (so the parser gets past its first checks) over random bytes.
      const id = rng.int(3) === 0 ? rng.uuid() : rng.pick(corpus).keyId;
      const head = Buffer.alloc(2 + ID_LEN + 4);
      head[0] = FORMAT_V1;
      head[1] = ID_LEN;
      head.write(id, 2, 'ascii');
      head.writeUInt32BE(rng.pick([0, 1, 2, rng.u32()]), VERSION_AT);
      return Buffer.concat([head, rng.bytes(rng.range(0, 7000 - head.length))]).subarray(0, rng.range(0, 7000));
    }
    case 'bitflip': {
      const m = Buffer.from(src);
      const n = rng.pick([1, 1, 1, 2, 3, 8, 32]);
      for (let i = 0; i < n; i++) m[rng.int(m.length)]! ^= 1 << rng.int(8);
      return m;
    }
    case 'insert': {
      let m = Buffer.from(src);
      const n = rng.range(1, 8);
      for (let i = 0; i < n; i++) {
        const at = rng.range(0, m.length);
        m = Buffer.concat([m.subarray(0, at), rng.bytes(rng.range(1, 4)), m.subarray(at)]);
      }
      return m;
    }
    case 'delete': {
      let m = Buffer.from(src);
      const n = rng.range(1, 8);
      for (let i = 0; i < n && m.length > 0; i++) {
        const at = rng.int(m.length);
        m = Buffer.concat([m.subarray(0, at), m.subarray(Math.min(m.length, at + rng.range(1, 4)))]);
      }
      return m;
    }
    case 'splice': {
      const other = rng.pick(corpus).blob;
      // Often cut both at the same field boundary, so that the result keeps a valid shape.
      const boundaries = [2, VERSION_AT, NONCE_AT, IV_AT, CT_AT];
      const cutA = rng.int(2) === 0 ? rng.pick(boundaries) : rng.range(0, src.length);
      const cutB = rng.int(2) === 0 ? cutA : rng.range(0, other.length);
      return Buffer.concat([src.subarray(0, Math.min(cutA, src.length)), other.subarray(Math.min(cutB, other.length))]);
    }
    case 'length-field': {
      const m = Buffer.from(src);
      switch (rng.int(4)) {
        case 0:
          m[1] = rng.int(256);
          return m;
        case 1:
          m[0] = rng.int(256);
          return m;
        case 2:
          m.writeUInt32BE(rng.pick([0, 1, 2, base.version + 1, 0xffffffff, rng.u32()]), VERSION_AT);
          return m;
        default: {
          // Claim a different id length and make the bytes fit it.
          const l = rng.range(0, 80);
          return Buffer.concat([Buffer.from([FORMAT_V1, l]), rng.bytes(l), src.subarray(VERSION_AT)]);
        }
      }
    }
    case 'overwrite': {
      const m = Buffer.from(src);
      const at = rng.int(m.length);
      rng.bytes(rng.range(1, 16)).copy(m, at);
      return m;
    }
    case 'resize': {
      const n = rng.range(0, 7000);
      return n <= src.length ? src.subarray(0, n) : Buffer.concat([src, rng.bytes(n - src.length)]);
    }
    case 'original':
      return Buffer.from(src);
  }
}

test('fuzz: 20,000 random and mutated blobs through decodeBlob + open fail only with InvalidCiphertextException', (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`seed ${seed} (replay with KMS_FUZZ_SEED=${seed})`);
  const rng = new Rng(seed);

  // Two keys, two versions each, each version its own backing key.
  const ring = new Map<string, Buffer>();
  const ids = [rng.uuid(), rng.uuid()];
  for (const id of ids) for (const v of [1, 2]) ring.set(`${id}#${v}`, rng.bytes(32));
  const contexts: EncryptionContext[] = [{}, { purpose: 'fuzz' }, { a: '1', b: '2' }, { 'clé': '\u{1F511}' }];
  const corpus: Sample[] = [];
  for (const id of ids) {
    for (const version of [1, 2]) {
      for (const size of [1, 3, 64, 4096]) {
        const ec = rng.pick(contexts);
        const plaintext = rng.bytes(size);
        const blob = specSeal(id, version, ring.get(`${id}#${version}`)!, plaintext, ec, rng.bytes(NONCE_BYTES), rng.bytes(IV_BYTES));
        corpus.push({ keyId: id, version, ec, plaintext, blob });
      }
    }
  }
  for (const s of corpus) assert.deepEqual(open(s.blob, ring.get(`${s.keyId}#${s.version}`)!, s.ec), s.plaintext, 'the corpus opens');
  const originals = new Map(corpus.map((s) => [s.blob.toString('hex'), s]));

  const ITERATIONS = 20_000;
  const counts: Record<string, { n: number; decodeRefused: number; openRefused: number; opened: number }> = {};
  for (const m of MUTATIONS) counts[m] = { n: 0, decodeRefused: 0, openRefused: 0, opened: 0 };
  let redrawn = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const kind: Mutation = i % 100 === 99 ? 'original' : rng.pick(MUTATIONS.slice(0, -1));
    const base = rng.pick(corpus);
    let input = mutate(rng, kind, base, corpus);
    // A mutation that happens to rebuild an original (a splice at the same offset of the same blob,
    // a version overwritten with itself) is drawn again: only 'original' inputs may decrypt.
    while (kind !== 'original' && originals.has(input.toString('hex'))) {
      redrawn++;
      input = mutate(rng, kind, base, corpus);
    }
    const original = originals.get(input.toString('hex'));
    const c = counts[kind]!;
    c.n++;
    const where = () => `seed ${seed}, iteration ${i}, ${kind} of a ${base.blob.length}-byte blob, input ${input.length} bytes: ${input.subarray(0, 96).toString('hex')}${input.length > 96 ? '...' : ''}`;
    let stage = 'decodeBlob';
    try {
      const parsed = decodeBlob(input);
      // Open as Decrypt would: with the named key version's backing key where the ring has one,
      // else with the base blob's, so that authentication is still exercised.
      const material = ring.get(`${parsed.keyId}#${parsed.version}`) ?? ring.get(`${base.keyId}#${base.version}`)!;
      stage = 'open';
      const plaintext = openUnderBackingKey(parsed, material, original?.ec ?? base.ec);
      assert.ok(original, `a modified blob decrypted (${where()})`);
      assert.deepEqual(plaintext, original.plaintext, `the original decrypted to something else (${where()})`);
      c.opened++;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      if (!(err instanceof InvalidCiphertextException)) {
        assert.fail(`${stage} threw ${(err as Error)?.name}: ${(err as Error)?.message} (${where()})\n${(err as Error)?.stack}`);
      }
      assert.equal(original, undefined, `the unmodified original was refused (${where()})`);
      if (stage === 'decodeBlob') c.decodeRefused++;
      else c.openRefused++;
    }
  }
  const total = Object.values(counts).reduce((a, c) => a + c.n, 0);
  assert.equal(total, ITERATIONS);
  for (const [k, c] of Object.entries(counts)) t.diagnostic(`${k}: ${c.n} inputs, ${c.decodeRefused} refused by decodeBlob, ${c.openRefused} refused by open, ${c.opened} opened`);
  t.diagnostic(`${redrawn} mutations that rebuilt an original were drawn again`);
  for (const [k, c] of Object.entries(counts)) if (k !== 'original') assert.equal(c.opened, 0, `no ${k} input decrypts`);
  assert.equal(counts['original']!.opened, counts['original']!.n, 'every unmodified original opens');
  assert.ok(Object.values(counts).reduce((a, c) => a + c.openRefused, 0) > 1000, 'the fuzz reaches authentication, not only the parser');
});
