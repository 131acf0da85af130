// Sets up, with Trent's administrator credentials, what the library needs and nothing more: the library key
// (alias/library-members), the members' bucket (SSE-KMS under that key by default, and a bucket policy that refuses
// any other encryption), the members' face collection (its vectors sealed under the same key), and the library's
// own IAM user whose only policy allows exactly the calls the app makes. Safe to run again: what exists is kept.
import { CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, EnableKeyRotationCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateCollectionCommand, DescribeCollectionCommand, RekognitionClient } from '@aws-sdk/client-rekognition';
import { CreateBucketCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { clientConfig, type LibraryResources, type TrentConnection } from './trent.ts';

export const KEY_ALIAS = 'alias/library-members';
export const BUCKET = 'library-members';
export const COLLECTION = 'library-members';
export const APP_USER = 'library-app';

export interface Provisioned {
  resources: LibraryResources;
  /** The library app's own credentials (a new access key only when `existingAccessKeyId` is not one of the user's keys). */
  app: { accessKeyId: string; secretAccessKey?: string };
}

function errorName(e: unknown): string {
  return (e as { name?: string }).name ?? '';
}

/** The app's identity policy: its photo prefix, the library key only through S3 and Rekognition, its collection, and LookupEvents. */
export function appPolicy(account: string, region: string, resources: LibraryResources): object {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'MemberPhotos',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
        Resource: `arn:aws:s3:::${resources.bucket}/members/*`,
      },
      {
        Sid: 'LibraryKeyThroughS3AndRekognition',
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: resources.keyArn,
        Condition: { StringEquals: { 'kms:ViaService': [`s3.${region}.amazonaws.com`, `rekognition.${region}.amazonaws.com`] } },
      },
      { Sid: 'CompareFaces', Effect: 'Allow', Action: 'rekognition:CompareFaces', Resource: '*' },
      {
        Sid: 'MembersCollection',
        Effect: 'Allow',
        Action: ['rekognition:IndexFaces', 'rekognition:SearchFacesByImage', 'rekognition:DeleteFaces'],
        Resource: `arn:aws:rekognition:${region}:${account}:collection/${resources.collection}`,
      },
      { Sid: 'KeyUsageChart', Effect: 'Allow', Action: 'cloudtrail:LookupEvents', Resource: '*' },
    ],
  };
}

export async function provision(admin: TrentConnection, existingAccessKeyId?: string): Promise<Provisioned> {
  const config = clientConfig(admin);
  const kms = new KMSClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const rekognition = new RekognitionClient(config);
  const iam = new IAMClient(config);
  const account = (await new STSClient(config).send(new GetCallerIdentityCommand({}))).Account!;

  let keyArn: string;
  try {
    keyArn = (await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }))).KeyMetadata!.Arn!;
  } catch (e) {
    if (errorName(e) !== 'NotFoundException') throw e;
    keyArn = (await kms.send(new CreateKeyCommand({ Description: "Library members' photos and face vectors", Tags: [{ TagKey: 'app', TagValue: 'library' }] }))).KeyMetadata!.Arn!;
    await kms.send(new CreateAliasCommand({ AliasName: KEY_ALIAS, TargetKeyId: keyArn }));
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyArn }));
  }

  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  } catch (e) {
    if (errorName(e) !== 'BucketAlreadyOwnedByYou') throw e;
  }
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: BUCKET,
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: false }] },
    }),
  );
  await s3.send(
    new PutBucketPolicyCommand({
      Bucket: BUCKET,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'OnlyTheLibraryKey',
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:PutObject',
            Resource: `arn:aws:s3:::${BUCKET}/*`,
            Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': keyArn } },
          },
        ],
      }),
    }),
  );

  try {
    await rekognition.send(new DescribeCollectionCommand({ CollectionId: COLLECTION }));
  } catch (e) {
    if (errorName(e) !== 'ResourceNotFoundException') throw e;
    await rekognition.send(new CreateCollectionCommand({ CollectionId: COLLECTION, Tags: { 'trent:kms-key-id': keyArn } }));
  }

  const resources: LibraryResources = { bucket: BUCKET, keyArn, collection: COLLECTION };
  try {
    await iam.send(new CreateUserCommand({ UserName: APP_USER }));
  } catch (e) {
    if (errorName(e) !== 'EntityAlreadyExistsException' && errorName(e) !== 'EntityAlreadyExists') throw e;
  }
  await iam.send(new PutUserPolicyCommand({ UserName: APP_USER, PolicyName: 'library-app', PolicyDocument: JSON.stringify(appPolicy(account, admin.region, resources)) }));
  const keys = (await iam.send(new ListAccessKeysCommand({ UserName: APP_USER }))).AccessKeyMetadata ?? [];
  if (existingAccessKeyId && keys.some((k) => k.AccessKeyId === existingAccessKeyId && k.Status === 'Active')) {
    return { resources, app: { accessKeyId: existingAccessKeyId } };
  }
  // IAM allows two keys per user: drop the ones the app no longer has before making a new one.
  for (const k of keys) await iam.send(new DeleteAccessKeyCommand({ UserName: APP_USER, AccessKeyId: k.AccessKeyId! }));
  const created = (await iam.send(new CreateAccessKeyCommand({ UserName: APP_USER }))).AccessKey!;
  return { resources, app: { accessKeyId: created.AccessKeyId!, secretAccessKey: created.SecretAccessKey! } };
}
