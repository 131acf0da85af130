import { randomBytes, randomUUID } from 'node:crypto';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import type { BlobStore } from '../store/blob-store.ts';
import type { Queryable } from '../store/database.ts';
import { createChecksummer, type ChecksumAlgorithm, type Checksummer } from '../wire/checksums.ts';
import { createHash, type Hash } from 'node:crypto';
import { decryptPackages, encryptPackages, openPackages, packageKey, PackageIntegrityError, SALT_BYTES, sealPackages, storedRange, storedSize } from './packages.ts';
import { VersionLocked } from './errors.ts';
import type { KeyProtection, SseMode } from './sse.ts';

/** Standard headers and user metadata kept with an object and returned on GET/HEAD. */
export interface StoredHeaders {
  'content-type'?: string;
  'content-encoding'?: string;
  'content-language'?: string;
  'content-disposition'?: string;
  'cache-control'?: string;
  expires?: string;
  /** x-amz-meta-* (names lower-cased, without the prefix). */
  metadata: Record<string, string>;
}

/**
 * One stored, encrypted blob of an object: the whole object (part 0) or one multipart part. A small whole object is
 * stored inline: its blob (the same packages) is kept in its own metadata row (s3_objects.inline_body), not in the blob
 * store; such a segment has `inline` set and no blob name.
 */
export interface Segment {
  /** The blob's name in the blob store ('' for an inline segment). */
  blob: string;
  /** The blob is the object's row's inline_body. */
  inline?: true;
  size: number;
  /** base64 of the blob's HKDF salt. */
  salt: string;
  part: number;
  /** A multipart object's part: the part's own checksum, under the object's algorithm (GetObjectAttributes lists it). */
  checksum?: string;
}

export interface ObjectRecord {
  bucket: string;
  key: string;
  uid: string;
  size: number;
  etag: string;
  lastModified: number;
  headers: StoredHeaders;
  checksum: { algorithm: ChecksumAlgorithm; value: string; type: 'FULL_OBJECT' | 'COMPOSITE' } | null;
  protection: KeyProtection;
  segments: Segment[];
  partsCount: number | null;
  /** The multipart upload the object was completed from: a repeated CompleteMultipartUpload of it answers with the object. */
  uploadId?: string;
  /**
   * The version: a generated id in a bucket with versioning enabled, else 'null' (the one version a key has in a
   * bucket never versioned, or the one a write replaces while versioning is suspended). Set by putObjectRow.
   */
  versionId?: string;
  /** Object tags (at most 10), as PutObjectTagging and x-amz-tagging set them. */
  tags?: Tag[];
  /** Object Lock retention of this version. */
  retention?: Retention | null;
  /** Object Lock legal hold of this version: true while ON (false once turned OFF, undefined if never set). */
  legalHold?: boolean;
  /**
   * An inline object's stored blob (ciphertext packages): set on a record about to be written, and on one read with
   * its body (`{ body: true }`); undefined otherwise, and always for objects kept in the blob store.
   */
  inlineBody?: Buffer;
}

export interface Tag {
  Key: string;
  Value: string;
}

/** An Object Lock retention period: the version cannot be deleted before `until` (ms), in GOVERNANCE or COMPLIANCE mode. */
export interface Retention {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  until: number;
}

/** A delete marker: a version with no data that makes its key read as deleted while it is the latest. */
export interface DeleteMarker {
  bucket: string;
  key: string;
  versionId: string;
  lastModified: number;
  isLatest: boolean;
}

/** One version of a key, as GET ?versionId= and ListObjectVersions find it. */
export type ObjectVersion = { kind: 'object'; record: ObjectRecord; isLatest: boolean; noncurrentSince: number | null } | { kind: 'marker'; marker: DeleteMarker };

interface ObjectRow {
  bucket_name: string;
  object_key: string;
  object_uid: string;
  size: number;
  etag: string;
  last_modified: number;
  headers: string;
  checksum_algorithm: string | null;
  checksum_value: string | null;
  checksum_type: string | null;
  sse: string;
  kms_key_arn: string | null;
  kms_context: string | null;
  bucket_key_id: string | null;
  service_key_id: string | null;
  wrapped_key: Buffer;
  ssec_salt: Buffer | null;
  ssec_check: Buffer | null;
  segments: string;
  parts_count: number | null;
  upload_id: string | null;
  version_id: string;
  version_seq: number;
  is_latest: number;
  delete_marker: number;
  noncurrent_since: number | null;
  tags: string | null;
  lock_mode: string | null;
  lock_until: number | null;
  legal_hold: number | null;
  /** Selected only when the body is asked for. */
  inline_body?: Buffer | null;
}

