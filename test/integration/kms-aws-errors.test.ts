// KMS errors as AWS KMS answers them (codes, HTTP status and wording recorded from AWS), through
// @aws-sdk/client-kms and boto3: ReEncrypt/Decrypt with another key's id, reserved tag prefixes in any case,
// ImportKeyMaterial's default expiration model, DryRun's status, malformed key ids, key usage errors that
// name the operation, and validation messages with AWS's member names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes, randomUUID } from 'node:crypto';
import {
  KMSClient,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateMacCommand,
  GenerateRandomCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ReEncryptCommand,
  SignCommand,
  TagResourceCommand,
  VerifyMacCommand,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec, fails } from '../helpers/assert.ts';

let t: RunningTrent;
let kms: KMSClient;

before(async () => {
  t = await startTrent();
  kms = new KMSClient(t.clientConfig({ maxAttempts: 1 }));
});
after(async () => {
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

async function createKey(input: ConstructorParameters<typeof CreateKeyCommand>[0] = {}): Promise<KeyMetadata> {
  return (await kms.send(new CreateKeyCommand(input))).KeyMetadata!;
}

const INCORRECT_KEY = 'The key ID in the request does not identify a CMK that can perform this operation.';

test('ReEncrypt and Decrypt naming a key that did not encrypt the blob are IncorrectKeyException, before the named key\'s usage is looked at', async () => {
  const sym = await createKey();
  const blob = (await kms.send(new EncryptCommand({ KeyId: sym.KeyId, Plaintext: Buffer.from('secret') }))).CiphertextBlob;
  const signing = await createKey({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
  const hmac = await createKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
  const rsaEnc = await createKey({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' });
  const otherSym = await createKey();
  for (const [source, what] of [
    [signing, 'a SIGN_VERIFY RSA key'],
    [hmac, 'an HMAC key'],
    [rsaEnc, 'an RSA encryption key'],
    [otherSym, 'another symmetric key'],
  ] as const) {
    const e = await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: source.KeyId, DestinationKeyId: otherSym.KeyId })), 'IncorrectKeyException', `ReEncrypt with ${what} as SourceKeyId`);
    assert.equal(e.message, INCORRECT_KEY);
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: source.KeyId })), 'IncorrectKeyException', `Decrypt with ${what} as KeyId`);
  }
  // The right key still works both ways.
  const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: sym.KeyId, DestinationKeyId: otherSym.KeyId }));
  assert.equal(re.SourceKeyId, sym.Arn);
});

test('tag keys beginning with aws: in any letter case are TagException, on CreateKey and TagResource', async () => {
  for (const TagKey of ['aws:owner', 'AWS:owner', 'Aws:team', 'aWs:x']) {
    const e = await fails(kms.send(new CreateKeyCommand({ Tags: [{ TagKey, TagValue: 'x' }] })), 'TagException', `CreateKey with ${TagKey}`);
    assert.equal(e.message, 'Tags beginning with aws: are reserved');
  }
  const k = await createKey();
  await fails(kms.send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'AWS:cost-center', TagValue: 'x' }] })), 'TagException', 'TagResource with AWS:');
  // Only the prefix is reserved.
  await kms.send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'awsome', TagValue: 'x' }] }));
});

