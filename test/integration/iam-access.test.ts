// IAM beyond inline policies, through real clients: groups, customer managed policies and their versions, tags on
// users and roles with aws:PrincipalTag / aws:ResourceTag / aws:RequestTag / aws:TagKeys, permissions boundaries and
// AssumeRole session policies and session tags, each narrowing or widening access as AWS documents; managed through the JS SDK,
// boto3, the AWS CLI and trent admin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  IAMClient,
  CreateUserCommand,
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  CreateGroupCommand,
  GetGroupCommand,
  AddUserToGroupCommand,
  RemoveUserFromGroupCommand,
  PutGroupPolicyCommand,
  DeleteGroupCommand,
  DeleteGroupPolicyCommand,
  ListGroupsForUserCommand,
  CreatePolicyCommand,
  AttachGroupPolicyCommand,
  DetachGroupPolicyCommand,
  TagUserCommand,
  UntagUserCommand,
  GetUserCommand,
  PutUserPolicyCommand,
  PutUserPermissionsBoundaryCommand,
  DeleteUserPermissionsBoundaryCommand,
  DeletePolicyCommand,
  CreateRoleCommand,
  PutRolePolicyCommand,
  PutRolePermissionsBoundaryCommand,
  GetRoleCommand,
  TagRoleCommand,
} from '@aws-sdk/client-iam';
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, TagResourceCommand } from '@aws-sdk/client-kms';
import { S3Client, CreateBucketCommand, PutBucketTaggingCommand, ListObjectsV2Command, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { SecretsManagerClient, CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { startTrent, removeDir, REPO, type RunningTrent } from '../helpers/trent.ts';
import { exec } from '../helpers/assert.ts';

let t: RunningTrent;
let iam: IAMClient;
let kms: KMSClient;
let accountId: string;
let keyId: string;
const users: Record<string, { accessKeyId: string; secretAccessKey: string; arn: string }> = {};

const doc = (...statements: Array<Record<string, unknown>>) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const allow = (action: string | string[], extra: Record<string, unknown> = {}) => ({ Effect: 'Allow', Action: action, Resource: '*', ...extra });
/** IAM changes reach evaluation within a second (policies are cached that long), as IAM's eventual consistency allows. */
const settle = () => new Promise((r) => setTimeout(r, 1100));

async function newUser(name: string, tags?: Array<{ Key: string; Value: string }>): Promise<void> {
  const u = await iam.send(new CreateUserCommand({ UserName: name, ...(tags ? { Tags: tags } : {}) }));
  const k = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
  users[name] = { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn! };
}

function as(name: string): Record<string, unknown> {
  const u = users[name]!;
  return t.clientConfig({ credentials: { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey } });
}

async function denied(call: Promise<unknown>, pattern: RegExp, label: string): Promise<void> {
  const outcome = await call.then(
    () => undefined,
    (err: { name: string; message: string }) => err,
  );
  assert.ok(outcome, `${label}: expected a denial, but the call succeeded`);
  assert.match(outcome.name, /^AccessDenied(Exception)?$/, `${label}: ${outcome.name}: ${outcome.message}`);
  assert.match(outcome.message, pattern, `${label}: message`);
}

const encrypt = (k: KMSClient, key = keyId) => k.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') }));

async function boto3(script: string, creds = { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey }): Promise<Record<string, unknown>> {
  const head = String.raw`
import json, os, boto3, botocore
cfg = dict(endpoint_url=os.environ['EP'], verify=os.environ['CA'], region_name=os.environ['REGION'], aws_access_key_id=os.environ['AK'],
           aws_secret_access_key=os.environ['SK'], config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
iam = boto3.client('iam', **cfg)
def error(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
    return None
`;
  const r = await exec('python3', ['-c', head + script], {
    ...process.env,
    EP: t.endpoint,
    CA: t.caPath,
    AK: creds.accessKeyId,
    SK: creds.secretAccessKey,
    REGION: t.region,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });
  assert.equal(r.code, 0, `the boto3 script failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

before(async () => {
  t = await startTrent();
  iam = new IAMClient(t.clientConfig());
  kms = new KMSClient(t.clientConfig());
  const key = await kms.send(new CreateKeyCommand({ Description: 'iam features' }));
  keyId = key.KeyMetadata!.KeyId!;
  accountId = key.KeyMetadata!.AWSAccountId!;
});
after(async () => {
  iam?.destroy();
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

test('groups: a group inline policy and an attached managed policy apply to its members and stop applying when they leave', async () => {
  await newUser('member');
  await newUser('outsider');
  const group = (await iam.send(new CreateGroupCommand({ GroupName: 'tellers', Path: '/bank/' }))).Group!;
  assert.equal(group.Arn, `arn:aws:iam::${accountId}:group/bank/tellers`);
  assert.match(group.GroupId!, /^AGPA[A-Z0-9]{17}$/);
  await assert.rejects(iam.send(new CreateGroupCommand({ GroupName: 'tellers' })), { name: 'EntityAlreadyExistsException' });
  await iam.send(new AddUserToGroupCommand({ GroupName: 'tellers', UserName: 'member' }));
  await iam.send(new PutGroupPolicyCommand({ GroupName: 'tellers', PolicyName: 'encrypt', PolicyDocument: doc(allow('kms:Encrypt')) }));
  const decrypt = (await iam.send(new CreatePolicyCommand({ PolicyName: 'decrypt', PolicyDocument: doc(allow('kms:Decrypt')) }))).Policy!;
  await iam.send(new AttachGroupPolicyCommand({ GroupName: 'tellers', PolicyArn: decrypt.Arn! }));
  await settle();
  const member = new KMSClient(as('member'));
  const outsider = new KMSClient(as('outsider'));
  const blob = (await encrypt(member)).CiphertextBlob!;
  assert.equal(Buffer.from((await member.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'x', 'the attached managed policy allows Decrypt');
  await denied(encrypt(outsider), /because no identity-based policy allows the kms:Encrypt action/, 'not in the group');
  const got = await iam.send(new GetGroupCommand({ GroupName: 'tellers' }));
  assert.deepEqual(got.Users!.map((u) => u.UserName), ['member']);
  assert.deepEqual((await iam.send(new ListGroupsForUserCommand({ UserName: 'member' }))).Groups!.map((g) => g.GroupName), ['tellers']);
  // A user in a group, a group with members or policies, cannot be deleted.
  await iam.send(new DeleteAccessKeyCommand({ UserName: 'member', AccessKeyId: users['member']!.accessKeyId }));
  await assert.rejects(iam.send(new DeleteUserCommand({ UserName: 'member' })), { name: 'DeleteConflictException' });
  await assert.rejects(iam.send(new DeleteGroupCommand({ GroupName: 'tellers' })), { name: 'DeleteConflictException' });
  await iam.send(new RemoveUserFromGroupCommand({ GroupName: 'tellers', UserName: 'member' }));
  await assert.rejects(iam.send(new DeleteGroupCommand({ GroupName: 'tellers' })), { name: 'DeleteConflictException' });
  await iam.send(new DeleteGroupPolicyCommand({ GroupName: 'tellers', PolicyName: 'encrypt' }));
  await iam.send(new DetachGroupPolicyCommand({ GroupName: 'tellers', PolicyArn: decrypt.Arn! }));
  await iam.send(new DeleteGroupCommand({ GroupName: 'tellers' }));
  await iam.send(new DeleteUserCommand({ UserName: 'member' }));
  // Leaving the group takes its access away.
  await newUser('leaver');
  await iam.send(new CreateGroupCommand({ GroupName: 'clerks' }));
  await iam.send(new AddUserToGroupCommand({ GroupName: 'clerks', UserName: 'leaver' }));
  await iam.send(new PutGroupPolicyCommand({ GroupName: 'clerks', PolicyName: 'encrypt', PolicyDocument: doc(allow('kms:Encrypt')) }));
  await settle();
  const leaver = new KMSClient(as('leaver'));
  assert.ok((await encrypt(leaver)).CiphertextBlob);
  await iam.send(new RemoveUserFromGroupCommand({ GroupName: 'clerks', UserName: 'leaver' }));
  await settle();
  await denied(encrypt(leaver), /no identity-based policy allows/, 'after leaving the group');
  member.destroy();
  outsider.destroy();
  leaver.destroy();
});

test('managed policies through boto3: versions decide what is evaluated, quotas and delete conflicts hold', async () => {
  await newUser('analyst');
  const out = await boto3(String.raw`
user = 'analyst'
p = iam.create_policy(PolicyName='kms-use', Path='/apps/', Description='encrypt only', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'kms:Encrypt', 'Resource': '*'}]}))['Policy']
arn = p['Arn']
iam.attach_user_policy(UserName=user, PolicyArn=arn)
iam.attach_user_policy(UserName=user, PolicyArn=arn)
v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': ['kms:Encrypt', 'kms:Decrypt'], 'Resource': '*'}]}), SetAsDefault=False)['PolicyVersion']
got = iam.get_policy(PolicyArn=arn)['Policy']
versions = iam.list_policy_versions(PolicyArn=arn)['Versions']
v1doc = iam.get_policy_version(PolicyArn=arn, VersionId='v1')['PolicyVersion']['Document']
for i in range(3):
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'kms:Encrypt', 'Resource': '*'}]}))
print(json.dumps({
  'policy': {k: got[k] for k in ('PolicyName', 'Path', 'DefaultVersionId', 'AttachmentCount', 'Description', 'IsAttachable')},
  'v2': [v2['VersionId'], v2['IsDefaultVersion']],
  'versions': sorted(v['VersionId'] for v in versions),
  'v1doc': v1doc,
  'sixth': error(iam.create_policy_version, PolicyArn=arn, PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'kms:Encrypt', 'Resource': '*'}]})),
  'deleteDefault': error(iam.delete_policy_version, PolicyArn=arn, VersionId='v1'),
  'duplicate': error(iam.create_policy, PolicyName='kms-use', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'kms:Encrypt', 'Resource': '*'}]})),
  'attachedToUser': iam.list_attached_user_policies(UserName=user)['AttachedPolicies'],
  'entities': [u['UserName'] for u in iam.list_entities_for_policy(PolicyArn=arn)['PolicyUsers']],
  'deleteAttached': error(iam.delete_policy, PolicyArn=arn),
  'awsManaged': error(iam.attach_user_policy, UserName=user, PolicyArn='arn:aws:iam::aws:policy/AdministratorAccess'),
  'tooBig': error(iam.create_policy, PolicyName='huge', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'kms:Encrypt', 'Resource': 'arn:aws:kms:us-east-1:111122223333:key/' + 'a' * 7000}]})),
  'arn': arn,
}))
`);
  assert.deepEqual(out['policy'], { PolicyName: 'kms-use', Path: '/apps/', DefaultVersionId: 'v1', AttachmentCount: 1, Description: 'encrypt only', IsAttachable: true });
  assert.deepEqual(out['v2'], ['v2', false]);
  assert.deepEqual(out['versions'], ['v1', 'v2']);
  assert.deepEqual(out['v1doc'], { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' }] }, 'boto3 decodes the document');
  assert.deepEqual((out['sixth'] as unknown[]).slice(0, 2), ['LimitExceeded', 409]);
  assert.deepEqual((out['deleteDefault'] as unknown[]).slice(0, 2), ['DeleteConflict', 409]);
  assert.deepEqual((out['duplicate'] as unknown[]).slice(0, 2), ['EntityAlreadyExists', 409]);
  assert.deepEqual(out['attachedToUser'], [{ PolicyName: 'kms-use', PolicyArn: out['arn'] }]);
  assert.deepEqual(out['entities'], ['analyst']);
  assert.deepEqual((out['deleteAttached'] as unknown[]).slice(0, 2), ['DeleteConflict', 409]);
  assert.deepEqual((out['awsManaged'] as unknown[]).slice(0, 2), ['NoSuchEntity', 404]);
  assert.deepEqual((out['tooBig'] as unknown[]).slice(0, 2), ['LimitExceeded', 409]);
  const arn = out['arn'] as string;

  // The default version is what applies: v1 allows Encrypt only; making v2 the default allows Decrypt too.
  await settle();
  const analyst = new KMSClient(as('analyst'));
  const blob = (await encrypt(analyst)).CiphertextBlob!;
  await denied(analyst.send(new DecryptCommand({ CiphertextBlob: blob })), /kms:Decrypt/, 'v1 is the default');
  const switched = await boto3(String.raw`
