// S3 Object Lock through the JS SDK, boto3 and the AWS CLI: a locked version survives every attempt to delete or
// replace it, the administrator's included and a bucket deletion, until its retention date; GOVERNANCE yields only to
// x-amz-bypass-governance-retention with s3:BypassGovernanceRetention; legal holds; default retention; AWS's errors.
// A trail delivering into a bucket with default COMPLIANCE retention gets log files nobody can delete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  S3Client,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  GetBucketVersioningCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
} from '@aws-sdk/client-s3';
import { IAMClient, CreateAccessKeyCommand, CreateUserCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { fails } from '../helpers/assert.ts';
import { boto3 } from '../helpers/boto3.ts';
import { aws } from '../helpers/cli.ts';
import { signed } from '../helpers/raw.ts';
import { blobStored, eventually, text, versionRow } from '../helpers/s3-versions.ts';

let t: RunningTrent;
let s3: S3Client;

before(async () => {
  // A lifecycle day of 1 s, so that a test can watch a rule try to remove a locked version.
  t = await startTrent({ env: { TRENT_S3_LIFECYCLE_DAY_SECONDS: '1', TRENT_S3_LIFECYCLE_SECONDS: '1', TRENT_TRAIL_DELIVERY_SECONDS: '1' } });
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

async function lockedBucket(name: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: true }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a bucket created with Object Lock has versioning enabled for good; Object Lock on an existing bucket needs versioning (JS SDK)', async () => {
  const b = 'lock-config';
  await lockedBucket(b);
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  assert.deepEqual((await s3.send(new GetObjectLockConfigurationCommand({ Bucket: b }))).ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled' });
  await fails(s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } })), 'InvalidBucketState', 409);
  await s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 3 } } } }));
  assert.deepEqual((await s3.send(new GetObjectLockConfigurationCommand({ Bucket: b }))).ObjectLockConfiguration, {
    ObjectLockEnabled: 'Enabled',
    Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 3 } },
  });
  await fails(s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 3, Years: 1 } } } })), 'MalformedXML', 400);
  await fails(s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 0 } } } })), 'InvalidArgument', 400);
  const plain = 'lock-existing';
  await s3.send(new CreateBucketCommand({ Bucket: plain }));
  await fails(s3.send(new GetObjectLockConfigurationCommand({ Bucket: plain })), 'ObjectLockConfigurationNotFoundError', 404);
  await fails(s3.send(new PutObjectLockConfigurationCommand({ Bucket: plain, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } })), 'InvalidBucketState', 409);
  await fails(
    s3.send(new PutObjectCommand({ Bucket: plain, Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 60_000) })),
    'InvalidRequest',
    400,
  );
  await fails(s3.send(new GetObjectRetentionCommand({ Bucket: plain, Key: 'k' })), 'InvalidRequest', 400);
  await s3.send(new PutBucketVersioningCommand({ Bucket: plain, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3.send(new PutObjectLockConfigurationCommand({ Bucket: plain, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
  await fails(s3.send(new PutBucketVersioningCommand({ Bucket: plain, VersioningConfiguration: { Status: 'Suspended' } })), 'InvalidBucketState', 409);
});

test('a COMPLIANCE-locked version survives every delete and overwrite, the administrator’s and a bucket deletion included, until its retention date; then it can be deleted, ciphertext and all (JS SDK)', async () => {
  const b = 'lock-compliance';
  await lockedBucket(b);
  const until = new Date(Date.now() + 12_000);
  const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'audit.log', Body: 'evidence', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }));
  const v = put.VersionId!;
  const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'audit.log' }));
  assert.equal(head.ObjectLockMode, 'COMPLIANCE');
  assert.equal(head.ObjectLockRetainUntilDate?.getTime(), Math.floor(until.getTime() / 1000) * 1000);
  const row = (await versionRow(t, b, 'audit.log', v))!;
  // Every way to destroy it, as the administrator (this client has the account's administrator credentials).
  await fails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'audit.log', VersionId: v })), 'AccessDenied', 403);
  await fails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'audit.log', VersionId: v, BypassGovernanceRetention: true })), 'AccessDenied', 403);
  const multi = await s3.send(new DeleteObjectsCommand({ Bucket: b, BypassGovernanceRetention: true, Delete: { Objects: [{ Key: 'audit.log', VersionId: v }] } }));
  assert.deepEqual(multi.Errors!.map((e) => [e.Key, e.VersionId, e.Code]), [['audit.log', v, 'AccessDenied']]);
  await fails(s3.send(new PutObjectRetentionCommand({ Bucket: b, Key: 'audit.log', VersionId: v, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 2000) } })), 'AccessDenied', 403);
  await fails(s3.send(new PutObjectRetentionCommand({ Bucket: b, Key: 'audit.log', VersionId: v, BypassGovernanceRetention: true, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(until.getTime() + 60_000) } })), 'AccessDenied', 403);
  await fails(s3.send(new PutObjectRetentionCommand({ Bucket: b, Key: 'audit.log', VersionId: v, BypassGovernanceRetention: true, Retention: {} })), 'AccessDenied', 403);
  // Overwrites and simple deletes make new versions; the locked one stays as it was.
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'audit.log', Body: 'forged' }));
  await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'audit.log', CopySource: `${b}/audit.log` , MetadataDirective: 'REPLACE' }));
  const marker = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'audit.log' }));
  assert.equal(marker.DeleteMarker, true);
  await fails(s3.send(new DeleteBucketCommand({ Bucket: b })), 'BucketNotEmpty', 409);
  await fails(s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } })), 'InvalidBucketState', 409);
  // A lifecycle rule that expires every noncurrent version after a (1 s) day passes it over while it is locked.
  await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: [{ ID: 'purge', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }] } }));
  await eventually('the lifecycle rule removed the unlocked noncurrent versions', async () => {
    const l = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
    return (l.Versions ?? []).length === 1;
  });
  assert.equal(await text((await s3.send(new GetObjectCommand({ Bucket: b, Key: 'audit.log', VersionId: v }))).Body), 'evidence', 'the locked version is intact');
  assert.ok(await blobStored(t, row.blobs[0]!), 'and so is its ciphertext');
  // Extending is allowed; then, once the date has passed, the version can be deleted.
  const later = new Date(until.getTime() + 2000);
  await s3.send(new PutObjectRetentionCommand({ Bucket: b, Key: 'audit.log', VersionId: v, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: later } }));
  assert.equal((await s3.send(new GetObjectRetentionCommand({ Bucket: b, Key: 'audit.log', VersionId: v }))).Retention?.RetainUntilDate?.getTime(), Math.floor(later.getTime() / 1000) * 1000);
  await sleep(Math.max(0, later.getTime() - Date.now() + 500));
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'audit.log', VersionId: v }));
  assert.equal(await versionRow(t, b, 'audit.log', v), undefined);
  assert.equal(await blobStored(t, row.blobs[0]!), false, 'its ciphertext is gone once it is deleted');
});

