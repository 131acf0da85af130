// S3 versioning through the JS SDK, boto3 and the AWS CLI: version ids, the null version, delete markers, reads,
// copies and deletes of versions, ListObjectVersions, suspended versioning. Each version is encrypted under its own
// object key, and deleting a version removes its ciphertext.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  S3Client,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type ListObjectVersionsCommandOutput,
} from '@aws-sdk/client-s3';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { fails, type SdkError } from '../helpers/assert.ts';
import { boto3 } from '../helpers/boto3.ts';
import { aws } from '../helpers/cli.ts';
import { blobStored, text, versionRow } from '../helpers/s3-versions.ts';
import { signed } from '../helpers/raw.ts';

let t: RunningTrent;
let s3: S3Client;

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

async function versionedBucket(name: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
}

async function get(bucket: string, key: string, versionId?: string): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
  return text(r.Body);
}

function headerOf(err: SdkError, name: string): string | undefined {
  return (err as unknown as { $response?: { headers?: Record<string, string> } }).$response?.headers?.[name];
}

test('a bucket is unversioned until enabled; then every write is a new version with its own id and object key, all readable (JS SDK)', async () => {
  const b = 'ver-basic';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, undefined, 'never versioned: no status');
  // An object from before versioning is the null version.
  const before = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: 'v0' }));
  assert.equal(before.VersionId, undefined, 'no version id before versioning');
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  const ids: string[] = [];
  for (const body of ['v1', 'v2', 'v3']) {
    const r = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: body }));
    assert.match(r.VersionId!, /^[A-Za-z0-9_-]{32}$/, 'a generated version id');
    ids.push(r.VersionId!);
  }
  assert.equal(new Set(ids).size, 3, 'distinct ids');
  assert.equal(await get(b, 'doc'), 'v3', 'the latest version is read without a version id');
  assert.equal(await get(b, 'doc', ids[0]), 'v1');
  assert.equal(await get(b, 'doc', 'null'), 'v0', 'the null version stays readable');
  const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'doc', VersionId: ids[1] }));
  assert.equal(head.VersionId, ids[1]);
  assert.equal(head.ContentLength, 2);
  const attrs = await s3.send(new GetObjectAttributesCommand({ Bucket: b, Key: 'doc', VersionId: 'null', ObjectAttributes: ['ETag', 'ObjectSize'] }));
  assert.equal(attrs.VersionId, 'null');
  assert.equal(attrs.ETag, createHash('md5').update('v0').digest('hex'), 'the attributes of the version named');
  // Each version has its own object key (its own unique id and wrapped key).
  const rows = await Promise.all(ids.map((id) => versionRow(t, b, 'doc', id)));
  assert.equal(new Set(rows.map((r) => r!.uid)).size, 3);
  assert.equal(new Set(rows.map((r) => r!.wrappedKey.toString('hex'))).size, 3);
  const list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(
    list.Versions!.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size]),
    [
      ['doc', ids[2], true, 2],
      ['doc', ids[1], false, 2],
      ['doc', ids[0], false, 2],
      ['doc', 'null', false, 2],
    ],
    'newest first, the latest flagged',
  );
  assert.equal(list.Versions![0]!.ETag, `"${createHash('md5').update('v3').digest('hex')}"`);
});

test('a delete without a version id adds a delete marker: the key reads as deleted (404, x-amz-delete-marker), a GET of the marker is 405, and removing the marker restores the object (JS SDK)', async () => {
  const b = 'ver-markers';
  await versionedBucket(b);
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }))).VersionId!;
  const del = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(del.DeleteMarker, true);
  assert.match(del.VersionId!, /^[A-Za-z0-9_-]{32}$/);
  const gone = await fails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 'NoSuchKey', 404);
  assert.equal(headerOf(gone, 'x-amz-delete-marker'), 'true');
  assert.equal(headerOf(gone, 'x-amz-version-id'), del.VersionId);
  const headGone = await fails(s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k' })), 'NotFound', 404);
  assert.equal(headerOf(headGone, 'x-amz-delete-marker'), 'true');
  const marker = await fails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: del.VersionId })), 'MethodNotAllowed', 405);
  assert.equal(headerOf(marker, 'x-amz-delete-marker'), 'true');
  assert.ok(headerOf(marker, 'last-modified'), 'the marker’s Last-Modified');
  assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 0, 'listings leave the key out');
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(versions.DeleteMarkers!.map((m) => [m.Key, m.VersionId, m.IsLatest]), [['k', del.VersionId, true]]);
  assert.deepEqual(versions.Versions!.map((v) => [v.VersionId, v.IsLatest]), [[v1, false]]);
  // Deleting the marker (by its version id) makes the object current again.
  const undelete = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: del.VersionId }));
  assert.equal(undelete.DeleteMarker, true);
  assert.equal(undelete.VersionId, del.VersionId);
  assert.equal(await get(b, 'k'), 'one');
  assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 1);
});

