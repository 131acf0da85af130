import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { checksumHeaderName, parseChecksumAlgorithm, type ChecksumAlgorithm } from '../../wire/checksums.ts';
import { AwsError } from '../../wire/errors.ts';
import type { XmlValue } from '../../wire/xml.ts';
import { checkObjectWriteAcl } from '../acl.ts';
import type { S3Context } from '../context.ts';
import { EntityTooSmall, InvalidArgument, InvalidPart, InvalidPartOrder, InvalidRange, InvalidRequest, MalformedXML, NoSuchUpload, NotImplemented } from '../errors.ts';
import { compositeChecksum, declaredObjectChecksum, requestedChecksum } from '../integrity.ts';
import { combinable, combineCrcs } from '../../wire/crc-combine.ts';
import { asArray, child, empty, isoDate, maxKeysOf, readXml, text, token, unquote, xmlResponse, XMLNS } from '../messages.ts';
import { type BucketRecord } from '../buckets.ts';
import { abortOf, expirationHeader, expiryOf } from '../lifecycle.ts';
import {
  checkSize,
  copySourceObject,
  etagOf,
  newObjectKey,
  newVersionSettings,
  plaintextStream,
  sseEchoHeaders,
  sseResponseHeaders,
  storedHeaders,
  versionFields,
  writeBody,
  type NewVersionSettings,
} from '../object-data.ts';
import { lockForNewVersion, requireIntegrity, writesLock, type LockRequest } from '../object-lock.ts';
import { versionHeader } from '../versions.ts';
import { addOrphans, getObject as findObject, getVersionFromUpload, protectionFromRow, protectionParams, putObjectRow, type ObjectRecord, type Segment, type StoredHeaders } from '../objects.ts';
import { writeConditions } from '../preconditions.ts';
import type { S3Route } from '../routing.ts';
import { parseCustomerKey, parseSseHeaders } from '../sse.ts';
import { upperBound } from './listings.ts';

/**
 * Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
 * AbortMultipartUpload, ListParts, ListMultipartUploads. An upload keeps its object key (and SSE) from the start;
 * each part is its own encrypted blob, and the completed object is the list of them.
 */

const MAX_PART = 5 * 1024 ** 3;
const MIN_PART = 5 * 1024 ** 2;
const MAX_PARTS = 10000;

interface UploadRow {
  upload_id: string;
  bucket_name: string;
  object_key: string;
  object_uid: string;
  initiated_at: number;
  headers: string;
  checksum_algorithm: string | null;
  /** COMPOSITE or FULL_OBJECT (NULL before migration 16: COMPOSITE). */
  checksum_type: string | null;
  sse: string;
  kms_key_arn: string | null;
  kms_context: string | null;
  bucket_key_id: string | null;
  service_key_id: string | null;
  wrapped_key: Buffer;
  ssec_salt: Buffer | null;
  ssec_check: Buffer | null;
  /** The completed object's tags (x-amz-tagging), JSON. */
  tags: string | null;
  /** The Object Lock settings asked for (x-amz-object-lock-*), JSON; the bucket's default retention applies at completion without. */
  object_lock: string | null;
}

/** What an upload's object will be given besides its parts: tags and Object Lock settings. */
function settingsOf(u: UploadRow): NewVersionSettings {
  return { ...(u.tags ? { tags: JSON.parse(u.tags) as NewVersionSettings['tags'] } : {}), lock: u.object_lock ? (JSON.parse(u.object_lock) as LockRequest) : {} };
}

/** x-amz-abort-date and x-amz-abort-rule-id: when a lifecycle rule will abort an upload of this key begun then. */
function abortHeaders(b: BucketRecord, key: string, initiated: number, dayMs: number): Record<string, string> {
  const a = abortOf(b.lifecycle?.rules, key, initiated, dayMs);
  return a ? { 'x-amz-abort-date': new Date(a.at).toUTCString(), 'x-amz-abort-rule-id': a.ruleId } : {};
}

interface PartRow {
  upload_id: string;
  part_number: number;
  size: number;
  etag: string;
  checksum_value: string | null;
  blob_key: string;
  salt: Buffer;
  last_modified: number;
}

