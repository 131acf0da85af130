import { randomUUID } from 'node:crypto';
import type { XmlObject, XmlValue } from '../wire/xml.ts';
import { InvalidArgument, InvalidRequest, MalformedXML, NotImplemented } from './errors.ts';
import { asArray, boolText, child, httpDate, text, token } from './messages.ts';
import type { Tag } from './objects.ts';

/**
 * S3 Lifecycle configurations: the rules (PutBucketLifecycleConfiguration) as AWS checks and stores them, which objects
 * and uploads a rule covers, and when its actions fall due. The lifecycle job (lifecycle-job.ts) carries them out.
 *
 * Time counts in days, as on AWS: an action falls due at the first midnight (UTC) after its start plus the rule's days
 * (an object's creation, a version's becoming noncurrent, an upload's initiation). The length of that day is one
 * setting (TRENT_S3_LIFECYCLE_DAY_SECONDS, 86,400 unless a test shortens it), so that a test can watch days pass.
 */

export const DAY_MS = 24 * 3600 * 1000;
const MAX_RULES = 1000;
const MAX_SIZE = 1099511627776000;

/** A bucket's lifecycle configuration: its rules, and the transition size default it was given (kept to answer it back). */
export interface LifecycleConfig {
  rules: LifecycleRule[];
  transitionDefaultMinimumObjectSize: 'all_storage_classes_128K' | 'varies_by_storage_class';
}

/** Which objects a rule covers: a key prefix, tags (all of them), and size bounds (exclusive). */
export interface LifecycleFilter {
  prefix: string;
  tags: Tag[];
  sizeGreaterThan?: number;
  sizeLessThan?: number;
}

/** One rule as stored: its filter as written (to answer it back as sent) and its actions. */
export interface LifecycleRule {
  ID: string;
  Status: 'Enabled' | 'Disabled';
  /** How the filter was written: a rule-level <Prefix> (the original form), or a <Filter> (with one predicate, or And). */
  form: 'prefix' | 'filter';
  filter: LifecycleFilter;
  /** Which predicates a <Filter> held directly ('and' for an <And>, 'empty' for none). */
  filterKind?: 'prefix' | 'tag' | 'gt' | 'lt' | 'and' | 'empty';
  expiration?: { days?: number; date?: number; expiredObjectDeleteMarker?: boolean };
  noncurrentExpiration?: { noncurrentDays: number; newerNoncurrentVersions?: number };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
}

function integer(v: XmlValue | undefined): number | undefined {
  const t = token(v);
  if (t === undefined) return undefined;
  if (!/^-?\d+$/.test(t)) throw new MalformedXML();
  return Number(t);
}

function tagOf(v: XmlValue | undefined): Tag {
  const key = text(child(v, 'Key'));
  if (key === undefined || key === '') throw new MalformedXML();
  return { Key: key, Value: text(child(v, 'Value')) ?? '' };
}

function sizeOf(v: XmlValue | undefined, name: 'ObjectSizeGreaterThan' | 'ObjectSizeLessThan'): number | undefined {
  const n = integer(v);
  if (n === undefined) return undefined;
  const min = name === 'ObjectSizeLessThan' ? 1 : 0;
  if (n < min || n > MAX_SIZE) throw new InvalidRequest(`'${name}' should be between ${min} and ${MAX_SIZE}.`);
  return n;
}

