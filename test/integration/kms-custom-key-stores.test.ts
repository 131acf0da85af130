// AWS_CLOUDHSM custom key stores on a real PKCS#11 token (SoftHSM2): the operator declares the token as a
// "cluster", a key store logs in to it with a password kept only wrapped by the root of trust, and every KMS key in
// the store has AES-256 material generated inside the token, never extractable, used there for Encrypt, Decrypt,
// GenerateDataKey and ReEncrypt. Disconnecting the store makes its keys unusable at once in every serving process.
// Driven through the JS SDK, boto3 and the AWS CLI, success and error paths; the trail records every call without
// the password.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  KMSClient,
  CreateCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  ConnectCustomKeyStoreCommand,
  DisconnectCustomKeyStoreCommand,
  UpdateCustomKeyStoreCommand,
  DeleteCustomKeyStoreCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateDataKeyPairCommand,
  GenerateRandomCommand,
  ReEncryptCommand,
  EnableKeyRotationCommand,
  ScheduleKeyDeletionCommand,
  type CustomKeyStoresListEntry,
} from '@aws-sdk/client-kms';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { canonicalEncryptionContext } from '../../src/kms/encryption-context.ts';
import { createSoftHsm, softHsmMissing, SOFTHSM_MODULE, SOFTHSM_UTIL, type SoftHsm } from '../helpers/softhsm.ts';
import { filesContaining, removeDir, startTrent, storageDirs, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { fails } from '../helpers/assert.ts';
import { boto3 } from '../helpers/boto3.ts';
import { awsKms, awsKmsJson } from '../helpers/cli.ts';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const pkcs11 = require('pkcs11js') as typeof import('pkcs11js');

// Throws (failing the file with the reason) on CI without SoftHSM; elsewhere the tests are skipped.
const skip = softHsmMissing() ?? false;

const STORE_PIN = 'kms-store-pin-1';
const CLUSTER = 'cluster-kmsstore2345a';
/** Another declaration of the same token with the same trust anchor: a "related" cluster (one backup history). */
const RELATED = 'cluster-kmsstore2345b';
/** A token with another trust anchor. */
const OTHER = 'cluster-otheranchor234';
const ABSENT = 'cluster-absenttoken23';
const context = { tenant: 'hsm-store', purpose: 'custom-key-store' };

let hsm: SoftHsm;
let work: string;
let t: RunningTrent;
let kms: KMSClient;
let anchorA: string;
let anchorB: string;
let clustersFile: string;

async function certificate(name: string): Promise<string> {
  const key = join(work, `${name}.key`);
  const cert = join(work, `${name}.pem`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '2']);
  return cert;
}

async function initToken(label: string, pin: string): Promise<void> {
  await run(SOFTHSM_UTIL, ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '5678'], { env: { ...process.env, ...hsm.env } });
}

before(async () => {
  if (skip) return;
  hsm = await createSoftHsm({ label: 'trent-root' });
  work = await tempDir('trent-cks-');
  await initToken('kms-store', STORE_PIN);
  await initToken('kms-other', STORE_PIN);
  const a = await certificate('anchor-a');
  const b = await certificate('anchor-b');
  const { readFile } = await import('node:fs/promises');
  anchorA = await readFile(a, 'utf8');
  anchorB = await readFile(b, 'utf8');
  clustersFile = join(work, 'clusters.json');
  await writeFile(
    clustersFile,
    JSON.stringify({
      clusters: [
        { clusterId: CLUSTER, module: SOFTHSM_MODULE, token: 'kms-store', trustAnchorCertificate: a },
        { clusterId: RELATED, module: SOFTHSM_MODULE, token: 'kms-store', trustAnchorCertificate: a },
        { clusterId: OTHER, module: SOFTHSM_MODULE, token: 'kms-other', trustAnchorCertificate: b },
        { clusterId: ABSENT, module: SOFTHSM_MODULE, token: 'not-there', trustAnchorCertificate: await certificate('anchor-c') },
        // The root of trust's own token (used by the second server below).
        { clusterId: 'cluster-roottoken2345', module: SOFTHSM_MODULE, token: 'trent-root', trustAnchorCertificate: await certificate('anchor-d') },
      ],
    }),
  );
  // Two serving processes (whatever the machine): a disconnection through one must stop the other at once.
  t = await startTrent({ env: { ...hsm.env, TRENT_KMS_HSM_CLUSTERS: clustersFile, TRENT_WORKERS: '2' } });
  kms = new KMSClient(t.clientConfig());
});

