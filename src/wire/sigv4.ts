import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4Base, getCanonicalHeaders, getSigningKey } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { escapeUri } from '@smithy/util-uri-escape';
import type { HeaderBag, HttpRequest, QueryParameterBag } from '@smithy/types';
import { AuthFailure } from './auth-errors.ts';

/**
 * SigV4 verification. The canonical request, string to sign and signing key come from
 * @smithy/signature-v4, the signer the AWS SDK for JavaScript itself uses; this module only
 * parses what the client sent, picks the inputs AWS picks, and compares in constant time.
 */

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const MAX_SKEW_MS = 15 * 60 * 1000;
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export interface SigningRequest {
  method: string;
  /** The path exactly as on the request line (still percent-encoded), without the query. */
  rawPath: string;
  /** The query string exactly as sent, without the leading '?'. */
  rawQuery: string;
  /** Header values by lower-case name, repeated headers kept apart (Node's headersDistinct). */
  headers: Record<string, string[] | undefined>;
}

export interface ParsedSigV4 {
  presigned: boolean;
  accessKeyId: string;
  /** YYYYMMDDTHHMMSSZ as signed. */
  longDate: string;
  date: Date;
  shortDate: string;
  region: string;
  service: string;
  /** date/region/service/aws4_request */
  scope: string;
  signedHeaders: string[];
  signature: string;
  expiresSeconds?: number;
  sessionToken?: string;
}

export function header(req: SigningRequest, name: string): string | undefined {
  const v = req.headers[name];
  return v === undefined ? undefined : v.join(',');
}

