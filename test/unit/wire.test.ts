import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AwsError } from '../../src/wire/errors.ts';
import { AuthFailure, authError } from '../../src/wire/auth-errors.ts';
import { jsonError, operationFromTarget, parseJsonBody } from '../../src/wire/aws-json.ts';
import { parseQueryParams, queryError, queryResponse } from '../../src/wire/aws-query.ts';
import { restXmlError } from '../../src/wire/rest-xml.ts';

test('X-Amz-Target routes on the text after the last dot (both CloudTrail forms)', () => {
  assert.deepEqual(operationFromTarget('CloudTrail_20131101.LookupEvents'), { prefix: 'CloudTrail_20131101', operation: 'LookupEvents' });
  assert.equal(operationFromTarget('com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents')!.operation, 'LookupEvents');
  assert.equal(operationFromTarget('TrentService.'), undefined);
  assert.equal(operationFromTarget('NoDot'), undefined);
});

test('awsJson errors carry __type in the body and x-amzn-ErrorType', () => {
  const r = jsonError('rid', new AwsError('NotFoundException', 400, 'Key not found', {}));
  assert.equal(r.status, 400);
  assert.equal(r.headers['x-amzn-errortype'], 'NotFoundException');
  assert.deepEqual(JSON.parse(String(r.body)), { __type: 'NotFoundException', message: 'Key not found' });
  assert.throws(() => parseJsonBody(Buffer.from('{"a":')), (e: unknown) => e instanceof AwsError && e.code === 'SerializationException');
  assert.throws(() => parseJsonBody(Buffer.from('[1]')), (e: unknown) => e instanceof AwsError && e.code === 'SerializationException');
  assert.deepEqual(parseJsonBody(Buffer.alloc(0)), {});
});

test('awsQuery: form and query parameters, response and <ErrorResponse> shapes, XML escaped', () => {
  const p = parseQueryParams('Action=GetCallerIdentity', Buffer.from('Version=2011-06-15&Name=a+b%2Bc'), 'application/x-www-form-urlencoded');
  assert.equal(p.get('Action'), 'GetCallerIdentity');
  assert.equal(p.get('Name'), 'a b+c');
  const ok = queryResponse('rid', 'https://sts.amazonaws.com/doc/2011-06-15/', 'GetCallerIdentity', { Arn: 'a<b>&', Account: '1' });
  assert.equal(
    String(ok.body),
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>a&lt;b&gt;&amp;</Arn><Account>1</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
  );
  const err = queryError('rid', 'ns', new AwsError('InvalidClientTokenId', 403, 'bad <token>'));
  assert.equal(
    String(err.body),
    '<ErrorResponse xmlns="ns"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>bad &lt;token&gt;</Message></Error><RequestId>rid</RequestId></ErrorResponse>',
  );
});

test('S3 errors: <Error> with extra fields; HEAD has no body', () => {
  const e = new AwsError('NoSuchKey', 404, 'The specified key does not exist.', { Key: 'a&b' });
  const r = restXmlError('RID', e, 'GET');
  assert.match(String(r.body), /<Error><Code>NoSuchKey<\/Code><Message>The specified key does not exist.<\/Message><Key>a&amp;b<\/Key><RequestId>RID<\/RequestId>/);
  assert.equal(r.headers['x-amz-request-id'], 'RID');
  const h = restXmlError('RID', e, 'HEAD');
  assert.equal(h.body, undefined);
  assert.equal(h.status, 404);
});

test('each authentication failure maps to the code and status AWS uses for the protocol', () => {
  const table: Array<[AuthFailure['kind'], string, number, string, number, string, number]> = [
    ['missing', 'MissingAuthenticationTokenException', 400, 'MissingAuthenticationToken', 403, 'AccessDenied', 403],
    ['incomplete', 'IncompleteSignatureException', 400, 'IncompleteSignature', 400, 'AuthorizationHeaderMalformed', 400],
    ['unknown-key', 'UnrecognizedClientException', 400, 'InvalidClientTokenId', 403, 'InvalidAccessKeyId', 403],
    ['signature', 'InvalidSignatureException', 400, 'SignatureDoesNotMatch', 403, 'SignatureDoesNotMatch', 403],
    ['skew', 'InvalidSignatureException', 400, 'SignatureDoesNotMatch', 403, 'RequestTimeTooSkewed', 403],
    ['expired', 'InvalidSignatureException', 400, 'SignatureDoesNotMatch', 403, 'AccessDenied', 403],
    ['payload-hash', 'InvalidSignatureException', 400, 'SignatureDoesNotMatch', 403, 'XAmzContentSHA256Mismatch', 400],
  ];
  for (const [kind, jc, js, qc, qs, sc, ss] of table) {
    const f = new AuthFailure(kind, 'm');
    assert.deepEqual([authError(f, 'json').code, authError(f, 'json').status], [jc, js], kind);
    assert.deepEqual([authError(f, 'query').code, authError(f, 'query').status], [qc, qs], kind);
    assert.deepEqual([authError(f, 'restxml').code, authError(f, 'restxml').status], [sc, ss], kind);
  }
});