/** Every column of s3_objects but inline_body, which only reads of an object's data select (it may be 128 KiB). */
const COLUMNS = `bucket_name, object_key, object_uid, size, etag, last_modified, headers, checksum_algorithm, checksum_value, checksum_type,
  sse, kms_key_arn, kms_context, bucket_key_id, service_key_id, wrapped_key, ssec_salt, ssec_check, segments, parts_count, upload_id,
  version_id, version_seq, is_latest, delete_marker, noncurrent_since, tags, lock_mode, lock_until, legal_hold`;

/** Reads of a version: with `body`, an inline object's stored blob comes with its row (one read, so they match). */
export interface ReadOptions {
  body?: boolean;
}

function selectFrom(opts: ReadOptions | undefined): string {
  return `SELECT ${COLUMNS}${opts?.body ? ', inline_body' : ''} FROM s3_objects`;
}

/** The blob-store names of an object's segments (an inline segment has none). */
export function blobsOf(segments: readonly Segment[]): string[] {
  return segments.filter((s) => !s.inline).map((s) => s.blob);
}

export function protectionFromRow(r: Pick<ObjectRow, 'sse' | 'kms_key_arn' | 'kms_context' | 'bucket_key_id' | 'service_key_id' | 'wrapped_key' | 'ssec_salt' | 'ssec_check'>): KeyProtection {
  return {
    sse: r.sse as SseMode,
    kmsKeyArn: r.kms_key_arn,
    kmsContext: r.kms_context,
    bucketKeyId: r.bucket_key_id,
    serviceKeyId: r.service_key_id,
    wrappedKey: r.wrapped_key,
    ssecSalt: r.ssec_salt,
    ssecCheck: r.ssec_check,
  };
}

export function protectionParams(p: KeyProtection): Array<string | Buffer | null> {
  return [p.sse, p.kmsKeyArn, p.kmsContext, p.bucketKeyId, p.serviceKeyId, p.wrappedKey, p.ssecSalt, p.ssecCheck];
}

function fromRow(r: ObjectRow): ObjectRecord {
  return {
    bucket: r.bucket_name,
    key: r.object_key,
    uid: r.object_uid,
    size: Number(r.size),
    etag: r.etag,
    lastModified: Number(r.last_modified),
    headers: JSON.parse(r.headers) as StoredHeaders,
    checksum: r.checksum_algorithm && r.checksum_value ? { algorithm: r.checksum_algorithm as ChecksumAlgorithm, value: r.checksum_value, type: r.checksum_type === 'COMPOSITE' ? 'COMPOSITE' : 'FULL_OBJECT' } : null,
    protection: protectionFromRow(r),
    segments: JSON.parse(r.segments) as Segment[],
    partsCount: r.parts_count === null ? null : Number(r.parts_count),
    ...(r.upload_id ? { uploadId: r.upload_id } : {}),
    versionId: r.version_id,
    ...(r.tags ? { tags: JSON.parse(r.tags) as Tag[] } : {}),
    retention: r.lock_mode && r.lock_until !== null ? { mode: r.lock_mode as Retention['mode'], until: Number(r.lock_until) } : null,
    // legal_hold: 0 never set, 1 ON, 2 OFF (S3 shows OFF only for a version that once had a hold).
    ...(r.legal_hold !== null && Number(r.legal_hold) !== 0 ? { legalHold: Number(r.legal_hold) === 1 } : {}),
    ...(r.inline_body ? { inlineBody: r.inline_body } : {}),
  };
}

function versionFromRow(r: ObjectRow): ObjectVersion {
  if (Number(r.delete_marker) === 1) {
    return { kind: 'marker', marker: { bucket: r.bucket_name, key: r.object_key, versionId: r.version_id, lastModified: Number(r.last_modified), isLatest: Number(r.is_latest) === 1 } };
  }
  return { kind: 'object', record: fromRow(r), isLatest: Number(r.is_latest) === 1, noncurrentSince: r.noncurrent_since === null ? null : Number(r.noncurrent_since) };
}

/** Version ids Trent makes: 32 characters of URL-safe base64 (AWS's are opaque, URL-ready strings). */
const VERSION_ID = /^[A-Za-z0-9_-]{32}$/;

export function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

