import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { assertBlobKey, BlobNotFound, type BlobStore } from './blob-store.ts';

/**
 * Blobs as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, another Trent), so that several
 * Trent nodes share one blob store. A blob `k` is the object `PREFIX/k` (or `k` without a prefix).
 *
 * Atomicity comes from S3 itself: a PutObject or a completed multipart upload replaces an object at once,
 * so a reader sees the old blob or the whole new one. A streamed put that fails aborts its multipart
 * upload, and nothing becomes visible.
 *
 * The bucket should not be versioned (or should expire noncurrent versions), or deleted ciphertext stays
 * behind as old versions. The credentials need s3:GetObject, s3:PutObject, s3:DeleteObject,
 * s3:AbortMultipartUpload and s3:ListBucket: without s3:ListBucket, S3 answers 403 instead of 404 for a
 * missing key, which is reported as an error rather than as a missing blob.
 */

export interface S3BlobsLocation {
  bucket: string;
  /** Key prefix without leading or trailing slash; '' for the bucket's root. */
  prefix: string;
  /** Undefined: AWS S3 itself. */
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
}

export interface S3BlobStoreOptions {
  /**
   * The CA certificate(s) (PEM) an HTTPS endpoint's certificate must chain to, instead of Node's public
   * roots (as AWS_CA_BUNDLE does for the AWS CLI); otherwise the file named by TRENT_BLOBS_CA_BUNDLE.
   */
  ca?: Buffer | string;
  /** Credentials; otherwise TRENT_BLOBS_ACCESS_KEY_ID / TRENT_BLOBS_SECRET_ACCESS_KEY, otherwise the SDK's default chain. */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Where TRENT_BLOBS_* and AWS_REGION are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Part size of a streamed (multipart) put; at least 5 MiB. Default 8 MiB. */
  partSize?: number;
  /** Parts of one streamed put in flight at once. Default 2, so one put holds about (queueSize + 1) x partSize. */
  queueSize?: number;
  /** MaxKeys of each ListObjectsV2 page (1..1000). Default 1000. */
  listPageSize?: number;
}

const USAGE = 's3://BUCKET[/PREFIX][?endpoint=https://host:port&region=REGION&path-style=true|false]';
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$/;
const REGION = /^[A-Za-z0-9-]{1,64}$/;
const MIB = 1024 * 1024;
const MAX_PARTS = 10_000;
const CONTENT_TYPE = 'application/octet-stream';

/** Parse `s3://BUCKET[/PREFIX]?endpoint=...&region=...&path-style=...` (see USAGE). */
export function parseS3BlobsUrl(url: string, env: NodeJS.ProcessEnv = process.env): S3BlobsLocation {
  const fail = (why: string): never => {
    throw new Error(`invalid blob store URL ${JSON.stringify(url)}: ${why} (expected ${USAGE})`);
  };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('not a URL');
  }
  if (u.protocol !== 's3:') fail('the scheme must be s3://');
  if (u.username || u.password) fail('credentials do not belong in the URL; set TRENT_BLOBS_ACCESS_KEY_ID and TRENT_BLOBS_SECRET_ACCESS_KEY');
  if (u.port) fail('a port belongs in the endpoint parameter');
  if (u.hash) fail('a fragment is not allowed');
  const bucket = u.hostname;
  if (!BUCKET.test(bucket)) fail(`${JSON.stringify(bucket)} is not a bucket name`);

  let prefix = '';
  const path = u.pathname.replace(/^\/+/, '').replace(/\/+$/, '');
  if (path) {
    try {
      prefix = path.split('/').map(decodeURIComponent).join('/');
      assertBlobKey(prefix);
    } catch {
      fail(`the prefix ${JSON.stringify(path)} must be slash-separated names of letters, digits and . _ = -`);
    }
  }

  const params = new Map<string, string>();
  for (const [name, value] of u.searchParams) {
    if (!['endpoint', 'region', 'path-style'].includes(name)) fail(`unknown parameter ${JSON.stringify(name)}`);
    if (params.has(name)) fail(`the parameter ${name} is given twice`);
    params.set(name, value);
  }

  let endpoint: string | undefined;
  const rawEndpoint = params.get('endpoint');
  if (rawEndpoint !== undefined) {
    let e: URL | undefined;
    try {
      e = new URL(rawEndpoint);
    } catch {
      fail(`the endpoint ${JSON.stringify(rawEndpoint)} is not a URL`);
    }
    if (e!.protocol !== 'https:' && e!.protocol !== 'http:') fail('the endpoint must be an http:// or https:// URL');
    if (e!.username || e!.password || e!.search || e!.hash) fail('the endpoint must be scheme://host[:port][/path] only');
    endpoint = e!.href.replace(/\/$/, '');
  }

  const region = params.get('region') ?? (env['AWS_REGION'] || 'us-east-1');
  if (!REGION.test(region)) fail(`${JSON.stringify(region)} is not a region name`);

  let forcePathStyle = endpoint !== undefined;
  const style = params.get('path-style');
  if (style !== undefined) {
    if (style !== 'true' && style !== 'false') fail('path-style must be true or false');
    forcePathStyle = style === 'true';
  }
  return { bucket, prefix, endpoint, region, forcePathStyle };
}

