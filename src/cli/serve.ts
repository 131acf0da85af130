import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { describeStore, Instance, isPostgresUrl, isS3Url } from '../server/instance.ts';
import { Listener } from '../server/listener.ts';
import { createLogger } from '../server/log.ts';
import { Pipeline } from '../server/pipeline.ts';
import { ensureTlsMaterial } from '../server/tls.ts';
import { stsService } from '../sts/api.ts';
import { kmsService } from '../kms/api.ts';
import { KeyStore } from '../kms/keys.ts';
import { KmsJobs } from '../kms/jobs.ts';
import { KmsServiceClient } from '../kms/service-client.ts';
import { Authorizer } from '../iam/authorizer.ts';
import { iamService } from '../iam/api.ts';
import { reapOrphans, s3Service } from '../s3/api.ts';
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
import { BACKENDS_FILE, storeSettings, DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, pkcs11Settings, ROOT_OPTIONS, rootPassphrase, setting } from './options.ts';
import { rm } from 'node:fs/promises';
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
  --log-level LEVEL           trace, debug, info, warn, error (TRENT_LOG_LEVEL, default info)`;

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
    },
    strict: true,
  });
  const log = createLogger(setting(values['log-level'], 'TRENT_LOG_LEVEL', 'info'));
  const dataDir = setting(values['data-dir'], 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!;
  const host = setting(values.host, 'TRENT_HOST', DEFAULT_HOST)!;
  const port = Number(setting(values.port, 'TRENT_PORT', DEFAULT_PORT));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${values.port}`);
  const region = setting(values.region, 'TRENT_REGION');
  const retentionDays = Number(setting(values['trail-retention-days'], 'TRENT_TRAIL_RETENTION_DAYS', '90'));
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error(`invalid --trail-retention-days: ${values['trail-retention-days']}`);

  const pkcs11 = pkcs11Settings(values);
  const { db: dbUrl, blobs: blobsUrl } = storeSettings(resolve(dataDir), values, { create: true });
  const instance = await Instance.open({
    dataDir,
    ...(dbUrl ? { db: dbUrl } : {}),
    ...(blobsUrl ? { blobs: blobsUrl } : {}),
    ...(region ? { region } : {}),
    ...(pkcs11 ? { pkcs11 } : {}),
    ...(rootPassphrase(values['root-passphrase-file']) !== undefined ? { rootPassphrase: rootPassphrase(values['root-passphrase-file'])! } : {}),
  });
  const tls = await ensureTlsMaterial({
    dataDir: instance.paths.dataDir,
    ...(values['tls-cert'] ? { certPath: values['tls-cert'] } : {}),
    ...(values['tls-key'] ? { keyPath: values['tls-key'] } : {}),
    ...(values['tls-ca'] ? { caPath: values['tls-ca'] } : {}),
    extraSans: values['tls-san'] ?? [],
  });

  const trail = new TrailStore(instance.trailDb, process.env['TRENT_TEST_TRAIL_FAULT_FILE'] || undefined);
  const unaudited = process.env['TRENT_BENCH_UNAUDITED'] === '1';
  if (unaudited) log.warn('TRENT_BENCH_UNAUDITED=1: API calls are NOT recorded. This switch exists for benchmarks only; never use it to serve real clients.');
  const recorder = new Recorder(unaudited ? undefined : trail, log);
  // Calls interrupted by an earlier stop are put on record before anything is served (an embedded store has one
  // writer, so every earlier recorder is gone; on PostgreSQL, a node's intents are recovered once its heartbeat ages).
  await recorder.start(instance.trailDb.dialect === 'sqlite');
  // Background jobs run on one node of a cluster at a time (on one node, these leases are always this node's).
  const kmsInterval = Number(process.env['TRENT_KMS_SWEEP_SECONDS'] ?? 60) * 1000;
  const secretsInterval = Number(process.env['TRENT_SECRETS_SWEEP_SECONDS'] ?? 60) * 1000;
  const retention = new TrailRetention(trail, retentionDays, log, new Lease(instance.db, 'trail-retention', 3 * 3600_000));
  await retention.runOnce();
  retention.start();
  const keys = new KeyStore(instance.db, instance.root, instance.accountId, instance.region);
  const jobs = new KmsJobs(keys, log, Date.now, new Lease(instance.db, 'kms-jobs', 3 * kmsInterval));
  // Anything that fell due while Trent was down (rotation, end of a deletion window) happens before it serves.
  await jobs.runOnce();
  jobs.start(kmsInterval);

  const authorizer = new Authorizer(instance.identities);
  const kms = kmsService({ keys, trail, trailRetentionDays: retentionDays, authorizer });
  const kmsClient = new KmsServiceClient(kms, keys, recorder);
  if (BENCH_PLAINTEXT) log.warn('TRENT_BENCH_S3_PLAINTEXT=1: S3 object bodies are stored UNENCRYPTED. This switch exists for benchmarks only; never use it to serve real clients.');
  const reaped = await reapOrphans(instance.db, instance.blobs);
  if (reaped) log.info({ blobs: reaped }, 'removed object blobs left behind by an interrupted delete');
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
  const s3 = s3Service({
    db: instance.db,
    blobs: instance.blobs,
    keys: objectKeys,
    accountId: instance.accountId,
    region: instance.region,
    virtualHosts: virtualHostNames(host, values['tls-san'] ?? []),
    log,
    authorizer,
  });

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

  // Face models load in worker threads: at start (warm) unless TRENT_FACES_LAZY=1, then on first use.
  const faceWorkers = Number(process.env['TRENT_FACES_WORKERS'] ?? availableParallelism());
  let faceEngine: Promise<FaceEngine> | undefined;
  const engine = (): Promise<FaceEngine> => (faceEngine ??= createFaceEngine({ workers: faceWorkers }));
  if (process.env['TRENT_FACES_LAZY'] !== '1') void engine().catch((err) => log.error({ err: (err as Error).message }, 'the face model could not be loaded'));
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
    health: () => {
      const audit = recorder.failing ? 'failing: events cannot be written, so every call is refused' : 'ok';
      const body = { status: stopping ? 'stopping' : recorder.failing ? 'unavailable' : 'ok', service: 'trent', version: VERSION, components: { auditTrail: audit } };
      return { status: stopping || recorder.failing ? 503 : 200, body };
    },
  });
  const listener = new Listener({ host, port, key: tls.key, cert: tls.cert, handler: pipeline.handle, log });
  await listener.listen();

  const urlHost = host.includes(':') ? `[${host}]` : host;
  endpoint = `https://${urlHost === '0.0.0.0' || urlHost === '[::]' ? 'localhost' : urlHost}:${listener.port}`;
  // Deletions whose recovery window ended while Trent was down, and rotations that fell due, happen now.
  await secretsLease.run(() => secrets.sweep());
  await writeFileAtomic(
    instance.paths.endpointFile,
    JSON.stringify({ endpoint, region: instance.region, accountId: instance.accountId, caBundle: tls.caPath, credentials: instance.paths.credentials }, null, 2) + '\n',
    0o600,
  );
  // The offline commands (trent admin, trent trail, trent secrets) find this node's stores here; mode 0600, as the URL may hold a password.
  const backendsFile = join(instance.paths.dataDir, BACKENDS_FILE);
  if (dbUrl || blobsUrl) await writeFileAtomic(backendsFile, JSON.stringify({ ...(dbUrl ? { db: dbUrl } : {}), ...(blobsUrl ? { blobs: blobsUrl } : {}) }, null, 2) + '\n', 0o600);
  else await rm(backendsFile, { force: true });
  // Lets `trent root migrate` refuse to run under a live server.
  const pidFile = join(instance.paths.dataDir, 'serve.pid');
  await writeFileAtomic(pidFile, `${process.pid}\n`, 0o600);
  const out = process.stdout;
  out.write(`Trent ${VERSION}\n`);
  out.write(`  data directory  ${instance.paths.dataDir} (account ${instance.accountId}, region ${instance.region})\n`);
  out.write(`  credentials     ${instance.paths.credentials} (admin access key ${instance.adminAccessKeyId})\n`);
  out.write(`  CA certificate  ${tls.caPath}\n`);
  out.write(`  root of trust   ${pkcs11 ? `PKCS#11 token ${pkcs11.token} (key ${pkcs11.keyLabel ?? "trent-root"}, ${instance.root.kind})` : `key file ${instance.paths.rootKey}`}\n`);
  out.write(`  audit trail     ${unaudited ? 'DISABLED (benchmark switch)' : `${isPostgresUrl(dbUrl) ? `${describeStore(dbUrl!)} schema trent_trail` : instance.paths.trailDatabase} (lookups kept ${retentionDays} days)`}\n`);
  if (isPostgresUrl(dbUrl)) out.write(`  metadata        ${describeStore(dbUrl!)} schema trent (node ${NODE_ID})\n`);
  if (isS3Url(blobsUrl)) out.write(`  blobs           ${describeStore(blobsUrl!)}\n`);
  out.write(`  use it          eval "$(npx trent env${dataDir !== DEFAULT_DATA_DIR ? ` --data-dir ${dataDir}` : ''})"\n`);
  out.write(`Trent ready at ${endpoint}\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: finishing in-flight requests');
      resolve();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  await listener.close();
  await recorder.stop();
  await delivery.stop();
  clearInterval(secretsTimer);
  if (faceEngine) await (await faceEngine.catch(() => undefined))?.close();
  await secrets.idle();
  await secretsLease.release().catch(() => undefined);
  await jobs.stop();
  await retention.stop();
  await instance.close();
  await rm(pidFile, { force: true });
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
