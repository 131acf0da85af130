// S3 object tagging through the JS SDK, boto3 and the AWS CLI: Put/Get/DeleteObjectTagging, x-amz-tagging on writes,
// the tagging directive of copies, tags per version, AWS's limits and errors, and tag conditions in policies
// (s3:ExistingObjectTag/<key>, s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  S3Client,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { IAMClient, CreateAccessKeyCommand, CreateUserCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';
import { fails } from '../helpers/assert.ts';
import { boto3 } from '../helpers/boto3.ts';
import { aws } from '../helpers/cli.ts';

let t: RunningTrent;
let s3: S3Client;
const b = 'tagged';

before(async () => {
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: b }));
});
after(async () => {
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

test('PutObjectTagging, GetObjectTagging, DeleteObjectTagging; x-amz-tagging on PutObject; HEAD and GET count the tags (JS SDK)', async () => {
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: 'x', Tagging: 'team=blue&stage=draft%20one&empty' }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'doc' }))).TagSet, [
    { Key: 'empty', Value: '' },
    { Key: 'stage', Value: 'draft one' },
    { Key: 'team', Value: 'blue' },
  ]);
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'doc' }))).TagCount, 3);
  assert.equal((await s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc' }))).TagCount, 3);
  await s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'doc', Tagging: { TagSet: [{ Key: 'class', Value: 'public' }] } }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'doc' }))).TagSet, [{ Key: 'class', Value: 'public' }], 'the set is replaced');
  const del = await s3.send(new DeleteObjectTaggingCommand({ Bucket: b, Key: 'doc' }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'doc' }))).TagSet ?? [], []);
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'doc' }))).TagCount, undefined);
  // Overwriting an object replaces its tags with the new write's.
  await s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'doc', Tagging: { TagSet: [{ Key: 'a', Value: '1' }] } }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: 'y' }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'doc' }))).TagSet ?? [], []);
});

test('tags as AWS limits them: at most 10, keys up to 128 and values up to 256 characters of the allowed set, unique keys, no aws: prefix (JS SDK)', async () => {
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'limits', Body: 'x' }));
  const put = (TagSet: Array<{ Key: string; Value: string }>) => s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'limits', Tagging: { TagSet } }));
  const ten = Array.from({ length: 10 }, (_, i) => ({ Key: `k${i}`.padEnd(128, 'k'), Value: 'v'.repeat(256) }));
  await put(ten);
  await fails(put([...ten, { Key: 'eleven', Value: '' }]), 'BadRequest', 400);
  await fails(put([{ Key: 'k'.repeat(129), Value: '' }]), 'InvalidTag', 400);
  await fails(put([{ Key: 'k', Value: 'v'.repeat(257) }]), 'InvalidTag', 400);
  await fails(put([{ Key: 'dup', Value: '1' }, { Key: 'dup', Value: '2' }]), 'InvalidTag', 400);
  await fails(put([{ Key: 'aws:owner', Value: 'x' }]), 'InvalidTag', 400);
  await fails(put([{ Key: 'bad{key}', Value: 'x' }]), 'InvalidTag', 400);
  await fails(s3.send(new PutObjectCommand({ Bucket: b, Key: 'limits', Body: 'x', Tagging: 'a=1&a=2' })), 'InvalidArgument', 400);
  await fails(s3.send(new PutObjectCommand({ Bucket: b, Key: 'limits', Body: 'x', Tagging: 'a=b=c' })), 'InvalidArgument', 400);
  await fails(s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'missing' })), 'NoSuchKey', 404);
  await fails(s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'missing', Tagging: { TagSet: [] } })), 'NoSuchKey', 404);
  assert.equal((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'limits' }))).TagSet?.length, 10, 'refused changes changed nothing');
});

