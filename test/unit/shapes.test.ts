// Requests checked against AWS's own service models: wrong member types refused as AWS's JSON services refuse
// them, and what an event may show of a request limited to modelled, non-sensitive members.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceShapes, auditQueryParams, conformJson } from '../../src/wire/shapes.ts';
import { AwsError } from '../../src/wire/errors.ts';
import { jsonTooDeep, parseJsonBody } from '../../src/wire/aws-json.ts';

const secrets = new ServiceShapes('@aws-sdk/client-secrets-manager');
const kms = new ServiceShapes('@aws-sdk/client-kms');
const rekognition = new ServiceShapes('@aws-sdk/client-rekognition');
const iam = new ServiceShapes('@aws-sdk/client-iam');

function serialization(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AwsError && e.code === 'SerializationException' && e.status === 400 && pattern.test(e.message));
}

test('an event sees modelled members only: a misspelt or invented member, and sensitive members, are dropped', () => {
  const shape = secrets.input('CreateSecret')!;
  const view = conformJson({ Name: 'db', secretString: 'TYPO-SECRET', SecretString: 'REAL-SECRET', Extra: { deep: 'x' }, Tags: [{ Key: 'team', Value: 'a' }] }, shape);
  assert.deepEqual(view, { Name: 'db', Tags: [{ Key: 'team', Value: 'a' }] });
  assert.deepEqual(conformJson({ SecretId: 'db', SecretBinary: 'AAAA', ClientRequestToken: 't'.repeat(32) }, secrets.input('PutSecretValue')!), { SecretId: 'db', ClientRequestToken: 't'.repeat(32) });
});

test('blobs never reach an event: ciphertext and plaintext in KMS, image bytes in Rekognition', () => {
  assert.deepEqual(conformJson({ KeyId: 'k', Plaintext: 'c2VjcmV0', EncryptionContext: { purpose: 'demo' } }, kms.input('Encrypt')!), { KeyId: 'k', EncryptionContext: { purpose: 'demo' } });
  assert.deepEqual(conformJson({ CiphertextBlob: 'AAAA' }, kms.input('Decrypt')!), {});
  assert.deepEqual(
    conformJson({ SourceImage: { Bytes: 'AAAA' }, TargetImage: { S3Object: { Bucket: 'b', Name: 'n' } }, SimilarityThreshold: 80 }, rekognition.input('CompareFaces')!),
    { SourceImage: {}, TargetImage: { S3Object: { Bucket: 'b', Name: 'n' } }, SimilarityThreshold: 80 },
  );
});

test('wrong member types are SerializationException, naming the member', () => {
  const shape = kms.input('Encrypt')!;
  serialization(() => conformJson({ KeyId: 5 }, shape), /string at 'KeyId', but found a number/);
  serialization(() => conformJson({ KeyId: 'k', EncryptionContext: ['a'] }, shape), /map at 'EncryptionContext'/);
  serialization(() => conformJson({ KeyId: 'k', EncryptionContext: { a: { b: 'c' } } }, shape), /string at 'EncryptionContext.a'/);
  serialization(() => conformJson({ KeyId: 'k', GrantTokens: 'x' }, shape), /list at 'GrantTokens'/);
  serialization(() => conformJson({ KeyId: 'k', GrantTokens: [null] }, shape), /GrantTokens\[0\]/);
  serialization(() => conformJson({ KeyId: 'k', DryRun: 'yes' }, shape), /boolean at 'DryRun'/);
  serialization(() => conformJson({ KeyId: 'k', Plaintext: 12 }, shape), /string at 'Plaintext'/);
  serialization(() => conformJson({ KeyId: 'k', NumberOfBytes: 1e400 }, kms.input('GenerateDataKey')!), /out of range/);
  assert.deepEqual(conformJson({ KeyId: null, Unknown: [1, { a: 2 }] }, shape), {}, 'null is absent; unknown members are ignored, whatever their type');
});

test('unknown operations have no shape', () => {
  assert.equal(kms.input('NoSuchOperation'), undefined);
  assert.equal(kms.input('../../etc'), undefined);
  assert.equal(kms.input('constructor'), undefined);
});

test('awsQuery events: modelled top-level members only, nested sensitive members dropped', () => {
  const params = new Map([
    ['UserName', 'alice'],
    ['Password', 'hunter2hunter2'],
    ['Invented', 'x'],
    ['PasswordResetRequired', 'true'],
  ]);
  assert.deepEqual([...auditQueryParams(params, iam.input('CreateLoginProfile')).keys()], ['UserName', 'PasswordResetRequired']);
  const tags = new Map([
    ['UserName', 'bob'],
    ['Tags.member.1.Key', 'team'],
    ['Tags.member.1.Value', 'blue'],
    ['Tags.member.1.Bogus', 'x'],
  ]);
  assert.deepEqual([...auditQueryParams(tags, iam.input('CreateUser')).keys()], ['UserName', 'Tags.member.1.Key', 'Tags.member.1.Value']);
  assert.equal(auditQueryParams(params, undefined).size, 0, 'no model, nothing shown');
});

test('JSON bodies: deep nesting and invalid UTF-8 are refused before parsing', () => {
  const deep = Buffer.from('{"a":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}');
  serialization(() => parseJsonBody(deep), /nested more than 64 levels/);
  assert.ok(jsonTooDeep(Buffer.from('['.repeat(65) + ']'.repeat(65)), 64));
  assert.ok(!jsonTooDeep(Buffer.from('['.repeat(64) + ']'.repeat(64)), 64));
  assert.ok(!jsonTooDeep(Buffer.from(JSON.stringify({ s: '[[[[[[[[[[\\"{{{{{{{{' })), 3), 'brackets inside strings do not count');
  assert.deepEqual(parseJsonBody(Buffer.from('{"s":"[[[\\\\"}')), { s: '[[[\\' });
  serialization(() => parseJsonBody(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])), /not valid UTF-8/);
  serialization(() => parseJsonBody(Buffer.from('[1]')), /must be a JSON object/);
  serialization(() => parseJsonBody(Buffer.from('{"a":')), /not valid JSON/);
});
