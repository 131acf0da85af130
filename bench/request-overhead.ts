// What one trivial authenticated call costs in Trent, against a bare node:https server.
//
//   node --import tsx bench/request-overhead.ts [--duration 10] [--connections 50] [--warmup 2]
//                                               [--tool wrk|autocannon] [--no-info]
//
// One STS GetCallerIdentity request is signed once with the SDK's SigV4 signer (a signature stays
// valid for 15 minutes) and replayed by wrk. The bare server, in its own process with the same
// certificate and key, reads each request body and answers with the status, headers and body
// bytes Trent returned for that request. See docs/benchmarks.md.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stsRequest } from '../test/helpers/raw.ts';
import { removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';
import {
  BARE_SERVER_FLAG,
  findOnPath,
  killRunningLoad,
  machineFacts,
  replayableHeaders,
  runBareServer,
  sendOnce,
  startBareServer,
  type BareServer,
  type BareServerConfig,
  measure,
  drainOutput,
  stopTrent,
  printTable,
  positiveInt,
  round,
  signedRequest,
  type BenchRequest,
  type Row,
} from './lib.ts';

const SELF = fileURLToPath(import.meta.url);

interface Cleanup {
  trents: RunningTrent[];
  bare?: BareServer;
  dirs: string[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      tool: { type: 'string' },
      'no-info': { type: 'boolean', default: false },
      workers: { type: 'string' },
    },
    strict: true,
  });
  const durationS = positiveInt(values.duration, '--duration');
  const connections = positiveInt(values.connections, '--connections');
  const warmupS = Number(values.warmup);
  if (!Number.isInteger(warmupS) || warmupS < 0) throw new Error('--warmup must be a whole number of seconds');
  const workers = values.workers === undefined ? undefined : positiveInt(values.workers, '--workers');
  const configs: Array<{ name: string; logLevel: string }> = [{ name: 'trent (log level warn)', logLevel: 'warn' }];
  if (!values['no-info']) configs.push({ name: 'trent (log level info: access log on)', logLevel: 'info' });

  let tool: 'wrk' | 'autocannon';
  const wrk = findOnPath('wrk');
  if (values.tool === 'autocannon') tool = 'autocannon';
  else if (values.tool === undefined || values.tool === 'wrk') {
    if (wrk) tool = 'wrk';
    else {
      if (values.tool === 'wrk') throw new Error('wrk is not on PATH');
      tool = 'autocannon';
      console.log('NOTE: wrk is not on PATH; falling back to autocannon in this process (it saturates lower than wrk).');
    }
  } else throw new Error(`--tool must be wrk or autocannon, not ${values.tool}`);

  const state: Cleanup = { trents: [], dirs: [] };
  // Every phase is bounded; this is the backstop if something hangs anyway.
  const runs = configs.length + 1;
  const budgetMs = (runs * (durationS + warmupS + 40) + 60) * 1000;
  const watchdog = setTimeout(() => {
    console.error(`request-overhead: exceeded its ${Math.round(budgetMs / 1000)} s budget; cleaning up`);
    void cleanup(state).finally(() => process.exit(1));
  }, budgetMs);

  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`request-overhead: ${signal}; cleaning up`);
    void cleanup(state).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const machine = machineFacts();
    const workDir = await mkdtemp(join(tmpdir(), 'trent-bench-'));
    state.dirs.push(workDir);
    const rows: Row[] = [];

    console.log(`request overhead: ${tool}, ${connections} connections, ${durationS} s measured after ${warmupS} s warm-up per configuration; Trent with ${workers ?? 'its default number of'} worker process(es), the bare server in one`);
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}, ${machine.kernel}`);

    for (const cfg of configs) {
      const dataDir = await tempDir('trent-bench-data-');
      state.dirs.push(dataDir);
      const trent = await startTrent({ dataDir, env: { TRENT_LOG_LEVEL: cfg.logLevel }, ...(workers ? { args: ['--workers', String(workers)] } : {}) });
      state.trents.push(trent);
      const logBytes = drainOutput(trent);
      const request = await signedStsRequest(trent);
      const response = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, request);
      if (response.status !== 200) {
        throw new Error(`the signed GetCallerIdentity got ${response.status}, not 200:\n${response.body.toString('utf8')}`);
      }

      // The baseline answers with what the first Trent said, so it runs before Trent is loaded.
      if (!state.bare) {
        const tls = join(trent.dataDir, 'tls');
        const config: BareServerConfig = {
          certPath: join(tls, 'server.pem'),
          keyPath: join(tls, 'server-key.pem'),
          status: response.status,
          headers: replayableHeaders(response.rawHeaders),
          bodyBase64: response.body.toString('base64'),
        };
        state.bare = await startBareServer(SELF, config);
        const check = await sendOnce({ host: '127.0.0.1', port: state.bare.port, servername: 'localhost', ca: trent.ca }, request);
        if (check.status !== response.status || !check.body.equals(response.body)) throw new Error('the bare server does not answer what Trent answered');
        rows.push({ config: 'bare node:https (same TLS, same bytes)', result: await measure(tool, wrk, { port: state.bare.port, connections, durationS, request, workDir, ca: trent.ca }, 'bare', warmupS) });
        await state.bare.stop();
      }

      const before = logBytes();
      const result = await measure(tool, wrk, { port: trent.port, connections, durationS, request, workDir, ca: trent.ca }, `trent-${cfg.logLevel}`, warmupS);
      rows.push({ config: cfg.name, result });
      if (cfg.logLevel !== 'warn') {
        const lines = logBytes() - before;
        console.log(`  ${cfg.name}: ${lines.toLocaleString('en-US')} bytes of log output drained during the measured and warm-up runs`);
      }
      if (result.non2xx > 0 || result.socketErrors > 0 || result.requests === 0) {
        throw new Error(
          `${cfg.name}: ${result.non2xx} non-2xx responses, ${result.socketErrors} socket errors, ${result.requests} requests; the figures are not valid.\n${result.raw}\n--- trent output ---\n${trent.output().slice(-4000)}`,
        );
      }
      await stopTrent(trent);
    }

    const bare = rows[0]!.result;
    printTable(rows, bare);
    const summary = {
      bench: 'request-overhead',
      date: new Date().toISOString(),
      tool,
      connections,
      durationS,
      warmupS,
      machine,
      request: 'sts:GetCallerIdentity (POST, awsQuery, SigV4), replayed',
      results: rows.map((r) => ({
        config: r.config,
        reqPerSec: round(r.result.reqPerSec, 1),
        p50Ms: round(r.result.p50Ms, 3),
        p75Ms: round(r.result.p75Ms, 3),
        p90Ms: round(r.result.p90Ms, 3),
        p99Ms: round(r.result.p99Ms, 3),
        requests: r.result.requests,
        non2xx: r.result.non2xx,
        socketErrors: r.result.socketErrors,
        pctOfBare: round((100 * r.result.reqPerSec) / bare.reqPerSec, 1),
      })),
    };
    console.log(JSON.stringify(summary));
    return 0;
  } finally {
    clearTimeout(watchdog);
    await cleanup(state);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Sign one GetCallerIdentity with the SDK's signer, for Host localhost:<port>. */
async function signedStsRequest(trent: RunningTrent): Promise<BenchRequest> {
  return signedRequest(trent, 'sts', stsRequest());
}

async function cleanup(state: Cleanup): Promise<void> {
  killRunningLoad();
  const stops: Array<Promise<unknown>> = state.trents.map((t) => stopTrent(t).catch(() => undefined));
  if (state.bare) stops.push(state.bare.stop().catch(() => undefined));
  await Promise.all(stops);
  await Promise.all(state.dirs.map((d) => removeDir(d).catch(() => undefined)));
}

if (process.argv[2] === BARE_SERVER_FLAG) {
  const config = process.env['BENCH_BARE_CONFIG'];
  if (!config) throw new Error('BENCH_BARE_CONFIG is not set');
  runBareServer(JSON.parse(config) as BareServerConfig);
} else {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`request-overhead FAILED: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
