/**
 * The Condition element: operators, their ...IfExists forms, the ForAllValues / ForAnyValue set
 * qualifiers, and the Null check, evaluated as AWS documents them.
 */
import { BlockList, isIP } from 'node:net';
import { Pattern, type VariableResolver } from './policy-match.ts';

/** Raised for a policy document AWS would refuse (defined here so both policy modules can throw it). */
export class PolicyDocumentError extends Error {
  /** 'malformed' (MalformedPolicyDocument) or 'too-large' (a size quota; services map it to LimitExceeded or a validation error). */
  readonly reason: 'malformed' | 'too-large';
  constructor(message: string, reason: 'malformed' | 'too-large' = 'malformed') {
    super(message);
    this.name = 'PolicyDocumentError';
    this.reason = reason;
  }
}

export const SYNTAX_ERROR = 'Syntax errors in policy.';

type Family = 'string' | 'stringIgnoreCase' | 'stringLike' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn' | 'null';
type Comparison = 'eq' | 'lt' | 'le' | 'gt' | 'ge';

interface OperatorInfo {
  name: string;
  family: Family;
  cmp: Comparison;
  /** Negated matching operators (StringNotEquals, NotIpAddress, ...): true when the value matches none of the policy values. */
  negated: boolean;
}

const OPERATOR_LIST: OperatorInfo[] = [
  { name: 'StringEquals', family: 'string', cmp: 'eq', negated: false },
  { name: 'StringNotEquals', family: 'string', cmp: 'eq', negated: true },
  { name: 'StringEqualsIgnoreCase', family: 'stringIgnoreCase', cmp: 'eq', negated: false },
  { name: 'StringNotEqualsIgnoreCase', family: 'stringIgnoreCase', cmp: 'eq', negated: true },
  { name: 'StringLike', family: 'stringLike', cmp: 'eq', negated: false },
  { name: 'StringNotLike', family: 'stringLike', cmp: 'eq', negated: true },
  { name: 'NumericEquals', family: 'numeric', cmp: 'eq', negated: false },
  { name: 'NumericNotEquals', family: 'numeric', cmp: 'eq', negated: true },
  { name: 'NumericLessThan', family: 'numeric', cmp: 'lt', negated: false },
  { name: 'NumericLessThanEquals', family: 'numeric', cmp: 'le', negated: false },
  { name: 'NumericGreaterThan', family: 'numeric', cmp: 'gt', negated: false },
  { name: 'NumericGreaterThanEquals', family: 'numeric', cmp: 'ge', negated: false },
  { name: 'DateEquals', family: 'date', cmp: 'eq', negated: false },
  { name: 'DateNotEquals', family: 'date', cmp: 'eq', negated: true },
  { name: 'DateLessThan', family: 'date', cmp: 'lt', negated: false },
  { name: 'DateLessThanEquals', family: 'date', cmp: 'le', negated: false },
  { name: 'DateGreaterThan', family: 'date', cmp: 'gt', negated: false },
  { name: 'DateGreaterThanEquals', family: 'date', cmp: 'ge', negated: false },
  { name: 'Bool', family: 'bool', cmp: 'eq', negated: false },
  { name: 'BinaryEquals', family: 'binary', cmp: 'eq', negated: false },
  { name: 'IpAddress', family: 'ip', cmp: 'eq', negated: false },
  { name: 'NotIpAddress', family: 'ip', cmp: 'eq', negated: true },
  { name: 'ArnEquals', family: 'arn', cmp: 'eq', negated: false },
  { name: 'ArnLike', family: 'arn', cmp: 'eq', negated: false },
  { name: 'ArnNotEquals', family: 'arn', cmp: 'eq', negated: true },
  { name: 'ArnNotLike', family: 'arn', cmp: 'eq', negated: true },
  { name: 'Null', family: 'null', cmp: 'eq', negated: false },
];
const OPERATORS = new Map(OPERATOR_LIST.map((o) => [o.name.toLowerCase(), o]));

/** The operator names this engine knows (without qualifiers or IfExists). */
export const CONDITION_OPERATORS: readonly string[] = OPERATOR_LIST.map((o) => o.name);

type Qualifier = 'ForAllValues' | 'ForAnyValue' | undefined;

type PolicyValue =
  | { f: 'pattern'; p: Pattern }
  | { f: 'number'; n: number }
  | { f: 'binary'; b: Buffer }
  | { f: 'ip'; list: BlockList }
  | { f: 'null'; isNull: boolean };

interface ConditionEntry {
  /** Context key, lower-cased (condition key names are case-insensitive). */
  key: string;
  values: PolicyValue[];
}

