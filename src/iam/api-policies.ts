/**
 * Customer managed policies: a named, versioned identity policy (up to five versions, one of them the default,
 * which is the one evaluated) that can be attached to users, groups and roles, and that can serve as a user's
 * or role's permissions boundary or as a session policy (AssumeRole PolicyArns). AWS managed policies
 * (arn:aws:iam::aws:policy/...) are not offered: naming one is NoSuchEntity, as for any policy that does not exist.
 */
import { awsId } from '../crypto/random.ts';
import type { CallContext, QueryService } from '../server/service.ts';
import { UniqueViolation, type Queryable } from '../store/database.ts';
import type { XmlObject } from '../wire/xml.ts';
import {
  alreadyExists,
  deleteConflict,
  GROUP_NAME,
  limitExceeded,
  NAME,
  noSuchEntity,
  POLICY_NAME,
  validation,
  type Entity,
  type GroupRow,
  type Iam,
  type PolicyRow,
  type RoleRow,
  type UserRow,
} from './api-common.ts';
import { MANAGED_POLICY_MAX_CHARS } from './policy.ts';

/** IAM's quotas: versions of a managed policy, and managed policies attached to one user, group or role. */
const MAX_VERSIONS = 5;
const MAX_ATTACHED = 10;
const VERSION_ID = /^v[1-9][0-9]*(\.[A-Za-z0-9-]*)?$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const QUOTA_NAME: Record<Entity, string> = { user: 'PoliciesPerUser', group: 'PoliciesPerGroup', role: 'PoliciesPerRole' };

interface Counts {
  attachments: number;
  boundaries: number;
}

function policyShape(p: PolicyRow, c: Counts, withDescription: boolean): XmlObject {
  return {
    PolicyName: p.policy_name,
    PolicyId: p.policy_id,
    Arn: p.arn,
    Path: p.path,
    DefaultVersionId: p.default_version,
    AttachmentCount: c.attachments,
    PermissionsBoundaryUsageCount: c.boundaries,
    IsAttachable: true,
    ...(withDescription && p.description ? { Description: p.description } : {}),
    CreateDate: p.created_at,
    UpdateDate: p.updated_at,
  };
}

function versionShape(v: { version_id: string; document: string; created_at: string }, defaultVersion: string, withDocument: boolean): XmlObject {
  return {
    // IAM returns policy documents URL-encoded; the SDKs and the CLI decode them.
    ...(withDocument ? { Document: encodeURIComponent(v.document) } : {}),
    VersionId: v.version_id,
    IsDefaultVersion: v.version_id === defaultVersion,
    CreateDate: v.created_at,
  };
}

