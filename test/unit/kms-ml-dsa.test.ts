// ML-DSA (FIPS 204) keys: key generation against NIST's ACVP vectors (test/vectors/acvp-ml-dsa-keygen.json,
// source named in the file), the SubjectPublicKeyInfo parsed by openssl asn1parse, RAW and EXTERNAL_MU signing
// with mu computed here from FIPS 204 section 6.2 with node's SHAKE256, and refusals of anything altered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mlDsaPublicKey, mlDsaSign, mlDsaSpki, mlDsaVerify } from '../../src/kms/ml-dsa.ts';
import { generateMaterial, publicKeyFor, signMessage, verifyMessage } from '../../src/kms/asymmetric.ts';
import { KEY_SPECS } from '../../src/kms/key-specs.ts';
import { exec } from '../helpers/assert.ts';
import { removeDir, tempDir } from '../helpers/trent.ts';

interface KeyGenVector {
  parameterSet: 'ML-DSA-44' | 'ML-DSA-65' | 'ML-DSA-87';
  tcId: number;
  seed: string;
  pk: string;
}
const vectors = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'vectors', 'acvp-ml-dsa-keygen.json'), 'utf8')) as { source: string; tests: KeyGenVector[] };
const specOf = (set: string) => set.replaceAll('-', '_');
const SIZES: Record<string, { pk: number; sig: number; oid: string }> = {
  ML_DSA_44: { pk: 1312, sig: 2420, oid: '2.16.840.1.101.3.4.3.17' },
  ML_DSA_65: { pk: 1952, sig: 3309, oid: '2.16.840.1.101.3.4.3.18' },
  ML_DSA_87: { pk: 2592, sig: 4627, oid: '2.16.840.1.101.3.4.3.19' },
};

/** FIPS 204 section 6.2 (pure ML-DSA, empty context): mu = SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64). */
function mu(publicKey: Buffer, message: Buffer): Buffer {
  const tr = createHash('shake256', { outputLength: 64 }).update(publicKey).digest();
  return createHash('shake256', { outputLength: 64 }).update(Buffer.concat([tr, Buffer.from([0, 0]), message])).digest();
}

test('ACVP ML-DSA keyGen vectors: the public key derived from each seed is NIST\'s', () => {
  assert.match(vectors.source, /ACVP-Server/);
  assert.equal(vectors.tests.length, 3, 'one vector per parameter set');
  for (const v of vectors.tests) {
    const spec = specOf(v.parameterSet);
    const pk = mlDsaPublicKey(spec, Buffer.from(v.seed, 'hex'));
    assert.equal(pk.length, SIZES[spec]!.pk, `${spec}: public key size`);
    assert.equal(pk.toString('hex').toUpperCase(), v.pk, `${v.parameterSet} tcId ${v.tcId}`);
  }
});

test('GetPublicKey form: an RFC 5280 SubjectPublicKeyInfo with the RFC 9881 algorithm identifier and the raw key, as openssl asn1parse reads it', async () => {
  const dir = await tempDir('trent-mldsa-');
  try {
    for (const v of vectors.tests) {
      const spec = specOf(v.parameterSet);
      const der = mlDsaSpki(spec, Buffer.from(v.seed, 'hex'));
      assert.deepEqual(publicKeyFor(spec, KEY_SPECS[spec]!, Buffer.from(v.seed, 'hex')), der, 'publicKeyFor gives the same SPKI');
      const file = join(dir, `${spec}.der`);
      await writeFile(file, der);
      const r = await exec('openssl', ['asn1parse', '-inform', 'DER', '-in', file]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 4, `SEQUENCE { SEQUENCE { OID }, BIT STRING }: ${r.stdout}`);
      assert.match(lines[0]!, /cons: SEQUENCE/);
      assert.match(lines[1]!, /cons: SEQUENCE/);
      assert.match(lines[2]!, new RegExp(`prim: OBJECT\\s+:${SIZES[spec]!.oid.replaceAll('.', '\\.')}$|prim: OBJECT\\s+:ML-DSA-${spec.slice(-2)}`));
      assert.match(lines[3]!, new RegExp(`l=\\s*${SIZES[spec]!.pk + 1} prim: BIT STRING`));
      assert.equal(der.subarray(der.length - SIZES[spec]!.pk).toString('hex').toUpperCase(), v.pk, 'the BIT STRING holds the raw key');
    }
  } finally {
    await removeDir(dir);
  }
});

