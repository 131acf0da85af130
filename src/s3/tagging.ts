import { AwsError } from '../wire/errors.ts';
import type { XmlObject, XmlValue } from '../wire/xml.ts';
import { InvalidArgument, InvalidTag, MalformedXML } from './errors.ts';
import { asArray, child, text } from './messages.ts';
import type { Tag } from './objects.ts';

/**
 * Object tags as S3 takes them: at most 10 per version, keys of 1 to 128 and values of up to 256 Unicode characters
 * (counted in UTF-16, as S3 counts them) from letters, digits, white space and `_ . : / = + @ -`, unique keys, none
 * beginning `aws:`. They come as a <Tagging> document (PutObjectTagging) or as an x-amz-tagging header in URL query
 * form (PutObject, CopyObject, CreateMultipartUpload), and reach policies as s3:ExistingObjectTag/<key> (the tags a
 * version has) and s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys (the tags a request sets).
 */

const MAX_OBJECT_TAGS = 10;
const ALLOWED = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** A version's tags checked as S3 checks them; the same set back. */
export function checkObjectTags(tags: Tag[]): Tag[] {
  if (tags.length > MAX_OBJECT_TAGS) throw new AwsError('BadRequest', 400, 'Object tags cannot be greater than 10');
  const seen = new Set<string>();
  for (const t of tags) {
    if (t.Key.length === 0 || t.Key.length > 128 || !ALLOWED.test(t.Key)) throw new InvalidTag('The TagKey you have provided is invalid');
    if (t.Value.length > 256 || !ALLOWED.test(t.Value)) throw new InvalidTag('The TagValue you have provided is invalid');
    if (t.Key.toLowerCase().startsWith('aws:')) throw new InvalidTag('System tags cannot be added/updated by requester');
    if (seen.has(t.Key)) throw new InvalidTag('Cannot provide multiple Tags with the same key');
    seen.add(t.Key);
  }
  return tags;
}

/** A <Tagging><TagSet><Tag>... document, not yet checked (its tags reach the policy check first). */
export function tagsOfDocument(doc: XmlObject): Tag[] {
  const tagging = doc['Tagging'];
  const set = child(tagging, 'TagSet');
  if (tagging === undefined || set === undefined) throw new MalformedXML();
  return asArray(child(set, 'Tag') as XmlValue[] | XmlValue | undefined).map((t) => {
    const key = text(child(t, 'Key'));
    const value = text(child(t, 'Value'));
    if (key === undefined || value === undefined) throw new MalformedXML();
    return { Key: key, Value: value };
  });
}

const HEADER_FORM = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";

/** The x-amz-tagging header (`k1=v1&k2=v2`, URL-encoded; a key without `=` has the empty value), not yet checked. */
export function tagsOfHeader(value: string): Tag[] {
  if (value === '') return [];
  const tags: Tag[] = [];
  const seen = new Set<string>();
  for (const pair of value.split('&')) {
    const eq = pair.indexOf('=');
    const [rawKey, rawValue] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    if (rawValue.includes('=')) throw new InvalidArgument(HEADER_FORM, 'x-amz-tagging', value);
    let key: string;
    let v: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      v = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      throw new InvalidArgument(HEADER_FORM, 'x-amz-tagging', value);
    }
    if (seen.has(key)) throw new InvalidArgument(HEADER_FORM, 'x-amz-tagging', value);
    seen.add(key);
    tags.push({ Key: key, Value: v });
  }
  return tags;
}

/** The tags an x-amz-tagging header sets, checked; undefined without the header. */
export function headerTags(headers: Record<string, string | undefined>): Tag[] | undefined {
  const v = headers['x-amz-tagging'];
  return v === undefined ? undefined : checkObjectTags(tagsOfHeader(v));
}

/** s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys for a request that sets these tags. */
export function requestTagKeys(tags: Tag[] | undefined): Record<string, string | string[]> {
  if (tags === undefined) return {};
  const out: Record<string, string | string[]> = { 's3:RequestObjectTagKeys': tags.map((t) => t.Key) };
  for (const t of tags) out[`s3:RequestObjectTag/${t.Key}`] = t.Value;
  return out;
}

/** s3:ExistingObjectTag/<key> for a version with these tags. */
export function existingTagKeys(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) out[`s3:ExistingObjectTag/${t.Key}`] = t.Value;
  return out;
}

/** A version's tag set in a <TagSet>, in key order. */
export function tagSetXml(tags: Tag[] | undefined): XmlObject {
  return { Tag: [...(tags ?? [])].sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0)).map((t) => ({ Key: t.Key, Value: t.Value })) };
}
