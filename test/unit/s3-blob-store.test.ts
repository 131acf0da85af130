import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { InitializeHandler, InitializeHandlerArguments, InitializeHandlerOutput, HandlerExecutionContext, MetadataBearer } from '@smithy/types';
import { BlobNotFound } from '../../src/store/blob-store.ts';
import { FsBlobStore } from '../../src/store/fs-blob-store.ts';
import { parseS3BlobsUrl, S3BlobStore, type S3BlobStoreOptions } from '../../src/store/s3-blob-store.ts';
import { Rng } from '../helpers/rng.ts';
import { REPO, removeDir, startTrent, tempDir, type RunningTrent } from '../helpers/trent.ts';

const MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * s3rver on 127.0.0.1, a free port, plain HTTP, its default credentials S3RVER/S3RVER. In a child process:
 * its ListObjectsV2 continuation tokens use DES, which Node 20's OpenSSL 3 offers only with the legacy
 * provider, so paging past 1000 keys fails in a plain process.
 */
async function startS3rver(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const directory = await tempDir('trent-s3rver-');
  const script = `
    const S3rver = require('s3rver');
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[1], vhostBuckets: false, resetOnClose: false });
    server.run().then(({ port }) => process.stdout.write('S3RVER_PORT ' + port + '\\n'));
    process.on('disconnect', () => process.exit(0));
    process.on('SIGTERM', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script, directory], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start:\n${out}`)), 30_000);
    child.stdout!.on('data', () => {
      const m = /S3RVER_PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}:\n${out}`));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await removeDir(directory);
    },
  };
}

/** The names of the commands a store's client sends, in order. */
function spy(store: S3BlobStore): string[] {
  const seen: string[] = [];
  store.client.middlewareStack.add(
    <I extends object, O extends MetadataBearer>(next: InitializeHandler<I, O>, context: HandlerExecutionContext) =>
      async (args: InitializeHandlerArguments<I>): Promise<InitializeHandlerOutput<O>> => {
        seen.push(context.commandName ?? '?');
        return next(args);
      },
    { step: 'initialize', name: 'testSpy' },
  );
  return seen;
}

/** Make a store's client fail the commands whose input matches, before they are sent. */
function refuse(store: S3BlobStore, matches: (input: Record<string, unknown>) => boolean, err: Error): void {
  store.client.middlewareStack.add(
    <I extends object, O extends MetadataBearer>(next: InitializeHandler<I, O>) =>
      async (args: InitializeHandlerArguments<I>): Promise<InitializeHandlerOutput<O>> => {
        if (matches(args.input as Record<string, unknown>)) throw err;
        return next(args);
      },
    { step: 'initialize', name: 'testRefuse' },
  );
}

async function keysOf(list: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of list) out.push(k);
  return out;
}

async function rangeOf(store: S3BlobStore | FsBlobStore, key: string, start: number, end: number): Promise<Buffer> {
  const stream = await store.get(key, { start, end });
  assert.ok(stream instanceof Readable);
  return buffer(stream);
}

/** `total` bytes in chunks of `chunk` bytes (not aligned with any part size). */
async function* chunksOf(data: Buffer, chunk: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
}

async function* failingAfter(bytes: number, err: Error): AsyncGenerator<Uint8Array> {
  for (let sent = 0; sent < bytes; sent += MIB) yield Buffer.alloc(MIB, 7);
  throw err;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

// ---------------------------------------------------------------------------------------------
// The BlobStore contract, on any S3-compatible backend

interface Backend {
  /** The store URL for a bucket and an optional prefix. */
  url: (bucket: string, prefix?: string) => string;
  opts: S3BlobStoreOptions;
  /** A plain client for setting up buckets and placing objects behind a store's back. */
  client: S3Client;
  /** s3rver answers a Range read of an empty object with a broken 206 (real S3 and Trent answer 416). */
  emptyRangeBroken?: boolean;
  /**
   * s3rver lists in its directory walk's order (the fs store's) but resumes a page after the last key in
   * byte order, so a page boundary among keys like 'a/b' and 'a-b' drops keys.
   */
  pagingBroken?: boolean;
  /** Run the 1000-key page test here (a thousand puts take seconds; paging itself is also covered with two keys a page). */
  thousandKeys?: boolean;
}

function contract(name: string, start: () => Promise<{ backend: Backend; stop: () => Promise<void> }>): void {
  describe(`S3BlobStore contract on ${name}`, () => {
    let backend: Backend;
    let stop: () => Promise<void>;
    let store: S3BlobStore;
    const bucket = 'blobs';
    const opened: S3BlobStore[] = [];
    const storeAt = async (prefix?: string, extra: S3BlobStoreOptions = {}): Promise<S3BlobStore> => {
      const s = await S3BlobStore.open(backend.url(bucket, prefix), { ...backend.opts, ...extra });
      opened.push(s);
      return s;
    };

    before(async () => {
      ({ backend, stop } = await start());
      await backend.client.send(new CreateBucketCommand({ Bucket: bucket }));
      store = await storeAt('node');
    });
    after(async () => {
      for (const s of opened) s.close();
      backend?.client.destroy();
      await stop?.();
    });

    test('put and read a Buffer, a Uint8Array, an empty blob; overwrite; size', async () => {
      assert.deepEqual(await store.put('a/b/one', Buffer.from('0123456789')), { size: 10 });
      assert.equal((await store.read('a/b/one')).toString(), '0123456789');
      assert.equal(await store.size('a/b/one'), 10);
      const stream = await store.get('a/b/one');
      assert.ok(stream instanceof Readable);
      assert.equal((await buffer(stream)).toString(), '0123456789');

      assert.deepEqual(await store.put('a/b/one', new Uint8Array([1, 2, 3])), { size: 3 });
      assert.deepEqual(await store.read('a/b/one'), Buffer.from([1, 2, 3]));

      assert.deepEqual(await store.put('empty', Buffer.alloc(0)), { size: 0 });
      assert.equal(await store.size('empty'), 0);
      assert.equal((await store.read('empty')).length, 0);
      assert.deepEqual(await store.put('empty-streamed', Readable.from([])), { size: 0 });
      assert.equal(await store.size('empty-streamed'), 0);

      assert.deepEqual(await store.put('small-streamed', Readable.from([Buffer.from('xy'), Buffer.alloc(0), Buffer.from('z')])), { size: 3 });
      assert.equal((await store.read('small-streamed')).toString(), 'xyz');
    });

    test('a streamed 20 MiB put is a multipart upload, read back byte for byte', async () => {
      const data = randomBytes(20 * MIB + 12_345);
      const big = await storeAt('node');
      const seen = spy(big);
      assert.deepEqual(await big.put('big', chunksOf(data, 100_000)), { size: data.length });
      assert.deepEqual(seen.filter((c) => c !== 'HeadBucketCommand'), [
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'CompleteMultipartUploadCommand',
      ]);
      assert.equal(await store.size('big'), data.length);
      const back = await store.read('big');
      assert.equal(back.length, data.length);
      assert.equal(sha256(back), sha256(data));
      // A range across the first part boundary, and the tail.
      assert.deepEqual(await rangeOf(store, 'big', 8 * MIB - 5, 8 * MIB + 5), data.subarray(8 * MIB - 5, 8 * MIB + 6));
      assert.deepEqual(await rangeOf(store, 'big', data.length - 3, data.length + 100), data.subarray(data.length - 3));
      await store.delete('big');
    });

    test('ranged get: inclusive bounds, clipped at the end, empty past it; bad ranges refused', async () => {
      await store.put('r', Buffer.from('0123456789'));
      assert.equal((await rangeOf(store, 'r', 2, 4)).toString(), '234');
      assert.equal((await rangeOf(store, 'r', 0, 0)).toString(), '0');
      assert.equal((await rangeOf(store, 'r', 9, 9)).toString(), '9');
      assert.equal((await rangeOf(store, 'r', 7, 1000)).toString(), '789');
      assert.equal((await rangeOf(store, 'r', 10, 20)).length, 0);
      assert.equal((await buffer(await store.get('r', { start: 3, end: Infinity }))).toString(), '3456789');
      if (!backend.emptyRangeBroken) {
        await store.put('r-empty', Buffer.alloc(0));
        assert.equal((await rangeOf(store, 'r-empty', 0, 0)).length, 0);
      }
      await assert.rejects(store.get('r', { start: 5, end: 4 }), RangeError);
      await assert.rejects(store.get('r', { start: -1, end: 4 }), RangeError);
      await assert.rejects(store.get('r', { start: 0.5, end: 4 }), RangeError);
      await assert.rejects(store.get('missing', { start: 0, end: 4 }), BlobNotFound);
    });

    test('a missing blob: BlobNotFound, size undefined; delete is idempotent', async () => {
      await assert.rejects(store.get('no/such/blob'), BlobNotFound);
      await assert.rejects(store.read('no/such/blob'), (err: Error) => err instanceof BlobNotFound && err.message.includes('no/such/blob'));
      assert.equal(await store.size('no/such/blob'), undefined);
      await store.delete('no/such/blob');
      await store.put('d', Buffer.from('x'));
      await store.delete('d');
      await store.delete('d');
      assert.equal(await store.size('d'), undefined);
      await assert.rejects(store.read('d'), BlobNotFound);
    });

    test('a failed streamed put leaves the previous blob and aborts its upload', async () => {
      await store.put('victim', Buffer.from('old value'));
      const s = await storeAt('node');
      const seen = spy(s);
      const broken = new Error('source broke');
      await assert.rejects(s.put('victim', failingAfter(10 * MIB, broken)), (err) => err === broken);
      assert.ok(seen.includes('CreateMultipartUploadCommand'));
      assert.equal(seen.at(-1), 'AbortMultipartUploadCommand');
      assert.ok(!seen.includes('CompleteMultipartUploadCommand'));
      assert.equal((await store.read('victim')).toString(), 'old value');

      // Failing before one part is full: nothing is sent at all.
      seen.length = 0;
      await assert.rejects(s.put('victim', failingAfter(MIB, broken)), (err) => err === broken);
      assert.deepEqual(seen, []);
      assert.equal((await store.read('victim')).toString(), 'old value');
    });

    test('a part the store refuses ends a streamed put: the source is released, the upload aborted', async () => {
      await store.put('victim-2', Buffer.from('old value'));
      const s = await storeAt('node');
      const seen = spy(s);
      const refused = new Error('part 2 refused');
      refuse(s, (input) => input['PartNumber'] === 2, refused);
      let pulled = 0;
      let released = false;
      const endless = async function* (): AsyncGenerator<Uint8Array> {
        try {
          for (;;) {
            pulled += MIB;
            yield Buffer.alloc(MIB, 1);
          }
        } finally {
          released = true;
        }
      };
      await assert.rejects(s.put('victim-2', endless()), (err) => err === refused);
      assert.ok(released, 'the source was ended');
      assert.ok(pulled <= 5 * 8 * MIB, `only a few parts were read (${pulled / MIB} MiB)`);
      assert.equal(seen.at(-1), 'AbortMultipartUploadCommand');
      assert.ok(!seen.includes('CompleteMultipartUploadCommand'));
      assert.equal((await store.read('victim-2')).toString(), 'old value');
    });

    test('list: the fs store order and plain-prefix semantics, across pages; foreign objects skipped', async () => {
      const keys = ['o/a/b/c', 'o/a/z', 'o/a-b', 'o/a.x', 'o/a=1', 'o/ab', 'o/b/c/d/e', 'o/B', 'o/_u', 'o/0', 'p/q', 'op'];
      const dir = await tempDir();
      try {
        const fs = await FsBlobStore.open(dir);
        const paged = await storeAt('lst', { listPageSize: 2 });
        const whole = await storeAt('lst');
        for (const k of keys) {
          await fs.put(k, Buffer.from(k));
          await paged.put(k, Buffer.from(k));
        }
        // Objects in the prefix that are not blob keys (placed by something else) are not listed.
        for (const foreign of ['lst/o/.hidden', 'lst/o/sp ace', 'lst/.tmp/y']) {
          await backend.client.send(new PutObjectCommand({ Bucket: bucket, Key: foreign, Body: 'x' }));
        }
        for (const prefix of ['', 'o', 'o/', 'o/a', 'o/a/', 'o/a-', 'o/a/b/c', 'o/b/c/', 'o/b/c/d/e/', 'p', 'q', 'zzz', '../', '/']) {
          const expected = await keysOf(fs.list(prefix));
          if (!backend.pagingBroken) assert.deepEqual(await keysOf(paged.list(prefix)), expected, `list(${JSON.stringify(prefix)}), two keys a page`);
          assert.deepEqual(await keysOf(whole.list(prefix)), expected, `list(${JSON.stringify(prefix)})`);
        }
        assert.deepEqual(await keysOf(whole.list('o/a')), ['o/a/b/c', 'o/a/z', 'o/a-b', 'o/a.x', 'o/a=1', 'o/ab']);
      } finally {
        await removeDir(dir);
      }
    });

    test('list pages through more than 1000 keys', async (t) => {
      if (!backend.thousandKeys) return t.skip('run on s3rver');
      const s = await storeAt('many');
      const keys = Array.from({ length: 1050 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
      await inBatches(keys, 32, (k) => s.put(k, Buffer.from('')));
      await s.put('k0', Buffer.from('not in k/'));
      const seen = spy(s);
      assert.deepEqual(await keysOf(s.list('k/')), keys);
      assert.equal(seen.filter((c) => c === 'ListObjectsV2Command').length, 2);
      assert.equal((await keysOf(s.list(''))).length, 1051);
    });

    test('invalid keys are refused by every operation', async () => {
      for (const bad of ['../x', 'a/../../x', '/abs', '.hidden', 'a//b', '', 'a/', 'sp ace', 'x'.repeat(1025)]) {
        await assert.rejects(store.put(bad, Buffer.from('x')), RangeError, bad);
        await assert.rejects(store.put(bad, Readable.from([Buffer.from('x')])), RangeError, bad);
        await assert.rejects(store.get(bad), RangeError, bad);
        await assert.rejects(store.get(bad, { start: 0, end: 1 }), RangeError, bad);
        await assert.rejects(store.read(bad), RangeError, bad);
        await assert.rejects(store.size(bad), RangeError, bad);
        await assert.rejects(store.delete(bad), RangeError, bad);
      }
    });

    test('a prefix in the URL isolates two stores in one bucket', async () => {
      const one = await storeAt('iso/one');
      const two = await storeAt('iso/two');
      await one.put('k', Buffer.from('one'));
      await two.put('k', Buffer.from('two'));
      await one.put('only-one', Buffer.from('1'));
      assert.equal((await one.read('k')).toString(), 'one');
      assert.equal((await two.read('k')).toString(), 'two');
      assert.deepEqual(await keysOf(one.list('')), ['k', 'only-one']);
      assert.deepEqual(await keysOf(two.list('')), ['k']);
      await assert.rejects(two.read('only-one'), BlobNotFound);
      await two.delete('k');
      assert.equal((await one.read('k')).toString(), 'one');
      // Stored under PREFIX/key, as a plain client sees.
      const raw = await backend.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'iso/one/k' }));
      assert.equal(await raw.Body!.transformToString(), 'one');
      const root = await storeAt();
      assert.deepEqual(await keysOf(root.list('iso/')), ['iso/one/k', 'iso/one/only-one']);
    });

    test('open checks the bucket and says what is wrong', async () => {
      await assert.rejects(S3BlobStore.open(backend.url('no-such-bucket'), backend.opts), /bucket "no-such-bucket" .*does not exist/);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Backends

const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

contract('s3rver', async () => {
  const server = await startS3rver();
  const backend: Backend = {
    url: (bucket, prefix) => `s3://${bucket}${prefix ? `/${prefix}` : ''}?endpoint=${server.endpoint}`,
    opts: { credentials: S3RVER_CREDENTIALS },
    client: new S3Client({ region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS }),
    emptyRangeBroken: true,
    pagingBroken: true,
    thousandKeys: true,
  };
  return { backend, stop: server.stop };
});

