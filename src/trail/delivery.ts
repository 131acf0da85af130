import { createHash, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { SystemObjects } from '../s3/system.ts';
import type { Database } from '../store/database.ts';
import type { TrailEvent } from './event.ts';
import type { DigestSigner } from './signing.ts';
import { digestStringToSign, signDigest } from './signing.ts';
import type { TrailStore } from './store.ts';
import { listTrails, selects, type DeliveredLog, type TrailRecord } from './trails.ts';

const EVENTS_PER_READ = 5000;
/** How long a deliverer's lease lasts: a node killed mid-delivery blocks the others this long (TRENT_TRAIL_LEASE_SECONDS). */
const LEASE_MS = Number(process.env['TRENT_TRAIL_LEASE_SECONDS'] ?? 120) * 1000;

/** CloudTrail's time formats: 2026-11-23T08:00:00Z in documents, 20261123T0800Z in log names, 20261123T080000Z in digest names. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
function compactMinutes(ms: number): string {
  return isoSeconds(ms).replace(/[-:]/g, '').replace(/\d\dZ$/, 'Z');
}
function compactSeconds(ms: number): string {
  return isoSeconds(ms).replace(/[-:]/g, '');
}
function ymd(ms: number): string {
  return isoSeconds(ms).slice(0, 10).replace(/-/g, '/');
}

function keyPrefix(t: Pick<TrailRecord, 'prefix'>): string {
  return t.prefix ? `${t.prefix}/` : '';
}

/** Where a trail's log files go: CloudTrail's object path. */
export function logObjectKey(t: TrailRecord, accountId: string, region: string, time: number, unique: string): string {
  return `${keyPrefix(t)}AWSLogs/${accountId}/CloudTrail/${region}/${ymd(time)}/${accountId}_CloudTrail_${region}_${compactMinutes(time)}_${unique}.json.gz`;
}

/** The folder that holds a trail's digest files. */
export function digestFolder(t: Pick<TrailRecord, 'prefix'>, accountId: string, region: string): string {
  return `${keyPrefix(t)}AWSLogs/${accountId}/CloudTrail-Digest/${region}/`;
}

export function digestObjectKey(t: TrailRecord, accountId: string, region: string, end: number): string {
  return `${digestFolder(t, accountId, region)}${ymd(end)}/${accountId}_CloudTrail-Digest_${region}_${t.name}_${region}_${compactSeconds(end)}.json.gz`;
}

export interface DeliveryDeps {
  db: Database;
  events: TrailStore;
  objects: SystemObjects;
  signer: DigestSigner;
  accountId: string;
  region: string;
  log: Logger;
  /** How often digests are written (CloudTrail: every hour). */
  digestIntervalMs?: number;
  now?: () => number;
}

/**
 * Delivers each logging trail's events as gzip JSON log files into its bucket and, with log file
 * validation on, writes a signed digest file every hour (even when no log file was delivered),
 * chained to the previous digest by its signature. One deliverer at a time per data directory (a
 * lease row), so a running server and `trent trail deliver` never deliver the same events twice.
 *
 * Crash safety: a log file's object key is derived from the trail and its first event, so redelivery
 * after a crash rewrites the same object; the trail's cursor and its list of logs awaiting a digest
 * move in one transaction after the object is written. A digest written but not recorded is simply
 * never linked into the chain.
 */
export class TrailDelivery {
  readonly #d: DeliveryDeps;
  readonly #holder = randomUUID();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(deps: DeliveryDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  get digestIntervalMs(): number {
    return this.#d.digestIntervalMs ?? 3600_000;
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.runOnce()
        .catch((err) => this.#d.log.error({ err: (err as Error).message }, 'trail delivery failed'))
        .finally(() => (this.#running = undefined));
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  /** Deliver every trail's pending events; write digests that are due (or all of them with `forceDigest`). */
  async runOnce(opts: { forceDigest?: boolean } = {}): Promise<{ logFiles: number; digests: number } | undefined> {
    if (!(await this.#acquire())) return undefined;
    let logFiles = 0;
    let digests = 0;
    try {
      for (const trail of await listTrails(this.#d.db)) {
        try {
          logFiles += await this.#deliverLogs(trail);
          await this.#d.db.run('UPDATE ct_trails SET last_attempt_at = ?, last_delivery_error = NULL WHERE name = ?', [this.#now(), trail.name]);
        } catch (err) {
          this.#d.log.error({ trail: trail.name, err: (err as Error).message }, 'log file delivery failed');
          await this.#d.db.run('UPDATE ct_trails SET last_attempt_at = ?, last_delivery_error = ? WHERE name = ?', [this.#now(), (err as Error).message, trail.name]);
          continue;
        }
        const fresh = (await listTrails(this.#d.db)).find((t) => t.name === trail.name);
        if (!fresh || !fresh.validation) continue;
        const since = fresh.digest?.end ?? fresh.chainStart ?? fresh.startLoggingAt ?? fresh.createdAt;
        const due = fresh.isLogging ? opts.forceDigest || this.#now() - since >= this.digestIntervalMs : fresh.pendingLogs.length > 0;
        if (!due) continue;
        try {
          await this.#digest(fresh);
          digests++;
        } catch (err) {
          this.#d.log.error({ trail: trail.name, err: (err as Error).message }, 'digest delivery failed');
          await this.#d.db.run('UPDATE ct_trails SET last_digest_error = ? WHERE name = ?', [(err as Error).message, trail.name]);
        }
      }
    } finally {
      await this.#release();
    }
    return { logFiles, digests };
  }

  async #acquire(): Promise<boolean> {
    const now = this.#now();
    return this.#d.db.transaction(async (tx) => {
      const row = await tx.get<{ holder: string; expires_at: number }>('SELECT holder, expires_at FROM ct_delivery_lease WHERE id = 1');
      if (row && row.holder !== this.#holder && Number(row.expires_at) > now) return false;
      await tx.run('INSERT INTO ct_delivery_lease (id, holder, expires_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at', [
        this.#holder,
        now + LEASE_MS,
      ]);
      return true;
    });
  }

  async #release(): Promise<void> {
    await this.#d.db.run('DELETE FROM ct_delivery_lease WHERE id = 1 AND holder = ?', [this.#holder]);
  }

  /** Log files for the events recorded after the trail's cursor; returns how many were written. */
  async #deliverLogs(trail: TrailRecord): Promise<number> {
    let cursor = trail.cursorSeq;
    let written = 0;
    for (;;) {
      const rows = await this.#d.events.since(cursor, EVENTS_PER_READ);
      if (rows.length === 0) break;
      const chosen: Array<{ seq: number; eventTime: number; record: string }> = [];
      for (const r of rows) {
        // A stopped trail still delivers what was recorded before it stopped, and nothing after.
        if (!trail.isLogging && (trail.stopSeq === null || r.seq > trail.stopSeq)) continue;
        if (selects(trail, JSON.parse(r.record) as TrailEvent)) chosen.push(r);
      }
      const last = rows[rows.length - 1]!.seq;
      let delivered: DeliveredLog | undefined;
      if (chosen.length > 0) {
        const first = chosen[0]!;
        const unique = createHash('sha256').update(`${trail.arn}\n${first.seq}`).digest('hex').slice(0, 16).toUpperCase();
        const key = logObjectKey(trail, this.#d.accountId, this.#d.region, first.eventTime, unique);
        const json = Buffer.from(`{"Records":[${chosen.map((c) => c.record).join(',')}]}`);
        await this.#d.objects.put(trail.bucket, key, gzipSync(json), { 'content-type': 'application/x-gzip', metadata: {} });
        const times = chosen.map((c) => c.eventTime);
        delivered = {
          s3Bucket: trail.bucket,
          s3Object: key,
          hashValue: createHash('sha256').update(json).digest('hex'),
          oldestEventTime: isoSeconds(Math.min(...times)),
          newestEventTime: isoSeconds(Math.max(...times)),
        };
        written++;
      }
      await this.#d.db.transaction(async (tx) => {
        const row = await tx.get<{ pending_logs: string; cursor_seq: number }>('SELECT pending_logs, cursor_seq FROM ct_trails WHERE name = ?', [trail.name]);
        if (!row || Number(row.cursor_seq) !== cursor) throw new Error(`trail ${trail.name} changed while its events were being delivered`);
        const pending = JSON.parse(row.pending_logs) as DeliveredLog[];
        if (delivered && trail.validation) pending.push(delivered);
        await tx.run('UPDATE ct_trails SET cursor_seq = ?, pending_logs = ?, last_delivery_at = COALESCE(?, last_delivery_at) WHERE name = ?', [
          last,
          JSON.stringify(pending),
          delivered ? this.#now() : null,
          trail.name,
        ]);
      });
      cursor = last;
      if (rows.length < EVENTS_PER_READ) break;
    }
    return written;
  }

  /** Write the next digest of a trail's chain: the logs delivered since the previous one, signed, linked to it. */
  async #digest(trail: TrailRecord): Promise<void> {
    const { accountId, region } = this.#d;
    const previous = trail.digest;
    const start = previous?.end ?? trail.chainStart ?? trail.startLoggingAt ?? trail.createdAt;
    // Whole seconds, strictly after the previous digest: digest names carry the end time to the second.
    let end = Math.floor(this.#now() / 1000) * 1000;
    if (previous && end <= previous.end) end = previous.end + 1000;
    const key = digestObjectKey(trail, accountId, region, end);
    const signer = await this.#d.signer.current(this.#now());
    const logs = trail.pendingLogs;
    const eventTimes = logs.flatMap((l) => [Date.parse(l.oldestEventTime), Date.parse(l.newestEventTime)]);
    const digest = {
      awsAccountId: accountId,
      digestStartTime: isoSeconds(start),
      digestEndTime: isoSeconds(end),
      digestS3Bucket: trail.bucket,
      digestS3Object: key,
      digestPublicKeyFingerprint: signer.fingerprint,
      digestSignatureAlgorithm: 'SHA256withRSA',
      newestEventTime: eventTimes.length ? isoSeconds(Math.max(...eventTimes)) : null,
      oldestEventTime: eventTimes.length ? isoSeconds(Math.min(...eventTimes)) : null,
      previousDigestS3Bucket: previous?.bucket ?? null,
      previousDigestS3Object: previous?.key ?? null,
      previousDigestHashValue: previous?.hash ?? null,
      previousDigestHashAlgorithm: previous ? 'SHA-256' : null,
      previousDigestSignature: previous?.signature ?? null,
      logFiles: logs.map((l) => ({ s3Bucket: l.s3Bucket, s3Object: l.s3Object, hashValue: l.hashValue, hashAlgorithm: 'SHA-256', newestEventTime: l.newestEventTime, oldestEventTime: l.oldestEventTime })),
    };
    const json = Buffer.from(JSON.stringify(digest));
    const signature = signDigest(signer.key, digestStringToSign(digest.digestEndTime, trail.bucket, key, json, previous?.signature ?? null));
    await this.#d.objects.put(trail.bucket, key, gzipSync(json), {
      'content-type': 'application/x-gzip',
      metadata: { signature, 'signature-algorithm': 'SHA256withRSA' },
    });
    const hash = createHash('sha256').update(json).digest('hex');
    await this.#d.db.transaction(async (tx) => {
      const row = await tx.get<{ pending_logs: string }>('SELECT pending_logs FROM ct_trails WHERE name = ?', [trail.name]);
      if (!row) throw new Error(`trail ${trail.name} was deleted while its digest was being written`);
      // Logs delivered meanwhile (none while this deliverer holds the lease) stay for the next digest.
      const rest = (JSON.parse(row.pending_logs) as DeliveredLog[]).filter((l) => !logs.some((x) => x.s3Object === l.s3Object));
      await tx.run(
        `UPDATE ct_trails SET digest_bucket = ?, digest_key = ?, digest_hash = ?, digest_signature = ?, digest_end = ?, last_digest_at = ?, last_digest_error = NULL,
                              pending_logs = ? WHERE name = ?`,
        [trail.bucket, key, hash, signature, end, this.#now(), JSON.stringify(rest), trail.name],
      );
    });
  }
}
