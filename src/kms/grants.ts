import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database, Queryable } from '../store/database.ts';
import type { Principal } from '../iam/principal.ts';
import { InvalidArnException, ValidationException } from './errors.ts';

/** Operations a grant may allow (AWS's GrantOperation enum). */
export const GRANT_OPERATIONS = [
  'Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'Sign', 'Verify', 'GetPublicKey',
  'CreateGrant', 'RetireGrant', 'DescribeKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'GenerateMac', 'VerifyMac', 'DeriveSharedSecret',
] as const;

export interface GrantConstraints {
  EncryptionContextEquals?: Record<string, string>;
  EncryptionContextSubset?: Record<string, string>;
}

export interface GrantRecord {
  grantId: string;
  keyId: string;
  name: string | null;
  granteePrincipal: string;
  /** The unique id (AIDA..., AROA... or AROA...:session) the grantee was bound to when the grant was made; null for accounts and services. */
  granteeId: string | null;
  retiringPrincipal: string | null;
  retiringId: string | null;
  issuingAccount: string;
  operations: string[];
  constraints: GrantConstraints | null;
  createdAt: number;
}

interface GrantRow {
  grant_id: string;
  key_id: string;
  grant_token_hash: string;
  name: string | null;
  grantee_principal: string;
  grantee_id: string | null;
  retiring_principal: string | null;
  retiring_id: string | null;
  issuing_account: string;
  operations: string;
  constraints: string | null;
  created_at: number;
}

function fromRow(r: GrantRow): GrantRecord {
  return {
    grantId: r.grant_id,
    keyId: r.key_id,
    name: r.name,
    granteePrincipal: r.grantee_principal,
    granteeId: r.grantee_id ?? null,
    retiringPrincipal: r.retiring_principal,
    retiringId: r.retiring_id ?? null,
    issuingAccount: r.issuing_account,
    operations: JSON.parse(r.operations) as string[],
    constraints: r.constraints ? (JSON.parse(r.constraints) as GrantConstraints) : null,
    createdAt: Number(r.created_at),
  };
}

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A grantee or retiring principal: an IAM user or role ARN, an assumed-role session ARN, an account root ARN, or a service principal. */
export function checkPrincipalArn(value: string, field: string): void {
  if (!/^arn:aws:(iam::\d{12}:(user|role)\/.+|iam::\d{12}:root|sts::\d{12}:assumed-role\/.+)$/.test(value) && !/^[a-z0-9-]+\.amazonaws\.com$/.test(value)) {
    throw new InvalidArnException(`${field} ${value} is not a valid principal ARN.`);
  }
}

/**
 * Whether a grant's grantee (or retiring principal) names this caller. An IAM user, role or role session
 * is matched by the unique id it had when the grant was made (AWS keeps grantees by id: ListGrants shows
 * the bare id once the principal is gone), so a principal deleted and created again under the same name
 * is not the grantee. Account roots, and grants made before ids were kept, are matched by ARN: the exact
 * ARN, the role behind a session, or the caller's account root.
 */
export function principalMatches(named: string, namedId: string | null, p: Principal): boolean {
  if (namedId !== null) {
    if (namedId.includes(':')) return p.type === 'AssumedRole' && p.principalId === namedId;
    return namedId === (p.type === 'AssumedRole' ? p.roleId : p.principalId);
  }
  if (named === p.arn) return true;
  if (p.roleArn && named === p.roleArn) return true;
  return named === `arn:aws:iam::${p.accountId}:root`;
}

/** Grant operations whose requests carry an encryption context: the only ones a grant's constraints apply to. */
export const CONTEXT_OPERATIONS: ReadonlySet<string> = new Set([
  'Encrypt', 'Decrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext',
]);