/** Whether a version id could name a version here: 'null', or one Trent makes. */
export function isVersionIdForm(id: string): boolean {
  return id === 'null' || VERSION_ID.test(id);
}

/** The current version of a key, unless there is none or it is a delete marker. */
export async function getObject(q: Queryable, bucket: string, key: string, opts?: ReadOptions): Promise<ObjectRecord | undefined> {
  const row = await q.get<ObjectRow>(`${selectFrom(opts)} WHERE bucket_name = ? AND object_key = ? AND is_latest = 1 AND delete_marker = 0`, [bucket, key]);
  return row ? fromRow(row) : undefined;
}

/** The latest version of a key, object or delete marker. */
export async function getLatestVersion(q: Queryable, bucket: string, key: string, opts?: ReadOptions): Promise<ObjectVersion | undefined> {
  const row = await q.get<ObjectRow>(`${selectFrom(opts)} WHERE bucket_name = ? AND object_key = ? AND is_latest = 1`, [bucket, key]);
  return row ? versionFromRow(row) : undefined;
}

/** One version of a key by its id ('null' included). */
export async function getVersion(q: Queryable, bucket: string, key: string, versionId: string, opts?: ReadOptions): Promise<ObjectVersion | undefined> {
  const row = await q.get<ObjectRow>(`${selectFrom(opts)} WHERE bucket_name = ? AND object_key = ? AND version_id = ?`, [bucket, key, versionId]);
  return row ? versionFromRow(row) : undefined;
}

/** The version of a key a multipart upload was completed into (a repeated CompleteMultipartUpload answers with it). */
export async function getVersionFromUpload(q: Queryable, bucket: string, key: string, uploadId: string): Promise<ObjectRecord | undefined> {
  const row = await q.get<ObjectRow>(`${selectFrom(undefined)} WHERE bucket_name = ? AND object_key = ? AND upload_id = ? AND delete_marker = 0`, [bucket, key, uploadId]);
  return row ? fromRow(row) : undefined;
}

/** A key's versions (objects and delete markers), newest first. */
export async function getVersions(q: Queryable, bucket: string, key: string): Promise<ObjectVersion[]> {
  return (await q.all<ObjectRow>(`${selectFrom(undefined)} WHERE bucket_name = ? AND object_key = ? ORDER BY version_seq DESC`, [bucket, key])).map(versionFromRow);
}

/** The tags of a version (the latest without a version id), for s3:ExistingObjectTag; undefined when there is none. */
export async function tagsOfVersion(q: Queryable, bucket: string, key: string, versionId: string | undefined): Promise<Tag[] | undefined> {
  const row =
    versionId === undefined
      ? await q.get<{ tags: string | null }>('SELECT tags FROM s3_objects WHERE bucket_name = ? AND object_key = ? AND is_latest = 1', [bucket, key])
      : await q.get<{ tags: string | null }>('SELECT tags FROM s3_objects WHERE bucket_name = ? AND object_key = ? AND version_id = ?', [bucket, key, versionId]);
  return row?.tags ? (JSON.parse(row.tags) as Tag[]) : undefined;
}

/** A bucket's versioning state: 'Enabled', 'Suspended', or null for a bucket never versioned. */
export async function versioningOf(q: Queryable, bucket: string): Promise<'Enabled' | 'Suspended' | null> {
  const row = await q.get<{ versioning: string | null }>('SELECT versioning FROM s3_buckets WHERE bucket_name = ?', [bucket]);
  return (row?.versioning ?? null) as 'Enabled' | 'Suspended' | null;
}

/** Whether Object Lock protects a version now: a legal hold, or retention not yet over (GOVERNANCE unless bypassed). */
export function lockedNow(v: Pick<ObjectRecord, 'retention' | 'legalHold'>, now: number, bypassGovernance = false): boolean {
  if (v.legalHold) return true;
  const r = v.retention;
  if (!r || r.until <= now) return false;
  return r.mode === 'COMPLIANCE' || !bypassGovernance;
}

/** The next position in a key's version order. */
async function nextSeq(tx: Queryable, bucket: string, key: string): Promise<number> {
  const row = await tx.get<{ seq: number | null }>('SELECT MAX(version_seq) AS seq FROM s3_objects WHERE bucket_name = ? AND object_key = ?', [bucket, key]);
  return Number(row?.seq ?? 0) + 1;
}

