// Parameter Store through @aws-sdk/client-ssm, boto3 and both AWS CLIs: every operation at least once, SecureString
// values with and without decryption (standard tier: the KMS ciphertext; advanced tier: a data-key envelope), tiers,
// labels and selectors, paths and filters, tags, Expiration policies, identity policies on parameter ARNs, a disabled
// KMS key, the KMS events SSM makes on the caller's behalf, and a canary value found nowhere on disk or in the trail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SSMClient,
  PutParameterCommand,
  GetParameterCommand,
  GetParametersCommand,
  GetParametersByPathCommand,
  DescribeParametersCommand,
  GetParameterHistoryCommand,
  LabelParameterVersionCommand,
  UnlabelParameterVersionCommand,
  DeleteParameterCommand,
  DeleteParametersCommand,
  AddTagsToResourceCommand,
  RemoveTagsFromResourceCommand,
  ListTagsForResourceCommand,
  paginateGetParametersByPath,
} from '@aws-sdk/client-ssm';
import { KMSClient, CreateKeyCommand, CreateAliasCommand, DisableKeyCommand, EnableKeyCommand, DecryptCommand } from '@aws-sdk/client-kms';
import { IAMClient, CreateUserCommand, CreateAccessKeyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { SecretsManagerClient, CreateSecretCommand, PutSecretValueCommand, DeleteSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { startTrent, removeDir, REPO, type RunningTrent } from '../helpers/trent.ts';
import { aws, skipCliV2, type Cli } from '../helpers/cli.ts';
import { exec, fails } from '../helpers/assert.ts';

let t: RunningTrent;
let ssm: SSMClient;
let kms: KMSClient;
let account: string;
const CANARY = `canary-${randomBytes(8).toString('hex')}`;
const arnOf = (name: string): string => `arn:aws:ssm:${t.region}:${account}:parameter/${name.replace(/^\//, '')}`;

type Json = Record<string, unknown>;

before(async () => {
  t = await startTrent();
  ssm = new SSMClient(t.clientConfig());
  kms = new KMSClient(t.clientConfig());
  const sts = new STSClient(t.clientConfig());
  account = (await sts.send(new GetCallerIdentityCommand({}))).Account!;
  sts.destroy();
});
after(async () => {
  ssm?.destroy();
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

test('the server serves Parameter Store (src/cli/serve.ts lists ssmService)', async () => {
  const serve = await readFile(join(REPO, 'src/cli/serve.ts'), 'utf8');
  assert.match(serve, /ssmService\(/, 'serve.ts wires ssmService into the pipeline');
});

test('JS SDK: String and StringList, versions, Overwrite, selectors, history, errors', async () => {
  const put = await ssm.send(new PutParameterCommand({ Name: '/js/app/url', Value: 'one.example', Type: 'String', Description: 'endpoint', AllowedPattern: '^[a-z.]+$' }));
  assert.equal(put.Version, 1, 'version 1');
  assert.equal(put.Tier, 'Standard', 'Standard tier by default');
  await fails(ssm.send(new PutParameterCommand({ Name: '/js/app/url', Value: 'two.example', Type: 'String' })), 'ParameterAlreadyExists', 'without Overwrite');
  await fails(ssm.send(new PutParameterCommand({ Name: '/js/app/url', Value: 'TWO', Overwrite: true })), 'ParameterPatternMismatchException', 'AllowedPattern carried over');
  assert.equal((await ssm.send(new PutParameterCommand({ Name: '/js/app/url', Value: 'two.example', Overwrite: true }))).Version, 2, 'version 2');
  const got = (await ssm.send(new GetParameterCommand({ Name: '/js/app/url' }))).Parameter!;
  assert.equal(got.Value, 'two.example', 'the latest value');
  assert.equal(got.ARN, arnOf('/js/app/url'), 'the ARN');
  assert.ok(got.LastModifiedDate instanceof Date && Math.abs(got.LastModifiedDate.getTime() - Date.now()) < 60_000, 'LastModifiedDate is now');
  const v1 = (await ssm.send(new GetParameterCommand({ Name: '/js/app/url:1' }))).Parameter!;
  assert.equal(v1.Value, 'one.example', 'name:version');
  assert.equal(v1.Selector, ':1', 'the selector');
  assert.equal((await ssm.send(new GetParameterCommand({ Name: arnOf('/js/app/url') }))).Parameter!.Value, 'two.example', 'by ARN');
  await fails(ssm.send(new GetParameterCommand({ Name: '/js/app/url:7' })), 'ParameterVersionNotFound', 'a missing version');
  await fails(ssm.send(new GetParameterCommand({ Name: '/js/none' })), 'ParameterNotFound', 'a missing parameter');
  await fails(ssm.send(new PutParameterCommand({ Name: 'js/relative/name', Value: 'v', Type: 'String' })), 'ValidationException', 'a hierarchy without a leading slash');
  await fails(ssm.send(new PutParameterCommand({ Name: '/ssm/mine', Value: 'v', Type: 'String' })), 'ValidationException', 'the reserved ssm prefix');
  await fails(
    ssm.send(new PutParameterCommand({ Name: '/' + Array.from({ length: 16 }, (_, i) => `l${i}`).join('/'), Value: 'v', Type: 'String' })),
    'HierarchyLevelLimitExceededException',
    '16 levels',
  );
  await fails(ssm.send(new PutParameterCommand({ Name: '/js/big', Value: 'x'.repeat(4097), Type: 'String' })), 'ValidationException', '4097 bytes in Standard');

  await ssm.send(new PutParameterCommand({ Name: '/js/app/hosts', Value: 'a,b,c', Type: 'StringList' }));
  const both = await ssm.send(new GetParametersCommand({ Names: ['/js/app/hosts', '/js/app/url', '/js/app/missing'] }));
  assert.deepEqual(both.Parameters!.map((p) => [p.Name, p.Type, p.Value]), [['/js/app/hosts', 'StringList', 'a,b,c'], ['/js/app/url', 'String', 'two.example']], 'GetParameters');
  assert.deepEqual(both.InvalidParameters, ['/js/app/missing'], 'InvalidParameters');

  const label = await ssm.send(new LabelParameterVersionCommand({ Name: '/js/app/url', ParameterVersion: 1, Labels: ['stable', '9lives'] }));
  assert.deepEqual(label.InvalidLabels, ['9lives'], 'a label may not begin with a digit');
  assert.equal(label.ParameterVersion, 1, 'labelled version');
  assert.equal((await ssm.send(new GetParameterCommand({ Name: '/js/app/url:stable' }))).Parameter!.Value, 'one.example', 'name:label');
  await ssm.send(new LabelParameterVersionCommand({ Name: '/js/app/url', Labels: ['stable'] }));
  assert.equal((await ssm.send(new GetParameterCommand({ Name: '/js/app/url:stable' }))).Parameter!.Value, 'two.example', 'the label moved to the latest');
  const history = (await ssm.send(new GetParameterHistoryCommand({ Name: '/js/app/url' }))).Parameters!;
  assert.deepEqual(history.map((h) => [h.Version, h.Value, h.Labels]), [[1, 'one.example', []], [2, 'two.example', ['stable']]], 'history with labels');
  assert.ok(history.every((h) => h.Description === 'endpoint' && h.Tier === 'Standard' && /:user\/|:root$/.test(h.LastModifiedUser!)), 'history metadata');
  const un = await ssm.send(new UnlabelParameterVersionCommand({ Name: '/js/app/url', ParameterVersion: 2, Labels: ['stable', 'other'] }));
  assert.deepEqual(un.RemovedLabels, ['stable'], 'RemovedLabels');
  assert.deepEqual(un.InvalidLabels, ['other'], 'InvalidLabels');
});

test('JS SDK: SecureString with and without WithDecryption, standard and advanced tiers, a customer key by alias', async () => {
  await ssm.send(new PutParameterCommand({ Name: '/js/secret/db', Value: CANARY, Type: 'SecureString', Description: 'db password' }));
  const enc = (await ssm.send(new GetParameterCommand({ Name: '/js/secret/db' }))).Parameter!;
  assert.equal(enc.Type, 'SecureString', 'type');
  assert.notEqual(enc.Value, CANARY, 'without WithDecryption the value is not the plaintext');
  // The AWS managed key's policy allows its use only through SSM: even the admin cannot decrypt it directly.
  await fails(
    kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from(enc.Value!, 'base64'), EncryptionContext: { PARAMETER_ARN: arnOf('/js/secret/db') } })),
    'AccessDeniedException',
    'aws/ssm used outside SSM',
  );
  assert.equal((await ssm.send(new GetParameterCommand({ Name: '/js/secret/db', WithDecryption: true }))).Parameter!.Value, CANARY, 'WithDecryption');
  const meta = (await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Values: ['/js/secret/db'] }] }))).Parameters!;
  assert.equal(meta[0]!.KeyId, 'alias/aws/ssm', 'the AWS managed key by default');

  const key = (await kms.send(new CreateKeyCommand({ Description: 'ssm integration' }))).KeyMetadata!;
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/ssm-it', TargetKeyId: key.KeyId! }));
  const big = `${CANARY}-${'b'.repeat(6000)}`;
  const adv = await ssm.send(new PutParameterCommand({ Name: '/js/secret/big', Value: big, Type: 'SecureString', KeyId: 'alias/ssm-it', Tier: 'Intelligent-Tiering' }));
  assert.equal(adv.Tier, 'Advanced', 'Intelligent-Tiering picks Advanced for 6 KB');
  assert.equal((await ssm.send(new GetParameterCommand({ Name: '/js/secret/big', WithDecryption: true }))).Parameter!.Value, big, 'advanced round trip');
  const small = await ssm.send(new PutParameterCommand({ Name: '/js/secret/small', Value: CANARY, Type: 'SecureString', KeyId: key.Arn!, Tier: 'Intelligent-Tiering' }));
  assert.equal(small.Tier, 'Standard', 'Intelligent-Tiering picks Standard when it fits');
  // As on AWS, a standard-tier encrypted value is the KMS ciphertext: KMS itself opens it under the PARAMETER_ARN context.
  const smallEnc = (await ssm.send(new GetParameterCommand({ Name: '/js/secret/small' }))).Parameter!.Value!;
  const opened = await kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from(smallEnc, 'base64'), EncryptionContext: { PARAMETER_ARN: arnOf('/js/secret/small') } }));
  assert.equal(Buffer.from(opened.Plaintext!).toString(), CANARY, 'the ciphertext is a KMS CiphertextBlob under PARAMETER_ARN');
  assert.equal(opened.KeyId, key.Arn, 'under the customer key');
  await fails(ssm.send(new PutParameterCommand({ Name: '/js/secret/big', Value: 'v', Overwrite: true, Tier: 'Standard' })), 'ValidationException', 'no downgrade to Standard');
  await fails(ssm.send(new PutParameterCommand({ Name: '/js/secret/bad', Value: 'v', Type: 'SecureString', KeyId: 'alias/no-such-key' })), 'InvalidKeyId', 'an unknown key');
  const byKey = (await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'KeyId', Values: ['alias/ssm-it'] }] }))).Parameters!;
  assert.deepEqual(byKey.map((p) => [p.Name, p.Tier]), [['/js/secret/big', 'Advanced']], 'KeyId filter, as named');

  // Disabling the key stops decryption (and new versions); enabling it restores both.
  await kms.send(new DisableKeyCommand({ KeyId: key.KeyId! }));
  const err = await fails(ssm.send(new GetParameterCommand({ Name: '/js/secret/big', WithDecryption: true })), 'InvalidKeyId', 'a disabled key');
  assert.match(err.message, /DisabledException/, 'the message names the KMS error');
  await fails(ssm.send(new GetParametersCommand({ Names: ['/js/secret/small'], WithDecryption: true })), 'InvalidKeyId', 'GetParameters with a disabled key');
  assert.ok((await ssm.send(new GetParameterCommand({ Name: '/js/secret/big' }))).Parameter!.Value, 'the encrypted value is still readable without decryption');
  await kms.send(new EnableKeyCommand({ KeyId: key.KeyId! }));
  assert.equal((await ssm.send(new GetParameterCommand({ Name: '/js/secret/big', WithDecryption: true }))).Parameter!.Value, big, 'enabled again');
});

