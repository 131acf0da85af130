// Multipart FULL_OBJECT checksums, GetObject/HeadObject partNumber and GetObjectAttributes, through boto3, the JS SDK
// and the AWS CLI: the CRC of a whole multipart object combined from its parts' CRCs (checked against the
// client's own), a part read back by number, the attributes of whole and multipart objects with their error paths.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  S3Client,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec, fails } from '../helpers/assert.ts';
import { aws } from '../helpers/cli.ts';
import { checksumBase64 } from '../../src/wire/checksums.ts';

let t: RunningTrent;
let s3: S3Client;
const bucket = 'trent-attributes';
const MiB = 1024 * 1024;
const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)];
const whole = Buffer.concat(parts);

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

/** Upload `parts` as a multipart upload with this checksum; the completed object's key. */
async function multipart(key: string, alg: 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA256', type: 'FULL_OBJECT' | 'COMPOSITE', full?: string) {
  const mp = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: alg, ChecksumType: type }));
  assert.equal(mp.ChecksumType, type);
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const p = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: mp.UploadId, PartNumber: i + 1, Body: parts[i], ChecksumAlgorithm: alg }));
    done.push({ PartNumber: i + 1, ETag: p.ETag, [`Checksum${alg}`]: (p as unknown as Record<string, unknown>)[`Checksum${alg}`] as string });
  }
  return s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId: mp.UploadId,
      MultipartUpload: { Parts: done },
      ...(full ? { [`Checksum${alg}`]: full, ChecksumType: type } : {}),
    }),
  );
}

for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
  test(`FULL_OBJECT ${alg} (JS SDK): the multipart object's checksum is the ${alg} of all its bytes, as the client computed it`, async () => {
    const expected = checksumBase64(alg, whole);
    const done = await multipart(`full/${alg}`, alg, 'FULL_OBJECT', expected);
    assert.equal((done as unknown as Record<string, unknown>)[`Checksum${alg}`], expected);
    assert.equal(done.ChecksumType, 'FULL_OBJECT');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `full/${alg}`, ChecksumMode: 'ENABLED' }));
    assert.equal((head as unknown as Record<string, unknown>)[`Checksum${alg}`], expected);
    assert.equal(head.ChecksumType, 'FULL_OBJECT');
    assert.equal(head.PartsCount, undefined, 'x-amz-mp-parts-count only with partNumber');
  });
}

test('FULL_OBJECT refusals: a wrong whole-object CRC is BadDigest and nothing is stored; SHA-256 cannot be FULL_OBJECT, CRC64NVME cannot be COMPOSITE', async () => {
  await fails(multipart('full/wrong', 'CRC32', 'FULL_OBJECT', checksumBase64('CRC32', Buffer.from('not the object'))), 'BadDigest');
  await fails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'full/wrong' })), 'NotFound', 404);
  const sha = await fails(s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'x', ChecksumAlgorithm: 'SHA256', ChecksumType: 'FULL_OBJECT' })), 'InvalidRequest');
  assert.equal(sha.message, 'The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm.');
  const nvme = await fails(s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'x', ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'COMPOSITE' })), 'InvalidRequest');
  assert.equal(nvme.message, 'The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.');
});

