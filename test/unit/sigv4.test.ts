import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import type { HttpRequest } from '@smithy/types';
import { AuthFailure } from '../../src/wire/auth-errors.ts';
import { checkTime, parseSigV4, s3CanonicalPath, sha256Hex, verifySignature, type SigningRequest, UNSIGNED_PAYLOAD } from '../../src/wire/sigv4.ts';

const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

function toSigning(req: HttpRequest): SigningRequest {
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) (headers[k.toLowerCase()] ??= []).push(v);
  const qs = Object.entries(req.query ?? {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v ?? '']]))
    .map(([k, v]) => `${encodeURIComponent(k!)}=${encodeURIComponent(v!)}`)
    .join('&');
  return { method: req.method, rawPath: req.path, rawQuery: qs, headers };
}

async function expectFailure(p: Promise<unknown>, kind: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof AuthFailure && e.kind === kind);
}

test('AWS SigV4 test suite: get-vanilla', async () => {
  const sreq: SigningRequest = {
    method: 'GET',
    rawPath: '/',
    rawQuery: '',
    headers: {
      host: ['example.amazonaws.com'],
      'x-amz-date': ['20150830T123600Z'],
      authorization: [
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
      ],
    },
  };
  const p = parseSigV4(sreq)!;
  assert.equal(p.service, 'service');
  await verifySignature(p, creds.secretAccessKey, sreq, { uriEscapePath: true, payloadHashes: [sha256Hex('')] });
  await expectFailure(verifySignature(p, creds.secretAccessKey + 'x', sreq, { uriEscapePath: true, payloadHashes: [sha256Hex('')] }), 'signature');
});

