// The library's web server: the kiosk page (public, borrowing by face) and the staff pages (HTTP Basic
// authentication). It serves HTTPS only. Images pass through in memory: a frame or an enrolment photo is read from
// the request, sent to Trent, and dropped; nothing here writes one to disk or to the log.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Conflict, LibraryDb, type Member } from './db.ts';
import { FaceProblem, THRESHOLD, TrentServices, type LibraryResources, type TrentConnection } from './trent.ts';
import { PACKAGE_ROOT } from '../../../src/cli/version.ts';

const PUBLIC = join(PACKAGE_ROOT, 'apps', 'library', 'public');
const MAX_BODY = 12 * 1024 * 1024; // a base64 photo of up to 8 MB, in JSON
const MAX_PHOTO = 8 * 1024 * 1024;
const MEMBER_NUMBER = /^[A-Za-z0-9-]{1,32}$/;
const BOOK_CODE = /^[A-Za-z0-9-]{1,32}$/;

export interface LibraryAppOptions {
  dataDir: string;
  /** Trent's endpoint and the library's own credentials (never the administrator's). */
  trent: TrentConnection;
  resources: LibraryResources;
  staffUser?: string;
  staffPassword: string;
  tls: { key: Buffer; cert: Buffer };
  host?: string;
  port?: number;
  logger?: Logger;
}

export interface LibraryApp {
  url: string;
  db: LibraryDb;
  services: TrentServices;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
  'permissions-policy': 'camera=(self), microphone=()',
};

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  // Only JSON bodies: a cross-site form cannot send one without a CORS preflight, which this server never grants.
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'Send JSON (Content-Type: application/json).');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, 'The request is too large.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'The request is too large.');
    chunks.push(chunk as Buffer);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'The request body is not a JSON object.');
}

function text(body: Record<string, unknown>, field: string, pattern?: RegExp, label = field): string {
  const v = body[field];
  if (typeof v !== 'string' || v.trim() === '') throw new HttpError(400, `${label} is required.`);
  const s = v.trim();
  if (s.length > 200) throw new HttpError(400, `${label} is too long.`);
  if (pattern && !pattern.test(s)) throw new HttpError(400, `${label} may contain only letters, digits and dashes (at most 32).`);
  return s;
}

/** A data: URL or bare base64 image from the page, checked to be a JPEG or PNG. */
function image(body: Record<string, unknown>, field: string): { bytes: Buffer; type: string } {
  const v = body[field];
  if (typeof v !== 'string' || v === '') throw new HttpError(400, 'A photo is required.');
  const b64 = v.replace(/^data:image\/[a-z]+;base64,/, '');
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length > MAX_PHOTO) throw new HttpError(413, 'The photo is larger than 8 MB.');
  if (bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))) return { bytes, type: 'image/jpeg' };
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return { bytes, type: 'image/png' };
  throw new HttpError(400, 'The photo must be a JPEG or PNG image.');
}

