import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { AwsError } from '../../wire/errors.ts';
import type { XmlValue } from '../../wire/xml.ts';
import { findBucket, setBucketField, type BucketRecord, type CorsRule } from '../buckets.ts';
import type { S3Context } from '../context.ts';
import { InvalidRequest, MalformedXML } from '../errors.ts';
import { asArray, child, empty, readSmallBody, text, token, xmlResponse, XMLNS } from '../messages.ts';
import { parseXml } from '../../wire/xml.ts';
import type { S3Route } from '../routing.ts';

/**
 * Cross-origin resource sharing, as S3 does it: a bucket's CORS configuration (Put/Get/DeleteBucketCors), the answer
 * to a browser's preflight (OPTIONS, unsigned), and the Access-Control-* headers on actual requests from an allowed
 * origin. The first rule that matches the origin, the method and every requested header decides.
 */

const METHODS = ['GET', 'PUT', 'HEAD', 'POST', 'DELETE'];
const MAX_RULES = 100;
const MAX_CONFIGURATION_BYTES = 64 * 1024;
/** The Vary header S3 sends with every CORS answer: caches must keep answers to different origins apart. */
const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';

export class NoSuchCORSConfiguration extends AwsError {
  constructor(bucket: string) {
    super('NoSuchCORSConfiguration', 404, 'The CORS configuration does not exist', { BucketName: bucket });
  }
}

/** A preflight S3 refuses: 403 AccessForbidden, naming the method asked for and what it was asked of. */
function forbidden(message: string, method: string, resourceType: 'BUCKET' | 'OBJECT'): AwsError {
  return new AwsError('AccessForbidden', 403, `CORSResponse: ${message}`, { Method: method, ResourceType: resourceType });
}

function oneWildcard(value: string, element: string): void {
  if ((value.match(/\*/g) ?? []).length > 1) throw new InvalidRequest(`${element} "${value}" can not have more than one wildcard.`);
}

/** A CORSConfiguration document, checked as S3 checks it. */
export function parseCorsConfiguration(xml: string): CorsRule[] {
  let doc;
  try {
    doc = parseXml(xml);
  } catch {
    throw new MalformedXML();
  }
  const config = doc['CORSConfiguration'];
  if (config === undefined) throw new MalformedXML();
  const rules = asArray(child(config, 'CORSRule') as XmlValue[] | XmlValue | undefined);
  if (rules.length === 0 || rules.length > MAX_RULES) throw new MalformedXML();
  return rules.map((r) => {
    const list = (name: string) => asArray(child(r, name) as XmlValue[] | XmlValue | undefined).map((v) => text(v) ?? '');
    const rule: CorsRule = {
      AllowedMethods: list('AllowedMethod').map((m) => m.trim()),
      AllowedOrigins: list('AllowedOrigin').map((o) => o.trim()),
      AllowedHeaders: list('AllowedHeader').map((h) => h.trim()),
      ExposeHeaders: list('ExposeHeader').map((h) => h.trim()),
    };
    if (rule.AllowedMethods.length === 0 || rule.AllowedOrigins.length === 0) throw new MalformedXML();
    for (const m of rule.AllowedMethods) {
      if (!METHODS.includes(m)) throw new InvalidRequest(`Found unsupported HTTP method in CORS config. Unsupported method is ${m}`);
    }
    for (const o of rule.AllowedOrigins) oneWildcard(o, 'AllowedOrigin');
    for (const h of rule.AllowedHeaders) oneWildcard(h, 'AllowedHeader');
    const id = text(child(r, 'ID'));
    if (id !== undefined) {
      if (id.length > 255) throw new MalformedXML();
      rule.ID = id;
    }
    const maxAge = token(child(r, 'MaxAgeSeconds'));
    if (maxAge !== undefined) {
      if (!/^-?\d{1,10}$/.test(maxAge)) throw new MalformedXML();
      rule.MaxAgeSeconds = Number(maxAge);
    }
    return rule;
  });
}

/** `pattern` with at most one `*` standing for any run of characters; headers compare in any case, origins exactly. */
function wildcardMatch(pattern: string, value: string, anyCase: boolean): boolean {
  const p = anyCase ? pattern.toLowerCase() : pattern;
  const v = anyCase ? value.toLowerCase() : value;
  const star = p.indexOf('*');
  if (star < 0) return p === v;
  const head = p.slice(0, star);
  const tail = p.slice(star + 1);
  return v.length >= head.length + tail.length && v.startsWith(head) && v.endsWith(tail);
}

/** The first rule that allows this origin, method and every requested header, if any. */
export function matchRule(rules: readonly CorsRule[], origin: string, method: string, requestedHeaders: readonly string[] = []): CorsRule | undefined {
  return rules.find(
    (r) =>
      r.AllowedMethods.includes(method) &&
      r.AllowedOrigins.some((o) => wildcardMatch(o, origin, false)) &&
      requestedHeaders.every((h) => r.AllowedHeaders.some((a) => wildcardMatch(a, h, true))),
  );
}

