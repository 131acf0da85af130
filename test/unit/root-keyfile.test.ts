import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyFileRoot } from '../../src/root/keyfile.ts';
import { RootKeyError, RootUnwrapError } from '../../src/root/root-of-trust.ts';
import { openFromBytes, sealToBytes, AeadError } from '../../src/crypto/aead.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { tempDir, removeDir } from '../helpers/trent.ts';

test('wrap and unwrap bind the value to its AAD; tampering and the wrong AAD fail', async () => {
  const dir = await tempDir();
  try {
    const root = await KeyFileRoot.create(join(dir, 'root.key'));
    const secret = randomBytes(32);
    const wrapped = await root.wrap(secret, Buffer.from('arn:aws:kms:us-east-1:111122223333:key/k#1'));
    assert.ok(!wrapped.includes(secret));
    assert.deepEqual(await root.unwrap(wrapped, Buffer.from('arn:aws:kms:us-east-1:111122223333:key/k#1')), secret);
    await assert.rejects(root.unwrap(wrapped, Buffer.from('arn:aws:kms:us-east-1:111122223333:key/k#2')), RootUnwrapError);
    for (const i of [0, 1, 20, wrapped.length - 1]) {
      const t = Buffer.from(wrapped);
      t[i]! ^= 1;
      await assert.rejects(root.unwrap(t, Buffer.from('arn:aws:kms:us-east-1:111122223333:key/k#1')), RootUnwrapError);
    }
    await assert.rejects(root.unwrap(wrapped.subarray(0, 20), Buffer.from('x')), RootUnwrapError);
    // Two wraps of the same value differ (fresh IV each time).
    assert.notDeepEqual(await root.wrap(secret, Buffer.from('a')), await root.wrap(secret, Buffer.from('a')));

    const again = await KeyFileRoot.load(join(dir, 'root.key'));
    assert.equal(again.keyCheckValue, root.keyCheckValue);
    assert.deepEqual(await again.unwrap(wrapped, Buffer.from('arn:aws:kms:us-east-1:111122223333:key/k#1')), secret);
    await assert.rejects(KeyFileRoot.create(join(dir, 'root.key')), /EEXIST/);
  } finally {
    await removeDir(dir);
  }
});

test('a sealed key file holds no key in clear and needs its passphrase', async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, 'root.key');
    const root = await KeyFileRoot.create(path, 'a long passphrase');
    const text = await readFile(path, 'utf8');
    assert.doesNotMatch(text, /"key"/);
    const wrapped = await root.wrap(Buffer.from('v'), Buffer.from('aad'));
    await assert.rejects(KeyFileRoot.load(path), RootKeyError);
    await assert.rejects(KeyFileRoot.load(path, 'wrong'), /wrong passphrase/);
    const opened = await KeyFileRoot.load(path, 'a long passphrase');
    assert.deepEqual(await opened.unwrap(wrapped, Buffer.from('aad')), Buffer.from('v'));
    await chmod(path, 0o640);
    await assert.rejects(KeyFileRoot.load(path, 'a long passphrase'), /accessible by other users/);
    await chmod(path, 0o600);
    await writeFile(path, '{"format":"other"}', { mode: 0o600 });
    await assert.rejects(KeyFileRoot.load(path), /unknown format/);
  } finally {
    await removeDir(dir);
  }
});

test('AES-256-GCM helpers reject truncation and tampering', () => {
  const key = randomBytes(32);
  const box = sealToBytes(key, Buffer.from('plaintext'), Buffer.from('ctx'));
  assert.equal(openFromBytes(key, box, Buffer.from('ctx')).toString(), 'plaintext');
  assert.throws(() => openFromBytes(key, box, Buffer.from('other')), AeadError);
  assert.throws(() => openFromBytes(key, box.subarray(0, 27)), AeadError);
  assert.throws(() => openFromBytes(randomBytes(32), box, Buffer.from('ctx')), AeadError);
  assert.throws(() => sealToBytes(randomBytes(16), Buffer.from('x')), RangeError);
});

