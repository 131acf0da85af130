import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { hkdfSha256 } from '../crypto/hkdf.ts';
import type { CallContext, RestRequest } from '../server/service.ts';
import type { ChecksumAlgorithm } from '../wire/checksums.ts';
import { AwsError } from '../wire/errors.ts';
import type { BucketRecord } from './buckets.ts';
import { s3ConditionKeys, type S3Context } from './context.ts';
import { EntityTooLarge, InvalidArgument, InvalidRequest, InvalidVersionId, NoSuchKey, NoSuchVersion } from './errors.ts';
import { lockForNewVersion, lockHeaders, requireIntegrity, writesLock, type LockRequest } from './object-lock.ts';
import { BodyLimitExceeded, getLatestVersion, getVersion, INLINE_MAX, isVersionIdForm, readSegments, tagsOfVersion, writeBlob, type ObjectRecord, type StoredBody, type StoredHeaders, type Tag } from './objects.ts';
import { PackageIntegrityError } from './packages.ts';
import { checkConditions } from './preconditions.ts';
import { objectArn, parseCustomerKey, type BucketEncryption, type CustomerKey, type KeyProtection, type SseRequest } from './sse.ts';
import { existingTagKeys, headerTags } from './tagging.ts';
import { versionHeader } from './versions.ts';

/**
 * Object bodies as requests write and read them (PutObject, CopyObject, UploadPart, UploadPartCopy, GetObject):
 * the headers kept with an object, new object keys under the request's SSE, bodies into encrypted blobs and
 * plaintext back out, ETags, the SSE headers of responses, and a copy's source.
 */

/** Standard headers and user metadata a write keeps with the object. */
export function storedHeaders(headers: Record<string, string | undefined>): StoredHeaders {
  const out: StoredHeaders = { metadata: {} };
  const copy = ['content-type', 'content-language', 'content-disposition', 'cache-control', 'expires'] as const;
  for (const h of copy) {
    const v = headers[h];
    if (v !== undefined) out[h] = v;
  }
  const enc = headers['content-encoding']
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s && s.toLowerCase() !== 'aws-chunked')
    .join(',');
  if (enc) out['content-encoding'] = enc;
  out['content-type'] ??= 'binary/octet-stream';
  let metaBytes = 0;
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('x-amz-meta-') && v !== undefined) {
      const name = k.slice('x-amz-meta-'.length);
      out.metadata[name] = v;
      metaBytes += name.length + Buffer.byteLength(v);
    }
  }
  if (metaBytes > 2048) throw new AwsError('MetadataTooLarge', 400, 'Your metadata headers exceed the maximum allowed metadata size.', { MaxSizeAllowed: '2048' });
  return out;
}

