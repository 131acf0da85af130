import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { AccessDeniedError } from '../../iam/authorizer.ts';
import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { checksumHeaderName, parseChecksumAlgorithm, type ChecksumAlgorithm } from '../../wire/checksums.ts';
import type { XmlObject, XmlValue } from '../../wire/xml.ts';
import { checkObjectWriteAcl } from '../acl.ts';
import { getBucket, type BucketRecord } from '../buckets.ts';
import { s3ConditionKeys, type S3Context } from '../context.ts';
import { InvalidArgument, InvalidPartNumber, InvalidRequest, InvalidVersionId, MalformedXML, NoSuchKey, PreconditionFailed, VersionLocked } from '../errors.ts';
import { requestedChecksum } from '../integrity.ts';
import { asArray, boolText, child, empty, httpDate, isoDate, readXml, text, token, xmlResponse, XMLNS } from '../messages.ts';
import {
  checkSize,
  copySourceObject,
  etagOf,
  newObjectKey,
  newVersionSettings,
  plaintextBody,
  plaintextStream,
  sseAudit,
  sseEchoHeaders,
  sseResponseHeaders,
  storedHeaders,
  versionFields,
  writeBody,
  type NewVersionSettings,
} from '../object-data.ts';
import { expirationHeader, expiryOf } from '../lifecycle.ts';
import { bypassRequested, lockResponseHeaders } from '../object-lock.ts';
import {
  discardBody,
  getObject as findObject,
  getVersion,
  isVersionIdForm,
  lockedNow,
  newVersionId,
  putDeleteMarker,
  putObjectRow,
  removeVersion,
  versioningOf,
  type ObjectRecord,
  type Segment,
  type StoredHeaders,
} from '../objects.ts';
import { checkConditions, matchesEtag, parseRange, writeConditions } from '../preconditions.ts';
import type { S3Route } from '../routing.ts';
import { objectArn, parseCustomerKey, parseSseHeaders, type KeyProtection, type SseRequest } from '../sse.ts';
import { objectNamed, versionHeader } from '../versions.ts';

/** Objects: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject. */

const MAX_OBJECT = 5 * 1024 ** 3;

/** The SSE headers that choose a new object's encryption (PutObject, CopyObject, CreateMultipartUpload). */
const SSE_WRITE_HEADERS = [
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-context',
  'x-amz-server-side-encryption-bucket-key-enabled',
] as const;

export async function putObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketForData(bucket);
  checkSize(req.headers, MAX_OBJECT);
  checkObjectWriteAcl(req.headers, s3.owner);
  const sse = parseSseHeaders(req.headers);
  const alg = requestedChecksum(req.headers);
  const settings = await newVersionSettings(s3, ctx, req, b, key, { body: 'Put Object' });
  const { record, protection } = await writeObject(s3, ctx, {
    bucket,
    key,
    headers: storedHeaders(req.headers),
    sse,
    checksum: alg,
    body: req.body,
    conditions: writeConditions(req.headers, 'PutObject'),
    settings,
  });
  return {
    status: 200,
    headers: {
      etag: `"${record.etag}"`,
      'content-length': 0,
      ...versionHeader(b.versioning, record.versionId),
      ...expirationHeader(expiryOf(b.lifecycle?.rules, key, record.size, record.tags, record.lastModified, s3.lifecycleDayMs)),
      ...sseEchoHeaders(protection, sse),
      ...(record.checksum ? { [checksumHeaderName(record.checksum.algorithm)]: record.checksum.value, 'x-amz-checksum-type': 'FULL_OBJECT' } : {}),
    },
    audit: sseAudit(protection),
  };
}

/** A whole object to be written (PutObject, PostObject): where, with which headers and encryption, from which body. */
export interface ObjectWrite {
  bucket: string;
  key: string;
  headers: StoredHeaders;
  sse: SseRequest;
  /** The checksum kept with the object, computed as the body streams in. */
  checksum: ChecksumAlgorithm | undefined;
  body: Readable;
  /** If-Match / If-None-Match, checked before the write and again as it commits. */
  conditions?: ReturnType<typeof writeConditions>;
  /** The largest body accepted (EntityTooLarge past it); 5 GiB unless less. */
  limit?: number;
  /** A last check of the stored body before it becomes the object (sizes and digests a form declared); throwing discards it. */
  accept?: (stored: { size: number; md5: Buffer; checksum: string | undefined }) => void;
  /** The new version's tags and the Object Lock settings asked for (the bucket's default retention applies without). */
  settings?: NewVersionSettings;
}

