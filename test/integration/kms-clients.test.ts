// The KMS operations for asymmetric, HMAC and imported keys, driven by unmodified AWS clients: the pip AWS
// CLI v1 (AWS_ENDPOINT_URL, binary arguments as fileb://), boto3, and one sign/verify flow through Debian's
// AWS CLI v2 with --endpoint-url. Every result is checked against node:crypto where it can be: signatures
// verified from GetPublicKey's key, ECDH secrets recomputed from the peer's private key, data key pairs
// matched to their public halves; import wrapping is done here with RSA-OAEP SHA-256.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  randomUUID,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { startTrent, removeDir, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { skipCliV2, awsKms, awsKmsJson, type Cli } from '../helpers/cli.ts';
import { exec, type Run } from '../helpers/assert.ts';

let t: RunningTrent;
let work: string;

before(async () => {
  t = await startTrent();
  work = await tempDir('trent-kms-clients-');
});
after(async () => {
  await t?.stop();
  if (t) await removeDir(t.dataDir);
  if (work) await removeDir(work);
});

// ---- helpers ----

type Json = Record<string, unknown>;

async function writeTemp(label: string, data: Uint8Array): Promise<string> {
  const p = join(work, `${label}-${randomUUID().slice(0, 8)}`);
  await writeFile(p, data);
  return p;
}

const fileb = (p: string): string => `fileb://${p}`;

function str(o: Json, field: string, what: string): string {
  const v = o[field];
  assert.equal(typeof v, 'string', `${what}: ${field} should be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

/** A base64 blob field of a JSON response (CLI output or the boto3 script's JSON). */
function blob(o: Json, field: string, what: string): Buffer {
  const b = Buffer.from(str(o, field, what), 'base64');
  assert.ok(b.length > 0, `${what}: ${field} is empty`);
  return b;
}

function obj(o: Json, field: string, what: string): Json {
  const v = o[field];
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what}: ${field} should be an object, got ${JSON.stringify(v)}`);
  return v as Json;
}

const flipByte = (b: Uint8Array, at = b.length >> 1): Buffer => {
  const c = Buffer.from(b);
  c[at]! ^= 0x01;
  return c;
};

const spki = (der: Buffer): KeyObject => createPublicKey({ key: der, format: 'der', type: 'spki' });

/** The SubjectPublicKeyInfo DER of a PKCS#8 private key, to tie a data key pair's halves together. */
const publicOfPrivate = (pkcs8: Buffer): Buffer =>
  createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });

