import { ConditionalRequestConflict, InvalidRange, NoSuchKey, NotImplemented, PreconditionFailed } from './errors.ts';
import { unquote } from './messages.ts';
import type { ObjectRecord } from './objects.ts';

/** Conditional requests (If-Match and the rest) and byte ranges, as S3 applies them to reads, writes and deletes. */

/** One `bytes=` range: [start, end] inclusive, or undefined for no (or an ignorable) Range header; throws 416 when unsatisfiable. */
export function parseRange(value: string | undefined, size: number): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw new InvalidRange(size, value.trim());
    if (size === 0) throw new InvalidRange(size, value.trim());
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) throw new InvalidRange(size, value.trim());
  return { start, end };
}

/** Whether an If-Match / If-None-Match list names this ETag (or is `*`). */
export function matchesEtag(list: string, etag: string): boolean {
  return list.split(',').some((t) => t.trim() === '*' || unquote(t) === etag);
}

/**
 * A conditional write's If-Match (the object is this ETag) and If-None-Match: * (there is no object), as PutObject
 * and CompleteMultipartUpload take them. Checked before the write (412 PreconditionFailed; If-Match on no object:
 * 404 NoSuchKey) and again as it commits: an object that changed meanwhile is 409 ConditionalRequestConflict, one
 * deleted meanwhile 404, as AWS answers a conflicting operation.
 */
export function writeConditions(headers: Record<string, string | undefined>, operation: string) {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw new NotImplemented(`If-None-Match other than * on ${operation}`);
  const failed = (existing: ObjectRecord | undefined): 'If-Match' | 'If-None-Match' | 'absent' | undefined => {
    if (ifNoneMatch !== undefined && existing) return 'If-None-Match';
    if (ifMatch !== undefined && !existing) return 'absent';
    if (ifMatch !== undefined && !matchesEtag(ifMatch, existing!.etag)) return 'If-Match';
    return undefined;
  };
  return {
    before(existing: ObjectRecord | undefined, key: string): void {
      const f = failed(existing);
      if (f === 'absent') throw new NoSuchKey(key);
      if (f) throw new PreconditionFailed(f);
    },
    committing(existing: ObjectRecord | undefined, key: string): void {
      const f = failed(existing);
      if (f === 'absent') throw new NoSuchKey(key);
      if (f) throw new ConditionalRequestConflict();
    },
  };
}

/** RFC 7232 as S3 applies it: If-Match / If-Unmodified-Since (412), If-None-Match / If-Modified-Since (304). */
export function checkConditions(headers: Record<string, string | undefined>, o: ObjectRecord, prefix = ''): 'not-modified' | undefined {
  const h = (n: string) => headers[`${prefix}${n}`];
  const matches = (list: string) => matchesEtag(list, o.etag);
  const seconds = Math.floor(o.lastModified / 1000) * 1000;
  const ifMatch = h('if-match');
  const ifNoneMatch = h('if-none-match');
  const ifUnmodified = h('if-unmodified-since');
  const ifModified = h('if-modified-since');
  if (ifMatch !== undefined) {
    if (!matches(ifMatch)) throw new PreconditionFailed(prefix ? 'x-amz-copy-source-If-Match' : 'If-Match');
  } else if (ifUnmodified !== undefined) {
    const t = Date.parse(ifUnmodified);
    if (!Number.isNaN(t) && seconds > t) throw new PreconditionFailed(prefix ? 'x-amz-copy-source-If-Unmodified-Since' : 'If-Unmodified-Since');
  }
  if (ifNoneMatch !== undefined) {
    if (matches(ifNoneMatch)) {
      if (prefix) throw new PreconditionFailed('x-amz-copy-source-If-None-Match');
      return 'not-modified';
    }
  } else if (ifModified !== undefined) {
    const t = Date.parse(ifModified);
    if (!Number.isNaN(t) && seconds <= t) {
      if (prefix) throw new PreconditionFailed('x-amz-copy-source-If-Modified-Since');
      return 'not-modified';
    }
  }
  return undefined;
}
