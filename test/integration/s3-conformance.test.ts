// S3 answering as AWS does where clients notice the difference, through boto3 and @aws-sdk/client-s3: keys are exact
// byte strings in every XML document; client mistakes are 4xx with AWS's code (never an audit failure, which clients
// retry); an early refusal does not leave a client stuck sending its body; conditional writes and deletes hold.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { S3Client, CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec } from '../helpers/assert.ts';
import { signed, s3Request } from '../helpers/raw.ts';

let t: RunningTrent;
let s3: S3Client;
const bucket = 'trent-conformance';

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

/**
 * A boto3 client `s3` (path style, one attempt, short timeouts) and `call(fn, **kw)`, which answers
 * {'ok': result} or {'code', 'status', 'message'} for a service error, or {'exception': name} for anything else.
 */
const BOTO3 = String.raw`
import base64, hashlib, json, os, sys, time, boto3, botocore
from botocore.config import Config
s3 = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, retries={'total_max_attempts': 1}, connect_timeout=5, read_timeout=15))
bucket = os.environ['BUCKET']
def call(fn, **kw):
    try:
        r = fn(**kw)
        r.pop('ResponseMetadata', None)
        if 'Body' in r: r['Body'] = r['Body'].read().decode('latin1')
        return {'ok': json.loads(json.dumps(r, default=str))}
    except botocore.exceptions.ClientError as e:
        meta = e.response['ResponseMetadata']
        return {'code': e.response['Error'].get('Code'), 'status': meta['HTTPStatusCode'], 'message': e.response['Error'].get('Message'), 'requestId': meta.get('RequestId')}
    except Exception as e:
        return {'exception': type(e).__name__, 'message': str(e)}
def keys():
    return [o['Key'] for o in s3.list_objects_v2(Bucket=bucket).get('Contents', [])]
`;

type Json = Record<string, unknown>;

