import { createRequire } from 'node:module';
import { NormalizedSchema } from '@smithy/core/schema';
import type { StaticOperationSchema } from '@smithy/types';
import { AwsError } from './errors.ts';

/**
 * The request shapes of an AWS service, read from AWS's own service model as the AWS SDK for JavaScript ships
 * it (`@aws-sdk/client-*` exports every operation's schema, with member names, types and the `sensitive` trait).
 *
 * Two uses: a request body whose members have the wrong JSON types is refused with SerializationException
 * before any handler runs (as AWS's JSON services do), and a CloudTrail event shows only what the model
 * declares and does not mark sensitive: an unknown member (a misspelt `secretString`), a blob (ciphertext,
 * image bytes) or a sensitive member (a secret value, a password) never reaches the trail.
 */
export class ServiceShapes {
  readonly #pkg: string;
  #module: Record<string, unknown> | undefined;
  readonly #inputs = new Map<string, NormalizedSchema | null>();

  /** `pkg`: the SDK client package whose model describes the service, for example '@aws-sdk/client-kms'. */
  constructor(pkg: string) {
    this.#pkg = pkg;
  }

  /** Load the model now (it is loaded on first use otherwise). */
  load(): this {
    this.#module ??= createRequire(import.meta.url)(this.#pkg) as Record<string, unknown>;
    return this;
  }