after(async () => {
  await t?.stop();
  if (t) await removeDir(t.dataDir);
  if (work) await removeDir(work);
  await hsm?.cleanup();
});

/** The store as DescribeCustomKeyStores shows it. */
async function describe(id: string): Promise<CustomKeyStoresListEntry> {
  const r = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }));
  assert.equal(r.CustomKeyStores!.length, 1);
  return r.CustomKeyStores![0]!;
}

/** A session on a token from this process, to look at what the server keeps there. */
function openToken(label: string, pin: string): { lib: InstanceType<typeof pkcs11.PKCS11>; session: Buffer; close: () => void } {
  const prev = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = hsm.env.SOFTHSM2_CONF;
  const lib = new pkcs11.PKCS11();
  lib.load(SOFTHSM_MODULE);
  lib.C_Initialize();
  if (prev === undefined) delete process.env['SOFTHSM2_CONF'];
  else process.env['SOFTHSM2_CONF'] = prev;
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === label)!;
  const session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
  lib.C_Login(session, pkcs11.CKU_USER, pin);
  return {
    lib,
    session,
    close: () => {
      lib.C_CloseSession(session);
      lib.C_Finalize();
    },
  };
}

function findKey(lib: InstanceType<typeof pkcs11.PKCS11>, session: Buffer, label: string): Buffer[] {
  lib.C_FindObjectsInit(session, [{ type: pkcs11.CKA_LABEL, value: label }]);
  const found = lib.C_FindObjects(session, 10);
  lib.C_FindObjectsFinal(session);
  return found;
}

let storeId: string;
let keyId: string;
let keyArn: string;
let plainKeyId: string;

test('CreateCustomKeyStore (AWS_CLOUDHSM): a declared token, its trust anchor and the key store password; AWS\'s refusals otherwise', { skip }, async () => {
  const create = (extra: Record<string, unknown>) =>
    kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'hsm-store', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: anchorA, KeyStorePassword: 'wrong-password-1', ...extra }));
  // Every refusal first, while no store exists.
  await fails(create({ CloudHsmClusterId: 'cluster-notdeclared23' }), 'CloudHsmClusterNotFoundException', 'an undeclared cluster');
  await fails(create({ TrustAnchorCertificate: anchorB }), 'IncorrectTrustAnchorException', 'another token\'s trust anchor');
  await fails(create({ TrustAnchorCertificate: 'not a certificate' }), 'IncorrectTrustAnchorException', 'no certificate at all');
  await fails(create({ CloudHsmClusterId: ABSENT, TrustAnchorCertificate: await (await import('node:fs/promises')).readFile(join(work, 'anchor-c.pem'), 'utf8') }), 'CloudHsmClusterNotActiveException', 'a token that is not present');
  await fails(create({ CloudHsmClusterId: 'cluster-1234' }), 'ValidationException', 'a cluster id of the wrong form');
  await fails(create({ KeyStorePassword: undefined }), 'ValidationException', 'no password');
  await fails(create({ KeyStorePassword: 'short' }), 'ValidationException', 'a password under 7 characters');
  await fails(create({ XksProxyUriPath: '/kms/xks/v1' }), 'ValidationException', 'an XKS parameter on an AWS_CLOUDHSM store');

  // The password given is wrong: AWS does not check it before ConnectCustomKeyStore either.
  storeId = (await create({})).CustomKeyStoreId!;
  assert.match(storeId, /^cks-[0-9a-f]{17}$/);
  const s = await describe(storeId);
  assert.equal(s.CustomKeyStoreName, 'hsm-store');
  assert.equal(s.CustomKeyStoreType, 'AWS_CLOUDHSM');
  assert.equal(s.CloudHsmClusterId, CLUSTER);
  assert.equal(s.TrustAnchorCertificate, anchorA);
  assert.equal(s.ConnectionState, 'DISCONNECTED');
  assert.equal(s.ConnectionErrorCode, undefined);
  assert.ok(Math.abs(s.CreationDate!.getTime() - Date.now()) < 60_000);
  assert.equal(s.XksProxyConfiguration, undefined);

  await fails(create({}), 'CustomKeyStoreNameInUseException', 'the same name again');
  await fails(create({ CustomKeyStoreName: 'hsm-store-2' }), 'CloudHsmClusterInUseException', 'the same cluster for a second store');
  await fails(create({ CustomKeyStoreName: 'hsm-store-2', CloudHsmClusterId: RELATED }), 'CloudHsmClusterInUseException', 'a related cluster (same trust anchor) for a second store');
  await fails(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-00000000000000000' })), 'CustomKeyStoreNotFoundException');
  await fails(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'no-such-store' })), 'CustomKeyStoreNotFoundException');
  const byName = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'hsm-store' }));
  assert.equal(byName.CustomKeyStores![0]!.CustomKeyStoreId, storeId);
});

