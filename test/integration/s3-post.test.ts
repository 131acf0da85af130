// POST Object: HTML form uploads signed with a SigV4 POST policy, prepared by @aws-sdk/s3-presigned-post's
// createPresignedPost and boto3's generate_presigned_post, posted as a browser posts them (multipart/form-data, the
// file last, no Authorization header). The upload is encrypted as a PutObject is (SSE fields, the bucket default),
// authorised for the signer, and audited; the policy's expiration, conditions and content-length-range, its
// signature, and the form itself are checked with AWS's error codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { request } from 'node:https';
import { S3Client, CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { IAMClient, CreateUserCommand, CreateAccessKeyCommand } from '@aws-sdk/client-iam';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec } from '../helpers/assert.ts';

let t: RunningTrent;
let s3: S3Client;
let keyArn: string;
const bucket = 'trent-post';
const kmsBucket = 'trent-post-kms';

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: kmsBucket }));
  const kms = new KMSClient(t.clientConfig());
  keyArn = (await kms.send(new CreateKeyCommand({ Description: 'form uploads' }))).KeyMetadata!.Arn!;
  kms.destroy();
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: kmsBucket,
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn } }] },
    }),
  );
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A multipart/form-data body as a browser builds it: the fields in order, then the file. */
function formBody(fields: Array<[string, string]>, file?: { name?: string; data: Buffer; filename?: string; type?: string }, after: Array<[string, string]> = []) {
  const boundary = `----TrentFormBoundary${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  const field = (name: string, value: string) => parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  for (const [k, v] of fields) field(k, v);
  if (file) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.name ?? 'file'}"; filename="${file.filename ?? 'upload.bin'}"\r\nContent-Type: ${file.type ?? 'application/octet-stream'}\r\n\r\n`,
      ),
      file.data,
      Buffer.from('\r\n'),
    );
  }
  for (const [k, v] of after) field(k, v);
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** POST a form to a bucket, unsigned, as a browser does. */
function post(bucketName: string, form: { body: Buffer; contentType: string }, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: t.port,
        method: 'POST',
        path: `/${bucketName}`,
        headers: { host: `localhost:${t.port}`, 'content-type': form.contentType, 'content-length': form.body.length, ...headers },
        ca: t.ca,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(form.body);
  });
}

function code(r: Reply): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(r.body)?.[1];
}
function message(r: Reply): string | undefined {
  const m = /<Message>([^<]*)<\/Message>/.exec(r.body)?.[1];
  return m?.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

async function presigned(opts: Partial<Parameters<typeof createPresignedPost>[1]> & { Key: string }, client = s3, bucketName = bucket) {
  return createPresignedPost(client, { Bucket: bucketName, Expires: 600, ...opts });
}

async function body(key: string, bucketName = bucket): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucketName, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** The trail's S3 events with these names, newest last. */
async function events(name: string): Promise<Array<Record<string, unknown>>> {
  const db = await t.openDb('trail');
  try {
    const rows = await db.all<{ record: string }>("SELECT record FROM trail_events WHERE event_source = 's3.amazonaws.com' AND event_name = ?", [name]);
    return rows.map((r) => JSON.parse(r.record) as Record<string, unknown>);
  } finally {
    await db.close();
  }
}

test('createPresignedPost (JS SDK): a form upload with SSE-KMS, metadata and a size range is stored encrypted as asked, and audited as PostObject', async () => {
  const data = randomBytes(300_000);
  const { url, fields } = await presigned({
    Key: 'uploads/${filename}',
    Conditions: [['starts-with', '$key', 'uploads/'], ['content-length-range', 1, 1_000_000], ['starts-with', '$Content-Type', 'image/'], { 'x-amz-meta-owner': 'ada' }],
    Fields: {
      'Content-Type': 'image/png',
      'x-amz-meta-owner': 'ada',
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': keyArn,
    },
  });
  assert.match(url, new RegExp(`/${bucket}/?$`));
  const r = await post(bucket, formBody(Object.entries(fields), { data, filename: 'C:\\photos\\cat.png', type: 'image/png' }));
  assert.equal(r.status, 204, r.body);
  assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms');
  assert.equal(r.headers['x-amz-server-side-encryption-aws-kms-key-id'], keyArn);
  assert.equal(r.headers['location'], `https://localhost:${t.port}/${bucket}/uploads%2Fcat.png`);
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'uploads/cat.png' }));
  assert.equal(head.ServerSideEncryption, 'aws:kms');
  assert.equal(head.SSEKMSKeyId, keyArn);
  assert.equal(head.ContentType, 'image/png');
  assert.deepEqual(head.Metadata, { owner: 'ada' });
  assert.equal(head.ETag, r.headers['etag']);
  assert.ok((await body('uploads/cat.png')).equals(data), 'the file comes back byte for byte');
  const e = (await events('PostObject')).at(-1)!;
  assert.equal((e['userIdentity'] as { accessKeyId: string }).accessKeyId, t.accessKeyId, 'the signer is the caller');
  assert.deepEqual(e['requestParameters'], { bucketName: bucket, key: 'uploads/cat.png', Host: `localhost:${t.port}` });
  assert.equal(e['eventCategory'], 'Data');
  assert.equal((e['responseElements'] as Record<string, string>)['x-amz-server-side-encryption'], 'aws:kms');
  assert.equal(e['errorCode'], undefined);
});

