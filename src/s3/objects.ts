import { randomBytes, randomUUID } from 'node:crypto';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import type { BlobStore } from '../store/blob-store.ts';
import type { Queryable } from '../store/database.ts';
import { createChecksummer, type ChecksumAlgorithm, type Checksummer } from '../wire/checksums.ts';
import { createHash, type Hash } from 'node:crypto';
import { blobKey, decryptPackages, PackageEncryptor, PackageIntegrityError, SALT_BYTES, storedRange, storedSize } from './packages.ts';
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

/** One stored, encrypted blob of an object: the whole object (part 0) or one multipart part. */
export interface Segment {
  blob: string;
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
}

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
  };
}

export async function getObject(q: Queryable, bucket: string, key: string): Promise<ObjectRecord | undefined> {
  const row = await q.get<ObjectRow>('SELECT * FROM s3_objects WHERE bucket_name = ? AND object_key = ?', [bucket, key]);
  return row ? fromRow(row) : undefined;
}

/**
 * Insert or replace an object's row. The blobs of a replaced object are recorded as orphans in the same
 * transaction and removed after it commits (and again at start-up, should a crash come in between).
 */
export async function putObjectRow(tx: Queryable, o: ObjectRecord, now: number): Promise<string[]> {
  const old = await getObject(tx, o.bucket, o.key);
  const orphans = old ? old.segments.map((s) => s.blob) : [];
  if (old) await tx.run('DELETE FROM s3_objects WHERE bucket_name = ? AND object_key = ?', [o.bucket, o.key]);
  await tx.run(
    `INSERT INTO s3_objects (bucket_name, object_key, object_uid, size, etag, last_modified, headers, checksum_algorithm, checksum_value, checksum_type,
                             sse, kms_key_arn, kms_context, bucket_key_id, service_key_id, wrapped_key, ssec_salt, ssec_check, segments, parts_count, upload_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      o.bucket,
      o.key,
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
    ],
  );
  await addOrphans(tx, orphans, now);
  return orphans;
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
 * Encrypt a plaintext stream into a new blob. The blob becomes visible (atomically) only once the whole
 * body has arrived and passed every integrity check; any failure leaves nothing behind.
 */
export async function writeBlob(
  blobs: BlobStore,
  objectKey: Buffer,
  part: number,
  body: Readable,
  algorithm: ChecksumAlgorithm | undefined,
  limit: number,
): Promise<{ segment: Segment; md5: Buffer; checksum: string | undefined }> {
  const salt = newSalt();
  const name = newBlobName();
  const digests = new PlaintextDigests(algorithm, limit);
  const encryptor = new PackageEncryptor(blobKey(objectKey, salt, part));
  let failure: unknown;
  pipeline(body, digests, encryptor, (err) => {
    if (err) failure = err;
  });
  try {
    await blobs.put(name, encryptor);
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
 * Plaintext bytes [start, end] (inclusive) of an object made of `segments`, decrypted as they stream.
 * Each blob's size on disk is checked first: a cut or stretched blob is refused before any byte of it.
 */
export async function* readSegments(blobs: BlobStore, objectKey: Buffer, segments: Segment[], start: number, end: number): AsyncGenerator<Buffer> {
  let base = 0;
  for (const seg of segments) {
    const segStart = base;
    const segEnd = base + seg.size - 1;
    base += seg.size;
    if (segEnd < start || segStart > end || seg.size === 0) continue;
    const from = Math.max(start, segStart) - segStart;
    const to = Math.min(end, segEnd) - segStart;
    const actual = await blobs.size(seg.blob);
    if (actual !== storedSize(seg.size)) throw new PackageIntegrityError(`blob ${seg.blob} has ${actual ?? 'no'} bytes, expected ${storedSize(seg.size)}`);
    const r = storedRange(seg.size, from, to);
    const stream = await blobs.get(seg.blob, { start: r.storedStart, end: r.storedEnd });
    const key = blobKey(objectKey, Buffer.from(seg.salt, 'base64'), seg.part);
    try {
      yield* decryptPackages(key, stream as AsyncIterable<Buffer>, seg.size, from, to);
    } finally {
      stream.destroy();
    }
  }
}
