import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { setBucketField } from '../buckets.ts';
import type { S3Context } from '../context.ts';
import { InvalidRequest, NoSuchLifecycleConfiguration } from '../errors.ts';
import { empty, readXml, xmlResponse, XMLNS } from '../messages.ts';
import { lifecycleRulesXml, parseLifecycleConfiguration, type LifecycleConfig } from '../lifecycle.ts';
import type { S3Route } from '../routing.ts';

/**
 * Bucket lifecycle: PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration, DeleteBucketLifecycle. The rules
 * (lifecycle.ts) are carried out by the lifecycle job (lifecycle-job.ts), on one node of a cluster at a time.
 */

const MIN_SIZE_HEADER = 'x-amz-transition-default-minimum-object-size';

function minimumSize(headers: Record<string, string | undefined>): LifecycleConfig['transitionDefaultMinimumObjectSize'] {
  const v = headers[MIN_SIZE_HEADER];
  if (v === undefined) return 'all_storage_classes_128K';
  if (v !== 'all_storage_classes_128K' && v !== 'varies_by_storage_class') throw new InvalidRequest(`Invalid TransitionDefaultMinimumObjectSize found: ${v}`);
  return v;
}

export async function putBucketLifecycleConfiguration(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  const size = minimumSize(req.headers);
  const rules = parseLifecycleConfiguration(await readXml(req.body));
  const config: LifecycleConfig = { rules, transitionDefaultMinimumObjectSize: size };
  await setBucketField(s3.db, b.name, 'lifecycle', config);
  return empty(200, { [MIN_SIZE_HEADER]: size });
}

export async function getBucketLifecycleConfiguration(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  if (!b.lifecycle) throw new NoSuchLifecycleConfiguration(b.name);
  return xmlResponse({ LifecycleConfiguration: { '@_xmlns': XMLNS, Rule: lifecycleRulesXml(b.lifecycle.rules) } }, 200, {
    [MIN_SIZE_HEADER]: b.lifecycle.transitionDefaultMinimumObjectSize,
  });
}

export async function deleteBucketLifecycle(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  await setBucketField(s3.db, b.name, 'lifecycle', null);
  return empty(204);
}
