// src/kms/asymmetric.ts called directly: signing and verification for every key spec, PKCS#1 v1.5 over a
// caller's digest, RSA-OAEP and its plaintext limits, HMAC comparison, ECDH and data key pairs. Every
// result is also checked with node:crypto on its own, from the public key alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, createHmac, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { KEY_SPECS, hashOf, maxRsaPlaintext, type KeySpecInfo } from '../../src/kms/key-specs.ts';
import {
  dataKeyPair,
  deriveShared,
  digestLength,
  generateMaterial,
  generateMaterialAsync,
  keyPair,
  mac,
  macEquals,
  publicKeyDer,
  rsaDecrypt,
  rsaEncrypt,
  signMessage,
  verifyMessage,
} from '../../src/kms/asymmetric.ts';

const spec = (name: string): KeySpecInfo => {
  const s = KEY_SPECS[name];
  assert.ok(s, `KEY_SPECS has ${name}`);
  return s;
};

/** Material per spec, generated once (RSA-4096 takes a while). */
const materials = new Map<string, Promise<Buffer>>();
function materialFor(name: string): Promise<Buffer> {
  let m = materials.get(name);
  if (!m) {
    // The large RSA sizes go through the asynchronous generator, the rest through the synchronous one.
    m = name === 'RSA_3072' || name === 'RSA_4096' ? generateMaterialAsync(spec(name)) : Promise.resolve(generateMaterial(spec(name)));
    materials.set(name, m);
  }
  return m;
}

/** node:crypto's own verification from the SubjectPublicKeyInfo alone, with KMS's parameters. */
function independentVerify(algorithm: string, publicKey: KeyObject, message: Buffer, signature: Buffer): boolean {
  if (algorithm === 'ED25519_SHA_512') return verify(null, message, publicKey, signature);
  const hash = hashOf(algorithm);
  if (algorithm.startsWith('RSASSA_PSS')) {
    return verify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: createHash(hash).digest().length }, signature);
  }
  if (algorithm.startsWith('RSASSA_PKCS1_V1_5')) return verify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
  return verify(hash, message, { key: publicKey, dsaEncoding: 'der' }, signature);
}

