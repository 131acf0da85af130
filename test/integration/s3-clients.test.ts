// A 100 MB file through every client the issue names, under SSE-KMS with an alias: Debian's AWS CLI v2
// (`aws s3 cp`, classic s3transfer: UNSIGNED-PAYLOAD + Content-MD5 parts, 8 MiB parts in parallel),
// the pip AWS CLI v1 (modern botocore: aws-chunked parts with CRC32 trailers; If-Match on ranged GETs),
// boto3 upload_file / download_file, and @aws-sdk/client-s3 with @aws-sdk/lib-storage. Each copy must
// come back byte-identical. Then SSE-C through both CLIs, and ranged GETs through s3api.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { S3Client, CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { KMSClient, CreateKeyCommand, CreateAliasCommand } from '@aws-sdk/client-kms';
import { startTrent, removeDir, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { aws, skipCliV2, type Cli } from '../helpers/cli.ts';
import { exec } from '../helpers/assert.ts';

const SIZE = 100 * 1024 * 1024;
const bucket = 'trent-clients';
let t: RunningTrent;
let work: string;
let file: string;
let fileSha: string;
let keyArn: string;
let s3: S3Client;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

before(async () => {
  t = await startTrent();
  work = await tempDir('trent-s3-clients-');
  file = join(work, 'upload.bin');
  // 100 MB of random bytes, written in 1 MiB pieces.
  const out = createWriteStream(file);
  for (let i = 0; i < SIZE / (1024 * 1024); i++) {
    if (!out.write(randomBytes(1024 * 1024))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  fileSha = await sha256File(file);
  const kms = new KMSClient(t.clientConfig());
  keyArn = (await kms.send(new CreateKeyCommand({ Description: 'clients' }))).KeyMetadata!.Arn!;
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/photos', TargetKeyId: keyArn }));
  kms.destroy();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
  if (work) await removeDir(work);
});

async function expectKms(key: string): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  assert.equal(head.ServerSideEncryption, 'aws:kms', `${key} is SSE-KMS`);
  assert.equal(head.SSEKMSKeyId, keyArn, `${key} is under alias/photos`);
  assert.equal(head.ContentLength, SIZE, `${key} size`);
}

for (const cli of ['v2', 'v1'] as Cli[]) {
  test(`aws s3 cp (CLI ${cli}) of 100 MB with --sse aws:kms --sse-kms-key-id alias/photos, up and down`, { skip: cli === 'v2' && skipCliV2 }, async () => {
    const key = `cli-${cli}/photos.bin`;
    const up = await aws(t, cli, ['s3', 'cp', file, `s3://${bucket}/${key}`, '--sse', 'aws:kms', '--sse-kms-key-id', 'alias/photos', '--only-show-errors'], 300_000);
    assert.equal(up.code, 0, `upload: ${up.stderr}`);
    await expectKms(key);
    const dest = join(work, `down-${cli}.bin`);
    const down = await aws(t, cli, ['s3', 'cp', `s3://${bucket}/${key}`, dest, '--only-show-errors'], 300_000);
    assert.equal(down.code, 0, `download: ${down.stderr}`);
    assert.equal(await sha256File(dest), fileSha, 'byte-identical download');
  });

  test(`SSE-C through the CLI ${cli}: upload and download with --sse-c, refused without the key`, { skip: cli === 'v2' && skipCliV2 }, async () => {
    const keyFile = join(work, `ssec-${cli}.key`);
    await writeFile(keyFile, randomBytes(32));
    const small = join(work, `ssec-${cli}.bin`);
    await writeFile(small, randomBytes(9 * 1024 * 1024 + 5));
    const key = `ssec-${cli}/secret.bin`;
    const up = await aws(t, cli, ['s3', 'cp', small, `s3://${bucket}/${key}`, '--sse-c', 'AES256', '--sse-c-key', `fileb://${keyFile}`, '--only-show-errors'], 120_000);
    assert.equal(up.code, 0, `upload: ${up.stderr}`);
    const dest = join(work, `ssec-down-${cli}.bin`);
    const down = await aws(t, cli, ['s3', 'cp', `s3://${bucket}/${key}`, dest, '--sse-c', 'AES256', '--sse-c-key', `fileb://${keyFile}`, '--only-show-errors'], 120_000);
    assert.equal(down.code, 0, `download: ${down.stderr}`);
    assert.ok((await readFile(dest)).equals(await readFile(small)), 'SSE-C round trip');
    const refused = await aws(t, cli, ['s3', 'cp', `s3://${bucket}/${key}`, join(work, `nokey-${cli}.bin`), '--only-show-errors'], 60_000);
    assert.notEqual(refused.code, 0, 'download without the key must fail');
    assert.match(refused.stderr, /400|Bad Request|InvalidRequest/, `refusal: ${refused.stderr}`);
  });
}

test('ranged GETs through s3api get-object return exactly the requested bytes', async () => {
  const key = 'cli-v1/photos.bin';
  const original = await readFile(file);
  for (const [a, b] of [
    [0, 99],
    [65_530, 65_545],
    [8 * 1024 * 1024 - 3, 8 * 1024 * 1024 + 3],
    [SIZE - 1000, SIZE - 1],
  ] as const) {
    const out = join(work, `range-${a}.bin`);
    const r = await aws(t, 'v1', ['s3api', 'get-object', '--bucket', bucket, '--key', key, '--range', `bytes=${a}-${b}`, out, '--output', 'json'], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).ContentRange, `bytes ${a}-${b}/${SIZE}`);
    assert.ok((await readFile(out)).equals(original.subarray(a, b + 1)), `range ${a}-${b}`);
  }
});

test('boto3 upload_file / download_file of 100 MB under SSE-KMS', async () => {
  const dest = join(work, 'down-boto3.bin');
  const script = `
import boto3, sys
s3 = boto3.client('s3')
s3.upload_file(sys.argv[1], sys.argv[2], 'boto3/photos.bin', ExtraArgs={'ServerSideEncryption': 'aws:kms', 'SSEKMSKeyId': 'alias/photos'})
s3.download_file(sys.argv[2], 'boto3/photos.bin', sys.argv[3])
`;
  const r = await exec('python3', ['-c', script, file, bucket, dest], t.cliEnv(), 300_000);
  assert.equal(r.code, 0, r.stderr);
  await expectKms('boto3/photos.bin');
  assert.equal(await sha256File(dest), fileSha, 'boto3 byte-identical download');
});

test('@aws-sdk/lib-storage Upload of 100 MB from a file stream, GetObject streamed back to disk', async () => {
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: 'js/photos.bin', Body: createReadStream(file), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/photos' },
    partSize: 8 * 1024 * 1024,
    queueSize: 4,
  });
  await upload.done();
  await expectKms('js/photos.bin');
  const dest = join(work, 'down-js.bin');
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'js/photos.bin' }));
  await pipeline(got.Body as Readable, createWriteStream(dest));
  assert.equal((await stat(dest)).size, SIZE, 'size');
  assert.equal(await sha256File(dest), fileSha, 'JS byte-identical download');
});

