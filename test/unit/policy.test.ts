import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PolicyDocumentError,
  allowsPutKeyPolicy,
  authorize,
  evaluate,
  parsePolicy,
  policySize,
  type AuthorizationInput,
  type DenialReason,
  type PolicyDocument,
  type RequestContext,
  type StatementOutcome,
} from '../../src/iam/policy.ts';

// ---- fixtures ------------------------------------------------------------------------------

const ACCT = '111122223333';
const OTHER = '444455556666';
const KEY = `arn:aws:kms:us-east-1:${ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KEY = `arn:aws:kms:us-east-1:${ACCT}:key/0987dcba-09fe-87dc-65ba-ab0987654321`;
const OBJ = 'arn:aws:s3:::photos/2024/a.jpg';
const SECRET_OBJ = 'arn:aws:s3:::secret/plans.txt';
const ROOT_ARN = `arn:aws:iam::${ACCT}:root`;
const USER_ARN = `arn:aws:iam::${ACCT}:user/app`;
const BOB_ARN = `arn:aws:iam::${ACCT}:user/bob`;
const ROLE_ARN = `arn:aws:iam::${ACCT}:role/Worker`;
const SESSION_ARN = `arn:aws:sts::${ACCT}:assumed-role/Worker/s1`;
const EXT_USER_ARN = `arn:aws:iam::${OTHER}:user/partner`;

type Principal = RequestContext['principal'];
const USER: Principal = { arn: USER_ARN, accountId: ACCT, type: 'IAMUser', userName: 'app', userId: 'AIDAEXAMPLEAPP' };
const BOB: Principal = { arn: BOB_ARN, accountId: ACCT, type: 'IAMUser', userName: 'bob' };
const SESSION: Principal = { arn: SESSION_ARN, accountId: ACCT, type: 'AssumedRole', roleArn: ROLE_ARN, userId: 'AROAEXAMPLE:s1' };
const OTHER_SESSION: Principal = { ...SESSION, arn: `arn:aws:sts::${ACCT}:assumed-role/Worker/s2`, userId: 'AROAEXAMPLE:s2' };
const ROOT: Principal = { arn: ROOT_ARN, accountId: ACCT, type: 'Root' };
const EXT_USER: Principal = { arn: EXT_USER_ARN, accountId: OTHER, type: 'IAMUser', userName: 'partner' };

type Json = Record<string, unknown>;
type Ctx = RequestContext['context'];

/** An identity policy (Version 2012-10-17 unless `version` says otherwise; null leaves it out). */
function idp(statements: Json[], version: string | null = '2012-10-17'): Json {
  return version === null ? { Statement: statements } : { Version: version, Statement: statements };
}
function rp(statements: Json[]): Json {
  return { Version: '2012-10-17', Statement: statements };
}
function allow(action: string | string[], resource: string | string[] = '*', extra: Json = {}): Json {
  return { Effect: 'Allow', Action: action, Resource: resource, ...extra };
}
function denyS(action: string | string[], resource: string | string[] = '*', extra: Json = {}): Json {
  return { Effect: 'Deny', Action: action, Resource: resource, ...extra };
}
/** A resource-policy statement for `principal` (a Principal element value). */
function grantTo(principal: unknown, action: string | string[], extra: Json = {}): Json {
  return { Effect: 'Allow', Principal: principal, Action: action, Resource: '*', ...extra };
}
const ROOT_DELEGATION: Json = { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*' };
const DEFAULT_KEY_POLICY = rp([ROOT_DELEGATION]);

interface Case {
  name: string;
  identity?: Json[];
  resource?: Json;
  mode: AuthorizationInput['mode'];
  principal?: Principal;
  action: string;
  /** The resource ARN of the request (default KEY). */
  on?: string;
  context?: Ctx;
  resourceAccount?: string;
  grantAllows?: boolean;
  /** Condition keys the server cannot decide (lower-cased), as the Authorizer names them. */
  unknown?: string[];
  /** The principal's permissions boundary. */
  boundary?: Json;
  /** A role session's session policies. */
  session?: Json[];
  allowed: boolean;
  reason?: DenialReason;
}

/** A condition case: an identity policy allows kms:Decrypt on * under `condition`; allowed exactly when the condition holds. */
function cond(name: string, condition: Json, context: Ctx, holds: boolean): Case {
  return {
    name,
    identity: [idp([allow('kms:Decrypt', '*', { Condition: condition })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    context,
    allowed: holds,
    ...(holds ? {} : { reason: 'no-identity-allow' as const }),
  };
}

const NOW = '2024-06-01T12:00:00Z';

const cases: Case[] = [
  // -- Explicit deny overrides any allow (AWS "Policy evaluation logic": "An explicit deny in any policy overrides any allows").
  {
    name: 'identity Deny for the action beats an identity Allow of kms:*',
    identity: [idp([allow('kms:*'), denyS('kms:Decrypt')])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'a Deny in one identity policy beats an Allow in another',
    identity: [idp([allow('kms:Decrypt')]), idp([denyS('kms:*', KEY)])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'key policy Deny for the user beats the key policy and identity Allows',
    identity: [idp([allow('kms:*')])],
    resource: rp([ROOT_DELEGATION, { Effect: 'Deny', Principal: { AWS: USER_ARN }, Action: 'kms:Decrypt', Resource: '*' }]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-resource',
  },
  {
    name: 'identity Deny beats a key policy that names the user directly',
    identity: [idp([denyS('kms:Decrypt')])],
    resource: rp([grantTo({ AWS: USER_ARN }, 'kms:*')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'bucket policy Deny for the account denies its users despite an identity Allow',
    identity: [idp([allow('s3:*')])],
    resource: rp([{ Effect: 'Deny', Principal: { AWS: ACCT }, Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::photos/*' }]),
    mode: 'resource-or-identity',
    action: 's3:DeleteObject',
    on: OBJ,
    allowed: false,
    reason: 'explicit-deny-resource',
  },
  {
    name: 'a Deny whose condition does not hold does not apply',
    identity: [idp([allow('kms:Decrypt'), denyS('kms:Decrypt', '*', { Condition: { StringEquals: { 'aws:RequestedRegion': 'eu-west-1' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    context: { 'aws:requestedregion': 'us-east-1' },
    allowed: true,
  },
  {
    name: 'resource-policy Deny is reported when both policy types deny',
    identity: [idp([denyS('s3:GetObject')])],
    resource: rp([{ Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::photos/*' }]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'explicit-deny-resource',
  },
  {
    name: 'explicit Deny in the bucket policy applies even in identity mode',
    identity: [idp([allow('s3:*')])],
    resource: rp([{ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: '*' }]),
    mode: 'identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'explicit-deny-resource',
  },

  // -- Implicit deny: with no applicable Allow the request is denied by default.
  { name: 'no policies at all', mode: 'identity', action: 'kms:CreateKey', on: '*', allowed: false, reason: 'no-identity-allow' },
  {
    name: 'identity policy allows another action only',
    identity: [idp([allow('kms:Encrypt')])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-identity-allow',
  },
  { name: 'S3 same account with neither policy', mode: 'resource-or-identity', action: 's3:GetObject', on: OBJ, allowed: false, reason: 'no-identity-allow' },
  {
    name: 'key-policy mode without a key policy',
    identity: [idp([allow('kms:*')])],
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },

  // -- Action / NotAction: wildcards * and ?, case-insensitive ("IAM JSON policy elements: Action").
  { name: 'kms:* matches kms:Decrypt', identity: [idp([allow('kms:*')])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  { name: 'policy action case differs (KMS:DECRYPT)', identity: [idp([allow('KMS:DECRYPT')])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  { name: 'request action case differs (kms:decrypt)', identity: [idp([allow('kms:Decrypt')])], mode: 'identity', action: 'kms:decrypt', allowed: true },
  { name: 'kms:Re* matches kms:ReEncryptFrom', identity: [idp([allow('kms:Re*')])], mode: 'identity', action: 'kms:ReEncryptFrom', allowed: true },
  {
    name: 'kms:Re* does not match kms:Decrypt',
    identity: [idp([allow('kms:Re*')])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-identity-allow',
  },
  { name: 'kms:*Key matches kms:DescribeKey', identity: [idp([allow('kms:*Key')])], mode: 'identity', action: 'kms:DescribeKey', allowed: true },
  {
    name: 'kms:*Key does not match kms:CreateGrant',
    identity: [idp([allow('kms:*Key')])],
    mode: 'identity',
    action: 'kms:CreateGrant',
    allowed: false,
    reason: 'no-identity-allow',
  },
  { name: 'kms:Get?eyPolicy matches kms:GetKeyPolicy', identity: [idp([allow('kms:Get?eyPolicy')])], mode: 'identity', action: 'kms:GetKeyPolicy', allowed: true },
  { name: 'Action "*" matches any service', identity: [idp([allow('*')])], mode: 'identity', action: 's3:GetObject', on: OBJ, allowed: true },
  {
    name: 's3:GetObject is not a prefix match for s3:GetObjectAcl',
    identity: [idp([allow('s3:GetObject')])],
    mode: 'identity',
    action: 's3:GetObjectAcl',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  { name: 'action list: any entry matches', identity: [idp([allow(['kms:Encrypt', 'kms:Decrypt'])])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  {
    name: 'NotAction allows everything except the listed action',
    identity: [idp([{ Effect: 'Allow', NotAction: 'kms:Decrypt', Resource: '*' }])],
    mode: 'identity',
    action: 'kms:Encrypt',
    allowed: true,
  },
  {
    name: 'NotAction does not allow the listed action',
    identity: [idp([{ Effect: 'Allow', NotAction: 'kms:Decrypt', Resource: '*' }])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'NotAction kms:* allows other services',
    identity: [idp([{ Effect: 'Allow', NotAction: 'kms:*', Resource: '*' }])],
    mode: 'identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  {
    name: 'Deny with NotAction kms:Describe* denies every other action',
    identity: [idp([allow('kms:*'), { Effect: 'Deny', NotAction: 'kms:Describe*', Resource: '*' }])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'Deny with NotAction kms:Describe* leaves DescribeKey allowed',
    identity: [idp([allow('kms:*'), { Effect: 'Deny', NotAction: 'kms:Describe*', Resource: '*' }])],
    mode: 'identity',
    action: 'kms:DescribeKey',
    allowed: true,
  },

  // -- Resource / NotResource: ARN wildcards within segments; a trailing * may cross colons; case-sensitive ("IAM JSON policy elements: Resource").
  { name: 'exact key ARN', identity: [idp([allow('kms:Decrypt', KEY)])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  {
    name: 'key ARN does not match another key',
    identity: [idp([allow('kms:Decrypt', KEY)])],
    mode: 'identity',
    action: 'kms:Decrypt',
    on: OTHER_KEY,
    allowed: false,
    reason: 'no-identity-allow',
  },
  { name: 'key/* matches every key', identity: [idp([allow('kms:Decrypt', `arn:aws:kms:us-east-1:${ACCT}:key/*`)])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  { name: 'region segment wildcard', identity: [idp([allow('kms:Decrypt', `arn:aws:kms:*:${ACCT}:key/*`)])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  {
    name: 'account segment must match',
    identity: [idp([allow('kms:Decrypt', `arn:aws:kms:*:${OTHER}:key/*`)])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-identity-allow',
  },
  { name: '? matches one character', identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/202?/*')])], mode: 'identity', action: 's3:GetObject', on: OBJ, allowed: true },
  {
    name: 'resource ARNs are case-sensitive',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::Photos/*')])],
    mode: 'identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'trailing * expands across a colon in the object key',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/*')])],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/a:b.jpg',
    allowed: true,
  },
  {
    name: 'a * inside a segment does not cross a colon',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/*.jpg')])],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/a:b.jpg',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'bucket ARN does not match an object in it',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos')])],
    mode: 'identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'NotResource allows resources outside the list',
    identity: [idp([{ Effect: 'Allow', Action: 's3:*', NotResource: 'arn:aws:s3:::secret/*' }])],
    mode: 'identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  {
    name: 'NotResource does not allow the listed resources',
    identity: [idp([{ Effect: 'Allow', Action: 's3:*', NotResource: 'arn:aws:s3:::secret/*' }])],
    mode: 'identity',
    action: 's3:GetObject',
    on: SECRET_OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'Deny with NotResource denies everything outside the list',
    identity: [idp([allow('s3:*'), { Effect: 'Deny', Action: 's3:*', NotResource: 'arn:aws:s3:::photos/*' }])],
    mode: 'identity',
    action: 's3:GetObject',
    on: SECRET_OBJ,
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'an action without a resource needs Resource "*"',
    identity: [idp([allow('kms:ListKeys', KEY)])],
    mode: 'identity',
    action: 'kms:ListKeys',
    on: '*',
    allowed: false,
    reason: 'no-identity-allow',
  },
  { name: 'Resource "*" covers actions without a resource', identity: [idp([allow('kms:ListKeys')])], mode: 'identity', action: 'kms:ListKeys', on: '*', allowed: true },

  // -- Principal forms in resource policies ("AWS JSON policy elements: Principal"); same-account S3 = identity OR resource policy.
  { name: 'Principal "*" grants everyone', resource: rp([grantTo('*', 's3:GetObject')]), mode: 'resource-or-identity', action: 's3:GetObject', on: OBJ, allowed: true },
  { name: 'Principal {"AWS":"*"} grants everyone', resource: rp([grantTo({ AWS: '*' }, 's3:GetObject')]), mode: 'resource-or-identity', action: 's3:GetObject', on: OBJ, allowed: true },
  { name: 'Principal names the user', resource: rp([grantTo({ AWS: USER_ARN }, 's3:GetObject')]), mode: 'resource-or-identity', action: 's3:GetObject', on: OBJ, allowed: true },
  {
    name: 'Principal list containing the user',
    resource: rp([grantTo({ AWS: [BOB_ARN, USER_ARN] }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  {
    name: 'Principal names another user',
    resource: rp([grantTo({ AWS: BOB_ARN }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'account principal alone does not grant the account users (delegation)',
    resource: rp([grantTo({ AWS: ACCT }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'account principal plus an identity Allow',
    identity: [idp([allow('s3:GetObject')])],
    resource: rp([grantTo({ AWS: ACCT }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  {
    name: 'Service principal never names an IAM user',
    resource: rp([grantTo({ Service: 'cloudtrail.amazonaws.com' }, 's3:PutObject')]),
    mode: 'resource-or-identity',
    action: 's3:PutObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'CanonicalUser principal is accepted but never matches',
    resource: rp([grantTo({ CanonicalUser: '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be' }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'Federated principal is accepted but never matches',
    resource: rp([grantTo({ Federated: 'cognito-identity.amazonaws.com' }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'a wildcard inside a principal ARN is literal',
    resource: rp([grantTo({ AWS: `arn:aws:iam::${ACCT}:user/*` }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'NotPrincipal Deny exempts a user listed with its account',
    resource: rp([grantTo({ AWS: USER_ARN }, 's3:*'), { Effect: 'Deny', NotPrincipal: { AWS: [USER_ARN, ROOT_ARN] }, Action: 's3:*', Resource: '*' }]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  {
    name: 'NotPrincipal Deny listing only the user still denies it (its account is not listed)',
    resource: rp([grantTo({ AWS: USER_ARN }, 's3:*'), { Effect: 'Deny', NotPrincipal: { AWS: USER_ARN }, Action: 's3:*', Resource: '*' }]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'explicit-deny-resource',
  },
  {
    name: 'NotPrincipal Deny denies users it does not list',
    identity: [idp([allow('s3:*')])],
    resource: rp([{ Effect: 'Deny', NotPrincipal: { AWS: [BOB_ARN, ROOT_ARN] }, Action: 's3:*', Resource: '*' }]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'explicit-deny-resource',
  },
  {
    name: 'NotPrincipal Deny exempts a role session when the role and account are listed',
    principal: SESSION,
    identity: [idp([allow('s3:*')])],
    resource: rp([{ Effect: 'Deny', NotPrincipal: { AWS: [ROLE_ARN, ACCT] }, Action: 's3:*', Resource: '*' }]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  {
    name: 'NotPrincipal Deny exempts the root user when its ARN is listed',
    principal: ROOT,
    resource: rp([{ Effect: 'Deny', NotPrincipal: { AWS: ROOT_ARN }, Action: 's3:*', Resource: '*' }]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },

  // -- KMS key policies: the key policy is authoritative; naming the account delegates to IAM policies ("Key policies in AWS KMS", "Default key policy").
  { name: 'default key policy + identity Allow', identity: [idp([allow('kms:Decrypt', KEY)])], resource: DEFAULT_KEY_POLICY, mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  { name: 'default key policy without an identity Allow', resource: DEFAULT_KEY_POLICY, mode: 'key-policy', action: 'kms:Decrypt', allowed: false, reason: 'no-identity-allow' },
  {
    name: 'account id form of delegation + identity Allow',
    identity: [idp([allow('kms:*')])],
    resource: rp([grantTo({ AWS: ACCT }, 'kms:*')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: true,
  },
  {
    name: 'key policy that does not delegate ignores identity Allows',
    identity: [idp([allow('kms:*')])],
    resource: rp([grantTo({ AWS: BOB_ARN }, 'kms:*')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  { name: 'key policy naming the user needs no identity policy', resource: rp([grantTo({ AWS: USER_ARN }, 'kms:Decrypt')]), mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  {
    name: 'key policy names the user for Encrypt only; Decrypt is not delegated',
    identity: [idp([allow('kms:Decrypt')])],
    resource: rp([grantTo({ AWS: USER_ARN }, 'kms:Encrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  {
    name: 'delegation limited to kms:Describe* does not cover Decrypt',
    identity: [idp([allow('kms:*')])],
    resource: rp([grantTo({ AWS: ROOT_ARN }, 'kms:Describe*')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  {
    name: 'delegation whose condition holds + identity Allow',
    identity: [idp([allow('kms:Decrypt')])],
    resource: rp([grantTo({ AWS: ROOT_ARN }, 'kms:Decrypt', { Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } })]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    context: { 'kms:viaservice': 's3.us-east-1.amazonaws.com' },
    allowed: true,
  },
  {
    name: 'delegation whose condition fails',
    identity: [idp([allow('kms:Decrypt')])],
    resource: rp([grantTo({ AWS: ROOT_ARN }, 'kms:Decrypt', { Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } })]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  {
    name: 'delegation, but the identity policy covers another key only',
    identity: [idp([allow('kms:Decrypt', OTHER_KEY)])],
    resource: DEFAULT_KEY_POLICY,
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'key policy grants the user directly and delegates: either suffices',
    resource: rp([ROOT_DELEGATION, grantTo({ AWS: USER_ARN }, 'kms:Decrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: true,
  },

  // -- Assumed-role sessions: a role ARN principal names the role's sessions; the session's permissions are the role's identity policies.
  { name: 'role identity policy allows the session', principal: SESSION, identity: [idp([allow('kms:Decrypt')])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  { name: 'key policy naming the role grants its session', principal: SESSION, resource: rp([grantTo({ AWS: ROLE_ARN }, 'kms:Decrypt')]), mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  { name: 'key policy naming the session ARN grants that session', principal: SESSION, resource: rp([grantTo({ AWS: SESSION_ARN }, 'kms:Decrypt')]), mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  {
    name: 'key policy naming one session does not grant another',
    principal: OTHER_SESSION,
    resource: rp([grantTo({ AWS: SESSION_ARN }, 'kms:Decrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  {
    name: 'key policy naming another role',
    principal: SESSION,
    identity: [idp([allow('kms:*')])],
    resource: rp([grantTo({ AWS: `arn:aws:iam::${ACCT}:role/Other` }, 'kms:Decrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  { name: 'bucket policy naming the role grants its session', principal: SESSION, resource: rp([grantTo({ AWS: ROLE_ARN }, 's3:GetObject')]), mode: 'resource-or-identity', action: 's3:GetObject', on: OBJ, allowed: true },
  {
    name: 'aws:PrincipalArn of a session is the role ARN',
    principal: SESSION,
    identity: [idp([allow('kms:Decrypt', '*', { Condition: { ArnEquals: { 'aws:PrincipalArn': ROLE_ARN } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: true,
  },

  // -- The root user: not subject to identity policies, but a key policy must still allow it.
  { name: 'root in identity mode with no policies', principal: ROOT, mode: 'identity', action: 'iam:CreateUser', on: '*', allowed: true },
  { name: 'root ignores identity Denies', principal: ROOT, identity: [idp([denyS('*')])], mode: 'identity', action: 'kms:CreateKey', on: '*', allowed: true },
  { name: 'root in resource-or-identity mode with no policies', principal: ROOT, mode: 'resource-or-identity', action: 's3:GetObject', on: OBJ, allowed: true },
  { name: 'root under the default key policy', principal: ROOT, resource: DEFAULT_KEY_POLICY, mode: 'key-policy', action: 'kms:PutKeyPolicy', allowed: true },
  { name: 'root when the key policy names the account id', principal: ROOT, resource: rp([grantTo({ AWS: ACCT }, 'kms:*')]), mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  {
    name: 'root when the key policy names neither root nor the account',
    principal: ROOT,
    resource: rp([grantTo({ AWS: USER_ARN }, 'kms:*')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  {
    name: 'root is denied by a bucket policy Deny',
    principal: ROOT,
    resource: rp([{ Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: '*' }]),
    mode: 'resource-or-identity',
    action: 's3:DeleteObject',
    on: OBJ,
    allowed: false,
    reason: 'explicit-deny-resource',
  },

  // -- Cross-account: both the resource policy and the caller's identity policies must allow ("Cross-account policy evaluation logic").
  {
    name: 'key policy names the other account and the partner has an identity Allow',
    principal: EXT_USER,
    identity: [idp([allow('kms:Decrypt', KEY)])],
    resource: rp([ROOT_DELEGATION, grantTo({ AWS: `arn:aws:iam::${OTHER}:root` }, 'kms:Decrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: true,
  },
  {
    name: 'key policy names the other account but no identity Allow',
    principal: EXT_USER,
    resource: rp([grantTo({ AWS: OTHER }, 'kms:Decrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'key policy names the partner directly: cross-account still needs an identity Allow',
    principal: EXT_USER,
    resource: rp([grantTo({ AWS: EXT_USER_ARN }, 'kms:Decrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'key policy does not mention the other account',
    principal: EXT_USER,
    identity: [idp([allow('kms:*')])],
    resource: DEFAULT_KEY_POLICY,
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  {
    name: 'bucket policy names the other account and the partner has an identity Allow',
    principal: EXT_USER,
    identity: [idp([allow('s3:GetObject')])],
    resource: rp([grantTo({ AWS: OTHER }, 's3:GetObject')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  {
    name: 'cross-account S3 with no bucket policy',
    principal: EXT_USER,
    identity: [idp([allow('s3:GetObject')])],
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-resource-allow',
  },

  // -- String operators ("IAM JSON policy elements: Condition operators", String).
  cond('StringEquals matches', { StringEquals: { 'aws:PrincipalTag/team': 'blue' } }, { 'aws:principaltag/team': 'blue' }, true),
  cond('StringEquals is case-sensitive', { StringEquals: { 'aws:PrincipalTag/team': 'Blue' } }, { 'aws:principaltag/team': 'blue' }, false),
  cond('StringEquals treats * literally', { StringEquals: { 'aws:PrincipalTag/team': 'bl*' } }, { 'aws:principaltag/team': 'blue' }, false),
  cond('StringNotEquals with a different value', { StringNotEquals: { 'aws:PrincipalTag/team': 'red' } }, { 'aws:principaltag/team': 'blue' }, true),
  cond('StringNotEquals with the same value', { StringNotEquals: { 'aws:PrincipalTag/team': 'blue' } }, { 'aws:principaltag/team': 'blue' }, false),
  cond('StringEqualsIgnoreCase', { StringEqualsIgnoreCase: { 'aws:PrincipalTag/team': 'BLUE' } }, { 'aws:principaltag/team': 'blue' }, true),
  cond('StringNotEqualsIgnoreCase with the same value in other case', { StringNotEqualsIgnoreCase: { 'aws:PrincipalTag/team': 'BLUE' } }, { 'aws:principaltag/team': 'blue' }, false),
  cond('StringLike with * and ?', { StringLike: { 'aws:PrincipalTag/team': ['b?u*', 'x'] } }, { 'aws:principaltag/team': 'blue' }, true),
  cond('StringLike is case-sensitive', { StringLike: { 'aws:PrincipalTag/team': 'B*' } }, { 'aws:principaltag/team': 'blue' }, false),
  cond('StringNotLike with a non-matching pattern', { StringNotLike: { 'aws:PrincipalTag/team': 'red*' } }, { 'aws:principaltag/team': 'blue' }, true),
  cond('condition key names are case-insensitive', { StringEquals: { 'AWS:PRINCIPALTAG/TEAM': 'blue' } }, { 'aws:principaltag/team': 'blue' }, true),

  // -- Numeric operators.
  cond('NumericEquals', { NumericEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }, true),
  cond('NumericEquals with a JSON number', { NumericEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': '10' }, true),
  cond('NumericNotEquals with the same number', { NumericNotEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }, false),
  cond('NumericLessThan holds', { NumericLessThan: { 's3:max-keys': '20' } }, { 's3:max-keys': '10' }, true),
  cond('NumericLessThan at equality fails', { NumericLessThan: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }, false),
  cond('NumericLessThanEquals at equality', { NumericLessThanEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }, true),
  cond('NumericGreaterThan', { NumericGreaterThan: { 's3:max-keys': '5' } }, { 's3:max-keys': '10' }, true),
  cond('NumericGreaterThanEquals fails below', { NumericGreaterThanEquals: { 's3:max-keys': '11' } }, { 's3:max-keys': '10' }, false),
  cond('NumericEquals with a non-numeric request value', { NumericEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': 'ten' }, false),

  // -- Date operators with aws:CurrentTime / aws:EpochTime (ISO 8601 or epoch seconds).
  cond('DateLessThan holds', { DateLessThan: { 'aws:CurrentTime': '2025-01-01T00:00:00Z' } }, { 'aws:currenttime': NOW }, true),
  cond('DateGreaterThan fails', { DateGreaterThan: { 'aws:CurrentTime': '2025-01-01T00:00:00Z' } }, { 'aws:currenttime': NOW }, false),
  cond('DateEquals the same instant', { DateEquals: { 'aws:CurrentTime': NOW } }, { 'aws:currenttime': NOW }, true),
  cond('DateEquals across time zones', { DateEquals: { 'aws:CurrentTime': '2024-06-01T14:00:00+02:00' } }, { 'aws:currenttime': NOW }, true),
  cond('DateNotEquals a different instant', { DateNotEquals: { 'aws:CurrentTime': '2024-06-02T12:00:00Z' } }, { 'aws:currenttime': NOW }, true),
  cond('DateLessThanEquals at equality', { DateLessThanEquals: { 'aws:CurrentTime': NOW } }, { 'aws:currenttime': NOW }, true),
  cond('DateGreaterThanEquals at equality', { DateGreaterThanEquals: { 'aws:CurrentTime': NOW } }, { 'aws:currenttime': NOW }, true),
  cond('DateGreaterThan with an epoch-seconds policy value', { DateGreaterThan: { 'aws:CurrentTime': '1700000000' } }, { 'aws:currenttime': NOW }, true),
  cond('aws:EpochTime request value against an ISO policy value', { DateLessThan: { 'aws:EpochTime': '2025-01-01T00:00:00Z' } }, { 'aws:epochtime': '1717243200' }, true),

  // -- Bool, with aws:SecureTransport.
  cond('Bool true', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:securetransport': 'true' }, true),
  cond('Bool with a JSON boolean and other case', { Bool: { 'aws:SecureTransport': true } }, { 'aws:securetransport': 'TRUE' }, true),
  cond('Bool false does not match true', { Bool: { 'aws:SecureTransport': 'false' } }, { 'aws:securetransport': 'true' }, false),
  {
    name: 'Deny when aws:SecureTransport is false denies plain HTTP',
    identity: [idp([allow('s3:*'), denyS('s3:*', '*', { Condition: { Bool: { 'aws:SecureTransport': 'false' } } })])],
    mode: 'identity',
    action: 's3:GetObject',
    on: OBJ,
    context: { 'aws:securetransport': 'false' },
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'Deny when aws:SecureTransport is false: key absent, Bool is false, Deny does not apply',
    identity: [idp([allow('s3:*'), denyS('s3:*', '*', { Condition: { Bool: { 'aws:SecureTransport': 'false' } } })])],
    mode: 'identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },

  // -- BinaryEquals (base64).
  cond('BinaryEquals same bytes', { BinaryEquals: { 'test:blob': 'QmluYXJ5VmFsdWU=' } }, { 'test:blob': 'QmluYXJ5VmFsdWU=' }, true),
  cond('BinaryEquals different bytes', { BinaryEquals: { 'test:blob': 'QmluYXJ5VmFsdWU=' } }, { 'test:blob': 'T3RoZXI=' }, false),

  // -- IpAddress / NotIpAddress, IPv4 and IPv6 CIDR.
  cond('IpAddress inside an IPv4 CIDR', { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:sourceip': '203.0.113.7' }, true),
  cond('IpAddress outside an IPv4 CIDR', { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:sourceip': '198.51.100.1' }, false),
  cond('IpAddress with a single address', { IpAddress: { 'aws:SourceIp': '203.0.113.7' } }, { 'aws:sourceip': '203.0.113.7' }, true),
  cond('NotIpAddress outside the CIDR', { NotIpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:sourceip': '198.51.100.1' }, true),
  cond('NotIpAddress inside the CIDR', { NotIpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:sourceip': '203.0.113.9' }, false),
  cond('IpAddress inside an IPv6 CIDR', { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:sourceip': '2001:db8:1::5' }, true),
  cond('IpAddress IPv6 CIDR does not match an IPv4 source', { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:sourceip': '203.0.113.7' }, false),
  cond('IpAddress list mixing IPv4 and IPv6 (values ORed)', { IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] } }, { 'aws:sourceip': '2001:db8::1' }, true),

  // -- ARN operators: ArnEquals and ArnLike both match the six components separately, with wildcards; case-sensitive.
  cond('ArnLike with wildcards', { ArnLike: { 'aws:SourceArn': `arn:aws:cloudtrail:*:${ACCT}:trail/*` } }, { 'aws:sourcearn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/main` }, true),
  cond('ArnEquals exact', { ArnEquals: { 'aws:SourceArn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/main` } }, { 'aws:sourcearn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/main` }, true),
  cond('ArnEquals also accepts wildcards', { ArnEquals: { 'aws:SourceArn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/*` } }, { 'aws:sourcearn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/main` }, true),
  cond('ArnNotLike another account', { ArnNotLike: { 'aws:SourceArn': `arn:aws:cloudtrail:*:${OTHER}:*` } }, { 'aws:sourcearn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/main` }, true),
  cond('ArnNotEquals the same ARN', { ArnNotEquals: { 'aws:SourceArn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/main` } }, { 'aws:sourcearn': `arn:aws:cloudtrail:us-east-1:${ACCT}:trail/main` }, false),
  cond('ArnLike does not match a value that is not an ARN', { ArnLike: { 'aws:SourceArn': 'arn:aws:s3:::*' } }, { 'aws:sourcearn': 'photos' }, false),
  cond('ArnLike is case-sensitive', { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCT}:user/APP` } }, {}, false),

  // -- Null: "true" = the key is absent; "false" = the key is present.
  cond('Null true with the key absent', { Null: { 'aws:TokenIssueTime': 'true' } }, {}, true),
  cond('Null true with the key present', { Null: { 'aws:TokenIssueTime': 'true' } }, { 'aws:tokenissuetime': NOW }, false),
  cond('Null false with the key present', { Null: { 'aws:TokenIssueTime': 'false' } }, { 'aws:tokenissuetime': NOW }, true),
  cond('Null false with the key absent', { Null: { 'aws:TokenIssueTime': 'false' } }, {}, false),
  cond('Null true with an empty multi-valued key', { Null: { 'aws:TagKeys': 'true' } }, { 'aws:tagkeys': [] }, true),

  // -- ...IfExists: true when the key is absent, otherwise the operator as usual.
  cond('StringEqualsIfExists, key absent', { StringEqualsIfExists: { 'aws:PrincipalTag/team': 'blue' } }, {}, true),
  cond('StringEqualsIfExists, key present and equal', { StringEqualsIfExists: { 'aws:PrincipalTag/team': 'blue' } }, { 'aws:principaltag/team': 'blue' }, true),
  cond('StringEqualsIfExists, key present and different', { StringEqualsIfExists: { 'aws:PrincipalTag/team': 'blue' } }, { 'aws:principaltag/team': 'red' }, false),
  cond('StringNotEqualsIfExists, key present and equal', { StringNotEqualsIfExists: { 'aws:PrincipalTag/team': 'blue' } }, { 'aws:principaltag/team': 'blue' }, false),
  cond('StringLikeIfExists, key absent', { StringLikeIfExists: { 'aws:PrincipalTag/team': 'b*' } }, {}, true),
  cond('NumericLessThanIfExists, key absent', { NumericLessThanIfExists: { 's3:max-keys': '10' } }, {}, true),
  cond('DateLessThanIfExists, key absent', { DateLessThanIfExists: { 'aws:CurrentTime': NOW } }, {}, true),
  cond('BoolIfExists, key absent', { BoolIfExists: { 'aws:MultiFactorAuthPresent': 'true' } }, {}, true),
  cond('BinaryEqualsIfExists, key absent', { BinaryEqualsIfExists: { 'test:blob': 'QmluYXJ5VmFsdWU=' } }, {}, true),
  cond('IpAddressIfExists, key absent', { IpAddressIfExists: { 'aws:SourceIp': '203.0.113.0/24' } }, {}, true),
  cond('IpAddressIfExists, key present outside', { IpAddressIfExists: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:sourceip': '192.0.2.1' }, false),
  cond('ArnLikeIfExists, key absent', { ArnLikeIfExists: { 'aws:SourceArn': 'arn:aws:s3:::*' } }, {}, true),

  // -- Missing keys: "the condition is false", except negated matching operators, which are true (condition operators reference).
  cond('StringEquals, key absent', { StringEquals: { 'aws:PrincipalTag/team': 'blue' } }, {}, false),
  cond('StringNotEquals, key absent', { StringNotEquals: { 'aws:PrincipalTag/team': 'blue' } }, {}, true),
  cond('StringNotEqualsIgnoreCase, key absent', { StringNotEqualsIgnoreCase: { 'aws:PrincipalTag/team': 'blue' } }, {}, true),
  cond('StringNotLike, key absent', { StringNotLike: { 'aws:PrincipalTag/team': 'b*' } }, {}, true),
  cond('NumericNotEquals, key absent', { NumericNotEquals: { 's3:max-keys': '10' } }, {}, true),
  cond('NumericLessThan, key absent', { NumericLessThan: { 's3:max-keys': '10' } }, {}, false),
  cond('DateNotEquals, key absent', { DateNotEquals: { 'aws:CurrentTime': NOW } }, {}, true),
  cond('NotIpAddress, key absent', { NotIpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, {}, true),
  cond('IpAddress, key absent', { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, {}, false),
  cond('ArnNotEquals, key absent', { ArnNotEquals: { 'aws:SourceArn': 'arn:aws:s3:::photos' } }, {}, true),
  cond('ArnNotLike, key absent', { ArnNotLike: { 'aws:SourceArn': 'arn:aws:s3:::*' } }, {}, true),
  cond('Bool, key absent', { Bool: { 'aws:MultiFactorAuthPresent': 'true' } }, {}, false),

  // -- Set operators on multi-valued keys: ForAllValues (true when absent or empty), ForAnyValue (false when absent or empty).
  cond('ForAllValues:StringEquals, subset', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, { 'aws:tagkeys': ['a'] }, true),
  cond('ForAllValues:StringEquals, one value outside', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, { 'aws:tagkeys': ['a', 'c'] }, false),
  cond('ForAllValues:StringEquals, key absent', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, {}, true),
  cond('ForAllValues:StringEquals, empty list', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } }, { 'aws:tagkeys': [] }, true),
  cond('ForAllValues guarded by Null false, key absent', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a'] }, Null: { 'aws:TagKeys': 'false' } }, {}, false),
  cond('ForAnyValue:StringEquals, one value matches', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': 'a' } }, { 'aws:tagkeys': ['c', 'a'] }, true),
  cond('ForAnyValue:StringEquals, none matches', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': 'a' } }, { 'aws:tagkeys': ['c'] }, false),
  cond('ForAnyValue:StringEquals, key absent', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': 'a' } }, {}, false),
  cond('ForAnyValue:StringEquals, empty list', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': 'a' } }, { 'aws:tagkeys': [] }, false),
  cond('ForAllValues:StringLike', { 'ForAllValues:StringLike': { 'aws:TagKeys': 'dept-*' } }, { 'aws:tagkeys': ['dept-a', 'dept-b'] }, true),
  cond('ForAllValues:StringNotEquals, no value listed', { 'ForAllValues:StringNotEquals': { 'aws:TagKeys': 'secret' } }, { 'aws:tagkeys': ['a', 'b'] }, true),
  cond('ForAllValues:StringNotEquals, one value listed', { 'ForAllValues:StringNotEquals': { 'aws:TagKeys': 'secret' } }, { 'aws:tagkeys': ['a', 'secret'] }, false),
  cond('ForAnyValue:StringNotEquals, every value listed', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': 'a' } }, { 'aws:tagkeys': ['a'] }, false),
  cond('ForAnyValue:StringNotEquals, one value not listed', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': 'a' } }, { 'aws:tagkeys': ['a', 'b'] }, true),
  cond('ForAnyValue:StringEqualsIfExists, key absent', { 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': 'a' } }, {}, true),
  cond('plain StringEquals on a multi-valued key: any element matches', { StringEquals: { 'aws:TagKeys': 'b' } }, { 'aws:tagkeys': ['a', 'b'] }, true),

  // -- Multiple keys (AND), multiple operators (AND), multiple values (OR; NOR for negated operators).
  cond(
    'two keys in one operator, both hold',
    { StringEquals: { 'aws:PrincipalTag/team': 'blue', 'aws:RequestedRegion': 'us-east-1' } },
    { 'aws:principaltag/team': 'blue', 'aws:requestedregion': 'us-east-1' },
    true,
  ),
  cond(
    'two keys in one operator, one fails',
    { StringEquals: { 'aws:PrincipalTag/team': 'blue', 'aws:RequestedRegion': 'us-east-1' } },
    { 'aws:principaltag/team': 'blue', 'aws:requestedregion': 'eu-west-1' },
    false,
  ),
  cond(
    'two operators, both hold',
    { StringEquals: { 'aws:PrincipalTag/team': 'blue' }, Bool: { 'aws:SecureTransport': 'true' } },
    { 'aws:principaltag/team': 'blue', 'aws:securetransport': 'true' },
    true,
  ),
  cond(
    'two operators, one fails',
    { StringEquals: { 'aws:PrincipalTag/team': 'blue' }, Bool: { 'aws:SecureTransport': 'true' } },
    { 'aws:principaltag/team': 'blue', 'aws:securetransport': 'false' },
    false,
  ),
  cond('several values for one key are ORed', { StringEquals: { 'aws:PrincipalTag/team': ['red', 'blue'] } }, { 'aws:principaltag/team': 'blue' }, true),
  cond('StringNotEquals with several values: a listed value fails (NOR)', { StringNotEquals: { 'aws:PrincipalTag/team': ['red', 'blue'] } }, { 'aws:principaltag/team': 'blue' }, false),
  cond('StringNotEquals with several values: an unlisted value holds', { StringNotEquals: { 'aws:PrincipalTag/team': ['red', 'blue'] } }, { 'aws:principaltag/team': 'green' }, true),

  // -- Policy variables ("IAM policy elements: Variables and tags"): only in Version 2012-10-17, in Resource and condition values.
  {
    name: '${aws:username} in Resource matches the user\'s own prefix',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/${aws:username}/*')])],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/app/cat.jpg',
    allowed: true,
  },
  {
    name: '${aws:username} in Resource does not match another user\'s prefix',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/${aws:username}/*')])],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/bob/cat.jpg',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'Version 2008-10-17 leaves ${aws:username} as plain text',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/${aws:username}/*')], '2008-10-17')],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/app/cat.jpg',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'no Version (2008-10-17) leaves variables as plain text',
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/${aws:username}/*')], null)],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/${aws:username}/cat.jpg',
    allowed: true,
  },
  {
    name: '${aws:username} has no value for a role session',
    principal: SESSION,
    identity: [idp([allow('s3:GetObject', 'arn:aws:s3:::photos/${aws:username}/*')])],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/s1/cat.jpg',
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: "a default value applies when the variable has none",
    principal: SESSION,
    identity: [idp([allow('s3:GetObject', "arn:aws:s3:::photos/${aws:username, 'shared'}/*")])],
    mode: 'identity',
    action: 's3:GetObject',
    on: 'arn:aws:s3:::photos/shared/cat.jpg',
    allowed: true,
  },
  cond('${aws:username} in a condition value', { StringLike: { 's3:prefix': '${aws:username}/*' } }, { 's3:prefix': 'app/2024/' }, true),
  cond('${aws:userid} in a condition value', { StringEquals: { 'aws:ResourceTag/owner': '${aws:userid}' } }, { 'aws:resourcetag/owner': 'AIDAEXAMPLEAPP' }, true),
  cond('${*} is a literal * in StringLike', { StringLike: { 's3:prefix': 'a${*}b' } }, { 's3:prefix': 'a*b' }, true),
  cond('${*} does not act as a wildcard', { StringLike: { 's3:prefix': 'a${*}b' } }, { 's3:prefix': 'axb' }, false),
  cond('${$} and ${?} are literal', { StringEquals: { 's3:prefix': 'cost${$}${?}' } }, { 's3:prefix': 'cost$?' }, true),
  cond('a multi-valued key is not a policy variable', { StringEquals: { 's3:prefix': '${aws:TagKeys}' } }, { 's3:prefix': 'a', 'aws:tagkeys': ['a'] }, false),

  // -- KMS condition keys: kms:EncryptionContext:<key> (values case-sensitive), kms:EncryptionContextKeys (multi-valued), kms:ViaService, kms:CallerAccount.
  cond('kms:EncryptionContext:<key> equals', { StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }, { 'kms:encryptioncontext:department': 'IT' }, true),
  cond('kms:EncryptionContext:<key> value is case-sensitive', { StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }, { 'kms:encryptioncontext:department': 'it' }, false),
  cond('kms:EncryptionContext:<key> absent', { StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }, {}, false),
  cond(
    'kms:EncryptionContextKeys: every pair key is allowed',
    { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['Department', 'Project'] } },
    { 'kms:encryptioncontextkeys': ['Department'] },
    true,
  ),
  cond(
    'kms:EncryptionContextKeys: an unexpected pair key',
    { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['Department', 'Project'] } },
    { 'kms:encryptioncontextkeys': ['Department', 'Secret'] },
    false,
  ),
  cond('kms:EncryptionContextKeys: a required pair key is present', { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'Department' } }, { 'kms:encryptioncontextkeys': ['Project', 'Department'] }, true),
  cond('kms:ViaService names the calling service', { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } }, { 'kms:viaservice': 's3.us-east-1.amazonaws.com' }, true),
  cond('kms:ViaService is absent on a direct call', { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } }, {}, false),
  {
    name: 'Deny unless kms:ViaService: a direct call is denied (negated operator, key absent)',
    identity: [idp([allow('kms:Decrypt'), denyS('kms:Decrypt', '*', { Condition: { StringNotEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'AWS-managed-key pattern: Principal * with kms:CallerAccount (derived from the principal)',
    resource: rp([grantTo('*', ['kms:Encrypt', 'kms:Decrypt'], { Condition: { StringEquals: { 'kms:CallerAccount': ACCT } } })]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: true,
  },
  {
    name: 'AWS-managed-key pattern refuses another account',
    principal: EXT_USER,
    identity: [idp([allow('kms:*')])],
    resource: rp([grantTo('*', ['kms:Encrypt', 'kms:Decrypt'], { Condition: { StringEquals: { 'kms:CallerAccount': ACCT } } })]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },

  // -- S3 bucket policy requiring SSE-KMS via s3:x-amz-server-side-encryption (negated operator: an absent header is denied too).
  ...(['aws:kms', 'AES256', undefined] as const).map(
    (sse): Case => ({
      name: `bucket policy requires SSE-KMS; header ${sse ?? 'absent'}`,
      identity: [idp([allow('s3:PutObject')])],
      resource: rp([{ Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::photos/*', Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } }]),
      mode: 'resource-or-identity',
      action: 's3:PutObject',
      on: OBJ,
      context: sse === undefined ? {} : { 's3:x-amz-server-side-encryption': sse },
      allowed: sse === 'aws:kms',
      ...(sse === 'aws:kms' ? {} : { reason: 'explicit-deny-resource' as const }),
    }),
  ),

  // -- KMS grants: a grant allowance suffices in key-policy mode, but explicit Denies still win.
  { name: 'grant allows without any policy Allow', resource: rp([grantTo({ AWS: BOB_ARN }, 'kms:*')]), mode: 'key-policy', action: 'kms:Decrypt', grantAllows: true, allowed: true },
  {
    name: 'grant allowance does not override a key policy Deny',
    resource: rp([ROOT_DELEGATION, { Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*' }]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    grantAllows: true,
    allowed: false,
    reason: 'explicit-deny-resource',
  },
  {
    name: 'grant allowance does not override an identity Deny',
    identity: [idp([denyS('kms:Decrypt')])],
    resource: DEFAULT_KEY_POLICY,
    mode: 'key-policy',
    action: 'kms:Decrypt',
    grantAllows: true,
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  { name: 'grantAllows false changes nothing', resource: rp([grantTo({ AWS: BOB_ARN }, 'kms:*')]), mode: 'key-policy', action: 'kms:Decrypt', grantAllows: false, allowed: false, reason: 'no-resource-allow' },

  // -- Unique ids (AWS "IAM identifiers": a stored policy names a user or role by its unique id, so a principal
  //    deleted and created again under the same name, which gets a new id, is not the one named).
  { name: 'a stored key policy naming the user by unique id allows that user', principal: { ...USER, userId: 'AIDAEXAMPLEAPP12345' }, resource: rp([grantTo({ AWS: 'AIDAEXAMPLEAPP12345' }, 'kms:Decrypt')]), mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  {
    name: 'a unique id of an earlier user of the same name does not match the current one',
    principal: { ...USER, userId: 'AIDAEXAMPLEAPP67890' },
    resource: rp([grantTo({ AWS: 'AIDAEXAMPLEAPP12345' }, 'kms:Decrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-resource-allow',
  },
  { name: 'a stored trust policy naming the role by unique id covers its sessions', principal: { ...SESSION, roleId: 'AROAEXAMPLEWORKER1' }, resource: rp([grantTo({ AWS: 'AROAEXAMPLEWORKER1' }, 'sts:AssumeRole')]), mode: 'key-policy', action: 'sts:AssumeRole', on: ROLE_ARN, allowed: true },
  {
    name: "a role's unique id does not match a user",
    resource: rp([grantTo({ AWS: 'AROAEXAMPLEWORKER1' }, 's3:GetObject')]),
    identity: [],
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-identity-allow',
  },

  // -- Keys the server cannot decide (AWS sets them; this server does not) fail closed: never an Allow, always a Deny.
  {
    name: 'an Allow conditioned on an undecidable key does not apply',
    identity: [idp([allow('kms:Decrypt', '*', { Condition: { StringLike: { 'kms:EncryptionAlgorithm': '*' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    unknown: ['kms:encryptionalgorithm'],
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'a Deny conditioned on an undecidable key applies, even with a negated operator',
    identity: [idp([allow('kms:Decrypt'), denyS('kms:*', '*', { Condition: { StringNotEquals: { 'kms:EncryptionAlgorithm': 'x' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    unknown: ['kms:encryptionalgorithm'],
    allowed: false,
    reason: 'explicit-deny-identity',
  },
  {
    name: 'a Deny whose undecidable condition is ANDed with one that does not hold does not apply',
    identity: [idp([allow('kms:Decrypt'), denyS('kms:*', '*', { Condition: { StringEquals: { 'kms:EncryptionAlgorithm': 'x', 'aws:RequestedRegion': 'eu-west-1' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    context: { 'aws:requestedregion': 'us-east-1' },
    unknown: ['kms:encryptionalgorithm'],
    allowed: true,
  },
  {
    name: 'Null on an undecidable key fails closed in an Allow',
    identity: [idp([allow('kms:Decrypt', '*', { Condition: { Null: { 'kms:EncryptionAlgorithm': 'true' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    unknown: ['kms:encryptionalgorithm'],
    allowed: false,
    reason: 'no-identity-allow',
  },
  {
    name: 'a key present in the request is decided by its value',
    identity: [idp([allow('kms:Decrypt', '*', { Condition: { StringEquals: { 'kms:EncryptionAlgorithm': 'RSAES_OAEP_SHA_256' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    context: { 'kms:encryptionalgorithm': 'RSAES_OAEP_SHA_256' },
    unknown: ['kms:encryptionalgorithm'],
    allowed: true,
  },
  {
    name: 'a Bool deny on aws:MultiFactorAuthPresent applies to a session, whose key is false',
    principal: SESSION,
    identity: [idp([allow('kms:Decrypt'), denyS('*', '*', { Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'false' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    context: { 'aws:multifactorauthpresent': 'false', 'aws:tokenissuetime': NOW },
    allowed: false,
    reason: 'explicit-deny-identity',
  },

  // -- Permissions boundaries (AWS "Permissions boundaries for IAM entities": the effective permissions are what both the
  //    identity policies and the boundary allow; within the account, a resource policy naming the user is not limited,
  //    one naming a role is; an explicit Deny in the boundary wins).
  { name: 'boundary and identity policy both allow', identity: [idp([allow('kms:*')])], boundary: idp([allow('kms:Decrypt')]), mode: 'identity', action: 'kms:Decrypt', allowed: true },
  {
    name: 'identity policy allows but the boundary does not',
    identity: [idp([allow('kms:*')])],
    boundary: idp([allow('kms:Encrypt')]),
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-boundary-allow',
  },
  { name: 'a boundary alone grants nothing', boundary: idp([allow('kms:*')]), mode: 'identity', action: 'kms:Decrypt', allowed: false, reason: 'no-identity-allow' },
  {
    name: 'an explicit Deny in the boundary wins',
    identity: [idp([allow('kms:*')])],
    boundary: idp([allow('*'), denyS('kms:Decrypt')]),
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-boundary',
  },
  {
    name: 'the boundary limits a key policy that delegates to the account',
    identity: [idp([allow('kms:*')])],
    resource: DEFAULT_KEY_POLICY,
    boundary: idp([allow('kms:Encrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-boundary-allow',
  },
  {
    name: 'the boundary does not limit a bucket policy that names the user',
    principal: { ...USER, userId: 'AIDAEXAMPLEAPP12345' },
    resource: rp([grantTo({ AWS: 'AIDAEXAMPLEAPP12345' }, 's3:GetObject')]),
    boundary: idp([allow('kms:*')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: true,
  },
  { name: 'the boundary does not limit a key policy that names the user', resource: rp([grantTo({ AWS: USER_ARN }, 'kms:Decrypt')]), boundary: idp([allow('s3:*')]), mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  {
    name: "the role's boundary limits a key policy that names the role",
    principal: SESSION,
    resource: rp([grantTo({ AWS: ROLE_ARN }, 'kms:Decrypt')]),
    boundary: idp([allow('kms:Encrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-boundary-allow',
  },
  {
    name: "the role's boundary does not limit a key policy that names the session",
    principal: SESSION,
    resource: rp([grantTo({ AWS: SESSION_ARN }, 'kms:Decrypt')]),
    boundary: idp([allow('kms:Encrypt')]),
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: true,
  },
  {
    name: 'a Deny with NotPrincipal always applies to a principal that has a boundary',
    identity: [idp([allow('s3:*')])],
    resource: rp([{ Effect: 'Deny', NotPrincipal: { AWS: [USER_ARN, ACCT] }, Action: 's3:*', Resource: '*' }]),
    boundary: idp([allow('s3:*')]),
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'explicit-deny-resource',
  },
  { name: 'the boundary does not apply to a grant', resource: DEFAULT_KEY_POLICY, boundary: idp([allow('s3:*')]), grantAllows: true, mode: 'key-policy', action: 'kms:Decrypt', allowed: true },

  // -- Session policies (AWS "Session policies": the session may do what both the role's policies and a session policy
  //    allow; a resource policy naming the session is not limited, one naming the role is).
  { name: 'session policy and role policy both allow', principal: SESSION, identity: [idp([allow('kms:*')])], session: [idp([allow('kms:Decrypt')])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  {
    name: 'the role allows but no session policy does',
    principal: SESSION,
    identity: [idp([allow('kms:*')])],
    session: [idp([allow('kms:Encrypt')])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-session-allow',
  },
  { name: 'a session policy grants nothing by itself', principal: SESSION, session: [idp([allow('kms:*')])], mode: 'identity', action: 'kms:Decrypt', allowed: false, reason: 'no-identity-allow' },
  { name: 'any one of several session policies may allow', principal: SESSION, identity: [idp([allow('kms:*')])], session: [idp([allow('kms:Encrypt')]), idp([allow('kms:Decrypt')])], mode: 'identity', action: 'kms:Decrypt', allowed: true },
  {
    name: 'an explicit Deny in a session policy wins',
    principal: SESSION,
    identity: [idp([allow('kms:*')])],
    session: [idp([allow('*'), denyS('kms:Decrypt')])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'explicit-deny-session',
  },
  {
    name: 'session policies limit a key policy that names the role',
    principal: SESSION,
    resource: rp([grantTo({ AWS: ROLE_ARN }, 'kms:Decrypt')]),
    session: [idp([allow('kms:Encrypt')])],
    mode: 'key-policy',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-session-allow',
  },
  { name: 'session policies do not limit a key policy that names the session', principal: SESSION, resource: rp([grantTo({ AWS: SESSION_ARN }, 'kms:Decrypt')]), session: [idp([allow('kms:Encrypt')])], mode: 'key-policy', action: 'kms:Decrypt', allowed: true },
  {
    name: 'a bucket policy for everyone is taken as naming the role for a session, so session policies limit it',
    principal: SESSION,
    resource: rp([grantTo('*', 's3:GetObject')]),
    session: [idp([allow('kms:*')])],
    mode: 'resource-or-identity',
    action: 's3:GetObject',
    on: OBJ,
    allowed: false,
    reason: 'no-session-allow',
  },
  {
    name: 'both a boundary and session policies must allow',
    principal: SESSION,
    identity: [idp([allow('kms:*')])],
    boundary: idp([allow('kms:Decrypt')]),
    session: [idp([allow('kms:Encrypt')])],
    mode: 'identity',
    action: 'kms:Decrypt',
    allowed: false,
    reason: 'no-session-allow',
  },

  // -- Principal tags (attribute-based access control): ${aws:PrincipalTag/...} against aws:ResourceTag/....
  {
    name: 'a principal tag matching the resource tag allows',
    identity: [idp([allow('kms:Decrypt', '*', { Condition: { StringEquals: { 'aws:ResourceTag/team': '${aws:PrincipalTag/team}' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    context: { 'aws:principaltag/team': 'blue', 'aws:resourcetag/team': 'blue' },
    allowed: true,
  },
  {
    name: 'an untagged principal does not match a tagged resource',
    identity: [idp([allow('kms:Decrypt', '*', { Condition: { StringEquals: { 'aws:ResourceTag/team': '${aws:PrincipalTag/team}' } } })])],
    mode: 'identity',
    action: 'kms:Decrypt',
    context: { 'aws:resourcetag/team': 'blue' },
    allowed: false,
    reason: 'no-identity-allow',
  },
];

function parseAll(c: Case): { identity: PolicyDocument[]; resource?: PolicyDocument } {
  const identity = (c.identity ?? []).map((d) => parsePolicy(JSON.stringify(d), 'identity'));
  return c.resource ? { identity, resource: parsePolicy(JSON.stringify(c.resource), 'resource') } : { identity };
}

function run(c: Case) {
  const { identity, resource } = parseAll(c);
  const input: AuthorizationInput = {
    request: { principal: c.principal ?? USER, action: c.action, resource: c.on ?? KEY, context: c.context ?? {}, ...(c.unknown ? { unknownKey: (k: string) => c.unknown!.includes(k) } : {}) },
    identityPolicies: identity,
    resourceAccount: c.resourceAccount ?? ACCT,
    mode: c.mode,
    ...(resource ? { resourcePolicy: resource } : {}),
    ...(c.grantAllows !== undefined ? { grantAllows: c.grantAllows } : {}),
    ...(c.boundary ? { permissionsBoundary: parsePolicy(JSON.stringify(c.boundary), 'identity') } : {}),
    ...(c.session ? { sessionPolicies: c.session.map((d) => parsePolicy(JSON.stringify(d), 'identity')) } : {}),
  };
  return authorize(input);
}

test('the authorization table has at least 120 cases with unique names', () => {
  assert.ok(cases.length >= 120, `only ${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'case names must be unique');
});

for (const c of cases) {
  test(`authorize: ${c.name}`, () => {
    const r = run(c);
    assert.equal(r.allowed, c.allowed, `allowed should be ${c.allowed} (reason ${r.reason ?? 'none'})`);
    assert.equal(r.reason, c.reason, `reason should be ${c.reason ?? 'none'}`);
    if (c.allowed) assert.equal(r.message, undefined, 'an allowed request has no denial message');
    else assert.match(r.message ?? '', /^User: \S+ is not authorized to perform: \S+ on resource: \S+ /, 'denials carry AWS-style wording');
  });
}

// ---- denial message wording ------------------------------------------------------------------

test('denial messages use AWS wording', () => {
  const byName = (n: string) => {
    const c = cases.find((x) => x.name === n);
    assert.ok(c, `case ${n} exists`);
    return run(c);
  };
  assert.equal(
    byName('identity policy allows another action only').message,
    `User: ${USER_ARN} is not authorized to perform: kms:Decrypt on resource: ${KEY} because no identity-based policy allows the kms:Decrypt action`,
    'implicit deny, identity',
  );
  assert.equal(
    byName('identity Deny for the action beats an identity Allow of kms:*').message,
    `User: ${USER_ARN} is not authorized to perform: kms:Decrypt on resource: ${KEY} with an explicit deny in an identity-based policy`,
    'explicit deny, identity',
  );
  assert.equal(
    byName('key policy Deny for the user beats the key policy and identity Allows').message,
    `User: ${USER_ARN} is not authorized to perform: kms:Decrypt on resource: ${KEY} with an explicit deny in a resource-based policy`,
    'explicit deny, resource',
  );
  assert.equal(
    byName('key policy that does not delegate ignores identity Allows').message,
    `User: ${USER_ARN} is not authorized to perform: kms:Decrypt on resource: ${KEY} because no resource-based policy allows the kms:Decrypt action`,
    'KMS key policy neither allows nor delegates',
  );
  assert.equal(
    byName('key policy naming one session does not grant another').message,
    `User: ${OTHER_SESSION.arn} is not authorized to perform: kms:Decrypt on resource: ${KEY} because no resource-based policy allows the kms:Decrypt action`,
    'assumed-role sessions are named by their session ARN',
  );
  assert.equal(
    byName('no policies at all').message,
    `User: ${USER_ARN} is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action`,
    'actions without a resource name resource *',
  );
  const head = `User: ${USER_ARN} is not authorized to perform: kms:Decrypt on resource: ${KEY}`;
  assert.equal(byName('identity policy allows but the boundary does not').message, `${head} because no permissions boundary allows the kms:Decrypt action`, 'implicit deny, boundary');
  assert.equal(byName('an explicit Deny in the boundary wins').message, `${head} with an explicit deny in a permissions boundary`, 'explicit deny, boundary');
  const sessionHead = `User: ${SESSION_ARN} is not authorized to perform: kms:Decrypt on resource: ${KEY}`;
  assert.equal(byName('the role allows but no session policy does').message, `${sessionHead} because no session policy allows the kms:Decrypt action`, 'implicit deny, session policy');
  assert.equal(byName('an explicit Deny in a session policy wins').message, `${sessionHead} with an explicit deny in a session policy`, 'explicit deny, session policy');
});

// ---- evaluate() on single documents ------------------------------------------------------------

test('evaluate returns Deny, Allow or NotApplicable per document', () => {
  const req: RequestContext = { principal: USER, action: 'kms:Decrypt', resource: KEY, context: {} };
  const outcome = (doc: Json, kind: 'identity' | 'resource'): StatementOutcome => evaluate(parsePolicy(JSON.stringify(doc), kind), req);
  assert.equal(outcome(idp([allow('kms:*'), denyS('kms:Decrypt')]), 'identity'), 'Deny', 'Deny wins within a document');
  assert.equal(outcome(idp([allow('kms:Decrypt')]), 'identity'), 'Allow', 'a matching Allow');
  assert.equal(outcome(idp([allow('kms:Encrypt')]), 'identity'), 'NotApplicable', 'nothing matches');
  assert.equal(outcome(DEFAULT_KEY_POLICY, 'resource'), 'Allow', 'an account-principal Allow counts as Allow for the document');
  assert.equal(outcome(rp([grantTo({ AWS: BOB_ARN }, 'kms:*')]), 'resource'), 'NotApplicable', 'another principal');
});

// ---- the PutKeyPolicy lockout check ------------------------------------------------------------

test('allowsPutKeyPolicy follows key-policy authorization', () => {
  const key = (d: Json) => parsePolicy(JSON.stringify(d), 'resource');
  const ids = (d: Json) => [parsePolicy(JSON.stringify(d), 'identity')];
  assert.equal(allowsPutKeyPolicy(key(DEFAULT_KEY_POLICY), USER, ids(idp([allow('kms:*')])), KEY), true, 'delegated and allowed by IAM');
  assert.equal(allowsPutKeyPolicy(key(DEFAULT_KEY_POLICY), USER, [], KEY), false, 'delegated but no IAM allowance');
  const bobOnly = key(rp([grantTo({ AWS: BOB_ARN }, 'kms:*')]));
  assert.equal(allowsPutKeyPolicy(bobOnly, USER, ids(idp([allow('kms:*')])), KEY), false, 'a policy naming only bob locks app out');
  assert.equal(allowsPutKeyPolicy(bobOnly, BOB, [], KEY), true, 'bob is named directly');
  assert.equal(allowsPutKeyPolicy(key(DEFAULT_KEY_POLICY), ROOT, [], KEY), true, 'root through the account principal');
  assert.equal(allowsPutKeyPolicy(bobOnly, ROOT, [], KEY), false, 'root is not exempt from the key policy');
  const adminsOnly = key(rp([grantTo({ AWS: ROLE_ARN }, 'kms:PutKeyPolicy')]));
  assert.equal(allowsPutKeyPolicy(adminsOnly, SESSION, [], KEY), true, 'a role principal covers its sessions');
});

// ---- parse errors ----------------------------------------------------------------------------

interface ParseCase {
  name: string;
  text: string;
  kind: 'identity' | 'resource';
  /** Expected message (exact string or pattern); undefined = must parse. */
  error?: string | RegExp;
  tooLarge?: boolean;
  options?: Parameters<typeof parsePolicy>[2];
}