export function policyOperations(iam: Iam): QueryService['operations'] {
  const { db, accountId } = iam;

  async function counts(q: Queryable, p: PolicyRow): Promise<Counts> {
    const a = await q.get<{ n: number }>('SELECT count(*) AS n FROM iam_policy_attachments WHERE policy_id = ?', [p.policy_id]);
    const u = await q.get<{ n: number }>('SELECT count(*) AS n FROM iam_users WHERE permissions_boundary = ?', [p.arn]);
    const r = await q.get<{ n: number }>('SELECT count(*) AS n FROM iam_roles WHERE permissions_boundary = ?', [p.arn]);
    return { attachments: Number(a?.n ?? 0), boundaries: Number(u?.n ?? 0) + Number(r?.n ?? 0) };
  }

  const policyArn = (p: Map<string, string>) => iam.param(p, 'PolicyArn');

  /** The user, group or role an Attach/Detach/ListAttached operation names, with the access check for it (iam:PolicyARN, its tags and boundary). */
  async function entity(ctx: CallContext, kind: Entity, p: Map<string, string>, arn?: string): Promise<{ id: string; name: string }> {
    const context: Record<string, string> = arn ? { 'iam:PolicyARN': arn } : {};
    if (kind === 'user') {
      const u: UserRow = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await iam.allowed(ctx, u.arn, { tags: await iam.entityTags(db, 'user', u.user_id), context: { ...context, ...(u.permissions_boundary ? { 'iam:PermissionsBoundary': u.permissions_boundary } : {}) } });
      return { id: u.user_id, name: u.user_name };
    }
    if (kind === 'role') {
      const r: RoleRow = await iam.roleByName(db, iam.param(p, 'RoleName', ROLE_NAME));
      await iam.allowed(ctx, r.arn, { tags: await iam.entityTags(db, 'role', r.role_id), context: { ...context, ...(r.permissions_boundary ? { 'iam:PermissionsBoundary': r.permissions_boundary } : {}) } });
      return { id: r.role_id, name: r.role_name };
    }
    const g: GroupRow = await iam.groupByName(db, iam.param(p, 'GroupName', GROUP_NAME));
    await iam.allowed(ctx, g.arn, { context });
    return { id: g.group_id, name: g.group_name };
  }

  function attach(kind: Entity) {
    return async (ctx: CallContext, p: Map<string, string>) => {
      const arn = policyArn(p);
      const e = await entity(ctx, kind, p, arn);
      const policy = await iam.policyByArn(db, arn);
      await db.transaction(async (tx) => {
        if (await tx.get('SELECT 1 AS x FROM iam_policy_attachments WHERE policy_id = ? AND entity_type = ? AND entity_id = ?', [policy.policy_id, kind, e.id])) return;
        const n = await tx.get<{ n: number }>('SELECT count(*) AS n FROM iam_policy_attachments WHERE entity_type = ? AND entity_id = ?', [kind, e.id]);
        if (Number(n?.n ?? 0) >= MAX_ATTACHED) throw limitExceeded(`Cannot exceed quota for ${QUOTA_NAME[kind]}: ${MAX_ATTACHED}`);
        await tx.run('INSERT INTO iam_policy_attachments (policy_id, entity_type, entity_id) VALUES (?, ?, ?)', [policy.policy_id, kind, e.id]);
      });
      iam.changed();
      return undefined;
    };
  }

  function detach(kind: Entity) {
    return async (ctx: CallContext, p: Map<string, string>) => {
      const arn = policyArn(p);
      const e = await entity(ctx, kind, p, arn);
      const policy = await iam.policyByArn(db, arn);
      const r = await db.run('DELETE FROM iam_policy_attachments WHERE policy_id = ? AND entity_type = ? AND entity_id = ?', [policy.policy_id, kind, e.id]);
      if (r.changes === 0) throw noSuchEntity(`Policy ${arn} was not found.`);
      iam.changed();
      return undefined;
    };
  }

  function listAttached(kind: Entity) {
    return async (ctx: CallContext, p: Map<string, string>) => {
      const e = await entity(ctx, kind, p);
      const prefix = p.get('PathPrefix') ?? '/';
      const rows = (
        await db.all<PolicyRow>('SELECT p.* FROM iam_policy_attachments a JOIN iam_policies p ON p.policy_id = a.policy_id WHERE a.entity_type = ? AND a.entity_id = ? ORDER BY p.policy_name', [kind, e.id])
      ).filter((r) => r.path.startsWith(prefix));
      const page = iam.page(p, rows, (r) => r.policy_name);
      return {
        AttachedPolicies: { member: page.items.map((r) => ({ PolicyName: r.policy_name, PolicyArn: r.arn })) },
        IsTruncated: page.IsTruncated,
        ...(page.Marker ? { Marker: page.Marker } : {}),
      };
    };
  }

  return {
    async CreatePolicy(ctx, p) {
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const path = iam.path(p);
      const doc = iam.param(p, 'PolicyDocument');
      const description = p.get('Description');
      if (description !== undefined && description.length > 1000) throw validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000");
      if (iam.tags(p).length) throw validation('Tags on managed policies are not supported by Trent.');
      iam.checkIdentityPolicy(doc, MANAGED_POLICY_MAX_CHARS);
      const arn = `arn:aws:iam::${accountId}:policy${path}${name}`;
      await iam.allowed(ctx, arn);
      const now = new Date().toISOString();
      const policyId = awsId('ANPA', 17);
      try {
        await db.transaction(async (tx) => {
          await tx.run(
            'INSERT INTO iam_policies (policy_id, account_id, policy_name, path, arn, description, default_version, next_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [policyId, accountId, name, path, arn, description ?? null, 'v1', 2, now, now],
          );
          await tx.run('INSERT INTO iam_policy_versions (policy_id, version_id, document, created_at) VALUES (?, ?, ?, ?)', [policyId, 'v1', doc, now]);
        });
      } catch (err) {
        if (err instanceof UniqueViolation) throw alreadyExists(`A policy called ${name} already exists. Duplicate names are not allowed.`);
        throw err;
      }
      return { Policy: policyShape(await iam.policyByArn(db, arn), { attachments: 0, boundaries: 0 }, false) };
    },

    async GetPolicy(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      await iam.allowed(ctx, policy.arn);
      return { Policy: policyShape(policy, await counts(db, policy), true) };
    },

    async ListPolicies(ctx, p) {
      await iam.allowed(ctx, `arn:aws:iam::${accountId}:policy/`);
      const scope = p.get('Scope') ?? 'All';
      if (!['All', 'AWS', 'Local'].includes(scope)) throw validation("1 validation error detected: Value at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]");
      const usage = p.get('PolicyUsageFilter');
      if (usage !== undefined && usage !== 'PermissionsPolicy' && usage !== 'PermissionsBoundary') {
        throw validation("1 validation error detected: Value at 'policyUsageFilter' failed to satisfy constraint: Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]");
      }
      const prefix = p.get('PathPrefix') ?? '/';
      const onlyAttached = p.get('OnlyAttached') === 'true';
      const rows = scope === 'AWS' ? [] : (await db.all<PolicyRow>('SELECT * FROM iam_policies WHERE account_id = ? ORDER BY policy_name', [accountId])).filter((r) => r.path.startsWith(prefix));
      const shown: Array<{ row: PolicyRow; c: Counts }> = [];
      for (const row of rows) {
        const c = await counts(db, row);
        // OnlyAttached: in use as a permissions policy, a permissions boundary, or (without PolicyUsageFilter) either.
        const inUse = usage === 'PermissionsPolicy' ? c.attachments : usage === 'PermissionsBoundary' ? c.boundaries : c.attachments + c.boundaries;
        if (onlyAttached && inUse === 0) continue;
        shown.push({ row, c });
      }
      const page = iam.page(p, shown, (x) => x.row.policy_name);
      return { Policies: { member: page.items.map((x) => policyShape(x.row, x.c, false)) }, IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async DeletePolicy(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      await iam.allowed(ctx, policy.arn);
      await db.transaction(async (tx) => {
        const c = await counts(tx, policy);
        if (c.attachments > 0 || c.boundaries > 0) throw deleteConflict('Cannot delete a policy attached to entities.');
        const versions = await tx.get<{ n: number }>('SELECT count(*) AS n FROM iam_policy_versions WHERE policy_id = ?', [policy.policy_id]);
        if (Number(versions?.n ?? 0) > 1) {
          throw deleteConflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.");
        }
        await tx.run('DELETE FROM iam_policy_versions WHERE policy_id = ?', [policy.policy_id]);
        await tx.run('DELETE FROM iam_policies WHERE policy_id = ?', [policy.policy_id]);
      });
      iam.changed();
      return undefined;
    },

    async CreatePolicyVersion(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      const doc = iam.param(p, 'PolicyDocument');
      iam.checkIdentityPolicy(doc, MANAGED_POLICY_MAX_CHARS);
      const setAsDefault = p.get('SetAsDefault') === 'true';
      await iam.allowed(ctx, policy.arn);
      const now = new Date().toISOString();
      const version = await db.transaction(async (tx) => {
        const current = (await tx.get<PolicyRow>('SELECT * FROM iam_policies WHERE policy_id = ?', [policy.policy_id]))!;
        const n = await tx.get<{ n: number }>('SELECT count(*) AS n FROM iam_policy_versions WHERE policy_id = ?', [policy.policy_id]);
        if (Number(n?.n ?? 0) >= MAX_VERSIONS) {
          throw limitExceeded(`A managed policy can have up to ${MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version.`);
        }
        const id = `v${Number(current.next_version)}`;
        await tx.run('INSERT INTO iam_policy_versions (policy_id, version_id, document, created_at) VALUES (?, ?, ?, ?)', [policy.policy_id, id, doc, now]);
        await tx.run('UPDATE iam_policies SET next_version = ?, updated_at = ?, default_version = ? WHERE policy_id = ?', [
          Number(current.next_version) + 1,
          now,
          setAsDefault ? id : current.default_version,
          policy.policy_id,
        ]);
        return { id, defaultVersion: setAsDefault ? id : current.default_version };
      });
      iam.changed();
      return { PolicyVersion: versionShape({ version_id: version.id, document: doc, created_at: now }, version.defaultVersion, false) };
    },

    async GetPolicyVersion(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      const versionId = iam.param(p, 'VersionId', VERSION_ID);
      await iam.allowed(ctx, policy.arn);
      const v = await db.get<{ version_id: string; document: string; created_at: string }>('SELECT * FROM iam_policy_versions WHERE policy_id = ? AND version_id = ?', [policy.policy_id, versionId]);
      if (!v) throw noSuchEntity(`Policy ${policy.arn} version ${versionId} does not exist or is not attachable.`);
      return { PolicyVersion: versionShape(v, policy.default_version, true) };
    },

    async ListPolicyVersions(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      await iam.allowed(ctx, policy.arn);
      const rows = await db.all<{ version_id: string; document: string; created_at: string }>('SELECT * FROM iam_policy_versions WHERE policy_id = ? ORDER BY created_at DESC, version_id DESC', [
        policy.policy_id,
      ]);
      return { Versions: { member: rows.map((v) => versionShape(v, policy.default_version, false)) }, IsTruncated: false };
    },

    async DeletePolicyVersion(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      const versionId = iam.param(p, 'VersionId', VERSION_ID);
      await iam.allowed(ctx, policy.arn);
      await db.transaction(async (tx) => {
        const current = (await tx.get<PolicyRow>('SELECT * FROM iam_policies WHERE policy_id = ?', [policy.policy_id]))!;
        if (current.default_version === versionId) throw deleteConflict('Cannot delete the default version of a policy.');
        const r = await tx.run('DELETE FROM iam_policy_versions WHERE policy_id = ? AND version_id = ?', [policy.policy_id, versionId]);
        if (r.changes === 0) throw noSuchEntity(`Policy ${policy.arn} version ${versionId} does not exist or is not attachable.`);
      });
      return undefined;
    },

    async SetDefaultPolicyVersion(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      const versionId = iam.param(p, 'VersionId', VERSION_ID);
      await iam.allowed(ctx, policy.arn);
      await db.transaction(async (tx) => {
        if (!(await tx.get('SELECT 1 AS x FROM iam_policy_versions WHERE policy_id = ? AND version_id = ?', [policy.policy_id, versionId]))) {
          throw noSuchEntity(`Policy ${policy.arn} version ${versionId} does not exist or is not attachable.`);
        }
        await tx.run('UPDATE iam_policies SET default_version = ?, updated_at = ? WHERE policy_id = ?', [versionId, new Date().toISOString(), policy.policy_id]);
      });
      iam.changed();
      return undefined;
    },

    AttachUserPolicy: attach('user'),
    AttachGroupPolicy: attach('group'),
    AttachRolePolicy: attach('role'),
    DetachUserPolicy: detach('user'),
    DetachGroupPolicy: detach('group'),
    DetachRolePolicy: detach('role'),
    ListAttachedUserPolicies: listAttached('user'),
    ListAttachedGroupPolicies: listAttached('group'),
    ListAttachedRolePolicies: listAttached('role'),

    async ListEntitiesForPolicy(ctx, p) {
      const policy = await iam.policyByArn(db, policyArn(p));
      await iam.allowed(ctx, policy.arn);
      const filter = p.get('EntityFilter');
      const usage = p.get('PolicyUsageFilter') ?? 'PermissionsPolicy';
      if (usage !== 'PermissionsPolicy' && usage !== 'PermissionsBoundary') {
        throw validation("1 validation error detected: Value at 'policyUsageFilter' failed to satisfy constraint: Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]");
      }
      const want = (k: string) => filter === undefined || filter === k;
      let users: UserRow[] = [];
      let roles: RoleRow[] = [];
      let groups: GroupRow[] = [];
      if (usage === 'PermissionsBoundary') {
        if (want('User')) users = await db.all<UserRow>('SELECT * FROM iam_users WHERE permissions_boundary = ? ORDER BY user_name', [policy.arn]);
        if (want('Role')) roles = await db.all<RoleRow>('SELECT * FROM iam_roles WHERE permissions_boundary = ? ORDER BY role_name', [policy.arn]);
      } else {
        const ids = (kind: Entity) => `SELECT entity_id FROM iam_policy_attachments WHERE policy_id = ? AND entity_type = '${kind}'`;
        if (want('User')) users = await db.all<UserRow>(`SELECT * FROM iam_users WHERE user_id IN (${ids('user')}) ORDER BY user_name`, [policy.policy_id]);
        if (want('Role')) roles = await db.all<RoleRow>(`SELECT * FROM iam_roles WHERE role_id IN (${ids('role')}) ORDER BY role_name`, [policy.policy_id]);
        if (want('Group')) groups = await db.all<GroupRow>(`SELECT * FROM iam_groups WHERE group_id IN (${ids('group')}) ORDER BY group_name`, [policy.policy_id]);
      }
      return {
        PolicyGroups: { member: groups.map((g) => ({ GroupName: g.group_name, GroupId: g.group_id })) },
        PolicyUsers: { member: users.map((u) => ({ UserName: u.user_name, UserId: u.user_id })) },
        PolicyRoles: { member: roles.map((r) => ({ RoleName: r.role_name, RoleId: r.role_id })) },
        IsTruncated: false,
      };
    },
  };
}
