// The signed-in session: temporary credentials only, held in this module's memory and nowhere else (no storage, no
// cookie, nothing on the server). The long-term key typed at sign-in is used for one call (GetSessionToken, or
// AssumeRole) and dropped. Every client built here calls Trent's own origin, the only one the page's CSP allows.
import { STSClient, GetSessionTokenCommand, AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';

export interface Session {
  region: string;
  accountId: string;
  arn: string;
  userId: string;
  /** How the temporary credentials were obtained. */
  via: 'GetSessionToken' | 'AssumeRole';
  expiration: Date;
}

let credentials: AwsCredentialIdentity | undefined;
let session: Session | undefined;
let expiryTimer: ReturnType<typeof setTimeout> | undefined;
const clients = new Map<string, { destroy(): void }>();

/** Trent's own endpoint: the origin this page came from. */
export const ENDPOINT = location.origin;

export function current(): Session | undefined {
  return session;
}

/** The credentials provider every client uses: fails once signed out, so no call can be made without a session. */
async function provide(): Promise<AwsCredentialIdentity> {
  if (!credentials) throw Object.assign(new Error('You are signed out.'), { name: 'SignedOut' });
  return credentials;
}

/** Client options for any AWS SDK client: Trent's endpoint, the session's region and credentials, one attempt. */
export function clientConfig(): { region: string; endpoint: string; credentials: () => Promise<AwsCredentialIdentity>; maxAttempts: number } {
  if (!session) throw Object.assign(new Error('You are signed out.'), { name: 'SignedOut' });
  return { region: session.region, endpoint: ENDPOINT, credentials: provide, maxAttempts: 1 };
}

/** One client per service for the session, built on first use. */
export function client<T extends { destroy(): void }>(name: string, make: () => T): T {
  let c = clients.get(name) as T | undefined;
  if (!c) {
    c = make();
    clients.set(name, c);
  }
  return c;
}

export interface SignIn {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Sign in by assuming this role (AssumeRole) instead of GetSessionToken. */
  roleArn?: string;
  durationSeconds: number;
}

/** Exchanges a long-term key for temporary credentials at once, and keeps only those. */
export async function signIn(form: SignIn): Promise<Session> {
  const longTerm = new STSClient({ region: form.region, endpoint: ENDPOINT, credentials: { accessKeyId: form.accessKeyId, secretAccessKey: form.secretAccessKey }, maxAttempts: 1 });
  let temporary: AwsCredentialIdentity;
  let expiration: Date;
  try {
    const out = form.roleArn
      ? await longTerm.send(new AssumeRoleCommand({ RoleArn: form.roleArn, RoleSessionName: 'trent-console', DurationSeconds: form.durationSeconds }))
      : await longTerm.send(new GetSessionTokenCommand({ DurationSeconds: form.durationSeconds }));
    const c = out.Credentials!;
    temporary = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken!, expiration: c.Expiration! };
    expiration = c.Expiration!;
  } finally {
    longTerm.destroy();
  }
  const sts = new STSClient({ region: form.region, endpoint: ENDPOINT, credentials: temporary, maxAttempts: 1 });
  try {
    const me = await sts.send(new GetCallerIdentityCommand({}));
    credentials = temporary;
    session = { region: form.region, accountId: me.Account!, arn: me.Arn!, userId: me.UserId!, via: form.roleArn ? 'AssumeRole' : 'GetSessionToken', expiration };
  } finally {
    sts.destroy();
  }
  // The session ends when its credentials do.
  expiryTimer = setTimeout(() => signOut(), Math.max(0, expiration.getTime() - Date.now()));
  return session;
}

/** Drops the credentials and the clients that hold them. */
export function forget(): void {
  credentials = undefined;
  session = undefined;
  if (expiryTimer) clearTimeout(expiryTimer);
  for (const c of clients.values()) c.destroy();
  clients.clear();
}

/** Forgets everything: credentials, clients, and (by reloading) every page's state. */
export function signOut(): void {
  forget();
  location.replace(`${location.pathname}#/`);
  location.reload();
}