contract('another Trent (HTTPS with its own CA)', async () => {
  const t = await startTrent();
  const backend: Backend = {
    url: (bucket, prefix) => `s3://${bucket}${prefix ? `/${prefix}` : ''}?endpoint=${t.endpoint}&region=${t.region}`,
    opts: { ca: t.ca, credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey } },
    client: new S3Client(t.clientConfig({ forcePathStyle: true })),
  };
  return {
    backend,
    stop: async () => {
      await t.stop();
      await removeDir(t.dataDir);
    },
  };
});

describe('S3BlobStore configuration', () => {
  let server: Awaited<ReturnType<typeof startS3rver>>;
  before(async () => {
    server = await startS3rver();
    const client = new S3Client({ region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    await client.send(new CreateBucketCommand({ Bucket: 'cfg' }));
    client.destroy();
  });
  after(async () => {
    await server?.stop();
  });

  test('TRENT_BLOBS_* credentials take precedence over the AWS_* environment', async () => {
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAWRONGWRONGWRONG0';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'not-the-secret';
    try {
      const env = { TRENT_BLOBS_ACCESS_KEY_ID: 'S3RVER', TRENT_BLOBS_SECRET_ACCESS_KEY: 'S3RVER' };
      const good = await S3BlobStore.open(`s3://cfg?endpoint=${server.endpoint}`, { env });
      await good.put('x', Buffer.from('1'));
      assert.equal((await good.read('x')).toString(), '1');
      good.close();
      // Without them, the SDK's default chain reads AWS_*: here the wrong ones.
      await assert.rejects(S3BlobStore.open(`s3://cfg?endpoint=${server.endpoint}`, { env: {} }), /access denied|HTTP 403/);
      process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
      process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
      const viaAws = await S3BlobStore.open(`s3://cfg?endpoint=${server.endpoint}`, { env: {} });
      assert.equal((await viaAws.read('x')).toString(), '1');
      viaAws.close();
      assert.throws(() => S3BlobStore.fromUrl(`s3://cfg?endpoint=${server.endpoint}`, { env: { TRENT_BLOBS_ACCESS_KEY_ID: 'S3RVER' } }), /both TRENT_BLOBS_ACCESS_KEY_ID and TRENT_BLOBS_SECRET_ACCESS_KEY/);
    } finally {
      for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('open fails clearly when the endpoint cannot be reached', async () => {
    await assert.rejects(
      S3BlobStore.open('s3://cfg?endpoint=http://127.0.0.1:1', { credentials: S3RVER_CREDENTIALS }),
      /cannot use bucket "cfg" at http:\/\/127\.0\.0\.1:1: ECONNREFUSED/,
    );
  });
});

describe('S3BlobStore over TLS with a private CA', () => {
  let t: RunningTrent;
  before(async () => {
    t = await startTrent();
    const client = new S3Client(t.clientConfig({ forcePathStyle: true }));
    await client.send(new CreateBucketCommand({ Bucket: 'tls' }));
    client.destroy();
  });
  after(async () => {
    await t?.stop();
    if (t) await removeDir(t.dataDir);
  });

  test('the CA from TRENT_BLOBS_CA_BUNDLE; without it the certificate is refused', async () => {
    const url = `s3://tls/p?endpoint=${t.endpoint}&region=${t.region}`;
    const env = { TRENT_BLOBS_ACCESS_KEY_ID: t.accessKeyId, TRENT_BLOBS_SECRET_ACCESS_KEY: t.secretAccessKey };
    const s = await S3BlobStore.open(url, { env: { ...env, TRENT_BLOBS_CA_BUNDLE: t.caPath } });
    await s.put('k', Buffer.from('over tls'));
    assert.equal((await s.read('k')).toString(), 'over tls');
    s.close();
    await assert.rejects(S3BlobStore.open(url, { env }), /cannot use bucket "tls" at https:\/\/localhost:\d+: .*certificate/i);
    assert.throws(() => S3BlobStore.fromUrl(url, { env: { ...env, TRENT_BLOBS_CA_BUNDLE: '/no/such/ca.pem' } }), /cannot read TRENT_BLOBS_CA_BUNDLE/);
  });
});

// ---------------------------------------------------------------------------------------------
// URL parsing

test('parseS3BlobsUrl: bucket, prefix, endpoint, region, path style', () => {
  const env = {};
  assert.deepEqual(parseS3BlobsUrl('s3://bucket', env), { bucket: 'bucket', prefix: '', endpoint: undefined, region: 'us-east-1', forcePathStyle: false });
  assert.deepEqual(parseS3BlobsUrl('s3://bucket/', env).prefix, '');
  assert.deepEqual(parseS3BlobsUrl('s3://bucket/a/b/', env).prefix, 'a/b');
  assert.deepEqual(parseS3BlobsUrl('s3://my.bucket-1/node-1?endpoint=https://minio.local:9000&region=eu-west-3', env), {
    bucket: 'my.bucket-1',
    prefix: 'node-1',
    endpoint: 'https://minio.local:9000',
    region: 'eu-west-3',
    forcePathStyle: true,
  });
  assert.equal(parseS3BlobsUrl('s3://bkt?endpoint=https%3A%2F%2Fh%3A1%2F', env).endpoint, 'https://h:1');
  assert.equal(parseS3BlobsUrl('s3://bkt?endpoint=https://h:1&path-style=false', env).forcePathStyle, false);
  assert.equal(parseS3BlobsUrl('s3://bkt?path-style=true', env).forcePathStyle, true);
  assert.equal(parseS3BlobsUrl('s3://bkt', { AWS_REGION: 'ap-south-1' }).region, 'ap-south-1');
  assert.equal(parseS3BlobsUrl('s3://bkt?region=us-west-2', { AWS_REGION: 'ap-south-1' }).region, 'us-west-2');

  for (const [bad, why] of [
    ['http://bucket', /scheme must be s3/],
    ['s3://', /not a (URL|bucket name)/],
    ['s3://bk', /bucket name/],
    ['s3://-b', /bucket name/],
    ['s3://user:pw@bucket', /credentials do not belong/],
    ['s3://bucket:9000', /port belongs in the endpoint/],
    ['s3://bucket/sp%20ace', /prefix/],
    ['s3://bucket/a//b', /prefix/],
    ['s3://bucket/.hidden', /prefix/],
    ['s3://bucket?endpoint=ftp://h', /http:\/\/ or https:\/\//],
    ['s3://bucket?endpoint=not a url', /not a URL/],
    ['s3://bucket?endpoint=https://u:p@h', /scheme:\/\/host/],
    ['s3://bucket?region=', /region/],
    ['s3://bucket?region=a/b', /region/],
    ['s3://bucket?path-style=yes', /path-style must be true or false/],
    ['s3://bucket?bogus=1', /unknown parameter "bogus"/],
    ['s3://bucket?region=a&region=b', /given twice/],
    ['s3://bucket#x', /fragment/],
    ['not a url', /not a URL/],
  ] as const) {
    assert.throws(() => parseS3BlobsUrl(bad, env), why, bad);
  }
});

test('S3BlobStore.fromUrl contacts nothing and checks its options', () => {
  const s = S3BlobStore.fromUrl('s3://bucket/pre?endpoint=http://127.0.0.1:1', { credentials: S3RVER_CREDENTIALS });
  assert.equal(s.location.prefix, 'pre');
  s.close();
  assert.throws(() => S3BlobStore.fromUrl('s3://bucket', { credentials: S3RVER_CREDENTIALS, partSize: MIB }), /partSize/);
  assert.throws(() => S3BlobStore.fromUrl('s3://bucket', { credentials: S3RVER_CREDENTIALS, listPageSize: 1001 }), /listPageSize/);
});

// ---------------------------------------------------------------------------------------------
// list() ordering against a scripted listing (no server)

/** A store whose ListObjectsV2 answers come from `listing` (full object keys, in the order given), `pageSize` keys a page. */
function scriptedStore(listing: string[], pageSize: number, requests: unknown[] = []): S3BlobStore {
  const store = S3BlobStore.fromUrl('s3://bucket/root?endpoint=http://127.0.0.1:1', { credentials: S3RVER_CREDENTIALS, listPageSize: pageSize });
  store.client.middlewareStack.add(
    <I extends object, O extends MetadataBearer>(next: InitializeHandler<I, O>, context: HandlerExecutionContext) =>
      async (args: InitializeHandlerArguments<I>): Promise<InitializeHandlerOutput<O>> => {
        if (context.commandName !== 'ListObjectsV2Command') return next(args);
        const input = args.input as { Prefix?: string; MaxKeys?: number; ContinuationToken?: string };
        requests.push(input);
        const matching = listing.filter((k) => k.startsWith(input.Prefix ?? ''));
        const from = Number(input.ContinuationToken ?? 0);
        const to = from + (input.MaxKeys ?? 1000);
        const output = {
          Contents: matching.slice(from, to).map((Key) => ({ Key })),
          IsTruncated: to < matching.length,
          ...(to < matching.length ? { NextContinuationToken: String(to) } : {}),
          $metadata: {},
        };
        return { output: output as unknown as O, response: {} };
      },
    { step: 'initialize', name: 'scriptedListing' },
  );
  return store;
}

/** The fs store's order, computed independently: segment by segment. */
function folderCompare(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

test('list turns a byte-order (S3) or folder-order (s3rver) listing into the fs store order, any page size', async () => {
  const seed = Number(process.env['TRENT_TEST_SEED'] ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  const segment = (): string => rng.pick(['a', 'A', '0', '_']) + Array.from({ length: rng.int(3) }, () => rng.pick(['a', '-', '.', '=', '0'])).join('');
  for (let round = 0; round < 300; round++) {
    const keys = new Set<string>();
    const n = rng.int(25);
    while (keys.size < n) keys.add(Array.from({ length: rng.range(1, 3) }, segment).join('/'));
    const prefix = rng.pick(['', 'a', 'a-', 'a/', 'a.', 'A', '0/']);
    const expected = [...keys].filter((k) => k.startsWith(prefix)).sort(folderCompare);
    const full = [...keys].map((k) => `root/${k}`);
    for (const listing of [[...full].sort(), [...full].sort(folderCompare)]) {
      const store = scriptedStore([...listing, 'root/.hidden', 'other/a'], rng.range(1, 4));
      assert.deepEqual(await keysOf(store.list(prefix)), expected, `seed ${seed}, round ${round}, prefix ${JSON.stringify(prefix)}`);
      store.close();
    }
  }
});

test('list holds back only the keys that may still be preceded (UUID blob names stream through)', async () => {
  const rng = new Rng(7);
  const keys = Array.from({ length: 3000 }, () => `s3/${rng.bytes(1).toString('hex')}/${rng.uuid()}`).sort();
  const requests: unknown[] = [];
  const store = scriptedStore(keys.map((k) => `root/${k}`), 1000, requests);
  const out: string[] = [];
  for await (const k of store.list('s3/')) {
    out.push(k);
    // The first page's keys come out before the second page is asked for.
    if (out.length === 999) assert.equal(requests.length, 1);
  }
  assert.equal(requests.length, 3);
  assert.deepEqual(out, keys);
  // A listing in neither order is refused rather than yielded out of order.
  const shuffled = scriptedStore(['root/b/x', 'root/a/y', 'root/a-z'], 1000);
  await assert.rejects(keysOf(shuffled.list('')), /neither byte order nor folder order/);
});
