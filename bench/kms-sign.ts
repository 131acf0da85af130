// Sign and Verify throughput per key spec over HTTPS, beside raw node:crypto on the same key in the same run.
//
//   node --import tsx bench/kms-sign.ts [--duration 5] [--connections 50]
//
// For each spec a key is created in Trent; one Sign and one Verify request are signed once with SigV4 and
// replayed by wrk. The raw figures sign or verify the same message with node:crypto in this process,
// one core, for the same number of seconds. See docs/benchmarks.md.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { constants, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { KMSClient, CreateKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { kmsRequest } from '../test/helpers/raw.ts';
import { removeDir, startTrent, tempDir, type RunningTrent } from '../test/helpers/trent.ts';
import { drainOutput, findOnPath, fmt, killRunningLoad, machineFacts, measure, positiveInt, round, sendOnce, signedRequest, stopTrent } from './lib.ts';

const SPECS: Array<{ spec: string; algorithm: string; gen: () => { privateKey: KeyObject; publicKey: KeyObject }; opts: (k: KeyObject) => Parameters<typeof sign>[2]; hash: string | null }> = [
  { spec: 'RSA_2048', algorithm: 'RSASSA_PSS_SHA_256', gen: () => generateKeyPairSync('rsa', { modulusLength: 2048 }), opts: (key) => ({ key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }), hash: 'sha256' },
  { spec: 'RSA_4096', algorithm: 'RSASSA_PKCS1_V1_5_SHA_256', gen: () => generateKeyPairSync('rsa', { modulusLength: 4096 }), opts: (key) => ({ key, padding: constants.RSA_PKCS1_PADDING }), hash: 'sha256' },
  { spec: 'ECC_NIST_P256', algorithm: 'ECDSA_SHA_256', gen: () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }), opts: (key) => ({ key, dsaEncoding: 'der' }), hash: 'sha256' },
  { spec: 'ECC_NIST_P384', algorithm: 'ECDSA_SHA_384', gen: () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }), opts: (key) => ({ key, dsaEncoding: 'der' }), hash: 'sha384' },
  { spec: 'ECC_SECG_P256K1', algorithm: 'ECDSA_SHA_256', gen: () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }), opts: (key) => ({ key, dsaEncoding: 'der' }), hash: 'sha256' },
  { spec: 'ECC_NIST_EDWARDS25519', algorithm: 'ED25519_SHA_512', gen: () => generateKeyPairSync('ed25519'), opts: (key) => key as unknown as Parameters<typeof sign>[2], hash: null },
];

/** Operations per second of `fn` on this thread for `seconds`. */
function rate(seconds: number, fn: () => void): number {
  const end = process.hrtime.bigint() + BigInt(seconds * 1e9);
  let n = 0;
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, connections: { type: 'string', default: '50' }, warmup: { type: 'string', default: '1' } }, strict: true });
  const durationS = positiveInt(values.duration, '--duration');
  const connections = positiveInt(values.connections, '--connections');
  const warmupS = Number(values.warmup);
  const wrk = findOnPath('wrk');
  if (!wrk) throw new Error('wrk is not on PATH (apt-get install wrk)');
  const workDir = await mkdtemp(join(tmpdir(), 'trent-bench-'));
  const dataDir = await tempDir('trent-bench-data-');
  let trent: RunningTrent | undefined;
  const watchdog = setTimeout(() => {
    killRunningLoad();
    process.exit(1);
  }, (SPECS.length * 2 * (durationS + warmupS + 20) + 120) * 1000);
  const rows: Array<{ spec: string; algorithm: string; trentSign: number; trentSignP99: number; trentVerify: number; rawSign: number; rawVerify: number }> = [];
  try {
    trent = await startTrent({ dataDir, env: { TRENT_LOG_LEVEL: 'warn' } });
    drainOutput(trent);
    const kms = new KMSClient(trent.clientConfig());
    const message = Buffer.from('a message of modest length, as a JWT or a release manifest digest would be');
    const machine = machineFacts();
    console.log(`kms sign/verify: wrk, ${connections} connections, ${durationS} s per measurement; raw node:crypto on one core for ${durationS} s`);
    console.log(`machine: node ${machine.node}, nproc ${machine.nproc}, ${machine.cpuModel}`);
    for (const s of SPECS) {
      const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: s.spec as never, KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
      const signature = Buffer.from((await kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: s.algorithm as never }))).Signature!);
      const signReq = await signedRequest(trent, 'kms', kmsRequest('Sign', JSON.stringify({ KeyId: keyId, Message: message.toString('base64'), SigningAlgorithm: s.algorithm })));
      const verifyReq = await signedRequest(
        trent,
        'kms',
        kmsRequest('Verify', JSON.stringify({ KeyId: keyId, Message: message.toString('base64'), Signature: signature.toString('base64'), SigningAlgorithm: s.algorithm })),
      );
      for (const r of [signReq, verifyReq]) {
        const check = await sendOnce({ host: '127.0.0.1', port: trent.port, servername: 'localhost', ca: trent.ca }, r);
        if (check.status !== 200) throw new Error(`${s.spec}: ${check.status} ${check.body.toString()}`);
      }
      const signed = await measure('wrk', wrk, { port: trent.port, connections, durationS, request: signReq, workDir, ca: trent.ca }, `${s.spec} Sign`, warmupS);
      const verified = await measure('wrk', wrk, { port: trent.port, connections, durationS, request: verifyReq, workDir, ca: trent.ca }, `${s.spec} Verify`, warmupS);
      if (signed.non2xx || verified.non2xx) throw new Error(`${s.spec}: non-2xx responses under load`);
      const { privateKey, publicKey } = s.gen();
      const pub = createPublicKey(privateKey);
      const sig = sign(s.hash, message, s.opts(privateKey));
      const rawSign = rate(durationS, () => sign(s.hash, message, s.opts(privateKey)));
      const rawVerify = rate(durationS, () => verify(s.hash, message, s.opts(pub) as Parameters<typeof verify>[2], sig));
      void publicKey;
      rows.push({ spec: s.spec, algorithm: s.algorithm, trentSign: signed.reqPerSec, trentSignP99: signed.p99Ms, trentVerify: verified.reqPerSec, rawSign, rawVerify });
    }
    console.log('');
    console.log('key spec               algorithm                   Trent Sign/s  p99 ms  raw sign/s  Trent Verify/s  raw verify/s');
    for (const r of rows) {
      console.log(
        `${r.spec.padEnd(22)} ${r.algorithm.padEnd(27)} ${fmt(r.trentSign, 0).padStart(12)} ${fmt(r.trentSignP99, 1).padStart(7)} ${fmt(r.rawSign, 0).padStart(11)} ${fmt(r.trentVerify, 0).padStart(15)} ${fmt(r.rawVerify, 0).padStart(13)}`,
      );
    }
    console.log(JSON.stringify({ bench: 'kms-sign', date: new Date().toISOString(), connections, durationS, machine, results: rows.map((r) => ({ ...r, trentSign: round(r.trentSign, 1), trentVerify: round(r.trentVerify, 1), rawSign: round(r.rawSign, 1), rawVerify: round(r.rawVerify, 1) })) }));
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
    console.error(`kms-sign bench FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
