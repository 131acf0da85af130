import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { AeadError, openFromBytes, sealToBytes } from '../crypto/aead.ts';
import { hkdfSha256 } from '../crypto/hkdf.ts';
import type { KmsServiceClient } from '../kms/service-client.ts';
import type { RootOfTrust } from '../root/root-of-trust.ts';
import type { CallContext } from '../server/service.ts';
import { UniqueViolation, type Database } from '../store/database.ts';
import { AwsError } from '../wire/errors.ts';
import { AccessDenied, InvalidArgument, InvalidRequest, kmsError } from './errors.ts';

/**
 * Server-side encryption: every object has its own random 256-bit object key, which encrypts its
 * packages (packages.ts). What differs between the modes is how that object key is kept:
 *
 * - SSE-S3 (AES256): sealed (AES-256-GCM) by Trent's S3 service key, itself stored only wrapped by the
 *   root of trust.
 * - SSE-KMS (aws:kms): the object key is a KMS data key (GenerateDataKey under the customer's key, with
 *   encryption context {"aws:s3:arn": object ARN} plus any context the caller gave); only its KMS
 *   ciphertext is stored, and every read asks KMS to Decrypt it, so the key's state and the audit trail
 *   see every use.
 * - SSE-KMS with an S3 Bucket Key: one KMS data key per bucket, KMS key and context (the bucket key,
 *   context {"aws:s3:arn": bucket ARN}) seals many object keys; it is asked of KMS once and then
 *   kept in memory for a bounded time, so KMS sees orders of magnitude fewer calls. The KMS key's
 *   state is still checked on every use.
 * - SSE-C: sealed by a key derived (HKDF) from the customer's key, which is never stored; a salted
 *   HMAC check value lets later requests with the wrong key be refused (as AWS does: 403 on a read, 400 on a part)
 *   without trying to unseal.
 *
 * Every sealed object key is bound (AAD) to the object's unique id, so it cannot be moved to another object.
 */

export type SseMode = 'AES256' | 'aws:kms' | 'SSE-C';

/** The SSE parameters of a request (PutObject, CreateMultipartUpload, CopyObject's destination ...). */
export interface SseRequest {
  algorithm?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  /** The caller's extra encryption context (x-amz-server-side-encryption-context), decoded. */
  context?: Record<string, string>;
  bucketKeyEnabled?: boolean;
  customer?: CustomerKey;
}

export interface CustomerKey {
  key: Buffer;
  md5: string;
}

/** A bucket's default encryption (PutBucketEncryption). */
export interface BucketEncryption {
  algorithm: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  bucketKeyEnabled: boolean;
}

/** How an object's key is kept: stored with the object (or the multipart upload). */
export interface KeyProtection {
  sse: SseMode;
  kmsKeyArn: string | null;
  /** JSON of the caller's extra encryption context, or null. */
  kmsContext: string | null;
  bucketKeyId: string | null;
  serviceKeyId: string | null;
  wrappedKey: Buffer;
  ssecSalt: Buffer | null;
  ssecCheck: Buffer | null;
}

export const BUCKET_KEY_REUSE_MS = 60 * 60 * 1000;
const BUCKET_KEY_CACHE_MS = 15 * 60 * 1000;

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : v.trim();
}

