// Rekognition face operations through @aws-sdk/client-rekognition, the AWS CLI and boto3, on the labelled
// photos in ../shared/data/faces: CompareFaces same/different people, IndexFaces + SearchFacesByImage, users,
// the errors AWS returns, S3Object images in an SSE-KMS bucket read with the caller's permissions, a
// disabled collection key, and no image bytes or face vectors anywhere on disk, in logs or in the trail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  RekognitionClient,
  CompareFacesCommand,
  DetectFacesCommand,
  CreateCollectionCommand,
  DescribeCollectionCommand,
  ListCollectionsCommand,
  DeleteCollectionCommand,
  IndexFacesCommand,
  ListFacesCommand,
  DeleteFacesCommand,
  SearchFacesCommand,
  SearchFacesByImageCommand,
  CreateUserCommand,
  AssociateFacesCommand,
  SearchUsersByImageCommand,
  ListUsersCommand,
} from '@aws-sdk/client-rekognition';
import { S3Client, CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { IAMClient, CreateUserCommand as IamCreateUser, CreateAccessKeyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { filesContaining, startTrent, removeDir, storageDirs, tempDir, REPO, type RunningTrent } from '../helpers/trent.ts';
import { aws, skipCliV2 } from '../helpers/cli.ts';
import { exec } from '../helpers/assert.ts';

const DATA = resolve(REPO, '..', 'shared', 'data', 'faces');
let t: RunningTrent;
let rk: RekognitionClient;
let work: string;
const photo = (p: string) => readFile(join(DATA, 'photos', p));

before(async () => {
  t = await startTrent({ env: { TRENT_FACES_WORKERS: '2', TRENT_FACES_LAZY: '0' } });
  rk = new RekognitionClient(t.clientConfig());
  work = await tempDir('trent-faces-');
});
after(async () => {
  rk?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
  if (work) await removeDir(work);
});

test('CompareFaces: the same person matches above 80, different people do not; SourceImageFace and sorted matches', { timeout: 120_000 }, async () => {
  const same = await rk.send(new CompareFacesCommand({ SourceImage: { Bytes: await photo('obama/obama.jpg') }, TargetImage: { Bytes: await photo('obama/obama3.jpg') } }));
  assert.equal(same.FaceMatches!.length, 1, `one match: ${JSON.stringify(same.UnmatchedFaces)}`);
  assert.ok(same.FaceMatches![0]!.Similarity! > 80, `similarity ${same.FaceMatches![0]!.Similarity}`);
  const bb = same.SourceImageFace!.BoundingBox!;
  assert.ok(bb.Left! >= 0 && bb.Top! >= 0 && bb.Width! > 0 && bb.Width! <= 1 && bb.Height! <= 1, 'a ratio bounding box');
  const different = await rk.send(new CompareFacesCommand({ SourceImage: { Bytes: await photo('obama/obama.jpg') }, TargetImage: { Bytes: await photo('biden/biden.jpg') } }));
  assert.equal(different.FaceMatches!.length, 0, 'no match across people');
  assert.equal(different.UnmatchedFaces!.length, 1, 'the other face is unmatched');
  const group = await rk.send(new CompareFacesCommand({ SourceImage: { Bytes: await readFile(join(DATA, 'crops', 'sheldon', (await readdir(join(DATA, 'crops', 'sheldon')))[0]!)) }, TargetImage: { Bytes: await readFile(join(DATA, 'scenes', 'examples_images_bbt1.jpg')) }, SimilarityThreshold: 0 }));
  const sims = group.FaceMatches!.map((m) => m.Similarity!);
  assert.ok(sims.length > 1, 'several faces in the group photo');
  assert.deepEqual(sims, [...sims].sort((a, b) => b - a), 'matches sorted by similarity');
});

test('errors: no face in the source, a 6 MB image, bytes that are not an image', async () => {
  const white = await readFile(join(DATA, 'scenes', 'test_images_white.png'));
  await assert.rejects(rk.send(new CompareFacesCommand({ SourceImage: { Bytes: white }, TargetImage: { Bytes: await photo('obama/obama.jpg') } })), { name: 'InvalidParameterException' });
  await assert.rejects(rk.send(new DetectFacesCommand({ Image: { Bytes: randomBytes(6 * 1024 * 1024) } })), { name: 'ImageTooLargeException' });
  await assert.rejects(rk.send(new DetectFacesCommand({ Image: { Bytes: randomBytes(1000) } })), { name: 'InvalidImageFormatException' });
  const none = await rk.send(new DetectFacesCommand({ Image: { Bytes: white } }));
  assert.equal(none.FaceDetails!.length, 0, 'DetectFaces finds no face in a white image');
  const detected = await rk.send(new DetectFacesCommand({ Image: { Bytes: await photo('biden/biden.jpg') }, Attributes: ['ALL'] }));
  const face = detected.FaceDetails![0]!;
  assert.ok(face.Landmarks!.some((l) => l.Type === 'eyeLeft') && face.Pose && face.Quality && face.Confidence! > 50, `landmarks, pose, quality, confidence: ${JSON.stringify({ ...face, Landmarks: face.Landmarks?.length })}`);
});

test('Attributes: ALL adds MouthOpen and nothing Trent cannot estimate; an attribute it cannot estimate is refused alone or beside ALL', async () => {
  const image = await readFile(join(DATA, 'scenes', 'test_images_surprised.jpg'));
  const all = (await rk.send(new DetectFacesCommand({ Image: { Bytes: image }, Attributes: ['ALL'] }))).FaceDetails![0]!;
  assert.equal(all.MouthOpen?.Value, true, `the surprised face's mouth is open: ${JSON.stringify(all.MouthOpen)}`);
  assert.ok(all.MouthOpen!.Confidence! >= 50 && all.MouthOpen!.Confidence! <= 100);
  for (const k of ['AgeRange', 'Smile', 'Eyeglasses', 'Sunglasses', 'Gender', 'Beard', 'Mustache', 'EyesOpen', 'Emotions', 'FaceOccluded', 'EyeDirection'] as const) {
    assert.equal(all[k], undefined, `ALL says nothing about ${k}`);
  }
  const plain = (await rk.send(new DetectFacesCommand({ Image: { Bytes: image } }))).FaceDetails![0]!;
  assert.equal(plain.MouthOpen, undefined, 'DEFAULT leaves MouthOpen out');
  const named = (await rk.send(new DetectFacesCommand({ Image: { Bytes: image }, Attributes: ['MOUTH_OPEN'] }))).FaceDetails![0]!;
  assert.deepEqual(named.MouthOpen, all.MouthOpen, 'MOUTH_OPEN by name');
  assert.ok(named.Landmarks && named.Pose && named.Quality, 'with the default attributes');
  const refusals: string[] = [];
  for (const Attributes of [['AGE_RANGE'], ['ALL', 'AGE_RANGE'], ['DEFAULT', 'AGE_RANGE']]) {
    const e = await rk.send(new DetectFacesCommand({ Image: { Bytes: image }, Attributes: Attributes as never })).then(
      () => undefined,
      (x: Error) => x,
    );
    assert.equal(e?.name, 'InvalidParameterException', `${JSON.stringify(Attributes)} is refused`);
    refusals.push(e!.message);
  }
  assert.equal(new Set(refusals).size, 1, `refused the same way alone or beside ALL: ${refusals.join(' | ')}`);
  assert.match(refusals[0]!, /AGE_RANGE/);
  await assert.rejects(rk.send(new DetectFacesCommand({ Image: { Bytes: image }, Attributes: ['EYES_OPEN'] })), { name: 'InvalidParameterException' });
  await assert.rejects(rk.send(new DetectFacesCommand({ Image: { Bytes: image }, Attributes: ['NOSE_LENGTH' as never] })), { name: 'ValidationException' });
  // IndexFaces takes the same list as DetectionAttributes.
  await rk.send(new CreateCollectionCommand({ CollectionId: 'attributes' }));
  const indexed = await rk.send(new IndexFacesCommand({ CollectionId: 'attributes', Image: { Bytes: image }, DetectionAttributes: ['ALL'] }));
  assert.equal(indexed.FaceRecords![0]!.FaceDetail!.MouthOpen?.Value, true);
  await assert.rejects(rk.send(new IndexFacesCommand({ CollectionId: 'attributes', Image: { Bytes: image }, DetectionAttributes: ['ALL', 'GENDER'] })), { name: 'InvalidParameterException' });
  await rk.send(new DeleteCollectionCommand({ CollectionId: 'attributes' }));
});

test('CompareFaces: an ID-style crop (eyebrows to chin, 100x100, greyscale) matches a photo of the person; an identical image scores 99.9', async () => {
  const { default: sharp } = await import('sharp');
  const source = await photo('alex_lacamoire/img1.jpg');
  const { width, height } = (await sharp(source).metadata()).autoOrient;
  // Where the engine puts the brows, chin and jaw of this face (ratios of the photo).
  const rect = { left: 0.32, top: 0.201, width: 0.353, height: 0.258 };
  const crop = await sharp(source)
    .rotate()
    .extract({ left: Math.round(rect.left * width), top: Math.round(rect.top * height), width: Math.round(rect.width * width), height: Math.round(rect.height * height) })
    .resize(100, 100, { fit: 'fill' })
    .greyscale()
    .png()
    .toBuffer();
  const r = await rk.send(new CompareFacesCommand({ SourceImage: { Bytes: crop }, TargetImage: { Bytes: await photo('alex_lacamoire/alex_lacamoire1.jpg') } }));
  assert.equal(r.FaceMatches!.length, 1, `the crop matches: ${JSON.stringify(r.UnmatchedFaces?.length)}`);
  assert.ok(r.FaceMatches![0]!.Similarity! >= 80, `similarity ${r.FaceMatches![0]!.Similarity}`);
  const same = await rk.send(new CompareFacesCommand({ SourceImage: { Bytes: source }, TargetImage: { Bytes: source } }));
  assert.ok(same.FaceMatches![0]!.Similarity! >= 99.9, `an identical image scores ${same.FaceMatches![0]!.Similarity}`);
});

test('collections: IndexFaces of every person, SearchFacesByImage finds the right person first; users; list and delete', { timeout: 180_000 }, async () => {
  await rk.send(new CreateCollectionCommand({ CollectionId: 'members' }));
  await assert.rejects(rk.send(new CreateCollectionCommand({ CollectionId: 'members' })), { name: 'ResourceAlreadyExistsException' });
  const people = (await readdir(join(DATA, 'crops'))).sort();
  const probes: Array<{ person: string; file: string }> = [];
  for (const person of people) {
    const files = (await readdir(join(DATA, 'crops', person))).sort();
    await rk.send(new CreateUserCommand({ CollectionId: 'members', UserId: person }));
    const ids: string[] = [];
    for (const f of files.slice(0, 2)) {
      const r = await rk.send(new IndexFacesCommand({ CollectionId: 'members', Image: { Bytes: await readFile(join(DATA, 'crops', person, f)) }, ExternalImageId: person, MaxFaces: 1 }));
      assert.equal(r.FaceRecords!.length, 1, `${person}/${f} indexed`);
      ids.push(r.FaceRecords![0]!.Face!.FaceId!);
    }
    const assoc = await rk.send(new AssociateFacesCommand({ CollectionId: 'members', UserId: person, FaceIds: ids }));
    assert.equal(assoc.AssociatedFaces!.length, 2, `${person}: both faces associated`);
    probes.push({ person, file: files[files.length - 1]! });
  }
  const described = await rk.send(new DescribeCollectionCommand({ CollectionId: 'members' }));
  assert.equal(described.FaceCount, people.length * 2);
  assert.equal(described.UserCount, people.length);
  let right = 0;
  for (const p of probes) {
    const found = await rk.send(new SearchFacesByImageCommand({ CollectionId: 'members', Image: { Bytes: await readFile(join(DATA, 'crops', p.person, p.file)) }, FaceMatchThreshold: 0, MaxFaces: 3 }));
    if (found.FaceMatches![0]?.Face?.ExternalImageId === p.person) right++;
    const users = await rk.send(new SearchUsersByImageCommand({ CollectionId: 'members', Image: { Bytes: await readFile(join(DATA, 'crops', p.person, p.file)) }, UserMatchThreshold: 0, MaxUsers: 1 }));
    assert.equal(users.UserMatches![0]?.User?.UserId, p.person, `SearchUsersByImage finds ${p.person}`);
  }
  assert.equal(right, probes.length, 'every person found first by SearchFacesByImage');
  const listed = await rk.send(new ListFacesCommand({ CollectionId: 'members', MaxResults: 5 }));
  assert.equal(listed.Faces!.length, 5);
  assert.ok(listed.NextToken, 'paged');
  const one = listed.Faces![0]!.FaceId!;
  const near = await rk.send(new SearchFacesCommand({ CollectionId: 'members', FaceId: one }));
  assert.ok(near.FaceMatches!.every((m) => m.Face!.FaceId !== one), 'SearchFaces leaves out the face itself');
  assert.equal((await rk.send(new ListUsersCommand({ CollectionId: 'members' }))).Users!.length, people.length);
  assert.deepEqual((await rk.send(new DeleteFacesCommand({ CollectionId: 'members', FaceIds: [one] }))).DeletedFaces, [one]);
  assert.ok((await rk.send(new ListCollectionsCommand({}))).CollectionIds!.includes('members'));
  await assert.rejects(rk.send(new DescribeCollectionCommand({ CollectionId: 'nope' })), { name: 'ResourceNotFoundException' });
});

test('a collection under a customer key: disabling the key makes search fail, enabling restores it', { timeout: 120_000 }, async () => {
  const kms = new KMSClient(t.clientConfig());
  const key = (await kms.send(new CreateKeyCommand({ Description: 'faces' }))).KeyMetadata!.KeyId!;
  await rk.send(new CreateCollectionCommand({ CollectionId: 'sealed', Tags: { 'trent:kms-key-id': key } }));
  await rk.send(new IndexFacesCommand({ CollectionId: 'sealed', Image: { Bytes: await photo('obama/obama.jpg') }, ExternalImageId: 'obama' }));
  const search = () => rk.send(new SearchFacesByImageCommand({ CollectionId: 'sealed', Image: { Bytes: Buffer.from(bytes2) } }));
  const bytes2 = await photo('obama/obama3.jpg');
  assert.equal((await search()).FaceMatches![0]!.Face!.ExternalImageId, 'obama');
  await kms.send(new DisableKeyCommand({ KeyId: key }));
  await assert.rejects(search(), { name: 'AccessDeniedException' });
  await kms.send(new EnableKeyCommand({ KeyId: key }));
  assert.equal((await search()).FaceMatches![0]!.Face!.ExternalImageId, 'obama');
  await rk.send(new DeleteCollectionCommand({ CollectionId: 'sealed' }));
  kms.destroy();
});

test('CompareFaces with S3Object images in an SSE-KMS bucket; a caller without kms:Decrypt is refused', { timeout: 120_000 }, async () => {
  const s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  const kms = new KMSClient(t.clientConfig());
  const key = (await kms.send(new CreateKeyCommand({ Description: 'photos' }))).KeyMetadata!.Arn!;
  await s3.send(new CreateBucketCommand({ Bucket: 'member-photos' }));
  await s3.send(new PutObjectCommand({ Bucket: 'member-photos', Key: 'a.jpg', Body: await photo('kit_harington/john1.jpeg'), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key }));
  await s3.send(new PutObjectCommand({ Bucket: 'member-photos', Key: 'b.jpg', Body: await photo('kit_harington/john2.jpeg'), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key }));
  const input = { SourceImage: { S3Object: { Bucket: 'member-photos', Name: 'a.jpg' } }, TargetImage: { S3Object: { Bucket: 'member-photos', Name: 'b.jpg' } } };
  const r = await rk.send(new CompareFacesCommand(input));
  assert.ok(r.FaceMatches![0]!.Similarity! > 80, 'the same person through S3');
  await assert.rejects(rk.send(new CompareFacesCommand({ ...input, SourceImage: { S3Object: { Bucket: 'member-photos', Name: 'missing.jpg' } } })), { name: 'InvalidS3ObjectException' });
  // A user allowed Rekognition and s3:GetObject, but not kms:Decrypt on the key.
  const iam = new IAMClient(t.clientConfig());
  await iam.send(new IamCreateUser({ UserName: 'kiosk' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'kiosk' }))).AccessKey!;
  await iam.send(new PutUserPolicyCommand({ UserName: 'kiosk', PolicyName: 'faces', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['rekognition:*', 's3:GetObject'], Resource: '*' }] }) }));
  await new Promise((res) => setTimeout(res, 1100));
  const kiosk = new RekognitionClient(t.clientConfig({ credentials: { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! } }));
  await assert.rejects(kiosk.send(new CompareFacesCommand(input)), (e: { name: string; message: string }) => /AccessDenied|InvalidS3Object/.test(e.name) && /kms:Decrypt|KMS|permissions/.test(e.message));
  kiosk.destroy();
  iam.destroy();
  s3.destroy();
  kms.destroy();
});

