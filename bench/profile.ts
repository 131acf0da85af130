// Where one request's time goes: runs Trent under V8's CPU profiler while wrk replays one signed request,
// then prints the profile folded by function (self time) and by layer (inclusive time of Trent's modules,
// Node's internals, TLS, the HTTP parser, the SQLite driver, garbage collection).
//
//   node --import tsx bench/profile.ts [--op sts|encrypt|s3-put|s3-get] [--size 4096] [--sse sse-s3|sse-kms-bucket-key]
//                                      [--duration 10] [--connections 50] [--top 25] [--keep DIR]
//
// s3-put replays one signed 4 KiB PutObject (--size bytes, the SSE mode --sse asks for) over one key, so every call
// after the first replaces the object; s3-get replays a GetObject of such an object.
//
// The .cpuprofile is kept with --keep (open it in Chrome's DevTools or speedscope for a flame graph).
import { mkdtemp, readdir, readFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { kmsRequest, s3Request, stsRequest, type RawRequest } from '../test/helpers/raw.ts';
import { REPO, removeDir, startTrent, tempDir } from '../test/helpers/trent.ts';
import { drainOutput, findOnPath, positiveInt, runWrk, sendOnce, signedRequest, stopTrent } from './lib.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The layer a frame belongs to, by its script. */
function layer(url: string, fn: string): string {
  if (!url) return fn === '(garbage collector)' ? 'garbage collection' : fn === '(idle)' ? 'idle' : fn === '(program)' ? 'native (program)' : `native ${fn}`;
  const path = (url.startsWith('file://') ? relative(REPO, new URL(url).pathname) : url).replace(/^dist\//, '');
  if (path.startsWith('src/')) return path.replace(/\.js$/, '');
  if (path.startsWith('node_modules/')) {
    const parts = path.split('/');
    return parts[1]!.startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]!;
  }
  if (path.startsWith('node:')) return path.replace(/^node:internal\//, 'node:');
  return path;
}

/** Only what happened while the load ran: `from` and `to` are microseconds before the profile's end. */
function summarise(profile: CpuProfile, top: number, window: { from: number; to: number }): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let total = 0;
  let at = profile.startTime;
  const lo = profile.endTime - window.from;
  const hi = profile.endTime - window.to;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < lo || at > hi) return;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const bySelf = new Map<string, number>();
  const byLayer = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    const where = f.url ? `${f.functionName || '(anonymous)'} ${layer(f.url, f.functionName)}:${f.lineNumber + 1}` : f.functionName;
    bySelf.set(where, (bySelf.get(where) ?? 0) + t);
    // Inclusive by layer: each sample counts once for every distinct layer on its stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (cf.functionName === '(root)') continue;
      const l = layer(cf.url, cf.functionName);
      if (!seen.has(l)) {
        seen.add(l);
        byLayer.set(l, (byLayer.get(l) ?? 0) + t);
      }
    }
  }
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
  const lines = [`busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled`, '', 'self time, top functions:'];
  for (const [k, t] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${k}`);
  lines.push('', 'inclusive time by layer (a sample counts once per layer on its stack):');
  for (const [k, t] of [...byLayer].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${k}`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      op: { type: 'string', default: 'sts' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      top: { type: 'string', default: '25' },
      keep: { type: 'string' },
      size: { type: 'string', default: '4096' },
      sse: { type: 'string', default: 'sse-s3' },
    },
  });
  if (!['sts', 'encrypt', 's3-put', 's3-get'].includes(values.op!)) throw new Error(`unknown --op ${values.op} (sts, encrypt, s3-put, s3-get)`);
  if (!['sse-s3', 'sse-kms-bucket-key'].includes(values.sse!)) throw new Error(`unknown --sse ${values.sse} (sse-s3, sse-kms-bucket-key)`);
  const wrk = findOnPath('wrk');
  if (!wrk) throw new Error('wrk is not installed (apt-get install wrk)');
  const profDir = await mkdtemp(join(tmpdir(), 'trent-prof-'));
  const workDir = await tempDir('trent-prof-work-');
  // One serving process: the profile is of the process that serves (with workers it would be the primary's).
  const trent = await startTrent({ args: ['--workers', '1'], nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`], env: { TRENT_LOG_LEVEL: 'warn' } });
  const stopDrain = drainOutput(trent);
  let loadStart = 0;
  let loadEnd = 0;
  let stopped = 0;
  try {
    let req;
    if (values.op === 'encrypt') {
      const kms = new KMSClient(trent.clientConfig());
      const keyId = (await kms.send(new CreateKeyCommand({ Description: 'profile' }))).KeyMetadata!.KeyId!;
      const body = JSON.stringify({ KeyId: keyId, Plaintext: Buffer.alloc(32, 7).toString('base64'), EncryptionContext: { purpose: 'bench', tenant: 't1' } });
      req = await signedRequest(trent, 'kms', kmsRequest('Encrypt', body));
    } else if (values.op === 's3-put' || values.op === 's3-get') {
      const s3 = new S3Client(trent.clientConfig({ forcePathStyle: true }));
      await s3.send(new CreateBucketCommand({ Bucket: 'profile' }));
      s3.destroy();
      let sse: Record<string, string> = { 'x-amz-server-side-encryption': 'AES256' };
      if (values.sse === 'sse-kms-bucket-key') {
        const kms = new KMSClient(trent.clientConfig());
        const arn = (await kms.send(new CreateKeyCommand({ Description: 'profile' }))).KeyMetadata!.Arn!;
        kms.destroy();
        sse = { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': arn, 'x-amz-server-side-encryption-bucket-key-enabled': 'true' };
      }
      // Printable bytes: wrk's script carries the body as a Lua string.
      const body = Buffer.alloc(positiveInt(values.size, '--size'), 'trent profile body 0123456789 ');
      const put: RawRequest = {
        method: 'PUT',
        path: '/profile/object',
        headers: { 'content-type': 'application/octet-stream', 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'), ...sse },
        body,
      };
      const putReq = await signedRequest(trent, 's3', put);
      const created = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, putReq);
      if (created.status !== 200) throw new Error(`the PutObject was answered ${created.status}: ${created.body.toString()}`);
      req = values.op === 's3-put' ? putReq : await signedRequest(trent, 's3', s3Request('/profile/object'));
    } else req = await signedRequest(trent, 'sts', stsRequest());
    const first = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, req);
    if (first.status !== 200) throw new Error(`the request was answered ${first.status}`);
    loadStart = Date.now();
    const r = await runWrk(wrk, { port: trent.port, connections: positiveInt(values.connections, '--connections'), durationS: positiveInt(values.duration, '--duration'), request: req, workDir, ca: trent.ca }, `profile-${values.op}`);
    loadEnd = Date.now();
    process.stdout.write(`${values.op}: ${Math.round(r.reqPerSec)} req/s under the profiler (slower than without it), p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, non-2xx ${r.non2xx}\n\n`);
  } finally {
    stopped = Date.now();
    await stopTrent(trent);
    stopDrain();
    await removeDir(trent.dataDir);
    await removeDir(workDir);
  }
  // The profile of the server process (tsx's loader runs in the same process; child processes are not started).
  const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
  let biggest = '';
  let size = 0;
  for (const f of files) {
    const text = await readFile(join(profDir, f), 'utf8');
    if (text.length > size) {
      size = text.length;
      biggest = f;
    }
  }
  if (!biggest) throw new Error('no CPU profile was written');
  const profile = JSON.parse(await readFile(join(profDir, biggest), 'utf8')) as CpuProfile;
  // The profile ends as the server exits, just after `stopped`: keep the load's window, a little inside it.
  const exitLag = 0;
  const window = { from: (stopped - loadStart - 1000 + exitLag) * 1000, to: (stopped - loadEnd + 500 + exitLag) * 1000 };
  process.stdout.write(summarise(profile, positiveInt(values.top, '--top'), window) + '\n');
  if (values.keep) {
    await mkdir(values.keep, { recursive: true });
    await copyFile(join(profDir, biggest), join(values.keep, `trent-${values.op}.cpuprofile`));
    process.stdout.write(`\nprofile kept as ${join(values.keep, `trent-${values.op}.cpuprofile`)}\n`);
  }
  await removeDir(profDir);
  return 0;
}

process.exitCode = await main();
