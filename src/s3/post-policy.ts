import { AwsError } from '../wire/errors.ts';
import { AccessDenied } from './errors.ts';

/**
 * The policy of an HTML form upload (POST Object, Signature Version 4), as S3 reads it: a base64 JSON document with an
 * `expiration` and `conditions`, each condition one of
 *   {"field": "value"}  or  ["eq", "$field", "value"]    the field is exactly this
 *   ["starts-with", "$field", "prefix"]                  the field begins so ("" allows any value)
 *   ["content-length-range", min, max]                   the file's size in bytes
 * Field names compare in any case, values exactly. Every form field except x-amz-signature, file, policy and those
 * named x-ignore-* must be named by a condition. Refusals are AWS's: AccessDenied "Invalid according to Policy: ...".
 */

export interface PostPolicy {
  expiration: number;
  conditions: Condition[];
}

export type Condition =
  | { op: 'eq' | 'starts-with'; field: string; value: string; text: string }
  | { op: 'content-length-range'; min: number; max: number; text: string };

/** Fields a policy need not name. */
function exempt(name: string): boolean {
  return name === 'x-amz-signature' || name === 'file' || name === 'policy' || name.startsWith('x-ignore-');
}

function invalidPolicy(message: string): AwsError {
  return new AwsError('InvalidPolicyDocument', 400, `Invalid Policy: ${message}`);
}

/** How S3 quotes a condition in its refusal: ["eq", "$key", "value"]. */
function quote(parts: unknown[]): string {
  return `[${parts.map((p) => JSON.stringify(p)).join(', ')}]`;
}

/** `2026-12-01T12:00:00.000Z` or without the milliseconds: UTC, ISO 8601. */
const EXPIRATION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export function parsePostPolicy(base64: string): PostPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalidPolicy('Invalid JSON.');
  const { expiration, conditions } = doc as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw invalidPolicy('Policy missing expiration.');
  if (typeof expiration !== 'string' || !EXPIRATION.test(expiration) || Number.isNaN(Date.parse(expiration))) {
    throw invalidPolicy(`Invalid 'expiration' value: '${String(expiration)}'`);
  }
  if (conditions === undefined) throw invalidPolicy('Policy missing conditions.');
  if (!Array.isArray(conditions)) throw invalidPolicy("Invalid 'conditions' value: must be a List.");
  return { expiration: Date.parse(expiration), conditions: conditions.map(parseCondition) };
}

function parseCondition(c: unknown): Condition {
  if (c && typeof c === 'object' && !Array.isArray(c)) {
    const entries = Object.entries(c as Record<string, unknown>);
    if (entries.length !== 1) throw invalidPolicy('Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.');
    const [field, value] = entries[0]!;
    if (typeof value !== 'string') throw invalidPolicy(`Invalid Simple-Condition: value must be a string.`);
    return { op: 'eq', field: field.toLowerCase(), value, text: quote(['eq', `$${field}`, value]) };
  }
  if (!Array.isArray(c) || c.length !== 3) throw invalidPolicy(`Invalid Condition: ${JSON.stringify(c)}`);
  const [op, a, b] = c as unknown[];
  const text = quote(c);
  if (typeof op === 'string' && op.toLowerCase() === 'content-length-range') {
    const min = Number(a);
    const max = Number(b);
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || typeof a === 'boolean' || typeof b === 'boolean') {
      throw invalidPolicy(`Invalid content-length-range: ${text}`);
    }
    return { op: 'content-length-range', min, max, text };
  }
  if (typeof op !== 'string' || (op.toLowerCase() !== 'eq' && op.toLowerCase() !== 'starts-with')) throw invalidPolicy(`Invalid Condition: unknown operation ${JSON.stringify(op)}`);
  if (typeof a !== 'string' || !a.startsWith('$') || typeof b !== 'string') throw new AccessDenied(`Invalid according to Policy: Policy Condition failed: ${text}`);
  return { op: op.toLowerCase() as 'eq' | 'starts-with', field: a.slice(1).toLowerCase(), value: b, text };
}

/**
 * Check a form (field names lower-cased, values as sent, `bucket` the bucket posted to) against its policy at `now`:
 * expiration, then each condition in order, then the fields no condition names. content-length-range is checked
 * against the file when its size is known (fileSize below).
 */
export function checkPostPolicy(policy: PostPolicy, fields: ReadonlyMap<string, string>, bucket: string, now: number): void {
  if (now > policy.expiration) throw new AccessDenied('Invalid according to Policy: Policy expired.');
  const named = new Set<string>();
  for (const c of policy.conditions) {
    if (c.op === 'content-length-range') continue;
    named.add(c.field);
    const actual = c.field === 'bucket' ? bucket : fields.get(c.field);
    if (!conditionHolds(c.op, c.field, c.value, actual)) throw new AccessDenied(`Invalid according to Policy: Policy Condition failed: ${c.text}`);
  }
  for (const name of fields.keys()) {
    if (!exempt(name) && !named.has(name)) throw new AccessDenied(`Invalid according to Policy: Extra input fields: ${name}`);
  }
}

function conditionHolds(op: 'eq' | 'starts-with', field: string, expected: string, actual: string | undefined): boolean {
  if (op === 'eq') return actual === expected;
  if (expected === '') return true;
  if (actual === undefined) return false;
  // A Content-Type may list several types; each must begin with the prefix.
  if (field === 'content-type') return actual.split(',').every((t) => t.trim().startsWith(expected));
  return actual.startsWith(expected);
}

/** The file's size against every content-length-range condition: EntityTooSmall or EntityTooLarge, as S3 answers. */
export function checkFileSize(policy: PostPolicy, size: number): void {
  for (const c of policy.conditions) {
    if (c.op !== 'content-length-range') continue;
    if (size < c.min) throw new PolicyEntityTooSmall(size, c.min);
    if (size > c.max) throw new PolicyEntityTooLarge(size, c.max);
  }
}

/** The largest file any content-length-range allows, if one limits it. */
export function maxFileSize(policy: PostPolicy): number | undefined {
  const maxes = policy.conditions.flatMap((c) => (c.op === 'content-length-range' ? [c.max] : []));
  return maxes.length ? Math.max(0, Math.min(...maxes)) : undefined;
}

export class PolicyEntityTooLarge extends AwsError {
  constructor(proposed: number | undefined, max: number) {
    super('EntityTooLarge', 400, 'Your proposed upload exceeds the maximum allowed size', {
      ...(proposed !== undefined ? { ProposedSize: String(proposed) } : {}),
      MaxSizeAllowed: String(max),
    });
  }
}

export class PolicyEntityTooSmall extends AwsError {
  constructor(proposed: number, min: number) {
    super('EntityTooSmall', 400, 'Your proposed upload is smaller than the minimum allowed size', { ProposedSize: String(proposed), MinSizeAllowed: String(min) });
  }
}
