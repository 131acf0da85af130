import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { AwsError } from '../../wire/errors.ts';
import { setBucketField } from '../buckets.ts';
import type { S3Context } from '../context.ts';
import { InvalidArgument, MalformedXML, NotImplemented } from '../errors.ts';
import { child, empty, isoDate, maxKeysOf, readXml, token, xmlResponse, XMLNS } from '../messages.ts';
import { checkVersioningChange } from '../object-lock.ts';
import type { S3Route } from '../routing.ts';
import { upperBound, urlEncode } from './listings.ts';

/**
 * Bucket versioning: GetBucketVersioning, PutBucketVersioning and ListObjectVersions. A bucket starts without a
 * versioning state (each key has one version, 'null'); once enabled it can only be suspended, never undone. Every
 * version, and every delete marker, is a row of s3_objects (objects.ts) with its own object key and blobs.
 */

export async function getBucketVersioning(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  // A bucket never versioned answers an empty configuration, as on AWS.
  return xmlResponse({ VersioningConfiguration: { '@_xmlns': XMLNS, ...(b.versioning ? { Status: b.versioning } : {}) } });
}

export async function putBucketVersioning(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  const doc = await readXml(req.body);
  const c = doc['VersioningConfiguration'];
  if (c === undefined) throw new MalformedXML();
  const status = token(child(c, 'Status'));
  const mfaDelete = token(child(c, 'MfaDelete'));
  if (mfaDelete !== undefined && mfaDelete !== 'Enabled' && mfaDelete !== 'Disabled') throw new MalformedXML();
  // MFA delete needs an MFA device's code with every versioned delete; Trent has no MFA devices.
  if (mfaDelete === 'Enabled') throw new NotImplemented('MFA delete (Trent has no MFA devices)');
  if (status === undefined) throw new AwsError('IllegalVersioningConfigurationException', 400, 'The Versioning element must be specified');
  if (status !== 'Enabled' && status !== 'Suspended') throw new MalformedXML();
  checkVersioningChange(b, status);
  await setBucketField(s3.db, b.name, 'versioning', status);
  return empty(200);
}

interface VersionRow {
  object_key: string;
  version_id: string;
  version_seq: number;
  is_latest: number;
  delete_marker: number;
  size: number;
  etag: string;
  last_modified: number;
  checksum_algorithm: string | null;
}

/** Where a version listing continues: versions of `key` older than `seq`, then the keys after it. */
interface Cursor {
  key: string;
  seq: number;
}

const ALL_VERSIONS = Number.MAX_SAFE_INTEGER;

