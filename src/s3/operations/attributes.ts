import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import type { XmlObject } from '../../wire/xml.ts';
import type { S3Context } from '../context.ts';
import { InvalidArgument } from '../errors.ts';
import { httpDate, xmlResponse, XMLNS } from '../messages.ts';
import type { ObjectRecord } from '../objects.ts';
import { checkConditions } from '../preconditions.ts';
import type { S3Route } from '../routing.ts';
import { parseCustomerKey } from '../sse.ts';
import { objectNamed, versionHeader } from '../versions.ts';

/**
 * GetObjectAttributes (GET /key?attributes): what HeadObject and ListParts tell of an object, in one XML document, only
 * the attributes x-amz-object-attributes names. Needs s3:GetObjectAttributes (api.ts) and s3:GetObject, as AWS asks.
 */

const ATTRIBUTES = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
type Attribute = (typeof ATTRIBUTES)[number];

function attributesOf(header: string | undefined): Set<Attribute> {
  const names = (header ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) {
    throw new InvalidArgument('x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty', 'x-amz-object-attributes', '');
  }
  for (const n of names) {
    if (!(ATTRIBUTES as readonly string[]).includes(n)) throw new InvalidArgument('Invalid attribute name specified.', 'x-amz-object-attributes', n);
  }
  return new Set(names as Attribute[]);
}

/** x-amz-max-parts / x-amz-part-number-marker: non-negative integers. */
function integerHeader(req: RestRequest, name: string, fallback: number): number {
  const v = req.headers[name];
  if (v === undefined) return fallback;
  if (!/^\d{1,9}$/.test(v.trim())) throw new InvalidArgument(`Provided ${name} not an integer or within integer range`, name, v);
  return Number(v.trim());
}

/**
 * ObjectParts of a multipart object. AWS lists the parts (PartNumber, Size, the part's checksum), ListParts-style with
 * x-amz-max-parts and x-amz-part-number-marker, only for an object with a COMPOSITE checksum: for any other multipart
 * object it gives the count alone. An object not made by a multipart upload has no ObjectParts.
 */
function objectParts(o: ObjectRecord, req: RestRequest): XmlObject | undefined {
  if (o.partsCount === null) return undefined;
  if (o.checksum?.type !== 'COMPOSITE') return { PartsCount: o.partsCount };
  const max = Math.min(1000, integerHeader(req, 'x-amz-max-parts', 1000));
  const marker = integerHeader(req, 'x-amz-part-number-marker', 0);
  const after = o.segments.filter((s) => s.part > marker);
  const shown = after.slice(0, max);
  const alg = o.checksum.algorithm;
  return {
    PartsCount: o.partsCount,
    PartNumberMarker: marker,
    ...(shown.length ? { NextPartNumberMarker: shown[shown.length - 1]!.part } : {}),
    MaxParts: max,
    IsTruncated: after.length > shown.length,
    Part: shown.map((s) => ({ ...(s.checksum ? { [`Checksum${alg}`]: s.checksum } : {}), PartNumber: s.part, Size: s.size })),
  };
}

export async function getObjectAttributes(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const { bucket, key } = s3.requireKey(r);
  s3.touchObject(ctx, bucket, key);
  const b = await s3.bucketOf(bucket);
  const versionId = s3.versionIdOf(req);
  await s3.authorizeObject(ctx, req, versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion', bucket, key);
  const wanted = attributesOf(req.headers['x-amz-object-attributes']);
  // The version named (or the latest): a delete marker is refused as GetObject refuses it.
  const o = await objectNamed(s3.db, bucket, key, versionId, 'GET');
  const customer = parseCustomerKey(req.headers, '');
  try {
    s3.keys.checkCustomerKey(o.protection, customer);
  } finally {
    customer?.key.fill(0);
  }
  // If-Match and If-Unmodified-Since hold as on HeadObject; a 304 has no attributes to give, so it is not one here.
  checkConditions({ ...req.headers, 'if-none-match': undefined, 'if-modified-since': undefined }, o);
  const doc: XmlObject = { '@_xmlns': XMLNS };
  if (wanted.has('ETag')) doc['ETag'] = o.etag;
  if (wanted.has('Checksum') && o.checksum) {
    // A composite checksum is given without its -<parts> suffix, with its type beside it.
    doc['Checksum'] = { [`Checksum${o.checksum.algorithm}`]: o.checksum.value.replace(/-\d+$/, ''), ChecksumType: o.checksum.type };
  }
  if (wanted.has('ObjectParts')) {
    const parts = objectParts(o, req);
    if (parts) doc['ObjectParts'] = parts;
  }
  if (wanted.has('StorageClass')) doc['StorageClass'] = 'STANDARD';
  if (wanted.has('ObjectSize')) doc['ObjectSize'] = o.size;
  return xmlResponse({ GetObjectAttributesResponse: doc }, 200, { 'last-modified': httpDate(o.lastModified), ...versionHeader(b.versioning, o.versionId) });
}
