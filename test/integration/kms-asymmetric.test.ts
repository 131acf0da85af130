// KMS asymmetric and HMAC keys from the outside: signatures made by Trent verified by the openssl command
// line and node:crypto from GetPublicKey's key alone, RSA-OAEP ciphertexts made by openssl decrypted by
// Trent, ECDH secrets equal to openssl's, HMACs, data key pairs, the usage rules, the CLIs and boto3, and
// what the audit trail keeps of a Sign call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants, createHash, createPrivateKey, createPublicKey, randomBytes, randomUUID, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import {
  KMSClient,
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type DataKeyPairSpec,
  type EncryptionAlgorithmSpec,
  type KeyMetadata,
  type KeySpec,
  type KeyUsageType,
  type MacAlgorithmSpec,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { CloudTrailClient, LookupEventsCommand, type Event } from '@aws-sdk/client-cloudtrail';
import { startTrent, removeDir, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { skipCliV2, awsKms, awsKmsJson, type Cli } from '../helpers/cli.ts';
import { fails, exec, type Run } from '../helpers/assert.ts';

let t: RunningTrent;
let kms: KMSClient;
let ct: CloudTrailClient;
let work: string;

// ---- helpers ----



async function openssl(args: string[]): Promise<Run> {
  return exec('openssl', args);
}

async function opensslOk(args: string[], what: string): Promise<string> {
  const r = await openssl(args);
  assert.equal(r.code, 0, `${what}: openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A fresh file name in the work directory. */
const file = (label: string): string => join(work, `${label}-${randomUUID().slice(0, 8)}`);

async function writeTemp(label: string, data: Uint8Array): Promise<string> {
  const p = file(label);
  await writeFile(p, data);
  return p;
}



const bytes = (b: Uint8Array | undefined, what = 'a binary field'): Buffer => {
  assert.ok(b, `expected ${what}`);
  return Buffer.from(b);
};

const flipByte = (b: Uint8Array, at = b.length >> 1): Buffer => {
  const c = Buffer.from(b);
  c[at]! ^= 0x01;
  return c;
};

async function createKey(KeySpec: KeySpec, KeyUsage?: KeyUsageType): Promise<KeyMetadata> {
  const r = await kms.send(new CreateKeyCommand({ KeySpec, ...(KeyUsage ? { KeyUsage } : {}), Description: `${KeySpec} ${KeyUsage ?? ''}` }));
  const k = r.KeyMetadata;
  assert.ok(k?.KeyId && k.Arn, `CreateKey ${KeySpec} returns KeyId and Arn`);
  assert.equal(k.KeySpec, KeySpec, `CreateKey ${KeySpec}: KeySpec`);
  assert.equal(k.CustomerMasterKeySpec, KeySpec, `CreateKey ${KeySpec}: CustomerMasterKeySpec`);
  assert.equal(k.KeyUsage, KeyUsage ?? 'ENCRYPT_DECRYPT', `CreateKey ${KeySpec}: KeyUsage`);
  assert.equal(k.KeyState, 'Enabled', `CreateKey ${KeySpec}: enabled`);
  return k;
}

/** Keys are made once per spec and usage (RSA_4096 generation takes seconds), then shared by the tests. */
const keyCache = new Map<string, Promise<KeyMetadata>>();
function key(spec: KeySpec, usage?: KeyUsageType): Promise<KeyMetadata> {
  const id = `${spec}/${usage ?? ''}`;
  let k = keyCache.get(id);
  if (!k) {
    k = createKey(spec, usage);
    keyCache.set(id, k);
  }
  return k;
}

interface PublicKeyFiles {
  der: Buffer;
  pem: string;
  object: KeyObject;
  derPath: string;
  pemPath: string;
}

/** GetPublicKey's SubjectPublicKeyInfo, as DER, as a PEM file converted by openssl, and as a node KeyObject. */
const publicKeys = new Map<string, Promise<PublicKeyFiles>>();
function publicKeyOf(k: KeyMetadata): Promise<PublicKeyFiles> {
  let p = publicKeys.get(k.KeyId!);
  if (!p) {
    p = (async () => {
      const r = await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }));
      assert.equal(r.KeyId, k.Arn, 'GetPublicKey: KeyId is the ARN');
      const der = bytes(r.PublicKey, 'PublicKey');
      const derPath = await writeTemp('pub.der', der);
      const pemPath = file('pub.pem');
      await opensslOk(['pkey', '-pubin', '-inform', 'DER', '-in', derPath, '-out', pemPath], `${k.KeySpec}: DER to PEM`);
      const pem = await readFile(pemPath, 'utf8');
      assert.match(pem, /^-----BEGIN PUBLIC KEY-----/, 'openssl writes a PEM public key');
      return { der, pem, object: createPublicKey({ key: der, format: 'der', type: 'spki' }), derPath, pemPath };
    })();
    publicKeys.set(k.KeyId!, p);
  }
  return p;
}

const hashOf = (algorithm: string): string => `sha${/(224|256|384|512)$/.exec(algorithm)![1]}`;

/** openssl's verification of a KMS signature over `message` (RAW), or its exit code when it refuses. */
async function opensslVerify(pub: PublicKeyFiles, algorithm: string, message: Buffer, signature: Buffer): Promise<Run> {
  const msg = await writeTemp('msg', message);
  const sig = await writeTemp('sig', signature);
  if (algorithm === 'ED25519_SHA_512') return openssl(['pkeyutl', '-verify', '-pubin', '-inkey', pub.pemPath, '-rawin', '-in', msg, '-sigfile', sig]);
  const pss = algorithm.startsWith('RSASSA_PSS') ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-1'] : [];
  return openssl(['dgst', `-${hashOf(algorithm)}`, '-verify', pub.pemPath, ...pss, '-signature', sig, msg]);
}

async function assertOpensslVerifies(pub: PublicKeyFiles, algorithm: string, message: Buffer, signature: Buffer, what: string): Promise<void> {
  const r = await opensslVerify(pub, algorithm, message, signature);
  assert.equal(r.code, 0, `${what}: openssl verifies the signature (${r.code}): ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /Verified OK|Signature Verified Successfully/, `${what}: openssl says it verified: ${r.stdout}`);
}

/** node:crypto's verification from the public key alone, with KMS's parameters. */
function nodeVerifies(pub: KeyObject, algorithm: string, message: Buffer, signature: Buffer): boolean {
  if (algorithm === 'ED25519_SHA_512') return nodeVerify(null, message, pub, signature);
  const hash = hashOf(algorithm);
  if (algorithm.startsWith('RSASSA_PSS')) {
    return nodeVerify(hash, message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: createHash(hash).digest().length }, signature);
  }
  if (algorithm.startsWith('RSASSA_PKCS1')) return nodeVerify(hash, message, { key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
  return nodeVerify(hash, message, { key: pub, dsaEncoding: 'der' }, signature);
}

const RSA_SIGNING = ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'];
const SIGNING_CASES: Array<{ spec: KeySpec; algorithms: string[] }> = [
  { spec: 'RSA_2048', algorithms: RSA_SIGNING },
  { spec: 'RSA_3072', algorithms: ['RSASSA_PSS_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_256'] },
  { spec: 'RSA_4096', algorithms: ['RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_384'] },
  { spec: 'ECC_NIST_P256', algorithms: ['ECDSA_SHA_256'] },
  { spec: 'ECC_NIST_P384', algorithms: ['ECDSA_SHA_384'] },
  { spec: 'ECC_NIST_P521', algorithms: ['ECDSA_SHA_512'] },
  { spec: 'ECC_SECG_P256K1', algorithms: ['ECDSA_SHA_256'] },
  { spec: 'ECC_NIST_EDWARDS25519', algorithms: ['ED25519_SHA_512'] },
];

before(async () => {
  t = await startTrent();
  kms = new KMSClient(t.clientConfig());
  ct = new CloudTrailClient(t.clientConfig());
  work = await tempDir('trent-kms-asym-');
  // Every key the file needs, generated side by side (the server generates RSA keys off its event loop).
  await Promise.all([
    ...SIGNING_CASES.map((c) => key(c.spec, 'SIGN_VERIFY')),
    key('RSA_2048', 'ENCRYPT_DECRYPT'),
    key('RSA_3072', 'ENCRYPT_DECRYPT'),
    key('RSA_4096', 'ENCRYPT_DECRYPT'),
    key('ECC_NIST_P256', 'KEY_AGREEMENT'),
    key('ECC_NIST_P384', 'KEY_AGREEMENT'),
    key('ECC_NIST_P521', 'KEY_AGREEMENT'),
    key('HMAC_224', 'GENERATE_VERIFY_MAC'),
    key('HMAC_256', 'GENERATE_VERIFY_MAC'),
    key('HMAC_384', 'GENERATE_VERIFY_MAC'),
    key('HMAC_512', 'GENERATE_VERIFY_MAC'),
    key('SYMMETRIC_DEFAULT'),
  ]);
});
after(async () => {
  kms?.destroy();
  ct?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
  if (work) await removeDir(work);
});

// ---- signing ----

for (const c of SIGNING_CASES) {
  test(`Sign ${c.spec} with ${c.algorithms.join(', ')}: openssl and node:crypto verify it from GetPublicKey's key; Trent's Verify too, and refuses tampering`, async () => {
    const k = await key(c.spec, 'SIGN_VERIFY');
    const pub = await publicKeyOf(k);
    await Promise.all(
      c.algorithms.map(async (algorithm) => {
        const what = `${c.spec} ${algorithm}`;
        const message = Buffer.concat([Buffer.from(`message for ${what}: `), randomBytes(200)]);
        const r = await kms.send(new SignCommand({ KeyId: k.KeyId, Message: message, MessageType: 'RAW', SigningAlgorithm: algorithm as SigningAlgorithmSpec }));
        assert.equal(r.KeyId, k.Arn, `${what}: Sign returns the key ARN`);
        assert.equal(r.SigningAlgorithm, algorithm, `${what}: Sign echoes the algorithm`);
        const signature = bytes(r.Signature, 'Signature');
        if (c.spec.startsWith('RSA_')) assert.equal(signature.length, Number(c.spec.slice(4)) / 8, `${what}: the signature is as long as the modulus`);

        await assertOpensslVerifies(pub, algorithm, message, signature, what);
        // Control: openssl does refuse a flipped byte and another message, so the check above means something.
        const refused = await opensslVerify(pub, algorithm, message, flipByte(signature));
        assert.notEqual(refused.code, 0, `${what}: openssl refuses a flipped signature byte`);
        const refusedMsg = await opensslVerify(pub, algorithm, Buffer.concat([message, Buffer.from('!')]), signature);
        assert.notEqual(refusedMsg.code, 0, `${what}: openssl refuses another message`);

        assert.equal(nodeVerifies(pub.object, algorithm, message, signature), true, `${what}: node:crypto verifies it`);
        assert.equal(nodeVerifies(pub.object, algorithm, Buffer.concat([message, Buffer.from('!')]), signature), false, `${what}: node:crypto refuses another message`);

        const v = await kms.send(new VerifyCommand({ KeyId: k.Arn, Message: message, Signature: signature, SigningAlgorithm: algorithm as SigningAlgorithmSpec }));
        assert.equal(v.SignatureValid, true, `${what}: Verify says valid`);
        assert.equal(v.KeyId, k.Arn, `${what}: Verify returns the key ARN`);
        assert.equal(v.SigningAlgorithm, algorithm, `${what}: Verify echoes the algorithm`);
        await fails(
          kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: message, Signature: flipByte(signature), SigningAlgorithm: algorithm as SigningAlgorithmSpec })),
          'KMSInvalidSignatureException',
          `${what}: Verify with a flipped signature byte`,
        );
        await fails(
          kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: Buffer.concat([message, Buffer.from('!')]), Signature: signature, SigningAlgorithm: algorithm as SigningAlgorithmSpec })),
          'KMSInvalidSignatureException',
          `${what}: Verify with another message`,
        );
      }),
    );
  });
}

