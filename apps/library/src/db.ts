// The library's own records: members, books, loans and kiosk attempts, in one SQLite file (libsql, as Trent
// uses). No photo or face data is kept here: a member row holds only the object key of the photo in the
// encrypted bucket and the FaceId that Trent returned.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface Statement {
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
}
interface Connection {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string): unknown;
  close(): void;
}
const Libsql = require('libsql') as new (path: string) => Connection;

export interface Member {
  number: string;
  name: string;
  photoKey: string;
  faceId: string;
  enrolledAt: string;
}

export interface Book {
  code: string;
  title: string;
  author: string;
  /** The open loan's member number, when the book is out. */
  onLoanTo: string | null;
}

export interface Loan {
  id: number;
  bookCode: string;
  title: string;
  memberNumber: string;
  memberName: string | null;
  borrowedAt: string;
  dueAt: string;
  returnedAt: string | null;
  similarity: number;
  mode: 'member-number' | 'face-search';
}

export interface Attempt {
  id: number;
  at: string;
  mode: 'member-number' | 'face-search';
  memberNumber: string | null;
  bookCode: string;
  outcome: 'approved' | 'refused';
  reason: string;
  similarity: number | null;
}

export class Conflict extends Error {}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS members (
  number TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  photo_key TEXT NOT NULL,
  face_id TEXT NOT NULL,
  enrolled_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS books (
  code TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  author TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS loans (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  book_code TEXT NOT NULL REFERENCES books(code),
  member_number TEXT NOT NULL,
  borrowed_at TEXT NOT NULL,
  due_at TEXT NOT NULL,
  returned_at TEXT,
  similarity REAL NOT NULL,
  mode TEXT NOT NULL
);
-- One open loan per book, enforced by the database so that two kiosks cannot lend the same copy.
CREATE UNIQUE INDEX IF NOT EXISTS loans_open_book ON loans(book_code) WHERE returned_at IS NULL;
CREATE TABLE IF NOT EXISTS attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  mode TEXT NOT NULL,
  member_number TEXT,
  book_code TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  similarity REAL
);
`;

const LOAN_DAYS = 21;

export class LibraryDb {
  private readonly db: Connection;

  constructor(path: string) {
    this.db = new Libsql(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  members(): Member[] {
    return (this.db.prepare('SELECT number, name, photo_key, face_id, enrolled_at FROM members ORDER BY number').all() as MemberRow[]).map(member);
  }

  member(number: string): Member | undefined {
    const row = this.db.prepare('SELECT number, name, photo_key, face_id, enrolled_at FROM members WHERE number = ?').get(number) as MemberRow | undefined;
    return row && member(row);
  }

  addMember(m: Member): void {
    try {
      this.db.prepare('INSERT INTO members (number, name, photo_key, face_id, enrolled_at) VALUES (?, ?, ?, ?, ?)').run(m.number, m.name, m.photoKey, m.faceId, m.enrolledAt);
    } catch (e) {
      throw unique(e, `Member ${m.number} is already enrolled.`);
    }
  }

  removeMember(number: string): void {
    this.db.prepare('DELETE FROM members WHERE number = ?').run(number);
  }

  openLoans(memberNumber: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM loans WHERE member_number = ? AND returned_at IS NULL').get(memberNumber) as { n: number }).n;
  }

  books(): Book[] {
    return this.#books('ORDER BY b.title');
  }

  book(code: string): Book | undefined {
    return this.#books('WHERE b.code = ?', code)[0];
  }

  #books(clause: string, ...params: unknown[]): Book[] {
    return (
      this.db
        .prepare(
          `SELECT b.code, b.title, b.author, l.member_number AS on_loan_to
           FROM books b LEFT JOIN loans l ON l.book_code = b.code AND l.returned_at IS NULL ${clause}`,
        )
        .all(...params) as { code: string; title: string; author: string; on_loan_to: string | null }[]
    ).map((r) => ({ code: r.code, title: r.title, author: r.author, onLoanTo: r.on_loan_to }));
  }

  addBook(b: { code: string; title: string; author: string }): void {
    try {
      this.db.prepare('INSERT INTO books (code, title, author) VALUES (?, ?, ?)').run(b.code, b.title, b.author);
    } catch (e) {
      throw unique(e, `A book with code ${b.code} already exists.`);
    }
  }

  /** Records a loan; throws Conflict when the book is already out (the unique index decides, not a read). */
  lend(bookCode: string, memberNumber: string, similarity: number, mode: Loan['mode'], now = new Date()): Loan {
    const due = new Date(now.getTime() + LOAN_DAYS * 24 * 3600 * 1000);
    let id: number;
    try {
      const r = this.db
        .prepare('INSERT INTO loans (book_code, member_number, borrowed_at, due_at, similarity, mode) VALUES (?, ?, ?, ?, ?, ?)')
        .run(bookCode, memberNumber, now.toISOString(), due.toISOString(), similarity, mode);
      id = Number(r.lastInsertRowid);
    } catch (e) {
      throw unique(e, 'This book is already on loan.');
    }
    return this.#loans('WHERE l.id = ?', id)[0]!;
  }

  returnBook(id: number, now = new Date()): boolean {
    return this.db.prepare('UPDATE loans SET returned_at = ? WHERE id = ? AND returned_at IS NULL').run(now.toISOString(), id).changes === 1;
  }

  loans(): Loan[] {
    return this.#loans('ORDER BY l.returned_at IS NOT NULL, l.id DESC');
  }

  #loans(clause: string, ...params: unknown[]): Loan[] {
    return (
      this.db
        .prepare(
          `SELECT l.id, l.book_code, b.title, l.member_number, m.name AS member_name, l.borrowed_at, l.due_at, l.returned_at, l.similarity, l.mode
           FROM loans l JOIN books b ON b.code = l.book_code LEFT JOIN members m ON m.number = l.member_number ${clause}`,
        )
        .all(...params) as LoanRow[]
    ).map((r) => ({
      id: r.id,
      bookCode: r.book_code,
      title: r.title,
      memberNumber: r.member_number,
      memberName: r.member_name,
      borrowedAt: r.borrowed_at,
      dueAt: r.due_at,
      returnedAt: r.returned_at,
      similarity: r.similarity,
      mode: r.mode,
    }));
  }

  recordAttempt(a: Omit<Attempt, 'id' | 'at'>, now = new Date()): void {
    this.db
      .prepare('INSERT INTO attempts (at, mode, member_number, book_code, outcome, reason, similarity) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(now.toISOString(), a.mode, a.memberNumber, a.bookCode, a.outcome, a.reason, a.similarity);
  }

  attempts(limit = 50): Attempt[] {
    return (
      this.db.prepare('SELECT id, at, mode, member_number, book_code, outcome, reason, similarity FROM attempts ORDER BY id DESC LIMIT ?').all(limit) as {
        id: number;
        at: string;
        mode: Attempt['mode'];
        member_number: string | null;
        book_code: string;
        outcome: Attempt['outcome'];
        reason: string;
        similarity: number | null;
      }[]
    ).map((r) => ({ id: r.id, at: r.at, mode: r.mode, memberNumber: r.member_number, bookCode: r.book_code, outcome: r.outcome, reason: r.reason, similarity: r.similarity }));
  }
}

interface MemberRow {
  number: string;
  name: string;
  photo_key: string;
  face_id: string;
  enrolled_at: string;
}
interface LoanRow {
  id: number;
  book_code: string;
  title: string;
  member_number: string;
  member_name: string | null;
  borrowed_at: string;
  due_at: string;
  returned_at: string | null;
  similarity: number;
  mode: Loan['mode'];
}

function member(r: MemberRow): Member {
  return { number: r.number, name: r.name, photoKey: r.photo_key, faceId: r.face_id, enrolledAt: r.enrolled_at };
}

function unique(e: unknown, message: string): unknown {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_CONSTRAINT') ? new Conflict(message) : e;
}