/**
 * The grant's constraints hold for this request's encryption context: EncryptionContextEquals when the
 * request's pairs are exactly the constraint's, EncryptionContextSubset when the request holds at least
 * the constraint's pairs. In a constraint the key of each pair is compared without regard to letter case and
 * the value exactly: AWS's API reference (GrantConstraints) says so in an "Important" note, while its
 * developer guide calls both an "exact, case-sensitive match". The API reference is the one kept with the
 * service model (every SDK carries the same note), it is the more specific statement, written against the
 * expectation the guide sets, and it comes with advice that only makes sense if it is true (use the
 * kms:EncryptionContext: condition keys to require a fully case-sensitive match), so Trent follows it.
 */
export function constraintsHold(c: GrantConstraints | null, ec: Record<string, string> | undefined): boolean {
  if (!c) return true;
  const given = Object.entries(ec ?? {});
  const has = (k: string, v: string) => given.some(([gk, gv]) => gv === v && gk.toLowerCase() === k.toLowerCase());
  if (c.EncryptionContextEquals) {
    const want = Object.entries(c.EncryptionContextEquals);
    // Every requested pair must be one of the constraint's, and every constraint pair must be requested.
    if (!given.every(([gk, gv]) => want.some(([k, v]) => v === gv && k.toLowerCase() === gk.toLowerCase()))) return false;
    if (!want.every(([k, v]) => has(k, v))) return false;
  }
  if (c.EncryptionContextSubset) {
    for (const [k, v] of Object.entries(c.EncryptionContextSubset)) if (!has(k, v)) return false;
  }
  return true;
}

/**
 * Whether a grant made under `parent` stays inside it (AWS, "Granting CreateGrant permission"): the child
 * may allow only some or all of the parent's operations, and every encryption context the child's
 * constraints admit must also be admitted by the parent's. So a parent Subset may gain pairs or become
 * an Equals that contains them; a parent Equals may only be kept as it is.
 */
export function grantWithin(parent: Pick<GrantRecord, 'operations' | 'constraints'>, child: Pick<GrantRecord, 'operations' | 'constraints'>): boolean {
  if (!child.operations.every((o) => parent.operations.includes(o))) return false;
  const p = parent.constraints;
  if (!p) return true;
  const c = child.constraints;
  if (!c) return false;
  // An Equals child admits exactly one context: the parent must admit it (and any Subset beside it must hold there too).
  if (c.EncryptionContextEquals) return constraintsHold(p, c.EncryptionContextEquals);
  // A Subset child admits every context that contains its pairs: only a parent Subset whose pairs it includes admits all of them.
  if (p.EncryptionContextEquals) return false;
  return constraintsHold({ EncryptionContextSubset: p.EncryptionContextSubset ?? {} }, c.EncryptionContextSubset);
}