function bodyLength(headers: Record<string, string | undefined>): number | undefined {
  const v = headers['x-amz-decoded-content-length'] ?? headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** A body's declared length: at most `max` (EntityTooLarge), and declared at all (MissingContentLength). */
export function checkSize(headers: Record<string, string | undefined>, max: number): void {
  const n = bodyLength(headers);
  if (n !== undefined && n > max) throw new EntityTooLarge(max);
  if (n === undefined && headers['transfer-encoding'] === undefined && headers['content-length'] === undefined) {
    throw new AwsError('MissingContentLength', 411, 'You must provide the Content-Length HTTP header.');
  }
}

/** ETag of an object part or whole object: the MD5 for SSE-S3 (as on AWS); for SSE-KMS and SSE-C a value keyed by the object key, never a plaintext digest. */
export function etagOf(p: KeyProtection, objectKey: Buffer, md5: Buffer): string {
  if (p.sse === 'AES256') return md5.toString('hex');
  const k = hkdfSha256(objectKey, Buffer.alloc(0), Buffer.from('trent:s3:etag'), 32);
  try {
    return createHash('md5').update(k).update(md5).digest('hex');
  } finally {
    k.fill(0);
  }
}

/**
 * Run a body into a new encrypted blob, mapping stream failures to S3's errors. A whole object (part 0) of at most
 * INLINE_MAX bytes comes back sealed in memory (`inlineBody`), to be stored in its row; anything else goes to the blob store.
 */
export async function writeBody(s3: S3Context, objectKey: Buffer, part: number, body: Readable, alg: ChecksumAlgorithm | undefined, limit: number): Promise<StoredBody> {
  try {
    return await writeBlob(s3.blobs, objectKey, part, body, alg, limit, { inlineMax: INLINE_MAX });
  } catch (err) {
    if (err instanceof BodyLimitExceeded) throw new EntityTooLarge(err.limit);
    throw err;
  }
}

/** The stored blob of an inline object read without it: by its unique id. A version removed meanwhile reads as missing. */
async function inlineBodyOf(s3: S3Context, o: ObjectRecord): Promise<Buffer | undefined> {
  if (o.inlineBody || !o.segments.some((seg) => seg.inline)) return o.inlineBody;
  const row = await s3.db.get<{ inline_body: Buffer | null }>('SELECT inline_body FROM s3_objects WHERE object_uid = ?', [o.uid]);
  if (!row?.inline_body) throw new NoSuchKey(o.key);
  return row.inline_body;
}

/**
 * Plaintext of an object's range: for an inline object, decrypted at once into one buffer; otherwise a stream whose
 * first package is checked before any header is sent.
 */
export async function plaintextBody(s3: S3Context, ctx: CallContext, o: ObjectRecord, customer: CustomerKey | undefined, start: number, end: number): Promise<Buffer | Readable> {
  if (o.segments.length === 1 && o.segments[0]!.inline) {
    const stored = await inlineBodyOf(s3, o);
    const objectKey = await s3.keys.open(ctx, o.protection, o.bucket, o.key, o.uid, customer);
    try {
      const parts: Buffer[] = [];
      for await (const chunk of readSegments(s3.blobs, objectKey, o.segments, start, end, stored)) parts.push(chunk);
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    } catch (err) {
      throw integrityFailure(s3, err, o);
    } finally {
      objectKey.fill(0);
    }
  }
  return plaintextStream(s3, ctx, o, customer, start, end);
}

/** Plaintext of an object's range as a stream; the first package is checked before any header is sent. */
export async function plaintextStream(s3: S3Context, ctx: CallContext, o: ObjectRecord, customer: CustomerKey | undefined, start: number, end: number): Promise<Readable> {
  const stored = await inlineBodyOf(s3, o);
  const objectKey = await s3.keys.open(ctx, o.protection, o.bucket, o.key, o.uid, customer);
  const gen = readSegments(s3.blobs, objectKey, o.segments, start, end, stored);
  let first: IteratorResult<Buffer>;
  try {
    first = await gen.next();
  } catch (err) {
    objectKey.fill(0);
    throw integrityFailure(s3, err, o);
  }
  const log = s3.log;
  return Readable.from(
    (async function* () {
      try {
        for (let next = first; !next.done; ) {
          // A client that stops reading ends the stream at this yield; that is no failure of the object.
          yield next.value;
          try {
            next = await gen.next();
          } catch (err) {
            if (err instanceof PackageIntegrityError) log.error({ bucket: o.bucket, err: err.message }, 'object failed its integrity check while streaming');
            else log.warn({ bucket: o.bucket, err: (err as Error).message }, 'object could not be read from the blob store while streaming');
            throw err;
          }
        }
      } finally {
        await gen.return(undefined);
        objectKey.fill(0);
      }
    })(),
    { objectMode: false },
  );
}

function integrityFailure(s3: S3Context, err: unknown, o: ObjectRecord): unknown {
  if (err instanceof PackageIntegrityError) {
    s3.log.error({ bucket: o.bucket, err: err.message }, 'object failed its integrity check');
    return new AwsError('InternalError', 500, 'The stored object failed its integrity check and cannot be returned.');
  }
  return err;
}

async function bucketEncryptionOf(bucket: BucketRecord): Promise<BucketEncryption | null> {
  return bucket.encryption;
}

/** The destination encryption of a write, with SSE-C and the bucket default applied. */
export async function newObjectKey(s3: S3Context, ctx: CallContext, sse: SseRequest, bucket: BucketRecord, key: string, uid: string) {
  return s3.keys.create(ctx, s3.keys.effective(sse, await bucketEncryptionOf(bucket)), bucket.name, key, uid);
}

/** The SSE headers of a response about an object (or part) under this protection. */
export function sseResponseHeaders(p: KeyProtection, customer?: CustomerKey): Record<string, string> {
  if (p.sse === 'SSE-C') {
    return {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      ...(customer ? { 'x-amz-server-side-encryption-customer-key-md5': customer.md5 } : {}),
    };
  }
  if (p.sse === 'aws:kms') {
    return {
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': p.kmsKeyArn!,
      ...(p.bucketKeyId ? { 'x-amz-server-side-encryption-bucket-key-enabled': 'true' } : {}),
    };
  }
  return { 'x-amz-server-side-encryption': 'AES256' };
}

/** A write's SSE response headers, with the caller's encryption context echoed. */
export function sseEchoHeaders(p: KeyProtection, sse: SseRequest): Record<string, string> {
  const h = sseResponseHeaders(p, sse.customer);
  if (p.kmsContext) h['x-amz-server-side-encryption-context'] = Buffer.from(p.kmsContext).toString('base64');
  return h;
}

/** What a write's event shows of its encryption (responseElements). */
export function sseAudit(p: KeyProtection): Record<string, unknown> {
  if (p.sse === 'SSE-C') return { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' };
  if (p.sse === 'aws:kms') {
    return {
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': p.kmsKeyArn,
      ...(p.bucketKeyId ? { 'x-amz-server-side-encryption-bucket-key-enabled': 'true' } : {}),
    };
  }
  return { 'x-amz-server-side-encryption': 'AES256' };
}

/** Copy source: `bucket/key` (URL-encoded, optional leading slash, optional ?versionId=). */
function copySource(value: string): { bucket: string; key: string; versionId?: string } {
  let v = value.trim();
  let versionId: string | undefined;
  const q = v.indexOf('?');
  if (q >= 0) {
    const params = new URLSearchParams(v.slice(q + 1));
    const version = params.get('versionId');
    if (version !== null) {
      if (!isVersionIdForm(version)) throw new InvalidVersionId(version);
      versionId = version;
    }
    v = v.slice(0, q);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(v);
  } catch {
    throw new InvalidArgument('Invalid copy source encoding', 'x-amz-copy-source', value);
  }
  if (decoded.startsWith('/')) decoded = decoded.slice(1);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw new InvalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', value);
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), ...(versionId !== undefined ? { versionId } : {}) };
}

