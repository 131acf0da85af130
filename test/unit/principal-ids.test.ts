// Finding and rewriting the AWS principals of a stored resource policy (src/iam/principal-ids.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entityArn, principalValues, rewritePrincipals, UNIQUE_ID } from '../../src/iam/principal-ids.ts';

const ALICE = 'arn:aws:iam::111122223333:user/alice';

test('principal values are found under Principal and NotPrincipal, as one value or a list, in one statement or many', () => {
  const doc = {
    Statement: [
      { Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalArn': ALICE } } },
      { Effect: 'Deny', NotPrincipal: { AWS: ['111122223333', 'arn:aws:iam::111122223333:role/admin'] }, Action: 'kms:*', Resource: ALICE },
      { Effect: 'Allow', Principal: { Service: 's3.amazonaws.com' }, Action: 'kms:Decrypt' },
    ],
  };
  assert.deepEqual(principalValues(JSON.stringify(doc)), [ALICE, '111122223333', 'arn:aws:iam::111122223333:role/admin']);
  assert.deepEqual(principalValues(JSON.stringify({ Statement: { Effect: 'Allow', Principal: { AWS: ALICE }, Action: '*' } })), [ALICE]);
  assert.deepEqual(principalValues(JSON.stringify({ Statement: [{ Principal: '*' }] })), []);
  assert.deepEqual(principalValues('not json'), []);
});

test('rewriting replaces only principal values and keeps every other byte', () => {
  const text = `{\n  "Statement": [ {\n    "Principal" : { "AWS" : [ "${ALICE}", "*" ] },\n    "Resource": "${ALICE}",\n    "Condition": {"ArnEquals": {"aws:PrincipalArn": "${ALICE}"}}\n  } ]\n}\n`;
  const out = rewritePrincipals(text, (v) => (v === ALICE ? 'AIDAEXAMPLEALICE123' : undefined));
  assert.equal(out, text.replace(`[ "${ALICE}"`, '[ "AIDAEXAMPLEALICE123"'));
  assert.equal(rewritePrincipals(out, (v) => (v === 'AIDAEXAMPLEALICE123' ? ALICE : undefined)), text, 'and back');
  const escaped = '{"Statement":[{"Principal":{"AWS":"arn:aws:iam::111122223333:user\\/alice"}}]}';
  assert.equal(rewritePrincipals(escaped, (v) => (v === ALICE ? 'AIDAEXAMPLEALICE123' : undefined)), '{"Statement":[{"Principal":{"AWS":"AIDAEXAMPLEALICE123"}}]}', 'escapes are read as JSON');
});

test('unique ids and entity ARNs', () => {
  assert.ok(UNIQUE_ID.test('AIDAJQABLZS4A3QDU576Q'));
  assert.ok(UNIQUE_ID.test('AROAJQABLZS4A3QDU576Q'));
  assert.ok(!UNIQUE_ID.test('AKIAJQABLZS4A3QDU576Q'), 'an access key id is no principal');
  assert.deepEqual(entityArn('arn:aws:iam::111122223333:role/path/admin'), { accountId: '111122223333', kind: 'role' });
  assert.equal(entityArn('arn:aws:iam::111122223333:root'), undefined);
  assert.equal(entityArn('arn:aws:sts::111122223333:assumed-role/admin/s'), undefined);
});