test('JS SDK: paths, filters, pagination, tags, deletion', async () => {
  for (const [name, type] of [
    ['/js/tree/a', 'String'],
    ['/js/tree/b', 'SecureString'],
    ['/js/tree/sub/c', 'String'],
    ['/js/tree/sub/deep/d', 'StringList'],
  ] as const) {
    await ssm.send(new PutParameterCommand({ Name: name, Value: `value-of-${name.split('/').pop()}`, Type: type, Tags: [{ Key: 'tree', Value: 'yes' }] }));
  }
  const level = (await ssm.send(new GetParametersByPathCommand({ Path: '/js/tree', WithDecryption: true }))).Parameters!;
  assert.deepEqual(level.map((p) => [p.Name, p.Value]), [['/js/tree/a', 'value-of-a'], ['/js/tree/b', 'value-of-b']], 'one level, decrypted');
  const names: string[] = [];
  for await (const page of paginateGetParametersByPath({ client: ssm, pageSize: 1 }, { Path: '/js/tree', Recursive: true })) {
    assert.ok((page.Parameters ?? []).length <= 1, 'pages of one');
    names.push(...(page.Parameters ?? []).map((p) => p.Name!));
  }
  assert.deepEqual(names, ['/js/tree/a', '/js/tree/b', '/js/tree/sub/c', '/js/tree/sub/deep/d'], 'the paginator walks the hierarchy');
  const secure = (await ssm.send(new GetParametersByPathCommand({ Path: '/js/tree', Recursive: true, ParameterFilters: [{ Key: 'Type', Values: ['SecureString'] }] }))).Parameters!;
  assert.deepEqual(secure.map((p) => p.Name), ['/js/tree/b'], 'Type filter');
  await fails(ssm.send(new GetParametersByPathCommand({ Path: '/js/tree', ParameterFilters: [{ Key: 'Tier', Values: ['Standard'] }] })), 'InvalidFilterKey', 'Tier in GetParametersByPath');
  const described = (await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: ['/js/tree'] }, { Key: 'tag:tree', Values: ['yes'] }], MaxResults: 2 })));
  assert.equal(described.Parameters!.length, 2, 'MaxResults');
  assert.ok(described.NextToken, 'more to come');
  const rest = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: ['/js/tree'] }, { Key: 'tag:tree', Values: ['yes'] }], NextToken: described.NextToken }));
  assert.deepEqual([...described.Parameters!, ...rest.Parameters!].map((p) => p.Name), ['/js/tree/a', '/js/tree/b', '/js/tree/sub/c', '/js/tree/sub/deep/d'], 'two pages');
  await fails(ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'Sideways', Values: ['/js'] }] })), 'InvalidFilterOption', 'a bad option');

  await ssm.send(new AddTagsToResourceCommand({ ResourceType: 'Parameter', ResourceId: '/js/tree/a', Tags: [{ Key: 'owner', Value: 'team-a' }] }));
  await ssm.send(new RemoveTagsFromResourceCommand({ ResourceType: 'Parameter', ResourceId: '/js/tree/a', TagKeys: ['tree'] }));
  assert.deepEqual((await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/js/tree/a' }))).TagList, [{ Key: 'owner', Value: 'team-a' }], 'tags');
  await fails(ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/js/tree/none' })), 'InvalidResourceId', 'tags of a missing parameter');
  await fails(ssm.send(new PutParameterCommand({ Name: '/js/tree/a', Value: 'v', Overwrite: true, Tags: [{ Key: 'k', Value: 'v' }] })), 'ValidationException', 'Tags with Overwrite');

  await ssm.send(new DeleteParameterCommand({ Name: '/js/tree/a' }));
  await fails(ssm.send(new DeleteParameterCommand({ Name: '/js/tree/a' })), 'ParameterNotFound', 'deleted already');
  const del = await ssm.send(new DeleteParametersCommand({ Names: ['/js/tree/b', '/js/tree/sub/c', '/js/tree/none'] }));
  assert.deepEqual(del.DeletedParameters, ['/js/tree/b', '/js/tree/sub/c'], 'DeletedParameters');
  assert.deepEqual(del.InvalidParameters, ['/js/tree/none'], 'InvalidParameters');
});

test('JS SDK: an Expiration policy deletes the parameter when its time comes', async () => {
  const at = new Date(Date.now() + 2500).toISOString();
  const policies = JSON.stringify([{ Type: 'Expiration', Version: '1.0', Attributes: { Timestamp: at } }]);
  await fails(ssm.send(new PutParameterCommand({ Name: '/js/exp/token', Value: 'short-lived', Type: 'String', Policies: policies })), 'ValidationException', 'policies need the advanced tier');
  await fails(
    ssm.send(new PutParameterCommand({ Name: '/js/exp/token', Value: 'v', Type: 'String', Tier: 'Advanced', Policies: JSON.stringify([{ Type: 'NoChangeNotification', Version: '1.0', Attributes: { After: '1', Unit: 'Days' } }]) })),
    'InvalidPolicyTypeException',
    'notification policies are refused',
  );
  assert.equal((await ssm.send(new PutParameterCommand({ Name: '/js/exp/token', Value: 'short-lived', Type: 'String', Tier: 'Advanced', Policies: policies }))).Tier, 'Advanced', 'created');
  const meta = (await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Values: ['/js/exp/token'] }] }))).Parameters![0]!;
  assert.equal(meta.Policies![0]!.PolicyType, 'Expiration', 'the policy is listed');
  assert.equal(meta.Policies![0]!.PolicyStatus, 'Pending', 'pending');
  assert.equal((await ssm.send(new GetParameterCommand({ Name: '/js/exp/token' }))).Parameter!.Value, 'short-lived', 'readable before it expires');
  await new Promise((r) => setTimeout(r, 3000));
  await fails(ssm.send(new GetParameterCommand({ Name: '/js/exp/token' })), 'ParameterNotFound', 'gone after expiry');
  const left = (await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Values: ['/js/exp/token'] }] }))).Parameters!;
  assert.equal(left.length, 0, 'and not listed');
});