/** The latest version becomes noncurrent (its successor is about to be written). */
async function demoteLatest(tx: Queryable, bucket: string, key: string, now: number): Promise<void> {
  await tx.run('UPDATE s3_objects SET is_latest = 0, noncurrent_since = ? WHERE bucket_name = ? AND object_key = ? AND is_latest = 1', [now, bucket, key]);
}

/**
 * Remove one version for good: its row goes (with it an inline object's ciphertext, overwritten with zeros on SQLite:
 * secure_delete), its blobs become orphans (removed after the commit), and when it was the latest, the newest
 * remaining version takes its place. A version Object Lock protects is refused (VersionLocked).
 */
export async function removeVersion(tx: Queryable, v: ObjectVersion, now: number, bypassGovernance = false): Promise<string[]> {
  const where = v.kind === 'object' ? v.record : v.marker;
  if (v.kind === 'object' && lockedNow(v.record, now, bypassGovernance)) throw new VersionLocked();
  await tx.run('DELETE FROM s3_objects WHERE bucket_name = ? AND object_key = ? AND version_id = ?', [where.bucket, where.key, where.versionId!]);
  const wasLatest = v.kind === 'object' ? v.isLatest : v.marker.isLatest;
  if (wasLatest) {
    await tx.run(
      `UPDATE s3_objects SET is_latest = 1, noncurrent_since = NULL WHERE bucket_name = ? AND object_key = ? AND version_seq =
         (SELECT MAX(version_seq) FROM s3_objects WHERE bucket_name = ? AND object_key = ?)`,
      [where.bucket, where.key, where.bucket, where.key],
    );
  }
  const orphans = v.kind === 'object' ? blobsOf(v.record.segments) : [];
  await addOrphans(tx, orphans, now);
  return orphans;
}

/**
 * Write a new version of a key as its latest, as the bucket's versioning state says: with versioning enabled, a new
 * version id and the previous latest kept as noncurrent; otherwise the version 'null', replacing the key's null
 * version (whose blobs become orphans, removed after the commit and again at start-up should a crash come between).
 * Sets `o.versionId`; returns the orphaned blobs.
 */
