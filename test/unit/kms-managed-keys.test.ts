import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { migrations } from '../../src/store/migrations.ts';
import { KeyFileRoot } from '../../src/root/keyfile.ts';
import { KeyStore } from '../../src/kms/keys.ts';
import { awsManagedKey } from '../../src/kms/managed-keys.ts';
import { tempDir, removeDir } from '../helpers/trent.ts';

test('an AWS managed key is created once, on first use, even by concurrent callers', async () => {
  const dir = await tempDir();
  const db = SqliteDatabase.open(join(dir, 'db'));
  try {
    await db.migrate(migrations);
    const keys = new KeyStore(db, await KeyFileRoot.create(join(dir, 'root.key')), '111122223333', 'eu-west-1');
    const results = await Promise.all(Array.from({ length: 10 }, () => awsManagedKey(keys, 's3')));
    assert.equal(new Set(results.map((k) => k.keyId)).size, 1);
    const key = results[0]!;
    assert.equal(key.keyManager, 'AWS');
    assert.equal(key.rotationEnabled, true);
    assert.equal(key.rotationPeriodDays, 365);
    assert.equal((await keys.resolve('alias/aws/s3', { aliases: true })).keyId, key.keyId);
    assert.match(key.policy, /s3\.eu-west-1\.amazonaws\.com/);
    const other = await awsManagedKey(keys, 'secretsmanager');
    assert.notEqual(other.keyId, key.keyId);
    const material = await keys.backingKey(key, 1);
    assert.equal(material?.length, 32);
  } finally {
    await db.close();
    await removeDir(dir);
  }
});
