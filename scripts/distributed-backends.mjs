#!/usr/bin/env node
// Starts the distributed backends on loopback for a test run, runs a command with their addresses in the
// environment, and stops them: a private PostgreSQL cluster from the machine's packages (initdb into a temporary
// directory, trust authentication on 127.0.0.1 only, run as the `postgres` user when started as root) and s3rver
// standing in for an S3-compatible blob store. Run it with --openssl-legacy-provider: s3rver signs its listing
// continuation tokens with DES, which Node 20 refuses otherwise.
//
//   node --openssl-legacy-provider scripts/distributed-backends.mjs -- <command> [args...]
//
// The command gets TRENT_TEST_POSTGRES_URL (an administrator URL; tests create a database per server),
// TRENT_TEST_BLOBS_URL (s3://trent-blobs?endpoint=http://127.0.0.1:PORT; tests add a prefix per server) and
// TRENT_BLOBS_ACCESS_KEY_ID / TRENT_BLOBS_SECRET_ACCESS_KEY (s3rver's fixed credentials).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const command = dash >= 0 ? argv.slice(dash + 1) : argv;
if (command.length === 0) {
  console.error('usage: node scripts/distributed-backends.mjs -- <command> [args...]');
  process.exit(2);
}

function pgBin() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const bin = pgBin();
if (!bin) {
  // CI installs PostgreSQL (.ci/run) and must run this pass; elsewhere it is skipped with a clear message.
  console.error('PostgreSQL is not installed (apt-get install postgresql): the tests on the distributed backends are SKIPPED');
  process.exit(process.env.CI ? 1 : 0);
}

const asRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'trent-pg-'));
const data = join(dir, 'data');
const socketDir = dir;
if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
const pgCmd = (tool, args, opts = {}) => {
  const [file, full] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
  return spawnSync(file, full, { encoding: 'utf8', ...opts });
};

const pgPort = await freePort();
let r = pgCmd('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
if (r.status !== 0) {
  console.error(`initdb failed:\n${r.stdout}${r.stderr}`);
  process.exit(1);
}
// fsync stays on: the crash tests kill nodes, and PostgreSQL's own durability is what they rely on.
r = pgCmd('pg_ctl', ['-D', data, '-l', join(dir, 'postgres.log'), '-w', '-t', '60', '-o', `-p ${pgPort} -k ${socketDir} -c listen_addresses=127.0.0.1 -c max_connections=400`, 'start']);
if (r.status !== 0) {
  console.error(`PostgreSQL did not start:\n${r.stdout}${r.stderr}`);
  process.exit(1);
}

const { default: S3rver } = await import('s3rver');
const s3Dir = mkdtempSync(join(tmpdir(), 'trent-s3rver-'));
const s3Port = await freePort();
const s3rver = new S3rver({ address: '127.0.0.1', port: s3Port, directory: s3Dir, silent: true, configureBuckets: [{ name: 'trent-blobs' }] });
await s3rver.run();

const stopAll = async () => {
  await s3rver.close().catch(() => undefined);
  pgCmd('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
  rmSync(dir, { recursive: true, force: true });
  rmSync(s3Dir, { recursive: true, force: true });
};

const env = {
  ...process.env,
  TRENT_TEST_POSTGRES_URL: `postgres://postgres@127.0.0.1:${pgPort}/postgres`,
  TRENT_TEST_BLOBS_URL: `s3://trent-blobs?endpoint=http://127.0.0.1:${s3Port}&region=us-east-1`,
  TRENT_BLOBS_ACCESS_KEY_ID: 'S3RVER',
  TRENT_BLOBS_SECRET_ACCESS_KEY: 'S3RVER',
  // Where the backends keep their bytes, for the tests that scan storage for plaintext.
  TRENT_TEST_PG_DATA_DIR: data,
  TRENT_TEST_S3_DIR: s3Dir,
};
console.log(`distributed backends: PostgreSQL on 127.0.0.1:${pgPort} (${bin}), s3rver on 127.0.0.1:${s3Port}`);
const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env });
// Stopped from outside (Ctrl-C, a timeout): stop the command, then the backends, so no PostgreSQL is left running.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    child.kill(signal);
  });
}
const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await stopAll();
process.exit(code);