/** Read the SSE headers of a request (prefix: '' for the object itself, 'copy-source-' for CopyObject's source SSE-C key). */
export function parseSseHeaders(headers: Record<string, string | undefined>, opts: { allowKms: boolean } = { allowKms: true }): SseRequest {
  const out: SseRequest = {};
  const alg = header(headers, 'x-amz-server-side-encryption');
  const keyId = header(headers, 'x-amz-server-side-encryption-aws-kms-key-id');
  const context = header(headers, 'x-amz-server-side-encryption-context');
  const bucketKey = header(headers, 'x-amz-server-side-encryption-bucket-key-enabled');
  if (alg !== undefined) {
    if (alg !== 'AES256' && alg !== 'aws:kms') {
      throw new InvalidArgument('The encryption method specified is not supported', 'x-amz-server-side-encryption', alg);
    }
    if (alg === 'aws:kms' && !opts.allowKms) throw new InvalidArgument('SSE-KMS is not supported here.', 'x-amz-server-side-encryption', alg);
    out.algorithm = alg;
  }
  if (keyId !== undefined) {
    if (out.algorithm !== 'aws:kms') {
      throw new InvalidArgument(
        'Specifying a KMS key ID requires x-amz-server-side-encryption: aws:kms.',
        'x-amz-server-side-encryption-aws-kms-key-id',
        keyId,
      );
    }
    if (keyId.length === 0) throw new InvalidArgument('The KMS key ID is empty.', 'x-amz-server-side-encryption-aws-kms-key-id', keyId);
    out.kmsKeyId = keyId;
  }
  if (context !== undefined) {
    if (out.algorithm !== 'aws:kms') throw new InvalidArgument('An encryption context requires x-amz-server-side-encryption: aws:kms.', 'x-amz-server-side-encryption-context', '');
    out.context = parseContext(context);
  }
  if (bucketKey !== undefined) {
    const b = bucketKey.toLowerCase();
    if (b !== 'true' && b !== 'false') throw new InvalidArgument('x-amz-server-side-encryption-bucket-key-enabled must be true or false.', 'x-amz-server-side-encryption-bucket-key-enabled', bucketKey);
    out.bucketKeyEnabled = b === 'true';
  }
  const customer = parseCustomerKey(headers, '');
  if (customer) {
    if (out.algorithm !== undefined) {
      throw new InvalidArgument('Server Side Encryption with Customer provided key is incompatible with the encryption method specified', 'x-amz-server-side-encryption', out.algorithm);
    }
    out.customer = customer;
  }
  return out;
}

function parseContext(value: string): Record<string, string> {
  let parsed: unknown;
  try {
    const text = Buffer.from(value, 'base64').toString('utf8');
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidArgument('The encryption context must be base64-encoded UTF-8 JSON.', 'x-amz-server-side-encryption-context', '');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new InvalidArgument('The encryption context must be a JSON object of string values.', 'x-amz-server-side-encryption-context', '');
  }
  return parsed as Record<string, string>;
}

/**
 * The three SSE-C headers (or their x-amz-copy-source- forms). Absent: undefined. Any one of them
 * without the others, a key that is not 256 bits, or an MD5 that does not match: AWS's 400s.
 */
export function parseCustomerKey(headers: Record<string, string | undefined>, prefix: '' | 'copy-source-'): CustomerKey | undefined {
  const base = `x-amz-${prefix}server-side-encryption-customer-`;
  const alg = header(headers, `${base}algorithm`);
  const key = header(headers, `${base}key`);
  const md5 = header(headers, `${base}key-md5`);
  if (alg === undefined && key === undefined && md5 === undefined) return undefined;
  if (alg === undefined) throw new InvalidArgument('Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.', `${base}algorithm`, '');
  if (alg !== 'AES256') throw new InvalidArgument('The encryption algorithm specified is not valid.', `${base}algorithm`, alg);
  if (key === undefined) throw new InvalidArgument('Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.', `${base}key`, '');
  const raw = Buffer.from(key, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== key) {
    raw.fill(0);
    throw new InvalidArgument('The secret key was invalid for the specified algorithm.', `${base}key`, '');
  }
  if (md5 === undefined) {
    raw.fill(0);
    throw new InvalidArgument('Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.', `${base}key-md5`, '');
  }
  const actual = createHash('md5').update(raw).digest('base64');
  if (md5 !== actual) {
    raw.fill(0);
    throw new InvalidArgument('The calculated MD5 hash of the key did not match the hash that was provided.', `${base}key-md5`, '');
  }
  return { key: raw, md5: actual };
}

export function objectArn(bucket: string, key: string): string {
  return `arn:aws:s3:::${bucket}/${key}`;
}

function wrapAad(objectUid: string): Buffer {
  return Buffer.from(`trent:s3:object-key:v1:${objectUid}`);
}

function ssecKeys(customer: Buffer, salt: Buffer): { wrap: Buffer; check: Buffer } {
  const wrap = hkdfSha256(customer, salt, Buffer.from('trent:s3:sse-c:wrap'), 32);
  const checkKey = hkdfSha256(customer, salt, Buffer.from('trent:s3:sse-c:check'), 32);
  const check = createHmac('sha256', checkKey).update('trent:s3:sse-c:check-value').digest();
  checkKey.fill(0);
  return { wrap, check };
}

interface CachedBucketKey {
  id: string;
  key: Buffer;
  until: number;
}

export interface SseDeps {
  db: Database;
  root: RootOfTrust;
  kms: KmsServiceClient;
  now?: () => number;
}

