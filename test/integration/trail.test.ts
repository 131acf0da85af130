// The audit trail seen from the outside: every call (successful or refused) is a CloudTrail event that
// LookupEvents returns to @aws-sdk/client-cloudtrail, boto3 and both AWS CLIs; KMS events name the key and
// the encryption context but never carry plaintext, data keys or ciphertext; lookups filter, bound and page
// as CloudTrail's do; GetKeyLastUsage points at the recorded event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  KMSClient,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyLastUsageCommand,
  ReEncryptCommand,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { CloudTrailClient, LookupEventsCommand, type Event, type LookupAttribute, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { DISTRIBUTED, filesUnder, startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { CLI_V2, skipCliV2 } from '../helpers/cli.ts';
import { fails, exec, type Run } from '../helpers/assert.ts';
import { errorCode, kmsRequest, signed, stsRequest, type RawResponse } from '../helpers/raw.ts';

let t: RunningTrent;
let kms: KMSClient;
let ct: CloudTrailClient;
let sts: STSClient;
/** The admin as GetCallerIdentity reports it. */
let admin: { arn: string; accessKeyId: string; userName: string };
/** The key most tests use. */
let key: KeyMetadata;

before(async () => {
  t = await startTrent();
  kms = new KMSClient(t.clientConfig());
  ct = new CloudTrailClient(t.clientConfig());
  sts = new STSClient(t.clientConfig());
  const me = await sts.send(new GetCallerIdentityCommand({}));
  assert.ok(me.Arn, 'GetCallerIdentity returns the admin ARN');
  admin = { arn: me.Arn, accessKeyId: t.accessKeyId, userName: 'admin' };
  key = await newKey('trail test key');
});
after(async () => {
  kms?.destroy();
  ct?.destroy();
  sts?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

/** The CloudTrail record inside an event's CloudTrailEvent string. */
interface TrailRecord {
  eventVersion: string;
  userIdentity: { type: string; principalId?: string; arn?: string; accountId?: string; accessKeyId?: string; userName?: string };
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  errorCode?: string;
  errorMessage?: string;
  requestParameters: { [k: string]: unknown } | null;
  responseElements: { [k: string]: unknown } | null;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: Array<{ ARN: string; accountId: string; type: string }>;
  eventType: string;
  recipientAccountId: string;
}



async function newKey(description: string): Promise<KeyMetadata> {
  const r = await kms.send(new CreateKeyCommand({ Description: description }));
  assert.ok(r.KeyMetadata?.KeyId && r.KeyMetadata.Arn, 'CreateKey returns KeyMetadata with KeyId and Arn');
  return r.KeyMetadata;
}

const record = (e: Event): TrailRecord => {
  assert.equal(typeof e.CloudTrailEvent, 'string', 'CloudTrailEvent is a JSON string');
  return JSON.parse(e.CloudTrailEvent!) as TrailRecord;
};

const attr = (AttributeKey: LookupAttribute['AttributeKey'], AttributeValue: string): LookupEventsCommandInput => ({
  LookupAttributes: [{ AttributeKey, AttributeValue }],
});

/** Every event LookupEvents returns for `input`, following NextToken to the end. */
async function lookupAll(input: LookupEventsCommandInput = {}, maxResults = 50): Promise<Event[]> {
  const events: Event[] = [];
  let token: string | undefined;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 1000, 'LookupEvents paging ends');
    const r = await ct.send(new LookupEventsCommand({ ...input, MaxResults: maxResults, ...(token ? { NextToken: token } : {}) }));
    events.push(...(r.Events ?? []));
    token = r.NextToken;
    if (!token) return events;
  }
}

/** The one event recording the call with this request ID. */
async function eventFor(requestId: string | undefined, input: LookupEventsCommandInput = {}): Promise<{ event: Event; rec: TrailRecord }> {
  assert.ok(requestId, 'the call has a request ID');
  const found = (await lookupAll(input)).filter((e) => record(e).requestID === requestId);
  assert.equal(found.length, 1, `exactly one event has requestID ${requestId} (found ${found.length})`);
  return { event: found[0]!, rec: record(found[0]!) };
}

const rawRequestId = (r: RawResponse): string => {
  const id = r.headers['x-amzn-requestid'] ?? /<RequestId>([^<]+)<\/RequestId>/.exec(r.body)?.[1];
  assert.ok(typeof id === 'string' && id.length > 0, `the response carries a request ID: ${JSON.stringify(r.headers)} ${r.body}`);
  return id;
};

/** The data directory's database files as they are on disk right now (a missing file reads as empty). */
async function databaseBytes(): Promise<Array<{ name: string; bytes: Buffer }>> {
  const out: Array<{ name: string; bytes: Buffer }> = [];
  for (const name of ['trail.db', 'trail.db-wal', 'trent.db', 'trent.db-wal']) {
    const p = join(t.dataDir, name);
    out.push({ name, bytes: existsSync(p) ? await readFile(p) : Buffer.alloc(0) });
  }
  // On the distributed backends the audit records live in PostgreSQL: every file of its data directory (WAL included).
  if (DISTRIBUTED) for (const f of await filesUnder(process.env['TRENT_TEST_PG_DATA_DIR']!)) out.push({ name: `trail.db (PostgreSQL ${f})`, bytes: await readFile(f).catch(() => Buffer.alloc(0)) });
  return out;
}

/**
 * None of these secrets, raw or base64, appears in any event LookupEvents returns (every field, the
 * CloudTrailEvent string included) nor anywhere in the bytes of the databases.
 */
async function assertNowhere(secrets: Array<{ what: string; bytes: Uint8Array }>): Promise<void> {
  const events = await lookupAll();
  assert.ok(events.length > 0, 'a full LookupEvents scan returns events');
  const text = JSON.stringify(events);
  const files = await databaseBytes();
  assert.ok(files.some((f) => f.bytes.length > 0), 'the database files exist');
  // Control: what the events do record (the encryption context) is found by the same search.
  assert.ok(text.includes(encryptContext.run), 'control: the recorded encryption context is in the LookupEvents results');
  const trailFiles = files.filter((f) => f.name.startsWith('trail.db'));
  assert.ok(trailFiles.some((f) => f.bytes.includes(Buffer.from(encryptContext.run))), 'control: the recorded encryption context is in the bytes of trail.db or its WAL');
  for (const s of secrets) {
    const raw = Buffer.from(s.bytes);
    const forms = [
      { form: 'raw', needle: raw },
      { form: 'base64', needle: Buffer.from(raw.toString('base64')) },
      { form: 'hex', needle: Buffer.from(raw.toString('hex')) },
    ];
    for (const { form, needle } of forms) {
      assert.ok(!text.includes(needle.toString('latin1')) && !text.includes(needle.toString('utf8')), `${s.what} (${form}) appears in a LookupEvents result`);
      for (const f of files) assert.ok(!f.bytes.includes(needle), `${s.what} (${form}) appears in ${f.name}`);
    }
  }
}

/** A value no other test will produce, readable as text so that its raw form is searchable in JSON too. */
const distinctive = (label: string) => Buffer.from(`${label}-${randomBytes(24).toString('hex')}`);

function checkAdmin(rec: TrailRecord, what: string): void {
  assert.equal(rec.userIdentity.type, 'IAMUser', `${what}: userIdentity.type`);
  assert.equal(rec.userIdentity.arn, admin.arn, `${what}: userIdentity.arn`);
  assert.equal(rec.userIdentity.accessKeyId, admin.accessKeyId, `${what}: userIdentity.accessKeyId`);
  assert.equal(rec.userIdentity.userName, admin.userName, `${what}: userIdentity.userName`);
}

// ---- one Encrypt, seen by every client ----

/** The context is recorded as given; its random value doubles as proof that the byte search reads the right files. */
const encryptContext = { Purpose: 'trail-test', tenant: 'Tenant-42', 'Mixed.Case:key': 'Value with spaces', run: `ctx-${randomBytes(12).toString('hex')}` };
let encrypted: { requestId: string; plaintext: Buffer; eventId?: string; cloudTrailEvent?: string } | undefined;

/** What every client must show of the Encrypt call: the outer Event fields and the record inside. */
function checkEncryptEvent(e: { EventId?: string; EventName?: string; ReadOnly?: string; AccessKeyId?: string; EventSource?: string; Username?: string; Resources?: Array<{ ResourceType?: string; ResourceName?: string }>; CloudTrailEvent?: string }, via: string): void {
  assert.ok(encrypted, 'the Encrypt call was made');
  assert.equal(e.EventName, 'Encrypt', `${via}: EventName`);
  assert.equal(e.EventSource, 'kms.amazonaws.com', `${via}: EventSource`);
  assert.equal(e.ReadOnly, 'true', `${via}: ReadOnly`);
  assert.equal(e.AccessKeyId, admin.accessKeyId, `${via}: AccessKeyId`);
  assert.equal(e.Username, admin.userName, `${via}: Username`);
  assert.deepEqual(e.Resources, [{ ResourceType: 'AWS::KMS::Key', ResourceName: key.Arn }], `${via}: Resources`);
  const rec = JSON.parse(e.CloudTrailEvent ?? 'null') as TrailRecord;
  assert.equal(rec.eventID, e.EventId, `${via}: eventID matches EventId`);
  assert.equal(rec.eventSource, 'kms.amazonaws.com', `${via}: eventSource`);
  assert.equal(rec.eventName, 'Encrypt', `${via}: eventName`);
  assert.equal(rec.requestID, encrypted.requestId, `${via}: requestID is the SDK's $metadata.requestId`);
  assert.equal(rec.readOnly, true, `${via}: readOnly`);
  assert.equal(rec.eventType, 'AwsApiCall', `${via}: eventType`);
  assert.equal(rec.awsRegion, t.region, `${via}: awsRegion`);
  assert.equal(rec.errorCode, undefined, `${via}: no errorCode`);
  checkAdmin(rec, via);
  assert.ok(rec.requestParameters, `${via}: requestParameters present`);
  assert.equal(rec.requestParameters['keyId'], key.KeyId, `${via}: requestParameters.keyId`);
  assert.deepEqual(rec.requestParameters['encryptionContext'], encryptContext, `${via}: requestParameters.encryptionContext is the exact map`);
  assert.ok(!('plaintext' in rec.requestParameters) && !('Plaintext' in rec.requestParameters), `${via}: no plaintext field`);
  assert.equal(rec.responseElements, null, `${via}: responseElements of a cryptographic call are null`);
  assert.deepEqual(rec.resources, [{ ARN: key.Arn, accountId: key.AWSAccountId, type: 'AWS::KMS::Key' }], `${via}: resources`);
  if (encrypted.cloudTrailEvent !== undefined) assert.deepEqual(rec, JSON.parse(encrypted.cloudTrailEvent) as TrailRecord, `${via}: the same record as the SDK saw`);
}

test('an Encrypt with an EncryptionContext: @aws-sdk/client-cloudtrail LookupEvents shows the call, its key and context, never its plaintext', async () => {
  const plaintext = distinctive('encrypt-plaintext');
  const r = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext, EncryptionContext: encryptContext }));
  assert.ok(r.$metadata.requestId, 'Encrypt response has a request ID');
  encrypted = { requestId: r.$metadata.requestId, plaintext };
  const { event } = await eventFor(r.$metadata.requestId, attr('EventName', 'Encrypt'));
  checkEncryptEvent(event, 'client-cloudtrail');
  encrypted.eventId = event.EventId!;
  encrypted.cloudTrailEvent = event.CloudTrailEvent!;
  assert.ok(event.EventTime instanceof Date && Math.abs(event.EventTime.getTime() - Date.now()) < 60_000, 'EventTime is a recent Date');
  await assertNowhere([{ what: 'Encrypt plaintext', bytes: plaintext }]);
});



