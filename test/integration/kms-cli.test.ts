// KMS driven by the tools people type: the pip AWS CLI v1, Debian's AWS CLI v2 and boto3.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startTrent, removeDir, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { skipCliV2, awsKms, awsKmsJson, type Cli } from '../helpers/cli.ts';
import { exec, type Run } from '../helpers/assert.ts';

let t: RunningTrent;
let work: string;

before(async () => {
  t = await startTrent();
  work = await tempDir('trent-kms-cli-');
});
after(async () => {
  await t?.stop();
  if (t) await removeDir(t.dataDir);
  if (work) await removeDir(work);
});



const skipV2 = skipCliV2;

const aws = (cli: Cli, args: string[]): Promise<Run> => awsKms(t, cli, args);

const awsJson = <T = Record<string, unknown>>(cli: Cli, args: string[]): Promise<T> => awsKmsJson<T>(t, cli, args);

interface KeyMetadataJson {
  KeyId: string;
  Arn: string;
  KeyState: string;
  Enabled: boolean;
  Description: string;
  KeyManager: string;
  KeySpec: string;
  CreationDate: number | string;
  DeletionDate?: number | string;
}

/** The same end-to-end flow with either CLI. */
async function cliFlow(cli: Cli): Promise<void> {
  const desc = `created by CLI ${cli}`;
  const { KeyMetadata: k } = await awsJson<{ KeyMetadata: KeyMetadataJson }>(cli, ['create-key', '--description', desc, '--tags', 'TagKey=cli,TagValue=' + cli]);
  assert.equal(k.Description, desc);
  assert.equal(k.KeyState, 'Enabled');
  assert.equal(k.KeyManager, 'CUSTOMER');
  assert.equal(k.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.match(k.Arn, new RegExp(`^arn:aws:kms:${t.region}:\\d{12}:key/${k.KeyId}$`));

  const alias = `alias/cli-${cli}-${randomUUID().slice(0, 8)}`;
  await awsJson(cli, ['create-alias', '--alias-name', alias, '--target-key-id', k.KeyId]);

  // Encrypt a binary file (fileb://) through the alias, with an encryption context.
  const plaintext = randomBytes(300);
  const ptFile = join(work, `${cli}-plain.bin`);
  const ctFile = join(work, `${cli}-cipher.bin`);
  await writeFile(ptFile, plaintext);
  const enc = await awsJson<{ CiphertextBlob: string; KeyId: string }>(cli, [
    'encrypt',
    '--key-id',
    alias,
    '--plaintext',
    `fileb://${ptFile}`,
    '--encryption-context',
    'purpose=cli-test,tool=aws',
  ]);
  assert.equal(enc.KeyId, k.Arn);
  await writeFile(ctFile, Buffer.from(enc.CiphertextBlob, 'base64'));

  // The next calls are independent of each other: run them side by side.
  const [dec, wrong, dk, described, listed, unknown] = await Promise.all([
    // Decrypt with the pairs in another order; the plaintext comes back base64 in JSON output.
    awsJson<{ Plaintext: string; KeyId: string }>(cli, ['decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', 'tool=aws,purpose=cli-test']),
    aws(cli, ['decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', 'purpose=other,tool=aws']),
    awsJson<{ Plaintext: string; CiphertextBlob: string; KeyId: string }>(cli, ['generate-data-key', '--key-id', k.Arn, '--key-spec', 'AES_256']),
    awsJson<{ KeyMetadata: KeyMetadataJson }>(cli, ['describe-key', '--key-id', alias]),
    // list-keys: the CLI follows the pages itself (here one key per request).
    awsJson<{ Keys: Array<{ KeyId: string; KeyArn: string }> }>(cli, ['list-keys', '--page-size', '1']),
    aws(cli, ['describe-key', '--key-id', randomUUID()]),
  ]);
  assert.equal(dec.KeyId, k.Arn);
  assert.deepEqual(Buffer.from(dec.Plaintext, 'base64'), plaintext);

  // The wrong context: a non-zero exit code (v2: 254 for a service error; v1: 255) and the error code on stderr.
  assert.equal(wrong.code, cli === 'v2' ? 254 : 255, wrong.stderr);
  assert.match(wrong.stderr, /InvalidCiphertextException/);
  assert.match(wrong.stderr, /Decrypt operation/);
  assert.equal(wrong.stdout, '');

  // GenerateDataKey: a 32-byte key whose CiphertextBlob decrypts back to it.
  assert.equal(dk.KeyId, k.Arn);
  const dataKey = Buffer.from(dk.Plaintext, 'base64');
  assert.equal(dataKey.length, 32);
  const dkFile = join(work, `${cli}-datakey.bin`);
  await writeFile(dkFile, Buffer.from(dk.CiphertextBlob, 'base64'));
  const dkBack = await awsJson<{ Plaintext: string }>(cli, ['decrypt', '--ciphertext-blob', `fileb://${dkFile}`]);
  assert.deepEqual(Buffer.from(dkBack.Plaintext, 'base64'), dataKey);

  assert.equal(described.KeyMetadata.KeyId, k.KeyId);
  assert.equal(described.KeyMetadata.Arn, k.Arn);
  assert.ok(listed.Keys.some((x) => x.KeyId === k.KeyId && x.KeyArn === k.Arn), 'list-keys shows the new key');
  assert.equal(new Set(listed.Keys.map((x) => x.KeyId)).size, listed.Keys.length, 'no key twice across pages');
  assert.equal(unknown.code, cli === 'v2' ? 254 : 255);
  assert.match(unknown.stderr, /NotFoundException/);

  const sched = await awsJson<{ KeyId: string; KeyState: string; PendingWindowInDays: number; DeletionDate: number | string }>(cli, [
    'schedule-key-deletion',
    '--key-id',
    k.KeyId,
    '--pending-window-in-days',
    '7',
  ]);
  assert.equal(sched.KeyId, k.Arn);
  assert.equal(sched.KeyState, 'PendingDeletion');
  assert.equal(sched.PendingWindowInDays, 7);
  const deletion = typeof sched.DeletionDate === 'number' ? sched.DeletionDate * 1000 : Date.parse(sched.DeletionDate);
  assert.ok(Math.abs(deletion - (Date.now() + 7 * 86_400_000)) < 120_000, `DeletionDate ${sched.DeletionDate} is 7 days ahead`);
  const [pending, refused] = await Promise.all([
    awsJson<{ KeyMetadata: KeyMetadataJson }>(cli, ['describe-key', '--key-id', k.KeyId]),
    aws(cli, ['encrypt', '--key-id', k.KeyId, '--plaintext', `fileb://${ptFile}`]),
  ]);
  assert.equal(pending.KeyMetadata.KeyState, 'PendingDeletion');
  assert.equal(pending.KeyMetadata.Enabled, false);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /KMSInvalidStateException/);
}

