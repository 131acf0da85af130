// Access control through real clients: IAM users, inline policies with conditions, KMS key policies that
// do or do not delegate to IAM, grants, STS AssumeRole credentials that stop working when they expire, S3
// bucket policies, and every denial in the audit trail as AccessDenied.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  IAMClient,
  CreateUserCommand,
  CreateAccessKeyCommand,
  PutUserPolicyCommand,
  CreateRoleCommand,
  PutRolePolicyCommand,
  GetUserPolicyCommand,
  ListUsersCommand,
  UpdateAccessKeyCommand,
  DeleteUserPolicyCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteRoleCommand,
  GetRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, GenerateDataKeyCommand, CreateGrantCommand, RevokeGrantCommand, ListGrantsCommand, PutKeyPolicyCommand, RetireGrantCommand, GetKeyPolicyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { S3Client, CreateBucketCommand, PutBucketPolicyCommand, PutObjectCommand, GetObjectCommand, GetBucketPolicyCommand } from '@aws-sdk/client-s3';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { startTrent, removeDir, REPO, type RunningTrent } from '../helpers/trent.ts';
import { exec } from '../helpers/assert.ts';
import { boto3 } from '../helpers/boto3.ts';

let t: RunningTrent;
let iam: IAMClient;
let kms: KMSClient;
let keyId: string;
let keyArn: string;
let accountId: string;
const users: Record<string, { accessKeyId: string; secretAccessKey: string; arn: string }> = {};

async function newUser(name: string): Promise<void> {
  const u = await iam.send(new CreateUserCommand({ UserName: name }));
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

before(async () => {
  t = await startTrent();
  iam = new IAMClient(t.clientConfig());
  kms = new KMSClient(t.clientConfig());
  const created = await kms.send(new CreateKeyCommand({ Description: 'library' }));
  keyId = created.KeyMetadata!.KeyId!;
  keyArn = created.KeyMetadata!.Arn!;
  accountId = created.KeyMetadata!.AWSAccountId!;
  await newUser('app');
  await newUser('reader');
});
after(async () => {
  iam?.destroy();
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

test('IAM: users, access keys and inline policies through the SDK', async () => {
  const listed = await iam.send(new ListUsersCommand({}));
  assert.deepEqual(listed.Users!.map((u) => u.UserName).sort(), ['admin', 'app', 'reader']);
  await assert.rejects(iam.send(new CreateUserCommand({ UserName: 'app' })), { name: 'EntityAlreadyExistsException' });
  await assert.rejects(iam.send(new PutUserPolicyCommand({ UserName: 'app', PolicyName: 'bad', PolicyDocument: '{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}' })), {
    name: 'MalformedPolicyDocumentException',
  });
  const me = await new STSClient(as('app')).send(new GetCallerIdentityCommand({}));
  assert.equal(me.Arn, users['app']!.arn, 'the new key authenticates as the new user');
});

test('a new user with no policy cannot Encrypt; a policy allowing kms:Encrypt only with purpose=library allows exactly that', async () => {
  const app = new KMSClient(as('app'));
  await denied(
    app.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { purpose: 'library' } })),
    new RegExp(`^User: ${users['app']!.arn} is not authorized to perform: kms:Encrypt on resource: ${keyArn} because no identity-based policy allows the kms:Encrypt action`),
    'no policy',
  );
  const policy = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: keyArn, Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'library' } } }],
  };
  await iam.send(new PutUserPolicyCommand({ UserName: 'app', PolicyName: 'encrypt-for-library', PolicyDocument: JSON.stringify(policy) }));
  const back = await iam.send(new GetUserPolicyCommand({ UserName: 'app', PolicyName: 'encrypt-for-library' }));
  assert.deepEqual(JSON.parse(decodeURIComponent(back.PolicyDocument!)), policy, 'the policy reads back');
  await new Promise((r) => setTimeout(r, 1100)); // IAM changes propagate within a second, as on AWS (eventually consistent)
  const ok = await app.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { purpose: 'library' } }));
  assert.ok(ok.CiphertextBlob, 'allowed with purpose=library');
  await denied(app.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { purpose: 'other' } })), /no identity-based policy allows/, 'other purpose');
  await denied(app.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), /no identity-based policy allows/, 'no context');
  await denied(app.send(new DecryptCommand({ CiphertextBlob: ok.CiphertextBlob, EncryptionContext: { purpose: 'library' } })), /kms:Decrypt/, 'Decrypt is not allowed');
  app.destroy();

  // The same through the pip AWS CLI v1.
  const env = { ...t.cliEnv(), AWS_ACCESS_KEY_ID: users['app']!.accessKeyId, AWS_SECRET_ACCESS_KEY: users['app']!.secretAccessKey };
  const good = await exec('aws', ['kms', 'encrypt', '--key-id', keyId, '--plaintext', 'eA==', '--encryption-context', 'purpose=library', '--output', 'json'], env);
  assert.equal(good.code, 0, `CLI encrypt with purpose=library: ${good.stderr}`);
  const bad = await exec('aws', ['kms', 'encrypt', '--key-id', keyId, '--plaintext', 'eA==', '--encryption-context', 'purpose=other'], env);
  assert.notEqual(bad.code, 0, 'CLI encrypt with another purpose fails');
  assert.match(bad.stderr, /AccessDeniedException.*not authorized to perform: kms:Encrypt/s, bad.stderr);
});

