import { NotImplemented, MethodNotAllowed } from './errors.ts';

/** Where a request goes: the operation, and the bucket and key it names. */
export interface S3Route {
  operation: string;
  bucket?: string;
  key?: string;
  /** Set when the request could not be routed; thrown by the handler so the error is recorded under the route. */
  error?: Error;
  /** CompleteMultipartUpload: its x-amz-checksum-* headers name the assembled object's checksum, not its body's. */
  checksumHeadersNotOfBody?: boolean;
}

/** Sub-resources Trent does not implement: a request naming one is refused with 501, never misread as another operation. */
const UNSUPPORTED = [
  'analytics', 'accelerate', 'intelligent-tiering', 'inventory', 'logging', 'metrics', 'notification',
  'ownershipControls', 'replication', 'requestPayment', 'website', 'torrent', 'restore',
  'select', 'renameObject', 'metadataTable', 'session',
];
/** Sub-resources of a bucket only, and of an object only: named on the other, they are refused the same way. */
const BUCKET_ONLY = ['versions', 'lifecycle', 'object-lock'];
const OBJECT_ONLY = ['retention', 'legal-hold'];

/**
 * Path-style (`/bucket/key`) and virtual-host (`Host: bucket.<endpoint host>`) addressing. `virtualHosts`
 * are the endpoint host names under which a bucket may appear as the first label.
 */
export function addressOf(rawPath: string, host: string | undefined, virtualHosts: readonly string[]): { bucket?: string; key?: string } {
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  let vhostBucket: string | undefined;
  for (const base of virtualHosts) {
    if (hostname.endsWith(`.${base}`) && hostname.length > base.length + 1) {
      vhostBucket = hostname.slice(0, hostname.length - base.length - 1);
      break;
    }
  }
  const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  if (vhostBucket !== undefined) return { bucket: vhostBucket, ...(path ? { key: decodeKey(path) } : {}) };
  if (!path) return {};
  const slash = path.indexOf('/');
  if (slash < 0) return { bucket: decodeKey(path) };
  const bucket = decodeKey(path.slice(0, slash));
  const key = path.slice(slash + 1);
  return { bucket, ...(key ? { key: decodeKey(key) } : {}) };
}

