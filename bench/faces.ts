// Face operations (Rekognition) through Trent, each beside the bare face engine measured in the same run.
//
//   node --import tsx bench/faces.ts [--runs 20] [--detect-requests 16] [--compare-requests 12] [--concurrency 2,4]
//                                    [--pair-runs 10] [--image-runs 10] [--faces 10000,100000] [--log-level warn]
//                                    [--retry-noisy 1] [--quiet-wait 20] [--quiet-budget 60] [--time-limit 540]
//
// 1. Bare inference (the baseline), in this process: createFaceEngine({ workers: 1 }), then detect() on a
//    640x480 JPEG (obama/obama.jpg of ../shared/data/faces/photos, rotated by EXIF and cut to 640x480 with
//    sharp), --runs times one at a time after two warm-up calls, with descriptors (what IndexFaces, CompareFaces
//    and SearchFacesByImage need) and without (what DetectFaces needs); then two detections with descriptors at
//    once (the work of one CompareFaces), --pair-runs times. Then createFaceEngine({ workers: 2 }): images/s with
//    2 requests in flight (--runs images, with and without descriptors), and the pair of detections again. Each call gets a fresh copy of the bytes (the engine transfers
//    its input to the worker).
// 2. Through Trent, with the AWS SDK's RekognitionClient (keep-alive agent, maxAttempts 1): a Trent started with
//    TRENT_FACES_WORKERS=1, then another with 2 (TRENT_FACES_LAZY=0, so the models load at start; one call waits
//    for them before anything is timed; TRENT_WORKERS=1, one server process). For each: DetectFaces (--runs one at a time, then --detect-requests with
//    each of --concurrency in flight) and CompareFaces of two 640x480 photos of the same person (obama.jpg and
//    obama3.jpg; --runs one at a time, then --compare-requests with each of --concurrency in flight). Every
//    response is checked: one face found, one match above the default threshold of 80.
// 3. Search, in the second Trent's data directory: a KMS key (CreateKey), a collection tagged
//    trent:kms-key-id = that key, IndexFaces of the probe photo. The collection's data key (rk_collections.data_key
//    in trent.db) is decrypted with kms:Decrypt under the EncryptionContext {"aws:rekognition:collection-arn": arn}
//    and checked by opening the indexed face's sealed vector with it. Trent is stopped and synthetic faces are
//    inserted straight into rk_faces, 1,000 rows per transaction: random directions scaled to the real
//    descriptor's euclidean norm (+-5 %), each sealed with AES-256-GCM under the data key with Trent's AAD
//    ("trent:rekognition:face-vector:v1:<collection arn>\n<face id>"), as IndexFaces seals them. One of each
//    batch is a "needle": the real descriptor plus noise of norm 0.15 (similarity about 99), which every search
//    must find; the random faces lie far from everything (similarity about 0). Trent is then started again on the
//    same directory (an empty cache) and measured at --faces[0] faces plus the real one; then stopped, filled up
//    to --faces[1], started, measured again. At each size: ListCollections (the same pipeline without the
//    collection: the round-trip floor), the first SearchFaces (which decrypts the whole collection into memory:
//    KMS Decrypt, read every row, open every vector), then SearchFaces by the real face's FaceId --runs times
//    (no image: this is the search itself), and beside it the same scan in this process (the same similarity
//    function over the same vectors: the bare cost of the arithmetic). At the larger size, also
//    SearchFacesByImage with the probe photo (--image-runs times after one warm-up; includes detection).
//
// Noise guard: around every timed measurement the benchmark reads /proc/stat and the CPU time of its own
// processes (this one, with the engine's worker threads, and the running Trent), over at least 1 s (a shorter
// measurement is followed by idle time up to 1 s, as /proc counts in 10 ms ticks). A measurement during which
// other processes used more than 10 % of the machine is run again (--retry-noisy times) once the machine has
// been quiet for 3 s (--quiet-wait per wait, --quiet-budget in all); a row still above 10 % is flagged.
// The baseline in the same run: the engine on its tfjs-wasm fallback (the networks as Trent ran them before
// onnxruntime), one worker, the same photo. Prints tables, whether the targets are met (through Trent with 2 face
// workers: CompareFaces p50 <= 150 ms, DetectFaces p50 <= 80 ms; SearchFaces over 100,000 faces <= 50 ms) and
// everything again as one JSON line. Exits non-zero when a check or a call failed.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import {
  CompareFacesCommand,
  CreateCollectionCommand,
  DetectFacesCommand,
  IndexFacesCommand,
  ListCollectionsCommand,
  RekognitionClient,
  SearchFacesByImageCommand,
  SearchFacesCommand,
  type FaceMatch,
} from '@aws-sdk/client-rekognition';
import { CreateKeyCommand, DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { openFromBytes, sealToBytes } from '../src/crypto/aead.ts';
import { distanceForSimilarity, similarityFromDistance } from '../src/faces/calibration.ts';
import { FaceVectors } from '../src/faces/vector-index.ts';
import { createFaceEngine, descriptorDistance, type FaceEngine } from '../src/faces/engine.ts';
import { SqliteDatabase } from '../src/store/sqlite.ts';
import { REPO, removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';
import { fmt, machineFacts, positiveInt, round, stopTrent } from './lib.ts';

const PHOTOS = resolve(REPO, '..', 'shared', 'data', 'faces', 'photos');
const PROBE = 'obama/obama.jpg';
const SAME_PERSON = 'obama/obama3.jpg';
const COLLECTION = 'bench-faces';
const KEY_TAG = 'trent:kms-key-id';
const BATCH = 1000;
const NEEDLE_NOISE = 0.15;
const OTHER_CPU_WARN_PCT = 10;
/** Issue targets, through Trent with 2 face workers: CompareFaces of two 640x480 photos and DetectFaces of one, p50. */
const COMPARE_TARGET_MS = 150;
const DETECT_TARGET_MS = 80;
/** The shortest window over which CPU shares are read. */
const MIN_CPU_WINDOW_MS = 1000;

// ---------------------------------------------------------------------------------------------
// Settings

interface Settings {
  runs: number;
  detectRequests: number;
  compareRequests: number;
  concurrency: number[];
  pairRuns: number;
  imageRuns: number;
  faces: [number, number];
  logLevel: string;
  retryNoisy: number;
  quietWaitS: number;
  quietBudgetS: number;
  timeLimitS: number;
}

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      'detect-requests': { type: 'string', default: '16' },
      'compare-requests': { type: 'string', default: '12' },
      concurrency: { type: 'string', default: '2,4' },
      'pair-runs': { type: 'string', default: '10' },
      'image-runs': { type: 'string', default: '10' },
      faces: { type: 'string', default: '10000,100000' },
      'log-level': { type: 'string', default: 'warn' },
      'retry-noisy': { type: 'string', default: '1' },
      'quiet-wait': { type: 'string', default: '20' },
      'quiet-budget': { type: 'string', default: '60' },
      'time-limit': { type: 'string', default: '540' },
    },
    strict: true,
  });
  const list = (v: string | undefined, name: string) => (v ?? '').split(',').map((x) => positiveInt(x.trim(), name));
  const faces = list(values.faces, '--faces');
  if (faces.length !== 2 || faces[0]! >= faces[1]!) throw new Error('--faces takes two sizes, the smaller first (e.g. 10000,100000)');
  const retryNoisy = Number(values['retry-noisy']);
  if (!Number.isInteger(retryNoisy) || retryNoisy < 0) throw new Error('--retry-noisy must be a whole number, 0 or more');
  return {
    runs: positiveInt(values.runs, '--runs'),
    detectRequests: positiveInt(values['detect-requests'], '--detect-requests'),
    compareRequests: positiveInt(values['compare-requests'], '--compare-requests'),
    concurrency: list(values.concurrency, '--concurrency'),
    pairRuns: positiveInt(values['pair-runs'], '--pair-runs'),
    imageRuns: positiveInt(values['image-runs'], '--image-runs'),
    faces: [faces[0]!, faces[1]!],
    logLevel: values['log-level']!,
    retryNoisy,
    quietWaitS: positiveInt(values['quiet-wait'], '--quiet-wait'),
    quietBudgetS: Number(values['quiet-budget']),
    timeLimitS: positiveInt(values['time-limit'], '--time-limit'),
  };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux): the machine's busy time and the part of it that is not this benchmark's.

