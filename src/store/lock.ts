import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const Libsql = require('libsql') as new (path: string, opts?: Record<string, unknown>) => {
  pragma(sql: string): unknown;
  exec(sql: string): void;
  close(): void;
};

/** The file whose lock says a server runs on a data directory (serve.json, beside it, says which one). */
export const LOCK_FILE = 'serve.lock';

/**
 * One server per data directory. The lock is an exclusive SQLite lock (an fcntl lock held by the kernel) on a file
 * of its own, held for the server's life: a second server cannot take it, and it goes away with the process however
 * that process ends (SIGKILL and power loss included), so there is never a stale lock to clean up.
 */
export class DataDirLock {
  readonly #db: InstanceType<typeof Libsql>;

  private constructor(db: InstanceType<typeof Libsql>) {
    this.#db = db;
  }

  /** Take the lock, or return undefined at once if another process holds it. */
  static tryAcquire(dataDir: string): DataDirLock | undefined {
    const db = new Libsql(join(dataDir, LOCK_FILE));
    try {
      db.pragma('busy_timeout = 0');
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      return new DataDirLock(db);
    } catch (err) {
      db.close();
      if (/SQLITE_BUSY|database is locked/i.test(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`)) return undefined;
      throw err;
    }
  }

  release(): void {
    try {
      this.#db.exec('ROLLBACK');
    } finally {
      this.#db.close();
    }
  }
}
