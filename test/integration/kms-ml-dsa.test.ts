// Post-quantum signing keys (ML_DSA_44, ML_DSA_65, ML_DSA_87; ML_DSA_SHAKE_256) through @aws-sdk/client-kms and
// boto3: CreateKey and DescribeKey, GetPublicKey's SubjectPublicKeyInfo, Sign and Verify with RAW and EXTERNAL_MU
// (mu computed here from FIPS 204 section 6.2), and the rules around them. Signatures are verified against the
// raw message by OpenSSL: Node 20's OpenSSL has no ML-DSA, the OpenSSL inside Python's cryptography package does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient, SignCommand, VerifyCommand, type KeyMetadata, type KeySpec } from '@aws-sdk/client-kms';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec, fails } from '../helpers/assert.ts';

let t: RunningTrent;
let kms: KMSClient;
let opensslMlDsa: string | false = false;

before(async () => {
  t = await startTrent();
  kms = new KMSClient(t.clientConfig({ maxAttempts: 1 }));
  const probe = await exec('python3', ['-c', 'from cryptography.hazmat.primitives.asymmetric import mldsa; from cryptography.hazmat.backends.openssl.backend import backend; print(backend.openssl_version_text())']);
  opensslMlDsa = probe.code === 0 ? probe.stdout.trim() : false;
});
after(async () => {
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

const SPECS = [
  { spec: 'ML_DSA_44', pk: 1312, sig: 2420 },
  { spec: 'ML_DSA_65', pk: 1952, sig: 3309 },
  { spec: 'ML_DSA_87', pk: 2592, sig: 4627 },
] as const;

/** FIPS 204 section 6.2, pure ML-DSA with an empty context: mu = SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64). */
function mu(rawPublicKey: Buffer, message: Buffer): Buffer {
  const tr = createHash('shake256', { outputLength: 64 }).update(rawPublicKey).digest();
  return createHash('shake256', { outputLength: 64 }).update(Buffer.concat([tr, Buffer.from([0, 0]), message])).digest();
}

/** OpenSSL (Python's cryptography) verifies each signature over the raw message with the SPKI GetPublicKey returned. */
async function opensslVerifies(cases: Array<{ spki: Buffer; message: Buffer; signature: Buffer }>): Promise<Array<boolean | string>> {
  const script = `
import base64, json, sys
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.exceptions import InvalidSignature
out = []
for c in json.load(sys.stdin):
    key = load_der_public_key(base64.b64decode(c['spki']))
    try:
        key.verify(base64.b64decode(c['signature']), base64.b64decode(c['message']))
        out.append(True)
    except InvalidSignature:
        out.append(False)
print(json.dumps(out))
`;
  const { spawn } = await import('node:child_process');
  const child = spawn('python3', ['-c', script]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdin.end(JSON.stringify(cases.map((c) => ({ spki: c.spki.toString('base64'), message: c.message.toString('base64'), signature: c.signature.toString('base64') }))));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `python3 failed: ${stderr}`);
  return JSON.parse(stdout) as boolean[];
}

test('ML_DSA_44/65/87: CreateKey and GetPublicKey as AWS; RAW and EXTERNAL_MU signatures verify in Trent and in OpenSSL against the raw message', async (ctx) => {
  const checks: Array<{ spki: Buffer; message: Buffer; signature: Buffer; what: string; expected: boolean }> = [];
  for (const { spec, pk, sig } of SPECS) {
    const created = (await kms.send(new CreateKeyCommand({ KeySpec: spec as KeySpec, KeyUsage: 'SIGN_VERIFY', Description: spec }))).KeyMetadata as KeyMetadata;
    assert.equal(created.KeySpec, spec);
    assert.equal(created.KeyUsage, 'SIGN_VERIFY');
    assert.deepEqual(created.SigningAlgorithms, ['ML_DSA_SHAKE_256']);
    assert.equal(created.CurrentKeyMaterialId, undefined, 'ML-DSA keys do not rotate');
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: created.KeyId }));
    assert.equal(pub.KeySpec, spec);
    assert.equal(pub.KeyUsage, 'SIGN_VERIFY');
    assert.deepEqual(pub.SigningAlgorithms, ['ML_DSA_SHAKE_256']);
    const spki = Buffer.from(pub.PublicKey!);
    assert.equal(spki.length, pk + 22, `${spec}: SubjectPublicKeyInfo size (22 bytes of DER around the ${pk}-byte key)`);
    const rawKey = spki.subarray(spki.length - pk);

    const message = Buffer.concat([Buffer.from(`signed with ${spec}: `), randomBytes(200)]);
    const rawSig = await kms.send(new SignCommand({ KeyId: created.KeyId, Message: message, MessageType: 'RAW', SigningAlgorithm: 'ML_DSA_SHAKE_256' }));
    assert.equal(rawSig.SigningAlgorithm, 'ML_DSA_SHAKE_256');
    const signature = Buffer.from(rawSig.Signature!);
    assert.equal(signature.length, sig, `${spec}: signature size`);
    const m = mu(rawKey, message);
    const muSig = Buffer.from((await kms.send(new SignCommand({ KeyId: created.KeyId, Message: m, MessageType: 'EXTERNAL_MU', SigningAlgorithm: 'ML_DSA_SHAKE_256' }))).Signature!);
    for (const [type, msg, s] of [
      ['RAW', message, signature],
      ['RAW', message, muSig],
      ['EXTERNAL_MU', m, signature],
      ['EXTERNAL_MU', m, muSig],
    ] as const) {
      const v = await kms.send(new VerifyCommand({ KeyId: created.KeyId, Message: msg, MessageType: type, Signature: s, SigningAlgorithm: 'ML_DSA_SHAKE_256' }));
      assert.equal(v.SignatureValid, true, `${spec}: Verify ${type}`);
    }
    const tampered = Buffer.from(signature);
    tampered[10]! ^= 1;
    await fails(kms.send(new VerifyCommand({ KeyId: created.KeyId, Message: message, Signature: tampered, SigningAlgorithm: 'ML_DSA_SHAKE_256' })), 'KMSInvalidSignatureException', `${spec}: a tampered signature`);
    checks.push({ spki, message, signature, what: `${spec} RAW`, expected: true });
    checks.push({ spki, message, signature: muSig, what: `${spec} EXTERNAL_MU`, expected: true });
    checks.push({ spki, message: Buffer.concat([message, Buffer.from('!')]), signature, what: `${spec} another message`, expected: false });
  }
  if (!opensslMlDsa) {
    ctx.diagnostic('python3 cryptography without ML-DSA: OpenSSL verification not run');
    return;
  }
  ctx.diagnostic(`OpenSSL verifying: ${opensslMlDsa}`);
  assert.deepEqual(await opensslVerifies(checks), checks.map((c) => c.expected), checks.map((c) => c.what).join(', '));
});

