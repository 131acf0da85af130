// CORS as S3 answers it: Put/Get/DeleteBucketCors through the JS SDK, boto3 and the AWS CLI (with AWS's refusals),
// preflights (OPTIONS, unsigned) matched rule by rule as S3 matches them, and the Access-Control-* headers on actual
// requests (answers and errors) from an allowed origin, none for another.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client, CreateBucketCommand, DeleteBucketCorsCommand, GetBucketCorsCommand, PutBucketCorsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec, fails } from '../helpers/assert.ts';
import { aws } from '../helpers/cli.ts';
import { signed } from '../helpers/raw.ts';

let t: RunningTrent;
let s3: S3Client;
const bucket = 'trent-cors';
const bare = 'trent-cors-none';

const RULES = [
  { ID: 'app', AllowedOrigins: ['https://app.example'], AllowedMethods: ['GET', 'PUT'], AllowedHeaders: ['content-type', 'x-amz-*'], ExposeHeaders: ['ETag', 'x-amz-request-id'], MaxAgeSeconds: 600 },
  { AllowedOrigins: ['https://*.partner.example'], AllowedMethods: ['GET'], AllowedHeaders: [] },
  { AllowedOrigins: ['*'], AllowedMethods: ['HEAD'] },
];

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: bare }));
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

/** An unsigned request, as a browser sends a preflight. */
function raw(method: string, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', servername: 'localhost', port: t.port, method, path, headers: { host: `localhost:${t.port}`, ...headers }, ca: t.ca, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const preflight = (path: string, origin: string | undefined, method: string | undefined, requestHeaders?: string) =>
  raw('OPTIONS', path, {
    ...(origin !== undefined ? { origin } : {}),
    ...(method !== undefined ? { 'access-control-request-method': method } : {}),
    ...(requestHeaders !== undefined ? { 'access-control-request-headers': requestHeaders } : {}),
  });

function code(r: Reply): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(r.body)?.[1];
}

test('PutBucketCors / GetBucketCors / DeleteBucketCors through the JS SDK, and NoSuchCORSConfiguration', async () => {
  await fails(s3.send(new GetBucketCorsCommand({ Bucket: bucket })), 'NoSuchCORSConfiguration', 404);
  await s3.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: RULES } }));
  const got = await s3.send(new GetBucketCorsCommand({ Bucket: bucket }));
  assert.deepEqual(
    got.CORSRules!.map((r) => ({ ...r, AllowedHeaders: r.AllowedHeaders ?? [], ExposeHeaders: r.ExposeHeaders ?? [] })),
    RULES.map((r) => ({ ExposeHeaders: [], AllowedHeaders: [], ...r })),
  );
  await s3.send(new PutBucketCorsCommand({ Bucket: bare, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }] } }));
  await s3.send(new DeleteBucketCorsCommand({ Bucket: bare }));
  await fails(s3.send(new GetBucketCorsCommand({ Bucket: bare })), 'NoSuchCORSConfiguration', 404);
});