export async function listObjectVersions(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const bucket = r.bucket!;
  await s3.bucketOf(bucket);
  const prefix = req.query.get('prefix') ?? '';
  const delimiter = req.query.get('delimiter') ?? '';
  const encoding = req.query.get('encoding-type');
  if (encoding !== undefined && encoding !== 'url') throw new InvalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', encoding);
  const keyMarker = req.query.get('key-marker') ?? '';
  const versionIdMarker = req.query.get('version-id-marker');
  if (versionIdMarker !== undefined && versionIdMarker !== '' && !keyMarker) {
    throw new InvalidArgument('A version-id marker cannot be specified without a key marker.', 'version-id-marker', versionIdMarker);
  }
  const maxKeys = maxKeysOf(req);
  // Where to start: after the marker's version (older ones of its key follow), or after every version of the marker key.
  let cursor: Cursor = { key: '', seq: ALL_VERSIONS };
  if (keyMarker) {
    cursor = { key: keyMarker, seq: 0 };
    if (versionIdMarker) {
      const m = await s3.db.get<{ version_seq: number }>('SELECT version_seq FROM s3_objects WHERE bucket_name = ? AND object_key = ? AND version_id = ?', [bucket, keyMarker, versionIdMarker]);
      if (!m) throw new InvalidArgument('Invalid version id specified', 'version-id-marker', versionIdMarker);
      cursor = { key: keyMarker, seq: Number(m.version_seq) };
    } else if (delimiter && keyMarker.startsWith(prefix)) {
      // A marker that is a common prefix continues after that whole prefix.
      const i = keyMarker.indexOf(delimiter, prefix.length);
      if (i >= 0 && i + delimiter.length === keyMarker.length) {
        const next = upperBound(keyMarker);
        if (next !== undefined) cursor = { key: next, seq: ALL_VERSIONS };
      }
    }
  }
  const versions: Array<VersionRow & { isPrefix?: false }> = [];
  const prefixes: string[] = [];
  let truncated = false;
  let last: { key: string; versionId?: string } | undefined;
  const hi = upperBound(prefix);
  const BATCH = Math.min(1000, maxKeys + 1);
  if (maxKeys > 0) {
    outer: for (;;) {
      const lo = cursor.key > prefix ? cursor.key : prefix;
      const rows = await s3.db.all<VersionRow>(
        `SELECT object_key, version_id, version_seq, is_latest, delete_marker, size, etag, last_modified, checksum_algorithm FROM s3_objects
          WHERE bucket_name = ? AND object_key >= ? ${hi !== undefined ? 'AND object_key < ?' : ''} AND (object_key > ? OR (object_key = ? AND version_seq < ?))
          ORDER BY object_key, version_seq DESC LIMIT ?`,
        [bucket, lo, ...(hi !== undefined ? [hi] : []), cursor.key, cursor.key, cursor.seq, BATCH],
      );
      if (rows.length === 0) break;
      for (const row of rows) {
        if (versions.length + prefixes.length >= maxKeys) {
          truncated = true;
          break outer;
        }
        const k = row.object_key;
        if (delimiter) {
          const i = k.indexOf(delimiter, prefix.length);
          if (i >= 0) {
            const cp = k.slice(0, i + delimiter.length);
            prefixes.push(cp);
            last = { key: cp };
            const next = upperBound(cp);
            if (next === undefined) break outer;
            cursor = { key: next, seq: ALL_VERSIONS };
            continue outer;
          }
        }
        versions.push(row);
        last = { key: k, versionId: row.version_id };
        cursor = { key: k, seq: Number(row.version_seq) };
      }
      if (rows.length < BATCH) break;
    }
  }
  const enc = (s: string) => (encoding === 'url' ? urlEncode(s) : s);
  const owner = s3.owner;
  return xmlResponse({
    ListVersionsResult: {
      '@_xmlns': XMLNS,
      Name: bucket,
      Prefix: enc(prefix),
      KeyMarker: enc(keyMarker),
      VersionIdMarker: versionIdMarker ?? '',
      ...(truncated && last ? { NextKeyMarker: enc(last.key), ...(last.versionId !== undefined ? { NextVersionIdMarker: last.versionId } : {}) } : {}),
      MaxKeys: maxKeys,
      ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
      ...(encoding ? { EncodingType: encoding } : {}),
      IsTruncated: truncated,
      Version: versions
        .filter((v) => Number(v.delete_marker) === 0)
        .map((v) => ({
          Key: enc(v.object_key),
          VersionId: v.version_id,
          IsLatest: Number(v.is_latest) === 1,
          LastModified: isoDate(Number(v.last_modified)),
          ETag: `"${v.etag}"`,
          Size: Number(v.size),
          Owner: owner,
          StorageClass: 'STANDARD',
          ...(v.checksum_algorithm ? { ChecksumAlgorithm: v.checksum_algorithm } : {}),
        })),
      DeleteMarker: versions
        .filter((v) => Number(v.delete_marker) === 1)
        .map((v) => ({ Key: enc(v.object_key), VersionId: v.version_id, IsLatest: Number(v.is_latest) === 1, LastModified: isoDate(Number(v.last_modified)), Owner: owner })),
      CommonPrefixes: prefixes.map((p) => ({ Prefix: enc(p) })),
    },
  });
}