const SIGNING_CASES: Array<{ spec: string; algorithms: string[] }> = [
  { spec: 'RSA_2048', algorithms: ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'] },
  { spec: 'RSA_3072', algorithms: ['RSASSA_PSS_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_256'] },
  { spec: 'RSA_4096', algorithms: ['RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_512'] },
  { spec: 'ECC_NIST_P256', algorithms: ['ECDSA_SHA_256'] },
  { spec: 'ECC_NIST_P384', algorithms: ['ECDSA_SHA_384'] },
  { spec: 'ECC_NIST_P521', algorithms: ['ECDSA_SHA_512'] },
  { spec: 'ECC_SECG_P256K1', algorithms: ['ECDSA_SHA_256'] },
  { spec: 'ECC_NIST_EDWARDS25519', algorithms: ['ED25519_SHA_512'] },
];

test('the spec table: every signing algorithm tested here is one the spec offers, and the key details match', async () => {
  for (const c of SIGNING_CASES) {
    const s = spec(c.spec);
    for (const a of c.algorithms) assert.ok(s.signing.includes(a), `${c.spec} offers ${a}`);
  }
  assert.deepEqual([...spec('RSA_2048').signing].sort(), [...SIGNING_CASES[0]!.algorithms].sort(), 'RSA keys offer the six PSS and PKCS#1 v1.5 algorithms');
  const expectations: Record<string, Record<string, unknown>> = {
    RSA_2048: { type: 'rsa', modulusLength: 2048, publicExponent: 65537n },
    RSA_3072: { type: 'rsa', modulusLength: 3072, publicExponent: 65537n },
    RSA_4096: { type: 'rsa', modulusLength: 4096, publicExponent: 65537n },
    ECC_NIST_P256: { type: 'ec', namedCurve: 'prime256v1' },
    ECC_NIST_P384: { type: 'ec', namedCurve: 'secp384r1' },
    ECC_NIST_P521: { type: 'ec', namedCurve: 'secp521r1' },
    ECC_SECG_P256K1: { type: 'ec', namedCurve: 'secp256k1' },
    ECC_NIST_EDWARDS25519: { type: 'ed25519' },
  };
  for (const [name, want] of Object.entries(expectations)) {
    const material = await materialFor(name);
    // The material is PKCS#8 DER and the public key SPKI DER, both readable by node:crypto directly.
    const priv = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
    const pub = createPublicKey({ key: publicKeyDer(material), format: 'der', type: 'spki' });
    const { type, ...details } = want;
    assert.equal(priv.asymmetricKeyType, type, `${name}: private key type`);
    assert.equal(pub.asymmetricKeyType, type, `${name}: public key type`);
    for (const [k, v] of Object.entries(details)) assert.equal((pub.asymmetricKeyDetails as Record<string, unknown>)[k], v, `${name}: ${k}`);
    assert.deepEqual(createPublicKey(priv).export({ type: 'spki', format: 'der' }), publicKeyDer(material), `${name}: publicKeyDer is the private key's public half`);
    // keyPair caches its KeyObjects per material buffer.
    assert.equal(keyPair(material), keyPair(material), `${name}: keyPair is cached`);
  }
});

for (const c of SIGNING_CASES) {
  test(`sign and verify round trips: ${c.spec} with ${c.algorithms.join(', ')}`, async () => {
    const s = spec(c.spec);
    const material = await materialFor(c.spec);
    const pub = createPublicKey({ key: publicKeyDer(material), format: 'der', type: 'spki' });
    const other = await materialFor(c.spec === 'ECC_NIST_P256' ? 'ECC_NIST_P384' : 'ECC_NIST_P256');
    for (const algorithm of c.algorithms) {
      const message = randomBytes(300);
      const signature = signMessage(s, material, algorithm, message, false);
      if (s.kind === 'rsa') assert.equal(signature.length, s.bits! / 8, `${c.spec} ${algorithm}: an RSA signature is as long as the modulus`);
      if (s.kind === 'ed25519') assert.equal(signature.length, 64, `${algorithm}: an Ed25519 signature is 64 bytes`);
      if (s.kind === 'ec') assert.equal(signature[0], 0x30, `${c.spec} ${algorithm}: an ECDSA signature is a DER SEQUENCE`);
      assert.equal(verifyMessage(s, material, algorithm, message, false, signature), true, `${c.spec} ${algorithm}: verifyMessage accepts its own signature`);
      assert.equal(independentVerify(algorithm, pub, message, signature), true, `${c.spec} ${algorithm}: node:crypto verifies it from the public key`);

      const flipped = Buffer.from(signature);
      flipped[flipped.length >> 1]! ^= 0x01;
      assert.equal(verifyMessage(s, material, algorithm, message, false, flipped), false, `${c.spec} ${algorithm}: a flipped signature byte is refused`);
      const otherMessage = Buffer.concat([message, Buffer.from([0])]);
      assert.equal(verifyMessage(s, material, algorithm, otherMessage, false, signature), false, `${c.spec} ${algorithm}: another message is refused`);
      assert.equal(verifyMessage(s, material, algorithm, message, false, signature.subarray(0, signature.length - 1)), false, `${c.spec} ${algorithm}: a truncated signature is refused`);
      assert.equal(verifyMessage(s, material, algorithm, message, false, Buffer.alloc(0)), false, `${c.spec} ${algorithm}: an empty signature is refused`);
      if (s.kind !== 'rsa') assert.equal(verifyMessage(spec(c.spec === 'ECC_NIST_P256' ? 'ECC_NIST_P384' : 'ECC_NIST_P256'), other, c.spec === 'ECC_NIST_P256' ? 'ECDSA_SHA_384' : 'ECDSA_SHA_256', message, false, signature), false, `${c.spec} ${algorithm}: another key refuses it`);
    }
    if (s.kind === 'rsa') {
      // The same message signed with PSS twice gives two signatures (random salt); PKCS#1 v1.5 is deterministic.
      const m = Buffer.from('determinism');
      const pss = c.algorithms.find((a) => a.startsWith('RSASSA_PSS'))!;
      const pkcs = c.algorithms.find((a) => a.startsWith('RSASSA_PKCS1'))!;
      assert.notDeepEqual(signMessage(s, material, pss, m, false), signMessage(s, material, pss, m, false), `${c.spec}: PSS signatures are salted`);
      assert.deepEqual(signMessage(s, material, pkcs, m, false), signMessage(s, material, pkcs, m, false), `${c.spec}: PKCS#1 v1.5 signatures are deterministic`);
      // A PSS signature is not a PKCS#1 v1.5 one, nor the other way round.
      const sig = signMessage(s, material, pss, m, false);
      assert.equal(verifyMessage(s, material, `RSASSA_PKCS1_V1_5_SHA_${pss.slice(-3)}`, m, false, sig), false, `${c.spec}: a PSS signature does not verify as PKCS#1 v1.5`);
    }
  });
}

test('PKCS#1 v1.5 over a DIGEST equals signing the RAW message', async () => {
  const s = spec('RSA_2048');
  const material = await materialFor('RSA_2048');
  const pub = createPublicKey({ key: publicKeyDer(material), format: 'der', type: 'spki' });
  const message = Buffer.from('a message whose digest the caller computes');
  for (const algorithm of ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512']) {
    const digest = createHash(hashOf(algorithm)).update(message).digest();
    assert.equal(digest.length, digestLength(algorithm), `${algorithm}: digestLength`);
    const overDigest = signMessage(s, material, algorithm, digest, true);
    const overRaw = signMessage(s, material, algorithm, message, false);
    assert.deepEqual(overDigest, overRaw, `${algorithm}: DIGEST signing equals RAW signing of the message`);
    assert.equal(independentVerify(algorithm, pub, message, overDigest), true, `${algorithm}: node:crypto verifies the DIGEST signature against the message`);
    assert.equal(verifyMessage(s, material, algorithm, digest, true, overRaw), true, `${algorithm}: a RAW signature verifies as DIGEST`);
    assert.equal(verifyMessage(s, material, algorithm, message, false, overDigest), true, `${algorithm}: a DIGEST signature verifies as RAW`);
    const wrong = Buffer.from(digest);
    wrong[0]! ^= 0xff;
    assert.equal(verifyMessage(s, material, algorithm, wrong, true, overDigest), false, `${algorithm}: another digest is refused`);
    const flipped = Buffer.from(overDigest);
    flipped[10]! ^= 0x01;
    assert.equal(verifyMessage(s, material, algorithm, digest, true, flipped), false, `${algorithm}: a flipped signature byte is refused`);
    assert.equal(verifyMessage(s, material, algorithm, digest, true, Buffer.alloc(5)), false, `${algorithm}: a short signature is refused`);
  }
  // A signature for SHA-256 does not verify as SHA-512 even with a matching digest prefix: the DigestInfo differs.
  const d256 = createHash('sha256').update(message).digest();
  const sig256 = signMessage(s, material, 'RSASSA_PKCS1_V1_5_SHA_256', d256, true);
  assert.equal(verifyMessage(s, material, 'RSASSA_PKCS1_V1_5_SHA_512', createHash('sha512').update(message).digest(), true, sig256), false, 'the DigestInfo binds the hash');

});

test('PSS and ECDSA over a DIGEST (every curve and hash): node:crypto verifies each against the message; tampering, other digests and other keys are refused', async () => {
  const message = Buffer.from('a message whose digest the caller computes');
  const cases: Array<[string, string]> = [
    ['RSA_2048', 'RSASSA_PSS_SHA_256'],
    ['RSA_2048', 'RSASSA_PSS_SHA_384'],
    ['RSA_2048', 'RSASSA_PSS_SHA_512'],
    ['RSA_3072', 'RSASSA_PSS_SHA_256'],
    ['RSA_4096', 'RSASSA_PSS_SHA_512'],
    ['ECC_NIST_P256', 'ECDSA_SHA_256'],
    ['ECC_NIST_P384', 'ECDSA_SHA_384'],
    ['ECC_NIST_P521', 'ECDSA_SHA_512'],
    ['ECC_SECG_P256K1', 'ECDSA_SHA_256'],
  ];
  for (const [name, algorithm] of cases) {
    const s = spec(name);
    const m = await materialFor(name);
    const pub = createPublicKey({ key: publicKeyDer(m), format: 'der', type: 'spki' });
    const digest = createHash(hashOf(algorithm)).update(message).digest();
    const overDigest = signMessage(s, m, algorithm, digest, true);
    assert.equal(independentVerify(algorithm, pub, message, overDigest), true, `${name} ${algorithm}: node:crypto verifies the DIGEST signature against the message`);
    assert.equal(verifyMessage(s, m, algorithm, digest, true, overDigest), true, `${name} ${algorithm}: verifyMessage accepts it as DIGEST`);
    assert.equal(verifyMessage(s, m, algorithm, message, false, overDigest), true, `${name} ${algorithm}: and as RAW`);
    const overRaw = signMessage(s, m, algorithm, message, false);
    assert.equal(verifyMessage(s, m, algorithm, digest, true, overRaw), true, `${name} ${algorithm}: a RAW signature verifies as DIGEST`);
    assert.notDeepEqual(signMessage(s, m, algorithm, digest, true), overDigest, `${name} ${algorithm}: signatures are randomized (salt or hedged nonce)`);
    const wrong = Buffer.from(digest);
    wrong[0]! ^= 0xff;
    assert.equal(verifyMessage(s, m, algorithm, wrong, true, overDigest), false, `${name} ${algorithm}: another digest is refused`);
    const flipped = Buffer.from(overDigest);
    flipped[flipped.length >> 1]! ^= 0x01;
    assert.equal(verifyMessage(s, m, algorithm, digest, true, flipped), false, `${name} ${algorithm}: a flipped signature byte is refused`);
    assert.equal(verifyMessage(s, m, algorithm, digest, true, Buffer.alloc(5)), false, `${name} ${algorithm}: a short signature is refused`);
    assert.equal(verifyMessage(s, m, algorithm, digest, true, Buffer.alloc(0)), false, `${name} ${algorithm}: an empty signature is refused`);
  }
  // An ECDSA signature with the high s (which OpenSSL may produce) verifies as DIGEST too.
  const p256 = await materialFor('ECC_NIST_P256');
  const digest = createHash('sha256').update(message).digest();
  // DER: 30 len 02 rlen r 02 slen s; an s with its top bit set (so above n/2) is 33 bytes with a leading zero.
  const highS = (der: Buffer) => der[5 + der[3]!] === 33;
  let der: Buffer | undefined;
  for (let i = 0; i < 200 && !der; i++) {
    const sig = sign('sha256', message, keyPair(p256).privateKey);
    if (highS(sig)) der = sig;
  }
  assert.ok(der, 'node:crypto made a signature with a high s within 200 tries');
  assert.equal(verifyMessage(spec('ECC_NIST_P256'), p256, 'ECDSA_SHA_256', digest, true, der), true, 'an OpenSSL ECDSA signature with a high s verifies as DIGEST');
});

test('RSA-OAEP round trips with SHA-1 and SHA-256, at exactly the largest plaintext; maxRsaPlaintext is AWS’s table', async () => {
  const expected: Record<string, Record<string, number>> = {
    RSA_2048: { RSAES_OAEP_SHA_1: 214, RSAES_OAEP_SHA_256: 190 },
    RSA_3072: { RSAES_OAEP_SHA_1: 342, RSAES_OAEP_SHA_256: 318 },
    RSA_4096: { RSAES_OAEP_SHA_1: 470, RSAES_OAEP_SHA_256: 446 },
  };
  for (const [name, limits] of Object.entries(expected)) {
    const s = spec(name);
    assert.deepEqual([...s.encryption], ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'], `${name}: encryption algorithms`);
    const material = await materialFor(name);
    const priv = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
    const pub = createPublicKey({ key: publicKeyDer(material), format: 'der', type: 'spki' });
    for (const [algorithm, limit] of Object.entries(limits)) {
      assert.equal(maxRsaPlaintext(s.bits!, algorithm), limit, `${name} ${algorithm}: maxRsaPlaintext`);
      const oaepHash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
      for (const size of [1, 32, limit]) {
        const plaintext = randomBytes(size);
        const ct = rsaEncrypt(material, algorithm, plaintext);
        assert.equal(ct.length, s.bits! / 8, `${name} ${algorithm}: the ciphertext is as long as the modulus`);
        assert.deepEqual(rsaDecrypt(material, algorithm, ct), plaintext, `${name} ${algorithm} ${size} bytes: round trip`);
        // Interoperable: node:crypto decrypts it with the private key, and rsaDecrypt opens node:crypto's ciphertext.
        assert.deepEqual(privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, ct), plaintext, `${name} ${algorithm}: node:crypto decrypts it`);
        const foreign = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, plaintext);
        assert.deepEqual(rsaDecrypt(material, algorithm, foreign), plaintext, `${name} ${algorithm}: rsaDecrypt opens a node:crypto ciphertext`);
      }
      assert.throws(() => rsaEncrypt(material, algorithm, randomBytes(limit + 1)), `${name} ${algorithm}: ${limit + 1} bytes are too many`);
    }
    // The wrong OAEP hash, a tampered ciphertext and a ciphertext for another key all fail to decode.
    const ct = rsaEncrypt(material, 'RSAES_OAEP_SHA_256', Buffer.from('secret'));
    assert.throws(() => rsaDecrypt(material, 'RSAES_OAEP_SHA_1', ct), `${name}: the wrong OAEP hash fails`);
    const tampered = Buffer.from(ct);
    tampered[tampered.length - 1]! ^= 0x01;
    assert.throws(() => rsaDecrypt(material, 'RSAES_OAEP_SHA_256', tampered), `${name}: a tampered ciphertext fails`);
    assert.throws(() => rsaDecrypt(material, 'RSAES_OAEP_SHA_256', ct.subarray(1)), `${name}: a short ciphertext fails`);
  }
  const a = await materialFor('RSA_2048');
  const b = generateMaterial(spec('RSA_2048'));
  assert.throws(() => rsaDecrypt(b, 'RSAES_OAEP_SHA_256', rsaEncrypt(a, 'RSAES_OAEP_SHA_256', Buffer.from('x'))), 'another key cannot decrypt it');
});

