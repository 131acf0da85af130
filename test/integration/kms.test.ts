// KMS through @aws-sdk/client-kms, as applications call it: every operation Trent implements, its
// success path and its main errors (name and HTTP status, as the SDK reports them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  KMSClient,
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetKeyLastUsageCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  ListAliasesCommand,
  ListKeyPoliciesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
  type AliasListEntry,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { fails, type SdkError } from '../helpers/assert.ts';

const DAY_MS = 24 * 3600 * 1000;

let t: RunningTrent;
let kms: KMSClient;
/** Every key this file creates, so ListKeys can be checked against them. */
const created: KeyMetadata[] = [];

before(async () => {
  t = await startTrent();
  kms = new KMSClient(t.clientConfig({ maxAttempts: 1 }));
});
after(async () => {
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});



async function newKey(description = 'test key', extra: Record<string, unknown> = {}): Promise<KeyMetadata> {
  const r = await kms.send(new CreateKeyCommand({ Description: description, ...extra }));
  assert.ok(r.KeyMetadata?.KeyId && r.KeyMetadata.Arn);
  created.push(r.KeyMetadata);
  return r.KeyMetadata;
}

const aliasName = (label: string) => `alias/${label}-${randomUUID().slice(0, 8)}`;
const bytes = (b: Uint8Array | undefined): Buffer => {
  assert.ok(b, 'expected a binary field');
  return Buffer.from(b);
};
const accountOf = (arn: string) => arn.split(':')[4]!;
const near = (actual: Date | undefined, expectedMs: number, toleranceMs: number, what: string) => {
  assert.ok(actual instanceof Date, `${what} is a Date`);
  assert.ok(Math.abs(actual.getTime() - expectedMs) <= toleranceMs, `${what} ${actual.toISOString()} is within ${toleranceMs} ms of ${new Date(expectedMs).toISOString()}`);
};

async function encrypt(keyId: string, plaintext: Buffer, ctx?: Record<string, string>): Promise<Uint8Array> {
  const r = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: ctx }));
  assert.ok(r.CiphertextBlob);
  return r.CiphertextBlob;
}

async function decrypt(blob: Uint8Array, ctx?: Record<string, string>, keyId?: string): Promise<Buffer> {
  const r = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx, KeyId: keyId }));
  return bytes(r.Plaintext);
}

test('CreateKey with Description, Tags and Policy; invalid policy, RSA_2048 and MultiRegion are refused', async () => {
  const account = (await newKey('probe')).AWSAccountId!;
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'partner', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:Decrypt', Resource: '*' },
    ],
  });
  // A policy naming only another account would lock the caller out: AWS's safety check refuses it unless bypassed.
  const foreign = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }] });
  await fails(kms.send(new CreateKeyCommand({ Policy: foreign })), 'MalformedPolicyDocumentException');
  const before = Date.now();
  const k = await newKey('with tags and policy', { Tags: [{ TagKey: 'team', TagValue: 'crypto' }, { TagKey: 'env', TagValue: 'test' }], Policy: policy });
  assert.equal(k.Description, 'with tags and policy');
  assert.equal(k.KeyState, 'Enabled');
  assert.equal(k.Enabled, true);
  assert.equal(k.KeyUsage, 'ENCRYPT_DECRYPT');
  assert.equal(k.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.equal(k.KeyManager, 'CUSTOMER');
  assert.equal(k.Origin, 'AWS_KMS');
  assert.match(k.KeyId!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(k.Arn, `arn:aws:kms:${t.region}:${k.AWSAccountId}:key/${k.KeyId}`);
  near(k.CreationDate, before, 60_000, 'CreationDate');

  const tags = await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }));
  assert.deepEqual(
    [...(tags.Tags ?? [])].sort((a, b) => a.TagKey!.localeCompare(b.TagKey!)),
    [
      { TagKey: 'env', TagValue: 'test' },
      { TagKey: 'team', TagValue: 'crypto' },
    ],
  );
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default' }))).Policy, policy);

  await fails(kms.send(new CreateKeyCommand({ Policy: '{"Version": "2012-10-17", "Statement": [' })), 'MalformedPolicyDocumentException');
  await fails(kms.send(new CreateKeyCommand({ KeySpec: 'SM2', KeyUsage: 'ENCRYPT_DECRYPT' })), 'UnsupportedOperationException');
  await fails(kms.send(new CreateKeyCommand({ KeySpec: 'NOT_A_SPEC' as never })), 'ValidationException');
  await fails(kms.send(new CreateKeyCommand({ MultiRegion: true })), 'UnsupportedOperationException');
  await fails(kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'aws:reserved', TagValue: 'x' }] })), 'TagException');
});

