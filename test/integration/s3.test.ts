// S3 object storage through @aws-sdk/client-s3 over HTTPS: buckets, objects under every SSE mode,
// ranges and conditions, copies between modes, listings, multipart uploads, presigned URLs, and
// the errors AWS returns for bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  DeleteBucketCommand,
  GetBucketLocationCommand,
  PutBucketEncryptionCommand,
  GetBucketEncryptionCommand,
  DeleteBucketEncryptionCommand,
  GetPublicAccessBlockCommand,
  PutPublicAccessBlockCommand,
  DeletePublicAccessBlockCommand,
  PutBucketTaggingCommand,
  GetBucketTaggingCommand,
  PutBucketPolicyCommand,
  GetBucketPolicyCommand,
  DeleteBucketPolicyCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  CopyObjectCommand,
  ListObjectsV2Command,
  ListObjectsCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  ListPartsCommand,
  ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand, CreateAliasCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { request } from 'node:https';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';

let t: RunningTrent;
let s3: S3Client;
let kms: KMSClient;
let keyArn: string;
const bucket = 'trent-s3-test';

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  kms = new KMSClient(t.clientConfig());
  keyArn = (await kms.send(new CreateKeyCommand({ Description: 's3 test' }))).KeyMetadata!.Arn!;
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/s3-test', TargetKeyId: keyArn }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  s3?.destroy();
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

/** The call must fail with this S3 error name (status codes differ per error: the SDK's name is what clients see). */
async function fails(call: () => Promise<unknown>, name: string): Promise<void> {
  const outcome = await call().then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err: err as { name: string; message: string; $metadata?: { httpStatusCode?: number } } }),
  );
  if (outcome.ok) assert.fail(`expected ${name}, but the call succeeded`);
  const got = outcome.err.name === 'Unknown' || /^\d+$/.test(name) ? String(outcome.err.$metadata?.httpStatusCode) : outcome.err.name;
  assert.equal(/^\d+$/.test(name) ? String(outcome.err.$metadata?.httpStatusCode) : got, name, `expected ${name}, got ${outcome.err.name} (${outcome.err.$metadata?.httpStatusCode}): ${outcome.err.message}`);
}

async function body(out: { Body?: unknown }): Promise<Buffer> {
  const b = out.Body as { transformToByteArray(): Promise<Uint8Array> };
  return Buffer.from(await b.transformToByteArray());
}

const ssec = randomBytes(32);
const modes = {
  'SSE-S3': { put: { ServerSideEncryption: 'AES256' as const }, get: {} },
  'SSE-KMS': { put: { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: 'alias/s3-test' }, get: {} },
  'SSE-KMS bucket key': { put: { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: 'alias/s3-test', BucketKeyEnabled: true }, get: {} },
  'SSE-KMS aws/s3': { put: { ServerSideEncryption: 'aws:kms' as const }, get: {} },
  'SSE-C': { put: { SSECustomerAlgorithm: 'AES256', SSECustomerKey: ssec as unknown as string }, get: { SSECustomerAlgorithm: 'AES256', SSECustomerKey: ssec as unknown as string } },
};