test('HMAC: lengths per spec, same as node:crypto; macEquals is false on any difference, length mismatches included', () => {
  for (const bits of [224, 256, 384, 512]) {
    const s = spec(`HMAC_${bits}`);
    const algorithm = `HMAC_SHA_${bits}`;
    assert.deepEqual([...s.mac], [algorithm], `HMAC_${bits}: its one MAC algorithm`);
    assert.deepEqual([...s.usages], ['GENERATE_VERIFY_MAC'], `HMAC_${bits}: its one usage`);
    const material = generateMaterial(s);
    assert.equal(material.length, bits / 8, `HMAC_${bits}: key material is ${bits / 8} bytes`);
    const message = randomBytes(100);
    const tag = mac(material, algorithm, message);
    assert.equal(tag.length, bits / 8, `HMAC_${bits}: the MAC is ${bits / 8} bytes`);
    assert.deepEqual(tag, createHmac(`sha${bits}`, material).update(message).digest(), `HMAC_${bits}: equals node:crypto's HMAC`);
    assert.equal(macEquals(material, algorithm, message, tag), true, `HMAC_${bits}: the right MAC is accepted`);
    assert.equal(macEquals(material, algorithm, message, tag.subarray(0, tag.length - 1)), false, `HMAC_${bits}: a truncated MAC is refused (length mismatch, no throw)`);
    assert.equal(macEquals(material, algorithm, message, Buffer.concat([tag, Buffer.from([0])])), false, `HMAC_${bits}: a longer MAC is refused`);
    assert.equal(macEquals(material, algorithm, message, Buffer.alloc(0)), false, `HMAC_${bits}: an empty MAC is refused`);
    const flipped = Buffer.from(tag);
    flipped[0]! ^= 0x80;
    assert.equal(macEquals(material, algorithm, message, flipped), false, `HMAC_${bits}: a flipped bit is refused`);
    assert.equal(macEquals(material, algorithm, Buffer.concat([message, Buffer.from('x')]), tag), false, `HMAC_${bits}: another message is refused`);
    assert.equal(macEquals(generateMaterial(s), algorithm, message, tag), false, `HMAC_${bits}: another key is refused`);
  }
  // RFC 4231 test case 2 (key "Jefe"), as a fixed point.
  assert.equal(
    mac(Buffer.from('Jefe'), 'HMAC_SHA_256', Buffer.from('what do ya want for nothing?')).toString('hex'),
    createHmac('sha256', 'Jefe').update('what do ya want for nothing?').digest('hex'),
    'HMAC_SHA_256 of the RFC 4231 case 2 input',
  );
});

