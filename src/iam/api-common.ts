/**
 * What the IAM operation families (api.ts: users, keys, roles; api-groups.ts; api-policies.ts) share:
 * IAM's errors, parameter readers, entity look-ups, tags, pagination and the access check.
 */
import type { CallContext } from '../server/service.ts';
import type { Database, Queryable } from '../store/database.ts';
import { AwsError } from '../wire/errors.ts';
import type { XmlObject } from '../wire/xml.ts';
import { InvalidPrincipalError, type Authorizer } from './authorizer.ts';
import type { IdentityStore } from './identities.ts';
import { parsePolicy, PolicyDocumentError, ROLE_INLINE_POLICY_MAX_CHARS } from './policy.ts';

/** IAM's error codes (awsQuery), each with IAM's HTTP status. */
export const noSuchEntity = (m: string) => new AwsError('NoSuchEntity', 404, m);
export const alreadyExists = (m: string) => new AwsError('EntityAlreadyExists', 409, m);
export const deleteConflict = (m: string) => new AwsError('DeleteConflict', 409, m);
export const malformedPolicy = (m: string) => new AwsError('MalformedPolicyDocument', 400, m);
export const validation = (m: string) => new AwsError('ValidationError', 400, m);
export const invalidInput = (m: string) => new AwsError('InvalidInput', 400, m);
export const limitExceeded = (m: string) => new AwsError('LimitExceeded', 409, m);

export const NAME = /^[\w+=,.@-]{1,64}$/;
export const GROUP_NAME = /^[\w+=,.@-]{1,128}$/;
export const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
export const PATH = /^\/([\x21-\x7e]{0,510}\/)?$/;
export const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
export const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
export const MAX_TAGS = 50;

export type Entity = 'user' | 'group' | 'role';

export interface UserRow {
  user_id: string;
  account_id: string;
  user_name: string;
  path: string;
  arn: string;
  created_at: string;
  permissions_boundary: string | null;
}
export interface RoleRow {
  role_id: string;
  account_id: string;
  role_name: string;
  path: string;
  arn: string;
  assume_role_policy: string;
  description: string | null;
  max_session_duration: number;
  created_at: string;
  permissions_boundary: string | null;
}
export interface GroupRow {
  group_id: string;
  account_id: string;
  group_name: string;
  path: string;
  arn: string;
  created_at: string;
}
export interface PolicyRow {
  policy_id: string;
  account_id: string;
  policy_name: string;
  path: string;
  arn: string;
  description: string | null;
  default_version: string;
  next_version: number;
  created_at: string;
  updated_at: string;
}

export interface Tag {
  Key: string;
  Value: string;
}

/** The shared pieces of the IAM service, bound to one deployment. */
export interface Iam {
  db: Database;
  identities: IdentityStore;
  authorizer: Authorizer;
  accountId: string;
  /** A required parameter, validated by `re`. */
  param(p: Map<string, string>, name: string, re?: RegExp): string;
  /** An optional path (default "/"). */
  path(p: Map<string, string>, name?: string): string;
  /** A list parameter in awsQuery form: NAME.member.1, NAME.member.2, ... */
  list(p: Map<string, string>, name: string): string[];
  /** Tags.member.N.Key / .Value, validated as IAM validates them. */
  tags(p: Map<string, string>): Tag[];
  /** A valid identity policy within a size quota in non-whitespace characters (default: a role's inline policy quota). */
  checkIdentityPolicy(text: string, maxChars?: number): void;
  /** A valid trust policy, with the users and roles it names bound to their unique ids. */
  bindTrust(text: string): Promise<string>;
  userByName(q: Queryable, name: string): Promise<UserRow>;
  roleByName(q: Queryable, name: string): Promise<RoleRow>;
  groupByName(q: Queryable, name: string): Promise<GroupRow>;
  /** A customer managed policy by ARN (AWS managed policies are not offered). */
  policyByArn(q: Queryable, arn: string): Promise<PolicyRow>;
  /** Is the caller allowed `iam:<operation>` on `resource`? Records the resource for the event. */
  allowed(ctx: CallContext, resource: string, extra?: { context?: Record<string, string | string[] | undefined>; tags?: Tag[] }): Promise<void>;
  entityTags(q: Queryable, entity: 'user' | 'role', id: string): Promise<Tag[]>;
  /** Add or replace tags (a key matches whatever its letter case, as in IAM), within the quota. */
  putTags(q: Queryable, entity: 'user' | 'role', id: string, tags: Tag[]): Promise<void>;
  /** IAM's Marker / MaxItems paging over an ordered list. */
  page<T>(p: Map<string, string>, items: T[], key: (t: T) => string): { items: T[]; IsTruncated: boolean; Marker?: string };
  /** Forget cached policies and keys, so that an IAM change takes effect at once in this process. */
  changed(): void;
}