test('bucket lifecycle: create, head, list, location, default encryption and public access block, tagging', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'trent-lifecycle' }));
  await fails(() => s3.send(new CreateBucketCommand({ Bucket: 'trent-lifecycle' })), 'BucketAlreadyOwnedByYou');
  await fails(() => s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })), 'InvalidBucketName');
  await s3.send(new HeadBucketCommand({ Bucket: 'trent-lifecycle' }));
  await fails(() => s3.send(new HeadBucketCommand({ Bucket: 'trent-missing' })), 'NotFound');
  const names = (await s3.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name);
  assert.ok(names.includes('trent-lifecycle') && names.includes(bucket), 'both buckets listed');
  const loc = await s3.send(new GetBucketLocationCommand({ Bucket: 'trent-lifecycle' }));
  assert.ok([undefined, '', t.region].includes(loc.LocationConstraint as string | undefined), 'location');
  const enc = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'trent-lifecycle' }));
  assert.equal(enc.ServerSideEncryptionConfiguration!.Rules![0]!.ApplyServerSideEncryptionByDefault!.SSEAlgorithm, 'AES256');
  const pab = await s3.send(new GetPublicAccessBlockCommand({ Bucket: 'trent-lifecycle' }));
  assert.deepEqual(pab.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: 'trent-lifecycle', PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: false } }));
  assert.equal((await s3.send(new GetPublicAccessBlockCommand({ Bucket: 'trent-lifecycle' }))).PublicAccessBlockConfiguration!.IgnorePublicAcls, false);
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: 'trent-lifecycle' }));
  await fails(() => s3.send(new GetPublicAccessBlockCommand({ Bucket: 'trent-lifecycle' })), 'NoSuchPublicAccessBlockConfiguration');
  await fails(() => s3.send(new GetBucketTaggingCommand({ Bucket: 'trent-lifecycle' })), 'NoSuchTagSet');
  await s3.send(new PutBucketTaggingCommand({ Bucket: 'trent-lifecycle', Tagging: { TagSet: [{ Key: 'team', Value: 'library' }] } }));
  assert.deepEqual((await s3.send(new GetBucketTaggingCommand({ Bucket: 'trent-lifecycle' }))).TagSet, [{ Key: 'team', Value: 'library' }]);
  await fails(() => s3.send(new GetBucketPolicyCommand({ Bucket: 'trent-lifecycle' })), 'NoSuchBucketPolicy');
  await fails(() => s3.send(new PutBucketPolicyCommand({ Bucket: 'trent-lifecycle', Policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}' })), 'MalformedPolicy');
  const policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::trent-lifecycle"}]}';
  await s3.send(new PutBucketPolicyCommand({ Bucket: 'trent-lifecycle', Policy: policy }));
  assert.equal((await s3.send(new GetBucketPolicyCommand({ Bucket: 'trent-lifecycle' }))).Policy, policy);
  await fails(() => s3.send(new DeleteBucketCommand({ Bucket: 'trent-lifecycle' })), 'AccessDenied');
  await s3.send(new DeleteBucketPolicyCommand({ Bucket: 'trent-lifecycle' }));
  await s3.send(new PutObjectCommand({ Bucket: 'trent-lifecycle', Key: 'x', Body: 'x' }));
  await fails(() => s3.send(new DeleteBucketCommand({ Bucket: 'trent-lifecycle' })), 'BucketNotEmpty');
  await s3.send(new DeleteObjectCommand({ Bucket: 'trent-lifecycle', Key: 'x' }));
  await s3.send(new DeleteBucketCommand({ Bucket: 'trent-lifecycle' }));
  await fails(() => s3.send(new HeadBucketCommand({ Bucket: 'trent-lifecycle' })), 'NotFound');
  await fails(() => s3.send(new PutObjectCommand({ Bucket: 'trent-lifecycle', Key: 'x', Body: 'x' })), 'NoSuchBucket');
});

for (const [name, mode] of Object.entries(modes)) {
  test(`${name}: put, get, head, ranges across package boundaries, metadata`, async () => {
    const key = `modes/${name}/obj ect+1~.bin`;
    const data = randomBytes(200_000 + 17);
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentType: 'application/x-test', Metadata: { owner: 'ada' }, ChecksumAlgorithm: 'CRC32C', ...mode.put }),
    );
    if (name === 'SSE-C') {
      assert.equal(put.SSECustomerAlgorithm, 'AES256');
      assert.equal(put.SSECustomerKeyMD5, createHash('md5').update(ssec).digest('base64'));
    } else if (name.startsWith('SSE-KMS')) {
      assert.equal(put.ServerSideEncryption, 'aws:kms');
      if (name !== 'SSE-KMS aws/s3') assert.equal(put.SSEKMSKeyId, keyArn);
      assert.equal(put.BucketKeyEnabled, name.includes('bucket key') ? true : undefined);
    } else assert.equal(put.ServerSideEncryption, 'AES256');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED', ...mode.get }));
    assert.ok((await body(got)).equals(data), 'round trip');
    assert.equal(got.ContentType, 'application/x-test');
    assert.deepEqual(got.Metadata, { owner: 'ada' });
    assert.equal(got.ETag, put.ETag);
    assert.ok(got.ChecksumCRC32C, 'checksum returned with checksum mode');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...mode.get }));
    assert.equal(head.ContentLength, data.length);
    assert.equal(head.ETag, put.ETag);
    for (const [a, b] of [
      [0, 0],
      [65535, 65536],
      [65536, 131071],
      [100, 150_000],
      [data.length - 5, data.length - 1],
    ] as const) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${a}-${b}`, IfMatch: put.ETag, ...mode.get }));
      assert.equal(r.ContentRange, `bytes ${a}-${b}/${data.length}`);
      assert.ok((await body(r)).equals(data.subarray(a, b + 1)), `range ${a}-${b}`);
    }
    const suffix = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=-10', ...mode.get }));
    assert.ok((await body(suffix)).equals(data.subarray(data.length - 10)), 'suffix range');
    await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${data.length}-`, ...mode.get })), 'InvalidRange');
  });
}

