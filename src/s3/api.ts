import { AccessDeniedError } from '../iam/authorizer.ts';
import type { CallContext, RestRequest, RestResponse, RestXmlService } from '../server/service.ts';
import { AwsError } from '../wire/errors.ts';
import { findBucket } from './buckets.ts';
import { S3Context, s3ConditionKeys, type S3Deps, type S3Handler } from './context.ts';
import { NotImplemented } from './errors.ts';
import { checkIntegrityHeaders } from './integrity.ts';
import * as acls from './operations/acls.ts';
import * as attributes from './operations/attributes.ts';
import * as bucketConfig from './operations/bucket-config.ts';
import * as buckets from './operations/buckets.ts';
import * as cors from './operations/cors.ts';
import * as lifecycle from './operations/lifecycle.ts';
import * as listings from './operations/listings.ts';
import * as multipart from './operations/multipart.ts';
import * as objectLock from './operations/object-lock.ts';
import * as objects from './operations/objects.ts';
import * as postObject from './operations/post-object.ts';
import * as tagging from './operations/tagging.ts';
import * as versioning from './operations/versioning.ts';
import { tagsOfVersion } from './objects.ts';
import { existingTagKeys } from './tagging.ts';
import { route, type S3Route } from './routing.ts';
import { objectArn } from './sse.ts';

/*
 * Amazon S3 in Trent. A request's way through this folder:
 *   routing.ts         request (method, path, sub-resource) -> operation name, bucket, key
 *   api.ts             operation name -> IAM action, CloudTrail category, handler (OPERATIONS below)
 *   operations/*.ts    the handlers, one module per family: buckets, listings, objects, multipart,
 *                      bucket-config (encryption, policy, public access block, tags), acls, versioning,
 *                      object-lock, tagging (object tags), lifecycle (and lifecycle-job.ts, which carries rules out)
 * What handlers share: context.ts (S3Context: stores, owner, resources, reaping), messages.ts (XML in and out),
 * object-data.ts (bodies in and out, SSE headers, copy sources), preconditions.ts (If-* and ranges),
 * integrity.ts (Content-MD5, x-amz-checksum-*), acl.ts. The domain underneath: buckets.ts and objects.ts (rows),
 * sse.ts (object keys), packages.ts (the encrypted blob format), errors.ts (AWS's error codes).
 */

export type { S3Deps } from './context.ts';
export { reapOrphans } from './objects.ts';

/** One S3 operation as Trent serves it. */
interface Operation {
  /** The IAM action checked before the handler runs (DeleteObjects checks each key itself; copies also need s3:GetObject on the source). */
  action?: string;
  /** The action checked instead when the request names a version (?versionId=): s3:GetObjectVersion, s3:DeleteObjectVersion ... */
  versionAction?: string;
  /** A CloudTrail data event (object level), not a management event. */
  data?: true;
  handler: S3Handler;
}

/**
 * Actions for which AWS puts the version's tags in the request context as s3:ExistingObjectTag/<key>: reads of an
 * object and changes to its tags, ACL and lock, never writes or deletes of objects (AWS's rule: a policy cannot
 * allow or deny overwriting or deleting an object by its tags).
 */
const EXISTING_TAG_ACTIONS = /^s3:(GetObject.*|PutObject(Version)?(Acl|Tagging)|DeleteObject(Version)?Tagging|PutObjectRetention|PutObjectLegalHold|BypassGovernanceRetention)$/;

/**
 * Every S3 operation Trent serves, by the name routing.ts gives a request: the permission it needs, how CloudTrail
 * counts it, and the module (operations/) that carries it out. An operation not here is NotImplemented.
 */