/** Wrap import material as AWS documents for RSAES_OAEP_SHA_256: RSA-OAEP, MGF1 and label hash SHA-256. */
function wrapMaterial(wrappingPublicKeyDer: Buffer, material: Buffer): Buffer {
  return publicEncrypt({ key: spki(wrappingPublicKeyDer), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
}

/** A P-256 peer key made here, as the DER SubjectPublicKeyInfo DeriveSharedSecret takes. */
function peerKey(): { privateKey: KeyObject; der: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, der: publicKey.export({ format: 'der', type: 'spki' }) };
}

// ---- the pip AWS CLI v1 ----

const skipV2 = skipCliV2;

const aws = (cli: Cli, args: string[]): Promise<Run> => awsKms(t, cli, args);

const awsJson = (cli: Cli, args: string[]): Promise<Json> => awsKmsJson<Json>(t, cli, args);

/** The call must fail as a service error (v1 exits 255, v2 254) naming `code`. */
async function awsFails(cli: Cli, args: string[], code: string, what: string): Promise<void> {
  const r = await aws(cli, args);
  assert.equal(r.code, cli === 'v1' ? 255 : 254, `${what}: aws ${cli} kms ${args[0]} should fail with a service error, got exit ${r.code}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`\\(${code}\\)`), `${what}: the error names ${code}: ${r.stderr}`);
}

async function cliCreateKey(cli: Cli, spec: string, usage: string): Promise<Json> {
  const what = `aws ${cli} create-key ${spec} ${usage}`;
  const k = obj(await awsJson(cli, ['create-key', '--key-spec', spec, '--key-usage', usage, '--description', `kms-clients ${spec} ${usage}`]), 'KeyMetadata', what);
  assert.equal(k['KeySpec'], spec, `${what}: KeySpec`);
  assert.equal(k['KeyUsage'], usage, `${what}: KeyUsage`);
  assert.equal(k['KeyState'], 'Enabled', `${what}: KeyState`);
  str(k, 'KeyId', what);
  str(k, 'Arn', what);
  return k;
}

test('the pip AWS CLI v1: asymmetric, HMAC, data key pair, ECDH, re-encrypt and imported-material operations, and their error codes', async () => {
  // Keys.
  const [rsaEnc, rsaSign, p256, ka, hmac, ed, sym, ext] = await Promise.all([
    cliCreateKey('v1', 'RSA_2048', 'ENCRYPT_DECRYPT'),
    cliCreateKey('v1', 'RSA_2048', 'SIGN_VERIFY'),
    cliCreateKey('v1', 'ECC_NIST_P256', 'SIGN_VERIFY'),
    cliCreateKey('v1', 'ECC_NIST_P256', 'KEY_AGREEMENT'),
    cliCreateKey('v1', 'HMAC_256', 'GENERATE_VERIFY_MAC'),
    cliCreateKey('v1', 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY'),
    cliCreateKey('v1', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT'),
    awsJson('v1', ['create-key', '--origin', 'EXTERNAL', '--description', 'kms-clients imported']).then((r) => obj(r, 'KeyMetadata', 'create-key --origin EXTERNAL')),
  ]);
  const id = (k: Json): string => k['KeyId'] as string;
  const arn = (k: Json): string => k['Arn'] as string;
  assert.deepEqual(rsaEnc['EncryptionAlgorithms'], ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'], 'create-key RSA_2048 ENCRYPT_DECRYPT: EncryptionAlgorithms');
  assert.deepEqual(ed['SigningAlgorithms'], ['ED25519_SHA_512'], 'create-key ECC_NIST_EDWARDS25519: SigningAlgorithms');
  assert.deepEqual(hmac['MacAlgorithms'], ['HMAC_SHA_256'], 'create-key HMAC_256: MacAlgorithms');
  assert.deepEqual(ka['KeyAgreementAlgorithms'], ['ECDH'], 'create-key ECC_NIST_P256 KEY_AGREEMENT: KeyAgreementAlgorithms');
  assert.equal(ext['Origin'], 'EXTERNAL', 'create-key --origin EXTERNAL: Origin');
  assert.equal(ext['KeyState'], 'PendingImport', 'create-key --origin EXTERNAL: PendingImport');

  // Inputs.
  const message = Buffer.concat([Buffer.from('cli v1 message '), randomBytes(48)]);
  const digest = createHash('sha256').update(message).digest();
  const plaintext = randomBytes(120);
  const peer = peerKey();
  const [msgPath, digestPath, plainPath, peerPath] = await Promise.all([
    writeTemp('msg', message),
    writeTemp('digest', digest),
    writeTemp('plain', plaintext),
    writeTemp('peer.der', peer.der),
  ]);

  // Round 1: everything that needs only the keys.
  const [pubP256, pubEd, pubRsaSign, pubRsaEnc, pubKa, sigP256, sigEd, sigRsa, mac, rsaCt, symCt, pair, pairNp, derived, params] = await Promise.all([
    awsJson('v1', ['get-public-key', '--key-id', id(p256)]),
    awsJson('v1', ['get-public-key', '--key-id', arn(ed)]),
    awsJson('v1', ['get-public-key', '--key-id', id(rsaSign)]),
    awsJson('v1', ['get-public-key', '--key-id', id(rsaEnc)]),
    awsJson('v1', ['get-public-key', '--key-id', id(ka)]),
    awsJson('v1', ['sign', '--key-id', id(p256), '--message', fileb(msgPath), '--message-type', 'RAW', '--signing-algorithm', 'ECDSA_SHA_256']),
    awsJson('v1', ['sign', '--key-id', id(ed), '--message', fileb(msgPath), '--message-type', 'RAW', '--signing-algorithm', 'ED25519_SHA_512']),
    awsJson('v1', ['sign', '--key-id', id(rsaSign), '--message', fileb(digestPath), '--message-type', 'DIGEST', '--signing-algorithm', 'RSASSA_PKCS1_V1_5_SHA_256']),
    awsJson('v1', ['generate-mac', '--key-id', id(hmac), '--message', fileb(msgPath), '--mac-algorithm', 'HMAC_SHA_256']),
    awsJson('v1', ['encrypt', '--key-id', id(rsaEnc), '--plaintext', fileb(plainPath), '--encryption-algorithm', 'RSAES_OAEP_SHA_256']),
    awsJson('v1', ['encrypt', '--key-id', id(sym), '--plaintext', fileb(plainPath)]),
    awsJson('v1', ['generate-data-key-pair', '--key-id', id(sym), '--key-pair-spec', 'ECC_NIST_P256']),
    awsJson('v1', ['generate-data-key-pair-without-plaintext', '--key-id', id(sym), '--key-pair-spec', 'ECC_NIST_P256']),
    awsJson('v1', ['derive-shared-secret', '--key-id', id(ka), '--key-agreement-algorithm', 'ECDH', '--public-key', fileb(peerPath)]),
    awsJson('v1', ['get-parameters-for-import', '--key-id', id(ext), '--wrapping-algorithm', 'RSAES_OAEP_SHA_256', '--wrapping-key-spec', 'RSA_2048']),
    awsFails('v1', ['sign', '--key-id', id(rsaEnc), '--message', fileb(msgPath), '--signing-algorithm', 'RSASSA_PSS_SHA_256'], 'InvalidKeyUsageException', 'cli v1 sign with an ENCRYPT_DECRYPT key'),
  ]);

  // Public keys and signatures, checked with node:crypto.
  assert.equal(pubP256['KeySpec'], 'ECC_NIST_P256', 'get-public-key P-256: KeySpec');
  assert.equal(pubP256['KeyUsage'], 'SIGN_VERIFY', 'get-public-key P-256: KeyUsage');
  assert.equal(pubP256['KeyId'], arn(p256), 'get-public-key: KeyId is the ARN');
  assert.deepEqual(pubP256['SigningAlgorithms'], ['ECDSA_SHA_256'], 'get-public-key P-256: SigningAlgorithms');
  assert.equal(pubKa['KeyUsage'], 'KEY_AGREEMENT', 'get-public-key KEY_AGREEMENT: KeyUsage');
  assert.deepEqual(pubKa['KeyAgreementAlgorithms'], ['ECDH'], 'get-public-key KEY_AGREEMENT: KeyAgreementAlgorithms');
  assert.deepEqual(pubRsaEnc['EncryptionAlgorithms'], ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'], 'get-public-key RSA ENCRYPT_DECRYPT: EncryptionAlgorithms');
  const p256Key = spki(blob(pubP256, 'PublicKey', 'get-public-key P-256'));
  const edKey = spki(blob(pubEd, 'PublicKey', 'get-public-key Ed25519'));
  const rsaSignKey = spki(blob(pubRsaSign, 'PublicKey', 'get-public-key RSA SIGN_VERIFY'));
  assert.equal(p256Key.asymmetricKeyType, 'ec', 'P-256 public key type');
  assert.equal(p256Key.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'P-256 public key curve');
  assert.equal(edKey.asymmetricKeyType, 'ed25519', 'Ed25519 public key type');
  assert.equal(rsaSignKey.asymmetricKeyDetails?.modulusLength, 2048, 'RSA public key size');
  for (const [s, alg] of [
    [sigP256, 'ECDSA_SHA_256'],
    [sigEd, 'ED25519_SHA_512'],
    [sigRsa, 'RSASSA_PKCS1_V1_5_SHA_256'],
  ] as const) {
    assert.equal(s['SigningAlgorithm'], alg, `sign ${alg}: SigningAlgorithm`);
  }
  assert.equal(sigP256['KeyId'], arn(p256), 'sign: KeyId is the ARN');
  const p256Sig = blob(sigP256, 'Signature', 'sign ECDSA_SHA_256');
  const edSig = blob(sigEd, 'Signature', 'sign ED25519_SHA_512');
  const rsaSig = blob(sigRsa, 'Signature', 'sign RSASSA_PKCS1_V1_5_SHA_256');
  assert.ok(nodeVerify('sha256', message, p256Key, p256Sig), 'node:crypto verifies the CLI ECDSA_SHA_256 signature');
  assert.ok(nodeVerify(null, message, edKey, edSig), 'node:crypto verifies the CLI ED25519_SHA_512 signature');
  assert.equal(edSig.length, 64, 'an Ed25519 signature is 64 bytes');
  assert.ok(nodeVerify('sha256', message, { key: rsaSignKey, padding: constants.RSA_PKCS1_PADDING }, rsaSig), 'node:crypto verifies the CLI PKCS#1 v1.5 signature made over a DIGEST');

  // HMAC.
  assert.equal(mac['MacAlgorithm'], 'HMAC_SHA_256', 'generate-mac: MacAlgorithm');
  assert.equal(mac['KeyId'], arn(hmac), 'generate-mac: KeyId');
  const tag = blob(mac, 'Mac', 'generate-mac');
  assert.equal(tag.length, 32, 'generate-mac: a 32-byte HMAC-SHA-256');

  // Data key pairs.
  assert.equal(pair['KeyPairSpec'], 'ECC_NIST_P256', 'generate-data-key-pair: KeyPairSpec');
  assert.equal(pair['KeyId'], arn(sym), 'generate-data-key-pair: KeyId');
  const pairPrivate = blob(pair, 'PrivateKeyPlaintext', 'generate-data-key-pair');
  const pairPublic = blob(pair, 'PublicKey', 'generate-data-key-pair');
  assert.deepEqual(publicOfPrivate(pairPrivate), pairPublic, 'generate-data-key-pair: PublicKey is the public half of PrivateKeyPlaintext');
  assert.equal(pairNp['PrivateKeyPlaintext'], undefined, 'generate-data-key-pair-without-plaintext: no PrivateKeyPlaintext');
  assert.equal(pairNp['KeyPairSpec'], 'ECC_NIST_P256', 'generate-data-key-pair-without-plaintext: KeyPairSpec');
  const pairNpPublic = blob(pairNp, 'PublicKey', 'generate-data-key-pair-without-plaintext');

  // ECDH.
  assert.equal(derived['KeyAgreementAlgorithm'], 'ECDH', 'derive-shared-secret: KeyAgreementAlgorithm');
  assert.equal(derived['KeyId'], arn(ka), 'derive-shared-secret: KeyId');
  const secret = blob(derived, 'SharedSecret', 'derive-shared-secret');
  const expectedSecret = diffieHellman({ privateKey: peer.privateKey, publicKey: spki(blob(pubKa, 'PublicKey', 'get-public-key KEY_AGREEMENT')) });
  assert.deepEqual(secret, expectedSecret, "derive-shared-secret equals node:crypto's ECDH of the peer private key and GetPublicKey's key");

  // Import: wrap here, hand the token and the wrapped material over as files.
  const wrapped = wrapMaterial(blob(params, 'PublicKey', 'get-parameters-for-import'), randomBytes(32));
  const [tokenPath, wrappedPath, badSigPath, tagPath, badTagPath, digestSigPath, rsaCtPath, symCtPath, pairBlobPath, pairNpBlobPath] = await Promise.all([
    writeTemp('token', blob(params, 'ImportToken', 'get-parameters-for-import')),
    writeTemp('wrapped', wrapped),
    writeTemp('bad-sig', flipByte(p256Sig)),
    writeTemp('mac', tag),
    writeTemp('bad-mac', flipByte(tag)),
    writeTemp('rsa-sig', rsaSig),
    writeTemp('rsa-ct', blob(rsaCt, 'CiphertextBlob', 'encrypt RSAES_OAEP_SHA_256')),
    writeTemp('sym-ct', blob(symCt, 'CiphertextBlob', 'encrypt symmetric')),
    writeTemp('pair-blob', blob(pair, 'PrivateKeyCiphertextBlob', 'generate-data-key-pair')),
    writeTemp('pair-np-blob', blob(pairNp, 'PrivateKeyCiphertextBlob', 'generate-data-key-pair-without-plaintext')),
  ]);
  const p256SigPath = await writeTemp('p256-sig', p256Sig);
  const edSigPath = await writeTemp('ed-sig', edSig);
  assert.equal(rsaCt['EncryptionAlgorithm'], 'RSAES_OAEP_SHA_256', 'encrypt RSA: EncryptionAlgorithm');

  // Round 2.
  const [vP256, vEd, vRsa, vMac, rsaDec, toRsa, pairDec, pairNpDec, imported] = await Promise.all([
    awsJson('v1', ['verify', '--key-id', id(p256), '--message', fileb(msgPath), '--signature', fileb(p256SigPath), '--signing-algorithm', 'ECDSA_SHA_256']),
    awsJson('v1', ['verify', '--key-id', id(ed), '--message', fileb(msgPath), '--message-type', 'RAW', '--signature', fileb(edSigPath), '--signing-algorithm', 'ED25519_SHA_512']),
    awsJson('v1', ['verify', '--key-id', id(rsaSign), '--message', fileb(digestPath), '--message-type', 'DIGEST', '--signature', fileb(digestSigPath), '--signing-algorithm', 'RSASSA_PKCS1_V1_5_SHA_256']),
    awsJson('v1', ['verify-mac', '--key-id', id(hmac), '--message', fileb(msgPath), '--mac', fileb(tagPath), '--mac-algorithm', 'HMAC_SHA_256']),
    awsJson('v1', ['decrypt', '--key-id', id(rsaEnc), '--ciphertext-blob', fileb(rsaCtPath), '--encryption-algorithm', 'RSAES_OAEP_SHA_256']),
    awsJson('v1', ['re-encrypt', '--ciphertext-blob', fileb(symCtPath), '--destination-key-id', id(rsaEnc), '--destination-encryption-algorithm', 'RSAES_OAEP_SHA_256']),
    awsJson('v1', ['decrypt', '--ciphertext-blob', fileb(pairBlobPath)]),
    awsJson('v1', ['decrypt', '--ciphertext-blob', fileb(pairNpBlobPath)]),
    awsJson('v1', ['import-key-material', '--key-id', id(ext), '--import-token', fileb(tokenPath), '--encrypted-key-material', fileb(wrappedPath), '--expiration-model', 'KEY_MATERIAL_DOES_NOT_EXPIRE']),
    awsFails('v1', ['verify', '--key-id', id(p256), '--message', fileb(msgPath), '--signature', fileb(badSigPath), '--signing-algorithm', 'ECDSA_SHA_256'], 'KMSInvalidSignatureException', 'cli v1 verify of a tampered signature'),
    awsFails('v1', ['verify-mac', '--key-id', id(hmac), '--message', fileb(msgPath), '--mac', fileb(badTagPath), '--mac-algorithm', 'HMAC_SHA_256'], 'KMSInvalidMacException', 'cli v1 verify-mac of a tampered MAC'),
  ]);
  assert.equal(vP256['SignatureValid'], true, 'verify ECDSA_SHA_256: valid');
  assert.equal(vEd['SignatureValid'], true, 'verify ED25519_SHA_512: valid');
  assert.equal(vRsa['SignatureValid'], true, 'verify PKCS#1 v1.5 DIGEST: valid');
  assert.equal(vMac['MacValid'], true, 'verify-mac: valid');
  assert.deepEqual(blob(rsaDec, 'Plaintext', 'decrypt RSA'), plaintext, 'decrypt RSAES_OAEP_SHA_256 returns the plaintext');
  assert.equal(rsaDec['EncryptionAlgorithm'], 'RSAES_OAEP_SHA_256', 'decrypt RSA: EncryptionAlgorithm');
  assert.equal(toRsa['SourceKeyId'], arn(sym), 're-encrypt to RSA: SourceKeyId');
  assert.equal(toRsa['KeyId'], arn(rsaEnc), 're-encrypt to RSA: KeyId');
  assert.equal(toRsa['SourceEncryptionAlgorithm'], 'SYMMETRIC_DEFAULT', 're-encrypt to RSA: SourceEncryptionAlgorithm');
  assert.equal(toRsa['DestinationEncryptionAlgorithm'], 'RSAES_OAEP_SHA_256', 're-encrypt to RSA: DestinationEncryptionAlgorithm');
  assert.deepEqual(blob(pairDec, 'Plaintext', 'decrypt of PrivateKeyCiphertextBlob'), pairPrivate, 'the data key pair blob decrypts to PrivateKeyPlaintext');
  assert.deepEqual(publicOfPrivate(blob(pairNpDec, 'Plaintext', 'decrypt of the without-plaintext blob')), pairNpPublic, 'the without-plaintext blob decrypts to the private half of PublicKey');
  assert.equal(imported['KeyId'] ?? arn(ext), arn(ext), 'import-key-material: KeyId, when returned, is the ARN');

  // Round 3: back from RSA to the symmetric key; the imported key encrypts.
  const toRsaPath = await writeTemp('to-rsa', blob(toRsa, 'CiphertextBlob', 're-encrypt to RSA'));
  const [rsaDec2, back, extCt, described] = await Promise.all([
    awsJson('v1', ['decrypt', '--key-id', arn(rsaEnc), '--ciphertext-blob', fileb(toRsaPath), '--encryption-algorithm', 'RSAES_OAEP_SHA_256']),
    awsJson('v1', [
      're-encrypt', '--ciphertext-blob', fileb(toRsaPath), '--source-key-id', id(rsaEnc), '--source-encryption-algorithm', 'RSAES_OAEP_SHA_256', '--destination-key-id', id(sym),
    ]),
    awsJson('v1', ['encrypt', '--key-id', id(ext), '--plaintext', fileb(plainPath)]),
    awsJson('v1', ['describe-key', '--key-id', id(ext)]),
  ]);
  assert.deepEqual(blob(rsaDec2, 'Plaintext', 'decrypt of the re-encrypted blob'), plaintext, 'the symmetric ciphertext re-encrypted to RSA decrypts with the RSA key');
  assert.equal(back['KeyId'], arn(sym), 're-encrypt back: KeyId');
  assert.equal(back['SourceEncryptionAlgorithm'], 'RSAES_OAEP_SHA_256', 're-encrypt back: SourceEncryptionAlgorithm');
  assert.equal(back['DestinationEncryptionAlgorithm'], 'SYMMETRIC_DEFAULT', 're-encrypt back: DestinationEncryptionAlgorithm');
  const extMeta = obj(described, 'KeyMetadata', 'describe-key EXTERNAL');
  assert.equal(extMeta['KeyState'], 'Enabled', 'the imported key is Enabled');
  assert.equal(extMeta['ExpirationModel'], 'KEY_MATERIAL_DOES_NOT_EXPIRE', 'the imported key: ExpirationModel');
  const [backPath, extCtPath] = await Promise.all([writeTemp('back', blob(back, 'CiphertextBlob', 're-encrypt back')), writeTemp('ext-ct', blob(extCt, 'CiphertextBlob', 'encrypt imported'))]);
  const [symDec, extDec] = await Promise.all([
    awsJson('v1', ['decrypt', '--ciphertext-blob', fileb(backPath)]),
    awsJson('v1', ['decrypt', '--ciphertext-blob', fileb(extCtPath)]),
  ]);
  assert.deepEqual(blob(symDec, 'Plaintext', 'decrypt after the round trip'), plaintext, 'symmetric -> RSA -> symmetric keeps the plaintext');
  assert.equal(symDec['KeyId'], arn(sym), 'decrypt after the round trip: KeyId');
  assert.deepEqual(blob(extDec, 'Plaintext', 'decrypt under the imported key'), plaintext, 'the imported key decrypts what it encrypted');
  assert.equal(extDec['KeyId'], arn(ext), 'decrypt under the imported key: KeyId');

  // Delete the imported material: the key goes back to PendingImport and refuses to encrypt.
  await awsJson('v1', ['delete-imported-key-material', '--key-id', id(ext)]);
  const [afterDelete] = await Promise.all([
    awsJson('v1', ['describe-key', '--key-id', id(ext)]),
    awsFails('v1', ['encrypt', '--key-id', id(ext), '--plaintext', fileb(plainPath)], 'KMSInvalidStateException', 'cli v1 encrypt after delete-imported-key-material'),
  ]);
  assert.equal(obj(afterDelete, 'KeyMetadata', 'describe-key after delete')['KeyState'], 'PendingImport', 'delete-imported-key-material: PendingImport');
});

// ---- boto3 ----

const BOTO3_HEAD = String.raw`
import base64, json, os, sys, boto3, botocore
kms = boto3.client('kms', endpoint_url=os.environ['EP'], verify=os.environ['CA'], region_name=os.environ['REGION'],
                   aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'],
                   config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
b64 = lambda b: base64.b64encode(b).decode()
arg = lambda name: base64.b64decode(os.environ[name])

def error(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
    return None
`;

const BOTO3_MAIN = String.raw`
msg = arg('MSG')
plain = arg('PLAIN')
import hashlib
digest = hashlib.sha256(msg).digest()
out = {'errors': {}}

def create(spec, usage):
    k = kms.create_key(KeySpec=spec, KeyUsage=usage, Description='boto3 %s %s' % (spec, usage))['KeyMetadata']
    assert k['KeySpec'] == spec and k['KeyUsage'] == usage and k['KeyState'] == 'Enabled', 'create_key %s %s: %r' % (spec, usage, k)
    return k

rsa_enc = create('RSA_2048', 'ENCRYPT_DECRYPT')
rsa_sign = create('RSA_2048', 'SIGN_VERIFY')
p256 = create('ECC_NIST_P256', 'SIGN_VERIFY')
ka = create('ECC_NIST_P256', 'KEY_AGREEMENT')
hmac = create('HMAC_256', 'GENERATE_VERIFY_MAC')
ed = create('ECC_NIST_EDWARDS25519', 'SIGN_VERIFY')
sym = kms.create_key()['KeyMetadata']
out['arns'] = {'rsaEnc': rsa_enc['Arn'], 'ka': ka['Arn'], 'sym': sym['Arn'], 'hmac': hmac['Arn']}
out['createdAlgorithms'] = {'rsaEnc': rsa_enc.get('EncryptionAlgorithms'), 'ed': ed.get('SigningAlgorithms'), 'hmac': hmac.get('MacAlgorithms'), 'ka': ka.get('KeyAgreementAlgorithms')}

# GetPublicKey, Sign, Verify
out['public'] = {}
for name, k in (('p256', p256), ('ed', ed), ('rsaSign', rsa_sign), ('rsaEnc', rsa_enc), ('ka', ka)):
    p = kms.get_public_key(KeyId=k['KeyId'])
    assert p['KeyId'] == k['Arn'], 'get_public_key %s: KeyId %r' % (name, p['KeyId'])
    out['public'][name] = {'PublicKey': b64(p['PublicKey']), 'KeySpec': p['KeySpec'], 'KeyUsage': p['KeyUsage']}
out['signatures'] = {}
for name, k, alg, m, mt in (('p256', p256, 'ECDSA_SHA_256', msg, 'RAW'), ('ed', ed, 'ED25519_SHA_512', msg, 'RAW'), ('rsaSign', rsa_sign, 'RSASSA_PKCS1_V1_5_SHA_256', digest, 'DIGEST')):
    s = kms.sign(KeyId=k['KeyId'], Message=m, MessageType=mt, SigningAlgorithm=alg)
    assert s['SigningAlgorithm'] == alg and s['KeyId'] == k['Arn'], 'sign %s: %r' % (name, s)
    v = kms.verify(KeyId=k['KeyId'], Message=m, MessageType=mt, Signature=s['Signature'], SigningAlgorithm=alg)
    assert v['SignatureValid'] is True, 'verify %s: %r' % (name, v)
    out['signatures'][name] = b64(s['Signature'])
    bad = bytearray(s['Signature']); bad[len(bad) // 2] ^= 1
    out['errors']['badSignature_' + name] = error(kms.verify, KeyId=k['KeyId'], Message=m, MessageType=mt, Signature=bytes(bad), SigningAlgorithm=alg)
out['errors']['signWithEncryptKey'] = error(kms.sign, KeyId=rsa_enc['KeyId'], Message=msg, MessageType='RAW', SigningAlgorithm='RSASSA_PSS_SHA_256')

# RSA encrypt/decrypt
e = kms.encrypt(KeyId=rsa_enc['KeyId'], Plaintext=plain, EncryptionAlgorithm='RSAES_OAEP_SHA_256')
assert e['EncryptionAlgorithm'] == 'RSAES_OAEP_SHA_256' and e['KeyId'] == rsa_enc['Arn'], 'encrypt RSA: %r' % e
d = kms.decrypt(KeyId=rsa_enc['KeyId'], CiphertextBlob=e['CiphertextBlob'], EncryptionAlgorithm='RSAES_OAEP_SHA_256')
assert d['Plaintext'] == plain and d['EncryptionAlgorithm'] == 'RSAES_OAEP_SHA_256', 'decrypt RSA'
out['rsaCiphertextLength'] = len(e['CiphertextBlob'])

# ReEncrypt symmetric -> RSA -> symmetric
c = kms.encrypt(KeyId=sym['KeyId'], Plaintext=plain)['CiphertextBlob']
to_rsa = kms.re_encrypt(CiphertextBlob=c, DestinationKeyId=rsa_enc['KeyId'], DestinationEncryptionAlgorithm='RSAES_OAEP_SHA_256')
assert to_rsa['SourceKeyId'] == sym['Arn'] and to_rsa['KeyId'] == rsa_enc['Arn'], 're_encrypt to RSA: %r' % to_rsa
assert to_rsa['SourceEncryptionAlgorithm'] == 'SYMMETRIC_DEFAULT' and to_rsa['DestinationEncryptionAlgorithm'] == 'RSAES_OAEP_SHA_256', 're_encrypt to RSA algorithms: %r' % to_rsa
assert kms.decrypt(KeyId=rsa_enc['Arn'], CiphertextBlob=to_rsa['CiphertextBlob'], EncryptionAlgorithm='RSAES_OAEP_SHA_256')['Plaintext'] == plain, 'decrypt of the re-encrypted RSA blob'
back = kms.re_encrypt(CiphertextBlob=to_rsa['CiphertextBlob'], SourceKeyId=rsa_enc['KeyId'], SourceEncryptionAlgorithm='RSAES_OAEP_SHA_256', DestinationKeyId=sym['KeyId'])
assert back['KeyId'] == sym['Arn'] and back['SourceEncryptionAlgorithm'] == 'RSAES_OAEP_SHA_256' and back['DestinationEncryptionAlgorithm'] == 'SYMMETRIC_DEFAULT', 're_encrypt back: %r' % back
bd = kms.decrypt(CiphertextBlob=back['CiphertextBlob'])
assert bd['Plaintext'] == plain and bd['KeyId'] == sym['Arn'], 'decrypt after the round trip'
out['reEncryptRoundTrip'] = True

# HMAC
m = kms.generate_mac(KeyId=hmac['KeyId'], Message=msg, MacAlgorithm='HMAC_SHA_256')
assert m['MacAlgorithm'] == 'HMAC_SHA_256' and m['KeyId'] == hmac['Arn'] and len(m['Mac']) == 32, 'generate_mac: %r' % m
vm = kms.verify_mac(KeyId=hmac['KeyId'], Message=msg, Mac=m['Mac'], MacAlgorithm='HMAC_SHA_256')
assert vm['MacValid'] is True, 'verify_mac: %r' % vm
bad = bytearray(m['Mac']); bad[0] ^= 1
out['errors']['badMac'] = error(kms.verify_mac, KeyId=hmac['KeyId'], Message=msg, Mac=bytes(bad), MacAlgorithm='HMAC_SHA_256')
out['macLength'] = len(m['Mac'])

# Data key pairs
p = kms.generate_data_key_pair(KeyId=sym['KeyId'], KeyPairSpec='ECC_NIST_P256')
assert p['KeyPairSpec'] == 'ECC_NIST_P256' and p['KeyId'] == sym['Arn'], 'generate_data_key_pair: %r' % p['KeyId']
pd = kms.decrypt(CiphertextBlob=p['PrivateKeyCiphertextBlob'])
assert pd['Plaintext'] == p['PrivateKeyPlaintext'], 'the data key pair blob decrypts to PrivateKeyPlaintext'
out['pair'] = {'private': b64(p['PrivateKeyPlaintext']), 'public': b64(p['PublicKey'])}
q = kms.generate_data_key_pair_without_plaintext(KeyId=sym['KeyId'], KeyPairSpec='ECC_NIST_P256')
assert 'PrivateKeyPlaintext' not in q and q['KeyPairSpec'] == 'ECC_NIST_P256', 'generate_data_key_pair_without_plaintext'
qd = kms.decrypt(CiphertextBlob=q['PrivateKeyCiphertextBlob'])
out['pairNp'] = {'private': b64(qd['Plaintext']), 'public': b64(q['PublicKey'])}

# ECDH
ds = kms.derive_shared_secret(KeyId=ka['KeyId'], KeyAgreementAlgorithm='ECDH', PublicKey=arg('PEER'))
assert ds['KeyAgreementAlgorithm'] == 'ECDH' and ds['KeyId'] == ka['Arn'], 'derive_shared_secret: %r' % ds['KeyId']
out['sharedSecret'] = b64(ds['SharedSecret'])

# Import, first half: the wrapping is done by the test.
ext = kms.create_key(Origin='EXTERNAL', Description='boto3 imported')['KeyMetadata']
assert ext['Origin'] == 'EXTERNAL' and ext['KeyState'] == 'PendingImport', 'create_key EXTERNAL: %r' % ext
gp = kms.get_parameters_for_import(KeyId=ext['KeyId'], WrappingAlgorithm='RSAES_OAEP_SHA_256', WrappingKeySpec='RSA_2048')
out['import'] = {'KeyId': ext['KeyId'], 'Arn': ext['Arn'], 'ImportToken': b64(gp['ImportToken']), 'PublicKey': b64(gp['PublicKey'])}
json.dump(out, sys.stdout)
`;

const BOTO3_IMPORT = String.raw`
key = os.environ['KEY']
plain = arg('PLAIN')
out = {}
kms.import_key_material(KeyId=key, ImportToken=arg('TOKEN'), EncryptedKeyMaterial=arg('WRAPPED'), ExpirationModel='KEY_MATERIAL_DOES_NOT_EXPIRE')
meta = kms.describe_key(KeyId=key)['KeyMetadata']
out['stateAfterImport'] = meta['KeyState']
out['expirationModel'] = meta.get('ExpirationModel')
e = kms.encrypt(KeyId=key, Plaintext=plain)
d = kms.decrypt(CiphertextBlob=e['CiphertextBlob'])
assert d['Plaintext'] == plain and d['KeyId'] == meta['Arn'], 'decrypt under the imported key'
out['roundTrip'] = True
kms.delete_imported_key_material(KeyId=key)
out['stateAfterDelete'] = kms.describe_key(KeyId=key)['KeyMetadata']['KeyState']
out['encryptAfterDelete'] = error(kms.encrypt, KeyId=key, Plaintext=plain)
json.dump(out, sys.stdout)
`;

async function boto3(script: string, vars: Record<string, string>, what: string): Promise<Json> {
  const r = await exec('python3', ['-c', BOTO3_HEAD + script], {
    ...process.env,
    EP: t.endpoint,
    CA: t.caPath,
    AK: t.accessKeyId,
    SK: t.secretAccessKey,
    REGION: t.region,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    ...vars,
  });
  assert.equal(r.code, 0, `${what}: the boto3 script failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}

test('boto3: the same operations, checked inside the script and here with node:crypto, and the error codes', async () => {
  const message = Buffer.concat([Buffer.from('boto3 message '), randomBytes(40)]);
  const plaintext = randomBytes(100);
  const peer = peerKey();
  const out = await boto3(BOTO3_MAIN, { MSG: message.toString('base64'), PLAIN: plaintext.toString('base64'), PEER: peer.der.toString('base64') }, 'boto3 main');

  const created = obj(out, 'createdAlgorithms', 'boto3');
  assert.deepEqual(created, { rsaEnc: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'], ed: ['ED25519_SHA_512'], hmac: ['HMAC_SHA_256'], ka: ['ECDH'] }, 'boto3 create_key: the algorithm lists');
  const pub = obj(out, 'public', 'boto3');
  const pubKey = (name: string): KeyObject => spki(blob(obj(pub, name, 'boto3 get_public_key'), 'PublicKey', `boto3 get_public_key ${name}`));
  assert.deepEqual(
    Object.fromEntries(['p256', 'ed', 'rsaSign', 'rsaEnc', 'ka'].map((n) => [n, [obj(pub, n, 'boto3')['KeySpec'], obj(pub, n, 'boto3')['KeyUsage']]])),
    {
      p256: ['ECC_NIST_P256', 'SIGN_VERIFY'],
      ed: ['ECC_NIST_EDWARDS25519', 'SIGN_VERIFY'],
      rsaSign: ['RSA_2048', 'SIGN_VERIFY'],
      rsaEnc: ['RSA_2048', 'ENCRYPT_DECRYPT'],
      ka: ['ECC_NIST_P256', 'KEY_AGREEMENT'],
    },
    'boto3 get_public_key: KeySpec and KeyUsage',
  );
  const sigs = obj(out, 'signatures', 'boto3');
  assert.ok(nodeVerify('sha256', message, pubKey('p256'), blob(sigs, 'p256', 'boto3 sign')), 'node:crypto verifies the boto3 ECDSA_SHA_256 signature');
  assert.ok(nodeVerify(null, message, pubKey('ed'), blob(sigs, 'ed', 'boto3 sign')), 'node:crypto verifies the boto3 ED25519_SHA_512 signature');
  assert.ok(
    nodeVerify('sha256', message, { key: pubKey('rsaSign'), padding: constants.RSA_PKCS1_PADDING }, blob(sigs, 'rsaSign', 'boto3 sign')),
    'node:crypto verifies the boto3 PKCS#1 v1.5 signature made over a DIGEST',
  );
  assert.equal(out['rsaCiphertextLength'], 256, 'boto3 encrypt RSA_2048: a 256-byte ciphertext');
  assert.equal(out['reEncryptRoundTrip'], true, 'boto3 re_encrypt round trip');
  assert.equal(out['macLength'], 32, 'boto3 generate_mac: 32 bytes');

  const pair = obj(out, 'pair', 'boto3');
  assert.deepEqual(publicOfPrivate(blob(pair, 'private', 'boto3 data key pair')), blob(pair, 'public', 'boto3 data key pair'), 'boto3 generate_data_key_pair: the halves match');
  const pairNp = obj(out, 'pairNp', 'boto3');
  assert.deepEqual(
    publicOfPrivate(blob(pairNp, 'private', 'boto3 data key pair without plaintext')),
    blob(pairNp, 'public', 'boto3 data key pair without plaintext'),
    'boto3 generate_data_key_pair_without_plaintext: the decrypted blob is the private half of PublicKey',
  );
  assert.deepEqual(
    blob(out, 'sharedSecret', 'boto3 derive_shared_secret'),
    diffieHellman({ privateKey: peer.privateKey, publicKey: pubKey('ka') }),
    "boto3 derive_shared_secret equals node:crypto's ECDH",
  );
  assert.deepEqual(
    out['errors'],
    {
      badSignature_p256: ['KMSInvalidSignatureException', 400],
      badSignature_ed: ['KMSInvalidSignatureException', 400],
      badSignature_rsaSign: ['KMSInvalidSignatureException', 400],
      signWithEncryptKey: ['InvalidKeyUsageException', 400],
      badMac: ['KMSInvalidMacException', 400],
    },
    'boto3 error codes and HTTP statuses',
  );

  // Import, second half.
  const imp = obj(out, 'import', 'boto3');
  const wrapped = wrapMaterial(blob(imp, 'PublicKey', 'boto3 get_parameters_for_import'), randomBytes(32));
  const res = await boto3(
    BOTO3_IMPORT,
    { KEY: str(imp, 'KeyId', 'boto3 import'), TOKEN: str(imp, 'ImportToken', 'boto3 import'), WRAPPED: wrapped.toString('base64'), PLAIN: plaintext.toString('base64') },
    'boto3 import',
  );
  assert.deepEqual(
    res,
    {
      stateAfterImport: 'Enabled',
      expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      roundTrip: true,
      stateAfterDelete: 'PendingImport',
      encryptAfterDelete: ['KMSInvalidStateException', 400],
    },
    'boto3 import_key_material, encrypt/decrypt, delete_imported_key_material',
  );
});

// ---- Debian's AWS CLI v2 ----

test("Debian's AWS CLI v2 with --endpoint-url: create-key ECC_NIST_P256 SIGN_VERIFY, sign, verify", { skip: skipV2 }, async () => {
  const k = await cliCreateKey('v2', 'ECC_NIST_P256', 'SIGN_VERIFY');
  const message = Buffer.concat([Buffer.from('cli v2 message '), randomBytes(40)]);
  const msgPath = await writeTemp('v2-msg', message);
  const [signed, pubR] = await Promise.all([
    awsJson('v2', ['sign', '--key-id', k['KeyId'] as string, '--message', fileb(msgPath), '--message-type', 'RAW', '--signing-algorithm', 'ECDSA_SHA_256']),
    awsJson('v2', ['get-public-key', '--key-id', k['KeyId'] as string]),
  ]);
  assert.equal(signed['SigningAlgorithm'], 'ECDSA_SHA_256', 'v2 sign: SigningAlgorithm');
  assert.equal(signed['KeyId'], k['Arn'], 'v2 sign: KeyId is the ARN');
  const signature = blob(signed, 'Signature', 'v2 sign');
  assert.ok(nodeVerify('sha256', message, spki(blob(pubR, 'PublicKey', 'v2 get-public-key')), signature), 'node:crypto verifies the v2 ECDSA signature');
  const [sigPath, badPath] = await Promise.all([writeTemp('v2-sig', signature), writeTemp('v2-bad-sig', flipByte(signature))]);
  const [ok] = await Promise.all([
    awsJson('v2', ['verify', '--key-id', k['KeyId'] as string, '--message', fileb(msgPath), '--signature', fileb(sigPath), '--signing-algorithm', 'ECDSA_SHA_256']),
    awsFails('v2', ['verify', '--key-id', k['KeyId'] as string, '--message', fileb(msgPath), '--signature', fileb(badPath), '--signing-algorithm', 'ECDSA_SHA_256'], 'KMSInvalidSignatureException', 'v2 verify of a tampered signature'),
  ]);
  assert.equal(ok['SignatureValid'], true, 'v2 verify: valid');
});
