import { AwsError } from './errors.ts';

/** Input checks for awsJson services, answered with ValidationException as AWS does. */
export class ValidationError extends AwsError {
  constructor(message: string) {
    super('ValidationException', 400, message);
  }
}

export function str(input: Record<string, unknown>, field: string, opts: { required: true; min?: number; max?: number }): string;
export function str(input: Record<string, unknown>, field: string, opts?: { required?: false; min?: number; max?: number }): string | undefined;
export function str(input: Record<string, unknown>, field: string, opts: { required?: boolean; min?: number; max?: number } = {}): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) {
    if (opts.required) throw new ValidationError(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof v !== 'string') throw new ValidationError(`${field} must be a string.`);
  if (opts.min !== undefined && v.length < opts.min) {
    throw new ValidationError(`1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length greater than or equal to ${opts.min}`);
  }
  if (opts.max !== undefined && v.length > opts.max) {
    throw new ValidationError(`1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length less than or equal to ${opts.max}`);
  }
  return v;
}

export function int(input: Record<string, unknown>, field: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ValidationError(`${field} must be an integer.`);
  if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
    throw new ValidationError(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must have value between ${opts.min} and ${opts.max}`);
  }
  return v;
}

export function bool(input: Record<string, unknown>, field: string): boolean | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ValidationError(`${field} must be a boolean.`);
  return v;
}

/** A base64 blob within AWS's length bounds (in decoded bytes). */
export function blob(input: Record<string, unknown>, field: string, opts: { required: true; min: number; max: number }): Buffer;
export function blob(input: Record<string, unknown>, field: string, opts: { required?: false; min: number; max: number }): Buffer | undefined;
export function blob(input: Record<string, unknown>, field: string, opts: { required?: boolean; min: number; max: number }): Buffer | undefined {
  const v = input[field];
  if (v === undefined || v === null) {
    if (opts.required) throw new ValidationError(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 === 1) throw new AwsError('SerializationException', 400, `${field} must be base64-encoded.`);
  const b = Buffer.from(v, 'base64');
  if (b.length < opts.min || b.length > opts.max) {
    throw new ValidationError(
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length ${b.length < opts.min ? `greater than or equal to ${opts.min}` : `less than or equal to ${opts.max}`}`,
    );
  }
  return b;
}

export function oneOf<T extends string>(input: Record<string, unknown>, field: string, values: readonly T[]): T | undefined {
  const v = str(input, field);
  if (v === undefined) return undefined;
  if (!values.includes(v as T)) {
    throw new ValidationError(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must satisfy enum value set: [${values.join(', ')}]`);
  }
  return v as T;
}

export function stringList(input: Record<string, unknown>, field: string, max: number): string[] | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ValidationError(`${field} must be a list of strings.`);
  if (v.length > max) throw new ValidationError(`1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
  return v as string[];
}
