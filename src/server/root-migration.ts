import type { Database, SqlValue } from '../store/database.ts';
import type { RootOfTrust } from '../root/root-of-trust.ts';
import { accessKeyAad, sessionAad } from '../iam/identities.ts';
import { materialAad } from '../kms/keys.ts';
import { keyStorePasswordAad, xksSecretAad } from '../kms/custom-key-stores.ts';
import { xksProxyCredentialAad } from '../kms/xks-proxy.ts';
import { serviceKeyAad } from '../s3/sse.ts';
import { signingKeyAad } from '../trail/signing.ts';

/** Every column that holds a value wrapped by the root of trust, with how to rebuild its AAD. */
interface WrappedColumn {
  name: string;
  select: string;
  update: string;
  aad: (row: Record<string, unknown>) => Buffer;
  key: (row: Record<string, unknown>) => SqlValue[];
}

const COLUMNS: WrappedColumn[] = [
  {
    name: 'IAM access keys',
    select: 'SELECT access_key_id, secret_wrapped AS wrapped FROM access_keys WHERE substr(secret_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE access_keys SET secret_wrapped = ? WHERE access_key_id = ? AND secret_wrapped = ?',
    aad: (r) => accessKeyAad(String(r['access_key_id'])),
    key: (r) => [String(r['access_key_id'])],
  },
  {
    name: 'STS session keys',
    select: 'SELECT access_key_id, secret_wrapped AS wrapped FROM sts_sessions WHERE substr(secret_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE sts_sessions SET secret_wrapped = ? WHERE access_key_id = ? AND secret_wrapped = ?',
    aad: (r) => sessionAad(String(r['access_key_id'])),
    key: (r) => [String(r['access_key_id'])],
  },
  {
    name: 'KMS backing keys',
    select: `SELECT v.key_id, v.version, k.arn, v.material_wrapped AS wrapped FROM kms_key_versions v JOIN kms_keys k ON k.key_id = v.key_id
              WHERE substr(v.material_wrapped, 1, 1) = ? LIMIT ?`,
    update: 'UPDATE kms_key_versions SET material_wrapped = ? WHERE key_id = ? AND version = ? AND material_wrapped = ?',
    aad: (r) => materialAad(String(r['arn']), Number(r['version'])),
    key: (r) => [String(r['key_id']), Number(r['version'])],
  },
  {
    name: 'KMS import fingerprints',
    select: 'SELECT key_id, arn, import_fingerprint_wrapped AS wrapped FROM kms_keys WHERE substr(import_fingerprint_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE kms_keys SET import_fingerprint_wrapped = ? WHERE key_id = ? AND import_fingerprint_wrapped = ?',
    aad: (r) => Buffer.from(`trent:kms:import-fingerprint:${String(r['arn'])}`),
    key: (r) => [String(r['key_id'])],
  },
  {
    name: 'KMS import wrapping keys',
    select: 'SELECT token_hash, wrapping_key_wrapped AS wrapped FROM kms_import_parameters WHERE substr(wrapping_key_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE kms_import_parameters SET wrapping_key_wrapped = ? WHERE token_hash = ? AND wrapping_key_wrapped = ?',
    aad: (r) => Buffer.from(`trent:kms:import-wrapping-key:${String(r['token_hash'])}`),
    key: (r) => [String(r['token_hash'])],
  },
  {
    name: 'KMS custom key store passwords',
    select: 'SELECT custom_key_store_id, password_wrapped AS wrapped FROM kms_custom_key_stores WHERE substr(password_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE kms_custom_key_stores SET password_wrapped = ? WHERE custom_key_store_id = ? AND password_wrapped = ?',
    aad: (r) => keyStorePasswordAad(String(r['custom_key_store_id'])),
    key: (r) => [String(r['custom_key_store_id'])],
  },
  {
    name: 'KMS external key store proxy secrets',
    select: 'SELECT custom_key_store_id, xks_secret_wrapped AS wrapped FROM kms_custom_key_stores WHERE substr(xks_secret_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE kms_custom_key_stores SET xks_secret_wrapped = ? WHERE custom_key_store_id = ? AND xks_secret_wrapped = ?',
    aad: (r) => xksSecretAad(String(r['custom_key_store_id'])),
    key: (r) => [String(r['custom_key_store_id'])],
  },
  {
    name: 'KMS XKS proxy credentials',
    select: 'SELECT access_key_id, secret_wrapped AS wrapped FROM kms_xks_proxy_credentials WHERE substr(secret_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE kms_xks_proxy_credentials SET secret_wrapped = ? WHERE access_key_id = ? AND secret_wrapped = ?',
    aad: (r) => xksProxyCredentialAad(String(r['access_key_id'])),
    key: (r) => [String(r['access_key_id'])],
  },
  {
    name: 'S3 service keys (SSE-S3)',
    select: 'SELECT service_key_id, wrapped FROM s3_service_keys WHERE substr(wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE s3_service_keys SET wrapped = ? WHERE service_key_id = ? AND wrapped = ?',
    aad: (r) => serviceKeyAad(String(r['service_key_id'])),
    key: (r) => [String(r['service_key_id'])],
  },
  {
    name: 'CloudTrail digest signing keys',
    select: 'SELECT fingerprint, private_wrapped AS wrapped FROM ct_signing_keys WHERE substr(private_wrapped, 1, 1) = ? LIMIT ?',
    update: 'UPDATE ct_signing_keys SET private_wrapped = ? WHERE fingerprint = ? AND private_wrapped = ?',
    aad: (r) => signingKeyAad(String(r['fingerprint'])),
    key: (r) => [String(r['fingerprint'])],
  },
];

export interface MigrationProgress {
  column: string;
  done: number;
}

/**
 * Re-wrap every value from one root to another. The migration is marked in the instance settings
 * before the first value moves, each batch commits on its own (compare-and-set on the old value),
 * and the directory switches to the new root only once nothing wrapped by the old one is left.
 * Killed at any point, the directory still works (values carry the mark of their root) and running
 * the migration again finishes it.
 */
export async function migrateRoot(db: Database, from: RootOfTrust, to: RootOfTrust, onProgress: (p: MigrationProgress) => void, batch = 25): Promise<number> {
  await db.transaction(async (tx) => {
    for (const [name, value] of [
      ['root_migration', to.kind],
      ['root_migration_key_check', to.keyCheckValue],
    ] as const) {
      await tx.run('INSERT INTO instance (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [name, value]);
    }
  });
  const prefix = Buffer.of(from.wrapPrefix);
  let total = 0;
  for (const column of COLUMNS) {
    let done = 0;
    for (;;) {
      const rows = await db.all<Record<string, unknown>>(column.select, [prefix, batch]);
      if (rows.length === 0) break;
      await db.transaction(async (tx) => {
        for (const row of rows) {
          const old = row['wrapped'] as Uint8Array;
          const plain = await from.unwrap(old, column.aad(row));
          try {
            const fresh = await to.wrap(plain, column.aad(row));
            await tx.run(column.update, [fresh, ...column.key(row), old]);
          } finally {
            plain.fill(0);
          }
        }
      });
      done += rows.length;
      total += rows.length;
      onProgress({ column: column.name, done });
    }
  }
  await db.transaction(async (tx) => {
    await tx.run("INSERT INTO instance (name, value) VALUES ('root_kind', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [to.kind]);
    await tx.run("UPDATE instance SET value = ? WHERE name = 'root_key_check'", [to.keyCheckValue]);
    await tx.run("DELETE FROM instance WHERE name IN ('root_migration', 'root_migration_key_check')");
  });
  return total;
}