test('identity policies: ssm:GetParameter on parameter ARNs decides what a user may read', async () => {
  const iam = new IAMClient(t.clientConfig());
  await iam.send(new CreateUserCommand({ UserName: 'param-reader' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'param-reader' }))).AccessKey!;
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'param-reader',
      PolicyName: 'team-params',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:GetParameters'], Resource: `arn:aws:ssm:*:*:parameter/team/*` }] }),
    }),
  );
  await ssm.send(new PutParameterCommand({ Name: '/team/setting', Value: 'team-value', Type: 'String' }));
  await ssm.send(new PutParameterCommand({ Name: '/team/secret', Value: 'team-secret', Type: 'SecureString' }));
  await ssm.send(new PutParameterCommand({ Name: '/other/setting', Value: 'other-value', Type: 'String' }));
  const reader = new SSMClient(t.clientConfig({ credentials: { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! } }));
  try {
    assert.equal((await reader.send(new GetParameterCommand({ Name: '/team/setting' }))).Parameter!.Value, 'team-value', 'allowed under /team/');
    // The aws/ssm managed key lets every principal of the account use it through SSM: no kms:Decrypt needed.
    assert.equal((await reader.send(new GetParameterCommand({ Name: '/team/secret', WithDecryption: true }))).Parameter!.Value, 'team-secret', 'a SecureString under aws/ssm');
    const denied = await fails(reader.send(new GetParameterCommand({ Name: '/other/setting' })), 'AccessDeniedException', 'outside /team/');
    assert.match(denied.message, /ssm:GetParameter/, 'the message names the action');
    await fails(reader.send(new GetParametersCommand({ Names: ['/team/setting', '/other/setting'] })), 'AccessDeniedException', 'GetParameters with one refused name');
    await fails(reader.send(new PutParameterCommand({ Name: '/team/setting', Value: 'x', Overwrite: true })), 'AccessDeniedException', 'no ssm:PutParameter');
    await fails(reader.send(new DescribeParametersCommand({})), 'AccessDeniedException', 'no ssm:DescribeParameters');
  } finally {
    reader.destroy();
    iam.destroy();
  }
});

