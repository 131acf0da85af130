// The library kiosk end to end, in Debian's Chromium driven by Playwright, with a fake camera fed from photos in
// ../shared/data/faces. `npm run library` is started as a user starts it (on free ports, in a temporary data
// directory); the browser enrols members (from a file and from the webcam), borrows as a member (approved), as a
// different person (refused) and by face alone (approved), removes a member, and saves a screenshot of each step
// to docs/library/. Then the audit trail is checked for the library key's KMS events with the object ARN in their
// encryption context, and for a Rekognition event per kiosk attempt.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CloudTrailClient, LookupEventsCommand, type Event } from '@aws-sdk/client-cloudtrail';
import { KMSClient, EncryptCommand } from '@aws-sdk/client-kms';
import { ListFacesCommand, RekognitionClient } from '@aws-sdk/client-rekognition';
import { HeadObjectCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { photoToY4m } from '../helpers/camera.ts';
import { REPO, removeDir, tempDir } from '../helpers/trent.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FACES = join(REPO, '..', 'shared', 'data', 'faces', 'photos');
const SHOTS = join(REPO, 'docs', 'library');
const ENROL_PHOTO = join(FACES, 'obama', 'obama.jpg');
const missing = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)` : !existsSync(FACES) ? 'no face photos in ../shared/data/faces' : '';
// Skipped on a developer's machine without Chromium; in CI (which installs it) a missing browser is a failure.
if (missing && process.env.CI) throw new Error(missing);
const skip = missing || false;

interface Library {
  child: ChildProcess;
  root: string;
  kiosk: string;
  staffPassword: string;
  trentEndpoint: string;
  keyArn: string;
  output: () => string;
}

let lib: Library;
let admin: Record<string, unknown>;
const browsers: Browser[] = [];

async function startLibrary(root: string): Promise<Library> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'apps/library/src/main.ts'), '--data-dir', root, '--port', '0', '--trent-port', '0'], {
    cwd: REPO,
    env: { ...process.env, LIBRARY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the library did not start:\n${out}`)), 120_000);
    child.stdout!.on('data', () => {
      if (/CA to trust/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the library exited with ${code}:\n${out}`));
    });
  });
  const field = (re: RegExp) => {
    const m = re.exec(out);
    assert.ok(m, `${re} not in the output:\n${out}`);
    return m[1]!;
  };
  return {
    child,
    root,
    kiosk: field(/kiosk\s+(https:\/\/\S+?)\/\s/),
    staffPassword: field(/password (\S+)\)/),
    trentEndpoint: field(/Trent\s+(https:\/\/\S+)/),
    keyArn: field(/library key\s+(arn:\S+)/),
    output: () => out,
  };
}

/** A browser whose camera shows `photo`, and a context that trusts the app's certificate and may use the camera. */
async function browserWithCamera(photo: string, name: string): Promise<{ context: BrowserContext; page: Page }> {
  const y4m = join(lib.root, `${name}.y4m`);
  await photoToY4m(photo, y4m);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${y4m}`,
    ],
  });
  browsers.push(browser);
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, // the app's certificate comes from its own local CA, which this fresh profile does not know
    httpCredentials: { username: 'staff', password: lib.staffPassword },
    viewport: { width: 1280, height: 900 },
  });
  await context.grantPermissions(['camera'], { origin: lib.kiosk });
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
  return { context, page };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

async function kioskBorrow(page: Page, bookCode: string, memberNumber?: string): Promise<{ outcome: string; text: string }> {
  await page.goto(`${lib.kiosk}/`);
  await page.waitForSelector('#camera-status[data-ready="true"]');
  await page.waitForSelector(`#book option[value="${bookCode}"]`, { state: 'attached' });
  if (memberNumber) {
    await page.check('input[name=mode][value=member-number]');
    await page.fill('#member-number', memberNumber);
  } else {
    await page.check('input[name=mode][value=face-search]');
  }
  await page.selectOption('#book', bookCode);
  await page.click('#borrow-button');
  const result = await page.waitForSelector('#result[data-outcome="approved"], #result[data-outcome="refused"]', { timeout: 60_000 });
  return { outcome: (await result.getAttribute('data-outcome'))!, text: (await result.textContent())! };
}