test('deleting a version removes it for good, ciphertext included; the next newest becomes the latest (JS SDK)', async () => {
  const b = 'ver-destroy';
  await versionedBucket(b);
  const body = randomBytes(100_000);
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: body }))).VersionId!;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'second' }))).VersionId!;
  const row2 = (await versionRow(t, b, 'k', v2))!;
  assert.ok(await blobStored(t, row2.blobs[0]!), 'the version’s blob is stored');
  const r = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 }));
  assert.equal(r.VersionId, v2);
  assert.equal(r.DeleteMarker, undefined);
  assert.equal(await versionRow(t, b, 'k', v2), undefined, 'its row is gone');
  assert.equal(await blobStored(t, row2.blobs[0]!), false, 'its ciphertext is gone');
  const back = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(back.VersionId, v1, 'the previous version is the latest again');
  assert.deepEqual(Buffer.from(await back.Body!.transformToByteArray()), body);
  await fails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 })), 'NoSuchVersion', 404);
  // Deleting a version that is not there succeeds (a retried delete).
  const again = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 }));
  assert.equal(again.$metadata.httpStatusCode, 204);
});

test('version ids that name nothing: malformed is 400 InvalidArgument, unknown 404 NoSuchVersion; a version id on a bucket never versioned is refused (JS SDK)', async () => {
  const b = 'ver-errors';
  await versionedBucket(b);
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  await fails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'not a version' })), 'InvalidArgument', 400);
  await fails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'A'.repeat(32) })), 'NoSuchVersion', 404);
  await fails(s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', VersionId: 'A'.repeat(32) })), 'NotFound', 404);
  await fails(s3.send(new ListObjectVersionsCommand({ Bucket: b, VersionIdMarker: 'A'.repeat(32) })), 'InvalidArgument', 400);
  const plain = 'ver-never';
  await s3.send(new CreateBucketCommand({ Bucket: plain }));
  await s3.send(new PutObjectCommand({ Bucket: plain, Key: 'k', Body: 'x' }));
  await fails(s3.send(new DeleteObjectCommand({ Bucket: plain, Key: 'k', VersionId: 'A'.repeat(32) })), 'InvalidArgument', 400);
  assert.equal(await get(plain, 'k', 'null'), 'x', 'the null version can be named on any bucket');
  // PutBucketVersioning: the Status is required and must be Enabled or Suspended.
  const raw = (xml: string) => signed(t, 's3', { method: 'PUT', path: `/${plain}`, query: { versioning: '' }, headers: { 'content-type': 'application/xml', 'x-amz-content-sha256': createHash('sha256').update(xml).digest('hex') }, body: xml });
  const missing = await raw('<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>');
  assert.equal(missing.status, 400);
  assert.match(missing.body, /<Code>IllegalVersioningConfigurationException<\/Code>/);
  const bad = await raw('<VersioningConfiguration><Status>On</Status></VersioningConfiguration>');
  assert.equal(bad.status, 400);
  assert.match(bad.body, /<Code>MalformedXML<\/Code>/);
});

test('suspended versioning: writes and deletes replace the null version, versions from before stay (JS SDK)', async () => {
  const b = 'ver-suspended';
  await versionedBucket(b);
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'enabled' }))).VersionId!;
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Suspended');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'null-1' }));
  const nullRow = (await versionRow(t, b, 'k', 'null'))!;
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'null-2' }));
  assert.equal(await get(b, 'k'), 'null-2');
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k' }))).VersionId, 'null');
  assert.equal(await blobStored(t, nullRow.blobs[0]!), false, 'the replaced null version’s ciphertext is gone');
  let list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(list.Versions!.map((v) => [v.VersionId, v.IsLatest]), [['null', true], [v1, false]]);
  // A delete while suspended: a delete marker with the version 'null', replacing the null version.
  const del = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(del.DeleteMarker, true);
  assert.equal(del.VersionId, 'null');
  list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(list.Versions!.map((v) => v.VersionId), [v1]);
  assert.deepEqual(list.DeleteMarkers!.map((m) => [m.VersionId, m.IsLatest]), [['null', true]]);
  assert.equal(await get(b, 'k', v1), 'enabled');
});

