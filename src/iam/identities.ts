import type { Database, Queryable } from '../store/database.ts';
import type { RootOfTrust } from '../root/root-of-trust.ts';
import { awsId, randomBytes } from '../crypto/random.ts';
import type { Principal } from './principal.ts';

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

  /** Reads an access key's secret, for writing the admin credentials file. */
  async revealSecret(accessKeyId: string): Promise<string | undefined> {
    return (await this.resolveAccessKey(accessKeyId, Number.POSITIVE_INFINITY))?.secretAccessKey;
  }
}
