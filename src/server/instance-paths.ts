import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

// Where a data directory keeps its files, and the plain files commands read without opening the stores.
// Only node: modules here, so that `trent env`, `trent aws` and `trent status` start without loading the server.

export function isPostgresUrl(url: string | undefined): boolean {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

export function isS3Url(url: string | undefined): boolean {
  return url !== undefined && url.startsWith('s3://');
}

export interface InstancePaths {
  dataDir: string;
  rootKey: string;
  database: string;
  /** The audit trail's own database. */
  trailDatabase: string;
  blobs: string;
  credentials: string;
  /** Non-secret facts for `trent env`: endpoint, region, account, CA path. */
  endpointFile: string;
}

export function instancePaths(dataDir: string): InstancePaths {
  const d = resolve(dataDir);
  return {
    dataDir: d,
    rootKey: join(d, 'root.key'),
    database: join(d, 'trent.db'),
    trailDatabase: join(d, 'trail.db'),
    blobs: join(d, 'blobs'),
    credentials: join(d, 'credentials'),
    endpointFile: join(d, 'endpoint.json'),
  };
}

/**
 * The SQLite files of the embedded backend: the file `db` names (a path, or `sqlite:PATH`) with trail.db beside
 * it, or the data directory's trent.db and trail.db.
 */
export function sqliteFiles(dataDir: string, db?: string): { database: string; trailDatabase: string } {
  if (db === undefined) {
    const paths = instancePaths(dataDir);
    return { database: paths.database, trailDatabase: paths.trailDatabase };
  }
  const database = resolve(db.replace(/^sqlite:/, ''));
  return { database, trailDatabase: join(dirname(database), 'trail.db') };
}

/** Reads the credentials file without opening the database: used by `trent env` and `trent aws`. */
export async function readCredentialsFile(path: string): Promise<{ accessKeyId: string; secretAccessKey: string; region: string }> {
  const text = await readFile(path, 'utf8');
  const get = (k: string) => new RegExp(`^${k}\\s*=\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const accessKeyId = get('aws_access_key_id');
  const secretAccessKey = get('aws_secret_access_key');
  if (!accessKeyId || !secretAccessKey) throw new Error(`${path} does not hold an access key`);
  return { accessKeyId, secretAccessKey, region: get('region') ?? 'us-east-1' };
}