async function lookup(keyArn: string): Promise<Array<Event & { record: Record<string, any> }>> {
  const ct = new CloudTrailClient(admin);
  const events: Event[] = [];
  let NextToken: string | undefined;
  do {
    const out = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: keyArn }], NextToken }));
    events.push(...(out.Events ?? []));
    NextToken = out.NextToken;
  } while (NextToken);
  return events.map((e) => ({ ...e, record: JSON.parse(e.CloudTrailEvent!) as Record<string, any> }));
}

before(async () => {
  if (skip) return;
  await mkdir(SHOTS, { recursive: true });
  lib = await startLibrary(await tempDir('trent-library-'));
  const trentDir = join(lib.root, 'trent');
  const creds = await readFile(join(trentDir, 'credentials'), 'utf8');
  const f = (n: string) => new RegExp(`${n} = (\\S+)`).exec(creds)![1]!;
  admin = {
    region: f('region'),
    endpoint: lib.trentEndpoint,
    credentials: { accessKeyId: f('aws_access_key_id'), secretAccessKey: f('aws_secret_access_key') },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: await readFile(join(trentDir, 'tls', 'ca.pem')) }) }),
  };
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => undefined);
  if (lib) {
    lib.child.kill('SIGTERM');
    await new Promise((r) => (lib.child.exitCode !== null ? r(null) : lib.child.once('exit', r)));
    await removeDir(lib.root);
  }
});

