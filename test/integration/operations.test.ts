// The server as an operator meets it: one server per data directory, clear and quick failures, a stop that keeps
// its 10-second promise whatever the clients do, status, stop and logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { KMSClient, CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { REPO, removeDir, startTrent, tempDir, type RunningTrent } from '../helpers/trent.ts';

const run = promisify(execFile);
const trent = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, [join(REPO, 'bin/trent.mjs'), ...args], { cwd: REPO, env: { ...process.env, ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** Start `trent serve` and measure how long it takes to give up (for failures that must be quick). */
async function failingServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string; ms: number }> {
  const started = Date.now();
  const r = await trent(['serve', ...args], env);
  return { code: r.code, stderr: r.stderr, ms: Date.now() - started };
}

test('a second server on the same data directory is refused at once, naming the first; the first keeps serving', async () => {
  const t = await startTrent();
  try {
    const endpointBefore = await readFile(join(t.dataDir, 'endpoint.json'), 'utf8');
    const second = await failingServe(['--data-dir', t.dataDir, '--port', '0']);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`another Trent \\(pid ${t.process.pid}, https://localhost:${t.port}`));
    assert.ok(second.ms < 5_000, `refused in ${second.ms} ms`);
    assert.equal(await readFile(join(t.dataDir, 'endpoint.json'), 'utf8'), endpointBefore, 'endpoint.json untouched');
    await new STSClient(t.clientConfig()).send(new GetCallerIdentityCommand({}));
    const status = await trent(['status', '--data-dir', t.dataDir]);
    assert.equal(status.code, 0);
    assert.match(status.stdout, new RegExp(`endpoint\\s+https://localhost:${t.port}`));
    assert.match(status.stdout, /workers\s+2 \(pids \d+, \d+\)/);
    const json = JSON.parse((await trent(['status', '--data-dir', t.dataDir, '--json'])).stdout) as { running: boolean; pid: number };
    assert.deepEqual([json.running, json.pid], [true, t.process.pid]);
  } finally {
    await t.stop();
    await removeDir(t.dataDir);
  }
});

test('a lock left by a killed server is no lock: the next start takes over at once', async () => {
  const t = await startTrent();
  await t.stop('SIGKILL');
  const again = await startTrent({ dataDir: t.dataDir });
  try {
    await new STSClient(again.clientConfig()).send(new GetCallerIdentityCommand({}));
  } finally {
    await again.stop();
    await removeDir(t.dataDir);
  }
});

