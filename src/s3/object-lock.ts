import { AwsError } from '../wire/errors.ts';
import type { XmlValue } from '../wire/xml.ts';
import type { BucketRecord } from './buckets.ts';
import { InvalidArgument, InvalidRequest, MalformedXML, VersionLocked } from './errors.ts';
import { child, token } from './messages.ts';
import type { ObjectRecord, Retention } from './objects.ts';

/**
 * S3 Object Lock (write once, read many), as AWS defines it: a bucket with Object Lock enabled (for good, and only with
 * versioning enabled, which then cannot be suspended) keeps each version's retention (GOVERNANCE or COMPLIANCE, until a
 * date) and legal hold. A version under a legal hold or an unexpired retention cannot be deleted, by anyone; only
 * GOVERNANCE yields, to a caller with s3:BypassGovernanceRetention who asks with x-amz-bypass-governance-retention.
 * New versions get the bucket's default retention unless their request names one. Writing a new version of a key
 * never touches the locked ones: it becomes the latest beside them.
 */

export type LockMode = 'GOVERNANCE' | 'COMPLIANCE';

/** A bucket's Object Lock configuration: enabled, with the default retention new versions get, if any. */
export interface ObjectLockConfig {
  enabled: true;
  defaultRetention?: { mode: LockMode; days?: number; years?: number };
}

const DAY_MS = 24 * 3600 * 1000;
/** AWS counts a year of retention as 365 days, and allows at most 100 years. */
const MAX_DAYS = 36500;
const MAX_YEARS = 100;

function lockMode(v: string | undefined): LockMode | undefined {
  return v === 'GOVERNANCE' || v === 'COMPLIANCE' ? v : undefined;
}

/** S3 keeps retain-until dates to the second. */
function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** A timestamp as S3 takes them (ISO 8601); undefined when it is none. */
function isoTime(v: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim())) return undefined;
  const t = Date.parse(v.trim());
  return Number.isNaN(t) ? undefined : t;
}

/** The Object Lock settings a write (PutObject, CopyObject, CreateMultipartUpload) asks for in its headers. */
export interface LockRequest {
  retention?: Retention;
  legalHold?: boolean;
}

/**
 * x-amz-object-lock-mode, -retain-until-date and -legal-hold, checked for form before anything else (S3 answers these
 * before it looks at the bucket's lock): both or neither of mode and date, a known mode, a date in the future.
 */
export function lockHeaders(headers: Record<string, string | undefined>, now: number): LockRequest {
  const mode = headers['x-amz-object-lock-mode'];
  const until = headers['x-amz-object-lock-retain-until-date'];
  const hold = headers['x-amz-object-lock-legal-hold'];
  const out: LockRequest = {};
  if (hold !== undefined) {
    if (hold !== 'ON' && hold !== 'OFF') throw new InvalidArgument("Legal Hold must be either of 'ON' or 'OFF'", 'x-amz-object-lock-legal-hold', hold);
    out.legalHold = hold === 'ON';
  }
  if (mode === undefined && until === undefined) return out;
  if (mode === undefined || until === undefined) {
    const missing = mode === undefined ? 'x-amz-object-lock-mode' : 'x-amz-object-lock-retain-until-date';
    throw new InvalidArgument('x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied', missing, '');
  }
  const m = lockMode(mode);
  if (!m) throw new InvalidArgument('Unknown wormMode directive.', 'x-amz-object-lock-mode', mode);
  const t = isoTime(until);
  if (t === undefined) throw new InvalidArgument('The retain until date must be provided in ISO 8601 format', 'x-amz-object-lock-retain-until-date', until);
  if (t <= now) throw new InvalidArgument('The retain until date must be in the future!', 'x-amz-object-lock-retain-until-date', until);
  out.retention = { mode: m, until: wholeSeconds(t) };
  return out;
}

/** Whether a request carries any Object Lock header. */
export function hasLockHeaders(headers: Record<string, string | undefined>): boolean {
  return headers['x-amz-object-lock-mode'] !== undefined || headers['x-amz-object-lock-retain-until-date'] !== undefined || headers['x-amz-object-lock-legal-hold'] !== undefined;
}

/**
 * The lock a new version gets: what its request asks for (refused on a bucket without Object Lock), else the bucket's
 * default retention, counted from now.
 */
export function lockForNewVersion(bucket: BucketRecord, asked: LockRequest, now: number): LockRequest {
  const explicit = asked.retention !== undefined || asked.legalHold !== undefined;
  if (explicit && !bucket.objectLock) throw new InvalidRequest('Bucket is missing ObjectLockConfiguration');
  const d = bucket.objectLock?.defaultRetention;
  const retention = asked.retention ?? (d ? { mode: d.mode, until: wholeSeconds(now + (d.days ?? (d.years ?? 0) * 365) * DAY_MS) } : undefined);
  return { ...(retention ? { retention } : {}), ...(asked.legalHold !== undefined ? { legalHold: asked.legalHold } : {}) };
}

/** Whether a write of a new version takes Object Lock parameters (its own, or the bucket's default retention). */
export function writesLock(lock: LockRequest): boolean {
  return lock.retention !== undefined || lock.legalHold !== undefined;
}

/**
 * S3 takes Object Lock parameters only with an integrity check on the body: Content-MD5, or an x-amz-checksum-*
 * header or trailer (a SigV4 payload hash does not count, nor x-amz-sdk-checksum-algorithm alone).
 */