/** This process (with the engine's worker threads) and the Trent being measured. */
const ourPids = new Set<number>([process.pid]);
let nproc = 1;

interface CpuSample {
  busy: number;
  ours: number;
}

async function cpuSample(): Promise<CpuSample | undefined> {
  try {
    const fields = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy is everything but idle and iowait.
    const busy = fields.slice(0, 8).reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!;
    let ours = 0;
    for (const pid of ourPids) {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ours += Number(after[11]) + Number(after[12]); // utime, stime: every thread of the process
      } catch {
        // the process has gone
      }
    }
    return { busy, ours };
  } catch {
    return undefined;
  }
}

interface CpuShare {
  busyPct: number;
  otherPct: number;
}

/** Shares of the machine's whole capacity (all cores) over `seconds`, with 100 clock ticks a second. */
function cpuShare(a: CpuSample | undefined, b: CpuSample | undefined, seconds: number): CpuShare | undefined {
  if (!a || !b || seconds <= 0) return undefined;
  const capacity = seconds * 100 * nproc;
  const busy = b.busy - a.busy;
  return { busyPct: (100 * busy) / capacity, otherPct: Math.max(0, (100 * (busy - (b.ours - a.ours))) / capacity) };
}

let quietSpentS = 0;
let droppedForNoise = 0;

/** Waits until the whole machine has stayed under OTHER_CPU_WARN_PCT busy for 3 s in a row, within the limits. */
async function waitForQuiet(s: Settings): Promise<void> {
  const start = performance.now();
  const limitMs = Math.min(s.quietWaitS, s.quietBudgetS - quietSpentS) * 1000;
  let quiet = 0;
  let before = await cpuSample();
  if (!before) return;
  while (quiet < 3 && performance.now() - start < limitMs) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await cpuSample();
    const share = cpuShare(before, now, 1);
    before = now;
    quiet = share && share.busyPct < OTHER_CPU_WARN_PCT ? quiet + 1 : 0;
  }
  quietSpentS += (performance.now() - start) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Stats {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  min: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0]!, max: s[s.length - 1]! };
}

interface Row {
  section: 'bare' | 'trent-1' | 'trent-2' | 'search';
  label: string;
  inFlight: number;
  latency: Stats;
  /** Calls (or images, for the bare engine) per second over the whole measurement. */
  perSecond: number;
  /** What perSecond counts. */
  unit: string;
  cpu?: CpuShare;
  noisy: boolean;
  /** Measurements of this row dropped for noise and run again. */
  retried: number;
}

const rows: Row[] = [];
const problems: string[] = [];

/**
 * `count` calls of `op` with `inFlight` of them running at once, each timed; the whole measurement's time runs
 * until the last call has finished. Run again when others used the machine, as far as the settings allow.
 */
