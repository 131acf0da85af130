import type { Migration } from './database.ts';

/**
 * Schema history. Append only: a released migration is never edited, a new one is added.
 * Services contribute their tables here in order.
 */
export const migrations: Migration[] = [
  {
    id: 1,
    name: 'platform: instance settings, IAM users and access keys',
    sql: `
      CREATE TABLE instance (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE iam_users (
        user_id    TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        user_name  TEXT NOT NULL,
        path       TEXT NOT NULL DEFAULT '/',
        arn        TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (account_id, user_name)
      );
      CREATE TABLE access_keys (
        access_key_id  TEXT PRIMARY KEY,
        user_id        TEXT NOT NULL REFERENCES iam_users(user_id),
        secret_wrapped BLOB NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
        created_at     TEXT NOT NULL
      );
      CREATE INDEX access_keys_by_user ON access_keys(user_id);
    `,
  },
];