test('DescribeKey by key id, key ARN, alias name and alias ARN; unknown keys are NotFoundException', async () => {
  const k = await newKey('describe me');
  const alias = aliasName('describe');
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: k.KeyId }));
  const aliasArn = `arn:aws:kms:${t.region}:${accountOf(k.Arn!)}:${alias}`;
  for (const id of [k.KeyId!, k.Arn!, alias, aliasArn]) {
    const m = (await kms.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
    assert.equal(m.KeyId, k.KeyId, id);
    assert.equal(m.Arn, k.Arn);
    assert.equal(m.AWSAccountId, accountOf(k.Arn!));
    assert.equal(m.Description, 'describe me');
    assert.equal(m.KeyState, 'Enabled');
    assert.equal(m.Enabled, true);
    assert.equal(m.KeyManager, 'CUSTOMER');
    assert.equal(m.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(m.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.deepEqual(m.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
    assert.ok(m.CreationDate instanceof Date);
    assert.equal(m.CreationDate.getTime(), k.CreationDate!.getTime());
    assert.equal(m.DeletionDate, undefined);
  }
  await fails(kms.send(new DescribeKeyCommand({ KeyId: randomUUID() })), 'NotFoundException');
  await fails(kms.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:${t.region}:${accountOf(k.Arn!)}:key/${randomUUID()}` })), 'NotFoundException');
  await fails(kms.send(new DescribeKeyCommand({ KeyId: 'alias/does-not-exist' })), 'NotFoundException');
  await fails(kms.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:${t.region}:${accountOf(k.Arn!)}:alias/does-not-exist` })), 'NotFoundException');
});

test('ListKeys pages with Limit 1 and Marker until Truncated is false, covering every key; a bad Marker is InvalidMarkerException', async () => {
  for (let i = 0; i < 3; i++) await newKey(`listed ${i}`);
  const seen: string[] = [];
  let marker: string | undefined;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 1000, 'pagination terminates');
    const r = await kms.send(new ListKeysCommand({ Limit: 1, Marker: marker }));
    assert.ok(r.Keys!.length <= 1);
    for (const k of r.Keys!) {
      assert.equal(k.KeyArn, `arn:aws:kms:${t.region}:${accountOf(created[0]!.Arn!)}:key/${k.KeyId}`);
      seen.push(k.KeyId!);
    }
    if (!r.Truncated) {
      assert.equal(r.NextMarker, undefined);
      break;
    }
    assert.ok(r.NextMarker, 'a truncated page has a NextMarker');
    marker = r.NextMarker;
  }
  assert.equal(new Set(seen).size, seen.length, 'no key is listed twice');
  for (const k of created) assert.ok(seen.includes(k.KeyId!), `${k.KeyId} is listed`);
  // One call with the default limit gives the same set.
  const all = await kms.send(new ListKeysCommand({}));
  assert.deepEqual(all.Keys!.map((k) => k.KeyId).sort(), [...seen].sort());

  await fails(kms.send(new ListKeysCommand({ Marker: 'not-a-marker!' })), 'InvalidMarkerException');
  await fails(kms.send(new ListKeysCommand({ Limit: 0 })), 'ValidationException');
});

