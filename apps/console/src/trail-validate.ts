// A trail's integrity, checked in the browser the way `aws cloudtrail validate-logs` checks it: the digest files
// and log files are read from the trail's bucket through S3, the digests' public keys come from CloudTrail's
// ListPublicKeys, and WebCrypto verifies each digest's SHA256withRSA signature and every SHA-256. All of it with
// the signed-in caller's own permissions; nothing is trusted from the server but what those APIs return.
import { ListPublicKeysCommand, type CloudTrailClient, type GetTrailStatusCommandOutput, type Trail } from '@aws-sdk/client-cloudtrail';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

export interface FileResult {
  kind: 'Digest' | 'Log';
  uri: string;
  /** 'valid', or why not: 'not found', 'signature verification failed', "hash value doesn't match" ... */
  status: string;
}

export interface ValidationResult {
  files: FileResult[];
  validDigests: number;
  invalidDigests: number;
  validLogs: number;
  invalidLogs: number;
  /** Said when the chain's newest digest is older than the trail's last digest delivery: newer digests are gone. */
  warnings: string[];
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
  logFiles?: Array<{ s3Bucket: string; s3Object: string; hashValue: string }>;
}

/** How long after its end time a digest may be recorded as delivered (signing and writing it). */
const DELIVERY_SLACK_MS = 3000;

const REQUIRED = ['digestPublicKeyFingerprint', 'digestS3Bucket', 'digestS3Object', 'previousDigestSignature', 'digestEndTime', 'digestStartTime'];

const hex = (b: ArrayBuffer | Uint8Array) => Array.from(b instanceof Uint8Array ? b : new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
const sha256 = async (b: Uint8Array) => hex(await crypto.subtle.digest('SHA-256', b as BufferSource));

async function gunzip(b: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([b as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** DER length octets. */
function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v >>= 8) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/**
 * ListPublicKeys returns PKCS#1 RSAPublicKey DER; WebCrypto imports SubjectPublicKeyInfo: the key wrapped in
 * SEQUENCE { AlgorithmIdentifier rsaEncryption NULL, BIT STRING }.
 */
export function spkiFromPkcs1(pkcs1: Uint8Array): Uint8Array {
  const algorithm = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
  const bitString = [0x03, ...derLength(pkcs1.length + 1), 0x00, ...pkcs1];
  const body = [...algorithm, ...bitString];
  return Uint8Array.from([0x30, ...derLength(body.length), ...body]);
}

/** The end time a digest's name carries (YYYYMMDDTHHMMSSZ). */
const keyDate = (key: string) => key.slice(-24, -8);
const compact = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of out.Contents ?? []) keys.push(o.Key!);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** An object's bytes and metadata, or undefined if it is not there. Other failures (AccessDenied) are thrown. */
async function fetchObject(s3: S3Client, bucket: string, key: string): Promise<{ body: Uint8Array; metadata: Record<string, string> } | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { body: await out.Body!.transformToByteArray(), metadata: out.Metadata ?? {} };
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw err;
  }
}

/**
 * Walks the trail's digest chain from the newest digest in [start, end] back through each digest's link to the
 * previous one, checking each digest's place, signature and hash, and the SHA-256 of every log file it lists.
 */
