import type { CallContext } from '../server/service.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Database } from '../store/database.ts';
import { findBucket } from './buckets.ts';
import { getObject, readSegments } from './objects.ts';
import { objectArn, type ObjectKeys } from './sse.ts';

/** Why an object could not be read for another service: the caller may not, it does not exist, or it is too large. */
export class ObjectReadError extends Error {
  readonly reason: 'not-found' | 'too-large' | 'denied' | 'kms';
  constructor(reason: ObjectReadError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * Reads a whole object for another service (Rekognition's S3Object images) with the caller's own
 * permissions, as AWS does: s3:GetObject through identity and bucket policies, and for SSE-KMS objects the
 * caller's kms:Decrypt through the key policy (the KMS call is audited). SSE-C objects cannot be read this way.
 */
export class ObjectReader {
  readonly #db: Database;
  readonly #blobs: BlobStore;
  readonly #keys: ObjectKeys;

  constructor(db: Database, blobs: BlobStore, keys: ObjectKeys) {
    this.#db = db;
    this.#blobs = blobs;
    this.#keys = keys;
  }

  async read(ctx: CallContext, bucket: string, key: string, maxBytes: number): Promise<Buffer> {
    const b = await findBucket(this.#db, bucket);
    if (!b) throw new ObjectReadError('not-found', `bucket ${bucket} does not exist`);
    await ctx.authorize({ action: 's3:GetObject', resource: objectArn(bucket, key), resourcePolicy: b.policy, mode: 'resource-or-identity' });
    const o = await getObject(this.#db, bucket, key, { body: true });
    if (!o) throw new ObjectReadError('not-found', `s3://${bucket}/${key} does not exist`);
    if (o.size > maxBytes) throw new ObjectReadError('too-large', `s3://${bucket}/${key} is ${o.size} bytes`);
    if (o.protection.sse === 'SSE-C') throw new ObjectReadError('denied', 'SSE-C objects need the customer key');
    let objectKey: Buffer;
    try {
      objectKey = await this.#keys.open(ctx, o.protection, bucket, key, o.uid, undefined);
    } catch (err) {
      throw new ObjectReadError('kms', (err as Error).message);
    }
    const parts: Buffer[] = [];
    try {
      if (o.size > 0) for await (const chunk of readSegments(this.#blobs, objectKey, o.segments, 0, o.size - 1, o.inlineBody)) parts.push(chunk);
    } finally {
      objectKey.fill(0);
    }
    return Buffer.concat(parts);
  }
}