/**
 * Write a whole object: a new object key under the request's (or the bucket's) encryption, the body streamed into an
 * encrypted blob, then the row: a new version of the key as the bucket's versioning says (objects.ts, putObjectRow),
 * with its tags and Object Lock settings. Every write of a whole object goes through here; the record it answers has
 * the version id.
 */
export async function writeObject(s3: S3Context, ctx: CallContext, w: ObjectWrite): Promise<{ record: ObjectRecord; protection: KeyProtection }> {
  const { bucket, key } = w;
  const b = await s3.bucketForData(bucket);
  w.conditions?.before(await findObject(s3.db, bucket, key), key);
  const uid = randomUUID();
  const { objectKey, protection } = await newObjectKey(s3, ctx, w.sse, b, key, uid);
  try {
    const stored = await writeBody(s3, objectKey, 0, w.body, w.checksum, w.limit ?? MAX_OBJECT);
    const etag = etagOf(protection, objectKey, stored.md5);
    const t = s3.now();
    const record: ObjectRecord = {
      bucket,
      key,
      uid,
      size: stored.segment.size,
      etag,
      lastModified: t,
      headers: w.headers,
      checksum: w.checksum && stored.checksum ? { algorithm: w.checksum, value: stored.checksum, type: 'FULL_OBJECT' } : null,
      protection,
      segments: [stored.segment],
      partsCount: null,
      ...versionFields(b, w.settings, t),
      ...(stored.inlineBody ? { inlineBody: stored.inlineBody } : {}),
    };
    let orphans: string[];
    try {
      w.accept?.({ size: stored.segment.size, md5: stored.md5, checksum: stored.checksum });
      orphans = await s3.db.transaction(async (tx) => {
        await getBucket(tx, bucket);
        w.conditions?.committing(await findObject(tx, bucket, key), key);
        return putObjectRow(tx, record, t);
      });
    } catch (err) {
      await discardBody(s3.blobs, stored);
      throw err;
    }
    await s3.reap(orphans);
    return { record, protection };
  } finally {
    objectKey.fill(0);
  }
}

function objectHeaders(o: ObjectRecord): Record<string, string | number> {
  const h: Record<string, string | number> = {
    'last-modified': httpDate(o.lastModified),
    etag: `"${o.etag}"`,
    'accept-ranges': 'bytes',
  };
  for (const k of ['content-type', 'content-encoding', 'content-language', 'content-disposition', 'cache-control', 'expires'] as const) {
    const v = o.headers[k];
    if (v !== undefined) h[k] = v;
  }
  for (const [k, v] of Object.entries(o.headers.metadata)) h[`x-amz-meta-${k}`] = v;
  return h;
}

/**
 * GetObject/HeadObject ?partNumber=N: the bytes of part N of a multipart object (by the part numbers it was completed
 * with), or of a whole object as its only part 1. Past the last part: 416 InvalidPartNumber.
 */
function partRange(o: ObjectRecord, n: number): { start: number; end: number; segment?: Segment } {
  if (o.partsCount === null) {
    if (n !== 1) throw new InvalidPartNumber(n, 1);
    return { start: 0, end: o.size - 1 };
  }
  let start = 0;
  for (const seg of o.segments) {
    if (seg.part === n) return { start, end: start + seg.size - 1, segment: seg };
    start += seg.size;
  }
  throw new InvalidPartNumber(n, o.partsCount);
}

/** The partNumber query parameter: an integer from 1 to 10,000, and never with a Range header. */
function partNumberOf(req: RestRequest): number | undefined {
  const v = req.query.get('partNumber');
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n < 1 || n > 10000) throw new InvalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', v);
  if (req.headers['range'] !== undefined) throw new InvalidRequest('Cannot specify both Range header and partNumber query parameter');
  return n;
}

function checksumHeaders(o: ObjectRecord, headers: Record<string, string | undefined>): Record<string, string> {
  if (!o.checksum || headers['x-amz-checksum-mode']?.toUpperCase() !== 'ENABLED') return {};
  return { [checksumHeaderName(o.checksum.algorithm)]: o.checksum.value, 'x-amz-checksum-type': o.checksum.type };
}

