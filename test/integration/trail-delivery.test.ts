// Trails deliver the audit trail into Trent's own S3 as CloudTrail log files with signed, chained digests,
// and the stock `aws cloudtrail validate-logs` (pip AWS CLI v1, through AWS_ENDPOINT_URL) accepts them.
// Then single files are modified, deleted and moved, and both validate-logs and `trent trail validate`
// must name exactly the file that was touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  CloudTrailClient,
  CreateTrailCommand,
  DescribeTrailsCommand,
  GetTrailCommand,
  GetTrailStatusCommand,
  StartLoggingCommand,
  StopLoggingCommand,
  PutEventSelectorsCommand,
  GetEventSelectorsCommand,
  ListPublicKeysCommand,
  UpdateTrailCommand,
  DeleteTrailCommand,
} from '@aws-sdk/client-cloudtrail';
import { S3Client, CreateBucketCommand, ListObjectsV2Command, GetObjectCommand, PutObjectCommand, DeleteObjectCommand, CopyObjectCommand } from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { REPO, startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { aws } from '../helpers/cli.ts';

let t: RunningTrent;
let ct: CloudTrailClient;
let s3: S3Client;
let kms: KMSClient;
let trailArn: string;
const bucket = 'trail-logs';
const started = new Date(Date.now() - 60_000);

function trent(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), ...args], { cwd: REPO, env: { ...process.env, TRENT_LOG_LEVEL: 'warn' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

async function deliver(): Promise<string> {
  const r = await trent(['trail', 'deliver', '--data-dir', t.dataDir]);
  assert.equal(r.code, 0, `trent trail deliver: ${r.out}`);
  return r.out;
}

async function validateLogs(): Promise<{ code: number; out: string }> {
  const r = await aws(t, 'v1', ['cloudtrail', 'validate-logs', '--trail-arn', trailArn, '--start-time', started.toISOString(), '--verbose'], 120_000);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function trentValidate(): Promise<{ code: number; out: string }> {
  return trent(['trail', 'validate', '--data-dir', t.dataDir, '--trail', trailArn, '--start-time', started.toISOString()]);
}

async function bytes(key: string): Promise<{ body: Buffer; metadata: Record<string, string> }> {
  const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: Buffer.from(await o.Body!.transformToByteArray()), metadata: o.Metadata ?? {} };
}

async function keys(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => c.Key!).sort();
}

before(async () => {
  t = await startTrent();
  ct = new CloudTrailClient(t.clientConfig());
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  kms = new KMSClient(t.clientConfig());
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
});
after(async () => {
  ct?.destroy();
  s3?.destroy();
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

test('trail management: create, describe, get, selectors, status, errors', async () => {
  const created = await ct.send(new CreateTrailCommand({ Name: 'main', S3BucketName: bucket, S3KeyPrefix: 'audit', EnableLogFileValidation: true }));
  trailArn = created.TrailARN!;
  assert.match(trailArn, /^arn:aws:cloudtrail:us-east-1:\d{12}:trail\/main$/);
  assert.equal(created.LogFileValidationEnabled, true);
  await assert.rejects(ct.send(new CreateTrailCommand({ Name: 'main', S3BucketName: bucket })), { name: 'TrailAlreadyExistsException' });
  await assert.rejects(ct.send(new CreateTrailCommand({ Name: 'other', S3BucketName: 'no-such-bucket' })), { name: 'S3BucketDoesNotExistException' });
  await assert.rejects(ct.send(new CreateTrailCommand({ Name: 'x', S3BucketName: bucket })), { name: 'InvalidTrailNameException' });
  await assert.rejects(ct.send(new CreateTrailCommand({ Name: 'kms-trail', S3BucketName: bucket, KmsKeyId: 'alias/x' })), { name: 'UnsupportedOperationException' });
  await assert.rejects(ct.send(new GetTrailCommand({ Name: 'nope' })), { name: 'TrailNotFoundException' });
  const described = await ct.send(new DescribeTrailsCommand({}));
  assert.deepEqual(described.trailList!.map((x) => x.Name), ['main']);
  assert.equal((await ct.send(new GetTrailCommand({ Name: trailArn }))).Trail!.S3KeyPrefix, 'audit');
  assert.equal((await ct.send(new GetTrailStatusCommand({ Name: 'main' }))).IsLogging, false);
  const selectors = await ct.send(
    new PutEventSelectorsCommand({
      TrailName: 'main',
      EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::photos/'] }] }],
    }),
  );
  assert.equal(selectors.EventSelectors![0]!.DataResources![0]!.Values![0], 'arn:aws:s3:::photos/');
  assert.equal((await ct.send(new GetEventSelectorsCommand({ TrailName: 'main' }))).EventSelectors!.length, 1);
  await ct.send(new StartLoggingCommand({ Name: 'main' }));
  const status = await ct.send(new GetTrailStatusCommand({ Name: 'main' }));
  assert.equal(status.IsLogging, true);
  assert.ok(status.StartLoggingTime instanceof Date, 'StartLoggingTime');
  // A second trail, created and deleted, leaves nothing behind.
  await ct.send(new CreateTrailCommand({ Name: 'temporary', S3BucketName: bucket }));
  await ct.send(new UpdateTrailCommand({ Name: 'temporary', S3KeyPrefix: 'tmp' }));
  await ct.send(new DeleteTrailCommand({ Name: 'temporary' }));
  assert.equal((await ct.send(new DescribeTrailsCommand({}))).trailList!.length, 1);
});

test('delivery: log files at CloudTrail paths with the recorded events; hourly digests chained; validate-logs accepts them', async () => {
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  await kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('secret one'), EncryptionContext: { purpose: 'trail-test' } }));
  await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'ada.jpg', Body: 'photo bytes' }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'not-selected', Body: 'x' }));
  assert.match(await deliver(), /delivered [1-9]\d* log file\(s\) and 1 digest file\(s\)/);
  await kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('secret two') }));
  await new Promise((r) => setTimeout(r, 1100));
  await deliver();
  await new Promise((r) => setTimeout(r, 1100));
  await deliver(); // nothing new: a digest with no log files, still in the chain

  const logs = await keys('audit/AWSLogs/');
  const logFiles = logs.filter((k) => k.includes('/CloudTrail/'));
  const digests = logs.filter((k) => k.includes('/CloudTrail-Digest/'));
  assert.equal(digests.length, 3, `three digests: ${digests.join(', ')}`);
  for (const k of logFiles) assert.match(k, /^audit\/AWSLogs\/\d{12}\/CloudTrail\/us-east-1\/\d{4}\/\d{2}\/\d{2}\/\d{12}_CloudTrail_us-east-1_\d{8}T\d{4}Z_[0-9A-F]{16}\.json\.gz$/);
  for (const k of digests) assert.match(k, /^audit\/AWSLogs\/\d{12}\/CloudTrail-Digest\/us-east-1\/\d{4}\/\d{2}\/\d{2}\/\d{12}_CloudTrail-Digest_us-east-1_main_us-east-1_\d{8}T\d{6}Z\.json\.gz$/);
  const records = (await Promise.all(logFiles.map(async (k) => (JSON.parse(gunzipSync((await bytes(k)).body).toString()) as { Records: Array<Record<string, unknown>> }).Records))).flat();
  const encrypts = records.filter((r) => r['eventName'] === 'Encrypt');
  assert.equal(encrypts.length, 2, 'both Encrypt calls delivered');
  assert.ok(
    encrypts.some((e) => JSON.stringify((e['requestParameters'] as Record<string, unknown>)['encryptionContext']) === JSON.stringify({ purpose: 'trail-test' })),
    'the Encrypt event carries its encryption context',
  );
  assert.ok(!JSON.stringify(records).includes('secret one'), 'no plaintext in log files');
  assert.ok(records.some((r) => r['eventName'] === 'PutObject' && (r['requestParameters'] as Record<string, string>)['bucketName'] === 'photos'), 'the selected data event');
  assert.ok(!records.some((r) => r['eventName'] === 'PutObject' && (r['requestParameters'] as Record<string, string>)['key'] === 'not-selected'), 'data events outside the selectors are left out');
  const last = await bytes(digests[2]!);
  assert.equal(last.metadata['signature-algorithm'], 'SHA256withRSA');
  const digest = JSON.parse(gunzipSync(last.body).toString()) as Record<string, unknown>;
  assert.equal(digest['previousDigestS3Object'], digests[1]);
  assert.deepEqual(digest['logFiles'], []);
  const first = JSON.parse(gunzipSync((await bytes(digests[0]!)).body).toString()) as Record<string, unknown>;
  assert.equal(first['previousDigestSignature'], null);
  const pk = await ct.send(new ListPublicKeysCommand({}));
  assert.equal(pk.PublicKeyList![0]!.Fingerprint, digest['digestPublicKeyFingerprint']);
  assert.ok((await ct.send(new GetTrailStatusCommand({ Name: 'main' }))).LatestDigestDeliveryTime instanceof Date, 'digest time in status');

  const v = await validateLogs();
  assert.equal(v.code, 0, `validate-logs: ${v.out}`);
  assert.match(v.out, /3\/3 digest files valid/);
  assert.match(v.out, new RegExp(`${logFiles.length}/${logFiles.length} log files valid`));
  const mine = await trentValidate();
  assert.equal(mine.code, 0, `trent trail validate: ${mine.out}`);
  assert.match(mine.out, /3 digest file\(s\): 3 valid, 0 INVALID/);
});

