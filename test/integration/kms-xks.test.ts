// External key stores between two Trents. Trent B serves the External Key Store (XKS) Proxy API (its own path, its
// own SigV4 credential, calls acting as B's IAM user xks-proxy); Trent A keeps a KMS key in an EXTERNAL_KEY_STORE
// whose proxy is B. A key in the external store encrypts twice (A's layer inside, B's outside), every proxy call lands
// in B's trail under A's request id, and disabling the key on B stops A's decryptions at once.
//
// The proxy side is checked against the specification's request and response examples (aws-kms-xksproxy-api-spec:
// GetKeyMetadata, Encrypt, Decrypt, GetHealthStatus, the error example and Appendix D's curl calls); the KMS side
// through the JS SDK, boto3 and the AWS CLI, success and error paths.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import {
  KMSClient,
  CreateCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  ConnectCustomKeyStoreCommand,
  DisconnectCustomKeyStoreCommand,
  UpdateCustomKeyStoreCommand,
  DeleteCustomKeyStoreCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  GenerateRandomCommand,
  ReEncryptCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms';
import { IAMClient, CreateUserCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { removeDir, startTrent, tempDir, filesContaining, storageDirs, type RunningTrent } from '../helpers/trent.ts';
import { exec, fails } from '../helpers/assert.ts';
import { boto3 } from '../helpers/boto3.ts';
import { aws, awsKms, awsKmsJson } from '../helpers/cli.ts';
import { ciphertextDataIntegrityValue } from '../../src/kms/xks-format.ts';

let proxy: RunningTrent; // Trent B: the external key store proxy
let kmsTrent: RunningTrent; // Trent A: the KMS with a key in an external key store
let work: string;
let config: { XksProxyUriPath: string; XksProxyAuthenticationCredential: { AccessKeyId: string; RawSecretAccessKey: string } };
let b: KMSClient;
let a: KMSClient;
let externalKey: string; // a Trent key on B, usable by xks-proxy
let externalArn: string;
let forbiddenKey: string; // a Trent key on B that xks-proxy may not use
let hmacKey: string;
let storeId: string;
let xksKmsKey: string; // A's key in the external key store
let xksKmsArn: string;

const context = { app: 'xks-test', record: '7' };

before(async () => {
  work = await tempDir('trent-xks-');
  proxy = await startTrent({ env: { TRENT_WORKERS: '2' } });
  config = JSON.parse(await readFile(join(proxy.dataDir, 'xks-proxy.json'), 'utf8')) as typeof config;
  b = new KMSClient(proxy.clientConfig());
  const meta = (await b.send(new CreateKeyCommand({ Description: 'served to another KMS through the XKS proxy' }))).KeyMetadata!;
  externalKey = meta.KeyId!;
  externalArn = meta.Arn!;
  forbiddenKey = (await b.send(new CreateKeyCommand({ Description: 'not for the proxy' }))).KeyMetadata!.KeyId!;
  hmacKey = (await b.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!.KeyId!;
  // The remote KMS is B's IAM user xks-proxy: allowed on some keys only, like any principal.
  const iam = new IAMClient(proxy.clientConfig({ region: proxy.region }));
  await iam.send(new CreateUserCommand({ UserName: 'xks-proxy' }));
  const arn = (id: string) => `arn:aws:kms:${proxy.region}:${externalArn.split(':')[4]}:key/${id}`;
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'xks-proxy',
      PolicyName: 'serve-external-keys',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'], Resource: [externalArn, arn(hmacKey)] }] }),
    }),
  );
  // A trusts B's certificate (B's local CA), as a KMS must trust its proxy's.
  kmsTrent = await startTrent({ env: { NODE_EXTRA_CA_CERTS: proxy.caPath, TRENT_WORKERS: '2' } });
  a = new KMSClient(kmsTrent.clientConfig());
});

after(async () => {
  await kmsTrent?.stop();
  await proxy?.stop();
  if (kmsTrent) await removeDir(kmsTrent.dataDir);
  if (proxy) await removeDir(proxy.dataDir);
  if (work) await removeDir(work);
});