/** The source of a copy: the object (the version named, or the latest), its SSE-C key, and x-amz-copy-source-version-id. */
export interface CopySource {
  src: ObjectRecord;
  customer: CustomerKey | undefined;
  /** Whether the copy source named a version. */
  versionNamed: boolean;
  /** The response's x-amz-copy-source-version-id (for a source bucket that has or had versioning). */
  versionHeader: Record<string, string>;
}

/**
 * The object x-amz-copy-source names (CopyObject, UploadPartCopy): s3:GetObject on it (s3:GetObjectVersion for a
 * version named), its SSE-C key, its conditions. A delete marker named by version cannot be copied (400), and a key
 * whose latest version is one reads as missing (404).
 */
export async function copySourceObject(s3: S3Context, ctx: CallContext, req: RestRequest): Promise<CopySource> {
  const { bucket, key, versionId } = copySource(req.headers['x-amz-copy-source']!);
  const srcBucket = await s3.bucketOf(bucket);
  const action = versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion';
  const tags = await tagsOfVersion(s3.db, bucket, key, versionId);
  await ctx.authorize({ action, resource: objectArn(bucket, key), resourcePolicy: srcBucket.policy, mode: 'resource-or-identity', context: { ...s3ConditionKeys(req), ...existingTagKeys(tags) } });
  const v = versionId === undefined ? await getLatestVersion(s3.db, bucket, key, { body: true }) : await getVersion(s3.db, bucket, key, versionId, { body: true });
  if (!v) throw versionId === undefined ? new NoSuchKey(key) : new NoSuchVersion(key, versionId);
  if (v.kind === 'marker') {
    if (versionId !== undefined) throw new InvalidRequest('The source of a copy request may not specifically refer to a delete marker by version id.');
    throw new NoSuchKey(key);
  }
  const src = v.record;
  s3.touchObject(ctx, bucket, key);
  const customer = parseCustomerKey(req.headers, 'copy-source-');
  s3.keys.checkCustomerKey(src.protection, customer);
  checkConditions(req.headers, src, 'x-amz-copy-source-');
  return { src, customer, versionNamed: versionId !== undefined, versionHeader: copyVersionHeader(srcBucket.versioning, src.versionId) };
}