test('a root-level parameter is one parameter with or without its leading slash, kept without it as on AWS', async () => {
  await ssm.send(new PutParameterCommand({ Name: 'rootplain', Value: 'plain', Type: 'String' }));
  await ssm.send(new PutParameterCommand({ Name: '/rootslash', Value: 'slashed', Type: 'String' }));
  const cases: Array<[string, string, string]> = [['/rootplain', 'rootplain', 'plain'], ['rootplain', 'rootplain', 'plain'], ['rootslash', 'rootslash', 'slashed'], ['/rootslash', 'rootslash', 'slashed']];
  for (const [asked, name, value] of cases) {
    const p = (await ssm.send(new GetParameterCommand({ Name: asked }))).Parameter!;
    assert.deepEqual([p.Name, p.Value, p.ARN], [name, value, arnOf(name)], `GetParameter ${asked}`);
  }
  const both = await ssm.send(new GetParametersCommand({ Names: ['/rootplain', 'rootslash'] }));
  assert.deepEqual(both.Parameters!.map((p) => [p.Name, p.Value]), [['rootplain', 'plain'], ['rootslash', 'slashed']]);
  assert.deepEqual(both.InvalidParameters, []);
  await fails(ssm.send(new PutParameterCommand({ Name: '/rootplain', Value: 'again', Type: 'String' })), 'ParameterAlreadyExists', 'the same parameter');
  await ssm.send(new PutParameterCommand({ Name: 'rootslash', Value: 'v2', Overwrite: true }));
  assert.deepEqual((await ssm.send(new GetParameterHistoryCommand({ Name: '/rootslash' }))).Parameters!.map((h) => h.Value), ['slashed', 'v2']);
  await ssm.send(new LabelParameterVersionCommand({ Name: '/rootplain', Labels: ['stable'] }));
  assert.equal((await ssm.send(new GetParameterCommand({ Name: 'rootplain:stable' }))).Parameter!.Value, 'plain');
  await ssm.send(new AddTagsToResourceCommand({ ResourceType: 'Parameter', ResourceId: '/rootplain', Tags: [{ Key: 'k', Value: 'v' }] }));
  assert.deepEqual((await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: 'rootplain' }))).TagList, [{ Key: 'k', Value: 'v' }]);
  const described = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Values: ['/rootplain', 'rootslash'] }] }));
  assert.deepEqual(described.Parameters!.map((p) => p.Name).sort(), ['rootplain', 'rootslash']);
  await ssm.send(new DeleteParameterCommand({ Name: '/rootplain' }));
  await fails(ssm.send(new GetParameterCommand({ Name: 'rootplain' })), 'ParameterNotFound', 'deleted by either name');
  assert.deepEqual((await ssm.send(new DeleteParametersCommand({ Names: ['/rootslash'] }))).DeletedParameters, ['rootslash']);
});