test('a grant lets a second user Decrypt until it is revoked; constraints hold; retiring works', async () => {
  const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('for the reader'), EncryptionContext: { shelf: 'a' } }))).CiphertextBlob!;
  const reader = new KMSClient(as('reader'));
  await denied(reader.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { shelf: 'a' } })), /kms:Decrypt/, 'before the grant');
  const grant = await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['reader']!.arn, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { shelf: 'a' } } }));
  const out = await reader.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { shelf: 'a' }, GrantTokens: [grant.GrantToken!] }));
  assert.equal(Buffer.from(out.Plaintext!).toString(), 'for the reader', 'the grant allows Decrypt at once');
  const other = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('other shelf'), EncryptionContext: { shelf: 'b' } }))).CiphertextBlob!;
  await denied(reader.send(new DecryptCommand({ CiphertextBlob: other, EncryptionContext: { shelf: 'b' } })), /kms:Decrypt/, 'constraint not met');
  const listed = await kms.send(new ListGrantsCommand({ KeyId: keyId }));
  assert.ok(listed.Grants!.some((g) => g.GrantId === grant.GrantId && g.GranteePrincipal === users['reader']!.arn), 'ListGrants shows it');
  await kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: grant.GrantId! }));
  await denied(reader.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { shelf: 'a' } })), /kms:Decrypt/, 'after revocation');
  // A grant the grantee may retire itself.
  const g2 = await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['reader']!.arn, RetiringPrincipal: users['reader']!.arn, Operations: ['Decrypt'] }));
  await reader.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { shelf: 'a' } }));
  await reader.send(new RetireGrantCommand({ GrantToken: g2.GrantToken! }));
  await denied(reader.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { shelf: 'a' } })), /kms:Decrypt/, 'after retirement');
  reader.destroy();
});

