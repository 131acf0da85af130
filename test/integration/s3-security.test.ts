// What S3 encryption must guarantee, checked from the outside: a plaintext marker written under every SSE
// mode (single PUT, multipart, copy) appears nowhere under the data directory, nor does an SSE-C key; a
// tampered blob is refused rather than served; S3 Bucket Keys cut KMS GenerateDataKey calls from one per
// object to one per bucket key (counted in the audit trail); S3 calls and the KMS calls S3 makes on the
// caller's behalf are recorded as AWS records them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { CloudTrailClient, LookupEventsCommand, type Event } from '@aws-sdk/client-cloudtrail';
import { DISTRIBUTED, filesContaining, filesUnder, startTrent, removeDir, storageDirs, type RunningTrent } from '../helpers/trent.ts';

let t: RunningTrent;
let s3: S3Client;
let keyArn: string;
const MARKER = Buffer.from(`TRENT-PLAINTEXT-MARKER-${randomBytes(6).toString('hex')}`);
const ssecKey = randomBytes(32);
const ssec = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: ssecKey as unknown as string };

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  const kms = new KMSClient(t.clientConfig());
  keyArn = (await kms.send(new CreateKeyCommand({ Description: 's3 security' }))).KeyMetadata!.Arn!;
  kms.destroy();
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

/** A body made of the marker repeated, so any plaintext fragment of it would be found. */
function markerBody(bytes: number): Buffer {
  return Buffer.alloc(bytes, MARKER);
}


async function findAnywhere(needles: Buffer[]): Promise<string[]> {
  const hits: string[] = [];
  for (const f of (await Promise.all(storageDirs(t.dataDir).map(filesUnder))).flat()) {
    const content = await readFile(f).catch(() => Buffer.alloc(0)); // PostgreSQL removes some files as it goes
    for (const n of needles) if (content.includes(n)) hits.push(`${f} contains ${n.subarray(0, 12).toString('hex')}...`);
  }
  return hits;
}

async function body(out: { Body?: unknown }): Promise<Buffer> {
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

test('a plaintext marker written under every SSE mode appears nowhere under the data directory; neither does the SSE-C key', async () => {
  const b = 'trent-marker';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  const modes: Record<string, object> = {
    sse_s3: { ServerSideEncryption: 'AES256' },
    sse_kms: { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn },
    sse_kms_bucket_key: { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, BucketKeyEnabled: true },
    sse_c: ssec,
  };
  for (const [name, sse] of Object.entries(modes)) {
    await s3.send(new PutObjectCommand({ Bucket: b, Key: `${name}/small`, Body: markerBody(3000), ...sse }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: `${name}/large`, Body: markerBody(300_000), ...sse }));
    const mp = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: `${name}/multipart`, ...sse }));
    const part = { Bucket: b, Key: `${name}/multipart`, UploadId: mp.UploadId!, ...(name === 'sse_c' ? ssec : {}) };
    const p1 = await s3.send(new UploadPartCommand({ ...part, PartNumber: 1, Body: markerBody(5 * 1024 * 1024) }));
    const p2 = await s3.send(new UploadPartCommand({ ...part, PartNumber: 2, Body: markerBody(1000) }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: b, Key: `${name}/multipart`, UploadId: mp.UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag! }, { PartNumber: 2, ETag: p2.ETag! }] } }));
    const srcSse = name === 'sse_c' ? { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: ssecKey as unknown as string } : {};
    await s3.send(new CopyObjectCommand({ Bucket: b, Key: `${name}/copy`, CopySource: `${b}/${name}/large`, ...srcSse, ...sse }));
    const back = await body(await s3.send(new GetObjectCommand({ Bucket: b, Key: `${name}/copy`, ...(name === 'sse_c' ? ssec : {}) })));
    assert.ok(back.equals(markerBody(300_000)), `${name}: readable`);
  }
  const keyB64 = Buffer.from(ssecKey.toString('base64'));
  const keyMd5 = Buffer.from(createHash('md5').update(ssecKey).digest('base64'));
  const needles = [MARKER, ssecKey, keyB64];
  assert.deepEqual(await findAnywhere(needles), [], 'no plaintext or SSE-C key on disk while running');
  // The MD5 of the SSE-C key is not stored either (it is only echoed back from the request).
  assert.deepEqual(await findAnywhere([keyMd5]), [], 'no SSE-C key MD5 on disk');
  assert.ok(!t.output().includes(MARKER.toString()) && !t.output().includes(ssecKey.toString('base64')), 'nothing in the server log');
});

