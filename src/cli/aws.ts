import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, homedir, tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { instancePaths, readCredentialsFile } from '../server/instance-paths.ts';
import { DEFAULT_DATA_DIR, setting } from './options.ts';

// Only light modules here: `trent aws` runs before every CLI call in scripts, so it must start in a blink.

export const AWS_USAGE = `trent aws [--data-dir DIR] COMMAND [ARGS...]
  runs the installed AWS CLI (TRENT_AWS_CLI, else the first 'aws' on PATH) against the server of the data
  directory, with --endpoint-url, the CA bundle and the region filled in, so CLIs that do not read
  AWS_ENDPOINT_URL (older than v1.29 / v2.13, such as Debian 12's 2.9) work without flags; the admin's
  credentials unless AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set; SigV4 for 's3 presign' (CLI v1
  presigns with SigV2 otherwise). Exits with the CLI's status. e.g. npx trent aws kms list-keys`;

/** The AWS CLI's global options that take a value, so that the command's words can be told from option values. */
const VALUED_GLOBALS = new Set(['--profile', '--region', '--output', '--endpoint-url', '--query', '--ca-bundle', '--cli-read-timeout', '--cli-connect-timeout', '--color', '--cli-binary-format']);

/** The command words of an AWS CLI argument list (`s3 presign s3://b/k --expires-in 60` -> ['s3', 'presign', 's3://b/k']). */
export function commandWords(args: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      if (!a.includes('=') && VALUED_GLOBALS.has(a)) i++;
      continue;
    }
    words.push(a);
  }
  return words;
}

/** The value of option `name` (`--name value` or `--name=value`), if given. */
export function optionValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === name) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

const SIGV4 = 'signature_version = s3v4';

/**
 * An AWS config file's text with `s3 = { signature_version = s3v4 }` in `profile`'s section, the rest untouched.
 * A profile that already sets an S3 signature version keeps it; a missing section is added.
 */
export function withS3SigV4(text: string, profile: string): string {
  const lines = text.split('\n');
  const header = /^\s*\[\s*([^\]]*?)\s*\]\s*$/;
  const wanted = (name: string) => (profile === 'default' ? name === 'default' || /^profile\s+default$/.test(name) : new RegExp(`^profile\\s+${profile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`).test(name));
  const start = lines.findIndex((l) => {
    const m = header.exec(l);
    return m !== null && wanted(m[1]!);
  });
  if (start < 0) {
    const section = profile === 'default' ? '[default]' : `[profile ${profile}]`;
    return `${text}${text && !text.endsWith('\n') ? '\n' : ''}${section}\ns3 =\n    ${SIGV4}\n`;
  }
  let end = lines.findIndex((l, i) => i > start && header.test(l));
  if (end < 0) end = lines.length;
  const s3 = lines.findIndex((l, i) => i > start && i < end && /^s3\s*=/.test(l));
  if (s3 < 0) {
    lines.splice(start + 1, 0, 's3 =', `    ${SIGV4}`);
    return lines.join('\n');
  }
  if (!/^s3\s*=\s*$/.test(lines[s3]!)) return text; // not a nested section: left as the user wrote it
  for (let i = s3 + 1; i < end && /^\s+\S/.test(lines[i]!); i++) if (/^\s+signature_version\s*=/.test(lines[i]!)) return text;
  lines.splice(s3 + 1, 0, `    ${SIGV4}`);
  return lines.join('\n');
}

/** The AWS CLI to run: TRENT_AWS_CLI, else the first executable 'aws' on PATH. */
function findCli(env: NodeJS.ProcessEnv): string {
  const named = env['TRENT_AWS_CLI'];
  if (named) return named;
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'aws');
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  throw new Error("no AWS CLI found on PATH: install one (pip install awscli, or Debian's apt-get install awscli), or name it in TRENT_AWS_CLI");
}

/** Set in the CLI's environment: a 'trent aws' started under it means the 'aws' found runs 'trent aws' itself. */
const NESTED = 'TRENT_AWS_RUNNING';

