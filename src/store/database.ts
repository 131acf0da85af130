/**
 * The metadata database seen by services. SQL is written in the subset SQLite and PostgreSQL share,
 * with `?` placeholders; a backend translates what it must. Services never import a driver.
 */
export type SqlValue = string | number | bigint | Uint8Array | null;

export interface Queryable {
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

export interface Database extends Queryable {
  readonly dialect: 'sqlite' | 'postgres';
  /** Run `fn` in one serialisable transaction: all of its writes commit durably together, or none do. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Apply the migrations not yet applied, in one transaction; returns how many ran. */
  migrate(list: readonly Migration[]): Promise<number>;
  /** Make deletions final on disk (SQLite: checkpoint and truncate the WAL). */
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

export interface Migration {
  id: number;
  name: string;
  /** One SQL script for every dialect, or one per dialect where they differ. */
  sql: string | { sqlite: string; postgres: string };
}

/** Unique-constraint violations, told apart from other failures so that services can map them to AWS's AlreadyExists errors. */
export class UniqueViolation extends Error {
  constructor(cause: unknown) {
    super('unique constraint violated', { cause });
    this.name = 'UniqueViolation';
  }
}

/**
 * A text value the backend cannot store or compare (PostgreSQL text holds no NUL character). Raised before the
 * statement runs, so that the request carrying it is answered as a client error, not as a failure of the store.
 */
export class UnstorableText extends Error {
  constructor() {
    super('The request contains a NUL character, which this store cannot hold in text.');
    this.name = 'UnstorableText';
  }
}
