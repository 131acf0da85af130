import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { instancePaths, readCredentialsFile } from '../server/instance-paths.ts';
import { DEFAULT_DATA_DIR, setting } from './options.ts';

export const ENV_USAGE = `trent env [--data-dir DIR] [--endpoint URL]
  Prints export lines that point the AWS CLI, boto3 and the AWS SDK for JavaScript at Trent:
    eval "$(npx trent env)"`;

function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

export async function env(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(ENV_USAGE + '\n');
    return 0;
  }
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, endpoint: { type: 'string' } }, strict: true });
  const paths = instancePaths(setting(values['data-dir'], 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!);
  let facts: { endpoint: string; region: string; caBundle: string };
  try {
    facts = JSON.parse(await readFile(paths.endpointFile, 'utf8'));
  } catch {
    process.stderr.write(`trent env: ${paths.dataDir} has not been served yet; start Trent first with: npx trent serve --data-dir ${paths.dataDir}\n`);
    return 1;
  }
  const creds = await readCredentialsFile(paths.credentials);
  const vars: Array<[string, string]> = [
    ['AWS_ENDPOINT_URL', values.endpoint ?? facts.endpoint],
    ['AWS_ACCESS_KEY_ID', creds.accessKeyId],
    ['AWS_SECRET_ACCESS_KEY', creds.secretAccessKey],
    ['AWS_REGION', facts.region],
    ['AWS_DEFAULT_REGION', facts.region],
    ['AWS_CA_BUNDLE', facts.caBundle],
    ['NODE_EXTRA_CA_CERTS', facts.caBundle],
  ];
  process.stdout.write(vars.map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n') + '\n');
  // Session tokens from another setup would be sent along and rejected.
  process.stdout.write('unset AWS_SESSION_TOKEN AWS_PROFILE\n');
  return 0;
}