test('a grant holder cannot widen its own grant: a grant made under a grant allows only a subset of its operations under constraints at least as strict', async () => {
  await newUser('holder');
  await newUser('helper');
  const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('held back'), EncryptionContext: { shelf: 'a' } }))).CiphertextBlob!;
  const parent = await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['holder']!.arn, Operations: ['Encrypt', 'CreateGrant'] }));
  const holder = new KMSClient(as('holder'));
  // The hole: a grant for Decrypt, made by the holder for itself, then used.
  await denied(holder.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['holder']!.arn, Operations: ['Decrypt'] })), /kms:CreateGrant/, 'Decrypt is not in the parent grant');
  await denied(holder.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { shelf: 'a' } })), /kms:Decrypt/, 'so the holder still cannot decrypt');
  await denied(holder.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['helper']!.arn, Operations: ['Encrypt', 'Decrypt'] })), /kms:CreateGrant/, 'nor give Decrypt to another');
  await holder.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['helper']!.arn, Operations: ['Encrypt'] }));
  await kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: parent.GrantId! }));

  // A constrained parent: its constraint does not stop the CreateGrant call itself, but binds the grants made under it.
  await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['holder']!.arn, Operations: ['Encrypt', 'CreateGrant'], Constraints: { EncryptionContextSubset: { shelf: 'a' } } }));
  await denied(holder.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['helper']!.arn, Operations: ['Encrypt'] })), /kms:CreateGrant/, 'dropping the constraint widens the grant');
  await denied(holder.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['helper']!.arn, Operations: ['Encrypt'], Constraints: { EncryptionContextSubset: { shelf: 'b' } } })), /kms:CreateGrant/, 'another shelf');
  await holder.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['helper']!.arn, Operations: ['Encrypt'], Constraints: { EncryptionContextSubset: { shelf: 'a', row: '3' } } }));
  await holder.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['helper']!.arn, Operations: ['Encrypt', 'CreateGrant'], Constraints: { EncryptionContextEquals: { shelf: 'a' } } }));
  const helper = new KMSClient(as('helper'));
  assert.ok((await helper.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { shelf: 'a' } }))).CiphertextBlob, 'the child grant works');
  // Equals cannot be loosened back to Subset further down the chain.
  await denied(helper.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['holder']!.arn, Operations: ['Encrypt'], Constraints: { EncryptionContextSubset: { shelf: 'a' } } })), /kms:CreateGrant/, 'Equals to Subset');
  await helper.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['holder']!.arn, Operations: ['Encrypt'], Constraints: { EncryptionContextEquals: { shelf: 'a' } } }));
  holder.destroy();
  helper.destroy();
});

