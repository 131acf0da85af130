import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Instance } from '../server/instance.ts';
import { createLogger } from '../server/log.ts';
import { ObjectKeys } from '../s3/sse.ts';
import { SystemObjects } from '../s3/system.ts';
import { KeyStore } from '../kms/keys.ts';
import { KmsServiceClient } from '../kms/service-client.ts';
import { kmsService } from '../kms/api.ts';
import { Authorizer } from '../iam/authorizer.ts';
import { Recorder } from '../trail/recorder.ts';
import { TrailDelivery } from '../trail/delivery.ts';
import { DigestSigner } from '../trail/signing.ts';
import { TrailStore } from '../trail/store.ts';
import { getTrail } from '../trail/trails.ts';
import { validateTrail } from '../trail/validate.ts';
import { DEFAULT_DATA_DIR, pkcs11Settings, ROOT_OPTIONS, rootPassphrase, setting, STORE_OPTIONS, storeSettings } from './options.ts';

export const TRAIL_USAGE = `trent trail deliver [--data-dir DIR] [root options]
  delivers every trail's pending events as log files and writes each validated trail's digest now
  (the server does this every few minutes and hourly; this is for operators and tests), server running or not
trent trail validate --trail NAME|ARN [--start-time TIME] [--end-time TIME] [--data-dir DIR] [root options]
  checks a trail's digest chain and log files offline, from the data directory, as
  'aws cloudtrail validate-logs' does through the API; exits 1 if any file is invalid
  (root options: --root-passphrase-file, --root pkcs11 --pkcs11-module ... as for trent serve)`;

async function open(values: Record<string, string | boolean | string[] | undefined>) {
  const dataDir = resolve(setting(values['data-dir'] as string | undefined, 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!);
  const stores = storeSettings(dataDir, { db: values['db'] as string | undefined, blobs: values['blobs'] as string | undefined });
  const pkcs11 = pkcs11Settings(values);
  const passphrase = rootPassphrase(values['root-passphrase-file'] as string | undefined);
  const instance = await Instance.open({ dataDir, beside: true, ...stores, ...(pkcs11 ? { pkcs11 } : {}), ...(passphrase !== undefined ? { rootPassphrase: passphrase } : {}) });
  const log = createLogger(setting(undefined, 'TRENT_LOG_LEVEL', 'warn'));
  const events = new TrailStore(instance.trailDb);
  const keys = new KeyStore(instance.db, instance.root, instance.accountId, instance.region);
  const kms = kmsService({ keys, trail: events, trailRetentionDays: 90, authorizer: new Authorizer(instance.identities) });
  const objectKeys = new ObjectKeys({ db: instance.db, root: instance.root, kms: new KmsServiceClient(kms, keys, new Recorder(events, log)) });
  const objects = new SystemObjects(instance.db, instance.blobs, objectKeys);
  const signer = new DigestSigner(instance.db, instance.root, instance.region);
  return { instance, log, events, objects, signer };
}

function time(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(ms)) throw new Error(`${name} must be a date (ISO 8601) or epoch seconds`);
  return ms;
}

export async function trail(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if ((sub !== 'deliver' && sub !== 'validate') || rest.includes('--help')) {
    process.stdout.write(TRAIL_USAGE + '\n');
    return sub === '--help' || sub === 'help' || rest.includes('--help') ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { 'data-dir': { type: 'string' }, trail: { type: 'string' }, 'start-time': { type: 'string' }, 'end-time': { type: 'string' }, ...ROOT_OPTIONS, ...STORE_OPTIONS },
    strict: true,
  });
  const ctx = await open(values);
  try {
    if (sub === 'deliver') {
      const delivery = new TrailDelivery({ db: ctx.instance.db, events: ctx.events, objects: ctx.objects, signer: ctx.signer, accountId: ctx.instance.accountId, region: ctx.instance.region, log: ctx.log });
      // The server may be delivering right now: wait for its lease (held for one delivery round) to be released.
      for (let attempt = 0; attempt < 60; attempt++) {
        const done = await delivery.runOnce({ forceDigest: true });
        if (done) {
          process.stdout.write(`delivered ${done.logFiles} log file(s) and ${done.digests} digest file(s)\n`);
          return 0;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error('another deliverer (the running server) kept the delivery lease for 30 s; try again');
    }
    if (!values.trail) throw new Error('--trail NAME|ARN is required');
    const t = await getTrail(ctx.instance.db, values.trail);
    const now = Date.now();
    const end = time(values['end-time'], '--end-time') ?? now;
    const start = time(values['start-time'], '--start-time') ?? t.createdAt;
    const report = await validateTrail({
      objects: ctx.objects,
      publicKeys: await ctx.signer.publicKeys(start, end + 2 * 3600_000),
      trail: t,
      accountId: ctx.instance.accountId,
      region: ctx.instance.region,
      start,
      end,
    });
    for (const line of report.lines) process.stdout.write(line + '\n');
    process.stdout.write(
      `\nResults requested for ${new Date(start).toISOString()} to ${new Date(end).toISOString()}\n` +
        `${report.validDigests + report.invalidDigests} digest file(s): ${report.validDigests} valid, ${report.invalidDigests} INVALID\n` +
        `${report.validLogs + report.invalidLogs} log file(s): ${report.validLogs} valid, ${report.invalidLogs} INVALID\n`,
    );
    if (report.validDigests + report.invalidDigests === 0) {
      process.stdout.write('No digest files were found in the range.\n');
      return 1;
    }
    return report.invalid.length ? 1 : 0;
  } finally {
    await ctx.instance.close();
  }
}