/** The Access-Control-* headers a matching rule gives an answer. */
function ruleHeaders(rule: CorsRule, origin: string): Record<string, string> {
  const anyOrigin = rule.AllowedOrigins.includes('*');
  return {
    'access-control-allow-origin': anyOrigin ? '*' : origin,
    ...(anyOrigin ? {} : { 'access-control-allow-credentials': 'true' }),
    'access-control-allow-methods': rule.AllowedMethods.join(', '),
    ...(rule.ExposeHeaders.length ? { 'access-control-expose-headers': rule.ExposeHeaders.join(', ') } : {}),
    ...(rule.MaxAgeSeconds !== undefined ? { 'access-control-max-age': String(rule.MaxAgeSeconds) } : {}),
    vary: VARY,
  };
}

/**
 * The CORS headers of an actual (not preflight) request: only with an Origin header, on a bucket with a CORS
 * configuration, when a rule allows the origin and the request's method. Otherwise none, and the browser keeps the
 * answer from the page.
 */
export function actualRequestHeaders(bucket: BucketRecord | undefined, req: Pick<RestRequest, 'method' | 'headers'>): Record<string, string> {
  const origin = req.headers['origin'];
  if (origin === undefined || !bucket?.cors) return {};
  const rule = matchRule(bucket.cors, origin, req.method);
  return rule ? ruleHeaders(rule, origin) : {};
}

/** The headers a preflight names (Access-Control-Request-Headers), lower-cased, in order. */
function requestedHeaders(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}

/** OPTIONS on a bucket or object: S3's answer to a browser's preflight, from the bucket's CORS rules. */
export async function preflight(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const bucketName = r.bucket!;
  const resourceType = r.key === undefined ? 'BUCKET' : 'OBJECT';
  const origin = req.headers['origin'];
  if (origin === undefined) throw new AwsError('BadRequest', 400, 'Insufficient information. Origin request header needed.');
  const method = req.headers['access-control-request-method'];
  if (method === undefined || !METHODS.includes(method.trim())) throw new AwsError('BadRequest', 400, `Invalid Access-Control-Request-Method: ${method ?? 'null'}`);
  const bucket = await findBucket(s3.db, bucketName);
  if (!bucket) throw forbidden('Bucket not found', method, 'BUCKET');
  s3.touchBucket(ctx, bucketName);
  if (!bucket.cors) throw forbidden('CORS is not enabled for this bucket.', method, 'BUCKET');
  const asked = requestedHeaders(req.headers['access-control-request-headers']);
  const rule = matchRule(bucket.cors, origin, method.trim(), asked);
  if (!rule) {
    throw forbidden(
      "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
      method,
      resourceType,
    );
  }
  return empty(200, { ...ruleHeaders(rule, origin), ...(asked.length ? { 'access-control-allow-headers': asked.join(', ') } : {}) });
}

export async function putBucketCors(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await s3.bucketOf(r.bucket!);
  // S3 requires the body's integrity to be declared for this operation (the SDKs send one of them).
  if (req.headers['content-md5'] === undefined && !Object.keys(req.headers).some((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-algorithm')) {
    throw new InvalidRequest('Missing required header for this request: Content-MD5 OR x-amz-checksum-*');
  }
  const body = await readSmallBody(req.body, MAX_CONFIGURATION_BYTES);
  const rules = parseCorsConfiguration(body.toString('utf8'));
  await setBucketField(s3.db, r.bucket!, 'cors', rules);
  return empty(200);
}

export async function getBucketCors(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  const b = await s3.bucketOf(r.bucket!);
  if (!b.cors) throw new NoSuchCORSConfiguration(b.name);
  return xmlResponse({
    CORSConfiguration: {
      '@_xmlns': XMLNS,
      CORSRule: b.cors.map((rule) => ({
        ...(rule.ID !== undefined ? { ID: rule.ID } : {}),
        AllowedHeader: rule.AllowedHeaders,
        AllowedMethod: rule.AllowedMethods,
        AllowedOrigin: rule.AllowedOrigins,
        ExposeHeader: rule.ExposeHeaders,
        ...(rule.MaxAgeSeconds !== undefined ? { MaxAgeSeconds: rule.MaxAgeSeconds } : {}),
      })),
    },
  });
}

export async function deleteBucketCors(s3: S3Context, ctx: CallContext, r: S3Route): Promise<RestResponse> {
  s3.touchBucket(ctx, r.bucket!);
  await setBucketField(s3.db, r.bucket!, 'cors', null);
  return empty(204);
}