test('connection states: a wrong password FAILS with INVALID_CREDENTIALS; disconnect, correct it, connect', { skip }, async () => {
  await fails(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException', 'CreateKey in a disconnected store');
  await fails(kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException', 'disconnecting a disconnected store');
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  let s = await describe(storeId);
  assert.equal(s.ConnectionState, 'FAILED');
  assert.equal(s.ConnectionErrorCode, 'INVALID_CREDENTIALS');
  await fails(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException', 'connecting a FAILED store');
  await fails(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: STORE_PIN })), 'CustomKeyStoreInvalidStateException', 'a password change while not disconnected');
  await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  await fails(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: OTHER })), 'CloudHsmClusterNotRelatedException', 'an unrelated cluster');
  await fails(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriPath: '/kms/xks/v1' })), 'ValidationException', 'an XKS parameter');
  await fails(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-00000000000000000', NewCustomKeyStoreName: 'x' })), 'CustomKeyStoreNotFoundException');
  await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: STORE_PIN, CloudHsmClusterId: RELATED }));
  assert.equal((await describe(storeId)).CloudHsmClusterId, RELATED, 'moved to the related cluster');
  await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: CLUSTER }));
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  s = await describe(storeId);
  assert.equal(s.ConnectionState, 'CONNECTED');
  assert.equal(s.ConnectionErrorCode, undefined);
  // Connecting a connected store is allowed (and changes nothing); only the name may change while connected.
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, NewCustomKeyStoreName: 'hsm-store-renamed' }));
  assert.equal((await describe(storeId)).CustomKeyStoreName, 'hsm-store-renamed');
  await fails(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException', 'deleting a connected store');
});