test('RAW and EXTERNAL_MU signatures: each verifies as the other; hedged; altered messages, mu, signatures and keys are refused', () => {
  for (const spec of ['ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87']) {
    const info = KEY_SPECS[spec]!;
    assert.equal(info.kind, 'mldsa');
    assert.deepEqual(info.signing, ['ML_DSA_SHAKE_256']);
    assert.deepEqual(info.usages, ['SIGN_VERIFY']);
    const seed = generateMaterial(info);
    assert.equal(seed.length, 32, 'the stored material is the 32-byte seed');
    const pk = mlDsaPublicKey(spec, seed);
    const message = randomBytes(300);
    const m = mu(pk, message);
    const raw = signMessage(info, seed, 'ML_DSA_SHAKE_256', message, false, spec);
    assert.equal(raw.length, SIZES[spec]!.sig, `${spec}: signature size`);
    const external = mlDsaSign(spec, seed, m, true);
    assert.equal(verifyMessage(info, seed, 'ML_DSA_SHAKE_256', message, false, raw, spec), true, `${spec}: RAW verifies`);
    assert.equal(mlDsaVerify(spec, seed, message, false, external), true, `${spec}: a signature over mu verifies as RAW over the message`);
    assert.equal(mlDsaVerify(spec, seed, m, true, raw), true, `${spec}: a RAW signature verifies over mu`);
    assert.notDeepEqual(signMessage(info, seed, 'ML_DSA_SHAKE_256', message, false, spec), raw, `${spec}: signing is hedged`);
    const other = Buffer.from(message);
    other[0]! ^= 1;
    assert.equal(mlDsaVerify(spec, seed, other, false, raw), false, `${spec}: another message`);
    const otherMu = Buffer.from(m);
    otherMu[63]! ^= 1;
    assert.equal(mlDsaVerify(spec, seed, otherMu, true, raw), false, `${spec}: another mu`);
    const tampered = Buffer.from(raw);
    tampered[100]! ^= 1;
    assert.equal(mlDsaVerify(spec, seed, message, false, tampered), false, `${spec}: a tampered signature`);
    assert.equal(mlDsaVerify(spec, seed, message, false, raw.subarray(1)), false, `${spec}: a short signature`);
    assert.equal(mlDsaVerify(spec, seed, message, false, Buffer.alloc(0)), false, `${spec}: an empty signature`);
    assert.equal(mlDsaVerify(spec, generateMaterial(info), message, false, raw), false, `${spec}: another key`);
  }
});

test('RAW signatures (made by OpenSSL) verify with the GetPublicKey SubjectPublicKeyInfo in OpenSSL and in @noble/post-quantum, and altered ones do not', async () => {
  const { createPublicKey, verify } = await import('node:crypto');
  const noble = await import('@noble/post-quantum/ml-dsa.js');
  const impls = { ML_DSA_44: noble.ml_dsa44, ML_DSA_65: noble.ml_dsa65, ML_DSA_87: noble.ml_dsa87 };
  for (const spec of ['ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87'] as const) {
    const seed = randomBytes(32);
    const publicKey = createPublicKey({ key: mlDsaSpki(spec, seed), format: 'der', type: 'spki' });
    assert.equal(publicKey.asymmetricKeyType, spec.toLowerCase().replace(/_/g, '-'));
    const message = randomBytes(300);
    const signature = mlDsaSign(spec, seed, message, false);
    assert.ok(verify(null, message, publicKey, signature), `${spec}: OpenSSL verifies Trent's signature`);
    assert.ok(impls[spec].verify(signature, message, mlDsaPublicKey(spec, seed)), `${spec}: @noble/post-quantum verifies it too`);
    // And Trent's verification accepts a signature made by the other implementation.
    const nobleSignature = Buffer.from(impls[spec].sign(message, impls[spec].keygen(seed).secretKey));
    assert.ok(mlDsaVerify(spec, seed, message, false, nobleSignature), `${spec}: a @noble/post-quantum signature verifies`);
    const altered = Buffer.from(message);
    altered[0]! ^= 1;
    assert.equal(verify(null, altered, publicKey, signature), false, `${spec}: an altered message is refused`);
  }
});