test('an RSA signature made with one algorithm does not verify under another; ECDSA with the wrong hash algorithm is refused as a usage error', async () => {
  const k = await key('RSA_2048', 'SIGN_VERIFY');
  const message = Buffer.from('cross-algorithm');
  const pss = bytes((await kms.send(new SignCommand({ KeyId: k.KeyId, Message: message, SigningAlgorithm: 'RSASSA_PSS_SHA_256' }))).Signature);
  await fails(kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: message, Signature: pss, SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' })), 'KMSInvalidSignatureException', 'a PSS signature verified as PKCS#1 v1.5');
  await fails(kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: message, Signature: pss, SigningAlgorithm: 'RSASSA_PSS_SHA_384' })), 'KMSInvalidSignatureException', 'a PSS SHA-256 signature verified as PSS SHA-384');
  // A signature from another key of the same spec is refused.
  const other = await createKey('ECC_NIST_P256', 'SIGN_VERIFY');
  const p256 = await key('ECC_NIST_P256', 'SIGN_VERIFY');
  const sig = bytes((await kms.send(new SignCommand({ KeyId: other.KeyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature);
  await fails(kms.send(new VerifyCommand({ KeyId: p256.KeyId, Message: message, Signature: sig, SigningAlgorithm: 'ECDSA_SHA_256' })), 'KMSInvalidSignatureException', "another key's signature");
  // An algorithm the key does not offer is a usage error, for Sign and Verify.
  await fails(kms.send(new SignCommand({ KeyId: p256.KeyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_384' })), 'InvalidKeyUsageException', 'ECDSA_SHA_384 with a P-256 key');
  await fails(kms.send(new SignCommand({ KeyId: p256.KeyId, Message: message, SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'InvalidKeyUsageException', 'an RSA algorithm with a P-256 key');
  await fails(kms.send(new VerifyCommand({ KeyId: p256.KeyId, Message: message, Signature: sig, SigningAlgorithm: 'ECDSA_SHA_512' })), 'InvalidKeyUsageException', 'Verify with ECDSA_SHA_512 on a P-256 key');
});

test('MessageType DIGEST: PKCS#1 v1.5 signs a digest (openssl verifies it against the message); wrong lengths are ValidationException in AWS\'s words', async () => {
  const rsa = await key('RSA_2048', 'SIGN_VERIFY');
  const pub = await publicKeyOf(rsa);
  const message = Buffer.concat([Buffer.from('hashed by the caller: '), randomBytes(64)]);
  for (const algorithm of ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'] as const) {
    const digest = createHash(hashOf(algorithm)).update(message).digest();
    const r = await kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: algorithm }));
    const signature = bytes(r.Signature);
    await assertOpensslVerifies(pub, algorithm, message, signature, `${algorithm} over a DIGEST`);
    assert.equal(nodeVerifies(pub.object, algorithm, message, signature), true, `${algorithm}: node:crypto verifies the DIGEST signature against the message`);
    // PKCS#1 v1.5 is deterministic: RAW signing of the message gives the same bytes.
    const raw = bytes((await kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: message, MessageType: 'RAW', SigningAlgorithm: algorithm }))).Signature);
    assert.deepEqual(raw, signature, `${algorithm}: DIGEST and RAW signatures are the same bytes`);
    const v = await kms.send(new VerifyCommand({ KeyId: rsa.KeyId, Message: digest, MessageType: 'DIGEST', Signature: signature, SigningAlgorithm: algorithm }));
    assert.equal(v.SignatureValid, true, `${algorithm}: Verify DIGEST says valid`);
    await fails(
      kms.send(new VerifyCommand({ KeyId: rsa.KeyId, Message: flipByte(digest, 0), MessageType: 'DIGEST', Signature: signature, SigningAlgorithm: algorithm })),
      'KMSInvalidSignatureException',
      `${algorithm}: Verify DIGEST with another digest`,
    );
  }
  // A digest of the wrong length for the algorithm.
  await fails(kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: randomBytes(31), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' })), 'ValidationException', 'a 31-byte SHA-256 digest');
  await fails(kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: randomBytes(32), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_384' })), 'ValidationException', 'a 32-byte SHA-384 digest');
  await fails(kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: randomBytes(64), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' })), 'ValidationException', 'a 64-byte SHA-256 digest');
  await fails(
    kms.send(new VerifyCommand({ KeyId: rsa.KeyId, Message: randomBytes(33), MessageType: 'DIGEST', Signature: randomBytes(256), SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' })),
    'ValidationException',
    'Verify with a 33-byte SHA-256 digest',
  );
  const short = await fails(kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: randomBytes(20), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'ValidationException', 'a 20-byte PSS SHA-256 digest');
  assert.equal(short.message, 'Digest is invalid length for algorithm RSASSA_PSS_SHA_256.', "AWS's message for a digest of the wrong length");
  // Ed25519 (ED25519_SHA_512) signs RAW messages only.
  const ed = await key('ECC_NIST_EDWARDS25519', 'SIGN_VERIFY');
  await fails(
    kms.send(new SignCommand({ KeyId: ed.KeyId, Message: createHash('sha512').update(message).digest(), MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_SHA_512' })),
    'ValidationException',
    'ED25519_SHA_512 over a DIGEST',
  );
});

test('MessageType DIGEST with RSASSA-PSS (SHA-256/384/512) and ECDSA (P-256, P-384, P-521, secp256k1): openssl verifies each against the raw message; Verify DIGEST and RAW accept it; lengths are checked', async () => {
  const message = Buffer.concat([Buffer.from('a large document hashed by the caller: '), randomBytes(200)]);
  const cases: Array<[KeySpec, SigningAlgorithmSpec]> = [
    ['RSA_2048', 'RSASSA_PSS_SHA_256'],
    ['RSA_2048', 'RSASSA_PSS_SHA_384'],
    ['RSA_2048', 'RSASSA_PSS_SHA_512'],
    ['RSA_3072', 'RSASSA_PSS_SHA_384'],
    ['RSA_4096', 'RSASSA_PSS_SHA_512'],
    ['ECC_NIST_P256', 'ECDSA_SHA_256'],
    ['ECC_NIST_P384', 'ECDSA_SHA_384'],
    ['ECC_NIST_P521', 'ECDSA_SHA_512'],
    ['ECC_SECG_P256K1', 'ECDSA_SHA_256'],
  ];
  for (const [spec, algorithm] of cases) {
    const k = await key(spec, 'SIGN_VERIFY');
    const pub = await publicKeyOf(k);
    const digest = createHash(hashOf(algorithm)).update(message).digest();
    const r = await kms.send(new SignCommand({ KeyId: k.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: algorithm }));
    assert.equal(r.SigningAlgorithm, algorithm, `${spec} ${algorithm}: SigningAlgorithm`);
    const signature = bytes(r.Signature);
    await assertOpensslVerifies(pub, algorithm, message, signature, `${spec} ${algorithm} over a DIGEST`);
    assert.equal(nodeVerifies(pub.object, algorithm, message, signature), true, `${spec} ${algorithm}: node:crypto verifies the DIGEST signature against the message`);
    const asDigest = await kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: digest, MessageType: 'DIGEST', Signature: signature, SigningAlgorithm: algorithm }));
    assert.equal(asDigest.SignatureValid, true, `${spec} ${algorithm}: Verify DIGEST`);
    const asRaw = await kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: message, Signature: signature, SigningAlgorithm: algorithm }));
    assert.equal(asRaw.SignatureValid, true, `${spec} ${algorithm}: Verify RAW of the message`);
    // A RAW signature made by Trent verifies as DIGEST.
    const raw = bytes((await kms.send(new SignCommand({ KeyId: k.KeyId, Message: message, SigningAlgorithm: algorithm }))).Signature);
    assert.equal((await kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: digest, MessageType: 'DIGEST', Signature: raw, SigningAlgorithm: algorithm }))).SignatureValid, true, `${spec} ${algorithm}: RAW signature, DIGEST verify`);
    await fails(
      kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: flipByte(digest, 0), MessageType: 'DIGEST', Signature: signature, SigningAlgorithm: algorithm })),
      'KMSInvalidSignatureException',
      `${spec} ${algorithm}: another digest`,
    );
    await fails(
      kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: digest, MessageType: 'DIGEST', Signature: flipByte(signature), SigningAlgorithm: algorithm })),
      'KMSInvalidSignatureException',
      `${spec} ${algorithm}: a tampered signature`,
    );
    const wrong = await fails(
      kms.send(new SignCommand({ KeyId: k.KeyId, Message: Buffer.concat([digest, Buffer.from([0])]), MessageType: 'DIGEST', SigningAlgorithm: algorithm })),
      'ValidationException',
      `${spec} ${algorithm}: a digest one byte too long`,
    );
    assert.equal(wrong.message, `Digest is invalid length for algorithm ${algorithm}.`);
  }
});

