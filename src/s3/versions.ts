import type { Queryable } from '../store/database.ts';
import { AwsError } from '../wire/errors.ts';
import { NoSuchKey, NoSuchVersion } from './errors.ts';
import { httpDate } from './messages.ts';
import { getLatestVersion, getVersion, type DeleteMarker, type ObjectRecord, type ObjectVersion, type ReadOptions } from './objects.ts';

/**
 * Finding the version a request names, as S3 answers reads of versions: the latest without a version id (a key whose
 * latest version is a delete marker reads as deleted: 404 with x-amz-delete-marker), or the one named (NoSuchVersion
 * when there is none; 405 for a delete marker, which has no data).
 */

/** A key whose latest version is a delete marker: 404 NoSuchKey, saying so in headers. */
export function deletedByMarker(key: string, m: DeleteMarker): AwsError {
  return new AwsError('NoSuchKey', 404, 'The specified key does not exist.', { Key: key }, markerHeaders(m));
}

/** A request naming a delete marker by version id, where S3 needs data: 405 MethodNotAllowed. */
export function markerNotAllowed(method: string, m: DeleteMarker): AwsError {
  return new AwsError('MethodNotAllowed', 405, 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'DeleteMarker' }, markerHeaders(m));
}

function markerHeaders(m: DeleteMarker): Record<string, string> {
  return { 'x-amz-delete-marker': 'true', 'x-amz-version-id': m.versionId, 'last-modified': httpDate(m.lastModified) };
}

/** The version a request names, delete markers included; NoSuchKey / NoSuchVersion when there is none. */
export async function versionNamed(q: Queryable, bucket: string, key: string, versionId: string | undefined, opts?: ReadOptions): Promise<ObjectVersion> {
  const v = versionId === undefined ? await getLatestVersion(q, bucket, key, opts) : await getVersion(q, bucket, key, versionId, opts);
  if (!v) throw versionId === undefined ? new NoSuchKey(key) : new NoSuchVersion(key, versionId);
  return v;
}

/** The object version a request names, for operations on its data or lock: a delete marker is refused as S3 refuses it. */
export async function objectNamed(q: Queryable, bucket: string, key: string, versionId: string | undefined, method: string, opts?: ReadOptions): Promise<ObjectRecord> {
  const v = await versionNamed(q, bucket, key, versionId, opts);
  if (v.kind === 'marker') throw versionId === undefined ? deletedByMarker(key, v.marker) : markerNotAllowed(method, v.marker);
  return v.record;
}

/**
 * x-amz-version-id on a response about a version: its id in a bucket that has (or had) versioning; nothing for a
 * bucket never versioned, whose objects are all the null version.
 */
export function versionHeader(versioning: 'Enabled' | 'Suspended' | null, versionId: string | undefined): Record<string, string> {
  if (versionId === undefined || (versioning === null && versionId === 'null')) return {};
  return { 'x-amz-version-id': versionId };
}