test('members borrow books with their face, end to end in Chromium', { skip, timeout: 600_000 }, async () => {
  const startedAt = new Date(Date.now() - 1000);
  // --- staff enrol a member from a photo file -------------------------------------------------------------------
  const member = await browserWithCamera(join(FACES, 'obama', 'obama3.jpg'), 'member-camera');
  let page = member.page;
  await page.goto(`${lib.kiosk}/staff#members`);
  await page.fill('#enrol input[name=name]', 'Barack Obama');
  await page.fill('#enrol input[name=number]', '1001');
  await page.setInputFiles('#photo-file', ENROL_PHOTO);
  await page.waitForSelector('#photo-preview:not([hidden])');
  await page.click('#enrol button[type=submit]');
  await page.waitForSelector('#enrol-result:has-text("Enrolled Barack Obama as member 1001")', { timeout: 60_000 });
  await page.waitForSelector('#member-table td:has-text("1001")');
  await shot(page, '1-staff-enrols-a-member.png');

  // --- and add a book -------------------------------------------------------------------------------------------
  await page.goto(`${lib.kiosk}/staff#books`);
  await page.fill('#add-book input[name=code]', 'B-0100');
  await page.fill('#add-book input[name=title]', 'The Library Book');
  await page.fill('#add-book input[name=author]', 'Susan Orlean');
  await page.click('#add-book button[type=submit]');
  await page.waitForSelector('#book-table td:has-text("The Library Book")');

  // --- the member borrows at the kiosk, showing their face (another photo of them) --------------------------------
  const approved = await kioskBorrow(page, 'B-0100', '1001');
  assert.equal(approved.outcome, 'approved', approved.text);
  assert.match(approved.text, /Barack Obama, enjoy "The Library Book"/);
  await shot(page, '2-kiosk-loan-approved.png');

  // --- someone else tries to borrow as that member: refused ------------------------------------------------------
  const other = await browserWithCamera(join(FACES, 'biden', 'biden.jpg'), 'other-camera');
  const refused = await kioskBorrow(other.page, 'B-0001', '1001');
  assert.equal(refused.outcome, 'refused', refused.text);
  assert.match(refused.text, /does not match member 1001/);
  await shot(other.page, '3-kiosk-loan-refused.png');

  // --- that person is enrolled with the webcam, then borrows by face alone ----------------------------------------
  page = other.page;
  await page.goto(`${lib.kiosk}/staff#members`);
  await page.fill('#enrol input[name=name]', 'Joe Biden');
  await page.fill('#enrol input[name=number]', '1002');
  await page.click('#start-camera');
  await page.waitForSelector('#take-photo:not([hidden])');
  await page.waitForFunction(() => (document.getElementById('enrol-camera') as HTMLVideoElement).videoWidth > 0);
  await page.click('#take-photo');
  await page.waitForSelector('#photo-preview:not([hidden])');
  await page.click('#enrol button[type=submit]');
  await page.waitForSelector('#enrol-result:has-text("Enrolled Joe Biden as member 1002")', { timeout: 60_000 });
  const byFace = await kioskBorrow(page, 'B-0001');
  assert.equal(byFace.outcome, 'approved', byFace.text);
  assert.match(byFace.text, /Joe Biden, enjoy "Pride and Prejudice"/);
  await shot(page, '4-kiosk-face-only-approved.png');

  // --- staff see the loans and the attempts, and the key's usage ------------------------------------------------
  await page.goto(`${lib.kiosk}/staff#loans`);
  await page.waitForSelector('#loan-table td:has-text("The Library Book")');
  await page.waitForSelector('#attempt-table td.refused');
  await shot(page, '5-staff-loans.png');
  await page.goto(`${lib.kiosk}/staff#usage`);
  await page.waitForSelector('#usage-chart svg rect');
  await page.waitForSelector('#usage-table td:has-text("members/1001.jpg")');
  await shot(page, '6-staff-key-usage.png');

  // --- the audit trail: the library key's KMS events carry the object ARN ------------------------------------------
  const events = (await lookup(lib.keyArn)).filter((e) => e.EventTime! >= startedAt);
  const photoArn = 'arn:aws:s3:::library-members/members/1001.jpg';
  const forPhoto = (name: string) => events.filter((e) => e.EventName === name && e.record.requestParameters?.encryptionContext?.['aws:s3:arn'] === photoArn);
  const stored = forPhoto('GenerateDataKey');
  assert.equal(stored.length, 1, 'one GenerateDataKey when the photo was stored');
  assert.equal(stored[0]!.record.userIdentity.userName, 'library-app');
  assert.equal(stored[0]!.record.userIdentity.invokedBy, 's3.amazonaws.com');
  // IndexFaces read the photo once, and each of the two comparisons against it read it once more.
  assert.ok(forPhoto('Decrypt').length >= 3, `Decrypt events for the photo: ${forPhoto('Decrypt').length}`);
  for (const e of forPhoto('Decrypt')) assert.equal(e.record.userIdentity.userName, 'library-app');
  assert.ok(events.some((e) => e.record.requestParameters?.encryptionContext?.['aws:rekognition:collection-arn']), 'the collection data key is under the library key too');
  // Every kiosk attempt is a Rekognition call in the trail, made as the library's own user.
  const ct = new CloudTrailClient(admin);
  const compares = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CompareFaces' }], StartTime: startedAt }))).Events ?? [];
  assert.equal(compares.length, 2, 'one CompareFaces per attempt with a member number');
  for (const e of compares) assert.equal(e.Username, 'library-app');
  const searches = (await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'SearchFacesByImage' }], StartTime: startedAt }))).Events ?? [];
  assert.equal(searches.length, 1);

  // --- the app's credentials allow what it needs and nothing more -------------------------------------------------
  const config = JSON.parse(await readFile(join(lib.root, 'app', 'config.json'), 'utf8')) as { accessKeyId: string; secretAccessKey: string };
  const asApp = { ...admin, credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } };
  await assert.rejects(new KMSClient(asApp).send(new EncryptCommand({ KeyId: lib.keyArn, Plaintext: Buffer.from('x') })), { name: 'AccessDeniedException' });
  await assert.rejects(new S3Client({ ...asApp, forcePathStyle: true }).send(new ListBucketsCommand({})), { name: 'AccessDenied' });

  // --- removing a member deletes the photo and the face vector ----------------------------------------------------
  await page.goto(`${lib.kiosk}/staff#loans`);
  const returnButton = page.locator('#loan-table tr', { hasText: 'Pride and Prejudice' }).locator('button', { hasText: 'Return' });
  await returnButton.click();
  await page.waitForSelector('#loan-table tr:has-text("Pride and Prejudice") >> text=Return', { state: 'detached' });
  await page.goto(`${lib.kiosk}/staff#members`);
  await page.locator('#member-table tr', { hasText: '1002' }).locator('button', { hasText: 'Remove' }).click();
  await page.waitForSelector('#enrol-result:has-text("Removed member 1002")');
  await assert.rejects(new S3Client({ ...admin, forcePathStyle: true }).send(new HeadObjectCommand({ Bucket: 'library-members', Key: 'members/1002.jpg' })), { name: 'NotFound' });
  const faces = (await new RekognitionClient(admin).send(new ListFacesCommand({ CollectionId: 'library-members' }))).Faces ?? [];
  assert.deepEqual(faces.map((f) => f.ExternalImageId), ['1001']);

  // --- no photo is kept by the app: its directory holds its database, config and TLS files, and no image bytes -----
  const photo = await readFile(ENROL_PHOTO);
  const fragments = [64, 4096, photo.length >> 1].map((at) => photo.subarray(at, at + 64));
  const walk = async (dir: string): Promise<string[]> =>
    (await Promise.all((await readdir(dir)).map(async (n) => ((await stat(join(dir, n))).isDirectory() ? walk(join(dir, n)) : [join(dir, n)])))).flat();
  for (const file of await walk(join(lib.root, 'app'))) {
    const bytes = await readFile(file);
    for (const fragment of fragments) assert.equal(bytes.indexOf(fragment), -1, `a fragment of the enrolment photo is in ${file}`);
  }
  assert.doesNotMatch(lib.output(), /base64|\/9j\//, 'no image data in the app\'s output');
});