/** Run a boto3 script (after BOTO3) that prints one JSON document. */
async function boto3(script: string, env: Record<string, string> = {}): Promise<Json> {
  const r = await exec('python3', ['-c', BOTO3 + script], { ...t.cliEnv(), BUCKET: bucket, ...env }, 120_000);
  assert.equal(r.code, 0, `the boto3 script failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}

test('DeleteObjects deletes exactly the keys named, white space and all (boto3)', async () => {
  const out = await boto3(String.raw`
for k in ['doc', 'doc ', ' ', '  lead', 'tab\t', 'line\nfeed']:
    s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
r = s3.delete_objects(Bucket=bucket, Delete={'Objects': [{'Key': 'doc '}, {'Key': ' '}, {'Key': 'tab\t'}, {'Key': 'line\nfeed'}]})
print(json.dumps({'deleted': sorted(d['Key'] for d in r.get('Deleted', [])), 'errors': r.get('Errors', []), 'left': keys()}))
`);
  assert.deepEqual(out['errors'], [], 'no key is refused');
  assert.deepEqual(out['deleted'], [' ', 'doc ', 'line\nfeed', 'tab\t'], 'each key is reported as sent');
  assert.deepEqual(out['left'], ['  lead', 'doc'], 'only the named keys are gone: "doc" survives the deletion of "doc "');
});

test('keys with carriage returns and outer white space survive DeleteObjects and listings in XML (JS SDK)', async () => {
  const keys = [' spaced ', 'cr\r', 'crlf\r\nkey', 'keep\r'];
  for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `js/${Key}`, Body: Key }));
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'js/' }));
  assert.deepEqual(listed.Contents!.map((c) => c.Key).sort(), keys.map((k) => `js/${k}`).sort(), 'listed without EncodingType: XML carries the exact keys');
  const del = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'js/ spaced ' }, { Key: 'js/cr\r' }, { Key: 'js/crlf\r\nkey' }] } }));
  assert.deepEqual(del.Deleted!.map((d) => d.Key).sort(), ['js/ spaced ', 'js/cr\r', 'js/crlf\r\nkey'].sort());
  assert.equal(del.Errors, undefined);
  const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'js/' }));
  assert.deepEqual(left.Contents!.map((c) => c.Key), ['js/keep\r']);
});

test('an XML body nested too deep, with too many elements, or with a DTD is refused as MalformedXML before anything is deleted', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bounded', Body: 'x' }));
  const object = '<Object><Key>bounded</Key></Object>';
  const bodies = {
    deep: `<Delete>${object}${'<Quiet>'.repeat(40)}${'</Quiet>'.repeat(40)}</Delete>`,
    many: `<Delete>${object}${'<Object/>'.repeat(120_000)}</Delete>`,
    dtd: `<!DOCTYPE Delete [<!ENTITY k "bounded">]><Delete><Object><Key>&k;</Key></Object></Delete>`,
  };
  for (const [name, body] of Object.entries(bodies)) {
    const r = await signed(t, 's3', {
      ...s3Request(`/${bucket}`),
      method: 'POST',
      query: { delete: '' },
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-type': 'application/xml' },
      body,
    });
    assert.equal(r.status, 400, `${name}: ${r.body}`);
    assert.match(r.body, /<Code>MalformedXML<\/Code>/, name);
  }
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'bounded' }));
  assert.deepEqual(listed.Contents?.map((c) => c.Key), ['bounded'], 'nothing was deleted');
});

/** The trail's record of the calls with these request ids (errorCode, or undefined for a success). */
async function recorded(requestIds: string[]): Promise<Map<string, string | undefined>> {
  const db = await t.openDb('trail');
  try {
    const rows = await db.all<{ record: string }>("SELECT record FROM trail_events WHERE event_source = 's3.amazonaws.com'");
    const out = new Map<string, string | undefined>();
    for (const r of rows) {
      const e = JSON.parse(r.record) as { requestID: string; errorCode?: string };
      if (requestIds.includes(e.requestID)) out.set(e.requestID, e.errorCode);
    }
    return out;
  } finally {
    await db.close();
  }
}

test('a malformed or wrong Content-MD5 or x-amz-checksum-* is a 4xx with AWS code, answered before a 2 MiB body is read and recorded as such (boto3)', async () => {
  const out = await boto3(String.raw`
ids = {}
big = os.urandom(2 * 1024 * 1024)
def put(name, body=b'abc', **kw):
    return call(s3.put_object, Bucket=bucket, Key='integrity/' + name, Body=body, **kw)
sha = lambda b: base64.b64encode(hashlib.sha256(b).digest()).decode()
res = {
  'md5-garbage': put('a', big, ContentMD5='notbase64!'),
  'md5-short': put('b', big, ContentMD5='YWJj'),
  'md5-wrong': put('c', ContentMD5=base64.b64encode(hashlib.md5(b'abd').digest()).decode()),
  'sha256-garbage': put('d', big, ChecksumSHA256='AAAA'),
  'sha256-wrong': put('e', ChecksumSHA256=sha(b'abd')),
  'sha256-right': put('f', ChecksumSHA256=sha(b'abc')),
}
print(json.dumps({'res': res, 'left': keys()}))
`);
  const res = out['res'] as Record<string, { code?: string; status?: number; message?: string; requestId?: string; ok?: unknown }>;
  const expect: Record<string, [string, number]> = {
    'md5-garbage': ['InvalidDigest', 400],
    'md5-short': ['InvalidDigest', 400],
    'md5-wrong': ['BadDigest', 400],
    'sha256-garbage': ['InvalidRequest', 400],
    'sha256-wrong': ['BadDigest', 400],
  };
  for (const [name, [code, status]] of Object.entries(expect)) {
    assert.equal(res[name]!.code, code, `${name}: ${JSON.stringify(res[name])}`);
    assert.equal(res[name]!.status, status, name);
  }
  assert.match(res['sha256-garbage']!.message!, /Value for x-amz-checksum-sha256 header is invalid/);
  assert.ok(res['sha256-right']!.ok, JSON.stringify(res['sha256-right']));
  assert.deepEqual((out['left'] as string[]).filter((k) => k.startsWith('integrity/')), ['integrity/f'], 'only the right one is stored');
  const trail = await recorded(Object.keys(expect).map((name) => res[name]!.requestId!));
  for (const [name, [code]] of Object.entries(expect)) assert.equal(trail.get(res[name]!.requestId!), code, `${name} is in the trail as ${code}`);
});

test('JS SDK: a malformed Content-MD5 is InvalidDigest, a malformed checksum value InvalidRequest, two checksum headers InvalidRequest', async () => {
  const { fails } = await import('../helpers/assert.ts');
  await fails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'integrity/js-md5', Body: 'abc', ContentMD5: 'nope' })), 'InvalidDigest');
  await fails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'integrity/js-crc', Body: 'abc', ChecksumCRC32: 'AAAA' })), 'InvalidRequest');
  const r = await signed(t, 's3', {
    method: 'PUT',
    path: `/${bucket}/integrity/two`,
    headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-checksum-crc32': 'NSRBwg==', 'x-amz-checksum-sha1': 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0=' },
    body: 'abc',
  });
  assert.equal(r.status, 400, r.body);
  assert.match(r.body, /<Code>InvalidRequest<\/Code><Message>Expecting a single x-amz-checksum- header/);
});

test('CompleteMultipartUpload with x-amz-checksum-sha256: the composite checksum of the object (with or without -N) is accepted, a wrong one is BadDigest (boto3)', async () => {
  const out = await boto3(String.raw`
res = {}
def upload(key):
    mp = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm='SHA256')
    p1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=mp['UploadId'], PartNumber=1, Body=b'a' * (5 * 1024 * 1024), ChecksumAlgorithm='SHA256')
    p2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=mp['UploadId'], PartNumber=2, Body=b'tail', ChecksumAlgorithm='SHA256')
    parts = [{'PartNumber': 1, 'ETag': p1['ETag'], 'ChecksumSHA256': p1['ChecksumSHA256']}, {'PartNumber': 2, 'ETag': p2['ETag'], 'ChecksumSHA256': p2['ChecksumSHA256']}]
    composite = base64.b64encode(hashlib.sha256(base64.b64decode(p1['ChecksumSHA256']) + base64.b64decode(p2['ChecksumSHA256'])).digest()).decode()
    return mp['UploadId'], parts, composite
