// Throughput of one, two and three Trent nodes sharing PostgreSQL and an S3-compatible blob store, beside one node
// on the embedded backends (SQLite and local files) measured in the same run.
//
//   node scripts/distributed-backends.mjs -- node --import tsx bench/cluster.ts [--seconds 8] [--concurrency 16] [--object-kib 64]
//
// (`npm run bench:cluster` does exactly that.) The load generator is the AWS SDK for JavaScript v3 in this
// process: --concurrency requests in flight, spread round-robin over the nodes (as a load balancer would),
// for --seconds per workload after a 1 s warm-up. Workloads: KMS Encrypt of 256 bytes; S3 PutObject of
// --object-kib KiB (SSE-S3, the default); GetObject of those objects. Every response is checked.
// Prints ops/s, MB/s and latency percentiles per configuration, and everything again as one JSON line.
import { copyFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DISTRIBUTED, distributedArgs, removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '16' },
    'object-kib': { type: 'string', default: '64' },
  },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const OBJECT_BYTES = Number(values['object-kib']) * 1024;
if (!DISTRIBUTED) {
  console.error('run under the distributed backends: node scripts/distributed-backends.mjs -- node --import tsx bench/cluster.ts (npm run bench:cluster)');
  process.exit(2);
}

interface Result {
  config: string;
  workload: string;
  ops: number;
  opsPerS: number;
  mbPerS?: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function load(nodes: RunningTrent[], op: (node: number, i: number) => Promise<void>, seconds: number): Promise<{ latencies: number[]; errors: number; elapsed: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const i = next++;
        const t = performance.now();
        try {
          await op(i % nodes.length, i);
          latencies.push(performance.now() - t);
        } catch (e) {
          errors++;
          if (errors < 3) console.error(`  error: ${(e as Error).name}: ${(e as Error).message}`);
        }
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), errors, elapsed: (performance.now() - start) / 1000 };
}

async function measureConfig(config: string, nodes: RunningTrent[]): Promise<Result[]> {
  const kms = nodes.map((n) => new KMSClient(n.clientConfig({ maxAttempts: 1 })));
  const s3 = nodes.map((n) => new S3Client(n.clientConfig({ forcePathStyle: true, maxAttempts: 1, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })));
  const key = (await kms[0]!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const bucket = `bench-${config.replace(/[^a-z0-9]/g, '-')}`;
  await s3[0]!.send(new CreateBucketCommand({ Bucket: bucket }));
  const plaintext = Buffer.alloc(256, 7);
  const body = Buffer.alloc(OBJECT_BYTES, 1);
  const results: Result[] = [];
  const record = (workload: string, r: { latencies: number[]; errors: number; elapsed: number }, bytes?: number) => {
    const row: Result = {
      config,
      workload,
      ops: r.latencies.length,
      opsPerS: r.latencies.length / r.elapsed,
      ...(bytes ? { mbPerS: (r.latencies.length * bytes) / r.elapsed / 1e6 } : {}),
      p50: pct(r.latencies, 50),
      p95: pct(r.latencies, 95),
      p99: pct(r.latencies, 99),
      errors: r.errors,
    };
    results.push(row);
    console.log(
      `  ${config.padEnd(26)} ${workload.padEnd(22)} ${row.opsPerS.toFixed(0).padStart(6)} ops/s${row.mbPerS ? ` ${row.mbPerS.toFixed(1).padStart(6)} MB/s` : '            '}  p50 ${row.p50.toFixed(1)} ms  p95 ${row.p95.toFixed(1)} ms  p99 ${row.p99.toFixed(1)} ms  errors ${row.errors}`,
    );
  };
  const encrypt = async (node: number) => {
    const out = await kms[node]!.send(new EncryptCommand({ KeyId: key, Plaintext: plaintext }));
    if (!out.CiphertextBlob?.length) throw new Error('no ciphertext');
  };
  await load(nodes, encrypt, 1);
  record('KMS Encrypt 256 B', await load(nodes, encrypt, SECONDS));
  const written: string[] = [];
  const put = async (node: number, i: number) => {
    await s3[node]!.send(new PutObjectCommand({ Bucket: bucket, Key: `o-${i}`, Body: body }));
    written.push(`o-${i}`);
  };
  await load(nodes, put, 1);
  record(`PutObject ${OBJECT_BYTES / 1024} KiB`, await load(nodes, put, SECONDS), OBJECT_BYTES);
  const readable = written.slice(0, 500);
  const get = async (node: number, i: number) => {
    const o = await s3[node]!.send(new GetObjectCommand({ Bucket: bucket, Key: readable[i % readable.length] }));
    const bytes = await o.Body!.transformToByteArray();
    if (bytes.length !== OBJECT_BYTES) throw new Error(`short read: ${bytes.length}`);
  };
  await load(nodes, get, 1);
  record(`GetObject ${OBJECT_BYTES / 1024} KiB`, await load(nodes, get, SECONDS), OBJECT_BYTES);
  return results;
}

const env = { TRENT_LOG_LEVEL: 'warn', TRENT_FACES_LAZY: '1' };
const results: Result[] = [];
console.log(`Trent cluster benchmark: ${SECONDS} s per workload, ${CONCURRENCY} in flight, ${cpus()[0]?.model ?? ''} x${availableParallelism()}`);

// Baseline: one node on the embedded backends (SQLite + local blob files), same machine, same run.
{
  const dir = await tempDir('trent-bench-embedded-');
  const node = await startTrent({ dataDir: dir, args: ['--db', join(dir, 'trent.db')], env });
  try {
    results.push(...(await measureConfig('1 node, SQLite + files', [node])));
  } finally {
    await node.stop();
    await removeDir(dir);
  }
}

for (const n of [1, 2, 3]) {
  const dirs = await Promise.all(Array.from({ length: n }, () => tempDir('trent-bench-node-')));
  const args = await distributedArgs(dirs[0]!, `trent_bench_${n}_${process.pid}`);
  const nodes = [await startTrent({ dataDir: dirs[0]!, args, env })];
  for (const d of dirs.slice(1)) await copyFile(join(dirs[0]!, 'root.key'), join(d, 'root.key'));
  nodes.push(...(await Promise.all(dirs.slice(1).map((dataDir) => startTrent({ dataDir, args, env })))));
  try {
    results.push(...(await measureConfig(`${n} node${n > 1 ? 's' : ''}, PostgreSQL + s3rver`, nodes)));
  } finally {
    for (const node of nodes) await node.stop();
    for (const d of dirs) await removeDir(d);
  }
}

console.log(JSON.stringify({ bench: 'cluster', date: new Date().toISOString(), seconds: SECONDS, concurrency: CONCURRENCY, objectBytes: OBJECT_BYTES, nproc: availableParallelism(), results }));
