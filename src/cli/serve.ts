import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { describeStore, Instance, isPostgresUrl, isS3Url, openDatabase } from '../server/instance.ts';
import { Primary, WorkerBus } from '../server/workers.ts';
import { Listener, reservePort } from '../server/listener.ts';
import { createLogger } from '../server/log.ts';
import { Pipeline } from '../server/pipeline.ts';
import { ensureTlsMaterial } from '../server/tls.ts';
import { stsService } from '../sts/api.ts';
import { kmsService } from '../kms/api.ts';
import { KeyStore } from '../kms/keys.ts';
import { KmsJobs } from '../kms/jobs.ts';
import { CryptoPool } from '../kms/crypto-pool.ts';
import { CustomKeyStores } from '../kms/custom-key-stores.ts';
import { loadHsmClusters } from '../kms/hsm-keys.ts';
import { XksProxyCredentials, XksProxyService } from '../kms/xks-proxy.ts';
import { KmsServiceClient } from '../kms/service-client.ts';
import { Authorizer } from '../iam/authorizer.ts';
import { iamService } from '../iam/api.ts';
import { reapOrphans, s3Service } from '../s3/api.ts';
import { BucketCache } from '../s3/buckets.ts';
import { LifecycleJob } from '../s3/lifecycle-job.ts';
import { BENCH_PLAINTEXT } from '../s3/packages.ts';
import { ObjectKeys } from '../s3/sse.ts';
import { SystemObjects } from '../s3/system.ts';
import { TrailDelivery } from '../trail/delivery.ts';
import { secretsService } from '../secrets/api.ts';
import { ssmService } from '../ssm/api.ts';
import { facesService } from '../faces/api.ts';
import { createFaceEngine, type FaceEngine } from '../faces/engine.ts';
import { ObjectReader } from '../s3/reader.ts';
import { availableParallelism } from 'node:os';
import { RotationInvoker } from '../secrets/rotation.ts';
import { SecretsServiceClient } from '../secrets/service-client.ts';
import { DigestSigner } from '../trail/signing.ts';
import { cloudTrailService } from '../trail/api.ts';
import { Recorder } from '../trail/recorder.ts';
import { TrailRetention } from '../trail/retention.ts';
import { TrailStore } from '../trail/store.ts';
import { ThreadTrailWriter } from '../trail/writer.ts';
import { SqliteDatabase } from '../store/sqlite.ts';
import { BACKENDS_FILE, storeSettings, DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, pkcs11Settings, ROOT_OPTIONS, rootPassphrase, setting } from './options.ts';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createStream } from 'rotating-file-stream';
import { DataDirLock } from '../store/lock.ts';
import { removeServerInfo, runningServer, writeServerInfo } from '../store/server-info.ts';
import { Lease, NODE_ID } from '../store/lease.ts';
import { join, resolve } from 'node:path';
import { VERSION } from './version.ts';

export const SERVE_USAGE = `trent serve [options]
  --data-dir DIR              data directory (TRENT_DATA_DIR, default ./.trent)
  --db URL                    metadata and audit store: postgres://USER@HOST:PORT/DB shared by a cluster's nodes,
                              or a SQLite file (TRENT_DB, default DIR/trent.db with DIR/trail.db beside it)
  --blobs URL                 ciphertext blobs: s3://BUCKET[/PREFIX]?endpoint=https://HOST:PORT shared by a cluster's
                              nodes, or a directory (TRENT_BLOBS, default DIR/blobs)
  --host HOST                 address to listen on (TRENT_HOST, default localhost: 127.0.0.1 and ::1)
  --port N                    port (TRENT_PORT, default 4566; 0 picks a free port)
  --region REGION             region of a new data directory (TRENT_REGION, default us-east-1)
  --tls-cert FILE --tls-key FILE [--tls-ca FILE]
                              serve the operator's certificate instead of Trent's local CA
  --tls-san NAME              extra DNS name or IP for the generated certificate (repeatable)
  --root-passphrase-file FILE seal the root key file with a passphrase (or TRENT_ROOT_PASSPHRASE)
  --root keyfile|pkcs11       where the root key lives (TRENT_ROOT, default keyfile)
  --pkcs11-module PATH        the token's PKCS#11 library (TRENT_PKCS11_MODULE)
  --pkcs11-token LABEL        the token label (TRENT_PKCS11_TOKEN)
  --pkcs11-pin-file FILE      a file holding the user PIN (TRENT_PKCS11_PIN_FILE; never the PIN itself)
  --pkcs11-key-label LABEL    the root key's label on the token (TRENT_PKCS11_KEY_LABEL, default trent-root)
  --trail-retention-days N    how long LookupEvents can reach back (TRENT_TRAIL_RETENTION_DAYS, default 90)
  --workers N                 worker processes serving the port (TRENT_WORKERS, default one per core; 1: one process)
  --log-level LEVEL           trace, debug, info, warn, error (TRENT_LOG_LEVEL, default info)`;