test('CopyObject takes a source version (x-amz-copy-source-version-id) and restores an old version as the newest; a delete marker cannot be copied (JS SDK)', async () => {
  const b = 'ver-copy';
  await versionedBucket(b);
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'old' }))).VersionId!;
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'new' }));
  const restored = await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'k', CopySource: `${b}/k?versionId=${v1}` }));
  assert.equal(restored.CopySourceVersionId, v1);
  assert.ok(restored.VersionId && restored.VersionId !== v1, 'a new version');
  assert.equal(await get(b, 'k'), 'old');
  const marker = (await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))).VersionId!;
  await fails(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'other', CopySource: `${b}/k?versionId=${marker}` })), 'InvalidRequest', 400);
  await fails(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'other', CopySource: `${b}/k` })), 'NoSuchKey', 404);
  await fails(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'other', CopySource: `${b}/k?versionId=${'B'.repeat(32)}` })), 'NoSuchVersion', 404);
});

test('ListObjectVersions pages by key and version markers, with prefixes and delimiters (JS SDK)', async () => {
  const b = 'ver-paging';
  await versionedBucket(b);
  const expected: Array<[string, string]> = [];
  for (const key of ['a/1', 'a/2', 'b', 'c']) {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: `${key}-${i}` }))).VersionId!);
    for (const id of ids.reverse()) expected.push([key, id]);
  }
  const seen: Array<[string, string]> = [];
  let page: ListObjectVersionsCommandOutput | undefined;
  let pages = 0;
  do {
    page = await s3.send(
      new ListObjectVersionsCommand({ Bucket: b, MaxKeys: 2, ...(page?.NextKeyMarker ? { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker } : {}) }),
    );
    for (const v of page.Versions ?? []) seen.push([v.Key!, v.VersionId!]);
    pages++;
  } while (page.IsTruncated);
  assert.deepEqual(seen, expected, 'every version once, in order');
  assert.equal(pages, 6);
  const grouped = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Delimiter: '/' }));
  assert.deepEqual(grouped.CommonPrefixes!.map((p) => p.Prefix), ['a/']);
  assert.deepEqual([...new Set(grouped.Versions!.map((v) => v.Key))], ['b', 'c']);
  const prefixed = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'a/' }));
  assert.equal(prefixed.Versions!.length, 6);
});

test('DeleteObjects deletes versions and adds delete markers, each answered on its own (JS SDK)', async () => {
  const b = 'ver-multi';
  await versionedBucket(b);
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'x', Body: '1' }))).VersionId!;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'x', Body: '2' }))).VersionId!;
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'y', Body: 'y' }));
  const r = await s3.send(
    new DeleteObjectsCommand({
      Bucket: b,
      Delete: { Objects: [{ Key: 'x', VersionId: v1 }, { Key: 'y' }, { Key: 'x', VersionId: 'C'.repeat(32) }] },
    }),
  );
  const byKey = Object.fromEntries((r.Deleted ?? []).map((d) => [`${d.Key}:${d.VersionId ?? ''}`, d]));
  assert.equal(byKey[`x:${v1}`]?.DeleteMarker, undefined);
  assert.equal(byKey['y:']?.DeleteMarker, true);
  assert.match(byKey['y:']!.DeleteMarkerVersionId!, /^[A-Za-z0-9_-]{32}$/);
  assert.deepEqual(r.Errors!.map((e) => [e.Key, e.Code]), [['x', 'NoSuchVersion']]);
  const list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(list.Versions!.map((v) => `${v.Key}:${v.VersionId}`).sort(), [`x:${v2}`, `y:${list.Versions!.find((v) => v.Key === 'y')!.VersionId}`].sort());
});

test('versions keep their own encryption: SSE-C versions under different keys, each read only with its own (JS SDK)', async () => {
  const b = 'ver-ssec';
  await versionedBucket(b);
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const sse = (k: Buffer) => ({ SSECustomerAlgorithm: 'AES256', SSECustomerKey: k.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(k).digest('base64') });
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'first', ...sse(k1) }))).VersionId!;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'second', ...sse(k2) }))).VersionId!;
  assert.equal(await text((await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v1, ...sse(k1) }))).Body), 'first');
  assert.equal(await text((await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v2, ...sse(k2) }))).Body), 'second');
  await fails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v1, ...sse(k2) })), 'AccessDenied', 403);
});

test('a multipart upload completes into a new version, and a repeated completion answers with that version (JS SDK)', async () => {
  const b = 'ver-multipart';
  await versionedBucket(b);
  const first = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'big', Body: 'small' }))).VersionId!;
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'big' }));
  const part = await s3.send(new UploadPartCommand({ Bucket: b, Key: 'big', UploadId, PartNumber: 1, Body: 'multipart body' }));
  const complete = () => s3.send(new CompleteMultipartUploadCommand({ Bucket: b, Key: 'big', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  const done = await complete();
  assert.ok(done.VersionId && done.VersionId !== first);
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'big', Body: 'newer' }));
  const again = await complete();
  assert.equal(again.VersionId, done.VersionId, 'the retry answers with the version the upload became');
  assert.equal(await get(b, 'big', done.VersionId), 'multipart body');
});