test('/aws/reference/secretsmanager/ reads a Secrets Manager secret through GetParameter and GetParameters, with decryption, audited as a GetSecretValue invoked by SSM', async () => {
  const sm = new SecretsManagerClient(t.clientConfig());
  const ref = '/aws/reference/secretsmanager/';
  const value = `ref-${CANARY}`;
  try {
    const created = await sm.send(new CreateSecretCommand({ Name: 'app/ref', SecretString: 'first-value' }));
    const second = await sm.send(new PutSecretValueCommand({ SecretId: 'app/ref', SecretString: value }));
    const current = await sm.send(new GetSecretValueCommand({ SecretId: 'app/ref' }));

    const p = (await ssm.send(new GetParameterCommand({ Name: `${ref}app/ref`, WithDecryption: true }))).Parameter!;
    assert.equal(p.Name, `${ref}app/ref`);
    assert.equal(p.Type, 'SecureString');
    assert.equal(p.Value, value);
    assert.equal(p.Version, 0);
    assert.equal(p.ARN, created.ARN);
    assert.equal(p.Selector, undefined);
    assert.equal(p.DataType, undefined);
    assert.equal(p.LastModifiedDate!.getTime(), current.CreatedDate!.getTime(), 'the version was created then');
    const source = JSON.parse(p.SourceResult!) as Json;
    assert.deepEqual([source['ARN'], source['name'], source['versionId'], source['secretString'], source['versionStages']], [created.ARN, 'app/ref', second.VersionId, value, ['AWSCURRENT']]);
    assert.equal(typeof source['createdDate'], 'string');

    // A staging label or a version id after ':' selects the version.
    const previous = (await ssm.send(new GetParameterCommand({ Name: `${ref}app/ref:AWSPREVIOUS`, WithDecryption: true }))).Parameter!;
    assert.deepEqual([previous.Name, previous.Value, previous.Selector], [`${ref}app/ref`, 'first-value', ':AWSPREVIOUS']);
    assert.equal((await ssm.send(new GetParameterCommand({ Name: `${ref}app/ref:${created.VersionId}`, WithDecryption: true }))).Parameter!.Value, 'first-value');

    // Errors with AWS's words: decryption is required; malformed selectors are refused first; a missing secret is not found.
    const needsDecryption = await fails(ssm.send(new GetParameterCommand({ Name: `${ref}app/ref` })), 'ValidationException');
    assert.equal(needsDecryption.message, 'WithDecryption flag must be True for retrieving a Secret Manager secret.');
    for (const bad of [`${ref}app/ref:AWSCURRENT:extra`, `${ref}app/ref:`]) {
      const e = await fails(ssm.send(new GetParameterCommand({ Name: bad })), 'ValidationException', bad);
      assert.equal(e.message, 'Invalid parameter name. Please use correct syntax for referencing a version/label  <name>:<version/label>');
    }
    const missing = await fails(ssm.send(new GetParameterCommand({ Name: `${ref}app/none`, WithDecryption: true })), 'ParameterNotFound');
    assert.equal(missing.message, 'An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret aws/reference/secretsmanager/app/nonenull not found.');
    const noStage = await fails(ssm.send(new GetParameterCommand({ Name: `${ref}app/ref:NOSUCHSTAGE`, WithDecryption: true })), 'ParameterNotFound');
    assert.equal(noStage.message, 'An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret aws/reference/secretsmanager/app/ref:NOSUCHSTAGE not found.');

    // GetParameters answers references beside parameters; what it cannot answer is an invalid parameter.
    await ssm.send(new PutParameterCommand({ Name: '/ref/plain', Value: 'plain', Type: 'String', Overwrite: true }));
    const many = await ssm.send(new GetParametersCommand({ Names: [`${ref}app/ref`, `${ref}app/ref:AWSPREVIOUS`, `${ref}app/none`, `${ref}app/ref:NOSUCH`, `${ref}app/ref:a:b`, '/ref/plain'], WithDecryption: true }));
    assert.deepEqual(many.Parameters!.map((x) => x.Value).sort(), ['first-value', 'plain', value].sort());
    assert.deepEqual([...many.InvalidParameters!].sort(), [`${ref}app/none`, `${ref}app/ref:NOSUCH`, `${ref}app/ref:a:b`].sort());
    const plainOnly = await ssm.send(new GetParametersCommand({ Names: [`${ref}app/ref`, '/ref/plain'] }));
    assert.deepEqual(plainOnly.Parameters!.map((x) => x.Value), ['plain']);
    assert.deepEqual(plainOnly.InvalidParameters, [`${ref}app/ref`], 'without decryption a reference is invalid');

    // The secret's own access control decides: a user with ssm:GetParameter alone is refused.
    const iam = new IAMClient(t.clientConfig());
    await iam.send(new CreateUserCommand({ UserName: 'ssm-only' }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'ssm-only' }))).AccessKey!;
    await iam.send(new PutUserPolicyCommand({ UserName: 'ssm-only', PolicyName: 'ssm', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: '*' }] }) }));
    iam.destroy();
    const ssmOnly = new SSMClient(t.clientConfig({ credentials: { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! } }));
    try {
      const denied = await fails(ssmOnly.send(new GetParameterCommand({ Name: `${ref}app/ref`, WithDecryption: true })), 'AccessDeniedException');
      assert.match(denied.message, /secretsmanager:GetSecretValue/);
    } finally {
      ssmOnly.destroy();
    }

    // A secret scheduled for deletion.
    await sm.send(new CreateSecretCommand({ Name: 'app/leaving', SecretString: 'x' }));
    await sm.send(new DeleteSecretCommand({ SecretId: 'app/leaving', RecoveryWindowInDays: 7 }));
    const leaving = await fails(ssm.send(new GetParameterCommand({ Name: `${ref}app/leaving`, WithDecryption: true })), 'ValidationException');
    assert.equal(leaving.message, 'Invalid Request to Secrets Manager');

    // On record: a GetSecretValue by Secrets Manager, invoked by SSM for the caller; the value in no event.
    const ct = new CloudTrailClient(t.clientConfig());
    try {
      const events = ((await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'GetSecretValue' }], MaxResults: 50 }))).Events ?? []).map(
        (e) => JSON.parse(e.CloudTrailEvent!) as Json,
      );
      const viaSsm = events.filter((e) => (e['userIdentity'] as Json)['invokedBy'] === 'ssm.amazonaws.com');
      const read = viaSsm.find((e) => (e['requestParameters'] as Json)['secretId'] === 'app/ref' && e['errorCode'] === undefined);
      assert.ok(read, `a GetSecretValue invoked by SSM (${viaSsm.length} such events)`);
      assert.equal(read['eventSource'], 'secretsmanager.amazonaws.com');
      assert.equal(read['sourceIPAddress'], 'ssm.amazonaws.com');
      assert.equal((read['userIdentity'] as Json)['accountId'], account, 'the caller, not SSM');
      assert.equal(read['responseElements'], null);
      assert.deepEqual((read['resources'] as Json[])[0], { ARN: created.ARN, accountId: account, type: 'AWS::SecretsManager::Secret' });
      assert.ok(viaSsm.some((e) => e['errorCode'] === 'ResourceNotFoundException'), 'the failed lookups are on record too');
      const all = await ct.send(new LookupEventsCommand({ MaxResults: 50 }));
      assert.ok(!JSON.stringify(all.Events).includes(value), 'the value in no event');
    } finally {
      ct.destroy();
    }
  } finally {
    sm.destroy();
  }
});