test('the AWS CLI and boto3: compare-faces and detect-faces', { timeout: 120_000 }, async () => {
  const a = join(DATA, 'photos', 'rose_leslie', 'img1.jpg');
  const b = join(DATA, 'photos', 'rose_leslie', 'img2.jpg');
  for (const cli of ['v1', 'v2'] as const) {
    if (cli === 'v2' && skipCliV2) continue;
    const r = await aws(t, cli, ['rekognition', 'compare-faces', '--source-image-bytes', `fileb://${a}`, '--target-image-bytes', `fileb://${b}`, '--output', 'json'], 120_000);
    assert.equal(r.code, 0, `${cli}: ${r.stderr}`);
    assert.ok(JSON.parse(r.stdout).FaceMatches[0].Similarity > 80, `${cli}: a match`);
  }
  const script = `
import boto3, sys
rk = boto3.client('rekognition')
with open(sys.argv[1], 'rb') as f: img = f.read()
d = rk.detect_faces(Image={'Bytes': img})
assert len(d['FaceDetails']) == 1, d
c = rk.compare_faces(SourceImage={'Bytes': img}, TargetImage={'Bytes': open(sys.argv[2], 'rb').read()})
assert c['FaceMatches'] and c['FaceMatches'][0]['Similarity'] > 80, c
try:
    rk.compare_faces(SourceImage={'Bytes': open(sys.argv[3], 'rb').read()}, TargetImage={'Bytes': img})
    raise SystemExit('expected InvalidParameterException')
except rk.exceptions.InvalidParameterException:
    pass
print('ok')
`;
  const r = await exec('python3', ['-c', script, a, b, join(DATA, 'scenes', 'test_images_white.png')], t.cliEnv(), 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
});

test('no image bytes or face vectors anywhere: data directory, server output, audit trail', { timeout: 120_000 }, async () => {
  const img = await photo('alex_lacamoire/img1.jpg');
  await rk.send(new CreateCollectionCommand({ CollectionId: 'scan' }));
  await rk.send(new IndexFacesCommand({ CollectionId: 'scan', Image: { Bytes: img } }));
  await rk.send(new CompareFacesCommand({ SourceImage: { Bytes: img }, TargetImage: { Bytes: img } }));
  // Fragments: 64-byte windows from the middle of the image, and its base64.
  const fragments = [img.subarray(2000, 2064), img.subarray(img.length >> 1, (img.length >> 1) + 64), Buffer.from(img.subarray(4000, 4096).toString('base64').slice(4, 68))];
  const walk = async (dir: string, hits: string[]): Promise<string[]> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, hits);
      else {
        const content = await readFile(p);
        if (fragments.some((f) => content.includes(f))) hits.push(p);
      }
    }
    return hits;
  };
  for (const dir of storageDirs(t.dataDir)) assert.deepEqual(await walk(dir, []), [], `no image fragment under ${dir}`);
  assert.ok(!fragments.some((f) => t.output().includes(f.toString('latin1'))), 'no image fragment in the server output');
  // The face vector of this image, as the engine computes it, must not be on disk in clear either.
  const { createFaceEngine } = await import('../../src/faces/engine.ts');
  const engine = await createFaceEngine({ workers: 1 });
  try {
    const d = await engine.detect(new Uint8Array(img), { descriptors: true }); // a copy: the engine transfers what it is given
    const v = Buffer.from(d.faces[0]!.descriptor!.buffer, d.faces[0]!.descriptor!.byteOffset, 64);
    const hits: string[] = [];
    for (const f of ['trent.db', 'trent.db-wal', 'trail.db', 'trail.db-wal']) {
      const content = await readFile(join(t.dataDir, f)).catch(() => Buffer.alloc(0));
      if (content.includes(v)) hits.push(f);
    }
    hits.push(...(await filesContaining(storageDirs(t.dataDir).slice(1), [v])));
    assert.deepEqual(hits, [], 'no face vector in clear in the databases');
  } finally {
    await engine.close();
  }
  const ct = new CloudTrailClient(t.clientConfig());
  const events = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventSource', AttributeValue: 'rekognition.amazonaws.com' }], MaxResults: 50 }));
  const text = JSON.stringify(events.Events);
  assert.ok(events.Events!.length > 0, 'Rekognition calls are recorded');
  // 60 base64 characters from the entropy-coded middle of the JPEG (not its near-constant header).
  const mid = 4 * Math.floor(img.toString('base64').length / 8);
  const needle = img.toString('base64').slice(mid, mid + 60);
  const leaking = events.Events!.filter((e) => e.CloudTrailEvent!.includes(needle)).map((e) => e.EventName);
  const first = events.Events!.find((e) => e.CloudTrailEvent!.includes(needle));
  assert.deepEqual(leaking, [], `no image bytes (as base64) in any event: ${first ? first.CloudTrailEvent!.slice(Math.max(0, first.CloudTrailEvent!.indexOf(needle) - 300), first.CloudTrailEvent!.indexOf(needle) + 20) : ''}`);
  assert.ok(!text.includes(needle), 'nor anywhere in the lookup answer');
  ct.destroy();
  await writeFile(join(work, 'done'), 'ok');
});
