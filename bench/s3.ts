// Object storage (S3) throughput and latency, with the AWS SDK for JavaScript v3 as the load generator,
// against three servers in one run: Trent (objects encrypted at rest), the same Trent code started with
// TRENT_BENCH_S3_PLAINTEXT=1 (a benchmark-only switch that skips the package encryption step and stores
// the bytes as they come; everything else identical), and s3rver (an unencrypted S3 emulator with no SSE
// support, so it is measured without SSE headers; over HTTPS with Trent's certificate, or plain HTTP with
// --s3rver-http).
//
//   node --import tsx bench/s3.ts [--duration 3] [--warmup 1] [--rounds 3] [--big-iterations 3] [--concurrency 16]
//                                 [--mib-concurrency 4] [--small-size 4096] [--checksums when-required|default]
//                                 [--modes sse-s3,sse-kms,sse-kms-bucket-key,sse-c] [--targets trent,plain,s3rver] [--log-level warn]
//                                 [--retry-noisy 3] [--quiet-wait 60] [--quiet-budget 300] [--s3rver-http]
//
// Workloads, per server and SSE mode (each mode in its own key space, one measurement at a time):
//   - 1 MiB objects: PutObject with --mib-concurrency requests in flight, then GetObject of those objects the
//     same way; --duration seconds measured per server (after a --warmup whose figures are dropped).
//     MB/s = 10^6 bytes of object data per second.
//   - 64 MiB objects: one warm-up PutObject, then --big-iterations PutObjects one at a time; the same for
//     GetObject.
//   - Small objects (--small-size bytes, 4 KiB by default): PutObject, then GetObject, with --concurrency
//     requests in flight for --duration seconds; ops/s and latency percentiles (p50/p90/p99).
// Every GetObject's body is compared byte for byte with what was put under that key, and every response's
// SSE headers with what was asked for; a mismatch fails that row (and the run).
//
// Order: both Trents run side by side (an idle Trent uses no CPU). For each SSE mode and workload, the
// encrypting and the plaintext Trent are warmed up, then measured in alternating segments (A B, B A, A B:
// --rounds segments of duration / rounds each, or one 64 MiB call per segment), so that each pair behind
// an "encryption cost" figure sees the same machine conditions. s3rver is started afterwards, in its own
// process, and measured alone in the same way. Each row also reports how busy the machine was and how much
// of that CPU time was not this benchmark's processes (the load generator, the Trents, s3rver). A round
// (both sides of a pair) during which others used more than 10% of the machine is dropped and run again
// once the machine has been quiet for 3 s (--retry-noisy times per round at most, --quiet-wait seconds per
// wait, --quiet-budget seconds of waiting in all); a row still above 10% is flagged as noisy.
//
// Before measuring, a marker object per SSE mode is put to each Trent and its data directory is searched
// for the marker's bytes: they must not be found under the encrypting Trent, and must be found under the
// plaintext one (proving the switch did what this benchmark says it did).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandInput,
  type GetObjectCommandOutput,
  type PutObjectCommandInput,
  type PutObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';
import { drainOutput, fmt, machineFacts, positiveInt, round, stopChild, stopTrent } from './lib.ts';

const MiB = 1024 * 1024;
const BUCKET = 'trent-bench';
/** Distinct 1 MiB objects (keys) per mode; the PUT loop overwrites them round-robin, the GET loop reads them round-robin. */
const MIB_KEYS = 8;
/** Distinct small objects (keys) per mode. */
const SMALL_KEYS = 256;

// ---------------------------------------------------------------------------------------------
// s3rver, in its own process

const S3RVER_CHILD_FLAG = '--s3rver-child';
const S3RVER_READY = 'S3RVER_READY ';

/**
 * The child's side: s3rver on 127.0.0.1, a free port, its default S3RVER/S3RVER credentials; plain HTTP,
 * or HTTPS with the given certificate and key (Trent's, unless --s3rver-http).
 */
