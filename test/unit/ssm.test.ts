// Parameter Store's operation handlers, run directly (no HTTP) over a real SQLite database and a real KMS
// (its handlers behind KmsServiceClient), with a test clock, a recording audit sink and a switchable
// authorizer: versions, tiers, envelope encryption, Expiration policies, labels, tags, filters, pagination,
// name rules, KMS failures and what the audit policy lets through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { migrations } from '../../src/store/migrations.ts';
import { KeyFileRoot } from '../../src/root/keyfile.ts';
import { KeyStore } from '../../src/kms/keys.ts';
import { kmsService } from '../../src/kms/api.ts';
import { KmsServiceClient } from '../../src/kms/service-client.ts';
import { AccessDeniedError, type AccessCheck, type Authorizer } from '../../src/iam/authorizer.ts';
import type { Recorder } from '../../src/trail/recorder.ts';
import type { TrailStore } from '../../src/trail/store.ts';
import type { TrailEvent } from '../../src/trail/event.ts';
import type { CallContext, JsonService } from '../../src/server/service.ts';
import { AwsError } from '../../src/wire/errors.ts';
import { ssmService } from '../../src/ssm/api.ts';
import { canonicalName, checkName, parseRef, underPath, validLabel } from '../../src/ssm/names.ts';
import { parseSecretReference, secretParameter } from '../../src/ssm/secret-reference.ts';
import { parsePolicies } from '../../src/ssm/policies.ts';
import { decodeEnvelope, ENVELOPE_V1 } from '../../src/ssm/secure.ts';
import { checkPattern } from '../../src/ssm/pattern.ts';
import { removeDir, tempDir } from '../helpers/trent.ts';

const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/alice`;
const arnOf = (name: string): string => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/${name.replace(/^\//, '')}`;

type Json = Record<string, unknown>;

let dir: string;
let db: SqliteDatabase;
let kms: JsonService;
let ssm: JsonService;
let clock = Date.parse('2030-01-01T00:00:00Z');
const kmsEvents: TrailEvent[] = [];
const checks: AccessCheck[] = [];
/** Return a message to refuse a check. */
let deny: (c: AccessCheck) => string | undefined = () => undefined;

function ctx(operation: string, input: Json): CallContext {
  return {
    requestId: `req-${operation}`,
    principal: { type: 'IAMUser', accountId: ACCOUNT, arn: USER_ARN, principalId: 'AIDAALICE', userName: 'alice', accessKeyId: 'AKIAALICE' },
    region: REGION,
    signingRegion: REGION,
    sourceIp: '127.0.0.1',
    userAgent: 'unit',
    receivedAt: new Date(clock),
    resources: [],
    operation,
    input,
    async authorize(check: AccessCheck) {
      checks.push(check);
      const refusal = deny(check);
      if (refusal) throw new AccessDeniedError(refusal);
    },
  };
}

async function call<T = Json>(op: string, input: Json): Promise<T> {
  const handler = ssm.operations[op];
  assert.ok(handler, `ssm implements ${op}`);
  return (await handler(ctx(op, input), input)) as T;
}

async function kmsCall<T = Json>(op: string, input: Json): Promise<T> {
  return (await kms.operations[op]!(ctx(op, input), input)) as T;
}

