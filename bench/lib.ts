// Shared helpers for the benchmarks in bench/: load generators (wrk, with autocannon as a fallback),
// a bare node:https server that replays a captured response, and machine facts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import cluster from 'node:cluster';
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { createServer, request } from 'node:https';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import type { HttpRequest as SmithyRequest } from '@smithy/types';
import { signer, smithyRequest, type RawRequest } from '../test/helpers/raw.ts';
import type { RunningTrent } from '../test/helpers/trent.ts';

// ---------------------------------------------------------------------------------------------
// The request under test and the response it got

export interface BenchRequest {
  method: string;
  path: string;
  /** Header names as they will be sent; the Host header must be the one that was signed. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface CapturedResponse {
  status: number;
  /** Node's rawHeaders: names and values alternating, in the order the server sent them. */
  rawHeaders: string[];
  body: Buffer;
}

/** Send one request over HTTPS (verifying the certificate against `ca`) and capture the exact response. */
export function sendOnce(target: { host: string; port: number; servername: string; ca: Buffer }, req: BenchRequest): Promise<CapturedResponse> {
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: target.host,
        port: target.port,
        servername: target.servername,
        ca: target.ca,
        method: req.method,
        path: req.path,
        headers: { ...req.headers, 'content-length': String(req.body.length) },
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error('verification request timed out')));
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Headers node:http adds by itself on every response; replaying them from a capture would duplicate or freeze them. */
const NODE_MANAGED_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

