// Key material ids and the migration that brought them (migration 15): keys made before it keep working, get
// their ids from their material, and imported material from before it is recognised when imported again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { migrations } from '../../src/store/migrations.ts';
import { KeyFileRoot } from '../../src/root/keyfile.ts';
import { keyMaterialId, KeyStore, materialAad } from '../../src/kms/keys.ts';
import { tempDir, removeDir } from '../helpers/trent.ts';

const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';

test('keyMaterialId: 64 lowercase hex characters, the same for the same key and material, different otherwise', () => {
  const material = randomBytes(32);
  const arn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${randomUUID()}`;
  const id = keyMaterialId(arn, material);
  assert.match(id, /^[a-f0-9]{64}$/);
  assert.equal(keyMaterialId(arn, Buffer.from(material)), id);
  assert.notEqual(keyMaterialId(arn, randomBytes(32)), id, 'other material');
  assert.notEqual(keyMaterialId(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${randomUUID()}`, material), id, 'another key');
  assert.ok(!id.includes(material.toString('hex').slice(0, 16)), 'the id does not carry the material');
});

test('migration 15 on a database from before key material ids: versions get their ids from their material, legacy imported material is recognised on re-import', async () => {
  const dir = await tempDir();
  const db = SqliteDatabase.open(join(dir, 'db'));
  try {
    await db.migrate(migrations.filter((m) => m.id < 15));
    const root = await KeyFileRoot.create(join(dir, 'root.key'));
    const now = Date.now();
    const insertKey = async (keyId: string, origin: string, state: string, current: number, extra: { validTo?: number; model?: string; fingerprint?: Buffer } = {}) => {
      const arn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
      await db.run(
        `INSERT INTO kms_keys (key_id, account_id, region, arn, description, key_state, key_usage, key_spec, origin, key_manager, policy, created_at, current_version, valid_to, expiration_model, import_fingerprint_wrapped)
         VALUES (?, ?, ?, ?, '', ?, 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', ?, 'CUSTOMER', '{}', ?, ?, ?, ?, ?)`,
        [keyId, ACCOUNT, REGION, arn, state, origin, now, current, extra.validTo ?? null, extra.model ?? null, extra.fingerprint ?? null],
      );
      return arn;
    };
    const insertVersion = async (keyId: string, arn: string, version: number, material: Buffer, rotation: string | null) => {
      await db.run('INSERT INTO kms_key_versions (key_id, version, material_wrapped, created_at, rotation_type) VALUES (?, ?, ?, ?, ?)', [
        keyId,
        version,
        await root.wrap(material, materialAad(arn, version)),
        now + version,
        rotation,
      ]);
    };
    const fingerprint = async (arn: string, material: Buffer) => root.wrap(createHash('sha256').update(material).digest(), Buffer.from(`trent:kms:import-fingerprint:${arn}`));

    // A generated key rotated once.
    const native = randomUUID();
    const nativeArn = await insertKey(native, 'AWS_KMS', 'Enabled', 2);
    const n1 = randomBytes(32);
    const n2 = randomBytes(32);
    await insertVersion(native, nativeArn, 1, n1, null);
    await insertVersion(native, nativeArn, 2, n2, 'ON_DEMAND');
    // An imported key with its material and an expiry.
    const present = randomUUID();
    const p1 = randomBytes(32);
    const validTo = now + 30 * 86_400_000;
    const presentArn = await insertKey(present, 'EXTERNAL', 'Enabled', 1, { validTo, model: 'KEY_MATERIAL_EXPIRES' });
    await db.run('UPDATE kms_keys SET import_fingerprint_wrapped = ? WHERE key_id = ?', [await fingerprint(presentArn, p1), present]);
    await insertVersion(present, presentArn, 1, p1, null);
    // An imported key whose material was deleted before the migration: only its fingerprint remains.
    const deleted = randomUUID();
    const d1 = randomBytes(32);
    const deletedArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${deleted}`;
    await insertKey(deleted, 'EXTERNAL', 'PendingImport', 0, { fingerprint: await fingerprint(deletedArn, d1) });

    assert.equal(await db.migrate(migrations), migrations.filter((m) => m.id >= 15).length, 'the later migrations apply');
    const keys = new KeyStore(db, root, ACCOUNT, REGION);

    // Before the ids are filled: no CurrentKeyMaterialId, but decryption works and reports the id from the material.
    const nativeKey = (await keys.get(native))!;
    assert.equal(nativeKey.currentKeyMaterialId, null);
    assert.equal((await keys.material(nativeKey, 1))!.id, keyMaterialId(nativeArn, n1), 'a legacy version reports the id its material gives');
    const rotations = await keys.materials(native);
    assert.deepEqual(
      rotations.map((m) => [m.version, m.rotationType, m.rotatedAt]),
      [
        [1, null, null],
        [2, 'ON_DEMAND', now + 2],
      ],
      'rotation dates carry over',
    );
    assert.equal(await keys.fillMaterialIds(), 3, 'three versions get ids');
    assert.equal(await keys.fillMaterialIds(), 0, 'and then none is left');
    assert.equal((await keys.get(native))!.currentKeyMaterialId, keyMaterialId(nativeArn, n2));
    assert.deepEqual((await keys.materials(native)).map((m) => m.keyMaterialId), [keyMaterialId(nativeArn, n1), keyMaterialId(nativeArn, n2)]);

    // The imported key's expiry moved onto its material.
    const presentMaterials = await keys.materials(present);
    assert.equal(presentMaterials[0]!.validTo, validTo);
    assert.equal(presentMaterials[0]!.expirationModel, 'KEY_MATERIAL_EXPIRES');
    // Its material imported again is recognised.
    const presentKey = (await keys.get(present))!;
    const again = await db.transaction((tx) => keys.importMaterial(tx, presentKey, p1, { validTo: null, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', now }));
    assert.equal(again.keyMaterialId, keyMaterialId(presentArn, p1));
    assert.equal(again.pending, false);
    assert.equal((await keys.get(present))!.validTo, null, 'the new expiry replaces the old');

    // The key whose material was deleted: other material is refused, its own comes back as version 1.
    const deletedKey = (await keys.get(deleted))!;
    await assert.rejects(
      db.transaction((tx) => keys.importMaterial(tx, deletedKey, randomBytes(32), { validTo: null, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', now })),
      (err: Error) => err.name === 'IncorrectKeyMaterialException' || (err as { code?: string }).code === 'IncorrectKeyMaterialException',
    );
    const restored = await db.transaction((tx) => keys.importMaterial(tx, deletedKey, d1, { validTo: null, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', now }));
    assert.equal(restored.keyMaterialId, keyMaterialId(deletedArn, d1));
    const back = (await keys.get(deleted))!;
    assert.equal(back.keyState, 'Enabled');
    assert.equal(back.currentVersion, 1);
    assert.equal(back.currentKeyMaterialId, restored.keyMaterialId);
    assert.deepEqual((await keys.backingKey(back, 1))!, d1, 'the material is back');
  } finally {
    await db.close();
    await removeDir(dir);
  }
});
