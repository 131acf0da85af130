import { createHash, timingSafeEqual } from 'node:crypto';
import type { Database, Queryable } from '../store/database.ts';
import type { RootOfTrust } from '../root/root-of-trust.ts';
import { awsId, randomBytes } from '../crypto/random.ts';
import type { Principal } from './principal.ts';

/** What evaluation needs about a principal beyond its identity (IdentityStore.principalPolicies). */
export interface PrincipalPolicies {
  /** Identity-based policies, as JSON texts. */
  identity: string[];
  /** The permissions boundary's policy text, or null when it has none. */
  boundary: string | null;
  /** A role session's session policies (inline, then the managed ones that still exist), or null when none were passed. */
  session: string[] | null;
  /** The principal's tags (aws:PrincipalTag/...). */
  tags: Record<string, string>;
}

/** A policy that allows nothing: stands in for a permissions boundary whose managed policy is gone. */
const ALLOWS_NOTHING = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"*","Resource":"*"}]}';

export interface ResolvedKey {
  secretAccessKey: string;
  principal: Principal;
}

interface KeyRow {
  access_key_id: string;
  secret_wrapped: Uint8Array;
  status: string;
  user_id: string;
  user_name: string;
  arn: string;
  account_id: string;
}

/** How long an unwrapped secret may serve from memory; bounds how late a deactivated key keeps working. */
const CACHE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;
/** IAM is eventually consistent on AWS too: a policy change reaches other processes within this. */
const POLICY_CACHE_MS = 1_000;

/** The admin user's inline policy: everything, as AWS's AdministratorAccess. */
export const ADMINISTRATOR_ACCESS = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}';

export function sessionAad(accessKeyId: string): Buffer {
  return Buffer.from(`trent:sts:session:${accessKeyId}`);
}

function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function accessKeyAad(accessKeyId: string): Buffer {
  return Buffer.from(`trent:iam:access-key:${accessKeyId}`);
}

/** 40 characters from base64 of random bytes, as AWS secret access keys look. */
function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, 'x').replace(/\//g, 'Y').slice(0, 40);
}

/**
 * IAM users and their access keys. Secret access keys must be recoverable (SigV4 is an HMAC), so
 * they are stored wrapped by the root of trust, bound to their key id; unwrapped ones live only in
 * a small, short-lived memory cache.
 */
export class IdentityStore {
  readonly #db: Database;
  readonly #root: RootOfTrust;
  readonly #cache = new Map<string, { value: ResolvedKey | undefined; until: number }>();
  readonly #policies = new Map<string, { value: PrincipalPolicies; until: number }>();

  constructor(db: Database, root: RootOfTrust) {
    this.#db = db;
    this.#root = root;
  }

