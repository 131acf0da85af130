// Which secret resource policies allow broad access (BlockPublicPolicy, ValidateResourcePolicy): AWS's rule from
// Amazon S3's "The meaning of public", which Secrets Manager's documentation refers to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../src/iam/policy.ts';
import { allowsBroadAccess } from '../../src/secrets/public-policy.ts';

const broad = (statement: Record<string, unknown>): boolean =>
  allowsBroadAccess(parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: [{ Action: 'secretsmanager:GetSecretValue', Resource: '*', ...statement }] }), 'resource'));

test('everyone, any AWS principal or a federated identity, without a confining condition, is broad access', () => {
  assert.equal(broad({ Effect: 'Allow', Principal: '*' }), true);
  assert.equal(broad({ Effect: 'Allow', Principal: { AWS: ['111122223333', '*'] } }), true);
  assert.equal(broad({ Effect: 'Allow', Principal: { Federated: 'graph.facebook.com' } }), true);
});

test('fixed principals, services and denials are not', () => {
  assert.equal(broad({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' } }), false);
  assert.equal(broad({ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }), false);
  assert.equal(broad({ Effect: 'Deny', Principal: '*' }), false);
});

test('a condition confines only with fixed values of the listed keys, through an operator that names them', () => {
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abc123' } } }), false);
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { StringEquals: { 'AWS:SourceAccount': '111122223333' } } }), false, 'keys in any case');
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { 'ForAnyValue:StringEquals': { 'aws:SourceVpce': ['vpce-1', 'vpce-2'] } } }), false);
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { ArnEquals: { 'aws:SourceArn': 'arn:aws:lambda:us-east-1:111122223333:function:f' } } }), false);
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { StringLike: { 'aws:SourceVpc': 'vpc-*' } } }), true, 'a wildcard');
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { StringEquals: { 'aws:PrincipalAccount': '${aws:username}' } } }), true, 'a policy variable');
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { StringEqualsIfExists: { 'aws:PrincipalAccount': '111122223333' } } }), true, 'IfExists passes when the key is absent');
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { 'ForAllValues:StringEquals': { 'aws:SourceVpce': ['vpce-1'] } } }), true, 'ForAllValues passes when the key is absent');
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { StringNotEquals: { 'aws:PrincipalAccount': '111122223333' } } }), true, 'a negation');
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { StringEquals: { 'aws:RequestedRegion': 'us-east-1' } } }), true, 'a key that does not confine callers');
  assert.equal(broad({ Effect: 'Allow', Principal: '*', Condition: { Bool: { 'aws:SecureTransport': 'true' } } }), true);
});

test('aws:SourceIp confines with ranges no wider than /8 (IPv4) or /32 (IPv6)', () => {
  const ip = (range: string | string[]) => broad({ Effect: 'Allow', Principal: '*', Condition: { IpAddress: { 'aws:SourceIp': range } } });
  assert.equal(ip('203.0.113.0/24'), false);
  assert.equal(ip('10.0.0.0/8'), false);
  assert.equal(ip('203.0.113.7'), false);
  assert.equal(ip('2001:db8::/32'), false);
  assert.equal(ip('0.0.0.0/1'), true);
  assert.equal(ip('2001:db8::/16'), true);
  assert.equal(ip(['203.0.113.0/24', '0.0.0.0/0']), true, 'every range must be narrow');
});

test('one broad statement makes the policy broad', () => {
  const doc = parsePolicy(
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'secretsmanager:*', Resource: '*' },
        { Effect: 'Allow', Principal: '*', Action: 'secretsmanager:GetSecretValue', Resource: '*' },
      ],
    }),
    'resource',
  );
  assert.equal(allowsBroadAccess(doc), true);
});