async function findUpload(s3: S3Context, uploadId: string, bucket: string, key: string): Promise<UploadRow | undefined> {
  const u = await s3.db.get<UploadRow>('SELECT * FROM s3_uploads WHERE upload_id = ?', [uploadId]);
  return u && u.bucket_name === bucket && u.object_key === key ? u : undefined;
}

async function uploadOf(s3: S3Context, uploadId: string | undefined, bucket: string, key: string): Promise<UploadRow> {
  const u = uploadId ? await findUpload(s3, uploadId, bucket, key) : undefined;
  if (!u) throw new NoSuchUpload(uploadId ?? '');
  return u;
}

/** CompleteMultipartUpload's answer for the object an upload became (also to a repeated completion of it). */
function completedUpload(o: ObjectRecord, b: BucketRecord, dayMs: number): RestResponse {
  const p = o.protection;
  return xmlResponse(
    {
      CompleteMultipartUploadResult: {
        '@_xmlns': XMLNS,
        Location: `/${o.bucket}/${encodeURIComponent(o.key).replace(/%2F/g, '/')}`,
        Bucket: o.bucket,
        Key: o.key,
        ETag: `"${o.etag}"`,
        ...(o.checksum ? { [`Checksum${o.checksum.algorithm}`]: o.checksum.value, ChecksumType: o.checksum.type } : {}),
      },
    },
    200,
    {
      ...sseResponseHeaders(p),
      ...(p.kmsContext ? { 'x-amz-server-side-encryption-context': Buffer.from(p.kmsContext).toString('base64') } : {}),
      ...versionHeader(b.versioning, o.versionId),
      ...expirationHeader(expiryOf(b.lifecycle?.rules, o.key, o.size, o.tags, o.lastModified, dayMs)),
    },
  );
}