test('small objects kept inline (every SSE mode, versions, copies, overwrites, deletes, a SIGKILL) leave no plaintext anywhere in the data', async () => {
  // A server of its own: this one is killed.
  let own = await startTrent();
  const dataDir = own.dataDir;
  const marker = Buffer.from(`TRENT-INLINE-MARKER-${randomBytes(6).toString('hex')}`);
  const small = (n: number, i: number) => Buffer.alloc(n, Buffer.concat([marker, Buffer.from(` ${i} `)]));
  try {
    const c = new S3Client(own.clientConfig({ forcePathStyle: true }));
    const kms = new KMSClient(own.clientConfig());
    const arn = (await kms.send(new CreateKeyCommand({ Description: 'inline scan' }))).KeyMetadata!.Arn!;
    kms.destroy();
    const b = 'trent-inline-scan';
    await c.send(new CreateBucketCommand({ Bucket: b }));
    await c.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    const modes: Record<string, object> = {
      sse_s3: { ServerSideEncryption: 'AES256' },
      sse_kms: { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: arn },
      sse_kms_bucket_key: { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: arn, BucketKeyEnabled: true },
      sse_c: ssec,
    };
    let i = 0;
    const firsts = new Map<string, Buffer>();
    for (const [name, sse] of Object.entries(modes)) {
      const get = name === 'sse_c' ? ssec : {};
      for (const size of [1, 4096, 100_000]) {
        const key = `${name}/${size}`;
        // Three versions, the middle one deleted by id, a delete marker on top, then a copy of the oldest.
        firsts.set(key, small(size, i));
        const v1 = await c.send(new PutObjectCommand({ Bucket: b, Key: key, Body: small(size, i++), ...sse }));
        const v2 = await c.send(new PutObjectCommand({ Bucket: b, Key: key, Body: small(size, i++), ...sse }));
        await c.send(new PutObjectCommand({ Bucket: b, Key: key, Body: small(size, i++), ...sse }));
        await c.send(new DeleteObjectCommand({ Bucket: b, Key: key, VersionId: v2.VersionId }));
        await c.send(new DeleteObjectCommand({ Bucket: b, Key: key }));
        const srcSse = name === 'sse_c' ? { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: ssecKey as unknown as string } : {};
        await c.send(new CopyObjectCommand({ Bucket: b, Key: `${key}/copy`, CopySource: `${b}/${key}?versionId=${v1.VersionId}`, ...srcSse, ...sse }));
        const back = await body(await c.send(new GetObjectCommand({ Bucket: b, Key: `${key}/copy`, ...get })));
        assert.ok(back.equals(firsts.get(key)!), `${key}: the copy of the first version reads back`);
      }
    }
    c.destroy();
    const needles = [marker, ssecKey, Buffer.from(ssecKey.toString('base64'))];
    assert.deepEqual(await filesContaining(storageDirs(dataDir), needles), [], 'no plaintext while running (database, log and blobs)');
    // Killed outright: whatever the log holds stays as it is, and the next start recovers from it.
    await own.stop('SIGKILL');
    assert.deepEqual(await filesContaining(storageDirs(dataDir), needles), [], 'no plaintext after a SIGKILL');
    own = await startTrent({ dataDir });
    const again = new S3Client(own.clientConfig({ forcePathStyle: true }));
    assert.ok((await body(await again.send(new GetObjectCommand({ Bucket: b, Key: 'sse_c/4096/copy', ...ssec })))).equals(firsts.get('sse_c/4096')!), 'objects read back after the restart');
    again.destroy();
    assert.deepEqual(await filesContaining(storageDirs(dataDir), needles), [], 'no plaintext after the restart');
  } finally {
    await own.stop();
    await removeDir(dataDir);
  }
});

test('tampering with an object blob on disk is detected: the GET fails instead of returning altered bytes', async () => {
  const b = 'trent-tamper';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'victim', Body: randomBytes(200_000) }));
  // The blob: the newest one of the victim's size (on the distributed backends, in s3rver's directory).
  const blobs = DISTRIBUTED
    ? (await filesUnder(process.env['TRENT_TEST_S3_DIR']!)).filter((f) => f.endsWith('._S3rver_object'))
    : (await filesUnder(join(t.dataDir, 'blobs', 's3'))).filter((f) => !f.includes('/.tmp/'));
  const sized = (await Promise.all(blobs.map(async (f) => ({ f, s: await stat(f) })))).filter((x) => x.s.size > 200_000 && x.s.size < 201_000);
  const newest = sized.sort((x, y) => y.s.mtimeMs - x.s.mtimeMs)[0]!.f;
  const bytes = await readFile(newest);
  bytes[70_000] = bytes[70_000]! ^ 0x01;
  await writeFile(newest, bytes);
  const outcome = await s3
    .send(new GetObjectCommand({ Bucket: b, Key: 'victim', Range: 'bytes=65536-131071' }))
    .then(async (r) => ({ ok: true as const, len: (await body(r)).length }))
    .catch((err: { name: string; $metadata?: { httpStatusCode?: number } }) => ({ ok: false as const, err }));
  assert.ok(!outcome.ok, 'a tampered package must not be served');
  assert.equal(outcome.err.$metadata?.httpStatusCode, 500, 'InternalError');
  await t.waitForOutput(/"bucket":"trent-tamper"[^\n]*object failed its integrity check/, 'the failure is logged as an integrity failure');
  // Bytes of other packages are still served (the damage is confined to the package it hit).
  const first = await body(await s3.send(new GetObjectCommand({ Bucket: b, Key: 'victim', Range: 'bytes=0-65535' })));
  assert.equal(first.length, 65536, 'untouched package still readable');
  // A whole-object GET starts (its first package is sound) and breaks off at the damaged one, logged as such.
  const whole = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'victim' }));
  await assert.rejects(body(whole), 'the body breaks off before the altered bytes');
  await t.waitForOutput(/"bucket":"trent-tamper"[^\n]*object failed its integrity check while streaming/, 'logged as an integrity failure while streaming');
});

