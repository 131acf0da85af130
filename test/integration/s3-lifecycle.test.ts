// S3 lifecycle through the JS SDK, boto3 and the AWS CLI: configurations checked as AWS checks them, and carried out by
// the lifecycle job (once per cluster, under a lease): expiration of current versions (deleted, or a delete marker),
// of noncurrent versions (ciphertext and all), of delete markers left alone, and of incomplete multipart uploads.
// The server runs with a lifecycle day of 2 s (TRENT_S3_LIFECYCLE_DAY_SECONDS, for tests only) and runs the job every second.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  S3Client,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketLifecycleCommand,
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type LifecycleRule,
} from '@aws-sdk/client-s3';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { fails } from '../helpers/assert.ts';
import { boto3 } from '../helpers/boto3.ts';
import { aws } from '../helpers/cli.ts';
import { blobStored, eventually, versionRow } from '../helpers/s3-versions.ts';

const DAY_S = 2;
let t: RunningTrent;
let s3: S3Client;

before(async () => {
  t = await startTrent({ env: { TRENT_S3_LIFECYCLE_DAY_SECONDS: String(DAY_S), TRENT_S3_LIFECYCLE_SECONDS: '1' } });
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

const put = (bucket: string, Rules: LifecycleRule[]) => s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules } }));
const keys = async (bucket: string) => ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((c) => c.Key!);

test('lifecycle configurations: stored and answered as sent, removed, and refused with AWS’s errors (JS SDK)', async () => {
  const b = 'lc-config';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await fails(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })), 'NoSuchLifecycleConfiguration', 404);
  const rules: LifecycleRule[] = [
    { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
    { ID: 'tagged', Status: 'Disabled', Filter: { And: { Prefix: 'tmp/', Tags: [{ Key: 'temp', Value: 'yes' }], ObjectSizeGreaterThan: 10 } }, Expiration: { Days: 1 } },
    { ID: 'old', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 7, NewerNoncurrentVersions: 2 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } },
    { ID: 'markers', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { ExpiredObjectDeleteMarker: true } },
    { ID: 'dated', Status: 'Enabled', Filter: { Tag: { Key: 'k', Value: 'v' } }, Expiration: { Date: new Date('2031-01-01T00:00:00Z') } },
  ];
  await put(b, rules);
  const got = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.deepEqual(got.Rules, rules);
  // A rule without an ID gets one.
  await put(b, [{ Status: 'Enabled', Filter: { Prefix: 'a/' }, Expiration: { Days: 1 } }]);
  assert.match((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }))).Rules![0]!.ID!, /^[A-Za-z0-9+/=]{48}$/);
  await s3.send(new DeleteBucketLifecycleCommand({ Bucket: b }));
  await fails(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })), 'NoSuchLifecycleConfiguration', 404);
  await s3.send(new DeleteBucketLifecycleCommand({ Bucket: b }));
  // Refusals.
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 0 } }]), 'InvalidArgument', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 0 } }]), 'InvalidArgument', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 0 } }]), 'InvalidArgument', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {} }]), 'InvalidRequest', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { Tag: { Key: 't', Value: 'v' } }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }]), 'InvalidRequest', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }, { ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 2 } }]), 'InvalidArgument', 400);
  await fails(put(b, [{ ID: 'x'.repeat(256), Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }]), 'InvalidArgument', 400);
  await fails(put(b, [{ ID: 'x', Status: 'enabled' as 'Enabled', Filter: {}, Expiration: { Days: 1 } }]), 'MalformedXML', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 1, ExpiredObjectDeleteMarker: true } }]), 'MalformedXML', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Date: new Date('2031-01-01T12:00:00Z') } }]), 'InvalidArgument', 400);
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { And: { Tags: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }] } }, Expiration: { Days: 1 } }]), 'InvalidRequest', 400);
  // Trent keeps one storage class: a transition is refused rather than stored and never carried out.
  await fails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] }]), 'NotImplemented', 501);
});

test('Expiration in a bucket never versioned deletes the objects the rule covers after their days, ciphertext and all; HEAD and PUT say when (JS SDK)', async () => {
  const b = 'lc-expire';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await put(b, [
    { ID: 'tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
    { ID: 'tagged', Status: 'Enabled', Filter: { Tag: { Key: 'expire', Value: 'yes' } }, Expiration: { Days: 1 } },
  ]);
  const p = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'tmp/scratch', Body: 'x' }));
  assert.match(p.Expiration!, /^expiry-date="[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", rule-id="tmp"$/);
  const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'tmp/scratch' }));
  const at = Date.parse(/expiry-date="([^"]+)"/.exec(head.Expiration!)![1]!);
  assert.equal(at % (DAY_S * 1000), 0, 'at a lifecycle midnight');
  assert.ok(at > Date.now() && at <= Date.now() + 2 * DAY_S * 1000 + 1000, 'one lifecycle day after its creation, rounded up');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'keep/one', Body: 'x' }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'keep/tagged', Body: 'x', Tagging: 'expire=yes' }));
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'keep/one' }))).Expiration, undefined);
  const blob = (await versionRow(t, b, 'tmp/scratch', 'null'))!.blobs[0]!;
  await eventually('tmp/ and the tagged object are expired', async () => JSON.stringify(await keys(b)) === JSON.stringify(['keep/one']));
  assert.equal(await blobStored(t, blob), false, 'the expired object’s ciphertext is gone');
});