export async function createMultipartUpload(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  checkObjectWriteAcl(req.headers, s3.owner);
  const headers = storedHeaders(req.headers);
  const sse = parseSseHeaders(req.headers);
  const declared = req.headers['x-amz-checksum-algorithm'];
  const alg = declared !== undefined ? parseChecksumAlgorithm(declared) : undefined;
  if (declared !== undefined && !alg) throw new InvalidRequest(`Checksum algorithm ${declared} is not supported.`);
  const type = uploadChecksumType(alg, req.headers['x-amz-checksum-type']);
  const settings = await newVersionSettings(s3, ctx, req, b, key);
  const uploadId = randomUUID().replace(/-/g, '') + randomUUID().replace(/-/g, '');
  const uid = randomUUID();
  const { objectKey, protection } = await newObjectKey(s3, ctx, sse, b, key, uid);
  objectKey.fill(0);
  const initiated = s3.now();
  await s3.db.run(
    `INSERT INTO s3_uploads (upload_id, bucket_name, object_key, object_uid, initiated_at, headers, checksum_algorithm, checksum_type,
                             sse, kms_key_arn, kms_context, bucket_key_id, service_key_id, wrapped_key, ssec_salt, ssec_check, tags, object_lock)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      uploadId,
      bucket,
      key,
      uid,
      initiated,
      JSON.stringify(headers),
      alg ?? null,
      type ?? null,
      ...protectionParams(protection),
      settings.tags?.length ? JSON.stringify(settings.tags) : null,
      writesLock(settings.lock) ? JSON.stringify(settings.lock) : null,
    ],
  );
  return xmlResponse({ InitiateMultipartUploadResult: { '@_xmlns': XMLNS, Bucket: bucket, Key: key, UploadId: uploadId } }, 200, {
    ...abortHeaders(b, key, initiated, s3.lifecycleDayMs),
    ...sseEchoHeaders(protection, sse),
    ...(alg ? { 'x-amz-checksum-algorithm': alg, 'x-amz-checksum-type': type! } : {}),
  });
}

/**
 * A multipart upload's checksum type (x-amz-checksum-type), as AWS documents it: COMPOSITE (a checksum of the parts'
 * checksums, -N) or FULL_OBJECT (the CRC of the whole object, combined from the parts' CRCs). CRC64NVME is always
 * FULL_OBJECT, SHA-1 and SHA-256 only COMPOSITE; CRC32 and CRC32C either, COMPOSITE unless asked.
 */
function uploadChecksumType(alg: ChecksumAlgorithm | undefined, header: string | undefined): 'COMPOSITE' | 'FULL_OBJECT' | undefined {
  const asked = header?.trim().toUpperCase();
  if (asked !== undefined && asked !== 'COMPOSITE' && asked !== 'FULL_OBJECT') throw new InvalidRequest('Value for x-amz-checksum-type header is invalid.');
  if (!alg) {
    if (asked !== undefined) throw new InvalidRequest('The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
    return undefined;
  }
  const type = asked ?? (alg === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (type === 'COMPOSITE' && alg === 'CRC64NVME') throw new InvalidRequest('The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.');
  if (type === 'FULL_OBJECT' && !combinable(alg)) throw new InvalidRequest(`The FULL_OBJECT checksum type cannot be used with the ${alg.toLowerCase()} checksum algorithm.`);
  return type;
}

/** An upload's checksum type; uploads begun before types were kept are COMPOSITE. */
function typeOf(u: UploadRow): 'COMPOSITE' | 'FULL_OBJECT' | null {
  if (!u.checksum_algorithm) return null;
  return u.checksum_type === 'FULL_OBJECT' ? 'FULL_OBJECT' : 'COMPOSITE';
}

export async function uploadPart(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  return storePart(s3, ctx, r, req, false);
}

export async function uploadPartCopy(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  return storePart(s3, ctx, r, req, true);
}

/** UploadPart (the body) and UploadPartCopy (a range of another object): one part, its own encrypted blob. */
async function storePart(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest, copy: boolean): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const partText = req.query.get('partNumber');
  const partNumber = Number(partText);
  if (!partText || !/^\d+$/.test(partText) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new InvalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', partText ?? '');
  }
  const u = await uploadOf(s3, req.query.get('uploadId'), bucket, key);
  // A part of an object that will be locked (its own settings, or the bucket's default retention) needs an integrity header, as on AWS.
  if (!copy && writesLock(lockForNewVersion(b, settingsOf(u).lock, s3.now()))) requireIntegrity(req.headers, 'Put Part');
  const protection = protectionFromRow(u);
  const customer = parseCustomerKey(req.headers, '');
  s3.keys.checkCustomerKey(protection, customer, 'upload');
  const uploadAlg = (u.checksum_algorithm as ChecksumAlgorithm | null) ?? undefined;
  let body: Readable;
  let alg: ChecksumAlgorithm | undefined;
  let sourceVersion: Record<string, string> = {};
  if (copy) {
    const source = await copySourceObject(s3, ctx, req);
    const { src, customer: srcCustomer } = source;
    sourceVersion = source.versionHeader;
    let start = 0;
    let end = src.size - 1;
    const range = req.headers['x-amz-copy-source-range'];
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(range.trim());
      if (!m || Number(m[1]) > Number(m[2])) {
        throw new InvalidArgument('The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', 'x-amz-copy-source-range', range);
      }
      // Well formed, but outside the source: as a ranged GET past the end answers.
      if (Number(m[2]) >= src.size) throw new InvalidRange(src.size, range.trim());
      start = Number(m[1]);
      end = Number(m[2]);
    }
    if (end - start + 1 > MAX_PART) throw new InvalidRequest('The specified copy range is larger than the maximum allowable size for a copy source: 5368709120');
    body = end < start ? Readable.from([]) : await plaintextStream(s3, ctx, src, srcCustomer, start, end);
    alg = uploadAlg;
  } else {
    checkSize(req.headers, MAX_PART);
    const sent = requestedChecksum(req.headers);
    if (uploadAlg && sent && sent !== uploadAlg) {
      throw new InvalidRequest(`Checksum Type mismatch occurred, expected checksum Type: ${uploadAlg.toLowerCase()}, actual checksum Type: ${sent.toLowerCase()}`);
    }
    alg = uploadAlg ?? sent;
    body = req.body;
  }
  const objectKey = await s3.keys.open(ctx, protection, bucket, key, u.object_uid, customer);
  let stored: Awaited<ReturnType<typeof writeBody>>;
  let etag: string;
  try {
    stored = await writeBody(s3, objectKey, partNumber, body, alg, MAX_PART);
    etag = etagOf(protection, objectKey, stored.md5);
  } finally {
    objectKey.fill(0);
  }
  const t = s3.now();
  const replaced = await s3.db
    .transaction(async (tx) => {
      const still = await tx.get('SELECT 1 AS x FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
      if (!still) throw new NoSuchUpload(u.upload_id);
      const old = await tx.get<{ blob_key: string }>('SELECT blob_key FROM s3_parts WHERE upload_id = ? AND part_number = ?', [u.upload_id, partNumber]);
      if (old) await tx.run('DELETE FROM s3_parts WHERE upload_id = ? AND part_number = ?', [u.upload_id, partNumber]);
      await tx.run('INSERT INTO s3_parts (upload_id, part_number, size, etag, checksum_value, blob_key, salt, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        u.upload_id,
        partNumber,
        stored.segment.size,
        etag,
        uploadAlg ? (stored.checksum ?? null) : null,
        stored.segment.blob,
        Buffer.from(stored.segment.salt, 'base64'),
        t,
      ]);
      const names = old ? [old.blob_key] : [];
      await addOrphans(tx, names, t);
      return names;
    })
    .catch(async (err: unknown) => {
      await s3.blobs.delete(stored.segment.blob);
      throw err;
    });
  await s3.reap(replaced);
  const checksumHeader = alg && stored.checksum ? { [checksumHeaderName(alg)]: stored.checksum } : {};
  if (copy) {
    return xmlResponse(
      { CopyPartResult: { '@_xmlns': XMLNS, ETag: `"${etag}"`, LastModified: isoDate(t), ...(alg && stored.checksum ? { [`Checksum${alg}`]: stored.checksum } : {}) } },
      200,
      { ...sseResponseHeaders(protection, customer), ...sourceVersion },
    );
  }
  return { status: 200, headers: { etag: `"${etag}"`, 'content-length': 0, ...sseResponseHeaders(protection, customer), ...checksumHeader } };
}

export async function completeMultipartUpload(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const uploadId = req.query.get('uploadId');
  const u = uploadId ? await findUpload(s3, uploadId, bucket, key) : undefined;
  if (!u) {
    // A retry of a completion whose answer was lost: the object (version) it made is still there, so it is the answer.
    const done = uploadId ? await getVersionFromUpload(s3.db, bucket, key, uploadId) : undefined;
    if (done) return completedUpload(done, b, s3.lifecycleDayMs);
    throw new NoSuchUpload(uploadId ?? '');
  }
  const alg = u.checksum_algorithm as ChecksumAlgorithm | null;
  const type = typeOf(u);
  const declared = declaredObjectChecksum(req.headers, alg, type);
  const declaredSize = req.headers['x-amz-mp-object-size'];
  if (declaredSize !== undefined && !/^\d{1,16}$/.test(declaredSize.trim())) throw new InvalidRequest('Value for x-amz-mp-object-size header is invalid.');
  const conditions = writeConditions(req.headers, 'CompleteMultipartUpload');
  conditions?.before(await findObject(s3.db, bucket, key), key);
  const doc = await readXml(req.body);
  const listed = asArray(child(doc['CompleteMultipartUpload'], 'Part') as XmlValue[] | XmlValue | undefined).map((p) => {
    const n = Number(token(child(p, 'PartNumber')));
    const etag = text(child(p, 'ETag'));
    if (!Number.isInteger(n) || etag === undefined) throw new MalformedXML();
    const checksums: Record<string, string> = {};
    for (const a of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256']) {
      const v = token(child(p, `Checksum${a}`));
      if (v !== undefined) checksums[a] = v;
    }
    return { n, etag: unquote(etag), checksums };
  });
  if (listed.length === 0) throw new MalformedXML('You must specify at least one part');
  for (let i = 1; i < listed.length; i++) if (listed[i]!.n <= listed[i - 1]!.n) throw new InvalidPartOrder();
  const parts = await s3.db.all<PartRow>('SELECT * FROM s3_parts WHERE upload_id = ? ORDER BY part_number', [u.upload_id]);
  const byNumber = new Map(parts.map((p) => [Number(p.part_number), p]));
  const chosen: PartRow[] = [];
  listed.forEach((l, i) => {
    const p = byNumber.get(l.n);
    if (!p || p.etag !== l.etag) throw new InvalidPart();
    if (alg && l.checksums[alg] !== undefined && p.checksum_value !== l.checksums[alg]) throw new InvalidPart(`The ${alg} checksum of part ${l.n} does not match the part's checksum.`);
    if (i < listed.length - 1 && Number(p.size) < MIN_PART) throw new EntityTooSmall();
    chosen.push(p);
  });
  const md5s = Buffer.concat(chosen.map((p) => Buffer.from(p.etag, 'hex')));
  const etag = `${createHash('md5').update(md5s).digest('hex')}-${chosen.length}`;
  const partChecksums = chosen.map((p) => p.checksum_value);
  const size = chosen.reduce((n, p) => n + Number(p.size), 0);
  if (declaredSize !== undefined && Number(declaredSize.trim()) !== size) {
    throw new InvalidRequest(`The provided 'x-amz-mp-object-size' header value ${declaredSize.trim()} does not match the size of the object, ${size}.`);
  }
  let checksum: ObjectRecord['checksum'] = null;
  if (alg && partChecksums.every((c): c is string => c !== null)) {
    checksum =
      type === 'FULL_OBJECT'
        ? { algorithm: alg, value: combineCrcs(alg, chosen.map((p) => ({ crc: Buffer.from(p.checksum_value!, 'base64'), length: Number(p.size) }))).toString('base64'), type }
        : { algorithm: alg, value: compositeChecksum(alg, partChecksums), type: 'COMPOSITE' };
  }
  if (declared && !(checksum && declared.matches(checksum.value))) {
    throw new AwsError('BadDigest', 400, `The ${declared.algorithm.toLowerCase()} you specified did not match the calculated checksum.`);
  }
  const segments: Segment[] = chosen.map((p) => ({
    blob: p.blob_key,
    size: Number(p.size),
    salt: p.salt.toString('base64'),
    part: Number(p.part_number),
    ...(p.checksum_value ? { checksum: p.checksum_value } : {}),
  }));
  const t = s3.now();
  const record: ObjectRecord = {
    bucket,
    key,
    uid: u.object_uid,
    size,
    etag,
    lastModified: t,
    headers: JSON.parse(u.headers) as StoredHeaders,
    checksum,
    protection: protectionFromRow(u),
    segments,
    partsCount: chosen.length,
    uploadId: u.upload_id,
    ...versionFields(b, settingsOf(u), t),
  };
  const used = new Set(chosen.map((p) => p.blob_key));
  const orphans = await s3.db.transaction(async (tx) => {
    // The upload may have been completed (by this request's twin) or aborted meanwhile: only one of them wins.
    const still = await tx.get('SELECT 1 AS x FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
    if (!still) {
      if (await getVersionFromUpload(tx, bucket, key, u.upload_id)) return 'completed';
      throw new NoSuchUpload(u.upload_id);
    }
    const current = await tx.all<{ blob_key: string }>('SELECT blob_key FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
    for (const c of chosen) if (!current.some((x) => x.blob_key === c.blob_key)) throw new InvalidPart();
    conditions?.committing(await findObject(tx, bucket, key), key);
    const replaced = await putObjectRow(tx, record, t);
    const unused = current.map((c) => c.blob_key).filter((k) => !used.has(k));
    await tx.run('DELETE FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
    await tx.run('DELETE FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
    await addOrphans(tx, unused, t);
    return [...replaced, ...unused];
  });
  if (orphans === 'completed') {
    const done = await getVersionFromUpload(s3.db, bucket, key, u.upload_id);
    if (!done) throw new NoSuchUpload(u.upload_id);
    return completedUpload(done, b, s3.lifecycleDayMs);
  }
  await s3.reap(orphans);
  return completedUpload(record, b, s3.lifecycleDayMs);
}

export async function abortMultipartUpload(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  await s3.bucketOf(bucket);
  const u = await uploadOf(s3, req.query.get('uploadId'), bucket, key);
  const orphans = await s3.db.transaction(async (tx) => {
    const parts = await tx.all<{ blob_key: string }>('SELECT blob_key FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
    const r2 = await tx.run('DELETE FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
    if (r2.changes === 0) throw new NoSuchUpload(u.upload_id);
    await tx.run('DELETE FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
    const names = parts.map((p) => p.blob_key);
    await addOrphans(tx, names, s3.now());
    return names;
  });
  await s3.reap(orphans);
  return empty(204);
}

export async function listParts(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const u = await uploadOf(s3, req.query.get('uploadId'), bucket, key);
  const marker = Number(req.query.get('part-number-marker') ?? '0');
  if (!Number.isInteger(marker) || marker < 0) throw new InvalidArgument('Provided part-number-marker not an integer or within integer range', 'part-number-marker', String(req.query.get('part-number-marker')));
  const max = maxKeysOf(req, 'max-parts');
  const rows = await s3.db.all<PartRow>('SELECT * FROM s3_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?', [u.upload_id, marker, max + 1]);
  const shown = rows.slice(0, max);
  const truncated = rows.length > max;
  const alg = u.checksum_algorithm;
  const owner = s3.owner;
  return xmlResponse({
    ListPartsResult: {
      '@_xmlns': XMLNS,
      Bucket: bucket,
      Key: key,
      UploadId: u.upload_id,
      Initiator: { ID: owner.ID, DisplayName: owner.DisplayName },
      Owner: owner,
      StorageClass: 'STANDARD',
      PartNumberMarker: marker,
      ...(shown.length ? { NextPartNumberMarker: Number(shown[shown.length - 1]!.part_number) } : {}),
      MaxParts: max,
      IsTruncated: truncated,
      ...(alg ? { ChecksumAlgorithm: alg, ChecksumType: typeOf(u)! } : {}),
      Part: shown.map((p) => ({
        PartNumber: Number(p.part_number),
        LastModified: isoDate(Number(p.last_modified)),
        ETag: `"${p.etag}"`,
        Size: Number(p.size),
        ...(alg && p.checksum_value ? { [`Checksum${alg}`]: p.checksum_value } : {}),
      })),
    },
  }, 200, abortHeaders(b, key, Number(u.initiated_at), s3.lifecycleDayMs));
}

export async function listMultipartUploads(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  const prefix = req.query.get('prefix') ?? '';
  const keyMarker = req.query.get('key-marker') ?? '';
  const uploadIdMarker = req.query.get('upload-id-marker') ?? '';
  const max = maxKeysOf(req, 'max-uploads');
  if (req.query.get('delimiter')) throw new NotImplemented('delimiter on ListMultipartUploads');
  const hi = upperBound(prefix);
  const rows = await s3.db.all<UploadRow>(
    `SELECT * FROM s3_uploads WHERE bucket_name = ? AND object_key >= ? ${hi !== undefined ? 'AND object_key < ?' : ''}
       AND (object_key > ? OR (object_key = ? AND (initiated_at || ':' || upload_id) > ?))
     ORDER BY object_key, initiated_at, upload_id LIMIT ?`,
    [
      r.bucket!,
      prefix,
      ...(hi !== undefined ? [hi] : []),
      keyMarker,
      keyMarker,
      uploadIdMarker ? `${(await s3.db.get<{ initiated_at: number }>('SELECT initiated_at FROM s3_uploads WHERE upload_id = ?', [uploadIdMarker]))?.initiated_at ?? ''}:${uploadIdMarker}` : '\uffff',
      max + 1,
    ],
  );
  const shown = rows.slice(0, max);
  const truncated = rows.length > max;
  const lastShown = shown[shown.length - 1];
  const owner = s3.owner;
  return xmlResponse({
    ListMultipartUploadsResult: {
      '@_xmlns': XMLNS,
      Bucket: r.bucket!,
      KeyMarker: keyMarker,
      UploadIdMarker: uploadIdMarker,
      ...(truncated && lastShown ? { NextKeyMarker: lastShown.object_key, NextUploadIdMarker: lastShown.upload_id } : {}),
      Prefix: prefix,
      MaxUploads: max,
      IsTruncated: truncated,
      Upload: shown.map((u) => ({
        Key: u.object_key,
        UploadId: u.upload_id,
        Initiator: { ID: owner.ID, DisplayName: owner.DisplayName },
        Owner: owner,
        StorageClass: 'STANDARD',
        Initiated: isoDate(Number(u.initiated_at)),
        ...(u.checksum_algorithm ? { ChecksumAlgorithm: u.checksum_algorithm, ChecksumType: typeOf(u)! } : {}),
      })),
    },
  });
}