/** The call must fail with this SSM error code (HTTP 400). */
async function fails(p: Promise<unknown>, code: string, what: string): Promise<AwsError> {
  const err = await p.then(
    (v) => assert.fail(`${what}: expected ${code}, but it succeeded: ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
  if (err instanceof AccessDeniedError) {
    assert.equal('AccessDeniedException', code, `${what}: expected ${code}, got an access denial: ${err.message}`);
    return new AwsError('AccessDeniedException', 400, err.message);
  }
  assert.ok(err instanceof AwsError, `${what}: expected an AwsError, got ${String(err)}`);
  assert.equal(err.code, code, `${what}: expected ${code}, got ${err.code}: ${err.message}`);
  assert.equal(err.status, 400, `${what}: ${code} is HTTP 400 in SSM`);
  return err;
}

before(async () => {
  dir = await tempDir('trent-ssm-unit-');
  db = SqliteDatabase.open(join(dir, 'db'));
  await db.migrate(migrations);
  const keys = new KeyStore(db, await KeyFileRoot.create(join(dir, 'root.key')), ACCOUNT, REGION);
  const authorizer = {
    identityPolicyTexts: async () => [],
    identityPolicies: async () => [],
    parseResourcePolicy: () => ({}),
    // KMS keeps key policies with principals bound to unique ids; the default key policy names only the account.
    bindPrincipals: async (text: string) => text,
    renderPrincipals: async (text: string) => text,
  } as unknown as Authorizer;
  kms = kmsService({ keys, authorizer, trail: {} as TrailStore, trailRetentionDays: 90, now: () => clock });
  const recorder = { record: async (e: TrailEvent) => void kmsEvents.push(e) } as unknown as Recorder;
  const client = new KmsServiceClient(kms, keys, recorder);
  ssm = ssmService({ db, kms: client, accountId: ACCOUNT, region: REGION, now: () => clock });
});

after(async () => {
  await db?.close();
  if (dir) await removeDir(dir);
});

test('/aws/reference/secretsmanager/ references: a secret id and at most one selector, a version id or a staging label', () => {
  assert.equal(parseSecretReference('/app/db'), undefined, 'a parameter of its own');
  const plain = parseSecretReference(' /aws/reference/secretsmanager/app/db+x@y ')!;
  assert.deepEqual([plain.name, plain.selector, plain.request], ['/aws/reference/secretsmanager/app/db+x@y', undefined, { SecretId: 'app/db+x@y' }], "a secret name of Secrets Manager's characters");
  const staged = parseSecretReference('/aws/reference/secretsmanager/app/db:AWSPREVIOUS')!;
  assert.deepEqual([staged.name, staged.selector, staged.request], ['/aws/reference/secretsmanager/app/db', ':AWSPREVIOUS', { SecretId: 'app/db', VersionStage: 'AWSPREVIOUS' }]);
  const id = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890';
  assert.deepEqual(parseSecretReference(`/aws/reference/secretsmanager/app/db:${id}`)!.request, { SecretId: 'app/db', VersionId: id });
  for (const bad of ['/aws/reference/secretsmanager/', '/aws/reference/secretsmanager/app:', '/aws/reference/secretsmanager/app:a:b', '/aws/reference/secretsmanager/app:st#ge']) {
    assert.throws(() => parseSecretReference(bad), (e: AwsError) => e.code === 'ValidationException' && e.message.startsWith('Invalid parameter name.'), bad);
  }
  assert.equal(staged.notFound().message, 'An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret aws/reference/secretsmanager/app/db:AWSPREVIOUS not found.');
  assert.equal(plain.notFound().code, 'ParameterNotFound');
  const mapped = (code: string, status = 400) => plain.failure(new AwsError(code, status, 'from Secrets Manager')) as AwsError;
  assert.equal(mapped('ResourceNotFoundException').code, 'ParameterNotFound');
  assert.deepEqual([mapped('InvalidRequestException').code, mapped('InvalidRequestException').message], ['ValidationException', 'Invalid Request to Secrets Manager']);
  assert.equal(mapped('AccessDeniedException').code, 'AccessDeniedException');
  assert.equal(mapped('DecryptionFailure').message, 'An error occurred while calling one AWS dependency service.');
  assert.equal(mapped('ServiceUnavailable', 503).code, 'ServiceUnavailable', 'server faults pass through');

  const created = Date.UTC(2026, 0, 2, 15, 4, 5) / 1000;
  const p = secretParameter(staged, { ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-AbCdEf', Name: 'app/db', VersionId: id, SecretString: 'v', VersionStages: ['AWSPREVIOUS'], CreatedDate: created });
  assert.deepEqual({ ...p, SourceResult: undefined }, {
    Name: '/aws/reference/secretsmanager/app/db',
    Type: 'SecureString',
    Value: 'v',
    Version: 0,
    Selector: ':AWSPREVIOUS',
    SourceResult: undefined,
    LastModifiedDate: created,
    ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-AbCdEf',
  });
  assert.deepEqual(JSON.parse(p.SourceResult!), {
    ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-AbCdEf',
    name: 'app/db',
    versionId: id,
    secretString: 'v',
    versionStages: ['AWSPREVIOUS'],
    createdDate: 'Jan 2, 2026, 3:04:05 PM',
  });
  const binary = secretParameter(plain, { ARN: 'arn:x', Name: 'app/db', VersionId: id, SecretBinary: 'AAE=', VersionStages: ['AWSCURRENT'], CreatedDate: created });
  assert.equal(binary.Value, undefined, 'a binary secret has no Value');
  assert.ok(!binary.SourceResult!.includes('AAE='), 'nor is its value in SourceResult');
});

test('names, paths, selectors and labels follow Parameter Store rules', () => {
  assert.equal(checkName('  /app/db  ', REGION, ACCOUNT), '/app/db', 'surrounding spaces are dropped');
  assert.equal(checkName('plain.name-1_x', REGION, ACCOUNT), 'plain.name-1_x', 'a flat name is fine');
  const refused: Array<[string, string]> = [
    ['/app/my param', 'ValidationException'],
    ['app/db', 'ValidationException'],
    ['/app//db', 'ValidationException'],
    ['/app/db/', 'ValidationException'],
    ['/app/db#1', 'ValidationException'],
    ['/' + Array.from({ length: 16 }, (_, i) => `l${i}`).join('/'), 'HierarchyLevelLimitExceededException'],
    ['/' + 'x'.repeat(1000), 'ValidationException'],
  ];
  for (const [name, code] of refused) {
    assert.throws(() => checkName(name, REGION, ACCOUNT, { creating: true }), (e: AwsError) => e.code === code, `${name.slice(0, 40)} is refused with ${code}`);
  }
  for (const name of ['aws-thing', '/AWS/x', 'ssm', '/Ssm/y']) {
    assert.throws(() => checkName(name, REGION, ACCOUNT, { creating: true }), (e: AwsError) => e.code === 'ValidationException', `${name}: aws and ssm prefixes are reserved`);
    assert.doesNotThrow(() => checkName(name, REGION, ACCOUNT), `${name}: reading such a name is not an error (it is just not found)`);
  }
  const depth15 = '/' + Array.from({ length: 15 }, (_, i) => `l${i}`).join('/');
  assert.equal(checkName(depth15, REGION, ACCOUNT, { creating: true }), depth15, '15 levels are allowed');

  assert.deepEqual(parseRef('/a/b:3', REGION, ACCOUNT).selector, { version: 3 }, 'name:version');
  assert.deepEqual(parseRef('/a/b:prod', REGION, ACCOUNT).selector, { label: 'prod' }, 'name:label');
  assert.equal(parseRef('/a/b:prod', REGION, ACCOUNT).selectorText, ':prod', 'the selector is echoed with its colon');
  const byArn = parseRef(`${arnOf('/a/b')}:2`, REGION, ACCOUNT);
  assert.deepEqual(byArn.candidates, ['/a/b'], 'an ARN with a hierarchy names the slash-rooted name');
  assert.deepEqual(parseRef(arnOf('flat'), REGION, ACCOUNT).candidates, ['flat', '/flat'], 'a flat ARN may name either form');
  // A root-level name is one parameter with or without its slash, kept without it (as AWS keeps it).
  assert.equal(checkName('/flat', REGION, ACCOUNT, { creating: true }), 'flat');
  assert.equal(checkName('  /flat ', REGION, ACCOUNT), 'flat');
  assert.equal(canonicalName('/a/b'), '/a/b', 'a hierarchy keeps its slash');
  assert.equal(canonicalName('/'), '/');
  assert.deepEqual(parseRef('/flat:2', REGION, ACCOUNT).candidates, ['flat', '/flat'], 'found as stored either way');
  assert.deepEqual(parseRef('flat', REGION, ACCOUNT).candidates, ['flat', '/flat']);
  assert.equal(parseRef('/flat', REGION, ACCOUNT).arn, arnOf('flat'));
  assert.throws(() => parseRef('a:b:c', REGION, ACCOUNT), (e: AwsError) => e.code === 'ValidationException', 'two selectors are refused');
  assert.throws(() => parseRef(`arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/x`, REGION, ACCOUNT), (e: AwsError) => e.code === 'ValidationException', 'another region is refused');

  for (const l of ['prod', 'Blue_Green.1', 'a-b']) assert.ok(validLabel(l), `${l} is a valid label`);
  for (const l of ['1st', 'awsx', 'SSM-label', 'has space', 'x'.repeat(101), 'a/b']) assert.ok(!validLabel(l), `${l.slice(0, 20)} is not a valid label`);

  assert.ok(underPath('/a/b', '/a', false), '/a/b is one level under /a');
  assert.ok(!underPath('/a/b/c', '/a', false), '/a/b/c is not one level under /a');
  assert.ok(underPath('/a/b/c', '/a', true), '/a/b/c is under /a recursively');
  assert.ok(!underPath('/ab', '/a', true), '/ab is not under /a');
  assert.ok(underPath('flat', '/', false) && underPath('/top', '/', false) && !underPath('/top/x', '/', false), 'the root holds flat and first-level names');
});

test('policies: one Expiration with an ISO timestamp in the future; notification types refused', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const p = parsePolicies('[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-02T00:00:00.000Z"}}]', now);
  assert.equal(p.expiresAt, Date.parse('2030-01-02T00:00:00Z'), 'ISO_INSTANT');
  const offset = parsePolicies('[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-02T10:30:00.00+10:30:00"}}]', now);
  assert.equal(offset.expiresAt, Date.parse('2030-01-02T00:00:00Z'), 'ISO_OFFSET_DATE_TIME with seconds in the offset');
  assert.equal(parsePolicies('[]', now).stored, null, 'an empty list clears policies');
  const codes: Array<[string, string]> = [
    ['not json', 'InvalidPolicyAttributeException'],
    ['[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2029-01-01T00:00:00Z"}}]', 'InvalidPolicyAttributeException'],
    ['[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"tomorrow"}}]', 'InvalidPolicyAttributeException'],
    ['[{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"15","Unit":"Days"}}]', 'InvalidPolicyTypeException'],
    ['[{"Type":"Rotate","Version":"1.0","Attributes":{}}]', 'InvalidPolicyTypeException'],
    [
      '[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-02-01T00:00:00Z"}},{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-03-01T00:00:00Z"}}]',
      'IncompatiblePolicyException',
    ],
    [JSON.stringify(Array.from({ length: 11 }, () => ({ Type: 'Expiration', Version: '1.0', Attributes: { Timestamp: '2030-02-01T00:00:00Z' } }))), 'PoliciesLimitExceededException'],
  ];
  for (const [text, code] of codes) assert.throws(() => parsePolicies(text, now), (e: AwsError) => e.code === code, `${text.slice(0, 60)}: ${code}`);
});

test('AllowedPattern: searched, invalid patterns refused, runaway patterns stopped', () => {
  assert.doesNotThrow(() => checkPattern('^\\d+$', '12345'), 'digits match ^\\d+$');
  assert.throws(() => checkPattern('^\\d+$', '12a'), (e: AwsError) => e.code === 'ParameterPatternMismatchException', 'a mismatch');
  assert.throws(() => checkPattern('([a-', 'x'), (e: AwsError) => e.code === 'InvalidAllowedPatternException', 'an invalid regular expression');
  const t = Date.now();
  assert.throws(() => checkPattern('^(a+)+$', 'a'.repeat(40) + 'b'), (e: AwsError) => e.code === 'InvalidAllowedPatternException', 'catastrophic backtracking is cut off');
  assert.ok(Date.now() - t < 5000, 'the runaway match was stopped within its time limit');
});

test('PutParameter and GetParameter: String and StringList, versions, Overwrite, carried-over fields', async () => {
  const r1 = await call('PutParameter', { Name: '/app/url', Value: 'https://one', Type: 'String', Description: 'the url', AllowedPattern: '^https://' });
  assert.deepEqual(r1, { Version: 1, Tier: 'Standard' }, 'first version, Standard tier');
  await fails(call('PutParameter', { Name: '/app/url', Value: 'https://two', Type: 'String' }), 'ParameterAlreadyExists', 'no Overwrite');
  await fails(call('PutParameter', { Name: '/app/url', Value: 'ftp://two', Overwrite: true }), 'ParameterPatternMismatchException', 'the carried-over AllowedPattern applies');
  clock += 1000;
  const r2 = await call('PutParameter', { Name: '/app/url', Value: 'https://two', Overwrite: true });
  assert.equal(r2['Version'], 2, 'the version increments');
  const g = (await call<{ Parameter: Json }>('GetParameter', { Name: '/app/url' })).Parameter;
  assert.equal(g['Value'], 'https://two', 'the latest value');
  assert.equal(g['Version'], 2, 'the latest version');
  assert.equal(g['Type'], 'String', 'Type');
  assert.equal(g['ARN'], arnOf('/app/url'), 'ARN');
  assert.equal(g['DataType'], 'text', 'DataType');
  assert.equal(g['LastModifiedDate'], clock / 1000, 'LastModifiedDate in epoch seconds');
  const v1 = (await call<{ Parameter: Json }>('GetParameter', { Name: '/app/url:1' })).Parameter;
  assert.equal(v1['Value'], 'https://one', 'name:1 selects version 1');
  assert.equal(v1['Selector'], ':1', 'the selector is echoed');
  const viaArn = (await call<{ Parameter: Json }>('GetParameter', { Name: arnOf('/app/url') })).Parameter;
  assert.equal(viaArn['Value'], 'https://two', 'the ARN names the parameter too');
  await fails(call('GetParameter', { Name: '/app/url:9' }), 'ParameterVersionNotFound', 'a missing version');
  await fails(call('GetParameter', { Name: '/app/nothing' }), 'ParameterNotFound', 'a missing parameter');
  const meta = (await call<{ Parameters: Json[] }>('DescribeParameters', { ParameterFilters: [{ Key: 'Name', Values: ['/app/url'] }] })).Parameters;
  assert.equal(meta.length, 1, 'DescribeParameters finds it by name');
  assert.equal(meta[0]!['Description'], 'the url', 'the description carried over to version 2');
  assert.equal(meta[0]!['AllowedPattern'], '^https://', 'the pattern carried over');
  assert.equal(meta[0]!['LastModifiedUser'], USER_ARN, 'LastModifiedUser is the caller');

  await call('PutParameter', { Name: '/app/hosts', Value: 'a,b,c', Type: 'StringList' });
  const list = (await call<{ Parameter: Json }>('GetParameter', { Name: '/app/hosts' })).Parameter;
  assert.equal(list['Type'], 'StringList', 'StringList type');
  assert.equal(list['Value'], 'a,b,c', 'StringList value');
  await call('PutParameter', { Name: '/app/hosts', Value: 'now-a-string', Type: 'String', Overwrite: true });
  assert.equal((await call<{ Parameter: Json }>('GetParameter', { Name: '/app/hosts' })).Parameter['Type'], 'String', 'the type can change on overwrite');

  await fails(call('PutParameter', { Name: '/app/new', Value: 'v' }), 'ValidationException', 'Type is required on create');
  await fails(call('PutParameter', { Name: '/app/new', Value: '', Type: 'String' }), 'ValidationException', 'an empty value');
  await fails(call('PutParameter', { Name: '/app/new', Value: 'v', Type: 'Number' }), 'ValidationException', 'an unknown type');
  await fails(call('PutParameter', { Name: '/app/new', Value: 'v', Type: 'String', KeyId: 'alias/x' }), 'ValidationException', 'KeyId with String');
  await fails(call('PutParameter', { Name: '/app/new', Value: 'v', Type: 'String', DataType: 'aws:ec2:image' }), 'ValidationException', 'an unsupported data type');
  await fails(call('PutParameter', { Name: '/app/new', Value: '{{ssm:/other}}', Type: 'String' }), 'ValidationException', 'a nested reference');
  await fails(call('PutParameter', { Name: '/aws/mine', Value: 'v', Type: 'String' }), 'ValidationException', 'the aws prefix');
  await fails(call('PutParameter', { Name: '/app/new', Value: 'v', Type: 'String', Tags: [{ Key: 'a', Value: 'b' }], Overwrite: true }), 'ValidationException', 'Tags with Overwrite');
  await fails(call('PutParameter', { Name: '/app/new', Value: 'v', Type: 'String', AllowedPattern: '(' }), 'InvalidAllowedPatternException', 'an invalid pattern');
});

test('tiers: 4 KB Standard, 8 KB Advanced, Intelligent-Tiering picks, no downgrade', async () => {
  const big = 'x'.repeat(5000);
  await fails(call('PutParameter', { Name: '/tier/big', Value: big, Type: 'String' }), 'ValidationException', '5000 bytes in Standard');
  await fails(call('PutParameter', { Name: '/tier/big', Value: 'x'.repeat(8193), Type: 'String', Tier: 'Advanced' }), 'ValidationException', '8193 bytes in Advanced');
  assert.equal((await call('PutParameter', { Name: '/tier/big', Value: big, Type: 'String', Tier: 'Intelligent-Tiering' }))['Tier'], 'Advanced', 'Intelligent-Tiering chooses Advanced for 5000 bytes');
  assert.equal((await call('PutParameter', { Name: '/tier/small', Value: 'small', Type: 'String', Tier: 'Intelligent-Tiering' }))['Tier'], 'Standard', 'and Standard when it fits');
  assert.equal((await call('PutParameter', { Name: '/tier/big', Value: 'now small', Overwrite: true }))['Tier'], 'Advanced', 'an advanced parameter stays advanced');
  await fails(call('PutParameter', { Name: '/tier/big', Value: 'v', Overwrite: true, Tier: 'Standard' }), 'ValidationException', 'Advanced to Standard is refused');
  assert.equal((await call('PutParameter', { Name: '/tier/small', Value: 'v2', Overwrite: true, Tier: 'Advanced' }))['Tier'], 'Advanced', 'Standard to Advanced is allowed');
  // Multi-byte characters count in bytes.
  await fails(call('PutParameter', { Name: '/tier/utf8', Value: 'é'.repeat(2049), Type: 'String' }), 'ValidationException', '4098 UTF-8 bytes in Standard');
});

test('SecureString, Standard tier: the stored value is the KMS ciphertext; KMS events name SSM and PARAMETER_ARN', async () => {
  const canary = `canary-standard-${Date.now()}-7f3a`;
  kmsEvents.length = 0;
  await call('PutParameter', { Name: '/sec/db-password', Value: canary, Type: 'SecureString' });
  const enc = kmsEvents.find((e) => e.eventName === 'Encrypt');
  assert.ok(enc, 'PutParameter made a KMS Encrypt call');
  assert.equal(enc.userIdentity.invokedBy, 'ssm.amazonaws.com', 'invokedBy names SSM');
  assert.equal(enc.userIdentity.arn, USER_ARN, 'the KMS event is the caller\'s');
  assert.deepEqual((enc.requestParameters as Json)['encryptionContext'], { PARAMETER_ARN: arnOf('/sec/db-password') }, 'the encryption context');
  assert.equal((enc.requestParameters as Json)['keyId'], 'alias/aws/ssm', 'the default key is alias/aws/ssm');
  assert.ok(!JSON.stringify(kmsEvents).includes(canary), 'the value is in no KMS event');

  const row = await db.get<{ value: Buffer; key_id: string }>('SELECT value, key_id FROM ssm_parameter_versions WHERE name = ?', ['/sec/db-password']);
  assert.ok(row && !row.value.toString('latin1').includes(canary), 'the database holds no plaintext');
  assert.equal(row.key_id, 'alias/aws/ssm', 'the key as named');
  const raw = (await call<{ Parameter: Json }>('GetParameter', { Name: '/sec/db-password' })).Parameter;
  assert.equal(raw['Value'], Buffer.from(row.value).toString('base64'), 'without WithDecryption: the ciphertext, base64');
  const dec = await kmsCall<{ Plaintext: string }>('Decrypt', { CiphertextBlob: raw['Value'], EncryptionContext: { PARAMETER_ARN: arnOf('/sec/db-password') } });
  assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), canary, 'which KMS Decrypt opens with the PARAMETER_ARN context, as on AWS');
  kmsEvents.length = 0;
  const plain = (await call<{ Parameter: Json }>('GetParameter', { Name: '/sec/db-password', WithDecryption: true })).Parameter;
  assert.equal(plain['Value'], canary, 'WithDecryption: the value');
  const decEvent = kmsEvents.find((e) => e.eventName === 'Decrypt');
  assert.ok(decEvent, 'a KMS Decrypt event');
  assert.equal(decEvent.userIdentity.invokedBy, 'ssm.amazonaws.com', 'Decrypt invoked by SSM');
  const meta = (await call<{ Parameters: Json[] }>('DescribeParameters', { ParameterFilters: [{ Key: 'KeyId', Values: ['alias/aws/ssm'] }] })).Parameters;
  assert.ok(meta.some((m) => m['Name'] === '/sec/db-password' && m['KeyId'] === 'alias/aws/ssm'), 'DescribeParameters shows and filters by KeyId');

  await fails(call('PutParameter', { Name: '/sec/x', Value: 'v', Type: 'SecureString', KeyId: 'alias/does-not-exist' }), 'InvalidKeyId', 'an unknown key');
  await fails(call('PutParameter', { Name: '/sec/x', Value: 'v', Type: 'SecureString', KeyId: 'bad key!' }), 'ValidationException', 'a malformed KeyId');
  const files = await readdir(dir);
  for (const f of files) assert.ok(!(await readFile(join(dir, f))).includes(Buffer.from(canary)), `${f} holds no plaintext`);
});

test('SecureString, Advanced tier: an envelope under a KMS data key; customer key by alias; disabled key fails decryption', async () => {
  const key = await kmsCall<{ KeyMetadata: { KeyId: string; Arn: string } }>('CreateKey', { Description: 'ssm unit' });
  await kmsCall('CreateAlias', { AliasName: 'alias/ssm-unit', TargetKeyId: key.KeyMetadata.KeyId });
  const canary = `canary-advanced-${'z'.repeat(6000)}`;
  kmsEvents.length = 0;
  const r = await call('PutParameter', { Name: '/sec/big', Value: canary, Type: 'SecureString', KeyId: 'alias/ssm-unit', Tier: 'Advanced' });
  assert.equal(r['Tier'], 'Advanced', 'Advanced tier');
  const gdk = kmsEvents.find((e) => e.eventName === 'GenerateDataKey');
  assert.ok(gdk, 'the advanced tier asks KMS for a data key');
  assert.deepEqual((gdk.requestParameters as Json)['encryptionContext'], { PARAMETER_ARN: arnOf('/sec/big') }, 'with the PARAMETER_ARN context');
  const row = await db.get<{ value: Buffer }>('SELECT value FROM ssm_parameter_versions WHERE name = ?', ['/sec/big']);
  assert.equal(row!.value[0], ENVELOPE_V1, 'the stored blob starts with the envelope format tag');
  const { wrappedKey, sealed } = decodeEnvelope(Buffer.from(row!.value));
  assert.equal(sealed.length, Buffer.byteLength(canary) + 28, 'IV, ciphertext and tag');
  const dk = await kmsCall<{ KeyId: string }>('Decrypt', { CiphertextBlob: wrappedKey.toString('base64'), EncryptionContext: { PARAMETER_ARN: arnOf('/sec/big') } });
  assert.equal(dk.KeyId, key.KeyMetadata.Arn, 'the data key is wrapped under the customer key');
  assert.equal((await call<{ Parameter: Json }>('GetParameter', { Name: '/sec/big', WithDecryption: true })).Parameter['Value'], canary, 'the round trip');

  await kmsCall('DisableKey', { KeyId: key.KeyMetadata.KeyId });
  const err = await fails(call('GetParameter', { Name: '/sec/big', WithDecryption: true }), 'InvalidKeyId', 'a disabled key');
  assert.match(err.message, /DisabledException/, 'the message names the KMS error');
  assert.ok((await call<{ Parameter: Json }>('GetParameter', { Name: '/sec/big' })).Parameter['Value'], 'without decryption the ciphertext is still readable');
  await fails(call('PutParameter', { Name: '/sec/big', Value: 'v', Overwrite: true }), 'InvalidKeyId', 'nor can a new version be encrypted');
  await kmsCall('EnableKey', { KeyId: key.KeyMetadata.KeyId });
  assert.equal((await call<{ Parameter: Json }>('GetParameter', { Name: '/sec/big', WithDecryption: true })).Parameter['Value'], canary, 'enabling the key restores it');

  // Tampering with the stored envelope is detected.
  const tampered = Buffer.from(row!.value);
  tampered[tampered.length - 1]! ^= 1;
  await db.run('UPDATE ssm_parameter_versions SET value = ? WHERE name = ?', [tampered, '/sec/big']);
  await fails(call('GetParameter', { Name: '/sec/big', WithDecryption: true }), 'InvalidKeyId', 'a tampered envelope');
  await db.run('UPDATE ssm_parameter_versions SET value = ? WHERE name = ?', [row!.value, '/sec/big']);

  // KMS refusing the caller surfaces as AccessDeniedException, not InvalidKeyId.
  deny = (c) => (c.action === 'kms:Decrypt' ? 'User is not authorized to perform: kms:Decrypt' : undefined);
  try {
    await fails(call('GetParameter', { Name: '/sec/big', WithDecryption: true }), 'AccessDeniedException', 'kms:Decrypt refused');
  } finally {
    deny = () => undefined;
  }
});

test('Expiration policies: Advanced only; the parameter is gone once the time passes, and swept from the database', async () => {
  const at = new Date(clock + 60_000).toISOString();
  const policy = JSON.stringify([{ Type: 'Expiration', Version: '1.0', Attributes: { Timestamp: at } }]);
  await fails(call('PutParameter', { Name: '/exp/p', Value: 'v', Type: 'String', Policies: policy }), 'ValidationException', 'policies on Standard');
  const r = await call('PutParameter', { Name: '/exp/p', Value: 'v', Type: 'String', Policies: policy, Tier: 'Intelligent-Tiering' });
  assert.equal(r['Tier'], 'Advanced', 'a policy makes Intelligent-Tiering choose Advanced');
  await call('PutParameter', { Name: '/exp/p', Value: 'v2', Overwrite: true });
  const meta = (await call<{ Parameters: Json[] }>('DescribeParameters', { ParameterFilters: [{ Key: 'Name', Values: ['/exp/p'] }] })).Parameters[0]!;
  const pol = meta['Policies'] as Json[];
  assert.equal(pol.length, 1, 'the policy survives an update that does not name policies');
  assert.equal(pol[0]!['PolicyType'], 'Expiration', 'PolicyType');
  assert.equal(pol[0]!['PolicyStatus'], 'Pending', 'PolicyStatus');
  clock += 61_000;
  await fails(call('GetParameter', { Name: '/exp/p' }), 'ParameterNotFound', 'expired');
  const rows = await db.all('SELECT name FROM ssm_parameters WHERE name = ?', ['/exp/p']);
  assert.equal(rows.length, 0, 'the sweep deleted it');
  assert.equal((await db.all('SELECT version FROM ssm_parameter_versions WHERE name = ?', ['/exp/p'])).length, 0, 'with its versions');
  assert.equal((await call('PutParameter', { Name: '/exp/p', Value: 'new', Type: 'String' }))['Version'], 1, 'the name can be used again, from version 1');
});

test('labels: attach, move, invalid ones reported, ten per version, selectors, unlabel', async () => {
  for (let i = 1; i <= 3; i++) await call('PutParameter', { Name: '/lab/p', Value: `v${i}`, Type: 'String', Overwrite: i > 1 });
  const l1 = await call('LabelParameterVersion', { Name: '/lab/p', ParameterVersion: 1, Labels: ['prod', '1bad', 'awsy', 'blue'] });
  assert.deepEqual(l1, { InvalidLabels: ['1bad', 'awsy'], ParameterVersion: 1 }, 'invalid labels are reported, valid ones attached');
  assert.equal((await call<{ Parameter: Json }>('GetParameter', { Name: '/lab/p:prod' })).Parameter['Value'], 'v1', 'name:label');
  const l2 = await call('LabelParameterVersion', { Name: '/lab/p', Labels: ['prod'] });
  assert.equal(l2['ParameterVersion'], 3, 'without a version: the latest');
  assert.equal((await call<{ Parameter: Json }>('GetParameter', { Name: '/lab/p:prod' })).Parameter['Value'], 'v3', 'the label moved');
  const hist = (await call<{ Parameters: Json[] }>('GetParameterHistory', { Name: '/lab/p' })).Parameters;
  assert.deepEqual(hist.map((h) => h['Labels']), [['blue'], [], ['prod']], 'history shows each version\'s labels');
  await fails(call('GetParameter', { Name: '/lab/p:nolabel' }), 'ParameterNotFound', 'an unknown label');
  await fails(call('LabelParameterVersion', { Name: '/lab/p', ParameterVersion: 9, Labels: ['x'] }), 'ParameterVersionNotFound', 'a missing version');
  await fails(call('LabelParameterVersion', { Name: '/lab/none', Labels: ['x'] }), 'ParameterNotFound', 'a missing parameter');
  await call('LabelParameterVersion', { Name: '/lab/p', ParameterVersion: 2, Labels: Array.from({ length: 10 }, (_, i) => `l${i}`) });
  await fails(call('LabelParameterVersion', { Name: '/lab/p', ParameterVersion: 2, Labels: ['eleventh'] }), 'ParameterVersionLabelLimitExceeded', 'an eleventh label');
  await fails(call('LabelParameterVersion', { Name: '/lab/p', ParameterVersion: 2, Labels: Array.from({ length: 11 }, (_, i) => `m${i}`) }), 'ValidationException', 'eleven labels in one call');
  const un = await call('UnlabelParameterVersion', { Name: '/lab/p', ParameterVersion: 2, Labels: ['l0', 'prod'] });
  assert.deepEqual(un, { RemovedLabels: ['l0'], InvalidLabels: ['prod'] }, 'labels on another version are invalid here');
  await fails(call('UnlabelParameterVersion', { Name: '/lab/p', ParameterVersion: 7, Labels: ['l1'] }), 'ParameterVersionNotFound', 'unlabel a missing version');
});

test('100 versions are kept: the oldest goes, unless it carries a label', async () => {
  for (let i = 1; i <= 100; i++) await call('PutParameter', { Name: '/ver/p', Value: `v${i}`, Type: 'String', Overwrite: i > 1 });
  await call('LabelParameterVersion', { Name: '/ver/p', ParameterVersion: 1, Labels: ['first'] });
  const err = await fails(call('PutParameter', { Name: '/ver/p', Value: 'v101', Overwrite: true }), 'ParameterMaxVersionLimitExceeded', 'the labelled oldest version');
  assert.match(err.message, /Version 1\b/, 'the message names the version');
  await call('UnlabelParameterVersion', { Name: '/ver/p', ParameterVersion: 1, Labels: ['first'] });
  assert.equal((await call('PutParameter', { Name: '/ver/p', Value: 'v101', Overwrite: true }))['Version'], 101, 'version 101');
  await fails(call('GetParameter', { Name: '/ver/p:1' }), 'ParameterVersionNotFound', 'version 1 was dropped');
  const page1 = await call<{ Parameters: Json[]; NextToken?: string }>('GetParameterHistory', { Name: '/ver/p', MaxResults: 50 });
  assert.equal(page1.Parameters.length, 50, 'a page of 50');
  assert.equal(page1.Parameters[0]!['Version'], 2, 'oldest kept first');
  const page2 = await call<{ Parameters: Json[]; NextToken?: string }>('GetParameterHistory', { Name: '/ver/p', MaxResults: 50, NextToken: page1.NextToken });
  assert.equal(page2.Parameters.length, 50, 'the second page');
  assert.equal(page2.NextToken, undefined, 'no more pages');
  assert.equal(page2.Parameters[49]!['Version'], 101, 'ending at version 101');
  await fails(call('GetParameterHistory', { Name: '/ver/p', NextToken: 'bogus' }), 'InvalidNextToken', 'a bad token');
  await fails(call('GetParameterHistory', { Name: '/ver/p', MaxResults: 51 }), 'ValidationException', 'MaxResults over 50');
});

test('GetParameters, GetParametersByPath, DescribeParameters: filters, recursion, pagination', async () => {
  await call('PutParameter', { Name: '/tree/a', Value: 'A', Type: 'String' });
  await call('PutParameter', { Name: '/tree/b', Value: 'B', Type: 'SecureString' });
  await call('PutParameter', { Name: '/tree/sub/c', Value: 'C', Type: 'StringList' });
  await call('PutParameter', { Name: '/tree/sub/deep/d', Value: 'D', Type: 'String', Tier: 'Advanced' });
  await call('LabelParameterVersion', { Name: '/tree/a', Labels: ['live'] });

  const gp = await call<{ Parameters: Json[]; InvalidParameters: string[] }>('GetParameters', { Names: ['/tree/b', '/tree/a', '/tree/missing', '/tree/a:9', 'bad name'], WithDecryption: true });
  assert.deepEqual(gp.Parameters.map((p) => [p['Name'], p['Value']]), [['/tree/a', 'A'], ['/tree/b', 'B']], 'found ones, alphabetically, decrypted');
  assert.deepEqual(gp.InvalidParameters.sort(), ['/tree/a:9', '/tree/missing', 'bad name'].sort(), 'the rest are invalid');
  await fails(call('GetParameters', { Names: Array.from({ length: 11 }, (_, i) => `/n${i}`) }), 'ValidationException', 'eleven names');

  const one = (await call<{ Parameters: Json[] }>('GetParametersByPath', { Path: '/tree' })).Parameters;
  assert.deepEqual(one.map((p) => p['Name']), ['/tree/a', '/tree/b'], 'one level');
  assert.notEqual(one[1]!['Value'], 'B', 'SecureString encrypted without WithDecryption');
  const all = (await call<{ Parameters: Json[] }>('GetParametersByPath', { Path: '/tree/', Recursive: true })).Parameters;
  assert.deepEqual(all.map((p) => p['Name']), ['/tree/a', '/tree/b', '/tree/sub/c', '/tree/sub/deep/d'], 'recursive (trailing slash ignored)');
  const typed = (await call<{ Parameters: Json[] }>('GetParametersByPath', { Path: '/tree', Recursive: true, ParameterFilters: [{ Key: 'Type', Values: ['String'] }] })).Parameters;
  assert.deepEqual(typed.map((p) => p['Name']), ['/tree/a', '/tree/sub/deep/d'], 'Type filter');
  const labelled = (await call<{ Parameters: Json[] }>('GetParametersByPath', { Path: '/tree', ParameterFilters: [{ Key: 'Label', Values: ['live'] }] })).Parameters;
  assert.deepEqual(labelled.map((p) => p['Name']), ['/tree/a'], 'Label filter');
  await fails(call('GetParametersByPath', { Path: '/tree', ParameterFilters: [{ Key: 'Name', Values: ['x'] }] }), 'InvalidFilterKey', 'Name in GetParametersByPath');
  await fails(call('GetParametersByPath', { Path: '/tree', ParameterFilters: [{ Key: 'Label', Option: 'BeginsWith', Values: ['l'] }] }), 'InvalidFilterOption', 'Label BeginsWith');
  await fails(call('GetParametersByPath', { Path: 'tree' }), 'ValidationException', 'a path without a leading slash');
  await fails(call('GetParametersByPath', { Path: '/tree', MaxResults: 11 }), 'ValidationException', 'MaxResults 11');
  const pages: string[] = [];
  let token: string | undefined;
  do {
    const r: { Parameters: Json[]; NextToken?: string } = await call('GetParametersByPath', { Path: '/tree', Recursive: true, MaxResults: 1, ...(token ? { NextToken: token } : {}) });
    assert.ok(r.Parameters.length <= 1, 'at most MaxResults per page');
    pages.push(...r.Parameters.map((p) => p['Name'] as string));
    token = r.NextToken;
  } while (token);
  assert.deepEqual(pages, ['/tree/a', '/tree/b', '/tree/sub/c', '/tree/sub/deep/d'], 'paging visits each once');
  await fails(call('GetParametersByPath', { Path: '/tree', NextToken: 'not-a-token' }), 'InvalidNextToken', 'a bad token');

  const describe = async (filters: Json[]): Promise<string[]> =>
    (await call<{ Parameters: Json[] }>('DescribeParameters', { ParameterFilters: filters })).Parameters.map((p) => p['Name'] as string);
  assert.deepEqual(await describe([{ Key: 'Path', Values: ['/tree'] }]), ['/tree/a', '/tree/b'], 'Path OneLevel (default)');
  assert.deepEqual(await describe([{ Key: 'Path', Option: 'Recursive', Values: ['/tree'] }, { Key: 'Tier', Values: ['Advanced'] }]), ['/tree/sub/deep/d'], 'Path Recursive and Tier');
  assert.deepEqual(await describe([{ Key: 'Name', Option: 'BeginsWith', Values: ['/tree/s'] }]), ['/tree/sub/c', '/tree/sub/deep/d'], 'Name BeginsWith');
  assert.deepEqual(await describe([{ Key: 'Name', Option: 'Contains', Values: ['deep'] }]), ['/tree/sub/deep/d'], 'Name Contains');
  assert.deepEqual(await describe([{ Key: 'Type', Values: ['SecureString'] }, { Key: 'Path', Values: ['/tree'] }]), ['/tree/b'], 'Type');
  await fails(call('DescribeParameters', { ParameterFilters: [{ Key: 'Label', Values: ['live'] }] }), 'InvalidFilterKey', 'Label in DescribeParameters');
  await fails(call('DescribeParameters', { ParameterFilters: [{ Key: 'Path', Option: 'Equals', Values: ['/tree'] }] }), 'InvalidFilterOption', 'Path Equals');
  await fails(call('DescribeParameters', { ParameterFilters: [{ Key: 'Path', Values: ['tree'] }] }), 'InvalidFilterValue', 'a relative Path');
  await fails(call('DescribeParameters', { ParameterFilters: [{ Key: 'Type', Values: ['Number'] }] }), 'InvalidFilterValue', 'an unknown Type');
  await fails(call('DescribeParameters', { ParameterFilters: [{ Key: 'Name' }] }), 'InvalidFilterValue', 'Name without values');
  await fails(call('DescribeParameters', { MaxResults: 51 }), 'ValidationException', 'MaxResults 51');
  const seen: string[] = [];
  token = undefined;
  do {
    const r: { Parameters: Json[]; NextToken?: string } = await call('DescribeParameters', { MaxResults: 3, ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: ['/tree'] }], ...(token ? { NextToken: token } : {}) });
    seen.push(...r.Parameters.map((p) => p['Name'] as string));
    token = r.NextToken;
  } while (token);
  assert.deepEqual(seen, ['/tree/a', '/tree/b', '/tree/sub/c', '/tree/sub/deep/d'], 'DescribeParameters pages');
});

test('tags, DeleteParameter and DeleteParameters', async () => {
  await call('PutParameter', { Name: '/tag/p', Value: 'v', Type: 'String', Tags: [{ Key: 'env', Value: 'prod' }] });
  await call('AddTagsToResource', { ResourceType: 'Parameter', ResourceId: '/tag/p', Tags: [{ Key: 'team', Value: 'core' }, { Key: 'env', Value: 'dev' }] });
  const tags = (await call<{ TagList: Json[] }>('ListTagsForResource', { ResourceType: 'Parameter', ResourceId: '/tag/p' })).TagList;
  assert.deepEqual(tags, [{ Key: 'env', Value: 'dev' }, { Key: 'team', Value: 'core' }], 'tags merged, values replaced');
  assert.deepEqual(
    (await call<{ Parameters: Json[] }>('DescribeParameters', { ParameterFilters: [{ Key: 'tag:team', Values: ['core'] }] })).Parameters.map((p) => p['Name']),
    ['/tag/p'],
    'tag filter',
  );
  await call('RemoveTagsFromResource', { ResourceType: 'Parameter', ResourceId: '/tag/p', TagKeys: ['env'] });
  assert.deepEqual((await call<{ TagList: Json[] }>('ListTagsForResource', { ResourceType: 'Parameter', ResourceId: '/tag/p' })).TagList, [{ Key: 'team', Value: 'core' }], 'removed');
  await fails(call('ListTagsForResource', { ResourceType: 'Document', ResourceId: '/tag/p' }), 'InvalidResourceType', 'a Document');
  await fails(call('ListTagsForResource', { ResourceType: 'Parameter', ResourceId: '/tag/none' }), 'InvalidResourceId', 'a missing parameter');
  await fails(
    call('AddTagsToResource', { ResourceType: 'Parameter', ResourceId: '/tag/p', Tags: Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })) }),
    'TooManyTagsError',
    '51 tags',
  );
  await fails(call('AddTagsToResource', { ResourceType: 'Parameter', ResourceId: '/tag/p', Tags: [{ Key: 'aws:x', Value: 'v' }] }), 'ValidationException', 'a reserved key');

  await call('PutParameter', { Name: '/del/a', Value: 'v', Type: 'String' });
  await call('PutParameter', { Name: '/del/b', Value: 'v', Type: 'String' });
  await call('DeleteParameter', { Name: '/tag/p' });
  await fails(call('DeleteParameter', { Name: '/tag/p' }), 'ParameterNotFound', 'deleted twice');
  const d = await call('DeleteParameters', { Names: ['/del/a', '/del/b', '/del/none'] });
  assert.deepEqual(d, { DeletedParameters: ['/del/a', '/del/b'], InvalidParameters: ['/del/none'] }, 'DeleteParameters');
  assert.equal((await db.all('SELECT * FROM ssm_parameter_versions WHERE name IN (?, ?)', ['/del/a', '/tag/p'])).length, 0, 'versions are deleted too');
});

test('authorization: ssm:<Operation> on the parameter ARN, identity mode; a refusal stops the call', async () => {
  checks.length = 0;
  await call('PutParameter', { Name: '/auth/p', Value: 'v', Type: 'String' });
  await call('GetParameter', { Name: '/auth/p' });
  await call('GetParametersByPath', { Path: '/auth' });
  await call('DescribeParameters', {});
  const seen = checks.map((c) => `${c.action} ${c.resource} ${c.mode}`);
  assert.ok(seen.includes(`ssm:PutParameter ${arnOf('/auth/p')} identity`), `PutParameter checked on the ARN: ${seen.join(', ')}`);
  assert.ok(seen.includes(`ssm:GetParameter ${arnOf('/auth/p')} identity`), 'GetParameter checked on the ARN');
  assert.ok(seen.includes(`ssm:GetParametersByPath ${arnOf('/auth')} identity`), 'GetParametersByPath checked on the path');
  assert.ok(seen.includes('ssm:DescribeParameters * identity'), 'DescribeParameters checked on *');
  deny = (c) => (c.action === 'ssm:GetParameter' ? 'not allowed' : undefined);
  try {
    await fails(call('GetParameter', { Name: '/auth/p' }), 'AccessDeniedException', 'refused');
    await fails(call('GetParameter', { Name: '/auth/missing' }), 'AccessDeniedException', 'refused before existence is revealed');
  } finally {
    deny = () => undefined;
  }
});

test('the audit policy shows names and options, never values; responses only for writes', () => {
  const audit = ssm.audit!;
  const put = audit.requestParameters!('PutParameter', { Name: '/x', Value: 'secret-value', Type: 'SecureString', KeyId: 'alias/k', Overwrite: true, Tier: 'Advanced' });
  assert.deepEqual({ ...put }, { name: '/x', type: 'SecureString', keyId: 'alias/k', overwrite: true, tier: 'Advanced' }, 'PutParameter request');
  assert.ok(!JSON.stringify(put).includes('secret-value'), 'no value');
  assert.deepEqual({ ...audit.requestParameters!('GetParameters', { Names: ['/a'], WithDecryption: true }) }, { names: ['/a'], withDecryption: true }, 'GetParameters request');
  assert.deepEqual({ ...audit.responseElements!('PutParameter', { Version: 3, Tier: 'Standard' }) }, { version: 3, tier: 'Standard' }, 'PutParameter response');
  assert.equal(audit.responseElements!('GetParameter', { Parameter: { Value: 'v' } }), null, 'GetParameter response is null');
  assert.equal(audit.responseElements!('GetParameterHistory', { Parameters: [{ Value: 'v' }] }), null, 'history response is null');
  assert.equal(audit.readOnly!('GetParametersByPath'), true, 'reads are read-only');
  assert.equal(audit.readOnly!('LabelParameterVersion'), false, 'labelling is not');
});