uid, parts, composite = upload('mpu/checked')
res['wrong'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='mpu/checked', UploadId=uid, MultipartUpload={'Parts': parts}, ChecksumSHA256=base64.b64encode(b'x' * 32).decode())
res['malformed'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='mpu/checked', UploadId=uid, MultipartUpload={'Parts': parts}, ChecksumSHA256='AAAA-2')
res['type'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='mpu/checked', UploadId=uid, MultipartUpload={'Parts': parts}, ChecksumSHA256=composite + '-2', ChecksumType='FULL_OBJECT')
res['suffixed'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='mpu/checked', UploadId=uid, MultipartUpload={'Parts': parts}, ChecksumSHA256=composite + '-2')
uid2, parts2, composite2 = upload('mpu/plain')
res['plain'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='mpu/plain', UploadId=uid2, MultipartUpload={'Parts': parts2}, ChecksumSHA256=composite2, ChecksumType='COMPOSITE')
res['composite'] = composite
res['head'] = s3.head_object(Bucket=bucket, Key='mpu/checked', ChecksumMode='ENABLED').get('ChecksumSHA256')
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; status?: number; message?: string; ok?: Record<string, unknown> }>;
  assert.equal(r['wrong']!.code, 'BadDigest', JSON.stringify(r['wrong']));
  assert.equal(r['wrong']!.status, 400);
  assert.equal(r['malformed']!.code, 'InvalidRequest', JSON.stringify(r['malformed']));
  assert.equal(r['type']!.code, 'BadDigest', JSON.stringify(r['type']));
  assert.ok(r['suffixed']!.ok, JSON.stringify(r['suffixed']));
  assert.equal(r['suffixed']!.ok!['ChecksumSHA256'], `${out['composite']}-2`);
  assert.ok(r['plain']!.ok, JSON.stringify(r['plain']));
  assert.equal(out['head'], `${out['composite']}-2`);
});

test('JS SDK: CompleteMultipartUpload with ChecksumSHA256 completes, and a wrong one is BadDigest', async () => {
  const { CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand } = await import('@aws-sdk/client-s3');
  const { fails } = await import('../helpers/assert.ts');
  const { createHash } = await import('node:crypto');
  const key = 'mpu/js';
  const mp = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'SHA256' }));
  const p1 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: mp.UploadId!, PartNumber: 1, Body: 'only part', ChecksumAlgorithm: 'SHA256' }));
  const composite = createHash('sha256').update(Buffer.from(p1.ChecksumSHA256!, 'base64')).digest('base64');
  const parts = { Parts: [{ PartNumber: 1, ETag: p1.ETag!, ChecksumSHA256: p1.ChecksumSHA256! }] };
  await fails(s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: mp.UploadId!, MultipartUpload: parts, ChecksumSHA256: p1.ChecksumSHA256! })), 'BadDigest');
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: mp.UploadId!, MultipartUpload: parts, ChecksumSHA256: `${composite}-1` }));
  assert.equal(done.ChecksumSHA256, `${composite}-1`);
});

