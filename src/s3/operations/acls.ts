import type { Readable } from 'node:stream';
import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { parseXml, type XmlObject } from '../../wire/xml.ts';
import { checkPutAcl, ownerAcl } from '../acl.ts';
import type { S3Context } from '../context.ts';
import { MalformedACLError } from '../errors.ts';
import { empty, readSmallBody, xmlResponse, XMLNS } from '../messages.ts';
import type { S3Route } from '../routing.ts';
import { objectNamed, versionHeader } from '../versions.ts';

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
  const b = await s3.bucketOf(bucket);
  const o = await objectNamed(s3.db, bucket, key, s3.versionIdOf(req), 'GET');
  return xmlResponse(ownerAcl(s3.owner, XMLNS), 200, versionHeader(b.versioning, o.versionId));
}

export async function putObjectAcl(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  const body = await readAclBody(req.body);
  const o = await objectNamed(s3.db, bucket, key, versionId, 'PUT');
  checkPutAcl(req.headers, body, s3.owner);
  return empty(200, versionHeader(b.versioning, o.versionId));
}