test('ECDH: two generated keys derive the same secret both ways, on every agreement curve; another curve is refused', async () => {
  const sizes: Record<string, number> = { ECC_NIST_P256: 32, ECC_NIST_P384: 48, ECC_NIST_P521: 66 };
  for (const [name, size] of Object.entries(sizes)) {
    const s = spec(name);
    assert.deepEqual([...s.keyAgreement], ['ECDH'], `${name}: offers ECDH`);
    assert.ok(s.usages.includes('KEY_AGREEMENT'), `${name}: allows KEY_AGREEMENT`);
    const a = generateMaterial(s);
    const b = generateMaterial(s);
    const ab = deriveShared(a, publicKeyDer(b));
    const ba = deriveShared(b, publicKeyDer(a));
    assert.equal(ab.length, size, `${name}: the shared secret is ${size} bytes`);
    assert.deepEqual(ab, ba, `${name}: both sides derive the same secret`);
    assert.notDeepEqual(deriveShared(a, publicKeyDer(generateMaterial(s))), ab, `${name}: another peer gives another secret`);
  }
  assert.ok(!spec('ECC_SECG_P256K1').usages.includes('KEY_AGREEMENT'), 'secp256k1 keys do not do KEY_AGREEMENT (as on AWS)');
  const p256 = generateMaterial(spec('ECC_NIST_P256'));
  assert.throws(() => deriveShared(p256, publicKeyDer(generateMaterial(spec('ECC_NIST_P384')))), RangeError, 'a P-384 peer for a P-256 key is refused');
  assert.throws(() => deriveShared(p256, publicKeyDer(generateMaterial(spec('ECC_SECG_P256K1')))), RangeError, 'a secp256k1 peer for a P-256 key is refused');
  assert.throws(() => deriveShared(p256, publicKeyDer(generateMaterial(spec('ECC_NIST_EDWARDS25519')))), RangeError, 'an Ed25519 peer is refused');
  assert.throws(() => deriveShared(p256, randomBytes(91)), 'garbage is not a SubjectPublicKeyInfo');
});