test('refused configurations: an unsupported method, two wildcards, no rule, no origin, no integrity header (boto3)', async () => {
  const script = `
import json, boto3, botocore
from botocore.config import Config
s3 = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, retries={'total_max_attempts': 1}))
def put(rules):
    try:
        s3.put_bucket_cors(Bucket='${bare}', CORSConfiguration={'CORSRules': rules})
        return {'ok': True}
    except botocore.exceptions.ClientError as e:
        return {'code': e.response['Error']['Code'], 'status': e.response['ResponseMetadata']['HTTPStatusCode'], 'message': e.response['Error']['Message']}
out = {
  'patch': put([{'AllowedOrigins': ['*'], 'AllowedMethods': ['PATCH']}]),
  'wild': put([{'AllowedOrigins': ['https://*.*.example'], 'AllowedMethods': ['GET']}]),
  'good': put([{'AllowedOrigins': ['https://a.example'], 'AllowedMethods': ['GET'], 'MaxAgeSeconds': 5}]),
}
out['got'] = s3.get_bucket_cors(Bucket='${bare}')['CORSRules']
print(json.dumps(out))
`;
  const r = await exec('python3', ['-c', script], t.cliEnv());
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, { code?: string; status?: number; message?: string; ok?: boolean }> & { got: unknown };
  assert.deepEqual(out['patch'], { code: 'InvalidRequest', status: 400, message: 'Found unsupported HTTP method in CORS config. Unsupported method is PATCH' });
  assert.deepEqual(out['wild'], { code: 'InvalidRequest', status: 400, message: 'AllowedOrigin "https://*.*.example" can not have more than one wildcard.' });
  assert.equal(out['good']!.ok, true);
  assert.deepEqual(out.got, [{ AllowedMethods: ['GET'], AllowedOrigins: ['https://a.example'], MaxAgeSeconds: 5 }]);
  const put = (body: string, headers: Record<string, string> = { 'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==' }) =>
    signed(t, 's3', { method: 'PUT', path: `/${bare}`, query: { cors: '' }, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers }, body });
  const empty = await put('<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CORSConfiguration>', {});
  assert.equal(empty.status, 400);
  assert.match(empty.body, /Missing required header for this request: Content-MD5 OR x-amz-checksum-\*/);
  const noOriginXml = '<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>';
  const noOrigin = await put(noOriginXml, { 'content-md5': createHash('md5').update(noOriginXml).digest('base64') });
  assert.equal(noOrigin.status, 400);
  assert.match(noOrigin.body, /<Code>MalformedXML<\/Code>/);
});

test('the AWS CLI: put-bucket-cors from a file, get-bucket-cors, delete-bucket-cors', async () => {
  const file = join(t.dataDir, 'cors.json');
  await writeFile(file, JSON.stringify({ CORSRules: [{ AllowedOrigins: ['https://cli.example'], AllowedMethods: ['GET', 'HEAD'], ExposeHeaders: ['ETag'] }] }));
  const put = await aws(t, 'v1', ['s3api', 'put-bucket-cors', '--bucket', bare, '--cors-configuration', `file://${file}`]);
  assert.equal(put.code, 0, put.stderr);
  const get = await aws(t, 'v1', ['s3api', 'get-bucket-cors', '--bucket', bare, '--output', 'json']);
  assert.equal(get.code, 0, get.stderr);
  assert.deepEqual(JSON.parse(get.stdout), { CORSRules: [{ ExposeHeaders: ['ETag'], AllowedMethods: ['GET', 'HEAD'], AllowedOrigins: ['https://cli.example'] }] });
  const del = await aws(t, 'v1', ['s3api', 'delete-bucket-cors', '--bucket', bare]);
  assert.equal(del.code, 0, del.stderr);
  const gone = await aws(t, 'v1', ['s3api', 'get-bucket-cors', '--bucket', bare]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /NoSuchCORSConfiguration/);
});

