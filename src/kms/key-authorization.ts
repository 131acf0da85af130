import type { CallContext } from '../server/service.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import { GRANT_OPERATIONS, grantWithin, readConstraints, type GrantStore } from './grants.ts';
import type { KeyRecord, KeyStore } from './keys.ts';

type In = Record<string, unknown>;

/** Operations a grant can allow (ReEncrypt's sides are ReEncryptFrom / ReEncryptTo). */
const GRANTABLE = new Set<string>(GRANT_OPERATIONS);

/** Record the key as one of the event's resources (CloudTrail's `resources`). */
export function touched(ctx: CallContext, key: KeyRecord): KeyRecord {
  if (!ctx.resources.some((r) => r.ARN === key.arn)) ctx.resources.push({ ARN: key.arn, accountId: key.accountId, type: 'AWS::KMS::Key' });
  return key;
}

function policyMentions(texts: string[], key: string): boolean {
  const k = key.toLowerCase();
  return texts.some((t) => t.toLowerCase().includes(k));
}

/**
 * Access to a key, shared by the KMS operations and by Trent's XKS proxy (whose calls act as an IAM user):
 * the key policy (authoritative; it may delegate to IAM policies through the account principal), identity
 * policies and grants, evaluated as AWS does, with KMS's condition keys.
 */
export function keyAuthorizer(deps: { authorizer: Authorizer; keys: KeyStore; grants: GrantStore }) {
  const { keys, grants } = deps;
  const db = keys.db;

  /**
   * The caller may use this key for this operation: the key policy (authoritative; it may delegate to IAM
   * policies through the account principal), identity policies and grants, evaluated as AWS does, with
   * KMS's condition keys. Records the key as the event's resource either way.
   */
  return async function authorizedKey(ctx: CallContext, key: KeyRecord, opts: { action?: string; side?: 'Source' | 'Destination' } = {}): Promise<KeyRecord> {
    touched(ctx, key);
    const op = opts.action ?? (ctx.operation === 'ReEncrypt' ? (opts.side === 'Source' ? 'ReEncryptFrom' : 'ReEncryptTo') : ctx.operation);
    const input = (ctx.input ?? {}) as In;
    const ecRaw = input[opts.side ? `${opts.side}EncryptionContext` : 'EncryptionContext'];
    const ec = ecRaw && typeof ecRaw === 'object' && !Array.isArray(ecRaw) ? (ecRaw as Record<string, string>) : undefined;
    const context: Record<string, string | string[] | undefined> = {
      'kms:CallerAccount': ctx.principal.accountId,
      'kms:ViaService': ctx.viaService,
      'kms:KeySpec': key.keySpec,
      'kms:KeyUsage': key.keyUsage,
      'kms:KeyOrigin': key.origin,
      'kms:KeyManager': key.keyManager,
    };
    if (ec) {
      for (const [k, v] of Object.entries(ec)) context[`kms:EncryptionContext:${k}`] = v;
      context['kms:EncryptionContextKeys'] = Object.keys(ec);
    }
    const requested = input[opts.side === 'Destination' ? 'DestinationKeyId' : opts.side === 'Source' ? 'SourceKeyId' : 'KeyId'];
    if (typeof requested === 'string') {
      const alias = /^(?:arn:aws:kms:[^:]+:\d{12}:)?(alias\/.+)$/.exec(requested);
      if (alias) context['kms:RequestAlias'] = alias[1];
    }
    if (op === 'CreateGrant') {
      context['kms:GrantOperations'] = Array.isArray(input['Operations']) ? (input['Operations'] as string[]) : [];
      context['kms:GrantIsForAWSResource'] = ctx.viaService ? 'true' : 'false';
      if (typeof input['GranteePrincipal'] === 'string') context['kms:GranteePrincipal'] = input['GranteePrincipal'];
      if (typeof input['RetiringPrincipal'] === 'string') context['kms:RetiringPrincipal'] = input['RetiringPrincipal'];
    }
    // Aliases and tags cost a lookup: only when some policy in play asks about them.
    const texts = [key.policy, ...(await deps.authorizer.identityPolicyTexts(ctx.principal))];
    if (policyMentions(texts, 'kms:ResourceAliases')) context['kms:ResourceAliases'] = (await keys.aliases(key.keyId, 100, undefined)).map((a) => a.aliasName);
    if (policyMentions(texts, 'aws:ResourceTag/')) {
      for (const t of await db.all<{ tag_key: string; tag_value: string }>('SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ?', [key.keyId])) context[`aws:ResourceTag/${t.tag_key}`] = t.tag_value;
    }
    // A grant's CreateGrant permission reaches only grants inside that grant (AWS: "Granting CreateGrant permission").
    const child = op === 'CreateGrant' ? { operations: [...new Set(input['Operations'] as string[])], constraints: readConstraints(input['Constraints']) } : undefined;
    const grantAllows = GRANTABLE.has(op) ? () => grants.allows(key.keyId, ctx.principal, op, ec, child && ((g) => grantWithin(g, child))) : false;
    await ctx.authorize({ action: `kms:${op}`, resource: key.arn, resourcePolicy: key.policy, resourceAccount: key.accountId, mode: 'key-policy', context, grantAllows });
    return key;
  };
}
