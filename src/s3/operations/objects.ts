import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { AccessDeniedError } from '../../iam/authorizer.ts';
import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { checksumHeaderName, parseChecksumAlgorithm, type ChecksumAlgorithm } from '../../wire/checksums.ts';
import type { XmlObject, XmlValue } from '../../wire/xml.ts';
import { checkObjectWriteAcl } from '../acl.ts';
import { getBucket } from '../buckets.ts';
import { s3ConditionKeys, type S3Context } from '../context.ts';
import { InvalidArgument, InvalidPartNumber, InvalidRequest, MalformedXML, NoSuchKey, PreconditionFailed } from '../errors.ts';
import { requestedChecksum } from '../integrity.ts';
import { asArray, boolText, child, empty, httpDate, isoDate, readXml, text, token, xmlResponse, XMLNS } from '../messages.ts';
import {
  checkSize,
  copySourceObject,
  etagOf,
  newObjectKey,
  plaintextStream,
  sseAudit,
  sseEchoHeaders,
  sseResponseHeaders,
  storedHeaders,
  writeBody,
} from '../object-data.ts';
import { addOrphans, getObject as findObject, putObjectRow, type ObjectRecord, type Segment, type StoredHeaders } from '../objects.ts';
import { checkConditions, matchesEtag, parseRange, writeConditions } from '../preconditions.ts';
import type { S3Route } from '../routing.ts';
import { objectArn, parseCustomerKey, parseSseHeaders, type KeyProtection, type SseRequest } from '../sse.ts';

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
  await s3.bucketOf(bucket);
  checkSize(req.headers, MAX_OBJECT);
  checkObjectWriteAcl(req.headers, s3.owner);
  const sse = parseSseHeaders(req.headers);
  const alg = requestedChecksum(req.headers);
  const { record, protection } = await writeObject(s3, ctx, {
    bucket,
    key,
    headers: storedHeaders(req.headers),
    sse,
    checksum: alg,
    body: req.body,
    conditions: writeConditions(req.headers, 'PutObject'),
  });
  return {
    status: 200,
    headers: {
      etag: `"${record.etag}"`,
      'content-length': 0,
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
}

/**
 * Write a whole object: a new object key under the request's (or the bucket's) encryption, the body streamed into an
 * encrypted blob, then the row, replacing any object of that key. Every write of a whole object goes through here.
 */
export async function writeObject(s3: S3Context, ctx: CallContext, w: ObjectWrite): Promise<{ record: ObjectRecord; protection: KeyProtection }> {
  const { bucket, key } = w;
  const b = await s3.bucketOf(bucket);
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
      await s3.blobs.delete(stored.segment.blob);
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
  await s3.bucketOf(bucket);
  const partNumber = partNumberOf(req);
  // An object's encryption is chosen when it is written: reads take only the SSE-C key (400 otherwise, as on AWS).
  for (const h of SSE_WRITE_HEADERS) {
    if (req.headers[h] !== undefined) throw new InvalidArgument(`${h} header is not supported for this operation.`, h, h === 'x-amz-server-side-encryption' ? req.headers[h] : '');
  }
  const o = await findObject(s3.db, bucket, key);
  if (!o) throw new NoSuchKey(key);
  const customer = parseCustomerKey(req.headers, '');
  s3.keys.checkCustomerKey(o.protection, customer);
  const base = { ...objectHeaders(o), ...sseResponseHeaders(o.protection, customer) };
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
  return { status, headers, body: await plaintextStream(s3, ctx, o, customer, start, end) };
}

export async function getObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  return getOrHead(s3, ctx, r, req, false);
}

export async function headObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  return getOrHead(s3, ctx, r, req, true);
}

export async function deleteObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  // A conditional delete (If-Match: an ETag, or * for "if it exists"); naming an ETag also needs s3:GetObject.
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && ifMatch.trim() !== '*') await s3.authorizeRead(ctx, req, bucket, key);
  const orphans = await s3.db.transaction(async (tx) => {
    await getBucket(tx, bucket);
    const o = await findObject(tx, bucket, key);
    if (ifMatch !== undefined) {
      if (!o) throw new NoSuchKey(key);
      if (!matchesEtag(ifMatch, o.etag)) throw new PreconditionFailed('If-Match');
    }
    if (!o) return [];
    await tx.run('DELETE FROM s3_objects WHERE bucket_name = ? AND object_key = ?', [bucket, key]);
    const blobNames = o.segments.map((s) => s.blob);
    await addOrphans(tx, blobNames, s3.now());
    return blobNames;
  });
  await s3.reap(orphans);
  return empty(204);
}