test('dataKeyPair: PKCS#8 private key and SPKI public key that belong together, for every pair spec; non-pair specs are refused', () => {
  const types: Record<string, string> = {
    RSA_2048: 'rsa',
    ECC_NIST_P256: 'ec',
    ECC_NIST_P384: 'ec',
    ECC_NIST_P521: 'ec',
    ECC_SECG_P256K1: 'ec',
    ECC_NIST_EDWARDS25519: 'ed25519',
  };
  for (const [name, type] of Object.entries(types)) {
    const pair = dataKeyPair(name);
    const priv = createPrivateKey({ key: pair.privateKey, format: 'der', type: 'pkcs8' });
    const pub = createPublicKey({ key: pair.publicKey, format: 'der', type: 'spki' });
    assert.equal(priv.asymmetricKeyType, type, `${name}: private key type`);
    assert.equal(pub.asymmetricKeyType, type, `${name}: public key type`);
    if (spec(name).curve) assert.equal(pub.asymmetricKeyDetails?.namedCurve, spec(name).curve, `${name}: curve`);
    if (type === 'rsa') assert.equal(pub.asymmetricKeyDetails?.modulusLength, 2048, `${name}: modulus`);
    assert.deepEqual(createPublicKey(priv).export({ type: 'spki', format: 'der' }), pair.publicKey, `${name}: the public key is the private key's`);
    const message = Buffer.from('data key pair');
    const hash = type === 'ed25519' ? null : 'sha256';
    const sig = sign(hash, message, priv);
    assert.equal(verify(hash, message, pub, sig), true, `${name}: a signature by the private key verifies with the public key`);
    assert.notDeepEqual(dataKeyPair(name).privateKey, pair.privateKey, `${name}: each call makes a new pair`);
  }
  for (const bad of ['HMAC_256', 'SYMMETRIC_DEFAULT', 'SM2', 'RSA_1024', '']) assert.throws(() => dataKeyPair(bad), RangeError, `${bad || '(empty)'} is not a key pair spec`);
});

test('hashOf and digestLength per algorithm name', () => {
  const cases: Array<[string, string, number]> = [
    ['RSASSA_PSS_SHA_256', 'sha256', 32],
    ['RSASSA_PKCS1_V1_5_SHA_384', 'sha384', 48],
    ['ECDSA_SHA_512', 'sha512', 64],
    ['HMAC_SHA_224', 'sha224', 28],
    ['ED25519_SHA_512', 'sha512', 64],
  ];
  for (const [algorithm, hash, length] of cases) {
    assert.equal(hashOf(algorithm), hash, `hashOf(${algorithm})`);
    assert.equal(digestLength(algorithm), length, `digestLength(${algorithm})`);
  }
});