/** One operator block of a Condition element, e.g. `"ForAnyValue:StringLikeIfExists": {...}`. */
export interface ConditionBlock {
  /** The operator as written in the policy. */
  readonly operator: string;
  readonly info: OperatorInfo;
  readonly qualifier: Qualifier;
  readonly ifExists: boolean;
  readonly entries: readonly ConditionEntry[];
}

/** The request's condition context: lower-cased keys; an empty array counts as no value. */
export type ContextLookup = (lowerKey: string) => string | readonly string[] | undefined;

function parseOperator(raw: string): { info: OperatorInfo; qualifier: Qualifier; ifExists: boolean } {
  let rest = raw;
  let qualifier: Qualifier;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const q = rest.slice(0, colon).toLowerCase();
    if (q === 'forallvalues') qualifier = 'ForAllValues';
    else if (q === 'foranyvalue') qualifier = 'ForAnyValue';
    else throw new PolicyDocumentError(`Invalid Condition type : ${raw}`);
    rest = rest.slice(colon + 1);
  }
  let ifExists = false;
  let info = OPERATORS.get(rest.toLowerCase());
  if (!info && rest.toLowerCase().endsWith('ifexists')) {
    info = OPERATORS.get(rest.slice(0, -'ifexists'.length).toLowerCase());
    ifExists = true;
  }
  // Null tests existence itself, so it has neither an IfExists form nor a set-qualified one.
  if (!info || (info.family === 'null' && (ifExists || qualifier))) throw new PolicyDocumentError(`Invalid Condition type : ${raw}`);
  return { info, qualifier, ifExists };
}

