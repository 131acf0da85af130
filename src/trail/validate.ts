import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { SystemObjects } from '../s3/system.ts';
import { digestFolder } from './delivery.ts';
import { digestStringToSign, verifyDigest, type PublicKeyInfo } from './signing.ts';
import type { TrailRecord } from './trails.ts';

export interface ValidationReport {
  /** One line per file, in the AWS CLI's words: `Digest file\ts3://b/k\tvalid` or `...\tINVALID: why`. */
  lines: string[];
  validDigests: number;
  invalidDigests: number;
  validLogs: number;
  invalidLogs: number;
  /** s3:// URIs of every file found invalid. */
  invalid: string[];
}

interface Digest {
  digestStartTime: string;
  digestEndTime: string;
  digestS3Bucket: string;
  digestS3Object: string;
  digestPublicKeyFingerprint: string;
  previousDigestS3Bucket: string | null;
  previousDigestS3Object: string | null;
  previousDigestHashValue: string | null;
  previousDigestSignature: string | null;
  logFiles: Array<{ s3Bucket: string; s3Object: string; hashValue: string }>;
}

const REQUIRED = ['digestPublicKeyFingerprint', 'digestS3Bucket', 'digestS3Object', 'previousDigestSignature', 'digestEndTime', 'digestStartTime'];

/** The end time a digest's name carries (YYYYMMDDTHHMMSSZ), as the AWS CLI reads it. */
function keyDate(key: string): string {
  return key.slice(-24, -8);
}

function compact(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * Walks a trail's digest chain the way `aws cloudtrail validate-logs` does, reading the objects from
 * Trent's own storage: from the newest digest in [start, end] back through previousDigest* links,
 * checking each digest's location, signature (SHA256withRSA over CloudTrail's string to sign, with the
 * key its fingerprint names), the previous digest's hash, and the SHA-256 of every log file it lists.
 */