/** TRENT_BLOBS_ACCESS_KEY_ID / TRENT_BLOBS_SECRET_ACCESS_KEY (and optional TRENT_BLOBS_SESSION_TOKEN), when set. */
function blobCredentialsFromEnv(env: NodeJS.ProcessEnv): AwsCredentialIdentity | undefined {
  const accessKeyId = env['TRENT_BLOBS_ACCESS_KEY_ID'];
  const secretAccessKey = env['TRENT_BLOBS_SECRET_ACCESS_KEY'];
  const sessionToken = env['TRENT_BLOBS_SESSION_TOKEN'];
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey) throw new Error('set both TRENT_BLOBS_ACCESS_KEY_ID and TRENT_BLOBS_SECRET_ACCESS_KEY, or neither');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: string } | null)?.name;
}

/** A missing key (NoSuchKey on GET, a bodiless 404 on HEAD); a missing bucket is not a missing blob. */
function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  return httpStatus(err) === 404 && name !== 'NoSuchBucket';
}

function isBlobKey(key: string): boolean {
  try {
    assertBlobKey(key);
    return true;
  } catch {
    return false;
  }
}

function toReadable(body: unknown): Readable {
  if (body === undefined || body === null) return Readable.from([], { objectMode: false });
  if (body instanceof Readable) return body;
  const web = body as { transformToWebStream?: () => ReadableStream<Uint8Array> };
  if (typeof web.transformToWebStream === 'function') return Readable.fromWeb(web.transformToWebStream() as import('node:stream/web').ReadableStream);
  throw new TypeError('unexpected GetObject body type');
}