/** Creates and opens object keys under each SSE mode. */
export class ObjectKeys {
  readonly #db: Database;
  readonly #root: RootOfTrust;
  readonly #kms: KmsServiceClient;
  readonly #now: () => number;
  #serviceKey: { id: string; key: Buffer } | undefined;
  readonly #serviceKeys = new Map<string, Buffer>();
  /** Bucket keys for new objects, by bucket + KMS key + context. */
  readonly #current = new Map<string, CachedBucketKey>();
  readonly #creating = new Map<string, Promise<CachedBucketKey>>();
  /** Bucket keys opened for reads, by id. */
  readonly #opened = new Map<string, { key: Buffer; until: number }>();

  constructor(deps: SseDeps) {
    this.#db = deps.db;
    this.#root = deps.root;
    this.#kms = deps.kms;
    this.#now = deps.now ?? Date.now;
  }

  /** The encryption an object written now gets: the request's headers, else the bucket default, else SSE-S3. */
  effective(req: SseRequest, bucketDefault: BucketEncryption | null): SseRequest {
    if (req.customer) return req;
    if (req.algorithm) {
      const bucketKeyEnabled = req.bucketKeyEnabled ?? (req.algorithm === 'aws:kms' && bucketDefault?.algorithm === 'aws:kms' && !req.kmsKeyId ? bucketDefault.bucketKeyEnabled : false);
      return { ...req, bucketKeyEnabled };
    }
    if (bucketDefault) {
      return {
        algorithm: bucketDefault.algorithm,
        ...(bucketDefault.kmsKeyId ? { kmsKeyId: bucketDefault.kmsKeyId } : {}),
        bucketKeyEnabled: req.bucketKeyEnabled ?? bucketDefault.bucketKeyEnabled,
        ...(req.context ? { context: req.context } : {}),
      };
    }
    return { algorithm: 'AES256', bucketKeyEnabled: false };
  }

  /** A fresh object key for a new object (or multipart upload), and how it is kept. The caller zeroes the key after use. */
  async create(ctx: CallContext | undefined, sse: SseRequest, bucket: string, key: string, objectUid: string): Promise<{ objectKey: Buffer; protection: KeyProtection }> {
    const aad = wrapAad(objectUid);
    if (sse.customer) {
      const objectKey = randomBytes(32);
      const salt = randomBytes(16);
      const { wrap, check } = ssecKeys(sse.customer.key, salt);
      const wrappedKey = sealToBytes(wrap, objectKey, aad);
      wrap.fill(0);
      return { objectKey, protection: { sse: 'SSE-C', kmsKeyArn: null, kmsContext: null, bucketKeyId: null, serviceKeyId: null, wrappedKey, ssecSalt: salt, ssecCheck: check } };
    }
    if (sse.algorithm === 'aws:kms') {
      if (!ctx) throw new Error('SSE-KMS needs a caller (KMS calls are made and audited on its behalf)');
      const keyArn = await this.#kmsArn(sse.kmsKeyId);
      const extra = sse.context ?? {};
      const kmsContext = Object.keys(extra).length ? JSON.stringify(extra) : null;
      if (sse.bucketKeyEnabled) {
        const bk = await this.#bucketKeyForWrite(ctx, bucket, keyArn, extra);
        const objectKey = randomBytes(32);
        const wrappedKey = sealToBytes(bk.key, objectKey, aad);
        return { objectKey, protection: { sse: 'aws:kms', kmsKeyArn: keyArn, kmsContext, bucketKeyId: bk.id, serviceKeyId: null, wrappedKey, ssecSalt: null, ssecCheck: null } };
      }
      const ec = kmsObjectContext(bucket, key, extra);
      const dk = await this.#kms.generateDataKey(ctx, 's3', keyArn, ec).catch(rethrowKms);
      return {
        objectKey: dk.plaintext,
        protection: { sse: 'aws:kms', kmsKeyArn: dk.keyArn, kmsContext, bucketKeyId: null, serviceKeyId: null, wrappedKey: dk.ciphertext, ssecSalt: null, ssecCheck: null },
      };
    }
    const service = await this.#currentServiceKey();
    const objectKey = randomBytes(32);
    const wrappedKey = sealToBytes(service.key, objectKey, aad);
    return { objectKey, protection: { sse: 'AES256', kmsKeyArn: null, kmsContext: null, bucketKeyId: null, serviceKeyId: service.id, wrappedKey, ssecSalt: null, ssecCheck: null } };
  }

