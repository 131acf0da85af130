// The console's trail validation (apps/console/src/trail-validate.ts: S3 reads, CloudTrail's ListPublicKeys and
// WebCrypto, as the browser runs it; Node has the same WebCrypto, DecompressionStream and fetch globals), run here
// beside the stock `aws cloudtrail validate-logs` on the same files: both accept an intact chain, and after each
// tampering (a log file changed, a digest deleted, a log file moved, a digest changed) both name exactly the same
// file for the same reason. A cut tail, which the stock CLI cannot see, the console reports from the trail's own
// status (its last digest delivery).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CloudTrailClient, CreateTrailCommand, GetTrailCommand, GetTrailStatusCommand, StartLoggingCommand, type Trail } from '@aws-sdk/client-cloudtrail';
import { CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { spkiFromPkcs1, validateTrail, type ValidationResult } from '../../apps/console/src/trail-validate.ts';
import { aws } from '../helpers/cli.ts';
import { REPO, removeDir, startTrent, type RunningTrent } from '../helpers/trent.ts';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';

let t: RunningTrent;
let ct: CloudTrailClient;
let s3: S3Client;
let trail: Trail;
let accountId: string;
const bucket = 'console-validate';
const started = new Date(Date.now() - 60_000);

function deliver(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), 'trail', 'deliver', '--data-dir', t.dataDir], { cwd: REPO, env: { ...process.env, TRENT_LOG_LEVEL: 'warn' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`trent trail deliver: ${out}`))));
  });
}

async function consoleValidate(): Promise<ValidationResult> {
  const status = await ct.send(new GetTrailStatusCommand({ Name: trail.Name! }));
  return validateTrail({ s3, cloudtrail: ct, trail, status, accountId, region: t.region, start: started, end: new Date() });
}

async function validateLogs(): Promise<{ code: number; invalid: Array<[string, string]>; valid: number }> {
  const r = await aws(t, 'v1', ['cloudtrail', 'validate-logs', '--trail-arn', trail.TrailARN!, '--start-time', started.toISOString(), '--verbose'], 120_000);
  const lines = (r.stdout + r.stderr).split('\n');
  return {
    code: r.code,
    invalid: lines.filter((l) => l.includes('INVALID:')).map((l) => [l.split('\t')[1]!, l.split('INVALID: ')[1]!.trim()]),
    valid: lines.filter((l) => /\tvalid$/.test(l)).length,
  };
}

const invalidOf = (r: ValidationResult) => r.files.filter((f) => f.status !== 'valid').map((f) => [f.uri, f.status]);

async function bytes(key: string): Promise<{ body: Buffer; metadata: Record<string, string> }> {
  const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: Buffer.from(await o.Body!.transformToByteArray()), metadata: o.Metadata ?? {} };
}

async function keys(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => c.Key!).sort();
}

/** Both validators name exactly `uri` as invalid; the console for the same reason as the CLI. */
async function bothName(uri: string, why: RegExp, label: string): Promise<void> {
  const cli = await validateLogs();
  assert.equal(cli.code, 1, `${label}: validate-logs must fail`);
  assert.deepEqual(cli.invalid.map((i) => i[0]), [uri], `${label}: validate-logs names ${uri}`);
  const mine = await consoleValidate();
  assert.deepEqual(invalidOf(mine).map((i) => i[0]), [uri], `${label}: the console names ${uri}: ${JSON.stringify(invalidOf(mine))}`);
  assert.match(mine.files.find((f) => f.uri === uri)!.status, why, `${label}: reason`);
  assert.equal(mine.files.find((f) => f.uri === uri)!.status, cli.invalid[0]![1].replace(/\.$/, ''), `${label}: the same words as the CLI`);
}

before(async () => {
  t = await startTrent();
  ct = new CloudTrailClient(t.clientConfig());
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  const kms = new KMSClient(t.clientConfig());
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await ct.send(new CreateTrailCommand({ Name: 'audit', S3BucketName: bucket, S3KeyPrefix: 'org', EnableLogFileValidation: true }));
  await ct.send(new StartLoggingCommand({ Name: 'audit' }));
  trail = (await ct.send(new GetTrailCommand({ Name: 'audit' }))).Trail!;
  // Three digests, each listing the log files delivered since the one before, a few seconds apart (more than the
  // console allows between a digest's end time and its recorded delivery).
  for (let i = 0; i < 3; i++) {
    const k = await kms.send(new CreateKeyCommand({ Description: `round ${i}` }));
    accountId = k.KeyMetadata!.AWSAccountId!;
    await deliver();
    await new Promise((r) => setTimeout(r, 3500));
  }
  kms.destroy();
});

