import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPostgresUrl, sqliteFiles } from '../server/instance-paths.ts';

/** A setting from the command line, else the environment, else a default. */
export function setting(cli: string | undefined, envName: string, fallback?: string): string | undefined {
  return cli ?? process.env[envName] ?? fallback;
}

/** The root passphrase comes from a file or the environment, never from the command line. */
export function rootPassphrase(file: string | undefined): string | undefined {
  const path = file ?? process.env['TRENT_ROOT_PASSPHRASE_FILE'];
  if (path) return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  return process.env['TRENT_ROOT_PASSPHRASE'] || undefined;
}

export const DEFAULT_DATA_DIR = '.trent';
export const DEFAULT_HOST = 'localhost';
export const DEFAULT_PORT = '4566';

/** parseArgs options for choosing the root of trust, shared by `serve` and `root migrate`. */
export const ROOT_OPTIONS = {
  root: { type: 'string' },
  'pkcs11-module': { type: 'string' },
  'pkcs11-token': { type: 'string' },
  'pkcs11-pin-file': { type: 'string' },
  'pkcs11-key-label': { type: 'string' },
  'root-passphrase-file': { type: 'string' },
} as const;

export interface Pkcs11Settings {
  module: string;
  token: string;
  pinFile: string;
  keyLabel?: string;
}

/** PKCS#11 settings from flags or TRENT_PKCS11_* variables; undefined when the root is the key file. */
export function pkcs11Settings(values: Record<string, string | boolean | string[] | undefined>, forced = false): Pkcs11Settings | undefined {
  const v = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const kind = setting(v('root'), 'TRENT_ROOT', forced ? 'pkcs11' : 'keyfile');
  if (kind === 'keyfile') return undefined;
  if (kind !== 'pkcs11') throw new Error(`--root must be keyfile or pkcs11, not ${kind}`);
  const module = setting(v('pkcs11-module'), 'TRENT_PKCS11_MODULE');
  const token = setting(v('pkcs11-token'), 'TRENT_PKCS11_TOKEN');
  const pinFile = setting(v('pkcs11-pin-file'), 'TRENT_PKCS11_PIN_FILE');
  if (!module || !token || !pinFile) throw new Error('--root pkcs11 needs --pkcs11-module, --pkcs11-token and --pkcs11-pin-file (or TRENT_PKCS11_MODULE, TRENT_PKCS11_TOKEN, TRENT_PKCS11_PIN_FILE)');
  const keyLabel = setting(v('pkcs11-key-label'), 'TRENT_PKCS11_KEY_LABEL');
  return { module, token, pinFile, ...(keyLabel ? { keyLabel } : {}) };
}

/** `--db` and `--blobs` for the commands that open a data directory beside (or without) a server. */
export const STORE_OPTIONS = {
  db: { type: 'string' },
  blobs: { type: 'string' },
} as const;

/** What `trent serve` records in a node's data directory when it runs on the distributed backends. */
export const BACKENDS_FILE = 'backends.json';

/** The backends `trent serve` last ran this data directory on ({} for the embedded ones). */
function recordedStores(dataDir: string): { db?: string; blobs?: string } {
  try {
    const r = JSON.parse(readFileSync(join(dataDir, BACKENDS_FILE), 'utf8')) as { db?: unknown; blobs?: unknown };
    return { ...(typeof r.db === 'string' ? { db: r.db } : {}), ...(typeof r.blobs === 'string' ? { blobs: r.blobs } : {}) };
  } catch {
    return {};
  }
}

/**
 * The stores a command opens for a data directory: --db / --blobs, else TRENT_DB / TRENT_BLOBS, else what
 * `trent serve` last recorded in the data directory (backends.json), so that a node restarted without flags never
 * opens a fresh embedded database by mistake; else the embedded files. Unless `opts.create` (trent serve), throws
 * when the directory is not a Trent data directory.
 */
export function storeSettings(dataDir: string, flags: { db?: string | undefined; blobs?: string | undefined }, opts: { create?: boolean } = {}): { db?: string; blobs?: string } {
  const recorded = recordedStores(dataDir);
  const db = setting(flags.db, 'TRENT_DB') ?? recorded.db;
  const blobs = setting(flags.blobs, 'TRENT_BLOBS') ?? recorded.blobs;
  if (!opts.create && !isPostgresUrl(db) && !existsSync(sqliteFiles(dataDir, db).database)) throw new Error(`${dataDir} is not a Trent data directory`);
  return { ...(db ? { db } : {}), ...(blobs ? { blobs } : {}) };
}
