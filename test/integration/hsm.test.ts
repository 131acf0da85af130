// The PKCS#11 root of trust against a real token (SoftHSM2, one fresh token per test): the key never
// leaves the token, KMS works through it, Trent fails closed while the token is gone and recovers by
// itself, a wrong PIN stops it at start-up, and a key-file directory migrates into the token, working
// while half migrated and finishing when the migration is run again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  KMSClient,
  CreateKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  RotateKeyOnDemandCommand,
  type KMSServiceException,
} from '@aws-sdk/client-kms';
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { SqliteDatabase } from '../../src/store/sqlite.ts';
import { createSoftHsm, softHsmMissing, USER_PIN, type SoftHsm } from '../helpers/softhsm.ts';
import { DISTRIBUTED, REPO, removeDir, startTrent, tempDir, type RunningTrent } from '../helpers/trent.ts';

const require = createRequire(import.meta.url);
const pkcs11 = require('pkcs11js') as typeof import('pkcs11js');

// Throws (failing the file with the reason) on CI without SoftHSM; elsewhere the tests are skipped.
// The root of trust is the same on every backend; these tests read the data directory's SQLite files, and
// `trent root migrate` works on the embedded backends only (docs/cluster.md). They run in the embedded pass.
const skip = softHsmMissing() ?? (DISTRIBUTED ? 'the HSM tests run on the embedded backends' : false);