export function requireIntegrity(headers: Record<string, string | undefined>, what: 'Put Object' | 'Put Part'): void {
  if (headers['content-md5'] !== undefined) return;
  if (headers['x-amz-trailer']?.toLowerCase().startsWith('x-amz-checksum-')) return;
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-amz-checksum-') && !['x-amz-checksum-algorithm', 'x-amz-checksum-mode', 'x-amz-checksum-type'].includes(name)) return;
  }
  throw new InvalidRequest(`Content-MD5 OR x-amz-checksum- HTTP header is required for ${what} requests with Object Lock parameters`);
}

/** The x-amz-bypass-governance-retention header: whether it asks to bypass (true), and refused on buckets without Object Lock. */
export function bypassRequested(headers: Record<string, string | undefined>, bucket: BucketRecord): boolean {
  const v = headers['x-amz-bypass-governance-retention'];
  if (v === undefined) return false;
  if (!bucket.objectLock) {
    throw new InvalidArgument('x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets.', 'x-amz-bypass-governance-retention', v);
  }
  return v.trim().toLowerCase() === 'true';
}

/**
 * Whether a version's retention may become `next` (null: removed): a retention in force can always be extended in
 * its own mode; a COMPLIANCE one can never be shortened, removed or made GOVERNANCE; a GOVERNANCE one only with the
 * bypass. A retention that has run out is no longer in force.
 */
export function checkRetentionChange(current: Retention | null | undefined, next: Retention | null, bypassGovernance: boolean, now: number): void {
  if (!current || current.until <= now) return;
  const extends_ = next !== null && next.mode === current.mode && next.until >= current.until;
  if (extends_) return;
  if (current.mode === 'GOVERNANCE' && bypassGovernance) return;
  throw new VersionLocked();
}

/** A version's Object Lock response headers (GET and HEAD), for a caller allowed to see each. */
export function lockResponseHeaders(o: Pick<ObjectRecord, 'retention' | 'legalHold'>, showRetention: boolean, showHold: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (showRetention && o.retention) {
    h['x-amz-object-lock-mode'] = o.retention.mode;
    h['x-amz-object-lock-retain-until-date'] = new Date(o.retention.until).toISOString();
  }
  if (showHold && o.legalHold !== undefined) h['x-amz-object-lock-legal-hold'] = o.legalHold ? 'ON' : 'OFF';
  return h;
}

function positiveInteger(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : NaN;
}

/** An <ObjectLockConfiguration> document (PutObjectLockConfiguration), checked as S3 checks it. */
export function parseLockConfiguration(doc: Record<string, XmlValue>): ObjectLockConfig {
  const c = doc['ObjectLockConfiguration'];
  if (c === undefined || c === null || typeof c !== 'object' || Array.isArray(c)) throw new MalformedXML();
  if (token(child(c, 'ObjectLockEnabled')) !== 'Enabled') throw new MalformedXML();
  const rule = child(c, 'Rule');
  if (rule === undefined) return { enabled: true };
  const dr = child(rule, 'DefaultRetention');
  if (dr === undefined || dr === null || typeof dr !== 'object') throw new MalformedXML();
  const mode = lockMode(token(child(dr, 'Mode')));
  const days = positiveInteger(token(child(dr, 'Days')));
  const years = positiveInteger(token(child(dr, 'Years')));
  if (!mode || (days === undefined) === (years === undefined)) throw new MalformedXML();
  const [name, value, max] = days !== undefined ? (['Days', days, MAX_DAYS] as const) : (['Years', years!, MAX_YEARS] as const);
  if (Number.isNaN(value)) throw new MalformedXML();
  if (value <= 0) throw new InvalidArgument('Default retention period must be a positive integer value.', name, String(token(child(dr, name))));
  if (value > max) throw new InvalidArgument('Default retention period too large.', name, String(value));
  return { enabled: true, defaultRetention: { mode, ...(days !== undefined ? { days } : { years: years! }) } };
}

/** An <ObjectLockConfiguration> as GetObjectLockConfiguration answers it. */
export function lockConfigurationXml(c: ObjectLockConfig): Record<string, XmlValue> {
  const d = c.defaultRetention;
  return {
    ObjectLockEnabled: 'Enabled',
    ...(d ? { Rule: { DefaultRetention: { Mode: d.mode, ...(d.days !== undefined ? { Days: d.days } : { Years: d.years! }) } } } : {}),
  };
}

/** A <Retention> document (PutObjectRetention): a mode and a future date, or neither (removing the retention). */
export function parseRetention(doc: Record<string, XmlValue>, now: number): Retention | null {
  const r = doc['Retention'];
  if (r === undefined) throw new MalformedXML();
  const modeText = token(child(r, 'Mode'));
  const dateText = token(child(r, 'RetainUntilDate'));
  if (modeText === undefined && dateText === undefined) return null;
  const mode = lockMode(modeText);
  if (!mode || dateText === undefined) throw new MalformedXML();
  const until = isoTime(dateText);
  if (until === undefined) throw new MalformedXML();
  if (until <= now) throw new InvalidArgument('The retain until date must be in the future!', 'RetainUntilDate', dateText);
  return { mode, until: wholeSeconds(until) };
}

/** A <LegalHold> document (PutObjectLegalHold): ON or OFF. */
export function parseLegalHold(doc: Record<string, XmlValue>): boolean {
  const status = token(child(doc['LegalHold'], 'Status'));
  if (status !== 'ON' && status !== 'OFF') throw new MalformedXML();
  return status === 'ON';
}

/** PutBucketVersioning on a bucket with Object Lock: versioning stays enabled. */
export function checkVersioningChange(bucket: BucketRecord, next: 'Enabled' | 'Suspended'): void {
  if (bucket.objectLock && next !== 'Enabled') {
    throw new AwsError('InvalidBucketState', 409, 'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.');
  }
}