test('SSE-C: a missing or wrong key is refused, and the key is never echoed', async () => {
  const key = 'ssec/secret.txt';
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'sse-c body', ...modes['SSE-C'].put }));
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })), 'InvalidRequest');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, SSECustomerAlgorithm: 'AES256', SSECustomerKey: randomBytes(32) as unknown as string })), 'AccessDenied');
  await fails(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, SSECustomerAlgorithm: 'AES256', SSECustomerKey: randomBytes(32) as unknown as string })), '403');
  await fails(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec/short', Body: 'x', SSECustomerAlgorithm: 'AES256', SSECustomerKey: randomBytes(16) as unknown as string })), 'InvalidArgument');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'modes/SSE-S3/obj ect+1~.bin', ...modes['SSE-C'].get })), 'InvalidRequest');
});

test('SSE-KMS: a disabled key makes GETs fail with KMS.DisabledException, enabling it restores them; unknown keys are refused', async () => {
  const created = await kms.send(new CreateKeyCommand({ Description: 'toggle' }));
  const id = created.KeyMetadata!.KeyId!;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms/toggle', Body: 'plain', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: id }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms/toggle-bk', Body: 'plain', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: id, BucketKeyEnabled: true }));
  await kms.send(new DisableKeyCommand({ KeyId: id }));
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'kms/toggle' })), 'KMS.DisabledException');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'kms/toggle-bk' })), 'KMS.DisabledException');
  await fails(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms/new', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: id, BucketKeyEnabled: true })), 'KMS.DisabledException');
  await kms.send(new EnableKeyCommand({ KeyId: id }));
  assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'kms/toggle' })))).toString(), 'plain');
  assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'kms/toggle-bk' })))).toString(), 'plain');
  await fails(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms/bad', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/nope' })), 'KMS.NotFoundException');
  await fails(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms/bad', Body: 'x', SSEKMSKeyId: id } as never)), 'InvalidArgument');
});

test('bucket default encryption applies to writes without SSE headers', async () => {
  const b = 'trent-default-kms';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: b,
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: true }] },
    }),
  );
  const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'default' }));
  assert.equal(put.ServerSideEncryption, 'aws:kms');
  assert.equal(put.SSEKMSKeyId, keyArn);
  assert.equal(put.BucketKeyEnabled, true);
  const enc = await s3.send(new GetBucketEncryptionCommand({ Bucket: b }));
  assert.equal(enc.ServerSideEncryptionConfiguration!.Rules![0]!.BucketKeyEnabled, true);
  await s3.send(new DeleteBucketEncryptionCommand({ Bucket: b }));
  assert.equal((await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k2', Body: 'x' }))).ServerSideEncryption, 'AES256');
});