async function getOrHead(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest, head: boolean): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketForData(bucket);
  const versionId = s3.versionIdOf(req);
  const partNumber = partNumberOf(req);
  // An object's encryption is chosen when it is written: reads take only the SSE-C key (400 otherwise, as on AWS).
  for (const h of SSE_WRITE_HEADERS) {
    if (req.headers[h] !== undefined) throw new InvalidArgument(`${h} header is not supported for this operation.`, h, h === 'x-amz-server-side-encryption' ? req.headers[h] : '');
  }
  // A GET reads an inline object's stored blob with its row (one read, so that they belong together).
  const o = await objectNamed(s3.db, bucket, key, versionId, head ? 'HEAD' : 'GET', { body: !head });
  const customer = parseCustomerKey(req.headers, '');
  s3.keys.checkCustomerKey(o.protection, customer);
  const base = { ...objectHeaders(o), ...sseResponseHeaders(o.protection, customer), ...(await versionFacts(s3, ctx, req, b, o, versionId)) };
  if (checkConditions(req.headers, o) === 'not-modified') {
    return empty(304, { etag: base['etag']!, 'last-modified': base['last-modified']! });
  }
  const part = partNumber === undefined ? undefined : partRange(o, partNumber);
  const range = part ?? parseRange(req.headers['range'], o.size);
  for (const [q, h] of [
    ['response-content-type', 'content-type'],
    ['response-content-language', 'content-language'],
    ['response-expires', 'expires'],
    ['response-cache-control', 'cache-control'],
    ['response-content-disposition', 'content-disposition'],
    ['response-content-encoding', 'content-encoding'],
  ] as const) {
    const v = req.query.get(q);
    if (v !== undefined) base[h] = v;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? o.size - 1;
  const length = o.size === 0 ? 0 : end - start + 1;
  const headers: Record<string, string | number> = { ...base, 'content-length': length };
  // A checksum describes whole bytes: the object's (a whole-object part 1 included), or a part's own.
  if (!range || (part && !part.segment)) Object.assign(headers, checksumHeaders(o, req.headers));
  else if (part?.segment?.checksum && o.checksum) Object.assign(headers, checksumHeaders({ ...o, checksum: { ...o.checksum, value: part.segment.checksum } }, req.headers));
  if (partNumber !== undefined && o.partsCount !== null) headers['x-amz-mp-parts-count'] = o.partsCount;
  if (range && o.size > 0) headers['content-range'] = `bytes ${start}-${end}/${o.size}`;
  const status = range ? 206 : 200;
  if (head) return { status, headers };
  if (length === 0) return { status, headers, body: Buffer.alloc(0) };
  return { status, headers, body: await plaintextBody(s3, ctx, o, customer, start, end) };
}

/**
 * What GET and HEAD say of a version besides its content: its id, its tag count, its Object Lock settings (to a caller
 * allowed s3:GetObjectRetention / s3:GetObjectLegalHold, as AWS shows them) and, for the latest, when lifecycle
 * rules will expire it.
 */
async function versionFacts(s3: S3Context, ctx: CallContext, req: RestRequest, b: BucketRecord, o: ObjectRecord, versionId: string | undefined): Promise<Record<string, string>> {
  const h: Record<string, string> = { ...versionHeader(b.versioning, o.versionId) };
  if (o.tags?.length) h['x-amz-tagging-count'] = String(o.tags.length);
  if (o.retention || o.legalHold !== undefined) {
    const showRetention = o.retention ? await s3.mayObject(ctx, req, 's3:GetObjectRetention', o.bucket, o.key) : false;
    const showHold = o.legalHold !== undefined ? await s3.mayObject(ctx, req, 's3:GetObjectLegalHold', o.bucket, o.key) : false;
    Object.assign(h, lockResponseHeaders(o, showRetention, showHold));
  }
  if (versionId === undefined) Object.assign(h, expirationHeader(expiryOf(b.lifecycle?.rules, o.key, o.size, o.tags, o.lastModified, s3.lifecycleDayMs)));
  return h;
}

export async function getObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  return getOrHead(s3, ctx, r, req, false);
}

export async function headObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  return getOrHead(s3, ctx, r, req, true);
}

