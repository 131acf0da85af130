import { InvalidPrincipalError } from '../../iam/authorizer.ts';
import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { AwsError } from '../../wire/errors.ts';
import type { XmlValue } from '../../wire/xml.ts';
import { setBucketField, type PublicAccessBlock } from '../buckets.ts';
import type { S3Context } from '../context.ts';
import { AccessDenied, InvalidArgument, MalformedXML, NoSuchBucketPolicy, NoSuchPublicAccessBlockConfiguration, NoSuchTagSet, NotImplemented } from '../errors.ts';
import { asArray, boolText, child, empty, readSmallBody, readXml, text, token, xmlResponse, XMLNS } from '../messages.ts';
import type { S3Route } from '../routing.ts';
import type { BucketEncryption } from '../sse.ts';

/**
 * A bucket's configuration: default encryption, bucket policy (and its public status), Block Public Access, and
 * bucket tags. Each is a field of the bucket's row (buckets.ts), read and written whole.
 */

export async function putBucketEncryption(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  const doc = await readXml(req.body);
  const rules = asArray(child(doc['ServerSideEncryptionConfiguration'], 'Rule') as XmlValue[] | XmlValue | undefined);
  if (rules.length !== 1) throw new MalformedXML('ServerSideEncryptionConfiguration must hold exactly one Rule.');
  const rule = rules[0];
  const def = child(rule, 'ApplyServerSideEncryptionByDefault');
  const alg = token(child(def, 'SSEAlgorithm'));
  if (alg !== 'AES256' && alg !== 'aws:kms') {
    if (alg === 'aws:kms:dsse') throw new NotImplemented('SSEAlgorithm aws:kms:dsse');
    throw new MalformedXML('SSEAlgorithm must be AES256 or aws:kms.');
  }
  const kmsKeyId = token(child(def, 'KMSMasterKeyID'));
  if (kmsKeyId !== undefined && alg !== 'aws:kms') throw new InvalidArgument('a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms', 'ApplyServerSideEncryptionByDefault', '');
  const bucketKeyEnabled = boolText(child(rule, 'BucketKeyEnabled'), 'BucketKeyEnabled') ?? false;
  const enc: BucketEncryption = { algorithm: alg, ...(kmsKeyId ? { kmsKeyId } : {}), bucketKeyEnabled };
  await setBucketField(s3.db, r.bucket!, 'encryption', enc);
  return empty(200);
}

export async function getBucketEncryption(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  // Every bucket encrypts: without a configuration, the default is SSE-S3, as AWS reports it.
  const enc = b.encryption ?? { algorithm: 'AES256', bucketKeyEnabled: false };
  return xmlResponse({
    ServerSideEncryptionConfiguration: {
      '@_xmlns': XMLNS,
      Rule: {
        ApplyServerSideEncryptionByDefault: { SSEAlgorithm: enc.algorithm, ...(enc.kmsKeyId ? { KMSMasterKeyID: enc.kmsKeyId } : {}) },
        BucketKeyEnabled: enc.bucketKeyEnabled,
      },
    },
  });
}

export async function deleteBucketEncryption(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await setBucketField(s3.db, r.bucket!, 'encryption', null);
  return empty(204);
}

/** Whether a bucket policy lets anyone in: an Allow for principal "*" with no condition (AWS's notion of public, simplified). */
function grantsPublicAccess(text: string): boolean {
  try {
    const doc = JSON.parse(text) as { Statement?: unknown };
    const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
    return statements.some((st) => {
      const s = (st ?? {}) as Record<string, unknown>;
      const p = s['Principal'];
      const everyone = p === '*' || (p && typeof p === 'object' && ([] as unknown[]).concat((p as Record<string, unknown>)['AWS'] ?? []).includes('*'));
      return s['Effect'] === 'Allow' && everyone && s['Condition'] === undefined;
    });
  } catch {
    return false;
  }
}