test('success_action_status 201 answers a PostResponse document, 200 an empty 200, and success_action_redirect a 303 with bucket, key and etag', async () => {
  const for201 = await presigned({ Key: 'answers/201', Fields: { success_action_status: '201' } });
  const r201 = await post(bucket, formBody(Object.entries(for201.fields), { data: Buffer.from('two-oh-one') }));
  assert.equal(r201.status, 201, r201.body);
  const etag = `"${createHash('md5').update('two-oh-one').digest('hex')}"`;
  assert.match(r201.body, new RegExp(`<PostResponse><Location>https://localhost:${t.port}/${bucket}/answers%2F201</Location><Bucket>${bucket}</Bucket><Key>answers/201</Key><ETag>&quot;${etag.slice(1, -1)}&quot;</ETag></PostResponse>`));
  const for200 = await presigned({ Key: 'answers/200', Fields: { success_action_status: '200' } });
  const r200 = await post(bucket, formBody(Object.entries(for200.fields), { data: Buffer.from('x') }));
  assert.equal(r200.status, 200);
  assert.equal(r200.body, '');
  const redirect = 'https://app.example/done?from=form';
  const forRedirect = await presigned({ Key: 'answers/redirect', Fields: { success_action_redirect: redirect } });
  const r303 = await post(bucket, formBody(Object.entries(forRedirect.fields), { data: Buffer.from('moved') }));
  assert.equal(r303.status, 303, r303.body);
  const location = new URL(String(r303.headers['location']));
  assert.equal(location.origin + location.pathname, 'https://app.example/done');
  assert.equal(location.searchParams.get('from'), 'form');
  assert.equal(location.searchParams.get('bucket'), bucket);
  assert.equal(location.searchParams.get('key'), 'answers/redirect');
  assert.equal(location.searchParams.get('etag'), `"${createHash('md5').update('moved').digest('hex')}"`);
  assert.equal((await body('answers/redirect')).toString(), 'moved');
});

test('boto3 generate_presigned_post: the upload takes the bucket default (SSE-KMS) and fields after the file are ignored', async () => {
  const r = await exec(
    'python3',
    [
      '-c',
      `
import json, boto3
from botocore.config import Config
s3 = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4'))
p = s3.generate_presigned_post('${kmsBucket}', 'boto3/report.csv', Fields={'Content-Type': 'text/csv'}, Conditions=[{'Content-Type': 'text/csv'}, ['content-length-range', 1, 1024]], ExpiresIn=300)
print(json.dumps(p))
`,
    ],
    t.cliEnv(),
  );
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as { url: string; fields: Record<string, string> };
  assert.ok(p.fields['x-amz-signature'] && p.fields['policy'], JSON.stringify(p.fields));
  const res = await post(kmsBucket, formBody(Object.entries(p.fields), { data: Buffer.from('a,b\n1,2\n') }, [['x-amz-meta-after', 'ignored']]));
  assert.equal(res.status, 204, res.body);
  const head = await s3.send(new HeadObjectCommand({ Bucket: kmsBucket, Key: 'boto3/report.csv' }));
  assert.equal(head.ServerSideEncryption, 'aws:kms');
  assert.equal(head.SSEKMSKeyId, keyArn, 'the bucket default key');
  assert.equal(head.ContentType, 'text/csv');
  assert.deepEqual(head.Metadata ?? {}, {}, 'a field after the file is not read');
  // The same signed form, reused for a body over its range.
  const big = await post(kmsBucket, formBody(Object.entries(p.fields), { data: randomBytes(2000) }));
  assert.equal(big.status, 400, big.body);
  assert.equal(code(big), 'EntityTooLarge');
  assert.match(big.body, /<ProposedSize>2000<\/ProposedSize><MaxSizeAllowed>1024<\/MaxSizeAllowed>/);
});