test('CreateKey (AWS_CLOUDHSM): AES-256 material generated in the token, sensitive and never extractable; nothing of it in the database', { skip }, async () => {
  await fails(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM' })), 'ValidationException', 'AWS_CLOUDHSM without a store');
  await fails(kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId })), 'ValidationException', 'a store with Origin AWS_KMS');
  await fails(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-00000000000000000' })), 'CustomKeyStoreNotFoundException');
  await fails(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' })), 'UnsupportedOperationException', 'an RSA key in a store');
  await fails(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'x' })), 'UnsupportedOperationException', 'an external key in a CloudHSM store');
  const meta = (await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, Description: 'in the token' }))).KeyMetadata!;
  keyId = meta.KeyId!;
  keyArn = meta.Arn!;
  assert.equal(meta.Origin, 'AWS_CLOUDHSM');
  assert.equal(meta.CustomKeyStoreId, storeId);
  assert.equal(meta.CloudHsmClusterId, CLUSTER);
  assert.equal(meta.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.equal(meta.KeyState, 'Enabled');
  const described = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
  assert.equal(described.CustomKeyStoreId, storeId);
  assert.equal(described.CloudHsmClusterId, CLUSTER);
  plainKeyId = (await kms.send(new CreateKeyCommand({ Description: 'an ordinary key' }))).KeyMetadata!.KeyId!;

  const token = openToken('kms-store', STORE_PIN);
  try {
    const found = findKey(token.lib, token.session, `trent-kms-${keyId}`);
    assert.equal(found.length, 1, 'one object on the token for the key');
    const attrs = token.lib.C_GetAttributeValue(token.session, found[0]!, [
      { type: pkcs11.CKA_SENSITIVE },
      { type: pkcs11.CKA_EXTRACTABLE },
      { type: pkcs11.CKA_NEVER_EXTRACTABLE },
      { type: pkcs11.CKA_TOKEN },
      { type: pkcs11.CKA_VALUE_LEN },
      { type: pkcs11.CKA_KEY_TYPE },
    ]);
    const flag = (i: number) => (attrs[i]!.value as Buffer)[0];
    assert.deepEqual([flag(0), flag(1), flag(2), flag(3)], [1, 0, 1, 1], 'sensitive, not extractable, never extractable, a token object');
    assert.equal((attrs[4]!.value as Buffer).readUInt32LE(0), 32, 'AES-256');
    assert.equal((attrs[5]!.value as Buffer).readUInt32LE(0), pkcs11.CKK_AES);
    assert.throws(() => token.lib.C_GetAttributeValue(token.session, found[0]!, [{ type: pkcs11.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/, 'the value never leaves the token');
  } finally {
    token.close();
  }
  const db = await t.openDb();
  try {
    const versions = await db.all('SELECT version FROM kms_key_versions WHERE key_id = ?', [keyId]);
    assert.equal(versions.length, 0, 'no backing key in the database for a key whose material is in the token');
  } finally {
    await db.close();
  }
});

test('Encrypt, Decrypt, GenerateDataKey and ReEncrypt run in the token: its key opens what Trent made', { skip }, async () => {
  const secret = Buffer.from('a secret kept under a key that never leaves the token');
  const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: secret, EncryptionContext: context }));
  assert.equal(enc.KeyId, keyArn);
  assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  const blob = Buffer.from(enc.CiphertextBlob!);
  assert.equal(blob[0], 0x02, 'ciphertext format 2 (docs/formats.md)');
  assert.equal(blob.length, 38 + 12 + secret.length + 16);
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }));
  assert.deepEqual(Buffer.from(dec.Plaintext!), secret);
  assert.equal(dec.KeyId, keyArn);
  assert.equal(dec.KeyMaterialId, undefined, 'no Trent-held material to name');
  // The token's own key opens it, with the blob's header and the encryption context as AAD.
  const token = openToken('kms-store', STORE_PIN);
  try {
    const key = findKey(token.lib, token.session, `trent-kms-${keyId}`)[0]!;
    const iv = blob.subarray(38, 50);
    const body = blob.subarray(50);
    token.lib.C_DecryptInit(
      token.session,
      { mechanism: pkcs11.CKM_AES_GCM, parameter: { type: pkcs11.CK_PARAMS_AES_GCM, iv, aad: Buffer.concat([blob.subarray(0, 38), canonicalEncryptionContext(context)]), ivBits: 96, tagBits: 128 } as import('pkcs11js').AesGCM },
      key,
    );
    assert.deepEqual(Buffer.from(token.lib.C_Decrypt(token.session, body, Buffer.alloc(body.length))), secret);
  } finally {
    token.close();
  }

  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context, purpose: 'other' } })), 'InvalidCiphertextException', 'another encryption context');
  const tampered = Buffer.from(blob);
  tampered[60]! ^= 1;
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: context })), 'InvalidCiphertextException', 'a flipped bit');
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, KeyId: plainKeyId })), 'IncorrectKeyException', 'another KeyId');
  // Decrypt runs in either serving process: the token is shared, each logs in on its own.
  for (let i = 0; i < 6; i++) assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))).Plaintext!), secret);

  const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }));
  assert.equal(dk.Plaintext!.length, 32);
  assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob!, EncryptionContext: context }))).Plaintext!), Buffer.from(dk.Plaintext!));
  const dkw = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, NumberOfBytes: 16 }));
  assert.equal(dkw.CiphertextBlob![0], 0x02);
  assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: dkw.CiphertextBlob! }))).Plaintext!.length, 16);

  // ReEncrypt out of the token and back in.
  const out = await kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: context, DestinationKeyId: plainKeyId, DestinationEncryptionContext: { moved: 'out' } }));
  assert.equal(out.SourceKeyId, keyArn);
  assert.equal(out.CiphertextBlob![0], 0x01);
  const back = await kms.send(new ReEncryptCommand({ CiphertextBlob: out.CiphertextBlob!, SourceEncryptionContext: { moved: 'out' }, DestinationKeyId: keyId, DestinationEncryptionContext: { moved: 'in' } }));
  assert.equal(back.KeyId, keyArn);
  assert.equal(back.CiphertextBlob![0], 0x02);
  assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: back.CiphertextBlob!, EncryptionContext: { moved: 'in' } }))).Plaintext!), secret);

  // What keys in custom key stores cannot do, as on AWS.
  await fails(kms.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' })), 'UnsupportedOperationException', 'a data key pair');
  await fails(kms.send(new EnableKeyRotationCommand({ KeyId: keyId })), 'UnsupportedOperationException', 'automatic rotation');
  const random = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 48, CustomKeyStoreId: storeId }));
  assert.equal(random.Plaintext!.length, 48);
  await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-00000000000000000' })), 'CustomKeyStoreNotFoundException');
});