interface ServeSettings {
  log: Logger;
  dataDir: string;
  host: string;
  port: number;
  region: string | undefined;
  retentionDays: number;
  workers: number;
  pkcs11: ReturnType<typeof pkcs11Settings>;
  dbUrl: string | undefined;
  blobsUrl: string | undefined;
  passphrase: string | undefined;
  tls: { cert?: string; key?: string; ca?: string; sans: string[] };
}

export async function serve(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      db: { type: 'string' },
      blobs: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      region: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-san': { type: 'string', multiple: true },
      ...ROOT_OPTIONS,
      'log-level': { type: 'string' },
      'trail-retention-days': { type: 'string' },
      workers: { type: 'string' },
    },
    strict: true,
  });
  const dataDir = setting(values['data-dir'], 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!;
  const level = setting(values['log-level'], 'TRENT_LOG_LEVEL', 'info');
  // The serving process (or the primary of several) keeps the log file; workers' lines reach it through the primary.
  const logFile = cluster.isWorker ? undefined : await openLogFile(resolve(dataDir));
  const log = createLogger(level, logFile?.stream);
  const host = setting(values.host, 'TRENT_HOST', DEFAULT_HOST)!;
  const port = Number(setting(values.port, 'TRENT_PORT', DEFAULT_PORT));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${values.port}`);
  const region = setting(values.region, 'TRENT_REGION');
  const retentionDays = Number(setting(values['trail-retention-days'], 'TRENT_TRAIL_RETENTION_DAYS', '90'));
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error(`invalid --trail-retention-days: ${values['trail-retention-days']}`);
  let workers = Number(setting(values.workers, 'TRENT_WORKERS', String(availableParallelism())));
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`invalid --workers: ${values.workers ?? process.env['TRENT_WORKERS']} (1 to 64)`);
  // Workers share the port through SO_REUSEPORT, which Node offers from 22.12 (Trent's own Node is 24, see package.json).
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (workers > 1 && (major < 22 || (major === 22 && minor < 12))) {
    process.stderr.write(`trent serve: Node.js ${process.versions.node} cannot share a port between workers; serving with one process (run it through npm or npx, which use the project's Node 24)\n`);
    workers = 1;
  }
  const { db: dbUrl, blobs: blobsUrl } = storeSettings(resolve(dataDir), values, { create: true });
  const settings: ServeSettings = {
    log,
    dataDir,
    host,
    port,
    region,
    retentionDays,
    workers,
    pkcs11: pkcs11Settings(values),
    dbUrl,
    blobsUrl,
    passphrase: rootPassphrase(values['root-passphrase-file']),
    tls: {
      ...(values['tls-cert'] ? { cert: values['tls-cert'] } : {}),
      ...(values['tls-key'] ? { key: values['tls-key'] } : {}),
      ...(values['tls-ca'] ? { ca: values['tls-ca'] } : {}),
      sans: values['tls-san'] ?? [],
    },
  };
  if (cluster.isWorker) return serveNode(settings, 'worker');
  // One server per data directory: a second one is refused at once, naming the first.
  const lock = DataDirLock.tryAcquire(resolve(dataDir));
  if (!lock) {
    const info = await runningServer(resolve(dataDir));
    throw new Error(
      info
        ? `another Trent (pid ${info.pid}, ${info.endpoint}, since ${info.startedAt}) is serving ${resolve(dataDir)}; stop it first (npx trent stop${dataDir !== DEFAULT_DATA_DIR ? ` --data-dir ${dataDir}` : ''})`
        : `another Trent is starting on ${resolve(dataDir)}`,
    );
  }
  try {
    return workers > 1 ? await servePrimary(settings, logFile!) : await serveNode(settings, 'single', logFile);
  } catch (err) {
    throw listenError(err, host, port);
  } finally {
    lock.release();
  }
}

