// The README's examples, run as written. Every fenced block of README.md is read from the file itself, so that
// editing the README changes what is tested, and each one is either run or skipped for a reason stated here:
//
//   - sh blocks run with bash (set -euo pipefail), in order, in a temporary directory that stands for the checkout
//     (examples/ and node_modules/ linked in, the server's data directory at ./.trent as `npm start` makes it), against
//     a server this test starts. `aws` is a wrapper that calls `trent aws` (the CLI under test named in
//     TRENT_AWS_CLI) and `npx trent` runs bin/trent.mjs. Once a block has run `eval "$(npx trent env)"`, the blocks
//     after it run in a shell where it was evaluated, as the README's reader's are.
//   - python and js blocks ("From code") run with python3 and Node in that same shell.
//   - blocks that install dependencies or start servers and test suites (npm ci, npm start, npm test, npm run
//     library, the benchmarks) are skipped: this test is itself the server's start, and the library kiosk (whose
//     webcam flow the browser tests drive) and the benchmarks start servers of their own.
//   - text blocks are sample output.
//
// The whole README runs twice: with the pip AWS CLI v1 and with Debian's AWS CLI v2 (2.9). A command whose comment
// says it needs a newer CLI ("CLI v1.32.84+ / v2.15.39+") is left out, and reported, when the CLI is older.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { scryptSync } from 'node:crypto';
import { constants } from 'node:os';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeKeyCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { REPO, removeDir, startTrent, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { CLI_V2, skipCliV2 } from '../helpers/cli.ts';

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** The heading the block sits under. */
  section: string;
}

function readmeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{1,6}\s+(.*)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    blocks.push({ line: start + 1, lang: open[1]!, code: body.join('\n') + '\n', section });
  }
  return blocks;
}

/** Why a block is not run, or undefined when it is. */
function skipReason(b: Block): string | undefined {
  if (!['sh', 'bash', 'shell', 'python', 'js'].includes(b.lang)) return `${b.lang || 'plain'} block: sample output, not a command`;
  if (/\bnpm (ci|start|test)\b|\bnpm run\b/.test(b.code)) return 'installs dependencies or starts servers or test suites (npm ci / start / test / run): this test starts its own server';
  if (/\bbench\//.test(b.code)) return 'a benchmark: starts servers of its own and runs for minutes';
  return undefined;
}

/** The server's most recent refused calls, from its audit trail: what a failing block ran into. */
async function refusals(server: RunningTrent): Promise<string> {
  const trail = new CloudTrailClient(server.clientConfig());
  try {
    const events = (await trail.send(new LookupEventsCommand({ MaxResults: 50 }))).Events ?? [];
    return events
      .map((e) => JSON.parse(e.CloudTrailEvent ?? '{}') as { eventTime?: string; eventName?: string; errorCode?: string; errorMessage?: string; userAgent?: string })
      .filter((e) => e.errorCode)
      .map((e) => `${e.eventTime} ${e.eventName}: ${e.errorCode}: ${e.errorMessage} (${e.userAgent})`)
      .join('\n');
  } catch (err) {
    return `(the trail could not be read: ${(err as Error).message})`;
  } finally {
    trail.destroy();
  }
}

type Version = [number, number, number];
const older = (a: Version, b: Version) => a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];

/** The block without the commands whose comment asks for a newer AWS CLI than `version`, and those commands. */
function forCli(code: string, version: Version): { code: string; left: string[] } {
  const units: string[] = [];
  for (const line of code.split('\n')) {
    const last = units.length - 1;
    if (last >= 0 && units[last]!.endsWith('\\')) units[last] += '\n' + line;
    else units.push(line);
  }
  const left: string[] = [];
  const kept = units.filter((u) => {
    const m = /CLI v1\.(\d+)\.(\d+)\+ \/ v2\.(\d+)\.(\d+)\+/.exec(u);
    if (!m) return true;
    const needed: Version = version[0] === 1 ? [1, Number(m[1]), Number(m[2])] : [2, Number(m[3]), Number(m[4])];
    if (!older(version, needed)) return true;
    left.push(u);
    return false;
  });
  return { code: kept.join('\n'), left };
}

