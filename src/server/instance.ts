import { mkdir, stat, chmod, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { accountId as newAccountId } from '../crypto/random.ts';
import { ADMINISTRATOR_ACCESS, IdentityStore } from '../iam/identities.ts';
import { KeyFileRoot } from '../root/keyfile.ts';
import { RootKeyError, type RootOfTrust } from '../root/root-of-trust.ts';
import { Pkcs11Root, type Pkcs11Options } from '../root/pkcs11.ts';
import { MigratingRoot } from '../root/dual.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Database } from '../store/database.ts';
import { FsBlobStore } from '../store/fs-blob-store.ts';
import { migrations } from '../store/migrations.ts';
import { trailMigrations } from '../trail/store.ts';
import { SqliteDatabase } from '../store/sqlite.ts';
import { PostgresDatabase } from '../store/postgres.ts';
import { S3BlobStore } from '../store/s3-blob-store.ts';
import { instancePaths, isPostgresUrl, isS3Url, sqliteFiles, type InstancePaths } from './instance-paths.ts';

// The data directory's paths and plain files live in a module of their own, light enough for commands that must start fast.
export { instancePaths, isPostgresUrl, isS3Url, readCredentialsFile, sqliteFiles, type InstancePaths } from './instance-paths.ts';

export interface InstanceOptions {
  dataDir: string;
  /** Only used when the data directory is initialised. */
  region?: string;
  /** Seals a new root key file, or opens a sealed one. */
  rootPassphrase?: string;
  /** The root of trust to use: the key file (default) or a PKCS#11 token. */
  pkcs11?: Pkcs11Options;
  /** Opened by a command beside a possibly running server (`trent trail ...`): leave the server's temp files alone. */
  beside?: boolean;
  /**
   * The metadata and audit store: a `postgres://` (or `postgresql://`) URL, shared by every node of a cluster
   * (metadata in schema `trent`, audit records in schema `trent_trail`); or a SQLite file for the metadata (the
   * default: trent.db in the data directory, with trail.db beside it).
   */
  db?: string;
  /** The blob store: an `s3://BUCKET[/PREFIX]?endpoint=...` URL shared by every node, or a directory (default: blobs/ in the data directory). */
  blobs?: string;
}

/** A data directory's metadata or audit database, on PostgreSQL (`db` a postgres:// URL) or SQLite. */
export async function openDatabase(store: 'metadata' | 'trail', dataDir: string, db?: string): Promise<Database> {
  if (isPostgresUrl(db)) {
    // Audit appends all conflict on the sequence number: they take turns instead of retrying (src/store/postgres.ts).
    return store === 'trail' ? PostgresDatabase.open(db!, { schema: 'trent_trail', writers: 'locked' }) : PostgresDatabase.open(db!, { schema: 'trent' });
  }
  const files = sqliteFiles(dataDir, db);
  return SqliteDatabase.open(store === 'trail' ? files.trailDatabase : files.database);
}

/** Where a description of the store goes (start-up banner, logs): the URL without its password. */
export function describeStore(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

const ADMIN_USER = 'admin';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * A Trent data directory, opened and, on first start, initialised: account id, region, root key,
 * database schema, the admin user and its access key, and the credentials file. Every step is
 * idempotent and written atomically, so a crash during initialisation is finished by the next start.
 */
export class Instance {
  readonly paths: InstancePaths;
  readonly db: Database;
  readonly trailDb: Database;
  readonly root: RootOfTrust;
  readonly blobs: BlobStore;
  readonly identities: IdentityStore;
  readonly accountId: string;
  readonly region: string;
  readonly adminAccessKeyId: string;

  private constructor(init: Omit<Instance, 'close'>) {
    this.paths = init.paths;
    this.db = init.db;
    this.trailDb = init.trailDb;
    this.root = init.root;
    this.blobs = init.blobs;
    this.identities = init.identities;
    this.accountId = init.accountId;
    this.region = init.region;
    this.adminAccessKeyId = init.adminAccessKeyId;
  }

  static async open(opts: InstanceOptions): Promise<Instance> {
    const paths = { ...instancePaths(opts.dataDir), ...(isPostgresUrl(opts.db) ? {} : sqliteFiles(opts.dataDir, opts.db)) };
    await mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
    await chmod(paths.dataDir, 0o700);

    const db = await openDatabase('metadata', opts.dataDir, opts.db);
    const trailDb = await openDatabase('trail', opts.dataDir, opts.db).catch(async (e: unknown) => {
      await db.close();
      throw e;
    });
    let root: RootOfTrust | undefined;
    try {
      await db.migrate(migrations);
      await trailDb.migrate(trailMigrations);
      const before = await readSettings(db);
      root = await openRoot(paths, before, opts);
      const identities = new IdentityStore(db, root);
      const settings = await db.transaction(async (tx) => {
        const rows = await tx.all<{ name: string; value: string }>('SELECT name, value FROM instance');
        const s = new Map(rows.map((r) => [r.name, r.value]));
        if (!s.has('account_id')) {
          const accountId = newAccountId();
          const region = opts.region ?? 'us-east-1';
          const { userId } = await identities.createUser(tx, accountId, ADMIN_USER);
          await tx.run('INSERT INTO iam_user_policies (user_id, policy_name, document) VALUES (?, ?, ?)', [userId, 'AdministratorAccess', ADMINISTRATOR_ACCESS]);
          const { accessKeyId } = await identities.createAccessKey(tx, userId);
          for (const [name, value] of [
            ['account_id', accountId],
            ['region', region],
            ['root_kind', root!.kind],
            ['root_key_check', root!.keyCheckValue],
            ['admin_access_key_id', accessKeyId],
            ['created_at', new Date().toISOString()],
          ] as const) {
            await tx.run('INSERT INTO instance (name, value) VALUES (?, ?)', [name, value]);
            s.set(name, value);
          }
        }
        return s;
      });
      // Two nodes initialising one shared database at once: the one that lost the race made its own root key.
      if (settings.get('root_key_check') !== undefined && settings.get('root_key_check') !== root.keyCheckValue && !settings.has('root_migration')) {
        throw new RootKeyError('this node\'s root key is not the one the shared database was initialised with: copy root.key (or use the same HSM key) from the first node');
      }
      if (opts.region && opts.region !== settings.get('region')) {
        throw new Error(`this data directory serves region ${settings.get('region')}; it cannot be changed to ${opts.region}`);
      }
      const instance = new Instance({
        paths,
        db,
        trailDb,
        root,
        blobs: isS3Url(opts.blobs) ? await S3BlobStore.open(opts.blobs!) : await FsBlobStore.open(opts.blobs ? resolve(opts.blobs) : paths.blobs, { sweep: !opts.beside }),
        identities,
        accountId: settings.get('account_id')!,
        region: settings.get('region')!,
        adminAccessKeyId: settings.get('admin_access_key_id')!,
      });
      await instance.#writeCredentialsFile();
      return instance;
    } catch (err) {
      await db.close().catch(() => {});
      await trailDb.close().catch(() => {});
      await root?.close();
      throw err;
    }
  }

  /** The admin's keys as an AWS shared-credentials file, readable by its owner only. */
  async #writeCredentialsFile(): Promise<void> {
    const secret = await this.identities.revealSecret(this.adminAccessKeyId);
    if (!secret) throw new Error('the admin access key is missing or inactive');
    const text = `# Trent admin credentials (account ${this.accountId}). Keep this file private.\n[default]\naws_access_key_id = ${this.adminAccessKeyId}\naws_secret_access_key = ${secret}\nregion = ${this.region}\n`;
    const current = await readFile(this.paths.credentials, 'utf8').catch(() => undefined);
    if (current !== text) await writeFileAtomic(this.paths.credentials, text, 0o600);
    else await chmod(this.paths.credentials, 0o600);
  }

  async close(): Promise<void> {
    await this.db.close();
    await this.trailDb.close();
    await this.root.close();
  }
}

export async function readSettings(db: Database): Promise<Map<string, string>> {
  const rows = await db.all<{ name: string; value: string }>('SELECT name, value FROM instance');
  return new Map(rows.map((r) => [r.name, r.value]));
}

/**
 * The root of trust a data directory uses, as its settings record it: the key file, a PKCS#11
 * token, or both while a migration between them is unfinished. A root whose key check value differs
 * from the recorded one is refused before anything is unwrapped.
 */
async function openRoot(paths: InstancePaths, settings: Map<string, string>, opts: InstanceOptions): Promise<RootOfTrust> {
  const initialised = settings.has('account_id');
  const kind = settings.get('root_kind') ?? 'keyfile';
  const migratingTo = settings.get('root_migration');
  const keyFile = async (): Promise<KeyFileRoot> => {
    if (await exists(paths.rootKey)) return KeyFileRoot.load(paths.rootKey, opts.rootPassphrase);
    if (initialised) throw new RootKeyError(`the root key ${paths.rootKey} is missing, but this data directory holds values wrapped by it: restore the key file from backup`);
    return KeyFileRoot.create(paths.rootKey, opts.rootPassphrase);
  };
  const check = (root: RootOfTrust, recorded: string | undefined, what: string) => {
    if (recorded !== undefined && recorded !== root.keyCheckValue) throw new RootKeyError(`${what} is not the key this data directory was created with`);
  };
  if (!initialised) return opts.pkcs11 ? Pkcs11Root.open(opts.pkcs11, true) : keyFile();
  if (kind === 'keyfile' && !migratingTo) {
    if (opts.pkcs11) throw new RootKeyError(`this data directory's root of trust is the key file ${paths.rootKey}; move it into the HSM with: trent root migrate --data-dir ${paths.dataDir} ...`);
    const root = await keyFile();
    check(root, settings.get('root_key_check'), `the root key in ${paths.rootKey}`);
    return root;
  }
  if (!opts.pkcs11) {
    throw new RootKeyError(
      migratingTo
        ? 'a migration of the root of trust to PKCS#11 is unfinished: give the PKCS#11 settings to serve, and run trent root migrate again to finish it'
        : "this data directory's root of trust is a PKCS#11 token: give --root pkcs11 and its settings",
    );
  }
  const hsm = await Pkcs11Root.open(opts.pkcs11, false);
  if (kind === 'pkcs11') {
    check(hsm, settings.get('root_key_check'), `the key '${opts.pkcs11.keyLabel ?? 'trent-root'}' on token '${opts.pkcs11.token}'`);
    return hsm;
  }
  const old = await keyFile();
  check(old, settings.get('root_key_check'), `the root key in ${paths.rootKey}`);
  check(hsm, settings.get('root_migration_key_check'), `the key '${opts.pkcs11.keyLabel ?? 'trent-root'}' on token '${opts.pkcs11.token}'`);
  return new MigratingRoot(old, hsm);
}