export async function validateTrail(opts: {
  objects: Pick<SystemObjects, 'get' | 'list'>;
  publicKeys: PublicKeyInfo[];
  trail: TrailRecord;
  accountId: string;
  region: string;
  start: number;
  end: number;
}): Promise<ValidationReport> {
  const { objects, trail } = opts;
  const report: ValidationReport = { lines: [], validDigests: 0, invalidDigests: 0, validLogs: 0, invalidLogs: 0, invalid: [] };
  const bad = (kind: 'Digest' | 'Log', bucket: string, key: string, why: string) => {
    report.lines.push(`${kind} file\ts3://${bucket}/${key}\tINVALID: ${why}`);
    report.invalid.push(`s3://${bucket}/${key}`);
    if (kind === 'Digest') report.invalidDigests++;
    else report.invalidLogs++;
  };
  /** A log file is valid when it is there, unzips, and its SHA-256 is the one on record. */
  const checkLog = async (log: { s3Bucket: string; s3Object: string; hashValue: string }): Promise<void> => {
    const lf = await objects.get(log.s3Bucket, log.s3Object);
    if (!lf) return bad('Log', log.s3Bucket, log.s3Object, 'not found');
    let hash: string;
    try {
      hash = createHash('sha256').update(gunzipSync(lf.body)).digest('hex');
    } catch {
      return bad('Log', log.s3Bucket, log.s3Object, 'invalid format');
    }
    if (hash !== log.hashValue) return bad('Log', log.s3Bucket, log.s3Object, "hash value doesn't match");
    report.validLogs++;
    report.lines.push(`Log file\ts3://${log.s3Bucket}/${log.s3Object}\tvalid`);
  };
  const keys = new Map(opts.publicKeys.map((k) => [k.fingerprint, k]));
  const bucket = trail.bucket;
  const namePattern = new RegExp(`/${opts.accountId}_CloudTrail-Digest_${opts.region}_${trail.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_${opts.region}_\\d{8}T\\d{6}Z\\.json\\.gz$`);
  const lo = compact(opts.start);
  const hi = compact(opts.end + 3600_000);
  const listed = (await objects.list(bucket, digestFolder(trail, opts.accountId, opts.region))).filter((k) => namePattern.test(k) && keyDate(k) >= lo && keyDate(k) <= hi).sort((a, b) => (keyDate(a) < keyDate(b) ? -1 : keyDate(a) > keyDate(b) ? 1 : 0));
  /** The newest listed digest older than `before` (a name date), used after a gap or a missing digest. */
  const olderThan = (before: string | undefined): string | undefined => {
    for (let i = listed.length - 1; i >= 0; i--) if (before === undefined || keyDate(listed[i]!) < before) return listed[i];
    return undefined;
  };
  // Trent knows the newest digest it delivered (the trail's record): a chain whose newest files were deleted,
  // invisible to a walk that starts from what is listed, starts there instead, and its loss is reported.
  const d0 = trail.digest;
  const delivered = d0 && d0.bucket === bucket && namePattern.test(d0.key) && keyDate(d0.key) >= lo && keyDate(d0.key) <= hi ? d0 : undefined;
  let key = olderThan(undefined);
  let expectedHash: { hash: string; from: string } | undefined;
  if (delivered && (key === undefined || keyDate(key) <= keyDate(delivered.key))) {
    key = delivered.key;
    expectedHash = { hash: delivered.hash, from: "the trail's record of its newest digest" };
  }
  const visited = new Set<string>();
  while (key && !visited.has(key)) {
    const current = key;
    visited.add(current);
    const obj = await objects.get(bucket, current);
    if (!obj) {
      bad('Digest', bucket, current, 'not found');
      key = olderThan(keyDate(current));
      expectedHash = undefined;
      continue;
    }
    let raw: Buffer;
    let d: Digest;
    try {
      raw = gunzipSync(obj.body);
      d = JSON.parse(raw.toString('utf8')) as Digest;
      if (REQUIRED.some((f) => !(f in d))) throw new Error('missing fields');
    } catch {
      bad('Digest', bucket, current, 'invalid format');
      key = olderThan(keyDate(current));
      expectedHash = undefined;
      continue;
    }
    const next = (): string | undefined => (d.previousDigestS3Object && d.previousDigestS3Bucket === bucket ? d.previousDigestS3Object : olderThan(keyDate(current)));
    if (d.digestS3Bucket !== bucket || d.digestS3Object !== current) {
      bad('Digest', bucket, current, 'has been moved from its original location');
      key = olderThan(keyDate(current));
      expectedHash = undefined;
      continue;
    }
    const pk = keys.get(d.digestPublicKeyFingerprint);
    const signature = obj.headers.metadata['signature'];
    if (!pk) {
      bad('Digest', bucket, current, `public key not found in region ${opts.region} for fingerprint ${d.digestPublicKeyFingerprint}`);
      key = olderThan(keyDate(current));
      expectedHash = undefined;
      continue;
    }
    let signed = false;
    try {
      signed = signature !== undefined && verifyDigest(pk.publicDer, digestStringToSign(d.digestEndTime, bucket, current, raw, d.previousDigestSignature), signature);
    } catch {
      signed = false;
    }
    if (!signed) {
      bad('Digest', bucket, current, 'signature verification failed');
      key = olderThan(keyDate(current));
      expectedHash = undefined;
      continue;
    }
    const actualHash = createHash('sha256').update(raw).digest('hex');
    if (expectedHash && expectedHash.hash !== actualHash) {
      bad('Digest', bucket, current, `hash value doesn't match the previousDigestHashValue of ${expectedHash.from}`);
    } else {
      report.validDigests++;
      report.lines.push(`Digest file\ts3://${bucket}/${current}\tvalid`);
    }
    for (const log of d.logFiles ?? []) await checkLog(log);
    if (Date.parse(d.digestStartTime) < opts.start) break;
    expectedHash = d.previousDigestHashValue ? { hash: d.previousDigestHashValue, from: `s3://${bucket}/${current}` } : undefined;
    key = next();
  }
  if (delivered && !visited.has(delivered.key) && !(await objects.get(bucket, delivered.key))) bad('Digest', bucket, delivered.key, 'not found');
  // Log files delivered since the newest digest are listed by no digest yet: the trail's record of them stands in.
  for (const log of trail.pendingLogs) {
    const t = Date.parse(log.newestEventTime);
    if (Number.isFinite(t) && (t < opts.start || Date.parse(log.oldestEventTime) > opts.end + 3600_000)) continue;
    await checkLog(log);
  }
  return report;
}