  /** The input structure of `operation`, or undefined when the model has no such operation. */
  input(operation: string): NormalizedSchema | undefined {
    let s = this.#inputs.get(operation);
    if (s === undefined) {
      const op = /^[A-Za-z0-9]{1,128}$/.test(operation) ? (this.load().#module![`${operation}$`] as StaticOperationSchema | undefined) : undefined;
      s = Array.isArray(op) && op[0] === 9 ? NormalizedSchema.of(op[4]) : null;
      this.#inputs.set(operation, s);
    }
    return s ?? undefined;
  }
}

/** What a JSON value is, in AWS's serialisation-error words. */
function kind(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a structure or map';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

function mismatch(path: string, expected: string, v: unknown): AwsError {
  return new AwsError('SerializationException', 400, `Expected ${expected} at '${path}', but found ${kind(v)}.`);
}

const OMIT = Symbol('omit');

/**
 * A shape compiled once into plain objects, so that checking a request costs a walk over its own members, not
 * over the SDK's schema accessors (a tenth of the time). Members are compiled when first met, which also keeps
 * recursive shapes finite.
 */
type Kind = 'struct' | 'list' | 'map' | 'document' | 'string' | 'blob' | 'boolean' | 'timestamp' | 'number' | 'other';
interface Node {
  kind: Kind;
  secret: boolean;
  /** Structures: member name to its node. Lists and maps: their member or value node. */
  members?: Map<string, () => Node>;
  value?: () => Node;
}

const compiled = new WeakMap<NormalizedSchema, Node>();

function compile(s: NormalizedSchema): Node {
  let n = compiled.get(s);
  if (n) return n;
  const secret = s.getMergedTraits().sensitive === 1 || s.isBlobSchema() || s.isStreaming();
  const kind: Kind =
    s.isStructSchema() || s.isUnionSchema() ? 'struct'
    : s.isListSchema() ? 'list'
    : s.isMapSchema() ? 'map'
    : s.isDocumentSchema() ? 'document'
    : s.isBlobSchema() ? 'blob'
    : s.isStringSchema() ? 'string'
    : s.isBooleanSchema() ? 'boolean'
    : s.isTimestampSchema() ? 'timestamp'
    : s.isNumericSchema() || s.isBigIntegerSchema() || s.isBigDecimalSchema() ? 'number'
    : 'other';
  n = { kind, secret };
  compiled.set(s, n);
  if (kind === 'struct') {
    const members = new Map<string, () => Node>();
    for (const [name, m] of Object.entries(s.getMemberSchemas())) members.set(name, lazy(m));
    n.members = members;
  } else if (kind === 'list' || kind === 'map') n.value = lazy(s.getValueSchema());
  return n;
}

function lazy(s: NormalizedSchema): () => Node {
  let n: Node | undefined;
  return () => (n ??= compile(s));
}

/**
 * Check a parsed awsJson request against its input shape and return what a CloudTrail event may show of it:
 * modelled members only, without sensitive members, blobs or streams. Unknown members are ignored, as AWS's
 * JSON services ignore them. Throws SerializationException (400) when a member has the wrong JSON type.
 */
export function conformJson(input: Record<string, unknown>, shape: NormalizedSchema): Record<string, unknown> {
  const out = conform(input, compile(shape), '', false);
  return out === OMIT || out === undefined ? {} : (out as Record<string, unknown>);
}

function conform(v: unknown, n: Node, path: string, hidden: boolean): unknown {
  if (v === null || v === undefined) return OMIT;
  const secret = hidden || n.secret;
  switch (n.kind) {
    case 'struct': {
      if (typeof v !== 'object' || Array.isArray(v)) throw mismatch(path || 'the request body', 'a structure', v);
      const out: Record<string, unknown> = {};
      for (const name in v as Record<string, unknown>) {
        const member = n.members!.get(name);
        if (!member) continue;
        const c = conform((v as Record<string, unknown>)[name], member(), path ? `${path}.${name}` : name, secret);
        if (c !== OMIT) out[name] = c;
      }
      return secret ? OMIT : out;
    }
    case 'list': {
      if (!Array.isArray(v)) throw mismatch(path, 'a list', v);
      const member = n.value!();
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        if (v[i] === null) throw mismatch(`${path}[${i}]`, 'a list member', null);
        const c = conform(v[i], member, `${path}[${i}]`, secret);
        if (c !== OMIT) out.push(c);
      }
      return secret ? OMIT : out;
    }
    case 'map': {
      if (typeof v !== 'object' || Array.isArray(v)) throw mismatch(path, 'a map', v);
      const value = n.value!();
      const out: Record<string, unknown> = {};
      for (const k in v as Record<string, unknown>) {
        const c = conform((v as Record<string, unknown>)[k], value, `${path}.${k}`, secret);
        if (c !== OMIT) out[k] = c;
      }
      return secret ? OMIT : out;
    }
    case 'document':
      return secret ? OMIT : v;
    case 'string':
    case 'blob':
      if (typeof v !== 'string') throw mismatch(path, 'a string', v);
      return secret ? OMIT : v;
    case 'boolean':
      if (typeof v !== 'boolean') throw mismatch(path, 'a boolean', v);
      return secret ? OMIT : v;
    case 'timestamp':
      if (typeof v !== 'number' && typeof v !== 'string') throw mismatch(path, 'a timestamp', v);
      if (typeof v === 'number' && !Number.isFinite(v)) throw new AwsError('SerializationException', 400, `The timestamp at '${path}' is out of range.`);
      return secret ? OMIT : v;
    case 'number':
      if (typeof v !== 'number') throw mismatch(path, 'a number', v);
      if (!Number.isFinite(v)) throw new AwsError('SerializationException', 400, `The number at '${path}' is out of range.`);
      return secret ? OMIT : v;
    default:
      return OMIT;
  }
}

/**
 * The awsQuery parameters (IAM, STS) a CloudTrail event may show: those whose top-level member the model
 * declares and does not mark sensitive (`Password`, `NewPassword`...), so that nothing a caller invents and
 * no secret reaches the trail. `Tags.member.1.Key` belongs to the member `Tags`.
 */
export function auditQueryParams(params: Map<string, string>, shape: NormalizedSchema | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!shape) return out;
  const members = shape.getMemberSchemas();
  for (const [k, v] of params) {
    const top = k.split('.', 1)[0]!;
    const m = Object.hasOwn(members, top) ? members[top] : undefined;
    if (!m || m.getMergedTraits().sensitive === 1 || m.isBlobSchema()) continue;
    if (m.isStructSchema() || m.isListSchema() || m.isMapSchema()) {
      // Nested members may be sensitive themselves: keep only a nested value whose own member is not.
      if (!nestedVisible(m, k.split('.').slice(1))) continue;
    }
    out.set(k, v);
  }
  return out;
}

/** Follows `member.1.Key`-style steps through lists, maps and structures; false if any step is sensitive or unknown. */
function nestedVisible(s: NormalizedSchema, steps: string[]): boolean {
  let cur = s;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (cur.getMergedTraits().sensitive === 1 || cur.isBlobSchema()) return false;
    if (cur.isListSchema()) {
      if (step === 'member') continue;
      if (/^\d+$/.test(step)) {
        cur = cur.getValueSchema();
        continue;
      }
      return false;
    }
    if (cur.isMapSchema()) {
      if (step === 'entry' || /^\d+$/.test(step)) continue;
      if (step === 'key') return true;
      if (step === 'value') {
        cur = cur.getValueSchema();
        continue;
      }
      return false;
    }
    if (cur.isStructSchema()) {
      const members = cur.getMemberSchemas();
      if (!Object.hasOwn(members, step)) return false;
      cur = members[step]!;
      continue;
    }
    return false;
  }
  return cur.getMergedTraits().sensitive !== 1 && !cur.isBlobSchema();
}
