// The console's policy editor checks a document as it is typed: JSON syntax with the line and column of the error,
// then the parts every policy statement needs. (The service still decides: what it refuses is shown in its words.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonErrorOffset, policyProblems } from '../../apps/console/src/policy-editor.ts';

test('syntax errors name their line and column', () => {
  const [p] = policyProblems('{\n  "Version": "2012-10-17",\n  "Statement": [,]\n}');
  assert.match(p!, /^Not valid JSON: .*\(line 3, column 17\)$/);
  assert.match(policyProblems('')[0]!, /^Not valid JSON/);
});

test('the parts a statement needs', () => {
  assert.deepEqual(policyProblems('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Principal":"*"}]}'), []);
  assert.deepEqual(policyProblems('{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}}'), []);
  assert.deepEqual(policyProblems('[]'), ['A policy is a JSON object.']);
  assert.deepEqual(policyProblems('{"Version":"2012-10-17"}'), ['Statement is missing: a policy needs at least one statement.']);
  assert.deepEqual(policyProblems('{"Version":"2013-01-01","Statement":[{"Effect":"allow"},{"Effect":"Allow","Action":"a","NotAction":"b"}, 3]}'), [
    'Version must be "2012-10-17" (or the older "2008-10-17").',
    'Statement 1: Effect must be "Allow" or "Deny".',
    'Statement 1: Action or NotAction is required.',
    'Statement 2: Action and NotAction cannot both be given.',
    'Statement 3 is not an object.',
  ]);
});

test('the offset of the first JSON error agrees with the parser on what is valid', () => {
  for (const ok of ['{}', '[]', '{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]}', ' "s" ', '0']) {
    assert.equal(jsonErrorOffset(ok), -1, ok);
    JSON.parse(ok);
  }
  for (const [bad, at] of [['{,}', 1], ['{"a":1,}', 7], ['[1 2]', 3], ['{"a" 1}', 5], ['"\\x"', 2], ['tru', 0], ['{"a":1}x', 7], ['[', 1], ['{"a":01}', 6]] as const) {
    assert.equal(jsonErrorOffset(bad), at, bad);
    assert.throws(() => JSON.parse(bad));
  }
});