/**
 * DeleteObject. Without a version id: in a bucket never versioned the object goes; otherwise a delete marker becomes
 * the key's latest version (the null version it replaces goes, while versioning is suspended). With one: that version
 * goes for good, its blobs with it, unless Object Lock protects it (403, whoever asks; GOVERNANCE yields only to
 * x-amz-bypass-governance-retention with s3:BypassGovernanceRetention).
 */
export async function deleteObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  const bypass = bypassRequested(req.headers, b);
  // A conditional delete (If-Match: an ETag, or * for "if it exists"); naming an ETag also needs s3:GetObject.
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && ifMatch.trim() !== '*') await s3.authorizeRead(ctx, req, bucket, key);
  if (versionId !== undefined && versionId !== 'null' && b.versioning === null) throw new InvalidVersionId(versionId);
  const bypassAllowed = bypass && versionId !== undefined && (await bypassPermitted(s3, ctx, req, bucket, key, versionId));
  const result = await s3.db.transaction(async (tx) => {
    await getBucket(tx, bucket);
    const now = s3.now();
    if (versionId !== undefined) {
      const v = await getVersion(tx, bucket, key, versionId);
      if (ifMatch !== undefined) {
        if (!v || v.kind === 'marker') throw new NoSuchKey(key);
        if (!matchesEtag(ifMatch, v.record.etag)) throw new PreconditionFailed('If-Match');
      }
      // Nothing to delete: success all the same, so that a retried delete succeeds.
      if (!v) return { orphans: [] as string[], headers: {} };
      const orphans = await removeVersion(tx, v, now, bypassAllowed);
      return { orphans, headers: { 'x-amz-version-id': versionId, ...(v.kind === 'marker' ? { 'x-amz-delete-marker': 'true' } : {}) } };
    }
    const current = await findObject(tx, bucket, key);
    if (ifMatch !== undefined) {
      if (!current) throw new NoSuchKey(key);
      if (!matchesEtag(ifMatch, current.etag)) throw new PreconditionFailed('If-Match');
    }
    const state = await versioningOf(tx, bucket);
    if (state === null) {
      if (!current) return { orphans: [] as string[], headers: {} };
      return { orphans: await removeVersion(tx, { kind: 'object', record: current, isLatest: true, noncurrentSince: null }, now), headers: {} };
    }
    const markerId = state === 'Enabled' ? newVersionId() : 'null';
    return { orphans: await putDeleteMarker(tx, bucket, key, markerId, now), headers: { 'x-amz-delete-marker': 'true', 'x-amz-version-id': markerId } };
  });
  await s3.reap(result.orphans);
  return empty(204, result.headers);
}

/**
 * Whether a delete asking to bypass GOVERNANCE retention may: the bypass needs s3:BypassGovernanceRetention, asked
 * for only when the version is held by a GOVERNANCE retention alone (nothing else can be bypassed).
 */
async function bypassPermitted(s3: S3Context, ctx: CallContext, req: RestRequest, bucket: string, key: string, versionId: string): Promise<boolean> {
  const v = await getVersion(s3.db, bucket, key, versionId);
  const now = s3.now();
  if (!v || v.kind !== 'object' || !lockedNow(v.record, now) || lockedNow(v.record, now, true)) return false;
  await s3.authorizeObject(ctx, req, 's3:BypassGovernanceRetention', bucket, key);
  return true;
}