test('boto3: sign with MessageType DIGEST (ECDSA P-256 and RSASSA-PSS), openssl verifies against the message; a short digest is ValidationException', async () => {
  const p256 = await key('ECC_NIST_P256', 'SIGN_VERIFY');
  const rsa = await key('RSA_2048', 'SIGN_VERIFY');
  const message = Buffer.from('boto3 signs a digest of this');
  const script = `
import base64, hashlib, json, sys
import boto3
from botocore.exceptions import ClientError
a = json.loads(sys.argv[1])
kms = boto3.client('kms', endpoint_url=a['endpoint'], region_name=a['region'])
digest = hashlib.sha256(base64.b64decode(a['message'])).digest()
out = {}
for name, key, alg in (('ec', a['ec'], 'ECDSA_SHA_256'), ('pss', a['rsa'], 'RSASSA_PSS_SHA_256')):
    r = kms.sign(KeyId=key, Message=digest, MessageType='DIGEST', SigningAlgorithm=alg)
    out[name] = base64.b64encode(r['Signature']).decode()
    v = kms.verify(KeyId=key, Message=digest, MessageType='DIGEST', Signature=r['Signature'], SigningAlgorithm=alg)
    out[name + '_valid'] = v['SignatureValid']
try:
    kms.sign(KeyId=a['ec'], Message=digest[:31], MessageType='DIGEST', SigningAlgorithm='ECDSA_SHA_256')
    out['short'] = 'succeeded'
except ClientError as e:
    out['short'] = [e.response['Error']['Code'], e.response['Error']['Message'], e.response['ResponseMetadata']['HTTPStatusCode']]
print(json.dumps(out))
`;
  const r = await exec('python3', ['-c', script, JSON.stringify({ endpoint: t.endpoint, region: t.region, message: message.toString('base64'), ec: p256.KeyId, rsa: rsa.KeyId })], t.cliEnv());
  assert.equal(r.code, 0, `boto3 script failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { ec: string; pss: string; ec_valid: boolean; pss_valid: boolean; short: unknown };
  assert.equal(out.ec_valid, true, 'boto3 verify ECDSA DIGEST');
  assert.equal(out.pss_valid, true, 'boto3 verify PSS DIGEST');
  await assertOpensslVerifies(await publicKeyOf(p256), 'ECDSA_SHA_256', message, Buffer.from(out.ec, 'base64'), 'boto3 ECDSA DIGEST');
  await assertOpensslVerifies(await publicKeyOf(rsa), 'RSASSA_PSS_SHA_256', message, Buffer.from(out.pss, 'base64'), 'boto3 PSS DIGEST');
  assert.deepEqual(out.short, ['ValidationException', 'Digest is invalid length for algorithm ECDSA_SHA_256.', 400]);
});

// ---- GetPublicKey and DescribeKey ----

test('GetPublicKey and DescribeKey: KeySpec, KeyUsage and the algorithm lists per usage; the key parses; symmetric and HMAC keys have no public key', async () => {
  const cases: Array<{ spec: KeySpec; usage: KeyUsageType; field: 'SigningAlgorithms' | 'EncryptionAlgorithms' | 'KeyAgreementAlgorithms'; algorithms: string[]; type: string; detail: Record<string, unknown> }> = [
    { spec: 'RSA_2048', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: RSA_SIGNING, type: 'rsa', detail: { modulusLength: 2048, publicExponent: 65537n } },
    { spec: 'RSA_3072', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: RSA_SIGNING, type: 'rsa', detail: { modulusLength: 3072 } },
    { spec: 'RSA_4096', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: RSA_SIGNING, type: 'rsa', detail: { modulusLength: 4096 } },
    { spec: 'RSA_2048', usage: 'ENCRYPT_DECRYPT', field: 'EncryptionAlgorithms', algorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'], type: 'rsa', detail: { modulusLength: 2048 } },
    { spec: 'RSA_4096', usage: 'ENCRYPT_DECRYPT', field: 'EncryptionAlgorithms', algorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'], type: 'rsa', detail: { modulusLength: 4096 } },
    { spec: 'ECC_NIST_P256', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: ['ECDSA_SHA_256'], type: 'ec', detail: { namedCurve: 'prime256v1' } },
    { spec: 'ECC_NIST_P384', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: ['ECDSA_SHA_384'], type: 'ec', detail: { namedCurve: 'secp384r1' } },
    { spec: 'ECC_NIST_P521', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: ['ECDSA_SHA_512'], type: 'ec', detail: { namedCurve: 'secp521r1' } },
    { spec: 'ECC_SECG_P256K1', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: ['ECDSA_SHA_256'], type: 'ec', detail: { namedCurve: 'secp256k1' } },
    { spec: 'ECC_NIST_EDWARDS25519', usage: 'SIGN_VERIFY', field: 'SigningAlgorithms', algorithms: ['ED25519_SHA_512'], type: 'ed25519', detail: {} },
    { spec: 'ECC_NIST_P256', usage: 'KEY_AGREEMENT', field: 'KeyAgreementAlgorithms', algorithms: ['ECDH'], type: 'ec', detail: { namedCurve: 'prime256v1' } },
    { spec: 'ECC_NIST_P521', usage: 'KEY_AGREEMENT', field: 'KeyAgreementAlgorithms', algorithms: ['ECDH'], type: 'ec', detail: { namedCurve: 'secp521r1' } },
  ];
  const lists = ['SigningAlgorithms', 'EncryptionAlgorithms', 'KeyAgreementAlgorithms', 'MacAlgorithms'] as const;
  await Promise.all(
    cases.map(async (c) => {
      const what = `${c.spec} ${c.usage}`;
      const k = await key(c.spec, c.usage);
      const [g, d] = await Promise.all([kms.send(new GetPublicKeyCommand({ KeyId: k.Arn })), kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))]);
      assert.equal(g.KeyId, k.Arn, `${what}: GetPublicKey KeyId`);
      assert.equal(g.KeySpec, c.spec, `${what}: GetPublicKey KeySpec`);
      assert.equal(g.CustomerMasterKeySpec, c.spec, `${what}: GetPublicKey CustomerMasterKeySpec`);
      assert.equal(g.KeyUsage, c.usage, `${what}: GetPublicKey KeyUsage`);
      assert.deepEqual([...(g[c.field] ?? [])].sort(), [...c.algorithms].sort(), `${what}: GetPublicKey ${c.field}`);
      for (const other of lists.filter((l) => l !== c.field && l !== 'MacAlgorithms')) assert.equal((g as unknown as Record<string, unknown>)[other], undefined, `${what}: GetPublicKey has no ${other}`);
      const pub = createPublicKey({ key: bytes(g.PublicKey), format: 'der', type: 'spki' });
      assert.equal(pub.asymmetricKeyType, c.type, `${what}: the public key's type`);
      for (const [name, value] of Object.entries(c.detail)) assert.equal((pub.asymmetricKeyDetails as Record<string, unknown>)[name], value, `${what}: public key ${name}`);

      const m = d.KeyMetadata!;
      assert.equal(m.KeySpec, c.spec, `${what}: DescribeKey KeySpec`);
      assert.equal(m.KeyUsage, c.usage, `${what}: DescribeKey KeyUsage`);
      assert.deepEqual([...(m[c.field] ?? [])].sort(), [...c.algorithms].sort(), `${what}: DescribeKey ${c.field}`);
      for (const other of lists.filter((l) => l !== c.field)) assert.equal((m as unknown as Record<string, unknown>)[other], undefined, `${what}: DescribeKey has no ${other}`);
    }),
  );
  // The same key through an alias, and the same bytes every time.
  const rsa = await key('RSA_2048', 'SIGN_VERIFY');
  const again = await kms.send(new GetPublicKeyCommand({ KeyId: rsa.KeyId }));
  assert.deepEqual(bytes(again.PublicKey), (await publicKeyOf(rsa)).der, 'GetPublicKey returns the same key each time');

  for (const bits of [224, 256, 384, 512]) {
    const h = await key(`HMAC_${bits}` as KeySpec, 'GENERATE_VERIFY_MAC');
    const m = (await kms.send(new DescribeKeyCommand({ KeyId: h.KeyId }))).KeyMetadata!;
    assert.deepEqual(m.MacAlgorithms, [`HMAC_SHA_${bits}`], `HMAC_${bits}: DescribeKey MacAlgorithms`);
    assert.equal(m.KeyUsage, 'GENERATE_VERIFY_MAC', `HMAC_${bits}: DescribeKey KeyUsage`);
    assert.equal(m.SigningAlgorithms, undefined, `HMAC_${bits}: no SigningAlgorithms`);
  }
  const sym = await key('SYMMETRIC_DEFAULT');
  assert.deepEqual((await kms.send(new DescribeKeyCommand({ KeyId: sym.KeyId }))).KeyMetadata!.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT'], 'symmetric key: EncryptionAlgorithms');
  await fails(kms.send(new GetPublicKeyCommand({ KeyId: sym.KeyId })), 'UnsupportedOperationException', 'GetPublicKey on a symmetric key');
  await fails(kms.send(new GetPublicKeyCommand({ KeyId: (await key('HMAC_256', 'GENERATE_VERIFY_MAC')).KeyId })), 'UnsupportedOperationException', 'GetPublicKey on an HMAC key');
  await fails(kms.send(new GetPublicKeyCommand({ KeyId: randomUUID() })), 'NotFoundException', 'GetPublicKey on an unknown key');
});