test('an early refusal does not leave the client sending its body: boto3 and the JS SDK get the error at once with 5 MiB bodies, and the connection serves on', async () => {
  const out = await boto3(String.raw`
body = os.urandom(5 * 1024 * 1024)
res = {}
def timed(name, fn, **kw):
    t0 = time.time()
    res[name] = call(fn, **kw)
    res[name]['seconds'] = time.time() - t0
timed('no-upload', s3.upload_part, Bucket=bucket, Key='early/part', UploadId='no-such-upload', PartNumber=1, Body=body)
timed('no-bucket', s3.put_object, Bucket='trent-no-such-bucket', Key='early/object', Body=body)
timed('after', s3.put_object, Bucket=bucket, Key='early/after', Body=b'served')
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; status?: number; seconds: number; ok?: unknown; exception?: string }>;
  assert.equal(r['no-upload']!.code, 'NoSuchUpload', JSON.stringify(r['no-upload']));
  assert.equal(r['no-bucket']!.code, 'NoSuchBucket', JSON.stringify(r['no-bucket']));
  for (const name of ['no-upload', 'no-bucket']) assert.ok(r[name]!.seconds < 5, `${name} answered in ${r[name]!.seconds.toFixed(1)} s`);
  assert.ok(r['after']!.ok, JSON.stringify(r['after']));

  const { UploadPartCommand } = await import('@aws-sdk/client-s3');
  const { fails } = await import('../helpers/assert.ts');
  const started = Date.now();
  await fails(s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'early/js', UploadId: 'no-such-upload', PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024, 1) })), 'NoSuchUpload', 404);
  await fails(s3.send(new PutObjectCommand({ Bucket: 'trent-no-such-bucket', Key: 'early/js', Body: Buffer.alloc(5 * 1024 * 1024, 2) })), 'NoSuchBucket', 404);
  assert.ok(Date.now() - started < 5000, `the JS SDK got both answers in ${Date.now() - started} ms`);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'early/js-after', Body: 'served' }));
});

test('aws-chunked bodies with a wrong chunk signature are SignatureDoesNotMatch (403), recorded as such', async () => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Hash } = await import('@smithy/hash-node');
  const { smithyRequest, send } = await import('../helpers/raw.ts');
  const data = Buffer.from('a signed streaming body');
  const signer = new SignatureV4({ service: 's3', region: t.region, credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey }, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
  const req = await signer.sign(
    smithyRequest(t, {
      method: 'PUT',
      path: `/${bucket}/chunked/signed`,
      headers: {
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
      },
    }),
  );
  const wrong = '0'.repeat(64);
  req.body = Buffer.concat([Buffer.from(`${data.length.toString(16)};chunk-signature=${wrong}\r\n`), data, Buffer.from(`\r\n0;chunk-signature=${wrong}\r\n\r\n`)]);
  req.headers['content-length'] = String((req.body as Buffer).length);
  const r = await send(t, req);
  assert.equal(r.status, 403, r.body);
  assert.match(r.body, /<Code>SignatureDoesNotMatch<\/Code>/);
  const trail = await recorded([r.headers['x-amz-request-id'] as string]);
  assert.equal(trail.get(r.headers['x-amz-request-id'] as string), 'SignatureDoesNotMatch');
});

test('conditional deletes: DeleteObject and DeleteObjects delete only the object the If-Match / <ETag> names (boto3)', async () => {
  const out = await boto3(String.raw`
res = {}
etag = s3.put_object(Bucket=bucket, Key='cond/one', Body=b'one')['ETag']
res['wrong'] = call(s3.delete_object, Bucket=bucket, Key='cond/one', IfMatch='"00000000000000000000000000000000"')
res['kept'] = call(s3.head_object, Bucket=bucket, Key='cond/one')
res['absent'] = call(s3.delete_object, Bucket=bucket, Key='cond/none', IfMatch='*')
res['right'] = call(s3.delete_object, Bucket=bucket, Key='cond/one', IfMatch=etag)
res['gone'] = call(s3.head_object, Bucket=bucket, Key='cond/one')
e2 = s3.put_object(Bucket=bucket, Key='cond/two', Body=b'two')['ETag']
e3 = s3.put_object(Bucket=bucket, Key='cond/three', Body=b'three')['ETag']
s3.put_object(Bucket=bucket, Key='cond/four', Body=b'four')
res['batch'] = s3.delete_objects(Bucket=bucket, Delete={'Objects': [
    {'Key': 'cond/two', 'ETag': '"00000000000000000000000000000000"'},
    {'Key': 'cond/three', 'ETag': e3},
    {'Key': 'cond/four', 'ETag': '*'},
    {'Key': 'cond/none', 'ETag': e3},
]})
res['batch'].pop('ResponseMetadata')
res['left'] = [k for k in keys() if k.startswith('cond/')]
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; status?: number; ok?: unknown }>;
  assert.equal(r['wrong']!.code, 'PreconditionFailed', JSON.stringify(r['wrong']));
  assert.equal(r['wrong']!.status, 412);
  assert.ok(r['kept']!.ok, 'the object survives a delete whose If-Match does not hold');
  assert.equal(r['absent']!.code, 'NoSuchKey', JSON.stringify(r['absent']));
  assert.equal(r['absent']!.status, 404);
  assert.ok(r['right']!.ok, JSON.stringify(r['right']));
  assert.equal(r['gone']!.status, 404);
  const batch = out['batch'] as { Deleted: Array<{ Key: string }>; Errors: Array<{ Key: string; Code: string }> };
  assert.deepEqual(batch.Deleted.map((d) => d.Key).sort(), ['cond/four', 'cond/three']);
  assert.deepEqual(batch.Errors.map((e) => [e.Key, e.Code]).sort(), [['cond/none', 'NoSuchKey'], ['cond/two', 'PreconditionFailed']]);
  assert.deepEqual(out['left'], ['cond/two']);
});

