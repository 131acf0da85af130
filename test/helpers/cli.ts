import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { exec, type Run } from './assert.ts';
import type { RunningTrent } from './trent.ts';

export type Cli = 'v1' | 'v2';
/** Debian's AWS CLI v2; .ci/run installs it, so only a developer's machine may skip its tests. */
export const CLI_V2 = '/usr/bin/aws';
export const skipCliV2: string | false = !existsSync(CLI_V2) && !process.env['CI'] ? 'Debian awscli not installed (.ci/run installs it)' : false;

/** `aws <args>` with the pip CLI v1 (endpoint from AWS_ENDPOINT_URL) or Debian's v2 (needs --endpoint-url). */
export function aws(t: RunningTrent, cli: Cli, args: string[], timeoutMs?: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const env = { ...t.cliEnv(), ...extraEnv };
  if (cli === 'v1') return exec('aws', args, env, timeoutMs);
  delete env['AWS_ENDPOINT_URL'];
  return exec(CLI_V2, ['--endpoint-url', t.endpoint, ...args], env, timeoutMs);
}

/** `aws kms ...`, JSON output. */
export function awsKms(t: RunningTrent, cli: Cli, args: string[]): Promise<Run> {
  return aws(t, cli, ['kms', ...args, '--output', 'json']);
}

/** The same, required to succeed, with its JSON output parsed. */
export async function awsKmsJson<T = Record<string, unknown>>(t: RunningTrent, cli: Cli, args: string[]): Promise<T> {
  const r = await awsKms(t, cli, args);
  assert.equal(r.code, 0, `aws ${cli} kms ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as T;
}