// ---- RSA encryption ----

const OAEP_OPTS: Record<string, string[]> = {
  RSAES_OAEP_SHA_1: ['-pkeyopt', 'rsa_padding_mode:oaep'],
  RSAES_OAEP_SHA_256: ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256'],
};

/** An RSA-OAEP ciphertext made by `openssl pkeyutl -encrypt` with the key's public half. */
async function opensslEncrypt(pub: PublicKeyFiles, algorithm: string, plaintext: Buffer): Promise<Buffer> {
  const pt = await writeTemp('pt', plaintext);
  const out = file('ct');
  await opensslOk(['pkeyutl', '-encrypt', '-pubin', '-inkey', pub.pemPath, '-in', pt, '-out', out, ...OAEP_OPTS[algorithm]!], `openssl ${algorithm} encryption`);
  return readFile(out);
}

const RSA_LIMITS: Array<{ spec: KeySpec; limits: Record<string, number> }> = [
  { spec: 'RSA_2048', limits: { RSAES_OAEP_SHA_1: 214, RSAES_OAEP_SHA_256: 190 } },
  { spec: 'RSA_3072', limits: { RSAES_OAEP_SHA_1: 342, RSAES_OAEP_SHA_256: 318 } },
  { spec: 'RSA_4096', limits: { RSAES_OAEP_SHA_1: 470, RSAES_OAEP_SHA_256: 446 } },
];

for (const { spec, limits } of RSA_LIMITS) {
  test(`${spec} ENCRYPT_DECRYPT: openssl OAEP (SHA-1, SHA-256) ciphertexts decrypt through Trent; Encrypt round trips; plaintext limits ${Object.values(limits).join('/')} exactly`, async () => {
    const k = await key(spec, 'ENCRYPT_DECRYPT');
    const pub = await publicKeyOf(k);
    await Promise.all(
      Object.entries(limits).map(async ([algorithm, limit]) => {
        const alg = algorithm as EncryptionAlgorithmSpec;
        const what = `${spec} ${algorithm}`;
        // openssl -> Trent, at a small size and at exactly the limit.
        for (const size of [17, limit]) {
          const plaintext = randomBytes(size);
          const ciphertext = await opensslEncrypt(pub, algorithm, plaintext);
          const d = await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: alg }));
          assert.deepEqual(bytes(d.Plaintext), plaintext, `${what}: Trent decrypts openssl's ${size}-byte ciphertext`);
          assert.equal(d.KeyId, k.Arn, `${what}: Decrypt returns the key ARN`);
          assert.equal(d.EncryptionAlgorithm, algorithm, `${what}: Decrypt echoes the algorithm`);
        }
        // Trent -> Trent, at exactly the limit; one byte more is refused.
        const plaintext = randomBytes(limit);
        const e = await kms.send(new EncryptCommand({ KeyId: k.Arn, Plaintext: plaintext, EncryptionAlgorithm: alg }));
        assert.equal(e.KeyId, k.Arn, `${what}: Encrypt returns the key ARN`);
        assert.equal(e.EncryptionAlgorithm, algorithm, `${what}: Encrypt echoes the algorithm`);
        const ciphertext = bytes(e.CiphertextBlob);
        assert.equal(ciphertext.length, Number(spec.slice(4)) / 8, `${what}: the ciphertext is as long as the modulus (no Trent envelope)`);
        const d = await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: alg }));
        assert.deepEqual(bytes(d.Plaintext), plaintext, `${what}: Trent's ciphertext decrypts`);
        await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: randomBytes(limit + 1), EncryptionAlgorithm: alg })), 'ValidationException', `${what}: ${limit + 1} bytes`);
        // Tampered, or with the other OAEP hash.
        await fails(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: flipByte(ciphertext), EncryptionAlgorithm: alg })), 'InvalidCiphertextException', `${what}: a tampered ciphertext`);
        const otherAlg = (algorithm === 'RSAES_OAEP_SHA_1' ? 'RSAES_OAEP_SHA_256' : 'RSAES_OAEP_SHA_1') as EncryptionAlgorithmSpec;
        await fails(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: otherAlg })), 'InvalidCiphertextException', `${what}: decrypted as ${otherAlg}`);
      }),
    );
  });
}