test('a port in use, an unreadable certificate: one clear line and a non-zero exit within seconds', async () => {
  const dir = await tempDir();
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as { port: number }).port;
  try {
    for (const workers of ['1', '2']) {
      const r = await failingServe(['--data-dir', dir, '--host', '127.0.0.1', '--port', String(port), '--workers', workers]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^trent serve: port ${port} on 127.0.0.1 is already in use`, 'm'));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.ok(r.ms < 10_000, `gave up in ${r.ms} ms`);
    }
    const cert = await failingServe(['--data-dir', dir, '--port', '0', '--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'missing-key.pem')]);
    assert.equal(cert.code, 1);
    assert.match(cert.stderr, /missing\.pem/);
    assert.ok(cert.ms < 10_000);
  } finally {
    busy.close();
    await removeDir(dir);
  }
});

test('two servers started at the same moment on one port (each with its own data directory): one serves it, the other is refused', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const dirs = [await tempDir(), await tempDir()];
  const children = dirs.map((dir) =>
    spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), 'serve', '--data-dir', dir, '--host', '127.0.0.1', '--port', String(port), '--workers', '2'], {
      cwd: REPO,
      env: { ...process.env, TRENT_LOG_LEVEL: 'warn', TRENT_FACES_LAZY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  try {
    // Each either announces itself ready or exits; neither may do both, and exactly one may be ready.
    const outcomes = await Promise.all(
      children.map(
        (c) =>
          new Promise<{ ready: boolean; out: string }>((resolve) => {
            let out = '';
            const timer = setTimeout(() => resolve({ ready: false, out: `${out}\n(neither ready nor exited in 60 s)` }), 60_000);
            const onData = (d: Buffer) => {
              out += d.toString();
              if (/Trent ready at/.test(out)) {
                clearTimeout(timer);
                resolve({ ready: true, out });
              }
            };
            c.stdout!.on('data', onData);
            c.stderr!.on('data', onData);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve({ ready: /Trent ready at/.test(out), out });
            });
          }),
      ),
    );
    const ready = outcomes.filter((o) => o.ready);
    assert.equal(ready.length, 1, outcomes.map((o) => o.out).join('\n---\n'));
    const refused = outcomes.find((o) => !o.ready)!;
    assert.match(refused.out, new RegExp(`port ${port} on 127.0.0.1 is already in use`));
    // The winner serves every connection (none lands on a socket that never answers).
    const winner = children[outcomes.indexOf(ready[0]!)]!;
    const dir = dirs[children.indexOf(winner)]!;
    const creds = await readFile(join(dir, 'credentials'), 'utf8');
    const { Agent } = await import('node:https');
    const { NodeHttpHandler } = await import('@smithy/node-http-handler');
    const sts = new STSClient({
      region: /region = (\S+)/.exec(creds)![1]!,
      endpoint: `https://127.0.0.1:${port}`,
      credentials: { accessKeyId: /aws_access_key_id = (\S+)/.exec(creds)![1]!, secretAccessKey: /aws_secret_access_key = (\S+)/.exec(creds)![1]! },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 10_000, httpsAgent: new Agent({ ca: await readFile(join(dir, 'tls', 'ca.pem')), keepAlive: false, servername: 'localhost' }) }),
    });
    for (let i = 0; i < 20; i++) await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    for (const d of dirs) await removeDir(d);
  }
});

/** Connections that misbehave: plain HTTP sent to the TLS port, a TLS handshake never finished, headers dripped. */
async function hostileConnections(t: RunningTrent): Promise<Array<{ destroy(): void }>> {
  const out: Array<{ destroy(): void }> = [];
  for (let i = 0; i < 3; i++) {
    const plain = tcpConnect(t.port, '127.0.0.1');
    plain.on('error', () => undefined);
    plain.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    out.push(plain);
  }
  for (let i = 0; i < 3; i++) {
    // A ClientHello's first bytes only: the handshake never completes.
    const stalled = tcpConnect(t.port, '127.0.0.1');
    stalled.on('error', () => undefined);
    stalled.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]));
    out.push(stalled);
  }
  for (let i = 0; i < 3; i++) {
    const drip = tlsConnect({ host: '127.0.0.1', port: t.port, servername: 'localhost', ca: t.ca });
    drip.on('error', () => undefined);
    drip.once('secureConnect', () => {
      drip.write('POST / HTTP/1.1\r\nHost: localhost\r\n');
      const timer = setInterval(() => drip.writable && drip.write('X-Drip: 1\r\n'), 300);
      drip.once('close', () => clearInterval(timer));
    });
    out.push(drip);
  }
  await new Promise((r) => setTimeout(r, 500));
  return out;
}

test('SIGTERM under load and with hostile connections: in-flight calls finish, and the server exits within 10 s', { timeout: 120_000 }, async () => {
  for (const workers of ['1', '2']) {
    const t = await startTrent({ args: ['--workers', workers] });
    const kms = new KMSClient(t.clientConfig());
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const hostile = await hostileConnections(t);
    let stop = false;
    let ok = 0;
    const lanes = Array.from({ length: 4 }, async () => {
      while (!stop) {
        await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })).then(
          () => ok++,
          () => (stop = true),
        );
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    const asked = Date.now();
    const code = await t.stop('SIGTERM');
    const took = Date.now() - asked;
    stop = true;
    await Promise.all(lanes);
    for (const h of hostile) h.destroy();
    assert.equal(code, 0, `workers ${workers}: exit code\n${t.output().slice(-2000)}`);
    assert.ok(took < 10_500, `workers ${workers}: stopped in ${took} ms`);
    assert.ok(ok > 10);
    assert.doesNotMatch(t.output(), /"level":50/, `workers ${workers}: nothing logged at error level:\n${t.output().slice(-2000)}`);
    await removeDir(t.dataDir);
  }
});

