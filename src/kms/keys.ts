import { createHash, createHmac, createSecretKey, randomUUID, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Database, Queryable } from '../store/database.ts';
import { RootUnavailableError, type RootOfTrust } from '../root/root-of-trust.ts';
import { AwsError } from '../wire/errors.ts';
import { randomBytes } from '../crypto/random.ts';
import { DisabledException, IncorrectKeyMaterialException, InvalidMarkerException, KMSInternalException, KMSInvalidStateException, NotFoundException } from './errors.ts';

export type ImportType = 'NEW_KEY_MATERIAL' | 'EXISTING_KEY_MATERIAL';

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
  /** The id of the current version's material (null before any import, or for versions made before ids existed). */
  currentKeyMaterialId: string | null;
  /** Keys in custom key stores: the store, its cluster (AWS_CLOUDHSM) or the external key (EXTERNAL_KEY_STORE). */
  customKeyStoreId: string | null;
  cloudHsmClusterId: string | null;
  xksKeyId: string | null;
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
  current_key_material_id: string | null;
  custom_key_store_id?: string | null;
  cloud_hsm_cluster_id?: string | null;
  xks_key_id?: string | null;
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
    currentKeyMaterialId: r.current_key_material_id ?? null,
    customKeyStoreId: r.custom_key_store_id ?? null,
    cloudHsmClusterId: r.cloud_hsm_cluster_id ?? null,
    xksKeyId: r.xks_key_id ?? null,
  };
}

/** A key row with the id of its current material and, for a key in an AWS_CLOUDHSM key store, the store's cluster. */
const KEY_SELECT = `SELECT k.*, v.key_material_id AS current_key_material_id, s.cloud_hsm_cluster_id AS cloud_hsm_cluster_id FROM kms_keys k
  LEFT JOIN kms_key_versions v ON v.key_id = k.key_id AND v.version = k.current_version
  LEFT JOIN kms_custom_key_stores s ON s.custom_key_store_id = k.custom_key_store_id`;

export interface AliasRecord {
  aliasName: string;
  aliasArn: string;
  targetKeyId: string;
  createdAt: number;
  updatedAt: number;
}

/** One key material of a key (a backing-key version), as ListKeyRotations shows it. */
export interface MaterialRecord {
  version: number;
  keyMaterialId: string | null;
  createdAt: number;
  /** Set once the material became current through a rotation; null for the first material and one pending rotation. */
  rotationType: 'AUTOMATIC' | 'ON_DEMAND' | null;
  rotatedAt: number | null;
  /** Imported material that was deleted or expired: the key waits for it to be imported again. */
  imported: boolean;
  description: string | null;
  expirationModel: string | null;
  validTo: number | null;
}

interface MaterialRow {
  version: number;
  key_material_id: string | null;
  created_at: number;
  rotation_type: string | null;
  rotated_at: number | null;
  imported: number;
  description: string | null;
  expiration_model: string | null;
  valid_to: number | null;
}

const MATERIAL_SELECT = `SELECT version, key_material_id, created_at, rotation_type, rotated_at, CASE WHEN material_wrapped IS NULL THEN 0 ELSE 1 END AS imported,
  description, expiration_model, valid_to FROM kms_key_versions`;

function materialFromRow(r: MaterialRow): MaterialRecord {
  return {
    version: Number(r.version),
    keyMaterialId: r.key_material_id,
    createdAt: Number(r.created_at),
    rotationType: r.rotation_type as MaterialRecord['rotationType'],
    rotatedAt: n(r.rotated_at),
    imported: Number(r.imported) === 1,
    description: r.description,
    expirationModel: r.expiration_model,
    validTo: n(r.valid_to),
  };
}

/**
 * A key material's id as AWS describes it, from the key and the material: 64 hex characters, the same for the
 * same material imported again into the same key (so a re-import names the material it restores), and
 * revealing nothing of the material (HMAC-SHA256 keyed by the material, over the key ARN).
 */