function copyVersionHeader(versioning: BucketRecord['versioning'], versionId: string | undefined): Record<string, string> {
  const h = versionHeader(versioning, versionId);
  return h['x-amz-version-id'] !== undefined ? { 'x-amz-copy-source-version-id': h['x-amz-version-id'] } : {};
}

/** What a write of a new version (PutObject, CopyObject, CreateMultipartUpload) asks for besides its body: tags and Object Lock settings. */
export interface NewVersionSettings {
  tags?: Tag[];
  lock: LockRequest;
}

/**
 * The tags (x-amz-tagging) and Object Lock settings (x-amz-object-lock-*) a write asks for, each with the permission AWS
 * asks for it (s3:PutObjectTagging, s3:PutObjectRetention, s3:PutObjectLegalHold), and, for a write of a body that takes
 * a lock (its own or the bucket's default retention), the integrity header S3 requires. All before the body is read.
 */
export async function newVersionSettings(
  s3: S3Context,
  ctx: CallContext,
  req: RestRequest,
  b: BucketRecord,
  key: string,
  opts: { body?: 'Put Object'; takeTags?: boolean } = {},
): Promise<NewVersionSettings> {
  const now = s3.now();
  const lock = lockHeaders(req.headers, now);
  const tags = opts.takeTags === false ? undefined : headerTags(req.headers);
  const effective = lockForNewVersion(b, lock, now);
  if (lock.retention) await s3.authorizeObject(ctx, req, 's3:PutObjectRetention', b.name, key);
  if (lock.legalHold !== undefined) await s3.authorizeObject(ctx, req, 's3:PutObjectLegalHold', b.name, key);
  if (tags !== undefined) await s3.authorizeObject(ctx, req, 's3:PutObjectTagging', b.name, key);
  if (opts.body && writesLock(effective)) requireIntegrity(req.headers, opts.body);
  return { ...(tags !== undefined ? { tags } : {}), lock };
}

/** A new version's tags and Object Lock fields (the bucket's default retention counted from `now` when none is asked for). */
export function versionFields(b: BucketRecord, settings: NewVersionSettings | undefined, now: number): Pick<ObjectRecord, 'tags' | 'retention' | 'legalHold'> {
  const lock = lockForNewVersion(b, settings?.lock ?? {}, now);
  return {
    ...(settings?.tags && settings.tags.length ? { tags: settings.tags } : {}),
    ...(lock.retention ? { retention: lock.retention } : {}),
    ...(lock.legalHold !== undefined ? { legalHold: lock.legalHold } : {}),
  };
}
