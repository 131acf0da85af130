import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export const REPO = resolve(import.meta.dirname, '..', '..');

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
  /** Options for an AWS SDK v3 client pointed at this server. */
  clientConfig: (overrides?: Record<string, unknown>) => Record<string, unknown>;
  /** Environment for the AWS CLI and boto3 subprocesses. */
  cliEnv: () => NodeJS.ProcessEnv;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export async function tempDir(prefix = 'trent-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Start `trent serve` on a free port in its own data directory and wait for its ready line. */
export async function startTrent(opts: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<RunningTrent> {
  const dataDir = opts.dataDir ?? (await tempDir());
  const child = spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), 'serve', '--data-dir', dataDir, '--port', '0', ...(opts.args ?? [])], {
    cwd: REPO,
    env: { ...process.env, TRENT_LOG_LEVEL: 'warn', TRENT_FACES_LAZY: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const endpoint = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`trent did not become ready:\n${out}`)), 30_000);
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
