import { awsId } from '../crypto/random.ts';
import type { CallContext, QueryService } from '../server/service.ts';
import { UniqueViolation, type Database } from '../store/database.ts';
import { forgetSigningKeys } from '../wire/sigv4.ts';
import { AuthFailure } from '../wire/auth-errors.ts';
import type { XmlObject } from '../wire/xml.ts';
import type { Authorizer } from './authorizer.ts';
import type { IdentityStore } from './identities.ts';
import { ServiceShapes } from '../wire/shapes.ts';
import {
  alreadyExists,
  boundaryShape,
  deleteConflict,
  iamCommon,
  limitExceeded,
  NAME,
  noSuchEntity,
  POLICY_NAME,
  requestTagContext,
  tagList,
  validation,
  type Iam,
  type RoleRow,
  type Tag,
  type UserRow,
} from './api-common.ts';
import { groupOperations } from './api-groups.ts';
import { policyOperations } from './api-policies.ts';

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const MAX_KEYS_PER_USER = 2;

/** A user as GetUser and CreateUser show it; `tags` undefined for ListUsers, which shows neither tags nor the boundary (as AWS). */
function user(u: UserRow, tags?: Tag[]): XmlObject {
  return {
    Path: u.path,
    UserName: u.user_name,
    UserId: u.user_id,
    Arn: u.arn,
    CreateDate: u.created_at,
    ...(tags ? boundaryShape(u.permissions_boundary ?? null) : {}),
    ...(tags?.length ? { Tags: tagList(tags) } : {}),
  };
}
/** A role as GetRole and CreateRole show it; `tags` undefined for ListRoles, which shows neither tags nor the boundary (as AWS). */
function role(r: RoleRow, tags?: Tag[]): XmlObject {
  return {
    Path: r.path,
    RoleName: r.role_name,
    RoleId: r.role_id,
    Arn: r.arn,
    CreateDate: r.created_at,
    // IAM returns policy documents URL-encoded; the SDKs and the CLI decode them.
    AssumeRolePolicyDocument: encodeURIComponent(r.assume_role_policy),
    ...(r.description ? { Description: r.description } : {}),
    MaxSessionDuration: Number(r.max_session_duration),
    ...(tags ? boundaryShape(r.permissions_boundary ?? null) : {}),
    ...(tags?.length ? { Tags: tagList(tags) } : {}),
  };
}

export interface IamDeps {
  db: Database;
  identities: IdentityStore;
  authorizer: Authorizer;
  accountId: string;
}

/**
 * AWS IAM (awsQuery): users, access keys, roles and their trust policies, inline policies, tags and permissions
 * boundaries (here); groups (api-groups.ts); customer managed policies, their versions and attachments (api-policies.ts).
 */