test('RSA encryption rules: EncryptionAlgorithm is required, EncryptionContext is refused, SYMMETRIC_DEFAULT and SIGN_VERIFY keys are usage errors', async () => {
  const k = await key('RSA_2048', 'ENCRYPT_DECRYPT');
  const ciphertext = bytes((await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('rules'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))).CiphertextBlob);
  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') })), 'ValidationException', 'Encrypt without EncryptionAlgorithm');
  await fails(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ciphertext })), 'ValidationException', 'Decrypt with an RSA KeyId and no EncryptionAlgorithm');
  await fails(
    kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256', EncryptionContext: { purpose: 'test' } })),
    'ValidationException',
    'Encrypt with an RSA key and an EncryptionContext',
  );
  await fails(
    kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256', EncryptionContext: { purpose: 'test' } })),
    'ValidationException',
    'Decrypt with an RSA key and an EncryptionContext',
  );
  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })), 'InvalidKeyUsageException', 'Encrypt with an RSA key and SYMMETRIC_DEFAULT');
  await fails(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })), 'InvalidKeyUsageException', 'Decrypt with an RSA key and SYMMETRIC_DEFAULT');
  // An RSA ciphertext names no key: without KeyId it cannot be decrypted.
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidCiphertextException', 'Decrypt of an RSA ciphertext without KeyId');
  // Another RSA key of the same size cannot decrypt it.
  const other = await key('RSA_2048', 'SIGN_VERIFY');
  await fails(kms.send(new EncryptCommand({ KeyId: other.KeyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidKeyUsageException', 'Encrypt with a SIGN_VERIFY RSA key');
  await fails(kms.send(new DecryptCommand({ KeyId: other.KeyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidKeyUsageException', 'Decrypt with a SIGN_VERIFY RSA key');
  // A symmetric key does not take RSA algorithms.
  const sym = await key('SYMMETRIC_DEFAULT');
  await fails(kms.send(new EncryptCommand({ KeyId: sym.KeyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidKeyUsageException', 'Encrypt with a symmetric key and RSAES_OAEP_SHA_256');
});

// ---- HMAC ----

test('HMAC_224/256/384/512: GenerateMac lengths, VerifyMac, tampering is KMSInvalidMacException, wrong algorithm or key is InvalidKeyUsageException', async () => {
  await Promise.all(
    [224, 256, 384, 512].map(async (bits) => {
      const k = await key(`HMAC_${bits}` as KeySpec, 'GENERATE_VERIFY_MAC');
      const alg = `HMAC_SHA_${bits}` as MacAlgorithmSpec;
      const what = `HMAC_${bits}`;
      const message = Buffer.concat([Buffer.from(`mac me ${bits}: `), randomBytes(100)]);
      const g = await kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: message, MacAlgorithm: alg }));
      assert.equal(g.KeyId, k.Arn, `${what}: GenerateMac returns the key ARN`);
      assert.equal(g.MacAlgorithm, alg, `${what}: GenerateMac echoes the algorithm`);
      const tag = bytes(g.Mac, 'Mac');
      assert.equal(tag.length, bits / 8, `${what}: the MAC is ${bits / 8} bytes`);
      const again = bytes((await kms.send(new GenerateMacCommand({ KeyId: k.Arn, Message: message, MacAlgorithm: alg }))).Mac);
      assert.deepEqual(again, tag, `${what}: the MAC is deterministic`);
      const v = await kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: message, Mac: tag, MacAlgorithm: alg }));
      assert.equal(v.MacValid, true, `${what}: VerifyMac says valid`);
      assert.equal(v.KeyId, k.Arn, `${what}: VerifyMac returns the key ARN`);
      await fails(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: message, Mac: flipByte(tag, 0), MacAlgorithm: alg })), 'KMSInvalidMacException', `${what}: a flipped MAC byte`);
      await fails(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: message, Mac: tag.subarray(0, tag.length - 1), MacAlgorithm: alg })), 'KMSInvalidMacException', `${what}: a truncated MAC`);
      await fails(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: Buffer.concat([message, Buffer.from('!')]), Mac: tag, MacAlgorithm: alg })), 'KMSInvalidMacException', `${what}: another message`);
      const wrong = (bits === 256 ? 'HMAC_SHA_384' : 'HMAC_SHA_256') as MacAlgorithmSpec;
      await fails(kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: message, MacAlgorithm: wrong })), 'InvalidKeyUsageException', `${what}: GenerateMac with ${wrong}`);
      await fails(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: message, Mac: tag, MacAlgorithm: wrong })), 'InvalidKeyUsageException', `${what}: VerifyMac with ${wrong}`);
      return tag;
    }),
  );
  // Another HMAC key of the same spec gives another MAC.
  const a = await key('HMAC_256', 'GENERATE_VERIFY_MAC');
  const b = await createKey('HMAC_256', 'GENERATE_VERIFY_MAC');
  const m = Buffer.from('same message');
  const ta = bytes((await kms.send(new GenerateMacCommand({ KeyId: a.KeyId, Message: m, MacAlgorithm: 'HMAC_SHA_256' }))).Mac);
  await fails(kms.send(new VerifyMacCommand({ KeyId: b.KeyId, Message: m, Mac: ta, MacAlgorithm: 'HMAC_SHA_256' })), 'KMSInvalidMacException', "another key's MAC");
  // MAC operations need an HMAC key; HMAC keys do nothing else.
  const sym = await key('SYMMETRIC_DEFAULT');
  await fails(kms.send(new GenerateMacCommand({ KeyId: sym.KeyId, Message: m, MacAlgorithm: 'HMAC_SHA_256' })), 'InvalidKeyUsageException', 'GenerateMac on a symmetric key');
  await fails(kms.send(new VerifyMacCommand({ KeyId: sym.KeyId, Message: m, Mac: ta, MacAlgorithm: 'HMAC_SHA_256' })), 'InvalidKeyUsageException', 'VerifyMac on a symmetric key');
  const rsa = await key('RSA_2048', 'SIGN_VERIFY');
  await fails(kms.send(new GenerateMacCommand({ KeyId: rsa.KeyId, Message: m, MacAlgorithm: 'HMAC_SHA_256' })), 'InvalidKeyUsageException', 'GenerateMac on an RSA key');
  await fails(kms.send(new EncryptCommand({ KeyId: a.KeyId, Plaintext: m })), 'InvalidKeyUsageException', 'Encrypt with an HMAC key');
  await fails(kms.send(new SignCommand({ KeyId: a.KeyId, Message: m, SigningAlgorithm: 'ECDSA_SHA_256' })), 'InvalidKeyUsageException', 'Sign with an HMAC key');
});

// ---- key agreement ----

test('DeriveSharedSecret with an openssl peer key equals `openssl pkeyutl -derive` on P-256, P-384 and P-521; other curves and garbage are ValidationException', async () => {
  const curves: Array<{ spec: KeySpec; curve: string; size: number }> = [
    { spec: 'ECC_NIST_P256', curve: 'P-256', size: 32 },
    { spec: 'ECC_NIST_P384', curve: 'P-384', size: 48 },
    { spec: 'ECC_NIST_P521', curve: 'P-521', size: 66 },
  ];
  const peers = new Map<string, { pem: string; der: Buffer }>();
  await Promise.all(
    curves.map(async (c) => {
      const peerPem = file(`peer-${c.curve}.pem`);
      const peerDer = file(`peer-${c.curve}.der`);
      await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${c.curve}`, '-out', peerPem], `generate a ${c.curve} peer`);
      await opensslOk(['pkey', '-in', peerPem, '-pubout', '-outform', 'DER', '-out', peerDer], `${c.curve} peer public key`);
      peers.set(c.spec, { pem: peerPem, der: await readFile(peerDer) });
    }),
  );
  await Promise.all(
    curves.map(async (c) => {
      const k = await key(c.spec, 'KEY_AGREEMENT');
      const pub = await publicKeyOf(k);
      const peer = peers.get(c.spec)!;
      const r = await kms.send(new DeriveSharedSecretCommand({ KeyId: k.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.der }));
      assert.equal(r.KeyId, k.Arn, `${c.spec}: DeriveSharedSecret returns the key ARN`);
      assert.equal(r.KeyAgreementAlgorithm, 'ECDH', `${c.spec}: KeyAgreementAlgorithm`);
      assert.equal(r.KeyOrigin, 'AWS_KMS', `${c.spec}: KeyOrigin`);
      const secret = bytes(r.SharedSecret, 'SharedSecret');
      assert.equal(secret.length, c.size, `${c.spec}: the shared secret is ${c.size} bytes`);
      const out = file('secret');
      await opensslOk(['pkeyutl', '-derive', '-inkey', peer.pem, '-peerkey', pub.pemPath, '-out', out], `${c.spec}: openssl derive`);
      assert.deepEqual(secret, await readFile(out), `${c.spec}: Trent's secret equals openssl's`);
      // Deterministic for the same peer.
      const again = await kms.send(new DeriveSharedSecretCommand({ KeyId: k.Arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.der }));
      assert.deepEqual(bytes(again.SharedSecret), secret, `${c.spec}: the same peer gives the same secret`);
      // A peer on another curve, garbage, and an RSA public key are all refused.
      const otherSpec = c.spec === 'ECC_NIST_P256' ? 'ECC_NIST_P384' : 'ECC_NIST_P256';
      await fails(kms.send(new DeriveSharedSecretCommand({ KeyId: k.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peers.get(otherSpec)!.der })), 'ValidationException', `${c.spec}: a peer on another curve`);
    }),
  );
  const p256 = await key('ECC_NIST_P256', 'KEY_AGREEMENT');
  await fails(kms.send(new DeriveSharedSecretCommand({ KeyId: p256.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: randomBytes(91) })), 'ValidationException', 'a garbage peer key');
  const rsaPub = (await publicKeyOf(await key('RSA_2048', 'SIGN_VERIFY'))).der;
  await fails(kms.send(new DeriveSharedSecretCommand({ KeyId: p256.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: rsaPub })), 'ValidationException', 'an RSA peer key');
  const k1Pub = (await publicKeyOf(await key('ECC_SECG_P256K1', 'SIGN_VERIFY'))).der;
  await fails(kms.send(new DeriveSharedSecretCommand({ KeyId: p256.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: k1Pub })), 'ValidationException', 'a secp256k1 peer key for a P-256 key');
  // Only KEY_AGREEMENT keys derive, and they do not sign.
  const signing = await key('ECC_NIST_P256', 'SIGN_VERIFY');
  await fails(kms.send(new DeriveSharedSecretCommand({ KeyId: signing.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peers.get('ECC_NIST_P256')!.der })), 'InvalidKeyUsageException', 'DeriveSharedSecret with a SIGN_VERIFY key');
  await fails(kms.send(new SignCommand({ KeyId: p256.KeyId, Message: Buffer.from('x'), SigningAlgorithm: 'ECDSA_SHA_256' })), 'InvalidKeyUsageException', 'Sign with a KEY_AGREEMENT key');
});

// ---- data key pairs ----

test('GenerateDataKeyPair (RSA_2048, ECC_NIST_P256, ECC_NIST_EDWARDS25519) under a symmetric key with a context; WithoutPlaintext; an RSA KeyId is InvalidKeyUsageException', async () => {
  const sym = await key('SYMMETRIC_DEFAULT');
  const context = { purpose: 'data-key-pair', run: randomUUID() };
  const types: Record<string, string> = { RSA_2048: 'rsa', ECC_NIST_P256: 'ec', ECC_NIST_EDWARDS25519: 'ed25519' };
  await Promise.all(
    Object.entries(types).map(async ([spec, type]) => {
      const pairSpec = spec as DataKeyPairSpec;
      const r = await kms.send(new GenerateDataKeyPairCommand({ KeyId: sym.KeyId, KeyPairSpec: pairSpec, EncryptionContext: context }));
      assert.equal(r.KeyId, sym.Arn, `${spec}: KeyId is the wrapping key's ARN`);
      assert.equal(r.KeyPairSpec, spec, `${spec}: KeyPairSpec`);
      const publicDer = bytes(r.PublicKey, 'PublicKey');
      const privateDer = bytes(r.PrivateKeyPlaintext, 'PrivateKeyPlaintext');
      const priv = createPrivateKey({ key: privateDer, format: 'der', type: 'pkcs8' });
      const pub = createPublicKey({ key: publicDer, format: 'der', type: 'spki' });
      assert.equal(priv.asymmetricKeyType, type, `${spec}: private key type`);
      assert.equal(pub.asymmetricKeyType, type, `${spec}: public key type`);
      assert.deepEqual(createPublicKey(priv).export({ type: 'spki', format: 'der' }), publicDer, `${spec}: the public key is the private key's`);
      const hash = type === 'ed25519' ? null : 'sha256';
      assert.equal(nodeVerify(hash, Buffer.from('m'), pub, nodeSign(hash, Buffer.from('m'), priv)), true, `${spec}: the pair signs and verifies`);
      const d = await kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob, EncryptionContext: context }));
      assert.deepEqual(bytes(d.Plaintext), privateDer, `${spec}: PrivateKeyCiphertextBlob decrypts to PrivateKeyPlaintext`);
      assert.equal(d.KeyId, sym.Arn, `${spec}: decrypted under the symmetric key`);
      await fails(kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob })), 'InvalidCiphertextException', `${spec}: the blob without its context`);

      const w = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: sym.Arn, KeyPairSpec: pairSpec, EncryptionContext: context }));
      assert.equal((w as unknown as Record<string, unknown>)['PrivateKeyPlaintext'], undefined, `${spec}: WithoutPlaintext has no PrivateKeyPlaintext`);
      assert.equal(w.KeyPairSpec, spec, `${spec}: WithoutPlaintext KeyPairSpec`);
      assert.equal(w.KeyId, sym.Arn, `${spec}: WithoutPlaintext KeyId`);
      const wPublic = bytes(w.PublicKey);
      assert.notDeepEqual(wPublic, publicDer, `${spec}: each call makes a new pair`);
      const wPrivate = bytes((await kms.send(new DecryptCommand({ CiphertextBlob: w.PrivateKeyCiphertextBlob, EncryptionContext: context }))).Plaintext);
      const wKey = createPrivateKey({ key: wPrivate, format: 'der', type: 'pkcs8' });
      assert.deepEqual(createPublicKey(wKey).export({ type: 'spki', format: 'der' }), wPublic, `${spec}: the WithoutPlaintext blob decrypts to the private half of its PublicKey`);
    }),
  );
  const rsaEnc = await key('RSA_2048', 'ENCRYPT_DECRYPT');
  await fails(kms.send(new GenerateDataKeyPairCommand({ KeyId: rsaEnc.KeyId, KeyPairSpec: 'ECC_NIST_P256' })), 'InvalidKeyUsageException', 'GenerateDataKeyPair under an RSA ENCRYPT_DECRYPT key');
  await fails(kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: rsaEnc.KeyId, KeyPairSpec: 'ECC_NIST_P256' })), 'InvalidKeyUsageException', 'GenerateDataKeyPairWithoutPlaintext under an RSA key');
  await fails(kms.send(new GenerateDataKeyPairCommand({ KeyId: (await key('HMAC_256', 'GENERATE_VERIFY_MAC')).KeyId, KeyPairSpec: 'ECC_NIST_P256' })), 'InvalidKeyUsageException', 'GenerateDataKeyPair under an HMAC key');
});

