// Several worker processes serving one port: what one worker changes, every other worker respects before the
// change is answered; a worker killed under load is replaced and loses no acknowledged write; the trail of a
// multi-worker server still validates; background jobs run once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Agent } from 'node:https';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KMSClient, CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { S3Client, CreateBucketCommand, DeleteBucketPolicyCommand, GetObjectCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { IAMClient, CreateAccessKeyCommand, CreateUserCommand, DeleteUserPolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { removeDir, startTrent, type RunningTrent } from '../helpers/trent.ts';
import { aws } from '../helpers/cli.ts';

let t: RunningTrent;
const env = { TRENT_TRAIL_DELIVERY_SECONDS: '1', TRENT_TRAIL_DIGEST_SECONDS: '3', TRENT_TRAIL_LEASE_SECONDS: '5' };

before(async () => {
  t = await startTrent({ args: ['--workers', '2'], env });
});
after(async () => {
  await t.stop();
  await removeDir(t.dataDir);
});

/** The worker processes of the server under test (the primary's children that serve). */
function workerPids(): number[] {
  const out = execFileSync('pgrep', ['-P', String(t.process.pid)], { encoding: 'utf8' }).trim();
  return out ? out.split('\n').map(Number) : [];
}

/** A client whose every request opens a new connection, so that requests spread over the workers. */
function fresh<C>(make: (cfg: Record<string, unknown>) => C): C {
  return make(t.clientConfig({ requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: t.ca, keepAlive: false }) }) }));
}

test('two workers serve the port', () => {
  assert.equal(workerPids().length, 2);
});

test('a key disabled through one connection is refused on every other connection at once, and enabled again at once', async () => {
  const kms = fresh((c) => new KMSClient(c));
  const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  // Every worker has the key cached (its records are kept for up to a second).
  for (let i = 0; i < 12; i++) await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('warm') }));
  await kms.send(new DisableKeyCommand({ KeyId: keyId }));
  const outcomes = await Promise.all(
    Array.from({ length: 16 }, () =>
      kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })).then(
        () => 'served',
        (e: Error) => e.name,
      ),
    ),
  );
  assert.deepEqual([...new Set(outcomes)], ['DisabledException'], 'no worker served a disabled key');
  await kms.send(new EnableKeyCommand({ KeyId: keyId }));
  for (let i = 0; i < 12; i++) await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('again') }));
});

test('a policy removed through one connection is refused on every other connection at once', async () => {
  const iam = new IAMClient(t.clientConfig());
  await iam.send(new CreateUserCommand({ UserName: 'worker-user' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'worker-user', PolicyName: 'kms', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'worker-user' }))).AccessKey!;
  const kms = fresh((c) => new KMSClient({ ...c, credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! } }));
  const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  for (let i = 0; i < 12; i++) await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('warm') }));
  await iam.send(new DeleteUserPolicyCommand({ UserName: 'worker-user', PolicyName: 'kms' }));
  const outcomes = await Promise.all(
    Array.from({ length: 16 }, () =>
      kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })).then(
        () => 'served',
        (e: Error) => e.name,
      ),
    ),
  );
  assert.deepEqual([...new Set(outcomes)], ['AccessDeniedException']);
});

test('a bucket policy or default encryption set through one connection holds on every other connection at once', async () => {
  const s3 = fresh((c) => new S3Client({ ...c, forcePathStyle: true }));
  const kms = new KMSClient(t.clientConfig());
  const bucket = 'worker-bucket-cache';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'v' }));
  // Every worker has the bucket's record cached (object reads and writes keep it for up to a second).
  for (let i = 0; i < 12; i++) await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
  const deny = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }] };
  await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(deny) }));
  const read = () =>
    Promise.all(
      Array.from({ length: 16 }, () =>
        s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' })).then(
          () => 'served',
          (e: Error) => e.name,
        ),
      ),
    );
  assert.deepEqual([...new Set(await read())], ['AccessDenied'], 'no worker served a read the new bucket policy denies');
  await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  assert.deepEqual([...new Set(await read())], ['served'], 'every worker serves once the policy is gone');
  // A new default encryption applies to the very next PUT, whichever worker takes it.
  const keyArn = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn } }] } }));
  const puts = await Promise.all(Array.from({ length: 8 }, (_, i) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `e${i}`, Body: 'x' }))));
  assert.deepEqual([...new Set(puts.map((p) => `${p.ServerSideEncryption} ${p.SSEKMSKeyId}`))], [`aws:kms ${keyArn}`]);
});