export function replayableHeaders(rawHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (!NODE_MANAGED_HEADERS.has(rawHeaders[i]!.toLowerCase())) out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The bare node:https baseline, run in its own process

export interface BareServerConfig {
  certPath: string;
  keyPath: string;
  status: number;
  /** Flat [name, value, name, value...] list, as res.writeHead accepts it. */
  headers: string[];
  bodyBase64: string;
  /** Serving processes (node:cluster, each binding the port with SO_REUSEPORT as Trent's workers do); default 1. */
  processes?: number;
  /**
   * 'static': answer the captured bytes. 'encrypt': the ceiling for a KMS Encrypt: parse the JSON body, AES-256-GCM
   * encrypt its base64 Plaintext under a fixed key with a fresh IV, answer JSON with the base64 result.
   */
  work?: 'static' | 'encrypt';
}

export const BARE_SERVER_FLAG = '--bare-server';
const BARE_READY = 'BARE_READY ';

/**
 * The child's side: an https server with the same certificate, key, TLS floor and keep-alive
 * timeout as Trent's listener, which reads each request's body to the end and then answers with
 * the captured status, headers and body bytes.
 */
export function runBareServer(config: BareServerConfig): void {
  const processes = config.processes ?? 1;
  if (processes > 1 && cluster.isPrimary) {
    // Choose the port once, then let every worker bind it with SO_REUSEPORT.
    const probe = createNetServer();
    probe.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const port = (probe.address() as { port: number }).port;
      probe.close(() => {
        let ready = 0;
        for (let i = 0; i < processes; i++) {
          const w = cluster.fork({ BENCH_BARE_PORT: String(port) });
          w.on('message', (m: string) => {
            if (m === 'listening' && ++ready === processes) process.stdout.write(`${BARE_READY}${port}\n`);
          });
        }
      });
    });
    const stopAll = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exit(0);
    };
    process.on('SIGTERM', stopAll);
    process.on('SIGINT', stopAll);
    process.on('disconnect', stopAll);
    return;
  }
  const body = Buffer.from(config.bodyBase64, 'base64');
  const key = randomBytes(32);
  const server = createServer(
    {
      cert: readFileSync(config.certPath),
      key: readFileSync(config.keyPath),
      minVersion: 'TLSv1.2',
      keepAliveTimeout: 65_000,
      headersTimeout: 60_000,
      requestTimeout: 300_000,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        // Assemble the body as Trent does, even though a static answer does not depend on it.
        const raw = Buffer.concat(chunks);
        if (config.work === 'encrypt') {
          const input = JSON.parse(raw.toString('utf8')) as { KeyId: string; Plaintext: string };
          const iv = randomBytes(12);
          const cipher = createCipheriv('aes-256-gcm', key, iv);
          const ct = Buffer.concat([iv, cipher.update(Buffer.from(input.Plaintext, 'base64')), cipher.final(), cipher.getAuthTag()]);
          const out = Buffer.from(JSON.stringify({ KeyId: input.KeyId, CiphertextBlob: ct.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }));
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': out.length, 'x-amzn-requestid': randomUUID() });
          res.end(out);
          return;
        }
        res.writeHead(config.status, config.headers);
        res.end(body);
      });
    },
  );
  const port = Number(process.env['BENCH_BARE_PORT'] ?? 0);
  server.listen({ host: '127.0.0.1', port, ...(cluster.isWorker ? { reusePort: true, exclusive: true } : {}) }, () => {
    if (cluster.isWorker) {
      process.send?.('listening');
      return;
    }
    const address = server.address();
    process.stdout.write(`${BARE_READY}${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Never outlive the benchmark that started it.
  process.on('disconnect', stop);
}

export interface BareServer {
  port: number;
  process: ChildProcess;
  stop: () => Promise<void>;
}

/** The parent's side: start `entry --bare-server` under tsx and wait for its port. */
export async function startBareServer(entry: string, config: BareServerConfig): Promise<BareServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, BARE_SERVER_FLAG], {
    env: { ...process.env, BENCH_BARE_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bare server did not start:\n${out}`));
    }, 20_000);
    const check = () => {
      const m = new RegExp(`${BARE_READY}(\\d+)`).exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bare server exited with ${code}:\n${out}`));
    });
  });
  return { port, process: child, stop: () => stopChild(child) };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has gone. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Load generation

export interface LoadResult {
  tool: 'wrk' | 'autocannon';
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** Responses whose status was not 2xx. */
  non2xx: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
  raw: string;
}

export interface LoadOptions {
  port: number;
  connections: number;
  durationS: number;
  request: BenchRequest;
  /** Where the wrk script may be written. */
  workDir: string;
  /** For autocannon, which verifies certificates unless told otherwise. */
  ca: Buffer;
}

export function findOnPath(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A Lua string literal for arbitrary bytes: printable ASCII as is, everything else as \ddd. */
function luaString(bytes: Buffer): string {
  let s = '"';
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) s += '\\' + String.fromCharCode(b);
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += '\\' + String(b).padStart(3, '0');
  }
  return s + '"';
}

/**
 * A wrk script that sends the same request every time. wrk's own format() sets "Host" only when
 * absent and always sets "Content-Length", both under those exact spellings, so those two names
 * are written that way to avoid sending them twice. A response() hook counts statuses outside
 * 2xx (wrk's own counter only covers 4xx and 5xx); done() prints the count for the parent to read.
 */
export function wrkScript(req: BenchRequest): string {
  const lines = [`wrk.method = ${luaString(Buffer.from(req.method))}`, `wrk.path = ${luaString(Buffer.from(req.path))}`, `wrk.body = ${luaString(req.body)}`, 'wrk.headers = {}'];
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length') continue;
    const key = lower === 'host' ? 'Host' : name;
    lines.push(`wrk.headers[${luaString(Buffer.from(key))}] = ${luaString(Buffer.from(value))}`);
  }
  lines.push(
    'local threads = {}',
    'function setup(thread) table.insert(threads, thread) end',
    'bad = 0',
    'function response(status, headers, body)',
    '  if status < 200 or status > 299 then bad = bad + 1 end',
    'end',
    'function done(summary, latency, requests)',
    '  local total = 0',
    '  for _, t in ipairs(threads) do total = total + (t:get("bad") or 0) end',
    '  io.write(string.format("BENCH_NON2XX %d\\n", total))',
    'end',
  );
  return lines.join('\n') + '\n';
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    case 'h':
      return n * 3_600_000;
    default:
      throw new Error(`unknown wrk time unit '${unit}'`);
  }
}

/** Parse the output of `wrk --latency` with the script above. */
export function parseWrk(out: string): Omit<LoadResult, 'tool' | 'raw'> {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (!m) throw new Error(`could not find ${what} in wrk's output:\n${out}`);
    return m;
  };
  const pct = (p: string) => {
    const m = need(new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm'), `the ${p}% latency`);
    return toMs(m[1]!, m[2]!);
  };
  const total = need(/(\d+) requests in ([\d.]+)(us|ms|s|m|h)/, 'the request count');
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xxScript = /BENCH_NON2XX (\d+)/.exec(out);
  const non2xxWrk = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: Number(total[1]),
    seconds: toMs(total[2]!, total[3]!) / 1000,
    reqPerSec: Number(need(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')[1]),
    p50Ms: pct('50'),
    p75Ms: pct('75'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    non2xx: Math.max(Number(non2xxScript?.[1] ?? 0), Number(non2xxWrk?.[1] ?? 0)),
    socketErrors,
  };
}

export async function runWrk(wrk: string, opts: LoadOptions, label: string): Promise<LoadResult> {
  const script = join(opts.workDir, `${label.replace(/[^\w.-]/g, '_')}.lua`);
  await writeFile(script, wrkScript(opts.request));
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.durationS}s`, '--latency', '-s', script, `https://127.0.0.1:${opts.port}${opts.request.path}`];
  const out = await runBounded(wrk, args, (opts.durationS + 20) * 1000);
  return { tool: 'wrk', ...parseWrk(out), raw: out };
}

/** Load generators still running, so that an interrupted benchmark can end them. */
const running = new Set<ChildProcess>();

export function killRunningLoad(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Run a command to completion, killing it if it runs past `limitMs`; rejects on a non-zero exit. */
export function runBounded(cmd: string, args: string[], limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('close', () => running.delete(child));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} ended with ${signal ?? `exit code ${code}`}:\n${out}`));
    });
  });
}

interface AutocannonHistogram {
  average: number;
  p50: number;
  p75: number;
  p90: number;
  p99: number;
}
interface AutocannonResult {
  requests: AutocannonHistogram & { total: number };
  latency: AutocannonHistogram;
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** The same request with autocannon, in this process. autocannon ships without type declarations. */
export async function runAutocannon(opts: LoadOptions): Promise<LoadResult> {
  const specifier = 'autocannon';
  const mod = (await import(specifier)) as { default: Autocannon };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.request.headers)) if (name.toLowerCase() !== 'content-length') headers[name] = value;
  const r = await mod.default({
    url: `https://127.0.0.1:${opts.port}${opts.request.path}`,
    connections: opts.connections,
    duration: opts.durationS,
    method: opts.request.method,
    headers,
    body: opts.request.body,
    servername: 'localhost',
    tlsOptions: { ca: opts.ca, servername: 'localhost' },
  });
  return {
    tool: 'autocannon',
    requests: r.requests.total,
    seconds: r.duration,
    reqPerSec: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p75Ms: r.latency.p75,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    socketErrors: r.errors,
    raw: JSON.stringify(r),
  };
}