interface ProxyAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/** One XKS proxy call to B, signed as AWS KMS signs them (host and x-amz-date, service kms-xks-proxy), or as `opts` spoils it. */
async function xks(
  path: string,
  body: unknown,
  opts: { method?: string; secret?: string; service?: string; date?: Date; unsigned?: boolean; rawBody?: string } = {},
): Promise<ProxyAnswer> {
  const url = new URL(proxy.endpoint);
  const payload = Buffer.from(opts.rawBody ?? JSON.stringify(body));
  const fullPath = `${config.XksProxyUriPath}${path}`;
  let headers: Record<string, string> = { host: url.host, 'content-type': 'application/json' };
  if (!opts.unsigned) {
    const signer = new SignatureV4({
      service: opts.service ?? 'kms-xks-proxy',
      region: 'us-east-2',
      credentials: { accessKeyId: config.XksProxyAuthenticationCredential.AccessKeyId, secretAccessKey: opts.secret ?? config.XksProxyAuthenticationCredential.RawSecretAccessKey },
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
    });
    const signed = await signer.sign(
      new HttpRequest({ method: opts.method ?? 'POST', protocol: 'https:', hostname: url.hostname, port: Number(url.port), path: fullPath, headers, body: payload }),
      { unsignableHeaders: new Set(['content-type']), ...(opts.date ? { signingDate: opts.date } : {}) },
    );
    headers = signed.headers as Record<string, string>;
  }
  return new Promise((resolve, reject) => {
    const req = request({ method: opts.method ?? 'POST', host: url.hostname, port: Number(url.port), path: fullPath, headers: { ...headers, 'content-length': String(payload.length) }, ca: proxy.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The proxy answered this error: the HTTP status and the errorName the specification gives it. */
function refused(r: ProxyAnswer, status: number, errorName: string, what: string): void {
  assert.equal(r.status, status, `${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body['errorName'], errorName, what);
  const message = r.body['errorMessage'];
  assert.ok(typeof message === 'string' && message.length < 512 && /^[\x20-\x7e]*$/.test(message), `${what}: errorMessage printable ASCII under 512 characters`);
}

// The specification's examples. Where an example's JSON lacks a comma (GetKeyMetadata, Decrypt and GetHealthStatus
// requests), it is added; the key ARNs and ids are kept, except that the external key is B's.
const metadataExample = (keyArn = 'arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab') => ({
  requestMetadata: {
    awsPrincipalArn: 'arn:aws:iam::123456789012:user/Alice',
    kmsKeyArn: keyArn,
    kmsOperation: 'DescribeKey',
    kmsRequestId: '4112f4d6-db54-4af4-ae30-c55a22a8dfae',
    kmsViaService: 'ebs',
  },
});
const encryptExample = {
  requestMetadata: {
    awsPrincipalArn: 'arn:aws:iam::123456789012:user/Alice',
    kmsKeyArn: 'arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab',
    kmsOperation: 'Encrypt',
    kmsRequestId: '4112f4d6-db54-4af4-ae30-c55a22a8dfae',
    kmsViaService: 'ebs',
  },
  additionalAuthenticatedData: 'cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n',
  plaintext: 'SGVsbG8gV29ybGQh',
  encryptionAlgorithm: 'AES_GCM',
  ciphertextDataIntegrityValueAlgorithm: 'SHA_256',
};
const decryptExample = {
  requestMetadata: {
    awsPrincipalArn: 'arn:aws:iam::123456789012:user/Alice',
    kmsKeyArn: 'arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab',
    kmsOperation: 'Decrypt',
    kmsRequestId: '5112f4d6-db54-4af4-ae30-c55a22a8dfae',
    kmsViaService: 'ebs',
  },
  additionalAuthenticatedData: 'cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n',
  encryptionAlgorithm: 'AES_GCM',
  ciphertext: 'ghxkK1txeDNn3q8Y',
  ciphertextMetadata: 'a2V5X3ZlcnNpb249MQ==',
  initializationVector: 'HMrlRw85cAJUd5Ax',
  authenticationTag: 'vBxN2ncH1oEkR8WVXpmyYQ==',
};
const healthExample = { requestMetadata: { kmsRequestId: '4112f4d6-db54-4af4-ae30-c55a22a8dfae', kmsOperation: 'CreateCustomKeyStore' } };

test('the proxy answers the specification\'s request examples with its response examples\' shapes', async () => {
  // GetKeyMetadata: exactly the response example.
  const md = await xks(`/keys/${externalKey}/metadata`, metadataExample());
  assert.equal(md.status, 200, JSON.stringify(md.body));
  assert.equal(md.headers['content-type'], 'application/json');
  assert.deepEqual(md.body, { keySpec: 'AES_256', keyUsage: ['ENCRYPT', 'DECRYPT'], keyStatus: 'ENABLED' });

  // Encrypt "Hello World!" with the example's AAD and a CDIV: the response example's fields and sizes, a CDIV as Appendix C computes it.
  const enc = await xks(`/keys/${externalKey}/encrypt`, encryptExample);
  assert.equal(enc.status, 200, JSON.stringify(enc.body));
  assert.deepEqual(Object.keys(enc.body).sort(), ['authenticationTag', 'ciphertext', 'ciphertextDataIntegrityValue', 'ciphertextMetadata', 'initializationVector']);
  const bytes = (k: string) => Buffer.from(enc.body[k] as string, 'base64');
  assert.equal(bytes('ciphertext').length, 12, 'as long as the plaintext');
  assert.equal(bytes('initializationVector').length, 12);
  assert.equal(bytes('authenticationTag').length, 16);
  assert.ok(bytes('ciphertextMetadata').length <= 20);
  assert.equal(
    enc.body['ciphertextDataIntegrityValue'],
    ciphertextDataIntegrityValue({ aad: Buffer.from(encryptExample.additionalAuthenticatedData, 'base64'), metadata: bytes('ciphertextMetadata'), iv: bytes('initializationVector'), ciphertext: bytes('ciphertext'), tag: bytes('authenticationTag') }),
  );

  // Decrypt what it made, as the Decrypt request example does: the Decrypt response example.
  const dec = await xks(`/keys/${externalKey}/decrypt`, {
    ...decryptExample,
    ciphertext: enc.body['ciphertext'],
    ciphertextMetadata: enc.body['ciphertextMetadata'],
    initializationVector: enc.body['initializationVector'],
    authenticationTag: enc.body['authenticationTag'],
  });
  assert.equal(dec.status, 200, JSON.stringify(dec.body));
  assert.deepEqual(dec.body, { plaintext: 'SGVsbG8gV29ybGQh' });

  // The Decrypt request example as published (another proxy's ciphertext): the error example, 400 InvalidCiphertextException.
  refused(await xks(`/keys/${externalKey}/decrypt`, decryptExample), 400, 'InvalidCiphertextException', 'another proxy\'s ciphertext');
  // The same with the AAD changed: the error example's very scenario.
  refused(
    await xks(`/keys/${externalKey}/decrypt`, { ...decryptExample, ciphertext: enc.body['ciphertext'], ciphertextMetadata: enc.body['ciphertextMetadata'], initializationVector: enc.body['initializationVector'], authenticationTag: enc.body['authenticationTag'], additionalAuthenticatedData: 'b3RoZXI=' }),
    400,
    'InvalidCiphertextException',
    'another AAD',
  );

  // GetHealthStatus: every field the response example has, with the types it requires.
  const health = await xks('/health', healthExample);
  assert.equal(health.status, 200, JSON.stringify(health.body));
  assert.ok(Number.isInteger(health.body['xksProxyFleetSize']) && (health.body['xksProxyFleetSize'] as number) > 0);
  for (const k of ['xksProxyVendor', 'xksProxyModel', 'ekmVendor']) assert.equal(typeof health.body[k], 'string', k);
  const fleet = health.body['ekmFleetDetails'] as Array<Record<string, unknown>>;
  assert.ok(fleet.length >= 1 && fleet.length <= 10);
  for (const e of fleet) {
    assert.equal(typeof e['id'], 'string');
    assert.equal(typeof e['model'], 'string');
    assert.equal(e['healthStatus'], 'ACTIVE');
  }
  // Plaintext at the sizes every proxy must accept: 4300 bytes, and 8192 bytes of AAD.
  const big = await xks(`/keys/${externalKey}/encrypt`, { ...encryptExample, plaintext: Buffer.alloc(4300, 7).toString('base64'), additionalAuthenticatedData: Buffer.alloc(8192, 1).toString('base64') });
  assert.equal(big.status, 200, JSON.stringify(big.body));
  refused(await xks(`/keys/${externalKey}/encrypt`, { ...encryptExample, plaintext: Buffer.alloc(4301).toString('base64') }), 501, 'UnsupportedOperationException', 'more than 4300 bytes');
});

test('Appendix D: curl --aws-sigv4 calls the proxy as the specification shows', { skip: existsSync('/usr/bin/curl') ? false : 'curl is not installed' }, async () => {
  const url = `${proxy.endpoint}${config.XksProxyUriPath}`;
  const cred = `${config.XksProxyAuthenticationCredential.AccessKeyId}:${config.XksProxyAuthenticationCredential.RawSecretAccessKey}`;
  const encryptFile = join(work, 'xks_encrypt_request.json');
  await writeFile(encryptFile, JSON.stringify({ ...encryptExample, requestMetadata: { ...encryptExample.requestMetadata, kmsOperation: 'GenerateDataKey' }, additionalAuthenticatedData: undefined, ciphertextDataIntegrityValueAlgorithm: undefined }));
  const curl = (path: string, file: string) =>
    exec('curl', ['-sS', '--cacert', proxy.caPath, '--aws-sigv4', 'aws:amz:us-east-1:kms-xks-proxy', '--user', cred, '-X', 'POST', '-H', 'Content-Type:application/json', '--data', `@${file}`, `${url}${path}`]);
  const enc = await curl(`/keys/${externalKey}/encrypt`, encryptFile);
  assert.equal(enc.code, 0, enc.stderr);
  const body = JSON.parse(enc.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(body).sort(), ['authenticationTag', 'ciphertext', 'ciphertextMetadata', 'initializationVector']);
  assert.equal(Buffer.from(body['ciphertext']!, 'base64').length, 12);
  const healthFile = join(work, 'xks_get_health_status_request.json');
  await writeFile(healthFile, JSON.stringify({ requestMetadata: { kmsOperation: 'KmsHealthCheck', kmsRequestId: '1124f4d6-db54-4af4-ae30-c55a22a8abcd' } }));
  const health = await curl('/health', healthFile);
  assert.equal(health.code, 0, health.stderr);
  assert.equal((JSON.parse(health.stdout) as { xksProxyVendor: string }).xksProxyVendor, 'Trent');
});

test('the proxy\'s refusals: each with the status and errorName of the specification\'s error table', async () => {
  refused(await xks('/health', healthExample, { method: 'GET' }), 405, 'ValidationException', 'GET');
  assert.equal((await xks('/health', healthExample, { method: 'GET' })).headers['allow'], 'POST');
  refused(await xks('/nowhere', healthExample), 404, 'InvalidUriPathException', 'an unknown path');
  refused(await xks(`/keys/${externalKey}/sign`, healthExample), 404, 'InvalidUriPathException', 'an operation the API does not have');
  refused(await xks('/health', healthExample, { unsigned: true }), 401, 'AuthenticationFailedException', 'no signature');
  refused(await xks('/health', healthExample, { secret: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }), 401, 'AuthenticationFailedException', 'another secret');
  refused(await xks('/health', healthExample, { service: 'kms' }), 401, 'AuthenticationFailedException', 'signed for another service');
  refused(await xks('/health', healthExample, { date: new Date(Date.now() - 6 * 60_000) }), 401, 'AuthenticationFailedException', 'signed six minutes ago');
  refused(await xks('/health', undefined, { rawBody: '{"requestMetadata": ' }), 400, 'ValidationException', 'malformed JSON');
  refused(await xks(`/keys/${externalKey}/metadata`, {}), 400, 'ValidationException', 'no requestMetadata');
  refused(await xks('/keys/00000000-0000-0000-0000-000000000000/metadata', metadataExample()), 404, 'KeyNotFoundException', 'an unknown key');
  refused(await xks(`/keys/${forbiddenKey}/encrypt`, encryptExample), 403, 'AccessDeniedException', 'a key xks-proxy may not use');
  refused(await xks(`/keys/${hmacKey}/encrypt`, encryptExample), 400, 'InvalidKeyUsageException', 'an HMAC key');
  assert.deepEqual((await xks(`/keys/${hmacKey}/metadata`, metadataExample())).body, { keySpec: 'HMAC_256', keyUsage: [], keyStatus: 'ENABLED' });
  refused(await xks(`/keys/${externalKey}/encrypt`, { ...encryptExample, encryptionAlgorithm: 'AES_CBC' }), 400, 'ValidationException', 'another algorithm');
  refused(await xks(`/keys/${externalKey}/encrypt`, { ...encryptExample, plaintext: 'not base64!' }), 400, 'ValidationException', 'plaintext not in base64');
  refused(await xks(`/keys/${externalKey}/encrypt`, { ...encryptExample, ciphertextDataIntegrityValueAlgorithm: 'MD5' }), 400, 'ValidationException', 'another CDIV algorithm');

  const ct = new CloudTrailClient(proxy.clientConfig());
  const events = async (name: string) =>
    ((await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }], MaxResults: 50 }))).Events ?? []).map((e) => JSON.parse(e.CloudTrailEvent!) as Record<string, unknown>);
  const health = await events('XksGetHealthStatus');
  assert.ok(health.some((e) => e['errorCode'] === 'AuthenticationFailedException'), 'refused calls are recorded');
  const denied = (await events('XksEncrypt')).find((e) => e['errorCode'] === 'AccessDeniedException')!;
  assert.equal((denied['userIdentity'] as Record<string, unknown>)['userName'], 'xks-proxy');
  assert.equal((denied['resources'] as Array<{ ARN: string }>)[0]!.ARN.endsWith(forbiddenKey), true);
});

test('CreateCustomKeyStore (EXTERNAL_KEY_STORE): a GetHealthStatus with the credential first; AWS\'s refusals for each way it fails', async () => {
  const url = new URL(proxy.endpoint);
  const good = {
    CustomKeyStoreName: 'trent-b',
    CustomKeyStoreType: 'EXTERNAL_KEY_STORE' as const,
    XksProxyUriEndpoint: `https://${url.host}`,
    XksProxyUriPath: config.XksProxyUriPath,
    XksProxyAuthenticationCredential: config.XksProxyAuthenticationCredential,
    XksProxyConnectivity: 'PUBLIC_ENDPOINT' as const,
  };
  const create = (extra: Record<string, unknown>) => a.send(new CreateCustomKeyStoreCommand({ ...good, ...extra }));
  await fails(create({ XksProxyAuthenticationCredential: { AccessKeyId: config.XksProxyAuthenticationCredential.AccessKeyId, RawSecretAccessKey: 'B'.repeat(44) } }), 'XksProxyIncorrectAuthenticationCredentialException', 'a wrong secret');
  await fails(create({ XksProxyUriPath: '/_trent/xks/elsewhere/kms/xks/v1' }), 'XksProxyInvalidConfigurationException', 'a path the proxy does not serve');
  // A path outside the proxy altogether: whatever answers is no XKS proxy (no errorName in a JSON body).
  await fails(create({ XksProxyUriPath: '/elsewhere/kms/xks/v1' }), 'XksProxyInvalidResponseException', 'no proxy at that path');
  // A port nobody listens on.
  const free = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  await fails(create({ XksProxyUriEndpoint: `https://localhost:${free}` }), 'XksProxyUriUnreachableException', 'nothing listening');
  // A proxy whose certificate this server does not trust (A's own endpoint, signed by A's CA, which A does not trust).
  await fails(create({ XksProxyUriEndpoint: `https://localhost:${kmsTrent.port}` }), 'XksProxyUriUnreachableException', 'an untrusted certificate');
  await fails(create({ XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyVpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0' }), 'UnsupportedOperationException', 'VPC endpoint service connectivity');
  await fails(create({ XksProxyUriPath: '/kms/xks/v2/extra' }), 'ValidationException', 'a path of the wrong form');
  await fails(create({ XksProxyUriEndpoint: 'http://localhost' }), 'ValidationException', 'not https');
  await fails(create({ XksProxyAuthenticationCredential: { AccessKeyId: 'lowercase-is-not-allowed', RawSecretAccessKey: 'A'.repeat(44) } }), 'ValidationException', 'an access key id of the wrong form');
  await fails(create({ XksProxyConnectivity: undefined }), 'ValidationException', 'no connectivity');
  await fails(create({ KeyStorePassword: 'password-123' }), 'ValidationException', 'a CloudHSM parameter');

  storeId = (await create({})).CustomKeyStoreId!;
  await fails(create({}), 'CustomKeyStoreNameInUseException', 'the same name');
  await fails(create({ CustomKeyStoreName: 'trent-b-again' }), 'XksProxyUriInUseException', 'the same proxy URI');
  const s = (await a.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores![0]!;
  assert.equal(s.CustomKeyStoreType, 'EXTERNAL_KEY_STORE');
  assert.equal(s.ConnectionState, 'DISCONNECTED');
  assert.deepEqual(s.XksProxyConfiguration, { Connectivity: 'PUBLIC_ENDPOINT', AccessKeyId: config.XksProxyAuthenticationCredential.AccessKeyId, UriEndpoint: good.XksProxyUriEndpoint, UriPath: config.XksProxyUriPath });
  assert.equal(s.CloudHsmClusterId, undefined);
  // GenerateRandom takes CloudHSM key stores only.
  await fails(a.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: storeId })), 'UnsupportedOperationException');
});

test('connect, and CreateKey (EXTERNAL_KEY_STORE): the proxy must describe the external key as an enabled AES-256 key A may use', async () => {
  await fails(a.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: externalKey })), 'CustomKeyStoreInvalidStateException', 'a disconnected store');
  await a.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  assert.equal((await a.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores![0]!.ConnectionState, 'CONNECTED');
  const create = (xksKeyId: string | undefined) => a.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, ...(xksKeyId !== undefined ? { XksKeyId: xksKeyId } : {}) }));
  await fails(create(undefined), 'ValidationException', 'no XksKeyId');
  await fails(create('not/a valid id'), 'ValidationException', 'an XksKeyId of the wrong form');
  await fails(create('00000000-0000-0000-0000-000000000000'), 'XksKeyNotFoundException', 'a key the proxy does not have');
  await fails(create(hmacKey), 'XksKeyInvalidConfigurationException', 'not an AES-256 encryption key');
  await fails(create(forbiddenKey), 'KMSInvalidStateException', 'a key the proxy refuses A');
  await fails(a.send(new CreateKeyCommand({ Origin: 'AWS_KMS', XksKeyId: externalKey })), 'ValidationException', 'XksKeyId without EXTERNAL_KEY_STORE');
  const meta = (await create(externalKey)).KeyMetadata!;
  xksKmsKey = meta.KeyId!;
  xksKmsArn = meta.Arn!;
  assert.equal(meta.Origin, 'EXTERNAL_KEY_STORE');
  assert.equal(meta.CustomKeyStoreId, storeId);
  assert.deepEqual(meta.XksKeyConfiguration, { Id: externalKey });
  assert.deepEqual((await a.send(new DescribeKeyCommand({ KeyId: xksKmsKey }))).KeyMetadata!.XksKeyConfiguration, { Id: externalKey });
  await fails(create(externalKey), 'XksKeyAlreadyInUseException', 'the same external key twice');
});

