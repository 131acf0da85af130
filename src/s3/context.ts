import type { Logger } from 'pino';
import { AccessDeniedError, type Authorizer } from '../iam/authorizer.ts';
import type { CallContext, RestRequest, RestResponse } from '../server/service.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Database } from '../store/database.ts';
import { AwsError } from '../wire/errors.ts';
import { canonicalUserId, type Owner } from './acl.ts';
import { BucketCache, getBucket, type BucketRecord } from './buckets.ts';
import { InvalidRequest, InvalidVersionId } from './errors.ts';
import { DAY_MS } from './lifecycle.ts';
import { isVersionIdForm } from './objects.ts';
import { requestTagKeys, tagsOfHeader } from './tagging.ts';
import type { S3Route } from './routing.ts';
import { objectArn, type ObjectKeys } from './sse.ts';

export interface S3Deps {
  db: Database;
  blobs: BlobStore;
  keys: ObjectKeys;
  accountId: string;
  region: string;
  /** Endpoint host names under which `bucket.<host>` virtual-host addressing is accepted. */
  virtualHosts: string[];
  log: Logger;
  /** Validates bucket policies (they are enforced through ctx.authorize on every request). */
  authorizer: Authorizer;
  now?: () => number;
  /** The length of a lifecycle day (lifecycle.ts): a day, unless a test shortens it (TRENT_S3_LIFECYCLE_DAY_SECONDS). */
  lifecycleDayMs?: number;
  /** Bucket records for the object data path; the server drops them when another worker changes a bucket. */
  bucketCache?: BucketCache;
}

/** One S3 operation: the route and request in, the response out (operation modules under operations/; api.ts maps names to them). */
export type S3Handler = (s3: S3Context, ctx: CallContext, route: S3Route, req: RestRequest) => Promise<RestResponse>;

/**
 * What every S3 operation works with: the stores, the account that owns every bucket, and the steps most
 * operations share (naming the resources an event shows, finding the bucket, removing blobs let go of).
 */
export class S3Context {
  readonly db: Database;
  readonly blobs: BlobStore;
  readonly keys: ObjectKeys;
  readonly log: Logger;
  readonly authorizer: Authorizer;
  readonly accountId: string;
  readonly region: string;
  readonly now: () => number;
  readonly lifecycleDayMs: number;
  /** The account as S3 documents name the owner of buckets, objects and uploads. */
  readonly owner: Owner;
  /** Bucket records of the object data path (see BucketCache). */
  readonly buckets: BucketCache;

  constructor(deps: S3Deps) {
    this.db = deps.db;
    this.blobs = deps.blobs;
    this.keys = deps.keys;
    this.log = deps.log;
    this.authorizer = deps.authorizer;
    this.accountId = deps.accountId;
    this.region = deps.region;
    this.now = deps.now ?? Date.now;
    this.lifecycleDayMs = deps.lifecycleDayMs ?? DAY_MS;
    this.owner = { ID: canonicalUserId(deps.accountId), DisplayName: 'trent' };
    this.buckets = deps.bucketCache ?? new BucketCache();
  }

  /** The bucket is among the resources the call's event shows. */
  touchBucket(ctx: CallContext, bucket: string): void {
    ctx.resources.push({ ARN: `arn:aws:s3:::${bucket}`, accountId: this.accountId, type: 'AWS::S3::Bucket' });
  }

  /** The object (and its bucket) are among the resources the call's event shows. */
  touchObject(ctx: CallContext, bucket: string, key: string): void {
    ctx.resources.push({ ARN: objectArn(bucket, key), accountId: this.accountId, type: 'AWS::S3::Object' });
    this.touchBucket(ctx, bucket);
  }

  /** The bucket, or NoSuchBucket. */
  async bucketOf(name: string): Promise<BucketRecord> {
    return getBucket(this.db, name);
  }

  /**
   * The bucket, or NoSuchBucket, for the object data path (PutObject, GetObject, HeadObject): from the cache, at most
   * a second old where another node changed it. Operations that change a bucket read it with bucketOf.
   */
  async bucketForData(name: string): Promise<BucketRecord> {
    return this.buckets.get(this.db, name);
  }

  /** The route's bucket and key, for operations on an object: a key is required, and at most 1,024 bytes. */
  requireKey(r: S3Route): { bucket: string; key: string } {
    if (r.key === undefined || r.key.length === 0) throw new InvalidRequest('A key is required.');
    if (Buffer.byteLength(r.key) > 1024) throw new AwsError('KeyTooLongError', 400, 'Your key is too long');
    return { bucket: r.bucket!, key: r.key };
  }