const KEY_FILE_PREFIX = 0x01;
const HSM_PREFIX = 0x02;
const context = { tenant: 'hsm-test', purpose: 'root-of-trust' };

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Run a `trent` command to completion; `onOutput` may kill it early. */
function trent(args: string[], env: NodeJS.ProcessEnv, onOutput?: (stdout: string, kill: () => void) => void, limitMs = 60_000): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/trent.mjs'), ...args], {
      cwd: REPO,
      env: { ...process.env, TRENT_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let output = '';
    const kill = () => child.kill('SIGKILL');
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      output += d;
      onOutput?.(stdout, kill);
    });
    child.stderr.on('data', (d: Buffer) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trent ${args.join(' ')} ran longer than ${limitMs} ms:\n${output}`));
    }, limitMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** What a KMS call failed with, or a failure of the test if it succeeded. */
async function failure(p: Promise<unknown>): Promise<KMSServiceException> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as KMSServiceException,
  );
  assert.ok(r, 'the call was expected to fail');
  return r;
}

interface RootKeyFacts {
  count: number;
  extractable: boolean;
  sensitive: boolean;
  neverExtractable: boolean;
  valueError: string;
}

/** Look at the root key on the token from this process, as an operator's PKCS#11 tool would. */
function inspectRootKey(hsm: SoftHsm, label = 'trent-root'): RootKeyFacts {
  // SoftHSM reads its configuration at C_Initialize.
  const previous = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = hsm.env.SOFTHSM2_CONF;
  const lib = new pkcs11.PKCS11();
  lib.load(hsm.module);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === hsm.token);
    assert.ok(slot !== undefined, `token '${hsm.token}' is present`);
    const session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION);
    lib.C_Login(session, pkcs11.CKU_USER, USER_PIN);
    lib.C_FindObjectsInit(session, [
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
      { type: pkcs11.CKA_LABEL, value: label },
    ]);
    const found = lib.C_FindObjects(session, 10);
    lib.C_FindObjectsFinal(session);
    assert.ok(found.length > 0, `a secret key labelled '${label}' is on the token`);
    const key = found[0]!;
    const attrs = lib.C_GetAttributeValue(session, key, [{ type: pkcs11.CKA_EXTRACTABLE }, { type: pkcs11.CKA_SENSITIVE }, { type: pkcs11.CKA_NEVER_EXTRACTABLE }]);
    const flag = (i: number) => {
      const v = attrs[i]!.value;
      assert.ok(Buffer.isBuffer(v) && v.length === 1, `attribute ${attrs[i]!.type} is a CK_BBOOL`);
      return v[0] === 1;
    };
    let valueError = 'the value was readable';
    try {
      lib.C_GetAttributeValue(session, key, [{ type: pkcs11.CKA_VALUE }]);
    } catch (err) {
      valueError = err instanceof Error ? err.message : String(err);
    }
    const facts = { count: found.length, extractable: flag(0), sensitive: flag(1), neverExtractable: flag(2), valueError };
    lib.C_Logout(session);
    lib.C_CloseSession(session);
    return facts;
  } finally {
    lib.C_Finalize();
    if (previous === undefined) delete process.env['SOFTHSM2_CONF'];
    else process.env['SOFTHSM2_CONF'] = previous;
  }
}

/** The first byte of every wrapped value in a stopped server's database. */
async function wrapPrefixes(dataDir: string): Promise<{ keys: number[]; accessKeys: number[]; rootKind: string | undefined }> {
  const db = SqliteDatabase.open(join(dataDir, 'trent.db'));
  try {
    const keys = await db.all<{ w: Uint8Array }>('SELECT material_wrapped AS w FROM kms_key_versions');
    const accessKeys = await db.all<{ w: Uint8Array }>('SELECT secret_wrapped AS w FROM access_keys');
    const kind = await db.get<{ value: string }>("SELECT value FROM instance WHERE name = 'root_kind'");
    return { keys: keys.map((r) => r.w[0]!), accessKeys: accessKeys.map((r) => r.w[0]!), rootKind: kind?.value };
  } finally {
    await db.close();
  }
}

interface Sealed {
  keyId: string;
  arn: string;
  plaintext: string;
  blob: Uint8Array;
}

async function seal(kms: KMSClient, keyId: string, arn: string, plaintext: string): Promise<Sealed> {
  const out = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext), EncryptionContext: context }));
  return { keyId, arn, plaintext, blob: out.CiphertextBlob! };
}

async function assertAllDecrypt(t: RunningTrent, sealed: Sealed[], when: string): Promise<void> {
  const kms = new KMSClient(t.clientConfig());
  try {
    for (const s of sealed) {
      const out = await kms.send(new DecryptCommand({ CiphertextBlob: s.blob, EncryptionContext: context }));
      assert.equal(Buffer.from(out.Plaintext!).toString(), s.plaintext, `${when}: the ciphertext under ${s.keyId} decrypts to what was sealed`);
      assert.equal(out.KeyId, s.arn, `${when}: Decrypt names the key`);
    }
  } finally {
    kms.destroy();
  }
}

test('a new data directory on the HSM root: no key file, a key that cannot leave the token, KMS working across restarts', { skip }, async () => {
  const hsm = await createSoftHsm();
  const dataDir = await tempDir();
  let t: RunningTrent | undefined;
  try {
    t = await startTrent({ dataDir, args: hsm.serveArgs, env: hsm.env });
    assert.match(t.output(), /root of trust\s+PKCS#11 token trent-test \(key trent-root, pkcs11\)/, 'the banner names the token');
    assert.ok(!existsSync(join(dataDir, 'root.key')), 'no root.key is written when the root is the HSM');

    let kms = new KMSClient(t.clientConfig());
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'hsm-rooted' }));
    const keyId = KeyMetadata!.KeyId!;
    const sealed = await seal(kms, keyId, KeyMetadata!.Arn!, 'under the HSM');
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: sealed.blob, EncryptionContext: context }));
    assert.equal(Buffer.from(opened.Plaintext!).toString(), 'under the HSM');
    const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }));
    assert.equal(dataKey.Plaintext!.length, 32);
    const dk = await kms.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context }));
    assert.ok(Buffer.from(dk.Plaintext!).equals(Buffer.from(dataKey.Plaintext!)), 'the data key decrypts to the plaintext data key');
    kms.destroy();

    assert.equal(await t.stop(), 0);
    t = await startTrent({ dataDir, args: hsm.serveArgs, env: hsm.env });
    kms = new KMSClient(t.clientConfig());
    const again = await kms.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context }));
    assert.ok(Buffer.from(again.Plaintext!).equals(Buffer.from(dataKey.Plaintext!)), 'after a restart the data key still decrypts');
    kms.destroy();
    await assertAllDecrypt(t, [sealed], 'after a restart');
    assert.equal(await t.stop(), 0);
    t = undefined;

    const stored = await wrapPrefixes(dataDir);
    assert.equal(stored.rootKind, 'pkcs11');
    assert.ok(stored.keys.length === 1 && stored.keys.every((b) => b === HSM_PREFIX), `the backing key is wrapped by the HSM (prefixes ${stored.keys})`);
    assert.ok(stored.accessKeys.length > 0 && stored.accessKeys.every((b) => b === HSM_PREFIX), `access keys are wrapped by the HSM (prefixes ${stored.accessKeys})`);

    const key = inspectRootKey(hsm);
    assert.equal(key.count, 1, 'exactly one root key on the token');
    assert.equal(key.extractable, false, 'CKA_EXTRACTABLE is false');
    assert.equal(key.sensitive, true, 'CKA_SENSITIVE is true');
    assert.equal(key.neverExtractable, true, 'CKA_NEVER_EXTRACTABLE is true');
    assert.match(key.valueError, /CKR_ATTRIBUTE_SENSITIVE/, 'reading CKA_VALUE is refused');
  } finally {
    await t?.stop();
    await removeDir(dataDir);
    await hsm.cleanup();
  }
});

test('the token vanishing makes KMS fail closed (500 naming the root); it works again once the token is back, without a restart', { skip }, async () => {
  const hsm = await createSoftHsm();
  const t = await startTrent({ args: hsm.serveArgs, env: hsm.env });
  const kms = new KMSClient(t.clientConfig());
  try {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    const before = await seal(kms, keyId, KeyMetadata!.Arn!, 'sealed before the outage');

    await hsm.removeToken();
    // Availability is probed at most once a second: past that, the cached backing key must not be used.
    await new Promise((r) => setTimeout(r, 1_100));
    const enc = await failure(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('during'), EncryptionContext: context })));
    const dec = await failure(kms.send(new DecryptCommand({ CiphertextBlob: before.blob, EncryptionContext: context })));
    for (const [what, e] of [
      ['Encrypt', enc],
      ['Decrypt', dec],
    ] as const) {
      assert.equal(e.name, 'KMSInternalException', `${what} fails with KMSInternalException (got ${e.name}: ${e.message})`);
      assert.equal(e.$metadata.httpStatusCode, 500, `${what} answers HTTP 500`);
      assert.match(e.message, /root of trust is unavailable/, `${what}'s message names the unavailable root`);
      assert.match(e.message, /not present/, `${what}'s message says the token is gone`);
    }
    // Still closed a moment later (nothing falls back to the cache).
    const stillDown = await failure(kms.send(new DecryptCommand({ CiphertextBlob: before.blob, EncryptionContext: context })));
    assert.equal(stillDown.name, 'KMSInternalException');

    await hsm.restoreToken();
    let after: Sealed | undefined;
    let last: unknown;
    for (let attempt = 0; attempt < 5 && !after; attempt++) {
      try {
        after = await seal(kms, keyId, KeyMetadata!.Arn!, 'sealed after the outage');
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    assert.ok(after, `Encrypt works again after the token is restored (last error: ${(last as Error | undefined)?.message})`);
    await assertAllDecrypt(t, [before, after], 'after the token came back');
    assert.equal(t.process.exitCode, null, 'the same server process recovered');
  } finally {
    kms.destroy();
    await t.stop();
    await removeDir(t.dataDir);
    await hsm.cleanup();
  }
});