test('a member enrolled from an ID-style crop (eyebrows to chin, 100x100, greyscale) borrows with the webcam', { skip, timeout: 300_000 }, async () => {
  // The crop as ID systems and aligned-face pipelines store it: the face from the brows to the chin and from jaw to
  // jaw (this rectangle, as ratios of the photo, is where the face engine puts those landmarks), 100x100, grey.
  const { default: sharp } = await import('sharp');
  const source = join(FACES, 'alex_lacamoire', 'img1.jpg');
  const { width, height } = (await sharp(source).rotate().metadata()).autoOrient;
  const rect = { left: 0.32, top: 0.201, width: 0.353, height: 0.258 };
  const crop = join(lib.root, 'id-crop.png');
  await sharp(source)
    .rotate()
    .extract({ left: Math.round(rect.left * width), top: Math.round(rect.top * height), width: Math.round(rect.width * width), height: Math.round(rect.height * height) })
    .resize(100, 100, { fit: 'fill' })
    .greyscale()
    .toFile(crop);
  const { page } = await browserWithCamera(join(FACES, 'alex_lacamoire', 'alex_lacamoire1.jpg'), 'crop-member-camera');
  await page.goto(`${lib.kiosk}/staff#members`);
  await page.fill('#enrol input[name=name]', 'Alex Lacamoire');
  await page.fill('#enrol input[name=number]', '1003');
  await page.setInputFiles('#photo-file', crop);
  await page.waitForSelector('#photo-preview:not([hidden])');
  await page.click('#enrol button[type=submit]');
  await page.waitForSelector('#enrol-result:has-text("Enrolled Alex Lacamoire as member 1003")', { timeout: 60_000 });
  await shot(page, '7-staff-enrols-from-an-id-crop.png');
  // The camera frame (another photo of him, 640x480) is compared with the stored crop.
  const approved = await kioskBorrow(page, 'B-0002', '1003');
  assert.equal(approved.outcome, 'approved', approved.text);
  assert.match(approved.text, /Alex Lacamoire, enjoy "Moby-Dick"/);
  await shot(page, '8-kiosk-crop-member-approved.png');
});