export async function putBucketPolicy(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  const text = (await readSmallBody(req.body, 20 * 1024 + 1)).toString('utf8');
  if (Buffer.byteLength(text) > 20 * 1024) throw new AwsError('PolicyTooLarge', 400, 'Policy exceeds the maximum allowed document size of 20 KB.');
  if (!text.trim().startsWith('{')) throw new AwsError('MalformedPolicy', 400, "Policies must be valid JSON and the first byte must be '{'");
  try {
    s3.authorizer.parseResourcePolicy(text);
  } catch (err) {
    throw new AwsError('MalformedPolicy', 400, (err as Error).message);
  }
  // Block Public Access: a policy that would let anyone in is refused while BlockPublicPolicy is on.
  if (b.publicAccessBlock?.BlockPublicPolicy && grantsPublicAccess(text)) throw new AccessDenied('Access Denied: the bucket blocks public bucket policies (BlockPublicPolicy).');
  // IAM users and roles are stored by unique id, as AWS stores them (src/iam/principal-ids.ts).
  const stored = await s3.authorizer.bindPrincipals(text, s3.accountId).catch((err: unknown) => {
    throw err instanceof InvalidPrincipalError ? new AwsError('MalformedPolicy', 400, 'Invalid principal in policy') : err;
  });
  await setBucketField(s3.db, b.name, 'policy', stored);
  return empty(204);
}

export async function getBucketPolicy(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  if (!b.policy) throw new NoSuchBucketPolicy(b.name);
  const body = Buffer.from(await s3.authorizer.renderPrincipals(b.policy));
  return { status: 200, headers: { 'content-type': 'application/json', 'content-length': body.length }, body };
}

export async function getBucketPolicyStatus(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  if (!b.policy) throw new NoSuchBucketPolicy(b.name);
  return xmlResponse({ PolicyStatus: { '@_xmlns': XMLNS, IsPublic: grantsPublicAccess(b.policy) } });
}

export async function deleteBucketPolicy(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  await setBucketField(s3.db, r.bucket!, 'policy', null);
  return empty(204);
}

export async function putPublicAccessBlock(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  const doc = await readXml(req.body);
  const c = doc['PublicAccessBlockConfiguration'];
  if (c === undefined) throw new MalformedXML();
  const cfg: PublicAccessBlock = {
    BlockPublicAcls: boolText(child(c, 'BlockPublicAcls'), 'BlockPublicAcls') ?? false,
    IgnorePublicAcls: boolText(child(c, 'IgnorePublicAcls'), 'IgnorePublicAcls') ?? false,
    BlockPublicPolicy: boolText(child(c, 'BlockPublicPolicy'), 'BlockPublicPolicy') ?? false,
    RestrictPublicBuckets: boolText(child(c, 'RestrictPublicBuckets'), 'RestrictPublicBuckets') ?? false,
  };
  await setBucketField(s3.db, r.bucket!, 'public_access_block', cfg);
  return empty(200);
}

export async function getPublicAccessBlock(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  if (!b.publicAccessBlock) throw new NoSuchPublicAccessBlockConfiguration(b.name);
  return xmlResponse({ PublicAccessBlockConfiguration: { '@_xmlns': XMLNS, ...b.publicAccessBlock } });
}

export async function deletePublicAccessBlock(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await setBucketField(s3.db, r.bucket!, 'public_access_block', null);
  return empty(204);
}

export async function putBucketTagging(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  const doc = await readXml(req.body);
  const tags = asArray(child(child(doc['Tagging'], 'TagSet'), 'Tag') as XmlValue[] | XmlValue | undefined).map((t) => ({ Key: text(child(t, 'Key')) ?? '', Value: text(child(t, 'Value')) ?? '' }));
  if (tags.length > 50) throw new AwsError('InvalidTag', 400, 'Bucket tag count cannot be greater than 50');
  const seen = new Set<string>();
  for (const t of tags) {
    if (!t.Key || t.Key.length > 128 || t.Value.length > 256) throw new AwsError('InvalidTag', 400, 'The TagKey you have provided is invalid');
    if (t.Key.startsWith('aws:')) throw new AwsError('InvalidTag', 400, 'User-defined tag keys cannot start with aws:');
    if (seen.has(t.Key)) throw new AwsError('InvalidTag', 400, 'Cannot provide multiple Tags with the same key');
    seen.add(t.Key);
  }
  await setBucketField(s3.db, r.bucket!, 'tags', tags);
  return empty(204);
}

export async function getBucketTagging(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  if (!b.tags || b.tags.length === 0) throw new NoSuchTagSet(b.name);
  return xmlResponse({ Tagging: { '@_xmlns': XMLNS, TagSet: { Tag: b.tags } } });
}

export async function deleteBucketTagging(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await setBucketField(s3.db, r.bucket!, 'tags', null);
  return empty(204);
}
