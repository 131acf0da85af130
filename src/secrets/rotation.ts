import { spawn } from 'node:child_process';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import type { Database } from '../store/database.ts';
import type { IdentityStore } from '../iam/identities.ts';

/**
 * Rotation functions without Lambda: the operator registers, under a Lambda-style ARN, either a local
 * executable (run with the rotation event JSON on stdin, and temporary credentials of a role it names
 * in its environment, as a Lambda runs with its execution role) or an HTTPS endpoint (POSTed the same
 * event JSON). Exit status 0, or a 2xx answer, is success.
 */
export type RotationFunction =
  | { arn: string; kind: 'exec'; command: string; args: string[]; roleArn?: string }
  | { arn: string; kind: 'https'; url: string };

export interface RotationEvent {
  Step: 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';
  SecretId: string;
  ClientRequestToken: string;
  RotationToken: string;
}

export function functionArn(region: string, accountId: string, name: string): string {
  return `arn:aws:lambda:${region}:${accountId}:function:${name}`;
}

export async function registerFunction(db: Database, fn: RotationFunction): Promise<void> {
  const { arn, kind, ...target } = fn;
  await db.run(
    'INSERT INTO sm_rotation_functions (arn, kind, target, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET kind = excluded.kind, target = excluded.target',
    [arn, kind, JSON.stringify(target), Date.now()],
  );
}

export async function findFunction(db: Database, arn: string): Promise<RotationFunction | undefined> {
  const row = await db.get<{ arn: string; kind: string; target: string }>('SELECT arn, kind, target FROM sm_rotation_functions WHERE arn = ?', [arn]);
  if (!row) return undefined;
  return { arn: row.arn, kind: row.kind, ...JSON.parse(row.target) } as RotationFunction;
}

export interface InvokerDeps {
  db: Database;
  identities: IdentityStore;
  /** Where the function calls Secrets Manager back (known once the server listens). */
  endpoint: () => string;
  caPath: string;
  region: string;
  log: Logger;
  timeoutMs?: number;
}

export class RotationInvoker {
  readonly #d: InvokerDeps;

  constructor(deps: InvokerDeps) {
    this.#d = deps;
  }

  async invoke(fn: RotationFunction, event: RotationEvent): Promise<void> {
    const body = JSON.stringify(event);
    if (fn.kind === 'https') return this.#post(fn.url, body);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      AWS_ENDPOINT_URL: this.#d.endpoint(),
      // AWS's rotation templates create their client with endpoint_url=os.environ['SECRETS_MANAGER_ENDPOINT'].
      SECRETS_MANAGER_ENDPOINT: this.#d.endpoint(),
      AWS_CA_BUNDLE: this.#d.caPath,
      NODE_EXTRA_CA_CERTS: this.#d.caPath,
      AWS_REGION: this.#d.region,
      AWS_DEFAULT_REGION: this.#d.region,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    };
    if (fn.roleArn) {
      const role = await this.#d.db.get<{ role_id: string; role_name: string; account_id: string }>('SELECT role_id, role_name, account_id FROM iam_roles WHERE arn = ?', [fn.roleArn]);
      if (!role) throw new Error(`the rotation function's role ${fn.roleArn} does not exist`);
      const s = await this.#d.identities.createSession({ roleId: role.role_id, roleName: role.role_name, accountId: role.account_id }, 'secretsmanager-rotation', Date.now() + 15 * 60_000);
      Object.assign(env, { AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey, AWS_SESSION_TOKEN: s.sessionToken });
    }
    await new Promise<void>((resolve, reject) => {
      const child = spawn(fn.command, fn.args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), this.#d.timeoutMs ?? 60_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-2000);
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`${event.Step} failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`));
      });
      child.stdin.end(body);
    });
  }

  #post(url: string, body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ca = [...rootCertificates, readFileSync(this.#d.caPath, 'utf8')];
      const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: this.#d.timeoutMs ?? 60_000, ca }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode && res.statusCode >= 200 && res.statusCode < 300 ? resolve() : reject(new Error(`the rotation endpoint answered ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error('the rotation endpoint timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}
