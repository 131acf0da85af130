import { AwsError } from '../wire/errors.ts';
import { ValidationError } from '../wire/validate.ts';

/**
 * KMS's input checks, answered as AWS KMS answers them: ValidationException "1 validation error detected:
 * Value ... at 'numberOfBytes' failed to satisfy constraint: ...", the member named in lower camel case and
 * nested members by path ('tags.1.member.tagKey'). Values are echoed only for numbers and enums: strings
 * and blobs can be secrets (a grant token, a plaintext) and are never repeated back.
 */
export const memberPath = (field: string): string => field.replace(/(^|\.)([A-Z])/g, (_m, dot: string, c: string) => dot + c.toLowerCase());

const failed = (what: string, field: string, constraint: string) => new ValidationError(`1 validation error detected: ${what} at '${memberPath(field)}' failed to satisfy constraint: ${constraint}`);

const lengthConstraint = (n: number, opts: { min?: number; max?: number }): string | undefined => {
  if (opts.min !== undefined && n < opts.min) return `Member must have length greater than or equal to ${opts.min}`;
  if (opts.max !== undefined && n > opts.max) return `Member must have length less than or equal to ${opts.max}`;
  return undefined;
};

/** `path` names the member in messages when it is nested (for example 'Tags.1.member.TagKey'). */
export function str(input: Record<string, unknown>, field: string, opts: { required: true; min?: number; max?: number; path?: string }): string;
export function str(input: Record<string, unknown>, field: string, opts?: { required?: false; min?: number; max?: number; path?: string }): string | undefined;
export function str(input: Record<string, unknown>, field: string, opts: { required?: boolean; min?: number; max?: number; path?: string } = {}): string | undefined {
  const path = opts.path ?? field;
  const v = input[field];
  if (v === undefined || v === null) {
    if (opts.required) throw failed('Value null', path, 'Member must not be null');
    return undefined;
  }
  if (typeof v !== 'string') throw new AwsError('SerializationException', 400, `Expected a string at '${path}'.`);
  const bad = lengthConstraint(v.length, opts);
  if (bad) throw failed('Value', path, bad);
  return v;
}

export function int(input: Record<string, unknown>, field: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new AwsError('SerializationException', 400, `Expected an integer at '${field}'.`);
  if (opts.min !== undefined && v < opts.min) throw failed(`Value '${v}'`, field, `Member must have value greater than or equal to ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw failed(`Value '${v}'`, field, `Member must have value less than or equal to ${opts.max}`);
  return v;
}

export function bool(input: Record<string, unknown>, field: string): boolean | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new AwsError('SerializationException', 400, `Expected a boolean at '${field}'.`);
  return v;
}

/** A base64 blob within AWS's length bounds (in decoded bytes). */
export function blob(input: Record<string, unknown>, field: string, opts: { required: true; min: number; max: number }): Buffer;
export function blob(input: Record<string, unknown>, field: string, opts: { required?: false; min: number; max: number }): Buffer | undefined;
export function blob(input: Record<string, unknown>, field: string, opts: { required?: boolean; min: number; max: number }): Buffer | undefined {
  const v = input[field];
  if (v === undefined || v === null) {
    if (opts.required) throw failed('Value null', field, 'Member must not be null');
    return undefined;
  }
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 === 1) throw new AwsError('SerializationException', 400, `${field} must be base64-encoded.`);
  const b = Buffer.from(v, 'base64');
  const bad = lengthConstraint(b.length, opts);
  if (bad) throw failed('Value', field, bad);
  return b;
}

export function oneOf<T extends string>(input: Record<string, unknown>, field: string, values: readonly T[]): T | undefined {
  const v = str(input, field);
  if (v === undefined) return undefined;
  if (!values.includes(v as T)) throw failed(`Value '${v}'`, field, `Member must satisfy enum value set: [${values.join(', ')}]`);
  return v as T;
}

/** A list of strings (GrantTokens, TagKeys): at most `max` members. */
export function stringList(input: Record<string, unknown>, field: string, max: number): string[] | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new AwsError('SerializationException', 400, `Expected a list of strings at '${field}'.`);
  if (v.length > max) throw failed('Value', field, `Member must have length less than or equal to ${max}`);
  return v as string[];
}