/** DeleteObjects: DeleteObject for each key (and version) named, each answered on its own (Deleted or Error). */
export async function deleteObjects(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const bucket = r.bucket!;
  const bucketRecord = await s3.bucketOf(bucket);
  const bypass = bypassRequested(req.headers, bucketRecord);
  const doc = await readXml(req.body);
  const del = doc['Delete'];
  if (del === undefined) throw new MalformedXML();
  const objects = asArray(child(del, 'Object') as XmlValue[] | XmlValue | undefined);
  if (objects.length === 0) throw new MalformedXML();
  if (objects.length > 1000) throw new MalformedXML('The Delete request may name at most 1000 objects.');
  const quiet = boolText(child(del, 'Quiet'), 'Quiet') ?? false;
  // Each key needs s3:DeleteObject (s3:DeleteObjectVersion for a version); checked before the transaction (checks read policies).
  const denied = new Map<string, string>();
  const bypassAllowed = new Set<string>();
  const entryId = (key: string, versionId: string | undefined) => `${versionId ?? ''}\u0000${key}`;
  for (const o of objects) {
    const key = text(child(o, 'Key'));
    if (!key) continue;
    const versionId = token(child(o, 'VersionId'));
    const etag = token(child(o, 'ETag'));
    try {
      const action = versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion';
      await ctx.authorize({ action, resource: objectArn(bucket, key), resourcePolicy: bucketRecord.policy, mode: 'resource-or-identity', context: s3ConditionKeys(req) });
      if (etag !== undefined && etag !== '*') await s3.authorizeRead(ctx, req, bucket, key);
      if (bypass && versionId !== undefined && isVersionIdForm(versionId) && (await bypassPermitted(s3, ctx, req, bucket, key, versionId))) bypassAllowed.add(entryId(key, versionId));
    } catch (err) {
      if (!(err instanceof AccessDeniedError)) throw err;
      denied.set(entryId(key, versionId), err.message);
    }
  }
  const deleted: XmlObject[] = [];
  const errors: XmlObject[] = [];
  const orphans: string[] = [];
  await s3.db.transaction(async (tx) => {
    // Start clean: on PostgreSQL the body can run again after a serialization failure.
    deleted.length = errors.length = orphans.length = 0;
    const now = s3.now();
    const state = await versioningOf(tx, bucket);
    for (const o of objects) {
      const key = text(child(o, 'Key'));
      if (!key) {
        errors.push({ Key: '', Code: 'InvalidArgument', Message: 'A key is required.' });
        continue;
      }
      const versionId = token(child(o, 'VersionId'));
      const fail = (Code: string, Message: string) => errors.push({ Key: key, ...(versionId !== undefined ? { VersionId: versionId } : {}), Code, Message });
      if (versionId !== undefined && !isVersionIdForm(versionId)) {
        fail('InvalidArgument', 'Invalid version id specified');
        continue;
      }
      if (denied.has(entryId(key, versionId))) {
        fail('AccessDenied', denied.get(entryId(key, versionId))!);
        continue;
      }
      // <ETag>: delete only if the object (version) is the one named (or exists, for *), as If-Match does on DeleteObject.
      const etag = token(child(o, 'ETag'));
      if (versionId !== undefined) {
        const v = await getVersion(tx, bucket, key, versionId);
        if (!v) {
          fail('NoSuchVersion', 'The specified version does not exist.');
          continue;
        }
        if (etag !== undefined && (v.kind === 'marker' || !matchesEtag(etag, v.record.etag))) {
          fail('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
          continue;
        }
        try {
          orphans.push(...(await removeVersion(tx, v, now, bypassAllowed.has(entryId(key, versionId)))));
        } catch (err) {
          if (!(err instanceof VersionLocked)) throw err;
          fail('AccessDenied', err.message);
          continue;
        }
        if (!quiet) deleted.push({ Key: key, VersionId: versionId, ...(v.kind === 'marker' ? { DeleteMarker: true, DeleteMarkerVersionId: versionId } : {}) });
        continue;
      }
      const existing = await findObject(tx, bucket, key);
      if (etag !== undefined) {
        if (!existing) {
          fail('NoSuchKey', 'The specified key does not exist.');
          continue;
        }
        if (!matchesEtag(etag, existing.etag)) {
          fail('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
          continue;
        }
      }
      if (state === null) {
        if (existing) orphans.push(...(await removeVersion(tx, { kind: 'object', record: existing, isLatest: true, noncurrentSince: null }, now)));
        if (!quiet) deleted.push({ Key: key });
        continue;
      }
      const markerId = state === 'Enabled' ? newVersionId() : 'null';
      try {
        orphans.push(...(await putDeleteMarker(tx, bucket, key, markerId, now)));
      } catch (err) {
        if (!(err instanceof VersionLocked)) throw err;
        fail('AccessDenied', err.message);
        continue;
      }
      if (!quiet) deleted.push({ Key: key, DeleteMarker: true, DeleteMarkerVersionId: markerId });
    }
  });
  await s3.reap(orphans);
  return xmlResponse({ DeleteResult: { '@_xmlns': XMLNS, Deleted: deleted, Error: errors } });
}

export async function copyObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  const b = await s3.bucketOf(bucket);
  checkObjectWriteAcl(req.headers, s3.owner);
  const { src, customer: srcCustomer, versionNamed, versionHeader: sourceVersionHeader } = await copySourceObject(s3, ctx, req);
  s3.touchObject(ctx, bucket, key);
  if (src.size > MAX_OBJECT) throw new InvalidRequest('The specified copy source is larger than the maximum allowable size for a copy source: 5368709120');
  const directive = (req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new InvalidArgument('Unknown metadata directive.', 'x-amz-metadata-directive', directive);
  const sse = parseSseHeaders(req.headers);
  const changesEncryption = sse.algorithm !== undefined || sse.customer !== undefined || srcCustomer !== undefined;
  // Copying a version named over its own key is how an older version is restored: it makes a new version.
  if (src.bucket === bucket && src.key === key && directive === 'COPY' && !changesEncryption && !versionNamed) {
    throw new InvalidRequest(
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const headers = directive === 'REPLACE' ? storedHeaders(req.headers) : src.headers;
  // Tags: the source's (COPY, the default) or the request's x-amz-tagging (REPLACE). Object Lock settings are never
  // copied: the new version takes the request's, or the bucket's default retention.
  const taggingDirective = (req.headers['x-amz-tagging-directive'] ?? 'COPY').toUpperCase();
  if (taggingDirective !== 'COPY' && taggingDirective !== 'REPLACE') throw new InvalidArgument('Unknown tagging directive.', 'x-amz-tagging-directive', taggingDirective);
  const settings = await newVersionSettings(s3, ctx, req, b, key, { takeTags: taggingDirective === 'REPLACE' });
  if (taggingDirective === 'COPY' && src.tags?.length) {
    await s3.authorizeObject(ctx, req, versionNamed ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', src.bucket, src.key);
    await s3.authorizeObject(ctx, req, 's3:PutObjectTagging', bucket, key);
    settings.tags = src.tags;
  }
  const declared = req.headers['x-amz-checksum-algorithm'];
  const alg = declared !== undefined ? parseChecksumAlgorithm(declared) : src.checksum?.type === 'FULL_OBJECT' ? src.checksum.algorithm : undefined;
  if (declared !== undefined && !alg) throw new InvalidRequest(`Checksum algorithm ${declared} is not supported.`);
  const uid = randomUUID();
  const body = src.size === 0 ? Readable.from([]) : await plaintextStream(s3, ctx, src, srcCustomer, 0, src.size - 1);
  const { objectKey, protection } = await newObjectKey(s3, ctx, sse, b, key, uid);
  try {
    const stored = await writeBody(s3, objectKey, 0, body, alg, MAX_OBJECT);
    const etag = etagOf(protection, objectKey, stored.md5);
    const t = s3.now();
    const record: ObjectRecord = {
      bucket,
      key,
      uid,
      size: stored.segment.size,
      etag,
      lastModified: t,
      headers,
      checksum: alg && stored.checksum ? { algorithm: alg, value: stored.checksum, type: 'FULL_OBJECT' } : null,
      protection,
      segments: [stored.segment],
      partsCount: null,
      ...versionFields(b, settings, t),
      ...(stored.inlineBody ? { inlineBody: stored.inlineBody } : {}),
    };
    let orphans: string[];
    try {
      orphans = await s3.db.transaction(async (tx) => {
        await getBucket(tx, bucket);
        return putObjectRow(tx, record, t);
      });
    } catch (err) {
      await discardBody(s3.blobs, stored);
      throw err;
    }
    await s3.reap(orphans);
    return xmlResponse(
      {
        CopyObjectResult: {
          '@_xmlns': XMLNS,
          ETag: `"${etag}"`,
          LastModified: isoDate(t),
          ...(record.checksum ? { [`Checksum${record.checksum.algorithm}`]: record.checksum.value } : {}),
        },
      },
      200,
      {
        ...versionHeader(b.versioning, record.versionId),
        ...sourceVersionHeader,
        ...expirationHeader(expiryOf(b.lifecycle?.rules, key, record.size, record.tags, record.lastModified, s3.lifecycleDayMs)),
        ...sseEchoHeaders(protection, sse),
      },
    );
  } finally {
    objectKey.fill(0);
  }
}