async function runS3rverChild(directory: string, tls?: { certPath: string; keyPath: string }): Promise<void> {
  // s3rver is CommonJS and ships without type declarations.
  const specifier = 's3rver';
  const mod = (await import(specifier)) as { default: new (opts: Record<string, unknown>) => { run: () => Promise<{ port: number }>; close: () => Promise<void> } };
  const tlsOptions = tls ? { cert: await readFile(tls.certPath), key: await readFile(tls.keyPath), minVersion: 'TLSv1.2' } : {};
  const server = new mod.default({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false, resetOnClose: false, ...tlsOptions });
  const address = await server.run();
  process.stdout.write(`${S3RVER_READY}${address.port}\n`);
  const stop = () => {
    server.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}

interface S3rverProcess {
  port: number;
  directory: string;
  process: ChildProcess;
}

async function startS3rver(tls?: { certPath: string; keyPath: string }): Promise<S3rverProcess> {
  const directory = await tempDir('trent-bench-s3rver-');
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), S3RVER_CHILD_FLAG, directory, ...(tls ? [tls.certPath, tls.keyPath] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`s3rver did not start:\n${out}`));
    }, 30_000);
    const check = () => {
      const m = new RegExp(`${S3RVER_READY}(\\d+)`).exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}:\n${out}`));
    });
  });
  return { port, directory, process: child };
}

// ---------------------------------------------------------------------------------------------
// Targets and SSE modes

type ModeKey = 'none' | 'sse-s3' | 'sse-kms' | 'sse-kms-bucket-key' | 'sse-c';
const TRENT_MODES: readonly ModeKey[] = ['sse-s3', 'sse-kms', 'sse-kms-bucket-key', 'sse-c'];
const MODE_LABEL: Record<ModeKey, string> = {
  none: 'no SSE headers',
  'sse-s3': 'SSE-S3 (AES256)',
  'sse-kms': 'SSE-KMS',
  'sse-kms-bucket-key': 'SSE-KMS + bucket key',
  'sse-c': 'SSE-C',
};

type TargetKey = 'trent' | 'plain' | 's3rver';
const TARGET_LABEL: Record<TargetKey, string> = { trent: 'Trent', plain: 'Trent plaintext', s3rver: 's3rver' };

interface Target {
  key: TargetKey;
  s3: S3Client;
  /** The running server (a Trent), whose audit trail counts the KMS calls S3 made. */
  trent?: RunningTrent;
  /** PutObject and GetObject calls sent, per SSE mode (warm-ups included). */
  calls: Map<ModeKey, { puts: number; gets: number }>;
  /** The KMS key (ARN) for SSE-KMS on this server. */
  kmsKeyArn?: string;
  /** The SSE-C key for this server (32 bytes). */
  customerKey: Buffer;
}

function putSse(t: Target, mode: ModeKey): Partial<PutObjectCommandInput> {
  switch (mode) {
    case 'none':
      return {};
    case 'sse-s3':
      return { ServerSideEncryption: 'AES256' };
    case 'sse-kms':
      return { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: t.kmsKeyArn! };
    case 'sse-kms-bucket-key':
      return { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: t.kmsKeyArn!, BucketKeyEnabled: true };
    case 'sse-c':
      return { SSECustomerAlgorithm: 'AES256', SSECustomerKey: t.customerKey as unknown as string };
  }
}

function getSse(t: Target, mode: ModeKey): Partial<GetObjectCommandInput> {
  return mode === 'sse-c' ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: t.customerKey as unknown as string } : {};
}

/** What the SSE response headers of a PutObject or GetObject should say; a list of differences (empty when right). */
function sseHeaderProblems(t: Target, mode: ModeKey, out: PutObjectCommandOutput | GetObjectCommandOutput): string[] {
  const problems: string[] = [];
  const expect = (what: string, got: unknown, want: unknown) => {
    if (got !== want) problems.push(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };
  switch (mode) {
    case 'none':
      break;
    case 'sse-s3':
      expect('x-amz-server-side-encryption', out.ServerSideEncryption, 'AES256');
      break;
    case 'sse-kms':
    case 'sse-kms-bucket-key': {
      expect('x-amz-server-side-encryption', out.ServerSideEncryption, 'aws:kms');
      const keyId = t.kmsKeyArn!.split('/').pop()!;
      if (!out.SSEKMSKeyId || !(out.SSEKMSKeyId === t.kmsKeyArn || out.SSEKMSKeyId.endsWith(keyId))) problems.push(`x-amz-server-side-encryption-aws-kms-key-id: got ${JSON.stringify(out.SSEKMSKeyId)}, expected ${t.kmsKeyArn}`);
      if (mode === 'sse-kms-bucket-key') expect('x-amz-server-side-encryption-bucket-key-enabled', out.BucketKeyEnabled, true);
      break;
    }
    case 'sse-c':
      expect('x-amz-server-side-encryption-customer-algorithm', out.SSECustomerAlgorithm, 'AES256');
      break;
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Clients

type Checksums = 'when-required' | 'default';

function checksumConfig(c: Checksums): Partial<S3ClientConfig> {
  return c === 'when-required' ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {};
}

const MAX_SOCKETS = 64;

function trentS3Client(trent: RunningTrent, checksums: Checksums): S3Client {
  return new S3Client({
    region: trent.region,
    endpoint: trent.endpoint,
    credentials: { accessKeyId: trent.accessKeyId, secretAccessKey: trent.secretAccessKey },
    forcePathStyle: true,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: new HttpsAgent({ ca: trent.ca, keepAlive: true, maxSockets: MAX_SOCKETS }), requestTimeout: 120_000, connectionTimeout: 10_000 }),
    ...checksumConfig(checksums),
  });
}

function s3rverClient(port: number, checksums: Checksums, ca?: Buffer): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: ca ? `https://localhost:${port}` : `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      ...(ca ? { httpsAgent: new HttpsAgent({ ca, keepAlive: true, maxSockets: MAX_SOCKETS }) } : {}),
      requestTimeout: 120_000,
      connectionTimeout: 10_000,
    }),
    ...checksumConfig(checksums),
  });
}

/** A readable account of an SDK error: operation, status, code, message, request id. */
function describeError(what: string, err: unknown): string {
  if (err instanceof Error) {
    const meta = (err as { $metadata?: { httpStatusCode?: number; requestId?: string } }).$metadata;
    const status = meta?.httpStatusCode !== undefined ? `HTTP ${meta.httpStatusCode}` : 'no HTTP status';
    const code = (err as { Code?: string }).Code ?? err.name;
    return `${what}: ${status}, ${code}: ${err.message}${meta?.requestId ? ` (request id ${meta.requestId})` : ''}`;
  }
  return `${what}: ${String(err)}`;
}

async function readBody(body: unknown): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Uint8Array>) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    chunks.push(b);
    n += b.length;
  }
  return Buffer.concat(chunks, n);
}

// ---------------------------------------------------------------------------------------------
// Measurement

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux): how busy the machine was during a measurement, and how much of that was not
// this benchmark's processes (the load generator, the Trents, s3rver): other work on a shared machine
// would make a figure meaningless, so each row reports it.

/** Processes that belong to this benchmark. */
const ourPids = new Set<number>([process.pid]);

interface CpuSample {
  /** Busy jiffies of the whole machine (all CPUs): everything but idle and iowait. */
  busy: number;
  /** user + system jiffies of our processes. */
  ours: number;
}

/**
 * user + system jiffies of our processes and of every process below them (Trent's worker processes, its face and
 * crypto threads are counted in their process). A process that ended between two samples drops out of the sum, so
 * `ours` can only be understated, never counted twice.
 */
async function ourJiffies(): Promise<number> {
  const stats = new Map<number, { ppid: number; jiffies: number }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = await readFile(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces) begin after the last ')'.
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(name), { ppid: Number(rest[1]), jiffies: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // gone
    }
  }
  let ours = 0;
  for (const [pid, st] of stats) {
    for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 16; p = stats.get(p)?.ppid, depth++) {
      if (ourPids.has(p)) {
        ours += st.jiffies;
        break;
      }
    }
  }
  return ours;
}

async function cpuSample(): Promise<CpuSample | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const busy = total - f[3]! - f[4]!;
    return { busy, ours: await ourJiffies() };
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = 100;

/** Percentages of the machine's total CPU capacity over `seconds`: all busy time, and the part not ours. */
function cpuShare(a: CpuSample | undefined, b: CpuSample | undefined, seconds: number, nproc: number): { busyPct: number; otherPct: number } | undefined {
  if (!a || !b) return undefined;
  const capacity = seconds * CLOCK_TICKS * nproc;
  const busy = b.busy - a.busy;
  const ours = b.ours - a.ours;
  return { busyPct: (100 * busy) / capacity, otherPct: Math.max(0, (100 * (busy - ours)) / capacity) };
}