test('UpdateKeyDescription', async () => {
  const k = await newKey('old description');
  await kms.send(new UpdateKeyDescriptionCommand({ KeyId: k.Arn, Description: 'new description' }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!.Description, 'new description');
  await fails(kms.send(new UpdateKeyDescriptionCommand({ KeyId: randomUUID(), Description: 'x' })), 'NotFoundException');
});

test('DisableKey / EnableKey: a disabled key refuses Encrypt, Decrypt and GenerateDataKey with DisabledException', async () => {
  const k = await newKey('toggle');
  const blob = await encrypt(k.KeyId!, Buffer.from('before disabling'));
  await kms.send(new DisableKeyCommand({ KeyId: k.KeyId }));
  const m = (await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!;
  assert.equal(m.KeyState, 'Disabled');
  assert.equal(m.Enabled, false);
  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') })), 'DisabledException');
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'DisabledException');
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256' })), 'DisabledException');
  // DisableKey on a disabled key is allowed.
  await kms.send(new DisableKeyCommand({ KeyId: k.KeyId }));
  await kms.send(new EnableKeyCommand({ KeyId: k.Arn }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
  assert.equal((await decrypt(blob)).toString(), 'before disabling');
  await fails(kms.send(new EnableKeyCommand({ KeyId: randomUUID() })), 'NotFoundException');
});

test('ScheduleKeyDeletion (7..30 days, default 30) and CancelKeyDeletion', async () => {
  const k = await newKey('to delete');
  const blob = await encrypt(k.KeyId!, Buffer.from('secret'));
  await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 6 })), 'ValidationException');
  await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 31 })), 'ValidationException');
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!.KeyState, 'Enabled', 'a refused request changes nothing');

  const r = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId }));
  assert.equal(r.KeyId, k.Arn);
  assert.equal(r.KeyState, 'PendingDeletion');
  assert.equal(r.PendingWindowInDays, 30);
  near(r.DeletionDate, Date.now() + 30 * DAY_MS, 120_000, 'DeletionDate');

  const m = (await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!;
  assert.equal(m.KeyState, 'PendingDeletion');
  assert.equal(m.Enabled, false);
  assert.equal(m.DeletionDate?.getTime(), r.DeletionDate!.getTime());
  assert.equal(m.PendingDeletionWindowInDays, 30);

  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException');
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'KMSInvalidStateException');
  await fails(kms.send(new EnableKeyCommand({ KeyId: k.KeyId })), 'KMSInvalidStateException');
  await fails(kms.send(new DisableKeyCommand({ KeyId: k.KeyId })), 'KMSInvalidStateException');
  await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId })), 'KMSInvalidStateException');
  await fails(kms.send(new CreateAliasCommand({ AliasName: aliasName('pending'), TargetKeyId: k.KeyId })), 'KMSInvalidStateException');

  const c = await kms.send(new CancelKeyDeletionCommand({ KeyId: k.Arn }));
  assert.equal(c.KeyId, k.Arn);
  const after = (await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!;
  assert.equal(after.KeyState, 'Disabled', 'a key whose deletion is cancelled is Disabled');
  assert.equal(after.DeletionDate, undefined);
  assert.equal(after.PendingDeletionWindowInDays, undefined);
  await kms.send(new EnableKeyCommand({ KeyId: k.KeyId }));
  assert.equal((await decrypt(blob)).toString(), 'secret', 'the key material survived');
  await fails(kms.send(new CancelKeyDeletionCommand({ KeyId: k.KeyId })), 'KMSInvalidStateException');

  // A 7-day window is accepted.
  const seven = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 7 }));
  near(seven.DeletionDate, Date.now() + 7 * DAY_MS, 120_000, 'DeletionDate (7 days)');
  await kms.send(new CancelKeyDeletionCommand({ KeyId: k.KeyId }));
  await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: randomUUID() })), 'NotFoundException');
});

test('CancelKeyDeletion on a Disabled key is KMSInvalidStateException ("is not pending deletion"), as on an Enabled key', async () => {
  const k = await newKey('disabled, not pending deletion');
  await kms.send(new DisableKeyCommand({ KeyId: k.KeyId }));
  await fails(kms.send(new CancelKeyDeletionCommand({ KeyId: k.KeyId })), 'KMSInvalidStateException');
});

test('a key pending deletion can still be described and its alias deleted (DeleteAlias is allowed in every key state)', async () => {
  const k = await newKey('pending deletion, still manageable');
  const alias = aliasName('pending-delete');
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: k.KeyId }));
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 7 }));
  try {
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!.KeyState, 'PendingDeletion');
    await kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId }));
    await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }));
    await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }));
    assert.deepEqual((await kms.send(new ListAliasesCommand({ KeyId: k.KeyId }))).Aliases!.map((a) => a.AliasName), [alias]);
    // The key-state table lists DeleteAlias as allowed in every key state.
    await kms.send(new DeleteAliasCommand({ AliasName: alias }));
    assert.deepEqual((await kms.send(new ListAliasesCommand({ KeyId: k.KeyId }))).Aliases, []);
  } finally {
    await kms.send(new CancelKeyDeletionCommand({ KeyId: k.KeyId }));
  }
});

