// STS GetSessionToken through the JS SDK, boto3 and the AWS CLI: an IAM user's long-term key is exchanged for
// temporary credentials that act as the user (same identity, same policies), for AWS's DurationSeconds bounds;
// temporary credentials cannot call GetSessionToken again, and (without MFA, which Trent has not) cannot call IAM;
// the trail records the exchange without the secret or the token, and the session's calls under the user's name.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, DeleteAccessKeyCommand, DeleteUserCommand, DeleteUserPolicyCommand, IAMClient, ListUsersCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand, STSClient, type Credentials } from '@aws-sdk/client-sts';
import { exec, fails } from '../helpers/assert.ts';
import { aws } from '../helpers/cli.ts';
import { removeDir, startTrent, type RunningTrent } from '../helpers/trent.ts';

let t: RunningTrent;
let iam: IAMClient;
let kms: KMSClient;
let keyId: string;
let accountId: string;
let user: { accessKeyId: string; secretAccessKey: string; arn: string; userId: string };

const doc = (...statements: Array<Record<string, unknown>>) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
/** IAM changes reach evaluation within a second (policies are cached that long). */
const settle = () => new Promise((r) => setTimeout(r, 1100));

function asKey(c: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): Record<string, unknown> {
  return t.clientConfig({ credentials: c });
}
function asSession(c: Credentials): Record<string, unknown> {
  return asKey({ accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
}
const sessionOf = async (duration?: number): Promise<Credentials> =>
  (await new STSClient(asKey(user)).send(new GetSessionTokenCommand(duration === undefined ? {} : { DurationSeconds: duration }))).Credentials!;

before(async () => {
  t = await startTrent();
  iam = new IAMClient(t.clientConfig());
  kms = new KMSClient(t.clientConfig());
  const key = await kms.send(new CreateKeyCommand({ Description: 'session token' }));
  keyId = key.KeyMetadata!.KeyId!;
  accountId = key.KeyMetadata!.AWSAccountId!;
  const u = await iam.send(new CreateUserCommand({ UserName: 'console-user' }));
  const k = await iam.send(new CreateAccessKeyCommand({ UserName: 'console-user' }));
  user = { accessKeyId: k.AccessKey!.AccessKeyId!, secretAccessKey: k.AccessKey!.SecretAccessKey!, arn: u.User!.Arn!, userId: u.User!.UserId! };
  await iam.send(new PutUserPolicyCommand({ UserName: 'console-user', PolicyName: 'encrypt', PolicyDocument: doc({ Effect: 'Allow', Action: ['kms:Encrypt', 'iam:ListUsers'], Resource: '*' }) }));
  await settle();
});

after(async () => {
  iam?.destroy();
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

test("GetSessionToken gives temporary credentials that act as the user, with the user's permissions", async () => {
  const before = Date.now();
  const c = await sessionOf();
  assert.match(c.AccessKeyId!, /^ASIA[A-Z0-9]{16}$/);
  assert.equal(c.SecretAccessKey!.length, 40);
  assert.ok(c.SessionToken!.length > 100);
  // The default is 12 hours, to the second.
  const lifetime = c.Expiration!.getTime() - before;
  assert.ok(lifetime > 43_200_000 - 5000 && lifetime <= 43_200_000 + 1000, `12 hours expected, got ${lifetime} ms`);
  const who = await new STSClient(asSession(c)).send(new GetCallerIdentityCommand({}));
  assert.equal(who.Arn, user.arn);
  assert.equal(who.UserId, user.userId);
  assert.equal(who.Account, accountId);
  const session = new KMSClient(asSession(c));
  await session.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
  // What the user may not do, the session may not either.
  await iam.send(new DeleteUserPolicyCommand({ UserName: 'console-user', PolicyName: 'encrypt' }));
  await settle();
  const denied = await fails(session.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'AccessDeniedException');
  assert.match(denied.message, new RegExp(`User: ${user.arn} is not authorized to perform: kms:Encrypt`));
  await iam.send(new PutUserPolicyCommand({ UserName: 'console-user', PolicyName: 'encrypt', PolicyDocument: doc({ Effect: 'Allow', Action: ['kms:Encrypt', 'iam:ListUsers'], Resource: '*' }) }));
  await settle();
  await session.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
  session.destroy();
});

test("DurationSeconds: 900 to 129600 seconds for a user, AWS's validation errors outside", async () => {
  const short = await sessionOf(900);
  assert.ok(Math.abs(short.Expiration!.getTime() - Date.now() - 900_000) < 5000);
  const long = await sessionOf(129_600);
  assert.ok(Math.abs(long.Expiration!.getTime() - Date.now() - 129_600_000) < 5000);
  const sts = new STSClient(asKey(user));
  const low = await fails(sts.send(new GetSessionTokenCommand({ DurationSeconds: 899 })), 'ValidationError', 400);
  assert.equal(low.message, "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900");
  const high = await fails(sts.send(new GetSessionTokenCommand({ DurationSeconds: 129_601 })), 'ValidationError', 400);
  assert.equal(high.message, "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600");
  // Trent has no MFA devices: any serial number is one that is not the user's.
  const mfa = await fails(sts.send(new GetSessionTokenCommand({ SerialNumber: `arn:aws:iam::${accountId}:mfa/console-user`, TokenCode: '123456' })), 'AccessDenied', 403);
  assert.match(mfa.message, /^MultiFactorAuthentication failed, unable to validate MFA code/);
  sts.destroy();
});

test('temporary credentials cannot call GetSessionToken, and a session from it cannot call IAM, as on AWS', async () => {
  const c = await sessionOf();
  const again = await fails(new STSClient(asSession(c)).send(new GetSessionTokenCommand({})), 'AccessDenied', 403);
  assert.equal(again.message, 'Cannot call GetSessionToken with session credentials');
  // Without MFA, IAM does not take the session's token at all.
  const iamCall = await fails(new IAMClient(asSession(c)).send(new ListUsersCommand({})), 'InvalidClientTokenId', 403);
  assert.match(iamCall.message, /security token included in the request is invalid/);
  // The user's own key still may (its policy allows iam:ListUsers).
  await new IAMClient(asKey(user)).send(new ListUsersCommand({}));
  // A role session is temporary too.
  const role = await iam.send(
    new CreateRoleCommand({ RoleName: 'console-role', AssumeRolePolicyDocument: doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' }) }),
  );
  const rc = (await new STSClient(t.clientConfig()).send(new AssumeRoleCommand({ RoleArn: role.Role!.Arn!, RoleSessionName: 'desk' }))).Credentials!;
  const fromRole = await fails(new STSClient(asSession(rc)).send(new GetSessionTokenCommand({})), 'AccessDenied', 403);
  assert.equal(fromRole.message, 'Cannot call GetSessionToken with session credentials');
  // AssumeRole from a GetSessionToken session is allowed (the trust policy trusts the account; the user's policy decides).
  await iam.send(new PutUserPolicyCommand({ UserName: 'console-user', PolicyName: 'assume', PolicyDocument: doc({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: role.Role!.Arn! }) }));
  await settle();
  const chained = await new STSClient(asSession(c)).send(new AssumeRoleCommand({ RoleArn: role.Role!.Arn!, RoleSessionName: 'from-session' }));
  assert.equal(chained.AssumedRoleUser!.Arn, `arn:aws:sts::${accountId}:assumed-role/console-role/from-session`);
  await iam.send(new DeleteUserPolicyCommand({ UserName: 'console-user', PolicyName: 'assume' }));
});

test('the trail records the exchange (never the secret or the token) and the session calls under the user', async () => {
  const c = await sessionOf(900);
  await new KMSClient(asSession(c)).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
  const trail = new CloudTrailClient(t.clientConfig());
  const exchange = (await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'GetSessionToken' }] }))).Events!;
  const mine = exchange.map((e) => JSON.parse(e.CloudTrailEvent!)).find((e) => e.responseElements?.credentials?.accessKeyId === c.AccessKeyId);
  assert.ok(mine, 'the GetSessionToken event names the new access key id');
  assert.equal(mine.userIdentity.arn, user.arn);
  assert.equal(mine.userIdentity.accessKeyId, user.accessKeyId);
  assert.deepEqual(mine.requestParameters, { durationSeconds: '900' });
  const text = JSON.stringify(exchange);
  assert.ok(!text.includes(c.SecretAccessKey!) && !text.includes(c.SessionToken!), 'no secret or token in the events');
  const used = (await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'AccessKeyId', AttributeValue: c.AccessKeyId! }] }))).Events!;
  const encrypt = used.map((e) => JSON.parse(e.CloudTrailEvent!)).find((e) => e.eventName === 'Encrypt');
  assert.ok(encrypt, "the session's Encrypt is found by its access key id");
  assert.equal(encrypt.userIdentity.type, 'IAMUser');
  assert.equal(encrypt.userIdentity.userName, 'console-user');
  assert.equal(encrypt.userIdentity.arn, user.arn);
  trail.destroy();
});