const BOTO3 = String.raw`
import boto3, json, sys
from botocore.exceptions import ClientError
ssm = boto3.client('ssm')
out = {}
out['put'] = ssm.put_parameter(Name='/py/db/password', Value=sys.argv[1], Type='SecureString', Description='from boto3')['Version']
ssm.put_parameter(Name='/py/db/password', Value=sys.argv[1] + '-2', Type='SecureString', Overwrite=True)
ssm.put_parameter(Name='/py/db/host', Value='db.internal', Type='String', Tags=[{'Key': 'src', 'Value': 'boto3'}])
out['plain'] = ssm.get_parameter(Name='/py/db/password', WithDecryption=True)['Parameter']['Value'] == sys.argv[1] + '-2'
out['encrypted'] = ssm.get_parameter(Name='/py/db/password')['Parameter']['Value'] != sys.argv[1] + '-2'
r = ssm.get_parameters(Names=['/py/db/password:1', '/py/db/host', '/py/nope'], WithDecryption=True)
out['get_parameters'] = [[p['Name'], p.get('Selector'), p['Value'] == sys.argv[1]] for p in r['Parameters']]
out['invalid'] = r['InvalidParameters']
pages = ssm.get_paginator('get_parameters_by_path').paginate(Path='/py', Recursive=True, PaginationConfig={'PageSize': 1})
out['by_path'] = [p['Name'] for page in pages for p in page['Parameters']]
out['label'] = ssm.label_parameter_version(Name='/py/db/password', ParameterVersion=1, Labels=['old'])['ParameterVersion']
out['by_label'] = ssm.get_parameter(Name='/py/db/password:old', WithDecryption=True)['Parameter']['Value'] == sys.argv[1]
out['history'] = [[h['Version'], h.get('Labels', [])] for h in ssm.get_parameter_history(Name='/py/db/password')['Parameters']]
out['unlabel'] = ssm.unlabel_parameter_version(Name='/py/db/password', ParameterVersion=1, Labels=['old'])['RemovedLabels']
out['describe'] = [[p['Name'], p['Type'], p.get('KeyId')] for p in ssm.describe_parameters(ParameterFilters=[{'Key': 'Path', 'Option': 'Recursive', 'Values': ['/py']}])['Parameters']]
ssm.add_tags_to_resource(ResourceType='Parameter', ResourceId='/py/db/host', Tags=[{'Key': 'tier', 'Value': 'db'}])
ssm.remove_tags_from_resource(ResourceType='Parameter', ResourceId='/py/db/host', TagKeys=['src'])
out['tags'] = ssm.list_tags_for_resource(ResourceType='Parameter', ResourceId='/py/db/host')['TagList']
try:
    ssm.get_parameter(Name='/py/missing')
except ClientError as e:
    out['missing'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
try:
    ssm.put_parameter(Name='/py/db/host', Value='x', Type='String')
except ssm.exceptions.ParameterAlreadyExists:
    out['exists'] = True
d = ssm.delete_parameters(Names=['/py/db/host', '/py/none'])
out['deleted'] = [d['DeletedParameters'], d['InvalidParameters']]
ssm.delete_parameter(Name='/py/db/password')
print(json.dumps(out))
`;