const OPERATIONS: Record<string, Operation> = {
  // Buckets: operations/buckets.ts
  ListBuckets: { action: 's3:ListAllMyBuckets', handler: buckets.listBuckets },
  CreateBucket: { action: 's3:CreateBucket', handler: buckets.createBucket },
  HeadBucket: { action: 's3:ListBucket', handler: buckets.headBucket },
  DeleteBucket: { action: 's3:DeleteBucket', handler: buckets.deleteBucket },
  GetBucketLocation: { action: 's3:GetBucketLocation', handler: buckets.getBucketLocation },
  // Listings: operations/listings.ts
  ListObjects: { action: 's3:ListBucket', data: true, handler: listings.listObjects },
  ListObjectsV2: { action: 's3:ListBucket', data: true, handler: listings.listObjectsV2 },
  // Objects: operations/objects.ts
  PutObject: { action: 's3:PutObject', data: true, handler: objects.putObject },
  GetObject: { action: 's3:GetObject', versionAction: 's3:GetObjectVersion', data: true, handler: objects.getObject },
  HeadObject: { action: 's3:GetObject', versionAction: 's3:GetObjectVersion', data: true, handler: objects.headObject },
  DeleteObject: { action: 's3:DeleteObject', versionAction: 's3:DeleteObjectVersion', data: true, handler: objects.deleteObject },
  DeleteObjects: { data: true, handler: objects.deleteObjects },
  CopyObject: { action: 's3:PutObject', data: true, handler: objects.copyObject },
  // HTML form uploads, authenticated by the form's signed policy (checks s3:PutObject itself, for the signer): operations/post-object.ts
  PostObject: { data: true, handler: postObject.postObject },
  // Attributes: operations/attributes.ts (s3:GetObject is checked too, as AWS asks for both)
  GetObjectAttributes: { action: 's3:GetObjectAttributes', versionAction: 's3:GetObjectVersionAttributes', data: true, handler: attributes.getObjectAttributes },
  // Multipart uploads: operations/multipart.ts
  CreateMultipartUpload: { action: 's3:PutObject', data: true, handler: multipart.createMultipartUpload },
  UploadPart: { action: 's3:PutObject', data: true, handler: multipart.uploadPart },
  UploadPartCopy: { action: 's3:PutObject', data: true, handler: multipart.uploadPartCopy },
  CompleteMultipartUpload: { action: 's3:PutObject', data: true, handler: multipart.completeMultipartUpload },
  AbortMultipartUpload: { action: 's3:AbortMultipartUpload', data: true, handler: multipart.abortMultipartUpload },
  ListParts: { action: 's3:ListMultipartUploadParts', data: true, handler: multipart.listParts },
  ListMultipartUploads: { action: 's3:ListBucketMultipartUploads', data: true, handler: multipart.listMultipartUploads },
  // Bucket configuration: operations/bucket-config.ts
  PutBucketEncryption: { action: 's3:PutEncryptionConfiguration', handler: bucketConfig.putBucketEncryption },
  GetBucketEncryption: { action: 's3:GetEncryptionConfiguration', handler: bucketConfig.getBucketEncryption },
  DeleteBucketEncryption: { action: 's3:PutEncryptionConfiguration', handler: bucketConfig.deleteBucketEncryption },
  PutBucketPolicy: { action: 's3:PutBucketPolicy', handler: bucketConfig.putBucketPolicy },
  GetBucketPolicy: { action: 's3:GetBucketPolicy', handler: bucketConfig.getBucketPolicy },
  GetBucketPolicyStatus: { action: 's3:GetBucketPolicyStatus', handler: bucketConfig.getBucketPolicyStatus },
  DeleteBucketPolicy: { action: 's3:DeleteBucketPolicy', handler: bucketConfig.deleteBucketPolicy },
  PutPublicAccessBlock: { action: 's3:PutBucketPublicAccessBlock', handler: bucketConfig.putPublicAccessBlock },
  GetPublicAccessBlock: { action: 's3:GetBucketPublicAccessBlock', handler: bucketConfig.getPublicAccessBlock },
  DeletePublicAccessBlock: { action: 's3:PutBucketPublicAccessBlock', handler: bucketConfig.deletePublicAccessBlock },
  PutBucketTagging: { action: 's3:PutBucketTagging', handler: bucketConfig.putBucketTagging },
  GetBucketTagging: { action: 's3:GetBucketTagging', handler: bucketConfig.getBucketTagging },
  DeleteBucketTagging: { action: 's3:PutBucketTagging', handler: bucketConfig.deleteBucketTagging },
  // CORS: operations/cors.ts (a preflight is unsigned and answered from the bucket's rules alone)
  PutBucketCors: { action: 's3:PutBucketCORS', handler: cors.putBucketCors },
  GetBucketCors: { action: 's3:GetBucketCORS', handler: cors.getBucketCors },
  DeleteBucketCors: { action: 's3:PutBucketCORS', handler: cors.deleteBucketCors },
  PreflightRequest: { data: true, handler: cors.preflight },
  // ACLs (disabled, as on AWS's buckets by default): operations/acls.ts
  GetBucketAcl: { action: 's3:GetBucketAcl', handler: acls.getBucketAcl },
  PutBucketAcl: { action: 's3:PutBucketAcl', handler: acls.putBucketAcl },
  GetObjectAcl: { action: 's3:GetObjectAcl', versionAction: 's3:GetObjectVersionAcl', data: true, handler: acls.getObjectAcl },
  PutObjectAcl: { action: 's3:PutObjectAcl', versionAction: 's3:PutObjectVersionAcl', data: true, handler: acls.putObjectAcl },
  // Versioning: operations/versioning.ts
  GetBucketVersioning: { action: 's3:GetBucketVersioning', handler: versioning.getBucketVersioning },
  PutBucketVersioning: { action: 's3:PutBucketVersioning', handler: versioning.putBucketVersioning },
  ListObjectVersions: { action: 's3:ListBucketVersions', data: true, handler: versioning.listObjectVersions },
  // Object Lock: operations/object-lock.ts (PutObjectRetention checks s3:PutObjectRetention itself, once it has read the retention)
  PutObjectLockConfiguration: { action: 's3:PutBucketObjectLockConfiguration', handler: objectLock.putObjectLockConfiguration },
  GetObjectLockConfiguration: { action: 's3:GetBucketObjectLockConfiguration', handler: objectLock.getObjectLockConfiguration },
  PutObjectRetention: { data: true, handler: objectLock.putObjectRetention },
  GetObjectRetention: { action: 's3:GetObjectRetention', data: true, handler: objectLock.getObjectRetention },
  PutObjectLegalHold: { action: 's3:PutObjectLegalHold', data: true, handler: objectLock.putObjectLegalHold },
  GetObjectLegalHold: { action: 's3:GetObjectLegalHold', data: true, handler: objectLock.getObjectLegalHold },
  // Object tags: operations/tagging.ts (PutObjectTagging checks s3:PutObjectTagging itself, once it has read the tags)
  PutObjectTagging: { data: true, handler: tagging.putObjectTagging },
  GetObjectTagging: { action: 's3:GetObjectTagging', versionAction: 's3:GetObjectVersionTagging', data: true, handler: tagging.getObjectTagging },
  DeleteObjectTagging: { action: 's3:DeleteObjectTagging', versionAction: 's3:DeleteObjectVersionTagging', data: true, handler: tagging.deleteObjectTagging },
  // Lifecycle: operations/lifecycle.ts (the rules are carried out by lifecycle-job.ts)
  PutBucketLifecycleConfiguration: { action: 's3:PutLifecycleConfiguration', handler: lifecycle.putBucketLifecycleConfiguration },
  GetBucketLifecycleConfiguration: { action: 's3:GetLifecycleConfiguration', handler: lifecycle.getBucketLifecycleConfiguration },
  DeleteBucketLifecycle: { action: 's3:PutLifecycleConfiguration', handler: lifecycle.deleteBucketLifecycle },
};