/** KMS grants: delegations of specific operations on one key to one principal, effective at once. */
export class GrantStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async create(q: Queryable, g: Omit<GrantRecord, 'grantId' | 'createdAt'>, now: number): Promise<{ grantId: string; grantToken: string; existing: boolean }> {
    if (g.name) {
      // AWS: a CreateGrant retried with the same name and parameters returns the same grant.
      const same = (await q.all<GrantRow>('SELECT * FROM kms_grants WHERE key_id = ? AND name = ?', [g.keyId, g.name])).map(fromRow).find(
        (x) =>
          x.granteePrincipal === g.granteePrincipal &&
          x.granteeId === g.granteeId &&
          x.retiringPrincipal === g.retiringPrincipal &&
          x.retiringId === g.retiringId &&
          JSON.stringify([...x.operations].sort()) === JSON.stringify([...g.operations].sort()) &&
          JSON.stringify(x.constraints) === JSON.stringify(g.constraints),
      );
      if (same) {
        const grantToken = randomBytes(48).toString('base64url');
        await q.run('UPDATE kms_grants SET grant_token_hash = ? WHERE grant_id = ?', [tokenHash(grantToken), same.grantId]);
        return { grantId: same.grantId, grantToken: `${same.grantId}.${grantToken}`, existing: true };
      }
    }
    const grantId = randomBytes(32).toString('hex');
    const secret = randomBytes(48).toString('base64url');
    await q.run(
      `INSERT INTO kms_grants (grant_id, key_id, grant_token_hash, name, grantee_principal, grantee_id, retiring_principal, retiring_id, issuing_account, operations, constraints, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        grantId,
        g.keyId,
        tokenHash(secret),
        g.name,
        g.granteePrincipal,
        g.granteeId,
        g.retiringPrincipal,
        g.retiringId,
        g.issuingAccount,
        JSON.stringify(g.operations),
        g.constraints ? JSON.stringify(g.constraints) : null,
        now,
      ],
    );
    return { grantId, grantToken: `${grantId}.${secret}`, existing: false };
  }

  async forKey(keyId: string): Promise<GrantRecord[]> {
    return (await this.#db.all<GrantRow>('SELECT * FROM kms_grants WHERE key_id = ? ORDER BY created_at, grant_id', [keyId])).map(fromRow);
  }

  async get(grantId: string): Promise<GrantRecord | undefined> {
    const row = await this.#db.get<GrantRow>('SELECT * FROM kms_grants WHERE grant_id = ?', [grantId]);
    return row ? fromRow(row) : undefined;
  }

  /** The grant a token stands for; undefined when the token is malformed or names no grant (retired or revoked). */
  async byToken(token: string): Promise<GrantRecord | undefined> {
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const row = await this.#db.get<GrantRow>('SELECT * FROM kms_grants WHERE grant_id = ?', [token.slice(0, dot)]);
    if (!row) return undefined;
    const a = Buffer.from(row.grant_token_hash, 'hex');
    const b = Buffer.from(tokenHash(token.slice(dot + 1)), 'hex');
    return a.length === b.length && timingSafeEqual(a, b) ? fromRow(row) : undefined;
  }

  /** Grants this principal may retire: named by this ARN and, where the grant keeps an id, by the id the ARN stands for now. */
  async retirable(retiringPrincipal: string, retiringId: string | null): Promise<GrantRecord[]> {
    return (await this.#db.all<GrantRow>('SELECT * FROM kms_grants WHERE retiring_principal = ? ORDER BY created_at, grant_id', [retiringPrincipal]))
      .map(fromRow)
      .filter((g) => g.retiringId === null || g.retiringId === retiringId);
  }

  async delete(grantId: string): Promise<boolean> {
    return (await this.#db.run('DELETE FROM kms_grants WHERE grant_id = ?', [grantId])).changes > 0;
  }

  /**
   * Does a grant on this key let this caller do `operation` with this encryption context? Constraints apply
   * only to operations that take an encryption context (AWS: not to DescribeKey, CreateGrant or RetireGrant).
   * `within`, for CreateGrant, further requires the grant to contain the grant being created.
   */
  async allows(keyId: string, p: Principal, operation: string, ec: Record<string, string> | undefined, within?: (g: GrantRecord) => boolean): Promise<boolean> {
    const grants = await this.forKey(keyId);
    return grants.some(
      (g) =>
        principalMatches(g.granteePrincipal, g.granteeId, p) &&
        g.operations.includes(operation) &&
        (!CONTEXT_OPERATIONS.has(operation) || constraintsHold(g.constraints, ec)) &&
        (within === undefined || within(g)),
    );
  }
}

export function readConstraints(v: unknown): GrantConstraints | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ValidationException('Constraints must be an object.');
  const out: GrantConstraints = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (k !== 'EncryptionContextEquals' && k !== 'EncryptionContextSubset') throw new ValidationException(`Unknown grant constraint ${k}.`);
    if (!val || typeof val !== 'object' || Array.isArray(val) || Object.values(val).some((x) => typeof x !== 'string')) {
      throw new ValidationException(`${k} must map strings to strings.`);
    }
    out[k] = val as Record<string, string>;
  }
  return Object.keys(out).length ? out : null;
}