/** A request to the library app over HTTPS, trusting its own CA. */
async function appRequest(path: string, init: { method?: string; body?: string; type?: string; auth?: string } = {}): Promise<{ status: number; body: any }> {
  const { request } = await import('node:https');
  const ca = await readFile(join(lib.root, 'app', 'tls', 'ca.pem'));
  return new Promise((resolve, reject) => {
    const req = request(
      `${lib.kiosk}${path}`,
      {
        method: init.method ?? 'GET',
        ca,
        headers: {
          ...(init.type ? { 'content-type': init.type } : {}),
          ...(init.auth ? { authorization: `Basic ${Buffer.from(init.auth).toString('base64')}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode!, body });
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

test('the library app refuses strangers on staff pages and bad input, with clear messages', { skip }, async () => {
  assert.equal((await appRequest('/staff')).status, 401);
  assert.equal((await appRequest('/api/staff/members', { auth: 'staff:wrong' })).status, 401);
  assert.equal((await appRequest('/api/staff/members', { auth: `staff:${lib.staffPassword}` })).status, 200);
  const staff = { auth: `staff:${lib.staffPassword}`, method: 'POST' };
  // A form post (what another site could make a browser send) is refused: JSON only.
  const form = await appRequest('/api/staff/books', { ...staff, type: 'application/x-www-form-urlencoded', body: 'code=X&title=Y&author=Z' });
  assert.equal(form.status, 415);
  const badNumber = await appRequest('/api/staff/members', { ...staff, type: 'application/json', body: JSON.stringify({ number: '../1', name: 'x', photo: 'AAAA' }) });
  assert.equal(badNumber.status, 400);
  assert.match(badNumber.body.error, /member number may contain only letters, digits and dashes/);
  const notImage = await appRequest('/api/staff/members', { ...staff, type: 'application/json', body: JSON.stringify({ number: '2001', name: 'x', photo: Buffer.from('not an image').toString('base64') }) });
  assert.equal(notImage.status, 400);
  assert.match(notImage.body.error, /JPEG or PNG/);
  // A photo with no face: nothing is enrolled and nothing is left in the bucket.
  const { default: sharp } = await import('sharp');
  const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 255, g: 255, b: 255 } } }).jpeg().toBuffer();
  const noFace = await appRequest('/api/staff/members', { ...staff, type: 'application/json', body: JSON.stringify({ number: '2002', name: 'Nobody', photo: blank.toString('base64') }) });
  assert.equal(noFace.status, 400, JSON.stringify(noFace.body));
  assert.match(noFace.body.error, /No face was found/);
  await assert.rejects(new S3Client({ ...admin, forcePathStyle: true }).send(new HeadObjectCommand({ Bucket: 'library-members', Key: 'members/2002.jpg' })), { name: 'NotFound' });
  const members = (await appRequest('/api/staff/members', { auth: `staff:${lib.staffPassword}` })).body as Array<{ number: string }>;
  assert.ok(!members.some((m) => m.number === '2002'));
  // The kiosk: malformed JSON, an unknown book, a frame with no face (refused, and recorded as an attempt).
  assert.equal((await appRequest('/api/kiosk/borrow', { method: 'POST', type: 'application/json', body: '{' })).status, 400);
  const unknownBook = await appRequest('/api/kiosk/borrow', { method: 'POST', type: 'application/json', body: JSON.stringify({ bookCode: 'NOPE', memberNumber: '1001', frame: blank.toString('base64') }) });
  assert.deepEqual([unknownBook.status, unknownBook.body.approved], [200, false]);
  assert.match(unknownBook.body.reason, /no book with code NOPE/);
  const faceless = await appRequest('/api/kiosk/borrow', { method: 'POST', type: 'application/json', body: JSON.stringify({ bookCode: 'B-0003', memberNumber: '1001', frame: blank.toString('base64') }) });
  assert.equal(faceless.body.approved, false);
  assert.match(faceless.body.reason, /No face was found/);
  const huge = await appRequest('/api/kiosk/borrow', { method: 'POST', type: 'application/json', body: 'x'.repeat(13 * 1024 * 1024) });
  assert.equal(huge.status, 413);
});
