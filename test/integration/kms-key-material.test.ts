// Key materials as AWS KMS names and rotates them, through @aws-sdk/client-kms and boto3: CurrentKeyMaterialId in
// KeyMetadata (changing on every rotation), KeyMaterialId in ImportKeyMaterial, DeleteImportedKeyMaterial,
// ListKeyRotations (IncludeKeyMaterial) and in the responses that use a material (Decrypt, GenerateDataKey*,
// ReEncrypt's source and destination); and rotation of imported material: ImportType NEW_KEY_MATERIAL leaves the
// new material pending, RotateKeyOnDemand makes it current, old ciphertexts still decrypt with their material.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import {
  KMSClient,
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  type ImportKeyMaterialCommandInput,
  type KeyMetadata,
  type RotationsListEntry,
} from '@aws-sdk/client-kms';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec, fails } from '../helpers/assert.ts';

let t: RunningTrent;
let kms: KMSClient;

before(async () => {
  t = await startTrent();
  kms = new KMSClient(t.clientConfig({ maxAttempts: 1 }));
});
after(async () => {
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

const MATERIAL_ID = /^[a-f0-9]{64}$/;

async function describe(keyId: string): Promise<KeyMetadata> {
  const r = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
  assert.ok(r.KeyMetadata);
  return r.KeyMetadata;
}

async function rotations(keyId: string, all = false): Promise<RotationsListEntry[]> {
  const r = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, ...(all ? { IncludeKeyMaterial: 'ALL_KEY_MATERIAL' as const } : {}) }));
  return r.Rotations ?? [];
}

/** GetParametersForImport, wrap with RSA-OAEP SHA-256 as AWS documents, ImportKeyMaterial. */
async function importMaterial(keyId: string, material: Buffer, extra: Partial<ImportKeyMaterialCommandInput> = { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }) {
  const p = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const wrappingKey = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
  const wrapped = publicEncrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
  return kms.send(new ImportKeyMaterialCommand({ KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped, ...extra }));
}

async function decryptedBy(blob: Uint8Array | undefined): Promise<{ plaintext: Buffer; keyMaterialId: string | undefined }> {
  const r = await kms.send(new DecryptCommand({ CiphertextBlob: blob }));
  return { plaintext: Buffer.from(r.Plaintext!), keyMaterialId: r.KeyMaterialId };
}