/** The <Filter> of a rule: exactly one predicate, or an <And> of two or more, or nothing (every object). */
function parseFilter(f: XmlValue): { filter: LifecycleFilter; kind: NonNullable<LifecycleRule['filterKind']> } {
  const o = (f && typeof f === 'object' && !Array.isArray(f) ? f : {}) as XmlObject;
  const names = Object.keys(o);
  if (names.length === 0) return { filter: { prefix: '', tags: [] }, kind: 'empty' };
  if (names.length > 1 || asArray(o[names[0]!]).length > 1) throw new MalformedXML();
  const name = names[0]!;
  switch (name) {
    case 'Prefix':
      return { filter: { prefix: text(o['Prefix']) ?? '', tags: [] }, kind: 'prefix' };
    case 'Tag':
      return { filter: { prefix: '', tags: [tagOf(o['Tag'])] }, kind: 'tag' };
    case 'ObjectSizeGreaterThan':
      return { filter: { prefix: '', tags: [], sizeGreaterThan: sizeOf(o[name], name)! }, kind: 'gt' };
    case 'ObjectSizeLessThan':
      return { filter: { prefix: '', tags: [], sizeLessThan: sizeOf(o[name], name)! }, kind: 'lt' };
    case 'And': {
      const and = o['And'];
      const a = (and && typeof and === 'object' && !Array.isArray(and) ? and : {}) as XmlObject;
      const prefixes = asArray(a['Prefix']);
      const tags = asArray(a['Tag'] as XmlValue[] | XmlValue | undefined).map(tagOf);
      const gt = asArray(a['ObjectSizeGreaterThan']);
      const lt = asArray(a['ObjectSizeLessThan']);
      if (prefixes.length > 1 || gt.length > 1 || lt.length > 1) throw new MalformedXML();
      if (Object.keys(a).some((k) => !['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'].includes(k))) throw new MalformedXML();
      if (prefixes.length + tags.length + gt.length + lt.length < 2) throw new MalformedXML();
      const keys = new Set<string>();
      for (const t of tags) {
        if (keys.has(t.Key)) throw new InvalidRequest('Duplicate Tag Keys are not allowed.');
        keys.add(t.Key);
      }
      const filter: LifecycleFilter = { prefix: text(prefixes[0]) ?? '', tags };
      const g = sizeOf(gt[0], 'ObjectSizeGreaterThan');
      const l = sizeOf(lt[0], 'ObjectSizeLessThan');
      if (g !== undefined) filter.sizeGreaterThan = g;
      if (l !== undefined) filter.sizeLessThan = l;
      if (g !== undefined && l !== undefined && l <= g) throw new InvalidRequest("'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.");
      return { filter, kind: 'and' };
    }
    default:
      throw new MalformedXML();
  }
}

/** A date of an Expiration: ISO 8601, at midnight UTC. */
function expirationDate(v: XmlValue | undefined): number | undefined {
  const t = token(v);
  if (t === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) throw new MalformedXML();
  const ms = Date.parse(t.length === 10 ? `${t}T00:00:00Z` : t);
  if (Number.isNaN(ms)) throw new MalformedXML();
  if (ms % DAY_MS !== 0) throw new InvalidArgument("'Date' must be at midnight GMT", 'Date', t);
  return ms;
}

/**
 * A <LifecycleConfiguration> document, checked as S3 checks it (codes and texts as AWS answers them), into rules.
 * Transitions are refused: Trent keeps every object in one storage class, so a transition could not be carried out.
 */
