// Three Trent nodes sharing one PostgreSQL database and one S3-compatible blob store (the distributed backends
// that scripts/distributed-backends.mjs starts; `npm test` runs this file there). Each node has its own data
// directory (TLS, credentials file) and a copy of the first node's root key, as docs/operations.md describes.
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { CreateAliasCommand, CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateCollectionCommand, DeleteFacesCommand, IndexFacesCommand, RekognitionClient, SearchFacesCommand } from '@aws-sdk/client-rekognition';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { aws } from '../helpers/cli.ts';
import { DISTRIBUTED, distributedArgs, removeDir, startTrent, tempDir, type RunningTrent } from '../helpers/trent.ts';

const skip = DISTRIBUTED ? false : 'runs on the distributed backends only (npm test starts them with scripts/distributed-backends.mjs)';
/** docs/cluster.md: a request that reaches any node more than this long after DisableKey returned is refused (the key record cache). */
const STATE_BOUND_MS = 1000;

const nodes: RunningTrent[] = [];
const dirs: string[] = [];
const env = { TRENT_TRAIL_DELIVERY_SECONDS: '1', TRENT_TRAIL_DIGEST_SECONDS: '3', TRENT_TRAIL_LEASE_SECONDS: '5', TRENT_KMS_SWEEP_SECONDS: '2', TRENT_FACES_WORKERS: '1' };

const kms = (i: number) => new KMSClient(nodes[i]!.clientConfig());
const s3 = (i: number) => new S3Client(nodes[i]!.clientConfig({ forcePathStyle: true }));

before(async () => {
  if (skip) return;
  for (let i = 0; i < 3; i++) dirs.push(await tempDir('trent-node-'));
  const args = await distributedArgs(dirs[0]!, `trent_cluster_${process.pid}`);
  nodes.push(await startTrent({ dataDir: dirs[0]!, args, env }));
  // The other nodes share the first one's root key (or HSM key): values it wrapped must open everywhere.
  for (const d of dirs.slice(1)) await copyFile(join(dirs[0]!, 'root.key'), join(d, 'root.key'));
  nodes.push(...(await Promise.all(dirs.slice(1).map((dataDir) => startTrent({ dataDir, args, env })))));
});

after(async () => {
  for (const n of nodes) await n.stop();
  for (const d of dirs) await removeDir(d);
});

test('the nodes share one account: a key created on one node encrypts on a second and decrypts on a third', { skip }, async () => {
  assert.deepEqual(new Set(nodes.map((n) => n.accessKeyId)).size, 1, 'one administrator for the cluster');
  const key = (await kms(0).send(new CreateKeyCommand({ Description: 'cluster' }))).KeyMetadata!;
  await kms(0).send(new CreateAliasCommand({ AliasName: 'alias/cluster', TargetKeyId: key.KeyId }));
  const ct = await kms(1).send(new EncryptCommand({ KeyId: 'alias/cluster', Plaintext: Buffer.from('across nodes'), EncryptionContext: { purpose: 'cluster' } }));
  const pt = await kms(2).send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob, EncryptionContext: { purpose: 'cluster' } }));
  assert.equal(Buffer.from(pt.Plaintext!).toString(), 'across nodes');
  assert.equal(pt.KeyId, key.Arn);
});

test(`a key disabled on one node is refused by the others ${STATE_BOUND_MS} ms later, and enabled again likewise`, { skip }, async () => {
  const key = (await kms(0).send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  // Warm every node's caches with the enabled key first.
  for (const i of [1, 2]) await kms(i).send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') }));
  await kms(0).send(new DisableKeyCommand({ KeyId: key }));
  // Within the bound a node may still answer from its cache; once it has passed, none may.
  await new Promise((r) => setTimeout(r, STATE_BOUND_MS + 50));
  for (const i of [1, 2]) {
    await assert.rejects(kms(i).send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })), { name: 'DisabledException' }, `node ${i + 1} after DisableKey on node 1`);
  }
  await kms(2).send(new EnableKeyCommand({ KeyId: key }));
  await new Promise((r) => setTimeout(r, STATE_BOUND_MS + 50));
  for (const i of [0, 1]) await kms(i).send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') }));
});

test('two nodes creating the same alias, bucket or secret never both succeed', { skip }, async () => {
  const key = (await kms(0).send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  for (let round = 0; round < 5; round++) {
    const alias = await Promise.allSettled(nodes.map((_, i) => kms(i).send(new CreateAliasCommand({ AliasName: `alias/race-${round}`, TargetKeyId: key }))));
    assert.equal(alias.filter((r) => r.status === 'fulfilled').length, 1, `alias round ${round}: ${JSON.stringify(alias.map((r) => (r.status === 'rejected' ? (r.reason as Error).name : 'ok')))}`);
    for (const r of alias) if (r.status === 'rejected') assert.equal((r.reason as Error).name, 'AlreadyExistsException');

    const bucket = await Promise.allSettled(nodes.map((_, i) => s3(i).send(new CreateBucketCommand({ Bucket: `race-${round}` }))));
    assert.equal(bucket.filter((r) => r.status === 'fulfilled').length, 1, `bucket round ${round}`);
    for (const r of bucket) if (r.status === 'rejected') assert.equal((r.reason as Error).name, 'BucketAlreadyOwnedByYou');

    const secret = await Promise.allSettled(nodes.map((n) => new SecretsManagerClient(n.clientConfig()).send(new CreateSecretCommand({ Name: `race-${round}`, SecretString: 'x' }))));
    assert.equal(secret.filter((r) => r.status === 'fulfilled').length, 1, `secret round ${round}`);
    for (const r of secret) if (r.status === 'rejected') assert.equal((r.reason as Error).name, 'ResourceExistsException');
  }
});

const PHOTO = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'faces', 'photos', 'obama', 'obama.jpg');

