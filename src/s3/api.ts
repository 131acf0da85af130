import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { hkdfSha256 } from '../crypto/hkdf.ts';
import type { CallContext, RestRequest, RestResponse, RestXmlService } from '../server/service.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Database, Queryable } from '../store/database.ts';
import { AwsError } from '../wire/errors.ts';
import { algorithmForHeader, checksumHeaderName, createChecksummer, isValidBase64Checksum, parseChecksumAlgorithm, type ChecksumAlgorithm } from '../wire/checksums.ts';
import { checkDeclaredForms } from '../wire/body-verifier.ts';
import { buildXml, parseXml, type XmlObject, type XmlValue } from '../wire/xml.ts';
import { BLOCK_ALL, checkBucketName, findBucket, getBucket, listBuckets, setBucketField, type BucketRecord, type PublicAccessBlock } from './buckets.ts';
import {
  AccessDenied,
  BucketAlreadyOwnedByYou,
  BucketNotEmpty,
  ConditionalRequestConflict,
  EntityTooLarge,
  EntityTooSmall,
  InvalidArgument,
  InvalidPart,
  InvalidPartOrder,
  InvalidRange,
  InvalidRequest,
  MalformedACLError,
  MalformedXML,
  NoSuchBucketPolicy,
  NoSuchKey,
  NoSuchPublicAccessBlockConfiguration,
  NoSuchTagSet,
  NoSuchUpload,
  NotImplemented,
  PreconditionFailed,
} from './errors.ts';
import {
  addOrphans,
  BodyLimitExceeded,
  getObject,
  protectionFromRow,
  protectionParams,
  putObjectRow,
  readSegments,
  writeBlob,
  type ObjectRecord,
  type Segment,
  type StoredHeaders,
} from './objects.ts';
import { PackageIntegrityError } from './packages.ts';
import { route, type S3Route } from './routing.ts';
import { AccessDeniedError, InvalidPrincipalError, type Authorizer } from '../iam/authorizer.ts';
import { canonicalUserId, checkCreateBucketAcl, checkObjectWriteAcl, checkPutAcl, ownerAcl, type Owner } from './acl.ts';
import { objectArn, parseCustomerKey, parseSseHeaders, type BucketEncryption, type CustomerKey, type KeyProtection, type ObjectKeys, type SseRequest } from './sse.ts';

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MAX_OBJECT = 5 * 1024 ** 3;
const MAX_PART = 5 * 1024 ** 3;
const MIN_PART = 5 * 1024 ** 2;
const MAX_PARTS = 10000;
const MAX_XML_BODY = 4 * 1024 * 1024;

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
}

/** The IAM action each S3 operation needs (DeleteObjects is checked per key; copies also need s3:GetObject on the source). */
const ACTIONS: Record<string, string> = {
  ListBuckets: 's3:ListAllMyBuckets',
  CreateBucket: 's3:CreateBucket',
  HeadBucket: 's3:ListBucket',
  DeleteBucket: 's3:DeleteBucket',
  GetBucketLocation: 's3:GetBucketLocation',
  GetBucketAcl: 's3:GetBucketAcl',
  PutBucketAcl: 's3:PutBucketAcl',
  GetObjectAcl: 's3:GetObjectAcl',
  PutObjectAcl: 's3:PutObjectAcl',
  PutBucketEncryption: 's3:PutEncryptionConfiguration',
  GetBucketEncryption: 's3:GetEncryptionConfiguration',
  DeleteBucketEncryption: 's3:PutEncryptionConfiguration',
  PutBucketPolicy: 's3:PutBucketPolicy',
  GetBucketPolicy: 's3:GetBucketPolicy',
  GetBucketPolicyStatus: 's3:GetBucketPolicyStatus',
  DeleteBucketPolicy: 's3:DeleteBucketPolicy',
  PutPublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  GetPublicAccessBlock: 's3:GetBucketPublicAccessBlock',
  DeletePublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  PutBucketTagging: 's3:PutBucketTagging',
  GetBucketTagging: 's3:GetBucketTagging',
  DeleteBucketTagging: 's3:PutBucketTagging',
  GetBucketVersioning: 's3:GetBucketVersioning',
  PutBucketVersioning: 's3:PutBucketVersioning',
  ListObjects: 's3:ListBucket',
  ListObjectsV2: 's3:ListBucket',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
  PutObject: 's3:PutObject',
  CopyObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  UploadPartCopy: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  DeleteObject: 's3:DeleteObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  ListParts: 's3:ListMultipartUploadParts',
};

/** The SSE headers that choose a new object's encryption (PutObject, CopyObject, CreateMultipartUpload). */
const SSE_WRITE_HEADERS = [
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-context',
  'x-amz-server-side-encryption-bucket-key-enabled',
] as const;