test('PutKeyPolicy is allowed on a key pending deletion (key-state table)', async () => {
  const k = await newKey('pending deletion, new policy');
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 7 }));
  try {
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountOf(k.Arn!)}:root` }, Action: 'kms:*', Resource: '*' }] });
    await kms.send(new PutKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default', Policy: policy }));
    assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId }))).Policy, policy);
  } finally {
    await kms.send(new CancelKeyDeletionCommand({ KeyId: k.KeyId }));
  }
});

test('CreateAlias, UpdateAlias, DeleteAlias and their errors', async () => {
  const a = await newKey('alias target a');
  const b = await newKey('alias target b');
  const alias = aliasName('main');
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: a.KeyId }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!.KeyId, a.KeyId);

  // A second alias by key ARN; the same name again is AlreadyExistsException, whichever key.
  const second = aliasName('second');
  await kms.send(new CreateAliasCommand({ AliasName: second, TargetKeyId: a.Arn }));
  await fails(kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: a.KeyId })), 'AlreadyExistsException');
  await fails(kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: b.KeyId })), 'AlreadyExistsException');
  await fails(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/x', TargetKeyId: a.KeyId })), 'InvalidAliasNameException');
  await fails(kms.send(new CreateAliasCommand({ AliasName: 'alias/has space', TargetKeyId: a.KeyId })), 'ValidationException');
  await fails(kms.send(new CreateAliasCommand({ AliasName: 'no-prefix', TargetKeyId: a.KeyId })), 'ValidationException');
  await fails(kms.send(new CreateAliasCommand({ AliasName: aliasName('nokey'), TargetKeyId: randomUUID() })), 'NotFoundException');

  // UpdateAlias points it at another key; Encrypt through the alias then uses that key.
  await kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: b.KeyId }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!.KeyId, b.KeyId);
  const enc = await kms.send(new EncryptCommand({ KeyId: alias, Plaintext: Buffer.from('via alias') }));
  assert.equal(enc.KeyId, b.Arn);
  await fails(kms.send(new UpdateAliasCommand({ AliasName: aliasName('missing'), TargetKeyId: b.KeyId })), 'NotFoundException');
  await fails(kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: randomUUID() })), 'NotFoundException');

  await kms.send(new DeleteAliasCommand({ AliasName: alias }));
  await fails(kms.send(new DescribeKeyCommand({ KeyId: alias })), 'NotFoundException');
  await fails(kms.send(new DeleteAliasCommand({ AliasName: alias })), 'NotFoundException');
  // The key itself is untouched, and the alias name can be used again.
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: b.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: a.KeyId }));
});

test('ListAliases: all and by KeyId, with pagination', async () => {
  const k = await newKey('many aliases');
  const other = await newKey('one alias');
  const mine = [aliasName('list-a'), aliasName('list-b'), aliasName('list-c')].sort();
  for (const name of mine) await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: k.KeyId }));
  const theirs = aliasName('list-other');
  await kms.send(new CreateAliasCommand({ AliasName: theirs, TargetKeyId: other.KeyId }));

  const collect = async (keyId: string | undefined, limit: number): Promise<AliasListEntry[]> => {
    const out: AliasListEntry[] = [];
    let marker: string | undefined;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 1000);
      const r = await kms.send(new ListAliasesCommand({ KeyId: keyId, Limit: limit, Marker: marker }));
      assert.ok(r.Aliases!.length <= limit);
      out.push(...r.Aliases!);
      if (!r.Truncated) break;
      assert.ok(r.NextMarker);
      marker = r.NextMarker;
    }
    return out;
  };

  const byKey = await collect(k.KeyId, 1);
  assert.deepEqual(byKey.map((a) => a.AliasName).sort(), mine);
  for (const a of byKey) {
    assert.equal(a.TargetKeyId, k.KeyId);
    assert.equal(a.AliasArn, `arn:aws:kms:${t.region}:${accountOf(k.Arn!)}:${a.AliasName}`);
    assert.ok(a.CreationDate instanceof Date);
    assert.ok(a.LastUpdatedDate instanceof Date);
  }
  assert.deepEqual((await collect(k.Arn, 2)).map((a) => a.AliasName).sort(), mine, 'KeyId may be the key ARN');

  const all = await collect(undefined, 2);
  const names = all.map((a) => a.AliasName!);
  assert.equal(new Set(names).size, names.length, 'no alias is listed twice');
  for (const n of [...mine, theirs]) assert.ok(names.includes(n), `${n} is listed`);
  assert.equal(all.find((a) => a.AliasName === theirs)!.TargetKeyId, other.KeyId);

  await fails(kms.send(new ListAliasesCommand({ KeyId: randomUUID() })), 'NotFoundException');
  await fails(kms.send(new ListAliasesCommand({ Marker: '%%%' })), 'InvalidMarkerException');
});

test('Encrypt/Decrypt with an encryption context: pair order may differ, nothing else may', async () => {
  const k = await newKey('context');
  const plaintext = Buffer.from('attack at dawn');
  const ctx = { Purpose: 'test', Department: '10', 'ünïcode': 'välue' };
  const enc = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext, EncryptionContext: ctx }));
  assert.equal(enc.KeyId, k.Arn, 'Encrypt returns the key ARN');
  assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  const blob = enc.CiphertextBlob!;
  assert.ok(!Buffer.from(blob).includes(plaintext), 'the plaintext does not appear in the ciphertext');

  const reordered = { 'ünïcode': 'välue', Department: '10', Purpose: 'test' };
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: reordered }));
  assert.deepEqual(bytes(dec.Plaintext), plaintext);
  assert.equal(dec.KeyId, k.Arn, 'Decrypt returns the key ARN');
  assert.equal(dec.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');

  const wrong: Array<[string, Record<string, string> | undefined]> = [
    ['no context', undefined],
    ['empty context', {}],
    ['a wrong value', { ...ctx, Department: '11' }],
    ['a missing pair', { Purpose: 'test', Department: '10' }],
    ['an extra pair', { ...ctx, Extra: 'x' }],
    ['a key in another case', { purpose: 'test', Department: '10', 'ünïcode': 'välue' }],
    ['a value in another case', { ...ctx, Purpose: 'Test' }],
    ['a key and value swapped', { test: 'Purpose', Department: '10', 'ünïcode': 'välue' }],
  ];
  for (const [what, c] of wrong) {
    const err = await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: c })), 'InvalidCiphertextException');
    assert.ok(err, what);
  }

  // Encrypted without a context, decrypting with one fails too.
  const bare = await encrypt(k.KeyId!, plaintext);
  assert.deepEqual(await decrypt(bare), plaintext);
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: bare, EncryptionContext: { Purpose: 'test' } })), 'InvalidCiphertextException');
  // Two encryptions of the same plaintext differ.
  assert.notDeepEqual(Buffer.from(bare), Buffer.from(await encrypt(k.KeyId!, plaintext)));
});

test('plaintext up to 4096 bytes; 4097 is ValidationException', async () => {
  const k = await newKey('sizes');
  const big = randomBytes(4096);
  const blob = await encrypt(k.KeyId!, big);
  assert.deepEqual(await decrypt(blob), big);
  assert.deepEqual(await decrypt(await encrypt(k.KeyId!, Buffer.from([0]))), Buffer.from([0]));
  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: randomBytes(4097) })), 'ValidationException');
  await fails(kms.send(new EncryptCommand({ KeyId: randomUUID(), Plaintext: Buffer.from('x') })), 'NotFoundException');
});

test('Decrypt of a truncated ciphertext, or one with any byte flipped, is InvalidCiphertextException', async () => {
  const k = await newKey('tamper');
  const ctx = { a: 'b' };
  const blob = Buffer.from(await encrypt(k.KeyId!, Buffer.from('sixteen bytes!!!'), ctx));
  assert.deepEqual(await decrypt(blob, ctx), Buffer.from('sixteen bytes!!!'));

  for (const len of [1, 2, 20, 60, blob.length >> 1, blob.length - 16, blob.length - 1]) {
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob.subarray(0, len), EncryptionContext: ctx })), 'InvalidCiphertextException');
  }
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.concat([blob, Buffer.from([0])]), EncryptionContext: ctx })), 'InvalidCiphertextException');

  // Every single position, flipped, in batches of 16 parallel requests.
  const positions = [...blob.keys()];
  for (let i = 0; i < positions.length; i += 16) {
    await Promise.all(
      positions.slice(i, i + 16).map(async (pos) => {
        const bad = Buffer.from(blob);
        bad[pos] = bad[pos]! ^ 0x01;
        const err = await kms.send(new DecryptCommand({ CiphertextBlob: bad, EncryptionContext: ctx })).then(
          () => undefined,
          (e: SdkError) => e,
        );
        assert.ok(err, `a flipped byte at offset ${pos} must not decrypt`);
        assert.equal(err.name, 'InvalidCiphertextException', `offset ${pos}: ${err.name} ${err.message}`);
        assert.equal(err.$metadata?.httpStatusCode, 400);
      }),
    );
  }
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: randomBytes(200) })), 'InvalidCiphertextException');
});

test('Decrypt with an explicit KeyId: another key is IncorrectKeyException, the right key by any name works', async () => {
  const k = await newKey('right key');
  const other = await newKey('wrong key');
  const alias = aliasName('right');
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: k.KeyId }));
  const blob = await encrypt(k.KeyId!, Buffer.from('which key?'));
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: other.KeyId })), 'IncorrectKeyException');
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: other.Arn })), 'IncorrectKeyException');
  for (const id of [k.KeyId!, k.Arn!, alias, `arn:aws:kms:${t.region}:${accountOf(k.Arn!)}:${alias}`]) {
    const r = await kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: id }));
    assert.equal(Buffer.from(r.Plaintext!).toString(), 'which key?', id);
    assert.equal(r.KeyId, k.Arn);
  }
  // Encrypt, Decrypt and GenerateDataKey called with an alias all answer with the key ARN.
  assert.equal((await kms.send(new EncryptCommand({ KeyId: alias, Plaintext: Buffer.from('x') }))).KeyId, k.Arn);
  assert.equal((await kms.send(new GenerateDataKeyCommand({ KeyId: alias, KeySpec: 'AES_256' }))).KeyId, k.Arn);
});

test('ReEncrypt to another key, with a new context', async () => {
  const src = await newKey('re-encrypt source');
  const dst = await newKey('re-encrypt destination');
  const dstAlias = aliasName('re-dst');
  await kms.send(new CreateAliasCommand({ AliasName: dstAlias, TargetKeyId: dst.KeyId }));
  const blob = await encrypt(src.KeyId!, Buffer.from('moving'), { stage: 'one' });

  const r = await kms.send(
    new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { stage: 'one' }, DestinationKeyId: dstAlias, DestinationEncryptionContext: { stage: 'two' } }),
  );
  assert.equal(r.SourceKeyId, src.Arn);
  assert.equal(r.KeyId, dst.Arn);
  assert.equal(r.SourceEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  assert.equal(r.DestinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  const moved = r.CiphertextBlob!;
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: moved, EncryptionContext: { stage: 'two' }, KeyId: dst.KeyId }));
  assert.equal(Buffer.from(dec.Plaintext!).toString(), 'moving');
  assert.equal(dec.KeyId, dst.Arn);
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: moved, EncryptionContext: { stage: 'one' } })), 'InvalidCiphertextException');
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: moved, EncryptionContext: { stage: 'two' }, KeyId: src.KeyId })), 'IncorrectKeyException');

  await fails(
    kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { stage: 'wrong' }, DestinationKeyId: dst.KeyId })),
    'InvalidCiphertextException',
  );
  await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: dst.KeyId })), 'InvalidCiphertextException');
  await fails(
    kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { stage: 'one' }, SourceKeyId: dst.KeyId, DestinationKeyId: dst.KeyId })),
    'IncorrectKeyException',
  );
  await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { stage: 'one' }, DestinationKeyId: randomUUID() })), 'NotFoundException');
});

test('GenerateDataKey: AES_256, AES_128, NumberOfBytes; both or neither is ValidationException', async () => {
  const k = await newKey('data keys');
  const ctx = { bucket: 'photos' };
  const r = await kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', EncryptionContext: ctx }));
  assert.equal(r.KeyId, k.Arn);
  assert.equal(bytes(r.Plaintext).length, 32);
  assert.deepEqual(await decrypt(r.CiphertextBlob!, ctx), bytes(r.Plaintext));
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob })), 'InvalidCiphertextException');

  const r128 = await kms.send(new GenerateDataKeyCommand({ KeyId: k.Arn, KeySpec: 'AES_128' }));
  assert.equal(bytes(r128.Plaintext).length, 16);
  assert.deepEqual(await decrypt(r128.CiphertextBlob!), bytes(r128.Plaintext));

  const r64 = await kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, NumberOfBytes: 64 }));
  assert.equal(bytes(r64.Plaintext).length, 64);
  assert.deepEqual(await decrypt(r64.CiphertextBlob!), bytes(r64.Plaintext));
  assert.notDeepEqual(bytes(r.Plaintext), bytes((await kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256' }))).Plaintext));

  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', NumberOfBytes: 32 })), 'ValidationException');
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId })), 'ValidationException');
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, NumberOfBytes: 1025 })), 'ValidationException');
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: randomUUID(), KeySpec: 'AES_256' })), 'NotFoundException');
});

test('GenerateDataKeyWithoutPlaintext returns no Plaintext; its CiphertextBlob decrypts to 32 bytes', async () => {
  const k = await newKey('data keys without plaintext');
  const r = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', EncryptionContext: { x: 'y' } }));
  assert.equal(r.KeyId, k.Arn);
  assert.equal((r as { Plaintext?: unknown }).Plaintext, undefined);
  assert.equal((await decrypt(r.CiphertextBlob!, { x: 'y' })).length, 32);
  await fails(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k.KeyId })), 'ValidationException');
});

test('GenerateRandom: 1 and 1024 bytes; 0 and 1025 are ValidationException; two calls differ', async () => {
  assert.equal(bytes((await kms.send(new GenerateRandomCommand({ NumberOfBytes: 1 }))).Plaintext).length, 1);
  const a = bytes((await kms.send(new GenerateRandomCommand({ NumberOfBytes: 1024 }))).Plaintext);
  const b = bytes((await kms.send(new GenerateRandomCommand({ NumberOfBytes: 1024 }))).Plaintext);
  assert.equal(a.length, 1024);
  assert.equal(b.length, 1024);
  assert.notDeepEqual(a, b);
  await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })), 'ValidationException');
  await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 0 })), 'ValidationException');
});

test('DryRun on Encrypt, Decrypt and GenerateDataKey is DryRunOperationException (HTTP 400, as in the KMS service model)', async () => {
  const k = await newKey('dry run');
  const blob = await encrypt(k.KeyId!, Buffer.from('dry'));
  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x'), DryRun: true })), 'DryRunOperationException', 400);
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, DryRun: true })), 'DryRunOperationException', 400);
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', DryRun: true })), 'DryRunOperationException', 400);
  // A dry run still reports what would have failed.
  await kms.send(new DisableKeyCommand({ KeyId: k.KeyId }));
  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x'), DryRun: true })), 'DisabledException');
  await kms.send(new EnableKeyCommand({ KeyId: k.KeyId }));
});

test('EnableKeyRotation (90..2560 days), GetKeyRotationStatus, DisableKeyRotation', async () => {
  const k = await newKey('rotation');
  const initial = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }));
  assert.equal(initial.KeyRotationEnabled, false);

  await fails(kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId, RotationPeriodInDays: 89 })), 'ValidationException');
  await fails(kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId, RotationPeriodInDays: 2561 })), 'ValidationException');
  await kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId, RotationPeriodInDays: 90 }));
  const s = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.Arn }));
  assert.equal(s.KeyRotationEnabled, true);
  assert.equal(s.RotationPeriodInDays, 90);
  assert.equal(s.KeyId, k.Arn);
  near(s.NextRotationDate, Date.now() + 90 * DAY_MS, 120_000, 'NextRotationDate');

  await kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId }));
  const def = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }));
  assert.equal(def.RotationPeriodInDays, 365, 'the default period is 365 days');

  await kms.send(new DisableKeyRotationCommand({ KeyId: k.KeyId }));
  const off = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }));
  assert.equal(off.KeyRotationEnabled, false);
  assert.equal(off.NextRotationDate, undefined);
  await fails(kms.send(new GetKeyRotationStatusCommand({ KeyId: randomUUID() })), 'NotFoundException');
  await fails(kms.send(new EnableKeyRotationCommand({ KeyId: randomUUID() })), 'NotFoundException');
});

test('RotateKeyOnDemand: old and new ciphertexts decrypt, ListKeyRotations lists ON_DEMAND; the 26th rotation is LimitExceededException', async () => {
  const k = await newKey('on demand');
  const versionOf = (blob: Uint8Array) => Buffer.from(blob).readUInt32BE(38); // docs/formats.md: after the 36-byte key id
  const before = await encrypt(k.KeyId!, Buffer.from('version one'), { v: '1' });
  assert.equal(versionOf(before), 1);
  assert.deepEqual((await kms.send(new ListKeyRotationsCommand({ KeyId: k.KeyId }))).Rotations, []);

  const t0 = Date.now();
  const r = await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
  assert.equal(r.KeyId, k.Arn);
  const afterBlob = await encrypt(k.KeyId!, Buffer.from('version two'), { v: '2' });
  assert.equal(versionOf(afterBlob), 2, 'new ciphertexts use the new key material');
  assert.equal((await decrypt(before, { v: '1' })).toString(), 'version one');
  assert.equal((await decrypt(afterBlob, { v: '2' })).toString(), 'version two');

  const listed = await kms.send(new ListKeyRotationsCommand({ KeyId: k.KeyId }));
  assert.equal(listed.Rotations!.length, 1);
  assert.equal(listed.Rotations![0]!.RotationType, 'ON_DEMAND');
  assert.equal(listed.Rotations![0]!.KeyId, k.Arn);
  near(listed.Rotations![0]!.RotationDate, t0, 60_000, 'RotationDate');
  assert.equal(listed.Truncated, false);
  assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))).KeyRotationEnabled, false, 'on-demand rotation does not enable automatic rotation');

  for (let i = 2; i <= 25; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
  await fails(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId })), 'LimitExceededException');

  // All 25 rotations, paged 10 at a time.
  const rotations: string[] = [];
  let marker: string | undefined;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 10);
    const p = await kms.send(new ListKeyRotationsCommand({ KeyId: k.KeyId, Limit: 10, Marker: marker }));
    rotations.push(...p.Rotations!.map((x) => x.RotationType!));
    if (!p.Truncated) break;
    marker = p.NextMarker;
  }
  assert.deepEqual(rotations, Array(25).fill('ON_DEMAND'));

  const latest = await encrypt(k.KeyId!, Buffer.from('version 26'));
  assert.equal(versionOf(latest), 26);
  assert.equal((await decrypt(latest)).toString(), 'version 26');
  assert.equal((await decrypt(before, { v: '1' })).toString(), 'version one', 'the first material is kept');
  await fails(kms.send(new RotateKeyOnDemandCommand({ KeyId: randomUUID() })), 'NotFoundException');
});

test('TagResource, UntagResource, ListResourceTags; aws: tags are TagException', async () => {
  const k = await newKey('tags', { Tags: [{ TagKey: 'a', TagValue: '1' }] });
  await kms.send(
    new TagResourceCommand({
      KeyId: k.KeyId,
      Tags: [
        { TagKey: 'b', TagValue: '2' },
        { TagKey: 'c', TagValue: '' },
      ],
    }),
  );
  await kms.send(new TagResourceCommand({ KeyId: k.Arn, Tags: [{ TagKey: 'a', TagValue: 'one' }] }));
  const sorted = async () => [...((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags ?? [])].sort((x, y) => x.TagKey!.localeCompare(y.TagKey!));
  assert.deepEqual(await sorted(), [
    { TagKey: 'a', TagValue: 'one' },
    { TagKey: 'b', TagValue: '2' },
    { TagKey: 'c', TagValue: '' },
  ]);

  const page1 = await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId, Limit: 2 }));
  assert.equal(page1.Tags!.length, 2);
  assert.equal(page1.Truncated, true);
  const page2 = await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId, Limit: 2, Marker: page1.NextMarker }));
  assert.equal(page2.Tags!.length, 1);
  assert.equal(page2.Truncated, false);
  assert.deepEqual([...page1.Tags!, ...page2.Tags!].map((x) => x.TagKey).sort(), ['a', 'b', 'c']);

  await kms.send(new UntagResourceCommand({ KeyId: k.KeyId, TagKeys: ['a', 'c'] }));
  assert.deepEqual(await sorted(), [{ TagKey: 'b', TagValue: '2' }]);

  await fails(kms.send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'aws:owner', TagValue: 'me' }] })), 'TagException');
  assert.deepEqual(await sorted(), [{ TagKey: 'b', TagValue: '2' }], 'a refused TagResource adds nothing');
  await fails(kms.send(new TagResourceCommand({ KeyId: randomUUID(), Tags: [{ TagKey: 'x', TagValue: 'y' }] })), 'NotFoundException');
  await fails(kms.send(new ListResourceTagsCommand({ KeyId: randomUUID() })), 'NotFoundException');
});

test('GetKeyPolicy, PutKeyPolicy, ListKeyPolicies', async () => {
  const k = await newKey('policies');
  const account = accountOf(k.Arn!);
  const got = await kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId }));
  assert.equal(got.PolicyName, 'default');
  const doc = JSON.parse(got.Policy!) as { Version: string; Statement: Array<{ Effect: string; Principal: { AWS: string }; Action: string | string[] }> };
  assert.equal(doc.Version, '2012-10-17');
  assert.ok(
    doc.Statement.some((s) => s.Effect === 'Allow' && s.Principal.AWS === `arn:aws:iam::${account}:root` && s.Action === 'kms:*'),
    'the default policy gives the account root kms:*',
  );

  const policy = JSON.stringify({
    Version: '2012-10-17',
    Id: 'custom',
    Statement: [
      { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'use', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:user/admin` }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' },
    ],
  });
  await kms.send(new PutKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default', Policy: policy }));
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: k.Arn, PolicyName: 'default' }))).Policy, policy);
  await kms.send(new PutKeyPolicyCommand({ KeyId: k.KeyId, Policy: got.Policy! }));
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId }))).Policy, got.Policy, 'PolicyName defaults to default');

  await fails(kms.send(new PutKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default', Policy: 'not json' })), 'MalformedPolicyDocumentException');
  await fails(kms.send(new PutKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default', Policy: '{"Version":"2012-10-17","Statement":[]}' })), 'MalformedPolicyDocumentException');
  await fails(kms.send(new PutKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'other', Policy: policy })), 'NotFoundException');
  await fails(kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'other' })), 'NotFoundException');
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId }))).Policy, got.Policy, 'refused puts change nothing');

  const names = await kms.send(new ListKeyPoliciesCommand({ KeyId: k.KeyId }));
  assert.deepEqual(names.PolicyNames, ['default']);
  assert.equal(names.Truncated, false);
  await fails(kms.send(new GetKeyPolicyCommand({ KeyId: randomUUID() })), 'NotFoundException');
  await fails(kms.send(new ListKeyPoliciesCommand({ KeyId: randomUUID() })), 'NotFoundException');
});

