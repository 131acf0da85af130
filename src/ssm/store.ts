import type { Database, Queryable } from '../store/database.ts';

/** Parameter Store's tables (migration 9): one row per parameter, one per version it keeps. */

export type ParameterType = 'String' | 'StringList' | 'SecureString';
export type Tier = 'Standard' | 'Advanced';

export interface Tag {
  Key: string;
  Value: string;
}

export interface ParameterRecord {
  name: string;
  arn: string;
  type: ParameterType;
  tier: Tier;
  dataType: string;
  currentVersion: number;
  tags: Tag[];
  lastModifiedAt: number;
  lastModifiedUser: string;
  expiresAt: number | null;
}

export interface VersionRecord {
  name: string;
  version: number;
  type: ParameterType;
  tier: Tier;
  dataType: string;
  /** UTF-8 text for String and StringList; the encrypted form (secure.ts) for SecureString. */
  value: Buffer;
  /** The KMS key as the caller named it (or alias/aws/ssm), SecureString only. */
  keyId: string | null;
  description: string | null;
  allowedPattern: string | null;
  policies: string | null;
  labels: string[];
  lastModifiedAt: number;
  lastModifiedUser: string;
}

interface ParameterRow {
  name: string;
  arn: string;
  type: string;
  tier: string;
  data_type: string;
  current_version: number | bigint;
  tags: string;
  last_modified_at: number | bigint;
  last_modified_user: string;
  expires_at: number | bigint | null;
}

interface VersionRow {
  name: string;
  version: number | bigint;
  type: string;
  tier: string;
  data_type: string;
  value: Uint8Array;
  key_id: string | null;
  description: string | null;
  allowed_pattern: string | null;
  policies: string | null;
  labels: string;
  last_modified_at: number | bigint;
  last_modified_user: string;
}

const PARAM_COLUMNS = 'name, arn, type, tier, data_type, current_version, tags, last_modified_at, last_modified_user, expires_at';
const VERSION_COLUMNS = 'name, version, type, tier, data_type, value, key_id, description, allowed_pattern, policies, labels, last_modified_at, last_modified_user';

function toParameter(r: ParameterRow): ParameterRecord {
  return {
    name: r.name,
    arn: r.arn,
    type: r.type as ParameterType,
    tier: r.tier as Tier,
    dataType: r.data_type,
    currentVersion: Number(r.current_version),
    tags: JSON.parse(r.tags) as Tag[],
    lastModifiedAt: Number(r.last_modified_at),
    lastModifiedUser: r.last_modified_user,
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  };
}

function toVersion(r: VersionRow): VersionRecord {
  const v = r.value;
  return {
    name: r.name,
    version: Number(r.version),
    type: r.type as ParameterType,
    tier: r.tier as Tier,
    dataType: r.data_type,
    value: Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength),
    keyId: r.key_id,
    description: r.description,
    allowedPattern: r.allowed_pattern,
    policies: r.policies,
    labels: JSON.parse(r.labels) as string[],
    lastModifiedAt: Number(r.last_modified_at),
    lastModifiedUser: r.last_modified_user,
  };
}

export class ParameterStore {
  readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async parameter(name: string, q: Queryable = this.db): Promise<ParameterRecord | undefined> {
    const r = await q.get<ParameterRow>(`SELECT ${PARAM_COLUMNS} FROM ssm_parameters WHERE name = ?`, [name]);
    return r ? toParameter(r) : undefined;
  }

