// The console's static files as the server answers them (src/server/console-assets.ts): only files of the build,
// looked up by exact name (no way out of the folder, encoded or through a link), the page with its CSP and no
// caching, hashed assets cached for good, compressed twins for browsers that accept them, ETags.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { CONSOLE_CSP, CONSOLE_PATH, ConsoleAssets } from '../../src/server/console-assets.ts';

let root: string;
let dir: string;
let assets: ConsoleAssets;
const SCRIPT = 'console.log("console");\n'.repeat(20);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'console-assets-'));
  dir = join(root, 'console');
  await mkdir(join(dir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(join(dir, 'assets', 'main-ABCDEFGH.js'), SCRIPT);
  await writeFile(join(dir, 'assets', 'main-ABCDEFGH.js.br'), brotliCompressSync(SCRIPT));
  await writeFile(join(dir, 'assets', 'main-ABCDEFGH.js.gz'), gzipSync(SCRIPT));
  await writeFile(join(dir, 'assets', 'style-ABCDEFGH.css'), 'body{}');
  await writeFile(join(dir, 'notes.unknown'), 'not a served type');
  await writeFile(join(root, 'secret.txt'), 'outside the build');
  await symlink(join(root, 'secret.txt'), join(dir, 'assets', 'link.txt'));
  assets = new ConsoleAssets(dir);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const get = (path: string, headers: { acceptEncoding?: string; ifNoneMatch?: string } = {}) => assets.answer(`${CONSOLE_PATH}${path}`, headers);
const text = (r: ReturnType<typeof get>) => (r.body as Buffer).toString();

test('the page: at the folder, with or without the slash, and by name; with its CSP, not cached', () => {
  for (const p of ['', '/', '/index.html']) {
    const r = get(p);
    assert.equal(r.status, 200, p);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['content-security-policy'], CONSOLE_CSP);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(text(r), '<!doctype html><title>t</title>');
  }
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'", "require-trusted-types-for 'script'"]) {
    assert.ok(CONSOLE_CSP.includes(d), d);
  }
  assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(CONSOLE_CSP), 'nothing unsafe, no wildcard');
});

test('hashed assets are cached for good; their compressed twins go to browsers that accept them', () => {
  const plain = get('/assets/main-ABCDEFGH.js');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(text(plain), SCRIPT);
  assert.equal(plain.headers['content-security-policy'], undefined);
  const br = get('/assets/main-ABCDEFGH.js', { acceptEncoding: 'gzip, deflate, br' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers['content-length'], (br.body as Buffer).length);
  assert.equal(br.headers['vary'], 'accept-encoding');
  const gz = get('/assets/main-ABCDEFGH.js', { acceptEncoding: 'gzip;q=1, br;q=0' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(get('/assets/main-ABCDEFGH.js', { acceptEncoding: 'identity' }).headers['content-encoding'], undefined);
  assert.equal(get('/assets/style-ABCDEFGH.css').headers['content-type'], 'text/css; charset=utf-8');
  // An asset with no twin is sent as it is, whatever is accepted.
  assert.equal(get('/assets/style-ABCDEFGH.css', { acceptEncoding: 'br' }).headers['content-encoding'], undefined);
});

test('ETags: a matching If-None-Match is 304', () => {
  const r = get('/assets/main-ABCDEFGH.js');
  const etag = String(r.headers['etag']);
  assert.match(etag, /^"[\w-]{22}"$/);
  assert.equal(get('/assets/main-ABCDEFGH.js', { ifNoneMatch: etag }).status, 304);
  assert.equal(get('/assets/main-ABCDEFGH.js', { ifNoneMatch: `"other", ${etag}` }).status, 304);
  assert.equal(get('/assets/main-ABCDEFGH.js', { ifNoneMatch: '"other"' }).status, 200);
});

test('nothing outside the build: traversal, encoded or not, links, twins by name, unknown types', () => {
  for (const p of [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/assets/link.txt',
    '/assets/main-ABCDEFGH.js.br',
    '/notes.unknown',
    '/assets/',
    '/assets',
    '//index.html',
    '/index.html%00',
    '/nope',
  ]) {
    const r = get(p);
    assert.equal(r.status, 404, p);
    assert.ok(!text(r).includes('outside the build'), p);
  }
  assert.equal(get('/%E0%A4%A').status, 400, 'a malformed escape');
});

test('a folder with no build answers 404 saying so, and finds the build once it lands', async () => {
  const later = join(root, 'later');
  const a = new ConsoleAssets(later);
  const r = a.answer(`${CONSOLE_PATH}/`, {});
  assert.equal(r.status, 404);
  assert.match(text(r), /not built: run npm run build/);
  await mkdir(later);
  await writeFile(join(later, 'index.html'), 'now');
  assert.equal(a.answer(`${CONSOLE_PATH}/`, {}).status, 200);
});
