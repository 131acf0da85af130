// The AWS Encryption SDK for JavaScript against Trent's KMS: envelope encryption of a 10 MB message
// with a KMS keyring (GenerateDataKey, Encrypt for extra keys, Decrypt), strict and discovery.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildClient, CommitmentPolicy, getClient, KMS, KmsKeyringNode } from '@aws-crypto/client-node';
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

let t: RunningTrent;
let kms: KMSClient;
let clientProvider: ReturnType<typeof getClient<KMS, KMSClientConfig>>;
const arns: { a: string; b: string; unrelated: string } = { a: '', b: '', unrelated: '' };

const MESSAGE = randomBytes(10 * 1024 * 1024);
const CONTEXT = { purpose: 'esdk-integration', tenant: '42', 'ünïcode': 'välue' };
let ciphertext: Buffer;

before(async () => {
  t = await startTrent();
  // clientConfig() carries the endpoint, the credentials and an https agent that trusts Trent's CA
  // (NODE_EXTRA_CA_CERTS cannot be set once this process has started).
  const config = t.clientConfig() as KMSClientConfig;
  kms = new KMSClient(config);
  // getClient spreads this config into `new KMS({ ...config, region })`, the region coming from the key ARN.
  clientProvider = getClient(KMS, { endpoint: config.endpoint, credentials: config.credentials, requestHandler: config.requestHandler, maxAttempts: 1 });
  for (const name of ['a', 'b', 'unrelated'] as const) {
    const r = await kms.send(new CreateKeyCommand({ Description: `esdk ${name}` }));
    arns[name] = r.KeyMetadata!.Arn!;
  }
});
after(async () => {
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

const hasContext = (ctx: Record<string, string>) => {
  for (const [k, v] of Object.entries(CONTEXT)) assert.equal(ctx[k], v, `encryption context pair ${k}`);
};

test('encrypt a 10 MB message with a KMS keyring (generator key ARN and a second key ARN) and an encryption context', async () => {
  const keyring = new KmsKeyringNode({ clientProvider, generatorKeyId: arns.a, keyIds: [arns.b] });
  const { result, messageHeader } = await encrypt(keyring, MESSAGE, { encryptionContext: CONTEXT });
  ciphertext = result;
  assert.ok(result.length > MESSAGE.length);
  assert.ok(!result.subarray(0, 1 << 20).includes(MESSAGE.subarray(0, 64)), 'the message is not in clear');
  hasContext(messageHeader.encryptionContext);
  // One encrypted data key per KMS key, each naming its key by ARN.
  const edks = messageHeader.encryptedDataKeys.map((e) => [e.providerId, e.providerInfo]);
  assert.deepEqual(edks, [
    ['aws-kms', arns.a],
    ['aws-kms', arns.b],
  ]);
});

test('decrypt with the same keyring: the message and its context come back', async () => {
  assert.ok(ciphertext, 'the encrypt test ran');
  const keyring = new KmsKeyringNode({ clientProvider, generatorKeyId: arns.a, keyIds: [arns.b] });
  const { plaintext, messageHeader } = await decrypt(keyring, ciphertext);
  assert.equal(plaintext.length, MESSAGE.length);
  assert.ok(plaintext.equals(MESSAGE), 'the decrypted message equals the input');
  hasContext(messageHeader.encryptionContext);
});

test('decrypt with a discovery keyring', async () => {
  assert.ok(ciphertext, 'the encrypt test ran');
  const keyring = new KmsKeyringNode({ clientProvider, discovery: true });
  const { plaintext, messageHeader } = await decrypt(keyring, ciphertext);
  assert.ok(plaintext.equals(MESSAGE));
  hasContext(messageHeader.encryptionContext);
});

test('the second key alone decrypts too (its data key came from Encrypt), and discovery falls back to it when the first key is disabled', async () => {
  assert.ok(ciphertext, 'the encrypt test ran');
  const onlyB = new KmsKeyringNode({ clientProvider, generatorKeyId: arns.b });
  assert.ok((await decrypt(onlyB, ciphertext)).plaintext.equals(MESSAGE));

  await kms.send(new DisableKeyCommand({ KeyId: arns.a }));
  try {
    const { plaintext } = await decrypt(new KmsKeyringNode({ clientProvider, discovery: true }), ciphertext);
    assert.ok(plaintext.equals(MESSAGE));
    // The first key alone cannot decrypt while it is disabled.
    await assert.rejects(decrypt(new KmsKeyringNode({ clientProvider, generatorKeyId: arns.a }), ciphertext), /DisabledException/);
  } finally {
    await kms.send(new EnableKeyCommand({ KeyId: arns.a }));
  }
});

test('a keyring for an unrelated key cannot decrypt; neither can a tampered message', async () => {
  assert.ok(ciphertext, 'the encrypt test ran');
  // The message holds no data key for that key, so the keyring has nothing to ask KMS for.
  await assert.rejects(decrypt(new KmsKeyringNode({ clientProvider, generatorKeyId: arns.unrelated }), ciphertext), /unencryptedDataKey has not been set/);

  // A flipped byte in the body fails authentication, even with the right keyring.
  const tampered = Buffer.from(ciphertext);
  const at = tampered.length >> 1;
  tampered[at] = tampered[at]! ^ 0x01;
  await assert.rejects(decrypt(new KmsKeyringNode({ clientProvider, discovery: true }), tampered));
});

test('a small message round-trips with the key ARNs given as generator only, and without an encryption context', async () => {
  const keyring = new KmsKeyringNode({ clientProvider, generatorKeyId: arns.b });
  const { result } = await encrypt(keyring, Buffer.from('short message'));
  const { plaintext } = await decrypt(new KmsKeyringNode({ clientProvider, discovery: true }), result);
  assert.equal(plaintext.toString(), 'short message');
});