after(async () => {
  ct?.destroy();
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

test("PKCS#1 public keys are wrapped into SubjectPublicKeyInfo as WebCrypto imports them", () => {
  for (const bits of [2048, 4096]) {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    const pkcs1 = publicKey.export({ type: 'pkcs1', format: 'der' });
    const spki = Buffer.from(spkiFromPkcs1(new Uint8Array(pkcs1)));
    assert.deepEqual(spki, publicKey.export({ type: 'spki', format: 'der' }));
    assert.ok(createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(publicKey));
  }
});

test('an intact chain: the console and validate-logs accept the same files', async () => {
  const cli = await validateLogs();
  assert.equal(cli.code, 0);
  const mine = await consoleValidate();
  assert.deepEqual(invalidOf(mine), []);
  assert.deepEqual(mine.warnings, []);
  assert.ok(mine.validDigests >= 3, `${mine.validDigests} digests`);
  assert.ok(mine.validLogs >= 3, `${mine.validLogs} log files`);
  assert.equal(mine.validDigests + mine.validLogs, cli.valid, 'as many valid files as the CLI counts');
});

test('each tampering is named by both, for the same reason', async () => {
  const all = await keys('org/AWSLogs/');
  const logFiles = all.filter((k) => k.includes('/CloudTrail/'));
  const digests = all.filter((k) => k.includes('/CloudTrail-Digest/'));
  assert.ok(digests.length >= 3 && logFiles.length >= 3);

  // A log file's content changed (still valid gzip JSON).
  const victim = logFiles[0]!;
  const original = await bytes(victim);
  const altered = JSON.parse(gunzipSync(original.body).toString()) as { Records: unknown[] };
  altered.Records.pop();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: victim, Body: gzipSync(Buffer.from(JSON.stringify(altered))) }));
  await bothName(`s3://${bucket}/${victim}`, /^hash value doesn't match$/, 'modified log');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: victim, Body: original.body }));

  // The middle digest deleted.
  const middle = digests[1]!;
  const saved = await bytes(middle);
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: middle }));
  await bothName(`s3://${bucket}/${middle}`, /^not found$/, 'deleted digest');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: middle, Body: saved.body, Metadata: saved.metadata }));

  // A log file moved away from the key its digest names.
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: `${victim}.moved`, CopySource: `${bucket}/${victim}` }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: victim }));
  await bothName(`s3://${bucket}/${victim}`, /^not found$/, 'moved log');
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: victim, CopySource: `${bucket}/${victim}.moved` }));

  // A digest's content changed: its signature no longer verifies.
  const last = digests[2]!;
  const d = await bytes(last);
  const doc = JSON.parse(gunzipSync(d.body).toString()) as Record<string, unknown>;
  doc['newestEventTime'] = '2001-01-01T00:00:00Z';
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: last, Body: gzipSync(Buffer.from(JSON.stringify(doc))), Metadata: d.metadata }));
  await bothName(`s3://${bucket}/${last}`, /^signature verification failed$/, 'modified digest');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: last, Body: d.body, Metadata: d.metadata }));
  assert.deepEqual(invalidOf(await consoleValidate()), [], 'restored');
});

test('a cut tail (the newest digest deleted), invisible to the stock CLI, is reported from the trail status', async () => {
  const digests = (await keys('org/AWSLogs/')).filter((k) => k.includes('/CloudTrail-Digest/'));
  const newest = digests[digests.length - 1]!;
  const saved = await bytes(newest);
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: newest }));
  assert.equal((await validateLogs()).code, 0, 'the stock CLI cannot see a cut tail');
  const mine = await consoleValidate();
  assert.equal(mine.warnings.length, 1, JSON.stringify(mine));
  assert.match(mine.warnings[0]!, /newer digest files have been removed/);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: newest, Body: saved.body, Metadata: saved.metadata }));
  assert.deepEqual((await consoleValidate()).warnings, []);
});
