import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import type { S3Context } from '../context.ts';
import { InvalidArgument } from '../errors.ts';
import { isoDate, maxKeysOf, xmlResponse, XMLNS } from '../messages.ts';
import type { S3Route } from '../routing.ts';

/** Listing a bucket's objects: ListObjectsV2 and ListObjects, over the keys in UTF-8 byte order. */

/** Smallest string greater than every string that starts with `prefix` (UTF-8 byte order). */
export function upperBound(prefix: string): string | undefined {
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
export function urlEncode(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function encodeToken(cursor: string): string {
  return Buffer.from(cursor, 'utf8').toString('base64');
}

function decodeToken(token: string): string {
  const decoded = Buffer.from(token, 'base64');
  if (decoded.toString('base64') !== token) throw new InvalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
  return decoded.toString('utf8');
}

/** Keys, common prefixes and truncation for ListObjects / ListObjectsV2. */
async function listing(s3: S3Context, bucket: string, prefix: string, delimiter: string, from: string, maxKeys: number) {
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
    const rows = await s3.db.all<{ object_key: string; size: number; etag: string; last_modified: number; checksum_algorithm: string | null }>(
      `SELECT object_key, size, etag, last_modified, checksum_algorithm FROM s3_objects
        WHERE bucket_name = ? AND is_latest = 1 AND delete_marker = 0 AND object_key ${exclusive ? '>' : '>='} ? ${hi !== undefined ? 'AND object_key < ?' : ''} ORDER BY object_key LIMIT ?`,
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

export async function listObjectsV2(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
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
  const l = await listing(s3, r.bucket!, prefix, delimiter, from, maxKeys);
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
        ...(fetchOwner ? { Owner: s3.owner } : {}),
        StorageClass: 'STANDARD',
      })),
      CommonPrefixes: l.prefixes.map((p) => ({ Prefix: enc(p) })),
    },
  });
}

export async function listObjects(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
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
  const l = await listing(s3, r.bucket!, prefix, delimiter, from, maxKeys);
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
        Owner: s3.owner,
        StorageClass: 'STANDARD',
      })),
      CommonPrefixes: l.prefixes.map((p) => ({ Prefix: enc(p) })),
    },
  });
}