async function measure(
  s: Settings,
  section: Row['section'],
  label: string,
  op: (i: number) => Promise<void>,
  opts: { count: number; inFlight: number; unit?: string; perCall?: number; retry?: boolean },
): Promise<Row> {
  let retried = 0;
  for (;;) {
    const latencies: number[] = [];
    let next = 0;
    const before = await cpuSample();
    const start = performance.now();
    const loop = async () => {
      while (next < opts.count) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: opts.inFlight }, loop));
    const seconds = (performance.now() - start) / 1000;
    // /proc counts in ticks of 10 ms: a short measurement's CPU shares are read over a window of at least 1 s
    // (the rest of it idle on our side), so that others' use during it is still seen.
    const pad = MIN_CPU_WINDOW_MS - (performance.now() - start);
    if (pad > 0) await new Promise((r) => setTimeout(r, pad));
    const cpu = cpuShare(before, await cpuSample(), (performance.now() - start) / 1000);
    const noisy = cpu !== undefined && cpu.otherPct > OTHER_CPU_WARN_PCT;
    if (noisy && opts.retry !== false && retried < s.retryNoisy && quietSpentS < s.quietBudgetS) {
      retried++;
      droppedForNoise++;
      console.log(`    (${label}: others used ${fmt(cpu.otherPct, 1)} % of the machine; waiting for quiet and measuring again)`);
      await waitForQuiet(s);
      continue;
    }
    const row: Row = {
      section,
      label,
      inFlight: opts.inFlight,
      latency: stats(latencies),
      perSecond: (opts.count * (opts.perCall ?? 1)) / seconds,
      unit: opts.unit ?? 'calls/s',
      ...(cpu ? { cpu } : {}),
      noisy,
      retried,
    };
    rows.push(row);
    const l = row.latency;
    console.log(
      `  ${label}, ${opts.inFlight} in flight, n=${l.n}: p50 ${fmt(l.p50, 1)} ms, p95 ${fmt(l.p95, 1)} ms, mean ${fmt(l.mean, 1)} ms; ${fmt(row.perSecond, 2)} ${row.unit}` +
        (cpu ? `; machine ${fmt(cpu.busyPct, 0)} % busy, others ${fmt(cpu.otherPct, 1)} %${noisy ? ' (NOISY)' : ''}` : ''),
    );
    return row;
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) {
    problems.push(what);
    console.log(`  PROBLEM: ${what}`);
  }
}

/** A readable account of an SDK error. */
function describeError(what: string, err: unknown): string {
  if (err instanceof Error) {
    const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
    return `${what}: ${meta?.httpStatusCode !== undefined ? `HTTP ${meta.httpStatusCode}` : 'no HTTP status'}, ${err.name}: ${err.message}`;
  }
  return `${what}: ${String(err)}`;
}

async function call<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new Error(describeError(what, err));
  }
}

// ---------------------------------------------------------------------------------------------
// Images and vectors

/** A photo rotated by its EXIF orientation and cut to 640x480 (cover, keeping the top), as a JPEG. */
async function photo640(name: string): Promise<Buffer> {
  return sharp(await readFile(join(PHOTOS, name)))
    .rotate()
    .resize(640, 480, { fit: 'cover', position: 'north' })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** A fresh Uint8Array with its own ArrayBuffer: the engine transfers (detaches) what it is given. */
const fresh = (b: Buffer): Uint8Array => new Uint8Array(b);

const norm = (v: Float32Array): number => Math.hypot(...v);

/** One standard normal draw (Box-Muller). */
function gaussian(): number {
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

/** A random direction, scaled to `length`. */
function randomVector(length: number): Float32Array {
  const v = new Float32Array(128);
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    v[i] = gaussian();
    sum += v[i]! * v[i]!;
  }
  const scale = length / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i]! *= scale;
  return v;
}

/** Trent's associated data for a sealed face vector (src/faces/api.ts, vectorAad), recomputed here. */
function vectorAad(collectionArn: string, faceId: string): Buffer {
  return Buffer.from(`trent:rekognition:face-vector:v1:${collectionArn}\n${faceId}`);
}

/** The in-process scan, naively: one distance and one similarity per face, threshold 80, top 80. */
function packedScan(probe: Float32Array, index: FaceVectors<number>): number {
  const matches = index.within(probe, distanceForSimilarity(80)).map((n) => similarityFromDistance(n.distance)).filter((x) => x >= 80);
  matches.sort((a, b) => b - a);
  return matches.slice(0, 80).length;
}

function scan(probe: Float32Array, vectors: Float32Array[]): number {
  const matches: number[] = [];
  for (const v of vectors) {
    const similarity = similarityFromDistance(descriptorDistance(probe, v));
    if (similarity >= 80) matches.push(similarity);
  }
  matches.sort((a, b) => b - a);
  return matches.slice(0, 80).length;
}

// ---------------------------------------------------------------------------------------------
// 1. The bare engine

interface Bare {
  /** The same engine on the tfjs-wasm fallback (the networks as the engine ran them before onnxruntime), 1 worker. */
  tfjsDetectDescriptor?: Row;
  tfjsDetectOnly?: Row;
  tfjsMaxDescriptorDistance?: number;
  detectDescriptor: Row;
  detectOnly: Row;
  pair1: Row;
  throughputDescriptor2: Row;
  throughputOnly2: Row;
  pair2: Row;
  startS: [number, number];
  realDescriptor: Float32Array;
  sameDistance: number;
}