test('a modified, deleted or moved file is named invalid by validate-logs and trent trail validate', async () => {
  const all = await keys('audit/AWSLogs/');
  const logFiles = all.filter((k) => k.includes('/CloudTrail/'));
  const digests = all.filter((k) => k.includes('/CloudTrail-Digest/'));
  const expectInvalid = async (uri: string, why: RegExp, label: string) => {
    const v = await validateLogs();
    assert.equal(v.code, 1, `${label}: validate-logs must fail: ${v.out}`);
    const invalidLines = v.out.split('\n').filter((l) => l.includes('INVALID:'));
    assert.deepEqual(invalidLines.map((l) => l.split('\t')[1]), [uri], `${label}: validate-logs names exactly ${uri}: ${v.out}`);
    assert.match(invalidLines[0]!, why, `${label}: reason`);
    const mine = await trentValidate();
    assert.equal(mine.code, 1, `${label}: trent trail validate must fail: ${mine.out}`);
    const mineInvalid = mine.out.split('\n').filter((l) => l.includes('INVALID:') && l.includes('s3://'));
    assert.deepEqual(mineInvalid.map((l) => l.split('\t')[1]), [uri], `${label}: trent trail validate names exactly ${uri}: ${mine.out}`);
  };

  // 1. A log file's content changed (still valid gzip JSON).
  const victim = logFiles[0]!;
  const original = await bytes(victim);
  const { gzipSync } = await import('node:zlib');
  const altered = JSON.parse(gunzipSync(original.body).toString()) as { Records: unknown[] };
  altered.Records.pop();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: victim, Body: gzipSync(Buffer.from(JSON.stringify(altered))) }));
  await expectInvalid(`s3://${bucket}/${victim}`, /hash value doesn't match/, 'modified log');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: victim, Body: original.body }));
  assert.equal((await validateLogs()).code, 0, 'restored');

  // 2. The middle digest deleted.
  const middle = digests[1]!;
  const saved = await bytes(middle);
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: middle }));
  await expectInvalid(`s3://${bucket}/${middle}`, /not found/, 'deleted digest');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: middle, Body: saved.body, Metadata: saved.metadata }));
  assert.equal((await validateLogs()).code, 0, 'restored');

  // 3. A log file moved away from the key its digest names.
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: `${victim}.moved`, CopySource: `${bucket}/${victim}` }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: victim }));
  await expectInvalid(`s3://${bucket}/${victim}`, /not found/, 'moved log');
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: victim, CopySource: `${bucket}/${victim}.moved` }));
  assert.equal((await validateLogs()).code, 0, 'restored');

  // 4. A digest's content changed (its signature no longer verifies).
  const lastDigest = digests[2]!;
  const d = await bytes(lastDigest);
  const doc = JSON.parse(gunzipSync(d.body).toString()) as Record<string, unknown>;
  doc['newestEventTime'] = '2001-01-01T00:00:00Z';
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: lastDigest, Body: gzipSync(Buffer.from(JSON.stringify(doc))), Metadata: d.metadata }));
  await expectInvalid(`s3://${bucket}/${lastDigest}`, /signature verification failed/, 'modified digest');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: lastDigest, Body: d.body, Metadata: d.metadata }));
  assert.equal((await validateLogs()).code, 0, 'restored');

  // 5. The tail cut: the newest digest and the log files it lists deleted. The stock CLI, which starts from what
  // it can list, cannot see this by design; Trent knows which digest it delivered last.
  const newest = digests[digests.length - 1]!;
  const newestSaved = await bytes(newest);
  const listed = (JSON.parse(gunzipSync(newestSaved.body).toString()) as { logFiles: Array<{ s3Object: string }> }).logFiles.map((l) => l.s3Object);
  const savedLogs = await Promise.all(listed.map(async (k) => ({ k, b: await bytes(k) })));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: newest }));
  for (const k of listed) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
  assert.equal((await validateLogs()).code, 0, 'the stock CLI cannot see a cut tail');
  const cut = await trentValidate();
  assert.equal(cut.code, 1, `trent trail validate reports the cut tail: ${cut.out}`);
  const cutInvalid = cut.out.split('\n').filter((l) => l.includes('INVALID:') && l.includes('s3://'));
  assert.deepEqual(cutInvalid.map((l) => l.split('\t')[1]), [`s3://${bucket}/${newest}`], cut.out);
  assert.match(cutInvalid[0]!, /not found/);
  // Only the newest digest deleted (its logs kept) is reported the same way.
  for (const { k, b } of savedLogs) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: b.body }));
  const cut2 = await trentValidate();
  assert.equal(cut2.code, 1, cut2.out);
  assert.deepEqual(cut2.out.split('\n').filter((l) => l.includes('INVALID:')).map((l) => l.split('\t')[1]), [`s3://${bucket}/${newest}`]);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: newest, Body: newestSaved.body, Metadata: newestSaved.metadata }));
  assert.equal((await trentValidate()).code, 0, 'restored');
});

