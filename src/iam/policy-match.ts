/**
 * Pattern matching for the IAM policy language: the `*` / `?` wildcards of Action, Resource,
 * StringLike and ArnLike, and policy variables (`${aws:username}`, `${key, 'default'}`, `${*}`).
 *
 * A pattern compiles to a list of units (literal characters and wildcards) that is matched with a
 * dynamic-programming pass, O(pattern × value): policy text is untrusted input, so nothing here
 * turns it into a backtracking regular expression.
 */

/** How wildcards in a pattern behave. */
export type PatternMode =
  /** No wildcards: `*` and `?` are ordinary characters (StringEquals, Bool, ...). */
  | 'literal'
  /** `*` matches any run of characters, `?` any one character (Action, StringLike). */
  | 'glob'
  /**
   * Resource / NotResource ARNs. AWS: wildcards work within the colon-separated segments of an ARN;
   * a `*` that is the last character of a segment (followed by `:` or the end) may expand across
   * colons; any other `*`, and every `?`, stays inside its segment.
   */
  | 'resource'
  /** ArnEquals / ArnLike: each of the six colon-separated ARN components is matched separately. */
  | 'arn';

/** Looks up a policy variable's value by its lower-cased context key name; undefined when it has none. */
export type VariableResolver = (lowerKey: string) => string | undefined;

const LIT = 0;
/** `*` that may match any character. */
const STAR = 1;
/** `*` that may not match `:`. */
const STAR_SEG = 2;
/** `?` that may match any character. */
const ONE = 3;
/** `?` that may not match `:`. */
const ONE_SEG = 4;
/** A `*` or `?` from the policy text whose kind depends on the mode and its neighbour. */
const RAW_STAR = 5;
const RAW_ONE = 6;

interface Units {
  kinds: number[];
  chars: string[];
}

type Part = { t: 'text'; s: string } | { t: 'lit'; s: string } | { t: 'var'; key: string; def?: string };

const VARIABLE_BODY = /^\s*([^\s,'{}$]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$/;

/**
 * Split `source` into plain text, escaped literals (`${*}`, `${?}`, `${$}`) and variables.
 * Something that starts with `${` but is not a well-formed variable stays plain text.
 */
export function parseTemplate(source: string, variables: boolean): Part[] {
  if (!variables || !source.includes('${')) return [{ t: 'text', s: source }];
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < source.length) {
    if (source[i] === '$' && source[i + 1] === '{') {
      const end = closingBrace(source, i + 2);
      if (end >= 0) {
        const body = source.slice(i + 2, end);
        const trimmed = body.trim();
        let part: Part | undefined;
        if (trimmed === '*' || trimmed === '?' || trimmed === '$') part = { t: 'lit', s: trimmed };
        else {
          const m = VARIABLE_BODY.exec(body);
          if (m) part = m[2] !== undefined ? { t: 'var', key: m[1]!.toLowerCase(), def: m[2].replace(/''/g, "'") } : { t: 'var', key: m[1]!.toLowerCase() };
        }
        if (part) {
          if (text) parts.push({ t: 'text', s: text });
          text = '';
          parts.push(part);
          i = end + 1;
          continue;
        }
      }
    }
    text += source[i];
    i++;
  }
  if (text || parts.length === 0) parts.push({ t: 'text', s: text });
  return parts;
}

/** Index of the `}` closing a variable whose body starts at `from`, skipping quoted defaults; -1 if none. */
function closingBrace(s: string, from: number): number {
  let inQuote = false;
  for (let j = from; j < s.length; j++) {
    const c = s[j];
    if (inQuote) {
      if (c === "'") {
        if (s[j + 1] === "'") j++;
        else inQuote = false;
      }
    } else if (c === "'") inQuote = true;
    else if (c === '}') return j;
  }
  return -1;
}

function pushLiteral(u: Units, s: string): void {
  for (const c of s) {
    u.kinds.push(LIT);
    u.chars.push(c);
  }
}

/** Resolve the template into units; undefined when a variable has no value and no default. */
function buildUnits(parts: readonly Part[], mode: PatternMode, resolve: VariableResolver | undefined): Units | undefined {
  const u: Units = { kinds: [], chars: [] };
  for (const p of parts) {
    if (p.t === 'text') {
      if (mode === 'literal') pushLiteral(u, p.s);
      else
        for (const c of p.s) {
          u.kinds.push(c === '*' ? RAW_STAR : c === '?' ? RAW_ONE : LIT);
          u.chars.push(c);
        }
    } else if (p.t === 'lit') pushLiteral(u, p.s);
    else {
      const v = resolve?.(p.key) ?? p.def;
      if (v === undefined) return undefined;
      pushLiteral(u, v);
    }
  }
  for (let i = 0; i < u.kinds.length; i++) {
    const k = u.kinds[i];
    if (k === RAW_STAR) {
      if (mode === 'resource') {
        const nextIsBoundary = i + 1 === u.kinds.length || (u.kinds[i + 1] === LIT && u.chars[i + 1] === ':');
        u.kinds[i] = nextIsBoundary ? STAR : STAR_SEG;
      } else u.kinds[i] = STAR;
    } else if (k === RAW_ONE) u.kinds[i] = mode === 'resource' ? ONE_SEG : ONE;
  }
  return u;
}

/** Whether `value` is matched by the units from index `from` to `to` (exclusive). */
function matchUnits(kinds: readonly number[], chars: readonly string[], from: number, to: number, value: string): boolean {
  const n = value.length;
  let prev = new Uint8Array(n + 1);
  let cur = new Uint8Array(n + 1);
  prev[0] = 1;
  for (let i = from; i < to; i++) {
    const k = kinds[i]!;
    let any = 0;
    if (k === STAR || k === STAR_SEG) {
      cur[0] = prev[0]!;
      any = cur[0];
      for (let j = 1; j <= n; j++) {
        const v = prev[j] || (cur[j - 1] && (k === STAR || value[j - 1] !== ':')) ? 1 : 0;
        cur[j] = v;
        any |= v;
      }
    } else {
      cur[0] = 0;
      const c = chars[i];
      for (let j = 1; j <= n; j++) {
        const ch = value[j - 1];
        const ok = k === LIT ? ch === c : k === ONE || ch !== ':';
        const v = prev[j - 1] && ok ? 1 : 0;
        cur[j] = v;
        any |= v;
      }
    }
    if (!any) return false;
    const t = prev;
    prev = cur;
    cur = t;
  }
  return prev[n] === 1;
}

/** Split an ARN into its six components (the sixth keeps any further colons); undefined if it has fewer. */
export function splitArn(value: string): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  for (let k = 0; k < 5; k++) {
    const idx = value.indexOf(':', start);
    if (idx < 0) return undefined;
    out.push(value.slice(start, idx));
    start = idx + 1;
  }
  out.push(value.slice(start));
  return out;
}