test('GetKeyLastUsage: nothing before use; Operation Encrypt and a Timestamp after an Encrypt', async () => {
  const k = await newKey('last usage');
  const fresh = await kms.send(new GetKeyLastUsageCommand({ KeyId: k.KeyId }));
  assert.equal(fresh.KeyId, k.Arn);
  assert.equal(fresh.KeyLastUsage?.Operation, undefined);
  assert.equal(fresh.KeyCreationDate?.getTime(), k.CreationDate!.getTime());
  assert.ok(fresh.TrackingStartDate instanceof Date);

  const t0 = Date.now();
  await encrypt(k.KeyId!, Buffer.from('used'));
  const used = await kms.send(new GetKeyLastUsageCommand({ KeyId: k.KeyId }));
  assert.equal(used.KeyLastUsage?.Operation, 'Encrypt');
  near(used.KeyLastUsage?.Timestamp, t0, 60_000, 'Timestamp');
  await fails(kms.send(new GetKeyLastUsageCommand({ KeyId: randomUUID() })), 'NotFoundException');
});

test('20 concurrent CreateAlias calls with one name: exactly one succeeds, the others are AlreadyExistsException', async () => {
  const targets = [await newKey('race 1'), await newKey('race 2')];
  const name = aliasName('race');
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: targets[i % 2]!.KeyId }))));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(ok.length, 1, `exactly one winner: ${refused.map((r) => (r.reason as SdkError).name).join(', ')}`);
  for (const r of refused) {
    const err = r.reason as SdkError;
    assert.equal(err.name, 'AlreadyExistsException', err.message);
    assert.equal(err.$metadata?.httpStatusCode, 400);
  }
  const aliases = (await kms.send(new ListAliasesCommand({}))).Aliases!.filter((a) => a.AliasName === name);
  assert.equal(aliases.length, 1);
  assert.ok(targets.some((k) => k.KeyId === aliases[0]!.TargetKeyId));
});