export function keyMaterialId(arn: string, material: Buffer): string {
  return createHmac('sha256', material).update(`trent:kms:key-material-id:${arn}`).digest('hex');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Multi-Region key ids (which Trent does not make, but recognises as well-formed). */
const MRK_ID = /^mrk-[0-9a-f]{32}$/;
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
  if (key.keyState === 'PendingImport') throw new KMSInvalidStateException(`${key.arn} is pending import.`);
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
  readonly #material = new Map<string, { key: Buffer; secret: KeyObject; id: string; until: number }>();
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
      /** The key's id when it had to be known before its record (its material was generated in a token under it). */
      keyId?: string;
      /** A key in a custom key store; `inToken` when its only material is in the store's token (AWS_CLOUDHSM). */
      customKeyStore?: { id: string; xksKeyId?: string; inToken?: boolean };
    },
  ): Promise<KeyRecord> {
    const keyId = init.keyId ?? randomUUID();
    const arn = this.keyArn(keyId);
    const rotation = init.rotationPeriodDays !== undefined;
    await tx.run(
      `INSERT INTO kms_keys (key_id, account_id, region, arn, description, key_state, key_usage, key_spec, origin, key_manager, policy, created_at,
                             rotation_enabled, rotation_period_days, next_rotation_at, current_version, custom_key_store_id, xks_key_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
        init.customKeyStore?.id ?? null,
        init.customKeyStore?.xksKeyId ?? null,
      ],
    );
    if (!init.external && !init.customKeyStore?.inToken) await this.#insertVersion(tx, keyId, arn, 1, null, init.now, init.material);
    return (await this.get(keyId, tx))!;
  }

  async #insertVersion(
    tx: Queryable,
    keyId: string,
    arn: string,
    version: number,
    rotationType: string | null,
    now: number,
    given?: Buffer,
    imported?: { description: string | null; expirationModel: string; validTo: number | null },
  ): Promise<string> {
    // A copy: the caller keeps its buffer (a PostgreSQL transaction may run this body again after a serialization failure).
    const material = given ? Buffer.from(given) : randomBytes(32);
    try {
      const wrapped = await this.#root.wrap(material, materialAad(arn, version));
      const id = keyMaterialId(arn, material);
      await tx.run(
        `INSERT INTO kms_key_versions (key_id, version, material_wrapped, created_at, rotation_type, rotated_at, key_material_id, description, expiration_model, valid_to)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [keyId, version, wrapped, now, rotationType, rotationType ? now : null, id, imported?.description ?? null, imported?.expirationModel ?? null, imported?.validTo ?? null],
      );
      return id;
    } finally {
      material.fill(0);
    }
  }

  /**
   * ImportKeyMaterial, as AWS defines it for EXTERNAL keys. NEW_KEY_MATERIAL: the first material becomes the
   * current one (version 1); later ones (symmetric keys only, checked by the caller) wait as the material
   * pending rotation until RotateKeyOnDemand. EXISTING_KEY_MATERIAL: the bytes must be a material already
   * associated with the key (matched by its key material id); it is stored again with the expiry given.
   * Without ImportType: NEW for a key that never had material, EXISTING afterwards.
   */
  async importMaterial(
    tx: Queryable,
    key: KeyRecord,
    material: Buffer,
    opts: { importType?: ImportType; keyMaterialId?: string; description?: string; validTo: number | null; expirationModel: string; now: number },
  ): Promise<{ keyMaterialId: string; pending: boolean }> {
    const id = keyMaterialId(key.arn, material);
    const rows = await tx.all<{ version: number; key_material_id: string | null }>('SELECT version, key_material_id FROM kms_key_versions WHERE key_id = ? ORDER BY version', [key.keyId]);
    const legacy = await tx.get<{ f: Uint8Array | null; current_version: number }>('SELECT import_fingerprint_wrapped AS f, current_version FROM kms_keys WHERE key_id = ?', [key.keyId]);
    const current = Number(legacy?.current_version ?? 0);
    const type = opts.importType ?? (rows.length > 0 || legacy?.f ? 'EXISTING_KEY_MATERIAL' : 'NEW_KEY_MATERIAL');
    const expiry = { description: opts.description ?? null, expirationModel: opts.expirationModel, validTo: opts.validTo };
    let pending = false;
    if (type === 'NEW_KEY_MATERIAL') {
      if (rows.some((r) => r.key_material_id === id)) {
        throw new IncorrectKeyMaterialException(`This key material is already associated with ${key.arn}: import it with ImportType EXISTING_KEY_MATERIAL.`);
      }
      if (rows.length === 0 && !legacy?.f) {
        await this.#insertVersion(tx, key.keyId, key.arn, 1, null, opts.now, material, expiry);
        await tx.run('UPDATE kms_keys SET current_version = 1 WHERE key_id = ?', [key.keyId]);
      } else {
        const top = rows.length ? Number(rows[rows.length - 1]!.version) : current;
        if (top > current) throw new KMSInvalidStateException(`${key.arn} already has key material pending rotation: rotate to it with RotateKeyOnDemand, or delete it first.`);
        await this.#insertVersion(tx, key.keyId, key.arn, top + 1, null, opts.now, material, expiry);
        pending = true;
      }
    } else {
      let match = rows.find((r) => r.key_material_id === id);
      if (!match && legacy?.f && rows.every((r) => r.key_material_id === null)) {
        // Material imported before key material ids: the key kept a wrapped fingerprint of its one material.
        const earlier = await this.#root.unwrap(legacy.f, Buffer.from(`trent:kms:import-fingerprint:${key.arn}`));
        if (timingSafeEqual(earlier, createHash('sha256').update(material).digest())) match = rows[0] ?? { version: 1, key_material_id: null };
      }
      if (!match || (opts.keyMaterialId !== undefined && opts.keyMaterialId !== id)) {
        throw new IncorrectKeyMaterialException(`The key material is not ${opts.keyMaterialId !== undefined ? `key material ${opts.keyMaterialId}` : 'a material previously imported into'} ${key.arn}.`);
      }
      const version = Number(match.version);
      if (!rows.some((r) => Number(r.version) === version)) {
        await this.#insertVersion(tx, key.keyId, key.arn, version, null, opts.now, material, expiry);
        await tx.run('UPDATE kms_keys SET current_version = ? WHERE key_id = ?', [version, key.keyId]);
      } else {
        const copy = Buffer.from(material);
        try {
          await tx.run(
            'UPDATE kms_key_versions SET material_wrapped = ?, key_material_id = ?, description = COALESCE(?, description), expiration_model = ?, valid_to = ? WHERE key_id = ? AND version = ?',
            [await this.#root.wrap(copy, materialAad(key.arn, version)), id, opts.description ?? null, opts.expirationModel, opts.validTo, key.keyId, version],
          );
        } finally {
          copy.fill(0);
        }
      }
      pending = version > current;
    }
    await this.#settleMaterials(tx, key.keyId);
    this.forgetMaterial(key.keyId);
    this.invalidate(key.keyId);
    return { keyMaterialId: id, pending };
  }

  /**
   * After any change to a key's imported materials: its ValidTo is the earliest of the materials permanently
   * associated with it (not one pending rotation), and it is usable only while all of them are imported.
   */
  async #settleMaterials(tx: Queryable, keyId: string): Promise<void> {
    const s = await tx.get<{ valid_to: number | null; present: number; missing: number; current_version: number }>(
      `SELECT MIN(CASE WHEN v.material_wrapped IS NOT NULL THEN v.valid_to END) AS valid_to,
              SUM(CASE WHEN v.material_wrapped IS NOT NULL THEN 1 ELSE 0 END) AS present,
              SUM(CASE WHEN v.material_wrapped IS NULL THEN 1 ELSE 0 END) AS missing,
              MAX(k.current_version) AS current_version
       FROM kms_keys k LEFT JOIN kms_key_versions v ON v.key_id = k.key_id AND v.version <= k.current_version
       WHERE k.key_id = ?`,
      [keyId],
    );
    const validTo = s?.valid_to === null || s?.valid_to === undefined ? null : Number(s.valid_to);
    const usable = Number(s?.current_version ?? 0) > 0 && Number(s?.missing ?? 0) === 0;
    const model = validTo !== null ? 'KEY_MATERIAL_EXPIRES' : Number(s?.present ?? 0) > 0 ? 'KEY_MATERIAL_DOES_NOT_EXPIRE' : null;
    await tx.run(
      `UPDATE kms_keys SET valid_to = ?, expiration_model = ?,
         key_state = CASE WHEN key_state = 'PendingDeletion' THEN key_state WHEN ? = 0 THEN 'PendingImport' WHEN key_state = 'PendingImport' THEN 'Enabled' ELSE key_state END
       WHERE key_id = ?`,
      [validTo, model, usable ? 1 : 0, keyId],
    );
  }

  /** Import wrapping keys live for a day, wrapped by the root like any other key, bound to their token. */
  wrapForImport(privateKeyDer: Buffer, tokenHash: string): Promise<Buffer> {
    return this.#root.wrap(privateKeyDer, Buffer.from(`trent:kms:import-wrapping-key:${tokenHash}`));
  }

  unwrapForImport(wrapped: Buffer, tokenHash: string): Promise<Buffer> {
    return this.#root.unwrap(wrapped, Buffer.from(`trent:kms:import-wrapping-key:${tokenHash}`));
  }

  /**
   * DeleteImportedKeyMaterial (the current material unless another is named) or its ValidTo has passed. Material
   * pending rotation is not yet associated with the key and goes entirely; any other keeps its id and waits,
   * with the key PendingImport, to be imported again. Returns the id of the material deleted.
   */
  async dropMaterial(tx: Queryable, keyId: string, which?: string): Promise<string | null | undefined> {
    const key = await tx.get<{ current_version: number }>('SELECT current_version FROM kms_keys WHERE key_id = ?', [keyId]);
    const current = Number(key?.current_version ?? 0);
    const row =
      which !== undefined
        ? await tx.get<{ version: number; key_material_id: string | null }>('SELECT version, key_material_id FROM kms_key_versions WHERE key_id = ? AND key_material_id = ?', [keyId, which])
        : await tx.get<{ version: number; key_material_id: string | null }>('SELECT version, key_material_id FROM kms_key_versions WHERE key_id = ? AND version = ?', [keyId, current]);
    if (!row) {
      if (which !== undefined) throw new NotFoundException(`Key material ${which} is not associated with the key.`);
      return undefined;
    }
    await this.#deleteVersionMaterial(tx, keyId, Number(row.version), current);
    await this.#settleMaterials(tx, keyId);
    this.forgetMaterial(keyId);
    this.invalidate(keyId);
    return row.key_material_id;
  }

  async #deleteVersionMaterial(tx: Queryable, keyId: string, version: number, current: number): Promise<void> {
    if (version > current) await tx.run('DELETE FROM kms_key_versions WHERE key_id = ? AND version = ?', [keyId, version]);
    else await tx.run('UPDATE kms_key_versions SET material_wrapped = NULL, expiration_model = NULL, valid_to = NULL WHERE key_id = ? AND version = ?', [keyId, version]);
  }

  /** Delete every imported material of a key whose ValidTo has passed; how many went. */
  async expireMaterials(tx: Queryable, keyId: string, now: number): Promise<number> {
    const key = await tx.get<{ current_version: number }>('SELECT current_version FROM kms_keys WHERE key_id = ?', [keyId]);
    const due = await tx.all<{ version: number }>('SELECT version FROM kms_key_versions WHERE key_id = ? AND material_wrapped IS NOT NULL AND valid_to IS NOT NULL AND valid_to <= ?', [keyId, now]);
    for (const r of due) await this.#deleteVersionMaterial(tx, keyId, Number(r.version), Number(key?.current_version ?? 0));
    if (due.length) {
      await this.#settleMaterials(tx, keyId);
      this.forgetMaterial(keyId);
      this.invalidate(keyId);
    }
    return due.length;
  }

  /** Keys holding imported material whose ValidTo has passed (for the sweep). */
  async keysWithExpiredMaterial(now: number): Promise<string[]> {
    const rows = await this.#db.all<{ key_id: string }>('SELECT DISTINCT key_id FROM kms_key_versions WHERE valid_to IS NOT NULL AND valid_to <= ? AND material_wrapped IS NOT NULL', [now]);
    return rows.map((r) => r.key_id);
  }

  /** Adds a backing-key version and makes it current; earlier versions keep decrypting. */
  async rotate(tx: Queryable, key: KeyRecord, rotationType: 'AUTOMATIC' | 'ON_DEMAND', now: number): Promise<number> {
    const version = key.currentVersion + 1;
    await this.#insertVersion(tx, key.keyId, key.arn, version, rotationType, now);
    await tx.run('UPDATE kms_keys SET current_version = ? WHERE key_id = ?', [version, key.keyId]);
    this.invalidate(key.keyId);
    return version;
  }

  /**
   * RotateKeyOnDemand for imported material: the material pending rotation becomes current; the one it
   * replaces keeps decrypting. Without material pending rotation: KMSInvalidStateException, as on AWS.
   */
  async rotateToImported(tx: Queryable, key: KeyRecord, now: number): Promise<number> {
    const row = await tx.get<{ version: number }>('SELECT version FROM kms_key_versions WHERE key_id = ? AND version > ? AND material_wrapped IS NOT NULL ORDER BY version LIMIT 1', [
      key.keyId,
      key.currentVersion,
    ]);
    if (!row) throw new KMSInvalidStateException(`${key.arn} has no imported key material pending rotation: import new key material with ImportType NEW_KEY_MATERIAL first.`);
    const version = Number(row.version);
    await tx.run("UPDATE kms_key_versions SET rotation_type = 'ON_DEMAND', rotated_at = ? WHERE key_id = ? AND version = ?", [now, key.keyId, version]);
    await tx.run('UPDATE kms_keys SET current_version = ? WHERE key_id = ?', [version, key.keyId]);
    await this.#settleMaterials(tx, key.keyId);
    this.invalidate(key.keyId);
    return version;
  }

  /**
   * Versions made before key material ids existed get theirs, computed from the material (a bounded batch per
   * call; KmsJobs runs it until none is left). Imported material that is not there keeps waiting for its import.
   */
  async fillMaterialIds(limit = 100): Promise<number> {
    const rows = await this.#db.all<{ key_id: string; version: number; arn: string; material_wrapped: Uint8Array }>(
      `SELECT v.key_id, v.version, k.arn, v.material_wrapped FROM kms_key_versions v JOIN kms_keys k ON k.key_id = v.key_id
       WHERE v.key_material_id IS NULL AND v.material_wrapped IS NOT NULL LIMIT ?`,
      [limit],
    );
    for (const r of rows) {
      const material = await this.#root.unwrap(r.material_wrapped, materialAad(r.arn, Number(r.version)));
      try {
        await this.#db.run('UPDATE kms_key_versions SET key_material_id = ? WHERE key_id = ? AND version = ? AND key_material_id IS NULL', [keyMaterialId(r.arn, material), r.key_id, r.version]);
      } finally {
        material.fill(0);
      }
      this.invalidate(r.key_id);
    }
    return rows.length;
  }

  async get(keyId: string, q: Queryable = this.#db): Promise<KeyRecord | undefined> {
    const cached = q === this.#db;
    const now = Date.now();
    if (cached) {
      const hit = this.#records.get(keyId);
      if (hit && hit.until > now) return hit.record;
    }
    const row = await q.get<KeyRow>(`${KEY_SELECT} WHERE k.key_id = ?`, [keyId]);
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
    const notFound = () => new NotFoundException(`Key '${identifier.startsWith('arn:') ? identifier : this.keyArn(identifier)}' does not exist`);
    let keyId: string | undefined;
    let alias: string | undefined;
    if (identifier.startsWith('arn:')) {
      const m = /^arn:aws:kms:([^:]+):(\d{12}):(key\/.+|alias\/.+)$/.exec(identifier);
      if (!m) throw new NotFoundException(`Invalid arn ${identifier}`);
      // AWS names the region of an ARN from another region.
      if (m[1] !== this.region) throw new NotFoundException(`Invalid arn ${m[1]}`);
      if (m[2] !== this.accountId) throw notFound();
      if (m[3]!.startsWith('key/')) keyId = m[3]!.slice(4);
      else alias = m[3];
    } else if (identifier.startsWith('alias/')) alias = identifier;
    else keyId = identifier;
    if (alias !== undefined) {
      if (!opts.aliases) throw new NotFoundException(`Invalid keyId '${identifier}'`);
      keyId = await this.#aliasTarget(alias, q);
      if (keyId === undefined) throw new NotFoundException(`Alias ${this.aliasArn(alias)} is not found.`);
    }
    // A key id that cannot be one (not a UUID, nor a multi-Region mrk- id) is named as invalid, as AWS names it.
    if (!keyId || (!UUID.test(keyId) && !MRK_ID.test(keyId))) {
      if (identifier.startsWith('arn:')) throw notFound();
      throw new NotFoundException(`Invalid keyId '${identifier}'`);
    }
    const key = UUID.test(keyId) ? await this.get(keyId, q) : undefined;
    if (!key) throw notFound();
    return key;
  }

  /** The unwrapped backing key for a version, from the short-lived cache or the root of trust. */
  async backingKey(key: KeyRecord, version: number, now = Date.now()): Promise<Buffer | undefined> {
    return (await this.material(key, version, now))?.key;
  }

  /** A version's backing key with its key material id; undefined when the version has no material (deleted, expired or never imported). */
  async material(key: KeyRecord, version: number, now = Date.now()): Promise<{ key: Buffer; id: string; secret: KeyObject } | undefined> {
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
    if (hit && hit.until > now) return hit;
    const row = await this.#db.get<{ material_wrapped: Uint8Array | null; key_material_id: string | null }>(
      'SELECT material_wrapped, key_material_id FROM kms_key_versions WHERE key_id = ? AND version = ?',
      [key.keyId, version],
    );
    if (!row?.material_wrapped) return undefined;
    let material: Buffer;
    try {
      material = await this.#root.unwrap(row.material_wrapped, materialAad(key.arn, version));
    } catch (err) {
      if (err instanceof RootUnavailableError) throw rootUnavailable(err);
      // The root of trust refused the stored material: never fall back, never guess.
      throw new KMSInternalException();
    }
    if (this.#material.size >= BACKING_KEY_CACHE_MAX) this.#evict(now, true);
    // The same material as an OpenSSL key object: HKDF would otherwise build one from the bytes on every call.
    const entry = { key: material, secret: createSecretKey(material), id: row.key_material_id ?? keyMaterialId(key.arn, material), until: now + BACKING_KEY_TTL_MS };
    this.#material.set(cacheKey, entry);
    return entry;
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
      `${KEY_SELECT} WHERE k.account_id = ? AND k.region = ? ${after !== undefined ? 'AND k.key_id > ?' : ''} ORDER BY k.key_id LIMIT ?`,
      after !== undefined ? [this.accountId, this.region, after, limit + 1] : [this.accountId, this.region, limit + 1],
    );
    return rows.map(fromRow);
  }

  /** Every material of a key, oldest first. */
  async materials(keyId: string): Promise<MaterialRecord[]> {
    return (await this.#db.all<MaterialRow>(`${MATERIAL_SELECT} WHERE key_id = ? ORDER BY version`, [keyId])).map(materialFromRow);
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