test('boto3: versioning end to end, with the error codes clients see', async () => {
  const out = await boto3(
    t,
    String.raw`
b = 'ver-boto3'
s3.create_bucket(Bucket=b)
s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={'Status': 'Enabled'})
v1 = s3.put_object(Bucket=b, Key='k', Body=b'one')['VersionId']
v2 = s3.put_object(Bucket=b, Key='k', Body=b'two')['VersionId']
old = s3.get_object(Bucket=b, Key='k', VersionId=v1)['Body'].read().decode()
marker = s3.delete_object(Bucket=b, Key='k')
listed = s3.list_object_versions(Bucket=b)
print(json.dumps({
  'status': s3.get_bucket_versioning(Bucket=b).get('Status'),
  'old': old,
  'marker': [marker.get('DeleteMarker'), marker.get('VersionId')],
  'versions': [[v['VersionId'], v['IsLatest']] for v in listed.get('Versions', [])],
  'markers': [[m['VersionId'], m['IsLatest']] for m in listed.get('DeleteMarkers', [])],
  'v1v2': [v1, v2],
  'get_deleted': call(s3.get_object, Bucket=b, Key='k'),
  'head_marker': call(s3.head_object, Bucket=b, Key='k', VersionId=marker['VersionId']),
  'no_version': call(s3.get_object, Bucket=b, Key='k', VersionId='A' * 32),
  'delete_version': call(s3.delete_object, Bucket=b, Key='k', VersionId=v2),
}))
`,
  );
  const [v1, v2] = out['v1v2'] as string[];
  assert.equal(out['status'], 'Enabled');
  assert.equal(out['old'], 'one');
  const [isMarker, markerId] = out['marker'] as [boolean, string];
  assert.equal(isMarker, true);
  assert.deepEqual(out['versions'], [[v2, false], [v1, false]]);
  assert.deepEqual(out['markers'], [[markerId, true]]);
  const deleted = out['get_deleted'] as { code: string; status: number; headers: Record<string, string> };
  assert.equal(deleted.code, 'NoSuchKey');
  assert.equal(deleted.headers['x-amz-delete-marker'], 'true');
  const head = out['head_marker'] as { status: number; headers: Record<string, string> };
  assert.equal(head.status, 405, 'HEAD of a delete marker by version: 405');
  assert.equal(head.headers['x-amz-delete-marker'], 'true');
  assert.equal((out['no_version'] as { code: string }).code, 'NoSuchVersion');
  assert.equal((out['delete_version'] as { ok: { VersionId: string } }).ok.VersionId, v2);
});

test('AWS CLI v1: put-bucket-versioning, list-object-versions, get-object --version-id', async () => {
  const b = 'ver-cli';
  assert.equal((await aws(t, 'v1', ['s3api', 'create-bucket', '--bucket', b])).code, 0);
  const on = await aws(t, 'v1', ['s3api', 'put-bucket-versioning', '--bucket', b, '--versioning-configuration', 'Status=Enabled']);
  assert.equal(on.code, 0, on.stderr);
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }))).VersionId!;
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two' }));
  const listed = await aws(t, 'v1', ['s3api', 'list-object-versions', '--bucket', b, '--output', 'json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal((JSON.parse(listed.stdout) as { Versions: unknown[] }).Versions.length, 2);
  const out = `${t.dataDir}/cli-v1.txt`;
  const got = await aws(t, 'v1', ['s3api', 'get-object', '--bucket', b, '--key', 'k', '--version-id', v1, out, '--output', 'json']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal((JSON.parse(got.stdout) as { VersionId: string }).VersionId, v1);
  const { readFile } = await import('node:fs/promises');
  assert.equal(await readFile(out, 'utf8'), 'one');
  const status = await aws(t, 'v1', ['s3api', 'get-bucket-versioning', '--bucket', b, '--output', 'json']);
  assert.equal((JSON.parse(status.stdout) as { Status: string }).Status, 'Enabled');
});

test('concurrent writes of one key each become a version, exactly one of them the latest (JS SDK)', async () => {
  const b = 'ver-race';
  await versionedBucket(b);
  const bodies = Array.from({ length: 16 }, (_, i) => `body-${i}`);
  const ids = await Promise.all(bodies.map(async (Body) => (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'hot', Body }))).VersionId!));
  assert.equal(new Set(ids).size, bodies.length);
  const list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.equal(list.Versions!.length, bodies.length);
  assert.equal(list.Versions!.filter((v) => v.IsLatest).length, 1);
  const latest = list.Versions!.find((v) => v.IsLatest)!.VersionId;
  assert.equal(latest, list.Versions![0]!.VersionId, 'the latest is the newest');
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'hot' }))).VersionId, latest);
});