test('double encryption: A\'s layer inside, B\'s outside; Encrypt, Decrypt, GenerateDataKey and ReEncrypt; every proxy call in B\'s trail under A\'s request id', async () => {
  const secret = Buffer.from('kept by A, locked twice: once by A, once by B');
  const enc = await a.send(new EncryptCommand({ KeyId: xksKmsKey, Plaintext: secret, EncryptionContext: context }));
  const blob = Buffer.from(enc.CiphertextBlob!);
  assert.equal(blob[0], 0x03, 'ciphertext format 3 (docs/formats.md)');
  assert.equal(enc.KeyId, xksKmsArn);
  const dec = await a.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }));
  assert.deepEqual(Buffer.from(dec.Plaintext!), secret);
  assert.ok(dec.KeyMaterialId, 'A names its own layer\'s material');

  // B's layer off (with the AAD A sends: the blob's header and the SHA-256 of the canonical context): what is left is
  // A's own version 1 blob, naming A's key, which B cannot open.
  const m = blob[38]!;
  const v = blob[39 + m]!;
  const parts = { metadata: blob.subarray(39, 39 + m), iv: blob.subarray(40 + m, 40 + m + v), tag: blob.subarray(40 + m + v, 56 + m + v), ciphertext: blob.subarray(56 + m + v) };
  const { xksAad } = await import('../../src/kms/custom-key-stores.ts');
  const outer = await xks(`/keys/${externalKey}/decrypt`, {
    requestMetadata: { awsPrincipalArn: 'arn:aws:iam::123456789012:user/test', kmsKeyArn: xksKmsArn, kmsOperation: 'Decrypt', kmsRequestId: 'test' },
    ciphertext: parts.ciphertext.toString('base64'),
    ciphertextMetadata: parts.metadata.toString('base64'),
    initializationVector: parts.iv.toString('base64'),
    authenticationTag: parts.tag.toString('base64'),
    additionalAuthenticatedData: xksAad(xksKmsKey, context).toString('base64'),
    encryptionAlgorithm: 'AES_GCM',
  });
  assert.equal(outer.status, 200, JSON.stringify(outer.body));
  const inner = Buffer.from(outer.body['plaintext'] as string, 'base64');
  assert.equal(inner[0], 0x01);
  assert.equal(inner.subarray(2, 38).toString(), xksKmsKey, 'the inner layer is A\'s, for A\'s key');
  assert.ok(!inner.includes(secret), 'the proxy never sees the plaintext');
  const bKms = b;
  await fails(bKms.send(new DecryptCommand({ CiphertextBlob: inner })), 'InvalidCiphertextException', 'B cannot open A\'s layer');
  // Nor does A accept its inner layer alone: a key in an external key store only decrypts through its proxy.
  await fails(a.send(new DecryptCommand({ CiphertextBlob: inner, EncryptionContext: context })), 'InvalidCiphertextException', 'the inner layer alone');

  await fails(a.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context, record: '8' } })), 'KMSInvalidStateException', 'another encryption context (the proxy refuses its AAD)');
  const dk = await a.send(new GenerateDataKeyCommand({ KeyId: xksKmsKey, KeySpec: 'AES_256', EncryptionContext: context }));
  assert.deepEqual(Buffer.from((await a.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob!, EncryptionContext: context }))).Plaintext!), Buffer.from(dk.Plaintext!));
  const local = (await a.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const out = await a.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: context, DestinationKeyId: local }));
  assert.equal(out.SourceKeyId, xksKmsArn);
  const back = await a.send(new ReEncryptCommand({ CiphertextBlob: out.CiphertextBlob!, DestinationKeyId: xksKmsKey, DestinationEncryptionContext: context }));
  assert.equal(back.CiphertextBlob![0], 0x03);
  assert.deepEqual(Buffer.from((await a.send(new DecryptCommand({ CiphertextBlob: back.CiphertextBlob!, EncryptionContext: context }))).Plaintext!), secret);

  // Rotating the key on B keeps what it encrypted before (its metadata names the backing-key version).
  await b.send(new RotateKeyOnDemandCommand({ KeyId: externalKey }));
  assert.deepEqual(Buffer.from((await a.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))).Plaintext!), secret);
  const afterRotation = await a.send(new EncryptCommand({ KeyId: xksKmsKey, Plaintext: secret, EncryptionContext: context }));
  assert.deepEqual(Buffer.from((await a.send(new DecryptCommand({ CiphertextBlob: afterRotation.CiphertextBlob!, EncryptionContext: context }))).Plaintext!), secret);

  // B's trail: the proxy call of A's Encrypt, correlated by A's request id, acting as xks-proxy, on B's key.
  const ct = new CloudTrailClient(proxy.clientConfig());
  const events = ((await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'XksEncrypt' }], MaxResults: 50 }))).Events ?? []).map(
    (e) => JSON.parse(e.CloudTrailEvent!) as Record<string, unknown>,
  );
  const mine = events.find((e) => ((e['requestParameters'] as Record<string, Record<string, string>>)?.['requestMetadata']?.['kmsRequestId']) === enc.$metadata.requestId);
  assert.ok(mine, `B recorded the proxy call of A's request ${enc.$metadata.requestId}`);
  const rm = (mine['requestParameters'] as Record<string, Record<string, string>>)['requestMetadata']!;
  assert.equal(rm['kmsOperation'], 'Encrypt');
  assert.equal(rm['kmsKeyArn'], xksKmsArn);
  assert.match(rm['awsPrincipalArn']!, /:user\/admin$/);
  assert.equal((mine['userIdentity'] as Record<string, string>)['userName'], 'xks-proxy');
  assert.equal((mine['userIdentity'] as Record<string, string>)['accessKeyId'], config.XksProxyAuthenticationCredential.AccessKeyId);
  assert.deepEqual((mine['resources'] as Array<{ ARN: string }>).map((r) => r.ARN), [externalArn]);
  assert.equal(mine['eventSource'], 'kms.amazonaws.com');
  // Neither side keeps the plaintext anywhere, nor B the proxy secret in clear.
  for (const t of [proxy, kmsTrent]) assert.deepEqual(await filesContaining(storageDirs(t.dataDir), [secret]), [], 'no plaintext on disk');
  const secretHits = await filesContaining(storageDirs(proxy.dataDir), [Buffer.from(config.XksProxyAuthenticationCredential.RawSecretAccessKey)]);
  assert.deepEqual(secretHits.map((p) => p.slice(proxy.dataDir.length)), ['/xks-proxy.json'], 'the proxy secret is in clear only in the configuration file handed to the operator');
  assert.deepEqual(await filesContaining(storageDirs(kmsTrent.dataDir), [Buffer.from(config.XksProxyAuthenticationCredential.RawSecretAccessKey)]), [], 'A keeps the proxy secret wrapped');
});