test('a user or role deleted and created again under the same name does not inherit the access the old one had', async () => {
  const admin = (await new STSClient(t.clientConfig()).send(new GetCallerIdentityCommand({}))).Arn!;
  await newUser('alice');
  const aliceArn = users['alice']!.arn;
  const aliceId = (await new STSClient(as('alice')).send(new GetCallerIdentityCommand({}))).UserId!;
  const trust = (who: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: who }, Action: 'sts:AssumeRole' }] });
  const vault = (await iam.send(new CreateRoleCommand({ RoleName: 'vault', AssumeRolePolicyDocument: trust(aliceArn) }))).Role!;
  const keyPolicy = (who: string) =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'admin', Effect: 'Allow', Principal: { AWS: admin }, Action: 'kms:*', Resource: '*' },
        { Sid: 'use', Effect: 'Allow', Principal: { AWS: who }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' },
      ],
    });
  const key = (await kms.send(new CreateKeyCommand({ Description: 'named by ARN', Policy: keyPolicy(aliceArn) }))).KeyMetadata!.KeyId!;
  const granted = (await kms.send(new CreateKeyCommand({ Description: 'granted' }))).KeyMetadata!.KeyId!;
  await kms.send(new CreateGrantCommand({ KeyId: granted, GranteePrincipal: aliceArn, Operations: ['Encrypt'] }));
  const s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: 'alices' }));
  const bucketPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: aliceArn }, Action: 's3:PutObject', Resource: 'arn:aws:s3:::alices/*' }] });
  await s3.send(new PutBucketPolicyCommand({ Bucket: 'alices', Policy: bucketPolicy }));

  // The first alice has all of it, through the policies and the grant that name her.
  const use = async (label: string, expect: boolean) => {
    const k = new KMSClient(as('alice'));
    const b = new S3Client({ ...as('alice'), forcePathStyle: true });
    const sts = new STSClient(as('alice'));
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['trust policy', () => sts.send(new AssumeRoleCommand({ RoleArn: vault.Arn!, RoleSessionName: 'alice' }))],
      ['key policy', () => k.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') }))],
      ['grant', () => k.send(new EncryptCommand({ KeyId: granted, Plaintext: Buffer.from('x') }))],
      ['bucket policy', () => b.send(new PutObjectCommand({ Bucket: 'alices', Key: 'note', Body: 'x' }))],
    ];
    for (const [what, call] of calls) {
      if (expect) await call();
      else await denied(call(), /not authorized|Access Denied/, `${label}: ${what}`);
    }
    k.destroy();
    b.destroy();
    sts.destroy();
  };
  await use('the first alice', true);
  // The stored policies read back with her ARN while she exists.
  assert.deepEqual(JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: key, PolicyName: 'default' }))).Policy!), JSON.parse(keyPolicy(aliceArn)));
  assert.equal(JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: 'alices' }))).Policy!).Statement[0].Principal.AWS, aliceArn);

  await iam.send(new DeleteAccessKeyCommand({ UserName: 'alice', AccessKeyId: users['alice']!.accessKeyId }));
  await iam.send(new DeleteUserCommand({ UserName: 'alice' }));
  // Once she is gone, the policies and the grant show the unique id they keep, as on AWS.
  assert.equal(JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: key, PolicyName: 'default' }))).Policy!).Statement[1].Principal.AWS, aliceId);
  assert.equal(JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: 'alices' }))).Policy!).Statement[0].Principal.AWS, aliceId);
  assert.equal(JSON.parse(decodeURIComponent((await iam.send(new GetRoleCommand({ RoleName: 'vault' }))).Role!.AssumeRolePolicyDocument!)).Statement[0].Principal.AWS, aliceId);
  assert.equal((await kms.send(new ListGrantsCommand({ KeyId: granted }))).Grants![0]!.GranteePrincipal, aliceId);

  await newUser('alice');
  assert.equal(users['alice']!.arn, aliceArn, 'the new alice has the same ARN');
  await new Promise((r) => setTimeout(r, 1100));
  await use('a new alice', false);
  // A stale id cannot be stored again; naming the new alice by ARN binds her.
  await assert.rejects(kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: keyPolicy(aliceId) })), { name: 'MalformedPolicyDocumentException' });
  await assert.rejects(iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'vault', PolicyDocument: trust(aliceId) })), { name: 'MalformedPolicyDocumentException' });
  await assert.rejects(s3.send(new PutBucketPolicyCommand({ Bucket: 'alices', Policy: bucketPolicy.replace(aliceArn, `arn:aws:iam::${accountId}:user/nobody`) })), { name: 'MalformedPolicy' });
  await kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: keyPolicy(aliceArn) }));
  const k = new KMSClient(as('alice'));
  assert.ok((await k.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') }))).CiphertextBlob, 'the key policy names the new alice once it is saved again');
  k.destroy();

  // The same for a role: a key policy naming it does not reach a new role of the same name.
  const roleKey = (await kms.send(new CreateKeyCommand({ Description: 'for the vault role', Policy: keyPolicy(vault.Arn!) }))).KeyMetadata!.KeyId!;
  await iam.send(new DeleteRoleCommand({ RoleName: 'vault' }));
  assert.equal(JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: roleKey, PolicyName: 'default' }))).Policy!).Statement[1].Principal.AWS, vault.RoleId);
  await iam.send(new CreateRoleCommand({ RoleName: 'vault', AssumeRolePolicyDocument: trust(aliceArn) }));
  await new Promise((r) => setTimeout(r, 1100));
  const session = (await new STSClient(as('alice')).send(new AssumeRoleCommand({ RoleArn: vault.Arn!, RoleSessionName: 'again' }))).Credentials!;
  const asVault = new KMSClient(t.clientConfig({ credentials: { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! } }));
  await denied(asVault.send(new EncryptCommand({ KeyId: roleKey, Plaintext: Buffer.from('x') })), /kms:Encrypt/, 'the new vault role');
  asVault.destroy();
  s3.destroy();
});