iam.set_default_policy_version(PolicyArn='${arn}', VersionId='v2')
print(json.dumps({'default': iam.get_policy(PolicyArn='${arn}')['Policy']['DefaultVersionId']}))
`);
  assert.equal(switched['default'], 'v2');
  await settle();
  assert.ok((await analyst.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext, 'v2 is the default');
  // Detached, it stops applying; then it can be deleted with its versions.
  const cleaned = await boto3(String.raw`
arn = '${arn}'
iam.detach_user_policy(UserName='analyst', PolicyArn=arn)
result = {'again': error(iam.detach_user_policy, UserName='analyst', PolicyArn=arn), 'versionsLeft': error(iam.delete_policy, PolicyArn=arn)}
for v in iam.list_policy_versions(PolicyArn=arn)['Versions']:
    if not v['IsDefaultVersion']:
        iam.delete_policy_version(PolicyArn=arn, VersionId=v['VersionId'])
iam.delete_policy(PolicyArn=arn)
result['gone'] = error(iam.get_policy, PolicyArn=arn)
print(json.dumps(result))
`);
  assert.deepEqual((cleaned['again'] as unknown[]).slice(0, 2), ['NoSuchEntity', 404]);
  assert.deepEqual((cleaned['versionsLeft'] as unknown[]).slice(0, 2), ['DeleteConflict', 409]);
  assert.deepEqual((cleaned['gone'] as unknown[]).slice(0, 2), ['NoSuchEntity', 404]);
  await settle();
  await denied(encrypt(analyst), /no identity-based policy allows/, 'after detaching');
  analyst.destroy();
});

test('tags on users and roles: aws:PrincipalTag against aws:ResourceTag on KMS keys, secrets and buckets; aws:RequestTag and aws:TagKeys', async () => {
  await newUser('blue', [{ Key: 'team', Value: 'blue' }]);
  assert.deepEqual((await iam.send(new GetUserCommand({ UserName: 'blue' }))).User!.Tags, [{ Key: 'team', Value: 'blue' }]);
  const sameTeam = { Condition: { StringEquals: { 'aws:ResourceTag/team': '${aws:PrincipalTag/team}' } } };
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'blue',
      PolicyName: 'abac',
      PolicyDocument: doc(
        allow(['kms:Encrypt', 'secretsmanager:GetSecretValue', 's3:ListBucket'], sameTeam),
        // New keys only with the creator's team tag, and no other tag.
        allow('kms:CreateKey', { Condition: { StringEquals: { 'aws:RequestTag/team': '${aws:PrincipalTag/team}' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } } }),
      ),
    }),
  );
  const blueKey = (await kms.send(new CreateKeyCommand({ Description: 'blue', Tags: [{ TagKey: 'team', TagValue: 'blue' }] }))).KeyMetadata!.KeyId!;
  const redKey = (await kms.send(new CreateKeyCommand({ Description: 'red', Tags: [{ TagKey: 'team', TagValue: 'red' }] }))).KeyMetadata!.KeyId!;
  const sm = new SecretsManagerClient(t.clientConfig());
  const blueSecret = (await sm.send(new CreateSecretCommand({ Name: 'blue-db', SecretString: 'blue secret', Tags: [{ Key: 'team', Value: 'blue' }] }))).ARN!;
  const redSecret = (await sm.send(new CreateSecretCommand({ Name: 'red-db', SecretString: 'red secret', Tags: [{ Key: 'team', Value: 'red' }] }))).ARN!;
  const s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  for (const team of ['blue', 'red']) {
    await s3.send(new CreateBucketCommand({ Bucket: `${team}-team` }));
    await s3.send(new PutBucketTaggingCommand({ Bucket: `${team}-team`, Tagging: { TagSet: [{ Key: 'team', Value: team }] } }));
  }
  await settle();
  const k = new KMSClient(as('blue'));
  const s = new SecretsManagerClient(as('blue'));
  const b = new S3Client({ ...as('blue'), forcePathStyle: true });
  assert.ok((await encrypt(k, blueKey)).CiphertextBlob, 'a blue key');
  await denied(encrypt(k, redKey), /kms:Encrypt/, 'a red key');
  assert.equal((await s.send(new GetSecretValueCommand({ SecretId: blueSecret }))).SecretString, 'blue secret');
  await denied(s.send(new GetSecretValueCommand({ SecretId: redSecret })), /secretsmanager:GetSecretValue/, 'a red secret');
  assert.ok(await b.send(new ListObjectsV2Command({ Bucket: 'blue-team' })), 'a blue bucket');
  await denied(b.send(new ListObjectsV2Command({ Bucket: 'red-team' })), /Access Denied|not authorized/, 'a red bucket');
  // aws:RequestTag and aws:TagKeys on CreateKey.
  assert.ok((await k.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'blue' }] }))).KeyMetadata);
  await denied(k.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'red' }] })), /kms:CreateKey/, 'another team');
  await denied(k.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'blue' }, { TagKey: 'cost', TagValue: '1' }] })), /kms:CreateKey/, 'another tag key');
  // A tag moved to the key moves access with it; untagging the user takes it away.
  await kms.send(new TagResourceCommand({ KeyId: redKey, Tags: [{ TagKey: 'team', TagValue: 'blue' }] }));
  assert.ok((await encrypt(k, redKey)).CiphertextBlob, 'the retagged key');
  await iam.send(new UntagUserCommand({ UserName: 'blue', TagKeys: ['TEAM'] }));
  await settle();
  await denied(encrypt(k, blueKey), /kms:Encrypt/, 'the untagged user');
  assert.equal((await iam.send(new GetUserCommand({ UserName: 'blue' }))).User!.Tags, undefined, 'tag keys are matched without regard to case');
  await iam.send(new TagUserCommand({ UserName: 'blue', Tags: [{ Key: 'team', Value: 'blue' }] }));
  await assert.rejects(iam.send(new TagUserCommand({ UserName: 'blue', Tags: [{ Key: 'aws:team', Value: 'x' }] })), { name: 'InvalidInputException' });

  // A role's tags are its sessions' aws:PrincipalTag.
  const trust = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' });
  const role = (await iam.send(new CreateRoleCommand({ RoleName: 'blue-role', AssumeRolePolicyDocument: trust, Tags: [{ Key: 'team', Value: 'red' }] }))).Role!;
  await iam.send(new TagRoleCommand({ RoleName: 'blue-role', Tags: [{ Key: 'team', Value: 'blue' }] }));
  assert.deepEqual((await iam.send(new GetRoleCommand({ RoleName: 'blue-role' }))).Role!.Tags, [{ Key: 'team', Value: 'blue' }]);
  await iam.send(new PutRolePolicyCommand({ RoleName: 'blue-role', PolicyName: 'abac', PolicyDocument: doc(allow('kms:Encrypt', sameTeam)) }));
  const c = (await new STSClient(t.clientConfig()).send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 'blue' }))).Credentials!;
  const session = new KMSClient(t.clientConfig({ credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } }));
  assert.ok((await encrypt(session, blueKey)).CiphertextBlob);
  await denied(encrypt(session, (await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'green' }] }))).KeyMetadata!.KeyId!), /kms:Encrypt/, 'a green key');
  for (const x of [k, s, b, sm, s3, session]) x.destroy();
});

test('permissions boundaries limit identity policies but not a resource policy that names the user; for a role, one that names the role', async () => {
  await newUser('bounded');
  const boundary = (await iam.send(new CreatePolicyCommand({ PolicyName: 'encrypt-only', PolicyDocument: doc(allow('kms:Encrypt')) }))).Policy!;
  await iam.send(new PutUserPolicyCommand({ UserName: 'bounded', PolicyName: 'much', PolicyDocument: doc(allow(['kms:*', 's3:*'])) }));
  await iam.send(new PutUserPermissionsBoundaryCommand({ UserName: 'bounded', PermissionsBoundary: boundary.Arn! }));
  const got = (await iam.send(new GetUserCommand({ UserName: 'bounded' }))).User!;
  assert.deepEqual(got.PermissionsBoundary, { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: boundary.Arn });
  await settle();
  const k = new KMSClient(as('bounded'));
  const blob = (await encrypt(k)).CiphertextBlob!;
  await denied(k.send(new DecryptCommand({ CiphertextBlob: blob })), /because no permissions boundary allows the kms:Decrypt action/, 'outside the boundary');
  // A bucket policy that names the user allows it beyond its boundary (AWS: within an account, a boundary does not limit what a resource policy grants the user).
  const s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: 'bounded-drop' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'bounded-other' }));
  await s3.send(new PutBucketPolicyCommand({ Bucket: 'bounded-drop', Policy: doc({ Effect: 'Allow', Principal: { AWS: users['bounded']!.arn }, Action: 's3:PutObject', Resource: 'arn:aws:s3:::bounded-drop/*' }) }));
  const b = new S3Client({ ...as('bounded'), forcePathStyle: true });
  await b.send(new PutObjectCommand({ Bucket: 'bounded-drop', Key: 'note', Body: 'x' }));
  await denied(b.send(new PutObjectCommand({ Bucket: 'bounded-other', Key: 'note', Body: 'x' })), /Access Denied|not authorized/, 'identity policy alone, outside the boundary');
  // The boundary is in use: its policy cannot be deleted; without it, the identity policy applies in full.
  await assert.rejects(iam.send(new DeletePolicyCommand({ PolicyArn: boundary.Arn! })), { name: 'DeleteConflictException' });
  await iam.send(new DeleteUserPermissionsBoundaryCommand({ UserName: 'bounded' }));
  await settle();
  assert.ok((await k.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext, 'no boundary');
  assert.equal((await iam.send(new GetUserCommand({ UserName: 'bounded' }))).User!.PermissionsBoundary, undefined);

  // A role with a boundary: a key policy naming the role is limited by it; one naming the session is not.
  const trust = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' });
  const role = (await iam.send(new CreateRoleCommand({ RoleName: 'bounded-role', AssumeRolePolicyDocument: trust, PermissionsBoundary: boundary.Arn! }))).Role!;
  assert.equal((await iam.send(new GetRoleCommand({ RoleName: 'bounded-role' }))).Role!.PermissionsBoundary!.PermissionsBoundaryArn, boundary.Arn);
  const admin = (await new STSClient(t.clientConfig()).send(new GetCallerIdentityCommand({}))).Arn!;
  const sessionArn = `arn:aws:sts::${accountId}:assumed-role/bounded-role/desk`;
  const keyFor = async (who: string) =>
    (
      await kms.send(
        new CreateKeyCommand({
          Policy: doc({ Effect: 'Allow', Principal: { AWS: admin }, Action: 'kms:*', Resource: '*' }, { Effect: 'Allow', Principal: { AWS: who }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' }),
        }),
      )
    ).KeyMetadata!.KeyId!;
  const roleKey = await keyFor(role.Arn!);
  const sessionKey = await keyFor(sessionArn);
  const c = (await new STSClient(t.clientConfig()).send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 'desk' }))).Credentials!;
  const session = new KMSClient(t.clientConfig({ credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } }));
  const roleBlob = (await encrypt(session, roleKey)).CiphertextBlob!;
  await denied(session.send(new DecryptCommand({ CiphertextBlob: roleBlob })), /no permissions boundary allows the kms:Decrypt action/, 'a key policy naming the role');
  const sessionBlob = (await encrypt(session, sessionKey)).CiphertextBlob!;
  assert.ok((await session.send(new DecryptCommand({ CiphertextBlob: sessionBlob }))).Plaintext, 'a key policy naming the session');
  // Put...PermissionsBoundary replaces a role's boundary too.
  await iam.send(new PutRolePermissionsBoundaryCommand({ RoleName: 'bounded-role', PermissionsBoundary: boundary.Arn! }));
  for (const x of [k, s3, b, session]) x.destroy();
});

test('session policies passed to AssumeRole narrow the session, inline and managed, except where a resource policy names the session', async () => {
  const trust = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' });
  const role = (await iam.send(new CreateRoleCommand({ RoleName: 'wide', AssumeRolePolicyDocument: trust }))).Role!;
  await iam.send(new PutRolePolicyCommand({ RoleName: 'wide', PolicyName: 'kms', PolicyDocument: doc(allow('kms:*')) }));
  const sts = new STSClient(t.clientConfig());
  const assume = async (extra: Record<string, unknown>, name = 'narrow') => {
    const c = (await sts.send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: name, ...extra }))).Credentials!;
    return new KMSClient(t.clientConfig({ credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } }));
  };
  const inline = await assume({ Policy: doc(allow('kms:Encrypt')) });
  const blob = (await encrypt(inline)).CiphertextBlob!;
  await denied(inline.send(new DecryptCommand({ CiphertextBlob: blob })), /because no session policy allows the kms:Decrypt action/, 'inline session policy');
  const decryptOnly = (await iam.send(new CreatePolicyCommand({ PolicyName: 'decrypt-only', PolicyDocument: doc(allow('kms:Decrypt')) }))).Policy!;
  const managed = await assume({ PolicyArns: [{ arn: decryptOnly.Arn! }] });
  assert.ok((await managed.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext, 'managed session policy allows Decrypt');
  await denied(encrypt(managed), /no session policy allows the kms:Encrypt action/, 'managed session policy');
  const both = await assume({ Policy: doc(allow('kms:Encrypt')), PolicyArns: [{ arn: decryptOnly.Arn! }] });
  assert.ok((await encrypt(both)).CiphertextBlob, 'either session policy may allow');
  await assert.rejects(sts.send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 'bad', Policy: '{"Statement":[{"Effect":"Allow"}]}' })), { name: 'MalformedPolicyDocumentException' });
  // A key policy naming the session itself is not limited by the session policy; one naming the role is.
  const admin = (await new STSClient(t.clientConfig()).send(new GetCallerIdentityCommand({}))).Arn!;
  const keyFor = async (who: string) =>
    (await kms.send(new CreateKeyCommand({ Policy: doc({ Effect: 'Allow', Principal: { AWS: admin }, Action: 'kms:*', Resource: '*' }, { Effect: 'Allow', Principal: { AWS: who }, Action: 'kms:Decrypt', Resource: '*' }) })))
      .KeyMetadata!.KeyId!;
  const sessionKey = await keyFor(`arn:aws:sts::${accountId}:assumed-role/wide/named`);
  const roleKey = await keyFor(role.Arn!);
  const named = await assume({ Policy: doc(allow('kms:Encrypt')) }, 'named');
  const sBlob = (await kms.send(new EncryptCommand({ KeyId: sessionKey, Plaintext: Buffer.from('s') }))).CiphertextBlob!;
  const rBlob = (await kms.send(new EncryptCommand({ KeyId: roleKey, Plaintext: Buffer.from('r') }))).CiphertextBlob!;
  assert.equal(Buffer.from((await named.send(new DecryptCommand({ CiphertextBlob: sBlob }))).Plaintext!).toString(), 's');
  await denied(named.send(new DecryptCommand({ CiphertextBlob: rBlob })), /no session policy allows the kms:Decrypt action/, 'a key policy naming the role');
  for (const x of [sts, inline, managed, both, named]) x.destroy();
});

test('session tags: AssumeRole Tags need sts:TagSession, become aws:PrincipalTag over the role tags, and transitive ones follow a role chain', async () => {
  const keyTagged = async (team: string) => (await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: team }] }))).KeyMetadata!.KeyId!;
  const blueKey = await keyTagged('blue');
  const redKey = await keyTagged('red');
  const account = `arn:aws:iam::${accountId}:root`;
  const taggable = doc(
    { Effect: 'Allow', Principal: { AWS: account }, Action: 'sts:AssumeRole' },
    {
      Effect: 'Allow',
      Principal: { AWS: account },
      Action: 'sts:TagSession',
      Condition: { StringEquals: { 'aws:RequestTag/team': ['blue', 'red'] }, 'ForAllValues:StringEquals': { 'sts:TransitiveTagKeys': ['team'] } },
    },
  );
  const sameTeam = { Condition: { StringEquals: { 'aws:ResourceTag/team': '${aws:PrincipalTag/team}' } } };
  const roleWith = async (name: string, trust: string) => {
    const role = (await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust, Tags: [{ Key: 'Team', Value: 'red' }] }))).Role!;
    await iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: 'abac', PolicyDocument: doc(allow('kms:Encrypt', sameTeam), allow(['sts:AssumeRole', 'sts:TagSession'])) }));
    return role.Arn!;
  };
  const first = await roleWith('tagged-first', taggable);
  const chained = await roleWith('tagged-next', taggable);
  const untaggable = await roleWith('tagged-never', doc({ Effect: 'Allow', Principal: { AWS: account }, Action: 'sts:AssumeRole' }));
  const sts = new STSClient(t.clientConfig());
  const clients: Array<{ destroy(): void }> = [sts];
  const creds = async (via: STSClient, RoleArn: string, extra: Record<string, unknown> = {}) => {
    const c = (await via.send(new AssumeRoleCommand({ RoleArn, RoleSessionName: 'tagged', ...extra }))).Credentials!;
    return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
  };
  const kmsAs = (credentials: Record<string, string>) => {
    const c = new KMSClient(t.clientConfig({ credentials }));
    clients.push(c);
    return c;
  };
  const stsAs = (credentials: Record<string, string>) => {
    const c = new STSClient(t.clientConfig({ credentials }));
    clients.push(c);
    return c;
  };

  // The role's tag Team=red applies until a session tag replaces it (keys match in any letter case).
  const plain = kmsAs(await creds(sts, first));
  assert.ok((await encrypt(plain, redKey)).CiphertextBlob, 'the role tag');
  await denied(encrypt(plain, blueKey), /kms:Encrypt/, 'no session tag: a blue key');
  const blueCreds = await creds(sts, first, { Tags: [{ Key: 'team', Value: 'blue' }], TransitiveTagKeys: ['team'] });
  const blue = kmsAs(blueCreds);
  assert.ok((await encrypt(blue, blueKey)).CiphertextBlob, 'the session tag team=blue');
  await denied(encrypt(blue, redKey), /kms:Encrypt/, 'the session tag replaces the role tag');

  // sts:TagSession decides which tags may be passed.
  await denied(sts.send(new AssumeRoleCommand({ RoleArn: first, RoleSessionName: 'tagged', Tags: [{ Key: 'team', Value: 'green' }] })), /sts:TagSession/, 'a value the trust policy does not allow');
  await denied(
    sts.send(new AssumeRoleCommand({ RoleArn: first, RoleSessionName: 'tagged', Tags: [{ Key: 'team', Value: 'blue' }, { Key: 'cost', Value: '1' }], TransitiveTagKeys: ['team', 'cost'] })),
    /sts:TagSession/,
    'a transitive key the trust policy does not allow',
  );
  await denied(sts.send(new AssumeRoleCommand({ RoleArn: untaggable, RoleSessionName: 'tagged', Tags: [{ Key: 'team', Value: 'blue' }] })), /sts:TagSession/, 'a trust policy without sts:TagSession');
  assert.ok((await creds(sts, untaggable)).accessKeyId, 'that role without tags');

  // Malformed tags, in STS's words.
  const refused = async (extra: Record<string, unknown>, name: string, pattern: RegExp) => {
    const err = await sts.send(new AssumeRoleCommand({ RoleArn: first, RoleSessionName: 'tagged', ...extra })).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, `${name}: refused`);
    assert.equal(err.name, name.split(':')[0]);
    assert.match(err.message, pattern);
  };
  await refused({ Tags: [{ Key: 'team', Value: 'blue' }, { Key: 'TEAM', Value: 'red' }] }, 'InvalidParameterValue: duplicate keys', /Duplicate tag keys found/);
  await refused({ Tags: [{ Key: 'team', Value: 'blue' }], TransitiveTagKeys: ['cost'] }, 'InvalidParameterValue: transitive not passed', /must be included in the requested tags/);
  await refused({ Tags: [{ Key: 'aws:team', Value: 'blue' }] }, 'InvalidParameterValue: reserved prefix', /aws:/);
  await refused({ Tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })) }, 'ValidationError: too many', /less than or equal to 50/);

  // A role chain: the transitive tag follows and overrides the next role's tag; it may not be set again.
  const fromBlue = stsAs(blueCreds);
  const next = kmsAs(await creds(fromBlue, chained));
  assert.ok((await encrypt(next, blueKey)).CiphertextBlob, 'the inherited transitive tag');
  await denied(encrypt(next, redKey), /kms:Encrypt/, 'the inherited tag replaces the next role tag');
  const conflict = await fromBlue.send(new AssumeRoleCommand({ RoleArn: chained, RoleSessionName: 'again', Tags: [{ Key: 'Team', Value: 'red' }] })).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.equal(conflict?.name, 'InvalidParameterValue', 'a transitive tag cannot be set again down the chain');
  assert.match(conflict!.message, /conflicts with a transitive tag key from the calling session/);
  const notTransitive = stsAs(await creds(sts, first, { Tags: [{ Key: 'team', Value: 'blue' }] }));
  const dropped = kmsAs(await creds(notTransitive, chained));
  assert.ok((await encrypt(dropped, redKey)).CiphertextBlob, 'a tag that is not transitive stays with its session');

  // boto3 passes tags the same way; the trail records them as CloudTrail does (tags and transitiveTagKeys, no secret).
  const out = await boto3(String.raw`