test('conditional writes: CompleteMultipartUpload and PutObject honour If-Match and If-None-Match: * (boto3)', async () => {
  const out = await boto3(String.raw`
res = {}
def mpu(key):
    mp = s3.create_multipart_upload(Bucket=bucket, Key=key)
    p = s3.upload_part(Bucket=bucket, Key=key, UploadId=mp['UploadId'], PartNumber=1, Body=b'part')
    return {'Bucket': bucket, 'Key': key, 'UploadId': mp['UploadId'], 'MultipartUpload': {'Parts': [{'PartNumber': 1, 'ETag': p['ETag']}]}}
existing = s3.put_object(Bucket=bucket, Key='condw/existing', Body=b'old')['ETag']
m = mpu('condw/existing')
res['cmu-none-match'] = call(s3.complete_multipart_upload, IfNoneMatch='*', **m)
res['cmu-wrong-match'] = call(s3.complete_multipart_upload, IfMatch='"00000000000000000000000000000000"', **m)
res['unchanged'] = s3.get_object(Bucket=bucket, Key='condw/existing')['Body'].read().decode()
res['cmu-match'] = call(s3.complete_multipart_upload, IfMatch=existing, **m)
res['replaced'] = s3.get_object(Bucket=bucket, Key='condw/existing')['Body'].read().decode()
m2 = mpu('condw/fresh')
res['cmu-absent-match'] = call(s3.complete_multipart_upload, IfMatch=existing, **m2)
res['cmu-fresh'] = call(s3.complete_multipart_upload, IfNoneMatch='*', **m2)
res['put-none-match'] = call(s3.put_object, Bucket=bucket, Key='condw/fresh', Body=b'x', IfNoneMatch='*')
res['put-wrong-match'] = call(s3.put_object, Bucket=bucket, Key='condw/fresh', Body=b'x', IfMatch='"00000000000000000000000000000000"')
res['put-absent-match'] = call(s3.put_object, Bucket=bucket, Key='condw/absent', Body=b'x', IfMatch=existing)
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; status?: number; ok?: unknown }>;
  for (const name of ['cmu-none-match', 'cmu-wrong-match', 'put-none-match', 'put-wrong-match']) {
    assert.equal(r[name]!.code, 'PreconditionFailed', `${name}: ${JSON.stringify(r[name])}`);
    assert.equal(r[name]!.status, 412, name);
  }
  for (const name of ['cmu-absent-match', 'put-absent-match']) assert.equal(r[name]!.code, 'NoSuchKey', `${name}: ${JSON.stringify(r[name])}`);
  assert.equal(out['unchanged'], 'old', 'a refused completion leaves the object alone');
  assert.ok(r['cmu-match']!.ok, `the upload is still there to complete: ${JSON.stringify(r['cmu-match'])}`);
  assert.equal(out['replaced'], 'part');
  assert.ok(r['cmu-fresh']!.ok, JSON.stringify(r['cmu-fresh']));
});

test('SSE-C as AWS answers it: a part under another key than the upload is 400 InvalidRequest (at once, 5 MiB), a read with a wrong key 403 (boto3)', async () => {
  const out = await boto3(String.raw`
res = {}
key, other = os.urandom(32), os.urandom(32)
mp = s3.create_multipart_upload(Bucket=bucket, Key='ssec/mp', SSECustomerAlgorithm='AES256', SSECustomerKey=key)
t0 = time.time()
res['wrong-key'] = call(s3.upload_part, Bucket=bucket, Key='ssec/mp', UploadId=mp['UploadId'], PartNumber=1, Body=os.urandom(5 * 1024 * 1024), SSECustomerAlgorithm='AES256', SSECustomerKey=other)
res['seconds'] = time.time() - t0
res['no-key'] = call(s3.upload_part, Bucket=bucket, Key='ssec/mp', UploadId=mp['UploadId'], PartNumber=1, Body=b'x')
plain = s3.create_multipart_upload(Bucket=bucket, Key='ssec/plain')
res['key-on-plain'] = call(s3.upload_part, Bucket=bucket, Key='ssec/plain', UploadId=plain['UploadId'], PartNumber=1, Body=b'x', SSECustomerAlgorithm='AES256', SSECustomerKey=key)
res['right-key'] = call(s3.upload_part, Bucket=bucket, Key='ssec/mp', UploadId=mp['UploadId'], PartNumber=1, Body=b'x', SSECustomerAlgorithm='AES256', SSECustomerKey=key)
s3.put_object(Bucket=bucket, Key='ssec/object', Body=b'secret', SSECustomerAlgorithm='AES256', SSECustomerKey=key)
res['get-wrong-key'] = call(s3.get_object, Bucket=bucket, Key='ssec/object', SSECustomerAlgorithm='AES256', SSECustomerKey=other)
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; status?: number; message?: string; ok?: unknown }>;
  assert.equal(r['wrong-key']!.code, 'InvalidRequest', JSON.stringify(r['wrong-key']));
  assert.equal(r['wrong-key']!.status, 400);
  assert.equal(r['wrong-key']!.message, 'The provided encryption parameters did not match the ones used originally.');
  assert.ok((out['seconds'] as number) < 5, `answered in ${(out['seconds'] as number).toFixed(1)} s`);
  for (const name of ['no-key', 'key-on-plain']) {
    assert.equal(r[name]!.code, 'InvalidRequest', `${name}: ${JSON.stringify(r[name])}`);
    assert.match(r[name]!.message!, /The multipart upload initiate requested encryption/);
  }
  assert.ok(r['right-key']!.ok, JSON.stringify(r['right-key']));
  assert.equal(r['get-wrong-key']!.code, 'AccessDenied', JSON.stringify(r['get-wrong-key']));
  assert.equal(r['get-wrong-key']!.status, 403);
  assert.equal(r['get-wrong-key']!.message, 'Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.');
});