test('policy refusals as AWS: expired, a condition not met, an extra field, a size under the range, a tampered signature, an unknown key', async () => {
  const expired = await presigned({ Key: 'refused/expired', Expires: -60 });
  const rExpired = await post(bucket, formBody(Object.entries(expired.fields), { data: Buffer.from('x') }));
  assert.equal(rExpired.status, 403);
  assert.equal(code(rExpired), 'AccessDenied');
  assert.equal(message(rExpired), 'Invalid according to Policy: Policy expired.');

  const prefixed = await presigned({ Key: 'ok/${filename}', Conditions: [['starts-with', '$key', 'ok/']] });
  const rCondition = await post(bucket, formBody(Object.entries({ ...prefixed.fields, key: 'elsewhere/x' }), { data: Buffer.from('x') }));
  assert.equal(rCondition.status, 403);
  assert.equal(message(rCondition), 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "ok/"]');

  const plain = await presigned({ Key: 'refused/extra' });
  const rExtra = await post(bucket, formBody([...Object.entries(plain.fields), ['x-amz-meta-sneaky', '1']], { data: Buffer.from('x') }));
  assert.equal(rExtra.status, 403);
  assert.equal(message(rExtra), 'Invalid according to Policy: Extra input fields: x-amz-meta-sneaky');
  const rIgnored = await post(bucket, formBody([...Object.entries(plain.fields), ['x-ignore-tracking', '1']], { data: Buffer.from('x') }));
  assert.equal(rIgnored.status, 204, `x-ignore-* fields need no condition: ${rIgnored.body}`);

  const ranged = await presigned({ Key: 'refused/small', Conditions: [['content-length-range', 10, 20]] });
  const rSmall = await post(bucket, formBody(Object.entries(ranged.fields), { data: Buffer.from('tiny') }));
  assert.equal(rSmall.status, 400);
  assert.equal(code(rSmall), 'EntityTooSmall');
  assert.match(rSmall.body, /<ProposedSize>4<\/ProposedSize><MinSizeAllowed>10<\/MinSizeAllowed>/);

  const tampered = { ...plain.fields, 'X-Amz-Signature': plain.fields['X-Amz-Signature']!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) };
  const rSig = await post(bucket, formBody(Object.entries(tampered), { data: Buffer.from('x') }));
  assert.equal(rSig.status, 403);
  assert.equal(code(rSig), 'SignatureDoesNotMatch');

  const stranger = new S3Client(t.clientConfig({ forcePathStyle: true, credentials: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x'.repeat(40) } }));
  const unknown = await presigned({ Key: 'refused/unknown' }, stranger);
  stranger.destroy();
  const rUnknown = await post(bucket, formBody(Object.entries(unknown.fields), { data: Buffer.from('x') }));
  assert.equal(rUnknown.status, 403);
  assert.equal(code(rUnknown), 'InvalidAccessKeyId');

  for (const key of ['refused/expired', 'elsewhere/x', 'refused/small', 'refused/unknown']) {
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), (e: Error) => e.name === 'NotFound', `${key} was not stored`);
  }
  const refused = (await events('PostObject')).filter((e) => e['errorCode']);
  assert.ok(refused.some((e) => e['errorCode'] === 'SignatureDoesNotMatch'), 'a refused form is recorded too');
  assert.ok(refused.some((e) => e['errorCode'] === 'AccessDenied' && e['errorMessage'] === 'Invalid according to Policy: Policy expired.'));
});

test('the form itself: no key, no file, no signature fields (anonymous), fields over 20 KB before the file', async () => {
  const plain = await presigned({ Key: 'form/plain' });
  const noKey = Object.entries(plain.fields).filter(([k]) => k !== 'key');
  const rNoKey = await post(bucket, formBody(noKey, { data: Buffer.from('x') }));
  assert.equal(rNoKey.status, 400);
  assert.equal(code(rNoKey), 'InvalidArgument');
  assert.equal(message(rNoKey), "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.");

  const rNoFile = await post(bucket, formBody(Object.entries(plain.fields)));
  assert.equal(rNoFile.status, 400);
  assert.equal(message(rNoFile), 'POST requires exactly one file upload per request.');

  const rAnonymous = await post(bucket, formBody([['key', 'form/anonymous']], { data: Buffer.from('x') }));
  assert.equal(rAnonymous.status, 403);
  assert.equal(code(rAnonymous), 'AccessDenied');

  const rBig = await post(bucket, formBody([...Object.entries(plain.fields), ['x-ignore-padding', 'p'.repeat(21 * 1024)]], { data: Buffer.from('x') }));
  assert.equal(rBig.status, 400);
  assert.equal(code(rBig), 'MaxPostPreDataLengthExceeded');
  assert.match(rBig.body, /<MaxPostPreDataLengthBytes>20480<\/MaxPostPreDataLengthBytes>/);
});