  async resolveAccessKey(accessKeyId: string, now = Date.now()): Promise<ResolvedKey | undefined> {
    const hit = this.#cache.get(accessKeyId);
    if (hit && hit.until > now) return hit.value;
    const row = await this.#db.get<KeyRow>(
      `SELECT k.access_key_id, k.secret_wrapped, k.status, u.user_id, u.user_name, u.arn, u.account_id
         FROM access_keys k JOIN iam_users u ON u.user_id = k.user_id
        WHERE k.access_key_id = ?`,
      [accessKeyId],
    );
    let value: ResolvedKey | undefined;
    if (row && row.status === 'Active') {
      const secret = await this.#root.unwrap(row.secret_wrapped, accessKeyAad(row.access_key_id));
      value = {
        secretAccessKey: secret.toString('utf8'),
        principal: {
          type: 'IAMUser',
          accountId: row.account_id,
          arn: row.arn,
          principalId: row.user_id,
          userName: row.user_name,
          accessKeyId: row.access_key_id,
        },
      };
      secret.fill(0);
    }
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(accessKeyId, { value, until: now + CACHE_TTL_MS });
    return value;
  }

  async createUser(tx: Queryable, accountId: string, userName: string, path = '/'): Promise<{ userId: string; arn: string }> {
    const userId = awsId('AIDA', 17);
    const arn = `arn:aws:iam::${accountId}:user${path}${userName}`;
    await tx.run('INSERT INTO iam_users (user_id, account_id, user_name, path, arn, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      userId,
      accountId,
      userName,
      path,
      arn,
      new Date().toISOString(),
    ]);
    return { userId, arn };
  }

  async createAccessKey(tx: Queryable, userId: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    const accessKeyId = awsId('AKIA', 16);
    const secretAccessKey = newSecretAccessKey();
    const wrapped = await this.#root.wrap(Buffer.from(secretAccessKey, 'utf8'), accessKeyAad(accessKeyId));
    await tx.run('INSERT INTO access_keys (access_key_id, user_id, secret_wrapped, status, created_at) VALUES (?, ?, ?, ?, ?)', [
      accessKeyId,
      userId,
      wrapped,
      'Active',
      new Date().toISOString(),
    ]);
    return { accessKeyId, secretAccessKey };
  }

  /**
   * Temporary credentials from STS (AssumeRole, GetSessionToken): the access key (ASIA...) and its session token must
   * match (the token is kept only as a SHA-256, compared in constant time), and the session must not have expired.
   * A GetSessionToken session is its user's (an IAMUser with a token issue time), for as long as the user exists.
   * 'expired' lets the caller answer ExpiredToken rather than an unknown key.
   */
  async resolveSession(accessKeyId: string, sessionToken: string, now = Date.now()): Promise<ResolvedKey | 'expired' | undefined> {
    const row = await this.#db.get<{
      secret_wrapped: Buffer;
      token_hash: string;
      role_id: string;
      session_name: string;
      arn: string;
      account_id: string;
      expires_at: number;
      created_at: number;
      role_arn: string | null;
      user_arn: string | null;
      user_name: string | null;
    }>(
      `SELECT s.secret_wrapped, s.token_hash, s.role_id, s.session_name, s.arn, s.account_id, s.expires_at, s.created_at, r.arn AS role_arn,
              u.arn AS user_arn, u.user_name
         FROM sts_sessions s LEFT JOIN iam_roles r ON r.role_id = s.role_id LEFT JOIN iam_users u ON u.user_id = s.role_id
        WHERE s.access_key_id = ?`,
      [accessKeyId],
    );
    if (!row || (row.role_arn === null && row.user_arn === null)) return undefined;
    const expected = Buffer.from(row.token_hash, 'hex');
    const given = tokenHash(sessionToken);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    if (Number(row.expires_at) <= now) return 'expired';
    const secret = await this.#root.unwrap(row.secret_wrapped, sessionAad(accessKeyId));
    try {
      const principal: Principal =
        row.user_arn !== null
          ? {
              type: 'IAMUser',
              accountId: row.account_id,
              arn: row.user_arn,
              principalId: row.role_id,
              userName: row.user_name!,
              accessKeyId,
              tokenIssuedAt: Number(row.created_at),
            }
          : {
              type: 'AssumedRole',
              accountId: row.account_id,
              arn: row.arn,
              principalId: `${row.role_id}:${row.session_name}`,
              accessKeyId,
              roleArn: row.role_arn!,
              roleId: row.role_id,
              sessionName: row.session_name,
              tokenIssuedAt: Number(row.created_at),
            };
      return { secretAccessKey: secret.toString('utf8'), principal };
    } finally {
      secret.fill(0);
    }
  }

  /**
   * New temporary credentials for an IAM user (STS GetSessionToken): the session acts as the user, with the user's
   * policies. Kept beside role sessions; its row names the user's id where a role session's names the role's.
   */
  async createUserSession(user: { userId: string; userName: string; arn: string; accountId: string }, expiresAt: number): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }> {
    return this.#insertSession(user.userId, user.userName, user.arn, user.accountId, expiresAt, {});
  }

  /** New temporary credentials for a role session. */
  async createSession(
    role: { roleId: string; roleName: string; accountId: string },
    sessionName: string,
    expiresAt: number,
    sessionPolicies: { policy?: string; policyArns?: string[] } = {},
    sessionTags: SessionTags = { tags: {}, transitive: [] },
  ): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string; arn: string }> {
    const arn = `arn:aws:sts::${role.accountId}:assumed-role/${role.roleName}/${sessionName}`;
    return { ...(await this.#insertSession(role.roleId, sessionName, arn, role.accountId, expiresAt, sessionPolicies, sessionTags)), arn };
  }

  /** A role session's session tags and which of them it passes on in a role chain (none for other credentials). */
  async sessionTags(accessKeyId: string): Promise<SessionTags | undefined> {
    const row = await this.#db.get<{ session_tags: string | null }>('SELECT session_tags FROM sts_sessions WHERE access_key_id = ?', [accessKeyId]);
    return row?.session_tags ? (JSON.parse(row.session_tags) as SessionTags) : undefined;
  }

  async #insertSession(
    ownerId: string,
    sessionName: string,
    arn: string,
    accountId: string,
    expiresAt: number,
    sessionPolicies: { policy?: string; policyArns?: string[] },
    sessionTags?: SessionTags,
  ): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }> {
    const accessKeyId = awsId('ASIA', 16);
    const secretAccessKey = newSecretAccessKey();
    const sessionToken = randomBytes(96).toString('base64');
    const wrapped = await this.#root.wrap(Buffer.from(secretAccessKey, 'utf8'), sessionAad(accessKeyId));
    const now = Date.now();
    await this.#db.run(
      'INSERT INTO sts_sessions (access_key_id, secret_wrapped, token_hash, role_id, session_name, arn, account_id, expires_at, created_at, session_policy, session_policy_arns, session_tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        accessKeyId,
        wrapped,
        tokenHash(sessionToken).toString('hex'),
        ownerId,
        sessionName,
        arn,
        accountId,
        expiresAt,
        now,
        sessionPolicies.policy ?? null,
        sessionPolicies.policyArns?.length ? JSON.stringify(sessionPolicies.policyArns) : null,
        sessionTags && (Object.keys(sessionTags.tags).length || sessionTags.transitive.length) ? JSON.stringify(sessionTags) : null,
      ],
    );
    // Sessions that ended more than a day ago are of no further use.
    await this.#db.run('DELETE FROM sts_sessions WHERE expires_at < ?', [now - 24 * 3600 * 1000]);
    return { accessKeyId, secretAccessKey, sessionToken };
  }

  /**
   * Everything evaluation needs to know about a principal, cached for a second: its identity-based
   * policies (a user's inline and attached managed policies and those of its groups; for a role session,
   * the role's), its permissions boundary, a role session's session policies, and its tags (a session's
   * are its role's).
   */
  async principalPolicies(principal: Principal, now = Date.now()): Promise<PrincipalPolicies> {
    const id = principal.type === 'AssumedRole' ? `session:${principal.accessKeyId}` : `user:${principal.principalId}`;
    const hit = this.#policies.get(id);
    if (hit && hit.until > now) return hit.value;
    const value = principal.type === 'AssumedRole' ? await this.#sessionPolicies(principal) : await this.#userPolicies(principal.principalId);
    if (this.#policies.size >= CACHE_MAX) this.#policies.clear();
    this.#policies.set(id, { value, until: now + POLICY_CACHE_MS });
    return value;
  }

  /** The principal's identity-based policies as JSON texts (see principalPolicies). */
  async policyTexts(principal: Principal, now = Date.now()): Promise<string[]> {
    return (await this.principalPolicies(principal, now)).identity;
  }

  async #attached(entityType: 'user' | 'group' | 'role', entityIds: string[]): Promise<string[]> {
    if (entityIds.length === 0) return [];
    const rows = await this.#db.all<{ document: string }>(
      `SELECT v.document FROM iam_policy_attachments a
         JOIN iam_policies p ON p.policy_id = a.policy_id
         JOIN iam_policy_versions v ON v.policy_id = p.policy_id AND v.version_id = p.default_version
        WHERE a.entity_type = ? AND a.entity_id IN (${entityIds.map(() => '?').join(', ')}) ORDER BY p.arn, a.entity_id`,
      [entityType, ...entityIds],
    );
    return rows.map((r) => r.document);
  }

  /** The default version of a managed policy; a policy that is gone allows nothing (a boundary then stops everything). */
  async #managedDocument(arn: string): Promise<string | undefined> {
    return (
      await this.#db.get<{ document: string }>(
        'SELECT v.document FROM iam_policies p JOIN iam_policy_versions v ON v.policy_id = p.policy_id AND v.version_id = p.default_version WHERE p.arn = ?',
        [arn],
      )
    )?.document;
  }

  async #tags(entityType: 'user' | 'role', entityId: string): Promise<Record<string, string>> {
    const rows = await this.#db.all<{ tag_key: string; tag_value: string }>('SELECT tag_key, tag_value FROM iam_tags WHERE entity_type = ? AND entity_id = ? ORDER BY tag_key', [entityType, entityId]);
    return Object.fromEntries(rows.map((r) => [r.tag_key, r.tag_value]));
  }

  async #userPolicies(userId: string): Promise<PrincipalPolicies> {
    const inline = await this.#db.all<{ document: string }>('SELECT document FROM iam_user_policies WHERE user_id = ? ORDER BY policy_name', [userId]);
    const groups = (await this.#db.all<{ group_id: string }>('SELECT group_id FROM iam_group_members WHERE user_id = ? ORDER BY group_id', [userId])).map((g) => g.group_id);
    const groupInline = groups.length
      ? await this.#db.all<{ document: string }>(`SELECT document FROM iam_group_policies WHERE group_id IN (${groups.map(() => '?').join(', ')}) ORDER BY group_id, policy_name`, groups)
      : [];
    const boundaryArn = (await this.#db.get<{ b: string | null }>('SELECT permissions_boundary AS b FROM iam_users WHERE user_id = ?', [userId]))?.b ?? null;
    return {
      identity: [...inline.map((r) => r.document), ...(await this.#attached('user', [userId])), ...groupInline.map((r) => r.document), ...(await this.#attached('group', groups))],
      boundary: boundaryArn === null ? null : ((await this.#managedDocument(boundaryArn)) ?? ALLOWS_NOTHING),
      session: null,
      tags: await this.#tags('user', userId),
    };
  }

  async #sessionPolicies(principal: Principal): Promise<PrincipalPolicies> {
    const roleId = principal.roleId!;
    const inline = await this.#db.all<{ document: string }>('SELECT document FROM iam_role_policies WHERE role_id = ? ORDER BY policy_name', [roleId]);
    const boundaryArn = (await this.#db.get<{ b: string | null }>('SELECT permissions_boundary AS b FROM iam_roles WHERE role_id = ?', [roleId]))?.b ?? null;
    const s = await this.#db.get<{ session_policy: string | null; session_policy_arns: string | null; session_tags: string | null }>(
      'SELECT session_policy, session_policy_arns, session_tags FROM sts_sessions WHERE access_key_id = ?',
      [principal.accessKeyId],
    );
    let session: string[] | null = null;
    if (s && (s.session_policy !== null || s.session_policy_arns !== null)) {
      session = s.session_policy !== null ? [s.session_policy] : [];
      for (const arn of s.session_policy_arns ? (JSON.parse(s.session_policy_arns) as string[]) : []) {
        const doc = await this.#managedDocument(arn);
        if (doc !== undefined) session.push(doc);
      }
    }
    return {
      identity: [...inline.map((r) => r.document), ...(await this.#attached('role', [roleId]))],
      boundary: boundaryArn === null ? null : ((await this.#managedDocument(boundaryArn)) ?? ALLOWS_NOTHING),
      session,
      tags: withSessionTags(await this.#tags('role', roleId), s?.session_tags ? (JSON.parse(s.session_tags) as SessionTags).tags : {}),
    };
  }

  /** The unique id (AIDA... / AROA...) of the IAM user or role with this ARN, if there is one. */
  async uniqueIdForArn(arn: string): Promise<string | undefined> {
    const user = await this.#db.get<{ id: string }>('SELECT user_id AS id FROM iam_users WHERE arn = ?', [arn]);
    if (user) return user.id;
    return (await this.#db.get<{ id: string }>('SELECT role_id AS id FROM iam_roles WHERE arn = ?', [arn]))?.id;
  }

  /** The unique id of a role by its name (role-session ARNs name the role without its path). */
  async roleIdByName(accountId: string, roleName: string): Promise<string | undefined> {
    return (await this.#db.get<{ id: string }>('SELECT role_id AS id FROM iam_roles WHERE account_id = ? AND role_name = ?', [accountId, roleName]))?.id;
  }

  /** The current ARN of the IAM user or role with this unique id; undefined once it is deleted. */
  async arnForUniqueId(id: string): Promise<string | undefined> {
    const table = id.startsWith('AIDA') ? 'SELECT arn FROM iam_users WHERE user_id = ?' : id.startsWith('AROA') ? 'SELECT arn FROM iam_roles WHERE role_id = ?' : undefined;
    return table ? (await this.#db.get<{ arn: string }>(table, [id]))?.arn : undefined;
  }

  /** Forget cached keys and policies after an IAM change, so it takes effect at once in this process. */
  invalidate(): void {
    this.#cache.clear();
    this.#policies.clear();
  }

  /** Reads an access key's secret, for writing the admin credentials file. */
  async revealSecret(accessKeyId: string): Promise<string | undefined> {
    return (await this.resolveAccessKey(accessKeyId, Number.POSITIVE_INFINITY))?.secretAccessKey;
  }
}

/** A role session's tags (asked for, or inherited in a role chain) and the keys it passes on to the next session. */
export interface SessionTags {
  tags: Record<string, string>;
  transitive: string[];
}

/** A session's principal tags: its role's, each replaced by a session tag with the same key in any letter case. */
function withSessionTags(roleTags: Record<string, string>, sessionTags: Record<string, string>): Record<string, string> {
  const lower = new Set(Object.keys(sessionTags).map((k) => k.toLowerCase()));
  const out = Object.fromEntries(Object.entries(roleTags).filter(([k]) => !lower.has(k.toLowerCase())));
  return { ...out, ...sessionTags };
}
