import type { Readable } from 'node:stream';
import type { RestRequest, RestResponse } from '../server/service.ts';
import { AwsError } from '../wire/errors.ts';
import { buildXml, parseXml, type XmlObject, type XmlValue } from '../wire/xml.ts';
import { InvalidArgument, MalformedXML } from './errors.ts';

/** S3's request documents read and its responses written: XML in and out, small bodies, element values, dates. */

export const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MAX_XML_BODY = 4 * 1024 * 1024;

export function xmlResponse(doc: XmlObject, status = 200, headers: Record<string, string | number> = {}): RestResponse {
  const body = Buffer.from(buildXml(doc));
  return { status, headers: { ...headers, 'content-type': 'application/xml', 'content-length': body.length }, body };
}

export function empty(status: number, headers: Record<string, string | number> = {}): RestResponse {
  return { status, headers: { ...headers, 'content-length': 0 } };
}

export function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

export async function readSmallBody(body: Readable, limit = MAX_XML_BODY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new AwsError('MaxMessageLengthExceeded', 400, 'Your request was too big.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function readXml(body: Readable): Promise<XmlObject> {
  const text = (await readSmallBody(body)).toString('utf8');
  if (!text.trim()) throw new MalformedXML();
  try {
    return parseXml(text);
  } catch {
    throw new MalformedXML();
  }
}

export function child(v: XmlValue | undefined, name: string): XmlValue | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as XmlObject)[name] : undefined;
}

/** An element's text exactly as sent (keys, tag keys and values are exact strings: white space is kept). */
export function text(v: XmlValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') return '';
  return String(v);
}

/** The text of an element whose schema type is not a string (a number, a boolean, an enumeration): white space collapses. */
export function token(v: XmlValue | undefined): string | undefined {
  return text(v)?.trim();
}

export function boolText(v: XmlValue | undefined, field: string): boolean | undefined {
  const t = token(v);
  if (t === undefined) return undefined;
  if (t.toLowerCase() === 'true') return true;
  if (t.toLowerCase() === 'false') return false;
  throw new MalformedXML(`${field} must be true or false.`);
}

export function unquote(etag: string): string {
  return etag.trim().replace(/^"(.*)"$/, '$1');
}

/** A listing's page size (max-keys, max-parts, max-uploads): an integer, at most 1000 (the default). */
export function maxKeysOf(req: RestRequest, name = 'max-keys'): number {
  const v = req.query.get(name);
  if (v === undefined) return 1000;
  if (!/^\d+$/.test(v)) throw new InvalidArgument(`Provided ${name} not an integer or within integer range`, name, v);
  return Math.min(1000, Number(v));
}