const stmt = (s: Json) => JSON.stringify({ Version: '2012-10-17', Statement: [s] });
const parseCases: ParseCase[] = [
  { name: 'invalid JSON', text: '{"Version": "2012-10-17", "Statement": [', kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'not an object', text: '[]', kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'missing Statement', text: '{"Version":"2012-10-17"}', kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'unknown top-level field', text: JSON.stringify({ Version: '2012-10-17', Statement: [allow('kms:*')], Extra: 1 }), kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'unsupported Version', text: JSON.stringify({ Version: '2012-10-18', Statement: [allow('kms:*')] }), kind: 'identity', error: 'The policy failed legacy parsing' },
  { name: 'missing Effect', text: stmt({ Action: 'kms:*', Resource: '*' }), kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'Effect in the wrong case', text: stmt({ Effect: 'allow', Action: 'kms:*', Resource: '*' }), kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'unknown statement field', text: stmt({ ...allow('kms:*'), Actions: 'kms:*' }), kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'Principal in an identity policy', text: stmt({ ...allow('kms:*'), Principal: '*' }), kind: 'identity', error: 'Policy document should not specify a principal.' },
  { name: 'NotPrincipal in an identity policy', text: stmt({ ...denyS('kms:*'), NotPrincipal: { AWS: ACCT } }), kind: 'identity', error: 'Policy document should not specify a principal.' },
  { name: 'missing Principal in a resource policy', text: stmt(allow('kms:*')), kind: 'resource', error: 'Missing required field Principal' },
  { name: 'both Principal and NotPrincipal', text: stmt({ ...denyS('kms:*'), Principal: '*', NotPrincipal: { AWS: ACCT } }), kind: 'resource', error: 'Syntax errors in policy.' },
  { name: 'NotPrincipal with Allow', text: stmt({ ...allow('kms:*'), NotPrincipal: { AWS: ACCT } }), kind: 'resource', error: /NotPrincipal/ },
  { name: 'bare principal string other than *', text: stmt({ ...allow('kms:*'), Principal: ACCT }), kind: 'resource', error: 'Invalid principal in policy' },
  { name: 'unknown principal type', text: stmt({ ...allow('kms:*'), Principal: { User: USER_ARN } }), kind: 'resource', error: 'Invalid principal in policy' },
  { name: 'AWS principal that is not an account or IAM ARN', text: stmt({ ...allow('kms:*'), Principal: { AWS: 'arn:aws:s3:::photos' } }), kind: 'resource', error: 'Invalid principal in policy' },
  { name: 'both Action and NotAction', text: stmt({ Effect: 'Allow', Action: 'kms:*', NotAction: 'kms:Decrypt', Resource: '*' }), kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'no Action', text: stmt({ Effect: 'Allow', Resource: '*' }), kind: 'identity', error: 'Policy statement must contain actions.' },
  { name: 'empty Action list', text: stmt({ Effect: 'Allow', Action: [], Resource: '*' }), kind: 'identity', error: 'Policy statement must contain actions.' },
  { name: 'action without a vendor', text: stmt(allow('Decrypt')), kind: 'identity', error: 'Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.' },
  { name: 'action with two colons', text: stmt(allow('kms:Decrypt:x')), kind: 'identity', error: 'Actions/Condition can contain only one colon.' },
  { name: 'identity statement without a resource', text: stmt({ Effect: 'Allow', Action: 'kms:*' }), kind: 'identity', error: 'Policy statement must contain resources.' },
  { name: 'both Resource and NotResource', text: stmt({ ...allow('kms:*'), NotResource: KEY }), kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'resource that is not an ARN', text: stmt(allow('s3:*', 'photos/*')), kind: 'identity', error: 'Resource photos/* must be in ARN format or "*".' },
  {
    name: 'duplicate Sid',
    text: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'A', ...allow('kms:*') }, { Sid: 'A', ...denyS('kms:Decrypt') }] }),
    kind: 'identity',
    error: 'Statement IDs (SID) in a single policy must be unique.',
  },
  { name: 'unknown condition operator', text: stmt(allow('kms:*', '*', { Condition: { StringEqualz: { 'aws:username': 'app' } } })), kind: 'identity', error: 'Invalid Condition type : StringEqualz' },
  { name: 'unknown set qualifier', text: stmt(allow('kms:*', '*', { Condition: { 'ForSomeValues:StringEquals': { 'aws:TagKeys': 'a' } } })), kind: 'identity', error: 'Invalid Condition type : ForSomeValues:StringEquals' },
  { name: 'Null has no IfExists form', text: stmt(allow('kms:*', '*', { Condition: { NullIfExists: { 'aws:TagKeys': 'true' } } })), kind: 'identity', error: 'Invalid Condition type : NullIfExists' },
  { name: 'numeric condition with a non-number', text: stmt(allow('kms:*', '*', { Condition: { NumericLessThan: { 's3:max-keys': 'ten' } } })), kind: 'identity', error: /Invalid value for condition NumericLessThan/ },
  { name: 'date condition with a non-date', text: stmt(allow('kms:*', '*', { Condition: { DateLessThan: { 'aws:CurrentTime': 'tomorrow' } } })), kind: 'identity', error: /Invalid value for condition DateLessThan/ },
  { name: 'IpAddress with a bad CIDR', text: stmt(allow('kms:*', '*', { Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/33' } } })), kind: 'identity', error: /Invalid value for condition IpAddress/ },
  { name: 'Bool with a non-boolean', text: stmt(allow('kms:*', '*', { Condition: { Bool: { 'aws:SecureTransport': 'yes' } } })), kind: 'identity', error: /Invalid value for condition Bool/ },
  { name: 'condition value that is an object', text: stmt(allow('kms:*', '*', { Condition: { StringEquals: { 'aws:username': { a: 1 } } } })), kind: 'identity', error: 'Syntax errors in policy.' },
  { name: 'condition key without a vendor', text: stmt(allow('kms:*', '*', { Condition: { StringEquals: { username: 'app' } } })), kind: 'identity', error: 'Policy has an invalid condition key' },
  { name: 'resource policy over 32 KB', text: stmt({ ...grantTo('*', 'kms:*'), Sid: 'x'.repeat(33 * 1024) }), kind: 'resource', error: /maximum size/, tooLarge: true },
  { name: 'identity policy over a 2048-character quota', text: stmt({ ...allow('kms:*'), Sid: 'x'.repeat(2100) }), kind: 'identity', options: { maxChars: 2048 }, error: /PolicySize: 2048/, tooLarge: true },
  // Valid documents.
  { name: 'Version may be absent and Statement may be a single object', text: JSON.stringify({ Statement: allow('kms:*') }), kind: 'identity' },
  { name: 'resource policy statement without Resource', text: JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: { AWS: ACCT }, Action: 'kms:*' } }), kind: 'resource' },
  { name: 'CanonicalUser and Federated principals are accepted', text: stmt(grantTo({ CanonicalUser: 'abc', Federated: 'accounts.google.com' }, 's3:GetObject')), kind: 'resource' },
  { name: 'IfExists and set qualifiers combine', text: stmt(allow('kms:*', '*', { Condition: { 'ForAnyValue:StringLikeIfExists': { 'aws:TagKeys': 'a*' } } })), kind: 'identity' },
  { name: 'whitespace does not count toward the identity quota', text: stmt(allow('kms:*')).replace(/,/g, ',' + ' '.repeat(1000)), kind: 'identity', options: { maxChars: 2048 } },
];

for (const c of parseCases) {
  test(`parsePolicy: ${c.name}`, () => {
    if (c.error === undefined) {
      const doc = parsePolicy(c.text, c.kind, c.options);
      assert.ok(doc.statements.length > 0, 'a valid document parses into statements');
      return;
    }
    assert.throws(
      () => parsePolicy(c.text, c.kind, c.options),
      (err: unknown) => {
        assert.ok(err instanceof PolicyDocumentError, `expected PolicyDocumentError, got ${String(err)}`);
        if (typeof c.error === 'string') assert.equal(err.message, c.error, 'error message');
        else assert.match(err.message, c.error!, 'error message');
        assert.equal(err.reason, c.tooLarge ? 'too-large' : 'malformed', 'error reason');
        return true;
      },
    );
  });
}

test('policySize ignores whitespace', () => {
  assert.equal(policySize(' { "a" :\n\t1 } '), 7, 'only non-whitespace characters count');
});