test('faces indexed or deleted on one node are seen by search on the others at once', { skip: skip || (!existsSync(PHOTO) && 'no face photos in ../shared/data/faces'), timeout: 120_000 }, async () => {
  const rk = (i: number) => new RekognitionClient(nodes[i]!.clientConfig());
  await rk(0).send(new CreateCollectionCommand({ CollectionId: 'cluster-faces' }));
  const img = await readFile(PHOTO);
  const a = (await rk(0).send(new IndexFacesCommand({ CollectionId: 'cluster-faces', Image: { Bytes: img }, ExternalImageId: 'a' }))).FaceRecords![0]!.Face!.FaceId!;
  // Node 2 loads the collection into its memory now, with one face.
  assert.deepEqual((await rk(1).send(new SearchFacesCommand({ CollectionId: 'cluster-faces', FaceId: a }))).FaceMatches, []);
  const b = (await rk(0).send(new IndexFacesCommand({ CollectionId: 'cluster-faces', Image: { Bytes: img }, ExternalImageId: 'b' }))).FaceRecords![0]!.Face!.FaceId!;
  const found = (await rk(1).send(new SearchFacesCommand({ CollectionId: 'cluster-faces', FaceId: a }))).FaceMatches!.map((m) => m.Face!.FaceId);
  assert.deepEqual(found, [b], 'node 2 sees the face node 1 added');
  await rk(2).send(new DeleteFacesCommand({ CollectionId: 'cluster-faces', FaceIds: [b] }));
  assert.deepEqual((await rk(1).send(new SearchFacesCommand({ CollectionId: 'cluster-faces', FaceId: a }))).FaceMatches, [], 'node 2 no longer finds the face node 3 deleted');
});

test('a load test on all three nodes, one of them killed with SIGKILL, loses no acknowledged write; the trail still validates', { skip, timeout: 240_000 }, async () => {
  const started = new Date(Date.now() - 5000);
  const ctClient = new CloudTrailClient(nodes[0]!.clientConfig());
  await s3(0).send(new CreateBucketCommand({ Bucket: 'cluster-trail' }));
  await s3(0).send(new CreateBucketCommand({ Bucket: 'cluster-load' }));
  const trail = await ctClient.send(new CreateTrailCommand({ Name: 'cluster', S3BucketName: 'cluster-trail', EnableLogFileValidation: true }));
  await ctClient.send(new StartLoggingCommand({ Name: 'cluster' }));
  const key = (await kms(0).send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;

  const acknowledged: Array<{ kind: 'put'; key: string; body: string } | { kind: 'encrypt'; ciphertext: Uint8Array; plaintext: string }> = [];
  let failures = 0;
  let stop = false;
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const node = (w + i) % 3;
      const id = `w${w}-${i}`;
      try {
        if (i % 2 === 0) {
          const body = `object ${id} ${'x'.repeat(100 + ((i * 37) % 5000))}`;
          await s3(node).send(new PutObjectCommand({ Bucket: 'cluster-load', Key: id, Body: body }));
          acknowledged.push({ kind: 'put', key: id, body });
        } else {
          const plaintext = `secret ${id}`;
          const out = await kms(node).send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from(plaintext) }));
          acknowledged.push({ kind: 'encrypt', ciphertext: out.CiphertextBlob!, plaintext });
        }
      } catch {
        failures++; // the killed node's requests: never acknowledged, so nothing is promised about them
      }
    }
  };
  const workers = Array.from({ length: 6 }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, 3000));
  const before = acknowledged.length;
  nodes[1]!.process.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 3000));
  stop = true;
  await Promise.all(workers);
  assert.ok(before > 20 && acknowledged.length > before, `writes before the kill: ${before}, in all: ${acknowledged.length}`);
  assert.ok(failures > 0, 'some requests went to the killed node');

  // Every acknowledged write is there, read through the surviving nodes.
  for (const [n, a] of acknowledged.entries()) {
    const node = n % 2 === 0 ? 0 : 2;
    if (a.kind === 'put') {
      const o = await s3(node).send(new GetObjectCommand({ Bucket: 'cluster-load', Key: a.key }));
      assert.equal(await o.Body!.transformToString(), a.body, a.key);
    } else {
      const out = await kms(node).send(new DecryptCommand({ CiphertextBlob: a.ciphertext }));
      assert.equal(Buffer.from(out.Plaintext!).toString(), a.plaintext);
    }
  }

  // The killed node's delivery lease (if it held it) expires; a survivor delivers, and the digest chain is one chain.
  await new Promise((r) => setTimeout(r, 12_000));
  const v = await aws(nodes[0]!, 'v1', ['cloudtrail', 'validate-logs', '--trail-arn', trail.TrailARN!, '--start-time', started.toISOString(), '--verbose'], 180_000);
  const out = v.stdout + v.stderr;
  assert.equal(v.code, 0, `validate-logs: ${out}`);
  assert.doesNotMatch(out, /INVALID/);
  assert.match(out, /(\d+)\/\1 digest files valid/);
  assert.match(out, /(\d+)\/\1 log files valid/);
});