test('the kill switch: disabling the key on B stops A\'s decryptions at once; enabling it brings them back', async () => {
  const enc = await a.send(new EncryptCommand({ KeyId: xksKmsKey, Plaintext: Buffer.from('under the customer\'s control'), EncryptionContext: context }));
  await b.send(new DisableKeyCommand({ KeyId: externalKey }));
  // Both of A's workers and both of B's: none may have a cached way around it.
  for (let i = 0; i < 6; i++) {
    await fails(a.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: context })), 'KMSInvalidStateException', `Decrypt #${i} with the key disabled on B`);
  }
  await fails(a.send(new EncryptCommand({ KeyId: xksKmsKey, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', 'Encrypt with the key disabled on B');
  assert.equal((await a.send(new DescribeKeyCommand({ KeyId: xksKmsKey }))).KeyMetadata!.KeyState, 'Enabled', 'A\'s key is still enabled: the external key is what is off');
  const ct = new CloudTrailClient(proxy.clientConfig());
  const refusals = ((await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'XksDecrypt' }], MaxResults: 50 }))).Events ?? []).filter((e) =>
    e.CloudTrailEvent!.includes('"errorCode":"InvalidStateException"'),
  );
  assert.ok(refusals.length >= 6, 'B recorded each refused decryption');
  await b.send(new EnableKeyCommand({ KeyId: externalKey }));
  for (let i = 0; i < 4; i++) assert.equal(Buffer.from((await a.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: context }))).Plaintext!).toString(), 'under the customer\'s control');
});

