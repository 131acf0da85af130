// Small objects stored inline (src/s3/objects.ts): a whole body up to the inline size is sealed in memory into the
// same packages as a blob and kept in its own row; one byte more and it streams to the blob store. Reads decrypt it
// from the row; a damaged or misplaced one is refused; deleting or replacing the version removes its ciphertext from
// the database files (SQLite's secure_delete and a checkpoint), leaving no trace of it on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { blobsOf, getObject, getVersion, putObjectRow, readSegments, removeVersion, writeBlob, type ObjectRecord, type StoredBody } from '../../src/s3/objects.ts';
import { PACKAGE_SIZE, PackageIntegrityError, storedSize } from '../../src/s3/packages.ts';
import { FsBlobStore } from '../../src/store/fs-blob-store.ts';
import { migrations } from '../../src/store/migrations.ts';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { filesContaining, removeDir, tempDir } from '../helpers/trent.ts';

const PS = PACKAGE_SIZE;

/** A body in chunks of random sizes, as a socket delivers it. */
function chunked(body: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const n = Math.min(body.length - at, 1 + Math.floor(Math.random() * 20_000));
    chunks.push(body.subarray(at, at + n));
    at += n;
  }
  return Readable.from(chunks);
}

async function all(gen: AsyncGenerator<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of gen) out.push(c);
  return Buffer.concat(out);
}

async function blobsIn(store: FsBlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const k of store.list('')) out.push(k);
  return out;
}

test('a whole body up to the inline size is sealed in memory, one byte more goes to the blob store; parts never stay inline', async () => {
  const dir = await tempDir();
  try {
    const store = await FsBlobStore.open(dir);
    const objectKey = randomBytes(32);
    const max = 2 * PS + 100;
    for (const size of [0, 1, PS - 1, PS, PS + 1, max - 1, max]) {
      const body = randomBytes(size);
      const stored = await writeBlob(store, objectKey, 0, chunked(body), 'CRC32', Number.MAX_SAFE_INTEGER, { inlineMax: max });
      assert.equal(stored.segment.inline, true, `${size} bytes: inline`);
      assert.equal(stored.segment.blob, '');
      assert.equal(stored.segment.size, size);
      assert.equal(stored.inlineBody!.length, storedSize(size), `${size} bytes: the stored packages, tags and all`);
      if (size >= 32) assert.ok(!stored.inlineBody!.includes(body.subarray(0, 32)), `${size} bytes: ciphertext, not the plaintext`);
      if (size > 0) {
        assert.ok((await all(readSegments(store, objectKey, [stored.segment], 0, size - 1, stored.inlineBody))).equals(body), `${size} bytes: reads back`);
        const a = Math.floor(Math.random() * size);
        const b = a + Math.floor(Math.random() * (size - a));
        assert.ok((await all(readSegments(store, objectKey, [stored.segment], a, b, stored.inlineBody))).equals(body.subarray(a, b + 1)), `${size} bytes: range ${a}-${b}`);
      }
    }
    assert.deepEqual(await blobsIn(store), [], 'nothing in the blob store');
    const over = randomBytes(max + 1);
    const big = await writeBlob(store, objectKey, 0, chunked(over), undefined, Number.MAX_SAFE_INTEGER, { inlineMax: max });
    assert.equal(big.segment.inline, undefined, 'one byte over: a blob');
    assert.equal(big.inlineBody, undefined);
    assert.deepEqual(await blobsIn(store), [big.segment.blob]);
    assert.ok((await all(readSegments(store, objectKey, [big.segment], 0, over.length - 1))).equals(over), 'the blob reads back, the bytes read for the inline test included');
    const part = await writeBlob(store, objectKey, 1, chunked(randomBytes(10)), undefined, Number.MAX_SAFE_INTEGER, { inlineMax: max });
    assert.equal(part.segment.inline, undefined, 'a multipart part is a blob, however small');
  } finally {
    await removeDir(dir);
  }
});