test('SSE request headers on GET and HEAD are refused with 400 InvalidArgument (boto3)', async () => {
  const out = await boto3(String.raw`
s3.put_object(Bucket=bucket, Key='sse/get', Body=b'x')
def add(header, value):
    def hook(request, **kw):
        request.headers[header] = value
    return hook
res = {}
for op in ['GetObject', 'HeadObject']:
    for header, value in [('x-amz-server-side-encryption', 'AES256'), ('x-amz-server-side-encryption-aws-kms-key-id', 'alias/any')]:
        client = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, retries={'total_max_attempts': 1}))
        client.meta.events.register('before-sign.s3.' + op, add(header, value))
        fn = client.get_object if op == 'GetObject' else client.head_object
        res[op + ' ' + header] = call(fn, Bucket=bucket, Key='sse/get')
res['plain'] = call(s3.head_object, Bucket=bucket, Key='sse/get')
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; status?: number; ok?: unknown }>;
  for (const [name, v] of Object.entries(r)) {
    if (name === 'plain') continue;
    assert.equal(v.status, 400, `${name}: ${JSON.stringify(v)}`);
    if (name.startsWith('GetObject')) assert.equal(v.code, 'InvalidArgument', name);
  }
  assert.ok(r['plain']!.ok);
});

test('CompleteMultipartUpload repeated after it succeeded answers with the object it made, not NoSuchUpload (boto3)', async () => {
  const out = await boto3(String.raw`
res = {}
mp = s3.create_multipart_upload(Bucket=bucket, Key='again/object', ChecksumAlgorithm='CRC32')
p = s3.upload_part(Bucket=bucket, Key='again/object', UploadId=mp['UploadId'], PartNumber=1, Body=b'once', ChecksumAlgorithm='CRC32')
parts = {'Parts': [{'PartNumber': 1, 'ETag': p['ETag'], 'ChecksumCRC32': p['ChecksumCRC32']}]}
res['first'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='again/object', UploadId=mp['UploadId'], MultipartUpload=parts)
res['again'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='again/object', UploadId=mp['UploadId'], MultipartUpload=parts)
res['other-key'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='again/other', UploadId=mp['UploadId'], MultipartUpload=parts)
s3.put_object(Bucket=bucket, Key='again/object', Body=b'replaced')
res['after-replace'] = call(s3.complete_multipart_upload, Bucket=bucket, Key='again/object', UploadId=mp['UploadId'], MultipartUpload=parts)
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; ok?: Record<string, unknown> }>;
  assert.ok(r['first']!.ok, JSON.stringify(r['first']));
  assert.ok(r['again']!.ok, `a repeat answers with the object: ${JSON.stringify(r['again'])}`);
  for (const f of ['ETag', 'Key', 'Bucket', 'ChecksumCRC32', 'ServerSideEncryption']) assert.equal(r['again']!.ok![f], r['first']!.ok![f], f);
  assert.equal(r['other-key']!.code, 'NoSuchUpload', 'the upload id of another key');
  assert.equal(r['after-replace']!.code, 'NoSuchUpload', 'once the object is replaced, the upload is gone');
});

