// S3 answering as AWS does where clients notice the difference, through boto3 and @aws-sdk/client-s3: keys are exact
// byte strings in every XML document; client mistakes are 4xx with AWS's code (never an audit failure, which clients
// retry); an early refusal does not leave a client stuck sending its body; conditional writes and deletes hold.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { S3Client, CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { exec } from '../helpers/assert.ts';
import { signed, s3Request } from '../helpers/raw.ts';

let t: RunningTrent;
let s3: S3Client;
const bucket = 'trent-conformance';

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

/**
 * A boto3 client `s3` (path style, one attempt, short timeouts) and `call(fn, **kw)`, which answers
 * {'ok': result} or {'code', 'status', 'message'} for a service error, or {'exception': name} for anything else.
 */
const BOTO3 = String.raw`
import base64, hashlib, json, os, sys, time, boto3, botocore
from botocore.config import Config
s3 = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, retries={'total_max_attempts': 1}, connect_timeout=5, read_timeout=15))
bucket = os.environ['BUCKET']
def call(fn, **kw):
    try:
        r = fn(**kw)
        r.pop('ResponseMetadata', None)
        if 'Body' in r: r['Body'] = r['Body'].read().decode('latin1')
        return {'ok': r}
    except botocore.exceptions.ClientError as e:
        return {'code': e.response['Error'].get('Code'), 'status': e.response['ResponseMetadata']['HTTPStatusCode'], 'message': e.response['Error'].get('Message')}
    except Exception as e:
        return {'exception': type(e).__name__, 'message': str(e)}
def keys():
    return [o['Key'] for o in s3.list_objects_v2(Bucket=bucket).get('Contents', [])]
`;

type Json = Record<string, unknown>;

/** Run a boto3 script (after BOTO3) that prints one JSON document. */
async function boto3(script: string, env: Record<string, string> = {}): Promise<Json> {
  const r = await exec('python3', ['-c', BOTO3 + script], { ...t.cliEnv(), BUCKET: bucket, ...env }, 120_000);
  assert.equal(r.code, 0, `the boto3 script failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}

test('DeleteObjects deletes exactly the keys named, white space and all (boto3)', async () => {
  const out = await boto3(String.raw`
for k in ['doc', 'doc ', ' ', '  lead', 'tab\t', 'line\nfeed']:
    s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
r = s3.delete_objects(Bucket=bucket, Delete={'Objects': [{'Key': 'doc '}, {'Key': ' '}, {'Key': 'tab\t'}, {'Key': 'line\nfeed'}]})
print(json.dumps({'deleted': sorted(d['Key'] for d in r.get('Deleted', [])), 'errors': r.get('Errors', []), 'left': keys()}))
`);
  assert.deepEqual(out['errors'], [], 'no key is refused');
  assert.deepEqual(out['deleted'], [' ', 'doc ', 'line\nfeed', 'tab\t'], 'each key is reported as sent');
  assert.deepEqual(out['left'], ['  lead', 'doc'], 'only the named keys are gone: "doc" survives the deletion of "doc "');
});

test('keys with carriage returns and outer white space survive DeleteObjects and listings in XML (JS SDK)', async () => {
  const keys = [' spaced ', 'cr\r', 'crlf\r\nkey', 'keep\r'];
  for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `js/${Key}`, Body: Key }));
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'js/' }));
  assert.deepEqual(listed.Contents!.map((c) => c.Key).sort(), keys.map((k) => `js/${k}`).sort(), 'listed without EncodingType: XML carries the exact keys');
  const del = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'js/ spaced ' }, { Key: 'js/cr\r' }, { Key: 'js/crlf\r\nkey' }] } }));
  assert.deepEqual(del.Deleted!.map((d) => d.Key).sort(), ['js/ spaced ', 'js/cr\r', 'js/crlf\r\nkey'].sort());
  assert.equal(del.Errors, undefined);
  const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'js/' }));
  assert.deepEqual(left.Contents!.map((c) => c.Key), ['js/keep\r']);
});

test('an XML body nested too deep, with too many elements, or with a DTD is refused as MalformedXML before anything is deleted', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bounded', Body: 'x' }));
  const object = '<Object><Key>bounded</Key></Object>';
  const bodies = {
    deep: `<Delete>${object}${'<Quiet>'.repeat(40)}${'</Quiet>'.repeat(40)}</Delete>`,
    many: `<Delete>${object}${'<Object/>'.repeat(120_000)}</Delete>`,
    dtd: `<!DOCTYPE Delete [<!ENTITY k "bounded">]><Delete><Object><Key>&k;</Key></Object></Delete>`,
  };
  for (const [name, body] of Object.entries(bodies)) {
    const r = await signed(t, 's3', {
      ...s3Request(`/${bucket}`),
      method: 'POST',
      query: { delete: '' },
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-type': 'application/xml' },
      body,
    });
    assert.equal(r.status, 400, `${name}: ${r.body}`);
    assert.match(r.body, /<Code>MalformedXML<\/Code>/, name);
  }
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'bounded' }));
  assert.deepEqual(listed.Contents?.map((c) => c.Key), ['bounded'], 'nothing was deleted');
});