for (const cli of ['v2', 'v1'] as Cli[]) {
  test(`everyday aws s3 commands (CLI ${cli}): mb, sync, ls, presign, rm --recursive, rb`, { skip: cli === 'v2' && skipCliV2 }, async () => {
    const b = `trent-everyday-${cli}`;
    const dir = join(work, `tree-${cli}`);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'sub dir'), { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'alpha');
    await writeFile(join(dir, 'sub dir', 'b+c.txt'), 'beta');
    const run = async (args: string[]) => {
      const r = await aws(t, cli, ['s3', ...args], 60_000);
      assert.equal(r.code, 0, `aws s3 ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await run(['mb', `s3://${b}`]);
    await run(['sync', dir, `s3://${b}/tree`, '--only-show-errors']);
    const top = await run(['ls', `s3://${b}/tree/`]);
    assert.match(top, /PRE sub dir\//, `ls shows the common prefix: ${top}`);
    assert.match(top, /\s5 a\.txt/, `ls shows the object: ${top}`);
    const all = await run(['ls', `s3://${b}`, '--recursive']);
    assert.match(all, /tree\/sub dir\/b\+c\.txt/, `recursive ls: ${all}`);
    const fetch = (url: string) => new Promise<string>((resolve, reject) => {
      import('node:https').then(({ get }) => get(url, { ca: t.ca }, (res) => {
        let d = '';
        res.on('data', (c) => (d += c));
        res.on('end', () => resolve(`${res.statusCode} ${d}`));
      }).on('error', reject));
    });
    const url = (await run(['presign', `s3://${b}/tree/a.txt`, '--expires-in', '60'])).trim();
    if (cli === 'v1') {
      // CLI v1 presigns with Signature Version 2 unless told otherwise; refused as AWS refuses it for new buckets.
      assert.match(await fetch(url), /^400 .*The authorization mechanism you have provided is not supported\. Please use AWS4-HMAC-SHA256/s, 'SigV2 is refused clearly');
      const config = join(work, 'config-s3v4');
      await writeFile(config, '[default]\ns3 =\n    signature_version = s3v4\n');
      const v4 = await aws(t, cli, ['s3', 'presign', `s3://${b}/tree/a.txt`, '--expires-in', '60'], 60_000, { AWS_CONFIG_FILE: config });
      assert.equal(await fetch(v4.stdout.trim()), '200 alpha', 'the SigV4 presigned URL serves the object');
    } else assert.equal(await fetch(url), '200 alpha', 'the presigned URL serves the object');
    await run(['rm', `s3://${b}`, '--recursive', '--only-show-errors']);
    await run(['rb', `s3://${b}`]);
    const ls = await aws(t, cli, ['s3', 'ls'], 60_000);
    assert.doesNotMatch(ls.stdout, new RegExp(b), 'the bucket is gone');
  });
}
