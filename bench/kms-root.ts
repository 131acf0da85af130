// KMS with the key-file root of trust against KMS with the PKCS#11 root (SoftHSM2), in one run.
//
//   node --import tsx bench/kms-root.ts [--duration 8] [--connections 50] [--warmup 2] [--keys 200] [--log-level warn]
//
// For each root, one at a time (each Trent stopped before the next starts), in a fresh data directory
// (and, for the HSM, a fresh SoftHSM2 token):
//   1. hot Encrypt: one SigV4-signed Encrypt (32 bytes, two-pair encryption context) under one key,
//      replayed by `wrk -t1 -c<connections> --latency` for a warm-up and then the measured run. The
//      backing key is unwrapped once and then served from Trent's in-memory cache, so the root of trust
//      is touched only by the availability probe (at most once a second).
//   2. cold calls through the AWS SDK, one at a time: CreateKey of --keys keys (each wraps a new backing
//      key through the root), then one first-use Encrypt per key (a cache miss: one unwrap through the
//      root each), then the same Encrypts again (cache hits). Trent is then restarted on the same data
//      directory (empty cache), warms its Decrypt path on the first key, and decrypts one ciphertext per
//      key (first use: one unwrap each), then the same again (cache hits). cold minus warm is what the root costs per cache miss.
// The audit trail records every call, as in normal operation. Prints a table and a JSON line; see
// docs/benchmarks.md.
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KMSClient, CreateKeyCommand, DecryptCommand, EncryptCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { kmsRequest } from '../test/helpers/raw.ts';
import { createSoftHsm, softHsmMissing, type SoftHsm } from '../test/helpers/softhsm.ts';
import { removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';
import { drainOutput, findOnPath, fmt, killRunningLoad, machineFacts, measure, positiveInt, round, sendOnce, signedRequest, stopTrent, type LoadResult } from './lib.ts';

type RootKind = 'keyfile' | 'pkcs11';

interface Settings {
  wrk: string;
  connections: number;
  durationS: number;
  warmupS: number;
  keys: number;
  logLevel: string;
  workDir: string;
}

/** Latencies of calls made one at a time, in milliseconds. */
interface Serial {
  calls: number;
  totalMs: number;
  p50Ms: number;
  p99Ms: number;
}

interface RootResult {
  root: RootKind;
  hot: LoadResult;
  createKey: Serial;
  encryptCold: Serial;
  encryptWarm: Serial;
  decryptCold: Serial;
  decryptWarm: Serial;
}

const context = { tenant: 'bench', purpose: 'root-of-trust' };
const PLAINTEXT = Buffer.alloc(32, 7);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Run `call(i)` for i = 0..n-1 one after another and record each latency. */
async function serial(n: number, call: (i: number) => Promise<unknown>): Promise<Serial> {
  const ms: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await call(i);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
  ms.sort((a, b) => a - b);
  return { calls: n, totalMs, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99) };
}

async function start(root: RootKind, dataDir: string, hsm: SoftHsm | undefined, logLevel: string): Promise<RunningTrent> {
  const trent = await startTrent({ dataDir, args: root === 'pkcs11' ? hsm!.serveArgs : [], env: { TRENT_LOG_LEVEL: logLevel, ...(hsm?.env ?? {}) } });
  // Make sure the root is the one this phase claims.
  const banner = /root of trust\s+(.*)/.exec(trent.output())?.[1] ?? '';
  if (root === 'pkcs11' ? !banner.startsWith('PKCS#11 token') : !banner.startsWith('key file')) throw new Error(`Trent is not on the ${root} root: ${banner}`);
  if ((root === 'keyfile') !== existsSync(join(dataDir, 'root.key'))) throw new Error(`root.key ${root === 'keyfile' ? 'is missing' : 'exists'} with the ${root} root`);
  drainOutput(trent);
  return trent;
}

