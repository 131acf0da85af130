// KMS throughput and latency over HTTPS, beside the platform's trivial authenticated call in the same run.
//
//   node --import tsx bench/kms.ts [--duration 10] [--connections 50] [--warmup 2] [--log-level warn|info]
//
// Each operation is one request signed once with the SDK's SigV4 signer (valid for 15 minutes) and
// replayed by wrk: STS GetCallerIdentity (the baseline), KMS Encrypt of 32 bytes with an encryption
// context, Decrypt of such a ciphertext, and GenerateDataKey (AES_256). See docs/benchmarks.md.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KMSClient, CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { kmsRequest, stsRequest } from '../test/helpers/raw.ts';
import { removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';
import { drainOutput, findOnPath, fmt, killRunningLoad, machineFacts, measure, positiveInt, round, sendOnce, signedRequest, stopTrent, type Row } from './lib.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      'log-level': { type: 'string', default: 'warn' },
    },
    strict: true,
  });
  const durationS = positiveInt(values.duration, '--duration');
  const connections = positiveInt(values.connections, '--connections');
  const warmupS = Number(values.warmup);
  const wrk = findOnPath('wrk');
  if (!wrk) throw new Error('wrk is not on PATH (apt-get install wrk)');
  const machine = machineFacts();
  const workDir = await mkdtemp(join(tmpdir(), 'trent-bench-'));
  const dataDir = await tempDir('trent-bench-data-');
  let trent: RunningTrent | undefined;
  const watchdog = setTimeout(() => {
    console.error('kms bench: time budget exceeded');
    killRunningLoad();
    process.exit(1);
  }, (5 * (durationS + warmupS + 30) + 60) * 1000);
  try {
    trent = await startTrent({ dataDir, env: { TRENT_LOG_LEVEL: values['log-level']! } });
    drainOutput(trent);
    const kms = new KMSClient(trent.clientConfig());
    const keyId = (await kms.send(new CreateKeyCommand({ Description: 'bench' }))).KeyMetadata!.Arn!;
    const context = { tenant: 'bench', purpose: 'throughput' };
    const plaintext = Buffer.alloc(32, 7).toString('base64');
    const ciphertext = Buffer.from((await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(32, 7), EncryptionContext: context }))).CiphertextBlob!).toString('base64');
    const ops: Array<[string, Promise<Awaited<ReturnType<typeof signedRequest>>>]> = [
      ['sts:GetCallerIdentity (baseline)', signedRequest(trent, 'sts', stsRequest())],
      ['kms:Encrypt (32 B, context)', signedRequest(trent, 'kms', kmsRequest('Encrypt', JSON.stringify({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: context })))],
      ['kms:Decrypt', signedRequest(trent, 'kms', kmsRequest('Decrypt', JSON.stringify({ CiphertextBlob: ciphertext, EncryptionContext: context })))],
      ['kms:GenerateDataKey (AES_256)', signedRequest(trent, 'kms', kmsRequest('GenerateDataKey', JSON.stringify({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context })))],
    ];
    console.log(`kms: wrk, ${connections} connections, ${durationS} s measured after ${warmupS} s warm-up per operation, log level ${values['log-level']}`);
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}`);
    const rows: Row[] = [];
    for (const [name, pending] of ops) {
      const request = await pending;
      const check = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, request);
      if (check.status !== 200) throw new Error(`${name} answered ${check.status}: ${check.body.toString('utf8')}`);
      const result = await measure('wrk', wrk, { port: trent.port, connections, durationS, request, workDir, ca: trent.ca }, name, warmupS);
      if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
      rows.push({ config: name, result });
    }
    const base = rows[0]!.result;
    console.log('');
    console.log('operation                          req/s    p50 ms   p99 ms   % of baseline');
    for (const r of rows) {
      console.log(
        `${r.config.padEnd(32)} ${fmt(r.result.reqPerSec, 0).padStart(7)} ${fmt(r.result.p50Ms, 2).padStart(9)} ${fmt(r.result.p99Ms, 2).padStart(8)} ${`${fmt((100 * r.result.reqPerSec) / base.reqPerSec, 1)}%`.padStart(15)}`,
      );
    }
    console.log(
      JSON.stringify({
        bench: 'kms',
        date: new Date().toISOString(),
        connections,
        durationS,
        logLevel: values['log-level'],
        machine,
        results: rows.map((r) => ({ op: r.config, reqPerSec: round(r.result.reqPerSec, 1), p50Ms: r.result.p50Ms, p99Ms: r.result.p99Ms, requests: r.result.requests })),
      }),
    );
    return 0;
  } finally {
    clearTimeout(watchdog);
    if (trent) await stopTrent(trent).catch(() => undefined);
    await removeDir(dataDir);
    await removeDir(workDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`kms bench FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