let NPROC = 1;
/** A measurement during which other processes used more than this share of the machine is flagged. */
const OTHER_CPU_WARN_PCT = 10;

/** Wait until the whole machine has been under OTHER_CPU_WARN_PCT busy for 3 s in a row (our servers are idle meanwhile), or `limitS` has passed; returns the seconds waited. */
async function waitForQuiet(limitS: number): Promise<number> {
  const start = performance.now();
  let quiet = 0;
  let before = await cpuSample();
  if (!before) return 0;
  while (quiet < 3 && performance.now() - start < limitS * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await cpuSample();
    const share = cpuShare(before, now, 1, NPROC);
    before = now;
    quiet = share && share.busyPct < OTHER_CPU_WARN_PCT ? quiet + 1 : 0;
  }
  return (performance.now() - start) / 1000;
}

/** Time spent waiting for quiet so far, against Settings.quietBudgetS, and rounds dropped. */
let quietWaitSpentS = 0;
let droppedRounds = 0;

/** Raw figures of one or more timed runs. */
interface Sample {
  latencies: number[];
  ops: number;
  bytes: number;
  seconds: number;
  /** The run's CPU shares (see cpuShare) times its seconds, for time-weighting; empty where /proc is unavailable. */
  busyPctSeconds: number[];
  otherPctSeconds: number[];
}

interface Measurement {
  /** Machine CPU busy and not ours, in % of all cores, during the measured runs (time-weighted). */
  cpu?: { busyPct: number; otherPct: number };
  ops: number;
  bytes: number;
  seconds: number;
  opsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** How many separate timed segments were combined. */
  segments: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/**
 * Run `op` with `concurrency` in flight until `durationMs` has passed (or, with `count`, exactly that many
 * times), timing each call. The elapsed time runs until the last call in flight has finished.
 */
async function drive(op: (i: number) => Promise<number>, opts: { concurrency: number; durationMs?: number; count?: number }): Promise<Sample> {
  const latencies: number[] = [];
  let next = 0;
  let bytes = 0;
  const cpuBefore = await cpuSample();
  const start = performance.now();
  const end = opts.durationMs !== undefined ? start + opts.durationMs : Infinity;
  let failure: { err: unknown } | undefined;
  const more = () => !failure && (opts.count !== undefined ? next < opts.count : performance.now() < end);
  const worker = async () => {
    while (more()) {
      const i = next++;
      const t0 = performance.now();
      try {
        bytes += await op(i);
      } catch (err) {
        failure ??= { err };
        return;
      }
      latencies.push(performance.now() - t0);
    }
  };
  // On a failure the other workers finish the call they have in flight and stop, so nothing spills into the next measurement.
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  if (failure) throw failure.err;
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuShare(cpuBefore, await cpuSample(), seconds, NPROC);
  return { latencies, ops: latencies.length, bytes, seconds, busyPctSeconds: cpu ? [cpu.busyPct * seconds] : [], otherPctSeconds: cpu ? [cpu.otherPct * seconds] : [] };
}

/** Several segments as one measurement: totals over total time, percentiles over all calls, CPU time-weighted. */
function combine(samples: Sample[]): Measurement {
  const ops = samples.reduce((a, x) => a + x.ops, 0);
  const bytes = samples.reduce((a, x) => a + x.bytes, 0);
  const seconds = samples.reduce((a, x) => a + x.seconds, 0);
  const sorted = Float64Array.from(samples.flatMap((x) => x.latencies)).sort();
  const busy = samples.flatMap((x) => x.busyPctSeconds);
  const other = samples.flatMap((x) => x.otherPctSeconds);
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  return {
    ...(busy.length === samples.length && samples.length > 0 ? { cpu: { busyPct: sum(busy) / seconds, otherPct: sum(other) / seconds } } : {}),
    ops,
    bytes,
    seconds,
    opsPerSec: ops / seconds,
    mbPerSec: bytes / 1e6 / seconds,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    segments: samples.length,
  };
}

type WorkloadKey = 'put-1m' | 'get-1m' | 'put-64m' | 'get-64m' | 'put-small' | 'get-small';
const WORKLOADS: readonly WorkloadKey[] = ['put-1m', 'get-1m', 'put-64m', 'get-64m', 'put-small', 'get-small'];

interface Settings {
  durationS: number;
  warmupS: number;
  rounds: number;
  /** How many times a round during which other processes used the machine is dropped and run again. */
  retryNoisy: number;
  /** The longest wait for a quiet machine before such a retry, in seconds. */
  quietWaitS: number;
  /** The most time spent waiting for quiet over the whole run, in seconds; after that, noisy rounds are kept (and flagged). */
  quietBudgetS: number;
  bigIterations: number;
  concurrency: number;
  mibConcurrency: number;
  smallSize: number;
  checksums: Checksums;
}

interface Payloads {
  mib: Buffer[];
  big: Buffer;
  small: Buffer[];
}

function workloadLabel(w: WorkloadKey, s: Settings): string {
  const size = w.endsWith('1m') ? '1 MiB' : w.endsWith('64m') ? '64 MiB' : `${fmt(s.smallSize / 1024, s.smallSize % 1024 ? 1 : 0)} KiB`;
  const op = w.startsWith('put') ? 'PUT' : 'GET';
  const how = w.endsWith('1m') ? `, ${s.mibConcurrency} in flight` : w.endsWith('64m') ? ', 1 in flight' : `, ${s.concurrency} in flight`;
  return `${op} ${size}${how}`;
}

interface RowResult {
  workload: WorkloadKey;
  mode: ModeKey;
  target: TargetKey;
  result?: Measurement;
  error?: string;
  /** Responses whose SSE headers were not what the request asked for (first few). */
  headerProblems: string[];
}

interface Workload {
  /** Creates the objects the measured calls need, then runs the warm-up, whose figures are dropped. */
  prepare: () => Promise<void>;
  /** One measured segment. */
  segment: () => Promise<Sample>;
  /** How many segments make the measurement. */
  segments: number;
}

/** One workload against one target in one SSE mode. Object keys are per mode, so workloads of different modes never touch the same object. */
function workload(t: Target, mode: ModeKey, w: WorkloadKey, s: Settings, p: Payloads, row: RowResult): Workload {
  const noteHeaders = (what: string, out: PutObjectCommandOutput | GetObjectCommandOutput) => {
    if (row.headerProblems.length >= 3) return;
    for (const problem of sseHeaderProblems(t, mode, out)) row.headerProblems.push(`${what}: ${problem}`);
  };
  const count = (t.calls.get(mode) ?? t.calls.set(mode, { puts: 0, gets: 0 }).get(mode))!;
  const put = async (key: string, body: Buffer): Promise<number> => {
    count.puts++;
    const what = `PutObject ${BUCKET}/${key} (${body.length} bytes, ${MODE_LABEL[mode]})`;
    let out: PutObjectCommandOutput;
    try {
      out = await t.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentLength: body.length, ...putSse(t, mode) }));
    } catch (err) {
      throw new Error(describeError(what, err));
    }
    noteHeaders(what, out);
    return body.length;
  };
  const get = async (key: string, expected: Buffer): Promise<number> => {
    count.gets++;
    const what = `GetObject ${BUCKET}/${key} (${MODE_LABEL[mode]})`;
    let body: Buffer;
    try {
      const out = await t.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...getSse(t, mode) }));
      noteHeaders(what, out);
      body = await readBody(out.Body);
    } catch (err) {
      throw new Error(describeError(what, err));
    }
    if (!body.equals(expected)) {
      const at = body.findIndex((b, i) => b !== expected[i]);
      throw new Error(`${what}: the body differs from what was put (${body.length} bytes received, ${expected.length} put; first difference at byte ${at === -1 ? Math.min(body.length, expected.length) : at})`);
    }
    return body.length;
  };
  const keyOf = (kind: string, i: number) => `${mode}/${kind}/${i}`;
  /** A timed workload: `rounds` segments of duration / rounds each. */
  const timed = (op: (i: number) => Promise<number>, concurrency: number, keys: number, create: boolean): Workload => ({
    prepare: async () => {
      // Every key exists before anything is read, whatever the duration.
      if (create) await drive(op, { concurrency, count: keys });
      if (s.warmupS > 0) await drive(op, { concurrency, durationMs: s.warmupS * 1000 });
    },
    segment: () => drive(op, { concurrency, durationMs: (s.durationS * 1000) / s.rounds }),
    segments: s.rounds,
  });
  /** A 64 MiB workload: one warm-up call, then one call per segment. */
  const oneAtATime = (op: () => Promise<number>): Workload => ({
    prepare: async () => void (await op()),
    segment: () => drive(op, { concurrency: 1, count: 1 }),
    segments: s.bigIterations,
  });
  switch (w) {
    case 'put-1m':
      return timed((i) => put(keyOf('1m', i % MIB_KEYS), p.mib[i % MIB_KEYS]!), s.mibConcurrency, MIB_KEYS, true);
    case 'get-1m':
      return timed((i) => get(keyOf('1m', i % MIB_KEYS), p.mib[i % MIB_KEYS]!), s.mibConcurrency, MIB_KEYS, false);
    case 'put-64m':
      return oneAtATime(() => put(keyOf('64m', 0), p.big));
    case 'get-64m':
      return oneAtATime(() => get(keyOf('64m', 0), p.big));
    case 'put-small':
      return timed((i) => put(keyOf('small', i % SMALL_KEYS), p.small[i % SMALL_KEYS]!), s.concurrency, SMALL_KEYS, true);
    case 'get-small':
      return timed((i) => get(keyOf('small', i % SMALL_KEYS), p.small[i % SMALL_KEYS]!), s.concurrency, SMALL_KEYS, false);
  }
}

