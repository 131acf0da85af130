import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, stat, writeFile, copyFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { DISTRIBUTED, startTrent, removeDir, tempDir, REPO } from '../helpers/trent.ts';
import { signer, smithyRequest, STS_BODY, stsRequest } from '../helpers/raw.ts';

const run = promisify(execFile);

test('a server killed with SIGKILL restarts on the same data directory with its state intact', async () => {
  const first = await startTrent();
  const before = await new STSClient(first.clientConfig()).send(new GetCallerIdentityCommand({}));
  const ca = await readFile(first.caPath);
  assert.equal(await first.stop('SIGKILL'), null);

  const second = await startTrent({ dataDir: first.dataDir });
  try {
    assert.equal(second.accessKeyId, first.accessKeyId);
    assert.equal(second.secretAccessKey, first.secretAccessKey);
    assert.deepEqual(await readFile(second.caPath), ca, 'the CA survives, so clients keep trusting the server');
    const after = await new STSClient(second.clientConfig()).send(new GetCallerIdentityCommand({}));
    assert.deepEqual([after.Account, after.UserId, after.Arn], [before.Account, before.UserId, before.Arn]);
    for (const f of ['credentials', 'root.key', 'tls/ca-key.pem', 'tls/server-key.pem']) {
      assert.equal((await stat(join(first.dataDir, f))).mode & 0o777, 0o600, `${f} is readable by its owner only`);
    }
    assert.equal((await stat(first.dataDir)).mode & 0o777, 0o700);
    // The database never holds the admin secret in clear.
    if (DISTRIBUTED) {
      const db = await second.openDb();
      const rows = await db.all('SELECT * FROM access_keys');
      await db.close();
      assert.ok(rows.length > 0 && !JSON.stringify(rows, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v)).includes(first.secretAccessKey));
    } else {
      const db = await readFile(join(first.dataDir, 'trent.db'));
      const wal = await readFile(join(first.dataDir, 'trent.db-wal')).catch(() => Buffer.alloc(0));
      assert.ok(!db.includes(first.secretAccessKey) && !wal.includes(first.secretAccessKey));
    }
  } finally {
    await second.stop();
    await removeDir(first.dataDir);
  }
});

test('SIGTERM lets an in-flight request finish, then exits 0', async () => {
  const t = await startTrent();
  try {
    const req = (await signer(t, 'sts').sign(smithyRequest(t, stsRequest()))) as ReturnType<typeof smithyRequest>;
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', servername: 'localhost', port: t.port, method: 'POST', path: '/', headers: req.headers, ca: t.ca, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      r.on('error', reject);
      r.write(STS_BODY.slice(0, 5));
      // The rest of the body arrives after the server was asked to stop.
      setTimeout(() => {
        t.process.kill('SIGTERM');
        setTimeout(() => r.end(STS_BODY.slice(5)), 300);
      }, 200);
    });
    const res = await response;
    assert.equal(res.status, 200);
    assert.match(res.body, /<GetCallerIdentityResult>/);
    assert.equal(await t.stop(), 0);
  } finally {
    await removeDir(t.dataDir);
  }
});

test('a root key sealed by a passphrase: refused without it or with a wrong one, served with it', async () => {
  const dataDir = await tempDir();
  try {
    const t = await startTrent({ dataDir, env: { TRENT_ROOT_PASSPHRASE: 'correct horse battery staple' } });
    const keyFile = JSON.parse(await readFile(join(dataDir, 'root.key'), 'utf8'));
    assert.equal(keyFile.sealed, true);
    assert.equal(keyFile.kdf, 'scrypt');
    assert.equal(keyFile.key, undefined);
    await t.stop();

    const serve = (env: NodeJS.ProcessEnv) =>
      run(process.execPath, ['bin/trent.mjs', 'serve', '--data-dir', dataDir, '--port', '0'], { cwd: REPO, env: { ...process.env, ...env }, timeout: 60_000 }).catch(
        (e) => e,
      );
    const none = await serve({ TRENT_ROOT_PASSPHRASE: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /is sealed: supply the passphrase/);
    const wrong = await serve({ TRENT_ROOT_PASSPHRASE: 'wrong' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong passphrase/);

    const passFile = join(dataDir, '..', `${dataDir.split('/').pop()}.pass`);
    await writeFile(passFile, 'correct horse battery staple\n', { mode: 0o600 });
    const again = await startTrent({ dataDir, args: ['--root-passphrase-file', passFile], env: { TRENT_ROOT_PASSPHRASE: '' } });
    await new STSClient(again.clientConfig()).send(new GetCallerIdentityCommand({}));
    await again.stop();
    await removeDir(passFile);
  } finally {
    await removeDir(dataDir);
  }
});

test('a data directory opened with another root key, or a world-readable key file, is refused', async () => {
  const a = await startTrent();
  const b = await startTrent();
  await a.stop();
  await b.stop();
  try {
    await copyFile(join(b.dataDir, 'root.key'), join(a.dataDir, 'root.key'));
    const mismatch = await run(process.execPath, ['bin/trent.mjs', 'serve', '--data-dir', a.dataDir, '--port', '0'], { cwd: REPO }).catch((e) => e);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /not the key this data directory was created with/);

    await run('chmod', ['644', join(b.dataDir, 'root.key')]);
    const open = await run(process.execPath, ['bin/trent.mjs', 'serve', '--data-dir', b.dataDir, '--port', '0'], { cwd: REPO }).catch((e) => e);
    assert.equal(open.code, 1);
    assert.match(open.stderr, /accessible by other users/);
  } finally {
    await removeDir(a.dataDir);
    await removeDir(b.dataDir);
  }
});

test('trent env explains what to do before the first start', async () => {
  const dir = await tempDir();
  const r = await run(process.execPath, ['bin/trent.mjs', 'env', '--data-dir', dir], { cwd: REPO }).catch((e) => e);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /start Trent first/);
  await removeDir(dir);
});