/** Listening failures in words: the port and what to do. */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new Error(`port ${port} on ${host} is already in use by another program; choose another with --port (0 picks a free one)`);
  if (code === 'EACCES') return new Error(`not allowed to listen on port ${port} on ${host} (ports below 1024 need privileges); choose another with --port`);
  if (code === 'EADDRNOTAVAIL') return new Error(`${host} is not an address of this machine; choose another with --host`);
  return err;
}

interface LogFile {
  path: string;
  stream: NodeJS.WritableStream;
}

/** The data directory's log, rotated at 10 MB, five kept: `trent logs` follows it. */
async function openLogFile(dataDir: string): Promise<LogFile> {
  const dir = join(dataDir, 'logs');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stream = createStream((time, index) => (time ? `trent.log.${index}` : 'trent.log'), { path: dir, size: '10M', maxFiles: 5, mode: 0o600 });
  stream.on('error', () => undefined);
  return { path: join(dir, 'trent.log'), stream };
}

function openInstance(s: ServeSettings, beside: boolean): Promise<Instance> {
  return Instance.open({
    dataDir: s.dataDir,
    ...(beside ? { beside: true } : {}),
    ...(s.dbUrl ? { db: s.dbUrl } : {}),
    ...(s.blobsUrl ? { blobs: s.blobsUrl } : {}),
    ...(s.region ? { region: s.region } : {}),
    ...(s.pkcs11 ? { pkcs11: s.pkcs11 } : {}),
    ...(s.passphrase !== undefined ? { rootPassphrase: s.passphrase } : {}),
  });
}

function tlsMaterial(s: ServeSettings, dataDir: string) {
  return ensureTlsMaterial({
    dataDir,
    ...(s.tls.cert ? { certPath: s.tls.cert } : {}),
    ...(s.tls.key ? { keyPath: s.tls.key } : {}),
    ...(s.tls.ca ? { caPath: s.tls.ca } : {}),
    extraSans: s.tls.sans,
  });
}

function endpointOf(host: string, port: number): string {
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return `https://${urlHost === '0.0.0.0' || urlHost === '[::]' ? 'localhost' : urlHost}:${port}`;
}