export function iamCommon(deps: { db: Database; identities: IdentityStore; authorizer: Authorizer; accountId: string }): Iam {
  const { db, identities, authorizer, accountId } = deps;
  const lowerFirst = (n: string) => n.charAt(0).toLowerCase() + n.slice(1);

  const iam: Iam = {
    db,
    identities,
    authorizer,
    accountId,

    param(p, name, re) {
      const v = p.get(name);
      if (v === undefined || v === '') throw validation(`1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`);
      if (re && !re.test(v)) throw validation(`The specified value for '${lowerFirst(name)}' is invalid.`);
      return v;
    },

    path(p, name = 'Path') {
      const v = p.get(name) ?? '/';
      if (!PATH.test(v)) throw validation(`The specified value for '${lowerFirst(name)}' is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.`);
      return v;
    },

    list(p, name) {
      const out: string[] = [];
      for (let i = 1; p.has(`${name}.member.${i}`); i++) out.push(p.get(`${name}.member.${i}`)!);
      return out;
    },

    tags(p) {
      const out: Tag[] = [];
      for (let i = 1; p.has(`Tags.member.${i}.Key`); i++) {
        const Key = p.get(`Tags.member.${i}.Key`)!;
        const Value = p.get(`Tags.member.${i}.Value`) ?? '';
        if (!TAG_KEY.test(Key)) throw validation(`1 validation error detected: Value '${Key}' at 'tags.${i}.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+`);
        if (!TAG_VALUE.test(Value)) throw validation(`1 validation error detected: Value at 'tags.${i}.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`);
        if (Key.toLowerCase().startsWith('aws:')) throw invalidInput('User-defined tag keys can\'t start with "aws:". This prefix is reserved for AWS use.');
        if (out.some((t) => t.Key.toLowerCase() === Key.toLowerCase())) throw invalidInput(`Duplicate tag keys found. Tag keys are case insensitive: ${Key}.`);
        out.push({ Key, Value });
      }
      if (out.length > MAX_TAGS) throw limitExceeded(`The number of tags has reached the maximum limit of ${MAX_TAGS}.`);
      return out;
    },

    checkIdentityPolicy(text, maxChars = ROLE_INLINE_POLICY_MAX_CHARS) {
      try {
        parsePolicy(text, 'identity', { maxChars });
      } catch (err) {
        if (err instanceof PolicyDocumentError && err.reason === 'too-large') throw limitExceeded(err.message);
        throw malformedPolicy((err as Error).message);
      }
    },

    async bindTrust(text) {
      try {
        authorizer.parsePolicy(text, 'resource');
      } catch (err) {
        throw malformedPolicy((err as Error).message);
      }
      try {
        return await authorizer.bindPrincipals(text, accountId);
      } catch (err) {
        if (err instanceof InvalidPrincipalError) throw malformedPolicy(err.message);
        throw err;
      }
    },

    async userByName(q, name) {
      const u = await q.get<UserRow>('SELECT * FROM iam_users WHERE account_id = ? AND user_name = ?', [accountId, name]);
      if (!u) throw noSuchEntity(`The user with name ${name} cannot be found.`);
      return u;
    },

    async roleByName(q, name) {
      const r = await q.get<RoleRow>('SELECT * FROM iam_roles WHERE account_id = ? AND role_name = ?', [accountId, name]);
      if (!r) throw noSuchEntity(`The role with name ${name} cannot be found.`);
      return r;
    },

    async groupByName(q, name) {
      const g = await q.get<GroupRow>('SELECT * FROM iam_groups WHERE account_id = ? AND group_name = ?', [accountId, name]);
      if (!g) throw noSuchEntity(`The group with name ${name} cannot be found.`);
      return g;
    },

    async policyByArn(q, arn) {
      if (!/^arn:aws:iam::(\d{12}|aws):policy\/.+$/.test(arn)) throw validation(`ARN ${arn} is not valid.`);
      const row = await q.get<PolicyRow>('SELECT * FROM iam_policies WHERE arn = ?', [arn]);
      if (!row) throw noSuchEntity(`Policy ${arn} does not exist or is not attachable.`);
      return row;
    },

    async allowed(ctx, resource, extra = {}) {
      const type = resource.includes(':role/') ? 'AWS::IAM::Role' : resource.includes(':group/') ? 'AWS::IAM::Group' : resource.includes(':policy/') ? 'AWS::IAM::Policy' : 'AWS::IAM::User';
      if (!ctx.resources.some((r) => r.ARN === resource)) ctx.resources.push({ ARN: resource, accountId, type });
      const context: Record<string, string | string[] | undefined> = { ...(extra.context ?? {}) };
      // Users and roles have tags: they are aws:ResourceTag (and iam:ResourceTag) on requests about them.
      for (const t of extra.tags ?? []) {
        context[`aws:ResourceTag/${t.Key}`] = t.Value;
        context[`iam:ResourceTag/${t.Key}`] = t.Value;
      }
      await ctx.authorize({ action: `iam:${ctx.operation}`, resource, mode: 'identity', context });
    },

    async entityTags(q, entity, id) {
      return (await q.all<{ tag_key: string; tag_value: string }>('SELECT tag_key, tag_value FROM iam_tags WHERE entity_type = ? AND entity_id = ? ORDER BY tag_key', [entity, id])).map((r) => ({
        Key: r.tag_key,
        Value: r.tag_value,
      }));
    },

    async putTags(q, entity, id, tags) {
      const current = await iam.entityTags(q, entity, id);
      for (const t of tags) {
        for (const c of current) if (c.Key.toLowerCase() === t.Key.toLowerCase()) await q.run('DELETE FROM iam_tags WHERE entity_type = ? AND entity_id = ? AND tag_key = ?', [entity, id, c.Key]);
        await q.run('INSERT INTO iam_tags (entity_type, entity_id, tag_key, tag_value) VALUES (?, ?, ?, ?)', [entity, id, t.Key, t.Value]);
      }
      const n = await q.get<{ n: number }>('SELECT count(*) AS n FROM iam_tags WHERE entity_type = ? AND entity_id = ?', [entity, id]);
      if (Number(n?.n ?? 0) > MAX_TAGS) throw limitExceeded(`The number of tags has reached the maximum limit of ${MAX_TAGS}.`);
    },

    page(p, items, key) {
      const max = Math.min(1000, Math.max(1, Number(p.get('MaxItems') ?? 100) || 100));
      const marker = p.get('Marker');
      // Ordered here, by code unit, so that the marker means the same whatever the database's collation.
      const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      const after = marker === undefined ? sorted : sorted.filter((t) => key(t) > marker);
      const shown = after.slice(0, max);
      const truncated = after.length > max;
      return { items: shown, IsTruncated: truncated, ...(truncated ? { Marker: key(shown[shown.length - 1]!) } : {}) };
    },

    changed() {
      identities.invalidate();
    },
  };
  return iam;
}

/** Tags as IAM lists them. */
export function tagList(tags: Tag[]): XmlObject {
  return { member: tags.map((t) => ({ Key: t.Key, Value: t.Value })) };
}

/** The context keys of a request that sets tags: aws:RequestTag/KEY and aws:TagKeys. */
export function requestTagContext(tags: Tag[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((t) => t.Key) };
  for (const t of tags) out[`aws:RequestTag/${t.Key}`] = t.Value;
  return out;
}

/** A permissions boundary as GetUser and GetRole show it. */
export function boundaryShape(arn: string | null): XmlObject {
  return arn === null ? {} : { PermissionsBoundary: { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: arn } };
}
