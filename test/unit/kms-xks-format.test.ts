// The byte formats of keys in custom key stores (docs/formats.md, versions 2 and 3) and the pieces of the External
// Key Store Proxy API that both sides compute: the Ciphertext Data Integrity Value, checked against the worked
// example of the API specification's Appendix C, and the AAD framing an AES-GCM proxy uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  decodeHsmBlob,
  decodeXksBlob,
  encodeHsmBlob,
  encodeXksBlob,
  FORMAT_HSM,
  FORMAT_V1,
  FORMAT_XKS,
  peekBlob,
} from '../../src/kms/ciphertext.ts';
import { sealUnderBackingKey } from '../../src/kms/envelope.ts';
import { ciphertextDataIntegrityValue, decodeBase64, gcmAadFor, isXksErrorName, XKS_ERRORS } from '../../src/kms/xks-format.ts';
import { xksAad } from '../../src/kms/custom-key-stores.ts';
import { CLUSTER_ID } from '../../src/kms/hsm-keys.ts';

test('CDIV: the specification\'s Appendix C example (33 bytes of AAD, 13 of metadata, 12 of IV, 12 of ciphertext, 16 of tag)', () => {
  const aad = Buffer.from('project=nile,department=marketing');
  assert.equal(aad.length, 33);
  const metadata = Buffer.from('a2V5X3ZlcnNpb249MQ==', 'base64');
  assert.equal(metadata.toString(), 'key_version=1');
  const cdiv = ciphertextDataIntegrityValue({
    aad,
    metadata,
    iv: Buffer.from('HMrlRw85cAJUd5Ax', 'base64'),
    ciphertext: Buffer.from('ghxkK1txeDNn3q8Y', 'base64'),
    tag: Buffer.from('vBxN2ncH1oEkR8WVXpmyYQ==', 'base64'),
  });
  assert.equal(cdiv, 'qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=');
  assert.equal(Buffer.from(cdiv, 'base64').toString('hex'), 'a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7');
  // Absent fields count as empty strings: the same bytes hash the same whichever field holds them.
  const iv = randomBytes(12);
  const ct = randomBytes(5);
  const tag = randomBytes(16);
  assert.equal(ciphertextDataIntegrityValue({ iv, ciphertext: ct, tag }), ciphertextDataIntegrityValue({ aad: Buffer.alloc(0), metadata: Buffer.alloc(0), iv, ciphertext: ct, tag }));
});

test('the AES-GCM AAD of a proxy: 2-byte AAD length, AAD, 1-byte metadata length, metadata', () => {
  assert.deepEqual(gcmAadFor(undefined, undefined), Buffer.from([0, 0, 0]));
  assert.deepEqual(gcmAadFor(Buffer.from('ab'), Buffer.from('xyz')), Buffer.from([0, 2, 0x61, 0x62, 3, 0x78, 0x79, 0x7a]));
  // Metadata passed off as AAD (or the other way round) gives different bytes.
  assert.notDeepEqual(gcmAadFor(Buffer.from('m'), undefined), gcmAadFor(undefined, Buffer.from('m')));
  assert.equal(gcmAadFor(Buffer.alloc(8192), Buffer.alloc(20)).length, 2 + 8192 + 1 + 20);
  assert.throws(() => gcmAadFor(undefined, Buffer.alloc(256)), RangeError);
});

test('the error names of the API and their HTTP statuses', () => {
  assert.equal(XKS_ERRORS.AuthenticationFailedException, 401);
  assert.equal(XKS_ERRORS.AccessDeniedException, 403);
  assert.equal(XKS_ERRORS.KeyNotFoundException, 404);
  assert.equal(XKS_ERRORS.InvalidUriPathException, 404);
  assert.equal(XKS_ERRORS.ThrottlingException, 429);
  assert.equal(XKS_ERRORS.UnsupportedOperationException, 501);
  assert.equal(XKS_ERRORS.DependencyTimeoutException, 503);
  assert.ok(isXksErrorName('InvalidCiphertextException'));
  assert.ok(!isXksErrorName('toString') && !isXksErrorName('__proto__') && !isXksErrorName(42));
});

test('strict base64 for the API\'s fields', () => {
  assert.deepEqual(decodeBase64('SGVsbG8gV29ybGQh'), Buffer.from('Hello World!'));
  for (const bad of ['SGVsbG8', 'SGVs bG8=', 'SGVsbG8_', 42, null, '====']) assert.equal(decodeBase64(bad), undefined, String(bad));
});

