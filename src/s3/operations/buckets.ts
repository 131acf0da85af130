import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { AwsError } from '../../wire/errors.ts';
import { parseXml, type XmlObject } from '../../wire/xml.ts';
import { checkCreateBucketAcl } from '../acl.ts';
import { BLOCK_ALL, checkBucketName, findBucket, getBucket, listBuckets as allBuckets } from '../buckets.ts';
import type { S3Context } from '../context.ts';
import { BucketAlreadyOwnedByYou, BucketNotEmpty, MalformedXML } from '../errors.ts';
import { child, empty, isoDate, readSmallBody, token, xmlResponse, XMLNS } from '../messages.ts';
import { addOrphans } from '../objects.ts';
import type { S3Route } from '../routing.ts';

/** Buckets themselves: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation. */

export async function listBuckets(s3: S3Context): Promise<RestResponse> {
  const all = await allBuckets(s3.db);
  return xmlResponse({
    ListAllMyBucketsResult: {
      '@_xmlns': XMLNS,
      Owner: s3.owner,
      Buckets: { Bucket: all.map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdAt), BucketRegion: b.region })) },
    },
  });
}

export async function createBucket(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const name = r.bucket!;
  s3.touchBucket(ctx, name);
  checkBucketName(name);
  checkCreateBucketAcl(req.headers, s3.owner);
  const body = (await readSmallBody(req.body)).toString('utf8');
  if (body.trim()) {
    let doc: XmlObject;
    try {
      doc = parseXml(body);
    } catch {
      throw new MalformedXML();
    }
    const constraint = token(child(doc['CreateBucketConfiguration'], 'LocationConstraint'));
    if (constraint !== undefined && constraint !== '' && constraint !== s3.region) {
      throw new AwsError('IllegalLocationConstraintException', 400, `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`);
    }
  }
  // x-amz-bucket-object-lock-enabled: true makes a bucket with Object Lock, and so with versioning enabled (for good).
  const lockHeader = req.headers['x-amz-bucket-object-lock-enabled'];
  const objectLock = lockHeader !== undefined && lockHeader.trim().toLowerCase() === 'true';
  if (objectLock) {
    await ctx.authorize({ action: 's3:PutBucketObjectLockConfiguration', resource: `arn:aws:s3:::${name}`, mode: 'identity' });
    await ctx.authorize({ action: 's3:PutBucketVersioning', resource: `arn:aws:s3:::${name}`, mode: 'identity' });
  }
  const t = s3.now();
  try {
    await s3.db.transaction(async (tx) => {
      if (await findBucket(tx, name)) throw new BucketAlreadyOwnedByYou(name);
      await tx.run(
        'INSERT INTO s3_buckets (bucket_name, account_id, region, created_at, encryption, public_access_block, tags, versioning, object_lock) VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, ?)',
        [name, s3.accountId, s3.region, t, JSON.stringify(BLOCK_ALL), objectLock ? 'Enabled' : null, objectLock ? JSON.stringify({ enabled: true }) : null],
      );
    });
  } catch (err) {
    if (err instanceof AwsError) throw err;
    if (await findBucket(s3.db, name)) throw new BucketAlreadyOwnedByYou(name);
    throw err;
  }
  return empty(200, { location: `/${name}` });
}

export async function headBucket(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  return empty(200, { 'x-amz-bucket-region': b.region, 'x-amz-access-point-alias': 'false' });
}

export async function deleteBucket(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  const name = r.bucket!;
  s3.touchBucket(ctx, name);
  const orphans = await s3.db.transaction(async (tx) => {
    const b = await getBucket(tx, name);
    // Every version and delete marker counts: a bucket holding a locked version cannot be deleted before it can.
    if (await tx.get('SELECT 1 AS x FROM s3_objects WHERE bucket_name = ? LIMIT 1', [name])) throw new BucketNotEmpty(name, b.versioning !== null);
    // Incomplete multipart uploads go with the bucket; their parts' blobs are reaped.
    const parts = await tx.all<{ blob_key: string }>('SELECT p.blob_key FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id WHERE u.bucket_name = ?', [name]);
    await tx.run('DELETE FROM s3_parts WHERE upload_id IN (SELECT upload_id FROM s3_uploads WHERE bucket_name = ?)', [name]);
    await tx.run('DELETE FROM s3_uploads WHERE bucket_name = ?', [name]);
    await tx.run('DELETE FROM s3_bucket_keys WHERE bucket_name = ?', [name]);
    await tx.run('DELETE FROM s3_buckets WHERE bucket_name = ?', [name]);
    const blobsToReap = parts.map((p) => p.blob_key);
    await addOrphans(tx, blobsToReap, s3.now());
    return blobsToReap;
  });
  await s3.reap(orphans);
  return empty(204);
}

export async function getBucketLocation(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  return xmlResponse({ LocationConstraint: { '@_xmlns': XMLNS, '#text': b.region === 'us-east-1' ? '' : b.region } });
}