test('DisconnectCustomKeyStore: the keys are unusable at once in every serving process; connecting brings them back', { skip }, async () => {
  const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('before the disconnection') }));
  await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  assert.equal((await describe(storeId)).ConnectionState, 'DISCONNECTED');
  // Several calls, so that both workers answer some: none may use a session it opened before.
  for (let i = 0; i < 6; i++) {
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! })), 'KMSInvalidStateException', `Decrypt #${i} after the disconnection`);
    await fails(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', `Encrypt #${i} after the disconnection`);
  }
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })), 'KMSInvalidStateException');
  await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException');
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState, 'Enabled', 'the key itself is unchanged: its store is what is unavailable');
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  for (let i = 0; i < 4; i++) assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! }))).Plaintext!).toString(), 'before the disconnection');
});

test('the AWS CLI and boto3: the same operations and refusals', { skip }, async () => {
  const cliAnchor = join(work, 'anchor-b.pem');
  const created = await awsKmsJson<{ CustomKeyStoreId: string }>(t, 'v1', [
    'create-custom-key-store',
    '--custom-key-store-name',
    'cli-store',
    '--cloud-hsm-cluster-id',
    OTHER,
    '--trust-anchor-certificate',
    `file://${cliAnchor}`,
    '--key-store-password',
    STORE_PIN,
  ]);
  const cliStore = created.CustomKeyStoreId;
  const described = await awsKmsJson<{ CustomKeyStores: Array<Record<string, unknown>> }>(t, 'v1', ['describe-custom-key-stores', '--custom-key-store-id', cliStore]);
  assert.equal(described.CustomKeyStores[0]!['ConnectionState'], 'DISCONNECTED');
  const refused = await awsKms(t, 'v1', ['disconnect-custom-key-store', '--custom-key-store-id', cliStore]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /CustomKeyStoreInvalidStateException/);
  await awsKmsJson(t, 'v1', ['connect-custom-key-store', '--custom-key-store-id', cliStore]);
  const key = await awsKmsJson<{ KeyMetadata: Record<string, unknown> }>(t, 'v1', ['create-key', '--origin', 'AWS_CLOUDHSM', '--custom-key-store-id', cliStore]);
  assert.equal(key.KeyMetadata['CloudHsmClusterId'], OTHER);
  const cliKey = key.KeyMetadata['KeyId'] as string;
  const plainFile = join(work, 'cli-plain');
  await writeFile(plainFile, 'through the AWS CLI');
  const enc = await awsKmsJson<{ CiphertextBlob: string }>(t, 'v1', ['encrypt', '--key-id', cliKey, '--plaintext', `fileb://${plainFile}`, '--encryption-context', 'app=cli']);
  const blobFile = join(work, 'cli-blob');
  await writeFile(blobFile, Buffer.from(enc.CiphertextBlob, 'base64'));
  const dec = await awsKmsJson<{ Plaintext: string }>(t, 'v1', ['decrypt', '--ciphertext-blob', `fileb://${blobFile}`, '--encryption-context', 'app=cli']);
  assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'through the AWS CLI');
  const random = await awsKmsJson<{ Plaintext: string }>(t, 'v1', ['generate-random', '--number-of-bytes', '16', '--custom-key-store-id', cliStore]);
  assert.equal(Buffer.from(random.Plaintext, 'base64').length, 16);

  const r = await boto3(
    t,
    String.raw`
kms = boto3.client('kms')
store = os.environ['STORE']
out = {}
out['describe'] = call(kms.describe_custom_key_stores, CustomKeyStoreId=store)
out['update_connected'] = call(kms.update_custom_key_store, CustomKeyStoreId=store, KeyStorePassword='another-password')
out['delete_with_keys'] = call(kms.delete_custom_key_store, CustomKeyStoreId=store)
out['disconnect'] = call(kms.disconnect_custom_key_store, CustomKeyStoreId=store)
out['encrypt_disconnected'] = call(kms.encrypt, KeyId=os.environ['KEY'], Plaintext=b'x')
out['create_key_disconnected'] = call(kms.create_key, Origin='AWS_CLOUDHSM', CustomKeyStoreId=store)
out['wrong_anchor'] = call(kms.create_custom_key_store, CustomKeyStoreName='boto-store', CloudHsmClusterId=os.environ['CLUSTER'], TrustAnchorCertificate=os.environ['WRONG_ANCHOR'], KeyStorePassword='password-123')
out['update_password'] = call(kms.update_custom_key_store, CustomKeyStoreId=store, KeyStorePassword='not-the-pin-1')
out['connect'] = call(kms.connect_custom_key_store, CustomKeyStoreId=store)
out['after'] = call(kms.describe_custom_key_stores, CustomKeyStoreName='cli-store')
print(json.dumps(out))
`,
    { STORE: cliStore, KEY: cliKey, CLUSTER: OTHER, WRONG_ANCHOR: anchorA },
  );
  const ok = (k: string) => assert.ok((r[k] as { ok?: unknown }).ok !== undefined, `${k}: ${JSON.stringify(r[k])}`);
  const code = (k: string) => (r[k] as { code?: string }).code;
  ok('describe');
  assert.equal(code('update_connected'), 'CustomKeyStoreInvalidStateException');
  assert.equal(code('delete_with_keys'), 'CustomKeyStoreInvalidStateException');
  ok('disconnect');
  assert.equal(code('encrypt_disconnected'), 'KMSInvalidStateException');
  assert.equal(code('create_key_disconnected'), 'CustomKeyStoreInvalidStateException');
  assert.equal(code('wrong_anchor'), 'IncorrectTrustAnchorException');
  ok('update_password');
  ok('connect');
  const after = (r['after'] as { ok: { CustomKeyStores: Array<Record<string, unknown>> } }).ok.CustomKeyStores[0]!;
  assert.equal(after['ConnectionState'], 'FAILED');
  assert.equal(after['ConnectionErrorCode'], 'INVALID_CREDENTIALS');
});