test('AWS_KMS keys: CurrentKeyMaterialId in CreateKey and DescribeKey changes on every rotation; ListKeyRotations, Decrypt, GenerateDataKey and ReEncrypt name the materials', async () => {
  const created = (await kms.send(new CreateKeyCommand({ Description: 'key material ids' }))).KeyMetadata!;
  const first = created.CurrentKeyMaterialId;
  assert.match(first ?? '', MATERIAL_ID, 'CreateKey reports CurrentKeyMaterialId (64 hex characters)');
  assert.equal((await describe(created.KeyId!)).CurrentKeyMaterialId, first, 'DescribeKey reports the same CurrentKeyMaterialId');

  const before = await kms.send(new EncryptCommand({ KeyId: created.KeyId, Plaintext: Buffer.from('under the first material') }));
  const dk1 = await kms.send(new GenerateDataKeyCommand({ KeyId: created.KeyId, KeySpec: 'AES_256' }));
  assert.equal(dk1.KeyMaterialId, first, 'GenerateDataKey names the material that encrypted the data key');
  assert.deepEqual(await rotations(created.KeyId!), [], 'no rotation yet');
  const firstOnly = await rotations(created.KeyId!, true);
  assert.equal(firstOnly.length, 1, 'ALL_KEY_MATERIAL lists the first material');
  assert.equal(firstOnly[0]!.KeyMaterialId, first);
  assert.equal(firstOnly[0]!.KeyMaterialState, 'CURRENT');
  assert.equal(firstOnly[0]!.RotationDate, undefined, 'the first material has no RotationDate');
  assert.equal(firstOnly[0]!.RotationType, undefined, 'the first material has no RotationType');
  assert.equal(firstOnly[0]!.ImportState, undefined, 'ImportState is for imported material only');

  await kms.send(new RotateKeyOnDemandCommand({ KeyId: created.KeyId }));
  const second = (await describe(created.KeyId!)).CurrentKeyMaterialId;
  assert.match(second ?? '', MATERIAL_ID);
  assert.notEqual(second, first, 'a rotation changes CurrentKeyMaterialId');
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: created.KeyId }));
  const third = (await describe(created.KeyId!)).CurrentKeyMaterialId;
  assert.ok(third !== first && third !== second, 'each rotation has a material of its own');

  const done = await rotations(created.KeyId!);
  assert.deepEqual(
    done.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.RotationType]),
    [
      [second, 'NON_CURRENT', 'ON_DEMAND'],
      [third, 'CURRENT', 'ON_DEMAND'],
    ],
    'ROTATIONS_ONLY lists the completed rotations with their material ids and states',
  );
  assert.ok(done.every((r) => r.RotationDate instanceof Date && r.KeyId === created.Arn), 'each rotation has a RotationDate and the key ARN');
  assert.deepEqual((await rotations(created.KeyId!, true)).map((r) => r.KeyMaterialId), [first, second, third], 'ALL_KEY_MATERIAL lists the first material too');

  const old = await decryptedBy(before.CiphertextBlob);
  assert.equal(old.keyMaterialId, first, 'Decrypt names the (non-current) material that encrypted the ciphertext');
  const dk = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: created.KeyId, NumberOfBytes: 32 }));
  assert.equal(dk.KeyMaterialId, third, 'new data keys are encrypted under the current material');
  const pair = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: created.KeyId, KeyPairSpec: 'ECC_NIST_P256' }));
  assert.equal(pair.KeyMaterialId, third, 'GenerateDataKeyPair names the material that encrypted the private key');
  const other = (await kms.send(new CreateKeyCommand({ Description: 're-encryption target' }))).KeyMetadata!;
  const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: before.CiphertextBlob, DestinationKeyId: other.KeyId }));
  assert.equal(re.SourceKeyMaterialId, first, 'ReEncrypt: SourceKeyMaterialId');
  assert.equal(re.DestinationKeyMaterialId, other.CurrentKeyMaterialId, 'ReEncrypt: DestinationKeyMaterialId');

  // Asymmetric and HMAC keys do not rotate and name no material.
  const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
  assert.equal(rsa.CurrentKeyMaterialId, undefined, 'no CurrentKeyMaterialId for an asymmetric key');
  const hmac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!;
  assert.equal(hmac.CurrentKeyMaterialId, undefined, 'no CurrentKeyMaterialId for an HMAC key');
  await fails(kms.send(new ListKeyRotationsCommand({ KeyId: hmac.KeyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' })), 'UnsupportedOperationException', 'IncludeKeyMaterial on a key that does not rotate');
});

test('imported material rotates on demand: NEW_KEY_MATERIAL waits PENDING_ROTATION, RotateKeyOnDemand makes it current, old ciphertexts decrypt with their material; nothing pending is KMSInvalidStateException', async () => {
  const k = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'rotating imported material' }))).KeyMetadata!;
  const keyId = k.KeyId!;
  assert.equal(k.CurrentKeyMaterialId, undefined, 'no material, no CurrentKeyMaterialId');
  const m1 = randomBytes(32);
  const m2 = randomBytes(32);

  // The first import: ImportType defaults to NEW_KEY_MATERIAL, the material becomes current.
  const i1 = await importMaterial(keyId, m1);
  assert.equal(i1.KeyId, k.Arn, 'ImportKeyMaterial names the key by ARN');
  const id1 = i1.KeyMaterialId;
  assert.match(id1 ?? '', MATERIAL_ID, 'ImportKeyMaterial returns the KeyMaterialId');
  const d1 = await describe(keyId);
  assert.equal(d1.KeyState, 'Enabled');
  assert.equal(d1.CurrentKeyMaterialId, id1, 'the first imported material is current');
  const c1 = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('under m1') }));

  // Nothing pending: as on AWS, RotateKeyOnDemand is refused by the key's state.
  await fails(kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'KMSInvalidStateException', 'RotateKeyOnDemand with no material pending rotation');
  // A key material id cannot be named for new material.
  await fails(importMaterial(keyId, m2, { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialId: id1, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'ValidationException', 'NEW_KEY_MATERIAL with a KeyMaterialId');
  // The same material is not new material.
  await fails(importMaterial(keyId, m1, { ImportType: 'NEW_KEY_MATERIAL', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'IncorrectKeyMaterialException', 'm1 again as new material');

  // New material waits, pending rotation; the key keeps encrypting under m1.
  const i2 = await importMaterial(keyId, m2, { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialDescription: 'second material', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
  const id2 = i2.KeyMaterialId!;
  assert.match(id2, MATERIAL_ID);
  assert.notEqual(id2, id1, 'other material, another id');
  assert.equal((await describe(keyId)).CurrentKeyMaterialId, id1, 'pending material is not current yet');
  const pendingList = await rotations(keyId, true);
  assert.deepEqual(
    pendingList.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.ImportState, r.ExpirationModel, r.KeyMaterialDescription ?? null, r.RotationType ?? null]),
    [
      [id1, 'CURRENT', 'IMPORTED', 'KEY_MATERIAL_DOES_NOT_EXPIRE', null, null],
      [id2, 'PENDING_ROTATION', 'IMPORTED', 'KEY_MATERIAL_DOES_NOT_EXPIRE', 'second material', null],
    ],
    'ALL_KEY_MATERIAL shows the current material and the one pending rotation',
  );
  assert.deepEqual(await rotations(keyId), [], 'no rotation has completed');
  const c2 = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('still under m1') }));
  assert.equal((await decryptedBy(c2.CiphertextBlob)).keyMaterialId, id1, 'until the rotation, m1 encrypts');
  // One material pending rotation at a time.
  await fails(importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'KMSInvalidStateException', 'a second material pending rotation');

  await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
  assert.equal((await describe(keyId)).CurrentKeyMaterialId, id2, 'RotateKeyOnDemand makes the pending material current');
  const c3 = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('under m2') }));
  assert.equal((await decryptedBy(c3.CiphertextBlob)).keyMaterialId, id2, 'new ciphertexts are under m2');
  const old = await decryptedBy(c1.CiphertextBlob);
  assert.equal(old.plaintext.toString(), 'under m1', 'a ciphertext from before the rotation still decrypts');
  assert.equal(old.keyMaterialId, id1, '... with the previous material');
  const done = await rotations(keyId);
  assert.equal(done.length, 1, 'one completed rotation');
  assert.equal(done[0]!.KeyMaterialId, id2);
  assert.equal(done[0]!.KeyMaterialState, 'CURRENT');
  assert.equal(done[0]!.RotationType, 'ON_DEMAND');
  assert.ok(done[0]!.RotationDate instanceof Date, 'the rotation has a date');
  await fails(kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'KMSInvalidStateException', 'nothing pending after the rotation');

  // Re-importing: EXISTING_KEY_MATERIAL must bring a material of this key; a KeyMaterialId names which.
  const again = await importMaterial(keyId, m1, { ImportType: 'EXISTING_KEY_MATERIAL', KeyMaterialId: id1, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
  assert.equal(again.KeyMaterialId, id1, 're-importing m1 names m1');
  await fails(importMaterial(keyId, m1, { KeyMaterialId: id2, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'IncorrectKeyMaterialException', 'm1 named as m2');
  await fails(importMaterial(keyId, randomBytes(32), { ImportType: 'EXISTING_KEY_MATERIAL', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'IncorrectKeyMaterialException', 'unknown material as existing');

  // Deleting a non-current material makes the key unusable until it comes back.
  const del = await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: id1 }));
  assert.equal(del.KeyId, k.Arn);
  assert.equal(del.KeyMaterialId, id1, 'DeleteImportedKeyMaterial names the material it deleted');
  assert.equal((await describe(keyId)).KeyState, 'PendingImport', 'a key missing any of its materials is PendingImport');
  const listed = await rotations(keyId, true);
  assert.deepEqual(
    listed.map((r) => [r.KeyMaterialId, r.ImportState]),
    [
      [id1, 'PENDING_IMPORT'],
      [id2, 'IMPORTED'],
    ],
    'the deleted material keeps its id, waiting for its import',
  );
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: c3.CiphertextBlob })), 'KMSInvalidStateException', 'the key is unusable meanwhile');
  await importMaterial(keyId, m1);
  assert.equal((await describe(keyId)).KeyState, 'Enabled', 're-importing the missing material enables the key');
  assert.equal((await decryptedBy(c1.CiphertextBlob)).plaintext.toString(), 'under m1');

  // Material pending rotation is not yet the key's: deleting it removes it, and the key stays usable.
  const i3 = await importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
  await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: i3.KeyMaterialId }));
  assert.deepEqual((await rotations(keyId, true)).map((r) => r.KeyMaterialId), [id1, id2], 'deleted pending material is gone');
  assert.equal((await describe(keyId)).KeyState, 'Enabled');
  await fails(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: 'ab'.repeat(32) })), 'NotFoundException', 'a material id the key does not have');
  // Deleting without a KeyMaterialId deletes the current material.
  const current = await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
  assert.equal(current.KeyMaterialId, id2, 'without KeyMaterialId the current material is deleted');
});

