import { awsId } from '../crypto/random.ts';
import type { CallContext, QueryService } from '../server/service.ts';
import { UniqueViolation, type Database, type Queryable } from '../store/database.ts';
import { forgetSigningKeys } from '../wire/sigv4.ts';
import { AwsError } from '../wire/errors.ts';
import type { XmlObject } from '../wire/xml.ts';
import { InvalidPrincipalError, type Authorizer } from './authorizer.ts';
import type { IdentityStore } from './identities.ts';
import { ServiceShapes } from '../wire/shapes.ts';

/** IAM's error codes (awsQuery), each with IAM's HTTP status. */
const noSuchEntity = (m: string) => new AwsError('NoSuchEntity', 404, m);
const alreadyExists = (m: string) => new AwsError('EntityAlreadyExists', 409, m);
const deleteConflict = (m: string) => new AwsError('DeleteConflict', 409, m);
const malformedPolicy = (m: string) => new AwsError('MalformedPolicyDocument', 400, m);
const validation = (m: string) => new AwsError('ValidationError', 400, m);
const limitExceeded = (m: string) => new AwsError('LimitExceeded', 409, m);

const NAME = /^[\w+=,.@-]{1,64}$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
const PATH = /^\/([\x21-\x7e]{0,510}\/)?$/;
const MAX_KEYS_PER_USER = 2;

interface UserRow {
  user_id: string;
  account_id: string;
  user_name: string;
  path: string;
  arn: string;
  created_at: string;
}
interface RoleRow {
  role_id: string;
  account_id: string;
  role_name: string;
  path: string;
  arn: string;
  assume_role_policy: string;
  description: string | null;
  max_session_duration: number;
  created_at: string;
}

function user(u: UserRow): XmlObject {
  return { Path: u.path, UserName: u.user_name, UserId: u.user_id, Arn: u.arn, CreateDate: u.created_at };
}
function role(r: RoleRow): XmlObject {
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
  };
}

export interface IamDeps {
  db: Database;
  identities: IdentityStore;
  authorizer: Authorizer;
  accountId: string;
}

