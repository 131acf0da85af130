// Secrets Manager through @aws-sdk/client-secrets-manager, boto3 and both AWS CLIs: every operation, version
// stages, idempotent tokens, deletion and restore, resource policies; rotation through a registered rotation
// function (a local executable run with a role's credentials), including a failing testSecret step; values
// encrypted under per-version KMS data keys with AWS's encryption context, and never on disk or in the trail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID, scryptSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SecretsManagerClient,
  CreateSecretCommand,
  GetSecretValueCommand,
  BatchGetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
  DescribeSecretCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  DeleteSecretCommand,
  RestoreSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  GetResourcePolicyCommand,
  PutResourcePolicyCommand,
  DeleteResourcePolicyCommand,
  ValidateResourcePolicyCommand,
  GetRandomPasswordCommand,
  RotateSecretCommand,
  CancelRotateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { KMSClient, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { IAMClient, CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { startTrent, removeDir, REPO, type RunningTrent } from '../helpers/trent.ts';
import { aws, skipCliV2, type Cli } from '../helpers/cli.ts';
import { exec } from '../helpers/assert.ts';

let t: RunningTrent;
let sm: SecretsManagerClient;
const CANARY = `canary-${randomBytes(8).toString('hex')}`;

before(async () => {
  t = await startTrent();
  sm = new SecretsManagerClient(t.clientConfig());
});
after(async () => {
  sm?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

/** An assert.rejects check: AWS's error code, message and HTTP status (400 unless given). */
function awsError(name: string, message: string, status = 400): (err: unknown) => true {
  return (err: unknown) => {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(e.name, name);
    assert.equal(e.message, message);
    assert.equal(e.$metadata?.httpStatusCode, status);
    return true;
  };
}

async function stagesOf(id: string): Promise<Record<string, string[]>> {
  return (await sm.send(new DescribeSecretCommand({ SecretId: id }))).VersionIdsToStages ?? {};
}

test('create, get, idempotent retry, put new versions: AWSCURRENT and AWSPREVIOUS move as on AWS', async () => {
  const token = randomUUID();
  const created = await sm.send(new CreateSecretCommand({ Name: 'app/db', SecretString: JSON.stringify({ user: 'app', password: CANARY }), ClientRequestToken: token, Description: 'database' }));
  assert.match(created.ARN!, /^arn:aws:secretsmanager:us-east-1:\d{12}:secret:app\/db-[A-Za-z0-9]{6}$/);
  assert.equal(created.VersionId, token);
  // A retry with the same token and value succeeds; a different value under an existing name does not.
  assert.equal((await sm.send(new CreateSecretCommand({ Name: 'app/db', SecretString: JSON.stringify({ user: 'app', password: CANARY }), ClientRequestToken: token }))).ARN, created.ARN);
  await assert.rejects(sm.send(new CreateSecretCommand({ Name: 'app/db', SecretString: 'other' })), { name: 'ResourceExistsException' });
  const got = await sm.send(new GetSecretValueCommand({ SecretId: 'app/db' }));
  assert.equal(JSON.parse(got.SecretString!).password, CANARY);
  assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: created.ARN! }))).VersionId, token, 'by full ARN');
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: created.ARN!.slice(0, -7) }))).VersionId, token, 'by partial ARN');

  const v2 = await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', SecretString: 'second' }));
  let stages = await stagesOf('app/db');
  assert.deepEqual(stages[v2.VersionId!], ['AWSCURRENT']);
  assert.deepEqual(stages[token], ['AWSPREVIOUS']);
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionStage: 'AWSPREVIOUS' }))).VersionId, token);
  // Same token, same value: no new version. Same token, other value: refused.
  await sm.send(new PutSecretValueCommand({ SecretId: 'app/db', SecretString: 'second', ClientRequestToken: v2.VersionId }));
  await assert.rejects(sm.send(new PutSecretValueCommand({ SecretId: 'app/db', SecretString: 'changed', ClientRequestToken: v2.VersionId })), { name: 'ResourceExistsException' });
  const v3 = await sm.send(new UpdateSecretCommand({ SecretId: 'app/db', SecretString: 'third', Description: 'updated' }));
  stages = await stagesOf('app/db');
  assert.deepEqual(stages[v3.VersionId!], ['AWSCURRENT']);
  assert.deepEqual(stages[v2.VersionId!], ['AWSPREVIOUS']);
  assert.deepEqual(stages[token] ?? [], [], 'the oldest lost its label');
  // Moving AWSCURRENT back by hand.
  await assert.rejects(sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'app/db', VersionStage: 'AWSCURRENT', MoveToVersionId: token })), { name: 'InvalidParameterException' });
  await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'app/db', VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: v3.VersionId }));
  assert.equal(JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'app/db' }))).SecretString!).password, CANARY);
  const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'app/db', IncludeDeprecated: true }));
  assert.equal(versions.Versions!.length, 3);
  await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'app/none' })), { name: 'ResourceNotFoundException' });
  await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'app/db', VersionStage: 'NOPE' })), { name: 'ResourceNotFoundException' });
});

