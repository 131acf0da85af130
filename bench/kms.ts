// KMS throughput and latency over HTTPS, beside the platform's trivial authenticated call in the same run,
// with the audit trail recording every call (the normal configuration) and, for comparison, without it.
//
//   node --import tsx bench/kms.ts [--duration 10] [--connections 50] [--warmup 2] [--log-level warn|info] [--no-unaudited] [--workers N]
//
// Each operation is one request signed once with the SDK's SigV4 signer (valid for 15 minutes) and
// replayed by wrk: STS GetCallerIdentity (the baseline), KMS Encrypt of 32 bytes with an encryption
// context, Decrypt of such a ciphertext, and GenerateDataKey (AES_256).
//
// Phase (a): one Trent as normally configured (every call recorded in trail.db before its response
// leaves) for all four operations. It is then stopped, and its trail.db is opened to count the events
// written, which must be at least the number of requests wrk completed against it.
// Phase (b), unless --no-unaudited: a second Trent in a fresh data directory, started with
// TRENT_BENCH_UNAUDITED=1 (recording disabled, a benchmark-only switch), for the baseline and Encrypt.
// Only one Trent runs at a time. The cost of recording is (off - on) / off. See docs/benchmarks.md.
//
// The ceilings, measured in the same run with the same number of processes (--workers, default one per core),
// the same certificate and TLS settings: a bare node:https server answering the exact bytes Trent answered to
// GetCallerIdentity, and a bare node:https server doing what an Encrypt must do at the least (parse the JSON,
// AES-256-GCM with a fresh IV, answer JSON in base64). Trent's rates are printed as a share of them.
//
// Exits non-zero if any response was not 2xx or the trail holds fewer events than 2xx responses.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KMSClient, CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { SqliteDatabase } from '../src/store/sqlite.ts';
import { kmsRequest, stsRequest } from '../test/helpers/raw.ts';
import { removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  BARE_SERVER_FLAG,
  replayableHeaders,
  runBareServer,
  startBareServer,
  type BareServerConfig,
  drainOutput,
  findOnPath,
  fmt,
  killRunningLoad,
  machineFacts,
  measure,
  positiveInt,
  round,
  runWrk,
  sendOnce,
  signedRequest,
  stopTrent,
  type BenchRequest,
  type LoadResult,
} from './lib.ts';

const SELF = fileURLToPath(import.meta.url);

type OpKey = 'baseline' | 'encrypt' | 'decrypt' | 'generateDataKey';

interface OpSpec {
  key: OpKey;
  label: string;
  /** The CloudTrail event name each call of this operation is recorded under. */
  eventName: string;
}

const OPS: readonly OpSpec[] = [
  { key: 'baseline', label: 'sts:GetCallerIdentity (baseline)', eventName: 'GetCallerIdentity' },
  { key: 'encrypt', label: 'kms:Encrypt (32 B, context)', eventName: 'Encrypt' },
  { key: 'decrypt', label: 'kms:Decrypt', eventName: 'Decrypt' },
  { key: 'generateDataKey', label: 'kms:GenerateDataKey (AES_256)', eventName: 'GenerateDataKey' },
];

interface PhaseRow {
  op: OpSpec;
  recording: boolean;
  result: LoadResult;
  /** Requests wrk completed during the discarded warm-up (they are recorded too). */
  warmupRequests: number;
}

interface CeilingRow {
  label: string;
  /** Which Trent operation it bounds. */
  bounds: OpKey;
  result: LoadResult;
}

interface PhaseResult {
  rows: PhaseRow[];
  ceilings: CeilingRow[];
  /** Events in that Trent's trail.db after it stopped, by event name. */
  events: Map<string, number>;
  totalEvents: number;
  exitCode: number | null;
}

interface Settings {
  workers: number;
  wrk: string;
  connections: number;
  durationS: number;
  warmupS: number;
  logLevel: string;
  workDir: string;
}

/** Count what a stopped Trent wrote to its trail.db. Only a SELECT is issued; the server is no longer running. */
async function countTrailEvents(dataDir: string): Promise<{ total: number; byName: Map<string, number> }> {
  const db = SqliteDatabase.open(join(dataDir, 'trail.db'));
  try {
    const total = Number((await db.get<{ n: number }>('SELECT count(*) AS n FROM trail_events'))?.n ?? 0);
    const byName = new Map<string, number>();
    for (const r of await db.all<{ name: string; n: number }>('SELECT event_name AS name, count(*) AS n FROM trail_events GROUP BY event_name')) byName.set(r.name, Number(r.n));
    return { total, byName };
  } finally {
    await db.close();
  }
}