/** What a started server leaves in its data directory for `trent env` and the offline commands, and what it prints. */
async function announce(s: ServeSettings, instance: Instance, tls: { caPath: string }, endpoint: string, unaudited: boolean, workers: number[], logFile: string | undefined): Promise<void> {
  await writeFileAtomic(
    instance.paths.endpointFile,
    JSON.stringify({ endpoint, region: instance.region, accountId: instance.accountId, caBundle: tls.caPath, credentials: instance.paths.credentials }, null, 2) + '\n',
    0o600,
  );
  // The offline commands (trent admin, trent trail, trent secrets) find this node's stores here; mode 0600, as the URL may hold a password.
  const backendsFile = join(instance.paths.dataDir, BACKENDS_FILE);
  if (s.dbUrl || s.blobsUrl) await writeFileAtomic(backendsFile, JSON.stringify({ ...(s.dbUrl ? { db: s.dbUrl } : {}), ...(s.blobsUrl ? { blobs: s.blobsUrl } : {}) }, null, 2) + '\n', 0o600);
  else await rm(backendsFile, { force: true });
  // What `trent status` and `trent stop` read, and what a refused second server names.
  await writeServerInfo(instance.paths.dataDir, {
    pid: process.pid,
    endpoint,
    port: Number(new URL(endpoint).port),
    startedAt: new Date().toISOString(),
    version: VERSION,
    dataDir: instance.paths.dataDir,
    workers,
    db: s.dbUrl ? describeStore(s.dbUrl) : instance.paths.database,
    blobs: s.blobsUrl ? describeStore(s.blobsUrl) : instance.paths.blobs,
    root: s.pkcs11 ? `PKCS#11 token ${s.pkcs11.token} (key ${s.pkcs11.keyLabel ?? 'trent-root'})` : `key file ${instance.paths.rootKey}`,
    logFile: logFile ?? '',
  });
  const out = process.stdout;
  const { dbUrl, pkcs11 } = s;
  out.write(`Trent ${VERSION}\n`);
  out.write(`  data directory  ${instance.paths.dataDir} (account ${instance.accountId}, region ${instance.region})\n`);
  out.write(`  credentials     ${instance.paths.credentials} (admin access key ${instance.adminAccessKeyId})\n`);
  out.write(`  CA certificate  ${tls.caPath}\n`);
  out.write(`  root of trust   ${pkcs11 ? `PKCS#11 token ${pkcs11.token} (key ${pkcs11.keyLabel ?? 'trent-root'}, ${instance.root.kind})` : `key file ${instance.paths.rootKey}`}\n`);
  out.write(`  audit trail     ${unaudited ? 'DISABLED (benchmark switch)' : `${isPostgresUrl(dbUrl) ? `${describeStore(dbUrl!)} schema trent_trail` : instance.paths.trailDatabase} (lookups kept ${s.retentionDays} days)`}\n`);
  if (isPostgresUrl(dbUrl)) out.write(`  metadata        ${describeStore(dbUrl!)} schema trent (node ${NODE_ID})\n`);
  if (isS3Url(s.blobsUrl)) out.write(`  blobs           ${describeStore(s.blobsUrl!)}\n`);
  out.write(`  workers         ${workers.length === 1 ? 'one process' : `${workers.length} processes`}\n`);
  if (logFile) out.write(`  log             ${logFile} (npx trent logs)\n`);
  out.write(`  use it          eval "$(npx trent env${s.dataDir !== DEFAULT_DATA_DIR ? ` --data-dir ${s.dataDir}` : ''})"\n`);
  out.write(`Trent ready at ${endpoint}\n`);
}

/** How long a stop may take, whatever is in flight (face workers, background jobs, half-open connections). */
const STOP_DEADLINE_MS = 10_000;

/**
 * Resolves on SIGTERM or SIGINT (or `also`'s trigger). From then the process has STOP_DEADLINE_MS to finish;
 * past it, or on a second signal, it exits at once.
 */
function untilSignal(log: Logger, also?: (stop: (why: string) => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const stop = (why: string) => {
      if (done) {
        log.warn({ signal: why }, 'second signal: stopping now');
        log.flush();
        process.exit(130);
      }
      done = true;
      log.info({ signal: why }, 'stopping: finishing in-flight requests');
      setTimeout(() => {
        log.error(`stopping took more than ${STOP_DEADLINE_MS / 1000} s: exiting now`);
        log.flush();
        process.exit(1);
      }, STOP_DEADLINE_MS).unref();
      resolve();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    also?.(stop);
  });
}

/**
 * The primary of several workers: it prepares the data directory once (schema, first-start material, TLS,
 * interrupted deletes, the audit intents of an earlier run), starts the workers, and then only supervises them.
 */
async function servePrimary(s: ServeSettings, logFile: LogFile): Promise<number> {
  const { log } = s;
  const instance = await openInstance(s, false);
  let tls: Awaited<ReturnType<typeof tlsMaterial>>;
  try {
    tls = await tlsMaterial(s, instance.paths.dataDir);
    const reaped = await reapOrphans(instance.db, instance.blobs);
    if (reaped) log.info({ blobs: reaped }, 'removed object blobs left behind by an interrupted delete');
    // Nothing else writes yet: every intent an earlier run left is orphaned now (on PostgreSQL, other nodes' live ones wait for their heartbeat).
    const previous = new Recorder(new TrailStore(instance.trailDb), log);
    await previous.start(instance.trailDb.dialect === 'sqlite');
    await previous.stop();
  } finally {
    await instance.close();
  }
  const unaudited = process.env['TRENT_BENCH_UNAUDITED'] === '1';
  // The workers bind the port together; it is checked (and, for port 0, chosen) here first, and held until they have.
  const reservation = await reservePort(s.host, s.port);
  const port = reservation.port;
  // Workers' output comes through here, to the terminal and to the log file.
  cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2), silent: true });
  cluster.on('fork', (w) => {
    w.process.stdout?.on('data', (d: Buffer) => {
      process.stdout.write(d);
      logFile.stream.write(d);
    });
    w.process.stderr?.on('data', (d: Buffer) => {
      process.stderr.write(d);
      logFile.stream.write(d);
    });
  });
  process.env['TRENT_WORKER_PORT'] = String(port);
  const primary = new Primary({
    workers: s.workers,
    log,
    // Once one worker holds the port, the hold is not needed; a connection the kernel gave the hold (which never
    // serves) would only wait for it to close.
    onFirstListening: () => void reservation.release(),
    recoverRecorder: async (owner) => {
      const db = await openDatabase('trail', s.dataDir, s.dbUrl);
      try {
        const n = await new TrailStore(db).recoverIntentsOf(owner);
        if (n) log.warn({ events: n }, 'recorded calls the dead worker was running (intents recovered as events, outcome unknown)');
      } finally {
        await db.close();
      }
    },
  });
  try {
    await primary.start();
  } catch (err) {
    await primary.stop(2_000);
    throw err;
  } finally {
    await reservation.release();
  }
  const again = await openInstance(s, true);
  const endpoint = endpointOf(s.host, port);
  const info = async () => announce(s, again, tls, endpoint, unaudited, primary.pids, logFile.path);
  try {
    await info();
  } finally {
    await again.close();
  }
  log.info({ workers: primary.pids }, 'workers started');
  // serve.json names the serving processes: kept current as workers are replaced.
  primary.onChange = () =>
    void writeServerInfo(resolve(s.dataDir), { ...JSON.parse(readFileSync(join(resolve(s.dataDir), 'serve.json'), 'utf8')), workers: primary.pids }).catch(() => undefined);
  await untilSignal(log);
  await primary.stop(STOP_DEADLINE_MS - 1000);
  await removeServerInfo(resolve(s.dataDir));
  log.info('stopped');
  log.flush();
  return 0;
}

