// `npm run library`: starts a Trent of its own, sets up the library's key, bucket, collection and IAM user in it
// (with Trent's administrator credentials, which the app itself never uses), adds demo books, and starts the
// library app with its own credentials. Prints the URLs. Ctrl-C stops both.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTlsMaterial } from '../../../src/server/tls.ts';
import { PACKAGE_ROOT } from '../../../src/cli/version.ts';
import { writeFileAtomic } from '../../../src/store/atomic-file.ts';
import { provision } from './provision.ts';
import { startLibraryApp, type LibraryApp } from './server.ts';
import type { TrentConnection } from './trent.ts';

const REPO = PACKAGE_ROOT;

const USAGE = `npm run library -- [options]
  --data-dir DIR     where Trent's and the library's data live (LIBRARY_DATA_DIR, default ./.trent-library)
  --port N           the library app's HTTPS port (LIBRARY_PORT, default 8443; 0 picks a free one)
  --trent-port N     the library's Trent's port (LIBRARY_TRENT_PORT, default 4567; 0 picks a free one)
  --host HOST        address the app listens on (LIBRARY_HOST, default 127.0.0.1)`;

const DEMO_BOOKS = [
  { code: 'B-0001', title: 'Pride and Prejudice', author: 'Jane Austen' },
  { code: 'B-0002', title: 'Moby-Dick', author: 'Herman Melville' },
  { code: 'B-0003', title: 'Middlemarch', author: 'George Eliot' },
  { code: 'B-0004', title: 'The Count of Monte Cristo', author: 'Alexandre Dumas' },
  { code: 'B-0005', title: 'Frankenstein', author: 'Mary Shelley' },
  { code: 'B-0006', title: 'Great Expectations', author: 'Charles Dickens' },
];

interface AppConfig {
  accessKeyId: string;
  secretAccessKey: string;
  staffPassword: string;
}

/** Starts `trent serve` and waits for its ready line; its log goes to trent.log beside its data directory. */
async function startTrent(dataDir: string, port: string, logPath: string): Promise<{ endpoint: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), 'serve', '--data-dir', dataDir, '--port', port], {
    cwd: REPO,
    env: { ...process.env, TRENT_LOG_LEVEL: process.env.TRENT_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logPath, { flags: 'a', mode: 0o600 });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let out = '';
  const endpoint = await new Promise<string>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`Trent did not start within 60 s; see ${logPath}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Trent ready at (https:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveReady(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Trent exited with ${code} before it was ready; see ${logPath}`));
    });
  });
  return { endpoint, child };
}

async function adminConnection(trentDir: string, endpoint: string): Promise<TrentConnection> {
  const creds = await readFile(join(trentDir, 'credentials'), 'utf8');
  const field = (name: string) => new RegExp(`${name} = (\\S+)`).exec(creds)?.[1] ?? '';
  return { endpoint, region: field('region'), accessKeyId: field('aws_access_key_id'), secretAccessKey: field('aws_secret_access_key'), caPath: join(trentDir, 'tls', 'ca.pem') };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      'trent-port': { type: 'string' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const root = resolve(values['data-dir'] ?? process.env.LIBRARY_DATA_DIR ?? '.trent-library');
  const trentDir = join(root, 'trent');
  const appDir = join(root, 'app');
  await mkdir(trentDir, { recursive: true, mode: 0o700 });
  await mkdir(appDir, { recursive: true, mode: 0o700 });

  const trent = await startTrent(trentDir, values['trent-port'] ?? process.env.LIBRARY_TRENT_PORT ?? '4567', join(root, 'trent.log'));
  let app: LibraryApp | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await app?.close().catch(() => undefined);
    if (trent.child.exitCode === null) {
      trent.child.kill('SIGTERM');
      await new Promise((r) => trent.child.once('exit', r));
    }
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  trent.child.once('exit', (code) => {
    if (stopping) return;
    process.stderr.write(`Trent stopped (exit ${code}); see ${join(root, 'trent.log')}\n`);
    void stop(1);
  });

  try {
    const admin = await adminConnection(trentDir, trent.endpoint);
    const configPath = join(appDir, 'config.json');
    const previous = (await readFile(configPath, 'utf8').then((t) => JSON.parse(t) as AppConfig, () => undefined));
    const provisioned = await provision(admin, previous?.accessKeyId);
    const config: AppConfig = {
      accessKeyId: provisioned.app.accessKeyId,
      secretAccessKey: provisioned.app.secretAccessKey ?? previous!.secretAccessKey,
      staffPassword: previous?.staffPassword ?? randomBytes(12).toString('base64url'),
    };
    if (!previous || previous.accessKeyId !== config.accessKeyId) await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n', 0o600);

    const tls = await ensureTlsMaterial({ dataDir: appDir });
    app = await startLibraryApp({
      dataDir: appDir,
      trent: { ...admin, accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      resources: provisioned.resources,
      staffPassword: config.staffPassword,
      tls,
      host: values.host ?? process.env.LIBRARY_HOST ?? '127.0.0.1',
      port: Number(values.port ?? process.env.LIBRARY_PORT ?? 8443),
    });
    if (app.db.books().length === 0) for (const b of DEMO_BOOKS) app.db.addBook(b);

    process.stdout.write(
      [
        'Library ready',
        `  kiosk          ${app.url}/`,
        `  staff pages    ${app.url}/staff  (user staff, password ${config.staffPassword})`,
        `  Trent          ${trent.endpoint}  (data directory ${trentDir}; eval "$(npx trent env --data-dir ${trentDir} --endpoint ${trent.endpoint})" for the AWS CLI)`,
        `  library key    ${provisioned.resources.keyArn} (alias/library-members)`,
        `  CA to trust    ${tls.caPath} (the app) and ${admin.caPath} (Trent)`,
        '',
      ].join('\n'),
    );
  } catch (e) {
    process.stderr.write(`The library could not start: ${(e as Error).message}\n`);
    await stop(1);
  }
}

await main();