/** Start a Trent, measure `keys` against it (warm-up, then the measured run, per operation), stop it and count its trail events. */
async function runPhase(s: Settings, recording: boolean, keys: readonly OpKey[], track: (t: RunningTrent | undefined) => void): Promise<PhaseResult> {
  const dataDir = await tempDir(recording ? 'trent-bench-audited-' : 'trent-bench-unaudited-');
  let trent: RunningTrent | undefined;
  try {
    trent = await startTrent({ dataDir, args: ['--workers', String(s.workers)], env: { TRENT_LOG_LEVEL: s.logLevel, TRENT_BENCH_UNAUDITED: recording ? '0' : '1' } });
    track(trent);
    // The ready banner says whether the trail is on; make sure the switch did what this phase claims.
    const disabled = /audit trail\s+DISABLED/.test(trent.output());
    if (disabled === recording) throw new Error(`Trent ${recording ? 'has the audit trail disabled' : 'did not disable the audit trail'} in the ${recording ? 'recording' : 'unaudited'} phase:\n${trent.output()}`);
    drainOutput(trent);
    const kms = new KMSClient(trent.clientConfig());
    const keyId = (await kms.send(new CreateKeyCommand({ Description: 'bench' }))).KeyMetadata!.Arn!;
    const context = { tenant: 'bench', purpose: 'throughput' };
    const plaintext = Buffer.alloc(32, 7).toString('base64');
    const ciphertext = Buffer.from((await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(32, 7), EncryptionContext: context }))).CiphertextBlob!).toString('base64');
    kms.destroy();
    const requests: Record<OpKey, () => Promise<BenchRequest>> = {
      baseline: () => signedRequest(trent!, 'sts', stsRequest()),
      encrypt: () => signedRequest(trent!, 'kms', kmsRequest('Encrypt', JSON.stringify({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: context }))),
      decrypt: () => signedRequest(trent!, 'kms', kmsRequest('Decrypt', JSON.stringify({ CiphertextBlob: ciphertext, EncryptionContext: context }))),
      generateDataKey: () => signedRequest(trent!, 'kms', kmsRequest('GenerateDataKey', JSON.stringify({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }))),
    };
    // Sign everything first: a signature stays valid for 15 minutes, far longer than the phase.
    const signed = await Promise.all(keys.map((k) => requests[k]()));
    const rows: PhaseRow[] = [];
    const tag = recording ? 'recording on' : 'recording off';
    for (const [i, key] of keys.entries()) {
      const op = OPS.find((o) => o.key === key)!;
      const request = signed[i]!;
      const name = `${op.label} [${tag}]`;
      const check = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, request);
      if (check.status !== 200) throw new Error(`${name} answered ${check.status}: ${check.body.toString('utf8')}`);
      const opts = { port: trent.port, connections: s.connections, durationS: s.durationS, request, workDir: s.workDir, ca: trent.ca };
      // The warm-up is run here rather than inside measure() so that its request count is kept for the trail check.
      let warmupRequests = 0;
      if (s.warmupS > 0) {
        const warm = await runWrk(s.wrk, { ...opts, durationS: s.warmupS }, `${name}-warmup`);
        if (warm.non2xx > 0 || warm.socketErrors > 0) throw new Error(`${name} warm-up: ${warm.non2xx} non-2xx, ${warm.socketErrors} socket errors`);
        warmupRequests = warm.requests;
      }
      const result = await measure('wrk', s.wrk, opts, name, 0);
      if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
      rows.push({ op, recording, result, warmupRequests });
    }
    // The ceilings, while this Trent sits idle: its certificate, its answer to the baseline, the same processes.
    const ceilings: CeilingRow[] = [];
    if (recording) {
      const tlsDir = join(dataDir, 'tls');
      const baseline = signed[keys.indexOf('baseline')]!;
      const answer = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, baseline);
      const common = { certPath: join(tlsDir, 'server.pem'), keyPath: join(tlsDir, 'server-key.pem'), processes: s.workers };
      for (const [label, bounds, config, request] of [
        ['bare node:https, same bytes', 'baseline', { ...common, status: answer.status, headers: replayableHeaders(answer.rawHeaders), bodyBase64: answer.body.toString('base64'), work: 'static' }, baseline],
        ['bare node:https + JSON + AES-GCM', 'encrypt', { ...common, status: 200, headers: [], bodyBase64: '', work: 'encrypt' }, signed[keys.indexOf('encrypt')]!],
      ] as const) {
        const bare = await startBareServer(SELF, config as BareServerConfig);
        try {
          const check = await sendOnce({ host: '127.0.0.1', port: bare.port, servername: 'localhost', ca: trent.ca }, request);
          if (check.status !== 200) throw new Error(`${label} answered ${check.status}`);
          const opts = { port: bare.port, connections: s.connections, durationS: s.durationS, request, workDir: s.workDir, ca: trent.ca };
          ceilings.push({ label: `${label} (${s.workers} process${s.workers > 1 ? 'es' : ''})`, bounds, result: await measure('wrk', s.wrk, opts, label, s.warmupS) });
        } finally {
          await bare.stop();
        }
      }
    }
    // Stop this Trent (it finishes writing the trail before it exits) before anything else is measured.
    await stopTrent(trent);
    const exitCode = trent.process.exitCode;
    trent = undefined;
    track(undefined);
    const { total, byName } = await countTrailEvents(dataDir);
    return { rows, ceilings, events: byName, totalEvents: total, exitCode };
  } finally {
    if (trent) {
      await stopTrent(trent).catch(() => undefined);
      track(undefined);
    }
    await removeDir(dataDir);
  }
}