export function iamService(deps: IamDeps): QueryService {
  const iam = iamCommon(deps);
  const { db, identities, authorizer, accountId } = iam;

  /** A role as IAM shows it: its trust policy names principals by ARN while they exist. */
  async function shown(r: RoleRow): Promise<RoleRow> {
    return { ...r, assume_role_policy: await authorizer.renderPrincipals(r.assume_role_policy) };
  }

  /** The user an operation names, or the caller when UserName is absent (IAM users acting on themselves). */
  async function targetUser(ctx: CallContext, p: Map<string, string>): Promise<UserRow> {
    const name = p.get('UserName');
    if (name !== undefined) return iam.userByName(db, name);
    if (ctx.principal.type !== 'IAMUser') throw validation('UserName is required when the caller is not an IAM user.');
    return iam.userByName(db, ctx.principal.userName!);
  }

  /** The access check for an operation on an existing user or role: its tags are aws:ResourceTag, its boundary iam:PermissionsBoundary. */
  async function allowedOn(ctx: CallContext, kind: 'user' | 'role', row: UserRow | RoleRow, context: Record<string, string | string[] | undefined> = {}): Promise<void> {
    const id = kind === 'user' ? (row as UserRow).user_id : (row as RoleRow).role_id;
    await iam.allowed(ctx, row.arn, {
      tags: await iam.entityTags(db, kind, id),
      context: { ...(row.permissions_boundary ? { 'iam:PermissionsBoundary': row.permissions_boundary } : {}), ...context },
    });
  }

  /** PermissionsBoundary as CreateUser, CreateRole and Put...PermissionsBoundary take it: a customer managed policy that exists. */
  async function boundaryParam(p: Map<string, string>): Promise<string | undefined> {
    const arn = p.get('PermissionsBoundary');
    if (arn === undefined) return undefined;
    await iam.policyByArn(db, arn);
    return arn;
  }

  return {
    protocol: 'query',
    shapes: new ServiceShapes('@aws-sdk/client-iam'),
    signingName: 'iam',
    eventSource: 'iam.amazonaws.com',
    xmlns: 'https://iam.amazonaws.com/doc/2010-05-08/',
    version: '2010-05-08',
    maxBodyBytes: 256 * 1024,
    audit: {
      requestParameters: (_op, input) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of input as Map<string, string>) out[k.charAt(0).toLowerCase() + k.slice(1)] = v;
        return Object.keys(out).length ? out : null;
      },
      // Never a secret access key in an event: CreateAccessKey shows the key's id and status only.
      responseElements: (op, output) => {
        const o = output as Record<string, Record<string, unknown>> | undefined;
        if (!o) return null;
        if (op === 'CreateAccessKey') return { accessKey: { accessKeyId: o['AccessKey']?.['AccessKeyId'], status: 'Active', userName: o['AccessKey']?.['UserName'] } };
        if (op === 'CreateUser') return { user: o['User'] };
        if (op === 'CreateRole') return { role: o['Role'] };
        return null;
      },
    },
    operations: refuseUserSessions({
      ...userOperations(iam, { targetUser, allowedOn, boundaryParam }),
      ...roleOperations(iam, { shown, allowedOn, boundaryParam }),
      ...groupOperations(iam),
      ...policyOperations(iam),
    }),
  };
}

/**
 * Credentials from STS GetSessionToken call no IAM operation unless the session was authenticated with MFA (which
 * Trent has not), as on AWS: the caller is told its token is invalid (InvalidClientTokenId). A stolen session
 * therefore cannot make itself new long-term keys.
 */
function refuseUserSessions(ops: Operations): Operations {
  const out: Operations = {};
  for (const [name, handler] of Object.entries(ops)) {
    out[name] = async (ctx, p) => {
      if (ctx.principal.type === 'IAMUser' && ctx.principal.tokenIssuedAt !== undefined) throw new AuthFailure('unknown-key', 'GetSessionToken credentials without MFA cannot call IAM');
      return handler(ctx, p);
    };
  }
  return out;
}

interface UserHelpers {
  targetUser(ctx: CallContext, p: Map<string, string>): Promise<UserRow>;
  allowedOn(ctx: CallContext, kind: 'user', row: UserRow, context?: Record<string, string | string[] | undefined>): Promise<void>;
  boundaryParam(p: Map<string, string>): Promise<string | undefined>;
}

type Operations = QueryService['operations'];