test('conditional GETs: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since; response overrides', async () => {
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cond', Body: 'conditional' }));
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfMatch: '"0000"' })), 'PreconditionFailed');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfNoneMatch: put.ETag })), '304');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfModifiedSince: new Date(Date.now() + 3600_000) })), '304');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfUnmodifiedSince: new Date(Date.now() - 3600_000) })), 'PreconditionFailed');
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfMatch: put.ETag, ResponseContentType: 'text/x-override', ResponseContentDisposition: 'attachment' }));
  assert.equal(got.ContentType, 'text/x-override');
  assert.equal(got.ContentDisposition, 'attachment');
  assert.equal((await body(got)).toString(), 'conditional');
  await fails(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cond', Body: 'again', IfNoneMatch: '*' })), 'PreconditionFailed');
});

test('CopyObject changes encryption mode and key, reads SSE-C sources, and refuses a no-op self copy', async () => {
  const data = randomBytes(70_000);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy/src', Body: data, ...modes['SSE-C'].put, Metadata: { a: '1' } }));
  const src = { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: ssec as unknown as string };
  const toKms = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/kms', CopySource: `${bucket}/copy/src`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, ...src }));
  assert.equal(toKms.ServerSideEncryption, 'aws:kms');
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copy/kms' }));
  assert.ok((await body(got)).equals(data), 'copied bytes');
  assert.deepEqual(got.Metadata, { a: '1' });
  await fails(() => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/x', CopySource: `${bucket}/copy/src` })), 'InvalidRequest');
  await fails(() => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/kms', CopySource: `${bucket}/copy/kms` })), 'InvalidRequest');
  // Re-encrypting an object in place (SSE-KMS -> SSE-S3) is a legal self copy.
  const inPlace = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/kms', CopySource: `${bucket}/copy/kms`, ServerSideEncryption: 'AES256' }));
  assert.equal(inPlace.ServerSideEncryption, 'AES256');
  assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copy/kms' })))).equals(data), 're-encrypted in place');
  const replaced = await s3.send(
    new CopyObjectCommand({ Bucket: bucket, Key: 'copy/c', CopySource: `${bucket}/copy/kms`, MetadataDirective: 'REPLACE', ContentType: 'text/plain', Metadata: { b: '2' }, ...modes['SSE-C'].put }),
  );
  assert.equal(replaced.SSECustomerAlgorithm, 'AES256');
  const c = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copy/c', ...modes['SSE-C'].get }));
  assert.deepEqual(c.Metadata, { b: '2' });
  assert.equal(c.ContentType, 'text/plain');
  await fails(() => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/y', CopySource: `${bucket}/copy/missing` })), 'NoSuchKey');
});

test('ListObjectsV2 and ListObjects: prefixes, delimiters, pagination, start-after, url encoding', async () => {
  const b = 'trent-listing';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  const keys = ['a/1', 'a/2', 'a/b/3', 'b/1', 'c', 'd e+f', 'é/1', 'z'];
  await Promise.all(keys.map((k) => s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }))));
  const all = await s3.send(new ListObjectsV2Command({ Bucket: b }));
  assert.deepEqual(all.Contents!.map((c) => c.Key), [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  assert.equal(all.KeyCount, keys.length);
  const top = await s3.send(new ListObjectsV2Command({ Bucket: b, Delimiter: '/' }));
  assert.deepEqual(top.CommonPrefixes!.map((p) => p.Prefix), ['a/', 'b/', 'é/']);
  assert.deepEqual(top.Contents!.map((c) => c.Key), ['c', 'd e+f', 'z']);
  const inA = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'a/', Delimiter: '/' }));
  assert.deepEqual(inA.Contents!.map((c) => c.Key), ['a/1', 'a/2']);
  assert.deepEqual(inA.CommonPrefixes!.map((p) => p.Prefix), ['a/b/']);
  const seen: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: b, MaxKeys: 2, Delimiter: '/', ContinuationToken: token }));
    seen.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!));
    token = page.NextContinuationToken;
    assert.equal(page.IsTruncated, token !== undefined);
  } while (token);
  assert.deepEqual(seen.sort(), ['a/', 'b/', 'c', 'd e+f', 'z', 'é/'].sort());
  const after = await s3.send(new ListObjectsV2Command({ Bucket: b, StartAfter: 'c' }));
  assert.deepEqual(after.Contents!.map((c) => c.Key), ['d e+f', 'z', 'é/1']);
  const encoded = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'd', EncodingType: 'url' }));
  assert.deepEqual(encoded.Contents!.map((c) => c.Key), ['d%20e%2Bf']);
  const v1 = await s3.send(new ListObjectsCommand({ Bucket: b, Delimiter: '/', MaxKeys: 2 }));
  assert.equal(v1.IsTruncated, true);
  assert.equal(v1.NextMarker, 'b/');
  const v1b = await s3.send(new ListObjectsCommand({ Bucket: b, Delimiter: '/', Marker: v1.NextMarker }));
  assert.deepEqual(v1b.Contents!.map((c) => c.Key), ['c', 'd e+f', 'z']);
  const del = await s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
  assert.equal(del.Deleted!.length, keys.length);
  assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 0);
});