test('boto3: FULL_OBJECT CRC32 multipart, then get_object PartNumber and get_object_attributes', async () => {
  const script = `
import base64, json, os, boto3, botocore
from botocore.config import Config
s3 = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, retries={'total_max_attempts': 1}))
b = '${bucket}'
data = [os.urandom(5 * 1024 * 1024), os.urandom(777)]
mp = s3.create_multipart_upload(Bucket=b, Key='boto3/full', ChecksumAlgorithm='CRC32', ChecksumType='FULL_OBJECT')
ps = []
for i, d in enumerate(data):
    r = s3.upload_part(Bucket=b, Key='boto3/full', UploadId=mp['UploadId'], PartNumber=i + 1, Body=d, ChecksumAlgorithm='CRC32')
    ps.append({'PartNumber': i + 1, 'ETag': r['ETag'], 'ChecksumCRC32': r['ChecksumCRC32']})
done = s3.complete_multipart_upload(Bucket=b, Key='boto3/full', UploadId=mp['UploadId'], MultipartUpload={'Parts': ps})
part2 = s3.get_object(Bucket=b, Key='boto3/full', PartNumber=2)
body2 = part2['Body'].read()
attrs = s3.get_object_attributes(Bucket=b, Key='boto3/full', ObjectAttributes=['ETag', 'Checksum', 'ObjectParts', 'ObjectSize', 'StorageClass'])
try:
    s3.get_object(Bucket=b, Key='boto3/full', PartNumber=3)
    beyond = None
except botocore.exceptions.ClientError as e:
    beyond = {'code': e.response['Error']['Code'], 'status': e.response['ResponseMetadata']['HTTPStatusCode']}
print(json.dumps({'done': {'c': done.get('ChecksumCRC32'), 't': done.get('ChecksumType'), 'etag': done['ETag']},
  'part2': {'ok': body2 == data[1], 'range': part2['ContentRange'], 'count': part2.get('PartsCount'), 'status': part2['ResponseMetadata']['HTTPStatusCode']},
  'attrs': {k: v for k, v in attrs.items() if k not in ('ResponseMetadata', 'LastModified')}, 'beyond': beyond,
  'all': base64.b64encode(b''.join(data)).decode()}))
`;
  const r = await exec('python3', ['-c', script], t.cliEnv(), 120_000);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    done: { c: string; t: string; etag: string };
    part2: { ok: boolean; range: string; count: number; status: number };
    attrs: Record<string, unknown>;
    beyond: { code: string; status: number };
    all: string;
  };
  const all = Buffer.from(out.all, 'base64');
  assert.equal(out.done.c, checksumBase64('CRC32', all));
  assert.equal(out.done.t, 'FULL_OBJECT');
  assert.deepEqual(out.part2, { ok: true, range: `bytes ${5 * MiB}-${5 * MiB + 776}/${all.length}`, count: 2, status: 206 });
  assert.deepEqual(out.attrs, {
    ETag: out.done.etag.slice(1, -1),
    Checksum: { ChecksumCRC32: checksumBase64('CRC32', all), ChecksumType: 'FULL_OBJECT' },
    ObjectParts: { TotalPartsCount: 2 },
    StorageClass: 'STANDARD',
    ObjectSize: all.length,
  });
  assert.deepEqual(out.beyond, { code: 'InvalidPartNumber', status: 416 });
});

test('partNumber (JS SDK): a COMPOSITE object part by part with each part\'s checksum, a whole object as part 1; Range with partNumber and a bad number refused', async () => {
  await multipart('composite/sha', 'SHA256', 'COMPOSITE');
  let offset = 0;
  for (let i = 0; i < parts.length; i++) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'composite/sha', PartNumber: i + 1, ChecksumMode: 'ENABLED' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    assert.ok(bytes.equals(parts[i]!), `part ${i + 1}`);
    assert.equal(got.ContentRange, `bytes ${offset}-${offset + parts[i]!.length - 1}/${whole.length}`);
    assert.equal(got.PartsCount, 3);
    assert.equal(got.ChecksumSHA256, checksumBase64('SHA256', parts[i]!), "the part's own checksum");
    offset += parts[i]!.length;
  }
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'composite/sha', PartNumber: 3 }));
  assert.equal(head.ContentLength, 1234);
  assert.equal(head.PartsCount, 3);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: 'one piece' }));
  const one = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'single', PartNumber: 1 }));
  assert.equal(await one.Body!.transformToString(), 'one piece');
  assert.equal(one.ContentRange, 'bytes 0-8/9');
  assert.equal(one.PartsCount, undefined);
  const two = await fails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'single', PartNumber: 2 })), 'InvalidPartNumber', 416);
  assert.equal(two.message, 'The requested partnumber is not satisfiable');
  const both = await fails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'single', PartNumber: 1, Range: 'bytes=0-1' })), 'InvalidRequest');
  assert.equal(both.message, 'Cannot specify both Range header and partNumber query parameter');
  await fails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'single', PartNumber: 10001 })), 'InvalidArgument');
});

