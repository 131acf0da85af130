import type { Queryable } from '../store/database.ts';
import { InvalidBucketName, NoSuchBucket } from './errors.ts';
import type { LifecycleConfig } from './lifecycle.ts';
import type { ObjectLockConfig } from './object-lock.ts';
import type { BucketEncryption } from './sse.ts';

export interface PublicAccessBlock {
  BlockPublicAcls: boolean;
  IgnorePublicAcls: boolean;
  BlockPublicPolicy: boolean;
  RestrictPublicBuckets: boolean;
}

export interface BucketRecord {
  name: string;
  region: string;
  createdAt: number;
  encryption: BucketEncryption | null;
  publicAccessBlock: PublicAccessBlock | null;
  tags: Array<{ Key: string; Value: string }> | null;
  /** The bucket policy (JSON text), enforced on every request. */
  policy: string | null;
  /** Versioning: 'Enabled', 'Suspended', or null for a bucket never versioned. */
  versioning: 'Enabled' | 'Suspended' | null;
  /** Object Lock, once enabled (for good), with the default retention of new versions if any. */
  objectLock: ObjectLockConfig | null;
  /** Lifecycle rules, carried out by the lifecycle job (lifecycle-job.ts). */
  lifecycle: LifecycleConfig | null;
  /** The bucket's CORS rules (PutBucketCors), in the order they are matched. */
  cors: CorsRule[] | null;
}

/** One CORSRule of a bucket's CORS configuration. */
export interface CorsRule {
  ID?: string;
  AllowedMethods: string[];
  AllowedOrigins: string[];
  AllowedHeaders: string[];
  ExposeHeaders: string[];
  MaxAgeSeconds?: number;
}

interface BucketRow {
  bucket_name: string;
  region: string;
  created_at: number;
  encryption: string | null;
  public_access_block: string | null;
  tags: string | null;
  policy: string | null;
  cors: string | null;
  versioning: string | null;
  object_lock: string | null;
  lifecycle: string | null;
}

/** New buckets block all public access, as AWS's have since April 2023. */
export const BLOCK_ALL: PublicAccessBlock = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** AWS's general purpose bucket naming rules. */
export function checkBucketName(name: string): void {
  if (
    !BUCKET_NAME.test(name) ||
    name.includes('..') ||
    name.includes('.-') ||
    name.includes('-.') ||
    /^\d+\.\d+\.\d+\.\d+$/.test(name) ||
    name.startsWith('xn--') ||
    name.startsWith('sthree-') ||
    name.endsWith('-s3alias') ||
    name.endsWith('--ol-s3')
  ) {
    throw new InvalidBucketName(name);
  }
}

function fromRow(r: BucketRow): BucketRecord {
  return {
    name: r.bucket_name,
    region: r.region,
    createdAt: Number(r.created_at),
    encryption: r.encryption ? (JSON.parse(r.encryption) as BucketEncryption) : null,
    publicAccessBlock: r.public_access_block ? (JSON.parse(r.public_access_block) as PublicAccessBlock) : null,
    tags: r.tags ? (JSON.parse(r.tags) as Array<{ Key: string; Value: string }>) : null,
    policy: r.policy,
    cors: r.cors ? (JSON.parse(r.cors) as CorsRule[]) : null,
    versioning: (r.versioning ?? null) as BucketRecord['versioning'],
    objectLock: r.object_lock ? (JSON.parse(r.object_lock) as ObjectLockConfig) : null,
    lifecycle: r.lifecycle ? (JSON.parse(r.lifecycle) as LifecycleConfig) : null,
  };
}

export async function findBucket(q: Queryable, name: string): Promise<BucketRecord | undefined> {
  const row = await q.get<BucketRow>('SELECT * FROM s3_buckets WHERE bucket_name = ?', [name]);
  return row ? fromRow(row) : undefined;
}

/**
 * Bucket records as the object data path reads them (authorisation, PutObject, GetObject and HeadObject read the
 * bucket on every request: a synchronous read of the database each time). A record is kept for at most `ttlMs`;
 * `invalidate()` drops every record at once, and a read that began before an invalidation is not kept, so a
 * record read before a change committed cannot outlive the change's invalidation. This process invalidates after
 * every bucket-level write it serves; the other workers of a server drop theirs through the workers' bus before
 * such a write is answered; other nodes of a cluster see the change within `ttlMs` (docs/cluster.md).
 * Callers must not modify the records they get.
 */
export class BucketCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { record: BucketRecord | undefined; at: number }>();
  #generation = 0;

  constructor(ttlMs = 1_000, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  async find(q: Queryable, name: string): Promise<BucketRecord | undefined> {
    const hit = this.#entries.get(name);
    if (hit && this.#now() - hit.at < this.#ttlMs) return hit.record;
    const generation = this.#generation;
    const record = await findBucket(q, name);
    if (generation === this.#generation) {
      if (this.#entries.size >= 10_000) this.#entries.clear();
      this.#entries.set(name, { record, at: this.#now() });
    }
    return record;
  }

  async get(q: Queryable, name: string): Promise<BucketRecord> {
    const b = await this.find(q, name);
    if (!b) throw new NoSuchBucket(name);
    return b;
  }

  invalidate(): void {
    this.#generation++;
    this.#entries.clear();
  }
}

export async function getBucket(q: Queryable, name: string): Promise<BucketRecord> {
  const b = await findBucket(q, name);
  if (!b) throw new NoSuchBucket(name);
  return b;
}

export async function listBuckets(q: Queryable): Promise<BucketRecord[]> {
  return (await q.all<BucketRow>('SELECT * FROM s3_buckets ORDER BY bucket_name')).map(fromRow);
}

export async function setBucketField(q: Queryable, name: string, field: 'encryption' | 'public_access_block' | 'tags' | 'policy' | 'cors' | 'versioning' | 'object_lock' | 'lifecycle', value: unknown): Promise<void> {
  const text = value === null ? null : field === 'policy' || field === 'versioning' ? String(value) : JSON.stringify(value);
  const r = await q.run(`UPDATE s3_buckets SET ${field} = ? WHERE bucket_name = ?`, [text, name]);
  if (r.changes === 0) throw new NoSuchBucket(name);
}
