import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Database, Queryable } from '../store/database.ts';
import { RootUnavailableError, type RootOfTrust } from '../root/root-of-trust.ts';
import { AwsError } from '../wire/errors.ts';
import { randomBytes } from '../crypto/random.ts';
import { DisabledException, IncorrectKeyMaterialException, InvalidMarkerException, KMSInternalException, KMSInvalidStateException, NotFoundException } from './errors.ts';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport';

/** A KMS key: its metadata and the number of its newest backing-key version. */
export interface KeyRecord {
  keyId: string;
  accountId: string;
  region: string;
  arn: string;
  description: string;
  keyState: KeyState;
  keyUsage: string;
  keySpec: string;
  origin: string;
  keyManager: 'CUSTOMER' | 'AWS';
  policy: string;
  createdAt: number;
  deletionAt: number | null;
  pendingWindowDays: number | null;
  rotationEnabled: boolean;
  rotationPeriodDays: number | null;
  nextRotationAt: number | null;
  onDemandRotations: number;
  currentVersion: number;
  /** Imported material only: when it expires (ms), and AWS's expiration model. */
  validTo: number | null;
  expirationModel: string | null;
}

interface KeyRow {
  key_id: string;
  account_id: string;
  region: string;
  arn: string;
  description: string;
  key_state: string;
  key_usage: string;
  key_spec: string;
  origin: string;
  key_manager: string;
  policy: string;
  created_at: number;
  deletion_at: number | null;
  pending_window_days: number | null;
  rotation_enabled: number;
  rotation_period_days: number | null;
  next_rotation_at: number | null;
  on_demand_rotations: number;
  current_version: number;
  valid_to: number | null;
  expiration_model: string | null;
}

const n = (v: number | bigint | null): number | null => (v === null ? null : Number(v));

function fromRow(r: KeyRow): KeyRecord {
  return {
    keyId: r.key_id,
    accountId: r.account_id,
    region: r.region,
    arn: r.arn,
    description: r.description,
    // Imported material past its ValidTo is unusable at once, before the sweep deletes it.
    keyState: (r.valid_to !== null && Number(r.valid_to) <= Date.now() && r.key_state !== 'PendingDeletion' ? 'PendingImport' : r.key_state) as KeyState,
    keyUsage: r.key_usage,
    keySpec: r.key_spec,
    origin: r.origin,
    keyManager: r.key_manager as 'CUSTOMER' | 'AWS',
    policy: r.policy,
    createdAt: Number(r.created_at),
    deletionAt: n(r.deletion_at),
    pendingWindowDays: n(r.pending_window_days),
    rotationEnabled: Number(r.rotation_enabled) === 1,
    rotationPeriodDays: n(r.rotation_period_days),
    nextRotationAt: n(r.next_rotation_at),
    onDemandRotations: Number(r.on_demand_rotations),
    currentVersion: Number(r.current_version),
    validTo: n(r.valid_to),
    expirationModel: r.expiration_model,
  };
}

export interface AliasRecord {
  aliasName: string;
  aliasArn: string;
  targetKeyId: string;
  createdAt: number;
  updatedAt: number;
}