function userOperations(iam: Iam, h: UserHelpers): Operations {
  const { db, identities, accountId } = iam;
  return {
    async CreateUser(ctx, p) {
      const name = iam.param(p, 'UserName', NAME);
      const path = iam.path(p);
      const tags = iam.tags(p);
      const boundary = await h.boundaryParam(p);
      await iam.allowed(ctx, `arn:aws:iam::${accountId}:user${path}${name}`, {
        context: { ...(tags.length ? requestTagContext(tags) : {}), ...(boundary ? { 'iam:PermissionsBoundary': boundary } : {}) },
      });
      try {
        await db.transaction(async (tx) => {
          if (await tx.get('SELECT 1 AS x FROM iam_users WHERE account_id = ? AND user_name = ?', [accountId, name])) throw alreadyExists(`User with name ${name} already exists.`);
          const { userId } = await identities.createUser(tx, accountId, name, path);
          if (boundary) await tx.run('UPDATE iam_users SET permissions_boundary = ? WHERE user_id = ?', [boundary, userId]);
          await iam.putTags(tx, 'user', userId, tags);
        });
      } catch (err) {
        if (err instanceof UniqueViolation) throw alreadyExists(`User with name ${name} already exists.`);
        throw err;
      }
      return { User: user(await iam.userByName(db, name), tags) };
    },

    async GetUser(ctx, p) {
      const u = await h.targetUser(ctx, p);
      await h.allowedOn(ctx, 'user', u);
      return { User: user(u, await iam.entityTags(db, 'user', u.user_id)) };
    },

    async ListUsers(ctx, p) {
      await iam.allowed(ctx, `arn:aws:iam::${accountId}:user/`);
      const prefix = p.get('PathPrefix') ?? '/';
      const max = Math.min(1000, Math.max(1, Number(p.get('MaxItems') ?? 100) || 100));
      const marker = p.get('Marker') ?? '';
      // The path prefix is applied in the query, so that a page is full whenever more users follow.
      const rows = await db.all<UserRow>('SELECT * FROM iam_users WHERE account_id = ? AND user_name > ? AND substr(path, 1, ?) = ? ORDER BY user_name LIMIT ?', [
        accountId,
        marker,
        prefix.length,
        prefix,
        max + 1,
      ]);
      const shown = rows.slice(0, max);
      const truncated = rows.length > max;
      return { Users: { member: shown.map((u) => user(u)) }, IsTruncated: truncated, ...(truncated ? { Marker: shown[shown.length - 1]!.user_name } : {}) };
    },

    async DeleteUser(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await h.allowedOn(ctx, 'user', u);
      if (u.user_id === ctx.principal.principalId) throw deleteConflict('You cannot delete the user you are signed in as.');
      await db.transaction(async (tx) => {
        if (await tx.get('SELECT 1 AS x FROM access_keys WHERE user_id = ?', [u.user_id])) throw deleteConflict('Cannot delete entity, must delete access keys first.');
        if (await tx.get('SELECT 1 AS x FROM iam_user_policies WHERE user_id = ?', [u.user_id])) throw deleteConflict('Cannot delete entity, must delete policies first.');
        if (await tx.get("SELECT 1 AS x FROM iam_policy_attachments WHERE entity_type = 'user' AND entity_id = ?", [u.user_id])) {
          throw deleteConflict('Cannot delete entity, must detach all policies first.');
        }
        if (await tx.get('SELECT 1 AS x FROM iam_group_members WHERE user_id = ?', [u.user_id])) throw deleteConflict('Cannot delete entity, must remove users from group first.');
        await tx.run("DELETE FROM iam_tags WHERE entity_type = 'user' AND entity_id = ?", [u.user_id]);
        await tx.run('DELETE FROM iam_users WHERE user_id = ?', [u.user_id]);
      });
      iam.changed();
      return undefined;
    },

    async CreateAccessKey(ctx, p) {
      const u = await h.targetUser(ctx, p);
      await h.allowedOn(ctx, 'user', u);
      const created = await db.transaction(async (tx) => {
        const n = await tx.get<{ n: number }>('SELECT count(*) AS n FROM access_keys WHERE user_id = ?', [u.user_id]);
        if (Number(n?.n ?? 0) >= MAX_KEYS_PER_USER) throw limitExceeded(`Cannot exceed quota for AccessKeysPerUser: ${MAX_KEYS_PER_USER}`);
        return identities.createAccessKey(tx, u.user_id);
      });
      return {
        AccessKey: { UserName: u.user_name, AccessKeyId: created.accessKeyId, Status: 'Active', SecretAccessKey: created.secretAccessKey, CreateDate: new Date().toISOString() },
      };
    },

    async ListAccessKeys(ctx, p) {
      const u = await h.targetUser(ctx, p);
      await h.allowedOn(ctx, 'user', u);
      const rows = await db.all<{ access_key_id: string; status: string; created_at: string }>('SELECT access_key_id, status, created_at FROM access_keys WHERE user_id = ? ORDER BY created_at', [u.user_id]);
      return { AccessKeyMetadata: { member: rows.map((r) => ({ UserName: u.user_name, AccessKeyId: r.access_key_id, Status: r.status, CreateDate: r.created_at })) }, IsTruncated: false };
    },

    async UpdateAccessKey(ctx, p) {
      const u = await h.targetUser(ctx, p);
      await h.allowedOn(ctx, 'user', u);
      const keyId = iam.param(p, 'AccessKeyId');
      const status = iam.param(p, 'Status');
      if (status !== 'Active' && status !== 'Inactive') throw validation("Value at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]");
      const r = await db.run('UPDATE access_keys SET status = ? WHERE access_key_id = ? AND user_id = ?', [status, keyId, u.user_id]);
      if (r.changes === 0) throw noSuchEntity(`The Access Key with id ${keyId} cannot be found.`);
      forgetSigningKeys(keyId);
      iam.changed();
      return undefined;
    },

    async DeleteAccessKey(ctx, p) {
      const u = await h.targetUser(ctx, p);
      await h.allowedOn(ctx, 'user', u);
      const keyId = iam.param(p, 'AccessKeyId');
      const r = await db.run('DELETE FROM access_keys WHERE access_key_id = ? AND user_id = ?', [keyId, u.user_id]);
      if (r.changes === 0) throw noSuchEntity(`The Access Key with id ${keyId} cannot be found.`);
      forgetSigningKeys(keyId);
      iam.changed();
      return undefined;
    },

    async PutUserPolicy(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await h.allowedOn(ctx, 'user', u);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const doc = iam.param(p, 'PolicyDocument');
      iam.checkIdentityPolicy(doc);
      await db.run('INSERT INTO iam_user_policies (user_id, policy_name, document) VALUES (?, ?, ?) ON CONFLICT (user_id, policy_name) DO UPDATE SET document = excluded.document', [
        u.user_id,
        name,
        doc,
      ]);
      iam.changed();
      return undefined;
    },

    async GetUserPolicy(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await h.allowedOn(ctx, 'user', u);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const row = await db.get<{ document: string }>('SELECT document FROM iam_user_policies WHERE user_id = ? AND policy_name = ?', [u.user_id, name]);
      if (!row) throw noSuchEntity(`The user policy with name ${name} cannot be found.`);
      return { UserName: u.user_name, PolicyName: name, PolicyDocument: encodeURIComponent(row.document) };
    },

    async ListUserPolicies(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await h.allowedOn(ctx, 'user', u);
      const rows = await db.all<{ policy_name: string }>('SELECT policy_name FROM iam_user_policies WHERE user_id = ? ORDER BY policy_name', [u.user_id]);
      return { PolicyNames: { member: rows.map((r) => r.policy_name) }, IsTruncated: false };
    },

    async DeleteUserPolicy(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await h.allowedOn(ctx, 'user', u);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const r = await db.run('DELETE FROM iam_user_policies WHERE user_id = ? AND policy_name = ?', [u.user_id, name]);
      if (r.changes === 0) throw noSuchEntity(`The user policy with name ${name} cannot be found.`);
      iam.changed();
      return undefined;
    },

    async TagUser(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      const tags = iam.tags(p);
      if (tags.length === 0) throw validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null");
      await h.allowedOn(ctx, 'user', u, requestTagContext(tags));
      await db.transaction((tx) => iam.putTags(tx, 'user', u.user_id, tags));
      iam.changed();
      return undefined;
    },

    async UntagUser(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      const keys = iam.list(p, 'TagKeys');
      if (keys.length === 0) throw validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null");
      await h.allowedOn(ctx, 'user', u, { 'aws:TagKeys': keys });
      await untag(iam, 'user', u.user_id, keys);
      return undefined;
    },

    async ListUserTags(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await h.allowedOn(ctx, 'user', u);
      const page = iam.page(p, await iam.entityTags(db, 'user', u.user_id), (t) => t.Key);
      return { Tags: tagList(page.items), IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async PutUserPermissionsBoundary(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      const boundary = await h.boundaryParam(p);
      if (!boundary) throw validation("1 validation error detected: Value null at 'permissionsBoundary' failed to satisfy constraint: Member must not be null");
      await h.allowedOn(ctx, 'user', u, { 'iam:PermissionsBoundary': boundary });
      await db.run('UPDATE iam_users SET permissions_boundary = ? WHERE user_id = ?', [boundary, u.user_id]);
      iam.changed();
      return undefined;
    },

    async DeleteUserPermissionsBoundary(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await h.allowedOn(ctx, 'user', u);
      if (!u.permissions_boundary) throw noSuchEntity(`The user with name ${u.user_name} has no permissions boundary.`);
      await db.run('UPDATE iam_users SET permissions_boundary = NULL WHERE user_id = ?', [u.user_id]);
      iam.changed();
      return undefined;
    },
  };
}

/** Remove tags by key, whatever the letter case of the key (IAM treats tag keys without regard to case). */
async function untag(iam: Iam, entity: 'user' | 'role', id: string, keys: string[]): Promise<void> {
  const lower = new Set(keys.map((k) => k.toLowerCase()));
  await iam.db.transaction(async (tx) => {
    for (const t of await iam.entityTags(tx, entity, id)) if (lower.has(t.Key.toLowerCase())) await tx.run('DELETE FROM iam_tags WHERE entity_type = ? AND entity_id = ? AND tag_key = ?', [entity, id, t.Key]);
  });
  iam.changed();
}

interface RoleHelpers {
  shown(r: RoleRow): Promise<RoleRow>;
  allowedOn(ctx: CallContext, kind: 'role', row: RoleRow, context?: Record<string, string | string[] | undefined>): Promise<void>;
  boundaryParam(p: Map<string, string>): Promise<string | undefined>;
}

function roleOperations(iam: Iam, h: RoleHelpers): Operations {
  const { db, accountId } = iam;
  const roleName = (p: Map<string, string>) => iam.param(p, 'RoleName', ROLE_NAME);
  return {
    async CreateRole(ctx, p) {
      const name = roleName(p);
      const path = iam.path(p);
      const trust = await iam.bindTrust(iam.param(p, 'AssumeRolePolicyDocument'));
      const max = Number(p.get('MaxSessionDuration') ?? 3600);
      if (!Number.isInteger(max) || max < 3600 || max > 43200) throw validation('MaxSessionDuration must be between 3600 and 43200 seconds.');
      const tags = iam.tags(p);
      const boundary = await h.boundaryParam(p);
      const arn = `arn:aws:iam::${accountId}:role${path}${name}`;
      await iam.allowed(ctx, arn, { context: { ...(tags.length ? requestTagContext(tags) : {}), ...(boundary ? { 'iam:PermissionsBoundary': boundary } : {}) } });
      const roleId = awsId('AROA', 17);
      try {
        await db.transaction(async (tx) => {
          await tx.run(
            'INSERT INTO iam_roles (role_id, account_id, role_name, path, arn, assume_role_policy, description, max_session_duration, created_at, permissions_boundary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [roleId, accountId, name, path, arn, trust, p.get('Description') ?? null, max, new Date().toISOString(), boundary ?? null],
          );
          await iam.putTags(tx, 'role', roleId, tags);
        });
      } catch (err) {
        if (err instanceof UniqueViolation) throw alreadyExists(`Role with name ${name} already exists.`);
        throw err;
      }
      return { Role: role(await h.shown(await iam.roleByName(db, name)), tags) };
    },

    async GetRole(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      return { Role: role(await h.shown(r), await iam.entityTags(db, 'role', r.role_id)) };
    },

    async ListRoles(ctx, p) {
      await iam.allowed(ctx, `arn:aws:iam::${accountId}:role/`);
      const prefix = p.get('PathPrefix') ?? '/';
      const rows = (await db.all<RoleRow>('SELECT * FROM iam_roles WHERE account_id = ? ORDER BY role_name', [accountId])).filter((r) => r.path.startsWith(prefix));
      const page = iam.page(p, rows, (r) => r.role_name);
      return { Roles: { member: await Promise.all(page.items.map(async (r) => role(await h.shown(r)))) }, IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async UpdateAssumeRolePolicy(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      const trust = await iam.bindTrust(iam.param(p, 'PolicyDocument'));
      await db.run('UPDATE iam_roles SET assume_role_policy = ? WHERE role_id = ?', [trust, r.role_id]);
      iam.changed();
      return undefined;
    },

    async DeleteRole(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      await db.transaction(async (tx) => {
        if (await tx.get('SELECT 1 AS x FROM iam_role_policies WHERE role_id = ?', [r.role_id])) throw deleteConflict('Cannot delete entity, must delete policies first.');
        if (await tx.get("SELECT 1 AS x FROM iam_policy_attachments WHERE entity_type = 'role' AND entity_id = ?", [r.role_id])) {
          throw deleteConflict('Cannot delete entity, must detach all policies first.');
        }
        await tx.run('DELETE FROM sts_sessions WHERE role_id = ?', [r.role_id]);
        await tx.run("DELETE FROM iam_tags WHERE entity_type = 'role' AND entity_id = ?", [r.role_id]);
        await tx.run('DELETE FROM iam_roles WHERE role_id = ?', [r.role_id]);
      });
      iam.changed();
      return undefined;
    },

    async PutRolePolicy(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const doc = iam.param(p, 'PolicyDocument');
      iam.checkIdentityPolicy(doc);
      await db.run('INSERT INTO iam_role_policies (role_id, policy_name, document) VALUES (?, ?, ?) ON CONFLICT (role_id, policy_name) DO UPDATE SET document = excluded.document', [
        r.role_id,
        name,
        doc,
      ]);
      iam.changed();
      return undefined;
    },

    async GetRolePolicy(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const row = await db.get<{ document: string }>('SELECT document FROM iam_role_policies WHERE role_id = ? AND policy_name = ?', [r.role_id, name]);
      if (!row) throw noSuchEntity(`The role policy with name ${name} cannot be found.`);
      return { RoleName: r.role_name, PolicyName: name, PolicyDocument: encodeURIComponent(row.document) };
    },

    async ListRolePolicies(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      const rows = await db.all<{ policy_name: string }>('SELECT policy_name FROM iam_role_policies WHERE role_id = ? ORDER BY policy_name', [r.role_id]);
      return { PolicyNames: { member: rows.map((x) => x.policy_name) }, IsTruncated: false };
    },

    async DeleteRolePolicy(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const res = await db.run('DELETE FROM iam_role_policies WHERE role_id = ? AND policy_name = ?', [r.role_id, name]);
      if (res.changes === 0) throw noSuchEntity(`The role policy with name ${name} cannot be found.`);
      iam.changed();
      return undefined;
    },

    async TagRole(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      const tags = iam.tags(p);
      if (tags.length === 0) throw validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null");
      await h.allowedOn(ctx, 'role', r, requestTagContext(tags));
      await db.transaction((tx) => iam.putTags(tx, 'role', r.role_id, tags));
      iam.changed();
      return undefined;
    },

    async UntagRole(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      const keys = iam.list(p, 'TagKeys');
      if (keys.length === 0) throw validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null");
      await h.allowedOn(ctx, 'role', r, { 'aws:TagKeys': keys });
      await untag(iam, 'role', r.role_id, keys);
      return undefined;
    },

    async ListRoleTags(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      const page = iam.page(p, await iam.entityTags(db, 'role', r.role_id), (t) => t.Key);
      return { Tags: tagList(page.items), IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async PutRolePermissionsBoundary(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      const boundary = await h.boundaryParam(p);
      if (!boundary) throw validation("1 validation error detected: Value null at 'permissionsBoundary' failed to satisfy constraint: Member must not be null");
      await h.allowedOn(ctx, 'role', r, { 'iam:PermissionsBoundary': boundary });
      await db.run('UPDATE iam_roles SET permissions_boundary = ? WHERE role_id = ?', [boundary, r.role_id]);
      iam.changed();
      return undefined;
    },

    async DeleteRolePermissionsBoundary(ctx, p) {
      const r = await iam.roleByName(db, roleName(p));
      await h.allowedOn(ctx, 'role', r);
      if (!r.permissions_boundary) throw noSuchEntity(`The role with name ${r.role_name} has no permissions boundary.`);
      await db.run('UPDATE iam_roles SET permissions_boundary = NULL WHERE role_id = ?', [r.role_id]);
      iam.changed();
      return undefined;
    },
  };
}