test('deleting: keys first (their token objects are destroyed when the waiting period ends), then the disconnected store', { skip }, async () => {
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
  await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  await fails(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreHasCMKsException', 'a key pending deletion is still in the store');
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  // Seven days pass while the server is down; the deletion happens at start-up, with the store connected.
  const dataDir = t.dataDir;
  assert.equal(await t.stop(), 0);
  const db = await t.openDb();
  try {
    await db.run('UPDATE kms_keys SET deletion_at = ? WHERE key_id = ?', [Date.now() - 1000, keyId]);
  } finally {
    await db.close();
  }
  t = await startTrent({ dataDir, env: { ...hsm.env, TRENT_KMS_HSM_CLUSTERS: clustersFile, TRENT_WORKERS: '2' } });
  kms = new KMSClient(t.clientConfig());
  await fails(kms.send(new DescribeKeyCommand({ KeyId: keyId })), 'NotFoundException');
  const token = openToken('kms-store', STORE_PIN);
  try {
    assert.equal(findKey(token.lib, token.session, `trent-kms-${keyId}`).length, 0, 'the key\'s object is gone from the token');
  } finally {
    token.close();
  }
  await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  await kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  await fails(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreNotFoundException');
  await fails(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreNotFoundException');
});

test('the trail records every key store call, and the password is nowhere: not in events, the log, the database or any file', { skip }, async () => {
  const ct = new CloudTrailClient(t.clientConfig());
  const names = ['CreateCustomKeyStore', 'ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'UpdateCustomKeyStore', 'DeleteCustomKeyStore', 'DescribeCustomKeyStores', 'GenerateRandom'];
  for (const name of names) {
    const events = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }], MaxResults: 50 }))).Events ?? [];
    assert.ok(events.length > 0, `${name} is recorded`);
    for (const e of events) assert.ok(!e.CloudTrailEvent!.includes(STORE_PIN), `${name}: no password in the event`);
  }
  const created = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateCustomKeyStore' }], MaxResults: 50 }))).Events!;
  const ok = created.map((e) => JSON.parse(e.CloudTrailEvent!) as Record<string, unknown>).find((e) => !e['errorCode'] && (e['requestParameters'] as Record<string, unknown>)['customKeyStoreName'] === 'hsm-store')!;
  assert.ok(ok, 'the successful CreateCustomKeyStore event');
  const params = ok['requestParameters'] as Record<string, unknown>;
  assert.equal(params['cloudHsmClusterId'], CLUSTER);
  assert.equal(params['keyStorePassword'], undefined);
  assert.equal((ok['responseElements'] as Record<string, unknown>)['customKeyStoreId'], storeId);
  const refusals = created.map((e) => JSON.parse(e.CloudTrailEvent!) as Record<string, unknown>).map((e) => e['errorCode']);
  assert.ok(refusals.includes('IncorrectTrustAnchorException') && refusals.includes('CloudHsmClusterNotFoundException'), 'refusals are recorded too');
  const hits = await filesContaining(storageDirs(t.dataDir), [Buffer.from(STORE_PIN), Buffer.from(STORE_PIN, 'utf16le')]);
  assert.deepEqual(hits, [], 'the key store password is in no file of the data directory');
  assert.ok(!t.output().includes(STORE_PIN), 'nor in the server\'s output');
});