export async function putObjectRow(tx: Queryable, o: ObjectRecord, now: number): Promise<string[]> {
  const versionId = (await versioningOf(tx, o.bucket)) === 'Enabled' ? newVersionId() : 'null';
  const orphans: string[] = [];
  if (versionId === 'null') {
    const old = await getVersion(tx, o.bucket, o.key, 'null');
    if (old) {
      if (old.kind === 'object' && lockedNow(old.record, now)) throw new VersionLocked();
      await tx.run("DELETE FROM s3_objects WHERE bucket_name = ? AND object_key = ? AND version_id = 'null'", [o.bucket, o.key]);
      if (old.kind === 'object') orphans.push(...blobsOf(old.record.segments));
    }
  }
  await demoteLatest(tx, o.bucket, o.key, now);
  const seq = await nextSeq(tx, o.bucket, o.key);
  await tx.run(
    `INSERT INTO s3_objects (bucket_name, object_key, version_id, version_seq, is_latest, delete_marker, noncurrent_since, object_uid, size, etag,
                             last_modified, headers, checksum_algorithm, checksum_value, checksum_type, sse, kms_key_arn, kms_context,
                             bucket_key_id, service_key_id, wrapped_key, ssec_salt, ssec_check, segments, parts_count, upload_id,
                             tags, lock_mode, lock_until, legal_hold, inline_body)
     VALUES (?, ?, ?, ?, 1, 0, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      o.bucket,
      o.key,
      versionId,
      seq,
      o.uid,
      o.size,
      o.etag,
      o.lastModified,
      JSON.stringify(o.headers),
      o.checksum?.algorithm ?? null,
      o.checksum?.value ?? null,
      o.checksum?.type ?? null,
      ...protectionParams(o.protection),
      JSON.stringify(o.segments),
      o.partsCount,
      o.uploadId ?? null,
      o.tags && o.tags.length ? JSON.stringify(o.tags) : null,
      o.retention?.mode ?? null,
      o.retention?.until ?? null,
      o.legalHold === undefined ? 0 : o.legalHold ? 1 : 2,
      o.inlineBody ?? null,
    ],
  );
  await addOrphans(tx, orphans, now);
  o.versionId = versionId;
  return orphans;
}

/**
 * A delete marker as the key's latest version (a DELETE without a version id on a bucket with a versioning state):
 * a new version id with versioning enabled; while suspended, the version 'null', replacing the key's null version.
 * Returns the marker's version id and the orphaned blobs.
 */
export async function putDeleteMarker(tx: Queryable, bucket: string, key: string, versionId: string, now: number): Promise<string[]> {
  const orphans: string[] = [];
  if (versionId === 'null') {
    const old = await getVersion(tx, bucket, key, 'null');
    if (old) {
      if (old.kind === 'object' && lockedNow(old.record, now)) throw new VersionLocked();
      await tx.run("DELETE FROM s3_objects WHERE bucket_name = ? AND object_key = ? AND version_id = 'null'", [bucket, key]);
      if (old.kind === 'object') orphans.push(...blobsOf(old.record.segments));
    }
  }
  await demoteLatest(tx, bucket, key, now);
  const seq = await nextSeq(tx, bucket, key);
  await tx.run(
    `INSERT INTO s3_objects (bucket_name, object_key, version_id, version_seq, is_latest, delete_marker, noncurrent_since, object_uid, size, etag,
                             last_modified, headers, sse, wrapped_key, segments)
     VALUES (?, ?, ?, ?, 1, 1, NULL, ?, 0, '', ?, '{}', '', ?, '[]')`,
    [bucket, key, versionId, seq, randomUUID(), now, Buffer.alloc(0)],
  );
  await addOrphans(tx, orphans, now);
  return orphans;
}

/** Change a version's tags, retention or legal hold (the rest of a version never changes). */
export async function updateVersion(
  tx: Queryable,
  bucket: string,
  key: string,
  versionId: string,
  change: { tags?: Tag[] | null; retention?: Retention | null; legalHold?: boolean },
): Promise<void> {
  const sets: string[] = [];
  const params: Array<string | number | null> = [];
  if (change.tags !== undefined) {
    sets.push('tags = ?');
    params.push(change.tags && change.tags.length ? JSON.stringify(change.tags) : null);
  }
  if (change.retention !== undefined) {
    sets.push('lock_mode = ?', 'lock_until = ?');
    params.push(change.retention?.mode ?? null, change.retention?.until ?? null);
  }
  if (change.legalHold !== undefined) {
    sets.push('legal_hold = ?');
    params.push(change.legalHold ? 1 : 2);
  }
  if (sets.length === 0) return;
  await tx.run(`UPDATE s3_objects SET ${sets.join(', ')} WHERE bucket_name = ? AND object_key = ? AND version_id = ?`, [...params, bucket, key, versionId]);
}

export async function addOrphans(tx: Queryable, blobs: string[], now: number): Promise<void> {
  for (const b of blobs) await tx.run('INSERT INTO s3_orphan_blobs (blob_key, created_at) VALUES (?, ?) ON CONFLICT (blob_key) DO NOTHING', [b, now]);
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

/** A new blob name: random, so that nothing on disk reveals bucket or object names. */
export function newBlobName(): string {
  const id = randomUUID();
  return `s3/${id.slice(0, 2)}/${id}`;
}

export function newSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/** Digests of the plaintext, computed while it streams into the encryptor. */
export class PlaintextDigests extends Transform {
  readonly #md5: Hash = createHash('md5');
  readonly #checksum: Checksummer | undefined;
  readonly algorithm: ChecksumAlgorithm | undefined;
  bytes = 0;
  readonly #limit: number;
  md5?: Buffer;
  checksum?: string;

  constructor(algorithm: ChecksumAlgorithm | undefined, limit: number) {
    super();
    this.algorithm = algorithm;
    this.#checksum = algorithm ? createChecksummer(algorithm) : undefined;
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.#limit) return done(new BodyLimitExceeded(this.#limit));
    this.#md5.update(chunk);
    this.#checksum?.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.md5 = this.#md5.digest();
    if (this.#checksum) this.checksum = this.#checksum.digest().toString('base64');
    done();
  }
}

export class BodyLimitExceeded extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`body larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/**
 * Objects up to this many bytes are stored inline: encrypted as any other (the same packages), in their own metadata row,
 * so that a write is one transaction and one durable commit, with no file of its own. Chosen by measurement
 * (docs/benchmarks.md, "Object storage"); TRENT_S3_INLINE_BYTES sets another size (0: none inline).
 */
export const INLINE_MAX = inlineMax(process.env['TRENT_S3_INLINE_BYTES']);

function inlineMax(value: string | undefined): number {
  if (value === undefined || value === '') return 128 * 1024;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 1024 * 1024) throw new Error(`TRENT_S3_INLINE_BYTES: ${value} is not a size from 0 to 1048576 bytes`);
  return n;
}

/** A stored body that will not become an object after all (its write failed or was refused): its blob goes. */
export async function discardBody(blobs: BlobStore, stored: StoredBody): Promise<void> {
  if (!stored.segment.inline) await blobs.delete(stored.segment.blob);
}

/** A body as stored: its segment, the plaintext's MD5 and checksum, and for an inline body the stored blob itself. */
export interface StoredBody {
  segment: Segment;
  md5: Buffer;
  checksum: string | undefined;
  /** The stored blob of an inline segment, for the row's inline_body. */
  inlineBody?: Buffer;
}

/**
 * Encrypt a plaintext stream into a new blob. A body of at most `opts.inlineMax` bytes (whole objects only: part 0) is
 * sealed in memory and returned, to be stored in its row; a larger one streams to the blob store. The blob becomes
 * visible (atomically) only once the whole body has arrived and passed every integrity check; any failure leaves
 * nothing behind.
 */
export async function writeBlob(
  blobs: BlobStore,
  objectKey: Buffer,
  part: number,
  body: Readable,
  algorithm: ChecksumAlgorithm | undefined,
  limit: number,
  opts: { inlineMax?: number } = {},
): Promise<StoredBody> {
  const salt = newSalt();
  const digests = new PlaintextDigests(algorithm, limit);
  let failure: unknown;
  pipeline(body, digests, (err) => {
    if (err) failure = err;
  });
  const plaintext = digests[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Read up to one byte past the inline size: a body that ends first is stored inline.
  const head: Buffer[] = [];
  let headBytes = 0;
  const max = part === 0 ? (opts.inlineMax ?? -1) : -1;
  let ended = false;
  try {
    while (headBytes <= max) {
      const r = await plaintext.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      headBytes += r.value.length;
    }
  } catch (err) {
    throw failure ?? err;
  }
  if (failure) throw failure;
  if (ended) {
    const inlineBody = sealPackages(packageKey(objectKey, salt, part), Buffer.concat(head, headBytes));
    return { segment: { blob: '', inline: true, size: digests.bytes, salt: salt.toString('base64'), part }, md5: digests.md5!, checksum: digests.checksum, inlineBody };
  }
  const rest = async function* (): AsyncGenerator<Buffer> {
    yield* head;
    head.length = 0;
    for (;;) {
      const r = await plaintext.next();
      if (r.done) return;
      yield r.value;
    }
  };
  const name = newBlobName();
  try {
    await blobs.put(name, encryptPackages(packageKey(objectKey, salt, part), rest()));
  } catch (err) {
    throw failure ?? err;
  }
  if (failure) {
    await blobs.delete(name);
    throw failure;
  }
  return { segment: { blob: name, size: digests.bytes, salt: salt.toString('base64'), part }, md5: digests.md5!, checksum: digests.checksum };
}

/**
 * Plaintext bytes [start, end] (inclusive) of an object made of `segments`, decrypted as they stream. An inline segment
 * is read from `inlineBody` (the record's, read with the row). Each blob's size is checked first: a cut or stretched
 * blob is refused before any byte of it.
 */
export async function* readSegments(blobs: BlobStore, objectKey: Buffer, segments: Segment[], start: number, end: number, inlineBody?: Buffer): AsyncGenerator<Buffer> {
  let base = 0;
  for (const seg of segments) {
    const segStart = base;
    const segEnd = base + seg.size - 1;
    base += seg.size;
    if (segEnd < start || segStart > end || seg.size === 0) continue;
    const from = Math.max(start, segStart) - segStart;
    const to = Math.min(end, segEnd) - segStart;
    const key = packageKey(objectKey, Buffer.from(seg.salt, 'base64'), seg.part);
    if (seg.inline) {
      if (!inlineBody) throw new Error('an inline object was read without its body');
      yield openPackages(key, inlineBody, seg.size, from, to);
      continue;
    }
    const actual = await blobs.size(seg.blob);
    if (actual !== storedSize(seg.size)) throw new PackageIntegrityError(`blob ${seg.blob} has ${actual ?? 'no'} bytes, expected ${storedSize(seg.size)}`);
    const r = storedRange(seg.size, from, to);
    const stream = await blobs.get(seg.blob, { start: r.storedStart, end: r.storedEnd });
    try {
      yield* decryptPackages(key, stream as AsyncIterable<Buffer>, seg.size, from, to);
    } finally {
      stream.destroy();
    }
  }
}
