import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase, readSettings } from '../server/instance.ts';
import { functionArn, registerFunction } from '../secrets/rotation.ts';
import { DEFAULT_DATA_DIR, setting, STORE_OPTIONS, storeSettings } from './options.ts';

export const SECRETS_USAGE = `trent secrets register-rotation-function --name NAME (--command PATH [--arg ARG]... [--role ROLE_ARN] | --url HTTPS_URL) [--data-dir DIR]
  registers a rotation function for RotateSecret's RotationLambdaARN (printed: arn:aws:lambda:REGION:ACCOUNT:function:NAME).
  A command runs once per step with the rotation event JSON on stdin ({"Step","SecretId","ClientRequestToken","RotationToken"}),
  AWS_ENDPOINT_URL and the CA bundle set, and, with --role, temporary credentials of that role (like a Lambda's execution role);
  exit status 0 is success. A URL is POSTed the same JSON; a 2xx answer is success.`;

export async function secrets(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'register-rotation-function' || rest.includes('--help')) {
    process.stdout.write(SECRETS_USAGE + '\n');
    return sub === '--help' || sub === 'help' || rest.includes('--help') ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { 'data-dir': { type: 'string' }, ...STORE_OPTIONS, name: { type: 'string' }, command: { type: 'string' }, arg: { type: 'string', multiple: true }, role: { type: 'string' }, url: { type: 'string' } },
    strict: true,
  });
  const dataDir = resolve(setting(values['data-dir'], 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!);
  const stores = storeSettings(dataDir, { db: values.db, blobs: values.blobs });
  if (!values.name || !/^[a-zA-Z0-9_-]{1,64}$/.test(values.name)) throw new Error('--name is required: 1 to 64 letters, digits, - or _');
  if (!!values.command === !!values.url) throw new Error('give exactly one of --command or --url');
  if (values.url && !values.url.startsWith('https://')) throw new Error('--url must be an https:// URL');
  const db = await openDatabase('metadata', dataDir, stores.db);
  try {
    const s = await readSettings(db);
    const arn = functionArn(s.get('region')!, s.get('account_id')!, values.name);
    if (values.command) {
      const command = resolve(values.command);
      if (!existsSync(command)) throw new Error(`${command} does not exist`);
      await registerFunction(db, { arn, kind: 'exec', command, args: values.arg ?? [], ...(values.role ? { roleArn: values.role } : {}) });
    } else await registerFunction(db, { arn, kind: 'https', url: values.url! });
    process.stdout.write(`${arn}\n`);
    return 0;
  } finally {
    await db.close();
  }
}