async function bareEngine(s: Settings, probe: Buffer, same: Buffer): Promise<Bare> {
  console.log('1. Bare inference: createFaceEngine in this process');
  await waitForQuiet(s);
  let t = performance.now();
  const one = await createFaceEngine({ workers: 1 });
  const start1 = (performance.now() - t) / 1000;
  let engine: FaceEngine = one;
  try {
    console.log(`  1 worker started in ${fmt(start1, 1)} s`);
    const first = await one.detect(fresh(probe), { descriptors: true });
    const other = await one.detect(fresh(same), { descriptors: true });
    check(first.faces.length === 1 && other.faces.length === 1, `the two 640x480 photos should show one face each: found ${first.faces.length} and ${other.faces.length}`);
    const realDescriptor = first.faces[0]!.descriptor!;
    const sameDistance = one.distance(realDescriptor, other.faces[0]!.descriptor!);
    console.log(`  the probe's descriptor: euclidean norm ${fmt(norm(realDescriptor), 3)}; distance to the other photo of the same person ${fmt(sameDistance, 3)} (similarity ${fmt(one.similarity(realDescriptor, other.faces[0]!.descriptor!), 1)})`);
    const detectDescriptor = await measure(s, 'bare', 'detect + landmarks + descriptor', async () => void (await one.detect(fresh(probe), { descriptors: true })), { count: s.runs, inFlight: 1, unit: 'images/s' });
    const detectOnly = await measure(s, 'bare', 'detect + landmarks (no descriptor)', async () => void (await one.detect(fresh(probe), { descriptors: false })), { count: s.runs, inFlight: 1, unit: 'images/s' });
    const pair = async () => void (await Promise.all([one.detect(fresh(probe), { descriptors: true }), one.detect(fresh(same), { descriptors: true })]));
    const pair1 = await measure(s, 'bare', 'two detections with descriptors at once (a CompareFaces)', pair, { count: s.pairRuns, inFlight: 1, unit: 'pairs/s' });
    await one.close();

    // The baseline in the same run: the same pipeline on the tfjs-wasm fallback, and how far its results lie.
    await waitForQuiet(s);
    const tfjs = await createFaceEngine({ workers: 1, backend: 'tfjs-wasm' });
    engine = tfjs;
    console.log(`  tfjs-wasm fallback, 1 worker (backend ${tfjs.backend})`);
    const tf1 = await tfjs.detect(fresh(probe), { descriptors: true });
    const tf2 = await tfjs.detect(fresh(same), { descriptors: true });
    const tfjsMaxDescriptorDistance = Math.max(tfjs.distance(tf1.faces[0]!.descriptor!, realDescriptor), tfjs.distance(tf2.faces[0]!.descriptor!, other.faces[0]!.descriptor!));
    console.log(`  descriptors of the two photos, tfjs-wasm vs onnxruntime: at most ${tfjsMaxDescriptorDistance.toExponential(2)} apart`);
    const tfjsDetectDescriptor = await measure(s, 'bare', 'tfjs-wasm: detect + landmarks + descriptor', async () => void (await tfjs.detect(fresh(probe), { descriptors: true })), { count: s.runs, inFlight: 1, unit: 'images/s' });
    const tfjsDetectOnly = await measure(s, 'bare', 'tfjs-wasm: detect + landmarks (no descriptor)', async () => void (await tfjs.detect(fresh(probe), { descriptors: false })), { count: s.runs, inFlight: 1, unit: 'images/s' });
    await tfjs.close();

    await waitForQuiet(s);
    t = performance.now();
    const two = await createFaceEngine({ workers: 2 });
    engine = two;
    const start2 = (performance.now() - t) / 1000;
    console.log(`  2 workers started in ${fmt(start2, 1)} s`);
    await Promise.all([two.detect(fresh(probe), { descriptors: true }), two.detect(fresh(probe), { descriptors: true })]);
    const n = Math.max(s.runs, 2);
    const throughputDescriptor2 = await measure(s, 'bare', 'detect + descriptor, 2 workers', async () => void (await two.detect(fresh(probe), { descriptors: true })), { count: n, inFlight: 2, unit: 'images/s' });
    const throughputOnly2 = await measure(s, 'bare', 'detect (no descriptor), 2 workers', async () => void (await two.detect(fresh(probe), { descriptors: false })), { count: n, inFlight: 2, unit: 'images/s' });
    const pair2 = await measure(
      s,
      'bare',
      'two detections with descriptors at once, 2 workers',
      async () => void (await Promise.all([two.detect(fresh(probe), { descriptors: true }), two.detect(fresh(same), { descriptors: true })])),
      { count: s.pairRuns, inFlight: 1, unit: 'pairs/s' },
    );
    return { tfjsDetectDescriptor, tfjsDetectOnly, tfjsMaxDescriptorDistance, detectDescriptor, detectOnly, pair1, throughputDescriptor2, throughputOnly2, pair2, startS: [start1, start2], realDescriptor, sameDistance };
  } finally {
    await engine.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Through Trent

interface Running {
  trent: RunningTrent;
  rk: RekognitionClient;
  kms: KMSClient;
}

const running = new Set<Running>();

async function launch(s: Settings, workers: number, dataDir: string): Promise<Running> {
  // One server process, so that its face worker threads are the `workers` measured (TRENT_FACES_WORKERS is per process).
  const trent = await startTrent({ dataDir, env: { TRENT_WORKERS: '1', TRENT_FACES_WORKERS: String(workers), TRENT_FACES_LAZY: '0', TRENT_LOG_LEVEL: s.logLevel } });
  if (trent.process.pid) ourPids.add(trent.process.pid);
  const r: Running = { trent, rk: new RekognitionClient(trent.clientConfig()), kms: new KMSClient(trent.clientConfig()) };
  running.add(r);
  return r;
}

async function stop(r: Running): Promise<void> {
  r.rk.destroy();
  r.kms.destroy();
  await stopTrent(r.trent);
  running.delete(r);
  if (r.trent.process.pid) ourPids.delete(r.trent.process.pid);
  const code = r.trent.process.exitCode;
  check(code === 0, `Trent (${r.trent.dataDir}) exited with ${code ?? r.trent.process.signalCode}`);
}

/** Resident memory of a process in MiB, from /proc. */
async function rssMiB(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface ThroughTrent {
  workers: number;
  firstCallS: number;
  detect: Row;
  detectLoad: Row[];
  compare: Row;
  compareLoad: Row[];
  similarity: number;
}

async function throughTrent(s: Settings, r: Running, workers: number, probe: Buffer, same: Buffer): Promise<ThroughTrent> {
  const section = workers === 1 ? 'trent-1' : 'trent-2';
  const rk = r.rk;
  // The models load in the background from the start; the first call waits for them.
  let t = performance.now();
  await call('DetectFaces (first call)', rk.send(new DetectFacesCommand({ Image: { Bytes: probe } })));
  const firstCallS = (performance.now() - t) / 1000;
  console.log(`  first DetectFaces (waits for the workers to load) answered ${fmt(firstCallS, 1)} s after the ready line`);
  await call('DetectFaces (warm-up)', rk.send(new DetectFacesCommand({ Image: { Bytes: probe } })));
  await waitForQuiet(s);

  const detectOp = async () => {
    const out = await call('DetectFaces', rk.send(new DetectFacesCommand({ Image: { Bytes: probe } })));
    if (out.FaceDetails?.length !== 1) throw new Error(`DetectFaces found ${out.FaceDetails?.length ?? 0} faces, expected 1`);
  };
  const detect = await measure(s, section, 'DetectFaces', detectOp, { count: s.runs, inFlight: 1 });
  const detectLoad: Row[] = [];
  for (const c of s.concurrency) detectLoad.push(await measure(s, section, 'DetectFaces', detectOp, { count: Math.max(s.detectRequests, 2 * c), inFlight: c }));

  let similarity = NaN;
  const compareOp = async () => {
    const out = await call('CompareFaces', rk.send(new CompareFacesCommand({ SourceImage: { Bytes: probe }, TargetImage: { Bytes: same } })));
    if (out.FaceMatches?.length !== 1) throw new Error(`CompareFaces of two photos of the same person: ${out.FaceMatches?.length ?? 0} matches above 80, expected 1 (unmatched: ${out.UnmatchedFaces?.length ?? 0})`);
    similarity = out.FaceMatches[0]!.Similarity!;
  };
  t = performance.now();
  await compareOp();
  console.log(`  CompareFaces warm-up: ${fmt(performance.now() - t, 0)} ms, similarity ${fmt(similarity, 1)}`);
  const compare = await measure(s, section, 'CompareFaces', compareOp, { count: s.runs, inFlight: 1 });
  const compareLoad: Row[] = [];
  for (const c of s.concurrency) compareLoad.push(await measure(s, section, 'CompareFaces', compareOp, { count: Math.max(s.compareRequests, 2 * c), inFlight: c }));
  return { workers, firstCallS, detect, detectLoad, compare, compareLoad, similarity };
}

// ---------------------------------------------------------------------------------------------
// 3. Search

interface SearchSize {
  faces: number;
  insertS: number;
  floor: Row;
  loadMs: number;
  loadOtherPct?: number;
  rssBeforeMiB?: number;
  rssAfterMiB?: number;
  search: Row;
  scan: Row;
  packedScan: Row;
  matches: number;
}

interface SearchResult {
  collectionArn: string;
  storedNorm: number;
  storedVsBare: number;
  sizes: SearchSize[];
  byImage?: Row;
  byImageMatches?: number;
}

interface Synthetic {
  vectors: Float32Array[];
  needles: string[];
}

/** Insert `count` synthetic faces (one of them a needle close to `real`) in transactions of BATCH rows; Trent is stopped meanwhile. */
async function insertFaces(dataDir: string, collectionArn: string, key: Buffer, real: Float32Array, count: number, into: Synthetic, tag: string): Promise<number> {
  const realNorm = norm(real);
  const needleAt = Math.floor(Math.random() * count);
  const db = SqliteDatabase.open(join(dataDir, 'trent.db'));
  const start = performance.now();
  try {
    for (let done = 0; done < count; done += BATCH) {
      await db.transaction(async (tx) => {
        const now = Date.now();
        for (let i = done; i < Math.min(count, done + BATCH); i++) {
          let v: Float32Array;
          let external: string;
          if (i === needleAt) {
            v = new Float32Array(real);
            const noise = randomVector(NEEDLE_NOISE);
            for (let k = 0; k < v.length; k++) v[k]! += noise[k]!;
            external = `needle-${tag}`;
          } else {
            v = randomVector(realNorm * (0.95 + 0.1 * Math.random()));
            external = 'synthetic';
          }
          const faceId = randomUUID();
          const sealed = sealToBytes(key, Buffer.from(v.buffer), vectorAad(collectionArn, faceId));
          await tx.run('INSERT INTO rk_faces (collection_id, face_id, image_id, external_image_id, box, confidence, vector, user_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)', [
            COLLECTION,
            faceId,
            randomUUID(),
            external,
            '{"left":0.3,"top":0.2,"width":0.3,"height":0.4}',
            99.9,
            sealed,
            now,
          ]);
          into.vectors.push(v);
          if (i === needleAt) into.needles.push(faceId);
        }
      });
    }
  } finally {
    await db.close();
  }
  return (performance.now() - start) / 1000;
}

async function searchPhase(s: Settings, r0: Running, dataDir: string, probe: Buffer, bareDescriptor: Float32Array): Promise<{ result: SearchResult; last: Running }> {
  console.log(`3. Search: a collection under its own KMS key, ${fmt(s.faces[0], 0)} then ${fmt(s.faces[1], 0)} synthetic faces inserted into rk_faces`);
  let r = r0;
  const keyArn = (await call('CreateKey', r.kms.send(new CreateKeyCommand({ Description: 'bench faces collection key' })))).KeyMetadata!.Arn!;
  const created = await call('CreateCollection', r.rk.send(new CreateCollectionCommand({ CollectionId: COLLECTION, Tags: { [KEY_TAG]: keyArn } })));
  const collectionArn = created.CollectionArn!;
  const indexed = await call('IndexFaces', r.rk.send(new IndexFacesCommand({ CollectionId: COLLECTION, Image: { Bytes: probe }, ExternalImageId: 'real', MaxFaces: 1 })));
  check(indexed.FaceRecords?.length === 1, `IndexFaces of the probe photo indexed ${indexed.FaceRecords?.length ?? 0} faces, expected 1`);
  const realFaceId = indexed.FaceRecords![0]!.Face!.FaceId!;

  // The collection's data key: its KMS ciphertext from trent.db, decrypted by the admin through kms:Decrypt.
  const db = SqliteDatabase.open(join(dataDir, 'trent.db'));
  let row: { data_key: Buffer; kms_key_arn: string } | undefined;
  let realSealed: { vector: Buffer } | undefined;
  try {
    row = await db.get<{ data_key: Buffer; kms_key_arn: string }>('SELECT data_key, kms_key_arn FROM rk_collections WHERE collection_id = ?', [COLLECTION]);
    realSealed = await db.get<{ vector: Buffer }>('SELECT vector FROM rk_faces WHERE collection_id = ? AND face_id = ?', [COLLECTION, realFaceId]);
  } finally {
    await db.close();
  }
  if (!row || !realSealed) throw new Error('the collection or its face is not in rk_collections / rk_faces');
  check(row.kms_key_arn === keyArn, `the collection's data key is under ${row.kms_key_arn}, expected ${keyArn}`);
  const decrypted = await call(
    'kms:Decrypt of the collection data key',
    r.kms.send(new DecryptCommand({ CiphertextBlob: row.data_key, KeyId: keyArn, EncryptionContext: { 'aws:rekognition:collection-arn': collectionArn } })),
  );
  const key = Buffer.from(decrypted.Plaintext!);
  const plain = openFromBytes(key, realSealed.vector, vectorAad(collectionArn, realFaceId));
  const real = new Float32Array(plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.length));
  const storedVsBare = descriptorDistance(real, bareDescriptor);
  console.log(`  data key decrypted (${key.length} bytes); the indexed face's vector opens with it: norm ${fmt(norm(real), 3)}, distance to the bare engine's descriptor of the same image ${fmt(storedVsBare, 4)}`);

  const synthetic: Synthetic = { vectors: [], needles: [] };
  const sizes: SearchSize[] = [];
  let byImage: Row | undefined;
  let byImageMatches: number | undefined;
  const workers = 2;
  for (const [si, target] of s.faces.entries()) {
    await stop(r);
    const add = target - synthetic.vectors.length;
    const insertS = await insertFaces(dataDir, collectionArn, key, real, add, synthetic, String(target));
    const total = synthetic.vectors.length + 1;
    console.log(`  ${fmt(add, 0)} faces inserted in ${fmt(insertS, 1)} s (${fmt(add / insertS, 0)} rows/s); the collection now holds ${fmt(total, 0)}`);
    r = await launch(s, workers, dataDir);
    const rk = r.rk;
    // Wait for the workers (SearchFaces awaits the engine too), without touching the collection.
    await call('DetectFaces (engine warm-up)', rk.send(new DetectFacesCommand({ Image: { Bytes: probe } })));
    await waitForQuiet(s);
    const label = `${fmt(total, 0)} faces`;
    const floor = await measure(s, 'search', `ListCollections (round-trip floor), ${label}`, async () => void (await call('ListCollections', rk.send(new ListCollectionsCommand({})))), { count: s.runs, inFlight: 1 });

    const expected = new Set(synthetic.needles);
    let matches = 0;
    const searchOp = async () => {
      const out = await call('SearchFaces', rk.send(new SearchFacesCommand({ CollectionId: COLLECTION, FaceId: realFaceId })));
      const found = new Set((out.FaceMatches ?? []).map((m: FaceMatch) => m.Face!.FaceId!));
      for (const n of expected) if (!found.has(n)) throw new Error(`SearchFaces over ${label} did not find the planted near-duplicate ${n} (matches: ${found.size})`);
      matches = found.size;
    };
    const rssBeforeMiB = await rssMiB(r.trent.process.pid);
    const before = await cpuSample();
    const t = performance.now();
    await searchOp();
    const loadMs = performance.now() - t;
    const loadCpu = cpuShare(before, await cpuSample(), loadMs / 1000);
    const rssAfterMiB = await rssMiB(r.trent.process.pid);
    console.log(
      `  first SearchFaces, ${label} (KMS Decrypt, read and open every vector, then search): ${fmt(loadMs, 0)} ms; ${matches} matches (the planted near-duplicates)` +
        (rssBeforeMiB && rssAfterMiB ? `; Trent's resident memory ${fmt(rssBeforeMiB, 0)} -> ${fmt(rssAfterMiB, 0)} MiB` : ''),
    );
    const search = await measure(s, 'search', `SearchFaces by FaceId, ${label}`, searchOp, { count: s.runs, inFlight: 1 });
    const vectors = synthetic.vectors;
    scan(real, vectors);
    const scanRow = await measure(s, 'search', `naive scan in this process (distance + similarity per face), ${fmt(vectors.length, 0)} vectors`, async () => void scan(real, vectors), { count: s.runs, inFlight: 1, unit: 'scans/s' });
    const packed = new FaceVectors<number>();
    vectors.forEach((v, i) => packed.set(String(i), { vector: v, row: i }));
    packedScan(real, packed);
    const packedRow = await measure(s, 'search', `Trent's packed scan in this process (FaceVectors.within), ${fmt(vectors.length, 0)} vectors`, async () => void packedScan(real, packed), { count: s.runs, inFlight: 1, unit: 'scans/s' });
    sizes.push({ faces: total, insertS, floor, loadMs, ...(loadCpu ? { loadOtherPct: loadCpu.otherPct } : {}), ...(rssBeforeMiB ? { rssBeforeMiB } : {}), ...(rssAfterMiB ? { rssAfterMiB } : {}), search, scan: scanRow, packedScan: packedRow, matches });

    if (si === s.faces.length - 1) {
      const byImageOp = async () => {
        const out = await call('SearchFacesByImage', rk.send(new SearchFacesByImageCommand({ CollectionId: COLLECTION, Image: { Bytes: probe } })));
        const found = new Set((out.FaceMatches ?? []).map((m: FaceMatch) => m.Face!.FaceId!));
        for (const n of [...expected, realFaceId]) if (!found.has(n)) throw new Error(`SearchFacesByImage over ${label} did not find ${n} (matches: ${found.size})`);
        byImageMatches = found.size;
      };
      await byImageOp();
      byImage = await measure(s, 'search', `SearchFacesByImage, ${label}`, byImageOp, { count: s.imageRuns, inFlight: 1 });
    }
  }
  key.fill(0);
  return { result: { collectionArn, storedNorm: norm(real), storedVsBare, sizes, ...(byImage ? { byImage } : {}), ...(byImageMatches !== undefined ? { byImageMatches } : {}) }, last: r };
}

// ---------------------------------------------------------------------------------------------
// Report

function table(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(line(r));
  console.log('');
}

const ms = (n: number) => fmt(n, 1);
const lat = (r: Row | undefined) => (r ? `${ms(r.latency.p50)} / ${ms(r.latency.p95)}` : '-');
const rate = (r: Row | undefined) => (r ? fmt(r.perSecond, 2) : '-');
const noisyMark = (...r: Array<Row | undefined>) => (r.some((x) => x?.noisy) ? ' *' : '');

function report(s: Settings, bare: Bare | undefined, trents: ThroughTrent[], search: SearchResult | undefined): { compareMet?: boolean; detectMet?: boolean; searchMet?: boolean } {
  console.log('');
  console.log('Latency one request at a time, p50 / p95 ms (640x480 JPEG, one face). Bare: the engine in-process; Trent: through the SDK.');
  const t1 = trents.find((t) => t.workers === 1);
  const t2 = trents.find((t) => t.workers === 2);
  table(
    ['operation', 'bare engine', 'Trent, 1 worker', 'Trent, 2 workers'],
    [
      ['tfjs-wasm fallback: detect + descriptor (bare only)', lat(bare?.tfjsDetectDescriptor), '-', '-'],
      ['tfjs-wasm fallback: detect, no descriptor (bare only)', lat(bare?.tfjsDetectOnly), '-', '-'],
      ['detect + descriptor (bare only)', lat(bare?.detectDescriptor), '-', '-'],
      [`DetectFaces (bare: detect, no descriptor)${noisyMark(bare?.detectOnly, t1?.detect, t2?.detect)}`, lat(bare?.detectOnly), lat(t1?.detect), lat(t2?.detect)],
      [`CompareFaces, 1 worker (bare: 2 detections + descriptors at once)${noisyMark(bare?.pair1, t1?.compare)}`, lat(bare?.pair1), lat(t1?.compare), '-'],
      [`CompareFaces, 2 workers (bare: the same on 2 workers)${noisyMark(bare?.pair2, t2?.compare)}`, lat(bare?.pair2), '-', lat(t2?.compare)],
    ],
  );
  console.log('Throughput with several requests in flight (calls/s; bare: images/s, or pairs/s for CompareFaces, on 2 workers with 2 in flight).');
  const body: string[][] = [];
  for (const [i, c] of s.concurrency.entries()) {
    body.push([`DetectFaces, ${c} in flight${noisyMark(t1?.detectLoad[i], t2?.detectLoad[i])}`, i === 0 ? `${rate(bare?.throughputOnly2)} (+desc ${rate(bare?.throughputDescriptor2)})` : '', rate(t1?.detectLoad[i]), rate(t2?.detectLoad[i])]);
  }
  for (const [i, c] of s.concurrency.entries()) {
    body.push([`CompareFaces, ${c} in flight${noisyMark(t1?.compareLoad[i], t2?.compareLoad[i])}`, i === 0 && bare ? fmt(bare.throughputDescriptor2.perSecond / 2, 2) : '', rate(t1?.compareLoad[i]), rate(t2?.compareLoad[i])]);
  }
  table(['operation', 'bare, 2 workers', 'Trent, 1 worker', 'Trent, 2 workers'], body);

  let searchMet: boolean | undefined;
  if (search) {
    console.log('Search (Trent, 2 workers), ms. SearchFaces by FaceId: no image, the scan over every face of the collection.');
    table(
      ['faces', 'first call (load)', 'SearchFaces p50 / p95', 'packed scan in-process', 'naive scan in-process', 'ListCollections p50 / p95', 'matches'],
      search.sizes.map((z) => [
        fmt(z.faces, 0),
        fmt(z.loadMs, 0),
        `${lat(z.search)}${noisyMark(z.search)}`,
        `${lat(z.packedScan)}${noisyMark(z.packedScan)}`,
        `${lat(z.scan)}${noisyMark(z.scan)}`,
        lat(z.floor),
        String(z.matches),
      ]),
    );
    if (search.byImage) console.log(`SearchFacesByImage over ${fmt(search.sizes.at(-1)!.faces, 0)} faces (includes detection with descriptor): p50 / p95 ${lat(search.byImage)} ms${noisyMark(search.byImage)}, ${search.byImageMatches} matches`);
    const big = search.sizes.at(-1);
    if (big) searchMet = big.search.latency.p50 <= 50;
  }
  const compareMet = t2 ? t2.compare.latency.p50 <= COMPARE_TARGET_MS : undefined;
  const detectMet = t2 ? t2.detect.latency.p50 <= DETECT_TARGET_MS : undefined;
  console.log('');
  console.log('Targets:');
  for (const t of trents) console.log(`  CompareFaces of two 640x480 photos, Trent with ${t.workers} face worker${t.workers > 1 ? 's' : ''}: p50 ${ms(t.compare.latency.p50)} ms${t.workers === 2 ? ` (target <= ${COMPARE_TARGET_MS} ms: ${compareMet ? 'MET' : 'NOT MET'})` : ''}`);
  for (const t of trents) console.log(`  DetectFaces of a 640x480 photo, Trent with ${t.workers} face worker${t.workers > 1 ? 's' : ''}: p50 ${ms(t.detect.latency.p50)} ms${t.workers === 2 ? ` (target <= ${DETECT_TARGET_MS} ms: ${detectMet ? 'MET' : 'NOT MET'})` : ''}`);
  if (search?.sizes.at(-1)) {
    const big = search.sizes.at(-1)!;
    console.log(`  SearchFaces over ${fmt(big.faces, 0)} faces <= 50 ms: p50 ${ms(big.search.latency.p50)} ms (p95 ${ms(big.search.latency.p95)} ms): ${searchMet ? 'MET' : 'NOT MET'}`);
  }
  const noisy = rows.filter((r) => r.noisy);
  console.log(`Rows flagged noisy (others used over ${OTHER_CPU_WARN_PCT} % of the machine, marked *): ${noisy.length} of ${rows.length}; measurements dropped and run again: ${droppedForNoise}; time spent waiting for quiet: ${fmt(quietSpentS, 0)} s`);
  return { ...(compareMet !== undefined ? { compareMet } : {}), ...(detectMet !== undefined ? { detectMet } : {}), ...(searchMet !== undefined ? { searchMet } : {}) };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const s = settings();
  const machine = machineFacts();
  nproc = machine.nproc;
  const began = performance.now();
  const watchdog = setTimeout(() => {
    console.error(`faces bench: over the time limit of ${s.timeLimitS} s`);
    for (const r of running) r.trent.process.kill('SIGKILL');
    process.exit(1);
  }, s.timeLimitS * 1000);
  const dirs: string[] = [];
  let bare: Bare | undefined;
  const trents: ThroughTrent[] = [];
  let search: SearchResult | undefined;
  let failure: string | undefined;
  try {
    console.log(`faces: ${s.runs} calls one at a time per latency figure; AWS SDK RekognitionClient with a keep-alive agent; Trent log level ${s.logLevel}`);
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}, ${machine.kernel}`);
    const probe = await photo640(PROBE);
    const same = await photo640(SAME_PERSON);
    console.log(`images: ${PROBE} and ${SAME_PERSON}, 640x480 JPEG (${probe.length} and ${same.length} bytes)`);

    bare = await bareEngine(s, probe, same);

    let last: Running | undefined;
    for (const workers of [1, 2]) {
      console.log(`2. Through Trent, TRENT_FACES_WORKERS=${workers}`);
      const dir = await tempDir(`trent-bench-faces-${workers}-`);
      dirs.push(dir);
      const r = await launch(s, workers, dir);
      trents.push(await throughTrent(s, r, workers, probe, same));
      if (workers === 1) await stop(r);
      else last = r;
    }
    const searched = await searchPhase(s, last!, dirs.at(-1)!, probe, bare.realDescriptor);
    search = searched.result;
    await stop(searched.last);
  } catch (err) {
    failure = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.log(`FAILED: ${failure}`);
  } finally {
    clearTimeout(watchdog);
    for (const r of [...running]) await stop(r).catch(() => undefined);
    for (const d of dirs) await removeDir(d);
  }
  const targets = report(s, bare, trents, search);
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  console.log(`total time ${fmt((performance.now() - began) / 1000, 0)} s`);
  const rowJson = (r: Row) => ({
    section: r.section,
    label: r.label,
    inFlight: r.inFlight,
    n: r.latency.n,
    p50Ms: round(r.latency.p50, 2),
    p95Ms: round(r.latency.p95, 2),
    meanMs: round(r.latency.mean, 2),
    perSecond: round(r.perSecond, 3),
    unit: r.unit,
    ...(r.cpu ? { cpuBusyPct: round(r.cpu.busyPct, 1), cpuOtherPct: round(r.cpu.otherPct, 1) } : {}),
    noisy: r.noisy,
    retried: r.retried,
  });
  console.log(
    JSON.stringify({
      bench: 'faces',
      date: new Date().toISOString(),
      settings: s,
      machine,
      engineStartS: bare?.startS.map((x) => round(x, 2)),
      realDescriptorNorm: bare ? round(norm(bare.realDescriptor), 4) : undefined,
      samePersonDistance: bare ? round(bare.sameDistance, 4) : undefined,
      trent: trents.map((t) => ({ workers: t.workers, firstCallS: round(t.firstCallS, 2), compareSimilarity: round(t.similarity, 2) })),
      search: search
        ? {
            storedNorm: round(search.storedNorm, 4),
            storedVsBareDistance: round(search.storedVsBare, 5),
            sizes: search.sizes.map((z) => ({ faces: z.faces, insertS: round(z.insertS, 2), loadMs: round(z.loadMs, 1), loadOtherPct: z.loadOtherPct !== undefined ? round(z.loadOtherPct, 1) : undefined, rssBeforeMiB: z.rssBeforeMiB && round(z.rssBeforeMiB, 0), rssAfterMiB: z.rssAfterMiB && round(z.rssAfterMiB, 0), matches: z.matches })),
            byImageMatches: search.byImageMatches,
          }
        : undefined,
      results: rows.map(rowJson),
      targets,
      droppedForNoise,
      quietWaitS: round(quietSpentS, 1),
      problems,
      ...(failure ? { failure } : {}),
    }),
  );
  return failure || problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`faces bench FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