/** AWS IAM (awsQuery): users, access keys, inline user policies, roles and their trust and inline policies. */
export function iamService(deps: IamDeps): QueryService {
  const { db, identities, authorizer, accountId } = deps;

  function param(p: Map<string, string>, name: string, re?: RegExp): string {
    const v = p.get(name);
    if (v === undefined || v === '') throw validation(`1 validation error detected: Value null at '${name.charAt(0).toLowerCase() + name.slice(1)}' failed to satisfy constraint: Member must not be null`);
    if (re && !re.test(v)) throw validation(`The specified value for '${name.charAt(0).toLowerCase() + name.slice(1)}' is invalid.`);
    return v;
  }

  function checkPolicy(text: string, kind: 'identity' | 'resource'): void {
    try {
      authorizer.parsePolicy(text, kind);
    } catch (err) {
      throw malformedPolicy((err as Error).message);
    }
  }

  /** A trust policy as stored: valid, with the users and roles it names bound to their unique ids. */
  async function bindTrust(text: string): Promise<string> {
    checkPolicy(text, 'resource');
    try {
      return await authorizer.bindPrincipals(text, accountId);
    } catch (err) {
      if (err instanceof InvalidPrincipalError) throw malformedPolicy(err.message);
      throw err;
    }
  }

  async function userByName(q: Queryable, name: string): Promise<UserRow> {
    const u = await q.get<UserRow>('SELECT * FROM iam_users WHERE account_id = ? AND user_name = ?', [accountId, name]);
    if (!u) throw noSuchEntity(`The user with name ${name} cannot be found.`);
    return u;
  }

  async function roleByName(q: Queryable, name: string): Promise<RoleRow> {
    const r = await q.get<RoleRow>('SELECT * FROM iam_roles WHERE account_id = ? AND role_name = ?', [accountId, name]);
    if (!r) throw noSuchEntity(`The role with name ${name} cannot be found.`);
    return r;
  }

  /** A role as IAM shows it: its trust policy names principals by ARN while they exist. */
  async function shown(r: RoleRow): Promise<RoleRow> {
    return { ...r, assume_role_policy: await authorizer.renderPrincipals(r.assume_role_policy) };
  }

  /** The user an operation names, or the caller when UserName is absent (IAM users acting on themselves). */
  async function targetUser(ctx: CallContext, p: Map<string, string>): Promise<UserRow> {
    const name = p.get('UserName');
    if (name !== undefined) return userByName(db, name);
    if (ctx.principal.type !== 'IAMUser') throw validation('UserName is required when the caller is not an IAM user.');
    return userByName(db, ctx.principal.userName!);
  }

  async function allowed(ctx: CallContext, resource: string): Promise<void> {
    ctx.resources.push({ ARN: resource, accountId, type: resource.includes(':role/') ? 'AWS::IAM::Role' : 'AWS::IAM::User' });
    await ctx.authorize({ action: `iam:${ctx.operation}`, resource, mode: 'identity' });
  }

  function changed(): void {
    identities.invalidate();
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
    operations: {
      async CreateUser(ctx, p) {
        const name = param(p, 'UserName', NAME);
        const path = p.get('Path') ?? '/';
        if (!PATH.test(path)) throw validation('The specified value for path is invalid.');
        await allowed(ctx, `arn:aws:iam::${accountId}:user${path}${name}`);
        try {
          await db.transaction(async (tx) => {
            if (await tx.get('SELECT 1 AS x FROM iam_users WHERE account_id = ? AND user_name = ?', [accountId, name])) throw alreadyExists(`User with name ${name} already exists.`);
            await identities.createUser(tx, accountId, name, path);
          });
        } catch (err) {
          if (err instanceof UniqueViolation) throw alreadyExists(`User with name ${name} already exists.`);
          throw err;
        }
        return { User: user(await userByName(db, name)) };
      },

      async GetUser(ctx, p) {
        const u = await targetUser(ctx, p);
        await allowed(ctx, u.arn);
        return { User: user(u) };
      },

      async ListUsers(ctx, p) {
        await allowed(ctx, `arn:aws:iam::${accountId}:user/`);
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
        return { Users: { member: shown.map(user) }, IsTruncated: truncated, ...(truncated ? { Marker: shown[shown.length - 1]!.user_name } : {}) };
      },

      async DeleteUser(ctx, p) {
        const u = await userByName(db, param(p, 'UserName', NAME));
        await allowed(ctx, u.arn);
        if (u.user_id === ctx.principal.principalId) throw deleteConflict('You cannot delete the user you are signed in as.');
        await db.transaction(async (tx) => {
          if (await tx.get('SELECT 1 AS x FROM access_keys WHERE user_id = ?', [u.user_id])) throw deleteConflict('Cannot delete entity, must delete access keys first.');
          if (await tx.get('SELECT 1 AS x FROM iam_user_policies WHERE user_id = ?', [u.user_id])) throw deleteConflict('Cannot delete entity, must delete policies first.');
          await tx.run('DELETE FROM iam_users WHERE user_id = ?', [u.user_id]);
        });
        changed();
        return undefined;
      },

      async CreateAccessKey(ctx, p) {
        const u = await targetUser(ctx, p);
        await allowed(ctx, u.arn);
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
        const u = await targetUser(ctx, p);
        await allowed(ctx, u.arn);
        const rows = await db.all<{ access_key_id: string; status: string; created_at: string }>('SELECT access_key_id, status, created_at FROM access_keys WHERE user_id = ? ORDER BY created_at', [u.user_id]);
        return { AccessKeyMetadata: { member: rows.map((r) => ({ UserName: u.user_name, AccessKeyId: r.access_key_id, Status: r.status, CreateDate: r.created_at })) }, IsTruncated: false };
      },

      async UpdateAccessKey(ctx, p) {
        const u = await targetUser(ctx, p);
        await allowed(ctx, u.arn);
        const keyId = param(p, 'AccessKeyId');
        const status = param(p, 'Status');
        if (status !== 'Active' && status !== 'Inactive') throw validation("Value at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]");
        const r = await db.run('UPDATE access_keys SET status = ? WHERE access_key_id = ? AND user_id = ?', [status, keyId, u.user_id]);
        if (r.changes === 0) throw noSuchEntity(`The Access Key with id ${keyId} cannot be found.`);
        forgetSigningKeys(keyId);
        changed();
        return undefined;
      },

      async DeleteAccessKey(ctx, p) {
        const u = await targetUser(ctx, p);
        await allowed(ctx, u.arn);
        const keyId = param(p, 'AccessKeyId');
        const r = await db.run('DELETE FROM access_keys WHERE access_key_id = ? AND user_id = ?', [keyId, u.user_id]);
        if (r.changes === 0) throw noSuchEntity(`The Access Key with id ${keyId} cannot be found.`);
        forgetSigningKeys(keyId);
        changed();
        return undefined;
      },

      async PutUserPolicy(ctx, p) {
        const u = await userByName(db, param(p, 'UserName', NAME));
        await allowed(ctx, u.arn);
        const name = param(p, 'PolicyName', POLICY_NAME);
        const doc = param(p, 'PolicyDocument');
        checkPolicy(doc, 'identity');
        await db.run('INSERT INTO iam_user_policies (user_id, policy_name, document) VALUES (?, ?, ?) ON CONFLICT (user_id, policy_name) DO UPDATE SET document = excluded.document', [
          u.user_id,
          name,
          doc,
        ]);
        changed();
        return undefined;
      },

      async GetUserPolicy(ctx, p) {
        const u = await userByName(db, param(p, 'UserName', NAME));
        await allowed(ctx, u.arn);
        const name = param(p, 'PolicyName', POLICY_NAME);
        const row = await db.get<{ document: string }>('SELECT document FROM iam_user_policies WHERE user_id = ? AND policy_name = ?', [u.user_id, name]);
        if (!row) throw noSuchEntity(`The user policy with name ${name} cannot be found.`);
        return { UserName: u.user_name, PolicyName: name, PolicyDocument: encodeURIComponent(row.document) };
      },

      async ListUserPolicies(ctx, p) {
        const u = await userByName(db, param(p, 'UserName', NAME));
        await allowed(ctx, u.arn);
        const rows = await db.all<{ policy_name: string }>('SELECT policy_name FROM iam_user_policies WHERE user_id = ? ORDER BY policy_name', [u.user_id]);
        return { PolicyNames: { member: rows.map((r) => r.policy_name) }, IsTruncated: false };
      },

      async DeleteUserPolicy(ctx, p) {
        const u = await userByName(db, param(p, 'UserName', NAME));
        await allowed(ctx, u.arn);
        const name = param(p, 'PolicyName', POLICY_NAME);
        const r = await db.run('DELETE FROM iam_user_policies WHERE user_id = ? AND policy_name = ?', [u.user_id, name]);
        if (r.changes === 0) throw noSuchEntity(`The user policy with name ${name} cannot be found.`);
        changed();
        return undefined;
      },

      async CreateRole(ctx, p) {
        const name = param(p, 'RoleName', ROLE_NAME);
        const path = p.get('Path') ?? '/';
        if (!PATH.test(path)) throw validation('The specified value for path is invalid.');
        const trust = await bindTrust(param(p, 'AssumeRolePolicyDocument'));
        const max = Number(p.get('MaxSessionDuration') ?? 3600);
        if (!Number.isInteger(max) || max < 3600 || max > 43200) throw validation('MaxSessionDuration must be between 3600 and 43200 seconds.');
        const arn = `arn:aws:iam::${accountId}:role${path}${name}`;
        await allowed(ctx, arn);
        try {
          await db.run(
            'INSERT INTO iam_roles (role_id, account_id, role_name, path, arn, assume_role_policy, description, max_session_duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [awsId('AROA', 17), accountId, name, path, arn, trust, p.get('Description') ?? null, max, new Date().toISOString()],
          );
        } catch (err) {
          if (err instanceof UniqueViolation) throw alreadyExists(`Role with name ${name} already exists.`);
          throw err;
        }
        return { Role: role(await shown(await roleByName(db, name))) };
      },

      async GetRole(ctx, p) {
        const r = await roleByName(db, param(p, 'RoleName', ROLE_NAME));
        await allowed(ctx, r.arn);
        return { Role: role(await shown(r)) };
      },

      async UpdateAssumeRolePolicy(ctx, p) {
        const r = await roleByName(db, param(p, 'RoleName', ROLE_NAME));
        await allowed(ctx, r.arn);
        const trust = await bindTrust(param(p, 'PolicyDocument'));
        await db.run('UPDATE iam_roles SET assume_role_policy = ? WHERE role_id = ?', [trust, r.role_id]);
        changed();
        return undefined;
      },

      async DeleteRole(ctx, p) {
        const r = await roleByName(db, param(p, 'RoleName', ROLE_NAME));
        await allowed(ctx, r.arn);
        await db.transaction(async (tx) => {
          if (await tx.get('SELECT 1 AS x FROM iam_role_policies WHERE role_id = ?', [r.role_id])) throw deleteConflict('Cannot delete entity, must delete policies first.');
          await tx.run('DELETE FROM sts_sessions WHERE role_id = ?', [r.role_id]);
          await tx.run('DELETE FROM iam_roles WHERE role_id = ?', [r.role_id]);
        });
        changed();
        return undefined;
      },

      async PutRolePolicy(ctx, p) {
        const r = await roleByName(db, param(p, 'RoleName', ROLE_NAME));
        await allowed(ctx, r.arn);
        const name = param(p, 'PolicyName', POLICY_NAME);
        const doc = param(p, 'PolicyDocument');
        checkPolicy(doc, 'identity');
        await db.run('INSERT INTO iam_role_policies (role_id, policy_name, document) VALUES (?, ?, ?) ON CONFLICT (role_id, policy_name) DO UPDATE SET document = excluded.document', [
          r.role_id,
          name,
          doc,
        ]);
        changed();
        return undefined;
      },

      async GetRolePolicy(ctx, p) {
        const r = await roleByName(db, param(p, 'RoleName', ROLE_NAME));
        await allowed(ctx, r.arn);
        const name = param(p, 'PolicyName', POLICY_NAME);
        const row = await db.get<{ document: string }>('SELECT document FROM iam_role_policies WHERE role_id = ? AND policy_name = ?', [r.role_id, name]);
        if (!row) throw noSuchEntity(`The role policy with name ${name} cannot be found.`);
        return { RoleName: r.role_name, PolicyName: name, PolicyDocument: encodeURIComponent(row.document) };
      },

      async ListRolePolicies(ctx, p) {
        const r = await roleByName(db, param(p, 'RoleName', ROLE_NAME));
        await allowed(ctx, r.arn);
        const rows = await db.all<{ policy_name: string }>('SELECT policy_name FROM iam_role_policies WHERE role_id = ? ORDER BY policy_name', [r.role_id]);
        return { PolicyNames: { member: rows.map((x) => x.policy_name) }, IsTruncated: false };
      },

      async DeleteRolePolicy(ctx, p) {
        const r = await roleByName(db, param(p, 'RoleName', ROLE_NAME));
        await allowed(ctx, r.arn);
        const name = param(p, 'PolicyName', POLICY_NAME);
        const res = await db.run('DELETE FROM iam_role_policies WHERE role_id = ? AND policy_name = ?', [r.role_id, name]);
        if (res.changes === 0) throw noSuchEntity(`The role policy with name ${name} cannot be found.`);
        changed();
        return undefined;
      },
    },
  };
}

export type { RoleRow };
