import type { Logger } from 'pino';
import type { BlobStore } from '../store/blob-store.ts';
import type { Database, Queryable } from '../store/database.ts';
import type { Lease } from '../store/lease.ts';
import { VersionLocked } from './errors.ts';
import { DAY_MS, dueAt, ruleCovers, type LifecycleConfig, type LifecycleRule } from './lifecycle.ts';
import { addOrphans, getLatestVersion, getVersion, lockedNow, newVersionId, putDeleteMarker, removeVersion, versioningOf, type Tag } from './objects.ts';
import { upperBound } from './operations/listings.ts';

/**
 * Carries out buckets' lifecycle rules (lifecycle.ts), as S3 Lifecycle does, on one node of a cluster at a time (a
 * lease in the shared database):
 *
 * - Expiration (Days or Date) of current versions: in a bucket never versioned the object is deleted; with versioning
 *   enabled a delete marker becomes the latest version (the object stays, noncurrent); while versioning is suspended a
 *   delete marker with the version 'null' replaces the null version.
 * - ExpiredObjectDeleteMarker (and Expiration Days, for markers that old): a delete marker that is a key's only version
 *   is removed.
 * - NoncurrentVersionExpiration: noncurrent versions NoncurrentDays after they became noncurrent are deleted for good
 *   (their blobs too), keeping the NewerNoncurrentVersions newest.
 * - AbortIncompleteMultipartUpload: uploads DaysAfterInitiation after they began are aborted, their parts removed.
 *
 * Object Lock holds here as everywhere: a locked version is never deleted. Each action is its own transaction that
 * checks again the state it changes, so the job is safe to repeat and to overlap with requests. Lifecycle actions are
 * not API calls, so they are not audit events (as on AWS, where CloudTrail does not record them); they are logged.
 */

export interface LifecycleReport {
  expired: number;
  noncurrentDeleted: number;
  markersRemoved: number;
  uploadsAborted: number;
}

interface Options {
  db: Database;
  blobs: BlobStore;
  log: Logger;
  /** With a lease, the job runs on one node of a cluster at a time. */
  lease?: Lease;
  /** The length of a lifecycle day (a day, unless a test shortens it: TRENT_S3_LIFECYCLE_DAY_SECONDS). */
  dayMs?: number;
  now?: () => number;
}

interface Row {
  object_key: string;
  version_id: string;
  version_seq: number;
  delete_marker: number;
  size: number;
  last_modified: number;
  noncurrent_since: number | null;
  tags: string | null;
  lock_mode: string | null;
  lock_until: number | null;
  legal_hold: number | null;
}

const PAGE = 500;