/** S3's condition keys from the request. */
function s3Context(req: Pick<RestRequest, 'headers' | 'query'>): Record<string, string | undefined> {
  return {
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

/** S3 operations whose CloudTrail events are data events (object-level), not management events. */
const DATA_EVENTS = new Set([
  'GetObject', 'HeadObject', 'PutObject', 'DeleteObject', 'DeleteObjects', 'CopyObject', 'CreateMultipartUpload', 'UploadPart', 'UploadPartCopy',
  'CompleteMultipartUpload', 'AbortMultipartUpload', 'ListParts', 'ListObjects', 'ListObjectsV2', 'ListMultipartUploads', 'GetObjectAcl', 'PutObjectAcl',
]);
/** Query parameters never shown in events: presigned-URL credentials. */
const HIDDEN_QUERY = /^x-amz-(signature|credential|security-token)$/i;

function xmlResponse(doc: XmlObject, status = 200, headers: Record<string, string | number> = {}): RestResponse {
  const body = Buffer.from(buildXml(doc));
  return { status, headers: { ...headers, 'content-type': 'application/xml', 'content-length': body.length }, body };
}

function empty(status: number, headers: Record<string, string | number> = {}): RestResponse {
  return { status, headers: { ...headers, 'content-length': 0 } };
}

function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

async function readSmallBody(body: Readable, limit = MAX_XML_BODY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new AwsError('MaxMessageLengthExceeded', 400, 'Your request was too big.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readXml(body: Readable): Promise<XmlObject> {
  const text = (await readSmallBody(body)).toString('utf8');
  if (!text.trim()) throw new MalformedXML();
  try {
    return parseXml(text);
  } catch {
    throw new MalformedXML();
  }
}

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

function child(v: XmlValue | undefined, name: string): XmlValue | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as XmlObject)[name] : undefined;
}

/** An element's text exactly as sent (keys, tag keys and values are exact strings: white space is kept). */
function text(v: XmlValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') return '';
  return String(v);
}

/** The text of an element whose schema type is not a string (a number, a boolean, an enumeration): white space collapses. */
function token(v: XmlValue | undefined): string | undefined {
  return text(v)?.trim();
}

function boolText(v: XmlValue | undefined, field: string): boolean | undefined {
  const t = token(v);
  if (t === undefined) return undefined;
  if (t.toLowerCase() === 'true') return true;
  if (t.toLowerCase() === 'false') return false;
  throw new MalformedXML(`${field} must be true or false.`);
}

function unquote(etag: string): string {
  return etag.trim().replace(/^"(.*)"$/, '$1');
}

/** Smallest string greater than every string that starts with `prefix` (UTF-8 byte order). */
function upperBound(prefix: string): string | undefined {
  const chars = [...prefix];
  while (chars.length) {
    const last = chars.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return chars.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}

/** S3's URL encoding of keys in listings when encoding-type=url. */
function urlEncode(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function storedHeaders(headers: Record<string, string | undefined>): StoredHeaders {
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

/** The x-amz-checksum-<algorithm> headers a request carries (not -algorithm, -mode or -type). */
function sentChecksumHeaders(headers: Record<string, string | undefined>): Array<{ name: string; algorithm: ChecksumAlgorithm; value: string }> {
  const out: Array<{ name: string; algorithm: ChecksumAlgorithm; value: string }> = [];
  for (const [name, value] of Object.entries(headers)) {
    const algorithm = value === undefined ? undefined : algorithmForHeader(name);
    if (algorithm) out.push({ name, algorithm, value: value! });
  }
  return out;
}

/** At most one x-amz-checksum-<algorithm> header, as S3 requires. */
function singleChecksumHeader(headers: Record<string, string | undefined>): { name: string; algorithm: ChecksumAlgorithm; value: string } | undefined {
  const sent = sentChecksumHeaders(headers);
  if (sent.length > 1) throw new InvalidRequest('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  return sent[0];
}

/**
 * The integrity headers of a request, checked for form before its body is read (the body is checked against them
 * as it streams, and the answer must not wait for it): Content-MD5 (InvalidDigest), the x-amz-checksum-* value and
 * x-amz-sdk-checksum-algorithm (InvalidRequest). `bodyChecksum` false: the checksum headers describe the object
 * being assembled, not this body (CompleteMultipartUpload checks them itself).
 */
function checkIntegrityHeaders(headers: Record<string, string | undefined>, bodyChecksum: boolean): void {
  const checksum = bodyChecksum ? singleChecksumHeader(headers) : undefined;
  checkDeclaredForms({ contentMd5Base64: headers['content-md5'], checksum });
  const sdk = headers['x-amz-sdk-checksum-algorithm'];
  if (checksum && sdk !== undefined && parseChecksumAlgorithm(sdk) !== checksum.algorithm) {
    throw new InvalidRequest('Value for x-amz-sdk-checksum-algorithm header is invalid.');
  }
}

/**
 * CompleteMultipartUpload's x-amz-checksum-<algorithm>: the checksum of the whole object, checked against the one the
 * parts make (for a composite checksum, with or without its -<parts> suffix), and x-amz-checksum-type, which must
 * be the upload's. A malformed value is InvalidRequest before the body is read; a mismatch is BadDigest.
 */
function declaredObjectChecksum(
  headers: Record<string, string | undefined>,
  uploadAlgorithm: ChecksumAlgorithm | null,
): { algorithm: ChecksumAlgorithm; matches(composite: string): boolean } | undefined {
  const type = headers['x-amz-checksum-type']?.trim().toUpperCase();
  if (type !== undefined && (uploadAlgorithm === null || type !== 'COMPOSITE')) {
    throw new AwsError('BadDigest', 400, `The x-amz-checksum-type ${type} does not match the checksum type of the upload (${uploadAlgorithm ? 'COMPOSITE' : 'none'}).`);
  }
  const sent = singleChecksumHeader(headers);
  if (!sent) return undefined;
  const m = /^([A-Za-z0-9+/=]+)(?:-([1-9][0-9]{0,4}))?$/.exec(sent.value.trim());
  if (!m || !isValidBase64Checksum(sent.algorithm, m[1]!)) throw new InvalidRequest(`Value for ${checksumHeaderName(sent.algorithm)} header is invalid.`);
  const digest = m[1]!;
  const parts = m[2];
  return {
    algorithm: sent.algorithm,
    matches: (composite) => sent.algorithm === uploadAlgorithm && (parts === undefined ? composite.startsWith(`${digest}-`) : composite === `${digest}-${parts}`),
  };
}

function requestedChecksum(headers: Record<string, string | undefined>): ChecksumAlgorithm | undefined {
  const trailer = headers['x-amz-trailer'];
  if (trailer) {
    const a = algorithmForHeader(trailer);
    if (a) return a;
  }
  for (const k of Object.keys(headers)) {
    if (k === 'x-amz-checksum-algorithm' || k === 'x-amz-checksum-mode' || k === 'x-amz-checksum-type') continue;
    const a = algorithmForHeader(k);
    if (a) return a;
  }
  const declared = headers['x-amz-sdk-checksum-algorithm'] ?? headers['x-amz-checksum-algorithm'];
  if (declared !== undefined) {
    const a = parseChecksumAlgorithm(declared);
    if (!a) throw new InvalidRequest(`Checksum algorithm ${declared} is not supported.`);
    return a;
  }
  return undefined;
}

function bodyLength(headers: Record<string, string | undefined>): number | undefined {
  const v = headers['x-amz-decoded-content-length'] ?? headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** One `bytes=` range: [start, end] inclusive, or undefined for no (or an ignorable) Range header; throws 416 when unsatisfiable. */
export function parseRange(value: string | undefined, size: number): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw new InvalidRange(size, value.trim());
    if (size === 0) throw new InvalidRange(size, value.trim());
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) throw new InvalidRange(size, value.trim());
  return { start, end };
}

/** Whether an If-Match / If-None-Match list names this ETag (or is `*`). */
function matchesEtag(list: string, etag: string): boolean {
  return list.split(',').some((t) => t.trim() === '*' || unquote(t) === etag);
}

/**
 * A conditional write's If-Match (the object is this ETag) and If-None-Match: * (there is no object), as PutObject
 * and CompleteMultipartUpload take them. Checked before the write (412 PreconditionFailed; If-Match on no object:
 * 404 NoSuchKey) and again as it commits: an object that changed meanwhile is 409 ConditionalRequestConflict, one
 * deleted meanwhile 404, as AWS answers a conflicting operation.
 */
export function writeConditions(headers: Record<string, string | undefined>, operation: string) {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw new NotImplemented(`If-None-Match other than * on ${operation}`);
  const failed = (existing: ObjectRecord | undefined): 'If-Match' | 'If-None-Match' | 'absent' | undefined => {
    if (ifNoneMatch !== undefined && existing) return 'If-None-Match';
    if (ifMatch !== undefined && !existing) return 'absent';
    if (ifMatch !== undefined && !matchesEtag(ifMatch, existing!.etag)) return 'If-Match';
    return undefined;
  };
  return {
    before(existing: ObjectRecord | undefined, key: string): void {
      const f = failed(existing);
      if (f === 'absent') throw new NoSuchKey(key);
      if (f) throw new PreconditionFailed(f);
    },
    committing(existing: ObjectRecord | undefined, key: string): void {
      const f = failed(existing);
      if (f === 'absent') throw new NoSuchKey(key);
      if (f) throw new ConditionalRequestConflict();
    },
  };
}

/** RFC 7232 as S3 applies it: If-Match / If-Unmodified-Since (412), If-None-Match / If-Modified-Since (304). */
function checkConditions(headers: Record<string, string | undefined>, o: ObjectRecord, prefix = ''): 'not-modified' | undefined {
  const h = (n: string) => headers[`${prefix}${n}`];
  const matches = (list: string) => matchesEtag(list, o.etag);
  const seconds = Math.floor(o.lastModified / 1000) * 1000;
  const ifMatch = h('if-match');
  const ifNoneMatch = h('if-none-match');
  const ifUnmodified = h('if-unmodified-since');
  const ifModified = h('if-modified-since');
  if (ifMatch !== undefined) {
    if (!matches(ifMatch)) throw new PreconditionFailed(prefix ? 'x-amz-copy-source-If-Match' : 'If-Match');
  } else if (ifUnmodified !== undefined) {
    const t = Date.parse(ifUnmodified);
    if (!Number.isNaN(t) && seconds > t) throw new PreconditionFailed(prefix ? 'x-amz-copy-source-If-Unmodified-Since' : 'If-Unmodified-Since');
  }
  if (ifNoneMatch !== undefined) {
    if (matches(ifNoneMatch)) {
      if (prefix) throw new PreconditionFailed('x-amz-copy-source-If-None-Match');
      return 'not-modified';
    }
  } else if (ifModified !== undefined) {
    const t = Date.parse(ifModified);
    if (!Number.isNaN(t) && seconds <= t) {
      if (prefix) throw new PreconditionFailed('x-amz-copy-source-If-Modified-Since');
      return 'not-modified';
    }
  }
  return undefined;
}

function sseResponseHeaders(p: KeyProtection, customer?: CustomerKey): Record<string, string> {
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

/** ETag of an object part or whole object: the MD5 for SSE-S3 (as on AWS); for SSE-KMS and SSE-C a value keyed by the object key, never a plaintext digest. */
function etagOf(p: KeyProtection, objectKey: Buffer, md5: Buffer): string {
  if (p.sse === 'AES256') return md5.toString('hex');
  const k = hkdfSha256(objectKey, Buffer.alloc(0), Buffer.from('trent:s3:etag'), 32);
  try {
    return createHash('md5').update(k).update(md5).digest('hex');
  } finally {
    k.fill(0);
  }
}

function compositeChecksum(alg: ChecksumAlgorithm, parts: string[]): string {
  const c = createChecksummer(alg);
  for (const p of parts) c.update(Buffer.from(p, 'base64'));
  return `${c.digest().toString('base64')}-${parts.length}`;
}

interface UploadRow {
  upload_id: string;
  bucket_name: string;
  object_key: string;
  object_uid: string;
  initiated_at: number;
  headers: string;
  checksum_algorithm: string | null;
  sse: string;
  kms_key_arn: string | null;
  kms_context: string | null;
  bucket_key_id: string | null;
  service_key_id: string | null;
  wrapped_key: Buffer;
  ssec_salt: Buffer | null;
  ssec_check: Buffer | null;
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

/** Amazon S3 (restXml): buckets, objects, multipart uploads; every object encrypted (sse.ts, packages.ts). */
export function s3Service(deps: S3Deps): RestXmlService<S3Route> {
  const { db, blobs, keys } = deps;
  const now = deps.now ?? Date.now;
  const owner: Owner = { ID: canonicalUserId(deps.accountId), DisplayName: 'trent' };

  function touchBucket(ctx: CallContext, bucket: string): void {
    ctx.resources.push({ ARN: `arn:aws:s3:::${bucket}`, accountId: deps.accountId, type: 'AWS::S3::Bucket' });
  }
  function touchObject(ctx: CallContext, bucket: string, key: string): void {
    ctx.resources.push({ ARN: objectArn(bucket, key), accountId: deps.accountId, type: 'AWS::S3::Object' });
    touchBucket(ctx, bucket);
  }

  /** Delete blobs no row refers to any more (after the transaction that let go of them committed). */
  async function reap(orphans: string[]): Promise<void> {
    for (const b of orphans) {
      try {
        await blobs.delete(b);
        await db.run('DELETE FROM s3_orphan_blobs WHERE blob_key = ?', [b]);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'an unreferenced object blob could not be removed yet');
      }
    }
  }

  async function bucketOf(name: string): Promise<BucketRecord> {
    return getBucket(db, name);
  }

  function requireKey(r: S3Route): { bucket: string; key: string } {
    if (r.key === undefined || r.key.length === 0) throw new InvalidRequest('A key is required.');
    if (Buffer.byteLength(r.key) > 1024) throw new AwsError('KeyTooLongError', 400, 'Your key is too long');
    return { bucket: r.bucket!, key: r.key };
  }

  function checkSize(headers: Record<string, string | undefined>, max: number): void {
    const n = bodyLength(headers);
    if (n !== undefined && n > max) throw new EntityTooLarge(max);
    if (n === undefined && headers['transfer-encoding'] === undefined && headers['content-length'] === undefined) {
      throw new AwsError('MissingContentLength', 411, 'You must provide the Content-Length HTTP header.');
    }
  }

  /** Run a body into a new encrypted blob, mapping stream failures to S3's errors. */
  async function store(objectKey: Buffer, part: number, body: Readable, alg: ChecksumAlgorithm | undefined, limit: number) {
    try {
      return await writeBlob(blobs, objectKey, part, body, alg, limit);
    } catch (err) {
      if (err instanceof BodyLimitExceeded) throw new EntityTooLarge(err.limit);
      throw err;
    }
  }

  /** Plaintext of an object's range as a stream; the first package is checked before any header is sent. */
  async function plaintextStream(ctx: CallContext, o: ObjectRecord, customer: CustomerKey | undefined, start: number, end: number): Promise<Readable> {
    const objectKey = await keys.open(ctx, o.protection, o.bucket, o.key, o.uid, customer);
    const gen = readSegments(blobs, objectKey, o.segments, start, end);
    let first: IteratorResult<Buffer>;
    try {
      first = await gen.next();
    } catch (err) {
      objectKey.fill(0);
      throw integrity(err, o);
    }
    const log = deps.log;
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

  function integrity(err: unknown, o: ObjectRecord): unknown {
    if (err instanceof PackageIntegrityError) {
      deps.log.error({ bucket: o.bucket, err: err.message }, 'object failed its integrity check');
      return new AwsError('InternalError', 500, 'The stored object failed its integrity check and cannot be returned.');
    }
    return err;
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
    if (o.partsCount !== null) h['x-amz-mp-parts-count'] = o.partsCount;
    return h;
  }

  function checksumHeaders(o: ObjectRecord, headers: Record<string, string | undefined>): Record<string, string> {
    if (!o.checksum || headers['x-amz-checksum-mode']?.toUpperCase() !== 'ENABLED') return {};
    return { [checksumHeaderName(o.checksum.algorithm)]: o.checksum.value, 'x-amz-checksum-type': o.checksum.type };
  }

  async function getOrHead(ctx: CallContext, r: S3Route, req: RestRequest, head: boolean): Promise<RestResponse> {
    const { bucket, key } = requireKey(r);
    touchObject(ctx, bucket, key);
    await bucketOf(bucket);
    if (req.query.has('partNumber')) throw new NotImplemented('partNumber on GetObject/HeadObject');
    // An object's encryption is chosen when it is written: reads take only the SSE-C key (400 otherwise, as on AWS).
    for (const h of SSE_WRITE_HEADERS) {
      if (req.headers[h] !== undefined) throw new InvalidArgument(`${h} header is not supported for this operation.`, h, h === 'x-amz-server-side-encryption' ? req.headers[h] : '');
    }
    const o = await getObject(db, bucket, key);
    if (!o) throw new NoSuchKey(key);
    const customer = parseCustomerKey(req.headers, '');
    keys.checkCustomerKey(o.protection, customer);
    const base = { ...objectHeaders(o), ...sseResponseHeaders(o.protection, customer) };
    if (checkConditions(req.headers, o) === 'not-modified') {
      return empty(304, { etag: base['etag']!, 'last-modified': base['last-modified']! });
    }
    const range = parseRange(req.headers['range'], o.size);
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
    const headers: Record<string, string | number> = { ...base, 'content-length': length, ...(range ? {} : checksumHeaders(o, req.headers)) };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${o.size}`;
    const status = range ? 206 : 200;
    if (head) return { status, headers };
    if (length === 0) return { status, headers, body: Buffer.alloc(0) };
    return { status, headers, body: await plaintextStream(ctx, o, customer, start, end) };
  }

  /** Keys, common prefixes and truncation for ListObjects / ListObjectsV2. */
  async function listing(bucket: string, prefix: string, delimiter: string, from: string, maxKeys: number) {
    const contents: Array<{ key: string; size: number; etag: string; lastModified: number; checksumAlgorithm: string | null }> = [];
    const prefixes: string[] = [];
    let truncated = false;
    let last: { value: string; isPrefix: boolean } | undefined;
    let cursor = from;
    const hi = upperBound(prefix);
    // max-keys=0 asks for nothing, and nothing is left out: the answer is empty and not truncated, as on AWS.
    if (maxKeys === 0) return { contents, prefixes, truncated, last };
    const BATCH = Math.min(1000, maxKeys + 1);
    outer: for (;;) {
      let lower = cursor > prefix ? cursor : prefix;
      // "k + NUL" (the first key after k) is sent as "> k": PostgreSQL's text cannot hold a NUL character.
      const exclusive = lower.endsWith('\u0000');
      if (exclusive) lower = lower.slice(0, -1);
      const rows = await db.all<{ object_key: string; size: number; etag: string; last_modified: number; checksum_algorithm: string | null }>(
        `SELECT object_key, size, etag, last_modified, checksum_algorithm FROM s3_objects
          WHERE bucket_name = ? AND object_key ${exclusive ? '>' : '>='} ? ${hi !== undefined ? 'AND object_key < ?' : ''} ORDER BY object_key LIMIT ?`,
        hi !== undefined ? [bucket, lower, hi, BATCH] : [bucket, lower, BATCH],
      );
      if (rows.length === 0) break;
      for (const row of rows) {
        const k = row.object_key;
        if (contents.length + prefixes.length >= maxKeys) {
          truncated = true;
          break outer;
        }
        if (delimiter) {
          const i = k.indexOf(delimiter, prefix.length);
          if (i >= 0) {
            const cp = k.slice(0, i + delimiter.length);
            prefixes.push(cp);
            last = { value: cp, isPrefix: true };
            const next = upperBound(cp);
            if (next === undefined) break outer;
            cursor = next;
            continue outer;
          }
        }
        contents.push({ key: k, size: Number(row.size), etag: row.etag, lastModified: Number(row.last_modified), checksumAlgorithm: row.checksum_algorithm });
        last = { value: k, isPrefix: false };
        cursor = k + '\u0000';
      }
      if (rows.length < BATCH) break;
    }
    return { contents, prefixes, truncated, last };
  }

  function maxKeysOf(req: RestRequest, name = 'max-keys'): number {
    const v = req.query.get(name);
    if (v === undefined) return 1000;
    if (!/^\d+$/.test(v)) throw new InvalidArgument(`Provided ${name} not an integer or within integer range`, name, v);
    return Math.min(1000, Number(v));
  }

  async function bucketEncryptionOf(bucket: BucketRecord): Promise<BucketEncryption | null> {
    return bucket.encryption;
  }

  /** The destination encryption of a write, with SSE-C and the bucket default applied. */
  async function newObjectKey(ctx: CallContext, sse: SseRequest, bucket: BucketRecord, key: string, uid: string) {
    return keys.create(ctx, keys.effective(sse, await bucketEncryptionOf(bucket)), bucket.name, key, uid);
  }

  function sseEchoHeaders(p: KeyProtection, sse: SseRequest): Record<string, string> {
    const h = sseResponseHeaders(p, sse.customer);
    if (p.kmsContext) h['x-amz-server-side-encryption-context'] = Buffer.from(p.kmsContext).toString('base64');
    return h;
  }

  async function findUpload(uploadId: string, bucket: string, key: string): Promise<UploadRow | undefined> {
    const u = await db.get<UploadRow>('SELECT * FROM s3_uploads WHERE upload_id = ?', [uploadId]);
    return u && u.bucket_name === bucket && u.object_key === key ? u : undefined;
  }

  async function uploadOf(uploadId: string | undefined, bucket: string, key: string): Promise<UploadRow> {
    const u = uploadId ? await findUpload(uploadId, bucket, key) : undefined;
    if (!u) throw new NoSuchUpload(uploadId ?? '');
    return u;
  }

  /** CompleteMultipartUpload's answer for the object an upload became (also to a repeated completion of it). */
  function completedUpload(o: ObjectRecord): RestResponse {
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
      { ...sseResponseHeaders(p), ...(p.kmsContext ? { 'x-amz-server-side-encryption-context': Buffer.from(p.kmsContext).toString('base64') } : {}) },
    );
  }

  /** Copy source: `bucket/key` (URL-encoded, optional leading slash, optional ?versionId=null). */
  function copySource(value: string): { bucket: string; key: string } {
    let v = value.trim();
    const q = v.indexOf('?');
    if (q >= 0) {
      const params = new URLSearchParams(v.slice(q + 1));
      const version = params.get('versionId');
      if (version !== null && version !== 'null') throw new NotImplemented('versionId in x-amz-copy-source (versioning)');
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
    return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
  }

  /** s3:GetObject on an object, which some writes also need (a conditional delete naming an ETag learns the object's). */
  async function authorizeRead(ctx: CallContext, req: RestRequest, bucket: string, key: string): Promise<void> {
    const b = await bucketOf(bucket);
    await ctx.authorize({ action: 's3:GetObject', resource: objectArn(bucket, key), resourcePolicy: b.policy, mode: 'resource-or-identity', context: s3Context(req) });
  }

  async function copySourceObject(ctx: CallContext, req: RestRequest): Promise<{ src: ObjectRecord; customer: CustomerKey | undefined }> {
    const { bucket, key } = copySource(req.headers['x-amz-copy-source']!);
    const srcBucket = await bucketOf(bucket);
    await ctx.authorize({ action: 's3:GetObject', resource: objectArn(bucket, key), resourcePolicy: srcBucket.policy, mode: 'resource-or-identity', context: s3Context(req) });
    const src = await getObject(db, bucket, key);
    if (!src) throw new NoSuchKey(key);
    touchObject(ctx, bucket, key);
    const customer = parseCustomerKey(req.headers, 'copy-source-');
    keys.checkCustomerKey(src.protection, customer);
    checkConditions(req.headers, src, 'x-amz-copy-source-');
    return { src, customer };
  }

  const handlers: Record<string, (ctx: CallContext, r: S3Route, req: RestRequest) => Promise<RestResponse>> = {
    async ListBuckets() {
      const all = await listBuckets(db);
      return xmlResponse({
        ListAllMyBucketsResult: {
          '@_xmlns': XMLNS,
          Owner: owner,
          Buckets: { Bucket: all.map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdAt), BucketRegion: b.region })) },
        },
      });
    },

    async CreateBucket(ctx, r, req) {
      const name = r.bucket!;
      touchBucket(ctx, name);
      checkBucketName(name);
      checkCreateBucketAcl(req.headers, owner);
      const body = (await readSmallBody(req.body)).toString('utf8');
      if (body.trim()) {
        let doc: XmlObject;
        try {
          doc = parseXml(body);
        } catch {
          throw new MalformedXML();
        }
        const constraint = token(child(doc['CreateBucketConfiguration'], 'LocationConstraint'));
        if (constraint !== undefined && constraint !== '' && constraint !== deps.region) {
          throw new AwsError('IllegalLocationConstraintException', 400, `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`);
        }
      }
      const t = now();
      try {
        await db.transaction(async (tx) => {
          if (await findBucket(tx, name)) throw new BucketAlreadyOwnedByYou(name);
          await tx.run('INSERT INTO s3_buckets (bucket_name, account_id, region, created_at, encryption, public_access_block, tags) VALUES (?, ?, ?, ?, NULL, ?, NULL)', [
            name,
            deps.accountId,
            deps.region,
            t,
            JSON.stringify(BLOCK_ALL),
          ]);
        });
      } catch (err) {
        if (err instanceof AwsError) throw err;
        if (await findBucket(db, name)) throw new BucketAlreadyOwnedByYou(name);
        throw err;
      }
      return empty(200, { location: `/${name}` });
    },

    async HeadBucket(ctx, r) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      return empty(200, { 'x-amz-bucket-region': b.region, 'x-amz-access-point-alias': 'false' });
    },

    async DeleteBucket(ctx, r) {
      const name = r.bucket!;
      touchBucket(ctx, name);
      const orphans = await db.transaction(async (tx) => {
        await getBucket(tx, name);
        if (await tx.get('SELECT 1 AS x FROM s3_objects WHERE bucket_name = ? LIMIT 1', [name])) throw new BucketNotEmpty(name);
        // Incomplete multipart uploads go with the bucket; their parts' blobs are reaped.
        const parts = await tx.all<{ blob_key: string }>('SELECT p.blob_key FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id WHERE u.bucket_name = ?', [name]);
        await tx.run('DELETE FROM s3_parts WHERE upload_id IN (SELECT upload_id FROM s3_uploads WHERE bucket_name = ?)', [name]);
        await tx.run('DELETE FROM s3_uploads WHERE bucket_name = ?', [name]);
        await tx.run('DELETE FROM s3_bucket_keys WHERE bucket_name = ?', [name]);
        await tx.run('DELETE FROM s3_buckets WHERE bucket_name = ?', [name]);
        const blobsToReap = parts.map((p) => p.blob_key);
        await addOrphans(tx, blobsToReap, now());
        return blobsToReap;
      });
      await reap(orphans);
      return empty(204);
    },

    async GetBucketLocation(ctx, r) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      return xmlResponse({ LocationConstraint: { '@_xmlns': XMLNS, '#text': b.region === 'us-east-1' ? '' : b.region } });
    },

    async GetBucketAcl(ctx, r) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      return xmlResponse(ownerAcl(owner, XMLNS));
    },

    async PutBucketAcl(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      checkPutAcl(req.headers, await readAclBody(req.body), owner);
      return empty(200);
    },

    async GetObjectAcl(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      await bucketOf(bucket);
      if (req.query.has('versionId') && req.query.get('versionId') !== 'null') throw new NotImplemented('versionId (versioning)');
      if (!(await getObject(db, bucket, key))) throw new NoSuchKey(key);
      return xmlResponse(ownerAcl(owner, XMLNS));
    },

    async PutObjectAcl(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      await bucketOf(bucket);
      if (req.query.has('versionId') && req.query.get('versionId') !== 'null') throw new NotImplemented('versionId (versioning)');
      const body = await readAclBody(req.body);
      if (!(await getObject(db, bucket, key))) throw new NoSuchKey(key);
      checkPutAcl(req.headers, body, owner);
      return empty(200);
    },

    async PutBucketEncryption(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      const doc = await readXml(req.body);
      const rules = asArray(child(doc['ServerSideEncryptionConfiguration'], 'Rule') as XmlValue[] | XmlValue | undefined);
      if (rules.length !== 1) throw new MalformedXML('ServerSideEncryptionConfiguration must hold exactly one Rule.');
      const rule = rules[0];
      const def = child(rule, 'ApplyServerSideEncryptionByDefault');
      const alg = token(child(def, 'SSEAlgorithm'));
      if (alg !== 'AES256' && alg !== 'aws:kms') {
        if (alg === 'aws:kms:dsse') throw new NotImplemented('SSEAlgorithm aws:kms:dsse');
        throw new MalformedXML('SSEAlgorithm must be AES256 or aws:kms.');
      }
      const kmsKeyId = token(child(def, 'KMSMasterKeyID'));
      if (kmsKeyId !== undefined && alg !== 'aws:kms') throw new InvalidArgument('a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms', 'ApplyServerSideEncryptionByDefault', '');
      const bucketKeyEnabled = boolText(child(rule, 'BucketKeyEnabled'), 'BucketKeyEnabled') ?? false;
      const enc: BucketEncryption = { algorithm: alg, ...(kmsKeyId ? { kmsKeyId } : {}), bucketKeyEnabled };
      await setBucketField(db, r.bucket!, 'encryption', enc);
      return empty(200);
    },

    async GetBucketEncryption(ctx, r) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      // Every bucket encrypts: without a configuration, the default is SSE-S3, as AWS reports it.
      const enc = b.encryption ?? { algorithm: 'AES256', bucketKeyEnabled: false };
      return xmlResponse({
        ServerSideEncryptionConfiguration: {
          '@_xmlns': XMLNS,
          Rule: {
            ApplyServerSideEncryptionByDefault: { SSEAlgorithm: enc.algorithm, ...(enc.kmsKeyId ? { KMSMasterKeyID: enc.kmsKeyId } : {}) },
            BucketKeyEnabled: enc.bucketKeyEnabled,
          },
        },
      });
    },

    async DeleteBucketEncryption(ctx, r) {
      touchBucket(ctx, r.bucket!);
      await setBucketField(db, r.bucket!, 'encryption', null);
      return empty(204);
    },

    async PutBucketPolicy(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      const text = (await readSmallBody(req.body, 20 * 1024 + 1)).toString('utf8');
      if (Buffer.byteLength(text) > 20 * 1024) throw new AwsError('PolicyTooLarge', 400, 'Policy exceeds the maximum allowed document size of 20 KB.');
      if (!text.trim().startsWith('{')) throw new AwsError('MalformedPolicy', 400, "Policies must be valid JSON and the first byte must be '{'");
      try {
        deps.authorizer.parseResourcePolicy(text);
      } catch (err) {
        throw new AwsError('MalformedPolicy', 400, (err as Error).message);
      }
      // Block Public Access: a policy that would let anyone in is refused while BlockPublicPolicy is on.
      if (b.publicAccessBlock?.BlockPublicPolicy && grantsPublicAccess(text)) throw new AccessDenied('Access Denied: the bucket blocks public bucket policies (BlockPublicPolicy).');
      // IAM users and roles are stored by unique id, as AWS stores them (src/iam/principal-ids.ts).
      const stored = await deps.authorizer.bindPrincipals(text, deps.accountId).catch((err: unknown) => {
        throw err instanceof InvalidPrincipalError ? new AwsError('MalformedPolicy', 400, 'Invalid principal in policy') : err;
      });
      await setBucketField(db, b.name, 'policy', stored);
      return empty(204);
    },

    async GetBucketPolicy(ctx, r) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      if (!b.policy) throw new NoSuchBucketPolicy(b.name);
      const body = Buffer.from(await deps.authorizer.renderPrincipals(b.policy));
      return { status: 200, headers: { 'content-type': 'application/json', 'content-length': body.length }, body };
    },

    async GetBucketPolicyStatus(ctx, r) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      if (!b.policy) throw new NoSuchBucketPolicy(b.name);
      return xmlResponse({ PolicyStatus: { '@_xmlns': XMLNS, IsPublic: grantsPublicAccess(b.policy) } });
    },

    async DeleteBucketPolicy(ctx, r) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      await setBucketField(db, r.bucket!, 'policy', null);
      return empty(204);
    },

    async PutPublicAccessBlock(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      const doc = await readXml(req.body);
      const c = doc['PublicAccessBlockConfiguration'];
      if (c === undefined) throw new MalformedXML();
      const cfg: PublicAccessBlock = {
        BlockPublicAcls: boolText(child(c, 'BlockPublicAcls'), 'BlockPublicAcls') ?? false,
        IgnorePublicAcls: boolText(child(c, 'IgnorePublicAcls'), 'IgnorePublicAcls') ?? false,
        BlockPublicPolicy: boolText(child(c, 'BlockPublicPolicy'), 'BlockPublicPolicy') ?? false,
        RestrictPublicBuckets: boolText(child(c, 'RestrictPublicBuckets'), 'RestrictPublicBuckets') ?? false,
      };
      await setBucketField(db, r.bucket!, 'public_access_block', cfg);
      return empty(200);
    },

    async GetPublicAccessBlock(ctx, r) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      if (!b.publicAccessBlock) throw new NoSuchPublicAccessBlockConfiguration(b.name);
      return xmlResponse({ PublicAccessBlockConfiguration: { '@_xmlns': XMLNS, ...b.publicAccessBlock } });
    },

    async DeletePublicAccessBlock(ctx, r) {
      touchBucket(ctx, r.bucket!);
      await setBucketField(db, r.bucket!, 'public_access_block', null);
      return empty(204);
    },

    async PutBucketTagging(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      const doc = await readXml(req.body);
      const tags = asArray(child(child(doc['Tagging'], 'TagSet'), 'Tag') as XmlValue[] | XmlValue | undefined).map((t) => ({ Key: text(child(t, 'Key')) ?? '', Value: text(child(t, 'Value')) ?? '' }));
      if (tags.length > 50) throw new AwsError('InvalidTag', 400, 'Bucket tag count cannot be greater than 50');
      const seen = new Set<string>();
      for (const t of tags) {
        if (!t.Key || t.Key.length > 128 || t.Value.length > 256) throw new AwsError('InvalidTag', 400, 'The TagKey you have provided is invalid');
        if (t.Key.startsWith('aws:')) throw new AwsError('InvalidTag', 400, 'User-defined tag keys cannot start with aws:');
        if (seen.has(t.Key)) throw new AwsError('InvalidTag', 400, 'Cannot provide multiple Tags with the same key');
        seen.add(t.Key);
      }
      await setBucketField(db, r.bucket!, 'tags', tags);
      return empty(204);
    },

    async GetBucketTagging(ctx, r) {
      touchBucket(ctx, r.bucket!);
      const b = await bucketOf(r.bucket!);
      if (!b.tags || b.tags.length === 0) throw new NoSuchTagSet(b.name);
      return xmlResponse({ Tagging: { '@_xmlns': XMLNS, TagSet: { Tag: b.tags } } });
    },

    async DeleteBucketTagging(ctx, r) {
      touchBucket(ctx, r.bucket!);
      await setBucketField(db, r.bucket!, 'tags', null);
      return empty(204);
    },

    async GetBucketVersioning(ctx, r) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      // Versioning has never been enabled on any Trent bucket: S3 answers an empty configuration then.
      return xmlResponse({ VersioningConfiguration: { '@_xmlns': XMLNS } });
    },

    async PutBucketVersioning(ctx, r) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      throw new NotImplemented('bucket versioning');
    },

    async ListObjectsV2(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      const prefix = req.query.get('prefix') ?? '';
      const delimiter = req.query.get('delimiter') ?? '';
      const encoding = req.query.get('encoding-type');
      if (encoding !== undefined && encoding !== 'url') throw new InvalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', encoding);
      const maxKeys = maxKeysOf(req);
      const token = req.query.get('continuation-token');
      const startAfter = req.query.get('start-after');
      let from = '';
      if (token !== undefined) {
        const decoded = decodeToken(token);
        from = decoded;
      } else if (startAfter) from = startAfter + '\u0000';
      const l = await listing(r.bucket!, prefix, delimiter, from, maxKeys);
      const enc = (s: string) => (encoding === 'url' ? urlEncode(s) : s);
      const next = l.truncated && l.last ? encodeToken(l.last.isPrefix ? upperBound(l.last.value) ?? l.last.value : l.last.value + '\u0000') : undefined;
      const fetchOwner = req.query.get('fetch-owner') === 'true';
      return xmlResponse({
        ListBucketResult: {
          '@_xmlns': XMLNS,
          Name: r.bucket!,
          Prefix: enc(prefix),
          ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
          MaxKeys: maxKeys,
          ...(encoding ? { EncodingType: encoding } : {}),
          KeyCount: l.contents.length + l.prefixes.length,
          IsTruncated: l.truncated,
          ...(token !== undefined ? { ContinuationToken: token } : {}),
          ...(next ? { NextContinuationToken: next } : {}),
          ...(startAfter !== undefined ? { StartAfter: enc(startAfter) } : {}),
          Contents: l.contents.map((c) => ({
            Key: enc(c.key),
            LastModified: isoDate(c.lastModified),
            ETag: `"${c.etag}"`,
            ...(c.checksumAlgorithm ? { ChecksumAlgorithm: c.checksumAlgorithm } : {}),
            Size: c.size,
            ...(fetchOwner ? { Owner: owner } : {}),
            StorageClass: 'STANDARD',
          })),
          CommonPrefixes: l.prefixes.map((p) => ({ Prefix: enc(p) })),
        },
      });
    },

    async ListObjects(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      const prefix = req.query.get('prefix') ?? '';
      const delimiter = req.query.get('delimiter') ?? '';
      const encoding = req.query.get('encoding-type');
      if (encoding !== undefined && encoding !== 'url') throw new InvalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', encoding);
      const marker = req.query.get('marker') ?? '';
      const maxKeys = maxKeysOf(req);
      let from = marker ? marker + '\u0000' : '';
      // A marker inside a common prefix continues after that whole prefix.
      if (marker && delimiter && marker.startsWith(prefix)) {
        const i = marker.indexOf(delimiter, prefix.length);
        if (i >= 0 && i + delimiter.length === marker.length) from = upperBound(marker) ?? from;
      }
      const l = await listing(r.bucket!, prefix, delimiter, from, maxKeys);
      const enc = (s: string) => (encoding === 'url' ? urlEncode(s) : s);
      return xmlResponse({
        ListBucketResult: {
          '@_xmlns': XMLNS,
          Name: r.bucket!,
          Prefix: enc(prefix),
          Marker: enc(marker),
          ...(l.truncated && delimiter && l.last ? { NextMarker: enc(l.last.value) } : {}),
          MaxKeys: maxKeys,
          ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
          ...(encoding ? { EncodingType: encoding } : {}),
          IsTruncated: l.truncated,
          Contents: l.contents.map((c) => ({
            Key: enc(c.key),
            LastModified: isoDate(c.lastModified),
            ETag: `"${c.etag}"`,
            Size: c.size,
            Owner: owner,
            StorageClass: 'STANDARD',
          })),
          CommonPrefixes: l.prefixes.map((p) => ({ Prefix: enc(p) })),
        },
      });
    },

    async PutObject(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      const b = await bucketOf(bucket);
      checkSize(req.headers, MAX_OBJECT);
      checkObjectWriteAcl(req.headers, owner);
      const headers = storedHeaders(req.headers);
      const sse = parseSseHeaders(req.headers);
      const alg = requestedChecksum(req.headers);
      const conditions = writeConditions(req.headers, 'PutObject');
      conditions?.before(await getObject(db, bucket, key), key);
      const uid = randomUUID();
      const { objectKey, protection } = await newObjectKey(ctx, sse, b, key, uid);
      try {
        const stored = await store(objectKey, 0, req.body, alg, MAX_OBJECT);
        const etag = etagOf(protection, objectKey, stored.md5);
        const t = now();
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
          orphans = await db.transaction(async (tx) => {
            await getBucket(tx, bucket);
            conditions?.committing(await getObject(tx, bucket, key), key);
            return putObjectRow(tx, record, t);
          });
        } catch (err) {
          await blobs.delete(stored.segment.blob);
          throw err;
        }
        await reap(orphans);
        return {
          status: 200,
          headers: {
            etag: `"${etag}"`,
            'content-length': 0,
            ...sseEchoHeaders(protection, sse),
            ...(record.checksum ? { [checksumHeaderName(alg!)]: record.checksum.value, 'x-amz-checksum-type': 'FULL_OBJECT' } : {}),
          },
          audit: sseAudit(protection),
        };
      } finally {
        objectKey.fill(0);
      }
    },

    async GetObject(ctx, r, req) {
      return getOrHead(ctx, r, req, false);
    },

    async HeadObject(ctx, r, req) {
      return getOrHead(ctx, r, req, true);
    },

    async DeleteObject(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      // A conditional delete (If-Match: an ETag, or * for "if it exists"); naming an ETag also needs s3:GetObject.
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined && ifMatch.trim() !== '*') await authorizeRead(ctx, req, bucket, key);
      const orphans = await db.transaction(async (tx) => {
        await getBucket(tx, bucket);
        const o = await getObject(tx, bucket, key);
        if (ifMatch !== undefined) {
          if (!o) throw new NoSuchKey(key);
          if (!matchesEtag(ifMatch, o.etag)) throw new PreconditionFailed('If-Match');
        }
        if (!o) return [];
        await tx.run('DELETE FROM s3_objects WHERE bucket_name = ? AND object_key = ?', [bucket, key]);
        const blobNames = o.segments.map((s) => s.blob);
        await addOrphans(tx, blobNames, now());
        return blobNames;
      });
      await reap(orphans);
      return empty(204);
    },

    async DeleteObjects(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      const doc = await readXml(req.body);
      const del = doc['Delete'];
      if (del === undefined) throw new MalformedXML();
      const objects = asArray(child(del, 'Object') as XmlValue[] | XmlValue | undefined);
      if (objects.length === 0) throw new MalformedXML();
      if (objects.length > 1000) throw new MalformedXML('The Delete request may name at most 1000 objects.');
      const quiet = boolText(child(del, 'Quiet'), 'Quiet') ?? false;
      // Each key needs s3:DeleteObject; checked before the transaction (checks read policies).
      const denied = new Map<string, string>();
      const bucketRecord = await bucketOf(r.bucket!);
      for (const o of objects) {
        const key = text(child(o, 'Key'));
        if (!key) continue;
        const etag = token(child(o, 'ETag'));
        try {
          await ctx.authorize({ action: 's3:DeleteObject', resource: objectArn(r.bucket!, key), resourcePolicy: bucketRecord.policy, mode: 'resource-or-identity', context: s3Context(req) });
          if (etag !== undefined && etag !== '*') await authorizeRead(ctx, req, r.bucket!, key);
        } catch (err) {
          if (!(err instanceof AccessDeniedError)) throw err;
          denied.set(key, err.message);
        }
      }
      const deleted: XmlObject[] = [];
      const errors: XmlObject[] = [];
      const orphans: string[] = [];
      await db.transaction(async (tx) => {
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
          const existing = await getObject(tx, r.bucket!, key);
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
        await addOrphans(tx, orphans, now());
      });
      await reap(orphans);
      return xmlResponse({ DeleteResult: { '@_xmlns': XMLNS, Deleted: deleted, Error: errors } });
    },

    async CopyObject(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      const b = await bucketOf(bucket);
      checkObjectWriteAcl(req.headers, owner);
      const { src, customer: srcCustomer } = await copySourceObject(ctx, req);
      touchObject(ctx, bucket, key);
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
      const body = src.size === 0 ? Readable.from([]) : await plaintextStream(ctx, src, srcCustomer, 0, src.size - 1);
      const { objectKey, protection } = await newObjectKey(ctx, sse, b, key, uid);
      try {
        const stored = await store(objectKey, 0, body, alg, MAX_OBJECT);
        const etag = etagOf(protection, objectKey, stored.md5);
        const t = now();
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
          orphans = await db.transaction(async (tx) => {
            await getBucket(tx, bucket);
            return putObjectRow(tx, record, t);
          });
        } catch (err) {
          await blobs.delete(stored.segment.blob);
          throw err;
        }
        await reap(orphans);
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
    },

    async CreateMultipartUpload(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      const b = await bucketOf(bucket);
      checkObjectWriteAcl(req.headers, owner);
      const headers = storedHeaders(req.headers);
      const sse = parseSseHeaders(req.headers);
      const declared = req.headers['x-amz-checksum-algorithm'];
      const alg = declared !== undefined ? parseChecksumAlgorithm(declared) : undefined;
      if (declared !== undefined && !alg) throw new InvalidRequest(`Checksum algorithm ${declared} is not supported.`);
      const type = req.headers['x-amz-checksum-type'];
      if (type !== undefined && type.toUpperCase() !== 'COMPOSITE') throw new NotImplemented(`x-amz-checksum-type ${type} (multipart checksums are COMPOSITE)`);
      const uploadId = randomUUID().replace(/-/g, '') + randomUUID().replace(/-/g, '');
      const uid = randomUUID();
      const { objectKey, protection } = await newObjectKey(ctx, sse, b, key, uid);
      objectKey.fill(0);
      await db.run(
        `INSERT INTO s3_uploads (upload_id, bucket_name, object_key, object_uid, initiated_at, headers, checksum_algorithm,
                                 sse, kms_key_arn, kms_context, bucket_key_id, service_key_id, wrapped_key, ssec_salt, ssec_check)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [uploadId, bucket, key, uid, now(), JSON.stringify(headers), alg ?? null, ...protectionParams(protection)],
      );
      return xmlResponse({ InitiateMultipartUploadResult: { '@_xmlns': XMLNS, Bucket: bucket, Key: key, UploadId: uploadId } }, 200, {
        ...sseEchoHeaders(protection, sse),
        ...(alg ? { 'x-amz-checksum-algorithm': alg, 'x-amz-checksum-type': 'COMPOSITE' } : {}),
      });
    },

    async UploadPart(ctx, r, req) {
      return uploadPart(ctx, r, req, false);
    },

    async UploadPartCopy(ctx, r, req) {
      return uploadPart(ctx, r, req, true);
    },

    async CompleteMultipartUpload(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      await bucketOf(bucket);
      const uploadId = req.query.get('uploadId');
      const u = uploadId ? await findUpload(uploadId, bucket, key) : undefined;
      if (!u) {
        // A retry of a completion whose answer was lost: the object it made is still there, so it is the answer.
        const done = uploadId ? await getObject(db, bucket, key) : undefined;
        if (done && done.uploadId === uploadId) return completedUpload(done);
        throw new NoSuchUpload(uploadId ?? '');
      }
      const alg = u.checksum_algorithm as ChecksumAlgorithm | null;
      const declared = declaredObjectChecksum(req.headers, alg);
      const conditions = writeConditions(req.headers, 'CompleteMultipartUpload');
      conditions?.before(await getObject(db, bucket, key), key);
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
      const parts = await db.all<PartRow>('SELECT * FROM s3_parts WHERE upload_id = ? ORDER BY part_number', [u.upload_id]);
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
      const checksum =
        alg && partChecksums.every((c): c is string => c !== null) ? { algorithm: alg, value: compositeChecksum(alg, partChecksums), type: 'COMPOSITE' as const } : null;
      if (declared && !(checksum && declared.matches(checksum.value))) {
        throw new AwsError('BadDigest', 400, `The ${declared.algorithm.toLowerCase()} you specified did not match the calculated checksum.`);
      }
      const segments: Segment[] = chosen.map((p) => ({ blob: p.blob_key, size: Number(p.size), salt: p.salt.toString('base64'), part: Number(p.part_number) }));
      const t = now();
      const record: ObjectRecord = {
        bucket,
        key,
        uid: u.object_uid,
        size: segments.reduce((s, x) => s + x.size, 0),
        etag,
        lastModified: t,
        headers: JSON.parse(u.headers) as StoredHeaders,
        checksum,
        protection: protectionFromRow(u),
        segments,
        partsCount: chosen.length,
        uploadId: u.upload_id,
      };
      const used = new Set(chosen.map((p) => p.blob_key));
      const orphans = await db.transaction(async (tx) => {
        // The upload may have been completed (by this request's twin) or aborted meanwhile: only one of them wins.
        const still = await tx.get('SELECT 1 AS x FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
        if (!still) {
          if ((await getObject(tx, bucket, key))?.uploadId === u.upload_id) return 'completed';
          throw new NoSuchUpload(u.upload_id);
        }
        const current = await tx.all<{ blob_key: string }>('SELECT blob_key FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
        for (const c of chosen) if (!current.some((x) => x.blob_key === c.blob_key)) throw new InvalidPart();
        conditions?.committing(await getObject(tx, bucket, key), key);
        const replaced = await putObjectRow(tx, record, t);
        const unused = current.map((c) => c.blob_key).filter((k) => !used.has(k));
        await tx.run('DELETE FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
        await tx.run('DELETE FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
        await addOrphans(tx, unused, t);
        return [...replaced, ...unused];
      });
      if (orphans === 'completed') {
        const done = await getObject(db, bucket, key);
        if (done?.uploadId !== u.upload_id) throw new NoSuchUpload(u.upload_id);
        return completedUpload(done);
      }
      await reap(orphans);
      return completedUpload(record);
    },

    async AbortMultipartUpload(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      await bucketOf(bucket);
      const u = await uploadOf(req.query.get('uploadId'), bucket, key);
      const orphans = await db.transaction(async (tx) => {
        const parts = await tx.all<{ blob_key: string }>('SELECT blob_key FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
        const r2 = await tx.run('DELETE FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
        if (r2.changes === 0) throw new NoSuchUpload(u.upload_id);
        await tx.run('DELETE FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
        const names = parts.map((p) => p.blob_key);
        await addOrphans(tx, names, now());
        return names;
      });
      await reap(orphans);
      return empty(204);
    },

    async ListParts(ctx, r, req) {
      const { bucket, key } = requireKey(r);
      touchObject(ctx, bucket, key);
      await bucketOf(bucket);
      const u = await uploadOf(req.query.get('uploadId'), bucket, key);
      const marker = Number(req.query.get('part-number-marker') ?? '0');
      if (!Number.isInteger(marker) || marker < 0) throw new InvalidArgument('Provided part-number-marker not an integer or within integer range', 'part-number-marker', String(req.query.get('part-number-marker')));
      const max = maxKeysOf(req, 'max-parts');
      const rows = await db.all<PartRow>('SELECT * FROM s3_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?', [u.upload_id, marker, max + 1]);
      const shown = rows.slice(0, max);
      const truncated = rows.length > max;
      const alg = u.checksum_algorithm;
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
          ...(alg ? { ChecksumAlgorithm: alg } : {}),
          Part: shown.map((p) => ({
            PartNumber: Number(p.part_number),
            LastModified: isoDate(Number(p.last_modified)),
            ETag: `"${p.etag}"`,
            Size: Number(p.size),
            ...(alg && p.checksum_value ? { [`Checksum${alg}`]: p.checksum_value } : {}),
          })),
        },
      });
    },

    async ListMultipartUploads(ctx, r, req) {
      touchBucket(ctx, r.bucket!);
      await bucketOf(r.bucket!);
      const prefix = req.query.get('prefix') ?? '';
      const keyMarker = req.query.get('key-marker') ?? '';
      const uploadIdMarker = req.query.get('upload-id-marker') ?? '';
      const max = maxKeysOf(req, 'max-uploads');
      if (req.query.get('delimiter')) throw new NotImplemented('delimiter on ListMultipartUploads');
      const hi = upperBound(prefix);
      const rows = await db.all<UploadRow>(
        `SELECT * FROM s3_uploads WHERE bucket_name = ? AND object_key >= ? ${hi !== undefined ? 'AND object_key < ?' : ''}
           AND (object_key > ? OR (object_key = ? AND (initiated_at || ':' || upload_id) > ?))
         ORDER BY object_key, initiated_at, upload_id LIMIT ?`,
        [
          r.bucket!,
          prefix,
          ...(hi !== undefined ? [hi] : []),
          keyMarker,
          keyMarker,
          uploadIdMarker ? `${(await db.get<{ initiated_at: number }>('SELECT initiated_at FROM s3_uploads WHERE upload_id = ?', [uploadIdMarker]))?.initiated_at ?? ''}:${uploadIdMarker}` : '\uffff',
          max + 1,
        ],
      );
      const shown = rows.slice(0, max);
      const truncated = rows.length > max;
      const lastShown = shown[shown.length - 1];
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
            ...(u.checksum_algorithm ? { ChecksumAlgorithm: u.checksum_algorithm } : {}),
          })),
        },
      });
    },
  };

  async function uploadPart(ctx: CallContext, r: S3Route, req: RestRequest, copy: boolean): Promise<RestResponse> {
    const { bucket, key } = requireKey(r);
    touchObject(ctx, bucket, key);
    await bucketOf(bucket);
    const partText = req.query.get('partNumber');
    const partNumber = Number(partText);
    if (!partText || !/^\d+$/.test(partText) || partNumber < 1 || partNumber > MAX_PARTS) {
      throw new InvalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', partText ?? '');
    }
    const u = await uploadOf(req.query.get('uploadId'), bucket, key);
    const protection = protectionFromRow(u);
    const customer = parseCustomerKey(req.headers, '');
    keys.checkCustomerKey(protection, customer, 'upload');
    const uploadAlg = (u.checksum_algorithm as ChecksumAlgorithm | null) ?? undefined;
    let body: Readable;
    let alg: ChecksumAlgorithm | undefined;
    if (copy) {
      const { src, customer: srcCustomer } = await copySourceObject(ctx, req);
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
      body = end < start ? Readable.from([]) : await plaintextStream(ctx, src, srcCustomer, start, end);
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
    const objectKey = await keys.open(ctx, protection, bucket, key, u.object_uid, customer);
    let stored: Awaited<ReturnType<typeof store>>;
    let etag: string;
    try {
      stored = await store(objectKey, partNumber, body, alg, MAX_PART);
      etag = etagOf(protection, objectKey, stored.md5);
    } finally {
      objectKey.fill(0);
    }
    const t = now();
    const replaced = await db
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
        await blobs.delete(stored.segment.blob);
        throw err;
      });
    await reap(replaced);
    const checksumHeader = alg && stored.checksum ? { [checksumHeaderName(alg)]: stored.checksum } : {};
    if (copy) {
      return xmlResponse(
        { CopyPartResult: { '@_xmlns': XMLNS, ETag: `"${etag}"`, LastModified: isoDate(t), ...(alg && stored.checksum ? { [`Checksum${alg}`]: stored.checksum } : {}) } },
        200,
        sseResponseHeaders(protection, customer),
      );
    }
    return { status: 200, headers: { etag: `"${etag}"`, 'content-length': 0, ...sseResponseHeaders(protection, customer), ...checksumHeader } };
  }

  return {
    protocol: 'restxml',
    signingName: 's3',
    eventSource: 's3.amazonaws.com',
    route: (req) => route(req.method, req.path, req.query, req.headers, deps.virtualHosts),
    async handle(ctx, r, req) {
      if (r.error) throw r.error;
      const handler = handlers[r.operation];
      if (!handler) throw new NotImplemented(r.operation);
      const action = ACTIONS[r.operation];
      if (action) {
        const bucket = r.bucket !== undefined && r.operation !== 'CreateBucket' ? await findBucket(db, r.bucket) : undefined;
        const resource = r.bucket === undefined ? '*' : r.key !== undefined && action !== 's3:ListBucket' ? objectArn(r.bucket, r.key) : `arn:aws:s3:::${r.bucket}`;
        // aws:ResourceTag: the bucket's tags on bucket requests. Object requests are to pass the object's tags here once objects keep tags.
        const resourceTags = resource.startsWith(`arn:aws:s3:::${r.bucket}/`) ? undefined : bucket?.tags;
        await ctx.authorize({
          action,
          resource,
          resourcePolicy: bucket?.policy ?? null,
          mode: bucket ? 'resource-or-identity' : 'identity',
          context: s3Context(req),
          ...(resourceTags ? { resourceTags: Object.fromEntries(resourceTags.map((t) => [t.Key, t.Value])) } : {}),
        });
      }
      checkIntegrityHeaders(req.headers, !r.checksumHeadersNotOfBody);
      return handler(ctx, r, req);
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
      readOnly: (op) => /^(Get|Head|List)/.test(op),
      category: (op) => (DATA_EVENTS.has(op) ? 'Data' : 'Management'),
    },
  };
}

/** Whether a bucket policy lets anyone in: an Allow for principal "*" with no condition (AWS's notion of public, simplified). */
function grantsPublicAccess(text: string): boolean {
  try {
    const doc = JSON.parse(text) as { Statement?: unknown };
    const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
    return statements.some((st) => {
      const s = (st ?? {}) as Record<string, unknown>;
      const p = s['Principal'];
      const everyone = p === '*' || (p && typeof p === 'object' && ([] as unknown[]).concat((p as Record<string, unknown>)['AWS'] ?? []).includes('*'));
      return s['Effect'] === 'Allow' && everyone && s['Condition'] === undefined;
    });
  } catch {
    return false;
  }
}

function sseAudit(p: KeyProtection): Record<string, unknown> {
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

function encodeToken(cursor: string): string {
  return Buffer.from(cursor, 'utf8').toString('base64');
}

function decodeToken(token: string): string {
  const decoded = Buffer.from(token, 'base64');
  if (decoded.toString('base64') !== token) throw new InvalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
  return decoded.toString('utf8');
}

/** Remove blobs whose rows were let go of but whose files a crash left behind. */
export async function reapOrphans(db: Queryable, blobs: BlobStore): Promise<number> {
  const rows = await db.all<{ blob_key: string }>('SELECT blob_key FROM s3_orphan_blobs');
  for (const r of rows) {
    await blobs.delete(r.blob_key);
    await db.run('DELETE FROM s3_orphan_blobs WHERE blob_key = ?', [r.blob_key]);
  }
  return rows.length;
}