const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A numeric condition value or context value; undefined when it is not a number. */
export function parseNumber(s: string): number | undefined {
  const t = s.trim();
  if (!NUMBER_TEXT.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** A date condition value: ISO 8601 text or epoch seconds (aws:EpochTime); milliseconds since the epoch, or undefined. */
export function parseDate(s: string): number | undefined {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

function parseCidr(s: string): BlockList | undefined {
  const t = s.trim();
  const slash = t.indexOf('/');
  const addr = slash < 0 ? t : t.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  const list = new BlockList();
  list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

function isBase64(s: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0;
}

function compileValue(info: OperatorInfo, raw: string, variables: boolean, operator: string): PolicyValue {
  const bad = (): never => {
    throw new PolicyDocumentError(`Invalid value for condition ${operator}: ${raw}`);
  };
  switch (info.family) {
    case 'string':
      return { f: 'pattern', p: new Pattern(raw, 'literal', { variables }) };
    case 'stringIgnoreCase':
      return { f: 'pattern', p: new Pattern(raw, 'literal', { variables, ignoreCase: true }) };
    case 'stringLike':
      return { f: 'pattern', p: new Pattern(raw, 'glob', { variables }) };
    case 'arn':
      return { f: 'pattern', p: new Pattern(raw, 'arn', { variables }) };
    case 'bool': {
      const p = new Pattern(raw, 'literal', { variables, ignoreCase: true });
      if (!p.hasVariables && raw.toLowerCase() !== 'true' && raw.toLowerCase() !== 'false') bad();
      return { f: 'pattern', p };
    }
    case 'numeric': {
      const n = parseNumber(raw);
      return n === undefined ? bad() : { f: 'number', n };
    }
    case 'date': {
      const n = parseDate(raw);
      return n === undefined ? bad() : { f: 'number', n };
    }
    case 'binary':
      return isBase64(raw.trim()) ? { f: 'binary', b: Buffer.from(raw.trim(), 'base64') } : bad();
    case 'ip': {
      const list = parseCidr(raw);
      return list ? { f: 'ip', list } : bad();
    }
    case 'null': {
      const l = raw.toLowerCase();
      return l === 'true' || l === 'false' ? { f: 'null', isNull: l === 'true' } : bad();
    }
  }
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new PolicyDocumentError(SYNTAX_ERROR);
}

/** Parse a statement's Condition element; `variables` is whether policy variables are substituted (Version 2012-10-17). */
export function parseConditions(raw: unknown, variables: boolean): ConditionBlock[] {
  if (raw === undefined) return [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PolicyDocumentError(SYNTAX_ERROR);
  const blocks: ConditionBlock[] = [];
  for (const [operator, body] of Object.entries(raw as Record<string, unknown>)) {
    const { info, qualifier, ifExists } = parseOperator(operator);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new PolicyDocumentError(SYNTAX_ERROR);
    const entries: ConditionEntry[] = [];
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (!/^[^:\s]+:\S/.test(key)) throw new PolicyDocumentError('Policy has an invalid condition key');
      const list = Array.isArray(value) ? value : [value];
      entries.push({ key: key.toLowerCase(), values: list.map((v) => compileValue(info, scalarText(v), variables, operator)) });
    }
    blocks.push({ operator, info, qualifier, ifExists, entries });
  }
  return blocks;
}

function compare(cmp: Comparison, a: number, b: number): boolean {
  switch (cmp) {
    case 'eq':
      return a === b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
  }
}

/** Whether one request value matches one policy value under the operator's positive (un-negated) sense. */
function matchesValue(info: OperatorInfo, v: string, pv: PolicyValue, resolve: VariableResolver): boolean {
  switch (pv.f) {
    case 'pattern':
      return pv.p.matches(v, resolve);
    case 'number': {
      const n = info.family === 'date' ? parseDate(v) : parseNumber(v);
      return n !== undefined && compare(info.cmp, n, pv.n);
    }
    case 'binary': {
      const t = v.trim();
      return isBase64(t) && Buffer.from(t, 'base64').equals(pv.b);
    }
    case 'ip': {
      const family = isIP(v.trim());
      return family !== 0 && pv.list.check(v.trim(), family === 4 ? 'ipv4' : 'ipv6');
    }
    case 'null':
      return false;
  }
}

/**
 * Evaluate one key of one operator block.
 *
 * Missing keys, per AWS's condition-operator reference ("If the key that you specify in a policy
 * condition is not present in the request context, the values do not match and the condition is
 * false. If the policy condition requires that the key is not matched, such as StringNotLike or
 * ArnNotLike, and the right key is not present, the condition is true. This logic applies to all
 * condition operators except ...IfExists and Null check"):
 *   - plain operator, key absent: false; negated operator (StringNotEquals, StringNotEqualsIgnoreCase,
 *     StringNotLike, NumericNotEquals, DateNotEquals, NotIpAddress, ArnNotEquals, ArnNotLike): true;
 *   - ...IfExists, key absent: true (whatever the operator);
 *   - ForAllValues, key absent or empty: true (documented); ForAnyValue, key absent or empty: false;
 *   - Null: true when the key's presence is what the policy value says ("true" = absent).
 * A multi-valued key with no values counts as absent; a key whose value is an empty string is present.
 *
 * Several values for the key in the policy are ORed; for a negated operator the condition holds when
 * the request value matches none of them (AWS's "logical NOR"). Without a set qualifier, a
 * multi-valued request value satisfies a plain operator when any element matches, and a negated
 * operator when no element matches (the negation of the plain result). With ForAllValues every
 * request value must satisfy the per-value test, with ForAnyValue at least one.
 */
function evaluateEntry(block: ConditionBlock, entry: ConditionEntry, lookup: ContextLookup, resolve: VariableResolver, unknown: UnknownKeys | undefined): boolean {
  const raw = lookup(entry.key);
  // A key AWS would set but the server does not know cannot be decided: the statement fails closed.
  if (raw === undefined && unknown?.isUnknown(entry.key)) return unknown.effect === 'Deny';
  const values: readonly string[] = raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw;
  const present = values.length > 0;
  const { info } = block;
  if (info.family === 'null') return entry.values.some((pv) => pv.f === 'null' && pv.isNull === !present);
  if (!present) {
    if (block.ifExists) return true;
    if (block.qualifier === 'ForAllValues') return true;
    if (block.qualifier === 'ForAnyValue') return false;
    return info.negated;
  }
  const matchesAny = (v: string): boolean => entry.values.some((pv) => matchesValue(info, v, pv, resolve));
  const perValue = (v: string): boolean => (info.negated ? !matchesAny(v) : matchesAny(v));
  if (block.qualifier === 'ForAllValues') return values.every(perValue);
  if (block.qualifier === 'ForAnyValue') return values.some(perValue);
  const anyMatch = values.some(matchesAny);
  return info.negated ? !anyMatch : anyMatch;
}

/**
 * Condition keys the evaluator cannot decide (keys AWS would set in the request that the server does not
 * compute). A condition on one, with the key absent, counts as met in a Deny statement and as not met in an
 * Allow statement, so that not knowing a key never grants access nor lifts a denial.
 */
export interface UnknownKeys {
  isUnknown(lowerKey: string): boolean;
  effect: 'Allow' | 'Deny';
}

/** Whether every operator block, and every key within each, holds (all ANDed). */
export function evaluateConditions(blocks: readonly ConditionBlock[], lookup: ContextLookup, resolve: VariableResolver, unknown?: UnknownKeys): boolean {
  for (const block of blocks) for (const entry of block.entries) if (!evaluateEntry(block, entry, lookup, resolve, unknown)) return false;
  return true;
}
