import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { getBucket, setBucketField, type BucketRecord } from '../buckets.ts';
import type { S3Context } from '../context.ts';
import { InvalidBucketState, InvalidRequest, MalformedXML, NoSuchObjectLockConfiguration, ObjectLockConfigurationNotFoundError } from '../errors.ts';
import { child, empty, readXml, token, xmlResponse, XMLNS } from '../messages.ts';
import { bypassRequested, checkRetentionChange, lockConfigurationXml, parseLegalHold, parseLockConfiguration, parseRetention } from '../object-lock.ts';
import { updateVersion, type Retention } from '../objects.ts';
import type { S3Route } from '../routing.ts';
import { objectNamed } from '../versions.ts';

/**
 * Object Lock operations: the bucket's configuration (PutObjectLockConfiguration, GetObjectLockConfiguration) and each
 * version's retention and legal hold (Put/GetObjectRetention, Put/GetObjectLegalHold). The rules themselves are in
 * object-lock.ts; deletes consult them in objects.ts.
 */

export async function putObjectLockConfiguration(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  const config = parseLockConfiguration(await readXml(req.body));
  await s3.db.transaction(async (tx) => {
    // Object Lock needs versioning enabled (it then can never be suspended); once enabled, it stays.
    const now = await getBucket(tx, b.name);
    if (now.versioning !== 'Enabled') throw new InvalidBucketState("Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration");
    await setBucketField(tx, b.name, 'object_lock', config);
  });
  return empty(200);
}

export async function getObjectLockConfiguration(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  if (!b.objectLock) throw new ObjectLockConfigurationNotFoundError(b.name);
  return xmlResponse({ ObjectLockConfiguration: { '@_xmlns': XMLNS, ...lockConfigurationXml(b.objectLock) } });
}

function requireLock(b: BucketRecord): void {
  if (!b.objectLock) throw new InvalidRequest('Bucket is missing Object Lock Configuration');
}

/** PutObjectRetention: authorized here, once the body is read, so that policies can test the retention it sets. */
export async function putObjectRetention(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  const doc = await readXml(req.body);
  const asked = doc['Retention'];
  if (asked === undefined) throw new MalformedXML();
  const modeText = token(child(asked, 'Mode'));
  const untilText = token(child(asked, 'RetainUntilDate'));
  const untilMs = untilText === undefined ? NaN : Date.parse(untilText);
  await s3.authorizeObject(ctx, req, 's3:PutObjectRetention', bucket, key, {
    's3:object-lock-mode': modeText,
    's3:object-lock-retain-until-date': untilText,
    's3:object-lock-remaining-retention-days': Number.isNaN(untilMs) ? undefined : String(Math.max(0, Math.ceil((untilMs - s3.now()) / 86_400_000))),
  });
  requireLock(b);
  const now = s3.now();
  const next = parseRetention(doc, now);
  const bypass = bypassRequested(req.headers, b);
  const o = await objectNamed(s3.db, bucket, key, versionId, 'PUT');
  // The bypass needs its permission only when the change needs the bypass.
  let bypassAllowed = false;
  try {
    checkRetentionChange(o.retention, next, false, now);
  } catch (err) {
    if (!bypass) throw err;
    await s3.authorizeObject(ctx, req, 's3:BypassGovernanceRetention', bucket, key);
    bypassAllowed = true;
  }
  await s3.db.transaction(async (tx) => {
    // Checked again as it commits: another request may have changed the retention meanwhile.
    const current = await objectNamed(tx, bucket, key, o.versionId, 'PUT');
    checkRetentionChange(current.retention, next, bypassAllowed, s3.now());
    await updateVersion(tx, bucket, key, current.versionId!, { retention: next });
  });
  return empty(200);
}

export async function getObjectRetention(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  requireLock(b);
  const o = await objectNamed(s3.db, bucket, key, s3.versionIdOf(req), 'GET');
  const ret: Retention | null | undefined = o.retention;
  if (!ret) throw new NoSuchObjectLockConfiguration();
  return xmlResponse({ Retention: { '@_xmlns': XMLNS, Mode: ret.mode, RetainUntilDate: new Date(ret.until).toISOString() } });
}

export async function putObjectLegalHold(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  const doc = await readXml(req.body);
  if (doc['LegalHold'] === undefined) throw new MalformedXML();
  requireLock(b);
  const on = parseLegalHold(doc);
  await s3.db.transaction(async (tx) => {
    const o = await objectNamed(tx, bucket, key, versionId, 'PUT');
    await updateVersion(tx, bucket, key, o.versionId!, { legalHold: on });
  });
  return empty(200);
}

export async function getObjectLegalHold(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  requireLock(b);
  const o = await objectNamed(s3.db, bucket, key, s3.versionIdOf(req), 'GET');
  if (o.legalHold === undefined) throw new NoSuchObjectLockConfiguration();
  return xmlResponse({ LegalHold: { '@_xmlns': XMLNS, Status: o.legalHold ? 'ON' : 'OFF' } });
}