  /**
   * The object key of a stored object. SSE-C needs the caller's key (403 if it is not the one the object
   * was written with); SSE-KMS asks KMS to Decrypt (an audited KMS event), or uses the bucket key.
   */
  async open(ctx: CallContext | undefined, p: KeyProtection, bucket: string, key: string, objectUid: string, customer: CustomerKey | undefined): Promise<Buffer> {
    const aad = wrapAad(objectUid);
    if (p.sse === 'SSE-C') {
      if (!customer) throw new InvalidRequest('The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.');
      const { wrap, check } = ssecKeys(customer.key, p.ssecSalt!);
      try {
        if (!p.ssecCheck || p.ssecCheck.length !== check.length || !timingSafeEqual(p.ssecCheck, check)) throw wrongCustomerKey();
        return openFromBytes(wrap, p.wrappedKey, aad);
      } catch (err) {
        if (err instanceof AeadError) throw corrupt();
        throw err;
      } finally {
        wrap.fill(0);
      }
    }
    if (customer) throw new InvalidRequest('The encryption parameters are not applicable to this object.');
    if (p.sse === 'aws:kms') {
      if (!ctx) throw new Error('SSE-KMS needs a caller (KMS calls are made and audited on its behalf)');
      const extra = p.kmsContext ? (JSON.parse(p.kmsContext) as Record<string, string>) : {};
      if (p.bucketKeyId) {
        await this.#kms.assertUsable(p.kmsKeyArn!).catch(rethrowKms);
        const bk = await this.#bucketKeyForRead(ctx, p.bucketKeyId);
        try {
          return openFromBytes(bk, p.wrappedKey, aad);
        } catch {
          throw corrupt();
        }
      }
      const out = await this.#kms.decrypt(ctx, 's3', p.wrappedKey, kmsObjectContext(bucket, key, extra), p.kmsKeyArn!).catch(rethrowKms);
      return out.plaintext;
    }
    const service = await this.#serviceKeyById(p.serviceKeyId!);
    try {
      return openFromBytes(service, p.wrappedKey, aad);
    } catch {
      throw corrupt();
    }
  }

  /**
   * Check an SSE-C key against an object, or a multipart upload's parts, without opening anything else. AWS answers
   * differently for the two: reading an object with the wrong key is 403 AccessDenied; a part with another key than
   * the upload's (or SSE-C headers that do not fit the upload) is 400 InvalidRequest.
   */
  checkCustomerKey(p: KeyProtection, customer: CustomerKey | undefined, of: 'object' | 'upload' = 'object'): void {
    if (of === 'upload' && (p.sse === 'SSE-C') !== (customer !== undefined)) {
      throw new InvalidRequest('The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.');
    }
    if (p.sse !== 'SSE-C') {
      if (customer) throw new InvalidRequest('The encryption parameters are not applicable to this object.');
      return;
    }
    if (!customer) throw new InvalidRequest('The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.');
    const { wrap, check } = ssecKeys(customer.key, p.ssecSalt!);
    wrap.fill(0);
    if (!p.ssecCheck || p.ssecCheck.length !== check.length || !timingSafeEqual(p.ssecCheck, check)) {
      if (of === 'upload') throw new InvalidRequest('The provided encryption parameters did not match the ones used originally.');
      throw wrongCustomerKey();
    }
  }