test('preflights: the first matching rule answers with its methods, the requested headers, Expose, Max-Age and Vary', async () => {
  const ok = await preflight(`/${bucket}/photos/cat.png`, 'https://app.example', 'PUT', 'Content-Type, X-Amz-Date, x-amz-content-sha256');
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  assert.equal(ok.headers['access-control-allow-methods'], 'GET, PUT');
  assert.equal(ok.headers['access-control-allow-headers'], 'content-type, x-amz-date, x-amz-content-sha256');
  assert.equal(ok.headers['access-control-expose-headers'], 'ETag, x-amz-request-id');
  assert.equal(ok.headers['access-control-max-age'], '600');
  assert.equal(ok.headers['vary'], 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method');
  assert.ok(ok.headers['x-amz-request-id']);

  // A preflight for a presigned URL carries its query; it is still answered unsigned (the query signs the PUT).
  const presignedQuery = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=' + '0'.repeat(64);
  const forPresigned = await preflight(`/${bucket}/photos/cat.png?${presignedQuery}`, 'https://app.example', 'PUT', 'content-type');
  assert.equal(forPresigned.status, 200, forPresigned.body);
  assert.equal(forPresigned.headers['access-control-allow-origin'], 'https://app.example');
  const partner = await preflight(`/${bucket}/x`, 'https://shop.partner.example', 'GET');
  assert.equal(partner.status, 200, partner.body);
  assert.equal(partner.headers['access-control-allow-methods'], 'GET');
  const anyHead = await preflight(`/${bucket}`, 'https://anyone.example', 'HEAD');
  assert.equal(anyHead.status, 200);
  assert.equal(anyHead.headers['access-control-allow-origin'], '*', 'a wildcard rule answers *');
  assert.equal(anyHead.headers['access-control-allow-credentials'], undefined);

  const notAllowed = [
    await preflight(`/${bucket}/x`, 'https://evil.example', 'GET'),
    await preflight(`/${bucket}/x`, 'https://app.example', 'DELETE'),
    await preflight(`/${bucket}/x`, 'https://app.example', 'PUT', 'content-type, x-custom'),
    await preflight(`/${bucket}/x`, 'https://shop.partner.example', 'GET', 'content-type'),
  ];
  for (const r of notAllowed) {
    assert.equal(r.status, 403, r.body);
    assert.equal(code(r), 'AccessForbidden');
    assert.match(r.body, /<Message>CORSResponse: This CORS request is not allowed\./);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  }
  const noCors = await preflight(`/${bare}/x`, 'https://app.example', 'GET');
  assert.equal(noCors.status, 403);
  assert.match(noCors.body, /CORSResponse: CORS is not enabled for this bucket\.<\/Message><Method>GET<\/Method><ResourceType>BUCKET<\/ResourceType>/);
  const noBucket = await preflight('/no-such-bucket-here/x', 'https://app.example', 'GET');
  assert.equal(noBucket.status, 403);
  assert.match(noBucket.body, /CORSResponse: Bucket not found/);
  const noOrigin = await preflight(`/${bucket}/x`, undefined, 'GET');
  assert.equal(noOrigin.status, 400);
  assert.match(noOrigin.body, /<Code>BadRequest<\/Code><Message>Insufficient information\. Origin request header needed\.<\/Message>/);
  const noMethod = await preflight(`/${bucket}/x`, 'https://app.example', undefined);
  assert.equal(noMethod.status, 400);
  assert.match(noMethod.body, /Invalid Access-Control-Request-Method: null/);

  // Every preflight is in the trail, allowed or not, as a read-only data event.
  const db = await t.openDb('trail');
  try {
    const rows = await db.all<{ record: string }>("SELECT record FROM trail_events WHERE event_name = 'PreflightRequest'");
    const recorded = rows.map((r) => JSON.parse(r.record) as { errorCode?: string; readOnly: boolean; eventCategory: string });
    assert.ok(recorded.length >= 11, `${recorded.length} preflights recorded`);
    assert.ok(recorded.some((e) => e.errorCode === 'AccessForbidden'));
    assert.ok(recorded.every((e) => e.readOnly && e.eventCategory === 'Data'));
  } finally {
    await db.close();
  }
});

test('actual requests from an allowed origin get the CORS headers (answers and errors); another origin gets none', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'shared.txt', Body: 'hello' }));
  const get = (origin: string, key = 'shared.txt') =>
    signed(t, 's3', { method: 'GET', path: `/${bucket}/${key}`, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', origin } });
  const allowed = await get('https://app.example');
  assert.equal(allowed.status, 200);
  assert.equal(allowed.body, 'hello');
  assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example');
  assert.equal(allowed.headers['access-control-expose-headers'], 'ETag, x-amz-request-id');
  assert.equal(allowed.headers['vary'], 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method');
  const missing = await get('https://app.example', 'missing.txt');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['access-control-allow-origin'], 'https://app.example', 'an error the page may read');
  const other = await get('https://evil.example');
  assert.equal(other.status, 200);
  assert.equal(other.headers['access-control-allow-origin'], undefined);
  const wrongMethod = await signed(t, 's3', { method: 'DELETE', path: `/${bucket}/nothing`, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', origin: 'https://app.example' } });
  assert.equal(wrongMethod.status, 204);
  assert.equal(wrongMethod.headers['access-control-allow-origin'], undefined, 'DELETE is not among the rule\'s methods');
});
