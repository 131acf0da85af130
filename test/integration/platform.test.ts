import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { existsSync } from 'node:fs';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { S3Client, ListBucketsCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { errorCode, kmsRequest, s3Request, send, signed, signer, smithyRequest, STS_BODY, stsRequest } from '../helpers/raw.ts';

const run = promisify(execFile);
let t: RunningTrent;
let accountId: string;

before(async () => {
  t = await startTrent();
});
after(async () => {
  await t.stop();
  await removeDir(t.dataDir);
});

test('@aws-sdk/client-sts GetCallerIdentity returns the account, user id and ARN', async () => {
  const sts = new STSClient(t.clientConfig());
  const id = await sts.send(new GetCallerIdentityCommand({}));
  assert.match(id.Account!, /^[1-9]\d{11}$/);
  assert.match(id.UserId!, /^AIDA[A-Z2-7]{17}$/);
  assert.equal(id.Arn, `arn:aws:iam::${id.Account}:user/admin`);
  accountId = id.Account!;
});

test('boto3 GetCallerIdentity', async () => {
  const script = `
import boto3, json, os
c = boto3.client('sts', endpoint_url=os.environ['EP'], verify=os.environ['CA'], region_name='us-east-1',
                 aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'])
print(json.dumps(c.get_caller_identity()))`;
  const { stdout } = await run('python3', ['-c', script], { env: { ...process.env, EP: t.endpoint, CA: t.caPath, AK: t.accessKeyId, SK: t.secretAccessKey } });
  const id = JSON.parse(stdout);
  assert.equal(id.Arn, `arn:aws:iam::${id.Account}:user/admin`);
});

test('the pip AWS CLI (v1) with the variables trent env prints', async () => {
  const { stdout: exports } = await run(process.execPath, ['bin/trent.mjs', 'env', '--data-dir', t.dataDir], { cwd: new URL('../..', import.meta.url).pathname });
  assert.match(exports, /^export AWS_ENDPOINT_URL='https:\/\/localhost:\d+'$/m);
  for (const v of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS']) {
    assert.match(exports, new RegExp(`^export ${v}='[^']+'$`, 'm'));
  }
  const { stdout } = await run('bash', ['-c', `eval "$EXPORTS" && aws sts get-caller-identity --output json`], {
    env: { ...process.env, EXPORTS: exports, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
  });
  const id = JSON.parse(stdout);
  assert.equal(id.Account, accountId);
  assert.ok(id.Arn.endsWith(':user/admin'));
});

test("Debian's AWS CLI v2 with --endpoint-url", { skip: !existsSync('/usr/bin/aws') && !process.env['CI'] ? 'Debian awscli not installed (.ci/run installs it)' : false }, async () => {
  const env = t.cliEnv();
  delete env['AWS_ENDPOINT_URL'];
  const { stdout } = await run('/usr/bin/aws', ['--endpoint-url', t.endpoint, 'sts', 'get-caller-identity', '--output', 'json'], { env });
  assert.equal(JSON.parse(stdout).Account, accountId);
});

test('a wrong secret is rejected: SignatureDoesNotMatch 403 (STS), InvalidSignatureException 400 (KMS), SignatureDoesNotMatch 403 (S3)', async () => {
  const creds = { accessKeyId: t.accessKeyId, secretAccessKey: 'x'.repeat(40) };
  const sts = await signed(t, 'sts', stsRequest(), { creds });
  assert.equal(sts.status, 403);
  assert.equal(errorCode(sts), 'SignatureDoesNotMatch');
  assert.match(sts.body, /<ErrorResponse xmlns="https:\/\/sts.amazonaws.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type>/);
  const kms = await signed(t, 'kms', kmsRequest(), { creds });
  assert.equal(kms.status, 400);
  assert.equal(errorCode(kms), 'InvalidSignatureException');
  assert.equal(kms.headers['x-amzn-errortype'], 'InvalidSignatureException');
  const s3 = await signed(t, 's3', s3Request(), { creds });
  assert.equal(s3.status, 403);
  assert.equal(errorCode(s3), 'SignatureDoesNotMatch');

  // The same through the SDK and boto3, as applications see it.
  const err = await new STSClient(t.clientConfig({ credentials: creds })).send(new GetCallerIdentityCommand({})).catch((e) => e);
  assert.equal(err.name, 'SignatureDoesNotMatch');
  assert.equal(err.$metadata.httpStatusCode, 403);
  const kmsErr = await new KMSClient(t.clientConfig({ credentials: creds })).send(new ListKeysCommand({})).catch((e) => e);
  assert.equal(kmsErr.name, 'InvalidSignatureException');
  const py = await run(
    'python3',
    ['-c', `import boto3,os,botocore\ntry:\n  boto3.client('kms',endpoint_url=os.environ['EP'],verify=os.environ['CA'],region_name='us-east-1',aws_access_key_id=os.environ['AK'],aws_secret_access_key='x'*40).list_keys()\nexcept botocore.exceptions.ClientError as e:\n  print(e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'])`],
    { env: { ...process.env, EP: t.endpoint, CA: t.caPath, AK: t.accessKeyId } },
  );
  assert.equal(py.stdout.trim(), 'InvalidSignatureException 400');
});

test('a tampered signed header is rejected', async () => {
  const r = await signed(t, 'sts', stsRequest(), { mutate: (req) => (req.headers['content-type'] = 'application/x-www-form-urlencoded') });
  assert.equal(r.status, 403);
  assert.equal(errorCode(r), 'SignatureDoesNotMatch');
  const k = await signed(t, 'kms', kmsRequest('ListKeys'), { mutate: (req) => (req.headers['x-amz-target'] = 'TrentService.ListAliases') });
  assert.equal(k.status, 400);
  assert.equal(errorCode(k), 'InvalidSignatureException');
});

test('a changed body is rejected', async () => {
  const r = await signed(t, 'sts', stsRequest(), { mutate: (req) => (req.body = STS_BODY.replace('2011-06-15', '2011-06-16')) });
  assert.equal(r.status, 403);
  assert.equal(errorCode(r), 'SignatureDoesNotMatch');
  // With x-amz-content-sha256 signed (as the JS SDK sends it), a changed body still fails.
  const k = await signed(t, 'kms', { ...kmsRequest(), headers: { ...kmsRequest().headers, 'x-amz-content-sha256': '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' } }, {
    mutate: (req) => (req.body = '{"Limit":1}'),
  });
  assert.equal(errorCode(k), 'InvalidSignatureException');
  // S3 compares the declared payload hash with the body: XAmzContentSHA256Mismatch.
  const created = await signed(t, 's3', { method: 'PUT', path: '/bucket', headers: { 'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }, body: '' });
  assert.equal(created.status, 200, created.body);
  const s = await signed(t, 's3', { method: 'PUT', path: '/bucket/key', headers: { 'x-amz-content-sha256': '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' }, body: '{}' }, {
    mutate: (req) => (req.body = '{"x":1}'),
  });
  assert.equal(s.status, 400);
  assert.equal(errorCode(s), 'XAmzContentSHA256Mismatch');
});

test('presigned URLs: a valid one works, an expired one is refused', async () => {
  const sig = signer(t, 'sts');
  const get = smithyRequest(t, { method: 'GET', path: '/', query: { Action: 'GetCallerIdentity', Version: '2011-06-15' }, headers: {} });
  const ok = await send(t, (await sig.presign(get, { expiresIn: 60 })) as typeof get);
  assert.equal(ok.status, 200, ok.body);
  assert.match(ok.body, new RegExp(`<Account>${accountId}</Account>`));

  const old = new Date(Date.now() - 3600_000);
  const expired = await send(t, (await sig.presign(get, { expiresIn: 60, signingDate: old })) as typeof get);
  assert.equal(expired.status, 403);
  assert.equal(errorCode(expired), 'SignatureDoesNotMatch');
  assert.match(expired.body, /Signature expired/);

  // S3's presigner, as applications use it: 403 AccessDenied "Request has expired".
  const s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'photos', Key: 'a b+c.jpg' }), { expiresIn: 1, signingDate: old });
  const u = new URL(url);
  const r = await send(t, { ...smithyRequest(t, { method: 'GET', path: u.pathname, headers: {} }), query: Object.fromEntries(u.searchParams) });
  assert.equal(r.status, 403);
  assert.equal(errorCode(r), 'AccessDenied');
  assert.match(r.body, /<Message>Request has expired<\/Message>/);
});

test('a clock 20 minutes off is rejected with each protocol’s error', async () => {
  for (const offset of [-20, 20]) {
    const signingDate = new Date(Date.now() + offset * 60_000);
    const s3 = await signed(t, 's3', s3Request(), { signingDate });
    assert.equal(s3.status, 403);
    assert.equal(errorCode(s3), 'RequestTimeTooSkewed');
    assert.match(s3.body, /<MaxAllowedSkewMilliseconds>900000<\/MaxAllowedSkewMilliseconds>/);
    const sts = await signed(t, 'sts', stsRequest(), { signingDate });
    assert.equal(sts.status, 403);
    assert.equal(errorCode(sts), 'SignatureDoesNotMatch');
    const kms = await signed(t, 'kms', kmsRequest(), { signingDate });
    assert.equal(kms.status, 400);
    assert.equal(errorCode(kms), 'InvalidSignatureException');
    assert.match(JSON.parse(kms.body).message, offset < 0 ? /Signature expired: \d{8}T\d{6}Z is now earlier than/ : /Signature not yet current/);
  }
  // Within 15 minutes is accepted.
  const ok = await signed(t, 'sts', stsRequest(), { signingDate: new Date(Date.now() - 10 * 60_000) });
  assert.equal(ok.status, 200);
  // The SDK with a skewed clock and no retry sees the error too.
  const err = await new STSClient(t.clientConfig({ systemClockOffset: -20 * 60_000 })).send(new GetCallerIdentityCommand({})).catch((e) => e);
  assert.equal(err.name, 'SignatureDoesNotMatch');
});

test('an unknown access key is rejected: InvalidClientTokenId, UnrecognizedClientException, InvalidAccessKeyId', async () => {
  const creds = { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: t.secretAccessKey };
  const sts = await signed(t, 'sts', stsRequest(), { creds });
  assert.deepEqual([sts.status, errorCode(sts)], [403, 'InvalidClientTokenId']);
  const kms = await signed(t, 'kms', kmsRequest(), { creds });
  assert.deepEqual([kms.status, errorCode(kms)], [400, 'UnrecognizedClientException']);
  const s3 = await signed(t, 's3', s3Request(), { creds });
  assert.deepEqual([s3.status, errorCode(s3)], [403, 'InvalidAccessKeyId']);
  const { stderr } = await run('aws', ['sts', 'get-caller-identity'], { env: { ...t.cliEnv(), AWS_ACCESS_KEY_ID: creds.accessKeyId } }).catch((e) => e);
  assert.match(stderr, /InvalidClientTokenId/);
});

test('no signature at all: MissingAuthenticationToken (STS), MissingAuthenticationTokenException (KMS), AccessDenied (S3)', async () => {
  const sts = await send(t, smithyRequest(t, stsRequest()));
  assert.deepEqual([sts.status, errorCode(sts)], [403, 'MissingAuthenticationToken']);
  const kms = await send(t, smithyRequest(t, kmsRequest()));
  assert.deepEqual([kms.status, errorCode(kms)], [400, 'MissingAuthenticationTokenException']);
  const s3 = await send(t, smithyRequest(t, s3Request('/bucket')));
  assert.deepEqual([s3.status, errorCode(s3)], [403, 'AccessDenied']);
});

test('a malformed Authorization header: IncompleteSignature', async () => {
  const req = smithyRequest(t, stsRequest());
  req.headers['authorization'] = `AWS4-HMAC-SHA256 Credential=${t.accessKeyId}/20260101/us-east-1/sts/aws4_request, SignedHeaders=host`;
  req.headers['x-amz-date'] = '20260101T000000Z';
  const r = await send(t, req);
  assert.deepEqual([r.status, errorCode(r)], [400, 'IncompleteSignature']);
  assert.match(r.body, /Signature/);
  const s3 = await send(t, { ...smithyRequest(t, s3Request()), headers: { ...req.headers, authorization: req.headers["authorization"]!.replace("/sts/", "/s3/"), "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } });
  assert.deepEqual([s3.status, errorCode(s3)], [400, 'AuthorizationHeaderMalformed']);
});

test('services Trent does not provide answer in their own protocol after authentication', async () => {
  const sm = await signed(t, 'dynamodb', { method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}' });
  assert.deepEqual([sm.status, errorCode(sm)], [400, 'UnknownOperationException']);
  // S3 sub-resources Trent does not implement are refused in S3's own vocabulary.
  const website = await signed(t, 's3', { method: 'GET', path: '/bucket', query: { website: '' }, headers: { 'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }, body: '' });
  assert.deepEqual([website.status, errorCode(website)], [501, 'NotImplemented']);
  assert.ok((await new S3Client(t.clientConfig({ forcePathStyle: true })).send(new ListBucketsCommand({}))).Buckets, 'S3 is served');
});

test('plain HTTP is refused on the HTTPS port', async () => {
  const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: t.port, path: '/_trent/health' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(r.status, 400);
  assert.match(r.body, /HTTPS only/);
  assert.doesNotMatch(r.body, /status/);
});

test('GET /_trent/health answers without authentication and reveals nothing sensitive', async () => {
  const r = await send(t, smithyRequest(t, { method: 'GET', path: '/_trent/health', headers: {} }));
  assert.equal(r.status, 200);
  const body = JSON.parse(r.body);
  assert.equal(body.status, 'ok');
  for (const secret of [t.accessKeyId, t.secretAccessKey, accountId, t.dataDir]) assert.ok(!r.body.includes(secret));
});

test('Expect: 100-continue is answered before the body is sent', async () => {
  const sig = signer(t, 'sts');
  const req = (await sig.sign(smithyRequest(t, { ...stsRequest(), headers: { ...stsRequest().headers, expect: '100-continue' } }))) as ReturnType<typeof smithyRequest>;
  const r = await send(t, req, { expectContinue: true });
  assert.equal(r.status, 200);
});

test('a chunked request body without Content-Length, and an aws-chunked body with a CRC32 trailer', async () => {
  const sig = signer(t, 'sts');
  const plain = (await sig.sign(smithyRequest(t, stsRequest()))) as ReturnType<typeof smithyRequest>;
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: t.port, method: 'POST', path: '/', headers: plain.headers, ca: t.ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    // Two writes and no Content-Length: Node sends Transfer-Encoding: chunked.
    req.write(STS_BODY.slice(0, 10));
    req.end(STS_BODY.slice(10));
  });
  assert.equal(chunked, 200);

  const crc = (await import('../../src/wire/checksums.ts')).checksumBase64('CRC32', Buffer.from(STS_BODY));
  const framed = (trailerCrc: string) =>
    `${Buffer.byteLength(STS_BODY).toString(16)}\r\n${STS_BODY}\r\n0\r\nx-amz-checksum-crc32:${trailerCrc}\r\n\r\n`;
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    'content-encoding': 'aws-chunked',
    'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    'x-amz-decoded-content-length': String(Buffer.byteLength(STS_BODY)),
    'x-amz-trailer': 'x-amz-checksum-crc32',
  };
  const good = await signed(t, 'sts', { method: 'POST', path: '/', headers, body: framed(crc) });
  assert.equal(good.status, 200, good.body);
  const bad = await signed(t, 'sts', { method: 'POST', path: '/', headers, body: framed('AAAAAA==') });
  assert.deepEqual([bad.status, errorCode(bad)], [400, 'BadDigest']);
});

test('an oversized body is refused with 413', async () => {
  const body = 'Action=GetCallerIdentity&Version=2011-06-15&Pad=' + 'x'.repeat(200 * 1024);
  const r = await signed(t, 'sts', stsRequest(body));
  assert.equal(r.status, 413);
  assert.equal(errorCode(r), 'RequestEntityTooLarge');
});