test('with a PKCS#11 root of trust on the same module: a store on another token works; one on the root\'s own token FAILS with USER_LOGGED_IN', { skip }, async () => {
  const dataDir = await tempDir();
  const other = await startTrent({ dataDir, args: hsm.serveArgs, env: { ...hsm.env, TRENT_KMS_HSM_CLUSTERS: clustersFile, TRENT_WORKERS: '1' } });
  try {
    const k = new KMSClient(other.clientConfig());
    const id = (await k.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'beside-the-root', CloudHsmClusterId: RELATED, TrustAnchorCertificate: anchorA, KeyStorePassword: STORE_PIN }))).CustomKeyStoreId!;
    await k.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    const key = (await k.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: id }))).KeyMetadata!.KeyId!;
    const enc = await k.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('two tokens, one module') }));
    assert.equal(Buffer.from((await k.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! }))).Plaintext!).toString(), 'two tokens, one module');
    // An ordinary key (under the root of trust, in the other token) works beside it.
    const plain = (await k.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const e2 = await k.send(new EncryptCommand({ KeyId: plain, Plaintext: Buffer.from('root') }));
    assert.equal(Buffer.from((await k.send(new DecryptCommand({ CiphertextBlob: e2.CiphertextBlob! }))).Plaintext!).toString(), 'root');
    // The root's token: this process is logged in to it already, for the root; the store must not ride on that login.
    const anchorD = await (await import('node:fs/promises')).readFile(join(work, 'anchor-d.pem'), 'utf8');
    const onRoot = (await k.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'on-the-root-token', CloudHsmClusterId: 'cluster-roottoken2345', TrustAnchorCertificate: anchorD, KeyStorePassword: 'any-password-9' }))).CustomKeyStoreId!;
    await k.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: onRoot }));
    const s = (await k.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: onRoot }))).CustomKeyStores![0]!;
    assert.equal(s.ConnectionState, 'FAILED');
    assert.equal(s.ConnectionErrorCode, 'USER_LOGGED_IN');
    assert.equal(Buffer.from((await k.send(new DecryptCommand({ CiphertextBlob: e2.CiphertextBlob! }))).Plaintext!).toString(), 'root', 'the root still works');
  } finally {
    await other.stop();
    await removeDir(dataDir);
  }
});