test('a wrong PIN stops trent serve at start-up with the PKCS#11 login error', { skip }, async () => {
  const hsm = await createSoftHsm();
  const dataDir = await tempDir();
  try {
    await writeFile(hsm.pinFile, '9999\n', { mode: 0o600 });
    const r = await trent(['serve', '--data-dir', dataDir, '--port', '0', ...hsm.serveArgs], hsm.env);
    assert.equal(r.code, 1, `trent serve exits 1 (output: ${r.output})`);
    assert.match(r.output, /PKCS#11 login to token 'trent-test' failed: CKR_PIN_INCORRECT/, `the message names the failed login (output: ${r.output})`);
    assert.doesNotMatch(r.output, /Trent ready/, 'it never served');
  } finally {
    await removeDir(dataDir);
    await hsm.cleanup();
  }
});

test('migrating a key-file directory into the HSM: refused while serving, works half done, resumes, and leaves no key-file wrapping', { skip, timeout: 120_000 }, async (ctx) => {
  const hsm = await createSoftHsm();
  const dataDir = await tempDir();
  let t: RunningTrent | undefined;
  const migrateArgs = ['root', 'migrate', '--data-dir', dataDir, '--to', 'pkcs11', ...hsm.pkcs11Args];
  const migrateEnv = { ...hsm.env, TRENT_ROOT_MIGRATE_BATCH: '1' };
  try {
    t = await startTrent({ dataDir });
    assert.match(t.output(), /root of trust\s+key file/, 'the directory starts on the key-file root');
    const kms = new KMSClient(t.clientConfig());
    const keys: Array<{ keyId: string; arn: string }> = [];
    for (let batch = 0; batch < 6; batch++) {
      const made = await Promise.all(Array.from({ length: 25 }, (_, i) => kms.send(new CreateKeyCommand({ Description: `migrate-${batch * 25 + i}` }))));
      keys.push(...made.map((m) => ({ keyId: m.KeyMetadata!.KeyId!, arn: m.KeyMetadata!.Arn! })));
    }
    const sealed: Sealed[] = [];
    // Ciphertexts under version 1 of some keys, then under version 2 after an on-demand rotation.
    const samples = keys.filter((_, i) => i % 12 === 0);
    for (const k of samples) sealed.push(await seal(kms, k.keyId, k.arn, `v1 of ${k.keyId}`));
    const rotated = keys.filter((_, i) => i % 3 === 0);
    for (let i = 0; i < rotated.length; i += 25) await Promise.all(rotated.slice(i, i + 25).map((k) => kms.send(new RotateKeyOnDemandCommand({ KeyId: k.keyId }))));
    for (const k of samples) sealed.push(await seal(kms, k.keyId, k.arn, `v2 of ${k.keyId}`));
    kms.destroy();
    // An SSE-S3 object: its object key is sealed by the S3 service key, which the root wraps too.
    const s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
    await s3.send(new CreateBucketCommand({ Bucket: 'migrated' }));
    await s3.send(new PutObjectCommand({ Bucket: 'migrated', Key: 'photo', Body: 'sse-s3 before the migration' }));
    s3.destroy();

    // While the server runs, the migration refuses and names its pid.
    const refused = await trent(migrateArgs, migrateEnv);
    assert.equal(refused.code, 1, `migrate refuses under a live server (output: ${refused.output})`);
    assert.match(refused.output, new RegExp(`pid ${t.process.pid}\\b`), `the refusal names the server's pid (output: ${refused.output})`);
    assert.equal(await t.stop(), 0);
    t = undefined;
    const initial = await wrapPrefixes(dataDir);
    const totalValues = initial.keys.length + initial.accessKeys.length;
    assert.equal(initial.keys.length, keys.length + rotated.length, 'one backing-key version per key plus one per rotation');
    assert.ok(initial.keys.every((b) => b === KEY_FILE_PREFIX), 'before the migration everything is wrapped by the key file');
    const notYet = await trent(['serve', '--data-dir', dataDir, '--port', '0', ...hsm.serveArgs], hsm.env);
    assert.equal(notYet.code, 1, `--root pkcs11 on a key-file directory exits 1 before the migration (output: ${notYet.output})`);
    assert.match(notYet.output, /move it into the HSM with: trent root migrate/, `the refusal points to the migration (output: ${notYet.output})`);

    // Interrupted: SIGKILL as soon as the first KMS backing key has been re-wrapped and committed.
    let killedEarly = false;
    const interrupted = await trent(migrateArgs, migrateEnv, (stdout, kill) => {
      if (!killedEarly && /re-wrapped \d+ KMS backing keys/.test(stdout)) {
        killedEarly = !/done:/.test(stdout);
        kill();
      }
    });
    assert.ok(killedEarly, `the migration was killed before it finished (output: ${interrupted.output})`);
    assert.equal(interrupted.signal, 'SIGKILL', `the migration died by SIGKILL (code ${interrupted.code}, output: ${interrupted.output})`);
    assert.match(interrupted.output, /^starting migration/m);
    assert.doesNotMatch(interrupted.output, /done:/, 'it never reached done');
    const half = await wrapPrefixes(dataDir);
    const moved = half.keys.filter((b) => b === HSM_PREFIX).length;
    const left = half.keys.filter((b) => b === KEY_FILE_PREFIX).length + half.accessKeys.filter((b) => b === KEY_FILE_PREFIX).length;
    assert.ok(moved >= 1 && half.keys.some((b) => b === KEY_FILE_PREFIX), `the directory is half migrated (${moved} of ${half.keys.length} backing keys moved)`);
    assert.equal(half.rootKind, 'keyfile', 'the root switches only when the migration finishes');
    ctx.diagnostic(`killed after ${moved} of ${half.keys.length} backing keys (and ${half.accessKeys.length - half.accessKeys.filter((b) => b === KEY_FILE_PREFIX).length} of ${half.accessKeys.length} access keys) were re-wrapped`);

    // Half migrated: refused without the PKCS#11 settings, working with them.
    const noHsm = await trent(['serve', '--data-dir', dataDir, '--port', '0'], {});
    assert.equal(noHsm.code, 1, `serving the half-migrated directory without PKCS#11 settings exits 1 (output: ${noHsm.output})`);
    assert.match(noHsm.output, /migration of the root of trust to PKCS#11 is unfinished/, `the refusal says the migration is unfinished (output: ${noHsm.output})`);
    t = await startTrent({ dataDir, args: hsm.serveArgs, env: hsm.env });
    assert.match(t.output(), /migration in progress/, 'the banner says the migration is in progress');
    await assertAllDecrypt(t, sealed, 'half migrated');
    assert.equal(await t.stop(), 0);
    t = undefined;

    // Run again: it resumes and finishes.
    const resumed = await trent(migrateArgs, migrateEnv);
    assert.equal(resumed.code, 0, `the resumed migration succeeds (output: ${resumed.output})`);
    assert.match(resumed.output, /^resuming migration/m, 'it says it resumes');
    const done = /done: (\d+) values re-wrapped/.exec(resumed.output);
    assert.ok(done, `it finishes (output: ${resumed.output})`);
    // ... plus the XKS proxy credential and the S3 service key, which come after the KMS backing keys and so were still left.
    assert.equal(Number(done[1]), left + 2, 'it re-wraps exactly what the interrupted run left');
    assert.ok(Number(done[1]) - 2 < totalValues, 'the first run kept the work it committed');

    t = await startTrent({ dataDir, args: hsm.serveArgs, env: hsm.env });
    assert.doesNotMatch(t.output(), /migration in progress/, 'the migration is over');
    await assertAllDecrypt(t, sealed, 'after the migration');
    const s3after = new S3Client(t.clientConfig({ forcePathStyle: true }));
    const obj = await s3after.send(new GetObjectCommand({ Bucket: 'migrated', Key: 'photo' }));
    assert.equal(await obj.Body!.transformToString(), 'sse-s3 before the migration', 'an SSE-S3 object reads back after the migration');
    s3after.destroy();
    assert.equal(await t.stop(), 0);
    t = undefined;
    const refusedAfter = await trent(['serve', '--data-dir', dataDir, '--port', '0'], {});
    assert.equal(refusedAfter.code, 1, `serving the migrated directory without PKCS#11 settings exits 1 (output: ${refusedAfter.output})`);
    assert.match(refusedAfter.output, /root of trust is a PKCS#11 token/, `the refusal says the root is the token (output: ${refusedAfter.output})`);

    const final = await wrapPrefixes(dataDir);
    assert.equal(final.rootKind, 'pkcs11');
    assert.equal(final.keys.length, initial.keys.length, 'no backing key was lost or added');
    assert.ok(!final.keys.some((b) => b === KEY_FILE_PREFIX), 'no backing key is still wrapped by the key file (prefix 0x01)');
    assert.ok(!final.accessKeys.some((b) => b === KEY_FILE_PREFIX), 'no access key is still wrapped by the key file (prefix 0x01)');
    assert.ok(final.keys.every((b) => b === HSM_PREFIX) && final.accessKeys.every((b) => b === HSM_PREFIX), 'everything is wrapped by the HSM (prefix 0x02)');
  } finally {
    await t?.stop();
    await removeDir(dataDir);
    await hsm.cleanup();
  }
});