test('ML-DSA rules: KeyUsage SIGN_VERIFY only, ML_DSA_SHAKE_256 only, EXTERNAL_MU of 64 bytes only with ML-DSA, no DIGEST, no imported material', async () => {
  await fails(kms.send(new CreateKeyCommand({ KeySpec: 'ML_DSA_65' })), 'ValidationException', 'no KeyUsage');
  await fails(kms.send(new CreateKeyCommand({ KeySpec: 'ML_DSA_65', KeyUsage: 'ENCRYPT_DECRYPT' })), 'ValidationException', 'ENCRYPT_DECRYPT');
  await fails(kms.send(new CreateKeyCommand({ KeySpec: 'ML_DSA_65', KeyUsage: 'SIGN_VERIFY', Origin: 'EXTERNAL' })), 'UnsupportedOperationException', 'imported ML-DSA material');
  const k = (await kms.send(new CreateKeyCommand({ KeySpec: 'ML_DSA_44', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
  const wrongAlgorithm = await fails(kms.send(new SignCommand({ KeyId: k.KeyId, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' })), 'InvalidKeyUsageException');
  assert.equal(wrongAlgorithm.message, 'Algorithm ECDSA_SHA_256 is incompatible with key spec ML_DSA_44.');
  const shortMu = await fails(kms.send(new SignCommand({ KeyId: k.KeyId, Message: randomBytes(32), MessageType: 'EXTERNAL_MU', SigningAlgorithm: 'ML_DSA_SHAKE_256' })), 'ValidationException', 'a 32-byte mu');
  assert.equal(shortMu.message, 'Digest is invalid length for algorithm ML_DSA_SHAKE_256.');
  await fails(kms.send(new SignCommand({ KeyId: k.KeyId, Message: randomBytes(64), MessageType: 'DIGEST', SigningAlgorithm: 'ML_DSA_SHAKE_256' })), 'ValidationException', 'DIGEST with ML-DSA');
  const ec = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
  await fails(kms.send(new SignCommand({ KeyId: ec.KeyId, Message: randomBytes(64), MessageType: 'EXTERNAL_MU', SigningAlgorithm: 'ECDSA_SHA_256' })), 'ValidationException', 'EXTERNAL_MU with ECDSA');
  // The largest RAW message AWS takes.
  const big = await kms.send(new SignCommand({ KeyId: k.KeyId, Message: randomBytes(4096), SigningAlgorithm: 'ML_DSA_SHAKE_256' }));
  assert.equal(Buffer.from(big.Signature!).length, 2420);
});

test('boto3: create_key ML_DSA_87, sign with EXTERNAL_MU and RAW, verify; get_public_key loads in OpenSSL', async () => {
  const script = String.raw`
import base64, hashlib, json, boto3, botocore
kms = boto3.client('kms', config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
k = kms.create_key(KeySpec='ML_DSA_87', KeyUsage='SIGN_VERIFY')['KeyMetadata']
pub = kms.get_public_key(KeyId=k['KeyId'])
raw_key = pub['PublicKey'][-2592:]
msg = b'a message of any size, hashed by the caller into mu' * 200
tr = hashlib.shake_256(raw_key).digest(64)
mu = hashlib.shake_256(tr + b'\x00\x00' + msg).digest(64)
s = kms.sign(KeyId=k['KeyId'], Message=mu, MessageType='EXTERNAL_MU', SigningAlgorithm='ML_DSA_SHAKE_256')
out = {'algorithms': k['SigningAlgorithms'], 'spec': pub['KeySpec'], 'length': len(s['Signature'])}
out['verifyRaw'] = kms.verify(KeyId=k['KeyId'], Message=msg[:4096], MessageType='RAW', Signature=kms.sign(KeyId=k['KeyId'], Message=msg[:4096], SigningAlgorithm='ML_DSA_SHAKE_256')['Signature'], SigningAlgorithm='ML_DSA_SHAKE_256')['SignatureValid']
out['verifyMu'] = kms.verify(KeyId=k['KeyId'], Message=mu, MessageType='EXTERNAL_MU', Signature=s['Signature'], SigningAlgorithm='ML_DSA_SHAKE_256')['SignatureValid']
try:
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    load_der_public_key(pub['PublicKey']).verify(s['Signature'], msg)
    out['openssl'] = 'verified'
except ImportError:
    out['openssl'] = 'unavailable'
except Exception as e:
    out['openssl'] = repr(e)
print(json.dumps(out))
`;
  const r = await exec('python3', ['-c', script], t.cliEnv());
  assert.equal(r.code, 0, `boto3 script failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(out['algorithms'], ['ML_DSA_SHAKE_256']);
  assert.equal(out['spec'], 'ML_DSA_87');
  assert.equal(out['length'], 4627);
  assert.equal(out['verifyRaw'], true);
  assert.equal(out['verifyMu'], true);
  if (opensslMlDsa) assert.equal(out['openssl'], 'verified', 'OpenSSL verifies the EXTERNAL_MU signature against the whole message');
});
