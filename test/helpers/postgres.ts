import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * PostgreSQL for tests: set TRENT_TEST_POSTGRES_URL to a server where the user may create databases
 * (for example postgres://postgres@127.0.0.1:5432/postgres); without it the PostgreSQL tests skip.
 */
export const POSTGRES_URL = process.env['TRENT_TEST_POSTGRES_URL'];

export const SKIP_POSTGRES = POSTGRES_URL ? false : 'TRENT_TEST_POSTGRES_URL is not set (postgres://user@host:port/db of a server where the user may create databases)';

export interface TestPostgres {
  /** The URL of the fresh database. */
  url: string;
  name: string;
  drop: () => Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A fresh database, trent_unit_<random>, dropped by `drop()`. It uses an ICU locale where the server has
 * one, so that tests see a locale whose text order differs from SQLite's bytewise order.
 */
export async function freshPostgres(prefix = 'trent_unit'): Promise<TestPostgres> {
  if (!POSTGRES_URL) throw new Error('TRENT_TEST_POSTGRES_URL is not set');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`);
    } catch {
      await admin.query(`CREATE DATABASE ${name}`);
    }
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(POSTGRES_URL, name),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
