import type { Readable } from 'node:stream';
import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { parseXml, type XmlObject } from '../../wire/xml.ts';
import { checkPutAcl, ownerAcl } from '../acl.ts';
import type { S3Context } from '../context.ts';
import { MalformedACLError, NoSuchKey, NotImplemented } from '../errors.ts';
import { empty, readSmallBody, xmlResponse, XMLNS } from '../messages.ts';
import { getObject as findObject } from '../objects.ts';
import type { S3Route } from '../routing.ts';

/**
 * ACL operations on a bucket whose ACLs are disabled (acl.ts): GetBucketAcl and GetObjectAcl answer the owner's
 * FULL_CONTROL; PutBucketAcl and PutObjectAcl accept only that and change nothing.
 */

/** An <AccessControlPolicy> body, if the request has one. */
async function readAclBody(body: Readable): Promise<XmlObject | undefined> {
  const text = (await readSmallBody(body)).toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return parseXml(text);
  } catch {
    throw new MalformedACLError();
  }
}

export async function getBucketAcl(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  return xmlResponse(ownerAcl(s3.owner, XMLNS));
}

export async function putBucketAcl(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  checkPutAcl(req.headers, await readAclBody(req.body), s3.owner);
  return empty(200);
}

export async function getObjectAcl(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  await s3.bucketOf(bucket);
  if (req.query.has('versionId') && req.query.get('versionId') !== 'null') throw new NotImplemented('versionId (versioning)');
  if (!(await findObject(s3.db, bucket, key))) throw new NoSuchKey(key);
  return xmlResponse(ownerAcl(s3.owner, XMLNS));
}

export async function putObjectAcl(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  await s3.bucketOf(bucket);
  if (req.query.has('versionId') && req.query.get('versionId') !== 'null') throw new NotImplemented('versionId (versioning)');
  const body = await readAclBody(req.body);
  if (!(await findObject(s3.db, bucket, key))) throw new NoSuchKey(key);
  checkPutAcl(req.headers, body, s3.owner);
  return empty(200);
}