test('ListObjects and ListObjectsV2 with MaxKeys=0 answer nothing and are not truncated; UploadPartCopy past the source is InvalidRange (boto3)', async () => {
  const out = await boto3(String.raw`
res = {}
s3.put_object(Bucket=bucket, Key='range/source', Body=b'12345')
for name, fn in [('v1', s3.list_objects), ('v2', s3.list_objects_v2)]:
    r = call(fn, Bucket=bucket, MaxKeys=0)['ok']
    res[name] = {'IsTruncated': r['IsTruncated'], 'Contents': r.get('Contents', []), 'KeyCount': r.get('KeyCount')}
mp = s3.create_multipart_upload(Bucket=bucket, Key='range/dest')
copy = lambda rng: call(s3.upload_part_copy, Bucket=bucket, Key='range/dest', UploadId=mp['UploadId'], PartNumber=1, CopySource={'Bucket': bucket, 'Key': 'range/source'}, CopySourceRange=rng)
res['past-end'] = copy('bytes=0-21')
res['malformed'] = copy('bytes=0-bar')
res['reversed'] = copy('bytes=3-1')
res['inside'] = copy('bytes=1-3')
print(json.dumps(res))
`);
  for (const v of ['v1', 'v2']) {
    const l = out[v] as { IsTruncated: boolean; Contents: unknown[]; KeyCount?: number };
    assert.equal(l.IsTruncated, false, `${v}: not truncated`);
    assert.deepEqual(l.Contents, [], `${v}: no keys`);
  }
  const r = out as Record<string, { code?: string; status?: number; ok?: unknown }>;
  assert.equal(r['past-end']!.code, 'InvalidRange', JSON.stringify(r['past-end']));
  assert.ok([400, 416].includes(r['past-end']!.status!));
  assert.equal(r['malformed']!.code, 'InvalidArgument', JSON.stringify(r['malformed']));
  assert.equal(r['reversed']!.code, 'InvalidArgument', JSON.stringify(r['reversed']));
  assert.ok(r['inside']!.ok, JSON.stringify(r['inside']));
});

test('ACLs are disabled as on AWS (bucket owner enforced): ACLs beyond the owner are refused, not ignored; GetBucketAcl/GetObjectAcl answer the owner FULL_CONTROL (boto3)', async () => {
  const out = await boto3(String.raw`
res = {}
all_users = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'
res['put-public'] = call(s3.put_object, Bucket=bucket, Key='acl/public', Body=b'x', ACL='public-read')
res['put-grant'] = call(s3.put_object, Bucket=bucket, Key='acl/grant', Body=b'x', GrantRead=all_users)
res['put-private'] = call(s3.put_object, Bucket=bucket, Key='acl/private', Body=b'x', ACL='private')
res['put-owner-full'] = call(s3.put_object, Bucket=bucket, Key='acl/owner', Body=b'x', ACL='bucket-owner-full-control')
res['mpu-public'] = call(s3.create_multipart_upload, Bucket=bucket, Key='acl/mpu', ACL='public-read')
res['copy-public'] = call(s3.copy_object, Bucket=bucket, Key='acl/copy', CopySource={'Bucket': bucket, 'Key': 'acl/private'}, ACL='public-read-write')
res['bucket-public'] = call(s3.create_bucket, Bucket='trent-acl-public', ACL='public-read')
res['bucket-writer'] = call(s3.create_bucket, Bucket='trent-acl-writer', ObjectOwnership='ObjectWriter')
res['bucket-private'] = call(s3.create_bucket, Bucket='trent-acl-private', ACL='private')
res['get-bucket-acl'] = call(s3.get_bucket_acl, Bucket=bucket)
res['get-object-acl'] = call(s3.get_object_acl, Bucket=bucket, Key='acl/private')
res['get-missing-acl'] = call(s3.get_object_acl, Bucket=bucket, Key='acl/missing')
owner = res['get-bucket-acl']['ok']['Owner']
res['put-bucket-acl-private'] = call(s3.put_bucket_acl, Bucket=bucket, ACL='private')
res['put-bucket-acl-public'] = call(s3.put_bucket_acl, Bucket=bucket, ACL='public-read')
mine = {'Owner': owner, 'Grants': [{'Grantee': {'Type': 'CanonicalUser', 'ID': owner['ID']}, 'Permission': 'FULL_CONTROL'}]}
res['put-object-acl-owner'] = call(s3.put_object_acl, Bucket=bucket, Key='acl/private', AccessControlPolicy=mine)
everyone = {'Owner': owner, 'Grants': mine['Grants'] + [{'Grantee': {'Type': 'Group', 'URI': 'http://acs.amazonaws.com/groups/global/AllUsers'}, 'Permission': 'READ'}]}
res['put-object-acl-everyone'] = call(s3.put_object_acl, Bucket=bucket, Key='acl/private', AccessControlPolicy=everyone)
res['left'] = [k for k in keys() if k.startswith('acl/')]
print(json.dumps(res))
`);
  const r = out as Record<string, { code?: string; status?: number; ok?: Record<string, unknown> }>;
  for (const name of ['put-public', 'put-grant', 'mpu-public', 'copy-public', 'put-bucket-acl-public', 'put-object-acl-everyone']) {
    assert.equal(r[name]!.code, 'AccessControlListNotSupported', `${name}: ${JSON.stringify(r[name])}`);
    assert.equal(r[name]!.status, 400, name);
  }
  assert.equal(r['bucket-public']!.code, 'InvalidBucketAclWithObjectOwnership', JSON.stringify(r['bucket-public']));
  assert.equal(r['bucket-writer']!.status, 501, JSON.stringify(r['bucket-writer']));
  for (const name of ['put-private', 'put-owner-full', 'bucket-private', 'put-bucket-acl-private', 'put-object-acl-owner']) assert.ok(r[name]!.ok, `${name}: ${JSON.stringify(r[name])}`);
  for (const name of ['get-bucket-acl', 'get-object-acl']) {
    const acl = r[name]!.ok as { Owner: { ID: string }; Grants: Array<{ Grantee: { Type: string; ID: string }; Permission: string }> };
    assert.match(acl.Owner.ID, /^[0-9a-f]{64}$/, name);
    assert.deepEqual(acl.Grants.map((g) => [g.Grantee.Type, g.Grantee.ID, g.Permission]), [['CanonicalUser', acl.Owner.ID, 'FULL_CONTROL']], name);
  }
  assert.equal(r['get-missing-acl']!.code, 'NoSuchKey');
  assert.deepEqual(out['left'], ['acl/owner', 'acl/private'], 'nothing was written under a refused ACL');
});

