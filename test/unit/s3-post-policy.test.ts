import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFileSize, checkPostPolicy, maxFileSize, parsePostPolicy } from '../../src/s3/post-policy.ts';

const b64 = (doc: unknown) => Buffer.from(JSON.stringify(doc)).toString('base64');
const future = '2099-01-01T00:00:00.000Z';
const fields = (o: Record<string, string>) => new Map(Object.entries(o));
const denied = (message: string) => (e: Error & { code?: string }) => e.code === 'AccessDenied' && e.message === message;

test('a policy document: expiration and conditions required, JSON only', () => {
  assert.throws(() => parsePostPolicy('not json'), (e: Error & { code?: string }) => e.code === 'InvalidPolicyDocument' && e.message === 'Invalid Policy: Invalid JSON.');
  assert.throws(() => parsePostPolicy(b64({ conditions: [] })), /Invalid Policy: Policy missing expiration\./);
  assert.throws(() => parsePostPolicy(b64({ expiration: 'tomorrow', conditions: [] })), /Invalid 'expiration' value: 'tomorrow'/);
  assert.throws(() => parsePostPolicy(b64({ expiration: future, conditions: {} })), /must be a List/);
  assert.throws(() => parsePostPolicy(b64({ expiration: future, conditions: [{ a: '1', b: '2' }] })), /exactly one property/);
  assert.throws(() => parsePostPolicy(b64({ expiration: future, conditions: [['matches', '$key', 'x']] })), /unknown operation/);
  assert.equal(parsePostPolicy(b64({ expiration: '2099-01-01T00:00:00Z', conditions: [] })).expiration, Date.parse('2099-01-01T00:00:00Z'));
});

test('conditions: exact and prefix matches in any field-name case, the bucket posted to, extra fields, expiry', () => {
  const p = parsePostPolicy(b64({ expiration: future, conditions: [{ bucket: 'b' }, ['starts-with', '$key', 'user/'], ['eq', '$Content-Type', 'image/png'], { 'x-amz-meta-a': '1' }] }));
  const ok = { bucket: 'b', key: 'user/x', 'content-type': 'image/png', 'x-amz-meta-a': '1', policy: 'p', 'x-amz-signature': 's', 'x-ignore-me': '?' };
  checkPostPolicy(p, fields(ok), 'b', 0);
  assert.throws(() => checkPostPolicy(p, fields(ok), 'other', 0), denied('Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "b"]'));
  assert.throws(() => checkPostPolicy(p, fields({ ...ok, key: 'admin/x' }), 'b', 0), denied('Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/"]'));
  assert.throws(() => checkPostPolicy(p, fields({ ...ok, 'x-amz-meta-b': '2' }), 'b', 0), denied('Invalid according to Policy: Extra input fields: x-amz-meta-b'));
  assert.throws(() => checkPostPolicy(p, fields(ok), 'b', Date.parse(future) + 1), denied('Invalid according to Policy: Policy expired.'));
  const types = parsePostPolicy(b64({ expiration: future, conditions: [['starts-with', '$Content-Type', 'image/'], ['starts-with', '$key', '']] }));
  checkPostPolicy(types, fields({ 'content-type': 'image/png, image/jpeg', key: 'anything' }), 'b', 0);
  assert.throws(() => checkPostPolicy(types, fields({ 'content-type': 'image/png, text/html', key: 'k' }), 'b', 0), /Policy Condition failed/);
});

test('content-length-range: the smallest maximum bounds the file; sizes outside are EntityTooSmall / EntityTooLarge', () => {
  const p = parsePostPolicy(b64({ expiration: future, conditions: [['content-length-range', 10, 100], ['content-length-range', 0, 50]] }));
  assert.equal(maxFileSize(p), 50);
  checkFileSize(p, 10);
  assert.throws(() => checkFileSize(p, 9), (e: Error & { code?: string; fields?: Record<string, string> }) => e.code === 'EntityTooSmall' && e.fields?.['MinSizeAllowed'] === '10');
  assert.throws(() => checkFileSize(p, 51), (e: Error & { code?: string; fields?: Record<string, string> }) => e.code === 'EntityTooLarge' && e.fields?.['ProposedSize'] === '51');
  assert.equal(maxFileSize(parsePostPolicy(b64({ expiration: future, conditions: [] }))), undefined);
});