const cases: Array<{ name: string; service: string; req: Partial<HttpRequest> }> = [
  { name: 'awsJson POST', service: 'kms', req: { method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' }, body: '{"KeyId":"k"}' } },
  { name: 'S3 key with reserved characters', service: 's3', req: { method: 'PUT', path: '/bucket/dir/a%20b%2Bc~%21%27%28%29%2A.txt', headers: { 'x-amz-content-sha256': UNSIGNED_PAYLOAD } } },
  { name: 'S3 query with a valueless parameter and repeated keys', service: 's3', req: { method: 'POST', path: '/bucket/key', query: { uploads: '', 'x-id': 'CreateMultipartUpload', tag: ['b', 'a'] }, headers: { 'x-amz-content-sha256': UNSIGNED_PAYLOAD } } },
  { name: 'headers with inner whitespace and mixed case', service: 'sts', req: { method: 'POST', path: '/', headers: { 'X-Amz-Meta-Note': '  a   b  c ', 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'Action=GetCallerIdentity&Version=2011-06-15' } },
  { name: 'non-S3 path with a space (double-encoded)', service: 'execute-api', req: { method: 'GET', path: '/a%20b/c', headers: {} } },
];

for (const c of cases) {
  test(`round trip with the SDK signer: ${c.name}`, async () => {
    const signer = new SignatureV4({ service: c.service, region: 'eu-west-1', credentials: creds, sha256: Hash.bind(null, 'sha256'), uriEscapePath: c.service !== 's3' });
    const base: HttpRequest = { method: 'GET', protocol: 'https:', hostname: 'localhost', port: 4566, path: '/', query: {}, headers: {}, ...c.req } as HttpRequest;
    base.headers = { host: 'localhost:4566', ...base.headers };
    const signedReq = (await signer.sign(base)) as HttpRequest;
    const sreq = toSigning(signedReq);
    const p = parseSigV4(sreq)!;
    const payload = signedReq.headers['x-amz-content-sha256'] ?? sha256Hex((signedReq.body as string | undefined) ?? '');
    const opts = { uriEscapePath: c.service !== 's3', payloadHashes: [payload] };
    await verifySignature(p, creds.secretAccessKey, sreq, opts);
    // Any change to a signed part fails.
    await expectFailure(verifySignature(p, creds.secretAccessKey, { ...sreq, method: sreq.method === 'GET' ? 'PUT' : 'GET' }, opts), 'signature');
    await expectFailure(verifySignature(p, creds.secretAccessKey, { ...sreq, rawPath: sreq.rawPath + 'x' }, opts), 'signature');
    await expectFailure(verifySignature(p, creds.secretAccessKey, { ...sreq, rawQuery: sreq.rawQuery + '&extra=1' }, opts), 'signature');
    await expectFailure(verifySignature(p, creds.secretAccessKey, sreq, { ...opts, payloadHashes: [sha256Hex('other')] }), 'signature');
    await expectFailure(verifySignature({ ...p, region: 'us-east-1', scope: p.scope.replace('eu-west-1', 'us-east-1') }, creds.secretAccessKey, sreq, opts), 'signature');
  });
}

test('presigned round trip, and expiry', async () => {
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: creds, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
  const at = new Date('2026-11-23T10:00:00Z');
  const req = (await signer.presign(
    { method: 'GET', protocol: 'https:', hostname: 'localhost', path: '/b/a%20b.jpg', query: {}, headers: { host: 'localhost:4566' } } as HttpRequest,
    { expiresIn: 600, signingDate: at },
  )) as HttpRequest;
  const sreq = toSigning(req);
  const p = parseSigV4(sreq)!;
  assert.equal(p.presigned, true);
  assert.equal(p.expiresSeconds, 600);
  // smithy's bare presign() hashes the (empty) body; @aws-sdk/s3-request-presigner signs UNSIGNED-PAYLOAD instead.
  await verifySignature(p, creds.secretAccessKey, sreq, { uriEscapePath: false, payloadHashes: [UNSIGNED_PAYLOAD, sha256Hex('')] });
  await expectFailure(verifySignature(p, creds.secretAccessKey, sreq, { uriEscapePath: false, payloadHashes: [UNSIGNED_PAYLOAD] }), 'signature');
  checkTime(p, new Date(at.getTime() + 599_000));
  assert.throws(() => checkTime(p, new Date(at.getTime() + 601_000)), (e: unknown) => e instanceof AuthFailure && e.kind === 'expired');
  assert.throws(() => checkTime(p, new Date(at.getTime() - 16 * 60_000)), (e: unknown) => e instanceof AuthFailure && e.kind === 'skew');
});

test('header-signed requests: 15 minutes of skew either way', () => {
  const date = new Date('2026-11-23T10:00:00Z');
  const p = { presigned: false, longDate: '20261123T100000Z', date } as Parameters<typeof checkTime>[0];
  checkTime(p, new Date(date.getTime() + 15 * 60_000));
  checkTime(p, new Date(date.getTime() - 15 * 60_000));
  assert.throws(() => checkTime(p, new Date(date.getTime() + 15 * 60_000 + 1000)), /Signature expired: 20261123T100000Z is now earlier than/);
  assert.throws(() => checkTime(p, new Date(date.getTime() - 15 * 60_000 - 1000)), /Signature not yet current/);
});

test('malformed authentication is IncompleteSignature, not a crash', () => {
  const base = { method: 'GET', rawPath: '/', rawQuery: '', headers: { host: ['h'], 'x-amz-date': ['20261123T100000Z'] } as Record<string, string[]> };
  const withAuth = (a: string) => ({ ...base, headers: { ...base.headers, authorization: [a] } });
  const incomplete = (e: unknown) => e instanceof AuthFailure && e.kind === 'incomplete';
  assert.throws(() => parseSigV4(withAuth('AWS4-HMAC-SHA256 Credential=AK/20261123/us-east-1/kms/aws4_request')), incomplete);
  assert.throws(() => parseSigV4(withAuth('AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00')), incomplete);
  assert.throws(() => parseSigV4(withAuth('AWS4-HMAC-SHA256 Credential=AK/20261122/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00')), /does not match/);
  assert.throws(() => parseSigV4(withAuth('AWS4-HMAC-SHA256 Credential=AK/20261123/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date, Signature=00')), /Host/);
  assert.throws(() => parseSigV4(withAuth('AWS AKIDEXAMPLE:c2lnbmF0dXJl')), /Unsupported authorization type/);
  assert.throws(() => parseSigV4({ ...base, rawQuery: 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00' }), incomplete);
  assert.throws(
    () =>
      parseSigV4({
        ...base,
        rawQuery:
          'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261123%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261123T100000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00',
      }),
    /less than a week/,
  );
  assert.equal(parseSigV4(base), undefined);
});

test('S3 canonical paths: each segment decoded, then encoded once per RFC 3986', () => {
  assert.equal(s3CanonicalPath('/bucket/dir/a b+c~.txt'), '/bucket/dir/a%20b%2Bc~.txt');
  assert.equal(s3CanonicalPath('/bucket/dir/a%20b%2Bc~.txt'), '/bucket/dir/a%20b%2Bc~.txt');
  assert.equal(s3CanonicalPath("/b/(x)!*'"), '/b/%28x%29%21%2A%27');
  assert.equal(s3CanonicalPath('/b//k'), '/b//k');
});