/** Query parameters never shown in events: presigned-URL credentials. */
const HIDDEN_QUERY = /^x-amz-(signature|credential|security-token)$/i;

/** Operations that come without SigV4 (a browser sends them): the pipeline hands them over unauthenticated (service.ts). */
const UNSIGNED = new Set(['PreflightRequest', 'PostObject']);

function operationOf(name: string): Operation | undefined {
  return Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
}

/** Amazon S3 (restXml): buckets, objects, multipart uploads; every object encrypted (sse.ts, packages.ts). */
/** State-changing operations on objects, uploads and parts: none changes a bucket record or anything else a worker caches. */
const OBJECT_WRITES = new Set([
  'PutObject',
  'DeleteObject',
  'DeleteObjects',
  'CopyObject',
  'PostObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
  'PutObjectAcl',
  'PutObjectRetention',
  'PutObjectLegalHold',
  'PutObjectTagging',
  'DeleteObjectTagging',
]);

/** Whether a call may change a bucket's own record (existence, configuration, policy): a write to the bucket, not to a key. */
function changesBucket(r: S3Route, req: RestRequest): boolean {
  return r.bucket !== undefined && (r.key === undefined || r.key === '') && req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS';
}

export function s3Service(deps: S3Deps): RestXmlService<S3Route> {
  const s3 = new S3Context(deps);
  /** The operation itself: its IAM check (when the table names one), the integrity headers, the handler. */
  const serve = async (ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> => {
    if (r.error) throw r.error;
    const op = operationOf(r.operation);
    if (!op) throw new NotImplemented(r.operation);
    const action = req.query.has('versionId') ? (op.versionAction ?? op.action) : op.action;
    if (action) {
      // A change to the bucket itself is authorised on its record as stored; any other call on the cached one.
      const bucket = r.bucket === undefined || r.operation === 'CreateBucket' ? undefined : changesBucket(r, req) ? await findBucket(s3.db, r.bucket) : await s3.buckets.find(s3.db, r.bucket);
      const resource = r.bucket === undefined ? '*' : r.key !== undefined && action !== 's3:ListBucket' ? objectArn(r.bucket, r.key) : `arn:aws:s3:::${r.bucket}`;
      // aws:ResourceTag: the bucket's tags on bucket requests. An object's tags reach policies as s3:ExistingObjectTag/<key>.
      const objectRequest = resource.startsWith(`arn:aws:s3:::${r.bucket}/`);
      const resourceTags = objectRequest ? undefined : bucket?.tags;
      const objectTags = objectRequest && bucket && EXISTING_TAG_ACTIONS.test(action) ? await tagsOfVersion(s3.db, r.bucket!, r.key!, req.query.get('versionId')) : undefined;
      await ctx.authorize({
        action,
        resource,
        resourcePolicy: bucket?.policy ?? null,
        mode: bucket ? 'resource-or-identity' : 'identity',
        context: { ...s3ConditionKeys(req), ...existingTagKeys(objectTags) },
        ...(resourceTags ? { resourceTags: Object.fromEntries(resourceTags.map((t) => [t.Key, t.Value])) } : {}),
      });
    }
    checkIntegrityHeaders(req.headers, !r.checksumHeadersNotOfBody);
    return op.handler(s3, ctx, r, req);
  };
  /** A request from a web page (Origin) gets the Access-Control-* headers its bucket's CORS rules allow, answer or error. */
  const serveWithCors = async (ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> => {
    if (req.headers['origin'] === undefined || r.bucket === undefined || r.operation === 'PreflightRequest') return serve(ctx, r, req);
    const corsHeaders = async () => cors.actualRequestHeaders(await s3.buckets.find(s3.db, r.bucket!), req);
    let out: RestResponse;
    try {
      out = await serve(ctx, r, req);
    } catch (err) {
      const h = await corsHeaders().catch(() => ({}));
      if (err instanceof AccessDeniedError) throw new AwsError('AccessDenied', 403, err.message, {}, h);
      if (err instanceof AwsError) Object.assign(err.headers as Record<string, string>, h);
      throw err;
    }
    return { ...out, headers: { ...(out.headers ?? {}), ...(await corsHeaders()) } };
  };
  return {
    protocol: 'restxml',
    signingName: 's3',
    eventSource: 's3.amazonaws.com',
    route: (req) => route(req.method, req.path, req.query, req.headers, deps.virtualHosts),
    unsigned: (r) => UNSIGNED.has(r.operation),
    changesCachedState: (op) => !OBJECT_WRITES.has(op),
    async handle(ctx, r, req) {
      if (!changesBucket(r, req)) return serveWithCors(ctx, r, req);
      try {
        return await serveWithCors(ctx, r, req);
      } finally {
        // What this process cached of the bucket goes once the change is done (or failed); other workers drop theirs
        // through the workers' bus before the answer leaves.
        s3.buckets.invalidate();
      }
    },
    audit: {
      requestParameters: (_op, input) => {
        const { route: r, query, host } = input as { route: S3Route; query: string; host?: string };
        const params: Record<string, unknown> = {};
        if (r.bucket !== undefined) params['bucketName'] = r.bucket;
        if (r.key !== undefined) params['key'] = r.key;
        if (host) params['Host'] = host;
        for (const [k, v] of new URLSearchParams(query)) if (!HIDDEN_QUERY.test(k)) params[k] = v;
        return params;
      },
      responseElements: (_op, output) => (output && typeof output === 'object' ? (output as Record<string, unknown>) : null),
      readOnly: (op) => /^(Get|Head|List)/.test(op) || op === 'PreflightRequest',
      category: (op) => (operationOf(op)?.data ? 'Data' : 'Management'),
    },
  };
}