test('version 2 blobs (a key in a PKCS#11 key store): round trip, and every malformation is InvalidCiphertextException', () => {
  const keyId = randomUUID();
  const iv = randomBytes(12);
  const ct = randomBytes(40);
  const tag = randomBytes(16);
  const blob = encodeHsmBlob(keyId, iv, ct, tag);
  assert.equal(blob[0], FORMAT_HSM);
  assert.deepEqual(peekBlob(blob), { format: FORMAT_HSM, keyId });
  const d = decodeHsmBlob(blob);
  assert.equal(d.keyId, keyId);
  assert.deepEqual([d.iv, d.ciphertext, d.tag], [iv, ct, tag]);
  assert.deepEqual(d.header, blob.subarray(0, 38));
  for (const cut of [0, 1, 37, 38, 38 + 12 + 16]) assert.throws(() => decodeHsmBlob(blob.subarray(0, cut)), { name: 'InvalidCiphertextException' }, `cut at ${cut}`);
  const other = Buffer.from(blob);
  other[0] = FORMAT_XKS;
  assert.throws(() => decodeHsmBlob(other), { name: 'InvalidCiphertextException' });
  assert.throws(() => encodeHsmBlob(keyId, randomBytes(16), ct, tag), RangeError);
});

test('version 3 blobs (a key in an external key store): the proxy\'s fields kept as they came, with bounds checked before each read', () => {
  const keyId = randomUUID();
  for (const [m, v] of [
    [0, 12],
    [13, 12],
    [20, 16],
  ] as const) {
    const parts = { metadata: randomBytes(m), iv: randomBytes(v), tag: randomBytes(16), ciphertext: randomBytes(120) };
    const blob = encodeXksBlob(keyId, parts);
    assert.equal(blob[0], FORMAT_XKS);
    assert.deepEqual(peekBlob(blob), { format: FORMAT_XKS, keyId });
    const d = decodeXksBlob(blob);
    assert.deepEqual([d.metadata, d.iv, d.tag, d.ciphertext], [parts.metadata, parts.iv, parts.tag, parts.ciphertext]);
    for (let cut = 0; cut < 40 + m + v + 16 + 1; cut += 7) assert.throws(() => decodeXksBlob(blob.subarray(0, cut)), { name: 'InvalidCiphertextException' }, `cut at ${cut}`);
  }
  const blob = encodeXksBlob(keyId, { metadata: Buffer.alloc(0), iv: randomBytes(12), tag: randomBytes(16), ciphertext: randomBytes(10) });
  const badMeta = Buffer.from(blob);
  badMeta[38] = 21;
  assert.throws(() => decodeXksBlob(badMeta), { name: 'InvalidCiphertextException' });
  const badIv = Buffer.from(blob);
  badIv[39] = 13;
  assert.throws(() => decodeXksBlob(badIv), { name: 'InvalidCiphertextException' });
  assert.throws(() => encodeXksBlob(keyId, { metadata: randomBytes(21), iv: randomBytes(12), tag: randomBytes(16), ciphertext: randomBytes(1) }), RangeError);
});

test('peekBlob tells the three formats apart and ignores anything else', () => {
  const keyId = randomUUID();
  const v1 = sealUnderBackingKey(keyId, 1, randomBytes(32), Buffer.from('x'), {});
  assert.deepEqual(peekBlob(v1), { format: FORMAT_V1, keyId });
  assert.equal(peekBlob(Buffer.from([0x04, 36, ...Buffer.from(keyId)])), undefined);
  assert.equal(peekBlob(Buffer.from([0x01, 35, ...Buffer.from(keyId.slice(1))])), undefined);
  assert.equal(peekBlob(randomBytes(256).fill(0x41)), undefined);
  assert.equal(peekBlob(Buffer.alloc(0)), undefined);
});

test('the AAD Trent sends a proxy binds the key and the encryption context, whatever the order of its pairs', () => {
  const keyId = randomUUID();
  const a = xksAad(keyId, { b: '2', a: '1' });
  assert.deepEqual(a, xksAad(keyId, { a: '1', b: '2' }));
  assert.equal(a.length, 38 + 32);
  assert.deepEqual(a.subarray(0, 38), Buffer.concat([Buffer.of(FORMAT_XKS, 36), Buffer.from(keyId)]));
  assert.notDeepEqual(a, xksAad(keyId, { a: '1', b: '3' }));
  assert.notDeepEqual(a, xksAad(randomUUID(), { a: '1', b: '2' }));
});

test('CloudHSM cluster ids', () => {
  for (const ok of ['cluster-234567abcde', 'cluster-ABCDEFGHIJKLMNOP']) assert.ok(CLUSTER_ID.test(ok), ok);
  for (const bad of ['cluster-1234567890a', 'cluster-abc', 'cluster-abcdefghijklmnopq', 'clusterx-abcdefghijk']) assert.ok(!CLUSTER_ID.test(bad), bad);
});
