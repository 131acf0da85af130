// KMS with the key-file root of trust against KMS with the PKCS#11 root (SoftHSM2), in one run.
//
//   node --import tsx bench/kms-root.ts [--duration 8] [--connections 50] [--warmup 2] [--keys 200] [--log-level warn] [--hsm-first]
//
// For each root, one at a time (each Trent stopped before the next starts; the key file first unless
// --hsm-first), in a fresh data directory (and, for the HSM, a fresh SoftHSM2 token):
//   1. hot Encrypt: one SigV4-signed Encrypt (32 bytes, two-pair encryption context) under one key,
//      replayed by `wrk -t1 -c<connections> --latency` for a warm-up and then the measured run. The
//      backing key is unwrapped once and then served from Trent's in-memory cache, so the root of trust
//      is touched only by the availability probe (at most once a second).
//   2. cold calls through the AWS SDK, one at a time: CreateKey of --keys keys (each wraps a new backing
//      key through the root), then for each key a first-use Encrypt (a cache miss: one unwrap through
//      the root) immediately followed by the same Encrypt again (a cache hit). Trent is then restarted
//      on the same data directory (empty cache), its Decrypt path is warmed on the hot key, and each
//      key's ciphertext is decrypted twice the same way. The median over the keys of (first - second)
//      is what the root costs per cache miss.
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
  encrypt: Paired;
  decrypt: Paired;
}

const context = { tenant: 'bench', purpose: 'root-of-trust' };
const PLAINTEXT = Buffer.alloc(32, 7);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summary(ms: number[]): Serial {
  const totalMs = ms.reduce((a, b) => a + b, 0);
  const sorted = [...ms].sort((a, b) => a - b);
  return { calls: ms.length, totalMs, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

async function timed(call: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await call();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Run `call(i)` for i = 0..n-1 one after another and record each latency. */
async function serial(n: number, call: (i: number) => Promise<unknown>): Promise<Serial> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(await timed(() => call(i)));
  return summary(ms);
}

interface Paired {
  cold: Serial;
  warm: Serial;
  /** Median over the keys of (first call - second call): the cost of one cache miss, with drift in the machine's load cancelled out. */
  missP50Ms: number;
}

/**
 * For each key in turn, the first call (a cache miss) immediately followed by the same call again
 * (a cache hit). Pairing them keeps background noise from landing on one side only.
 */
async function paired(n: number, call: (i: number) => Promise<unknown>): Promise<Paired> {
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < n; i++) {
    cold.push(await timed(() => call(i)));
    warm.push(await timed(() => call(i)));
  }
  const diffs = cold.map((c, i) => c - warm[i]!).sort((a, b) => a - b);
  return { cold: summary(cold), warm: summary(warm), missP50Ms: percentile(diffs, 50) };
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
    const encrypt = await paired(s.keys, async (i) => {
      blobs[i] = (await kms.send(new EncryptCommand({ KeyId: keyIds[i], Plaintext: PLAINTEXT, EncryptionContext: context }))).CiphertextBlob!;
    });
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
    const decryptOne = (i: number) => decryptBlob(blobs[i]!);
    const decrypt = await paired(s.keys, decryptOne);
    kms.destroy();
    const show = (name: string, v: Serial) => console.log(`  ${name}: ${v.calls} calls one at a time, ${fmt(v.totalMs, 0)} ms, p50 ${fmt(v.p50Ms, 2)} ms, p99 ${fmt(v.p99Ms, 2)} ms`);
    show('CreateKey', createKey);
    show('Encrypt first use', encrypt.cold);
    show('Encrypt cached', encrypt.warm);
    show('Decrypt first use after restart', decrypt.cold);
    show('Decrypt cached', decrypt.warm);
    console.log(`  median cost of a cache miss: Encrypt ${fmt(encrypt.missP50Ms, 3)} ms, Decrypt ${fmt(decrypt.missP50Ms, 3)} ms`);
    return { root, hot, createKey, encrypt, decrypt };
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
      'hsm-first': { type: 'boolean', default: false },
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
  const order: RootKind[] = values['hsm-first'] ? ['pkcs11', 'keyfile'] : ['keyfile', 'pkcs11'];
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
        `${order.map((r) => (r === 'keyfile' ? 'key-file root' : 'SoftHSM2 root')).join(' then ')}, one Trent at a time, audit trail on, log level ${s.logLevel}`,
    );
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}, load average at start ${load.join(' ')}`);
    const results: RootResult[] = [];
    for (const root of order) results.push(await runRoot(s, root, track));
    const kf = results.find((r) => r.root === 'keyfile')!;
    const hsm = results.find((r) => r.root === 'pkcs11')!;

    console.log('');
    console.log(`${'measurement'.padEnd(52)} ${'key file'.padStart(12)} ${'SoftHSM'.padStart(12)} ${'HSM / key file'.padStart(16)}`);
    const row = (name: string, a: number, b: number, digits: number, unit: string) =>
      console.log(`${name.padEnd(52)} ${(fmt(a, digits) + unit).padStart(12)} ${(fmt(b, digits) + unit).padStart(12)} ${(fmt((100 * b) / a, 1) + ' %').padStart(16)}`);
    row('Encrypt hot, wrk: req/s', kf.hot.reqPerSec, hsm.hot.reqPerSec, 0, '');
    row('Encrypt hot, wrk: p50', kf.hot.p50Ms, hsm.hot.p50Ms, 2, ' ms');
    row('Encrypt hot, wrk: p99', kf.hot.p99Ms, hsm.hot.p99Ms, 2, ' ms');
    for (const [name, pick] of [
      ['CreateKey', (r: RootResult) => r.createKey],
      ['Encrypt first use (unwrap)', (r: RootResult) => r.encrypt.cold],
      ['Encrypt again (cached)', (r: RootResult) => r.encrypt.warm],
      ['Decrypt first use after restart (unwrap)', (r: RootResult) => r.decrypt.cold],
      ['Decrypt again (cached)', (r: RootResult) => r.decrypt.warm],
    ] as const) {
      row(`${name}: p50`, pick(kf).p50Ms, pick(hsm).p50Ms, 2, ' ms');
      row(`${name}: total of ${keys}`, pick(kf).totalMs, pick(hsm).totalMs, 0, ' ms');
    }
    console.log('');
    console.log(
      `median cost of a cache miss (first use - the same call again, per key): Encrypt ${fmt(kf.encrypt.missP50Ms, 3)} ms key file, ${fmt(hsm.encrypt.missP50Ms, 3)} ms SoftHSM; ` +
        `Decrypt ${fmt(kf.decrypt.missP50Ms, 3)} ms key file, ${fmt(hsm.decrypt.missP50Ms, 3)} ms SoftHSM`,
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
        order,
        logLevel: s.logLevel,
        machine: { ...machine, loadAverageAtStart: load },
        results: results.map((r) => ({
          root: r.root,
          encryptHot: { reqPerSec: round(r.hot.reqPerSec, 1), p50Ms: r.hot.p50Ms, p99Ms: r.hot.p99Ms, requests: r.hot.requests },
          createKey: serialJson(r.createKey),
          encryptFirstUse: serialJson(r.encrypt.cold),
          encryptCached: serialJson(r.encrypt.warm),
          decryptFirstUseAfterRestart: serialJson(r.decrypt.cold),
          decryptCached: serialJson(r.decrypt.warm),
          cacheMissP50Ms: { encrypt: round(r.encrypt.missP50Ms, 4), decrypt: round(r.decrypt.missP50Ms, 4) },
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
