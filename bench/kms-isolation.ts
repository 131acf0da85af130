// Does slow cryptography delay other callers? Encrypt's latency alone, and again while 1,000 RSA-2048 Sign calls
// are in flight on other connections, against the same Trent in the same run.
//
//   node --import tsx bench/kms-isolation.ts [--duration 10] [--sign-connections 1000] [--encrypt-connections 10] [--workers N]
//
// One Encrypt (32 bytes, two-pair context) and one Sign (RSA-2048, RSASSA_PSS_SHA_256, 256-byte message) request
// are SigV4-signed once and replayed by two wrk processes. The target: Encrypt's p99 under 20 ms while the
// Sign load runs. Exits non-zero if any response was not 2xx.
import { mkdtemp } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { kmsRequest } from '../test/helpers/raw.ts';
import { removeDir, startTrent } from '../test/helpers/trent.ts';
import { drainOutput, findOnPath, fmt, machineFacts, positiveInt, runWrk, sendOnce, signedRequest, stopTrent, type LoadResult } from './lib.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      'sign-connections': { type: 'string', default: '1000' },
      'encrypt-connections': { type: 'string', default: '10' },
      workers: { type: 'string', default: String(availableParallelism()) },
    },
  });
  const durationS = positiveInt(values.duration, '--duration');
  const signConnections = positiveInt(values['sign-connections'], '--sign-connections');
  const encryptConnections = positiveInt(values['encrypt-connections'], '--encrypt-connections');
  const workers = positiveInt(values.workers, '--workers');
  const wrk = findOnPath('wrk');
  if (!wrk) throw new Error('wrk is not on PATH (apt-get install wrk)');
  const workDir = await mkdtemp(join(tmpdir(), 'trent-bench-iso-'));
  const t = await startTrent({ args: ['--workers', String(workers)], env: { TRENT_LOG_LEVEL: 'warn' } });
  drainOutput(t);
  try {
    const m = machineFacts();
    console.log(`kms-isolation: Encrypt with ${encryptConnections} connections, alone and beside ${signConnections} connections of RSA-2048 Sign; ${durationS} s each; ${workers} serving process(es); node ${m.node}, nproc ${m.nproc}`);
    const kms = new KMSClient(t.clientConfig());
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    kms.destroy();
    const encrypt = await signedRequest(t, 'kms', kmsRequest('Encrypt', JSON.stringify({ KeyId: sym, Plaintext: Buffer.alloc(32, 7).toString('base64'), EncryptionContext: { tenant: 'bench', purpose: 'isolation' } })));
    const sign = await signedRequest(t, 'kms', kmsRequest('Sign', JSON.stringify({ KeyId: rsa, Message: Buffer.alloc(256, 1).toString('base64'), MessageType: 'RAW', SigningAlgorithm: 'RSASSA_PSS_SHA_256' })));
    for (const [name, req] of [['Encrypt', encrypt], ['Sign', sign]] as const) {
      const r = await sendOnce({ host: '127.0.0.1', port: t.port, servername: 'localhost', ca: t.ca }, req);
      if (r.status !== 200) throw new Error(`${name} answered ${r.status}: ${r.body.toString()}`);
    }
    const opts = (request: typeof encrypt, connections: number, seconds: number) => ({ port: t.port, connections, durationS: seconds, request, workDir, ca: t.ca });
    await runWrk(wrk, opts(encrypt, encryptConnections, 2), 'warm-encrypt');
    await runWrk(wrk, opts(sign, 50, 2), 'warm-sign');
    const alone = await runWrk(wrk, opts(encrypt, encryptConnections, durationS), 'encrypt-alone');
    // The Sign load starts first and outlasts the Encrypt measurement.
    const signing = runWrk(wrk, opts(sign, signConnections, durationS + 4), 'sign-load');
    await new Promise((r) => setTimeout(r, 2000));
    const beside = await runWrk(wrk, opts(encrypt, encryptConnections, durationS), 'encrypt-beside-sign');
    const signLoad = await signing;
    const row = (label: string, r: LoadResult) =>
      console.log(`${label.padEnd(42)} ${fmt(r.reqPerSec, 0).padStart(8)} req/s   p50 ${fmt(r.p50Ms, 2).padStart(7)} ms   p99 ${fmt(r.p99Ms, 2).padStart(7)} ms   non-2xx ${r.non2xx}`);
    console.log('');
    row('Encrypt alone', alone);
    row(`Encrypt beside ${signConnections} Sign connections`, beside);
    row(`RSA-2048 Sign (${signConnections} connections)`, signLoad);
    const failed = [alone, beside, signLoad].some((r) => r.non2xx > 0 || r.socketErrors > 0);
    console.log(`\nEncrypt p99 beside the Sign load: ${fmt(beside.p99Ms, 2)} ms (target under 20 ms): ${beside.p99Ms < 20 ? 'met' : 'NOT met'}`);
    console.log(JSON.stringify({ bench: 'kms-isolation', date: new Date().toISOString(), workers, durationS, signConnections, encryptConnections, alone, beside, sign: signLoad }, (k, v: unknown) => (k === 'raw' ? undefined : v)));
    if (failed) throw new Error('some responses were not 2xx, or sockets failed');
    return 0;
  } finally {
    await stopTrent(t);
    await removeDir(t.dataDir);
    await removeDir(workDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`kms-isolation bench FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