test('boto3: every operation, a paginator, modeled exceptions', async () => {
  const r = await exec('python3', ['-c', BOTO3, CANARY], t.cliEnv());
  assert.equal(r.code, 0, `boto3 script failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Json;
  assert.equal(out['put'], 1, 'put_parameter version');
  assert.equal(out['plain'], true, 'get_parameter WithDecryption');
  assert.equal(out['encrypted'], true, 'get_parameter without decryption');
  assert.deepEqual(out['get_parameters'], [['/py/db/host', null, false], ['/py/db/password', ':1', true]], 'get_parameters with a version selector');
  assert.deepEqual(out['invalid'], ['/py/nope'], 'InvalidParameters');
  assert.deepEqual(out['by_path'], ['/py/db/host', '/py/db/password'], 'the get_parameters_by_path paginator');
  assert.equal(out['label'], 1, 'label_parameter_version');
  assert.equal(out['by_label'], true, 'name:label');
  assert.deepEqual(out['history'], [[1, ['old']], [2, []]], 'get_parameter_history');
  assert.deepEqual(out['unlabel'], ['old'], 'unlabel_parameter_version');
  assert.deepEqual(out['describe'], [['/py/db/host', 'String', null], ['/py/db/password', 'SecureString', 'alias/aws/ssm']], 'describe_parameters');
  assert.deepEqual(out['tags'], [{ Key: 'tier', Value: 'db' }], 'tags');
  assert.deepEqual(out['missing'], ['ParameterNotFound', 400], 'ParameterNotFound, HTTP 400');
  assert.equal(out['exists'], true, 'ParameterAlreadyExists as a modeled exception');
  assert.deepEqual(out['deleted'], [['/py/db/host'], ['/py/none']], 'delete_parameters');
});

for (const cli of ['v1', 'v2'] as const) {
  test(`AWS CLI ${cli}: put, get, describe, by path, labels, history, tags, delete, errors`, { skip: cli === 'v2' ? skipCliV2 : false }, async () => {
    const p = `/cli-${cli}/app`;
    const run = async (args: string[]): Promise<Json> => {
      const r = await aws(t, cli as Cli, ['ssm', ...args, '--output', 'json']);
      assert.equal(r.code, 0, `aws ${cli} ssm ${args[0]} failed (${r.code}): ${r.stderr}`);
      return (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as Json;
    };
    assert.equal((await run(['put-parameter', '--name', `${p}/secret`, '--value', `${CANARY}-${cli}`, '--type', 'SecureString']))['Version'], 1, 'put-parameter SecureString');
    await run(['put-parameter', '--name', `${p}/secret`, '--value', `${CANARY}-${cli}-2`, '--type', 'SecureString', '--overwrite']);
    await run(['put-parameter', '--name', `${p}/plain`, '--value', 'plain-value', '--type', 'String', '--tags', 'Key=made-by,Value=cli']);
    const dec = (await run(['get-parameter', '--name', `${p}/secret`, '--with-decryption']))['Parameter'] as Json;
    assert.equal(dec['Value'], `${CANARY}-${cli}-2`, 'get-parameter --with-decryption');
    const enc = (await run(['get-parameter', '--name', `${p}/secret`]))['Parameter'] as Json;
    assert.notEqual(enc['Value'], `${CANARY}-${cli}-2`, 'get-parameter without decryption');
    const many = await run(['get-parameters', '--names', `${p}/plain`, `${p}/secret:1`, `${p}/nothing`, '--with-decryption']);
    assert.deepEqual((many['Parameters'] as Json[]).map((x) => x['Name']), [`${p}/plain`, `${p}/secret`], 'get-parameters');
    assert.deepEqual(many['InvalidParameters'], [`${p}/nothing`], 'get-parameters InvalidParameters');
    const byPath = await run(['get-parameters-by-path', '--path', `/cli-${cli}`, '--recursive', '--with-decryption']);
    assert.deepEqual((byPath['Parameters'] as Json[]).map((x) => x['Name']), [`${p}/plain`, `${p}/secret`], 'get-parameters-by-path --recursive (the CLI pages by itself)');
    const described = await run(['describe-parameters', '--parameter-filters', `Key=Path,Option=Recursive,Values=/cli-${cli}`, 'Key=Type,Values=SecureString']);
    assert.deepEqual((described['Parameters'] as Json[]).map((x) => [x['Name'], x['KeyId'], x['Version']]), [[`${p}/secret`, 'alias/aws/ssm', 2]], 'describe-parameters');
    assert.deepEqual((await run(['label-parameter-version', '--name', `${p}/secret`, '--parameter-version', '1', '--labels', 'first']))['InvalidLabels'], [], 'label-parameter-version');
    const hist = (await run(['get-parameter-history', '--name', `${p}/secret`, '--with-decryption']))['Parameters'] as Json[];
    assert.deepEqual(hist.map((h) => [h['Version'], h['Labels'], h['Value'] === `${CANARY}-${cli}`]), [[1, ['first'], true], [2, [], false]], 'get-parameter-history');
    assert.deepEqual((await run(['unlabel-parameter-version', '--name', `${p}/secret`, '--parameter-version', '1', '--labels', 'first']))['RemovedLabels'], ['first'], 'unlabel-parameter-version');
    await run(['add-tags-to-resource', '--resource-type', 'Parameter', '--resource-id', `${p}/plain`, '--tags', 'Key=env,Value=test']);
    await run(['remove-tags-from-resource', '--resource-type', 'Parameter', '--resource-id', `${p}/plain`, '--tag-keys', 'made-by']);
    assert.deepEqual((await run(['list-tags-for-resource', '--resource-type', 'Parameter', '--resource-id', `${p}/plain`]))['TagList'], [{ Key: 'env', Value: 'test' }], 'tags');
    const missing = await aws(t, cli as Cli, ['ssm', 'get-parameter', '--name', `${p}/missing`]);
    assert.equal(missing.code, cli === 'v1' ? 255 : 254, `a service error exit code: ${missing.stderr}`);
    assert.match(missing.stderr, /\(ParameterNotFound\)/, 'ParameterNotFound');
    const exists = await aws(t, cli as Cli, ['ssm', 'put-parameter', '--name', `${p}/plain`, '--value', 'v', '--type', 'String']);
    assert.match(exists.stderr, /\(ParameterAlreadyExists\)/, 'ParameterAlreadyExists');
    await run(['delete-parameter', '--name', `${p}/plain`]);
    const del = await run(['delete-parameters', '--names', `${p}/secret`, `${p}/plain`]);
    assert.deepEqual([del['DeletedParameters'], del['InvalidParameters']], [[`${p}/secret`], [`${p}/plain`]], 'delete-parameters');
  });
}

test('the audit trail: SSM calls without values; KMS Encrypt and Decrypt invoked by SSM under PARAMETER_ARN; the canary nowhere on disk', async () => {
  // Make sure this test has its own SecureString to look for, whatever ran before.
  await ssm.send(new PutParameterCommand({ Name: '/trail/secret', Value: CANARY, Type: 'SecureString', Overwrite: true }));
  assert.equal((await ssm.send(new GetParameterCommand({ Name: '/trail/secret', WithDecryption: true }))).Parameter!.Value, CANARY, 'read back');
  const ct = new CloudTrailClient(t.clientConfig());
  try {
    const lookup = async (key: 'EventName' | 'EventSource', value: string): Promise<Json[]> => {
      const events: Json[] = [];
      let token: string | undefined;
      do {
        const r = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: key, AttributeValue: value }], MaxResults: 50, ...(token ? { NextToken: token } : {}) }));
        events.push(...(r.Events ?? []).map((e) => JSON.parse(e.CloudTrailEvent!) as Json));
        token = r.NextToken;
      } while (token);
      return events;
    };
    for (const name of ['Encrypt', 'Decrypt']) {
      const viaSsm = (await lookup('EventName', name)).filter((e) => (e['userIdentity'] as Json)['invokedBy'] === 'ssm.amazonaws.com');
      const mine = viaSsm.find((e) => ((e['requestParameters'] as Json)['encryptionContext'] as Json)['PARAMETER_ARN'] === arnOf('/trail/secret'));
      assert.ok(mine, `a KMS ${name} event invoked by SSM for /trail/secret (${viaSsm.length} via SSM)`);
      assert.equal(mine['eventSource'], 'kms.amazonaws.com', `${name}: a KMS event`);
      assert.equal(mine['sourceIPAddress'], 'ssm.amazonaws.com', `${name}: sourceIPAddress names SSM`);
      assert.ok(viaSsm.every((e) => String(((e['requestParameters'] as Json)['encryptionContext'] as Json)['PARAMETER_ARN']).startsWith(`arn:aws:ssm:${t.region}:${account}:parameter/`)), `${name}: every SSM-made event carries PARAMETER_ARN`);
    }
    const ssmEvents = await lookup('EventSource', 'ssm.amazonaws.com');
    const put = ssmEvents.find((e) => e['eventName'] === 'PutParameter' && (e['requestParameters'] as Json)['name'] === '/trail/secret');
    assert.ok(put, 'the PutParameter event');
    assert.deepEqual(Object.keys(put['requestParameters'] as Json).sort(), ['name', 'overwrite', 'type'], 'PutParameter shows name, type and overwrite, not the value');
    assert.equal(typeof (put['responseElements'] as Json)['version'], 'number', 'PutParameter responseElements: the version');
    assert.equal((put['responseElements'] as Json)['tier'], 'Standard', 'PutParameter responseElements: the tier');
    const get = ssmEvents.find((e) => e['eventName'] === 'GetParameter' && (e['requestParameters'] as Json)['name'] === '/trail/secret');
    assert.ok(get, 'the GetParameter event');
    assert.equal((get['requestParameters'] as Json)['withDecryption'], true, 'withDecryption shown');
    assert.equal(get['responseElements'], null, 'GetParameter responseElements are null');
    assert.equal(get['readOnly'], true, 'GetParameter is read-only');
    assert.deepEqual((get['resources'] as Json[])[0], { ARN: arnOf('/trail/secret'), accountId: account, type: 'AWS::SSM::Parameter' }, 'the resource');
    const allText = JSON.stringify(ssmEvents) + JSON.stringify(await lookup('EventSource', 'kms.amazonaws.com'));
    assert.ok(!allText.includes(CANARY), 'no SSM or KMS event holds the canary');
  } finally {
    ct.destroy();
  }
  const hits: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && (await readFile(p)).includes(CANARY)) hits.push(p);
    }
  };
  await walk(t.dataDir);
  assert.deepEqual(hits, [], 'no file under the data directory holds the canary');
});