test('a second signal stops at once', async () => {
  const t = await startTrent({ args: ['--workers', '1'] });
  try {
    // A connection that never finishes its request keeps the first stop waiting.
    const drip = tlsConnect({ host: '127.0.0.1', port: t.port, servername: 'localhost', ca: t.ca });
    drip.on('error', () => undefined);
    await new Promise<void>((r) => drip.once('secureConnect', () => r()));
    drip.write('POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nX-Amz-Target: TrentService.ListKeys\r\n\r\n{');
    await new Promise((r) => setTimeout(r, 300));
    t.process.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const asked = Date.now();
    t.process.kill('SIGINT');
    const code = await t.stop();
    assert.ok(Date.now() - asked < 2_000, `stopped ${Date.now() - asked} ms after the second signal`);
    assert.equal(code, 130);
    drip.destroy();
  } finally {
    await removeDir(t.dataDir);
  }
});

test('headers dripped slower than the headers timeout are cut off with 408', async () => {
  const t = await startTrent({ env: { TRENT_HEADERS_TIMEOUT_SECONDS: '2' } });
  try {
    const drip = tlsConnect({ host: '127.0.0.1', port: t.port, servername: 'localhost', ca: t.ca });
    drip.on('error', () => undefined);
    let answer = '';
    drip.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise<void>((r) => drip.once('secureConnect', () => r()));
    drip.write('POST / HTTP/1.1\r\nHost: localhost\r\n');
    const timer = setInterval(() => drip.writable && drip.write('X-Drip: 1\r\n'), 200);
    const started = Date.now();
    await new Promise<void>((r) => drip.once('close', () => r()));
    clearInterval(timer);
    assert.ok(Date.now() - started < 10_000, `cut after ${Date.now() - started} ms`);
    assert.match(answer, /^HTTP\/1\.1 408/);
  } finally {
    await t.stop();
    await removeDir(t.dataDir);
  }
});

test('trent stop stops the server; trent logs shows its log; trent status says it is not running', async () => {
  const t = await startTrent({ env: { TRENT_LOG_LEVEL: 'info' } });
  await new STSClient(t.clientConfig()).send(new GetCallerIdentityCommand({}));
  const logs = await trent(['logs', '--data-dir', t.dataDir, '-n', '200']);
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, /"msg":"workers started"/);
  assert.match(logs.stdout, /"msg":"worker serving"/, 'workers\' lines reach the log file through the primary');
  // A follower sees what is written after it started.
  const follower = spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), 'logs', '--data-dir', t.dataDir, '-n', '0', '-f'], { cwd: REPO });
  let followed = '';
  follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  await new Promise((r) => setTimeout(r, 1000));
  const stopped = await trent(['stop', '--data-dir', t.dataDir]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /stopped Trent/);
  // trent stop returns once the server has said it is done; the process then exits by itself, with 0.
  if (t.process.exitCode === null) await new Promise((r) => t.process.once('exit', r));
  assert.equal(t.process.exitCode, 0);
  await new Promise((r) => setTimeout(r, 1500));
  follower.kill('SIGINT');
  assert.match(followed, /stopping: finishing in-flight requests/);
  const status = await trent(['status', '--data-dir', t.dataDir]);
  assert.equal(status.code, 3);
  assert.match(status.stdout, /not running/);
  await removeDir(t.dataDir);
});