function pct(n: number): string {
  return `${fmt(n, 1)}%`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      'log-level': { type: 'string', default: 'warn' },
      'no-unaudited': { type: 'boolean', default: false },
      workers: { type: 'string', default: String(availableParallelism()) },
    },
    strict: true,
  });
  const durationS = positiveInt(values.duration, '--duration');
  const connections = positiveInt(values.connections, '--connections');
  const warmupS = Number(values.warmup);
  if (!Number.isFinite(warmupS) || warmupS < 0) throw new Error('--warmup must be a number of seconds, 0 or more');
  const withUnaudited = !values['no-unaudited'];
  const logLevel = values['log-level']!;
  const wrk = findOnPath('wrk');
  if (!wrk) throw new Error('wrk is not on PATH (apt-get install wrk)');
  const machine = machineFacts();
  const workDir = await mkdtemp(join(tmpdir(), 'trent-bench-'));
  const workers = positiveInt(values.workers, '--workers');
  const settings: Settings = { workers, wrk, connections, durationS, warmupS, logLevel, workDir };
  const auditedKeys: OpKey[] = ['baseline', 'encrypt', 'decrypt', 'generateDataKey'];
  const unauditedKeys: OpKey[] = withUnaudited ? ['baseline', 'encrypt'] : [];
  let current: RunningTrent | undefined;
  const track = (t: RunningTrent | undefined) => (current = t);
  const measurements = auditedKeys.length + unauditedKeys.length + 2;
  const watchdog = setTimeout(
    () => {
      console.error('kms bench: time budget exceeded');
      killRunningLoad();
      if (current) current.process.kill('SIGKILL');
      process.exit(1);
    },
    (measurements * (durationS + warmupS + 30) + (withUnaudited ? 120 : 60)) * 1000,
  );
  try {
    console.log(
      `kms: wrk, ${connections} connections, ${durationS} s measured after ${warmupS} s warm-up per operation, log level ${logLevel}; ` +
        (withUnaudited ? 'Trent with recording on, then a second Trent with recording off (TRENT_BENCH_UNAUDITED=1), one at a time' : 'Trent with recording on only (--no-unaudited)'),
    );
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}; Trent and the bare ceilings with ${workers} serving process${workers > 1 ? 'es' : ''}`);

    console.log('phase (a): recording on');
    const audited = await runPhase(settings, true, auditedKeys, track);
    if (audited.exitCode !== 0) throw new Error(`the recording Trent exited with ${audited.exitCode} instead of 0; its trail count would not be trustworthy`);

    // The trail check: every 2xx response left only after its event was committed, so trail.db must
    // hold at least as many events of each name as wrk completed requests (warm-up and measured).
    const trailCheck = audited.rows.map((r) => {
      const wrkRequests = r.warmupRequests + r.result.requests;
      const events = audited.events.get(r.op.eventName) ?? 0;
      return { op: r.op.label, eventName: r.op.eventName, wrkRequests, events, ok: events >= wrkRequests };
    });
    const wrkTotal = trailCheck.reduce((a, c) => a + c.wrkRequests, 0);
    console.log('');
    console.log(`trail.db after the recording Trent stopped: ${audited.totalEvents} events in trail_events; wrk completed ${wrkTotal} requests against that Trent (warm-ups included)`);
    for (const c of trailCheck) console.log(`  ${c.eventName.padEnd(18)} ${String(c.events).padStart(9)} events, wrk ${String(c.wrkRequests).padStart(9)} requests  ${c.ok ? 'ok' : 'MISSING EVENTS'}`);
    if (audited.totalEvents < wrkTotal || trailCheck.some((c) => !c.ok)) throw new Error('trail.db holds fewer events than the requests wrk completed: calls were answered without being recorded');

    let unaudited: PhaseResult | undefined;
    if (withUnaudited) {
      console.log('');
      console.log('phase (b): recording off (TRENT_BENCH_UNAUDITED=1)');
      unaudited = await runPhase(settings, false, unauditedKeys, track);
      if (unaudited.totalEvents !== 0) throw new Error(`the unaudited Trent wrote ${unaudited.totalEvents} trail events; the switch did not disable recording`);
    }

    const rows = [...audited.rows, ...(unaudited?.rows ?? [])];
    const baseOf = (recording: boolean) => rows.find((r) => r.recording === recording && r.op.key === 'baseline')!.result.reqPerSec;
    console.log('');
    console.log('operation                          recording    req/s    p50 ms   p99 ms   % of baseline (same Trent)');
    for (const r of rows) {
      console.log(
        `${r.op.label.padEnd(32)} ${(r.recording ? 'on' : 'off').padStart(11)} ${fmt(r.result.reqPerSec, 0).padStart(8)} ${fmt(r.result.p50Ms, 2).padStart(9)} ${fmt(r.result.p99Ms, 2).padStart(8)} ${pct((100 * r.result.reqPerSec) / baseOf(r.recording)).padStart(15)}`,
      );
    }

    console.log('');
    console.log('ceiling (same run, same processes, same TLS)        req/s    p50 ms   p99 ms   Trent as % of it');
    const ceilingShares: Array<{ ceiling: string; reqPerSec: number; trentOp: string; trentReqPerSec: number; sharePct: number }> = [];
    for (const c of audited.ceilings) {
      const trentRow = audited.rows.find((r) => r.op.key === c.bounds)!;
      const share = (100 * trentRow.result.reqPerSec) / c.result.reqPerSec;
      ceilingShares.push({ ceiling: c.label, reqPerSec: round(c.result.reqPerSec, 1), trentOp: trentRow.op.label, trentReqPerSec: round(trentRow.result.reqPerSec, 1), sharePct: round(share, 1) });
      console.log(`${c.label.padEnd(50)} ${fmt(c.result.reqPerSec, 0).padStart(8)} ${fmt(c.result.p50Ms, 2).padStart(9)} ${fmt(c.result.p99Ms, 2).padStart(8)}   ${trentRow.op.label}: ${pct(share)}`);
    }

    // Cost of recording: (off - on) / off, by operation measured both ways.
    const recordingCost: Array<{ op: string; onReqPerSec: number; offReqPerSec: number; costPct: number }> = [];
    if (unaudited) {
      console.log('');
      for (const off of unaudited.rows) {
        const on = audited.rows.find((r) => r.op.key === off.op.key)!;
        const costPct = (100 * (off.result.reqPerSec - on.result.reqPerSec)) / off.result.reqPerSec;
        recordingCost.push({ op: off.op.label, onReqPerSec: round(on.result.reqPerSec, 1), offReqPerSec: round(off.result.reqPerSec, 1), costPct: round(costPct, 1) });
        console.log(`cost of recording, ${off.op.label}: ${fmt(on.result.reqPerSec, 0)} req/s on vs ${fmt(off.result.reqPerSec, 0)} off = ${pct(costPct)} ((off - on) / off)`);
      }
    }

    console.log(
      JSON.stringify({
        bench: 'kms',
        date: new Date().toISOString(),
        connections,
        durationS,
        warmupS,
        logLevel,
        machine,
        results: rows.map((r) => ({
          op: r.op.label,
          recording: r.recording,
          reqPerSec: round(r.result.reqPerSec, 1),
          p50Ms: r.result.p50Ms,
          p99Ms: r.result.p99Ms,
          requests: r.result.requests,
          warmupRequests: r.warmupRequests,
        })),
        recordingCost,
        workers,
        ceilings: ceilingShares,
        trail: { events: audited.totalEvents, wrkRequests: wrkTotal, byOperation: trailCheck.map(({ eventName, events, wrkRequests }) => ({ eventName, events, wrkRequests })) },
      }),
    );
    return 0;
  } finally {
    clearTimeout(watchdog);
    if (current) await stopTrent(current).catch(() => undefined);
    await removeDir(workDir);
  }
}

if (process.argv.includes(BARE_SERVER_FLAG)) {
  runBareServer(JSON.parse(process.env['BENCH_BARE_CONFIG']!) as BareServerConfig);
} else main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`kms bench FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
