// `trent aws`: the installed AWS CLI run against a data directory's server with the endpoint, CA bundle, region and
// credentials filled in. Its contract is checked with a stand-in CLI that prints what it was given; then the pip AWS
// CLI v1 and Debian's v2.9 (which reads no AWS_ENDPOINT_URL) run through it, with exit codes, stdin and presigned
// URLs passed through as the CLIs make them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:https';
import { join } from 'node:path';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { REPO, removeDir, startTrent, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { CLI_V2, skipCliV2 } from '../helpers/cli.ts';

let t: RunningTrent;
let work: string;
let fake: string;

before(async () => {
  t = await startTrent();
  work = await tempDir('trent-aws-');
  // A stand-in for the AWS CLI: prints its arguments, the variables trent aws sets, its config file and stdin.
  fake = join(work, 'fake-aws');
  await writeFile(
    fake,
    `#!/bin/bash --norc
trap 'echo got=TERM; exit 42' TERM
for a in "$@"; do echo "arg=$a"; done
for v in AWS_ENDPOINT_URL AWS_CA_BUNDLE AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_CONFIG_FILE; do
  echo "$v=\${!v-<unset>}"
done
if [ -n "\${AWS_CONFIG_FILE-}" ] && [ -f "$AWS_CONFIG_FILE" ]; then echo "config<<"; cat "$AWS_CONFIG_FILE"; echo ">>"; fi
if [ -n "\${FAKE_SLEEP-}" ]; then echo ready; sleep "$FAKE_SLEEP" & wait; fi
echo "stdin=$(cat)"
exit "\${FAKE_EXIT:-0}"
`,
  );
  await chmod(fake, 0o755);
});
after(async () => {
  await t?.stop();
  if (t) await removeDir(t.dataDir);
  if (work) await removeDir(work);
});

/** The environment of a shell with no AWS setup at all: no endpoint, no credentials, no CA, no config. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('TRENT_')));
  return { ...env, AWS_CONFIG_FILE: join(work, 'absent-config'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'absent-credentials'), AWS_PAGER: '', AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `trent aws ARGS` with `input` on stdin. */
function trentAws(args: string[], env: NodeJS.ProcessEnv, input = '', onStdout?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), 'aws', ...args], { env, cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin.end(input);
  });
}

const lines = (out: string, prefix: string) => out.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
const value = (out: string, name: string) => lines(out, `${name}=`)[0];

test('the CLI gets the endpoint, CA bundle, region and the admin credentials; stdin, stdout and the exit status pass through', async () => {
  const r = await trentAws(['--data-dir', t.dataDir, 'kms', 'list-keys'], cleanEnv({ TRENT_AWS_CLI: fake, FAKE_EXIT: '7', AWS_SESSION_TOKEN: 'stale', AWS_PROFILE: 'elsewhere' }), 'from stdin');
  assert.equal(r.code, 7, r.stderr);
  assert.deepEqual(lines(r.stdout, 'arg='), ['--endpoint-url', t.endpoint, 'kms', 'list-keys']);
  assert.equal(value(r.stdout, 'AWS_ENDPOINT_URL'), t.endpoint);
  assert.equal(value(r.stdout, 'AWS_CA_BUNDLE'), t.caPath);
  assert.equal(value(r.stdout, 'AWS_REGION'), t.region);
  assert.equal(value(r.stdout, 'AWS_DEFAULT_REGION'), t.region);
  assert.equal(value(r.stdout, 'AWS_ACCESS_KEY_ID'), t.accessKeyId);
  assert.equal(value(r.stdout, 'AWS_SECRET_ACCESS_KEY'), t.secretAccessKey);
  assert.equal(value(r.stdout, 'AWS_SESSION_TOKEN'), '<unset>', 'a stale session token is not sent along');
  assert.equal(value(r.stdout, 'AWS_PROFILE'), '<unset>');
  assert.equal(value(r.stdout, 'stdin'), 'from stdin');
  assert.ok(!r.stdout.includes('config<<'), 'no config file of its own outside s3 presign');
});

test('TRENT_DATA_DIR names the data directory; an endpoint on the command line is kept; credentials in the environment are used', async () => {
  const r = await trentAws(['--endpoint-url', 'https://elsewhere.example:1', 'sts', 'get-caller-identity'], cleanEnv({ TRENT_AWS_CLI: fake, TRENT_DATA_DIR: t.dataDir, AWS_ACCESS_KEY_ID: 'AKIAOTHER', AWS_SECRET_ACCESS_KEY: 'other-secret' }));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout, 'arg='), ['--endpoint-url', 'https://elsewhere.example:1', 'sts', 'get-caller-identity']);
  assert.equal(value(r.stdout, 'AWS_ENDPOINT_URL'), 'https://elsewhere.example:1');
  assert.equal(value(r.stdout, 'AWS_ACCESS_KEY_ID'), 'AKIAOTHER');
  assert.equal(value(r.stdout, 'AWS_SECRET_ACCESS_KEY'), 'other-secret');
});

test("s3 presign: SigV4 added to the profile in use, the user's own config kept, the file removed afterwards", async () => {
  const userConfig = join(work, 'user-config');
  await writeFile(userConfig, '[default]\noutput = text\n[profile team]\nregion = us-east-1\ncli_pager =\n');
  const r = await trentAws(['--data-dir', t.dataDir, 's3', 'presign', 's3://b/k', '--profile', 'team'], cleanEnv({ TRENT_AWS_CLI: fake, AWS_CONFIG_FILE: userConfig }));
  assert.equal(r.code, 0, r.stderr);
  const config = /config<<\n([\s\S]*)>>/.exec(r.stdout)?.[1];
  assert.equal(config, '[default]\noutput = text\n[profile team]\ns3 =\n    signature_version = s3v4\nregion = us-east-1\ncli_pager =\n');
  const path = value(r.stdout, 'AWS_CONFIG_FILE')!;
  assert.notEqual(path, userConfig);
  assert.ok(!existsSync(path), 'the temporary config is gone');
});