test("the signer's permissions apply: a user without s3:PutObject is refused, and a bucket policy can demand SSE-KMS on form uploads", async () => {
  const iam = new IAMClient(t.clientConfig());
  await iam.send(new CreateUserCommand({ UserName: 'uploader' }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'uploader' }))).AccessKey!;
  iam.destroy();
  const uploader = new S3Client(t.clientConfig({ forcePathStyle: true, credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! } }));
  const theirs = await presigned({ Key: 'perm/denied' }, uploader);
  uploader.destroy();
  const denied = await post(bucket, formBody(Object.entries(theirs.fields), { data: Buffer.from('x') }));
  assert.equal(denied.status, 403, denied.body);
  assert.equal(code(denied), 'AccessDenied');
  const e = (await events('PostObject')).at(-1)!;
  assert.equal((e['userIdentity'] as { userName?: string }).userName, 'uploader', 'the refusal names the signer');

  await s3.send(
    new PutBucketPolicyCommand({
      Bucket: kmsBucket,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:PutObject',
            Resource: `arn:aws:s3:::${kmsBucket}/*`,
            Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
          },
        ],
      }),
    }),
  );
  const without = await presigned({ Key: 'policy/plain' }, s3, kmsBucket);
  const rWithout = await post(kmsBucket, formBody(Object.entries(without.fields), { data: Buffer.from('x') }));
  assert.equal(rWithout.status, 403, rWithout.body);
  const withKms = await presigned({ Key: 'policy/kms', Fields: { 'x-amz-server-side-encryption': 'aws:kms' } }, s3, kmsBucket);
  const rWith = await post(kmsBucket, formBody(Object.entries(withKms.fields), { data: Buffer.from('x') }));
  assert.equal(rWith.status, 204, rWith.body);
});

test('the tagging field: its <Tagging> document tags the object, reaches policies as s3:RequestObjectTag, and is checked as PutObjectTagging checks it', async () => {
  const tagging = (tags: Array<[string, string]>) =>
    `<Tagging><TagSet>${tags.map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`).join('')}</TagSet></Tagging>`;
  const ok = await presigned({ Key: 'tagged/one', Fields: { tagging: tagging([['project', 'kiosk'], ['owner', 'ada lovelace']]) } });
  const r = await post(bucket, formBody(Object.entries(ok.fields), { data: Buffer.from('tagged') }));
  assert.equal(r.status, 204, r.body);
  const got = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged/one' }));
  assert.deepEqual(
    got.TagSet!.map((x) => [x.Key, x.Value]).sort(),
    [
      ['owner', 'ada lovelace'],
      ['project', 'kiosk'],
    ],
  );
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'tagged/one' }))).$metadata.httpStatusCode, 200);

  // Malformed documents and invalid tags are refused as PutObjectTagging refuses them, and nothing is stored.
  for (const [value, expected] of [
    ['<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>', 'MalformedXML'],
    ['not xml at all <', 'MalformedXML'],
    [tagging([['aws:reserved', 'x']]), 'InvalidTag'],
    [tagging(Array.from({ length: 11 }, (_, i): [string, string] => [`k${i}`, 'v'])), 'BadRequest'],
  ] as const) {
    const form = await presigned({ Key: 'tagged/refused', Fields: { tagging: value } });
    const refused = await post(bucket, formBody(Object.entries(form.fields), { data: Buffer.from('x') }));
    assert.equal(refused.status, 400, refused.body);
    assert.equal(code(refused), expected, value);
  }
  await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'tagged/refused' })), { name: 'NotFound' });

  // A bucket policy that demands a classification tag on every upload sees the form's tags.
  const tagBucket = 'trent-post-tags';
  await s3.send(new CreateBucketCommand({ Bucket: tagBucket }));
  await s3.send(
    new PutBucketPolicyCommand({
      Bucket: tagBucket,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${tagBucket}/*`, Condition: { StringNotEquals: { 's3:RequestObjectTag/classification': 'internal' } } }],
      }),
    }),
  );
  const untagged = await presigned({ Key: 'doc' }, s3, tagBucket);
  const rUntagged = await post(tagBucket, formBody(Object.entries(untagged.fields), { data: Buffer.from('x') }));
  assert.equal(rUntagged.status, 403, rUntagged.body);
  const wrong = await presigned({ Key: 'doc', Fields: { tagging: tagging([['classification', 'public']]) } }, s3, tagBucket);
  assert.equal((await post(tagBucket, formBody(Object.entries(wrong.fields), { data: Buffer.from('x') }))).status, 403);
  const right = await presigned({ Key: 'doc', Fields: { tagging: tagging([['classification', 'internal']]) } }, s3, tagBucket);
  const rRight = await post(tagBucket, formBody(Object.entries(right.fields), { data: Buffer.from('x') }));
  assert.equal(rRight.status, 204, rRight.body);
});