test('a worker killed with SIGKILL under load is replaced; no acknowledged write is lost; the trail validates', { timeout: 240_000 }, async () => {
  const started = new Date(Date.now() - 5000);
  // Kept-alive connections, spread over the workers by the kernel (each lane's connection lands on one of them).
  const s3 = new S3Client({ ...t.clientConfig(), forcePathStyle: true });
  const kms = new KMSClient(t.clientConfig());
  const ct = new CloudTrailClient(t.clientConfig());
  await s3.send(new CreateBucketCommand({ Bucket: 'workers-trail' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'workers-load' }));
  const trail = await ct.send(new CreateTrailCommand({ Name: 'workers', S3BucketName: 'workers-trail', EnableLogFileValidation: true }));
  await ct.send(new StartLoggingCommand({ Name: 'workers' }));
  const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;

  const acknowledged: Array<{ kind: 'put'; key: string; body: string } | { kind: 'encrypt'; ciphertext: Uint8Array; plaintext: string }> = [];
  let failures = 0;
  let stop = false;
  const lane = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const id = `w${w}-${i}`;
      try {
        if (i % 2 === 0) {
          const body = `object ${id} ${'x'.repeat(100 + ((i * 37) % 5000))}`;
          await s3.send(new PutObjectCommand({ Bucket: 'workers-load', Key: id, Body: body }));
          acknowledged.push({ kind: 'put', key: id, body });
        } else {
          const plaintext = `secret ${id}`;
          const out = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext) }));
          acknowledged.push({ kind: 'encrypt', ciphertext: out.CiphertextBlob!, plaintext });
        }
      } catch {
        failures++; // requests the killed worker held: never acknowledged, so nothing is promised about them
      }
    }
  };
  const lanes = Array.from({ length: 6 }, (_, w) => lane(w));
  await new Promise((r) => setTimeout(r, 2500));
  const before = acknowledged.length;
  const [victim] = workerPids();
  process.kill(victim!, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 4000));
  stop = true;
  await Promise.all(lanes);
  assert.ok(before > 20 && acknowledged.length > before + 20, `writes before the kill: ${before}, in all: ${acknowledged.length}`);
  const after = workerPids();
  assert.equal(after.length, 2, 'the dead worker was replaced');
  assert.ok(!after.includes(victim!));

  for (const a of acknowledged) {
    if (a.kind === 'put') {
      const o = await s3.send(new GetObjectCommand({ Bucket: 'workers-load', Key: a.key }));
      assert.equal(await o.Body!.transformToString(), a.body, a.key);
    } else {
      const out = await kms.send(new DecryptCommand({ CiphertextBlob: a.ciphertext }));
      assert.equal(Buffer.from(out.Plaintext!).toString(), a.plaintext);
    }
  }
  // Every acknowledged call is in the trail, and nothing is left half-recorded by the dead worker.
  const db = await t.openDb('trail');
  const intents = Number((await db.get<{ n: number }>('SELECT count(*) AS n FROM trail_intents'))!.n);
  const puts = Number((await db.get<{ n: number }>("SELECT count(*) AS n FROM trail_events WHERE event_name = 'PutObject' AND error_code IS NULL"))!.n);
  await db.close();
  assert.equal(intents, 0, 'the dead worker\'s intents were recovered when it died');
  assert.ok(puts >= acknowledged.filter((a) => a.kind === 'put').length);

  // The dead worker's delivery lease (if it held it) expires; a survivor delivers, and the digest chain is one chain.
  await new Promise((r) => setTimeout(r, 10_000));
  const v = await aws(t, 'v1', ['cloudtrail', 'validate-logs', '--trail-arn', trail.TrailARN!, '--start-time', started.toISOString(), '--verbose'], 180_000);
  const out = v.stdout + v.stderr;
  assert.equal(v.code, 0, `validate-logs: ${out}`);
  assert.doesNotMatch(out, /INVALID/);
  assert.match(out, /(\d+)\/\1 digest files valid/);
});