export async function aws(argv: string[]): Promise<number> {
  let args = argv;
  let dataDirFlag: string | undefined;
  if (args[0] === '--data-dir') {
    if (args.length < 2) throw new Error('--data-dir needs a value');
    dataDirFlag = args[1];
    args = args.slice(2);
  } else if (args[0]?.startsWith('--data-dir=')) {
    dataDirFlag = args[0].slice('--data-dir='.length);
    args = args.slice(1);
  }
  if (args.length === 0) {
    process.stdout.write(AWS_USAGE + '\n');
    return 2;
  }
  if (process.env[NESTED]) {
    throw new Error(`the AWS CLI it found (${process.env[NESTED]}) runs 'trent aws' itself; name the real one in TRENT_AWS_CLI`);
  }
  const paths = instancePaths(setting(dataDirFlag, 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!);
  let facts: { endpoint: string; region: string; caBundle: string; credentials?: string };
  try {
    facts = JSON.parse(await readFile(paths.endpointFile, 'utf8'));
  } catch {
    throw new Error(`${paths.dataDir} has not been served yet; start Trent first with: npx trent serve --data-dir ${paths.dataDir}`);
  }
  const cli = findCli(process.env);
  const env: NodeJS.ProcessEnv = { ...process.env, [NESTED]: cli };
  const endpoint = optionValue(args, '--endpoint-url') ?? facts.endpoint;
  if (optionValue(args, '--endpoint-url') === undefined) args = ['--endpoint-url', facts.endpoint, ...args];
  // Clients the CLI makes on its own (validate-logs reads S3) take the endpoint from the environment, where the CLI reads it.
  env['AWS_ENDPOINT_URL'] = endpoint;
  env['AWS_CA_BUNDLE'] = facts.caBundle;
  env['AWS_REGION'] = facts.region;
  env['AWS_DEFAULT_REGION'] = facts.region;
  if (!(env['AWS_ACCESS_KEY_ID'] && env['AWS_SECRET_ACCESS_KEY'])) {
    const creds = await readCredentialsFile(facts.credentials ?? paths.credentials);
    env['AWS_ACCESS_KEY_ID'] = creds.accessKeyId;
    env['AWS_SECRET_ACCESS_KEY'] = creds.secretAccessKey;
    // A session token or profile from another setup would be sent along and refused.
    for (const k of ['AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_PROFILE']) delete env[k];
  }

  let configDir: string | undefined;
  const [service, operation] = commandWords(args);
  if (service === 's3' && operation === 'presign') {
    // CLI v1 presigns S3 URLs with SigV2 unless the profile says s3v4, and has no flag or variable for it.
    const profile = optionValue(args, '--profile') ?? env['AWS_PROFILE'] ?? 'default';
    const userConfig = env['AWS_CONFIG_FILE'] ?? join(homedir(), '.aws', 'config');
    const text = await readFile(resolve(userConfig), 'utf8').catch(() => '');
    configDir = await mkdtemp(join(tmpdir(), 'trent-aws-'));
    env['AWS_CONFIG_FILE'] = join(configDir, 'config');
    await writeFile(env['AWS_CONFIG_FILE'], withS3SigV4(text, profile), { mode: 0o600 });
  }

  try {
    return await new Promise<number>((resolvePromise, reject) => {
      const child = spawn(cli, args, { env, stdio: 'inherit' });
      // Ctrl-C reaches the CLI from the terminal; a signal sent to this process alone is passed on.
      const onInt = () => undefined;
      const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
      const onTerm = forward('SIGTERM');
      const onHup = forward('SIGHUP');
      process.on('SIGINT', onInt).on('SIGTERM', onTerm).on('SIGHUP', onHup);
      const done = () => process.off('SIGINT', onInt).off('SIGTERM', onTerm).off('SIGHUP', onHup);
      child.once('error', (err) => {
        done();
        reject(new Error(`cannot run ${cli}: ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        done();
        resolvePromise(code ?? 128 + (signal ? signalNumber(signal) : 1));
      });
    });
  } finally {
    if (configDir) await rm(configDir, { recursive: true, force: true });
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 1;
}