test('JS SDK: GetBucketAcl and GetObjectAcl read as the owner FULL_CONTROL grant, PutObject with a public ACL is refused', async () => {
  const { GetBucketAclCommand, GetObjectAclCommand } = await import('@aws-sdk/client-s3');
  const { fails } = await import('../helpers/assert.ts');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl/js', Body: 'x' }));
  for (const acl of [await s3.send(new GetBucketAclCommand({ Bucket: bucket })), await s3.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'acl/js' }))]) {
    assert.deepEqual(acl.Grants!.map((g) => [g.Grantee!.Type, g.Grantee!.ID, g.Permission]), [['CanonicalUser', acl.Owner!.ID, 'FULL_CONTROL']]);
  }
  await fails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl/js-public', Body: 'x', ACL: 'public-read' })), 'AccessControlListNotSupported');
});

test('a client closing a download early is not logged as an integrity failure (JS SDK)', async () => {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'download/large', Body: Buffer.alloc(24 * 1024 * 1024, 7) }));
  const before = t.output().length;
  for (let i = 0; i < 3; i++) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'download/large' }));
    const body = got.Body as NodeJS.ReadableStream & { destroy(): void };
    await new Promise<void>((resolve) => body.once('data', () => resolve()));
    body.destroy();
  }
  await new Promise((r) => setTimeout(r, 1500));
  const log = t.output().slice(before);
  assert.doesNotMatch(log, /integrity/i, `the server log after three abandoned downloads:\n${log}`);
});

test('an Expect header other than 100-continue is tolerated, not answered 417 (boto3)', async () => {
  const out = await boto3(String.raw`
def expect(value):
    def hook(request, **kw):
        request.headers['Expect'] = value
    return hook
client = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, retries={'total_max_attempts': 1}))
client.meta.events.register('before-send.s3.PutObject', expect('200-ok'))
client.meta.events.register('before-send.s3.GetObject', expect('something-else'))
res = {'put': call(client.put_object, Bucket=bucket, Key='expect/object', Body=b'expected'), 'get': call(client.get_object, Bucket=bucket, Key='expect/object')}
print(json.dumps(res))
`);
  const r = out as Record<string, { ok?: { Body?: string }; status?: number; code?: string }>;
  assert.ok(r['put']!.ok, JSON.stringify(r['put']));
  assert.equal(r['get']!.ok?.Body, 'expected', JSON.stringify(r['get']));
});
