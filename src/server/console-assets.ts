import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { WireResponse } from '../wire/protocol.ts';

/** Where the console is served: its page, and its assets below it. */
export const CONSOLE_PATH = '/_trent/console';

/**
 * The console's Content-Security-Policy: its own scripts and styles only, no inline code, no eval, and network
 * requests to Trent's own origin only, so that the page cannot send credentials anywhere else even if it wanted to.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  // One policy, 'default', made by the page: it lets the AWS SDK's DOMParser read XML answers, and no other markup.
  "trusted-types default",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** esbuild names bundled files name-HASH.ext (eight base32 characters): their content never changes under a name. */
const HASHED = /^assets\/[^/]+-[A-Z0-9]{8}\.[a-z]+(\.map)?$/;

interface Asset {
  body: Buffer;
  br?: Buffer;
  gzip?: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

/** The console as built (dist/console): its files, read once into memory. */
export class ConsoleAssets {
  readonly #dir: string;
  #files: Map<string, Asset> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  #load(): Map<string, Asset> {
    if (this.#files) return this.#files;
    const files = new Map<string, Asset>();
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        // Regular files only (never a link out of the folder); compressed twins are served in their file's place.
        else if (e.isFile() && !/\.(br|gz)$/.test(e.name) && TYPES[extname(e.name)]) {
          const body = readFileSync(p);
          const rel = relative(this.#dir, p).split(sep).join('/');
          files.set(rel, {
            body,
            ...(existsSync(`${p}.br`) ? { br: readFileSync(`${p}.br`) } : {}),
            ...(existsSync(`${p}.gz`) ? { gzip: readFileSync(`${p}.gz`) } : {}),
            type: TYPES[extname(e.name)]!,
            etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
            immutable: HASHED.test(rel),
          });
        }
      }
    };
    if (existsSync(join(this.#dir, 'index.html'))) walk(this.#dir);
    // Nothing built: looked for again on the next request (a build may land meanwhile).
    if (files.size) this.#files = files;
    return files;
  }

  /**
   * The answer to GET or HEAD of `rawPath` (under CONSOLE_PATH): a file of the build, looked up by its exact name in
   * the build's own listing, so no path can reach outside it; anything else is 404.
   */
  answer(rawPath: string, headers: { acceptEncoding?: string; ifNoneMatch?: string }): WireResponse {
    const files = this.#load();
    if (files.size === 0) return plain(404, 'The console is not built: run npm run build.');
    let rel: string;
    try {
      rel = decodeURIComponent(rawPath.slice(CONSOLE_PATH.length).replace(/^\//, ''));
    } catch {
      return plain(400, 'Bad path.');
    }
    const asset = files.get(rel === '' ? 'index.html' : rel);
    if (!asset) return plain(404, 'Not found.');
    const common: Record<string, string> = {
      'content-type': asset.type,
      etag: asset.etag,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      vary: 'accept-encoding',
      ...SECURITY_HEADERS,
      ...(asset.type.startsWith('text/html') ? { 'content-security-policy': CONSOLE_CSP } : {}),
    };
    if (headers.ifNoneMatch && headers.ifNoneMatch.split(',').some((t) => t.trim() === asset.etag)) return { status: 304, headers: common };
    const accepted = acceptedEncodings(headers.acceptEncoding);
    const [body, encoding] = asset.br && accepted.has('br') ? [asset.br, 'br'] : asset.gzip && accepted.has('gzip') ? [asset.gzip, 'gzip'] : [asset.body, undefined];
    return { status: 200, headers: { ...common, ...(encoding ? { 'content-encoding': encoding } : {}), 'content-length': body.length }, body };
  }
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The content codings an Accept-Encoding header accepts (those not given q=0). */
function acceptedEncodings(header: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const q = params.find((x) => x.startsWith('q='));
    if (name && !(q && Number(q.slice(2)) === 0)) out.add(name);
  }
  return out;
}

function plain(status: number, text: string): WireResponse {
  const body = Buffer.from(`${text}\n`);
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store', ...SECURITY_HEADERS }, body };
}

/** The package's root (the folder holding package.json), from this file in src/server or its build in dist/src/server. */
function packageRoot(): string {
  let d = import.meta.dirname;
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

/** The built console: dist/console in the package, or TRENT_CONSOLE_DIR. */
export const consoleAssets = new ConsoleAssets(process.env['TRENT_CONSOLE_DIR'] ?? join(packageRoot(), 'dist', 'console'));