test('describe, list with filters, tags, batch get, random passwords, resource policies', async () => {
  await sm.send(new CreateSecretCommand({ Name: 'team/a', SecretString: 'a', Tags: [{ Key: 'team', Value: 'library' }] }));
  await sm.send(new CreateSecretCommand({ Name: 'team/b', SecretString: 'b' }));
  const d = await sm.send(new DescribeSecretCommand({ SecretId: 'team/a' }));
  assert.deepEqual(d.Tags, [{ Key: 'team', Value: 'library' }]);
  assert.equal(d.RotationEnabled, undefined, 'never configured for rotation: no RotationEnabled, as on AWS');
  const byName = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['team/'] }] }));
  assert.deepEqual(byName.SecretList!.map((s) => s.Name).sort(), ['team/a', 'team/b']);
  const byTag = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-value', Values: ['library'] }] }));
  assert.deepEqual(byTag.SecretList!.map((s) => s.Name), ['team/a']);
  const paged = await sm.send(new ListSecretsCommand({ MaxResults: 1 }));
  assert.equal(paged.SecretList!.length, 1);
  assert.ok(paged.NextToken, 'a next page');
  await sm.send(new TagResourceCommand({ SecretId: 'team/b', Tags: [{ Key: 'x', Value: 'y' }] }));
  await sm.send(new UntagResourceCommand({ SecretId: 'team/b', TagKeys: ['x'] }));
  assert.equal((await sm.send(new DescribeSecretCommand({ SecretId: 'team/b' }))).Tags, undefined, 'no tags: no Tags field');
  const batch = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['team/a', 'team/b', 'team/none'] }));
  assert.deepEqual(batch.SecretValues!.map((v) => v.SecretString).sort(), ['a', 'b']);
  assert.deepEqual(batch.Errors!.map((e) => e.ErrorCode), ['ResourceNotFoundException']);
  const pw = await sm.send(new GetRandomPasswordCommand({ PasswordLength: 40, ExcludePunctuation: true }));
  assert.match(pw.RandomPassword!, /^[A-Za-z0-9]{40}$/);
  assert.ok(/[a-z]/.test(pw.RandomPassword!) && /[A-Z]/.test(pw.RandomPassword!) && /\d/.test(pw.RandomPassword!), 'each type included');
  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'secretsmanager:DeleteSecret', Resource: '*' }] });
  assert.equal((await sm.send(new ValidateResourcePolicyCommand({ ResourcePolicy: policy }))).PolicyValidationPassed, true);
  assert.equal((await sm.send(new ValidateResourcePolicyCommand({ ResourcePolicy: '{"Statement":[{"Effect":"Allow"}]}' }))).PolicyValidationPassed, false);
  await sm.send(new PutResourcePolicyCommand({ SecretId: 'team/a', ResourcePolicy: policy }));
  assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'team/a' }))).ResourcePolicy, policy);
  await assert.rejects(sm.send(new DeleteSecretCommand({ SecretId: 'team/a' })), { name: 'AccessDeniedException' });
  await sm.send(new DeleteResourcePolicyCommand({ SecretId: 'team/a' }));
  await assert.rejects(
    sm.send(new PutResourcePolicyCommand({ SecretId: 'team/a', BlockPublicPolicy: true, ResourcePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'secretsmanager:GetSecretValue', Resource: '*' }] }) })),
    { name: 'PublicPolicyException' },
  );
});