/**
 * Run a command to completion with stdin from /dev/null. Not a pipe from this process: bash takes a socket on stdin
 * for a remote shell and reads ~/.bashrc, which may put another `aws` first on PATH.
 */
function run(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), stdout, stderr }));
  });
}

/** Every executable named `aws` on PATH, in order. */
function awsOnPath(): string[] {
  const found: string[] = [];
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const p = join(dir, 'aws');
    try {
      if (dir && statSync(p).isFile() && !found.includes(p)) found.push(p);
    } catch {
      // not here
    }
  }
  return found;
}

async function cliVersion(cli: string): Promise<Version | undefined> {
  const r = await run(cli, ['--version'], { cwd: REPO, env: process.env, timeoutMs: 60_000 }).catch(() => undefined);
  const m = r && /aws-cli\/(\d+)\.(\d+)\.(\d+)/.exec(r.stdout + r.stderr);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const BLOCKS = readmeBlocks(README);

test('the README has the blocks this test expects to run', (t) => {
  for (const b of BLOCKS) t.diagnostic(`README.md:${b.line} ${b.lang || 'plain'} (${b.section}): ${skipReason(b) ? `skipped: ${skipReason(b)}` : 'run'}`);
  const ran = BLOCKS.filter((b) => !skipReason(b));
  assert.ok(ran.some((b) => b.code.includes('eval "$(npx trent env)"')), 'a block evaluates trent env');
  for (const service of ['kms', 'cloudtrail', 's3', 'secretsmanager', 'ssm', 'iam', 'rekognition']) {
    assert.ok(ran.some((b) => new RegExp(`\\baws ${service}\\b`).test(b.code)), `a block that runs uses aws ${service}`);
  }
  assert.ok(!ran.some((b) => /\bACCOUNT\b/.test(b.code)), 'no placeholder account id in a block that runs');
});

const v1 = await (async () => {
  for (const cli of awsOnPath()) {
    const v = await cliVersion(cli);
    if (v?.[0] === 1) return { cli, version: v };
  }
  return undefined;
})();
const v2 = skipCliV2 ? undefined : await cliVersion(CLI_V2).then((version) => (version ? { cli: CLI_V2, version } : undefined));

for (const [name, found, skip] of [
  ['the pip AWS CLI v1', v1, v1 ? false : 'no AWS CLI v1 on PATH'],
  ["Debian's AWS CLI v2", v2, skipCliV2 || (v2 ? false : `${CLI_V2} does not report its version`)],
] as const) {
  test(`README examples run as written with ${name}`, { skip, timeout: 15 * 60_000 }, async (t) => {
    const { cli, version } = found!;
    t.diagnostic(`${cli}: aws-cli/${version.join('.')}`);
    const work = await tempDir('trent-readme-');
    const server = await startTrent({ dataDir: join(work, '.trent') });
    try {
      await symlink(join(REPO, 'examples'), join(work, 'examples'));
      await symlink(join(REPO, 'node_modules'), join(work, 'node_modules'));
      const bin = join(work, '.bin');
      await mkdir(bin);
      const trent = `"${process.execPath}" "${join(REPO, 'bin/trent.mjs')}"`;
      await writeFile(join(bin, 'aws'), `#!/bin/sh\nexec ${trent} aws "$@"\n`);
      await writeFile(join(bin, 'npx'), `#!/bin/sh\nif [ "$1" = trent ]; then shift; exec ${trent} "$@"; fi\necho "npx $1: only 'npx trent' is provided here" >&2\nexit 127\n`);
      await chmod(join(bin, 'aws'), 0o755);
      await chmod(join(bin, 'npx'), 0o755);
      // Nothing of this machine's AWS or Trent settings, except the blob store's credentials when the tests run on the
      // distributed backends: an operator of such a deployment has them set for the offline commands (trent trail ...).
      const env: NodeJS.ProcessEnv = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && (!k.startsWith('TRENT_') || k.startsWith('TRENT_BLOBS_')) && k !== 'BASH_ENV' && k !== 'ENV'),
      );
      Object.assign(env, {
        PATH: [bin, dirname(process.execPath), process.env['PATH']].join(delimiter),
        TRENT_AWS_CLI: cli,
        TRENT_LOG_LEVEL: 'warn',
        // Nothing from this machine's own AWS setup.
        AWS_CONFIG_FILE: join(work, 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_PAGER: '',
      });

      let session = false; // has a block evaluated trent env yet?
      const outputs: string[] = [];
      for (const block of BLOCKS) {
        const why = skipReason(block);
        const label = `README.md:${block.line} ${block.lang} (${block.section})`;
        await t.test(label, { skip: why ?? false }, async (st) => {
          const { code, left } = forCli(block.code, version);
          for (const l of left) st.diagnostic(`left out for aws-cli/${version.join('.')}: ${l.replace(/\s+/g, ' ')}`);
          let body = code;
          if (block.lang === 'python' || block.lang === 'js') {
            const file = `readme-${block.line}.${block.lang === 'python' ? 'py' : 'mjs'}`;
            await writeFile(join(work, file), code);
            body = block.lang === 'python' ? `python3 ${file}\n` : `node ${file}\n`;
          }
          const script = `set -euo pipefail\n${session ? 'eval "$(npx trent env)"\n' : ''}${body}`;
          const r = await run('bash', ['--norc', '--noprofile', '-c', script], { cwd: work, env, timeoutMs: 5 * 60_000 });
          outputs.push(r.stdout);
          if (r.code !== 0) {
            assert.fail(`${label} failed (exit ${r.code}):\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}\n--- server\n${server.output().slice(-4000)}\n--- refused calls in the audit trail\n${await refusals(server)}`);
          }
        });
        if (!why && block.code.includes('eval "$(npx trent env)"')) session = true;
      }

      // What the examples say they do, checked against the server. First, that `aws` was the CLI under test.
      const trail = new CloudTrailClient(server.clientConfig());
      const encrypts = (await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }] }))).Events ?? [];
      trail.destroy();
      const agents = encrypts.map((e) => (JSON.parse(e.CloudTrailEvent ?? '{}') as { userAgent?: string }).userAgent ?? '');
      assert.ok(agents.some((a) => a.startsWith(`aws-cli/${version.join('.')} `)), `kms encrypt ran on aws-cli/${version.join('.')}: ${agents.join('; ')}`);
      const all = outputs.join('\n');
      assert.match(all, /^a secret/m, 'kms decrypt printed the plaintext');
      assert.match(all, /Verified OK/, 'openssl verified the KMS signature');
      const member = await readFile(join(REPO, 'examples/faces/member.jpg'));
      assert.deepEqual(await readFile(join(work, 'copy.jpg')), member, 'the SSE-C object read back');
      assert.deepEqual(await readFile(join(work, 'ada.jpg')), member, 'the presigned URL served the object');
      const kms = new KMSClient(server.clientConfig());
      const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/library-members' }))).KeyMetadata!.KeyId!;
      const grants = (await kms.send(new ListGrantsCommand({ KeyId: keyId }))).Grants ?? [];
      assert.ok(grants.some((g) => /:user\/reader$/.test(g.GranteePrincipal ?? '') && g.Operations?.join() === 'Decrypt'), `the reader's grant: ${JSON.stringify(grants)}`);
      kms.destroy();
      // The rotation ran all four steps: a new password is current, and the "database" takes it.
      const sm = new SecretsManagerClient(server.clientConfig());
      let current = '';
      for (let i = 0; i < 600; i++) {
        const stages = Object.values((await sm.send(new DescribeSecretCommand({ SecretId: 'library/db' }))).VersionIdsToStages ?? {});
        current = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'library/db' }))).SecretString!).password;
        if (current !== '...' && !stages.some((s) => s.includes('AWSPENDING'))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.notEqual(current, '...', 'the rotation function replaced the password');
      const entry = JSON.parse(await readFile(join(work, 'passwords.json'), 'utf8')).users.kiosk as { salt: string; hash: string };
      assert.equal(scryptSync(current, Buffer.from(entry.salt, 'hex'), 32, { N: 16384, r: 8, p: 1 }).toString('hex'), entry.hash, 'the new password logs in');
      sm.destroy();
    } finally {
      await server.stop();
      await removeDir(work);
    }
  });
}
