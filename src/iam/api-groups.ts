/**
 * IAM groups: a group's inline and attached managed policies apply to every user in it (evaluated with the
 * user's own policies, src/iam/identities.ts principalPolicies). A group is not a principal: no resource
 * policy can name one.
 */
import { awsId } from '../crypto/random.ts';
import type { QueryService } from '../server/service.ts';
import { UniqueViolation } from '../store/database.ts';
import type { XmlObject } from '../wire/xml.ts';
import { alreadyExists, deleteConflict, GROUP_NAME, limitExceeded, NAME, noSuchEntity, POLICY_NAME, type GroupRow, type Iam, type UserRow } from './api-common.ts';
import { GROUP_INLINE_POLICY_MAX_CHARS } from './policy.ts';

/** IAM's default quota of groups a user can be in. */
const MAX_GROUPS_PER_USER = 10;

function group(g: GroupRow): XmlObject {
  return { Path: g.path, GroupName: g.group_name, GroupId: g.group_id, Arn: g.arn, CreateDate: g.created_at };
}

function user(u: UserRow): XmlObject {
  return { Path: u.path, UserName: u.user_name, UserId: u.user_id, Arn: u.arn, CreateDate: u.created_at };
}

export function groupOperations(iam: Iam): QueryService['operations'] {
  const { db, accountId } = iam;
  const groupName = (p: Map<string, string>) => iam.param(p, 'GroupName', GROUP_NAME);

  return {
    async CreateGroup(ctx, p) {
      const name = groupName(p);
      const path = iam.path(p);
      const arn = `arn:aws:iam::${accountId}:group${path}${name}`;
      await iam.allowed(ctx, arn);
      try {
        await db.run('INSERT INTO iam_groups (group_id, account_id, group_name, path, arn, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
          awsId('AGPA', 17),
          accountId,
          name,
          path,
          arn,
          new Date().toISOString(),
        ]);
      } catch (err) {
        if (err instanceof UniqueViolation) throw alreadyExists(`Group with name ${name} already exists.`);
        throw err;
      }
      return { Group: group(await iam.groupByName(db, name)) };
    },

    async GetGroup(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      await iam.allowed(ctx, g.arn);
      const members = await db.all<UserRow>('SELECT u.* FROM iam_group_members m JOIN iam_users u ON u.user_id = m.user_id WHERE m.group_id = ? ORDER BY u.user_name', [g.group_id]);
      const page = iam.page(p, members, (u) => u.user_name);
      return { Group: group(g), Users: { member: page.items.map(user) }, IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async ListGroups(ctx, p) {
      await iam.allowed(ctx, `arn:aws:iam::${accountId}:group/`);
      const prefix = p.get('PathPrefix') ?? '/';
      const rows = (await db.all<GroupRow>('SELECT * FROM iam_groups WHERE account_id = ? ORDER BY group_name', [accountId])).filter((g) => g.path.startsWith(prefix));
      const page = iam.page(p, rows, (g) => g.group_name);
      return { Groups: { member: page.items.map(group) }, IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async ListGroupsForUser(ctx, p) {
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await iam.allowed(ctx, u.arn);
      const rows = await db.all<GroupRow>('SELECT g.* FROM iam_group_members m JOIN iam_groups g ON g.group_id = m.group_id WHERE m.user_id = ? ORDER BY g.group_name', [u.user_id]);
      const page = iam.page(p, rows, (g) => g.group_name);
      return { Groups: { member: page.items.map(group) }, IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async DeleteGroup(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      await iam.allowed(ctx, g.arn);
      await db.transaction(async (tx) => {
        if (await tx.get('SELECT 1 AS x FROM iam_group_members WHERE group_id = ?', [g.group_id])) throw deleteConflict('Cannot delete entity, must remove users from group first.');
        if (await tx.get('SELECT 1 AS x FROM iam_group_policies WHERE group_id = ?', [g.group_id])) throw deleteConflict('Cannot delete entity, must delete policies first.');
        if (await tx.get("SELECT 1 AS x FROM iam_policy_attachments WHERE entity_type = 'group' AND entity_id = ?", [g.group_id])) {
          throw deleteConflict('Cannot delete entity, must detach all policies first.');
        }
        await tx.run('DELETE FROM iam_groups WHERE group_id = ?', [g.group_id]);
      });
      iam.changed();
      return undefined;
    },

    async AddUserToGroup(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await iam.allowed(ctx, g.arn);
      await db.transaction(async (tx) => {
        if (await tx.get('SELECT 1 AS x FROM iam_group_members WHERE group_id = ? AND user_id = ?', [g.group_id, u.user_id])) return;
        const n = await tx.get<{ n: number }>('SELECT count(*) AS n FROM iam_group_members WHERE user_id = ?', [u.user_id]);
        if (Number(n?.n ?? 0) >= MAX_GROUPS_PER_USER) throw limitExceeded(`Cannot exceed quota for GroupsPerUser: ${MAX_GROUPS_PER_USER}`);
        await tx.run('INSERT INTO iam_group_members (group_id, user_id) VALUES (?, ?)', [g.group_id, u.user_id]);
      });
      iam.changed();
      return undefined;
    },

    async RemoveUserFromGroup(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      const u = await iam.userByName(db, iam.param(p, 'UserName', NAME));
      await iam.allowed(ctx, g.arn);
      const r = await db.run('DELETE FROM iam_group_members WHERE group_id = ? AND user_id = ?', [g.group_id, u.user_id]);
      if (r.changes === 0) throw noSuchEntity(`The user with name ${u.user_name} cannot be found in group ${g.group_name}.`);
      iam.changed();
      return undefined;
    },

    async PutGroupPolicy(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      await iam.allowed(ctx, g.arn);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const doc = iam.param(p, 'PolicyDocument');
      iam.checkIdentityPolicy(doc, GROUP_INLINE_POLICY_MAX_CHARS);
      await db.run('INSERT INTO iam_group_policies (group_id, policy_name, document) VALUES (?, ?, ?) ON CONFLICT (group_id, policy_name) DO UPDATE SET document = excluded.document', [
        g.group_id,
        name,
        doc,
      ]);
      iam.changed();
      return undefined;
    },

    async GetGroupPolicy(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      await iam.allowed(ctx, g.arn);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const row = await db.get<{ document: string }>('SELECT document FROM iam_group_policies WHERE group_id = ? AND policy_name = ?', [g.group_id, name]);
      if (!row) throw noSuchEntity(`The group policy with name ${name} cannot be found.`);
      return { GroupName: g.group_name, PolicyName: name, PolicyDocument: encodeURIComponent(row.document) };
    },

    async ListGroupPolicies(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      await iam.allowed(ctx, g.arn);
      const rows = await db.all<{ policy_name: string }>('SELECT policy_name FROM iam_group_policies WHERE group_id = ? ORDER BY policy_name', [g.group_id]);
      const page = iam.page(
        p,
        rows.map((r) => r.policy_name),
        (n) => n,
      );
      return { PolicyNames: { member: page.items }, IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },

    async DeleteGroupPolicy(ctx, p) {
      const g = await iam.groupByName(db, groupName(p));
      await iam.allowed(ctx, g.arn);
      const name = iam.param(p, 'PolicyName', POLICY_NAME);
      const r = await db.run('DELETE FROM iam_group_policies WHERE group_id = ? AND policy_name = ?', [g.group_id, name]);
      if (r.changes === 0) throw noSuchEntity(`The group policy with name ${name} cannot be found.`);
      iam.changed();
      return undefined;
    },
  };
}