test('resource policies: BlockPublicPolicy blocks broad access as AWS defines it, only when asked; ValidateResourcePolicy runs the syntax, broad-access and lockout checks', async () => {
  const account = (await sm.send(new CreateSecretCommand({ Name: 'policy/target', SecretString: 'x' }))).ARN!.split(':')[4]!;
  const doc = (statement: Record<string, unknown>) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Action: 'secretsmanager:GetSecretValue', Resource: '*', ...statement }] });
  const everyone = doc({ Effect: 'Allow', Principal: '*' });
  const everyoneAws = doc({ Effect: 'Allow', Principal: { AWS: '*' } });
  const ownAccount = doc({ Effect: 'Allow', Principal: '*', Condition: { StringEquals: { 'aws:PrincipalAccount': account } } });
  const anyVpc = doc({ Effect: 'Allow', Principal: '*', Condition: { StringLike: { 'aws:SourceVpc': 'vpc-*' } } });
  const oneVpc = doc({ Effect: 'Allow', Principal: '*', Condition: { StringEquals: { 'aws:SourceVpc': 'vpc-91237329' } } });
  const wideNetwork = doc({ Effect: 'Allow', Principal: '*', Condition: { IpAddress: { 'aws:SourceIp': '0.0.0.0/1' } } });
  const notEquals = doc({ Effect: 'Allow', Principal: '*', Condition: { StringNotEquals: { 'aws:PrincipalAccount': '111122223333' } } });
  const fixedPrincipal = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` } });
  const service = doc({ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } });

  // Not blocked unless asked: by default AWS accepts a public policy.
  await sm.send(new PutResourcePolicyCommand({ SecretId: 'policy/target', ResourcePolicy: everyone }));
  assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: 'policy/target' }))).ResourcePolicy, everyone);
  const blocked = awsError('PublicPolicyException', 'The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.');
  for (const broad of [everyone, everyoneAws, anyVpc, wideNetwork, notEquals]) {
    await assert.rejects(sm.send(new PutResourcePolicyCommand({ SecretId: 'policy/target', ResourcePolicy: broad, BlockPublicPolicy: true })), blocked, broad);
  }
  for (const confined of [ownAccount, oneVpc, fixedPrincipal, service]) {
    await sm.send(new PutResourcePolicyCommand({ SecretId: 'policy/target', ResourcePolicy: confined, BlockPublicPolicy: true }));
  }
  await sm.send(new DeleteResourcePolicyCommand({ SecretId: 'policy/target' }));

  const validate = (policy: string, SecretId?: string) => sm.send(new ValidateResourcePolicyCommand({ ResourcePolicy: policy, ...(SecretId ? { SecretId } : {}) }));
  for (const confined of [ownAccount, oneVpc, fixedPrincipal]) {
    const ok = await validate(confined, 'policy/target');
    assert.equal(ok.PolicyValidationPassed, true, confined);
    assert.deepEqual(ok.ValidationErrors, []);
  }
  const broad = await validate(everyone);
  assert.equal(broad.PolicyValidationPassed, false);
  assert.deepEqual(broad.ValidationErrors!.map((e) => e.CheckName), ['BroadAccess']);
  const syntax = await validate('{"Statement":[{"Effect":"Allow"}]}');
  assert.equal(syntax.PolicyValidationPassed, false);
  assert.deepEqual(syntax.ValidationErrors!.map((e) => e.CheckName), ['PolicySyntax']);
  const lockout = await validate(JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'secretsmanager:*', Resource: '*' }] }), 'policy/target');
  assert.equal(lockout.PolicyValidationPassed, false);
  assert.deepEqual(lockout.ValidationErrors!.map((e) => e.CheckName), ['LockoutPrevention']);
  assert.equal((await validate(JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'secretsmanager:DeleteSecret', Resource: '*' }] }))).PolicyValidationPassed, true, 'denying another action locks nobody out');
});

test('fields as AWS returns them: per-version LastAccessedDate, DefaultEncryptionKey, no PrimaryRegion, empty Tags or unset RotationEnabled', async () => {
  const kms = new KMSClient(t.clientConfig());
  const key = (await kms.send(new CreateKeyCommand({ Description: 'fields' }))).KeyMetadata!;
  kms.destroy();
  const v1 = (await sm.send(new CreateSecretCommand({ Name: 'fields/default', SecretString: 'one' }))).VersionId!;
  const v2 = (await sm.send(new PutSecretValueCommand({ SecretId: 'fields/default', SecretString: 'two' }))).VersionId!;
  let listed = (await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'fields/default' }))).Versions!;
  assert.deepEqual(listed.map((v) => v.VersionId), [v1, v2], 'oldest first');
  assert.ok(listed.every((v) => v.LastAccessedDate === undefined), 'never read: no LastAccessedDate');
  assert.ok(listed.every((v) => JSON.stringify(v.KmsKeyIds) === '["DefaultEncryptionKey"]'), `the AWS managed key shows as DefaultEncryptionKey: ${JSON.stringify(listed)}`);
  await sm.send(new GetSecretValueCommand({ SecretId: 'fields/default', VersionStage: 'AWSPREVIOUS' }));
  listed = (await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'fields/default' }))).Versions!;
  const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  assert.equal(listed.find((v) => v.VersionId === v1)!.LastAccessedDate?.getTime(), today, 'the version read, to the day');
  assert.equal(listed.find((v) => v.VersionId === v2)!.LastAccessedDate, undefined, 'the version not read');
  const d = await sm.send(new DescribeSecretCommand({ SecretId: 'fields/default' }));
  assert.equal(d.LastAccessedDate?.getTime(), today);
  for (const field of ['PrimaryRegion', 'Tags', 'RotationEnabled', 'KmsKeyId', 'RotationLambdaARN', 'RotationRules', 'DeletedDate'] as const) {
    assert.equal(d[field], undefined, `DescribeSecret has no ${field}`);
  }
  const entry = (await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['fields/default'] }] }))).SecretList![0]!;
  for (const field of ['PrimaryRegion', 'Tags', 'RotationEnabled'] as const) assert.equal(entry[field], undefined, `ListSecrets has no ${field}`);
  // A customer managed key is named as itself.
  await sm.send(new CreateSecretCommand({ Name: 'fields/cmk', SecretString: 'x', KmsKeyId: key.KeyId }));
  const cmk = (await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'fields/cmk' }))).Versions![0]!;
  assert.deepEqual(cmk.KmsKeyIds, [key.Arn]);
});

test('errors as AWS answers them: an invalid name on every operation, a missing ClientRequestToken, forcing the deletion of no secret, a rotation function that cannot be invoked', async () => {
  const invalid = awsError('ValidationException', 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }] });
  for (const bad of ['Inv Name', ' Inv*Name? ', 'a#b']) {
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['CreateSecret', () => sm.send(new CreateSecretCommand({ Name: bad, SecretString: 'x' }))],
      ['DeleteSecret', () => sm.send(new DeleteSecretCommand({ SecretId: bad, ForceDeleteWithoutRecovery: true }))],
      ['DescribeSecret', () => sm.send(new DescribeSecretCommand({ SecretId: bad }))],
      ['GetSecretValue', () => sm.send(new GetSecretValueCommand({ SecretId: bad }))],
      ['ListSecretVersionIds', () => sm.send(new ListSecretVersionIdsCommand({ SecretId: bad, IncludeDeprecated: true }))],
      ['PutSecretValue', () => sm.send(new PutSecretValueCommand({ SecretId: bad, SecretString: 'x' }))],
      ['TagResource', () => sm.send(new TagResourceCommand({ SecretId: bad, Tags: [{ Key: 'k', Value: 'v' }] }))],
      ['UntagResource', () => sm.send(new UntagResourceCommand({ SecretId: bad, TagKeys: ['k'] }))],
      ['UpdateSecret', () => sm.send(new UpdateSecretCommand({ SecretId: bad, Description: 'd' }))],
      ['ValidateResourcePolicy', () => sm.send(new ValidateResourcePolicyCommand({ SecretId: bad, ResourcePolicy: policy }))],
      ['RotateSecret', () => sm.send(new RotateSecretCommand({ SecretId: bad }))],
      ['RestoreSecret', () => sm.send(new RestoreSecretCommand({ SecretId: bad }))],
      ['GetResourcePolicy', () => sm.send(new GetResourcePolicyCommand({ SecretId: bad }))],
      ['PutResourcePolicy', () => sm.send(new PutResourcePolicyCommand({ SecretId: bad, ResourcePolicy: policy }))],
      ['DeleteResourcePolicy', () => sm.send(new DeleteResourcePolicyCommand({ SecretId: bad }))],
      ['UpdateSecretVersionStage', () => sm.send(new UpdateSecretVersionStageCommand({ SecretId: bad, VersionStage: 'X', RemoveFromVersionId: randomUUID() }))],
      ['CancelRotateSecret', () => sm.send(new CancelRotateSecretCommand({ SecretId: bad }))],
    ];
    for (const [op, call] of calls) await assert.rejects(call(), invalid, `${op} with ${JSON.stringify(bad)}`);
  }
  // Every character AWS allows makes a valid name, '!' included.
  assert.ok((await sm.send(new CreateSecretCommand({ Name: 'Valid/_+=.@-!Name', SecretString: 'v' }))).ARN);

  // The SDKs always send a ClientRequestToken; a request without one is refused as AWS refuses it.
  const raw = new SecretsManagerClient(t.clientConfig());
  raw.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { body?: string | Uint8Array; headers: Record<string, string> };
      if (req.body !== undefined) {
        const body = JSON.parse(typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8')) as Record<string, unknown>;
        delete body['ClientRequestToken'];
        req.body = JSON.stringify(body);
        if (req.headers['content-length'] !== undefined) req.headers['content-length'] = String(Buffer.byteLength(req.body));
      }
      return next(args);
    },
    { step: 'build', name: 'withoutClientRequestToken' },
  );
  const noToken = 'You must provide a ClientRequestToken value. We recommend a UUID-type value.';
  try {
    await assert.rejects(raw.send(new CreateSecretCommand({ Name: 'token/create', SecretString: 'x' })), { name: 'InvalidRequestException', message: noToken });
    await assert.rejects(sm.send(new DescribeSecretCommand({ SecretId: 'token/create' })), { name: 'ResourceNotFoundException' }, 'nothing was created');
    await assert.rejects(raw.send(new PutSecretValueCommand({ SecretId: 'token/none', SecretString: 'x' })), { name: 'InvalidRequestException', message: noToken });
    await assert.rejects(raw.send(new UpdateSecretCommand({ SecretId: 'token/none', SecretString: 'x' })), { name: 'InvalidRequestException', message: noToken });
    await assert.rejects(raw.send(new RotateSecretCommand({ SecretId: 'token/none' })), { name: 'InvalidParameterException', message: noToken });
    // Without a value there is no new version, and no token is needed.
    assert.ok((await raw.send(new CreateSecretCommand({ Name: 'token/empty' }))).ARN);
    await raw.send(new UpdateSecretCommand({ SecretId: 'token/empty', Description: 'described' }));
  } finally {
    raw.destroy();
  }

  // ForceDeleteWithoutRecovery on a secret that does not exist answers as if it had deleted it; without it, not found.
  const gone = await sm.send(new DeleteSecretCommand({ SecretId: 'never/existed', ForceDeleteWithoutRecovery: true }));
  assert.equal(gone.Name, 'never/existed');
  assert.match(gone.ARN!, /^arn:aws:secretsmanager:us-east-1:\d{12}:secret:never\/existed-[A-Za-z0-9]{6}$/);
  assert.ok(gone.DeletionDate instanceof Date);
  await assert.rejects(sm.send(new DeleteSecretCommand({ SecretId: 'never/existed' })), { name: 'ResourceNotFoundException' });

  // A rotation function that cannot be invoked: AccessDeniedException, and the secret's rotation is left as it was.
  const account = (await sm.send(new CreateSecretCommand({ Name: 'rotate/nofunction', SecretString: 'x' }))).ARN!.split(':')[4]!;
  await assert.rejects(
    sm.send(new RotateSecretCommand({ SecretId: 'rotate/nofunction', RotationLambdaARN: `arn:aws:lambda:us-east-1:${account}:function:missing`, RotationRules: { AutomaticallyAfterDays: 1 } })),
    awsError('AccessDeniedException', 'Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.'),
  );
  const d = await sm.send(new DescribeSecretCommand({ SecretId: 'rotate/nofunction' }));
  assert.equal(d.RotationEnabled, undefined);
  assert.equal(d.RotationLambdaARN, undefined);
  assert.equal(d.RotationRules, undefined);
  assert.deepEqual(Object.values(d.VersionIdsToStages!), [['AWSCURRENT']], 'no version staged');
});

test('ListSecrets filters match as AWS matches them: each word of the value begins a word; names and tags in their case, descriptions in any', async () => {
  const n = randomBytes(3).toString('hex');
  const s1 = `testing1/one-${n}`;
  const s2 = `/testing2/two-${n}`;
  const s3 = `testing3/three-${n}`;
  const s4 = `/testing4/four-${n}`;
  await sm.send(new CreateSecretCommand({ Name: s1, SecretString: 's', Description: 'a secret', Tags: [{ Key: 'Production', Value: 'Kiosk db' }] }));
  await sm.send(new CreateSecretCommand({ Name: s2, SecretString: 's', Description: 'an secret', Tags: [{ Key: 'prod', Value: 'kiosk' }] }));
  await sm.send(new CreateSecretCommand({ Name: s3, SecretString: 's', Description: 'asecret' }));
  await sm.send(new CreateSecretCommand({ Name: s4, SecretString: 's', Description: 'TheSecret of mine' }));
  const ours = new Set([s1, s2, s3, s4]);
  const found = async (...filters: Array<{ Key: string; Values: string[] }>) =>
    ((await sm.send(new ListSecretsCommand({ Filters: filters as never }))).SecretList ?? []).map((x) => x.Name!).filter((x) => ours.has(x)).sort();
  const sorted = (...names: string[]) => [...names].sort();
  assert.deepEqual(await found({ Key: 'name', Values: ['/'] }), sorted(s2, s4));
  assert.deepEqual(await found({ Key: 'name', Values: ['!/'] }), sorted(s1, s3));
  assert.deepEqual(await found({ Key: 'name', Values: ['testing1 one'] }), [], 'a name is one word');
  assert.deepEqual(await found({ Key: 'name', Values: ['Testing1'] }), [], 'names match in their case');
  assert.deepEqual(await found({ Key: 'name', Values: ['testing1', 'testing3'] }), sorted(s1, s3), 'any value');
  assert.deepEqual(await found({ Key: 'description', Values: ['a'] }), sorted(s1, s2, s3));
  assert.deepEqual(await found({ Key: 'description', Values: ['!a'] }), [s4]);
  assert.deepEqual(await found({ Key: 'description', Values: ['a secret'] }), sorted(s1, s2), 'every word begins a word');
  assert.deepEqual(await found({ Key: 'description', Values: ['MINE the'] }), [s4], 'any case, any order');
  assert.deepEqual(await found({ Key: 'description', Values: ['!c'] }), sorted(s1, s2, s3, s4));
  assert.deepEqual(await found({ Key: 'description', Values: ['a'] }, { Key: 'name', Values: ['secret'] }), [], 'every filter');
  assert.deepEqual(await found({ Key: 'description', Values: ['a'] }, { Key: 'name', Values: ['/'] }), [s2]);
  assert.deepEqual(await found({ Key: 'tag-key', Values: ['Prod'] }), [s1], 'tag keys in their case');
  assert.deepEqual(await found({ Key: 'tag-value', Values: ['kiosk'] }), [s2]);
  assert.deepEqual(await found({ Key: 'tag-value', Values: ['db'] }), [s1], 'a word of the tag value');
  assert.deepEqual(await found({ Key: 'all', Values: ['kiosk'] }), sorted(s1, s2), 'all: any attribute, any case');
  assert.deepEqual(await found({ Key: 'all', Values: ['testing4Four'] }), [s4], 'all: keywords split at case changes');
});

test('DeleteSecret with a recovery window, RestoreSecret, ForceDeleteWithoutRecovery', async () => {
  await sm.send(new CreateSecretCommand({ Name: 'temp/one', SecretString: 'one' }));
  const del = await sm.send(new DeleteSecretCommand({ SecretId: 'temp/one', RecoveryWindowInDays: 7 }));
  assert.ok(del.DeletionDate!.getTime() > Date.now() + 6 * 24 * 3600 * 1000, 'seven days from now');
  await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'temp/one' })), { name: 'InvalidRequestException' });
  await assert.rejects(sm.send(new CreateSecretCommand({ Name: 'temp/one', SecretString: 'x' })), { name: 'InvalidRequestException' });
  assert.ok((await sm.send(new DescribeSecretCommand({ SecretId: 'temp/one' }))).DeletedDate, 'DeletedDate');
  assert.equal((await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['temp/'] }] }))).SecretList!.length, 0, 'hidden from ListSecrets');
  await sm.send(new RestoreSecretCommand({ SecretId: 'temp/one' }));
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'temp/one' }))).SecretString, 'one');
  await assert.rejects(sm.send(new DeleteSecretCommand({ SecretId: 'temp/one', RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true })), { name: 'InvalidParameterException' });
  await sm.send(new DeleteSecretCommand({ SecretId: 'temp/one', ForceDeleteWithoutRecovery: true }));
  await assert.rejects(sm.send(new DescribeSecretCommand({ SecretId: 'temp/one' })), { name: 'ResourceNotFoundException' });
});

test('rotation through a registered function moves the stages; a failing testSecret leaves AWSCURRENT, and the next RotateSecret reattempts', async () => {
  const iam = new IAMClient(t.clientConfig());
  const account = (await sm.send(new CreateSecretCommand({ Name: 'rotate/me', SecretString: JSON.stringify({ generation: 0 }) }))).ARN!.split(':')[4]!;
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'secretsmanager.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  const role = await iam.send(new CreateRoleCommand({ RoleName: 'rotator', AssumeRolePolicyDocument: trust }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'rotator', PolicyName: 'rotate', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: `arn:aws:secretsmanager:us-east-1:${account}:secret:rotate/*` }] }) }));
  iam.destroy();
  const register = async (name: string, extra: string[]) => {
    const r = await exec(process.execPath, [join(REPO, 'bin/trent.mjs'), 'secrets', 'register-rotation-function', '--data-dir', t.dataDir, '--name', name, '--command', process.execPath, '--arg', join(REPO, 'test/fixtures/rotation-function.mjs'), ...extra, '--role', role.Role!.Arn!]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const good = await register('rotate-good', []);
  const failing = await register('rotate-failing', ['--arg=--fail-test']);
  assert.equal(good, `arn:aws:lambda:us-east-1:${account}:function:rotate-good`);

  const first = (await stagesOf('rotate/me'));
  const original = Object.keys(first)[0]!;
  const rotated = await sm.send(new RotateSecretCommand({ SecretId: 'rotate/me', RotationLambdaARN: good, RotationRules: { AutomaticallyAfterDays: 30 } }));
  const waitFor = async (pred: (s: Record<string, string[]>) => boolean, label: string) => {
    for (let i = 0; i < 300; i++) {
      const s = await stagesOf('rotate/me');
      if (pred(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${label}: stages never settled: ${JSON.stringify(await stagesOf('rotate/me'))}`);
  };
  const settled = (x: Record<string, string[]>, v: string) => x[v]?.includes('AWSCURRENT') === true && !Object.values(x).some((st) => st.includes('AWSPENDING'));
  let s = await waitFor((x) => settled(x, rotated.VersionId!), 'good rotation');
  assert.deepEqual(s[rotated.VersionId!], ['AWSCURRENT'], 'AWSPENDING removed after finishSecret');
  assert.deepEqual(s[original], ['AWSPREVIOUS']);
  assert.equal(JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'rotate/me' }))).SecretString!).generation, 1);
  const d = await sm.send(new DescribeSecretCommand({ SecretId: 'rotate/me' }));
  assert.equal(d.RotationEnabled, true);
  assert.ok(d.LastRotatedDate && d.NextRotationDate && d.NextRotationDate.getTime() > Date.now() + 29 * 24 * 3600 * 1000, 'next rotation in 30 days');

  // A failing testSecret: AWSPENDING stays on the new version, AWSCURRENT does not move.
  const failed = await sm.send(new RotateSecretCommand({ SecretId: 'rotate/me', RotationLambdaARN: failing }));
  s = await waitFor((x) => x[failed.VersionId!]?.includes('AWSPENDING') === true, 'failing rotation creates AWSPENDING');
  await new Promise((r) => setTimeout(r, 1500));
  s = await stagesOf('rotate/me');
  assert.deepEqual(s[rotated.VersionId!], ['AWSCURRENT'], 'AWSCURRENT unchanged after the failed testSecret');
  assert.deepEqual(s[failed.VersionId!], ['AWSPENDING']);
  // The next RotateSecret sees the unfinished rotation, says so, and reattempts it (now with the good function). On a
  // loaded machine the failing attempt may still be running at the first call, which then only says so: ask again.
  for (let i = 0; i < 30 && !settled(await stagesOf('rotate/me'), failed.VersionId!); i++) {
    await assert.rejects(sm.send(new RotateSecretCommand({ SecretId: 'rotate/me', RotationLambdaARN: good })), { name: 'InvalidRequestException', message: /previous rotation isn't complete/ });
    await new Promise((r) => setTimeout(r, 2000));
  }
  s = await waitFor((x) => settled(x, failed.VersionId!), 'reattempted rotation');
  assert.deepEqual(s[failed.VersionId!], ['AWSCURRENT']);
  assert.deepEqual(s[rotated.VersionId!], ['AWSPREVIOUS']);
  assert.equal(JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'rotate/me' }))).SecretString!).generation, 2);
  await sm.send(new CancelRotateSecretCommand({ SecretId: 'rotate/me' }));
  assert.equal((await sm.send(new DescribeSecretCommand({ SecretId: 'rotate/me' }))).RotationEnabled, false);
  await assert.rejects(sm.send(new RotateSecretCommand({ SecretId: 'rotate/me', RotationLambdaARN: `arn:aws:lambda:us-east-1:${account}:function:unregistered` })), { name: 'AccessDeniedException' });
});

test("a rotation function in the shape of AWS's single-user template runs unchanged: its token is AWSPENDING before createSecret, all four steps run, labels end as on AWS", async () => {
  const iam = new IAMClient(t.clientConfig());
  const first = { username: 'kiosk', password: 'first-password', host: 'db.internal' };
  const created = await sm.send(new CreateSecretCommand({ Name: 'kiosk/db', SecretString: JSON.stringify(first) }));
  const account = created.ARN!.split(':')[4]!;
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'secretsmanager.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  const role = await iam.send(new CreateRoleCommand({ RoleName: 'template-rotator', AssumeRolePolicyDocument: trust }));
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: 'template-rotator',
      PolicyName: 'rotate',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'], Resource: `arn:aws:secretsmanager:us-east-1:${account}:secret:kiosk/*` },
          { Effect: 'Allow', Action: 'secretsmanager:GetRandomPassword', Resource: '*' },
        ],
      }),
    }),
  );
  iam.destroy();
  // The service whose password rotates: a password file of salted scrypt hashes, as the example reads it.
  const storeDir = await mkdtemp(join(tmpdir(), 'trent-rotation-'));
  const store = join(storeDir, 'passwords.json');
  const hashed = (password: string) => {
    const salt = randomBytes(16);
    return { salt: salt.toString('hex'), hash: scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1 }).toString('hex') };
  };
  const logsIn = async (password: string) => {
    const entry = JSON.parse(await readFile(store, 'utf8')).users.kiosk as { salt: string; hash: string };
    return scryptSync(password, Buffer.from(entry.salt, 'hex'), 32, { N: 16384, r: 8, p: 1 }).toString('hex') === entry.hash;
  };
  await writeFile(store, JSON.stringify({ users: { kiosk: hashed(first.password) } }));
  try {
    const python = (await exec('python3', ['-c', 'import sys; print(sys.executable)'])).stdout.trim();
    const reg = await exec(process.execPath, [
      join(REPO, 'bin/trent.mjs'), 'secrets', 'register-rotation-function', '--data-dir', t.dataDir, '--name', 'single-user', '--command', python,
      '--arg', join(REPO, 'examples/rotation/single_user_rotation.py'), '--arg', `PASSWORD_STORE=${store}`, '--role', role.Role!.Arn!,
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    const original = Object.keys(await stagesOf('kiosk/db'))[0]!;
    const rotated = await sm.send(new RotateSecretCommand({ SecretId: 'kiosk/db', RotationLambdaARN: reg.stdout.trim(), RotationRules: { AutomaticallyAfterDays: 30 } }));
    // Staged before the function ran (or, on a fast machine, already current): the template's first check passes.
    const early = (await stagesOf('kiosk/db'))[rotated.VersionId!] ?? [];
    assert.ok(early.includes('AWSPENDING') || early.includes('AWSCURRENT'), `the token is staged when RotateSecret answers: ${JSON.stringify(early)}`);
    let stages: Record<string, string[]> = {};
    for (let i = 0; i < 600; i++) {
      stages = await stagesOf('kiosk/db');
      if (stages[rotated.VersionId!]?.includes('AWSCURRENT') && !Object.values(stages).some((st) => st.includes('AWSPENDING'))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(stages[rotated.VersionId!], ['AWSCURRENT'], `rotated through all four steps: ${JSON.stringify(stages)}`);
    assert.deepEqual(stages[original], ['AWSPREVIOUS']);
    const now = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'kiosk/db' }))).SecretString!);
    assert.equal(now.username, 'kiosk');
    assert.equal(now.host, 'db.internal', 'other fields kept');
    assert.notEqual(now.password, first.password);
    assert.ok(await logsIn(now.password), 'setSecret changed the password in the service');
    assert.ok(!(await logsIn(first.password)), 'the old password no longer logs in');
    assert.equal(JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'kiosk/db', VersionStage: 'AWSPREVIOUS' }))).SecretString!).password, first.password);
    // A later value moves the labels: nothing is left AWSPENDING.
    const next = await sm.send(new PutSecretValueCommand({ SecretId: 'kiosk/db', SecretString: JSON.stringify({ ...now, password: 'set-by-hand' }) }));
    stages = await stagesOf('kiosk/db');
    assert.deepEqual(stages[next.VersionId!], ['AWSCURRENT']);
    assert.deepEqual(stages[rotated.VersionId!], ['AWSPREVIOUS']);
    assert.ok(!Object.values(stages).some((st) => st.includes('AWSPENDING')), JSON.stringify(stages));
  } finally {
    await rm(storeDir, { recursive: true, force: true });
  }
});

test('AWSCURRENT leaving a version that also holds AWSPENDING takes AWSPENDING with it (PutSecretValue and UpdateSecretVersionStage, as AWS answers)', async () => {
  const v0 = (await sm.send(new CreateSecretCommand({ Name: 'stages/pending', SecretString: 'S1' }))).VersionId!;
  const v1 = (await sm.send(new PutSecretValueCommand({ SecretId: 'stages/pending', SecretString: 'S2', VersionStages: ['AWSPENDING'] }))).VersionId!;
  await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'stages/pending', VersionStage: 'AWSCURRENT', MoveToVersionId: v1, RemoveFromVersionId: v0 }));
  let stages = await stagesOf('stages/pending');
  assert.deepEqual(stages[v1], ['AWSCURRENT', 'AWSPENDING'], 'moving AWSCURRENT onto the pending version keeps both labels there');
  assert.deepEqual(stages[v0], ['AWSPREVIOUS']);
  const v2 = (await sm.send(new PutSecretValueCommand({ SecretId: 'stages/pending', SecretString: 'S3' }))).VersionId!;
  stages = await stagesOf('stages/pending');
  assert.deepEqual(stages[v1], ['AWSPREVIOUS'], 'no AWSPENDING left behind');
  assert.deepEqual(stages[v2], ['AWSCURRENT']);
  const v3 = (await sm.send(new PutSecretValueCommand({ SecretId: 'stages/pending', SecretString: 'S4', VersionStages: ['AWSPENDING'] }))).VersionId!;
  await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'stages/pending', VersionStage: 'AWSCURRENT', MoveToVersionId: v3, RemoveFromVersionId: v2 }));
  await sm.send(new UpdateSecretVersionStageCommand({ SecretId: 'stages/pending', VersionStage: 'AWSCURRENT', MoveToVersionId: v2, RemoveFromVersionId: v3 }));
  stages = await stagesOf('stages/pending');
  assert.deepEqual(stages[v3], ['AWSPREVIOUS']);
  assert.deepEqual(stages[v2], ['AWSCURRENT']);
});

test('a customer managed key: disabling it makes GetSecretValue fail, enabling restores it', async () => {
  const kms = new KMSClient(t.clientConfig());
  const key = (await kms.send(new CreateKeyCommand({ Description: 'secrets' }))).KeyMetadata!.KeyId!;
  await sm.send(new CreateSecretCommand({ Name: 'cmk/secret', SecretString: 'under my key', KmsKeyId: key }));
  assert.equal((await sm.send(new DescribeSecretCommand({ SecretId: 'cmk/secret' }))).KmsKeyId, key);
  await kms.send(new DisableKeyCommand({ KeyId: key }));
  await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'cmk/secret' })), { name: 'DecryptionFailure', message: /is disabled/ });
  await assert.rejects(sm.send(new PutSecretValueCommand({ SecretId: 'cmk/secret', SecretString: 'x' })), { name: 'EncryptionFailure' });
  await kms.send(new EnableKeyCommand({ KeyId: key }));
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'cmk/secret' }))).SecretString, 'under my key');
  kms.destroy();
});

for (const cli of ['v1', 'v2'] as Cli[]) {
  test(`the AWS CLI ${cli}: create-secret, get-secret-value, put-secret-value, describe-secret`, { skip: cli === 'v2' && skipCliV2 }, async () => {
    const name = `cli/${cli}`;
    const run = async (args: string[]) => {
      const r = await aws(t, cli, ['secretsmanager', ...args, '--output', 'json']);
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
      return JSON.parse(r.stdout || '{}') as Record<string, unknown>;
    };
    await run(['create-secret', '--name', name, '--secret-string', `value-${cli}`]);
    assert.equal((await run(['get-secret-value', '--secret-id', name])).SecretString, `value-${cli}`);
    await run(['put-secret-value', '--secret-id', name, '--secret-string', 'next']);
    const d = await run(['describe-secret', '--secret-id', name]);
    assert.equal(Object.keys(d['VersionIdsToStages'] as object).length, 2);
    const missing = await aws(t, cli, ['secretsmanager', 'get-secret-value', '--secret-id', 'cli/none']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /ResourceNotFoundException/);
  });
}

test('boto3: binary secrets, get_secret_value, list_secrets', async () => {
  const script = `
import boto3, sys
sm = boto3.client('secretsmanager')
sm.create_secret(Name='boto3/binary', SecretBinary=bytes(range(256)))
v = sm.get_secret_value(SecretId='boto3/binary')
assert v['SecretBinary'] == bytes(range(256)), 'binary round trip'
names = [s['Name'] for s in sm.list_secrets(Filters=[{'Key': 'name', 'Values': ['boto3/']}])['SecretList']]
assert names == ['boto3/binary'], names
print('ok')
`;
  const r = await exec('python3', ['-c', script], t.cliEnv());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
});

test('the canary is nowhere on disk or in the trail; the trail shows GenerateDataKey and Decrypt with the SecretARN context', async () => {
  const hits: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if ((await readFile(p)).includes(CANARY)) hits.push(p);
    }
  };
  await walk(t.dataDir);
  assert.deepEqual(hits, [], 'no file holds the canary');
  const ct = new CloudTrailClient(t.clientConfig());
  for (const name of ['GenerateDataKey', 'Decrypt']) {
    const events = ((await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }] }))).Events ?? []).map((e) => JSON.parse(e.CloudTrailEvent!));
    const viaSm = events.filter((e) => e.userIdentity.invokedBy === 'secretsmanager.amazonaws.com');
    assert.ok(viaSm.length > 0, `${name} events made by Secrets Manager`);
    assert.ok(viaSm.every((e) => /^arn:aws:secretsmanager:/.test(e.requestParameters.encryptionContext.SecretARN) && e.requestParameters.encryptionContext.SecretVersionId), `${name} carries SecretARN and SecretVersionId`);
  }
  const all = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventSource', AttributeValue: 'secretsmanager.amazonaws.com' }], MaxResults: 50 }));
  assert.ok(!JSON.stringify(all.Events).includes(CANARY), 'no secret value in Secrets Manager events');
  ct.destroy();
});

test('scheduled rotation survives a restart: a rotation that fell due while Trent was down runs when it starts', async () => {
  const own = await startTrent();
  try {
    const c = new SecretsManagerClient(own.clientConfig());
    const iam = new IAMClient(own.clientConfig());
    const arn = (await c.send(new CreateSecretCommand({ Name: 'scheduled/db', SecretString: JSON.stringify({ generation: 0 }) }))).ARN!;
    const account = arn.split(':')[4]!;
    const role = await iam.send(new CreateRoleCommand({ RoleName: 'rotator', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'secretsmanager.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }));
    await iam.send(new PutRolePolicyCommand({ RoleName: 'rotator', PolicyName: 'rotate', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: '*' }] }) }));
    iam.destroy();
    const reg = await exec(process.execPath, [join(REPO, 'bin/trent.mjs'), 'secrets', 'register-rotation-function', '--data-dir', own.dataDir, '--name', 'nightly', '--command', process.execPath, '--arg', join(REPO, 'test/fixtures/rotation-function.mjs'), '--role', role.Role!.Arn!]);
    assert.equal(reg.code, 0, reg.stderr);
    await c.send(new RotateSecretCommand({ SecretId: 'scheduled/db', RotationLambdaARN: `arn:aws:lambda:us-east-1:${account}:function:nightly`, RotationRules: { ScheduleExpression: 'cron(0 3 * * ? *)' }, RotateImmediately: false }));
    const next = (await c.send(new DescribeSecretCommand({ SecretId: 'scheduled/db' }))).NextRotationDate!;
    assert.equal(next.getUTCHours(), 3, 'the cron schedule: 03:00 UTC');
    c.destroy();
    assert.equal(await own.stop(), 0);
    // Trent is down when the rotation falls due.
    const db = await own.openDb();
    await db.run('UPDATE sm_secrets SET next_rotation_at = ? WHERE arn = ?', [Date.now() - 60_000, arn]);
    await db.close();
    const again = await startTrent({ dataDir: own.dataDir });
    const c2 = new SecretsManagerClient(again.clientConfig());
    try {
      let generation = 0;
      for (let i = 0; i < 100 && generation === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        generation = JSON.parse((await c2.send(new GetSecretValueCommand({ SecretId: 'scheduled/db' }))).SecretString!).generation;
      }
      assert.equal(generation, 1, 'rotated after the restart');
      // The new value is current once finishSecret has moved AWSCURRENT; Trent's own bookkeeping (the next
      // rotation date) commits just after, which on a networked database can be a moment later.
      let next = 0;
      for (let i = 0; i < 50 && next <= Date.now(); i++) {
        if (i) await new Promise((r) => setTimeout(r, 100));
        next = (await c2.send(new DescribeSecretCommand({ SecretId: 'scheduled/db' }))).NextRotationDate!.getTime();
      }
      assert.ok(next > Date.now(), 'the next run is scheduled');
    } finally {
      c2.destroy();
      await again.stop();
    }
  } finally {
    await removeDir(own.dataDir);
  }
});