  /** Delete blobs no row refers to any more (after the transaction that let go of them committed). */
  async reap(orphans: string[]): Promise<void> {
    for (const b of orphans) {
      try {
        await this.blobs.delete(b);
        await this.db.run('DELETE FROM s3_orphan_blobs WHERE blob_key = ?', [b]);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'an unreferenced object blob could not be removed yet');
      }
    }
  }

  /** s3:GetObject on an object, which some writes also need (a conditional delete naming an ETag learns the object's). */
  async authorizeRead(ctx: CallContext, req: RestRequest, bucket: string, key: string): Promise<void> {
    await this.authorizeObject(ctx, req, 's3:GetObject', bucket, key);
  }

  /**
   * Another action on an object than the one the operation table checked, which AWS asks for too: s3:PutObjectRetention
   * for a write that sets a retention, s3:BypassGovernanceRetention for a delete that bypasses one, and so on.
   */
  async authorizeObject(ctx: CallContext, req: RestRequest, action: string, bucket: string, key: string, context: Record<string, string | string[] | undefined> = {}): Promise<void> {
    const b = await this.bucketOf(bucket);
    await ctx.authorize({ action, resource: objectArn(bucket, key), resourcePolicy: b.policy, mode: 'resource-or-identity', context: { ...s3ConditionKeys(req), ...context } });
  }

  /** Whether the caller may take an action on an object (what GET and HEAD show of a lock depends on it). */
  async mayObject(ctx: CallContext, req: RestRequest, action: string, bucket: string, key: string): Promise<boolean> {
    try {
      await this.authorizeObject(ctx, req, action, bucket, key);
      return true;
    } catch (err) {
      if (err instanceof AccessDeniedError) return false;
      throw err;
    }
  }

  /** The versionId a request names: undefined without one; 'null' or an id Trent could have made, else InvalidArgument. */
  versionIdOf(req: RestRequest): string | undefined {
    const v = req.query.get('versionId');
    if (v === undefined) return undefined;
    if (!isVersionIdForm(v)) throw new InvalidVersionId(v);
    return v;
  }
}

/** S3's condition keys from the request. */
export function s3ConditionKeys(req: Pick<RestRequest, 'headers' | 'query'>): Record<string, string | string[] | undefined> {
  return {
    ...requestHeaderTagKeys(req.headers),
    ...lockConditionKeys(req.headers),
    's3:versionid': req.query.get('versionId'),
    's3:x-amz-server-side-encryption': req.headers['x-amz-server-side-encryption'],
    's3:x-amz-server-side-encryption-aws-kms-key-id': req.headers['x-amz-server-side-encryption-aws-kms-key-id'],
    's3:x-amz-server-side-encryption-customer-algorithm': req.headers['x-amz-server-side-encryption-customer-algorithm'],
    's3:x-amz-content-sha256': req.headers['x-amz-content-sha256'],
    's3:if-match': req.headers['if-match'],
    's3:if-none-match': req.headers['if-none-match'],
    's3:prefix': req.query.get('prefix'),
    's3:delimiter': req.query.get('delimiter'),
    's3:max-keys': req.query.get('max-keys'),
    's3:authType': req.query.has('X-Amz-Signature') ? 'REST-QUERY-STRING' : 'REST-HEADER',
    's3:signatureversion': 'AWS4-HMAC-SHA256',
  };
}

/** s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys for the tags an x-amz-tagging header sets (a malformed header is refused by the operation). */
function requestHeaderTagKeys(headers: Record<string, string | undefined>): Record<string, string | string[]> {
  const v = headers['x-amz-tagging'];
  if (v === undefined) return {};
  try {
    return requestTagKeys(tagsOfHeader(v));
  } catch {
    return {};
  }
}

/** s3:object-lock-mode, -retain-until-date, -remaining-retention-days and -legal-hold from a write's Object Lock headers. */
export function lockConditionKeys(headers: Record<string, string | undefined>, now = Date.now()): Record<string, string | undefined> {
  const until = headers['x-amz-object-lock-retain-until-date'];
  const t = until === undefined ? NaN : Date.parse(until);
  return {
    's3:object-lock-mode': headers['x-amz-object-lock-mode'],
    's3:object-lock-retain-until-date': until,
    's3:object-lock-remaining-retention-days': Number.isNaN(t) ? undefined : String(Math.max(0, Math.ceil((t - now) / 86_400_000))),
    's3:object-lock-legal-hold': headers['x-amz-object-lock-legal-hold'],
  };
}