export async function validateTrail(opts: { s3: S3Client; cloudtrail: CloudTrailClient; trail: Trail; status?: GetTrailStatusCommandOutput; accountId: string; region: string; start: Date; end: Date; progress?: (n: number) => void }): Promise<ValidationResult> {
  const { s3, accountId, region } = opts;
  const name = opts.trail.Name!;
  const bucket = opts.trail.S3BucketName!;
  const prefix = opts.trail.S3KeyPrefix ? `${opts.trail.S3KeyPrefix}/` : '';
  const result: ValidationResult = { files: [], validDigests: 0, invalidDigests: 0, validLogs: 0, invalidLogs: 0, warnings: [] };
  const record = (kind: 'Digest' | 'Log', b: string, key: string, status: string) => {
    result.files.push({ kind, uri: `s3://${b}/${key}`, status });
    if (kind === 'Digest') status === 'valid' ? result.validDigests++ : result.invalidDigests++;
    else status === 'valid' ? result.validLogs++ : result.invalidLogs++;
    opts.progress?.(result.files.length);
  };
  const keysOut = await opts.cloudtrail.send(new ListPublicKeysCommand({ StartTime: opts.start, EndTime: new Date(opts.end.getTime() + 3600_000) }));
  const publicKeys = new Map<string, Uint8Array>();
  for (const k of keysOut.PublicKeyList ?? []) if (k.Fingerprint && k.Value) publicKeys.set(k.Fingerprint, k.Value);
  const imported = new Map<string, CryptoKey>();
  const keyFor = async (fingerprint: string): Promise<CryptoKey | undefined> => {
    const der = publicKeys.get(fingerprint);
    if (!der) return undefined;
    let k = imported.get(fingerprint);
    if (!k) {
      k = await crypto.subtle.importKey('spki', spkiFromPkcs1(der) as BufferSource, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
      imported.set(fingerprint, k);
    }
    return k;
  };

  const folder = `${prefix}AWSLogs/${accountId}/CloudTrail-Digest/${region}/`;
  const pattern = new RegExp(`/${accountId}_CloudTrail-Digest_${escape(region)}_${escape(name)}_${escape(region)}_\\d{8}T\\d{6}Z\\.json\\.gz$`);
  const lo = compact(opts.start.getTime());
  const hi = compact(opts.end.getTime() + 3600_000);
  const listed = (await listAll(s3, bucket, folder)).filter((k) => pattern.test(k) && keyDate(k) >= lo && keyDate(k) <= hi).sort((a, b) => (keyDate(a) < keyDate(b) ? -1 : keyDate(a) > keyDate(b) ? 1 : 0));
  const olderThan = (before: string | undefined): string | undefined => {
    for (let i = listed.length - 1; i >= 0; i--) if (before === undefined || keyDate(listed[i]!) < before) return listed[i];
    return undefined;
  };
  // The trail says when it last delivered a digest (moments after the end time its name carries): a chain whose
  // newest files were deleted, invisible to a walk that starts from what is listed, shows here.
  const lastDigest = opts.status?.LatestDigestDeliveryTime;
  const newest = olderThan(undefined);
  if (lastDigest && lastDigest.getTime() <= opts.end.getTime() && (!newest || keyDate(newest) < compact(lastDigest.getTime() - DELIVERY_SLACK_MS))) {
    result.warnings.push(`The trail delivered a digest at ${lastDigest.toISOString()}, but the newest digest file in the bucket ${newest ? `ends at ${keyDate(newest)}` : 'is missing'}: newer digest files have been removed.`);
  }

  let key = newest;
  let expectedHash: { hash: string; from: string } | undefined;
  const visited = new Set<string>();
  while (key && !visited.has(key)) {
    const current = key;
    visited.add(current);
    const obj = await fetchObject(s3, bucket, current);
    const next = (d?: Digest) => {
      expectedHash = d?.previousDigestHashValue ? { hash: d.previousDigestHashValue, from: `s3://${bucket}/${current}` } : undefined;
      return d?.previousDigestS3Object && d.previousDigestS3Bucket === bucket ? d.previousDigestS3Object : olderThan(keyDate(current));
    };
    if (!obj) {
      record('Digest', bucket, current, 'not found');
      key = next();
      continue;
    }
    let raw: Uint8Array;
    let d: Digest;
    try {
      raw = await gunzip(obj.body);
      d = JSON.parse(new TextDecoder().decode(raw)) as Digest;
      if (REQUIRED.some((f) => !(f in d))) throw new Error('missing fields');
    } catch {
      record('Digest', bucket, current, 'invalid format');
      key = next();
      continue;
    }
    if (d.digestS3Bucket !== bucket || d.digestS3Object !== current) {
      record('Digest', bucket, current, 'has been moved from its original location');
      key = next();
      continue;
    }
    const pk = await keyFor(d.digestPublicKeyFingerprint);
    if (!pk) {
      record('Digest', bucket, current, `public key not found in region ${region} for fingerprint ${d.digestPublicKeyFingerprint}`);
      key = next();
      continue;
    }
    const digestHash = await sha256(raw);
    const toSign = new TextEncoder().encode(`${d.digestEndTime}\n${bucket}/${current}\n${digestHash}\n${d.previousDigestSignature ?? 'null'}`);
    const signature = obj.metadata['signature'] ?? '';
    const signed = /^[0-9a-f]+$/i.test(signature) && (await crypto.subtle.verify('RSASSA-PKCS1-v1_5', pk, fromHex(signature) as BufferSource, toSign as BufferSource).catch(() => false));
    if (!signed) {
      record('Digest', bucket, current, 'signature verification failed');
      key = next();
      continue;
    }
    if (expectedHash && expectedHash.hash !== digestHash) record('Digest', bucket, current, `hash value doesn't match the previousDigestHashValue of ${expectedHash.from}`);
    else record('Digest', bucket, current, 'valid');
    for (const log of d.logFiles ?? []) {
      const lf = await fetchObject(s3, log.s3Bucket, log.s3Object);
      if (!lf) {
        record('Log', log.s3Bucket, log.s3Object, 'not found');
        continue;
      }
      let hash: string;
      try {
        hash = await sha256(await gunzip(lf.body));
      } catch {
        record('Log', log.s3Bucket, log.s3Object, 'invalid format');
        continue;
      }
      record('Log', log.s3Bucket, log.s3Object, hash === log.hashValue ? 'valid' : "hash value doesn't match");
    }
    if (Date.parse(d.digestStartTime) < opts.start.getTime()) break;
    key = next(d);
  }
  return result;
}
