// Grant rules as AWS documents them ("Granting CreateGrant permission", GrantConstraints): which grants a grant's
// CreateGrant permission reaches, and which requests a constraint admits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constraintsHold, grantWithin, type GrantConstraints } from '../../src/kms/grants.ts';

const g = (operations: string[], constraints: GrantConstraints | null = null) => ({ operations, constraints });

test('a child grant may allow only operations of its parent', () => {
  assert.equal(grantWithin(g(['Encrypt', 'CreateGrant']), g(['Encrypt'])), true);
  assert.equal(grantWithin(g(['Encrypt', 'CreateGrant']), g(['Encrypt', 'CreateGrant'])), true);
  assert.equal(grantWithin(g(['Encrypt', 'CreateGrant']), g(['Decrypt'])), false, 'Decrypt is not in the parent');
  assert.equal(grantWithin(g(['Encrypt', 'CreateGrant']), g(['Encrypt', 'Decrypt'])), false);
});

test("a child grant's constraints must be at least as strict as its parent's", () => {
  const subset = { EncryptionContextSubset: { shelf: 'a' } };
  assert.equal(grantWithin(g(['Encrypt'], subset), g(['Encrypt'])), false, 'no constraint is wider');
  assert.equal(grantWithin(g(['Encrypt'], subset), g(['Encrypt'], { EncryptionContextSubset: { shelf: 'a', row: '3' } })), true, 'Subset may gain pairs');
  assert.equal(grantWithin(g(['Encrypt'], subset), g(['Encrypt'], { EncryptionContextSubset: { row: '3' } })), false, 'but not lose them');
  assert.equal(grantWithin(g(['Encrypt'], subset), g(['Encrypt'], { EncryptionContextSubset: { shelf: 'b' } })), false, 'nor change them');
  assert.equal(grantWithin(g(['Encrypt'], subset), g(['Encrypt'], { EncryptionContextEquals: { shelf: 'a', row: '3' } })), true, 'Subset may become Equals');
  assert.equal(grantWithin(g(['Encrypt'], subset), g(['Encrypt'], { EncryptionContextEquals: { row: '3' } })), false);
  const equals = { EncryptionContextEquals: { shelf: 'a' } };
  assert.equal(grantWithin(g(['Encrypt'], equals), g(['Encrypt'], equals)), true);
  assert.equal(grantWithin(g(['Encrypt'], equals), g(['Encrypt'], { EncryptionContextSubset: { shelf: 'a' } })), false, 'Equals may not become Subset');
  assert.equal(grantWithin(g(['Encrypt'], equals), g(['Encrypt'], { EncryptionContextEquals: { shelf: 'a', row: '3' } })), false);
  assert.equal(grantWithin(g(['Encrypt']), g(['Encrypt'], equals)), true, 'an unconstrained parent admits any constraint');
});

test('EncryptionContextEquals is exact; EncryptionContextSubset allows more pairs', () => {
  assert.equal(constraintsHold({ EncryptionContextEquals: { a: '1' } }, { a: '1' }), true);
  assert.equal(constraintsHold({ EncryptionContextEquals: { a: '1' } }, { a: '1', b: '2' }), false);
  assert.equal(constraintsHold({ EncryptionContextEquals: { a: '1' } }, {}), false);
  assert.equal(constraintsHold({ EncryptionContextSubset: { a: '1' } }, { a: '1', b: '2' }), true);
  assert.equal(constraintsHold({ EncryptionContextSubset: { a: '1' } }, { b: '2' }), false);
  assert.equal(constraintsHold({ EncryptionContextSubset: { constructor: 'x' } }, {}), false, 'no inherited property counts as a pair');
  assert.equal(constraintsHold(null, undefined), true);
});

test("a constraint's keys match in any letter case, its values exactly (AWS API reference, GrantConstraints)", () => {
  assert.equal(constraintsHold({ EncryptionContextSubset: { Department: 'IT' } }, { department: 'IT' }), true);
  assert.equal(constraintsHold({ EncryptionContextSubset: { Department: 'IT' } }, { Department: 'it' }), false);
  assert.equal(constraintsHold({ EncryptionContextEquals: { Department: 'IT' } }, { DEPARTMENT: 'IT' }), true);
  assert.equal(constraintsHold({ EncryptionContextEquals: { Department: 'IT' } }, { DEPARTMENT: 'IT', other: 'x' }), false);
  assert.equal(grantWithin(g(['Encrypt'], { EncryptionContextSubset: { Department: 'IT' } }), g(['Encrypt'], { EncryptionContextEquals: { department: 'IT' } })), true, 'and so in a child grant');
});