test('no command prints the usage; a data directory never served, a missing CLI and a wrapper that calls trent aws are refused in one line', async () => {
  const usage = await trentAws([], cleanEnv({ TRENT_AWS_CLI: fake }));
  assert.equal(usage.code, 2);
  assert.match(usage.stdout, /^trent aws \[--data-dir DIR\] COMMAND/);
  const none = await trentAws(['--data-dir', join(work, 'nothing-here'), 'sts', 'get-caller-identity'], cleanEnv({ TRENT_AWS_CLI: fake }));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^trent aws: .*nothing-here has not been served yet; start Trent first with: npx trent serve --data-dir .*\n$/);
  const noCli = await trentAws(['--data-dir', t.dataDir, 'sts', 'get-caller-identity'], cleanEnv({ PATH: work }));
  assert.equal(noCli.code, 1);
  assert.match(noCli.stderr, /no AWS CLI found on PATH/);
  const wrapper = join(work, 'aws-wrapper');
  await writeFile(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${join(REPO, 'bin/trent.mjs')}" aws "$@"\n`);
  await chmod(wrapper, 0o755);
  const nested = await trentAws(['--data-dir', t.dataDir, 'sts', 'get-caller-identity'], cleanEnv({ TRENT_AWS_CLI: wrapper }));
  assert.equal(nested.code, 1);
  assert.match(nested.stderr, /runs 'trent aws' itself; name the real one in TRENT_AWS_CLI/);
});

test('SIGTERM to trent aws reaches the CLI, whose status is the exit status', async () => {
  const r = await trentAws(['--data-dir', t.dataDir, 'sts', 'get-caller-identity'], cleanEnv({ TRENT_AWS_CLI: fake, FAKE_SLEEP: '30' }), '', (out, child) => {
    if (out.includes('ready\n') && !out.includes('got=')) child.kill('SIGTERM');
  });
  assert.match(r.stdout, /got=TERM/);
  assert.equal(r.code, 42);
});

/** An HTTPS GET trusting only Trent's CA. */
function fetch(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolvePromise, reject) => {
    get(url, { agent: new Agent({ ca: t.ca }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode!, body: Buffer.concat(chunks) }));
    }).once('error', reject);
  });
}

for (const [name, cli, skip] of [
  ['the pip AWS CLI v1', 'aws', false],
  ["Debian's AWS CLI v2 (2.9: no AWS_ENDPOINT_URL)", CLI_V2, skipCliV2],
] as const) {
  test(`${name} through trent aws, in a shell with no AWS setup`, { skip }, async () => {
    const cliPath = cli === 'aws' ? undefined : cli;
    const env = cleanEnv(cliPath ? { TRENT_AWS_CLI: cliPath } : {});
    const who = await trentAws(['--data-dir', t.dataDir, 'sts', 'get-caller-identity', '--query', 'Arn', '--output', 'text'], env);
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout.trim(), /^arn:aws:iam::\d{12}:user\/admin$/);

    // The exit status and error are the CLI's own, as it gives them when called directly with the endpoint.
    const missing = await trentAws(['--data-dir', t.dataDir, 'kms', 'describe-key', '--key-id', 'alias/not-there'], env);
    const direct = await new Promise<number | null>((r) => spawn(cliPath ?? 'aws', ['--endpoint-url', t.endpoint, 'kms', 'describe-key', '--key-id', 'alias/not-there'], { env: { ...t.cliEnv(), AWS_PAGER: '' }, stdio: 'ignore' }).once('exit', r));
    assert.ok(missing.code !== 0 && missing.code === direct, `exit ${missing.code}, directly ${direct}`);
    assert.match(missing.stderr, /NotFoundException/);

    // stdin reaches the CLI (aws s3 cp - reads the object from it), and a presigned URL for the object works: SigV4
    // (CLI v1 would otherwise sign with SigV2, which S3 refuses for new buckets).
    const bucket = `presign-${cliPath ? 'v2' : 'v1'}`;
    assert.equal((await trentAws(['--data-dir', t.dataDir, 's3', 'mb', `s3://${bucket}`], env)).code, 0);
    const put = await trentAws(['--data-dir', t.dataDir, 's3', 'cp', '-', `s3://${bucket}/k.txt`], env, 'through stdin');
    assert.equal(put.code, 0, put.stderr);
    const url = await trentAws(['--data-dir', t.dataDir, 's3', 'presign', `s3://${bucket}/k.txt`, '--expires-in', '300'], env);
    assert.equal(url.code, 0, url.stderr);
    assert.match(url.stdout, /X-Amz-Algorithm=AWS4-HMAC-SHA256/);
    const got = await fetch(url.stdout.trim());
    assert.equal(got.status, 200, got.body.toString());
    assert.equal(got.body.toString(), 'through stdin');
  });
}

test("another user's keys in the environment are used as given", async () => {
  const iam = new IAMClient(t.clientConfig());
  await iam.send(new CreateUserCommand({ UserName: 'env-user' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'env-user' }))).AccessKey!;
  iam.destroy();
  const r = await trentAws(['--data-dir', t.dataDir, 'sts', 'get-caller-identity', '--query', 'Arn', '--output', 'text'], cleanEnv({ AWS_ACCESS_KEY_ID: k.AccessKeyId!, AWS_SECRET_ACCESS_KEY: k.SecretAccessKey! }));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /:user\/env-user$/);
});