test("ImportKeyMaterial's ExpirationModel defaults to KEY_MATERIAL_EXPIRES: without ValidTo it is ValidationException", async () => {
  const k = await createKey({ Origin: 'EXTERNAL' });
  const p = await kms.send(new GetParametersForImportCommand({ KeyId: k.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const wrapped = publicEncrypt({ key: createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
  const e = await fails(kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped })), 'ValidationException', 'no ExpirationModel, no ValidTo');
  assert.equal(e.message, 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES');
  const pending = await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException');
  assert.equal(pending.message, `${k.Arn} is pending import.`, "AWS's words for a key without material");
  // With a ValidTo the default model applies.
  await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped, ValidTo: new Date(Date.now() + 86_400_000) }));
  const d = (await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!;
  assert.equal(d.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  // Only EXTERNAL keys take imported material, in AWS's words.
  const native = await createKey();
  const origin = await fails(kms.send(new GetParametersForImportCommand({ KeyId: native.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })), 'UnsupportedOperationException');
  assert.equal(origin.message, `${native.Arn} origin is AWS_KMS which is not valid for this operation.`);
});

test('DryRun: DryRunOperationException with HTTP 400 (KMS models no other status for it), after every other check', async () => {
  const k = await createKey();
  const blob = (await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob;
  await fails(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x'), DryRun: true })), 'DryRunOperationException', 400);
  await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, DryRun: true })), 'DryRunOperationException', 400);
  await fails(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', DryRun: true })), 'DryRunOperationException', 400);
});

test("malformed key ids are \"Invalid keyId 'X'\"; well-formed unknown ones name the key ARN; an ARN from another Region names the Region", async () => {
  for (const id of ['fake-key-id', '134f2428cec14b25a1ae9048164dba47', 'mrk-fake-key-id']) {
    const e = await fails(kms.send(new DescribeKeyCommand({ KeyId: id })), 'NotFoundException', id);
    assert.equal(e.message, `Invalid keyId '${id}'`);
  }
  const absent = randomUUID();
  const arn = `arn:aws:kms:${t.region}:${(await createKey()).AWSAccountId}:key/${absent}`;
  assert.equal((await fails(kms.send(new DescribeKeyCommand({ KeyId: absent })), 'NotFoundException')).message, `Key '${arn}' does not exist`);
  const mrk = `mrk-${'d3b95762'.repeat(4)}`;
  assert.equal((await fails(kms.send(new DescribeKeyCommand({ KeyId: mrk })), 'NotFoundException')).message, `Key '${arn.replace(absent, mrk)}' does not exist`);
  const elsewhere = arn.replace(`:${t.region}:`, ':ap-southeast-1:');
  assert.equal((await fails(kms.send(new DescribeKeyCommand({ KeyId: elsewhere })), 'NotFoundException')).message, 'Invalid arn ap-southeast-1');
  const mac = await fails(kms.send(new GenerateMacCommand({ KeyId: 'key_id', Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_256' })), 'NotFoundException');
  assert.equal(mac.message, "Invalid keyId 'key_id'");
});

test('key usage and algorithm errors name the operation and the key spec as AWS does', async () => {
  const sym = await createKey();
  const hmac = await createKey({ KeySpec: 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' });
  const signing = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
  const rsa = await createKey({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' });
  const m = Buffer.from('message');
  const cases: Array<[() => Promise<unknown>, string]> = [
    [() => kms.send(new GenerateMacCommand({ KeyId: sym.KeyId, Message: m, MacAlgorithm: 'HMAC_SHA_256' })), `${sym.Arn} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.`],
    [() => kms.send(new VerifyMacCommand({ KeyId: sym.KeyId, Message: m, Mac: randomBytes(32), MacAlgorithm: 'HMAC_SHA_256' })), `${sym.Arn} key usage is ENCRYPT_DECRYPT which is not valid for VerifyMac.`],
    [() => kms.send(new SignCommand({ KeyId: hmac.KeyId, Message: m, SigningAlgorithm: 'ECDSA_SHA_256' })), `${hmac.Arn} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.`],
    [() => kms.send(new EncryptCommand({ KeyId: signing.KeyId, Plaintext: m })), `${signing.Arn} key usage is SIGN_VERIFY which is not valid for Encrypt.`],
    [() => kms.send(new GenerateMacCommand({ KeyId: hmac.KeyId, Message: m, MacAlgorithm: 'HMAC_SHA_256' })), 'Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.'],
    [() => kms.send(new SignCommand({ KeyId: signing.KeyId, Message: m, SigningAlgorithm: 'ECDSA_SHA_384' })), 'Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.'],
  ];
  for (const [call, message] of cases) assert.equal((await fails(call(), 'InvalidKeyUsageException', message)).message, message);
  const big = await fails(kms.send(new EncryptCommand({ KeyId: rsa.KeyId, Plaintext: randomBytes(215), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'ValidationException');
  assert.equal(big.message, 'Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.');
  const usage = await fails(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256' })), 'ValidationException', 'an HMAC key without KeyUsage');
  assert.equal(usage.message, 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.');
});

test("validation messages use AWS's member names (lower camel case) and wording", async () => {
  const k = await createKey();
  const expect = async (call: Promise<unknown>, message: string | RegExp) => {
    const e = await fails(call, 'ValidationException', String(message));
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
  };
  await expect(kms.send(new GenerateRandomCommand({ NumberOfBytes: 0 })), "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1");
  await expect(kms.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })), "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024");
  await expect(kms.send(new GenerateRandomCommand({})), 'NumberOfBytes is required.');
  await expect(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: randomBytes(4097) })), "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096");
  await expect(
    kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: Buffer.from('m'), MacAlgorithm: 'INVALID' as 'HMAC_SHA_256' })),
    /^1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: \[/,
  );
  await expect(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_random' as 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' })), /^1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: \[/);
  await expect(kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'a', TagValue: 'v'.repeat(257) }] })), "1 validation error detected: Value at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256");
  await expect(
    kms.send(new CreateAliasCommand({ AliasName: 'no-prefix', TargetKeyId: k.KeyId })),
    'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
  );
});

test('boto3: the same answers reach botocore (codes, HTTP status, messages)', async () => {
  const sym = await createKey();
  const signing = await createKey({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
  const script = String.raw`
import json, sys, boto3, botocore
kms = boto3.client('kms', config=botocore.config.Config(retries={'max_attempts': 1, 'mode': 'standard'}))
a = json.loads(sys.argv[1])
def error(fn, **kw):
    try:
        fn(**kw)
        return 'succeeded'
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
blob = kms.encrypt(KeyId=a['sym'], Plaintext=b'x')['CiphertextBlob']
print(json.dumps({
  'reencrypt': error(kms.re_encrypt, CiphertextBlob=blob, SourceKeyId=a['signing'], DestinationKeyId=a['sym']),
  'tag': error(kms.tag_resource, KeyId=a['sym'], Tags=[{'TagKey': 'AWS:x', 'TagValue': 'y'}]),
  'dryRun': error(kms.encrypt, KeyId=a['sym'], Plaintext=b'x', DryRun=True),
  'invalidKeyId': error(kms.describe_key, KeyId='fake-key-id'),
  'random': error(kms.generate_random, NumberOfBytes=1025),
  'usage': error(kms.generate_mac, KeyId=a['sym'], Message=b'm', MacAlgorithm='HMAC_SHA_256'),
}))
`;
  const r = await exec('python3', ['-c', script, JSON.stringify({ sym: sym.KeyId, signing: signing.KeyId })], t.cliEnv());
  assert.equal(r.code, 0, `boto3 script failed: ${r.stderr}`);
  assert.deepEqual(JSON.parse(r.stdout), {
    reencrypt: ['IncorrectKeyException', 400, INCORRECT_KEY],
    tag: ['TagException', 400, 'Tags beginning with aws: are reserved'],
    dryRun: ['DryRunOperationException', 400, 'The request would have succeeded, but the DryRun option is set.'],
    invalidKeyId: ['NotFoundException', 400, "Invalid keyId 'fake-key-id'"],
    random: ['ValidationException', 400, "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"],
    usage: ['InvalidKeyUsageException', 400, `${sym.Arn} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.`],
  });
});