export function parseLifecycleConfiguration(doc: XmlObject): LifecycleRule[] {
  const c = doc['LifecycleConfiguration'];
  if (c === undefined) throw new MalformedXML();
  const rules = asArray(child(c, 'Rule') as XmlValue[] | XmlValue | undefined);
  if (rules.length === 0) throw new MalformedXML();
  if (rules.length > MAX_RULES) throw new InvalidRequest('The number of lifecycle rules must not exceed the allowed limit of 1000 rules.');
  const ids = new Set<string>();
  const out: LifecycleRule[] = [];
  let firstForm: LifecycleRule['form'] | undefined;
  for (const r of rules) {
    const status = token(child(r, 'Status'));
    if (status !== 'Enabled' && status !== 'Disabled') throw new MalformedXML();
    const idText = text(child(r, 'ID'));
    if (idText !== undefined && idText.length > 255) throw new InvalidArgument('ID length should not exceed allowed limit of 255', 'ID', idText);
    const prefix = child(r, 'Prefix');
    const filterEl = child(r, 'Filter');
    if (prefix === undefined && filterEl === undefined) throw new MalformedXML();
    if (prefix !== undefined && filterEl !== undefined) throw new MalformedXML();
    const form: LifecycleRule['form'] = prefix !== undefined ? 'prefix' : 'filter';
    firstForm ??= form;
    if (form !== firstForm) {
      throw new InvalidRequest(
        form === 'filter' ? 'Filter element can only be used in Lifecycle V2.' : 'Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.',
      );
    }
    const { filter, kind } = form === 'prefix' ? { filter: { prefix: text(prefix) ?? '', tags: [] }, kind: undefined } : parseFilter(filterEl!);
    if (child(r, 'Transition') !== undefined || child(r, 'NoncurrentVersionTransition') !== undefined) {
      throw new NotImplemented('lifecycle transitions (Trent keeps every object in the STANDARD storage class)');
    }
    const rule: LifecycleRule = { ID: idText ?? Buffer.from(randomUUID()).toString('base64'), Status: status, form, filter, ...(kind ? { filterKind: kind } : {}) };
    const hasTags = filter.tags.length > 0;
    const hasSize = filter.sizeGreaterThan !== undefined || filter.sizeLessThan !== undefined;

    const exp = child(r, 'Expiration');
    if (exp !== undefined) {
      const days = integer(child(exp, 'Days'));
      const date = expirationDate(child(exp, 'Date'));
      const marker = boolText(child(exp, 'ExpiredObjectDeleteMarker'), 'ExpiredObjectDeleteMarker');
      if ((days === undefined ? 0 : 1) + (date === undefined ? 0 : 1) + (marker === undefined ? 0 : 1) !== 1) throw new MalformedXML();
      if (days !== undefined && days <= 0) throw new InvalidArgument("'Days' for Expiration action must be a positive integer", 'Days', String(days));
      if (marker !== undefined && hasTags) throw new InvalidRequest('ExpiredObjectDeleteMarker cannot be specified with Tags.');
      if (marker !== undefined && hasSize) throw new InvalidRequest('ExpiredObjectDeleteMarker cannot be specified with Object Size.');
      rule.expiration = days !== undefined ? { days } : date !== undefined ? { date } : { expiredObjectDeleteMarker: marker! };
    }
    const nve = child(r, 'NoncurrentVersionExpiration');
    if (nve !== undefined) {
      const nd = integer(child(nve, 'NoncurrentDays'));
      const newer = integer(child(nve, 'NewerNoncurrentVersions'));
      if (nd === undefined) throw new MalformedXML();
      if (nd <= 0) throw new InvalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer", 'NoncurrentDays', String(nd));
      if (newer !== undefined) {
        if (form === 'prefix') throw new InvalidRequest('NewerNoncurrentVersions element can only be used in Lifecycle V2.');
        if (newer <= 0 || newer > 100) throw new InvalidArgument("'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer up to 100", 'NewerNoncurrentVersions', String(newer));
      }
      rule.noncurrentExpiration = { noncurrentDays: nd, ...(newer !== undefined ? { newerNoncurrentVersions: newer } : {}) };
    }
    const abort = child(r, 'AbortIncompleteMultipartUpload');
    if (abort !== undefined) {
      const d = integer(child(abort, 'DaysAfterInitiation'));
      if (d === undefined || d <= 0) {
        throw new InvalidArgument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer", 'DaysAfterInitiation', String(d ?? ''));
      }
      if (hasTags) throw new InvalidRequest('AbortIncompleteMultipartUpload cannot be specified with Tags.');
      if (hasSize) throw new InvalidRequest('AbortIncompleteMultipartUpload cannot be specified with Object Size.');
      rule.abortIncompleteMultipartUpload = { daysAfterInitiation: d };
    }
    if (!rule.expiration && !rule.noncurrentExpiration && !rule.abortIncompleteMultipartUpload) throw new InvalidRequest('At least one action needs to be specified in a rule');
    if (ids.has(rule.ID)) throw new InvalidArgument('Rule ID must be unique. Found same ID for more than one rule', 'ID', rule.ID);
    ids.add(rule.ID);
    out.push(rule);
  }
  return out;
}