sts = boto3.client('sts', **cfg)
c = sts.assume_role(RoleArn='${first}', RoleSessionName='py', Tags=[{'Key': 'team', 'Value': 'blue'}], TransitiveTagKeys=['team'])['Credentials']
k = boto3.client('kms', **{**cfg, 'aws_access_key_id': c['AccessKeyId'], 'aws_secret_access_key': c['SecretAccessKey'], 'aws_session_token': c['SessionToken']})
k.encrypt(KeyId='${blueKey}', Plaintext=b'x')
print(json.dumps({'red': error(k.encrypt, KeyId='${redKey}', Plaintext=b'x')}))
`);
  assert.equal((out['red'] as string[])[0], 'AccessDeniedException', 'boto3 session tagged blue');
  const ct = new CloudTrailClient(t.clientConfig());
  clients.push(ct);
  const events = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'AssumeRole' }], MaxResults: 50 }))).Events ?? [];
  const tagged = events.map((e) => JSON.parse(e.CloudTrailEvent!) as { requestParameters?: Record<string, unknown> }).find((e) => e.requestParameters?.['roleSessionName'] === 'py');
  assert.deepEqual(tagged?.requestParameters?.['tags'], [{ key: 'team', value: 'blue' }]);
  assert.deepEqual(tagged?.requestParameters?.['transitiveTagKeys'], ['team']);
  for (const c of clients) c.destroy();
});

test('trent admin and the AWS CLI manage groups, managed policies, tags and boundaries', async () => {
  const run = (args: string[]) => exec(process.execPath, [join(REPO, 'bin/trent.mjs'), 'admin', ...args, '--data-dir', t.dataDir], { ...process.env, TRENT_LOG_LEVEL: 'warn' });
  const ok = async (args: string[]) => {
    const r = await run(args);
    assert.equal(r.code, 0, `trent admin ${args.join(' ')}: ${r.stderr}`);
    return (r.stdout ? JSON.parse(r.stdout) : {}) as Record<string, any>;
  };
  await ok(['create-user', '--user-name', 'ops', '--tags', 'Key=team,Value=ops', 'Key=site,Value=north']);
  await ok(['create-group', '--group-name', 'operators']);
  await ok(['add-user-to-group', '--group-name', 'operators', '--user-name', 'ops']);
  const policy = (await ok(['create-policy', '--policy-name', 'list-keys', '--policy-document', doc(allow('kms:ListKeys'))])).Policy;
  await ok(['create-policy-version', '--policy-arn', policy.Arn, '--policy-document', doc(allow(['kms:ListKeys', 'kms:ListAliases'])), '--set-as-default']);
  await ok(['attach-group-policy', '--group-name', 'operators', '--policy-arn', policy.Arn]);
  await ok(['put-user-permissions-boundary', '--user-name', 'ops', '--permissions-boundary', policy.Arn]);
  await ok(['untag-user', '--user-name', 'ops', '--tag-keys', 'site']);
  const user = (await ok(['get-user', '--user-name', 'ops'])).User;
  assert.deepEqual(user.Tags, [{ Key: 'team', Value: 'ops' }]);
  assert.equal(user.PermissionsBoundary.PermissionsBoundaryArn, policy.Arn);
  assert.deepEqual((await ok(['list-attached-group-policies', '--group-name', 'operators'])).AttachedPolicies, [{ PolicyName: 'list-keys', PolicyArn: policy.Arn }]);
  assert.deepEqual((await ok(['get-policy-version', '--policy-arn', policy.Arn, '--version-id', 'v2'])).PolicyVersion.Document.Statement[0].Action, ['kms:ListKeys', 'kms:ListAliases']);
  const refused = await run(['delete-policy', '--policy-arn', policy.Arn]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /DeleteConflict/);

  // The same family through the AWS CLI v1.
  const aws = async (args: string[]) => {
    const r = await exec('aws', ['iam', ...args, '--output', 'json'], t.cliEnv());
    assert.equal(r.code, 0, `aws iam ${args.join(' ')}: ${r.stderr}`);
    return r.stdout ? (JSON.parse(r.stdout) as Record<string, any>) : {};
  };
  await aws(['create-group', '--group-name', 'cli-group']);
  const cliPolicy = (await aws(['create-policy', '--policy-name', 'cli-policy', '--policy-document', doc(allow('kms:Encrypt'))])).Policy;
  await aws(['attach-group-policy', '--group-name', 'cli-group', '--policy-arn', cliPolicy.Arn]);
  await aws(['add-user-to-group', '--group-name', 'cli-group', '--user-name', 'ops']);
  assert.deepEqual((await aws(['list-attached-group-policies', '--group-name', 'cli-group'])).AttachedPolicies, [{ PolicyName: 'cli-policy', PolicyArn: cliPolicy.Arn }]);
  assert.deepEqual((await aws(['get-group', '--group-name', 'cli-group'])).Users.map((u: { UserName: string }) => u.UserName), ['ops']);
  await aws(['tag-user', '--user-name', 'ops', '--tags', 'Key=shift,Value=night']);
  assert.deepEqual((await aws(['list-user-tags', '--user-name', 'ops'])).Tags, [
    { Key: 'shift', Value: 'night' },
    { Key: 'team', Value: 'ops' },
  ]);
  await aws(['put-user-permissions-boundary', '--user-name', 'ops', '--permissions-boundary', cliPolicy.Arn]);
  assert.equal((await aws(['get-user', '--user-name', 'ops'])).User.PermissionsBoundary.PermissionsBoundaryArn, cliPolicy.Arn);
  assert.deepEqual(
    (await aws(['list-entities-for-policy', '--policy-arn', cliPolicy.Arn, '--policy-usage-filter', 'PermissionsBoundary'])).PolicyUsers.map((u: { UserName: string }) => u.UserName),
    ['ops'],
  );
  const inUse = (await aws(['list-policies', '--scope', 'Local', '--only-attached'])).Policies.map((x: { PolicyName: string }) => x.PolicyName);
  assert.ok(inUse.includes('list-keys') && inUse.includes('cli-policy') && !inUse.includes('decrypt-only'), `policies in use: ${inUse}`);
});