test('GetObjectAttributes (JS SDK): a COMPOSITE object lists its parts page by page; a whole object has no ObjectParts; errors', async () => {
  const page1 = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'composite/sha', ObjectAttributes: ['ObjectParts', 'Checksum'], MaxParts: 2 }));
  const composite = createHash('sha256')
    .update(Buffer.concat(parts.map((p) => createHash('sha256').update(p).digest())))
    .digest('base64');
  assert.deepEqual(page1.Checksum, { ChecksumSHA256: composite, ChecksumType: 'COMPOSITE' }, 'the composite checksum without its -3');
  assert.equal(page1.ObjectParts!.TotalPartsCount, 3);
  assert.equal(page1.ObjectParts!.IsTruncated, true);
  assert.equal(page1.ObjectParts!.MaxParts, 2);
  assert.equal(page1.ObjectParts!.NextPartNumberMarker, '2');
  assert.deepEqual(
    page1.ObjectParts!.Parts!.map((p) => [p.PartNumber, p.Size, p.ChecksumSHA256]),
    [
      [1, 5 * MiB, checksumBase64('SHA256', parts[0]!)],
      [2, 5 * MiB, checksumBase64('SHA256', parts[1]!)],
    ],
  );
  const page2 = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'composite/sha', ObjectAttributes: ['ObjectParts'], PartNumberMarker: '2' }));
  assert.equal(page2.ObjectParts!.IsTruncated, false);
  assert.deepEqual(page2.ObjectParts!.Parts!.map((p) => [p.PartNumber, p.Size]), [[3, 1234]]);
  const single = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'single', ObjectAttributes: ['ObjectParts', 'ObjectSize', 'ETag'] }));
  assert.equal(single.ObjectParts, undefined);
  assert.equal(single.ObjectSize, 9);
  assert.equal(single.ETag, createHash('md5').update('one piece').digest('hex'));
  assert.ok(single.LastModified instanceof Date);
  await fails(s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'nothing', ObjectAttributes: ['ETag'] })), 'NoSuchKey', 404);
  const bad = await fails(s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'single', ObjectAttributes: ['Colour' as 'ETag'] })), 'InvalidArgument');
  assert.equal(bad.message, 'Invalid attribute name specified.');
});

test('the AWS CLI: s3api get-object-attributes and get-object --part-number', async () => {
  const attrs = await aws(t, 'v1', ['s3api', 'get-object-attributes', '--bucket', bucket, '--key', 'full/CRC32', '--object-attributes', 'Checksum', 'ObjectParts', 'ObjectSize', '--output', 'json']);
  assert.equal(attrs.code, 0, attrs.stderr);
  const out = JSON.parse(attrs.stdout) as Record<string, unknown>;
  assert.deepEqual(out['Checksum'], { ChecksumCRC32: checksumBase64('CRC32', whole), ChecksumType: 'FULL_OBJECT' });
  assert.deepEqual(out['ObjectParts'], { TotalPartsCount: 3 });
  assert.equal(out['ObjectSize'], whole.length);
  const file = `${t.dataDir}/part3.bin`;
  const part = await aws(t, 'v1', ['s3api', 'get-object', '--bucket', bucket, '--key', 'full/CRC32', '--part-number', '3', file, '--output', 'json']);
  assert.equal(part.code, 0, part.stderr);
  assert.equal((JSON.parse(part.stdout) as { PartsCount: number }).PartsCount, 3);
  const { readFile } = await import('node:fs/promises');
  assert.ok((await readFile(file)).equals(parts[2]!));
});