test('multipart: parallel out-of-order parts, checksums, copy parts, list, complete, abort, errors', async () => {
  const key = 'mp/object.bin';
  const part = 5 * 1024 * 1024;
  const data = randomBytes(2 * part + 1234);
  const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, ChecksumAlgorithm: 'CRC32' }));
  const uploadId = created.UploadId!;
  const slices = [data.subarray(0, part), data.subarray(part, 2 * part), data.subarray(2 * part)];
  const results = await Promise.all(
    [2, 0, 1].map(async (i) => ({ i, out: await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: slices[i], ChecksumAlgorithm: 'CRC32' })) })),
  );
  const parts = results.sort((a, b) => a.i - b.i).map(({ i, out }) => ({ PartNumber: i + 1, ETag: out.ETag!, ChecksumCRC32: out.ChecksumCRC32! }));
  const listed = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  assert.deepEqual(listed.Parts!.map((p) => p.PartNumber), [1, 2, 3]);
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'mp/' }));
  assert.ok(uploads.Uploads!.some((u) => u.UploadId === uploadId), 'upload listed');
  await fails(
    () => s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: [parts[1]!, parts[0]!] } })),
    'InvalidPartOrder',
  );
  await fails(
    () => s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0123"' }] } })),
    'InvalidPart',
  );
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  assert.match(done.ETag!, /^"[0-9a-f]{32}-3"$/);
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  assert.ok((await body(got)).equals(data), 'multipart round trip');
  assert.equal(got.ServerSideEncryption, 'aws:kms');
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${part - 10}-${part + 10}` }));
  assert.ok((await body(r)).equals(data.subarray(part - 10, part + 11)), 'range across parts');
  await fails(() => s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: 'x' })), 'NoSuchUpload');

  // Copy parts from the finished object into a new SSE-C object, then abort one more upload.
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp/copy', ...modes['SSE-C'].put }));
  const p1 = await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'mp/copy', UploadId: c.UploadId!, PartNumber: 1, CopySource: `${bucket}/${key}`, CopySourceRange: `bytes=0-${part - 1}`, ...modes['SSE-C'].put }));
  const p2 = await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'mp/copy', UploadId: c.UploadId!, PartNumber: 2, CopySource: `${bucket}/${key}`, CopySourceRange: `bytes=${part}-${data.length - 1}`, ...modes['SSE-C'].put }));
  await fails(() => s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp/copy', UploadId: c.UploadId!, PartNumber: 3, Body: 'x' })), 'InvalidRequest');
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp/copy', UploadId: c.UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.CopyPartResult!.ETag! }, { PartNumber: 2, ETag: p2.CopyPartResult!.ETag! }] } }));
  assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp/copy', ...modes['SSE-C'].get })))).equals(data), 'copied parts');

  const small = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp/small' }));
  const s1 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp/small', UploadId: small.UploadId!, PartNumber: 1, Body: 'tiny' }));
  const s2 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp/small', UploadId: small.UploadId!, PartNumber: 2, Body: 'tiny' }));
  await fails(
    () => s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp/small', UploadId: small.UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: s1.ETag! }, { PartNumber: 2, ETag: s2.ETag! }] } })),
    'EntityTooSmall',
  );
  await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'mp/small', UploadId: small.UploadId! }));
  await fails(() => s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'mp/small', UploadId: small.UploadId! })), 'NoSuchUpload');
});

test('lib-storage Upload streams a body of unknown length (multipart) and it reads back intact', async () => {
  const chunks = Array.from({ length: 13 }, () => randomBytes(1024 * 1024));
  const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: 'lib/stream.bin', Body: Readable.from(chunks), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/s3-test' }, partSize: 5 * 1024 * 1024, queueSize: 3 });
  await upload.done();
  const got = await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'lib/stream.bin' })));
  assert.ok(got.equals(Buffer.concat(chunks)), 'stream upload round trip');
});

function httpsRequest(url: string, method: string, payload?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: t.ca }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

test('presigned PUT and GET work without credentials; an expired or tampered URL is refused', async () => {
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: 'presigned/a b.txt' }), { expiresIn: 60 });
  const put = await httpsRequest(putUrl, 'PUT', Buffer.from('via presigned url'));
  assert.equal(put.status, 200, put.body.toString());
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'presigned/a b.txt' }), { expiresIn: 60 });
  const got = await httpsRequest(getUrl, 'GET');
  assert.equal(got.status, 200);
  assert.equal(got.body.toString(), 'via presigned url');
  const tampered = await httpsRequest(getUrl.replace('presigned/a%20b.txt', 'presigned/other'), 'GET');
  assert.equal(tampered.status, 403);
  assert.match(tampered.body.toString(), /SignatureDoesNotMatch/);
});

test('bad input: content MD5 mismatch, bad checksum, missing key and bucket, unsupported sub-resources', async () => {
  await fails(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad/md5', Body: 'abc', ContentMD5: createHash('md5').update('abd').digest('base64') })), 'BadDigest');
  await fails(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad/crc', Body: 'abc', ChecksumCRC32: 'AAAAAA==' })), 'BadDigest');
  await fails(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'bad/md5' })), 'NotFound');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'bad/none' })), 'NoSuchKey');
  await fails(() => s3.send(new GetObjectCommand({ Bucket: 'trent-no-such-bucket', Key: 'x' })), 'NoSuchBucket');
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'bad/none' }));
});

test('virtual-host addressing: bucket.<endpoint host> with a wildcard certificate name', async () => {
  const { Agent } = await import('node:https');
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  const v = await startTrent({ args: ['--tls-san', 's3.trent.test', '--tls-san', '*.s3.trent.test'] });
  // No DNS here: every name resolves to the loopback address, as a wildcard DNS record would.
  const agent = new Agent({ ca: v.ca, lookup: (_h: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => (opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) } as never);
  const client = new S3Client({ ...v.clientConfig(), endpoint: `https://s3.trent.test:${v.port}`, forcePathStyle: false, requestHandler: new NodeHttpHandler({ httpsAgent: agent }) });
  try {
    await client.send(new CreateBucketCommand({ Bucket: 'vhost-bucket' }));
    await client.send(new PutObjectCommand({ Bucket: 'vhost-bucket', Key: 'dir/a b.txt', Body: 'virtual host' }));
    assert.equal((await body(await client.send(new GetObjectCommand({ Bucket: 'vhost-bucket', Key: 'dir/a b.txt' })))).toString(), 'virtual host');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'vhost-bucket' }));
    assert.deepEqual(listed.Contents!.map((c) => c.Key), ['dir/a b.txt']);
  } finally {
    client.destroy();
    await v.stop();
    await removeDir(v.dataDir);
  }
});
