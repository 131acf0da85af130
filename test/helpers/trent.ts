import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Database } from '../../src/store/database.ts';
// @ts-expect-error: a plain JavaScript build script, without type declarations
import { ensureBuilt } from '../../scripts/ensure-built.mjs';

export const REPO = resolve(import.meta.dirname, '..', '..');

// Servers and commands run the compiled program (dist/): rebuild it first if a source changed since the last build.
ensureBuilt();

export interface RunningTrent {
  endpoint: string;
  port: number;
  dataDir: string;
  caPath: string;
  ca: Buffer;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  process: ChildProcess;
  output: () => string;
  /** Wait until the server's output matches `pattern` (a log line can reach the test after the client saw the failure it logs); fail after `ms` with the output's tail. */
  waitForOutput: (pattern: RegExp, what: string, ms?: number) => Promise<void>;
  /** Options for an AWS SDK v3 client pointed at this server. */
  clientConfig: (overrides?: Record<string, unknown>) => Record<string, unknown>;
  /** Environment for the AWS CLI and boto3 subprocesses. */
  cliEnv: () => NodeJS.ProcessEnv;
  /** The server's metadata or audit database, opened beside it (SQLite files, or its PostgreSQL schemas). */
  openDb: (store?: 'metadata' | 'trail') => Promise<Database>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export async function tempDir(prefix = 'trent-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Set by scripts/distributed-backends.mjs: every server a test starts then keeps its metadata and audit records in
 * a PostgreSQL database of its own and its blobs under a prefix of its own in an S3-compatible store.
 */
export const DISTRIBUTED = Boolean(process.env['TRENT_TEST_POSTGRES_URL'] && process.env['TRENT_TEST_BLOBS_URL']);

/** Every directory where a server's bytes may land: its data directory and, on the distributed backends, theirs. */
export function storageDirs(dataDir: string): string[] {
  if (!DISTRIBUTED) return [dataDir];
  return [dataDir, process.env['TRENT_TEST_PG_DATA_DIR'], process.env['TRENT_TEST_S3_DIR']].filter((d): d is string => !!d);
}

/** Every regular file under `dir`, recursively. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The files under `dirs` whose bytes contain any of `needles`. */
export async function filesContaining(dirs: string[], needles: Buffer[]): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const content = await readFile(p).catch(() => Buffer.alloc(0)); // a file removed meanwhile reads as empty
        if (needles.some((n) => content.includes(n))) hits.push(p);
      }
    }
  };
  for (const d of dirs) await walk(d);
  return hits;
}

/** The --db and --blobs arguments for a data directory when the tests run on the distributed backends. */
export async function distributedArgs(dataDir: string, name?: string): Promise<string[]> {
  if (!DISTRIBUTED) return [];
  const id = name ?? `trent_${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16)}`;
  const admin = new URL(process.env['TRENT_TEST_POSTGRES_URL']!);
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [id]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${id}`);
  } finally {
    await client.end();
  }
  const db = new URL(admin.toString());
  db.pathname = `/${id}`;
  const blobs = new URL(process.env['TRENT_TEST_BLOBS_URL']!.replace(/^s3:\/\//, 'http://'));
  const blobsUrl = `s3://${blobs.host}/${id}${blobs.search}`;
  return ['--db', db.toString(), '--blobs', blobsUrl];
}

/** Start `trent serve` on a free port in its own data directory and wait for its ready line. */
export async function startTrent(opts: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): Promise<RunningTrent> {
  const dataDir = opts.dataDir ?? (await tempDir());
  const backendArgs = opts.args?.includes('--db') ? [] : await distributedArgs(dataDir);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), join(REPO, 'bin/trent.mjs'), 'serve', '--data-dir', dataDir, '--port', '0', ...backendArgs, ...(opts.args ?? [])], {
    cwd: REPO,
    env: { ...process.env, TRENT_LOG_LEVEL: 'warn', TRENT_FACES_LAZY: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const endpoint = await new Promise<string>((resolvePromise, reject) => {
    // A server that does not become ready is killed, so that a test that gives up on it cannot leave it running
    // (its open pipes would keep the test file, and the whole run, from ever finishing).
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trent did not become ready in 30 s:\n${out}`));
    }, 30_000);
    const check = () => {
      const m = /Trent ready at (https:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`trent exited with ${code}:\n${out}`));
    });
  });
  const caPath = join(dataDir, 'tls', 'ca.pem');
  const ca = await readFile(caPath);
  const creds = await readFile(join(dataDir, 'credentials'), 'utf8');
  const accessKeyId = /aws_access_key_id = (\S+)/.exec(creds)![1]!;
  const secretAccessKey = /aws_secret_access_key = (\S+)/.exec(creds)![1]!;
  const region = /region = (\S+)/.exec(creds)![1]!;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const allArgs = [...backendArgs, ...(opts.args ?? [])];
  const dbUrl = allArgs.includes('--db') ? allArgs[allArgs.indexOf('--db') + 1] : undefined;
  return {
    endpoint,
    port: Number(new URL(endpoint).port),
    dataDir,
    caPath,
    ca,
    accessKeyId,
    secretAccessKey,
    region,
    process: child,
    output: () => out,
    waitForOutput: async (pattern, what, ms = 10_000) => {
      const until = Date.now() + ms;
      while (!pattern.test(out)) {
        if (Date.now() > until) assert.fail(`${what}: not in the server's output after ${ms} ms:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    clientConfig: (overrides = {}) => ({
      region,
      endpoint,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca, keepAlive: true }) }),
      ...overrides,
    }),
    cliEnv: () => ({
      ...process.env,
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_CA_BUNDLE: caPath,
      AWS_MAX_ATTEMPTS: '1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_PAGER: '',
    }),
    openDb: async (store = 'metadata') => {
      const { openDatabase } = await import('../../src/server/instance.ts');
      return openDatabase(store, dataDir, dbUrl);
    },
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      // One signal only: a second one arriving while Node is already exiting would kill it outright.
      if (child.exitCode === null && child.signalCode === null && !child.killed) child.kill(signal);
      return exited;
    },
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