export async function deleteObjects(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  const doc = await readXml(req.body);
  const del = doc['Delete'];
  if (del === undefined) throw new MalformedXML();
  const objects = asArray(child(del, 'Object') as XmlValue[] | XmlValue | undefined);
  if (objects.length === 0) throw new MalformedXML();
  if (objects.length > 1000) throw new MalformedXML('The Delete request may name at most 1000 objects.');
  const quiet = boolText(child(del, 'Quiet'), 'Quiet') ?? false;
  // Each key needs s3:DeleteObject; checked before the transaction (checks read policies).
  const denied = new Map<string, string>();
  const bucketRecord = await s3.bucketOf(r.bucket!);
  for (const o of objects) {
    const key = text(child(o, 'Key'));
    if (!key) continue;
    const etag = token(child(o, 'ETag'));
    try {
      await ctx.authorize({ action: 's3:DeleteObject', resource: objectArn(r.bucket!, key), resourcePolicy: bucketRecord.policy, mode: 'resource-or-identity', context: s3ConditionKeys(req) });
      if (etag !== undefined && etag !== '*') await s3.authorizeRead(ctx, req, r.bucket!, key);
    } catch (err) {
      if (!(err instanceof AccessDeniedError)) throw err;
      denied.set(key, err.message);
    }
  }
  const deleted: XmlObject[] = [];
  const errors: XmlObject[] = [];
  const orphans: string[] = [];
  await s3.db.transaction(async (tx) => {
    // Start clean: on PostgreSQL the body can run again after a serialization failure.
    deleted.length = errors.length = orphans.length = 0;
    for (const o of objects) {
      const key = text(child(o, 'Key'));
      if (!key) {
        errors.push({ Key: '', Code: 'InvalidArgument', Message: 'A key is required.' });
        continue;
      }
      if (token(child(o, 'VersionId')) !== undefined && token(child(o, 'VersionId')) !== 'null') {
        errors.push({ Key: key, Code: 'NotImplemented', Message: 'Versioning is not supported.' });
        continue;
      }
      if (denied.has(key)) {
        errors.push({ Key: key, Code: 'AccessDenied', Message: denied.get(key)! });
        continue;
      }
      const existing = await findObject(tx, r.bucket!, key);
      // <ETag>: delete only if the object is the one named (or exists, for *), as If-Match does on DeleteObject.
      const etag = token(child(o, 'ETag'));
      if (etag !== undefined) {
        if (!existing) {
          errors.push({ Key: key, Code: 'NoSuchKey', Message: 'The specified key does not exist.' });
          continue;
        }
        if (!matchesEtag(etag, existing.etag)) {
          errors.push({ Key: key, Code: 'PreconditionFailed', Message: 'At least one of the pre-conditions you specified did not hold' });
          continue;
        }
      }
      if (existing) {
        await tx.run('DELETE FROM s3_objects WHERE bucket_name = ? AND object_key = ?', [r.bucket!, key]);
        orphans.push(...existing.segments.map((s) => s.blob));
      }
      if (!quiet) deleted.push({ Key: key });
    }
    await addOrphans(tx, orphans, s3.now());
  });
  await s3.reap(orphans);
  return xmlResponse({ DeleteResult: { '@_xmlns': XMLNS, Deleted: deleted, Error: errors } });
}

export async function copyObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  const b = await s3.bucketOf(bucket);
  checkObjectWriteAcl(req.headers, s3.owner);
  const { src, customer: srcCustomer } = await copySourceObject(s3, ctx, req);
  s3.touchObject(ctx, bucket, key);
  if (src.size > MAX_OBJECT) throw new InvalidRequest('The specified copy source is larger than the maximum allowable size for a copy source: 5368709120');
  const directive = (req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new InvalidArgument('Unknown metadata directive.', 'x-amz-metadata-directive', directive);
  const sse = parseSseHeaders(req.headers);
  const changesEncryption = sse.algorithm !== undefined || sse.customer !== undefined || srcCustomer !== undefined;
  if (src.bucket === bucket && src.key === key && directive === 'COPY' && !changesEncryption) {
    throw new InvalidRequest(
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const headers = directive === 'REPLACE' ? storedHeaders(req.headers) : src.headers;
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
    };
    let orphans: string[];
    try {
      orphans = await s3.db.transaction(async (tx) => {
        await getBucket(tx, bucket);
        return putObjectRow(tx, record, t);
      });
    } catch (err) {
      await s3.blobs.delete(stored.segment.blob);
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
      sseEchoHeaders(protection, sse),
    );
  } finally {
    objectKey.fill(0);
  }
}