function matchArnUnits(u: Units, value: string): boolean {
  if (u.kinds.length === 1 && u.kinds[0] === STAR) return true;
  const parts = splitArn(value);
  if (!parts) return false;
  const bounds: number[] = [0];
  for (let i = 0; i < u.kinds.length && bounds.length < 6; i++) if (u.kinds[i] === LIT && u.chars[i] === ':') bounds.push(i);
  if (bounds.length < 6) return false;
  for (let k = 0; k < 6; k++) {
    const from = k === 0 ? 0 : bounds[k]! + 1;
    const to = k === 5 ? u.kinds.length : bounds[k + 1]!;
    if (!matchUnits(u.kinds, u.chars, from, to, parts[k]!)) return false;
  }
  return true;
}

/** A compiled pattern from a policy. */
export class Pattern {
  readonly source: string;
  readonly mode: PatternMode;
  readonly ignoreCase: boolean;
  /** Whether the pattern contains policy variables (its units are built per request). */
  readonly hasVariables: boolean;
  private readonly parts: Part[];
  private readonly units: Units | undefined;
  /** Fast paths for patterns without variables. */
  private readonly exact: string | undefined;
  private readonly prefix: string | undefined;
  private readonly matchesAll: boolean;

  constructor(source: string, mode: PatternMode, opts: { variables?: boolean; ignoreCase?: boolean } = {}) {
    this.source = source;
    this.mode = mode;
    this.ignoreCase = opts.ignoreCase ?? false;
    const text = this.ignoreCase ? source.toLowerCase() : source;
    this.parts = parseTemplate(text, opts.variables ?? false);
    this.hasVariables = this.parts.some((p) => p.t === 'var');
    this.units = this.hasVariables ? undefined : buildUnits(this.parts, mode, undefined);
    let exact: string | undefined;
    let prefix: string | undefined;
    let all = false;
    const u = this.units;
    if (u && mode !== 'arn') {
      const wild = u.kinds.reduce((n, k) => n + (k === LIT ? 0 : 1), 0);
      if (wild === 0) exact = u.chars.join('');
      else if (wild === 1 && u.kinds[u.kinds.length - 1] === STAR) {
        prefix = u.chars.slice(0, -1).join('');
        all = prefix === '';
      }
    }
    this.exact = exact;
    this.prefix = prefix;
    this.matchesAll = all;
  }

  /** Whether `value` matches; a variable without a value (and no default) matches nothing. */
  matches(value: string, resolve?: VariableResolver): boolean {
    const v = this.ignoreCase ? value.toLowerCase() : value;
    if (this.matchesAll) return true;
    if (this.exact !== undefined) return v === this.exact;
    if (this.prefix !== undefined) return v.startsWith(this.prefix);
    let u = this.units;
    if (!u) {
      const built = buildUnits(this.parts, this.mode, resolve && this.ignoreCase ? (k) => resolve(k)?.toLowerCase() : resolve);
      if (!built) return false;
      u = built;
      if (this.mode !== 'arn' && u.kinds.every((k) => k === LIT)) return v === u.chars.join('');
    }
    return this.mode === 'arn' ? matchArnUnits(u, v) : matchUnits(u.kinds, u.chars, 0, u.kinds.length, v);
  }
}