  async version(name: string, version: number, q: Queryable = this.db): Promise<VersionRecord | undefined> {
    const r = await q.get<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM ssm_parameter_versions WHERE name = ? AND version = ?`, [name, version]);
    return r ? toVersion(r) : undefined;
  }

  async versions(name: string, q: Queryable = this.db): Promise<VersionRecord[]> {
    return (await q.all<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM ssm_parameter_versions WHERE name = ? ORDER BY version`, [name])).map(toVersion);
  }

  /** Version numbers and labels only, oldest first (no values read). */
  async versionLabels(name: string, q: Queryable = this.db): Promise<Array<{ version: number; labels: string[] }>> {
    const rows = await q.all<{ version: number | bigint; labels: string }>('SELECT version, labels FROM ssm_parameter_versions WHERE name = ? ORDER BY version', [name]);
    return rows.map((r) => ({ version: Number(r.version), labels: JSON.parse(r.labels) as string[] }));
  }

  /** Parameters in name order after `after`, a page at a time, optionally only names beginning with `prefix`. */
  async page(after: string | undefined, limit: number, prefix?: string): Promise<ParameterRecord[]> {
    const where: string[] = [];
    const params: Array<string | number> = [];
    if (after !== undefined) {
      where.push('name > ?');
      params.push(after);
    }
    if (prefix) {
      where.push('substr(name, 1, ?) = ?');
      params.push(prefix.length, prefix);
    }
    const rows = await this.db.all<ParameterRow>(`SELECT ${PARAM_COLUMNS} FROM ssm_parameters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY name LIMIT ?`, [
      ...params,
      limit,
    ]);
    return rows.map(toParameter);
  }

  async countByTier(tier: Tier, q: Queryable = this.db): Promise<number> {
    const r = await q.get<{ n: number | bigint }>('SELECT COUNT(*) AS n FROM ssm_parameters WHERE tier = ?', [tier]);
    return Number(r?.n ?? 0);
  }

  async expiredNames(now: number): Promise<string[]> {
    const rows = await this.db.all<{ name: string }>('SELECT name FROM ssm_parameters WHERE expires_at IS NOT NULL AND expires_at <= ?', [now]);
    return rows.map((r) => r.name);
  }

  async remove(q: Queryable, name: string): Promise<boolean> {
    await q.run('DELETE FROM ssm_parameter_versions WHERE name = ?', [name]);
    return (await q.run('DELETE FROM ssm_parameters WHERE name = ?', [name])).changes > 0;
  }

  async insertVersion(q: Queryable, v: VersionRecord): Promise<void> {
    await q.run(`INSERT INTO ssm_parameter_versions (${VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      v.name,
      v.version,
      v.type,
      v.tier,
      v.dataType,
      v.value,
      v.keyId,
      v.description,
      v.allowedPattern,
      v.policies,
      JSON.stringify(v.labels),
      v.lastModifiedAt,
      v.lastModifiedUser,
    ]);
  }

  async deleteVersion(q: Queryable, name: string, version: number): Promise<void> {
    await q.run('DELETE FROM ssm_parameter_versions WHERE name = ? AND version = ?', [name, version]);
  }

  async setLabels(q: Queryable, name: string, version: number, labels: string[]): Promise<void> {
    await q.run('UPDATE ssm_parameter_versions SET labels = ? WHERE name = ? AND version = ?', [JSON.stringify(labels), name, version]);
  }

  async insertParameter(q: Queryable, p: ParameterRecord): Promise<void> {
    await q.run(`INSERT INTO ssm_parameters (${PARAM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      p.name,
      p.arn,
      p.type,
      p.tier,
      p.dataType,
      p.currentVersion,
      JSON.stringify(p.tags),
      p.lastModifiedAt,
      p.lastModifiedUser,
      p.expiresAt,
    ]);
  }

  async updateParameter(q: Queryable, p: ParameterRecord): Promise<void> {
    await q.run(
      'UPDATE ssm_parameters SET type = ?, tier = ?, data_type = ?, current_version = ?, last_modified_at = ?, last_modified_user = ?, expires_at = ? WHERE name = ?',
      [p.type, p.tier, p.dataType, p.currentVersion, p.lastModifiedAt, p.lastModifiedUser, p.expiresAt, p.name],
    );
  }

  async setTags(q: Queryable, name: string, tags: Tag[]): Promise<void> {
    await q.run('UPDATE ssm_parameters SET tags = ? WHERE name = ?', [JSON.stringify(tags), name]);
  }
}