/** One serving process: the whole server (mode 'single'), or one of several workers under a primary. */
async function serveNode(s: ServeSettings, mode: 'single' | 'worker', logFile?: LogFile): Promise<number> {
  const { log, host, port, retentionDays } = s;
  const worker = mode === 'worker';
  const bus = new WorkerBus();
  const instance = await openInstance(s, worker);
  const tls = await tlsMaterial(s, instance.paths.dataDir);
  const fault = process.env['TRENT_TEST_TRAIL_FAULT_FILE'] || undefined;
  // On the embedded store, the recorder's commits (and their fsyncs) run in a thread of their own, off the event loop.
  const trail = new TrailStore(instance.trailDb, fault, instance.trailDb instanceof SqliteDatabase ? { writer: new ThreadTrailWriter(instance.trailDb.path, fault) } : {});
  const unaudited = process.env['TRENT_BENCH_UNAUDITED'] === '1';
  if (unaudited) log.warn('TRENT_BENCH_UNAUDITED=1: API calls are NOT recorded. This switch exists for benchmarks only; never use it to serve real clients.');
  const recorder = new Recorder(unaudited ? undefined : trail, log);
  // Calls interrupted by an earlier stop are put on record before anything is served (an embedded store served by
  // one process has one writer, so every earlier recorder is gone; workers' primary did this before starting them;
  // on PostgreSQL, a node's intents are recovered once its heartbeat ages).
  await recorder.start(!worker && instance.trailDb.dialect === 'sqlite');
  // Background jobs run on one node of a cluster at a time (on one node, these leases are always this node's).
  const kmsInterval = Number(process.env['TRENT_KMS_SWEEP_SECONDS'] ?? 60) * 1000;
  const secretsInterval = Number(process.env['TRENT_SECRETS_SWEEP_SECONDS'] ?? 60) * 1000;
  const retention = new TrailRetention(trail, retentionDays, log, new Lease(instance.db, 'trail-retention', 3 * 3600_000));
  await retention.runOnce();
  retention.start();
  const keys = new KeyStore(instance.db, instance.root, instance.accountId, instance.region);
  // Custom key stores: the PKCS#11 tokens the operator declares (TRENT_KMS_HSM_CLUSTERS), and external key store proxies.
  const customKeyStores = new CustomKeyStores({ db: instance.db, root: instance.root, accountId: instance.accountId, region: instance.region, clusters: loadHsmClusters(process.env['TRENT_KMS_HSM_CLUSTERS']), log });
  const jobs = new KmsJobs(keys, log, Date.now, new Lease(instance.db, 'kms-jobs', 3 * kmsInterval), (k) => customKeyStores.destroyHsmKey(k));
  // Anything that fell due while Trent was down (rotation, end of a deletion window) happens before it serves.
  await jobs.runOnce();
  jobs.start(kmsInterval);

  const authorizer = new Authorizer(instance.identities);
  const cryptoPool = new CryptoPool();
  const kms = kmsService({ keys, trail, trailRetentionDays: retentionDays, authorizer, pool: cryptoPool, customKeyStores });
  // Trent as an external key store proxy for another KMS: its credential is written to xks-proxy.json in the data directory.
  const xksCredentials = new XksProxyCredentials(instance.db, instance.root);
  await xksCredentials.ensure(instance.paths.dataDir);
  const xks = new XksProxyService({ db: instance.db, root: instance.root, keys, authorizer, recorder, credentials: xksCredentials, accountId: instance.accountId, region: instance.region, log, version: VERSION });
  const kmsClient = new KmsServiceClient(kms, keys, recorder);
  if (BENCH_PLAINTEXT) log.warn('TRENT_BENCH_S3_PLAINTEXT=1: S3 object bodies are stored UNENCRYPTED. This switch exists for benchmarks only; never use it to serve real clients.');
  if (!worker) {
    const reaped = await reapOrphans(instance.db, instance.blobs);
    if (reaped) log.info({ blobs: reaped }, 'removed object blobs left behind by an interrupted delete');
  }
  const objectKeys = new ObjectKeys({ db: instance.db, root: instance.root, kms: kmsClient });
  const systemObjects = new SystemObjects(instance.db, instance.blobs, objectKeys);
  const signer = new DigestSigner(instance.db, instance.root, instance.region);
  const delivery = new TrailDelivery({
    db: instance.db,
    events: trail,
    objects: systemObjects,
    signer,
    accountId: instance.accountId,
    region: instance.region,
    log,
    digestIntervalMs: Number(process.env['TRENT_TRAIL_DIGEST_SECONDS'] ?? 3600) * 1000,
  });
  delivery.start(Number(process.env['TRENT_TRAIL_DELIVERY_SECONDS'] ?? 300) * 1000);
  const lifecycleDayMs = Number(process.env['TRENT_S3_LIFECYCLE_DAY_SECONDS'] ?? 86400) * 1000;
  const bucketCache = new BucketCache();
  const s3 = s3Service({
    db: instance.db,
    bucketCache,
    blobs: instance.blobs,
    keys: objectKeys,
    accountId: instance.accountId,
    region: instance.region,
    virtualHosts: virtualHostNames(host, s.tls.sans),
    log,
    authorizer,
    lifecycleDayMs,
  });
  // S3 lifecycle rules, once per cluster under a lease. TRENT_S3_LIFECYCLE_DAY_SECONDS shortens the lifecycle day for tests only.
  const lifecycleInterval = Number(process.env['TRENT_S3_LIFECYCLE_SECONDS'] ?? 3600) * 1000;
  const lifecycleJob = new LifecycleJob({ db: instance.db, blobs: instance.blobs, log, lease: new Lease(instance.db, 's3-lifecycle', 3 * lifecycleInterval), dayMs: lifecycleDayMs });
  lifecycleJob.start(lifecycleInterval);

  let endpoint = '';
  const secrets = secretsService({
    db: instance.db,
    kms: kmsClient,
    authorizer,
    invoker: new RotationInvoker({ db: instance.db, identities: instance.identities, endpoint: () => endpoint, caPath: tls.caPath, region: instance.region, log }),
    accountId: instance.accountId,
    region: instance.region,
    log,
  });
  const secretsLease = new Lease(instance.db, 'secrets-sweep', 3 * secretsInterval);
  const secretsTimer = setInterval(
    () => void secretsLease.run(() => secrets.sweep()).catch((err) => log.error({ err: (err as Error).message }, 'secrets sweep failed')),
    secretsInterval,
  );
  secretsTimer.unref();

  // Face models load in worker threads: warmed once the server is ready (below) unless TRENT_FACES_LAZY=1, else on first use.
  // Two face threads per serving process (one per core at most): CompareFaces reads its two images at once.
  const faceWorkers = Number(process.env['TRENT_FACES_WORKERS'] ?? Math.min(2, availableParallelism()));
  let faceEngine: Promise<FaceEngine> | undefined;
  const engine = (): Promise<FaceEngine> => (faceEngine ??= createFaceEngine({ workers: faceWorkers }));
  const faces = facesService({ db: instance.db, engine, kms: kmsClient, objects: new ObjectReader(instance.db, instance.blobs, objectKeys), accountId: instance.accountId, region: instance.region });

  let stopping = false;
  const pipeline = new Pipeline({
    recorder,
    accountId: instance.accountId,
    services: [stsService({ db: instance.db, identities: instance.identities, accountId: instance.accountId }), iamService({ db: instance.db, identities: instance.identities, authorizer, accountId: instance.accountId }), kms, cloudTrailService({ store: trail, db: instance.db, objects: systemObjects, signer, accountId: instance.accountId, region: instance.region }), s3, secrets, faces, ssmService({ db: instance.db, kms: kmsClient, secrets: new SecretsServiceClient(secrets, recorder, instance.accountId), accountId: instance.accountId, region: instance.region })],
    identities: instance.identities,
    authorizer,
    region: instance.region,
    log,
    // Another worker's caches must not outlive this one's change: they are dropped before the call is answered.
    changed: (scope) => bus.changed(scope),
    xks,
    health: async () => {
      // Each serving process answers for its own store connection, checked now if nothing was written for a second.
      await recorder.check();
      const audit = recorder.failing ? 'failing: events cannot be written, so every call is refused' : 'ok';
      let root = 'ok';
      try {
        instance.root.checkAvailable();
      } catch {
        root = 'unavailable: calls that need keys are refused';
      }
      // What kind of backends and root serve, never where they are (no paths, URLs or pids: no credentials are asked).
      const backends = { metadata: isPostgresUrl(s.dbUrl) ? 'PostgreSQL' : 'SQLite', blobs: isS3Url(s.blobsUrl) ? 'S3-compatible store' : 'local files', rootOfTrust: instance.root.kind };
      const body = {
        status: stopping ? 'stopping' : recorder.failing ? 'unavailable' : 'ok',
        service: 'trent',
        version: VERSION,
        region: instance.region,
        workers: s.workers,
        backends,
        components: { auditTrail: audit, rootOfTrust: root },
      };
      return { status: stopping || recorder.failing ? 503 : 200, body };
    },
  });
  bus.onDrop(() => {
    keys.invalidate();
    bucketCache.invalidate();
    instance.identities.invalidate();
    // Sessions on the tokens of key stores another worker disconnected end here too (each use checks the state anyway).
    void customKeyStores.closeDisconnected();
  });
  const listener = new Listener({
    host,
    // A worker serves the port its primary checked (and chose, for port 0), beside the other workers.
    port: worker ? Number(process.env['TRENT_WORKER_PORT']) : port,
    ...(worker ? { reusePort: true } : {}),
    key: tls.key,
    cert: tls.cert,
    handler: pipeline.handle,
    log,
  });
  await listener.listen();
  bus.listening();

  endpoint = endpointOf(host, listener.port);
  // Deletions whose recovery window ended while Trent was down, and rotations that fell due, happen now.
  await secretsLease.run(() => secrets.sweep());
  if (!worker) await announce(s, instance, tls, endpoint, unaudited, [process.pid], logFile?.path);
  // The face models warm up once the server is serving (a first face call waits for them), unless TRENT_FACES_LAZY=1.
  if (process.env['TRENT_FACES_LAZY'] !== '1') setImmediate(() => void engine().catch((err) => log.error({ err: (err as Error).message }, 'the face model could not be loaded')));
  bus.ready(listener.port, recorder.enabled ? recorder.owner : undefined);

  await untilSignal(log, (stop) => bus.onStop(() => stop('stop from the primary')));
  stopping = true;
  // In-flight requests get most of the stop deadline; the rest is for the stores and background work.
  await listener.close(STOP_DEADLINE_MS - 2000);
  await recorder.stop();
  await delivery.stop();
  clearInterval(secretsTimer);
  if (faceEngine) await (await faceEngine.catch(() => undefined))?.close();
  await secrets.idle();
  await secretsLease.release().catch(() => undefined);
  await jobs.stop();
  await lifecycleJob.stop();
  await retention.stop();
  await trail.close();
  await cryptoPool.close();
  customKeyStores.close();
  await instance.close();
  if (!worker) await removeServerInfo(resolve(s.dataDir));
  log.info('stopped');
  log.flush();
  return 0;
}

/** Host names under which `bucket.<name>` virtual-host addressing is accepted: the listen host and extra certificate names, never IP addresses. */
function virtualHostNames(host: string, sans: string[]): string[] {
  const names = new Set<string>(['localhost']);
  for (const n of [host, ...sans]) if (n && !/^[\d.]+$/.test(n) && !n.includes(':') && n !== '0.0.0.0') names.add(n.toLowerCase().replace(/^\*\./, ''));
  return [...names];
}