  async #kmsArn(keyId: string | undefined): Promise<string> {
    try {
      return await this.#kms.resolveArn(keyId, 's3');
    } catch (err) {
      return rethrowKms(err);
    }
  }

  async #bucketKeyForWrite(ctx: CallContext, bucket: string, keyArn: string, extra: Record<string, string>): Promise<CachedBucketKey> {
    await this.#kms.assertUsable(keyArn).catch(rethrowKms);
    const contextJson = JSON.stringify(extra, Object.keys(extra).sort());
    const id = `${bucket}\u0000${keyArn}\u0000${contextJson}`;
    const cached = this.#current.get(id);
    if (cached && cached.until > this.#now()) return cached;
    let pending = this.#creating.get(id);
    if (!pending) {
      pending = (async () => {
        const ec = { ...extra, 'aws:s3:arn': `arn:aws:s3:::${bucket}` };
        const dk = await this.#kms.generateDataKey(ctx, 's3', keyArn, ec).catch(rethrowKms);
        const bucketKeyId = randomUUID();
        await this.#db.run('INSERT INTO s3_bucket_keys (bucket_key_id, bucket_name, kms_key_arn, kms_context, ciphertext, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
          bucketKeyId,
          bucket,
          dk.keyArn,
          contextJson,
          dk.ciphertext,
          this.#now(),
        ]);
        const entry = { id: bucketKeyId, key: dk.plaintext, until: this.#now() + BUCKET_KEY_REUSE_MS };
        const old = this.#current.get(id);
        if (old && !this.#opened.has(old.id)) old.key.fill(0);
        this.#current.set(id, entry);
        this.#opened.set(bucketKeyId, { key: dk.plaintext, until: this.#now() + BUCKET_KEY_CACHE_MS });
        return entry;
      })().finally(() => this.#creating.delete(id));
      this.#creating.set(id, pending);
    }
    return pending;
  }

  async #bucketKeyForRead(ctx: CallContext, bucketKeyId: string): Promise<Buffer> {
    const hit = this.#opened.get(bucketKeyId);
    if (hit && hit.until > this.#now()) return hit.key;
    const row = await this.#db.get<{ bucket_name: string; kms_key_arn: string; kms_context: string; ciphertext: Buffer }>(
      'SELECT bucket_name, kms_key_arn, kms_context, ciphertext FROM s3_bucket_keys WHERE bucket_key_id = ?',
      [bucketKeyId],
    );
    if (!row) throw corrupt();
    const extra = JSON.parse(row.kms_context) as Record<string, string>;
    const out = await this.#kms.decrypt(ctx, 's3', row.ciphertext, { ...extra, 'aws:s3:arn': `arn:aws:s3:::${row.bucket_name}` }, row.kms_key_arn).catch(rethrowKms);
    this.#opened.set(bucketKeyId, { key: out.plaintext, until: this.#now() + BUCKET_KEY_CACHE_MS });
    this.#sweep();
    return out.plaintext;
  }

  /** Drop expired bucket keys from memory (zeroed), unless still current for writes. */
  #sweep(): void {
    const now = this.#now();
    const current = new Set([...this.#current.values()].filter((c) => c.until > now).map((c) => c.id));
    for (const [id, v] of this.#opened) {
      if (v.until <= now && !current.has(id)) {
        v.key.fill(0);
        this.#opened.delete(id);
      }
    }
  }

  async #currentServiceKey(): Promise<{ id: string; key: Buffer }> {
    this.#root.checkAvailable();
    if (this.#serviceKey) return this.#serviceKey;
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await this.#db.get<{ service_key_id: string }>('SELECT service_key_id FROM s3_service_keys ORDER BY created_at DESC LIMIT 1');
      if (row) {
        this.#serviceKey = { id: row.service_key_id, key: await this.#serviceKeyById(row.service_key_id) };
        return this.#serviceKey;
      }
      const id = randomUUID();
      const material = randomBytes(32);
      try {
        const wrapped = await this.#root.wrap(material, serviceKeyAad(id));
        await this.#db.run('INSERT INTO s3_service_keys (service_key_id, wrapped, created_at) VALUES (?, ?, ?)', [id, wrapped, this.#now()]);
        this.#serviceKeys.set(id, material);
        this.#serviceKey = { id, key: material };
        return this.#serviceKey;
      } catch (err) {
        material.fill(0);
        if (!(err instanceof UniqueViolation)) throw err;
      }
    }
    throw new Error('could not create the SSE-S3 service key');
  }

  async #serviceKeyById(id: string): Promise<Buffer> {
    this.#root.checkAvailable();
    const cached = this.#serviceKeys.get(id);
    if (cached) return cached;
    const row = await this.#db.get<{ wrapped: Buffer }>('SELECT wrapped FROM s3_service_keys WHERE service_key_id = ?', [id]);
    if (!row) throw corrupt();
    const key = await this.#root.unwrap(row.wrapped, serviceKeyAad(id));
    this.#serviceKeys.set(id, key);
    return key;
  }
}

export function serviceKeyAad(id: string): Buffer {
  return Buffer.from(`trent:s3:service-key:v1:${id}`);
}

/** The encryption context S3 uses for an object's data key: the caller's, plus the object ARN. */
export function kmsObjectContext(bucket: string, key: string, extra: Record<string, string>): Record<string, string> {
  return { ...extra, 'aws:s3:arn': objectArn(bucket, key) };
}

function wrongCustomerKey(): AwsError {
  return new AccessDenied('Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.');
}

function corrupt(): AwsError {
  return new AwsError('InternalError', 500, 'The stored object key could not be opened: the object metadata is damaged.');
}

/** KMS's errors as S3 reports them: 'KMS.' + the KMS code. Anything else passes unchanged. */
function rethrowKms(err: unknown): never {
  throw kmsError(err);
}
