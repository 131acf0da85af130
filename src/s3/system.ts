import { createHash, randomUUID } from 'node:crypto';
import type { BlobStore } from '../store/blob-store.ts';
import type { Database } from '../store/database.ts';
import { findBucket } from './buckets.ts';
import { NoSuchBucket } from './errors.ts';
import { lockForNewVersion } from './object-lock.ts';
import { discardBody, getObject, INLINE_MAX, putObjectRow, readSegments, writeBlob, type StoredHeaders } from './objects.ts';
import { Readable } from 'node:stream';
import type { ObjectKeys } from './sse.ts';

/**
 * Objects Trent writes and reads for itself, outside any client request: CloudTrail log files and
 * digests. They are SSE-S3 objects like any other (encrypted, atomic, listed and served to clients as
 * usual); these calls are not API calls, so they are not audit events.
 */
export class SystemObjects {
  readonly #db: Database;
  readonly #blobs: BlobStore;
  readonly #keys: ObjectKeys;

  constructor(db: Database, blobs: BlobStore, keys: ObjectKeys) {
    this.#db = db;
    this.#blobs = blobs;
    this.#keys = keys;
  }

  async bucketExists(bucket: string): Promise<boolean> {
    return (await findBucket(this.#db, bucket)) !== undefined;
  }

  /** Write (or replace) an object under SSE-S3. */
  async put(bucket: string, key: string, body: Buffer, headers: StoredHeaders): Promise<void> {
    const b = await findBucket(this.#db, bucket);
    if (!b) throw new NoSuchBucket(bucket);
    const uid = randomUUID();
    const { objectKey, protection } = await this.#keys.create(undefined, { algorithm: 'AES256' }, bucket, key, uid);
    try {
      const stored = await writeBlob(this.#blobs, objectKey, 0, Readable.from([body]), undefined, body.length, { inlineMax: INLINE_MAX });
      const t = Date.now();
      const lock = lockForNewVersion(b, {}, t);
      let orphans: string[];
      try {
        orphans = await this.#db.transaction(async (tx) => {
          if (!(await findBucket(tx, bucket))) throw new NoSuchBucket(bucket);
          return putObjectRow(
            tx,
            {
              bucket,
              key,
              uid,
              size: body.length,
              etag: createHash('md5').update(body).digest('hex'),
              lastModified: t,
              headers,
              checksum: null,
              protection,
              segments: [stored.segment],
              partsCount: null,
              ...(stored.inlineBody ? { inlineBody: stored.inlineBody } : {}),
              // A trail bucket with Object Lock keeps its log files and digests under its default retention.
              ...(lock.retention ? { retention: lock.retention } : {}),
            },
            t,
          );
        });
      } catch (err) {
        await discardBody(this.#blobs, stored);
        throw err;
      }
      for (const o of orphans) {
        await this.#blobs.delete(o);
        await this.#db.run('DELETE FROM s3_orphan_blobs WHERE blob_key = ?', [o]);
      }
    } finally {
      objectKey.fill(0);
    }
  }

  /** Read a whole SSE-S3 object; undefined when it does not exist. Objects under other modes cannot be read without a caller. */
  async get(bucket: string, key: string): Promise<{ body: Buffer; headers: StoredHeaders } | undefined> {
    const o = await getObject(this.#db, bucket, key, { body: true });
    if (!o) return undefined;
    if (o.protection.sse !== 'AES256') throw new Error(`s3://${bucket}/${key} is not an SSE-S3 object`);
    const objectKey = await this.#keys.open(undefined, o.protection, bucket, key, o.uid, undefined);
    const parts: Buffer[] = [];
    try {
      if (o.size > 0) for await (const chunk of readSegments(this.#blobs, objectKey, o.segments, 0, o.size - 1, o.inlineBody)) parts.push(chunk);
    } finally {
      objectKey.fill(0);
    }
    return { body: Buffer.concat(parts), headers: o.headers };
  }

  /** Keys under a prefix, in S3's order. */
  async list(bucket: string, prefix: string): Promise<string[]> {
    const rows = await this.#db.all<{ object_key: string }>('SELECT object_key FROM s3_objects WHERE bucket_name = ? AND is_latest = 1 AND delete_marker = 0 AND object_key >= ? ORDER BY object_key', [bucket, prefix]);
    const out: string[] = [];
    for (const r of rows) {
      if (!r.object_key.startsWith(prefix)) break;
      out.push(r.object_key);
    }
    return out;
  }
}