test('boto3: import_key_material with ImportType NEW_KEY_MATERIAL, rotate_key_on_demand, list_key_rotations with IncludeKeyMaterial; describe_key CurrentKeyMaterialId', async () => {
  const keyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
  await importMaterial(keyId, randomBytes(32));
  const script = String.raw`
import base64, json, os, sys, boto3, botocore
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
kms = boto3.client('kms', config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
key = sys.argv[1]
out = {}
before = kms.describe_key(KeyId=key)['KeyMetadata']['CurrentKeyMaterialId']
ct = kms.encrypt(KeyId=key, Plaintext=b'before the rotation')['CiphertextBlob']
try:
    kms.rotate_key_on_demand(KeyId=key)
    out['nothingPending'] = 'succeeded'
except botocore.exceptions.ClientError as e:
    out['nothingPending'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
p = kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm='RSAES_OAEP_SHA_256', WrappingKeySpec='RSA_2048')
pub = serialization.load_der_public_key(p['PublicKey'])
wrapped = pub.encrypt(os.urandom(32), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
r = kms.import_key_material(KeyId=key, ImportToken=p['ImportToken'], EncryptedKeyMaterial=wrapped,
                            ExpirationModel='KEY_MATERIAL_DOES_NOT_EXPIRE', ImportType='NEW_KEY_MATERIAL', KeyMaterialDescription='from boto3')
out['imported'] = r['KeyMaterialId']
out['pending'] = [[e['KeyMaterialId'], e['KeyMaterialState']] for e in kms.list_key_rotations(KeyId=key, IncludeKeyMaterial='ALL_KEY_MATERIAL')['Rotations']]
kms.rotate_key_on_demand(KeyId=key)
out['before'] = before
out['after'] = kms.describe_key(KeyId=key)['KeyMetadata']['CurrentKeyMaterialId']
out['rotations'] = [[e['KeyMaterialId'], e['KeyMaterialState'], e['RotationType'], e.get('KeyMaterialDescription')] for e in kms.list_key_rotations(KeyId=key)['Rotations']]
d = kms.decrypt(CiphertextBlob=ct)
out['decrypted'] = d['Plaintext'].decode()
out['decryptedBy'] = d['KeyMaterialId']
print(json.dumps(out))
`;
  const r = await exec('python3', ['-c', script, keyId], t.cliEnv());
  assert.equal(r.code, 0, `boto3 script failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(out['nothingPending'], ['KMSInvalidStateException', 400]);
  assert.match(String(out['imported']), MATERIAL_ID);
  assert.deepEqual(out['pending'], [
    [out['before'], 'CURRENT'],
    [out['imported'], 'PENDING_ROTATION'],
  ]);
  assert.equal(out['after'], out['imported'], 'after the rotation the imported material is current');
  assert.deepEqual(out['rotations'], [[out['imported'], 'CURRENT', 'ON_DEMAND', 'from boto3']]);
  assert.equal(out['decrypted'], 'before the rotation');
  assert.equal(out['decryptedBy'], out['before'], 'the old ciphertext decrypts with the previous material');
});
