import type { Lease } from '../store/lease.ts';
import type { Logger } from 'pino';
import { DAY_MS, type KeyRecord, type KeyStore } from './keys.ts';

interface DueRow {
  key_id: string;
}

/**
 * Background work that must happen even if nobody calls: automatic rotation when a key's date has
 * passed, and destruction of keys whose deletion window has ended. It runs at start-up (catching up
 * on anything that fell due while Trent was down) and then on an interval.
 */
export class KmsJobs {
  readonly #keys: KeyStore;
  readonly #log: Logger;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  readonly #lease: Lease | undefined;
  readonly #destroyed: ((key: KeyRecord) => Promise<void>) | undefined;

  /**
   * With a lease, rotation and deletion run on one node of a cluster at a time; cache sweeping runs everywhere.
   * `destroyed` is told of each key deleted, after its records are gone (a key in a token: its object goes too).
   */
  constructor(keys: KeyStore, log: Logger, now: () => number = Date.now, lease?: Lease, destroyed?: (key: KeyRecord) => Promise<void>) {
    this.#keys = keys;
    this.#log = log;
    this.#now = now;
    this.#lease = lease;
    this.#destroyed = destroyed;
  }

  async runOnce(): Promise<{ rotated: string[]; deleted: string[] }> {
    const db = this.#keys.db;
    const now = this.#now();
    const rotated: string[] = [];
    const deleted: string[] = [];
    if (this.#lease && !(await this.#lease.acquire(now))) {
      this.#keys.sweepCache(now);
      return { rotated, deleted };
    }
    const due = await db.all<DueRow>("SELECT key_id FROM kms_keys WHERE rotation_enabled = 1 AND key_state = 'Enabled' AND next_rotation_at <= ?", [now]);
    // Each body reports what it did and the caller records it after the commit: on PostgreSQL a body can run
    // more than once (retried after a serialization failure), so it must not push or log by itself.
    for (const { key_id } of due) {
      const done = await db.transaction(async (tx) => {
        const key = await this.#keys.get(key_id, tx);
        // Re-checked inside the transaction: the key may have changed since the scan.
        if (!key || !key.rotationEnabled || key.keyState !== 'Enabled' || key.nextRotationAt === null || key.nextRotationAt > now) return undefined;
        const version = await this.#keys.rotate(tx, key, 'AUTOMATIC', now);
        await tx.run('UPDATE kms_keys SET next_rotation_at = ? WHERE key_id = ?', [now + (key.rotationPeriodDays ?? 365) * DAY_MS, key_id]);
        return { keyArn: key.arn, version };
      });
      if (done) {
        rotated.push(done.keyArn);
        this.#log.info(done, 'key rotated automatically');
      }
    }
    const expired = await db.all<DueRow>("SELECT key_id FROM kms_keys WHERE key_state = 'PendingDeletion' AND deletion_at <= ?", [now]);
    for (const { key_id } of expired) {
      const gone = await db.transaction(async (tx) => {
        const key = await this.#keys.get(key_id, tx);
        if (!key || key.keyState !== 'PendingDeletion' || key.deletionAt === null || key.deletionAt > now) return undefined;
        await this.#keys.destroy(tx, key_id);
        return key;
      });
      if (gone) {
        deleted.push(gone.arn);
        this.#log.info({ keyArn: gone.arn }, 'key deleted: its key material is destroyed');
        await this.#destroyed?.(gone).catch((err: unknown) => this.#log.warn({ keyArn: gone.arn, err }, 'the deleted key\'s material outside the database could not be destroyed'));
      }
    }
    // Imported material past its ValidTo (any of a key's materials, one pending rotation included) is deleted.
    for (const key_id of await this.#keys.keysWithExpiredMaterial(now)) {
      const keyArn = await db.transaction(async (tx) => {
        const key = await this.#keys.get(key_id, tx);
        if (!key || (await this.#keys.expireMaterials(tx, key_id, now)) === 0) return undefined;
        return key.arn;
      });
      if (keyArn) {
        deleted.push(keyArn);
        this.#log.info({ keyArn }, 'imported key material expired and was deleted');
      }
    }
    // Versions made before key material ids existed get theirs (a bounded batch per run).
    await this.#keys.fillMaterialIds(200).catch((err: unknown) => this.#log.warn({ err }, 'key material ids not filled yet'));
    // Import parameters (with their RSA wrapping keys) are good for a day.
    await db.run('DELETE FROM kms_import_parameters WHERE valid_until <= ?', [now]);
    // Overwritten pages leave the write-ahead log too, so destroyed material is gone from disk.
    if (deleted.length) await db.checkpoint();
    this.#keys.sweepCache(now);
    return { rotated, deleted };
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      this.#running = this.runOnce().catch((err) => this.#log.error({ err }, 'KMS background job failed'));
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    await this.#lease?.release().catch(() => undefined);
  }
}