export interface RotationRecord {
  version: number;
  createdAt: number;
  rotationType: 'AUTOMATIC' | 'ON_DEMAND';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** How long an unwrapped backing key may stay in memory, and how many. */
const BACKING_KEY_TTL_MS = 5 * 60_000;
const BACKING_KEY_CACHE_MAX = 10_000;
const RECORD_TTL_MS = 1_000;
const RECORD_CACHE_MAX = 10_000;
export const DAY_MS = 24 * 3600 * 1000;

export function materialAad(arn: string, version: number): Buffer {
  return Buffer.from(`trent:kms:backing-key:${arn}#${version}`);
}

/**
 * Which operations a key state allows, as in AWS's key state table. A disabled key gets
 * DisabledException only where the operation would work on an enabled key; every other refusal
 * is KMSInvalidStateException.
 */
export function requireState(key: KeyRecord, allowed: readonly KeyState[]): void {
  if (allowed.includes(key.keyState)) return;
  if (key.keyState === 'Disabled' && allowed.includes('Enabled')) throw new DisabledException(key.arn);
  if (key.keyState === 'PendingDeletion') throw new KMSInvalidStateException(`${key.arn} is pending deletion.`);
  if (key.keyState === 'PendingImport') throw new KMSInvalidStateException(`${key.arn} is pending import: it has no key material.`);
  if (allowed.length === 1 && allowed[0] === 'PendingDeletion') throw new KMSInvalidStateException(`${key.arn} is not pending deletion.`);
  throw new KMSInvalidStateException(`${key.arn} is ${key.keyState}.`);
}

function rootUnavailable(err: RootUnavailableError): AwsError {
  return new AwsError('KMSInternalException', 500, `The root of trust is unavailable, so no key material can be used: ${err.message}. Trent retries by itself.`);
}

export const USABLE: readonly KeyState[] = ['Enabled'];
/** Metadata changes (description, aliases, tags, scheduling deletion) are allowed on keys still waiting for imported material. */
export const MANAGEABLE: readonly KeyState[] = ['Enabled', 'Disabled', 'PendingImport'];
/** EnableKey and DisableKey: only between these two states. */
export const TOGGLEABLE: readonly KeyState[] = ['Enabled', 'Disabled'];
export const ANY_STATE: readonly KeyState[] = ['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport'];

/** Page markers are opaque to clients: the last item's sort key, base64url. */
export function encodeMarker(last: string): string {
  return Buffer.from(JSON.stringify({ after: last })).toString('base64url');
}
export function decodeMarker(marker: string | undefined): string | undefined {
  if (marker === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'string') return v.after;
  } catch {
    /* fall through */
  }
  throw new InvalidMarkerException();
}

/**
 * KMS keys, their backing-key versions, aliases and tags. Backing keys are stored wrapped by the
 * root of trust with the key ARN and version bound in as AAD; unwrapped ones are cached in memory
 * for at most five minutes and dropped (zeroed) when the key is deleted.
 */
export class KeyStore {
  readonly #db: Database;
  readonly #root: RootOfTrust;
  readonly accountId: string;
  readonly region: string;
  readonly #material = new Map<string, { key: Buffer; until: number }>();
  /** Key records and alias targets read outside transactions, for at most a second; every write here invalidates them. */
  readonly #records = new Map<string, { record: KeyRecord; until: number }>();
  readonly #aliasTargets = new Map<string, { keyId: string; until: number }>();

  constructor(db: Database, root: RootOfTrust, accountId: string, region: string) {
    this.#db = db;
    this.#root = root;
    this.accountId = accountId;
    this.region = region;
  }

  get db(): Database {
    return this.#db;
  }

  keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
  }

  aliasArn(aliasName: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:${aliasName}`;
  }

  async create(
    tx: Queryable,
    init: {
      description: string;
      keyUsage: string;
      keySpec: string;
      origin: string;
      keyManager: 'CUSTOMER' | 'AWS';
      policy: string;
      now: number;
      rotationPeriodDays?: number;
      /** Key material for version 1 (asymmetric and HMAC keys); 32 random bytes when absent. */
      material?: Buffer;
      /** Origin EXTERNAL: no material until ImportKeyMaterial. */
      external?: boolean;
    },
  ): Promise<KeyRecord> {
    const keyId = randomUUID();
    const arn = this.keyArn(keyId);
    const rotation = init.rotationPeriodDays !== undefined;
    await tx.run(
      `INSERT INTO kms_keys (key_id, account_id, region, arn, description, key_state, key_usage, key_spec, origin, key_manager, policy, created_at,
                             rotation_enabled, rotation_period_days, next_rotation_at, current_version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        keyId,
        this.accountId,
        this.region,
        arn,
        init.description,
        init.external ? 'PendingImport' : 'Enabled',
        init.keyUsage,
        init.keySpec,
        init.origin,
        init.keyManager,
        init.policy,
        init.now,
        rotation ? 1 : 0,
        rotation ? init.rotationPeriodDays! : null,
        rotation ? init.now + init.rotationPeriodDays! * DAY_MS : null,
        init.external ? 0 : 1,
      ],
    );
    if (!init.external) await this.#insertVersion(tx, keyId, arn, 1, null, init.now, init.material);
    return (await this.get(keyId, tx))!;
  }

  async #insertVersion(tx: Queryable, keyId: string, arn: string, version: number, rotationType: string | null, now: number, given?: Buffer): Promise<void> {
    // A copy: the caller keeps its buffer (a PostgreSQL transaction may run this body again after a serialization failure).
    const material = given ? Buffer.from(given) : randomBytes(32);
    try {
      const wrapped = await this.#root.wrap(material, materialAad(arn, version));
      await tx.run('INSERT INTO kms_key_versions (key_id, version, material_wrapped, created_at, rotation_type) VALUES (?, ?, ?, ?, ?)', [
        keyId,
        version,
        wrapped,
        now,
        rotationType,
      ]);
    } finally {
      material.fill(0);
    }
  }

  /**
   * Store imported material as version 1 and enable the key (ImportKeyMaterial). As on AWS, a key takes
   * only one key material for life: a later import must bring the same bytes (checked against a wrapped
   * SHA-256 fingerprint of the first).
   */
  async importMaterial(tx: Queryable, key: KeyRecord, material: Buffer, validTo: number | null, expirationModel: string, now: number): Promise<void> {
    const aad = Buffer.from(`trent:kms:import-fingerprint:${key.arn}`);
    const fingerprint = createHash('sha256').update(material).digest();
    const row = await tx.get<{ f: Uint8Array | null }>('SELECT import_fingerprint_wrapped AS f FROM kms_keys WHERE key_id = ?', [key.keyId]);
    if (row?.f) {
      const earlier = await this.#root.unwrap(row.f, aad);
      if (!timingSafeEqual(earlier, fingerprint)) throw new IncorrectKeyMaterialException(`The key material is not the material previously imported into ${key.arn}.`);
    } else {
      await tx.run('UPDATE kms_keys SET import_fingerprint_wrapped = ? WHERE key_id = ?', [await this.#root.wrap(fingerprint, aad), key.keyId]);
    }
    await tx.run('DELETE FROM kms_key_versions WHERE key_id = ?', [key.keyId]);
    await this.#insertVersion(tx, key.keyId, key.arn, 1, null, now, material);
    await tx.run("UPDATE kms_keys SET key_state = CASE WHEN key_state = 'PendingImport' THEN 'Enabled' ELSE key_state END, current_version = 1, valid_to = ?, expiration_model = ? WHERE key_id = ?", [
      validTo,
      expirationModel,
      key.keyId,
    ]);
    this.forgetMaterial(key.keyId);
    this.invalidate(key.keyId);
  }

  /** Import wrapping keys live for a day, wrapped by the root like any other key, bound to their token. */
  wrapForImport(privateKeyDer: Buffer, tokenHash: string): Promise<Buffer> {
    return this.#root.wrap(privateKeyDer, Buffer.from(`trent:kms:import-wrapping-key:${tokenHash}`));
  }

  unwrapForImport(wrapped: Buffer, tokenHash: string): Promise<Buffer> {
    return this.#root.unwrap(wrapped, Buffer.from(`trent:kms:import-wrapping-key:${tokenHash}`));
  }

  /** Delete imported material (DeleteImportedKeyMaterial, or its ValidTo has passed): the key waits for a new import. */
  async dropMaterial(tx: Queryable, keyId: string): Promise<void> {
    await tx.run('DELETE FROM kms_key_versions WHERE key_id = ?', [keyId]);
    await tx.run("UPDATE kms_keys SET key_state = CASE WHEN key_state = 'PendingDeletion' THEN key_state ELSE 'PendingImport' END, current_version = 0, valid_to = NULL, expiration_model = NULL WHERE key_id = ?", [keyId]);
    this.forgetMaterial(keyId);
    this.invalidate(keyId);
  }

  /** Adds a backing-key version and makes it current; earlier versions keep decrypting. */
  async rotate(tx: Queryable, key: KeyRecord, rotationType: 'AUTOMATIC' | 'ON_DEMAND', now: number): Promise<number> {
    const version = key.currentVersion + 1;
    await this.#insertVersion(tx, key.keyId, key.arn, version, rotationType, now);
    await tx.run('UPDATE kms_keys SET current_version = ? WHERE key_id = ?', [version, key.keyId]);
    this.invalidate(key.keyId);
    return version;
  }

  async get(keyId: string, q: Queryable = this.#db): Promise<KeyRecord | undefined> {
    const cached = q === this.#db;
    const now = Date.now();
    if (cached) {
      const hit = this.#records.get(keyId);
      if (hit && hit.until > now) return hit.record;
    }
    const row = await q.get<KeyRow>('SELECT * FROM kms_keys WHERE key_id = ?', [keyId]);
    const record = row ? fromRow(row) : undefined;
    if (cached && record) {
      if (this.#records.size >= RECORD_CACHE_MAX) this.#records.clear();
      this.#records.set(keyId, { record, until: now + RECORD_TTL_MS });
    }
    return record;
  }

  /** Drop cached metadata after a write (this node's writes take effect at once; RECORD_TTL_MS bounds anything else). */
  invalidate(keyId?: string): void {
    if (keyId === undefined) this.#records.clear();
    else this.#records.delete(keyId);
    this.#aliasTargets.clear();
  }

  async #aliasTarget(alias: string, q: Queryable): Promise<string | undefined> {
    const cached = q === this.#db;
    const now = Date.now();
    if (cached) {
      const hit = this.#aliasTargets.get(alias);
      if (hit && hit.until > now) return hit.keyId;
    }
    const row = await q.get<{ target_key_id: string }>('SELECT target_key_id FROM kms_aliases WHERE account_id = ? AND region = ? AND alias_name = ?', [
      this.accountId,
      this.region,
      alias,
    ]);
    if (cached && row) {
      if (this.#aliasTargets.size >= RECORD_CACHE_MAX) this.#aliasTargets.clear();
      this.#aliasTargets.set(alias, { keyId: row.target_key_id, until: now + RECORD_TTL_MS });
    }
    return row?.target_key_id;
  }

  /**
   * A key from any identifier AWS accepts: key id, key ARN and, where `aliases` is set, alias name
   * or alias ARN. Unknown identifiers, other accounts or regions: NotFoundException.
   */
  async resolve(identifier: string, opts: { aliases: boolean }, q: Queryable = this.#db): Promise<KeyRecord> {
    const notFound = () => new NotFoundException(`Key '${identifier.startsWith('arn:') || identifier.startsWith('alias/') ? identifier : this.keyArn(identifier)}' does not exist`);
    let keyId: string | undefined;
    let alias: string | undefined;
    if (identifier.startsWith('arn:')) {
      const m = /^arn:aws:kms:([^:]+):(\d{12}):(key\/.+|alias\/.+)$/.exec(identifier);
      if (!m) throw new NotFoundException(`Invalid arn ${identifier}`);
      if (m[1] !== this.region || m[2] !== this.accountId) throw notFound();
      if (m[3]!.startsWith('key/')) keyId = m[3]!.slice(4);
      else alias = m[3];
    } else if (identifier.startsWith('alias/')) alias = identifier;
    else keyId = identifier;
    if (alias !== undefined) {
      if (!opts.aliases) throw new NotFoundException(`Invalid keyId '${identifier}': use the key ID or key ARN.`);
      keyId = await this.#aliasTarget(alias, q);
      if (keyId === undefined) throw new NotFoundException(`Alias ${this.aliasArn(alias)} is not found.`);
    }
    if (!keyId || !UUID.test(keyId)) throw notFound();
    const key = await this.get(keyId, q);
    if (!key) throw notFound();
    return key;
  }

  /** The unwrapped backing key for a version, from the short-lived cache or the root of trust. */
  async backingKey(key: KeyRecord, version: number, now = Date.now()): Promise<Buffer | undefined> {
    // An unavailable root (an HSM gone) makes cached material unusable too: fail closed at once.
    try {
      this.#root.checkAvailable();
    } catch (err) {
      if (err instanceof RootUnavailableError) {
        this.#evict(now, true);
        throw rootUnavailable(err);
      }
      throw err;
    }
    const cacheKey = `${key.keyId}#${version}`;
    const hit = this.#material.get(cacheKey);
    if (hit && hit.until > now) return hit.key;
    const row = await this.#db.get<{ material_wrapped: Uint8Array }>('SELECT material_wrapped FROM kms_key_versions WHERE key_id = ? AND version = ?', [
      key.keyId,
      version,
    ]);
    if (!row) return undefined;
    let material: Buffer;
    try {
      material = await this.#root.unwrap(row.material_wrapped, materialAad(key.arn, version));
    } catch (err) {
      if (err instanceof RootUnavailableError) throw rootUnavailable(err);
      // The root of trust refused the stored material: never fall back, never guess.
      throw new KMSInternalException();
    }
    if (this.#material.size >= BACKING_KEY_CACHE_MAX) this.#evict(now, true);
    this.#material.set(cacheKey, { key: material, until: now + BACKING_KEY_TTL_MS });
    return material;
  }

  #evict(now: number, all = false): void {
    for (const [k, v] of this.#material) {
      if (all || v.until <= now) {
        v.key.fill(0);
        this.#material.delete(k);
      }
    }
  }

  /** Forget every cached backing key of a key (deletion). */
  forgetMaterial(keyId: string): void {
    for (const [k, v] of this.#material) {
      if (k.startsWith(`${keyId}#`)) {
        v.key.fill(0);
        this.#material.delete(k);
      }
    }
  }

  sweepCache(now = Date.now()): void {
    this.#evict(now);
  }

  async list(limit: number, after: string | undefined): Promise<KeyRecord[]> {
    const rows = await this.#db.all<KeyRow>(
      `SELECT * FROM kms_keys WHERE account_id = ? AND region = ? ${after !== undefined ? 'AND key_id > ?' : ''} ORDER BY key_id LIMIT ?`,
      after !== undefined ? [this.accountId, this.region, after, limit + 1] : [this.accountId, this.region, limit + 1],
    );
    return rows.map(fromRow);
  }

  async rotations(keyId: string): Promise<RotationRecord[]> {
    const rows = await this.#db.all<{ version: number; created_at: number; rotation_type: string }>(
      'SELECT version, created_at, rotation_type FROM kms_key_versions WHERE key_id = ? AND rotation_type IS NOT NULL ORDER BY version',
      [keyId],
    );
    return rows.map((r) => ({ version: Number(r.version), createdAt: Number(r.created_at), rotationType: r.rotation_type as RotationRecord['rotationType'] }));
  }

  async aliases(keyId: string | undefined, limit: number, after: string | undefined): Promise<AliasRecord[]> {
    const where = ['account_id = ?', 'region = ?'];
    const params: Array<string | number> = [this.accountId, this.region];
    if (keyId !== undefined) {
      where.push('target_key_id = ?');
      params.push(keyId);
    }
    if (after !== undefined) {
      where.push('alias_name > ?');
      params.push(after);
    }
    params.push(limit + 1);
    const rows = await this.#db.all<{ alias_name: string; target_key_id: string; created_at: number; updated_at: number }>(
      `SELECT alias_name, target_key_id, created_at, updated_at FROM kms_aliases WHERE ${where.join(' AND ')} ORDER BY alias_name LIMIT ?`,
      params,
    );
    return rows.map((r) => ({
      aliasName: r.alias_name,
      aliasArn: this.aliasArn(r.alias_name),
      targetKeyId: r.target_key_id,
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    }));
  }

  async tags(keyId: string): Promise<Array<{ TagKey: string; TagValue: string }>> {
    const rows = await this.#db.all<{ tag_key: string; tag_value: string }>('SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ? ORDER BY tag_key', [keyId]);
    return rows.map((r) => ({ TagKey: r.tag_key, TagValue: r.tag_value }));
  }

  /** Destroy a key: every backing-key version, its aliases and tags, then the key itself. */
  async destroy(tx: Queryable, keyId: string): Promise<void> {
    await tx.run('DELETE FROM kms_key_versions WHERE key_id = ?', [keyId]);
    await tx.run('DELETE FROM kms_aliases WHERE target_key_id = ?', [keyId]);
    await tx.run('DELETE FROM kms_tags WHERE key_id = ?', [keyId]);
    await tx.run('DELETE FROM kms_keys WHERE key_id = ?', [keyId]);
    this.forgetMaterial(keyId);
    this.invalidate(keyId);
  }
}