async function runRoot(s: Settings, root: RootKind, track: (t: RunningTrent | undefined) => void): Promise<RootResult> {
  const dataDir = await tempDir(`trent-bench-root-${root}-`);
  const hsm = root === 'pkcs11' ? await createSoftHsm({ label: 'trent-bench' }) : undefined;
  let trent: RunningTrent | undefined;
  try {
    console.log(`root: ${root === 'pkcs11' ? `PKCS#11 (SoftHSM2 ${hsm!.module}, token ${hsm!.token})` : 'key file'}`);
    trent = await start(root, dataDir, hsm, s.logLevel);
    track(trent);
    let kms = new KMSClient(trent.clientConfig());
    const keyArn = (await kms.send(new CreateKeyCommand({ Description: 'bench hot' }))).KeyMetadata!.Arn!;
    const hotBlob = (await kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: PLAINTEXT, EncryptionContext: context }))).CiphertextBlob!;

    // 1. Hot Encrypt under wrk.
    const request = await signedRequest(trent, 'kms', kmsRequest('Encrypt', JSON.stringify({ KeyId: keyArn, Plaintext: PLAINTEXT.toString('base64'), EncryptionContext: context })));
    const check = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, request);
    if (check.status !== 200) throw new Error(`Encrypt answered ${check.status}: ${check.body.toString('utf8')}`);
    const label = `kms:Encrypt hot [${root}]`;
    const hot = await measure('wrk', s.wrk, { port: trent.port, connections: s.connections, durationS: s.durationS, request, workDir: s.workDir, ca: trent.ca }, label, s.warmupS);
    if (hot.non2xx > 0 || hot.socketErrors > 0) throw new Error(`${label}: ${hot.non2xx} non-2xx, ${hot.socketErrors} socket errors`);

    // 2. Cold calls, one at a time.
    const keyIds: string[] = [];
    const createKey = await serial(s.keys, async (i) => keyIds.push((await kms.send(new CreateKeyCommand({ Description: `bench cold ${i}` }))).KeyMetadata!.KeyId!));
    const blobs: Uint8Array[] = [];
    const encryptCold = await serial(s.keys, async (i) => blobs.push((await kms.send(new EncryptCommand({ KeyId: keyIds[i], Plaintext: PLAINTEXT, EncryptionContext: context }))).CiphertextBlob!));
    const encryptWarm = await serial(s.keys, (i) => kms.send(new EncryptCommand({ KeyId: keyIds[i], Plaintext: PLAINTEXT, EncryptionContext: context })));
    kms.destroy();

    // Restart on the same directory: the backing-key cache starts empty.
    await stopTrent(trent);
    trent = await start(root, dataDir, hsm, s.logLevel);
    track(trent);
    kms = new KMSClient(trent.clientConfig());
    // The first call after a start unwraps the caller's access key; keep that out of the timings.
    await kms.send(new ListKeysCommand({ Limit: 1 }));
    const decryptBlob = async (blob: Uint8Array) => {
      const out = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }));
      if (!Buffer.from(out.Plaintext!).equals(PLAINTEXT)) throw new Error('Decrypt gave the wrong plaintext');
    };
    // Warm the new process's Decrypt path (JIT) on one key, so that the first-use figures differ from
    // the cached ones by the unwrap only.
    await serial(s.keys, () => decryptBlob(hotBlob));
    const decrypt = (i: number) => decryptBlob(blobs[i]!);
    const decryptCold = await serial(s.keys, decrypt);
    const decryptWarm = await serial(s.keys, decrypt);
    kms.destroy();
    const r: RootResult = { root, hot, createKey, encryptCold, encryptWarm, decryptCold, decryptWarm };
    for (const [name, v] of Object.entries(r).filter(([k]) => k !== 'root' && k !== 'hot') as Array<[string, Serial]>) {
      console.log(`  ${name}: ${v.calls} calls one at a time, ${fmt(v.totalMs, 0)} ms, p50 ${fmt(v.p50Ms, 2)} ms, p99 ${fmt(v.p99Ms, 2)} ms`);
    }
    return r;
  } finally {
    if (trent) await stopTrent(trent);
    track(undefined);
    await removeDir(dataDir);
    await hsm?.cleanup();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      keys: { type: 'string', default: '200' },
      'log-level': { type: 'string', default: 'warn' },
    },
    strict: true,
  });
  const durationS = positiveInt(values.duration, '--duration');
  const connections = positiveInt(values.connections, '--connections');
  const keys = positiveInt(values.keys, '--keys');
  const warmupS = Number(values.warmup);
  if (!Number.isFinite(warmupS) || warmupS < 0) throw new Error('--warmup must be a number of seconds, 0 or more');
  const missing = softHsmMissing();
  if (missing) throw new Error(missing);
  const wrk = findOnPath('wrk');
  if (!wrk) throw new Error('wrk is not on PATH (apt-get install wrk)');
  const machine = machineFacts();
  const load = loadavg().map((l) => round(l, 2));
  const workDir = await tempDir('trent-bench-');
  const s: Settings = { wrk, connections, durationS, warmupS, keys, logLevel: values['log-level']!, workDir };
  let current: RunningTrent | undefined;
  const track = (t: RunningTrent | undefined) => (current = t);
  const watchdog = setTimeout(
    () => {
      console.error('kms-root bench: time budget exceeded');
      killRunningLoad();
      if (current) current.process.kill('SIGKILL');
      process.exit(1);
    },
    (2 * (durationS + warmupS + 90) + 60) * 1000,
  );
  try {
    console.log(
      `kms-root: Encrypt with wrk -t1 -c${connections} (${warmupS} s warm-up, ${durationS} s measured), then ${keys} first-use and repeated calls through the SDK, ` +
        `key-file root then SoftHSM2 root, one Trent at a time, audit trail on, log level ${s.logLevel}`,
    );
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}, load average at start ${load.join(' ')}`);
    const results: RootResult[] = [];
    for (const root of ['keyfile', 'pkcs11'] as const) results.push(await runRoot(s, root, track));
    const [kf, hsm] = results as [RootResult, RootResult];

    console.log('');
    console.log('measurement                                          key file      SoftHSM   HSM / key file');
    const row = (name: string, a: number, b: number, digits: number, unit: string) =>
      console.log(`${name.padEnd(48)} ${(fmt(a, digits) + unit).padStart(12)} ${(fmt(b, digits) + unit).padStart(12)} ${fmt((100 * b) / a, 1).padStart(14)} %`);
    row('Encrypt hot, wrk: req/s', kf.hot.reqPerSec, hsm.hot.reqPerSec, 0, '');
    row('Encrypt hot, wrk: p50', kf.hot.p50Ms, hsm.hot.p50Ms, 2, ' ms');
    row('Encrypt hot, wrk: p99', kf.hot.p99Ms, hsm.hot.p99Ms, 2, ' ms');
    for (const [name, key] of [
      ['CreateKey', 'createKey'],
      ['Encrypt first use (unwrap)', 'encryptCold'],
      ['Encrypt again (cached)', 'encryptWarm'],
      ['Decrypt first use after restart (unwrap)', 'decryptCold'],
      ['Decrypt again (cached)', 'decryptWarm'],
    ] as const) {
      row(`${name} x${keys}: total`, kf[key].totalMs, hsm[key].totalMs, 0, ' ms');
      row(`${name}: p50 per call`, kf[key].p50Ms, hsm[key].p50Ms, 2, ' ms');
    }
    const missCost = (r: RootResult) => ({
      encryptMs: (r.encryptCold.totalMs - r.encryptWarm.totalMs) / keys,
      decryptMs: (r.decryptCold.totalMs - r.decryptWarm.totalMs) / keys,
    });
    const kfMiss = missCost(kf);
    const hsmMiss = missCost(hsm);
    console.log('');
    console.log(
      `cost of a cache miss ((first use - cached) / ${keys}): Encrypt ${fmt(kfMiss.encryptMs, 3)} ms key file, ${fmt(hsmMiss.encryptMs, 3)} ms SoftHSM; ` +
        `Decrypt ${fmt(kfMiss.decryptMs, 3)} ms key file, ${fmt(hsmMiss.decryptMs, 3)} ms SoftHSM`,
    );

    const serialJson = (v: Serial) => ({ calls: v.calls, totalMs: round(v.totalMs, 1), p50Ms: round(v.p50Ms, 3), p99Ms: round(v.p99Ms, 3) });
    console.log(
      JSON.stringify({
        bench: 'kms-root',
        date: new Date().toISOString(),
        connections,
        durationS,
        warmupS,
        keys,
        logLevel: s.logLevel,
        machine: { ...machine, loadAverageAtStart: load },
        results: results.map((r) => ({
          root: r.root,
          encryptHot: { reqPerSec: round(r.hot.reqPerSec, 1), p50Ms: r.hot.p50Ms, p99Ms: r.hot.p99Ms, requests: r.hot.requests },
          createKey: serialJson(r.createKey),
          encryptFirstUse: serialJson(r.encryptCold),
          encryptCached: serialJson(r.encryptWarm),
          decryptFirstUseAfterRestart: serialJson(r.decryptCold),
          decryptCached: serialJson(r.decryptWarm),
          cacheMissCostMs: { encrypt: round(missCost(r).encryptMs, 4), decrypt: round(missCost(r).decryptMs, 4) },
        })),
      }),
    );
    return 0;
  } finally {
    clearTimeout(watchdog);
    if (current) await stopTrent(current).catch(() => undefined);
    await removeDir(workDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`kms-root bench FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
