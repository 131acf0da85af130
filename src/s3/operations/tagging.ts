import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { AwsError } from '../../wire/errors.ts';
import type { S3Context } from '../context.ts';
import { empty, readXml, xmlResponse, XMLNS } from '../messages.ts';
import { tagsOfVersion, updateVersion, type ObjectVersion } from '../objects.ts';
import type { S3Route } from '../routing.ts';
import { checkObjectTags, existingTagKeys, requestTagKeys, tagSetXml, tagsOfDocument } from '../tagging.ts';
import { versionHeader, versionNamed } from '../versions.ts';

/**
 * Object tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging, on the latest version or the one named
 * (a delete marker can be tagged too, as on AWS). Tags are a version's own, kept in its row (objects.ts); the rules
 * for them are in tagging.ts.
 */

function versionIdOfEntry(v: ObjectVersion): string {
  return v.kind === 'object' ? v.record.versionId! : v.marker.versionId;
}

/** PutObjectTagging: authorized here, once the body is read, so that policies can test the tags it sets. */
export async function putObjectTagging(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  const tags = tagsOfDocument(await readXml(req.body));
  const existing = await tagsOfVersion(s3.db, bucket, key, versionId);
  await s3.authorizeObject(ctx, req, versionId === undefined ? 's3:PutObjectTagging' : 's3:PutObjectVersionTagging', bucket, key, {
    ...requestTagKeys(tags),
    ...existingTagKeys(existing),
  });
  checkObjectTags(tags);
  const id = await s3.db.transaction(async (tx) => {
    const v = await versionNamed(tx, bucket, key, versionId);
    await updateVersion(tx, bucket, key, versionIdOfEntry(v), { tags });
    return versionIdOfEntry(v);
  });
  return empty(200, versionHeader(b.versioning, id));
}

export async function getObjectTagging(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  let v: ObjectVersion;
  try {
    v = await versionNamed(s3.db, bucket, key, versionId);
  } catch (err) {
    // S3 names the object as bucket/key in this answer (AWS's own quirk, which clients see).
    if (err instanceof AwsError && err.code === 'NoSuchKey') throw new AwsError('NoSuchKey', 404, err.message, { Key: `${bucket}/${key}` });
    throw err;
  }
  const tags = v.kind === 'object' ? v.record.tags : await tagsOfVersion(s3.db, bucket, key, v.marker.versionId);
  return xmlResponse({ Tagging: { '@_xmlns': XMLNS, TagSet: tagSetXml(tags) } }, 200, versionHeader(b.versioning, versionIdOfEntry(v)));
}

export async function deleteObjectTagging(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  const id = await s3.db.transaction(async (tx) => {
    const v = await versionNamed(tx, bucket, key, versionId);
    await updateVersion(tx, bucket, key, versionIdOfEntry(v), { tags: null });
    return versionIdOfEntry(v);
  });
  return empty(204, versionHeader(b.versioning, id));
}