test('grant constraints apply only to operations that take an encryption context; their keys match in any letter case, their values exactly', async () => {
  await newUser('clerk');
  const clerk = new KMSClient(as('clerk'));
  // A constrained grant may include DescribeKey, which the constraint does not apply to.
  await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['clerk']!.arn, Operations: ['Decrypt', 'DescribeKey'], Constraints: { EncryptionContextSubset: { Department: 'IT' } } }));
  assert.equal((await clerk.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyId, keyId, 'DescribeKey needs no encryption context');
  await assert.rejects(kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: users['clerk']!.arn, Operations: ['Sign'], Constraints: { EncryptionContextSubset: { Department: 'IT' } } })), {
    name: 'ValidationException',
  });
  // AWS's API reference: in a constraint the key is not case sensitive, the value is.
  const lower = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('lower-case key'), EncryptionContext: { department: 'IT' } }))).CiphertextBlob!;
  assert.equal(Buffer.from((await clerk.send(new DecryptCommand({ CiphertextBlob: lower, EncryptionContext: { department: 'IT' } }))).Plaintext!).toString(), 'lower-case key');
  const value = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: { Department: 'it' } }))).CiphertextBlob!;
  await denied(clerk.send(new DecryptCommand({ CiphertextBlob: value, EncryptionContext: { Department: 'it' } })), /kms:Decrypt/, 'the value differs in case');
  clerk.destroy();
});

test('role sessions carry aws:TokenIssueTime and aws:MultiFactorAuthPresent, so "deny without MFA" and "revoke older sessions" hold; a key Trent cannot decide fails closed', async () => {
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' }] });
  const role = (await iam.send(new CreateRoleCommand({ RoleName: 'teller', AssumeRolePolicyDocument: trust }))).Role!;
  const allowEncrypt = { Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' };
  await iam.send(new PutRolePolicyCommand({ RoleName: 'teller', PolicyName: 'use', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [allowEncrypt] }) }));
  const session = async () => {
    const c = (await new STSClient(t.clientConfig()).send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 'desk' }))).Credentials!;
    return new KMSClient(t.clientConfig({ credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } }));
  };
  const encrypt = (k: KMSClient) => k.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
  const first = await session();
  assert.ok((await encrypt(first)).CiphertextBlob);
  const setPolicy = async (deny: Record<string, unknown>) => {
    await iam.send(new PutRolePolicyCommand({ RoleName: 'teller', PolicyName: 'guard', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: '*', Resource: '*', ...deny }] }) }));
    await new Promise((r) => setTimeout(r, 1100));
  };
  // AWS's own example: deny every request made without MFA. The session's key is present and false.
  await setPolicy({ Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'false' } } });
  await denied(encrypt(first), /explicit deny in an identity-based policy/, 'no MFA');
  // Revoke the sessions issued before now, as the IAM console's "Revoke active sessions" does.
  await new Promise((r) => setTimeout(r, 1000));
  await setPolicy({ Condition: { DateLessThan: { 'aws:TokenIssueTime': new Date().toISOString() } } });
  await denied(encrypt(first), /explicit deny/, 'a session issued before the cut-off');
  await new Promise((r) => setTimeout(r, 1000));
  const second = await session();
  assert.ok((await encrypt(second)).CiphertextBlob, 'a session issued after the cut-off');
  // kms:EncryptionAlgorithm is set by AWS in every Encrypt; Trent does not decide it, so a condition on it fails closed.
  await setPolicy({ Condition: { StringEquals: { 'kms:EncryptionAlgorithm': 'an algorithm Trent has never seen' } } });
  await denied(encrypt(second), /explicit deny/, 'a Deny on an undecidable key applies');
  await iam.send(new PutRolePolicyCommand({ RoleName: 'teller', PolicyName: 'guard', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ ...allowEncrypt, Action: 'kms:Decrypt' }] }) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'teller', PolicyName: 'use', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ ...allowEncrypt, Condition: { StringLike: { 'kms:EncryptionAlgorithm': '*' } } }] }) }));
  await new Promise((r) => setTimeout(r, 1100));
  await denied(encrypt(second), /no identity-based policy allows/, 'an Allow on an undecidable key does not');
  // Asking for what Trent cannot give is refused, not ignored.
  await assert.rejects(new STSClient(t.clientConfig()).send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 'desk', SerialNumber: 'arn:aws:iam::123456789012:mfa/x', TokenCode: '123456' })), { name: 'ValidationError' });
  first.destroy();
  second.destroy();
});