function decodeKey(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The S3 operation a request names, from its method, address and sub-resource query parameters. */
export function route(method: string, rawPath: string, query: Map<string, string>, headers: Record<string, string | undefined>, virtualHosts: readonly string[]): S3Route {
  const { bucket, key } = addressOf(rawPath, headers['host'], virtualHosts);
  const at = { ...(bucket !== undefined ? { bucket } : {}), ...(key !== undefined ? { key } : {}) };
  const has = (q: string) => query.has(q);
  const unsupported = UNSUPPORTED.find((q) => query.has(q));
  const fail = (operation: string, error: Error): S3Route => ({ operation, ...at, error });
  // A browser's CORS preflight, for the bucket or an object in it (answered from the bucket's CORS rules, unsigned).
  if (method === 'OPTIONS' && bucket !== undefined) return { operation: 'PreflightRequest', ...at };
  if (bucket === undefined) {
    if (method === 'GET') return { operation: 'ListBuckets' };
    return fail('Unknown', new MethodNotAllowed(method));
  }
  if (key === undefined) {
    const misplaced = unsupported ?? OBJECT_ONLY.find((q) => query.has(q));
    if (misplaced) return fail(`Bucket:${misplaced}`, new NotImplemented(`?${misplaced}`));
    switch (method) {
      case 'PUT':
        if (has('acl')) return { operation: 'PutBucketAcl', ...at };
        if (has('encryption')) return { operation: 'PutBucketEncryption', ...at };
        if (has('policy')) return { operation: 'PutBucketPolicy', ...at };
        if (has('publicAccessBlock')) return { operation: 'PutPublicAccessBlock', ...at };
        if (has('tagging')) return { operation: 'PutBucketTagging', ...at };
        if (has('versioning')) return { operation: 'PutBucketVersioning', ...at };
        if (has('cors')) return { operation: 'PutBucketCors', ...at };
        if (has('lifecycle')) return { operation: 'PutBucketLifecycleConfiguration', ...at };
        if (has('object-lock')) return { operation: 'PutObjectLockConfiguration', ...at };
        if (has('versions')) return fail('Bucket:versions', new MethodNotAllowed(method));
        return { operation: 'CreateBucket', ...at };
      case 'HEAD':
        return { operation: 'HeadBucket', ...at };
      case 'DELETE':
        if (has('encryption')) return { operation: 'DeleteBucketEncryption', ...at };
        if (has('policy')) return { operation: 'DeleteBucketPolicy', ...at };
        if (has('publicAccessBlock')) return { operation: 'DeletePublicAccessBlock', ...at };
        if (has('tagging')) return { operation: 'DeleteBucketTagging', ...at };
        if (has('cors')) return { operation: 'DeleteBucketCors', ...at };
        if (has('lifecycle')) return { operation: 'DeleteBucketLifecycle', ...at };
        if (has('object-lock') || has('versions')) return fail('Unknown', new MethodNotAllowed(method));
        return { operation: 'DeleteBucket', ...at };
      case 'GET':
        if (has('acl')) return { operation: 'GetBucketAcl', ...at };
        if (has('location')) return { operation: 'GetBucketLocation', ...at };
        if (has('encryption')) return { operation: 'GetBucketEncryption', ...at };
        if (has('policy')) return { operation: 'GetBucketPolicy', ...at };
        if (has('policyStatus')) return { operation: 'GetBucketPolicyStatus', ...at };
        if (has('publicAccessBlock')) return { operation: 'GetPublicAccessBlock', ...at };
        if (has('tagging')) return { operation: 'GetBucketTagging', ...at };
        if (has('versioning')) return { operation: 'GetBucketVersioning', ...at };
        if (has('cors')) return { operation: 'GetBucketCors', ...at };
        if (has('versions')) return { operation: 'ListObjectVersions', ...at };
        if (has('lifecycle')) return { operation: 'GetBucketLifecycleConfiguration', ...at };
        if (has('object-lock')) return { operation: 'GetObjectLockConfiguration', ...at };
        if (has('uploads')) return { operation: 'ListMultipartUploads', ...at };
        if (query.get('list-type') === '2') return { operation: 'ListObjectsV2', ...at };
        return { operation: 'ListObjects', ...at };
      case 'POST':
        if (has('delete')) return { operation: 'DeleteObjects', ...at };
        // An HTML form upload (POST Object): the form, not the query, says what to store.
        return { operation: 'PostObject', ...at };
      default:
        return fail('Unknown', new MethodNotAllowed(method));
    }
  }
  const misplaced = unsupported ?? BUCKET_ONLY.find((q) => query.has(q));
  if (misplaced) return fail(`Object:${misplaced}`, new NotImplemented(`?${misplaced}`));
  switch (method) {
    case 'PUT':
      if (has('tagging')) return { operation: 'PutObjectTagging', ...at };
      if (has('retention')) return { operation: 'PutObjectRetention', ...at };
      if (has('legal-hold')) return { operation: 'PutObjectLegalHold', ...at };
      if (has('acl')) return { operation: 'PutObjectAcl', ...at };
      if (has('uploadId') || has('partNumber')) return { operation: headers['x-amz-copy-source'] !== undefined ? 'UploadPartCopy' : 'UploadPart', ...at };
      if (headers['x-amz-copy-source'] !== undefined) return { operation: 'CopyObject', ...at };
      return { operation: 'PutObject', ...at };
    case 'GET':
      if (has('tagging')) return { operation: 'GetObjectTagging', ...at };
      if (has('retention')) return { operation: 'GetObjectRetention', ...at };
      if (has('legal-hold')) return { operation: 'GetObjectLegalHold', ...at };
      if (has('acl')) return { operation: 'GetObjectAcl', ...at };
      if (has('attributes')) return { operation: 'GetObjectAttributes', ...at };
      if (has('uploadId')) return { operation: 'ListParts', ...at };
      return { operation: 'GetObject', ...at };
    case 'HEAD':
      return { operation: 'HeadObject', ...at };
    case 'DELETE':
      if (has('tagging')) return { operation: 'DeleteObjectTagging', ...at };
      if (has('uploadId')) return { operation: 'AbortMultipartUpload', ...at };
      if (has('retention') || has('legal-hold')) return fail('Unknown', new MethodNotAllowed(method));
      return { operation: 'DeleteObject', ...at };
    case 'POST':
      if (has('uploads')) return { operation: 'CreateMultipartUpload', ...at };
      if (has('uploadId')) return { operation: 'CompleteMultipartUpload', ...at, checksumHeadersNotOfBody: true };
      return fail('Unknown', new MethodNotAllowed(method));
    default:
      return fail('Unknown', new MethodNotAllowed(method));
  }
}