async function lookupAll(ct: CloudTrailClient, eventName: string, start: Date): Promise<Event[]> {
  const out: Event[] = [];
  let token: string | undefined;
  do {
    const page = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: eventName }], StartTime: start, MaxResults: 50, NextToken: token }));
    out.push(...(page.Events ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

test('with an S3 Bucket Key, 1,000 SSE-KMS PUTs cause at most 5 GenerateDataKey events; without one, 1,000', async () => {
  const start = new Date(Date.now() - 1000);
  const withKey = 'trent-bk-on';
  const without = 'trent-bk-off';
  await s3.send(new CreateBucketCommand({ Bucket: withKey }));
  await s3.send(new CreateBucketCommand({ Bucket: without }));
  const put = async (bucket: string, i: number, bucketKey: boolean) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: `o/${i}`, Body: `object ${i}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, BucketKeyEnabled: bucketKey }));
  for (let i = 0; i < 1000; i += 25) {
    await Promise.all(Array.from({ length: 25 }, (_, j) => Promise.all([put(withKey, i + j, true), put(without, i + j, false)])));
  }
  const ct = new CloudTrailClient(t.clientConfig());
  const events = await lookupAll(ct, 'GenerateDataKey', start);
  ct.destroy();
  const arnOf = (e: Event) => (JSON.parse(e.CloudTrailEvent!) as { requestParameters: { encryptionContext: Record<string, string> } }).requestParameters.encryptionContext['aws:s3:arn'] ?? '';
  const on = events.filter((e) => arnOf(e) === `arn:aws:s3:::${withKey}`).length;
  const off = events.filter((e) => arnOf(e).startsWith(`arn:aws:s3:::${without}/`)).length;
  assert.ok(on >= 1 && on <= 5, `bucket key: ${on} GenerateDataKey events`);
  assert.equal(off, 1000, 'one GenerateDataKey per object without a bucket key');
  // Every object is still readable, through the bucket key.
  assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: withKey, Key: 'o/999' })))).toString(), 'object 999');
});

test('S3 calls are recorded as CloudTrail data events, and the KMS calls S3 makes on the caller’s behalf name the caller and invokedBy', async () => {
  const b = 'trent-audited';
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'photo.jpg', Body: MARKER, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'secret.bin', Body: MARKER, ...ssec }));
  await body(await s3.send(new GetObjectCommand({ Bucket: b, Key: 'photo.jpg' })));
  const ct = new CloudTrailClient(t.clientConfig());
  const created = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateBucket' }] }))).Events ?? [];
  assert.ok(created.some((e) => JSON.parse(e.CloudTrailEvent!).requestParameters.bucketName === b), 'CreateBucket is a management event LookupEvents returns');
  const decrypts = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Decrypt' }] }))).Events ?? [];
  const viaS3 = decrypts.map((e) => JSON.parse(e.CloudTrailEvent!)).find((e) => e.requestParameters?.encryptionContext?.['aws:s3:arn'] === `arn:aws:s3:::${b}/photo.jpg`);
  assert.ok(viaS3, 'the GET made a KMS Decrypt event with the object ARN as encryption context');
  assert.equal(viaS3.userIdentity.invokedBy, 's3.amazonaws.com');
  assert.equal(viaS3.sourceIPAddress, 's3.amazonaws.com');
  assert.equal(viaS3.userIdentity.accessKeyId, t.accessKeyId);
  assert.equal(viaS3.resources[0].ARN, keyArn);
  const puts = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'PutObject' }] }))).Events ?? [];
  assert.equal(puts.length, 0, 'data events are not returned by LookupEvents, as on AWS');
  ct.destroy();

  // Data events are recorded all the same (for trail delivery): read them from the trail store.
  const db = await t.openDb('trail');
  try {
    const rows = await db.all<{ record: string }>("SELECT record FROM trail_events WHERE event_source = 's3.amazonaws.com' AND event_name IN ('PutObject', 'GetObject')");
    const events = rows.map((r) => JSON.parse(r.record));
    const put = events.find((e) => e.eventName === 'PutObject' && e.requestParameters.key === 'secret.bin');
    assert.ok(put, 'PutObject recorded');
    assert.equal(put.eventCategory, 'Data');
    assert.equal(put.managementEvent, false);
    assert.equal(put.requestParameters.bucketName, b);
    assert.ok(put.resources.some((r: { ARN: string }) => r.ARN === `arn:aws:s3:::${b}/secret.bin`), 'object resource');
    const text = rows.map((r) => r.record).join('\n');
    assert.ok(!text.includes(MARKER.toString()) && !text.includes(ssecKey.toString('base64')), 'no body or SSE-C key in any event');
    assert.ok(events.some((e) => e.eventName === 'GetObject' && e.requestParameters.key === 'photo.jpg'), 'GetObject recorded');
  } finally {
    await db.close();
  }
});
