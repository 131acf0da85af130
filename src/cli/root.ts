import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KeyFileRoot } from '../root/keyfile.ts';
import { Pkcs11Root } from '../root/pkcs11.ts';
import { readSettings } from '../server/instance.ts';
import { migrateRoot } from '../server/root-migration.ts';
import { SqliteDatabase } from '../store/sqlite.ts';
import { DataDirLock } from '../store/lock.ts';
import { runningServer } from '../store/server-info.ts';
import { DEFAULT_DATA_DIR, pkcs11Settings, ROOT_OPTIONS, rootPassphrase, setting } from './options.ts';

export const ROOT_USAGE = `trent root migrate --data-dir DIR --to pkcs11 --pkcs11-module PATH --pkcs11-token LABEL --pkcs11-pin-file FILE [--pkcs11-key-label LABEL]
  Moves a data directory's root of trust from its key file into a PKCS#11 token: generates (or adopts) a
  non-extractable AES-256 key on the token and re-wraps every backing key and access key under it.
  Stop Trent first. Safe to interrupt: run it again to finish; the directory works meanwhile
  (serve it with the PKCS#11 settings).`;

export async function root(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'migrate' || rest.includes('--help')) {
    process.stdout.write(ROOT_USAGE + '\n');
    return sub === 'migrate' || sub === '--help' || sub === 'help' ? 0 : 2;
  }
  const { values } = parseArgs({ args: rest, options: { 'data-dir': { type: 'string' }, to: { type: 'string' }, ...ROOT_OPTIONS }, strict: true });
  if (values.to !== 'pkcs11') throw new Error('--to pkcs11 is required (the only migration Trent offers: key file to HSM)');
  const dataDir = resolve(setting(values['data-dir'], 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!);
  // The migration holds the data directory's lock: no server runs while it does, and none can start.
  const lock = DataDirLock.tryAcquire(dataDir);
  if (!lock) {
    const info = await runningServer(dataDir);
    throw new Error(`Trent is serving ${dataDir}${info ? ` (pid ${info.pid}, ${info.endpoint})` : ''}; stop it before migrating (npx trent stop)`);
  }
  const settings = pkcs11Settings(values, true)!;
  const db = SqliteDatabase.open(join(dataDir, 'trent.db'));
  try {
    const s = await readSettings(db);
    if (!s.has('account_id')) throw new Error(`${dataDir} is not an initialised Trent data directory`);
    if ((s.get('root_kind') ?? 'keyfile') === 'pkcs11') {
      process.stdout.write(`${dataDir} already uses the PKCS#11 root of trust; nothing to do\n`);
      return 0;
    }
    const from = await KeyFileRoot.load(join(dataDir, 'root.key'), rootPassphrase(values['root-passphrase-file']));
    let to: Pkcs11Root | undefined;
    try {
      if (from.keyCheckValue !== s.get('root_key_check')) throw new Error(`${join(dataDir, 'root.key')} is not the key this data directory was created with`);
      const recorded = s.get('root_migration_key_check');
      // Resuming: the key must already exist (never generate a stray one on the token); starting: generate or adopt it.
      to = await Pkcs11Root.open(settings, recorded === undefined);
      if (recorded !== undefined && recorded !== to.keyCheckValue) {
        throw new Error(`an unfinished migration used a different key than '${settings.keyLabel ?? 'trent-root'}' on token '${settings.token}'`);
      }
      process.stdout.write(`${recorded ? 'resuming' : 'starting'} migration of ${dataDir} to token '${settings.token}'\n`);
      // Values re-wrapped per transaction (TRENT_ROOT_MIGRATE_BATCH, default 25): smaller batches lose less work to a crash.
      const batch = Number(process.env['TRENT_ROOT_MIGRATE_BATCH'] ?? 25);
      if (!Number.isInteger(batch) || batch < 1) throw new Error('TRENT_ROOT_MIGRATE_BATCH must be a positive integer');
      const moved = await migrateRoot(db, from, to, (p) => process.stdout.write(`  re-wrapped ${p.done} ${p.column}\n`), batch);
      process.stdout.write(
        `done: ${moved} values re-wrapped; the root of trust is now the PKCS#11 token.\n` +
          `Serve with --root pkcs11 and the same settings. Keep ${join(dataDir, 'root.key')} in a safe place until you have verified the server, then destroy it.\n`,
      );
      return 0;
    } finally {
      await from.close();
      await to?.close();
    }
  } finally {
    await db.close();
    lock.release();
  }
}
