import type { CallContext, RestResponse } from '../../server/service.ts';
import type { S3Context } from '../context.ts';
import { NotImplemented } from '../errors.ts';
import { xmlResponse, XMLNS } from '../messages.ts';
import type { S3Route } from '../routing.ts';

/** Bucket versioning: no Trent bucket is versioned yet, so its state reads as never enabled and cannot be set. */

export async function getBucketVersioning(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  // Versioning has never been enabled on any Trent bucket: S3 answers an empty configuration then.
  return xmlResponse({ VersioningConfiguration: { '@_xmlns': XMLNS } });
}

export async function putBucketVersioning(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  throw new NotImplemented('bucket versioning');
}
