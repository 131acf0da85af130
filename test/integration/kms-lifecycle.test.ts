import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import {
  KMSClient,
  CreateKeyCommand,
  CreateAliasCommand,
  EncryptCommand,
  DecryptCommand,
  EnableKeyRotationCommand,
  RotateKeyOnDemandCommand,
  ListKeyRotationsCommand,
  GetKeyRotationStatusCommand,
  ScheduleKeyDeletionCommand,
  DescribeKeyCommand,
  ListAliasesCommand,
} from '@aws-sdk/client-kms';
import { DISTRIBUTED, startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';

/** Stop the server, change its database as time passing would, start it again on the same data directory. */
async function timePasses(t: RunningTrent, sql: string, params: Array<string | number>): Promise<RunningTrent> {
  assert.equal(await t.stop(), 0);
  const db = await t.openDb();
  try {
    const r = await db.run(sql, params);
    assert.equal(r.changes, 1);
  } finally {
    await db.close();
  }
  return startTrent({ dataDir: t.dataDir });
}

const context = { tenant: 'library', purpose: 'member-photo' };

test('automatic and on-demand rotation: ciphertexts from before still decrypt, new ones use the new version', async () => {
  let t = await startTrent();
  try {
    let kms = new KMSClient(t.clientConfig());
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'rotation test' }));
    const keyId = KeyMetadata!.KeyId!;
    const before = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('v1 secret'), EncryptionContext: context }));
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }));
    const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.equal(status.KeyRotationEnabled, true);
    assert.ok(Math.abs(status.NextRotationDate!.getTime() - (Date.now() + 90 * 86400_000)) < 60_000);

    // 90 days pass while the server is down: the rotation is caught up at start-up.
    t = await timePasses(t, 'UPDATE kms_keys SET next_rotation_at = ? WHERE key_id = ?', [Date.now() - 1000, keyId]);
    kms = new KMSClient(t.clientConfig());
    const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    assert.deepEqual(rotations.Rotations!.map((r) => r.RotationType), ['AUTOMATIC']);
    const next = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.ok(next.NextRotationDate!.getTime() > Date.now() + 89 * 86400_000, 'the next rotation is a full period away');

    const afterAuto = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('v2 secret'), EncryptionContext: context }));
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const afterOnDemand = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('v3 secret'), EncryptionContext: context }));
    // The blob names its backing-key version (format in docs/formats.md): 1, 2, 3.
    const versionOf = (b: Uint8Array) => Buffer.from(b).readUInt32BE(2 + 36);
    assert.deepEqual([versionOf(before.CiphertextBlob!), versionOf(afterAuto.CiphertextBlob!), versionOf(afterOnDemand.CiphertextBlob!)], [1, 2, 3]);
    for (const [blob, text] of [
      [before.CiphertextBlob!, 'v1 secret'],
      [afterAuto.CiphertextBlob!, 'v2 secret'],
      [afterOnDemand.CiphertextBlob!, 'v3 secret'],
    ] as const) {
      const out = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }));
      assert.equal(Buffer.from(out.Plaintext!).toString(), text);
    }
    const all = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    assert.deepEqual(all.Rotations!.map((r) => r.RotationType), ['AUTOMATIC', 'ON_DEMAND']);
  } finally {
    await t.stop();
    await removeDir(t.dataDir);
  }
});

test('after the deletion window passes, the key is gone and its ciphertexts never decrypt again, even after restart', async () => {
  let t = await startTrent();
  try {
    let kms = new KMSClient(t.clientConfig());
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: keyId }));
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const ct = await kms.send(new EncryptCommand({ KeyId: 'alias/doomed', Plaintext: Buffer.from('gone soon'), EncryptionContext: context }));
    const scheduled = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    assert.equal(scheduled.KeyState, 'PendingDeletion');
    const pending = await kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob, EncryptionContext: context })).catch((e) => e);
    assert.equal(pending.name, 'KMSInvalidStateException');

    // Seven days pass.
    t = await timePasses(t, 'UPDATE kms_keys SET deletion_at = ? WHERE key_id = ?', [Date.now() - 1000, keyId]);
    kms = new KMSClient(t.clientConfig());
    const gone = await kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob, EncryptionContext: context })).catch((e) => e);
    assert.equal(gone.name, 'InvalidCiphertextException');
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId })).catch((e) => e)).name, 'NotFoundException');
    const aliases = await kms.send(new ListAliasesCommand({}));
    assert.ok(!aliases.Aliases!.some((a) => a.AliasName === 'alias/doomed'));

    // The wrapped material is gone from the database files, not merely unreferenced.
    await t.stop();
    const db = await t.openDb();
    const rows = await db.all('SELECT * FROM kms_key_versions WHERE key_id = ?', [keyId]);
    await db.close();
    assert.equal(rows.length, 0);
    if (!DISTRIBUTED) {
      // SQLite's secure_delete overwrites the pages; PostgreSQL keeps dead row versions until VACUUM (docs/cluster.md).
      const file = await readFile(join(t.dataDir, 'trent.db'));
      assert.ok(!file.includes(Buffer.from(keyId)), 'no trace of the key id remains in the database file');
    }

    t = await startTrent({ dataDir: t.dataDir });
    kms = new KMSClient(t.clientConfig());
    const stillGone = await kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob, EncryptionContext: context })).catch((e) => e);
    assert.equal(stillGone.name, 'InvalidCiphertextException');
  } finally {
    await t.stop();
    await removeDir(t.dataDir);
  }
});