test('GOVERNANCE yields only to x-amz-bypass-governance-retention with s3:BypassGovernanceRetention; a legal hold to nothing but its removal (JS SDK)', async () => {
  const b = 'lock-governance';
  await lockedBucket(b);
  const iam = new IAMClient(t.clientConfig());
  await iam.send(new CreateUserCommand({ UserName: 'operator' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'operator' }))).AccessKey!;
  // The operator may do anything to objects except bypass governance retention.
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'operator',
      PolicyName: 'objects',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`] },
          { Effect: 'Deny', Action: 's3:BypassGovernanceRetention', Resource: '*' },
        ],
      }),
    }),
  );
  iam.destroy();
  const operator = new S3Client(t.clientConfig({ forcePathStyle: true, credentials: { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! } }));
  const v = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'g', Body: 'g', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 3600_000) }))).VersionId!;
  await fails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'g', VersionId: v })), 'AccessDenied', 403);
  await fails(operator.send(new DeleteObjectCommand({ Bucket: b, Key: 'g', VersionId: v, BypassGovernanceRetention: true })), 'AccessDenied', 403);
  await fails(operator.send(new PutObjectRetentionCommand({ Bucket: b, Key: 'g', VersionId: v, BypassGovernanceRetention: true, Retention: {} })), 'AccessDenied', 403);
  // Extending needs no bypass.
  await operator.send(new PutObjectRetentionCommand({ Bucket: b, Key: 'g', VersionId: v, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 7200_000) } }));
  // The administrator holds s3:BypassGovernanceRetention: with the header the version goes.
  const gone = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'g', VersionId: v, BypassGovernanceRetention: true }));
  assert.equal(gone.VersionId, v);
  // Legal hold: no bypass removes it; turning it off does.
  const h = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'held', Body: 'h', ObjectLockLegalHoldStatus: 'ON' }))).VersionId!;
  assert.equal((await s3.send(new GetObjectLegalHoldCommand({ Bucket: b, Key: 'held' }))).LegalHold?.Status, 'ON');
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'held' }))).ObjectLockLegalHoldStatus, 'ON');
  await fails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'held', VersionId: h, BypassGovernanceRetention: true })), 'AccessDenied', 403);
  await operator.send(new PutObjectLegalHoldCommand({ Bucket: b, Key: 'held', VersionId: h, LegalHold: { Status: 'OFF' } }));
  assert.equal((await s3.send(new GetObjectLegalHoldCommand({ Bucket: b, Key: 'held', VersionId: h }))).LegalHold?.Status, 'OFF');
  await operator.send(new DeleteObjectCommand({ Bucket: b, Key: 'held', VersionId: h }));
  // An unlocked version has no lock to read.
  const free = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'free', Body: 'f' }))).VersionId!;
  await fails(s3.send(new GetObjectRetentionCommand({ Bucket: b, Key: 'free', VersionId: free })), 'NoSuchObjectLockConfiguration', 404);
  await fails(s3.send(new GetObjectLegalHoldCommand({ Bucket: b, Key: 'free' })), 'NoSuchObjectLockConfiguration', 404);
  operator.destroy();
});

test('lock headers are checked as AWS checks them, and a write taking a lock needs Content-MD5 or a checksum (JS SDK, raw requests)', async () => {
  const b = 'lock-headers';
  await lockedBucket(b);
  await fails(s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE' })), 'InvalidArgument', 400);
  await fails(s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() - 60_000) })), 'InvalidArgument', 400);
  await fails(s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ObjectLockMode: 'governance' as 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 60_000) })), 'InvalidArgument', 400);
  const put = (headers: Record<string, string>) =>
    signed(t, 's3', { method: 'PUT', path: `/${b}/raw`, headers: { 'x-amz-content-sha256': createHash('sha256').update('body').digest('hex'), ...headers }, body: 'body' });
  const until = new Date(Date.now() + 60_000).toISOString();
  const noDigest = await put({ 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': until });
  assert.equal(noDigest.status, 400);
  assert.match(noDigest.body, /<Code>InvalidRequest<\/Code><Message>Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters<\/Message>/);
  const withMd5 = await put({ 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': until, 'content-md5': createHash('md5').update('body').digest('base64') });
  assert.equal(withMd5.status, 200, withMd5.body);
  // With a default retention, every write takes a lock, so every write needs the integrity header.
  await s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } } }));
  assert.equal((await put({})).status, 400);
  const viaSdk = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'defaulted', Body: 'd' }));
  const ret = await s3.send(new GetObjectRetentionCommand({ Bucket: b, Key: 'defaulted', VersionId: viaSdk.VersionId }));
  assert.equal(ret.Retention?.Mode, 'GOVERNANCE');
  assert.ok(Math.abs(ret.Retention!.RetainUntilDate!.getTime() - (Date.now() + 86_400_000)) < 120_000, 'a day from now');
  await fails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'defaulted', VersionId: viaSdk.VersionId })), 'AccessDenied', 403);
  // The bypass header on a bucket without Object Lock is refused.
  const plain = 'lock-none';
  await s3.send(new CreateBucketCommand({ Bucket: plain }));
  await fails(s3.send(new DeleteObjectCommand({ Bucket: plain, Key: 'k', BypassGovernanceRetention: true })), 'InvalidArgument', 400);
});

test('boto3: Object Lock configuration, retention and legal hold, with the refusals a locked version gets', async () => {
  const out = await boto3(
    t,
    String.raw`
b = 'lock-boto3'
s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
v = s3.put_object(Bucket=b, Key='k', Body=b'x', ObjectLockMode='COMPLIANCE', ObjectLockRetainUntilDate=until)['VersionId']
s3.put_object_legal_hold(Bucket=b, Key='k', VersionId=v, LegalHold={'Status': 'ON'})
print(json.dumps({
  'config': s3.get_object_lock_configuration(Bucket=b)['ObjectLockConfiguration'],
  'retention': s3.get_object_retention(Bucket=b, Key='k', VersionId=v)['Retention']['Mode'],
  'hold': s3.get_object_legal_hold(Bucket=b, Key='k')['LegalHold']['Status'],
  'delete': call(s3.delete_object, Bucket=b, Key='k', VersionId=v, BypassGovernanceRetention=True),
  'shorten': call(s3.put_object_retention, Bucket=b, Key='k', VersionId=v, Retention={'Mode': 'COMPLIANCE', 'RetainUntilDate': until - datetime.timedelta(minutes=30)}),
  'past': call(s3.put_object_retention, Bucket=b, Key='k', VersionId=v, Retention={'Mode': 'COMPLIANCE', 'RetainUntilDate': datetime.datetime(2001, 1, 1)}),
  'bad_hold': call(s3.put_object_legal_hold, Bucket=b, Key='k', VersionId=v, LegalHold={'Status': 'MAYBE'}),
  'marker': s3.delete_object(Bucket=b, Key='k').get('DeleteMarker'),
  'still': s3.get_object(Bucket=b, Key='k', VersionId=v)['Body'].read().decode(),
}))
`,
  );
  assert.deepEqual(out['config'], { ObjectLockEnabled: 'Enabled' });
  assert.equal(out['retention'], 'COMPLIANCE');
  assert.equal(out['hold'], 'ON');
  assert.deepEqual([(out['delete'] as { code: string }).code, (out['delete'] as { status: number }).status], ['AccessDenied', 403]);
  assert.equal((out['shorten'] as { code: string }).code, 'AccessDenied');
  assert.equal((out['past'] as { code: string }).code, 'InvalidArgument');
  assert.equal((out['bad_hold'] as { code: string }).code, 'MalformedXML');
  assert.equal(out['marker'], true);
  assert.equal(out['still'], 'x');
});

test('AWS CLI v1: put-object-lock-configuration, put-object-retention, get-object-retention', async () => {
  const b = 'lock-cli';
  assert.equal((await aws(t, 'v1', ['s3api', 'create-bucket', '--bucket', b, '--object-lock-enabled-for-bucket'])).code, 0);
  const cfg = await aws(t, 'v1', ['s3api', 'put-object-lock-configuration', '--bucket', b, '--object-lock-configuration', '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}']);
  assert.equal(cfg.code, 0, cfg.stderr);
  const v = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }))).VersionId!;
  const until = new Date(Date.now() + 3 * 86_400_000).toISOString();
  const ext = await aws(t, 'v1', ['s3api', 'put-object-retention', '--bucket', b, '--key', 'k', '--version-id', v, '--retention', `{"Mode":"COMPLIANCE","RetainUntilDate":"${until}"}`]);
  assert.equal(ext.code, 0, ext.stderr);
  const got = await aws(t, 'v1', ['s3api', 'get-object-retention', '--bucket', b, '--key', 'k', '--version-id', v, '--output', 'json']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal((JSON.parse(got.stdout) as { Retention: { Mode: string } }).Retention.Mode, 'COMPLIANCE');
  const del = await aws(t, 'v1', ['s3api', 'delete-object', '--bucket', b, '--key', 'k', '--version-id', v]);
  assert.notEqual(del.code, 0);
  assert.match(del.stderr, /AccessDenied/);
});

test('a trail delivering into a bucket with default COMPLIANCE retention: every log file is a locked version nobody can delete', async () => {
  const b = 'lock-audit-logs';
  await lockedBucket(b);
  await s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } } } }));
  const ct = new CloudTrailClient(t.clientConfig());
  await ct.send(new CreateTrailCommand({ Name: 'locked', S3BucketName: b, EnableLogFileValidation: true }));
  await ct.send(new StartLoggingCommand({ Name: 'locked' }));
  ct.destroy();
  // Calls to record, then the delivery (every second in this test).
  await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  let logs: Array<{ Key?: string; VersionId?: string }> = [];
  await eventually('a log file is delivered', async () => {
    logs = ((await s3.send(new ListObjectVersionsCommand({ Bucket: b }))).Versions ?? []).filter((v) => v.Key!.endsWith('.json.gz') && v.Key!.includes('/CloudTrail/'));
    return logs.length > 0;
  });
  const log = logs[0]!;
  const ret = await s3.send(new GetObjectRetentionCommand({ Bucket: b, Key: log.Key!, VersionId: log.VersionId }));
  assert.equal(ret.Retention?.Mode, 'COMPLIANCE');
  await fails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: log.Key!, VersionId: log.VersionId, BypassGovernanceRetention: true })), 'AccessDenied', 403);
  await fails(s3.send(new DeleteBucketCommand({ Bucket: b })), 'BucketNotEmpty', 409);
});