test('disconnecting the external key store on A, updating it, the AWS CLI and boto3', async () => {
  const enc = await a.send(new EncryptCommand({ KeyId: xksKmsKey, Plaintext: Buffer.from('cli and boto3') }));
  await fails(a.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriEndpoint: 'https://localhost:1' })), 'CustomKeyStoreInvalidStateException', 'the endpoint of a connected store');
  // The credential may change while connected, after a health check with it.
  await fails(
    a.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyAuthenticationCredential: { AccessKeyId: config.XksProxyAuthenticationCredential.AccessKeyId, RawSecretAccessKey: 'C'.repeat(44) } })),
    'XksProxyIncorrectAuthenticationCredentialException',
  );
  await a.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyAuthenticationCredential: config.XksProxyAuthenticationCredential, NewCustomKeyStoreName: 'trent-b-renamed' }));
  await fails(a.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: 'password-123' })), 'ValidationException', 'a CloudHSM parameter');

  const blobFile = join(work, 'xks-blob');
  await writeFile(blobFile, Buffer.from(enc.CiphertextBlob!));
  const dec = await awsKmsJson<{ Plaintext: string; KeyId: string }>(kmsTrent, 'v1', ['decrypt', '--ciphertext-blob', `fileb://${blobFile}`]);
  assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'cli and boto3');
  const described = await awsKmsJson<{ CustomKeyStores: Array<{ XksProxyConfiguration: Record<string, string>; CustomKeyStoreName: string }> }>(kmsTrent, 'v1', ['describe-custom-key-stores', '--custom-key-store-name', 'trent-b-renamed']);
  assert.equal(described.CustomKeyStores[0]!.XksProxyConfiguration['UriPath'], config.XksProxyUriPath);
  await awsKmsJson(kmsTrent, 'v1', ['disconnect-custom-key-store', '--custom-key-store-id', storeId]);
  for (let i = 0; i < 4; i++) {
    const r = await awsKms(kmsTrent, 'v1', ['decrypt', '--ciphertext-blob', `fileb://${blobFile}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /KMSInvalidStateException/, `decrypt #${i} with the store disconnected`);
  }
  const deleting = await awsKms(kmsTrent, 'v1', ['delete-custom-key-store', '--custom-key-store-id', storeId]);
  assert.match(deleting.stderr, /CustomKeyStoreHasCMKsException/);
  // A second store through the CLI, its proxy credential given as the CLI takes structures: the same endpoint and
  // path are refused (a proxy URI in use); the same proxy by its address is another URI.
  const url = new URL(proxy.endpoint);
  const cred = config.XksProxyAuthenticationCredential;
  // The CLI v1 fetches any parameter that starts with https:// unless told not to (cli_follow_urlparam = false).
  const cliConfig = join(work, 'aws-config');
  await writeFile(cliConfig, '[default]\ncli_follow_urlparam = false\n');
  const cliCreate = (endpoint: string) =>
    aws(kmsTrent, 'v1', [
      'kms',
      'create-custom-key-store',
      '--custom-key-store-name',
      'cli-xks',
      '--custom-key-store-type',
      'EXTERNAL_KEY_STORE',
      '--xks-proxy-uri-endpoint',
      endpoint,
      '--xks-proxy-uri-path',
      config.XksProxyUriPath,
      '--xks-proxy-authentication-credential',
      `AccessKeyId=${cred.AccessKeyId},RawSecretAccessKey=${cred.RawSecretAccessKey}`,
      '--xks-proxy-connectivity',
      'PUBLIC_ENDPOINT',
      '--output',
      'json',
    ], undefined, { AWS_CONFIG_FILE: cliConfig });
  const inUse = await cliCreate(`https://${url.host}`);
  assert.notEqual(inUse.code, 0);
  assert.match(inUse.stderr, /XksProxyUriInUseException/);
  const created = await cliCreate(`https://127.0.0.1:${url.port}`);
  assert.equal(created.code, 0, created.stderr);
  const cliStore = (JSON.parse(created.stdout) as { CustomKeyStoreId: string }).CustomKeyStoreId;

  const r = await boto3(
    kmsTrent,
    String.raw`
kms = boto3.client('kms')
store = os.environ['STORE']
out = {}
out['connect'] = call(kms.connect_custom_key_store, CustomKeyStoreId=store)
out['describe'] = call(kms.describe_custom_key_stores, CustomKeyStoreId=store)
out['unknown_key'] = call(kms.create_key, Origin='EXTERNAL_KEY_STORE', CustomKeyStoreId=store, XksKeyId='00000000-0000-0000-0000-000000000000')
key = call(kms.create_key, Origin='EXTERNAL_KEY_STORE', CustomKeyStoreId=store, XksKeyId=os.environ['EXTERNAL'])
out['create_key'] = key
kid = key['ok']['KeyMetadata']['KeyId']
enc = kms.encrypt(KeyId=kid, Plaintext=b'boto3 through two Trents', EncryptionContext={'via': 'boto3'})
out['plaintext'] = kms.decrypt(CiphertextBlob=enc['CiphertextBlob'], EncryptionContext={'via': 'boto3'})['Plaintext'].decode()
out['wrong_context'] = call(kms.decrypt, CiphertextBlob=enc['CiphertextBlob'], EncryptionContext={'via': 'other'})
out['update_endpoint_connected'] = call(kms.update_custom_key_store, CustomKeyStoreId=store, XksProxyUriEndpoint='https://localhost:1')
out['delete_connected'] = call(kms.delete_custom_key_store, CustomKeyStoreId=store)
out['random'] = call(kms.generate_random, NumberOfBytes=8, CustomKeyStoreId=store)
print(json.dumps(out))
`,
    { STORE: cliStore, EXTERNAL: externalKey },
  );
  const ok = (k: string) => assert.ok((r[k] as { ok?: unknown }).ok !== undefined, `${k}: ${JSON.stringify(r[k])}`);
  const code = (k: string) => (r[k] as { code?: string }).code;
  ok('connect');
  assert.equal((r['describe'] as { ok: { CustomKeyStores: Array<{ ConnectionState: string }> } }).ok.CustomKeyStores[0]!.ConnectionState, 'CONNECTED');
  assert.equal(code('unknown_key'), 'XksKeyNotFoundException');
  ok('create_key');
  assert.equal(r['plaintext'], 'boto3 through two Trents');
  assert.equal(code('wrong_context'), 'KMSInvalidStateException');
  assert.equal(code('update_endpoint_connected'), 'CustomKeyStoreInvalidStateException');
  assert.equal(code('delete_connected'), 'CustomKeyStoreInvalidStateException');
  assert.equal(code('random'), 'UnsupportedOperationException');

  // The proxy's credential changed behind A's back: the next connection FAILS with INVALID_CREDENTIALS, and a
  // FAILED store must be disconnected, given the right credential, and connected again.
  await a.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: cliStore }));
  const db = await kmsTrent.openDb();
  try {
    await db.run('UPDATE kms_custom_key_stores SET xks_access_key_id = ? WHERE custom_key_store_id = ?', ['ABCDEFGHIJKLMNOPQRSTUVWXYZ', cliStore]);
  } finally {
    await db.close();
  }
  await a.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: cliStore }));
  const failed = (await a.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: cliStore }))).CustomKeyStores![0]!;
  assert.equal(failed.ConnectionState, 'FAILED');
  assert.equal(failed.ConnectionErrorCode, 'INVALID_CREDENTIALS');
  await fails(a.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: cliStore })), 'CustomKeyStoreInvalidStateException', 'connecting a FAILED store');
  await a.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: cliStore }));
  await a.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: cliStore, XksProxyAuthenticationCredential: cred }));
  await a.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: cliStore }));
  assert.equal((await a.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: cliStore }))).CustomKeyStores![0]!.ConnectionState, 'CONNECTED');
  // A connected store cannot be deleted (nor one with keys, as above).
  await fails(a.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: cliStore })), 'CustomKeyStoreInvalidStateException', 'deleting a connected store');
});