// ---- rules ----

test('rules: key spec and usage combinations, Sign with an ENCRYPT_DECRYPT key, no rotation for asymmetric and HMAC keys, no data keys from RSA keys', async () => {
  const badCombos: Array<[KeySpec, KeyUsageType | undefined]> = [
    ['HMAC_256', undefined],
    ['HMAC_256', 'SIGN_VERIFY'],
    ['ECC_SECG_P256K1', 'KEY_AGREEMENT'],
    ['ECC_NIST_EDWARDS25519', 'ENCRYPT_DECRYPT'],
    ['ECC_NIST_P256', 'ENCRYPT_DECRYPT'],
    ['RSA_2048', 'KEY_AGREEMENT'],
    ['RSA_2048', 'GENERATE_VERIFY_MAC'],
    ['SYMMETRIC_DEFAULT', 'SIGN_VERIFY'],
  ];
  await Promise.all(
    badCombos.map(([KeySpec, KeyUsage]) => fails(kms.send(new CreateKeyCommand({ KeySpec, ...(KeyUsage ? { KeyUsage } : {}) })), 'ValidationException', `CreateKey ${KeySpec} with ${KeyUsage ?? 'the default usage'}`)),
  );

  const rsaEnc = await key('RSA_2048', 'ENCRYPT_DECRYPT');
  const sym = await key('SYMMETRIC_DEFAULT');
  await fails(kms.send(new SignCommand({ KeyId: rsaEnc.KeyId, Message: Buffer.from('x'), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'InvalidKeyUsageException', 'Sign with an ENCRYPT_DECRYPT RSA key');
  await fails(
    kms.send(new VerifyCommand({ KeyId: rsaEnc.KeyId, Message: Buffer.from('x'), Signature: randomBytes(256), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })),
    'InvalidKeyUsageException',
    'Verify with an ENCRYPT_DECRYPT RSA key',
  );
  await fails(kms.send(new SignCommand({ KeyId: sym.KeyId, Message: Buffer.from('x'), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'InvalidKeyUsageException', 'Sign with a symmetric key');

  const notRotatable = [await key('RSA_2048', 'SIGN_VERIFY'), rsaEnc, await key('ECC_NIST_P256', 'SIGN_VERIFY'), await key('ECC_NIST_P384', 'KEY_AGREEMENT'), await key('ECC_NIST_EDWARDS25519', 'SIGN_VERIFY'), await key('HMAC_256', 'GENERATE_VERIFY_MAC')];
  await Promise.all(
    notRotatable.map(async (k) => {
      await fails(kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId })), 'UnsupportedOperationException', `EnableKeyRotation on ${k.KeySpec} ${k.KeyUsage}`);
      await fails(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId })), 'UnsupportedOperationException', `RotateKeyOnDemand on ${k.KeySpec} ${k.KeyUsage}`);
      await fails(kms.send(new DisableKeyRotationCommand({ KeyId: k.KeyId })), 'UnsupportedOperationException', `DisableKeyRotation on ${k.KeySpec} ${k.KeyUsage}`);
    }),
  );
  // Control: the symmetric key does rotate.
  await kms.send(new EnableKeyRotationCommand({ KeyId: sym.KeyId }));

  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: rsaEnc.KeyId, KeySpec: 'AES_256' })), 'InvalidKeyUsageException', 'GenerateDataKey with an RSA key');
  await fails(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: rsaEnc.KeyId, KeySpec: 'AES_256' })), 'InvalidKeyUsageException', 'GenerateDataKeyWithoutPlaintext with an RSA key');
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: (await key('ECC_NIST_P256', 'SIGN_VERIFY')).KeyId, KeySpec: 'AES_256' })), 'InvalidKeyUsageException', 'GenerateDataKey with an ECC key');
  const symCt = bytes((await kms.send(new EncryptCommand({ KeyId: sym.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob);
  // ReEncrypt to and from RSA keys, as AWS allows: the RSA side needs its algorithm and takes no context.
  await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: symCt, DestinationKeyId: rsaEnc.KeyId })), 'ValidationException', 'ReEncrypt to an RSA key without an algorithm');
  const toRsa = await kms.send(new ReEncryptCommand({ CiphertextBlob: symCt, DestinationKeyId: rsaEnc.KeyId, DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
  assert.equal(toRsa.DestinationEncryptionAlgorithm, 'RSAES_OAEP_SHA_256', 'the destination algorithm is reported');
  const back = await kms.send(
    new ReEncryptCommand({ CiphertextBlob: toRsa.CiphertextBlob, SourceKeyId: rsaEnc.KeyId, SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', DestinationKeyId: sym.KeyId }),
  );
  const plain = await kms.send(new DecryptCommand({ CiphertextBlob: back.CiphertextBlob }));
  assert.equal(Buffer.from(plain.Plaintext!).toString(), 'x', 'symmetric -> RSA -> symmetric keeps the plaintext');
  await fails(
    kms.send(new ReEncryptCommand({ CiphertextBlob: symCt, DestinationKeyId: rsaEnc.KeyId, DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_1', DestinationEncryptionContext: { a: 'b' } })),
    'ValidationException',
    'a destination encryption context with an RSA key',
  );
});

// ---- the CLIs and boto3 ----

const skipV2 = skipCliV2;

const aws = (cli: Cli, args: string[]): Promise<Run> => awsKms(t, cli, args);

const awsJson = <T = Record<string, unknown>>(cli: Cli, args: string[]): Promise<T> => awsKmsJson<T>(t, cli, args);

/** Sign with a CLI, fetch the public key with it, verify with openssl, and have Trent refuse a tampered signature. */
async function cliSignFlow(cli: Cli, spec: KeySpec, algorithm: string): Promise<void> {
  const what = `aws ${cli} ${spec} ${algorithm}`;
  const { KeyMetadata: k } = await awsJson<{ KeyMetadata: { KeyId: string; Arn: string; KeySpec: string; KeyUsage: string; SigningAlgorithms: string[] } }>(cli, [
    'create-key',
    '--key-spec',
    spec,
    '--key-usage',
    'SIGN_VERIFY',
  ]);
  assert.equal(k.KeySpec, spec, `${what}: create-key KeySpec`);
  assert.ok(k.SigningAlgorithms.includes(algorithm), `${what}: create-key lists ${algorithm}`);
  const message = Buffer.concat([Buffer.from(`${what}: `), randomBytes(50)]);
  const msgPath = await writeTemp('cli-msg', message);
  const [signed, publicKey] = await Promise.all([
    awsJson<{ Signature: string; KeyId: string; SigningAlgorithm: string }>(cli, ['sign', '--key-id', k.KeyId, '--message', `fileb://${msgPath}`, '--message-type', 'RAW', '--signing-algorithm', algorithm]),
    awsJson<{ PublicKey: string; KeyId: string; KeySpec: string; KeyUsage: string; SigningAlgorithms: string[] }>(cli, ['get-public-key', '--key-id', k.KeyId]),
  ]);
  assert.equal(signed.KeyId, k.Arn, `${what}: sign KeyId`);
  assert.equal(signed.SigningAlgorithm, algorithm, `${what}: sign SigningAlgorithm`);
  assert.equal(publicKey.KeySpec, spec, `${what}: get-public-key KeySpec`);
  assert.equal(publicKey.KeyUsage, 'SIGN_VERIFY', `${what}: get-public-key KeyUsage`);
  const signature = Buffer.from(signed.Signature, 'base64');
  const derPath = await writeTemp('cli-pub.der', Buffer.from(publicKey.PublicKey, 'base64'));
  const pemPath = file('cli-pub.pem');
  await opensslOk(['pkey', '-pubin', '-inform', 'DER', '-in', derPath, '-out', pemPath], `${what}: DER to PEM`);
  const pub: PublicKeyFiles = { der: await readFile(derPath), pem: await readFile(pemPath, 'utf8'), object: createPublicKey({ key: await readFile(derPath), format: 'der', type: 'spki' }), derPath, pemPath };
  await assertOpensslVerifies(pub, algorithm, message, signature, what);
  const sigPath = await writeTemp('cli-sig', signature);
  const badPath = await writeTemp('cli-bad-sig', flipByte(signature));
  const [ok, bad] = await Promise.all([
    awsJson<{ SignatureValid: boolean }>(cli, ['verify', '--key-id', k.KeyId, '--message', `fileb://${msgPath}`, '--signature', `fileb://${sigPath}`, '--signing-algorithm', algorithm]),
    aws(cli, ['verify', '--key-id', k.KeyId, '--message', `fileb://${msgPath}`, '--signature', `fileb://${badPath}`, '--signing-algorithm', algorithm]),
  ]);
  assert.equal(ok.SignatureValid, true, `${what}: verify says valid`);
  assert.equal(bad.code, cli === 'v2' ? 254 : 255, `${what}: verify of a tampered signature fails: ${bad.stderr}`);
  assert.match(bad.stderr, /KMSInvalidSignatureException/, `${what}: the error names KMSInvalidSignatureException`);
}

test('the pip AWS CLI v1: sign + get-public-key + openssl verify (RSA PSS), generate-mac/verify-mac, decrypt of an openssl OAEP ciphertext', async () => {
  const hmac = await key('HMAC_384', 'GENERATE_VERIFY_MAC');
  const rsaEnc = await key('RSA_2048', 'ENCRYPT_DECRYPT');
  const pub = await publicKeyOf(rsaEnc);
  const message = Buffer.from(`cli v1 mac ${randomUUID()}`);
  const msgPath = await writeTemp('cli-mac-msg', message);
  const plaintext = randomBytes(150);
  const ctPath = await writeTemp('cli-oaep', await opensslEncrypt(pub, 'RSAES_OAEP_SHA_256', plaintext));
  const ct1Path = await writeTemp('cli-oaep1', await opensslEncrypt(pub, 'RSAES_OAEP_SHA_1', plaintext));

  const [, mac, dec, dec1, wrongAlg] = await Promise.all([
    cliSignFlow('v1', 'RSA_2048', 'RSASSA_PSS_SHA_256'),
    awsJson<{ Mac: string; MacAlgorithm: string; KeyId: string }>('v1', ['generate-mac', '--key-id', hmac.KeyId!, '--message', `fileb://${msgPath}`, '--mac-algorithm', 'HMAC_SHA_384']),
    awsJson<{ Plaintext: string; KeyId: string; EncryptionAlgorithm: string }>('v1', ['decrypt', '--key-id', rsaEnc.KeyId!, '--ciphertext-blob', `fileb://${ctPath}`, '--encryption-algorithm', 'RSAES_OAEP_SHA_256']),
    awsJson<{ Plaintext: string }>('v1', ['decrypt', '--key-id', rsaEnc.Arn!, '--ciphertext-blob', `fileb://${ct1Path}`, '--encryption-algorithm', 'RSAES_OAEP_SHA_1']),
    aws('v1', ['decrypt', '--key-id', rsaEnc.KeyId!, '--ciphertext-blob', `fileb://${ctPath}`, '--encryption-algorithm', 'RSAES_OAEP_SHA_1']),
  ]);
  assert.equal(mac.KeyId, hmac.Arn, 'generate-mac KeyId');
  assert.equal(mac.MacAlgorithm, 'HMAC_SHA_384', 'generate-mac MacAlgorithm');
  const tag = Buffer.from(mac.Mac, 'base64');
  assert.equal(tag.length, 48, 'generate-mac: a 48-byte MAC');
  const tagPath = await writeTemp('cli-mac', tag);
  const badPath = await writeTemp('cli-bad-mac', flipByte(tag));
  const [vm, badMac] = await Promise.all([
    awsJson<{ MacValid: boolean }>('v1', ['verify-mac', '--key-id', hmac.KeyId!, '--message', `fileb://${msgPath}`, '--mac', `fileb://${tagPath}`, '--mac-algorithm', 'HMAC_SHA_384']),
    aws('v1', ['verify-mac', '--key-id', hmac.KeyId!, '--message', `fileb://${msgPath}`, '--mac', `fileb://${badPath}`, '--mac-algorithm', 'HMAC_SHA_384']),
  ]);
  assert.equal(vm.MacValid, true, 'verify-mac says valid');
  assert.equal(badMac.code, 255, `verify-mac of a tampered MAC fails: ${badMac.stderr}`);
  assert.match(badMac.stderr, /KMSInvalidMacException/, 'the error names KMSInvalidMacException');
  assert.deepEqual(Buffer.from(dec.Plaintext, 'base64'), plaintext, 'decrypt of an openssl OAEP SHA-256 ciphertext');
  assert.equal(dec.KeyId, rsaEnc.Arn, 'decrypt KeyId');
  assert.equal(dec.EncryptionAlgorithm, 'RSAES_OAEP_SHA_256', 'decrypt EncryptionAlgorithm');
  assert.deepEqual(Buffer.from(dec1.Plaintext, 'base64'), plaintext, 'decrypt of an openssl OAEP SHA-1 ciphertext');
  assert.equal(wrongAlg.code, 255, `decrypt with the wrong OAEP hash fails: ${wrongAlg.stderr}`);
  assert.match(wrongAlg.stderr, /InvalidCiphertextException/, 'the error names InvalidCiphertextException');
});

test("Debian's AWS CLI v2 with --endpoint-url: sign + get-public-key + openssl verify (Ed25519), generate-mac/verify-mac", { skip: skipV2 }, async () => {
  const hmac = await key('HMAC_256', 'GENERATE_VERIFY_MAC');
  const msgPath = await writeTemp('cli2-mac-msg', Buffer.from(`cli v2 mac ${randomUUID()}`));
  const [, mac] = await Promise.all([
    cliSignFlow('v2', 'ECC_NIST_EDWARDS25519', 'ED25519_SHA_512'),
    awsJson<{ Mac: string }>('v2', ['generate-mac', '--key-id', hmac.KeyId!, '--message', `fileb://${msgPath}`, '--mac-algorithm', 'HMAC_SHA_256']),
  ]);
  const tagPath = await writeTemp('cli2-mac', Buffer.from(mac.Mac, 'base64'));
  const vm = await awsJson<{ MacValid: boolean }>('v2', ['verify-mac', '--key-id', hmac.KeyId!, '--message', `fileb://${msgPath}`, '--mac', `fileb://${tagPath}`, '--mac-algorithm', 'HMAC_SHA_256']);
  assert.equal(vm.MacValid, true, 'v2 verify-mac says valid');
});

test('boto3: sign + get_public_key (openssl verifies), generate_mac/verify_mac, decrypt of an openssl OAEP ciphertext, error codes', async () => {
  const rsaEnc = await key('RSA_3072', 'ENCRYPT_DECRYPT');
  const pub = await publicKeyOf(rsaEnc);
  const plaintext = randomBytes(100);
  const ciphertext = await opensslEncrypt(pub, 'RSAES_OAEP_SHA_256', plaintext);
  const message = Buffer.concat([Buffer.from('boto3 message '), randomBytes(40)]);
  const script = String.raw`
import base64, json, os, sys, boto3, botocore
kms = boto3.client('kms', endpoint_url=os.environ['EP'], verify=os.environ['CA'], region_name=os.environ['REGION'],
                   aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'],
                   config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
out = {}

def error(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
    return None

msg = base64.b64decode(os.environ['MSG'])
k = kms.create_key(KeySpec='ECC_NIST_P384', KeyUsage='SIGN_VERIFY')['KeyMetadata']
s = kms.sign(KeyId=k['KeyId'], Message=msg, MessageType='RAW', SigningAlgorithm='ECDSA_SHA_384')
p = kms.get_public_key(KeyId=k['Arn'])
out['sign'] = {'KeyId': s['KeyId'], 'Arn': k['Arn'], 'SigningAlgorithm': s['SigningAlgorithm'], 'Signature': base64.b64encode(s['Signature']).decode(),
               'PublicKey': base64.b64encode(p['PublicKey']).decode(), 'KeySpec': p['KeySpec'], 'SigningAlgorithms': p['SigningAlgorithms']}
out['verify'] = kms.verify(KeyId=k['KeyId'], Message=msg, Signature=s['Signature'], SigningAlgorithm='ECDSA_SHA_384')['SignatureValid']
bad = bytearray(s['Signature']); bad[len(bad) // 2] ^= 1
out['badSignature'] = error(kms.verify, KeyId=k['KeyId'], Message=msg, Signature=bytes(bad), SigningAlgorithm='ECDSA_SHA_384')

h = kms.create_key(KeySpec='HMAC_512', KeyUsage='GENERATE_VERIFY_MAC')['KeyMetadata']
m = kms.generate_mac(KeyId=h['KeyId'], Message=msg, MacAlgorithm='HMAC_SHA_512')['Mac']
out['macLength'] = len(m)
out['macValid'] = kms.verify_mac(KeyId=h['KeyId'], Message=msg, Mac=m, MacAlgorithm='HMAC_SHA_512')['MacValid']
out['badMac'] = error(kms.verify_mac, KeyId=h['KeyId'], Message=msg + b'!', Mac=m, MacAlgorithm='HMAC_SHA_512')
out['wrongMacAlgorithm'] = error(kms.generate_mac, KeyId=h['KeyId'], Message=msg, MacAlgorithm='HMAC_SHA_256')

ct = base64.b64decode(os.environ['CT'])
d = kms.decrypt(KeyId=os.environ['RSA'], CiphertextBlob=ct, EncryptionAlgorithm='RSAES_OAEP_SHA_256')
out['decrypted'] = base64.b64encode(d['Plaintext']).decode()
out['decryptAlgorithm'] = d['EncryptionAlgorithm']
out['noAlgorithm'] = error(kms.encrypt, KeyId=os.environ['RSA'], Plaintext=b'x')
out['withContext'] = error(kms.encrypt, KeyId=os.environ['RSA'], Plaintext=b'x', EncryptionAlgorithm='RSAES_OAEP_SHA_1', EncryptionContext={'a': 'b'})
out['hmacRotation'] = error(kms.enable_key_rotation, KeyId=h['KeyId'])
json.dump(out, sys.stdout)
`;
  const r = await exec('python3', ['-c', script], {
    ...process.env,
    EP: t.endpoint,
    CA: t.caPath,
    AK: t.accessKeyId,
    SK: t.secretAccessKey,
    REGION: t.region,
    MSG: message.toString('base64'),
    CT: ciphertext.toString('base64'),
    RSA: rsaEnc.KeyId!,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });
  assert.equal(r.code, 0, `boto3 script failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as {
    sign: { KeyId: string; Arn: string; SigningAlgorithm: string; Signature: string; PublicKey: string; KeySpec: string; SigningAlgorithms: string[] };
    verify: boolean;
    macLength: number;
    macValid: boolean;
    decrypted: string;
    decryptAlgorithm: string;
    [error: string]: unknown;
  };
  assert.equal(out.sign.KeyId, out.sign.Arn, 'boto3 sign: KeyId is the ARN');
  assert.equal(out.sign.SigningAlgorithm, 'ECDSA_SHA_384', 'boto3 sign: SigningAlgorithm');
  assert.equal(out.sign.KeySpec, 'ECC_NIST_P384', 'boto3 get_public_key: KeySpec');
  assert.deepEqual(out.sign.SigningAlgorithms, ['ECDSA_SHA_384'], 'boto3 get_public_key: SigningAlgorithms');
  const derPath = await writeTemp('boto3-pub.der', Buffer.from(out.sign.PublicKey, 'base64'));
  const pemPath = file('boto3-pub.pem');
  await opensslOk(['pkey', '-pubin', '-inform', 'DER', '-in', derPath, '-out', pemPath], 'boto3 public key: DER to PEM');
  const der = await readFile(derPath);
  await assertOpensslVerifies(
    { der, pem: await readFile(pemPath, 'utf8'), object: createPublicKey({ key: der, format: 'der', type: 'spki' }), derPath, pemPath },
    'ECDSA_SHA_384',
    message,
    Buffer.from(out.sign.Signature, 'base64'),
    'boto3 ECDSA_SHA_384',
  );
  assert.equal(out.verify, true, 'boto3 verify: valid');
  assert.equal(out.macLength, 64, 'boto3 generate_mac: 64 bytes');
  assert.equal(out.macValid, true, 'boto3 verify_mac: valid');
  assert.deepEqual(Buffer.from(out.decrypted, 'base64'), plaintext, 'boto3 decrypt of an openssl OAEP ciphertext');
  assert.equal(out.decryptAlgorithm, 'RSAES_OAEP_SHA_256', 'boto3 decrypt: EncryptionAlgorithm');
  assert.deepEqual(
    { badSignature: out['badSignature'], badMac: out['badMac'], wrongMacAlgorithm: out['wrongMacAlgorithm'], noAlgorithm: out['noAlgorithm'], withContext: out['withContext'], hmacRotation: out['hmacRotation'] },
    {
      badSignature: ['KMSInvalidSignatureException', 400],
      badMac: ['KMSInvalidMacException', 400],
      wrongMacAlgorithm: ['InvalidKeyUsageException', 400],
      noAlgorithm: ['ValidationException', 400],
      withContext: ['ValidationException', 400],
      hmacRotation: ['UnsupportedOperationException', 400],
    },
    'boto3 error codes',
  );
});

// ---- audit ----

test("audit: a Sign call's CloudTrail event names the key and the signing algorithm, and holds neither the message nor the signature", async () => {
  const k = await key('ECC_NIST_P256', 'SIGN_VERIFY');
  // Text, so that its raw form would be searchable in JSON too.
  const message = Buffer.from(`audit-message-${randomBytes(24).toString('hex')}`);
  const r = await kms.send(new SignCommand({ KeyId: k.KeyId, Message: message, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
  const signature = bytes(r.Signature);
  const requestId = r.$metadata.requestId;
  assert.ok(requestId, 'Sign has a request ID');

  let found: Event[] = [];
  for (let attempt = 0; attempt < 50 && found.length === 0; attempt++) {
    if (attempt > 0) await new Promise((res) => setTimeout(res, 100));
    const events: Event[] = [];
    let token: string | undefined;
    do {
      const page = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Sign' }], MaxResults: 50, ...(token ? { NextToken: token } : {}) }));
      events.push(...(page.Events ?? []));
      token = page.NextToken;
    } while (token);
    found = events.filter((e) => (JSON.parse(e.CloudTrailEvent ?? '{}') as { requestID?: string }).requestID === requestId);
  }
  assert.equal(found.length, 1, `exactly one Sign event has requestID ${requestId}`);
  const event = found[0]!;
  assert.equal(event.EventName, 'Sign', 'EventName');
  assert.equal(event.EventSource, 'kms.amazonaws.com', 'EventSource');
  assert.equal(event.ReadOnly, 'true', 'Sign is a read-only event');
  assert.deepEqual(event.Resources, [{ ResourceType: 'AWS::KMS::Key', ResourceName: k.Arn }], 'Resources: the key ARN');
  const rec = JSON.parse(event.CloudTrailEvent!) as {
    eventName: string;
    resources?: Array<{ ARN: string; accountId: string; type: string }>;
    requestParameters: Record<string, unknown> | null;
    responseElements: unknown;
  };
  assert.equal(rec.eventName, 'Sign', 'eventName');
  assert.ok(rec.resources?.some((x) => x.ARN === k.Arn && x.type === 'AWS::KMS::Key'), `resources name the key ARN: ${JSON.stringify(rec.resources)}`);
  assert.equal(rec.requestParameters?.['signingAlgorithm'], 'ECDSA_SHA_256', 'requestParameters.signingAlgorithm');
  assert.equal(rec.requestParameters?.['keyId'], k.KeyId, 'requestParameters.keyId');
  assert.equal(rec.requestParameters?.['messageType'], 'RAW', 'requestParameters.messageType');
  assert.equal(rec.requestParameters?.['message'], undefined, 'requestParameters has no message');
  assert.equal(rec.responseElements, null, 'responseElements is null for Sign');
  const text = JSON.stringify(event);
  for (const [what, b] of [
    ['the message', message],
    ['the signature', signature],
  ] as const) {
    for (const form of [b.toString('base64'), b.toString('hex'), b.toString('latin1')]) {
      assert.ok(!text.includes(form) && !event.CloudTrailEvent!.includes(form), `${what} does not appear in the event (${form.slice(0, 20)}...)`);
    }
  }
  // Control: the search does find what the event does record.
  assert.ok(text.includes(k.Arn!), 'control: the key ARN is found in the event text');
});