/** Parse a raw query string into its decoded pairs, in order. `a&b=` gives [a,''], [b,'']. */
export function parseQuery(rawQuery: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!rawQuery) return out;
  for (const part of rawQuery.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    out.push([safeDecode(k), safeDecode(v)]);
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

function parseAmzDate(s: string | undefined): Date | undefined {
  if (!s) return undefined;
  const m = AMZ_DATE.exec(s);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function formatAmzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseCredential(credential: string, presigned: boolean): { accessKeyId: string; shortDate: string; region: string; service: string } {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !parts[0] || !/^\d{8}$/.test(parts[1]!) || !parts[2] || !parts[3]) {
    throw new AuthFailure(
      'incomplete',
      `Credential should be scoped to a valid region, service and date, in the form <access key>/<YYYYMMDD>/<region>/<service>/aws4_request; got '${credential.slice(0, 200)}'.`,
      presigned ? { presigned: '1' } : {},
    );
  }
  return { accessKeyId: parts[0], shortDate: parts[1]!, region: parts[2]!, service: parts[3]! };
}

/** What the credential scope names, if anything, without failing: used to pick the protocol for errors. */
export function peekScopeService(req: SigningRequest): string | undefined {
  const auth = header(req, 'authorization');
  const m = auth ? /Credential=([^,\s]+)/.exec(auth) : undefined;
  const cred = m?.[1] ?? parseQuery(req.rawQuery).find(([k]) => k === 'X-Amz-Credential')?.[1];
  return cred?.split('/')[3] || undefined;
}

/**
 * Parse header or presigned-query SigV4 authentication. Returns undefined when the request carries
 * neither (an anonymous request); throws AuthFailure('incomplete') when it carries a malformed one.
 */
export function parseSigV4(req: SigningRequest): ParsedSigV4 | undefined {
  const auth = header(req, 'authorization');
  if (auth !== undefined) return parseAuthorizationHeader(req, auth);
  const query = parseQuery(req.rawQuery);
  if (query.some(([k]) => k === 'X-Amz-Algorithm' || k === 'X-Amz-Signature' || k === 'X-Amz-Credential')) return parsePresigned(query);
  return undefined;
}

function parseAuthorizationHeader(req: SigningRequest, auth: string): ParsedSigV4 {
  const space = auth.indexOf(' ');
  const algorithm = space < 0 ? auth : auth.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw new AuthFailure('incomplete', `Unsupported authorization type '${algorithm.slice(0, 40)}'. Use AWS4-HMAC-SHA256 (Signature Version 4).`);
  }
  const fields = new Map<string, string>();
  for (const part of auth.slice(space + 1).split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq > 0) fields.set(p.slice(0, eq), p.slice(eq + 1));
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !fields.get(k));
  if (missing.length) {
    throw new AuthFailure(
      'incomplete',
      `Authorization header requires ${missing.map((k) => `'${k}'`).join(', ')} parameter${missing.length > 1 ? 's' : ''}. Authorization=${algorithm}`,
    );
  }
  const cred = parseCredential(fields.get('Credential')!, false);
  const amzDate = header(req, 'x-amz-date');
  let date = parseAmzDate(amzDate);
  let longDate = amzDate;
  if (!amzDate) {
    // SigV4 allows the Date header when X-Amz-Date is absent.
    const d = header(req, 'date');
    const parsed = d ? new Date(d) : undefined;
    if (parsed && !Number.isNaN(parsed.getTime())) {
      date = parsed;
      longDate = formatAmzDate(parsed);
    }
  }
  if (!date || !longDate) {
    throw new AuthFailure('incomplete', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  if (longDate.slice(0, 8) !== cred.shortDate) {
    throw new AuthFailure('incomplete', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${cred.shortDate}' != '${longDate.slice(0, 8)}'`);
  }
  const signedHeaders = fields.get('SignedHeaders')!.split(';').map((h) => h.trim().toLowerCase());
  if (!signedHeaders.includes('host')) throw new AuthFailure('incomplete', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  const token = header(req, 'x-amz-security-token');
  return {
    presigned: false,
    ...cred,
    longDate,
    date,
    scope: `${cred.shortDate}/${cred.region}/${cred.service}/aws4_request`,
    signedHeaders,
    signature: fields.get('Signature')!,
    ...(token !== undefined ? { sessionToken: token } : {}),
  };
}

function parsePresigned(query: Array<[string, string]>): ParsedSigV4 {
  const get = (k: string) => query.find(([key]) => key === k)?.[1];
  const flag = { presigned: '1' };
  const required = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'];
  const missing = required.filter((k) => !get(k));
  if (missing.length) {
    throw new AuthFailure('incomplete', `Query-string authentication version 4 requires the ${required.join(', ')} parameters; missing ${missing.join(', ')}.`, flag);
  }
  if (get('X-Amz-Algorithm') !== ALGORITHM) throw new AuthFailure('incomplete', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', flag);
  const cred = parseCredential(get('X-Amz-Credential')!, true);
  const longDate = get('X-Amz-Date')!;
  const date = parseAmzDate(longDate);
  if (!date) throw new AuthFailure('incomplete', "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"", flag);
  if (longDate.slice(0, 8) !== cred.shortDate) throw new AuthFailure('incomplete', 'Invalid credential date. Date is not the same as X-Amz-Date.', flag);
  const expiresRaw = get('X-Amz-Expires')!;
  const expires = /^\d{1,7}$/.test(expiresRaw) ? Number(expiresRaw) : NaN;
  if (!(expires >= 0)) throw new AuthFailure('incomplete', 'X-Amz-Expires should be a number', flag);
  if (expires > MAX_PRESIGN_SECONDS) throw new AuthFailure('incomplete', 'X-Amz-Expires must be less than a week (in seconds) that is 604800', flag);
  const signedHeaders = get('X-Amz-SignedHeaders')!.split(';').map((h) => h.trim().toLowerCase());
  if (!signedHeaders.includes('host')) throw new AuthFailure('incomplete', "'Host' must be a 'SignedHeader' in the AWS Authorization.", flag);
  const token = get('X-Amz-Security-Token');
  return {
    presigned: true,
    ...cred,
    longDate,
    date,
    scope: `${cred.shortDate}/${cred.region}/${cred.service}/aws4_request`,
    signedHeaders,
    signature: get('X-Amz-Signature')!,
    expiresSeconds: expires,
    ...(token !== undefined ? { sessionToken: token } : {}),
  };
}

/** AWS's clock rules: header-signed requests within 15 minutes either way; presigned URLs until X-Amz-Date + X-Amz-Expires. */
export function checkTime(p: ParsedSigV4, now: Date): void {
  const t = p.date.getTime();
  const n = now.getTime();
  const nowLong = formatAmzDate(now);
  if (p.presigned) {
    const expiresAt = t + (p.expiresSeconds ?? 0) * 1000;
    if (t - n > MAX_SKEW_MS) {
      throw new AuthFailure('skew', `Signature not yet current: ${p.longDate} is still later than ${formatAmzDate(new Date(n + MAX_SKEW_MS))} (${nowLong} + 15 min.)`, {
        RequestTime: p.longDate,
        ServerTime: now.toISOString(),
      });
    }
    if (n > expiresAt) {
      throw new AuthFailure('expired', `Signature expired: ${formatAmzDate(new Date(expiresAt))} is now earlier than ${nowLong}`, {
        'X-Amz-Expires': String(p.expiresSeconds),
        Expires: new Date(expiresAt).toISOString().replace(/\.\d{3}/, ''),
        ServerTime: now.toISOString().replace(/\.\d{3}/, ''),
      });
    }
    return;
  }
  if (n - t > MAX_SKEW_MS) {
    throw new AuthFailure('skew', `Signature expired: ${p.longDate} is now earlier than ${formatAmzDate(new Date(n - MAX_SKEW_MS))} (${nowLong} - 15 min.)`, {
      RequestTime: p.longDate,
      ServerTime: now.toISOString(),
    });
  }
  if (t - n > MAX_SKEW_MS) {
    throw new AuthFailure('skew', `Signature not yet current: ${p.longDate} is still later than ${formatAmzDate(new Date(n + MAX_SKEW_MS))} (${nowLong} + 15 min.)`, {
      RequestTime: p.longDate,
      ServerTime: now.toISOString(),
    });
  }
}

class Canonicalizer extends SignatureV4Base {
  constructor(uriEscapePath: boolean) {
    super({ service: 'unused', region: 'unused', credentials: { accessKeyId: '', secretAccessKey: '' }, sha256: Hash.bind(null, 'sha256'), uriEscapePath });
  }
  canonicalRequest(request: HttpRequest, headers: HeaderBag, payloadHash: string): string {
    return this.createCanonicalRequest(request, headers, payloadHash);
  }
}

/** The SigV4 string to sign (the same text smithy's createStringToSign builds), computed synchronously. */
export function stringToSign(longDate: string, scope: string, canonicalRequest: string): string {
  return `${ALGORITHM}\n${longDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}

/**
 * Derived signing keys, per access key, day, region and service. smithy's own cache hashes the
 * secret on every lookup; this one is a plain map, bounded, and its entries expire with their day.
 */
const signingKeys = new Map<string, Uint8Array>();
const SIGNING_KEY_CACHE_MAX = 10_000;

async function cachedSigningKey(p: Pick<ParsedSigV4, 'accessKeyId' | 'scope' | 'sessionToken' | 'shortDate' | 'region' | 'service'>, secretAccessKey: string): Promise<Uint8Array> {
  // The secret is part of the key: a derived key must never serve another secret (memory only, like the identity cache).
  const cacheKey = `${p.accessKeyId}/${p.scope}/${p.sessionToken ?? ''}/${secretAccessKey}`;
  const hit = signingKeys.get(cacheKey);
  if (hit) return hit;
  const key = await getSigningKey(
    Hash.bind(null, 'sha256'),
    { accessKeyId: p.accessKeyId, secretAccessKey, ...(p.sessionToken ? { sessionToken: p.sessionToken } : {}) },
    p.shortDate,
    p.region,
    p.service,
  );
  if (signingKeys.size >= SIGNING_KEY_CACHE_MAX) signingKeys.clear();
  signingKeys.set(cacheKey, key);
  return key;
}

/** Forget derived keys of an access key (deleted or deactivated keys must stop verifying at once). */
export function forgetSigningKeys(accessKeyId: string): void {
  for (const k of signingKeys.keys()) if (k.startsWith(`${accessKeyId}/`)) signingKeys.delete(k);
}
const escapingCanonicalizer = new Canonicalizer(true);
const s3Canonicalizer = new Canonicalizer(false);

/** S3 signs the path encoded once; clients differ in which characters they leave bare, so decode and re-encode each segment (RFC 3986). */
export function s3CanonicalPath(rawPath: string): string {
  return rawPath
    .split('/')
    .map((seg) => escapeUri(safeDecode(seg)))
    .join('/');
}

export interface VerifyOptions {
  /** false for S3 (path encoded once), true for every other service (encoded twice). */
  uriEscapePath: boolean;
  /** Payload hashes to try, in order; the first one that verifies wins (presigned URLs differ by client). */
  payloadHashes: string[];
}

export interface VerifiedSignature {
  signingKey: Uint8Array;
  payloadHash: string;
}

/** Recompute the signature with the caller's secret and compare in constant time. Throws AuthFailure('signature'). */
export async function verifySignature(p: ParsedSigV4, secretAccessKey: string, req: SigningRequest, opts: VerifyOptions): Promise<VerifiedSignature> {
  const canon = opts.uriEscapePath ? escapingCanonicalizer : s3Canonicalizer;
  // Null-prototype maps: a parameter or header named "__proto__" must be signed like any other.
  const query: QueryParameterBag = Object.create(null) as QueryParameterBag;
  for (const [k, v] of parseQuery(req.rawQuery)) {
    const prev = query[k];
    query[k] = prev === undefined || prev === null ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const headers: HeaderBag = Object.create(null) as HeaderBag;
  for (const name of p.signedHeaders) {
    const v = req.headers[name];
    if (v !== undefined) headers[name] = v.join(',');
  }
  const signable = new Set(p.signedHeaders);
  const request: HttpRequest = {
    method: req.method,
    protocol: 'https:',
    hostname: header(req, 'host') ?? '',
    path: opts.uriEscapePath ? req.rawPath : s3CanonicalPath(req.rawPath),
    query,
    headers,
  };
  const canonicalHeaders = getCanonicalHeaders(request, new Set(), signable);
  const signingKey = await cachedSigningKey(p, secretAccessKey);
  const provided = /^[0-9a-f]{64}$/.test(p.signature) ? Buffer.from(p.signature, 'hex') : undefined;
  for (const payloadHash of opts.payloadHashes) {
    const canonicalRequest = canon.canonicalRequest(request, canonicalHeaders, payloadHash);
    const expected = createHmac('sha256', signingKey).update(stringToSign(p.longDate, p.scope, canonicalRequest)).digest();
    if (provided && timingSafeEqual(expected, provided)) return { signingKey, payloadHash };
  }
  throw new AuthFailure('signature', 'signature mismatch', { AWSAccessKeyId: p.accessKeyId, SignatureProvided: p.signature.slice(0, 64) });
}

/**
 * A SigV4 signature over a string the request carries itself rather than a canonical request: S3's POST policy, whose
 * string to sign is the base64 policy document, signed with the key of the credential's scope. Compared in constant
 * time; throws AuthFailure('signature').
 */
export async function verifySignedString(
  s: { accessKeyId: string; date: string; region: string; service: string; sessionToken?: string; stringToSign: string; signature: string },
  secretAccessKey: string,
): Promise<void> {
  const scope = `${s.date}/${s.region}/${s.service}/aws4_request`;
  const key = await cachedSigningKey(
    { accessKeyId: s.accessKeyId, scope, shortDate: s.date, region: s.region, service: s.service, ...(s.sessionToken !== undefined ? { sessionToken: s.sessionToken } : {}) },
    secretAccessKey,
  );
  const expected = createHmac('sha256', key).update(s.stringToSign).digest();
  const provided = /^[0-9a-f]{64}$/.test(s.signature) ? Buffer.from(s.signature, 'hex') : undefined;
  if (!provided || !timingSafeEqual(expected, provided)) {
    throw new AuthFailure('signature', 'signature mismatch', { AWSAccessKeyId: s.accessKeyId, SignatureProvided: s.signature.slice(0, 64) });
  }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** String to sign for one chunk of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body. */
export function chunkStringToSign(longDate: string, scope: string, previousSignature: string, chunkSha256Hex: string): string {
  return `AWS4-HMAC-SHA256-PAYLOAD\n${longDate}\n${scope}\n${previousSignature}\n${EMPTY_SHA256}\n${chunkSha256Hex}`;
}

/** String to sign for the trailer of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER body. */
export function trailerStringToSign(longDate: string, scope: string, previousSignature: string, trailerSha256Hex: string): string {
  return `AWS4-HMAC-SHA256-TRAILER\n${longDate}\n${scope}\n${previousSignature}\n${trailerSha256Hex}`;
}

export function hmacHex(key: Uint8Array, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

export function hexEqual(a: string, b: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(a) || !/^[0-9a-f]{64}$/.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
