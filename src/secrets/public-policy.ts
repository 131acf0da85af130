import { isIP } from 'node:net';
import type { PolicyDocument, PolicyStatement } from '../iam/policy.ts';

/**
 * Whether a secret's resource policy allows broad access, as Secrets Manager decides it for BlockPublicPolicy and
 * ValidateResourcePolicy. AWS documents the rule it shares with Amazon S3 ("The meaning of public"): a policy is
 * taken as public unless every statement that lets in everyone ("*", or a federated identity) is confined by a
 * condition that fixes one of the keys below to values without wildcards or policy variables. A fixed principal
 * (an account, user, role or service) is never broad.
 */

/** Condition keys (lower case) whose fixed values confine a statement to known callers, networks or sources. */
const CONFINING_KEYS = new Set([
  'aws:principalaccount',
  'aws:principalarn',
  'aws:principalorgid',
  'aws:userid',
  'aws:sourcearn',
  'aws:sourceaccount',
  'aws:sourceowner',
  'aws:sourcevpc',
  'aws:sourcevpce',
  'aws:sourceip',
]);

/** Operators that only let through the values they name (no negation, no IfExists, no ForAllValues). */
const CONFINING_OPERATORS = new Set(['stringequals', 'stringequalsignorecase', 'stringlike', 'arnequals', 'arnlike', 'ipaddress']);

function fixed(value: string): boolean {
  return !/[*?]/.test(value) && !value.includes('${');
}

/** An IP range narrow enough not to count as public: a /8 or narrower for IPv4, a /32 or narrower for IPv6. */
function narrowRange(value: string): boolean {
  const [address, bits] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0) return false;
  if (bits === undefined) return true;
  const prefix = Number(bits);
  return Number.isInteger(prefix) && prefix >= (family === 4 ? 8 : 32);
}

function confines(condition: unknown): boolean {
  if (!condition || typeof condition !== 'object') return false;
  for (const [rawOperator, body] of Object.entries(condition as Record<string, unknown>)) {
    const [qualifier, name] = rawOperator.includes(':') ? rawOperator.split(':', 2) : [undefined, rawOperator];
    if (qualifier?.toLowerCase() === 'forallvalues') continue;
    const operator = (name ?? '').toLowerCase();
    if (!CONFINING_OPERATORS.has(operator) || !body || typeof body !== 'object') continue;
    for (const [key, raw] of Object.entries(body as Record<string, unknown>)) {
      const lower = key.toLowerCase();
      if (!CONFINING_KEYS.has(lower)) continue;
      const values = (Array.isArray(raw) ? raw : [raw]).map(String);
      if (values.length === 0) continue;
      const ok = lower === 'aws:sourceip' ? operator === 'ipaddress' && values.every(narrowRange) : operator !== 'ipaddress' && values.every(fixed);
      if (ok) return true;
    }
  }
  return false;
}

function letsInEveryone(st: PolicyStatement): boolean {
  if (st.effect !== 'Allow' || !st.principals) return false;
  if (st.principals === '*') return true;
  return st.principals.some((p) => (p.type === 'AWS' && p.value === '*') || p.type === 'Federated');
}

/** Whether the (already parsed and valid) policy lets a wide range of principals in. */
export function allowsBroadAccess(doc: PolicyDocument): boolean {
  const raw = JSON.parse(doc.text) as { Statement: unknown };
  const list = (Array.isArray(raw.Statement) ? raw.Statement : [raw.Statement]) as Array<Record<string, unknown>>;
  return doc.statements.some((st, i) => letsInEveryone(st) && !confines(list[i]?.['Condition']));
}
