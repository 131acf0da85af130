import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

/** What the AWS SDK for JavaScript throws for a service error. */
export interface SdkError {
  name: string;
  message: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/**
 * The call must fail with this error name and HTTP status (400 for every KMS client error).
 * `fails(call, name)`, `fails(call, name, status)` or `fails(call, name, label, status?)`.
 */
export async function fails(call: Promise<unknown>, name: string, labelOrStatus?: string | number, status = 400): Promise<SdkError> {
  const what = typeof labelOrStatus === 'string' ? `${labelOrStatus}: ` : '';
  const expectedStatus = typeof labelOrStatus === 'number' ? labelOrStatus : status;
  const outcome = await call.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err: err as SdkError }),
  );
  if (outcome.ok) assert.fail(`${what}expected ${name}, but the call succeeded: ${JSON.stringify(outcome.value)}`);
  assert.equal(outcome.err.name, name, `${what}expected ${name}, got ${outcome.err.name}: ${outcome.err.message}`);
  assert.equal(outcome.err.$metadata?.httpStatusCode, expectedStatus, `${what}${name} should come with HTTP ${expectedStatus}`);
  return outcome.err;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command (the AWS CLIs, python3, openssl) to completion; a non-zero exit is a result, not an error. */
export function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}