test('boto3 and the AWS CLI get session tokens; a session ends with its user', async () => {
  const script = String.raw`
import json, os, boto3, botocore
cfg = dict(endpoint_url=os.environ['EP'], verify=os.environ['CA'], region_name=os.environ['REGION'], config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
c = boto3.client('sts', aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'], **cfg).get_session_token(DurationSeconds=1800)['Credentials']
s = boto3.client('sts', aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'], **cfg)
out = {'arn': s.get_caller_identity()['Arn']}
try:
    s.get_session_token()
except botocore.exceptions.ClientError as e:
    out['again'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
print(json.dumps(out))
`;
  const r = await exec('python3', ['-c', script], { ...process.env, EP: t.endpoint, CA: t.caPath, AK: user.accessKeyId, SK: user.secretAccessKey, REGION: t.region, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { arn: user.arn, again: ['AccessDenied', 403, 'Cannot call GetSessionToken with session credentials'] });

  const cli = await aws(t, 'v1', ['sts', 'get-session-token', '--duration-seconds', '900', '--output', 'json'], undefined, { AWS_ACCESS_KEY_ID: user.accessKeyId, AWS_SECRET_ACCESS_KEY: user.secretAccessKey });
  assert.equal(cli.code, 0, cli.stderr);
  const c = (JSON.parse(cli.stdout) as { Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string } }).Credentials;
  assert.match(c.AccessKeyId, /^ASIA/);

  // A session is its user's: once the user is gone, so are its sessions.
  await iam.send(new DeleteUserPolicyCommand({ UserName: 'console-user', PolicyName: 'encrypt' }));
  await iam.send(new DeleteAccessKeyCommand({ UserName: 'console-user', AccessKeyId: user.accessKeyId }));
  await iam.send(new DeleteUserCommand({ UserName: 'console-user' }));
  await settle();
  await fails(
    new STSClient(asKey({ accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken })).send(new GetCallerIdentityCommand({})),
    'InvalidClientTokenId',
    403,
  );
});