/** The rules as GetBucketLifecycleConfiguration answers them: as they were sent, with every rule's ID. */
export function lifecycleRulesXml(rules: LifecycleRule[]): XmlObject[] {
  return rules.map((r) => {
    const f = r.filter;
    const tagXml = (t: Tag) => ({ Key: t.Key, Value: t.Value });
    let filter: XmlObject | undefined;
    if (r.form === 'filter') {
      switch (r.filterKind) {
        case 'prefix':
          filter = { Prefix: f.prefix };
          break;
        case 'tag':
          filter = { Tag: tagXml(f.tags[0]!) };
          break;
        case 'gt':
          filter = { ObjectSizeGreaterThan: f.sizeGreaterThan! };
          break;
        case 'lt':
          filter = { ObjectSizeLessThan: f.sizeLessThan! };
          break;
        case 'and':
          filter = {
            And: {
              Prefix: f.prefix,
              Tag: f.tags.map(tagXml),
              ...(f.sizeGreaterThan !== undefined ? { ObjectSizeGreaterThan: f.sizeGreaterThan } : {}),
              ...(f.sizeLessThan !== undefined ? { ObjectSizeLessThan: f.sizeLessThan } : {}),
            },
          };
          break;
        default:
          filter = {};
      }
    }
    const e = r.expiration;
    return {
      ID: r.ID,
      ...(r.form === 'prefix' ? { Prefix: f.prefix } : { Filter: filter! }),
      Status: r.Status,
      ...(e
        ? {
            Expiration:
              e.days !== undefined ? { Days: e.days } : e.date !== undefined ? { Date: new Date(e.date).toISOString().replace('.000Z', 'Z') } : { ExpiredObjectDeleteMarker: true },
          }
        : {}),
      ...(r.noncurrentExpiration
        ? {
            NoncurrentVersionExpiration: {
              NoncurrentDays: r.noncurrentExpiration.noncurrentDays,
              ...(r.noncurrentExpiration.newerNoncurrentVersions !== undefined ? { NewerNoncurrentVersions: r.noncurrentExpiration.newerNoncurrentVersions } : {}),
            },
          }
        : {}),
      ...(r.abortIncompleteMultipartUpload ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: r.abortIncompleteMultipartUpload.daysAfterInitiation } } : {}),
    };
  });
}

/** Whether an object (key, size, tags) is one a rule covers. Delete markers have size 0 and no tags. */
export function ruleCovers(rule: LifecycleRule, key: string, size: number, tags: Tag[] | undefined): boolean {
  const f = rule.filter;
  if (!key.startsWith(f.prefix)) return false;
  if (f.sizeGreaterThan !== undefined && !(size > f.sizeGreaterThan)) return false;
  if (f.sizeLessThan !== undefined && !(size < f.sizeLessThan)) return false;
  for (const t of f.tags) if (!tags?.some((x) => x.Key === t.Key && x.Value === t.Value)) return false;
  return true;
}

/** When an action of `days` days counted from `start` falls due: start plus the days, up to the next midnight (UTC). */
export function dueAt(start: number, days: number, dayMs = DAY_MS): number {
  return Math.ceil((start + days * dayMs) / dayMs) * dayMs;
}

/** When the current version of an object expires by the bucket's rules, and by which rule (the earliest). */
export function expiryOf(rules: LifecycleRule[] | undefined, key: string, size: number, tags: Tag[] | undefined, lastModified: number, dayMs = DAY_MS): { at: number; ruleId: string } | undefined {
  let best: { at: number; ruleId: string } | undefined;
  for (const r of rules ?? []) {
    const e = r.expiration;
    if (r.Status !== 'Enabled' || !e || e.expiredObjectDeleteMarker || !ruleCovers(r, key, size, tags)) continue;
    const at = e.days !== undefined ? dueAt(lastModified, e.days, dayMs) : e.date!;
    if (!best || at < best.at) best = { at, ruleId: r.ID };
  }
  return best;
}

/** The x-amz-expiration header of an object the bucket's rules will expire. */
export function expirationHeader(expiry: { at: number; ruleId: string } | undefined): Record<string, string> {
  return expiry ? { 'x-amz-expiration': `expiry-date="${httpDate(expiry.at)}", rule-id="${expiry.ruleId}"` } : {};
}

/** When an incomplete multipart upload is aborted by the bucket's rules, and by which rule (x-amz-abort-date, -rule-id). */
export function abortOf(rules: LifecycleRule[] | undefined, key: string, initiated: number, dayMs = DAY_MS): { at: number; ruleId: string } | undefined {
  let best: { at: number; ruleId: string } | undefined;
  for (const r of rules ?? []) {
    const a = r.abortIncompleteMultipartUpload;
    if (r.Status !== 'Enabled' || !a || !key.startsWith(r.filter.prefix)) continue;
    const at = dueAt(initiated, a.daysAfterInitiation, dayMs);
    if (!best || at < best.at) best = { at, ruleId: r.ID };
  }
  return best;
}