test('the pip AWS CLI v1: create-key, create-alias, encrypt/decrypt with fileb:// and a context, generate-data-key, describe-key, list-keys, schedule-key-deletion, errors', async () => {
  await cliFlow('v1');
});

test("Debian's AWS CLI v2 with --endpoint-url: the same flow", { skip: skipV2 }, async () => {
  await cliFlow('v2');
});

test('boto3: the same operations, and error codes in e.response with HTTP 400 (DryRun too)', async () => {
  const script = String.raw`
import base64, json, os, sys, boto3, botocore
kms = boto3.client('kms', endpoint_url=os.environ['EP'], verify=os.environ['CA'], region_name=os.environ['REGION'],
                   aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'],
                   config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
out = {}

def error(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
    return None

k = kms.create_key(Description='boto3 key', Tags=[{'TagKey': 'sdk', 'TagValue': 'boto3'}])['KeyMetadata']
out['key'] = {'KeyId': k['KeyId'], 'Arn': k['Arn'], 'KeyState': k['KeyState'], 'created': k['CreationDate'].timestamp()}
alias = 'alias/boto3-' + k['KeyId'][:8]
kms.create_alias(AliasName=alias, TargetKeyId=k['KeyId'])
out['alias'] = alias

ctx = {'purpose': 'boto3', 'app': 'test'}
pt = os.urandom(1000)
enc = kms.encrypt(KeyId=alias, Plaintext=pt, EncryptionContext=ctx)
dec = kms.decrypt(CiphertextBlob=enc['CiphertextBlob'], EncryptionContext={'app': 'test', 'purpose': 'boto3'})
out['roundtrip'] = dec['Plaintext'] == pt
out['encKeyId'] = enc['KeyId']
out['decKeyId'] = dec['KeyId']

dk = kms.generate_data_key(KeyId=k['Arn'], KeySpec='AES_256', EncryptionContext=ctx)
out['dataKeyLen'] = len(dk['Plaintext'])
out['dataKeyBack'] = kms.decrypt(CiphertextBlob=dk['CiphertextBlob'], EncryptionContext=ctx)['Plaintext'] == dk['Plaintext']

out['describe'] = kms.describe_key(KeyId=alias)['KeyMetadata']['KeyId']
ids = []
for page in kms.get_paginator('list_keys').paginate(PaginationConfig={'PageSize': 1}):
    ids += [x['KeyId'] for x in page['Keys']]
out['listed'] = ids

out['errors'] = {
    'wrongContext': error(kms.decrypt, CiphertextBlob=enc['CiphertextBlob'], EncryptionContext={'purpose': 'other', 'app': 'test'}),
    'noContext': error(kms.decrypt, CiphertextBlob=enc['CiphertextBlob']),
    'unknownKey': error(kms.describe_key, KeyId='11111111-2222-3333-4444-555555555555'),
    'unknownAlias': error(kms.describe_key, KeyId='alias/no-such-alias'),
    'tooBig': error(kms.encrypt, KeyId=k['KeyId'], Plaintext=b'x' * 4097),
    'dryRun': error(kms.encrypt, KeyId=k['KeyId'], Plaintext=b'x', DryRun=True),
    'duplicateAlias': error(kms.create_alias, AliasName=alias, TargetKeyId=k['KeyId']),
}

s = kms.schedule_key_deletion(KeyId=k['KeyId'], PendingWindowInDays=7)
out['scheduled'] = {'KeyId': s['KeyId'], 'KeyState': s['KeyState'], 'PendingWindowInDays': s['PendingWindowInDays'], 'DeletionDate': s['DeletionDate'].timestamp()}
out['errors']['pendingDeletion'] = error(kms.encrypt, KeyId=k['KeyId'], Plaintext=b'x')
json.dump(out, sys.stdout)
`;
  const r = await exec('python3', ['-c', script], {
    ...process.env,
    EP: t.endpoint,
    CA: t.caPath,
    AK: t.accessKeyId,
    SK: t.secretAccessKey,
    REGION: t.region,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    key: { KeyId: string; Arn: string; KeyState: string; created: number };
    alias: string;
    roundtrip: boolean;
    encKeyId: string;
    decKeyId: string;
    dataKeyLen: number;
    dataKeyBack: boolean;
    describe: string;
    listed: string[];
    errors: Record<string, [string, number] | null>;
    scheduled: { KeyId: string; KeyState: string; PendingWindowInDays: number; DeletionDate: number };
  };
  assert.equal(out.key.KeyState, 'Enabled');
  assert.ok(Math.abs(out.key.created * 1000 - Date.now()) < 120_000, 'CreationDate parses as a datetime near now');
  assert.equal(out.roundtrip, true);
  assert.equal(out.encKeyId, out.key.Arn);
  assert.equal(out.decKeyId, out.key.Arn);
  assert.equal(out.dataKeyLen, 32);
  assert.equal(out.dataKeyBack, true);
  assert.equal(out.describe, out.key.KeyId);
  assert.ok(out.listed.includes(out.key.KeyId));
  assert.equal(new Set(out.listed).size, out.listed.length);
  assert.deepEqual(out.errors, {
    wrongContext: ['InvalidCiphertextException', 400],
    noContext: ['InvalidCiphertextException', 400],
    unknownKey: ['NotFoundException', 400],
    unknownAlias: ['NotFoundException', 400],
    tooBig: ['ValidationException', 400],
    dryRun: ['DryRunOperationException', 400],
    duplicateAlias: ['AlreadyExistsException', 400],
    pendingDeletion: ['KMSInvalidStateException', 400],
  });
  assert.deepEqual({ ...out.scheduled, DeletionDate: undefined }, { KeyId: out.key.Arn, KeyState: 'PendingDeletion', PendingWindowInDays: 7, DeletionDate: undefined });
  assert.ok(Math.abs(out.scheduled.DeletionDate * 1000 - (Date.now() + 7 * 86_400_000)) < 120_000);
});

test('a ciphertext made by CLI v1 decrypts with boto3, the context pairs in another order', async () => {
  // Encrypt with CLI v1, decrypt with boto3 (and the context in another order).
  const { KeyMetadata: k } = await awsJson<{ KeyMetadata: KeyMetadataJson }>('v1', ['create-key', '--description', 'shared']);
  const ptFile = join(work, 'shared-plain.bin');
  await writeFile(ptFile, Buffer.from('from the CLI to boto3'));
  const enc = await awsJson<{ CiphertextBlob: string }>('v1', ['encrypt', '--key-id', k.KeyId, '--plaintext', `fileb://${ptFile}`, '--encryption-context', 'a=1,b=2']);
  const script = String.raw`
import base64, os, sys, boto3
kms = boto3.client('kms', endpoint_url=os.environ['EP'], verify=os.environ['CA'], region_name=os.environ['REGION'],
                   aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'])
r = kms.decrypt(CiphertextBlob=base64.b64decode(os.environ['CT']), EncryptionContext={'b': '2', 'a': '1'})
sys.stdout.write(r['Plaintext'].decode())
`;
  const r = await exec('python3', ['-c', script], {
    ...process.env,
    EP: t.endpoint,
    CA: t.caPath,
    AK: t.accessKeyId,
    SK: t.secretAccessKey,
    REGION: t.region,
    CT: enc.CiphertextBlob,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'from the CLI to boto3');
  assert.deepEqual(await readFile(ptFile), Buffer.from(r.stdout));
});
