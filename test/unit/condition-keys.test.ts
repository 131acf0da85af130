// Which condition keys Trent decides (src/iam/condition-keys.ts), and docs/security.md listing exactly those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GLOBAL_KEYS_NEVER_SET, GLOBAL_KEYS_SET, isUnknownConditionKey, SERVICE_KEYS } from '../../src/iam/condition-keys.ts';

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

test('keys Trent sets, or that are rightly never set here, are decided; others AWS could set are unknown', () => {
  for (const k of ['aws:sourceip', 'aws:useragent', 'aws:referer', 'aws:tokenissuetime', 'aws:principaltag/team', 'kms:encryptioncontext:dept', 's3:prefix', 's3:existingobjecttag/x', 's3:requestobjecttagkeys', 'aws:sourcevpc', 'aws:principalorgid', 'aws:multifactorauthage']) {
    assert.equal(isUnknownConditionKey(k, KEY), false, k);
  }
  for (const k of ['kms:encryptionalgorithm', 's3:x-amz-storage-class', 'secretsmanager:name', 'sts:externalid']) {
    assert.equal(isUnknownConditionKey(k, KEY), true, k);
  }
  assert.equal(isUnknownConditionKey('ec2:region', KEY), false, 'a key of a service Trent does not serve is never set in its requests');
  assert.equal(isUnknownConditionKey('notakey', KEY), false);
});

test('aws:ResourceTag is decided only for resources whose tags Trent looks up', () => {
  for (const arn of [KEY, 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf', 'arn:aws:s3:::photos', 'arn:aws:iam::111122223333:user/app', '*']) {
    assert.equal(isUnknownConditionKey('aws:resourcetag/team', arn), false, arn);
  }
  for (const arn of ['arn:aws:ssm:us-east-1:111122223333:parameter/db', 'arn:aws:rekognition:us-east-1:111122223333:collection/c']) {
    assert.equal(isUnknownConditionKey('aws:resourcetag/team', arn), true, arn);
  }
});

test('docs/security.md lists every key Trent decides', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'security.md'), 'utf8');
  for (const k of [...GLOBAL_KEYS_SET, ...GLOBAL_KEYS_NEVER_SET, ...SERVICE_KEYS]) {
    const shown = k.endsWith('/') || k.endsWith(':') ? `\`${k}` : `\`${k}\``;
    assert.ok(doc.includes(shown), `docs/security.md does not list ${k}`);
  }
});