test('StopLogging: events before the stop are delivered, later ones are not', async () => {
  await kms.send(new CreateKeyCommand({ Description: 'before-stop' }));
  await ct.send(new StopLoggingCommand({ Name: 'main' }));
  await kms.send(new CreateKeyCommand({ Description: 'after-stop' }));
  await deliver();
  const all = await keys('audit/AWSLogs/');
  const records = (await Promise.all(all.filter((k) => k.includes('/CloudTrail/')).map(async (k) => JSON.parse(gunzipSync((await bytes(k)).body).toString()).Records as Array<Record<string, unknown>>))).flat();
  const descriptions = records.filter((r) => r['eventName'] === 'CreateKey').map((r) => (r['requestParameters'] as Record<string, string> | null)?.['description']);
  assert.ok(descriptions.includes('before-stop'), 'delivered before the stop');
  assert.ok(!descriptions.includes('after-stop'), 'nothing after the stop');
  assert.equal((await validateLogs()).code, 0, 'the chain (with its final digest) is still valid');
});

test('the server delivers log files and digests on its own schedule', async () => {
  const own = await startTrent({ env: { TRENT_TRAIL_DELIVERY_SECONDS: '1', TRENT_TRAIL_DIGEST_SECONDS: '2' } });
  const c = new CloudTrailClient(own.clientConfig());
  const b = new S3Client(own.clientConfig({ forcePathStyle: true }));
  try {
    await b.send(new CreateBucketCommand({ Bucket: 'scheduled' }));
    await c.send(new CreateTrailCommand({ Name: 'scheduled', S3BucketName: 'scheduled', EnableLogFileValidation: true }));
    await c.send(new StartLoggingCommand({ Name: 'scheduled' }));
    await new KMSClient(own.clientConfig()).send(new CreateKeyCommand({ Description: 'scheduled' }));
    let found: string[] = [];
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 250));
      found = ((await b.send(new ListObjectsV2Command({ Bucket: 'scheduled' }))).Contents ?? []).map((o) => o.Key!);
      if (found.some((k) => k.includes('/CloudTrail/')) && found.some((k) => k.includes('/CloudTrail-Digest/'))) break;
    }
    assert.ok(found.some((k) => k.includes('/CloudTrail/')), `a log file was delivered: ${found.join(', ')}`);
    assert.ok(found.some((k) => k.includes('/CloudTrail-Digest/')), `a digest was written: ${found.join(', ')}`);
    const status = await c.send(new GetTrailStatusCommand({ Name: 'scheduled' }));
    assert.ok(status.LatestDeliveryTime instanceof Date && status.LatestDigestDeliveryTime instanceof Date, 'status shows both deliveries');
  } finally {
    c.destroy();
    b.destroy();
    await own.stop();
    await removeDir(own.dataDir);
  }
});