test('each version keeps its own tags; CopyObject copies the source’s tags or replaces them; multipart uploads take x-amz-tagging (JS SDK)', async () => {
  const vb = 'tagged-versions';
  await s3.send(new CreateBucketCommand({ Bucket: vb }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: vb, VersioningConfiguration: { Status: 'Enabled' } }));
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: vb, Key: 'k', Body: '1', Tagging: 'v=1' }))).VersionId!;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: vb, Key: 'k', Body: '2', Tagging: 'v=2' }))).VersionId!;
  const r = await s3.send(new PutObjectTaggingCommand({ Bucket: vb, Key: 'k', VersionId: v1, Tagging: { TagSet: [{ Key: 'v', Value: 'one' }] } }));
  assert.equal(r.VersionId, v1);
  const g1 = await s3.send(new GetObjectTaggingCommand({ Bucket: vb, Key: 'k', VersionId: v1 }));
  assert.equal(g1.VersionId, v1);
  assert.deepEqual(g1.TagSet, [{ Key: 'v', Value: 'one' }]);
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: vb, Key: 'k' }))).TagSet, [{ Key: 'v', Value: '2' }]);
  assert.equal((await s3.send(new GetObjectTaggingCommand({ Bucket: vb, Key: 'k' }))).VersionId, v2);
  // Copies: COPY (the default) takes the source version's tags; REPLACE the request's.
  await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'copied', CopySource: `${vb}/k?versionId=${v1}` }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'copied' }))).TagSet, [{ Key: 'v', Value: 'one' }]);
  await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'replaced', CopySource: `${vb}/k`, TaggingDirective: 'REPLACE', Tagging: 'fresh=yes' }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'replaced' }))).TagSet, [{ Key: 'fresh', Value: 'yes' }]);
  await fails(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${vb}/k`, TaggingDirective: 'MERGE' as 'COPY' })), 'InvalidArgument', 400);
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', Tagging: 'from=upload' }));
  const part = await s3.send(new UploadPartCommand({ Bucket: b, Key: 'mp', UploadId, PartNumber: 1, Body: 'part' }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'mp' }))).TagSet, [{ Key: 'from', Value: 'upload' }]);
});

test('policies decide by tags: s3:ExistingObjectTag on reads, s3:RequestObjectTag and s3:RequestObjectTagKeys on writes and tagging (JS SDK, IAM user)', async () => {
  const pb = 'tag-policies';
  await s3.send(new CreateBucketCommand({ Bucket: pb }));
  // A bucket tag too: aws:ResourceTag stays the bucket's, never an object's.
  await s3.send(new PutBucketTaggingCommand({ Bucket: pb, Tagging: { TagSet: [{ Key: 'class', Value: 'secret' }] } }));
  await s3.send(new PutObjectCommand({ Bucket: pb, Key: 'open.txt', Body: 'open', Tagging: 'class=public' }));
  await s3.send(new PutObjectCommand({ Bucket: pb, Key: 'closed.txt', Body: 'closed', Tagging: 'class=secret' }));
  await s3.send(new PutObjectCommand({ Bucket: pb, Key: 'untagged.txt', Body: 'u' }));
  const iam = new IAMClient(t.clientConfig());
  await iam.send(new CreateUserCommand({ UserName: 'reader' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'reader' }))).AccessKey!;
  const objects = `arn:aws:s3:::${pb}/*`;
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'reader',
      PolicyName: 'by-tags',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectTagging'], Resource: objects, Condition: { StringEquals: { 's3:ExistingObjectTag/class': 'public' } } },
          { Effect: 'Allow', Action: 's3:PutObject', Resource: objects },
          // Tags may be set on writes only from the project's own keys and values.
          {
            Effect: 'Allow',
            Action: 's3:PutObjectTagging',
            Resource: objects,
            Condition: { 'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['project', 'class'] }, StringEquals: { 's3:RequestObjectTag/project': 'apollo' } },
          },
          // Nothing may be written that says it is secret.
          { Effect: 'Deny', Action: ['s3:PutObject', 's3:PutObjectTagging'], Resource: objects, Condition: { StringEquals: { 's3:RequestObjectTag/class': 'secret' } } },
        ],
      }),
    }),
  );
  iam.destroy();
  const reader = new S3Client(t.clientConfig({ forcePathStyle: true, credentials: { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! } }));
  try {
    assert.equal(await (await reader.send(new GetObjectCommand({ Bucket: pb, Key: 'open.txt' }))).Body!.transformToString(), 'open');
    await fails(reader.send(new GetObjectCommand({ Bucket: pb, Key: 'closed.txt' })), 'AccessDenied', 403);
    await fails(reader.send(new GetObjectCommand({ Bucket: pb, Key: 'untagged.txt' })), 'AccessDenied', 403);
    assert.deepEqual((await reader.send(new GetObjectTaggingCommand({ Bucket: pb, Key: 'open.txt' }))).TagSet, [{ Key: 'class', Value: 'public' }]);
    // Writes: untagged is fine; tags need s3:PutObjectTagging, which asks for project=apollo and allows only known keys.
    await reader.send(new PutObjectCommand({ Bucket: pb, Key: 'w1', Body: 'x' }));
    await reader.send(new PutObjectCommand({ Bucket: pb, Key: 'w2', Body: 'x', Tagging: 'project=apollo&class=public' }));
    await fails(reader.send(new PutObjectCommand({ Bucket: pb, Key: 'w3', Body: 'x', Tagging: 'project=gemini' })), 'AccessDenied', 403);
    await fails(reader.send(new PutObjectCommand({ Bucket: pb, Key: 'w4', Body: 'x', Tagging: 'project=apollo&owner=me' })), 'AccessDenied', 403);
    await fails(reader.send(new PutObjectCommand({ Bucket: pb, Key: 'w5', Body: 'x', Tagging: 'project=apollo&class=secret' })), 'AccessDenied', 403);
    await reader.send(new PutObjectTaggingCommand({ Bucket: pb, Key: 'w1', Tagging: { TagSet: [{ Key: 'project', Value: 'apollo' }] } }));
    await fails(reader.send(new PutObjectTaggingCommand({ Bucket: pb, Key: 'w1', Tagging: { TagSet: [{ Key: 'project', Value: 'apollo' }, { Key: 'class', Value: 'secret' }] } })), 'AccessDenied', 403);
  } finally {
    reader.destroy();
  }
});

test('boto3: tagging round trip and its errors', async () => {
  const out = await boto3(
    t,
    String.raw`
s3.put_object(Bucket=bucket, Key='b3', Body=b'x', Tagging='a=1')
s3.put_object_tagging(Bucket=bucket, Key='b3', Tagging={'TagSet': [{'Key': 'x', 'Value': 'y'}, {'Key': 'k', 'Value': 'v'}]})
print(json.dumps({
  'tags': s3.get_object_tagging(Bucket=bucket, Key='b3')['TagSet'],
  'count': s3.head_object(Bucket=bucket, Key='b3').get('ResponseMetadata', {}).get('HTTPHeaders', {}).get('x-amz-tagging-count'),
  'too_many': call(s3.put_object_tagging, Bucket=bucket, Key='b3', Tagging={'TagSet': [{'Key': 'k%d' % i, 'Value': ''} for i in range(11)]}),
  'missing': call(s3.get_object_tagging, Bucket=bucket, Key='nope'),
  'deleted': call(s3.delete_object_tagging, Bucket=bucket, Key='b3'),
  'after': s3.get_object_tagging(Bucket=bucket, Key='b3')['TagSet'],
}))
`,
    { BUCKET: b },
  );
  assert.deepEqual(out['tags'], [
    { Key: 'k', Value: 'v' },
    { Key: 'x', Value: 'y' },
  ]);
  assert.equal(out['count'], '2');
  assert.deepEqual([(out['too_many'] as { code: string }).code, (out['too_many'] as { status: number }).status], ['BadRequest', 400]);
  assert.equal((out['missing'] as { code: string }).code, 'NoSuchKey');
  assert.ok((out['deleted'] as { ok?: unknown }).ok !== undefined);
  assert.deepEqual(out['after'], []);
});

test('AWS CLI v1: put-object-tagging and get-object-tagging', async () => {
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'cli', Body: 'x' }));
  const put = await aws(t, 'v1', ['s3api', 'put-object-tagging', '--bucket', b, '--key', 'cli', '--tagging', 'TagSet=[{Key=env,Value=prod}]']);
  assert.equal(put.code, 0, put.stderr);
  const got = await aws(t, 'v1', ['s3api', 'get-object-tagging', '--bucket', b, '--key', 'cli', '--output', 'json']);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual((JSON.parse(got.stdout) as { TagSet: unknown }).TagSet, [{ Key: 'env', Value: 'prod' }]);
});
