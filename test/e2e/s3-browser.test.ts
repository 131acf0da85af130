// A web application using a Trent bucket straight from the browser, in Debian's Chromium driven by Playwright: a page
// served from another origin (a small HTTP server the test starts) (a) uploads a file through an HTML form carrying a
// presigned POST (createPresignedPost), the browser following success_action_redirect back to the page, and (b) PUTs
// an object with fetch to a presigned URL (a request the browser sends only after a CORS preflight) and GETs it back,
// reading the ETag the bucket's CORS rules expose. A second page, from an origin the rules do not name, is refused.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutBucketCorsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { chromium, type Browser } from 'playwright-core';
import { removeDir, startTrent, type RunningTrent } from '../helpers/trent.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)` : '';
// Skipped on a developer's machine without Chromium; in CI (which installs it) a missing browser is a failure.
if (missing && process.env.CI) throw new Error(missing);

const bucket = 'trent-browser';
let t: RunningTrent;
let s3: S3Client;
let app: Server;
let appOrigin: string;
let browser: Browser;
/** What the page server saw of the redirect S3 sent the browser to after the form upload. */
let redirected: URLSearchParams | undefined;
let uploadPage = '';

/** The application's page: a form for the upload, and a script for fetch, both aimed at Trent. */
function page(body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>uploads</title></head><body>${body}</body></html>`;
}

before(async () => {
  if (missing) return;
  t = await startTrent();
  s3 = new S3Client(t.clientConfig({ forcePathStyle: true }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  app = createServer((req, res) => {
    const url = new URL(req.url ?? '/', appOrigin);
    if (url.pathname === '/done') {
      redirected = url.searchParams;
      res.writeHead(200, { 'content-type': 'text/html' }).end(page('<p id="done">uploaded</p>'));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(uploadPage || page('<p>app</p>'));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  const port = (app.address() as { port: number }).port;
  appOrigin = `http://127.0.0.1:${port}`;
  await s3.send(
    new PutBucketCorsCommand({
      Bucket: bucket,
      CORSConfiguration: {
        CORSRules: [{ AllowedOrigins: [appOrigin], AllowedMethods: ['GET', 'PUT', 'POST'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 60 }],
      },
    }),
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((r) => (app ? app.close(() => r()) : r()));
  s3?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

function escapeAttr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

test('an HTML form with a presigned POST uploads from the browser; S3 redirects the browser back to the page', { skip: missing || false }, async () => {
  const { fields } = await createPresignedPost(s3, {
    Bucket: bucket,
    Key: 'forms/${filename}',
    Expires: 300,
    Conditions: [['content-length-range', 1, 1024 * 1024], ['starts-with', '$Content-Type', 'text/']],
    Fields: { success_action_redirect: `${appOrigin}/done`, 'Content-Type': 'text/plain', 'x-amz-server-side-encryption': 'AES256' },
  });
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeAttr(k)}" value="${escapeAttr(v)}">`)
    .join('');
  uploadPage = page(`<form id="f" action="${t.endpoint}/${bucket}" method="post" enctype="multipart/form-data">${inputs}<input type="file" name="file" id="file"><button id="go">Upload</button></form>`);
  const context = await browser.newContext({ ignoreHTTPSErrors: true }); // Trent's certificate comes from its own local CA
  const tab = await context.newPage();
  await tab.goto(`${appOrigin}/upload`);
  await tab.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('written in a browser\n') });
  await Promise.all([tab.waitForURL(`${appOrigin}/done?**`), tab.click('#go')]);
  assert.equal(await tab.textContent('#done'), 'uploaded');
  assert.ok(redirected, 'the browser was sent back to the page');
  assert.equal(redirected.get('bucket'), bucket);
  assert.equal(redirected.get('key'), 'forms/notes.txt');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'forms/notes.txt' }));
  assert.equal(redirected.get('etag'), head.ETag);
  assert.equal(head.ContentType, 'text/plain');
  assert.equal(head.ServerSideEncryption, 'AES256');
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'forms/notes.txt' }));
  assert.equal(await got.Body!.transformToString(), 'written in a browser\n');
  await context.close();
});

test('fetch PUTs to a presigned URL after a CORS preflight and GETs the object back with its exposed ETag; another origin is refused', { skip: missing || false }, async () => {
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: 'fetch/data.json', ContentType: 'application/json' }), { expiresIn: 300 });
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'fetch/seed.txt', Body: 'seed' }));
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'fetch/seed.txt' }), { expiresIn: 300 });
  uploadPage = page('<p>fetch</p>');
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const tab = await context.newPage();
  await tab.goto(`${appOrigin}/app`);
  const result = await tab.evaluate(
    async ({ putUrl, getUrl }) => {
      const put = await fetch(putUrl, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'fetch' }) });
      const get = await fetch(getUrl);
      return { putStatus: put.status, putEtag: put.headers.get('etag'), getStatus: get.status, getBody: await get.text(), getEtag: get.headers.get('etag') };
    },
    { putUrl, getUrl },
  );
  assert.equal(result.putStatus, 200);
  assert.match(result.putEtag ?? '', /^"[0-9a-f]{32}"$/, 'ETag is exposed to the page');
  assert.equal(result.getStatus, 200);
  assert.equal(result.getBody, 'seed');
  assert.ok(result.getEtag, 'the GET exposes the ETag too');
  // Chromium sends the preflight itself (the page cannot see it); the trail shows it was answered.
  const db = await t.openDb('trail');
  try {
    const rows = await db.all<{ record: string }>("SELECT record FROM trail_events WHERE event_name = 'PreflightRequest'");
    const ok = rows.map((r) => JSON.parse(r.record) as { errorCode?: string; requestParameters: { key?: string } }).filter((e) => !e.errorCode);
    assert.ok(ok.some((e) => e.requestParameters.key === 'fetch/data.json'), 'the PUT was preflighted and allowed');
  } finally {
    await db.close();
  }
  const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'fetch/data.json' }));
  assert.equal(await stored.Body!.transformToString(), '{"from":"fetch"}');
  assert.equal(stored.ContentType, 'application/json');

  // The same page from an origin the rules do not name: the browser refuses it the answers.
  const elsewhere = await context.newPage();
  await elsewhere.goto(`${appOrigin.replace('127.0.0.1', 'localhost')}/app`);
  const refused = await elsewhere.evaluate(async (url) => {
    try {
      await fetch(url);
      return 'read';
    } catch {
      return 'blocked';
    }
  }, getUrl);
  assert.equal(refused, 'blocked');
  await context.close();
});