test('in a versioned bucket, Expiration adds a delete marker, NoncurrentVersionExpiration deletes old versions (keeping the newest asked for), ExpiredObjectDeleteMarker removes markers left alone (JS SDK)', async () => {
  const b = 'lc-versions';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: `v${i}` }))).VersionId!);
  const oldest = (await versionRow(t, b, 'doc', ids[0]!))!.blobs[0]!;
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'gone', Body: 'x' }));
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'gone', VersionId: (await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'gone' }))).Versions![0]!.VersionId }));
  const lone = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'gone' }));
  assert.equal(lone.DeleteMarker, true, 'a delete marker with no version under it');
  await put(b, [
    { ID: 'current', Status: 'Enabled', Filter: { Prefix: 'doc' }, Expiration: { Days: 1 } },
    { ID: 'noncurrent', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 1 } },
    { ID: 'markers', Status: 'Enabled', Filter: {}, Expiration: { ExpiredObjectDeleteMarker: true } },
  ]);
  await eventually('the lone delete marker is removed', async () => ((await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'gone' }))).DeleteMarkers ?? []).length === 0);
  await eventually('doc is expired behind a delete marker', async () => {
    const l = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'doc' }));
    return (l.DeleteMarkers ?? []).some((m) => m.IsLatest);
  });
  assert.deepEqual(await keys(b), [], 'doc reads as deleted');
  await eventually('noncurrent versions beyond the newest one are deleted', async () => {
    const l = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'doc' }));
    return (l.Versions ?? []).length === 1;
  }, 30_000);
  const left = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'doc' }));
  assert.deepEqual(left.Versions!.map((v) => v.VersionId), [ids[3]], 'the newest noncurrent version is kept');
  assert.equal(await blobStored(t, oldest), false, 'the oldest version’s ciphertext is gone');
});

test('AbortIncompleteMultipartUpload aborts uploads after their days; CreateMultipartUpload says when (JS SDK)', async () => {
  const b = 'lc-uploads';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await put(b, [{ ID: 'abort', Status: 'Enabled', Filter: { Prefix: 'up/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }]);
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'up/big' }));
  assert.equal(up.AbortRuleId, 'abort');
  assert.ok(up.AbortDate && up.AbortDate.getTime() % (DAY_S * 1000) === 0);
  await s3.send(new UploadPartCommand({ Bucket: b, Key: 'up/big', UploadId: up.UploadId, PartNumber: 1, Body: 'part' }));
  const parts = await s3.send(new ListPartsCommand({ Bucket: b, Key: 'up/big', UploadId: up.UploadId }));
  assert.deepEqual([parts.AbortRuleId, parts.AbortDate?.getTime()], ['abort', up.AbortDate.getTime()]);
  const other = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'other/big' }));
  assert.equal(other.AbortRuleId, undefined);
  await eventually('the upload under up/ is aborted', async () => {
    const l = await s3.send(new ListMultipartUploadsCommand({ Bucket: b }));
    return JSON.stringify((l.Uploads ?? []).map((u) => u.Key)) === JSON.stringify(['other/big']);
  });
});

test('boto3: put, get and delete a lifecycle configuration, with its refusals', async () => {
  const out = await boto3(
    t,
    String.raw`
b = 'lc-boto3'
s3.create_bucket(Bucket=b)
rules = [{'ID': 'r1', 'Status': 'Enabled', 'Filter': {'Prefix': 'logs/'}, 'Expiration': {'Days': 90}, 'NoncurrentVersionExpiration': {'NoncurrentDays': 30}}]
s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={'Rules': rules})
got = s3.get_bucket_lifecycle_configuration(Bucket=b)['Rules']
s3.delete_bucket_lifecycle(Bucket=b)
print(json.dumps({
  'got': got,
  'after': call(s3.get_bucket_lifecycle_configuration, Bucket=b),
  'no_action': call(s3.put_bucket_lifecycle_configuration, Bucket=b, LifecycleConfiguration={'Rules': [{'ID': 'x', 'Status': 'Enabled', 'Filter': {}}]}),
  'zero': call(s3.put_bucket_lifecycle_configuration, Bucket=b, LifecycleConfiguration={'Rules': [{'ID': 'x', 'Status': 'Enabled', 'Filter': {}, 'Expiration': {'Days': 0}}]}),
}))
`,
  );
  assert.deepEqual(out['got'], [{ ID: 'r1', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 90 }, NoncurrentVersionExpiration: { NoncurrentDays: 30 } }]);
  assert.equal((out['after'] as { code: string }).code, 'NoSuchLifecycleConfiguration');
  assert.deepEqual([(out['no_action'] as { code: string }).code, (out['no_action'] as { message: string }).message], ['InvalidRequest', 'At least one action needs to be specified in a rule']);
  assert.equal((out['zero'] as { code: string }).code, 'InvalidArgument');
});

test('AWS CLI v1: put-bucket-lifecycle-configuration and get-bucket-lifecycle-configuration', async () => {
  const b = 'lc-cli';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  const cfg = '{"Rules":[{"ID":"cli","Status":"Enabled","Filter":{"Prefix":"x/"},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}]}';
  const r = await aws(t, 'v1', ['s3api', 'put-bucket-lifecycle-configuration', '--bucket', b, '--lifecycle-configuration', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const got = await aws(t, 'v1', ['s3api', 'get-bucket-lifecycle-configuration', '--bucket', b, '--output', 'json']);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual((JSON.parse(got.stdout) as { Rules: unknown }).Rules, JSON.parse(cfg).Rules);
});