test('an inline object that is damaged, cut, read without its body or with another object’s is refused', async () => {
  const dir = await tempDir();
  try {
    const store = await FsBlobStore.open(dir);
    const key = randomBytes(32);
    const body = randomBytes(PS + 500);
    const s = await writeBlob(store, key, 0, chunked(body), undefined, Number.MAX_SAFE_INTEGER, { inlineMax: 4 * PS });
    const other = await writeBlob(store, key, 0, chunked(randomBytes(PS + 500)), undefined, Number.MAX_SAFE_INTEGER, { inlineMax: 4 * PS });
    const read = (stored: Buffer | undefined, seg = s.segment) => all(readSegments(store, key, [seg], 0, body.length - 1, stored));
    for (const at of [0, PS - 1, PS + 16, s.inlineBody!.length - 1]) {
      const damaged = Buffer.from(s.inlineBody!);
      damaged[at]! ^= 1;
      await assert.rejects(read(damaged), PackageIntegrityError, `a bit flipped at ${at}`);
    }
    await assert.rejects(read(s.inlineBody!.subarray(0, s.inlineBody!.length - 1)), PackageIntegrityError, 'cut by a byte');
    await assert.rejects(read(Buffer.concat([s.inlineBody!, Buffer.alloc(1)])), PackageIntegrityError, 'stretched by a byte');
    await assert.rejects(read(other.inlineBody!), PackageIntegrityError, 'another object’s ciphertext (its own salt)');
    await assert.rejects(read(undefined), /without its body/, 'no body at all');
    assert.ok((await read(s.inlineBody)).equals(body), 'the intact one still reads');
  } finally {
    await removeDir(dir);
  }
});

test('an inline version lives in its row: deleting or replacing it leaves none of its ciphertext in the database files', async () => {
  const dir = await tempDir();
  const db = SqliteDatabase.open(join(dir, 'trent.db'));
  try {
    const store = await FsBlobStore.open(join(dir, 'blobs'));
    await db.migrate(migrations);
    await db.run("INSERT INTO s3_buckets (bucket_name, account_id, region, created_at, public_access_block) VALUES ('b', '123456789012', 'us-east-1', 0, '{}')");
    const write = async (key: string, stored: StoredBody): Promise<ObjectRecord> => {
      const o: ObjectRecord = {
        bucket: 'b',
        key,
        uid: randomUUID(),
        size: stored.segment.size,
        etag: 'e',
        lastModified: Date.now(),
        headers: { metadata: {} },
        checksum: null,
        protection: { sse: 'AES256', kmsKeyArn: null, kmsContext: null, bucketKeyId: null, serviceKeyId: 's', wrappedKey: Buffer.alloc(60, 7), ssecSalt: null, ssecCheck: null },
        segments: [stored.segment],
        partsCount: null,
        ...(stored.inlineBody ? { inlineBody: stored.inlineBody } : {}),
      };
      await db.transaction((tx) => putObjectRow(tx, o, o.lastModified));
      return o;
    };
    const key = randomBytes(32);
    const put = (n: number) => writeBlob(store, key, 0, chunked(randomBytes(n)), undefined, Number.MAX_SAFE_INTEGER, { inlineMax: 128 * 1024 });
    const first = await put(40_000);
    const second = await put(3_000);
    const deleted = await put(90_000);
    await write('k', first);
    await write('k', second); // replaces the null version, and with it the first ciphertext
    const d = await write('gone', deleted);
    const kept = await getObject(db, 'b', 'k');
    assert.equal(kept!.inlineBody, undefined, 'read without its body, a row leaves the ciphertext out');
    assert.ok((await getObject(db, 'b', 'k', { body: true }))!.inlineBody!.equals(second.inlineBody!), 'read with its body, the row has it');
    const v = await getVersion(db, 'b', 'gone', 'null');
    assert.deepEqual(blobsOf(d.segments), [], 'an inline version has no blob to orphan');
    assert.deepEqual(await db.transaction((tx) => removeVersion(tx, v!, Date.now())), [], 'removing it orphans no blob');
    await db.checkpoint();
    // Slices from the start, the middle and the tag of each ciphertext: none may be left in any file.
    const slices = (b: Buffer) => [b.subarray(0, 48), b.subarray(b.length >> 1, (b.length >> 1) + 48), b.subarray(b.length - 48)];
    assert.deepEqual(await filesContaining([dir], [...slices(first.inlineBody!), ...slices(deleted.inlineBody!)]), [], 'the replaced and the deleted ciphertexts are gone from disk');
    assert.ok((await filesContaining([dir], slices(second.inlineBody!))).length > 0, 'the current one is there (the check can find what it looks for)');
    assert.deepEqual(await blobsIn(store), [], 'no blob was ever written');
  } finally {
    await db.close();
    await removeDir(dir);
  }
});