/**
 * Measure one workload in one SSE mode on each of `targets` (the encrypting and the plaintext Trent, or
 * s3rver alone): each is prepared and warmed up, then their measured segments alternate (A B, B A, A B ...),
 * so that slow drift in the machine's speed lands on both sides of a comparison alike.
 */
async function measurePaired(targets: Target[], mode: ModeKey, w: WorkloadKey, s: Settings, p: Payloads): Promise<RowResult[]> {
  const rows = targets.map((t): RowResult => ({ workload: w, mode, target: t.key, headerProblems: [] }));
  const loads = targets.map((t, i) => workload(t, mode, w, s, p, rows[i]!));
  const samples: Sample[][] = targets.map(() => []);
  const fail = (i: number, err: unknown) => (rows[i]!.error ??= err instanceof Error ? err.message : String(err));
  for (const [i, load] of loads.entries()) await load.prepare().catch((err: unknown) => fail(i, err));
  const segments = loads[0]!.segments;
  for (let r = 0; r < segments; r++) {
    const order = targets.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (let attempt = 0; ; attempt++) {
      const round = new Map<number, Sample>();
      for (const i of order) {
        if (rows[i]!.error) continue;
        try {
          round.set(i, await loads[i]!.segment());
        } catch (err) {
          fail(i, err);
        }
      }
      // Another process took CPU during this round: drop the whole round (both sides of the pair), wait for the machine to go quiet, and run it again.
      const noisy = [...round.values()].some((x) => x.seconds > 0 && x.otherPctSeconds.length > 0 && x.otherPctSeconds[0]! / x.seconds > OTHER_CPU_WARN_PCT);
      if (noisy && attempt < s.retryNoisy && quietWaitSpentS < s.quietBudgetS) {
        const waited = await waitForQuiet(Math.min(s.quietWaitS, s.quietBudgetS - quietWaitSpentS));
        quietWaitSpentS += waited;
        droppedRounds++;
        console.log(`    round ${r + 1} dropped: other processes used more than ${OTHER_CPU_WARN_PCT}% of the machine; waited ${fmt(waited, 0)} s for quiet, running it again`);
        continue;
      }
      for (const [i, x] of round) samples[i]!.push(x);
      break;
    }
  }
  for (const [i, row] of rows.entries()) {
    if (!row.error) row.result = combine(samples[i]!);
    const label = `${TARGET_LABEL[row.target]}, ${MODE_LABEL[mode]}, ${workloadLabel(w, s)}`;
    if (row.error) console.log(`  ${label}: FAILED: ${row.error}`);
    else {
      const m = row.result!;
      console.log(
        `  ${label}: ${fmt(m.mbPerSec, 1)} MB/s, ${fmt(m.opsPerSec, m.opsPerSec < 100 ? 2 : 0)} ops/s, p50 ${fmt(m.p50Ms, 2)} ms, p99 ${fmt(m.p99Ms, 2)} ms, ${m.ops} ops in ${m.segments} segments` +
          (m.cpu ? `; CPU ${fmt(m.cpu.busyPct, 0)}% busy, ${fmt(m.cpu.otherPct, 0)}% not this benchmark${m.cpu.otherPct > OTHER_CPU_WARN_PCT ? ' (NOISY)' : ''}` : '') +
          (row.headerProblems.length ? `; SSE HEADERS WRONG: ${row.headerProblems[0]}` : ''),
      );
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Set-up checks on a Trent

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** Which of `needles` occur anywhere in the files under `dir`. */
async function findInFiles(dir: string, needles: Buffer[]): Promise<boolean[]> {
  const found = needles.map(() => false);
  for (const file of await filesUnder(dir)) {
    const data = await readFile(file);
    needles.forEach((n, i) => {
      if (!found[i] && data.includes(n)) found[i] = true;
    });
  }
  return found;
}

interface SetupCheck {
  target: TargetKey;
  mode: ModeKey;
  /** Whether the marker objects' bytes were found in the data directory (small, larger). */
  plaintextOnDisk: boolean[];
  ok: boolean;
  note: string;
}

/**
 * Put a 4 KiB and a 256 KiB marker object per mode, read them back, then search the data directory for
 * a 32-byte slice of each. Also: an SSE-C object must not be readable without its key.
 */
async function checkAtRest(t: Target, dataDir: string, modes: readonly ModeKey[]): Promise<{ checks: SetupCheck[]; problems: string[] }> {
  const problems: string[] = [];
  const markers = new Map<ModeKey, Buffer[]>();
  for (const mode of modes) {
    const bodies = [randomBytes(4096), randomBytes(256 * 1024)];
    markers.set(mode, bodies);
    for (const [i, body] of bodies.entries()) {
      const key = `${mode}/marker/${i}`;
      try {
        await t.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentLength: body.length, ...putSse(t, mode) }));
        const out = await t.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...getSse(t, mode) }));
        const back = await readBody(out.Body);
        if (!back.equals(body)) problems.push(`${TARGET_LABEL[t.key]}: GetObject ${BUCKET}/${key} (${MODE_LABEL[mode]}) returned ${back.length} bytes that differ from the ${body.length} put`);
      } catch (err) {
        problems.push(describeError(`${TARGET_LABEL[t.key]}: marker ${key} (${MODE_LABEL[mode]})`, err));
      }
    }
    if (mode === 'sse-c') {
      // Without the customer key the object must not come back.
      try {
        const out = await t.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${mode}/marker/0` }));
        await readBody(out.Body);
        problems.push(`${TARGET_LABEL[t.key]}: GetObject of an SSE-C object without SSE-C headers answered HTTP ${out.$metadata.httpStatusCode} instead of an error`);
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        // AWS answers 400 InvalidRequest; any refusal (4xx) means the object did not come back.
        if (status === undefined || status < 400 || status >= 500) problems.push(describeError(`${TARGET_LABEL[t.key]}: GetObject of an SSE-C object without SSE-C headers (expected a 4xx refusal)`, err));
        else if (status !== 400) console.log(`  note: ${describeError(`${TARGET_LABEL[t.key]}: GetObject of an SSE-C object without SSE-C headers (AWS answers 400)`, err)}`);
      }
    }
  }
  const modeList = [...markers.keys()];
  const needles = modeList.flatMap((m) => markers.get(m)!.map((b) => b.subarray(1000, 1032)));
  const found = await findInFiles(dataDir, needles);
  const checks = modeList.map((mode, i): SetupCheck => {
    const plaintextOnDisk = [found[2 * i]!, found[2 * i + 1]!];
    const want = t.key === 'plain';
    const ok = plaintextOnDisk.every((f) => f === want);
    const note = ok ? (want ? 'plaintext on disk, as the switch promises' : 'no plaintext on disk') : want ? 'PLAINTEXT NOT FOUND: the switch did not store the bytes as they came' : 'PLAINTEXT FOUND ON DISK';
    return { target: t.key, mode, plaintextOnDisk, ok, note };
  });
  for (const c of checks) if (!c.ok) problems.push(`${TARGET_LABEL[c.target]}, ${MODE_LABEL[c.mode]}: ${c.note}`);
  return { checks, problems };
}

// ---------------------------------------------------------------------------------------------
// KMS calls S3 made on the benchmark's behalf, counted in Trent's own audit trail

interface KmsCallCount {
  target: TargetKey;
  mode: ModeKey;
  puts: number;
  gets: number;
  generateDataKey: number;
  decrypt: number;
  /** KMS calls of both kinds per 1,000 PutObjects (the GetObjects' calls included: an upper bound for the PUTs alone). */
  perThousandPuts: number;
}

/**
 * Every GenerateDataKey and Decrypt that S3 made on a caller's behalf (invokedBy s3.amazonaws.com) since `since`,
 * read from the server's audit trail: the calls of one SSE mode's workloads, warm-ups and set-up included.
 */
async function countKmsCalls(t: Target, mode: ModeKey, since: number): Promise<KmsCallCount> {
  const db = await t.trent!.openDb('trail');
  try {
    const rows = await db.all<{ event_name: string; n: number }>(
      `SELECT event_name, COUNT(*) AS n FROM trail_events
        WHERE event_source = 'kms.amazonaws.com' AND event_name IN ('GenerateDataKey', 'Decrypt') AND event_time >= ? AND record LIKE ?
        GROUP BY event_name`,
      [since, '%"invokedBy":"s3.amazonaws.com"%'],
    );
    const n = (name: string) => Number(rows.find((r) => r.event_name === name)?.n ?? 0);
    const calls = t.calls.get(mode) ?? { puts: 0, gets: 0 };
    const total = n('GenerateDataKey') + n('Decrypt');
    return { target: t.key, mode, ...calls, generateDataKey: n('GenerateDataKey'), decrypt: n('Decrypt'), perThousandPuts: calls.puts ? (1000 * total) / calls.puts : NaN };
  } finally {
    await db.close();
  }
}

function describeKmsCalls(c: KmsCallCount): string {
  return (
    `KMS calls by S3, ${TARGET_LABEL[c.target]}, ${MODE_LABEL[c.mode]}: ${c.generateDataKey} GenerateDataKey and ${c.decrypt} Decrypt ` +
    `for ${c.puts} PutObjects and ${c.gets} GetObjects: ${fmt(c.perThousandPuts, 1)} per 1,000 PUTs`
  );
}

interface Verdict {
  what: string;
  figure: string;
  met: boolean;
}

/** The issue's targets, judged on this run's rows (the encrypting Trent against s3rver and the plaintext Trent). */
function targetVerdicts(rows: RowResult[], modes: readonly ModeKey[], kms: KmsCallCount[]): Verdict[] {
  const out: Verdict[] = [];
  const find = (w: WorkloadKey, mode: ModeKey, target: TargetKey) => rows.find((r) => r.workload === w && r.mode === mode && r.target === target)?.result;
  const ref = (w: WorkloadKey) => find(w, 'none', 's3rver');
  for (const mode of (['sse-s3', 'sse-kms-bucket-key'] as const).filter((m) => modes.includes(m))) {
    const put = find('put-small', mode, 'trent');
    const base = ref('put-small');
    if (put) out.push({ what: `4 KiB PUT, ${MODE_LABEL[mode]}: at least 2,000/s`, figure: `${fmt(put.opsPerSec, 0)}/s`, met: put.opsPerSec >= 2000 });
    if (put && base) out.push({ what: `4 KiB PUT, ${MODE_LABEL[mode]}: at least 2 x s3rver`, figure: `${fmt(put.opsPerSec / base.opsPerSec, 2)} x (${fmt(base.opsPerSec, 0)}/s)`, met: put.opsPerSec >= 2 * base.opsPerSec });
    if (put) out.push({ what: `4 KiB PUT, ${MODE_LABEL[mode]}: p99 under 20 ms`, figure: `${fmt(put.p99Ms, 1)} ms`, met: put.p99Ms < 20 });
  }
  for (const mode of modes) {
    const get = find('get-small', mode, 'trent');
    if (get && (mode === 'sse-s3' || mode === 'sse-kms-bucket-key')) {
      out.push({ what: `4 KiB GET, ${MODE_LABEL[mode]}: at least 3,000/s`, figure: `${fmt(get.opsPerSec, 0)}/s`, met: get.opsPerSec >= 3000 });
      out.push({ what: `4 KiB GET, ${MODE_LABEL[mode]}: p99 under 20 ms`, figure: `${fmt(get.p99Ms, 1)} ms`, met: get.p99Ms < 20 });
    }
    for (const w of ['put-1m', 'get-1m', 'put-64m', 'get-64m'] as const) {
      const enc = find(w, mode, 'trent');
      const plain = find(w, mode, 'plain');
      const base = ref(w);
      if (enc && base) out.push({ what: `${w}, ${MODE_LABEL[mode]}: at least 90% of s3rver`, figure: `${fmt((100 * enc.mbPerSec) / base.mbPerSec, 1)}%`, met: enc.mbPerSec >= 0.9 * base.mbPerSec });
      if (enc && plain) out.push({ what: `${w}, ${MODE_LABEL[mode]}: encryption cost under 15%`, figure: `${fmt(costPct(enc.mbPerSec, plain.mbPerSec), 1)}%`, met: costPct(enc.mbPerSec, plain.mbPerSec) < 15 });
    }
  }
  for (const c of kms.filter((k) => k.target === 'trent' && k.mode === 'sse-kms-bucket-key')) {
    out.push({ what: 'KMS calls per 1,000 SSE-KMS PUTs with a Bucket Key: at most 5', figure: fmt(c.perThousandPuts, 2), met: c.perThousandPuts <= 5 });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reporting

function pad(rows: string[][], rightFrom = 2): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < rightFrom ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** (plaintext - encrypted) / plaintext of a rate, in percent. */
function costPct(enc: number, plain: number): number {
  return (100 * (plain - enc)) / plain;
}

function printTables(rows: RowResult[], modes: readonly ModeKey[], s: Settings, withS3rver: boolean): void {
  const find = (w: WorkloadKey, mode: ModeKey, target: TargetKey) => rows.find((r) => r.workload === w && r.mode === mode && r.target === target);
  const cell = (r: RowResult | undefined, f: (m: Measurement) => string) => (!r ? '-' : r.error ? 'FAILED' : f(r.result!));
  const s3rverOf = (w: WorkloadKey) => (withS3rver ? find(w, 'none', 's3rver') : undefined);

  const big: string[][] = [['workload', 'SSE mode', 'Trent MB/s', 'plaintext MB/s', 'encryption cost', 's3rver MB/s', 'Trent / s3rver']];
  for (const w of ['put-1m', 'get-1m', 'put-64m', 'get-64m'] as const) {
    for (const mode of modes) {
      const enc = find(w, mode, 'trent');
      const plain = find(w, mode, 'plain');
      const ref = s3rverOf(w);
      const both = enc?.result && plain?.result;
      big.push([
        workloadLabel(w, s),
        MODE_LABEL[mode],
        cell(enc, (m) => fmt(m.mbPerSec, 1)),
        cell(plain, (m) => fmt(m.mbPerSec, 1)),
        both ? `${fmt(costPct(enc.result!.mbPerSec, plain.result!.mbPerSec), 1)}%` : '-',
        cell(ref, (m) => fmt(m.mbPerSec, 1)),
        enc?.result && ref?.result ? `${fmt((100 * enc.result.mbPerSec) / ref.result.mbPerSec, 1)}%` : '-',
      ]);
    }
  }
  console.log('');
  console.log(`Throughput (MB/s = 10^6 bytes per second of object data); s3rver (${TARGET_LABEL.s3rver === 's3rver' ? 'plain HTTP' : 'HTTPS'}) has no SSE, so its figure is the same in every mode:`);
  console.log(pad(big));

  const lat = (m: Measurement) => `${fmt(m.p50Ms, 1)}/${fmt(m.p90Ms, 1)}/${fmt(m.p99Ms, 1)}`;
  const small: string[][] = [['workload', 'SSE mode', 'Trent ops/s', 'p50/p90/p99 ms', 'plaintext ops/s', 'p50/p90/p99 ms', 'encryption cost', 's3rver ops/s', 'p50/p90/p99 ms']];
  for (const w of ['put-small', 'get-small'] as const) {
    for (const mode of modes) {
      const enc = find(w, mode, 'trent');
      const plain = find(w, mode, 'plain');
      const ref = s3rverOf(w);
      small.push([
        workloadLabel(w, s),
        MODE_LABEL[mode],
        cell(enc, (m) => fmt(m.opsPerSec, 0)),
        cell(enc, lat),
        cell(plain, (m) => fmt(m.opsPerSec, 0)),
        cell(plain, lat),
        enc?.result && plain?.result ? `${fmt(costPct(enc.result.opsPerSec, plain.result.opsPerSec), 1)}%` : '-',
        cell(ref, (m) => fmt(m.opsPerSec, 0)),
        cell(ref, lat),
      ]);
    }
  }
  console.log('');
  console.log('Small objects:');
  console.log(pad(small));
  console.log('');
}

// ---------------------------------------------------------------------------------------------

async function createBucket(s3: S3Client, what: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  } catch (err) {
    throw new Error(describeError(`${what}: CreateBucket ${BUCKET}`, err));
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      'big-iterations': { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      'retry-noisy': { type: 'string', default: '3' },
      'quiet-wait': { type: 'string', default: '60' },
      'quiet-budget': { type: 'string', default: '300' },
      's3rver-http': { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '16' },
      'mib-concurrency': { type: 'string', default: '4' },
      'small-size': { type: 'string', default: '4096' },
      checksums: { type: 'string', default: 'when-required' },
      modes: { type: 'string', default: TRENT_MODES.join(',') },
      targets: { type: 'string', default: 'trent,plain,s3rver' },
      'log-level': { type: 'string', default: 'warn' },
    },
    strict: true,
  });
  const durationS = positiveInt(values.duration, '--duration');
  const warmupS = Number(values.warmup);
  if (!Number.isFinite(warmupS) || warmupS < 0) throw new Error('--warmup must be a number of seconds, 0 or more');
  const checksums = values.checksums as Checksums;
  if (checksums !== 'when-required' && checksums !== 'default') throw new Error('--checksums must be when-required or default');
  const modes = values.modes!.split(',').map((m) => m.trim()) as ModeKey[];
  for (const m of modes) if (!TRENT_MODES.includes(m)) throw new Error(`unknown mode '${m}' (one of ${TRENT_MODES.join(', ')})`);
  const s: Settings = {
    durationS,
    warmupS,
    rounds: positiveInt(values.rounds, '--rounds'),
    retryNoisy: Number(values['retry-noisy']),
    quietWaitS: positiveInt(values['quiet-wait'], '--quiet-wait'),
    quietBudgetS: positiveInt(values['quiet-budget'], '--quiet-budget'),
    bigIterations: positiveInt(values['big-iterations'], '--big-iterations'),
    concurrency: positiveInt(values.concurrency, '--concurrency'),
    mibConcurrency: positiveInt(values['mib-concurrency'], '--mib-concurrency'),
    smallSize: positiveInt(values['small-size'], '--small-size'),
    checksums,
  };
  const targetKeys = values.targets!.split(',').map((t) => t.trim()) as TargetKey[];
  for (const t of targetKeys) if (!(t in TARGET_LABEL)) throw new Error(`unknown target '${t}' (trent, plain, s3rver)`);
  if (!Number.isInteger(s.retryNoisy) || s.retryNoisy < 0) throw new Error('--retry-noisy must be a whole number, 0 or more');
  const withS3rver = targetKeys.includes('s3rver');
  const s3rverTls = !values['s3rver-http']!;
  const trentKeys = (['trent', 'plain'] as const).filter((k) => targetKeys.includes(k));
  if (withS3rver && s3rverTls && !trentKeys.includes('trent')) throw new Error("s3rver over HTTPS borrows the encrypting Trent's certificate: keep 'trent' in --targets, or give --s3rver-http");
  if (s3rverTls) TARGET_LABEL.s3rver = 's3rver over HTTPS';
  const logLevel = values['log-level']!;
  const machine = machineFacts();
  NPROC = machine.nproc;

  const payloads: Payloads = {
    mib: Array.from({ length: MIB_KEYS }, () => randomBytes(MiB)),
    big: randomBytes(64 * MiB),
    small: Array.from({ length: SMALL_KEYS }, () => randomBytes(s.smallSize)),
  };

  const trents: RunningTrent[] = [];
  const clients: Array<S3Client | KMSClient> = [];
  let s3rver: S3rverProcess | undefined;
  const dataDirs: string[] = [];
  const perMeasurementS = s.durationS + s.warmupS + 3;
  const watchdog = setTimeout(
    () => {
      console.error('s3 bench: time budget exceeded');
      for (const t of trents) t.process.kill('SIGKILL');
      s3rver?.process.kill('SIGKILL');
      process.exit(1);
    },
    ((modes.length * trentKeys.length + 1) * WORKLOADS.length * (perMeasurementS + s.bigIterations * 3) + s.quietBudgetS + 60 * s.retryNoisy + 180) * 1000,
  );
  try {
    console.log(
      `s3: AWS SDK v3 S3Client as the load generator (checksums: ${checksums === 'when-required' ? "requestChecksumCalculation and responseChecksumValidation 'WHEN_REQUIRED'" : 'SDK defaults'}), ` +
        `keep-alive, up to ${MAX_SOCKETS} sockets; ${s.durationS} s measured after ${s.warmupS} s warm-up for 1 MiB (${s.mibConcurrency} in flight) and ${s.smallSize} B objects (${s.concurrency} in flight); ` +
        `64 MiB: 1 warm-up then ${s.bigIterations} one at a time; Trent log level ${logLevel}`,
    );
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}`);

    // Both Trents, each in its own data directory.
    const targets = new Map<TargetKey, Target>();
    const setupChecks: SetupCheck[] = [];
    const problems: string[] = [];
    for (const key of trentKeys) {
      const dataDir = await tempDir(key === 'trent' ? 'trent-bench-s3-' : 'trent-bench-s3-plain-');
      dataDirs.push(dataDir);
      const trent = await startTrent({ dataDir, env: { TRENT_LOG_LEVEL: logLevel, TRENT_BENCH_S3_PLAINTEXT: key === 'plain' ? '1' : '0' } });
      trents.push(trent);
      if (trent.process.pid) ourPids.add(trent.process.pid);
      drainOutput(trent);
      const kms = new KMSClient(trent.clientConfig());
      clients.push(kms);
      const kmsKeyArn = (await kms.send(new CreateKeyCommand({ Description: 'bench s3 SSE-KMS' }))).KeyMetadata!.Arn!;
      const s3 = trentS3Client(trent, checksums);
      clients.push(s3);
      await createBucket(s3, TARGET_LABEL[key]);
      const target: Target = { key, s3, trent, kmsKeyArn, customerKey: randomBytes(32), calls: new Map() };
      targets.set(key, target);
      const { checks, problems: p } = await checkAtRest(target, dataDir, modes);
      setupChecks.push(...checks);
      problems.push(...p);
      for (const c of checks) console.log(`  at rest, ${TARGET_LABEL[key]}, ${MODE_LABEL[c.mode]}: ${c.note}`);
      for (const x of p) console.log(`  PROBLEM: ${x}`);
    }

    const rows: RowResult[] = [];
    const kmsCalls: KmsCallCount[] = [];
    for (const [mi, mode] of modes.entries()) {
      const order = mi % 2 === 0 ? trentKeys : [...trentKeys].reverse();
      if (order.length === 0) break;
      console.log(`${MODE_LABEL[mode]} (${order.map((k) => TARGET_LABEL[k]).join(' first, then ')})`);
      const since = Date.now();
      for (const w of WORKLOADS) rows.push(...(await measurePaired(order.map((k) => targets.get(k)!), mode, w, s, payloads)));
      if (mode === 'sse-kms' || mode === 'sse-kms-bucket-key') {
        for (const k of order) {
          const c = await countKmsCalls(targets.get(k)!, mode, since);
          kmsCalls.push(c);
          console.log(`  ${describeKmsCalls(c)}`);
        }
      }
    }
    for (const t of trents) await stopTrent(t);
    trents.length = 0;

    if (withS3rver) {
      // Unless --s3rver-http, s3rver serves HTTPS with the encrypting Trent's certificate and key (its data directory is still there).
      const tlsDir = join(dataDirs[0] ?? '', 'tls');
      s3rver = await startS3rver(s3rverTls ? { certPath: join(tlsDir, 'server.pem'), keyPath: join(tlsDir, 'server-key.pem') } : undefined);
      dataDirs.push(s3rver.directory);
      if (s3rver.process.pid) ourPids.add(s3rver.process.pid);
      const s3 = s3rverClient(s3rver.port, checksums, s3rverTls ? await readFile(join(tlsDir, 'ca.pem')) : undefined);
      clients.push(s3);
      await createBucket(s3, 's3rver');
      const target: Target = { key: 's3rver', s3, customerKey: randomBytes(32), calls: new Map() };
      console.log(`${TARGET_LABEL.s3rver} (no SSE headers)`);
      for (const w of WORKLOADS) rows.push(...(await measurePaired([target], 'none', w, s, payloads)));
      await stopChild(s3rver.process);
      s3rver = undefined;
    }

    printTables(rows, modes, s, withS3rver);
    for (const c of kmsCalls) console.log(describeKmsCalls(c));
    const verdicts = targetVerdicts(rows, modes, kmsCalls);
    if (verdicts.length) {
      console.log('');
      console.log('Targets (issue 22; same run):');
      for (const v of verdicts) console.log(`  ${v.met ? 'met    ' : 'NOT MET'}  ${v.what}: ${v.figure}`);
    }
    const failures = rows.filter((r) => r.error);
    const wrongHeaders = rows.filter((r) => r.headerProblems.length);
    for (const r of failures) console.log(`FAILED ${TARGET_LABEL[r.target]}, ${MODE_LABEL[r.mode]}, ${workloadLabel(r.workload, s)}: ${r.error}`);
    for (const r of wrongHeaders) console.log(`WRONG SSE HEADERS ${TARGET_LABEL[r.target]}, ${MODE_LABEL[r.mode]}, ${workloadLabel(r.workload, s)}: ${r.headerProblems.join('; ')}`);
    for (const p of problems) console.log(`PROBLEM: ${p}`);
    console.log(`rounds dropped for noise and run again: ${droppedRounds}; time spent waiting for a quiet machine: ${fmt(quietWaitSpentS, 0)} s`);
    const measured = rows.filter((r) => r.result?.cpu);
    if (measured.length) {
      const worst = measured.reduce((a, b) => (b.result!.cpu!.otherPct > a.result!.cpu!.otherPct ? b : a));
      const noisy = measured.filter((r) => r.result!.cpu!.otherPct > OTHER_CPU_WARN_PCT).length;
      console.log(
        `CPU not used by this benchmark's processes: at most ${fmt(worst.result!.cpu!.otherPct, 1)}% of the machine (${TARGET_LABEL[worst.target]}, ${MODE_LABEL[worst.mode]}, ${workloadLabel(worst.workload, s)}); ` +
          `${noisy} of ${measured.length} measurements above ${OTHER_CPU_WARN_PCT}%${noisy ? ': compare those rows with care or run again on a quiet machine' : ''}`,
      );
    }

    console.log(
      JSON.stringify({
        bench: 's3',
        date: new Date().toISOString(),
        settings: { ...s, s3rverTls },
        droppedRounds,
        quietWaitS: round(quietWaitSpentS, 1),
        machine,
        atRest: setupChecks,
        kmsCalls,
        targets: verdicts,
        results: rows.map((r) => ({
          target: r.target,
          mode: r.mode,
          workload: r.workload,
          ...(r.result
            ? {
                ops: r.result.ops,
                seconds: round(r.result.seconds, 3),
                mbPerSec: round(r.result.mbPerSec, 2),
                opsPerSec: round(r.result.opsPerSec, 1),
                p50Ms: round(r.result.p50Ms, 2),
                p90Ms: round(r.result.p90Ms, 2),
                p99Ms: round(r.result.p99Ms, 2),
                segments: r.result.segments,
                ...(r.result.cpu ? { cpuBusyPct: round(r.result.cpu.busyPct, 1), cpuOtherPct: round(r.result.cpu.otherPct, 1) } : {}),
              }
            : {}),
          ...(r.error ? { error: r.error } : {}),
          ...(r.headerProblems.length ? { headerProblems: r.headerProblems } : {}),
        })),
        problems,
      }),
    );
    return failures.length || wrongHeaders.length || problems.length ? 1 : 0;
  } finally {
    clearTimeout(watchdog);
    for (const c of clients) c.destroy();
    for (const t of trents) await stopTrent(t).catch(() => undefined);
    if (s3rver) await stopChild(s3rver.process).catch(() => undefined);
    for (const d of dataDirs) await removeDir(d);
  }
}

if (process.argv[2] === S3RVER_CHILD_FLAG) {
  const [, , , dir, certPath, keyPath] = process.argv;
  runS3rverChild(dir ?? (await mkdtemp(join(tmpdir(), 'trent-bench-s3rver-'))), certPath && keyPath ? { certPath, keyPath } : undefined).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`s3 bench FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