test("aws:UserAgent and aws:Referer are the client's headers; a service calling KMS on the caller's behalf is its own user agent", async () => {
  await newUser('agent');
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*', Condition: { StringLike: { 'aws:UserAgent': 'aws-sdk-js/*' } } },
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*', Condition: { StringEquals: { 'aws:UserAgent': 's3.amazonaws.com' } } },
      { Effect: 'Allow', Action: 's3:*', Resource: '*' },
      { Effect: 'Deny', Action: 'kms:*', Resource: '*', Condition: { StringLike: { 'aws:Referer': 'https://elsewhere.example/*' } } },
    ],
  };
  await iam.send(new PutUserPolicyCommand({ UserName: 'agent', PolicyName: 'by-client', PolicyDocument: JSON.stringify(policy) }));
  await new Promise((r) => setTimeout(r, 1100));
  const js = new KMSClient(as('agent'));
  assert.ok((await js.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))).CiphertextBlob, 'the JS SDK is aws-sdk-js/...');
  const referred = new KMSClient(as('agent'));
  referred.middlewareStack.add(
    (next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers['referer'] = 'https://elsewhere.example/page';
      return next(args);
    },
    { step: 'build', name: 'referer' },
  );
  await denied(referred.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), /explicit deny in an identity-based policy/, 'a request referred by the denied site');
  await denied(js.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })), /no identity-based policy allows/, 'GenerateDataKey straight from the JS SDK');
  const py = await boto3(
    t,
    String.raw`
kms = boto3.client('kms')
print(json.dumps(call(kms.encrypt, KeyId='${keyId}', Plaintext=b'x')))`,
    { AWS_ACCESS_KEY_ID: users['agent']!.accessKeyId, AWS_SECRET_ACCESS_KEY: users['agent']!.secretAccessKey },
  );
  assert.equal(py['code'], 'AccessDeniedException', `boto3 is not aws-sdk-js: ${JSON.stringify(py)}`);
  // Through S3, KMS sees S3 as the client: SSE-KMS works for the agent although it may not call GenerateDataKey itself.
  const admin = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await admin.send(new CreateBucketCommand({ Bucket: 'by-client' }));
  const s3agent = new S3Client({ ...as('agent'), forcePathStyle: true });
  await s3agent.send(new PutObjectCommand({ Bucket: 'by-client', Key: 'k', Body: 'sealed', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  const got = await s3agent.send(new GetObjectCommand({ Bucket: 'by-client', Key: 'k' }));
  assert.equal(await got.Body!.transformToString(), 'sealed', 'and reads it back through S3 (Decrypt as s3.amazonaws.com)');
  for (const c of [js, referred, admin, s3agent]) c.destroy();
});

test('a key policy that does not delegate to IAM blocks even a user whose policy allows kms:*; the lockout check protects the admin', async () => {
  const admin = (await new STSClient(t.clientConfig()).send(new GetCallerIdentityCommand({}))).Arn!;
  const onlyAdmin = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'admin only', Effect: 'Allow', Principal: { AWS: admin }, Action: 'kms:*', Resource: '*' }] });
  const key = (await kms.send(new CreateKeyCommand({ Description: 'closed', Policy: onlyAdmin }))).KeyMetadata!.KeyId!;
  await iam.send(new PutUserPolicyCommand({ UserName: 'reader', PolicyName: 'all-kms', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }) }));
  await new Promise((r) => setTimeout(r, 1100));
  const reader = new KMSClient(as('reader'));
  await denied(reader.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })), /because no resource-based policy allows the kms:Encrypt action/, 'non-delegating key policy');
  assert.ok((await reader.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))).CiphertextBlob, 'the default key policy delegates to IAM');
  // A policy that would lock the caller out is refused unless the check is bypassed.
  const lockout = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: users['app']!.arn }, Action: 'kms:Encrypt', Resource: '*' }] });
  await assert.rejects(kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: lockout })), { name: 'MalformedPolicyDocumentException' });
  await kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: lockout, BypassPolicyLockoutSafetyCheck: true }));
  await denied(kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })), /not authorized to perform: kms:Encrypt/, 'the admin is now locked out, as on AWS');
  await iam.send(new DeleteUserPolicyCommand({ UserName: 'reader', PolicyName: 'all-kms' }));
  reader.destroy();
});

test('assumed-role credentials work until they expire', async () => {
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' }] });
  const role = await iam.send(new CreateRoleCommand({ RoleName: 'librarian', AssumeRolePolicyDocument: trust }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'librarian', PolicyName: 'kms', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: keyArn }] }) }));
  const sts = new STSClient(as('app'));
  // The trust policy trusts the account, so the caller also needs sts:AssumeRole in its own policy.
  await denied(sts.send(new AssumeRoleCommand({ RoleArn: role.Role!.Arn!, RoleSessionName: 'desk' })), /sts:AssumeRole/, 'no identity permission');
  await iam.send(new PutUserPolicyCommand({ UserName: 'app', PolicyName: 'assume', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: role.Role!.Arn! }] }) }));
  await new Promise((r) => setTimeout(r, 1100));
  const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: role.Role!.Arn!, RoleSessionName: 'desk', DurationSeconds: 900 }));
  const c = assumed.Credentials!;
  assert.match(c.AccessKeyId!, /^ASIA/);
  assert.ok(c.Expiration!.getTime() > Date.now() + 800_000, 'expires in 15 minutes');
  const creds = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
  const who = await new STSClient(t.clientConfig({ credentials: creds })).send(new GetCallerIdentityCommand({}));
  assert.equal(who.Arn, `arn:aws:sts::${accountId}:assumed-role/librarian/desk`);
  const asRole = new KMSClient(t.clientConfig({ credentials: creds }));
  assert.ok((await asRole.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('as the role') }))).CiphertextBlob, 'the role session may Encrypt');
  await assert.rejects(new KMSClient(t.clientConfig({ credentials: { ...creds, sessionToken: c.SessionToken!.slice(0, -4) + 'AAAA' } })).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), {
    name: 'UnrecognizedClientException',
  });
  // Time passes: move the session's expiry into the past, as the clock would.
  const db = await t.openDb();
  await db.run('UPDATE sts_sessions SET expires_at = ? WHERE access_key_id = ?', [Date.now() - 1000, c.AccessKeyId!]);
  await db.close();
  await assert.rejects(asRole.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('too late') })), { name: 'ExpiredTokenException' });
  asRole.destroy();
});

test('S3 bucket policies: deny PutObject unless SSE-KMS; a Deny on aws:SecureTransport=false never fires over TLS-only Trent', async () => {
  const s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: 'policed' }));
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'kms only', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::policed/*', Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } },
      { Sid: 'tls only', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: ['arn:aws:s3:::policed', 'arn:aws:s3:::policed/*'], Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    ],
  };
  await s3.send(new PutBucketPolicyCommand({ Bucket: 'policed', Policy: JSON.stringify(policy) }));
  assert.deepEqual(JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: 'policed' }))).Policy!), policy);
  await denied(s3.send(new PutObjectCommand({ Bucket: 'policed', Key: 'plain', Body: 'x' })), /explicit deny in a resource-based policy/, 'SSE-S3 refused');
  await s3.send(new PutObjectCommand({ Bucket: 'policed', Key: 'kms', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  // A user without s3 permissions cannot write either, and without kms:GenerateDataKey SSE-KMS fails.
  const app = new S3Client({ ...as('app'), forcePathStyle: true });
  await denied(app.send(new PutObjectCommand({ Bucket: 'policed', Key: 'app', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId })), /s3:PutObject/, 'no s3 permission');
  await iam.send(new PutUserPolicyCommand({ UserName: 'app', PolicyName: 's3', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::policed/*' }] }) }));
  await new Promise((r) => setTimeout(r, 1100));
  await denied(app.send(new PutObjectCommand({ Bucket: 'policed', Key: 'app', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId })), /kms:GenerateDataKey/, 'no kms:GenerateDataKey');
  app.destroy();
  s3.destroy();
});

test('every denial is in the audit trail as AccessDenied, and a disabled access key stops working', async () => {
  const ct = new CloudTrailClient(t.clientConfig());
  const events = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'app' }], MaxResults: 50 }))).Events ?? [];
  const records = events.map((e) => JSON.parse(e.CloudTrailEvent!) as { eventName: string; errorCode?: string; errorMessage?: string });
  const deniedEncrypts = records.filter((r) => r.eventName === 'Encrypt' && r.errorCode);
  assert.ok(deniedEncrypts.length >= 3, `denied Encrypts recorded: ${deniedEncrypts.length}`);
  for (const r of deniedEncrypts) assert.equal(r.errorCode, 'AccessDenied', 'errorCode');
  assert.ok(records.some((r) => r.eventName === 'AssumeRole' && r.errorCode === 'AccessDenied'), 'the denied AssumeRole is recorded');
  // KMS calls S3 made for the user are recorded too, with the denial.
  const kmsViaS3 = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'GenerateDataKey' }] }))).Events ?? [];
  assert.ok(kmsViaS3.map((e) => JSON.parse(e.CloudTrailEvent!)).some((e) => e.errorCode === 'AccessDenied' && e.userIdentity.userName === 'app'), 'the denied GenerateDataKey via S3');
  ct.destroy();
  await iam.send(new UpdateAccessKeyCommand({ UserName: 'app', AccessKeyId: users['app']!.accessKeyId, Status: 'Inactive' }));
  await new Promise((r) => setTimeout(r, 5100)); // the access key cache lives five seconds
  await assert.rejects(new STSClient(as('app')).send(new GetCallerIdentityCommand({})), { name: 'InvalidClientTokenId' });
});

test('trent admin creates users, keys and policies without the AWS CLI', async () => {
  const run = (args: string[]) => exec(process.execPath, [join(REPO, 'bin/trent.mjs'), 'admin', ...args, '--data-dir', t.dataDir], { ...process.env, TRENT_LOG_LEVEL: 'warn' });
  const created = await run(['create-user', '--user-name', 'operator-made']);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).User.UserName, 'operator-made');
  const key = await run(['create-access-key', '--user-name', 'operator-made']);
  assert.equal(key.code, 0, key.stderr);
  const k = JSON.parse(key.stdout).AccessKey as { AccessKeyId: string; SecretAccessKey: string };
  const put = await run(['put-user-policy', '--user-name', 'operator-made', '--policy-name', 'whoami', '--policy-document', '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]}']);
  assert.equal(put.code, 0, put.stderr);
  const dup = await run(['create-user', '--user-name', 'operator-made']);
  assert.equal(dup.code, 1, 'a duplicate is refused');
  assert.match(dup.stderr, /EntityAlreadyExists/);
  const me = await new STSClient(t.clientConfig({ credentials: { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey } })).send(new GetCallerIdentityCommand({}));
  assert.match(me.Arn!, /:user\/operator-made$/);
});
