import { MalformedPolicyDocumentException } from './errors.ts';

export const POLICY_NAME = 'default';
const MAX_POLICY_BYTES = 32 * 1024;

/** AWS's default key policy: the account root may do everything, which delegates access to IAM policies. */
export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' }],
    },
    null,
    2,
  );
}

/**
 * Structural validation of a key policy document (evaluation arrives with the access-control work):
 * JSON, within 32 KB, a Statement list whose entries have an Effect, a Principal, and an Action or NotAction.
 */
export function validateKeyPolicy(text: string): void {
  if (Buffer.byteLength(text, 'utf8') > MAX_POLICY_BYTES) throw new MalformedPolicyDocumentException('The key policy exceeds the 32 KB limit.');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new MalformedPolicyDocumentException('The key policy is not valid JSON.');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new MalformedPolicyDocumentException('The key policy must be a JSON object.');
  const d = doc as Record<string, unknown>;
  if (d['Version'] !== undefined && d['Version'] !== '2012-10-17' && d['Version'] !== '2008-10-17') {
    throw new MalformedPolicyDocumentException(`Unsupported policy Version: ${String(d['Version'])}`);
  }
  const statements = Array.isArray(d['Statement']) ? d['Statement'] : d['Statement'] !== undefined ? [d['Statement']] : [];
  if (statements.length === 0) throw new MalformedPolicyDocumentException('The key policy must contain at least one Statement.');
  for (const [i, s] of statements.entries()) {
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new MalformedPolicyDocumentException(`Statement ${i} is not an object.`);
    const st = s as Record<string, unknown>;
    if (st['Effect'] !== 'Allow' && st['Effect'] !== 'Deny') throw new MalformedPolicyDocumentException(`Statement ${i} needs Effect "Allow" or "Deny".`);
    if (st['Principal'] === undefined && st['NotPrincipal'] === undefined) throw new MalformedPolicyDocumentException(`Statement ${i} needs a Principal.`);
    if (st['Action'] === undefined && st['NotAction'] === undefined) throw new MalformedPolicyDocumentException(`Statement ${i} needs an Action or NotAction.`);
    for (const field of ['Action', 'NotAction']) {
      const v = st[field];
      if (v === undefined) continue;
      const list = Array.isArray(v) ? v : [v];
      if (list.some((a) => typeof a !== 'string' || !/^(\*|kms:[A-Za-z*?]*)$/.test(a))) {
        throw new MalformedPolicyDocumentException(`Statement ${i} has an invalid ${field}: key policies name kms:* actions.`);
      }
    }
  }
}