/** The first `length` bytes of `source`, which is destroyed after them. */
function truncated(source: Readable, length: number): Readable {
  return Readable.from(
    (async function* () {
      let left = length;
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          if (chunk.length >= left) {
            if (left > 0) yield chunk.subarray(0, left);
            return;
          }
          left -= chunk.length;
          yield chunk;
        }
      } finally {
        source.destroy();
      }
    })(),
    { objectMode: false },
  );
}

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly location: S3BlobsLocation;
  /** `PREFIX/` or ''. */
  readonly #root: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #pageSize: number;

  private constructor(client: S3Client, location: S3BlobsLocation, opts: S3BlobStoreOptions) {
    this.client = client;
    this.location = location;
    this.#root = location.prefix ? `${location.prefix}/` : '';
    this.#partSize = opts.partSize ?? 8 * MIB;
    this.#queueSize = opts.queueSize ?? 2;
    this.#pageSize = opts.listPageSize ?? 1000;
    if (!Number.isSafeInteger(this.#partSize) || this.#partSize < 5 * MIB) throw new RangeError('partSize must be at least 5 MiB');
    if (!Number.isSafeInteger(this.#queueSize) || this.#queueSize < 1) throw new RangeError('queueSize must be at least 1');
    if (!Number.isSafeInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > 1000) throw new RangeError('listPageSize must be 1..1000');
  }

  /** A store for the URL (see parseS3BlobsUrl); nothing is contacted yet. */
  static fromUrl(url: string, opts: S3BlobStoreOptions = {}): S3BlobStore {
    const env = opts.env ?? process.env;
    const location = parseS3BlobsUrl(url, env);
    let ca = opts.ca;
    if (ca === undefined && env['TRENT_BLOBS_CA_BUNDLE']) {
      try {
        ca = readFileSync(env['TRENT_BLOBS_CA_BUNDLE']);
      } catch (err) {
        throw new Error(`cannot read TRENT_BLOBS_CA_BUNDLE (${env['TRENT_BLOBS_CA_BUNDLE']}): ${(err as Error).message}`);
      }
    }
    const credentials = opts.credentials ?? blobCredentialsFromEnv(env);
    const client = new S3Client({
      region: location.region,
      ...(location.endpoint ? { endpoint: location.endpoint } : {}),
      forcePathStyle: location.forcePathStyle,
      ...(credentials ? { credentials } : {}),
      maxAttempts: 3,
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64, ...(ca !== undefined ? { ca } : {}) }),
        connectionTimeout: 10_000,
        // An idle socket (no byte either way) for this long fails the request instead of hanging it.
        socketTimeout: 120_000,
      }),
    });
    return new S3BlobStore(client, location, opts);
  }

  /** fromUrl, then a HeadBucket that the bucket exists and the credentials may use it; fails with a clear message. */
  static async open(url: string, opts: S3BlobStoreOptions = {}): Promise<S3BlobStore> {
    const store = S3BlobStore.fromUrl(url, opts);
    const { bucket, endpoint, region } = store.location;
    try {
      await store.client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      store.close();
      const status = httpStatus(err);
      const where = `bucket ${JSON.stringify(bucket)} at ${endpoint ?? `AWS S3 (${region})`}`;
      let why: string;
      if (status === 404) why = 'the bucket does not exist';
      else if (status === 403) why = 'access denied: check the credentials and that they may s3:ListBucket on it';
      else if (status === 301 || status === 400) why = `HTTP ${status}: is the region (${region}) right?`;
      else if (status !== undefined) why = `HTTP ${status} ${errorName(err) ?? ''}`.trim();
      else why = `${(err as NodeJS.ErrnoException).code ?? errorName(err) ?? 'error'}: ${(err as Error).message}`;
      throw new Error(`blob store: cannot use ${where}: ${why}`, { cause: err });
    }
    return store;
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }

  #key(key: string): string {
    assertBlobKey(key);
    return this.#root + key;
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ size: number }> {
    const Key = this.#key(key);
    const Bucket = this.location.bucket;
    if (data instanceof Uint8Array) {
      await this.client.send(new PutObjectCommand({ Bucket, Key, Body: data, ContentLength: data.byteLength, ContentType: CONTENT_TYPE }));
      return { size: data.byteLength };
    }
    return { size: await this.#putStream(Bucket, Key, data) };
  }

  /**
   * One PutObject when the stream fits in one part; otherwise a multipart upload of partSize parts, at
   * most queueSize of them in flight, so a put holds about (queueSize + 1) parts in memory. The object
   * appears only on CompleteMultipartUpload. On any failure (the source's or a request's) no further part
   * is read or sent, the upload is aborted (best effort: a bucket lifecycle rule for incomplete uploads
   * reclaims what an abort could not), the source is released, and the first error is thrown.
   */
  async #putStream(Bucket: string, Key: string, data: AsyncIterable<Uint8Array>): Promise<number> {
    const partSize = this.#partSize;
    const source = data[Symbol.asyncIterator]();
    let size = 0;
    let ended = false;
    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    /** Read until more than one part is buffered (so a full part is never the last) or the source ends. */
    const fill = async (): Promise<void> => {
      while (!ended && bufferedBytes <= partSize) {
        const r = await source.next();
        if (r.done) {
          ended = true;
          break;
        }
        const chunk = r.value;
        size += chunk.byteLength;
        buffered.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        bufferedBytes += chunk.byteLength;
      }
    };
    const take = (n: number): Buffer => {
      const all = Buffer.concat(buffered, bufferedBytes);
      // The remainder (less than one source chunk, as a rule) is copied so that the part can be freed alone.
      buffered = n < all.length ? [Buffer.from(all.subarray(n))] : [];
      bufferedBytes = all.length - n;
      return all.subarray(0, n);
    };

    let uploadId: string | undefined;
    const inFlight = new Set<Promise<void>>();
    const parts: CompletedPart[] = [];
    let failure: { err: unknown } | undefined;
    try {
      await fill();
      if (ended) {
        const body = take(bufferedBytes);
        await this.client.send(new PutObjectCommand({ Bucket, Key, Body: body, ContentLength: body.length, ContentType: CONTENT_TYPE }));
        return size;
      }
      // CRC32 on every part, as the SDK's default for a single PutObject; the parts' checksums are listed on completion.
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket, Key, ContentType: CONTENT_TYPE, ChecksumAlgorithm: 'CRC32' }));
      uploadId = created.UploadId;
      if (!uploadId) throw new Error(`blob store: CreateMultipartUpload for ${Key} returned no UploadId`);
      for (let partNumber = 1; ; partNumber++) {
        if (partNumber > MAX_PARTS) throw new Error(`blob store: more than ${MAX_PARTS} parts of ${partSize} bytes`);
        const last = ended && bufferedBytes <= partSize;
        const body = take(last ? bufferedBytes : partSize);
        const sent: Promise<void> = this.client
          .send(new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length, ChecksumAlgorithm: 'CRC32' }))
          .then(
            (out) => {
              if (!out.ETag) throw new Error(`blob store: UploadPart ${partNumber} of ${Key} returned no ETag`);
              parts.push({ PartNumber: partNumber, ETag: out.ETag, ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}) });
            },
          )
          .catch((err: unknown) => {
            failure ??= { err };
          })
          .finally(() => inFlight.delete(sent));
        inFlight.add(sent);
        if (last) break;
        while (inFlight.size >= this.#queueSize && !failure) await Promise.race(inFlight);
        if (failure) throw failure.err;
        await fill();
      }
      await Promise.all(inFlight);
      if (failure) throw failure.err;
      parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      return size;
    } catch (err) {
      await Promise.all(inFlight);
      if (uploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId })).catch(() => {});
      // Release the source as a for-await loop would (a stream is destroyed), unless it is what failed.
      await source.return?.().catch(() => {});
      throw err;
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const Key = this.#key(key);
    let Range: string | undefined;
    if (range) {
      const { start, end } = range;
      if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`invalid range start ${start}`);
      if (end !== Infinity && (!Number.isSafeInteger(end) || end < start)) throw new RangeError(`invalid range end ${end} (start ${start})`);
      Range = `bytes=${start}-${end === Infinity ? '' : end}`;
    }
    let out;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key, Range }));
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFound(key);
      // A range that starts at or past the end (or any range of an empty blob): no bytes, as a file read gives.
      if (range && httpStatus(err) === 416) return Readable.from([], { objectMode: false });
      throw err;
    }
    const stream = toReadable(out.Body);
    if (!range) return stream;
    // The bytes must be the ones asked for. A store may ignore a Range (200 and the whole blob) or, like
    // s3rver for a range ending at 0, send more than asked: a longer answer from the right start is cut.
    const got = out.ContentRange === undefined ? undefined : /^bytes (\d+)-(\d+)\/(?:\d+|\*)$/.exec(out.ContentRange);
    const from = out.ContentRange === undefined ? 0 : got ? Number(got[1]) : NaN;
    if (from !== range.start) {
      stream.destroy();
      throw new Error(`blob store: asked for bytes ${range.start}-${range.end} of ${key}, the server answered ${out.ContentRange ?? 'with the whole blob'}`);
    }
    const delivered = got ? Number(got[2]) - from + 1 : (out.ContentLength ?? Infinity);
    const wanted = range.end - range.start + 1;
    return delivered > wanted ? truncated(stream, wanted) : stream;
  }

  async read(key: string): Promise<Buffer> {
    return buffer(await this.get(key));
  }

  async size(key: string): Promise<number | undefined> {
    const Key = this.#key(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key }));
      if (out.ContentLength === undefined) throw new Error(`blob store: no Content-Length for ${key}`);
      return out.ContentLength;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.#key(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Keys starting with `prefix` (a plain string prefix, not only whole segments, as the fs store filters),
   * in the fs store's order: depth first with each folder's names sorted, which is the order of the keys
   * with '/' read as the lowest character. S3 lists in plain byte order, where 'a-b' and 'a.b' come
   * before 'a/b/c' ('-' and '.' sort below '/'); such a key is held back until the listing has passed
   * every key that could still come before it, so only keys of that shape are ever held (a UUID's
   * dashes, as in Trent's blob names, hold a key only until the next one arrives). One flat listing,
   * 1000 keys a request. Objects whose names are not blob keys (placed by something else) are skipped.
   */
  async *list(prefix: string): AsyncIterable<string> {
    const held: { key: string; order: string }[] = [];
    let last: string | undefined;
    const release = (entry: { key: string; order: string }): string => {
      if (last !== undefined && entry.order <= last) throw new Error('blob store: the listing came in neither byte order nor folder order');
      last = entry.order;
      return entry.key;
    };
    for await (const key of this.#listFlat(prefix)) {
      const order = folderOrder(key);
      let lo = 0;
      let hi = held.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (held[mid]!.order < order) lo = mid + 1;
        else hi = mid;
      }
      held.splice(lo, 0, { key, order });
      while (held.length > 0 && !mayStillBePreceded(held[0]!.key, key)) yield release(held.shift()!);
    }
    for (const entry of held) yield release(entry);
  }

  /** Valid blob keys under the store's root starting with `prefix`, relative to the root, in the store's listing order. */
  async *#listFlat(prefix: string): AsyncGenerator<string> {
    const Prefix = this.#root + prefix;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix, MaxKeys: this.#pageSize, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(Prefix)) continue;
        const key = o.Key.slice(this.#root.length);
        if (isBlobKey(key)) yield key;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token) throw new Error('blob store: a truncated listing came without a continuation token');
    } while (token);
  }
}

/** The fs store's order as a plain string order: '/' below every character a blob key may hold. */
function folderOrder(key: string): string {
  return key.replaceAll('/', '\u0000');
}

/**
 * Whether a key listed at or after `latest` (in byte order) could still come before `key` in folder order:
 * one that shares a prefix with `key` up to a '-' or '.' of `key`, and has '/' there. Once `latest` has
 * moved past every such prefix, none can follow.
 */
function mayStillBePreceded(key: string, latest: string): boolean {
  let common = 0;
  while (common < key.length && common < latest.length && key[common] === latest[common]) common++;
  for (let i = 0; i < common; i++) if (key[i] === '-' || key[i] === '.') return true;
  const k = key[common];
  const l = latest[common];
  return (k === '-' || k === '.') && (l === '-' || l === '.' || l === '/');
}