// ---------------------------------------------------------------------------------------------
// Machine facts

export interface MachineFacts {
  node: string;
  nproc: number;
  cpuModel: string;
  kernel: string;
}

export function machineFacts(): MachineFacts {
  let nproc = availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // keep Node's own count
  }
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  let kernel = 'unknown';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {
    // no uname
  }
  return { node: process.version, nproc, cpuModel, kernel };
}

// ---------------------------------------------------------------------------------------------
// Running and reporting a measurement

export interface Row {
  config: string;
  result: LoadResult;
}

/** Sign one request with the SDK's SigV4 signer for Host localhost:<port>; it can be replayed for 15 minutes. */
export async function signedRequest(trent: RunningTrent, service: string, raw: RawRequest): Promise<BenchRequest> {
  const signed = (await signer(trent, service).sign(smithyRequest(trent, raw))) as SmithyRequest;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name] = String(value);
  const body = signed.body === undefined ? Buffer.alloc(0) : typeof signed.body === 'string' ? Buffer.from(signed.body) : Buffer.from(signed.body as Uint8Array);
  return { method: signed.method, path: signed.path, headers, body };
}

/** A warm-up run whose figures are dropped, then the measured run. */
export async function measure(tool: 'wrk' | 'autocannon', wrk: string | undefined, opts: LoadOptions, label: string, warmupS: number): Promise<LoadResult> {
  const run = (o: LoadOptions, l: string) => (tool === 'wrk' ? runWrk(wrk!, o, l) : runAutocannon(o));
  if (warmupS > 0) await run({ ...opts, durationS: warmupS }, `${label}-warmup`);
  const result = await run(opts, label);
  console.log(`  ${label}: ${fmt(result.reqPerSec, 0)} req/s, p50 ${fmt(result.p50Ms, 2)} ms, p99 ${fmt(result.p99Ms, 2)} ms, ${result.requests} requests`);
  return result;
}

/**
 * The helper keeps all of Trent's output in memory for error messages; with the access log on
 * that would grow by tens of megabytes in this process, which shares the cores with the servers.
 * Keep only the count (and the helper's text up to now).
 */
export function drainOutput(trent: RunningTrent): () => number {
  let bytes = 0;
  for (const stream of [trent.process.stdout, trent.process.stderr]) {
    if (!stream) continue;
    stream.removeAllListeners('data');
    stream.on('data', (d: Buffer) => (bytes += d.length));
  }
  return () => bytes;
}

export async function stopTrent(trent: RunningTrent): Promise<void> {
  await stopChild(trent.process, 15_000);
}

export function printTable(rows: Row[], bare: LoadResult): void {
  const header = ['configuration', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', '% of bare'];
  const body = rows.map((r) => [
    r.config,
    fmt(r.result.reqPerSec, 0),
    fmt(r.result.p50Ms, 2),
    fmt(r.result.p99Ms, 2),
    String(r.result.non2xx),
    `${fmt((100 * r.result.reqPerSec) / bare.reqPerSec, 1)}%`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log('');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(line(row));
  console.log('');
}

export function positiveInt(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number`);
  return n;
}

export function fmt(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
