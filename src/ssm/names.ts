import { HierarchyLevelLimitExceededException, ValidationException } from './errors.ts';

/** Parameter names, paths, ARNs, selectors and labels, with Parameter Store's rules. */

export const MAX_HIERARCHY_DEPTH = 15;
/** The longest a parameter's ARN may be (the name's 2048 includes space SSM reserves for itself). */
export const MAX_ARN_LENGTH = 1011;
const NAME_CHARS = /^[a-zA-Z0-9_.\-/]+$/;
const LABEL = /^[a-zA-Z_.-][a-zA-Z0-9_.-]*$/;
export const MAX_LABEL_LENGTH = 100;

export function parameterArn(region: string, accountId: string, name: string): string {
  return `arn:aws:ssm:${region}:${accountId}:parameter/${name.startsWith('/') ? name.slice(1) : name}`;
}

function reservedPrefix(name: string): boolean {
  const first = (name.startsWith('/') ? name.slice(1) : name).toLowerCase();
  return first.startsWith('aws') || first.startsWith('ssm');
}

/**
 * A root-level name is one parameter with or without its leading slash ("/name" and "name" share one ARN); AWS keeps
 * it without the slash, and so does Trent. Hierarchical names keep theirs.
 */
export function canonicalName(name: string): string {
  return name.length > 1 && name.startsWith('/') && !name.slice(1).includes('/') ? name.slice(1) : name;
}

/** Depth of a name or path: the number of its '/'-separated parts. */
export function depth(name: string): number {
  return name.split('/').filter((p) => p.length > 0).length;
}

/**
 * A name a parameter can be created (or addressed) under. Surrounding spaces are dropped, as SSM does;
 * anything else outside a-zA-Z0-9_.-/ is refused, and a hierarchical name must be fully qualified.
 */
export function checkName(raw: string, region: string, accountId: string, opts: { creating?: boolean } = {}): string {
  const name = raw.trim();
  if (name.length === 0) throw new ValidationException("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1");
  if (!NAME_CHARS.test(name)) {
    throw new ValidationException(
      'Parameter name: can contain only letters, numbers and the symbols . - _, with / separating the levels of a hierarchy; spaces are not allowed.',
    );
  }
  if (name.includes('/') && !name.startsWith('/')) throw new ValidationException('Parameter name must be a fully qualified name: a hierarchical name begins with /.');
  if (name.includes('//') || (name.length > 1 && name.endsWith('/')) || name === '/') {
    throw new ValidationException('Parameter name must be a fully qualified name: no empty levels, and no trailing /.');
  }
  if (opts.creating && reservedPrefix(name)) throw new ValidationException('Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).');
  if (depth(name) > MAX_HIERARCHY_DEPTH) throw new HierarchyLevelLimitExceededException();
  if (parameterArn(region, accountId, name).length > MAX_ARN_LENGTH) {
    throw new ValidationException(`Parameter name is too long: with its ARN prefix it may be at most ${MAX_ARN_LENGTH} characters.`);
  }
  return canonicalName(name);
}

/** A hierarchy path for GetParametersByPath or a Path filter: begins with '/', trailing '/' ignored. */
export function checkPath(raw: string): string {
  const path = raw.trim();
  if (!path.startsWith('/')) throw new ValidationException('The parameter path must begin with a forward slash (/).');
  if (path !== '/' && !NAME_CHARS.test(path)) throw new ValidationException('The parameter path can contain only letters, numbers, . - _ and /.');
  if (depth(path) > MAX_HIERARCHY_DEPTH) throw new HierarchyLevelLimitExceededException();
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** Is `name` under `path`: one level below it, or at any depth when recursive. Names without a '/' live at the root. */
export function underPath(name: string, path: string, recursive: boolean): boolean {
  if (path === '/') return recursive || !name.slice(1).includes('/');
  const prefix = `${path}/`;
  if (!name.startsWith(prefix) || name.length === prefix.length) return false;
  return recursive || !name.slice(prefix.length).includes('/');
}

/**
 * What a Name field of a read names: one or two candidate names and a selector. A root-level parameter is found as
 * 'x' (its canonical name) or, stored before names were canonical, as '/x'.
 */
export interface ParameterRef {
  /** What the caller sent, for InvalidParameters and error messages. */
  given: string;
  candidates: string[];
  arn: string;
  selector?: { version: number } | { label: string };
  /** The selector as GetParameter echoes it (':3', ':prod'). */
  selectorText?: string;
}

/** Parse 'name', 'name:version', 'name:label' or the same as a parameter ARN in this account and region. */
export function parseRef(raw: string, region: string, accountId: string): ParameterRef {
  const given = raw;
  let text = raw.trim();
  let arnForm = false;
  if (text.startsWith('arn:')) {
    const m = /^arn:aws:ssm:([^:]+):(\d{12}):parameter\/(.+)$/.exec(text);
    if (!m || m[1] !== region || m[2] !== accountId) throw new ValidationException(`${text} is not the ARN of a parameter in this account and Region.`);
    text = m[3]!;
    arnForm = true;
  }
  const parts = text.split(':');
  if (parts.length > 2) throw new ValidationException('A parameter selector has the form name:version or name:label.');
  const base = parts[0]!;
  const name = checkName(arnForm && base.includes('/') ? `/${base}` : base, region, accountId);
  const candidates = name.includes('/') ? [name] : [name, `/${name}`];
  const ref: ParameterRef = { given, candidates, arn: parameterArn(region, accountId, candidates[0]!) };
  if (parts.length === 2) {
    const sel = parts[1]!;
    if (/^\d+$/.test(sel)) {
      const version = Number(sel);
      if (!Number.isSafeInteger(version) || version < 1) throw new ValidationException(`Version ${sel} is not valid.`);
      ref.selector = { version };
    } else if (sel.length > 0 && sel.length <= MAX_LABEL_LENGTH) {
      ref.selector = { label: sel };
    } else {
      throw new ValidationException('A parameter selector has the form name:version or name:label.');
    }
    ref.selectorText = `:${sel}`;
  }
  return ref;
}

/** Labels: letters, digits, . - _; not starting with a digit, "aws" or "ssm" (any case); at most 100 characters. */
export function validLabel(label: string): boolean {
  if (label.length < 1 || label.length > MAX_LABEL_LENGTH || !LABEL.test(label)) return false;
  const lower = label.toLowerCase();
  return !lower.startsWith('aws') && !lower.startsWith('ssm');
}
