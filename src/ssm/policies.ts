import { IncompatiblePolicyException, InvalidPolicyAttributeException, InvalidPolicyTypeException, PoliciesLimitExceededException } from './errors.ts';

/**
 * Parameter policies (Advanced tier only). Trent enforces Expiration: once its timestamp passes, the
 * parameter is deleted (checked on every read and swept from API calls). ExpirationNotification and
 * NoChangeNotification exist to raise EventBridge events, which Trent has nowhere to send: they are
 * refused rather than accepted and silently never fired.
 */

export const MAX_POLICIES = 10;

export interface ParsedPolicies {
  /** The policies as stored: a JSON array of the policy objects, or null for none. */
  stored: string | null;
  count: number;
  /** When the Expiration policy deletes the parameter (epoch ms), or null. */
  expiresAt: number | null;
}

/** ISO_INSTANT or ISO_OFFSET_DATE_TIME (whose offset may carry seconds, "+10:30:00"). */
function parseTimestamp(v: unknown): number {
  if (typeof v !== 'string') return NaN;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:\d{2}(?::\d{2})?)$/.exec(v.trim());
  if (!m) return NaN;
  let [, local, zone] = m as unknown as [string, string, string];
  local = local.replace(/(\.\d{3})\d+$/, '$1');
  let extraSeconds = 0;
  if (zone !== 'Z' && zone.length === 9) {
    const sign = zone.startsWith('-') ? -1 : 1;
    extraSeconds = sign * Number(zone.slice(7));
    zone = zone.slice(0, 6);
  }
  const ms = Date.parse(`${local}${zone}`);
  // An offset east of UTC (with seconds) means UTC is earlier by that much.
  return Number.isFinite(ms) ? ms - extraSeconds * 1000 : NaN;
}

export function parsePolicies(text: string, now: number): ParsedPolicies {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidPolicyAttributeException('Policies must be a JSON array of parameter policies.');
  }
  const list = Array.isArray(value) ? value : [value];
  if (list.length > MAX_POLICIES) throw new PoliciesLimitExceededException(MAX_POLICIES);
  let expiresAt: number | null = null;
  const kept: Array<Record<string, unknown>> = [];
  for (const item of list) {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new InvalidPolicyAttributeException('Each parameter policy must be a JSON object with Type, Version and Attributes.');
    const p = item as Record<string, unknown>;
    const type = p['Type'];
    if (type === 'ExpirationNotification' || type === 'NoChangeNotification') {
      throw new InvalidPolicyTypeException(`${type} policies raise EventBridge events, which Trent does not deliver: only Expiration policies are supported.`);
    }
    if (type !== 'Expiration') throw new InvalidPolicyTypeException(`Policy type ${String(type)} is not valid: Parameter Store's policy types are Expiration, ExpirationNotification and NoChangeNotification.`);
    if (p['Version'] !== undefined && p['Version'] !== '1.0') throw new InvalidPolicyAttributeException('The policy Version must be 1.0.');
    const attributes = p['Attributes'];
    if (!attributes || typeof attributes !== 'object' || Array.isArray(attributes)) throw new InvalidPolicyAttributeException('An Expiration policy needs Attributes with a Timestamp.');
    const at = parseTimestamp((attributes as Record<string, unknown>)['Timestamp']);
    if (!Number.isFinite(at)) throw new InvalidPolicyAttributeException('The Expiration Timestamp must be an ISO 8601 date and time with a zone (for example 2030-12-02T21:34:33.000Z).');
    if (at <= now) throw new InvalidPolicyAttributeException('The Expiration Timestamp must be in the future.');
    if (expiresAt !== null) throw new IncompatiblePolicyException('A parameter can have only one Expiration policy.');
    expiresAt = at;
    kept.push({ Type: 'Expiration', Version: '1.0', Attributes: { Timestamp: (attributes as Record<string, unknown>)['Timestamp'] } });
  }
  return { stored: kept.length ? JSON.stringify(kept) : null, count: kept.length, expiresAt };
}

/** The policies of a stored version as DescribeParameters and GetParameterHistory list them. */
export function policyList(stored: string | null): Array<{ PolicyText: string; PolicyType: string; PolicyStatus: string }> {
  if (!stored) return [];
  const list = JSON.parse(stored) as Array<Record<string, unknown>>;
  return list.map((p) => ({ PolicyText: JSON.stringify(p), PolicyType: String(p['Type']), PolicyStatus: 'Pending' }));
}