const V2 = CLI_V2;
const skipV2 = skipCliV2;

async function cliLookup(cli: 'v1' | 'v2'): Promise<Event[]> {
  const args = ['cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=Encrypt', '--output', 'json'];
  const env = t.cliEnv();
  let r: Run;
  if (cli === 'v1') r = await exec('aws', args, env);
  else {
    delete env['AWS_ENDPOINT_URL'];
    r = await exec(V2, ['--endpoint-url', t.endpoint, ...args], env);
  }
  assert.equal(r.code, 0, `aws ${cli} cloudtrail lookup-events failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { Events: Event[] }).Events;
}

test('the same Encrypt event through the pip AWS CLI v1 (aws cloudtrail lookup-events)', async () => {
  assert.ok(encrypted?.eventId, 'the Encrypt event was found first');
  const events = await cliLookup('v1');
  const e = events.find((x) => x.EventId === encrypted!.eventId);
  assert.ok(e, `CLI v1 lists the Encrypt event among ${events.length}`);
  assert.ok(events.every((x) => x.EventName === 'Encrypt'), 'CLI v1: only Encrypt events');
  checkEncryptEvent(e, 'CLI v1');
});

test('the same Encrypt event through Debian AWS CLI v2 (--endpoint-url)', { skip: skipV2 }, async () => {
  assert.ok(encrypted?.eventId, 'the Encrypt event was found first');
  const events = await cliLookup('v2');
  const e = events.find((x) => x.EventId === encrypted!.eventId);
  assert.ok(e, `CLI v2 lists the Encrypt event among ${events.length}`);
  assert.ok(events.every((x) => x.EventName === 'Encrypt'), 'CLI v2: only Encrypt events');
  checkEncryptEvent(e, 'CLI v2');
});

const BOTO3_LOOKUP = `
import boto3, json, os, sys
from botocore.config import Config
ct = boto3.client('cloudtrail', endpoint_url=sys.argv[1], verify=sys.argv[2], region_name=sys.argv[3],
                  config=Config(retries={'total_max_attempts': 1}))
events = []
kwargs = {'LookupAttributes': [{'AttributeKey': 'EventName', 'AttributeValue': 'Encrypt'}], 'MaxResults': 50}
while True:
    r = ct.lookup_events(**kwargs)
    events.extend(r['Events'])
    if 'NextToken' not in r:
        break
    kwargs['NextToken'] = r['NextToken']
print(json.dumps(events, default=str))
`;

test('the same Encrypt event through boto3 lookup_events', async () => {
  assert.ok(encrypted?.eventId, 'the Encrypt event was found first');
  const env = t.cliEnv();
  delete env['AWS_ENDPOINT_URL'];
  const r = await exec('python3', ['-c', BOTO3_LOOKUP, t.endpoint, t.caPath, t.region], env);
  assert.equal(r.code, 0, `boto3 lookup_events failed (${r.code}): ${r.stderr}`);
  const events = JSON.parse(r.stdout) as Event[];
  const e = events.find((x) => x.EventId === encrypted!.eventId);
  assert.ok(e, `boto3 lists the Encrypt event among ${events.length}`);
  checkEncryptEvent(e, 'boto3');
});

test('Decrypt and GenerateDataKey: the events name key and context; plaintext, data key and its ciphertext appear nowhere', async () => {
  const ec = { Purpose: 'decrypt-test', 'x-id': randomBytes(4).toString('hex') };
  const plaintext = distinctive('decrypt-plaintext');
  const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext, EncryptionContext: ec }));
  assert.ok(enc.CiphertextBlob, 'Encrypt returned a ciphertext');
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec }));
  assert.ok(dec.Plaintext && Buffer.from(dec.Plaintext).equals(plaintext), 'Decrypt returns the plaintext');
  const { event: decEvent, rec: decRec } = await eventFor(dec.$metadata.requestId, attr('EventName', 'Decrypt'));
  assert.equal(decEvent.EventName, 'Decrypt', 'Decrypt EventName');
  assert.equal(decRec.eventSource, 'kms.amazonaws.com', 'Decrypt eventSource');
  assert.equal(decRec.readOnly, true, 'Decrypt is read-only');
  assert.equal(decRec.errorCode, undefined, 'Decrypt succeeded');
  checkAdmin(decRec, 'Decrypt');
  assert.deepEqual(decRec.requestParameters?.['encryptionContext'], ec, 'Decrypt requestParameters.encryptionContext');
  assert.ok(!('ciphertextBlob' in (decRec.requestParameters ?? {})), 'Decrypt requestParameters leave out the ciphertext');
  assert.equal(decRec.responseElements, null, 'Decrypt responseElements are null');
  assert.deepEqual(decRec.resources?.map((r) => [r.ARN, r.type]), [[key.Arn, 'AWS::KMS::Key']], 'Decrypt resources name the key');

  const gdkContext = { Purpose: 'gdk-test' };
  const gdk = await kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256', EncryptionContext: gdkContext }));
  assert.ok(gdk.Plaintext && gdk.CiphertextBlob, 'GenerateDataKey returned the data key and its ciphertext');
  assert.equal(gdk.Plaintext.length, 32, 'an AES_256 data key is 32 bytes');
  const { rec: gdkRec } = await eventFor(gdk.$metadata.requestId, attr('EventName', 'GenerateDataKey'));
  assert.equal(gdkRec.eventName, 'GenerateDataKey', 'GenerateDataKey eventName');
  checkAdmin(gdkRec, 'GenerateDataKey');
  assert.deepEqual(
    gdkRec.requestParameters,
    { keyId: key.KeyId, keySpec: 'AES_256', encryptionContext: gdkContext },
    'GenerateDataKey requestParameters: keyId, keySpec and the context only',
  );
  assert.equal(gdkRec.responseElements, null, 'GenerateDataKey responseElements are null');
  assert.deepEqual(gdkRec.resources?.map((r) => [r.ARN, r.type]), [[key.Arn, 'AWS::KMS::Key']], 'GenerateDataKey resources name the key');

  await assertNowhere([
    { what: 'Decrypt plaintext', bytes: plaintext },
    { what: 'GenerateDataKey plaintext data key', bytes: gdk.Plaintext },
    { what: 'GenerateDataKey ciphertext blob', bytes: gdk.CiphertextBlob },
    ...(encrypted ? [{ what: 'first Encrypt plaintext', bytes: encrypted.plaintext }] : []),
  ]);
});

// ---- refused calls ----

test('failed calls are recorded: wrong encryption context, wrong secret (STS and KMS), unknown access key', async () => {
  const ec = { Purpose: 'right' };
  const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: ec }));
  const err = await fails(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { Purpose: 'wrong' } })), 'InvalidCiphertextException');
  const { rec: bad } = await eventFor(err.$metadata?.requestId, attr('EventName', 'Decrypt'));
  assert.equal(bad.errorCode, 'InvalidCiphertextException', 'failed Decrypt: errorCode');
  assert.ok(typeof bad.errorMessage === 'string', 'failed Decrypt: errorMessage present');
  assert.deepEqual(bad.requestParameters?.['encryptionContext'], { Purpose: 'wrong' }, 'failed Decrypt: the context asked for');
  checkAdmin(bad, 'failed Decrypt');

  const wrongSecret = { accessKeyId: t.accessKeyId, secretAccessKey: 'wrong' + t.secretAccessKey.slice(5) };
  const stsRes = await signed(t, 'sts', stsRequest(), { creds: wrongSecret });
  assert.equal(stsRes.status, 403, `STS with a wrong secret is refused: ${stsRes.body}`);
  assert.equal(errorCode(stsRes), 'SignatureDoesNotMatch', 'STS error code');
  const { event: stsEvent, rec: stsRec } = await eventFor(rawRequestId(stsRes), attr('EventName', 'GetCallerIdentity'));
  assert.equal(stsEvent.EventName, 'GetCallerIdentity', 'STS refused call: EventName');
  assert.equal(stsRec.errorCode, 'SignatureDoesNotMatch', 'STS refused call: errorCode');
  assert.equal(stsRec.eventSource, 'sts.amazonaws.com', 'STS refused call: eventSource');
  assert.equal(stsRec.userIdentity.accessKeyId, t.accessKeyId, 'STS refused call: the access key that signed');

  const kmsRes = await signed(t, 'kms', kmsRequest('ListKeys'), { creds: wrongSecret });
  assert.equal(kmsRes.status, 400, `KMS with a wrong secret is refused: ${kmsRes.body}`);
  assert.equal(errorCode(kmsRes), 'InvalidSignatureException', 'KMS error code');
  const { event: kmsEvent, rec: kmsRec } = await eventFor(rawRequestId(kmsRes), attr('EventName', 'ListKeys'));
  assert.equal(kmsEvent.EventName, 'ListKeys', 'KMS refused call: EventName');
  assert.equal(kmsRec.errorCode, 'InvalidSignatureException', 'KMS refused call: errorCode');
  assert.equal(kmsRec.eventSource, 'kms.amazonaws.com', 'KMS refused call: eventSource');

  const unknownKey = 'AKIA' + randomBytes(8).toString('hex').toUpperCase();
  const unkRes = await signed(t, 'kms', kmsRequest('ListKeys'), { creds: { accessKeyId: unknownKey, secretAccessKey: 'x'.repeat(40) } });
  assert.equal(unkRes.status, 400, `KMS with an unknown access key is refused: ${unkRes.body}`);
  assert.equal(errorCode(unkRes), 'UnrecognizedClientException', 'unknown key error code');
  const byKey = await lookupAll(attr('AccessKeyId', unknownKey));
  assert.equal(byKey.length, 1, 'one event for the unknown access key');
  const unk = record(byKey[0]!);
  assert.equal(unk.requestID, rawRequestId(unkRes), 'unknown key event: requestID');
  assert.equal(unk.userIdentity.type, 'Unknown', 'unknown key event: userIdentity.type');
  assert.equal(unk.userIdentity.accessKeyId, unknownKey, 'unknown key event: userIdentity.accessKeyId');
  assert.equal(unk.userIdentity.arn, undefined, 'unknown key event: no arn');
  assert.equal(unk.eventName, 'ListKeys', 'unknown key event: eventName');
  assert.equal(unk.errorCode, 'UnrecognizedClientException', 'unknown key event: errorCode');
  assert.equal(byKey[0]!.AccessKeyId, unknownKey, 'unknown key event: AccessKeyId field');
});

// ---- lookups ----

test('each LookupAttributes key selects the right events', async () => {
  const k = await newKey('lookup attributes');
  const enc = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('lookup') }));
  const { event: e } = await eventFor(enc.$metadata.requestId, attr('ResourceName', k.Arn!));
  const id = e.EventId!;
  const has = (events: Event[]) => events.some((x) => x.EventId === id);

  const byId = await lookupAll(attr('EventId', id));
  assert.deepEqual(byId.map((x) => x.EventId), [id], 'EventId: exactly that event');
  assert.equal(record(byId[0]!).requestID, enc.$metadata.requestId, 'EventId: the Encrypt call');

  const byName = await lookupAll(attr('EventName', 'Encrypt'));
  assert.ok(has(byName), 'EventName: includes the event');
  assert.ok(byName.every((x) => x.EventName === 'Encrypt' && record(x).eventName === 'Encrypt'), 'EventName: only Encrypt events');
  assert.equal((await lookupAll(attr('EventName', 'NoSuchOperation'))).length, 0, 'EventName: no events for an unknown name');

  const ro = await lookupAll(attr('ReadOnly', 'true'));
  assert.ok(has(ro), 'ReadOnly true: includes the Encrypt');
  assert.ok(ro.every((x) => x.ReadOnly === 'true' && record(x).readOnly === true), 'ReadOnly true: only read-only events');
  const rw = await lookupAll(attr('ReadOnly', 'false'));
  assert.ok(!has(rw), 'ReadOnly false: excludes the Encrypt');
  assert.ok(rw.some((x) => x.EventName === 'CreateKey' && x.Resources?.some((r) => r.ResourceName === k.Arn)), 'ReadOnly false: includes the CreateKey');
  assert.ok(rw.every((x) => x.ReadOnly === 'false' && record(x).readOnly === false), 'ReadOnly false: only write events');

  const byUser = await lookupAll(attr('Username', 'admin'));
  assert.ok(has(byUser), 'Username: includes the event');
  assert.ok(byUser.every((x) => x.Username === 'admin' && record(x).userIdentity.userName === 'admin'), 'Username: only the admin’s events');
  assert.equal((await lookupAll(attr('Username', 'nobody'))).length, 0, 'Username: none for an unknown user');

  const byType = await lookupAll(attr('ResourceType', 'AWS::KMS::Key'));
  assert.ok(has(byType), 'ResourceType: includes the event');
  assert.ok(byType.every((x) => x.Resources?.some((r) => r.ResourceType === 'AWS::KMS::Key')), 'ResourceType: only events naming a KMS key');
  assert.equal((await lookupAll(attr('ResourceType', 'AWS::S3::Bucket'))).length, 0, 'ResourceType: none for a type never touched');

  const byResource = await lookupAll(attr('ResourceName', k.Arn!));
  assert.deepEqual(byResource.map((x) => x.EventName), ['Encrypt', 'CreateKey'], 'ResourceName: the key’s own events, newest first');
  assert.ok(byResource.every((x) => x.Resources?.some((r) => r.ResourceName === k.Arn)), 'ResourceName: every event names the key');

  const kmsEvents = await lookupAll(attr('EventSource', 'kms.amazonaws.com'));
  assert.ok(has(kmsEvents), 'EventSource kms: includes the event');
  assert.ok(kmsEvents.every((x) => x.EventSource === 'kms.amazonaws.com'), 'EventSource kms: only KMS events');
  const stsEvents = await lookupAll(attr('EventSource', 'sts.amazonaws.com'));
  assert.ok(stsEvents.some((x) => x.EventName === 'GetCallerIdentity' && !record(x).errorCode), 'EventSource sts: includes the successful GetCallerIdentity');
  assert.ok(stsEvents.every((x) => x.EventSource === 'sts.amazonaws.com'), 'EventSource sts: only STS events');

  const byAccessKey = await lookupAll(attr('AccessKeyId', admin.accessKeyId));
  assert.ok(has(byAccessKey), 'AccessKeyId: includes the event');
  assert.ok(byAccessKey.every((x) => x.AccessKeyId === admin.accessKeyId), 'AccessKeyId: only that key’s events');
});

test('an event naming two keys (ReEncrypt) appears once under ResourceType and under each ResourceName', async () => {
  const source = await newKey('re-encrypt source');
  const destination = await newKey('re-encrypt destination');
  const enc = await kms.send(new EncryptCommand({ KeyId: source.KeyId, Plaintext: Buffer.from('move me') }));
  const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: destination.KeyId }));
  const { event, rec } = await eventFor(re.$metadata.requestId, attr('EventName', 'ReEncrypt'));
  assert.deepEqual(
    rec.resources?.map((r) => r.ARN).sort(),
    [source.Arn, destination.Arn].sort(),
    'the ReEncrypt event names both keys',
  );
  for (const arn of [source.Arn!, destination.Arn!]) {
    const n = (await lookupAll(attr('ResourceName', arn))).filter((x) => x.EventId === event.EventId).length;
    assert.equal(n, 1, `ResourceName ${arn}: the ReEncrypt event once`);
  }
  const byType = await lookupAll(attr('ResourceType', 'AWS::KMS::Key'));
  const ids = byType.map((x) => x.EventId);
  assert.equal(ids.filter((id) => id === event.EventId).length, 1, 'ResourceType AWS::KMS::Key: the ReEncrypt event once, not once per key');
  assert.equal(new Set(ids).size, ids.length, 'ResourceType AWS::KMS::Key: no event twice');
});

test('StartTime and EndTime bound the results (inclusive, epoch seconds)', async () => {
  const k = await newKey('time bounds');
  const first = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('first') }));
  const { event: e1 } = await eventFor(first.$metadata.requestId, attr('ResourceName', k.Arn!));
  const t1 = e1.EventTime!.getTime();
  assert.equal(t1 % 1000, 0, 'EventTime is whole seconds');
  // The next second on the server's clock (the same clock as ours).
  while (Date.now() < t1 + 1050) await new Promise((r) => setTimeout(r, 50));
  const second = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('second') }));
  const { event: e2 } = await eventFor(second.$metadata.requestId, attr('ResourceName', k.Arn!));
  const t2 = e2.EventTime!.getTime();
  assert.ok(t2 > t1, `the second event (${t2}) is later than the first (${t1})`);

  const ids = async (range: { StartTime?: Date; EndTime?: Date }) =>
    (await lookupAll({ ...attr('ResourceName', k.Arn!), ...range })).map((x) => x.EventId).filter((id) => id === e1.EventId || id === e2.EventId);
  assert.deepEqual(await ids({}), [e2.EventId, e1.EventId], 'no bounds: both, newest first');
  assert.deepEqual(await ids({ EndTime: new Date(t1) }), [e1.EventId], 'EndTime at the first event: the second is excluded');
  assert.deepEqual(await ids({ StartTime: new Date(t2) }), [e2.EventId], 'StartTime at the second event: the first is excluded');
  assert.deepEqual(await ids({ StartTime: new Date(t1), EndTime: new Date(t1) }), [e1.EventId], 'a one-second window holds only its own event');
  assert.deepEqual(await ids({ StartTime: new Date(t1), EndTime: new Date(t2) }), [e2.EventId, e1.EventId], 'a window covering both');
  assert.deepEqual(await ids({ StartTime: new Date(t2 + 1000), EndTime: new Date(t2 + 60_000) }), [], 'a window after both: neither');
  assert.deepEqual(await ids({ EndTime: new Date(t1 - 1000) }), [], 'EndTime before both: neither');
  const createKey = (await lookupAll({ ...attr('ResourceName', k.Arn!), StartTime: new Date(t2) })).find((x) => x.EventName === 'CreateKey');
  assert.equal(createKey, undefined, 'the CreateKey before the window is excluded');
});

test('results are newest first; MaxResults 7 with NextToken pages through 26 events without duplicates or gaps', async () => {
  const k = await newKey('paging');
  const made: string[] = [];
  for (let i = 0; i < 25; i++) {
    const r = await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }));
    made.push(r.$metadata.requestId!);
  }
  const all = await lookupAll(attr('ResourceName', k.Arn!));
  assert.equal(all.length, 26, 'the CreateKey and 25 DescribeKey events');
  const expected = [...made].reverse();
  assert.deepEqual(all.slice(0, 25).map((e) => record(e).requestID), expected, 'newest first: the DescribeKey calls in reverse order');
  assert.equal(all[25]!.EventName, 'CreateKey', 'the CreateKey comes last');
  for (let i = 1; i < all.length; i++) {
    assert.ok(all[i - 1]!.EventTime!.getTime() >= all[i]!.EventTime!.getTime(), `EventTime never increases (at ${i})`);
  }

  const pages: Event[][] = [];
  let token: string | undefined;
  do {
    const r = await ct.send(new LookupEventsCommand({ ...attr('ResourceName', k.Arn!), MaxResults: 7, ...(token ? { NextToken: token } : {}) }));
    pages.push(r.Events ?? []);
    token = r.NextToken;
    assert.ok(pages.length <= 10, 'paging ends');
  } while (token);
  assert.deepEqual(pages.map((p) => p.length), [7, 7, 7, 5], 'pages of 7, 7, 7 and 5');
  const paged = pages.flat().map((e) => e.EventId);
  assert.equal(new Set(paged).size, paged.length, 'no event on two pages');
  assert.deepEqual(paged, all.map((e) => e.EventId), 'the pages together are the whole list, in order');

  // Paging through everything (no attribute) gives what one large page per call gives.
  const big = (await lookupAll({}, 50)).map((e) => e.EventId);
  const small = (await lookupAll({}, 7)).map((e) => e.EventId);
  assert.equal(new Set(small).size, small.length, 'unfiltered paging: no duplicates');
  // Each scan is itself a recorded call; the second scan may see the first scan's pages as newer events.
  const bigSet = new Set(big);
  const missing = big.filter((id) => !new Set(small).has(id));
  assert.deepEqual(missing, [], 'unfiltered paging with MaxResults 7 misses nothing that MaxResults 50 returned');
  assert.ok(small.filter((id) => !bigSet.has(id)).length <= 30, 'unfiltered paging: only the newer LookupEvents calls are extra');
});

async function rawLookup(body: unknown): Promise<RawResponse> {
  return signed(t, 'cloudtrail', {
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents' },
    body: JSON.stringify(body),
  });
}

test('LookupEvents errors: two attributes, StartTime after EndTime, MaxResults out of range, a bad NextToken, an unknown attribute key', async () => {
  await fails(
    ct.send(
      new LookupEventsCommand({
        LookupAttributes: [
          { AttributeKey: 'EventName', AttributeValue: 'Encrypt' },
          { AttributeKey: 'Username', AttributeValue: 'admin' },
        ],
      }),
    ),
    'InvalidLookupAttributesException',
  );
  const now = Date.now();
  await fails(ct.send(new LookupEventsCommand({ StartTime: new Date(now), EndTime: new Date(now - 3600_000) })), 'InvalidTimeRangeException');
  // The SDK does not check MaxResults itself: the server's answer reaches it.
  await fails(ct.send(new LookupEventsCommand({ MaxResults: 51 })), 'InvalidMaxResultsException');
  await fails(ct.send(new LookupEventsCommand({ MaxResults: 0 })), 'InvalidMaxResultsException');
  await fails(ct.send(new LookupEventsCommand({ NextToken: 'not-a-token' })), 'InvalidNextTokenException');
  await fails(ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Bogus' as LookupAttribute['AttributeKey'], AttributeValue: 'x' }] })), 'InvalidLookupAttributesException');

  // The same through botocore's long target spelling, raw.
  const r51 = await rawLookup({ MaxResults: 51 });
  assert.equal(r51.status, 400, `raw MaxResults 51: ${r51.body}`);
  assert.equal(errorCode(r51), 'InvalidMaxResultsException', 'raw MaxResults 51: error code');
  const rTime = await rawLookup({ StartTime: 1704153600, EndTime: 1704067200 });
  assert.equal(errorCode(rTime), 'InvalidTimeRangeException', 'raw StartTime after EndTime: error code');
  const rOk = await rawLookup({ StartTime: 1704067200, EndTime: Math.floor(Date.now() / 1000) + 60, MaxResults: 1 });
  assert.equal(rOk.status, 200, `raw lookup with epoch seconds: ${rOk.body}`);
  assert.equal((JSON.parse(rOk.body) as { Events: unknown[] }).Events.length, 1, 'raw lookup: MaxResults 1 gives one event');
});

test('GetKeyLastUsage names the last successful use by its CloudTrail event ID and request ID; a failed Decrypt afterwards changes nothing', async () => {
  const k = await newKey('last usage');
  const ec = { app: 'last-usage' };
  const enc = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('use me'), EncryptionContext: ec }));
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec }));
  const { event } = await eventFor(dec.$metadata.requestId, attr('ResourceName', k.Arn!));
  assert.equal(event.EventName, 'Decrypt', 'the event is the Decrypt');

  const used = await kms.send(new GetKeyLastUsageCommand({ KeyId: k.KeyId }));
  assert.equal(used.KeyId, k.Arn, 'GetKeyLastUsage KeyId is the ARN');
  const last = used.KeyLastUsage;
  assert.ok(last, 'KeyLastUsage present after use');
  assert.equal(last.Operation, 'Decrypt', 'the last operation is the Decrypt');
  assert.equal(last.CloudTrailEventId, event.EventId, 'CloudTrailEventId is the Decrypt event’s EventId');
  assert.equal(last.KmsRequestId, dec.$metadata.requestId, 'KmsRequestId is the Decrypt’s request ID');
  assert.equal(last.Timestamp?.getTime(), event.EventTime?.getTime(), 'Timestamp is the event’s time');

  const err = await fails(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { app: 'other' } })), 'InvalidCiphertextException');
  const { rec: failed } = await eventFor(err.$metadata?.requestId, attr('ResourceName', k.Arn!));
  assert.equal(failed.errorCode, 'InvalidCiphertextException', 'the failed Decrypt is recorded against the key');
  const after = await kms.send(new GetKeyLastUsageCommand({ KeyId: k.KeyId }));
  assert.deepEqual(after.KeyLastUsage, last, 'a failed Decrypt does not change the last usage');
});

test('LookupEvents is itself recorded (eventSource cloudtrail.amazonaws.com)', async () => {
  const r = await ct.send(new LookupEventsCommand({ ...attr('EventName', 'NoSuchOperation'), MaxResults: 5 }));
  assert.deepEqual(r.Events, [], 'no events for an unknown name');
  const { event, rec } = await eventFor(r.$metadata.requestId, attr('EventSource', 'cloudtrail.amazonaws.com'));
  assert.equal(event.EventName, 'LookupEvents', 'EventName LookupEvents');
  assert.equal(event.EventSource, 'cloudtrail.amazonaws.com', 'EventSource');
  assert.equal(event.ReadOnly, 'true', 'LookupEvents is read-only');
  assert.equal(rec.errorCode, undefined, 'the lookup succeeded');
  checkAdmin(rec, 'LookupEvents');
  const viaName = await lookupAll(attr('EventName', 'LookupEvents'));
  assert.ok(viaName.some((e) => e.EventId === event.EventId), 'found by EventName LookupEvents too');
});