export class LifecycleJob {
  readonly #db: Database;
  readonly #blobs: BlobStore;
  readonly #log: Logger;
  readonly #lease: Lease | undefined;
  readonly #dayMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(o: Options) {
    this.#db = o.db;
    this.#blobs = o.blobs;
    this.#log = o.log;
    this.#lease = o.lease;
    this.#dayMs = o.dayMs ?? DAY_MS;
    this.#now = o.now ?? Date.now;
  }

  async runOnce(): Promise<LifecycleReport> {
    const report: LifecycleReport = { expired: 0, noncurrentDeleted: 0, markersRemoved: 0, uploadsAborted: 0 };
    const now = this.#now();
    if (this.#lease && !(await this.#lease.acquire(now))) return report;
    const buckets = await this.#db.all<{ bucket_name: string; lifecycle: string }>('SELECT bucket_name, lifecycle FROM s3_buckets WHERE lifecycle IS NOT NULL ORDER BY bucket_name');
    for (const b of buckets) {
      const config = JSON.parse(b.lifecycle) as LifecycleConfig;
      for (const rule of config.rules) {
        if (rule.Status !== 'Enabled') continue;
        const e = rule.expiration;
        if (e && (e.days !== undefined || e.date !== undefined)) report.expired += await this.#expireCurrent(b.bucket_name, rule, now);
        if (e && (e.days !== undefined || e.expiredObjectDeleteMarker)) report.markersRemoved += await this.#removeLoneMarkers(b.bucket_name, rule, now);
        if (rule.noncurrentExpiration) report.noncurrentDeleted += await this.#expireNoncurrent(b.bucket_name, rule, now);
        if (rule.abortIncompleteMultipartUpload) report.uploadsAborted += await this.#abortUploads(b.bucket_name, rule, now);
      }
    }
    if (report.expired || report.noncurrentDeleted || report.markersRemoved || report.uploadsAborted) this.#log.info({ ...report }, 'S3 lifecycle rules carried out');
    return report;
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      this.#running = this.runOnce().catch((err: unknown) => this.#log.error({ err: (err as Error).message }, 'S3 lifecycle job failed'));
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    await this.#lease?.release().catch(() => undefined);
  }

  /** Rows of a bucket under a rule's prefix, page by page in (key, newest first) order, with a condition of their own. */
  async *#rows(bucket: string, prefix: string, where: string): AsyncGenerator<Row> {
    const hi = upperBound(prefix);
    let after: { key: string; seq: number } | undefined;
    for (;;) {
      const rows = await this.#db.all<Row>(
        `SELECT object_key, version_id, version_seq, delete_marker, size, last_modified, noncurrent_since, tags, lock_mode, lock_until, legal_hold
           FROM s3_objects WHERE bucket_name = ? AND ${where} AND object_key >= ? ${hi !== undefined ? 'AND object_key < ?' : ''}
           ${after ? 'AND (object_key > ? OR (object_key = ? AND version_seq < ?))' : ''}
           ORDER BY object_key, version_seq DESC LIMIT ?`,
        [bucket, prefix, ...(hi !== undefined ? [hi] : []), ...(after ? [after.key, after.key, after.seq] : []), PAGE],
      );
      for (const r of rows) yield r;
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1]!;
      after = { key: last.object_key, seq: Number(last.version_seq) };
    }
  }

  async #expireCurrent(bucket: string, rule: LifecycleRule, now: number): Promise<number> {
    const e = rule.expiration!;
    let n = 0;
    for await (const r of this.#rows(bucket, rule.filter.prefix, 'is_latest = 1 AND delete_marker = 0')) {
      const due = e.days !== undefined ? dueAt(Number(r.last_modified), e.days, this.#dayMs) : e.date!;
      if (due > now || !ruleCovers(rule, r.object_key, Number(r.size), tagsOf(r))) continue;
      const done = await this.#step(async (tx) => {
        const v = await getLatestVersion(tx, bucket, r.object_key);
        // Another request may have replaced or deleted it since the scan.
        if (!v || v.kind !== 'object' || v.record.versionId !== r.version_id) return undefined;
        const state = await versioningOf(tx, bucket);
        if (state === null) return removeVersion(tx, v, now);
        return putDeleteMarker(tx, bucket, r.object_key, state === 'Enabled' ? newVersionId() : 'null', now);
      });
      if (done) n++;
    }
    return n;
  }

  async #removeLoneMarkers(bucket: string, rule: LifecycleRule, now: number): Promise<number> {
    const e = rule.expiration!;
    let n = 0;
    for await (const r of this.#rows(bucket, rule.filter.prefix, 'is_latest = 1 AND delete_marker = 1')) {
      if (!e.expiredObjectDeleteMarker && dueAt(Number(r.last_modified), e.days!, this.#dayMs) > now) continue;
      if (!ruleCovers(rule, r.object_key, 0, undefined)) continue;
      const done = await this.#step(async (tx) => {
        const others = await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM s3_objects WHERE bucket_name = ? AND object_key = ?', [bucket, r.object_key]);
        const v = await getVersion(tx, bucket, r.object_key, r.version_id);
        if (Number(others?.n) !== 1 || !v || v.kind !== 'marker' || !v.marker.isLatest) return undefined;
        return removeVersion(tx, v, now);
      });
      if (done) n++;
    }
    return n;
  }

  async #expireNoncurrent(bucket: string, rule: LifecycleRule, now: number): Promise<number> {
    const { noncurrentDays, newerNoncurrentVersions = 0 } = rule.noncurrentExpiration!;
    let n = 0;
    let key: string | undefined;
    let newer = 0;
    for await (const r of this.#rows(bucket, rule.filter.prefix, 'is_latest = 0')) {
      // Versions come newest first within a key: the first NewerNoncurrentVersions of them are kept.
      if (r.object_key !== key) {
        key = r.object_key;
        newer = 0;
      }
      const position = newer++;
      if (position < newerNoncurrentVersions) continue;
      if (r.noncurrent_since === null || dueAt(Number(r.noncurrent_since), noncurrentDays, this.#dayMs) > now) continue;
      const marker = Number(r.delete_marker) === 1;
      if (!ruleCovers(rule, r.object_key, marker ? 0 : Number(r.size), tagsOf(r))) continue;
      if (!marker && lockedNow(lockOf(r), now)) continue;
      const done = await this.#step(async (tx) => {
        const v = await getVersion(tx, bucket, r.object_key, r.version_id);
        if (!v || (v.kind === 'object' ? v.isLatest : v.marker.isLatest)) return undefined;
        return removeVersion(tx, v, now);
      });
      if (done) n++;
    }
    return n;
  }

  async #abortUploads(bucket: string, rule: LifecycleRule, now: number): Promise<number> {
    const days = rule.abortIncompleteMultipartUpload!.daysAfterInitiation;
    const hi = upperBound(rule.filter.prefix);
    const uploads = await this.#db.all<{ upload_id: string; initiated_at: number }>(
      `SELECT upload_id, initiated_at FROM s3_uploads WHERE bucket_name = ? AND object_key >= ? ${hi !== undefined ? 'AND object_key < ?' : ''}`,
      [bucket, rule.filter.prefix, ...(hi !== undefined ? [hi] : [])],
    );
    let n = 0;
    for (const u of uploads) {
      if (dueAt(Number(u.initiated_at), days, this.#dayMs) > now) continue;
      const done = await this.#step(async (tx) => {
        const parts = await tx.all<{ blob_key: string }>('SELECT blob_key FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
        const gone = await tx.run('DELETE FROM s3_uploads WHERE upload_id = ?', [u.upload_id]);
        if (gone.changes === 0) return undefined;
        await tx.run('DELETE FROM s3_parts WHERE upload_id = ?', [u.upload_id]);
        const names = parts.map((p) => p.blob_key);
        await addOrphans(tx, names, now);
        return names;
      });
      if (done) n++;
    }
    return n;
  }

  /** One action in its own transaction; its blobs let go of are removed after the commit. Undefined: nothing was done. */
  async #step(body: (tx: Queryable) => Promise<string[] | undefined>): Promise<boolean> {
    let orphans: string[] | undefined;
    try {
      orphans = await this.#db.transaction(body);
    } catch (err) {
      // A version Object Lock protects is left alone.
      if (err instanceof VersionLocked) return false;
      throw err;
    }
    if (orphans === undefined) return false;
    for (const blob of orphans) {
      try {
        await this.#blobs.delete(blob);
        await this.#db.run('DELETE FROM s3_orphan_blobs WHERE blob_key = ?', [blob]);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'an unreferenced object blob could not be removed yet');
      }
    }
    return true;
  }
}

function tagsOf(r: Row): Tag[] | undefined {
  return r.tags ? (JSON.parse(r.tags) as Tag[]) : undefined;
}

function lockOf(r: Row): { retention: { mode: 'GOVERNANCE' | 'COMPLIANCE'; until: number } | null; legalHold?: boolean } {
  return {
    retention: r.lock_mode && r.lock_until !== null ? { mode: r.lock_mode as 'GOVERNANCE' | 'COMPLIANCE', until: Number(r.lock_until) } : null,
    ...(Number(r.legal_hold) === 1 ? { legalHold: true } : {}),
  };
}