export async function startLibraryApp(opts: LibraryAppOptions): Promise<LibraryApp> {
  const log = opts.logger ?? pino({ level: process.env.LIBRARY_LOG_LEVEL ?? 'info' });
  const db = new LibraryDb(join(opts.dataDir, 'library.db'));
  const services = new TrentServices(opts.trent, opts.resources);
  const staffUser = digest(opts.staffUser ?? 'staff');
  const staffPassword = digest(opts.staffPassword);

  function isStaff(req: IncomingMessage): boolean {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    // Both compared, in constant time, as digests of equal length.
    const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), staffUser);
    const passwordOk = timingSafeEqual(digest(decoded.slice(colon + 1)), staffPassword);
    return userOk && passwordOk;
  }

  async function staticFile(res: ServerResponse, name: string): Promise<void> {
    const body = await readFile(join(PUBLIC, name));
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[extname(name)] ?? 'application/octet-stream', 'cache-control': 'no-cache', 'content-length': body.length });
    res.end(body);
  }

  async function borrow(body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const bookCode = text(body, 'bookCode', BOOK_CODE, 'The book code');
    const memberGiven = typeof body['memberNumber'] === 'string' && body['memberNumber'].trim() !== '';
    const mode = memberGiven ? ('member-number' as const) : ('face-search' as const);
    const memberNumberGiven = memberGiven ? text(body, 'memberNumber', MEMBER_NUMBER, 'The member number') : null;
    const frame = image(body, 'frame');
    const book = db.book(bookCode);
    const refuse = (reason: string, memberNumber: string | null, similarity: number | null) => {
      db.recordAttempt({ mode, memberNumber, bookCode, outcome: 'refused', reason, similarity });
      return { status: 200, body: { approved: false, reason, similarity } };
    };
    if (!book) return refuse(`There is no book with code ${bookCode}.`, memberNumberGiven, null);
    if (book.onLoanTo) return refuse(`"${book.title}" is already on loan.`, memberNumberGiven, null);

    let member: Member | undefined;
    let similarity: number;
    try {
      if (memberNumberGiven) {
        member = db.member(memberNumberGiven);
        if (!member) return refuse(`There is no member with number ${memberNumberGiven}.`, memberNumberGiven, null);
        similarity = await services.compare(frame.bytes, member.photoKey);
        if (similarity < THRESHOLD) return refuse(`The face does not match member ${member.number}'s photo, so the loan is refused.`, member.number, similarity);
      } else {
        const found = await services.search(frame.bytes);
        member = found && db.member(found.memberNumber);
        if (!found || !member) return refuse('No enrolled member matches this face, so the loan is refused.', null, null);
        similarity = found.similarity;
      }
    } catch (e) {
      if (e instanceof FaceProblem) return refuse(e.message, memberNumberGiven, null);
      throw e;
    }
    const memberNumber = member.number;
    try {
      const loan = db.lend(book.code, memberNumber, similarity, mode);
      db.recordAttempt({ mode, memberNumber, bookCode, outcome: 'approved', reason: 'Face matched.', similarity });
      return { status: 200, body: { approved: true, similarity, member: { number: member.number, name: member.name }, book: { code: book.code, title: book.title }, dueAt: loan.dueAt } };
    } catch (e) {
      if (e instanceof Conflict) return refuse(e.message, memberNumber, similarity);
      throw e;
    }
  }

  async function staffApi(req: IncomingMessage, path: string): Promise<{ status: number; body: unknown }> {
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/api/staff/members') return { status: 200, body: db.members().map(({ number, name, enrolledAt }) => ({ number, name, enrolledAt, openLoans: db.openLoans(number) })) };
    if (method === 'POST' && path === '/api/staff/members') {
      const body = await readJson(req);
      const number = text(body, 'number', MEMBER_NUMBER, 'The member number');
      const name = text(body, 'name', undefined, 'The name');
      const photo = image(body, 'photo');
      if (db.member(number)) throw new HttpError(409, `Member ${number} is already enrolled.`);
      let enrolled: { photoKey: string; faceId: string };
      try {
        enrolled = await services.enrol(number, photo.bytes, photo.type);
      } catch (e) {
        if (e instanceof FaceProblem) throw new HttpError(400, e.message);
        throw e;
      }
      try {
        db.addMember({ number, name, photoKey: enrolled.photoKey, faceId: enrolled.faceId, enrolledAt: new Date().toISOString() });
      } catch (e) {
        await services.forget(enrolled.photoKey, enrolled.faceId);
        if (e instanceof Conflict) throw new HttpError(409, e.message);
        throw e;
      }
      return { status: 201, body: { number, name } };
    }
    const memberMatch = /^\/api\/staff\/members\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && memberMatch) {
      const number = decodeURIComponent(memberMatch[1]!);
      const member = db.member(number);
      if (!member) throw new HttpError(404, `There is no member with number ${number}.`);
      if (db.openLoans(number) > 0) throw new HttpError(409, `Member ${number} still has books on loan; return them first.`);
      await services.forget(member.photoKey, member.faceId);
      db.removeMember(number);
      return { status: 200, body: { removed: number } };
    }
    if (method === 'GET' && path === '/api/staff/books') return { status: 200, body: db.books() };
    if (method === 'POST' && path === '/api/staff/books') {
      const body = await readJson(req);
      const book = { code: text(body, 'code', BOOK_CODE, 'The book code'), title: text(body, 'title', undefined, 'The title'), author: text(body, 'author', undefined, 'The author') };
      try {
        db.addBook(book);
      } catch (e) {
        if (e instanceof Conflict) throw new HttpError(409, e.message);
        throw e;
      }
      return { status: 201, body: book };
    }
    if (method === 'GET' && path === '/api/staff/loans') return { status: 200, body: { loans: db.loans(), attempts: db.attempts() } };
    const returnMatch = /^\/api\/staff\/loans\/(\d+)\/return$/.exec(path);
    if (method === 'POST' && returnMatch) {
      await readJson(req);
      if (!db.returnBook(Number(returnMatch[1]))) throw new HttpError(404, 'There is no open loan with that number.');
      return { status: 200, body: { returned: Number(returnMatch[1]) } };
    }
    if (method === 'GET' && path === '/api/staff/key-usage') {
      const url = new URL(req.url ?? '/', 'https://library');
      const hours = Math.min(Math.max(Number(url.searchParams.get('hours') ?? 24) || 24, 1), 24 * 7);
      const since = new Date(Date.now() - hours * 3600 * 1000);
      return { status: 200, body: { keyArn: services.resources.keyArn, since: since.toISOString(), hours, events: await services.keyEvents(since) } };
    }
    throw new HttpError(404, 'Not found.');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://library').pathname;
    const method = req.method ?? 'GET';
    if (path.startsWith('/staff') || path.startsWith('/api/staff/')) {
      if (!isStaff(req)) {
        res.writeHead(401, { ...SECURITY_HEADERS, 'www-authenticate': 'Basic realm="Library staff", charset="UTF-8"', 'content-type': 'text/plain' });
        res.end('Staff only.\n');
        return;
      }
    }
    if (method === 'GET' && (path === '/' || path === '/kiosk')) return staticFile(res, 'kiosk.html');
    if (method === 'GET' && (path === '/staff' || path === '/staff/')) return staticFile(res, 'staff.html');
    if (method === 'GET' && /^\/assets\/[a-z-]+\.(js|css|svg)$/.test(path)) return staticFile(res, path.slice('/assets/'.length));
    if (method === 'GET' && path === '/api/kiosk/books') {
      return send(res, 200, db.books().map((b) => ({ code: b.code, title: b.title, author: b.author, available: b.onLoanTo === null })));
    }
    if (method === 'POST' && path === '/api/kiosk/borrow') {
      const out = await borrow(await readJson(req));
      return send(res, out.status, out.body);
    }
    if (path.startsWith('/api/staff/')) {
      const out = await staffApi(req, path);
      return send(res, out.status, out.body);
    }
    throw new HttpError(404, 'Not found.');
  }

  const server: Server = createServer({ key: opts.tls.key, cert: opts.tls.cert }, (req, res) => {
    const started = performance.now();
    handle(req, res)
      .catch((e: unknown) => {
        if (e instanceof HttpError) return send(res, e.status, { error: e.message });
        // Trent's own refusals (AccessDenied, a disabled key) and anything unexpected: logged by name only, never with a body.
        log.error({ err: { name: (e as Error).name, message: (e as Error).message } }, 'request failed');
        const name = (e as { name?: string }).name ?? 'Error';
        send(res, 502, { error: `Trent refused the request (${name}).` });
      })
      .finally(() => log.info({ method: req.method, path: new URL(req.url ?? '/', 'https://library').pathname, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'request'));
  });
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8443, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '127.0.0.1' && opts.host !== '0.0.0.0' ? opts.host : 'localhost';
  return {
    url: `https://${host}:${port}`,
    db,
    services,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      db.close();
    },
  };
}
