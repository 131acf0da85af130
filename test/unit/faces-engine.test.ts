// The face engine (src/faces/engine.ts) on the labelled test photos in ../shared/data/faces: one engine with
// two worker threads serves every test. Similarity of the same and of different people, an identical image,
// images without a face, bytes that are not an image, tight crops (the padding retry) and eyebrow-to-chin
// ID-style crops (the landmark fallback), the mouth, group photos and maxFaces, EXIF rotation, pose and
// quality responding to the pixels, the two network backends agreeing, two workers at once, a worker crash,
// and how the image bytes travel to the worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createFaceEngine, FacePool, InvalidImageError, type DetectedFace, type DetectResult, type FaceEngine } from '../../src/faces/engine.ts';
import { distanceForSimilarity, MATCH_SIMILARITY, SIMILARITY_MIDPOINT, similarityFromDistance } from '../../src/faces/calibration.ts';

const DATA = fileURLToPath(new URL('../../../shared/data/faces/', import.meta.url));
const load = (path: string): Uint8Array => new Uint8Array(readFileSync(DATA + path));

const LANDMARK_TYPES = [
  'eyeLeft', 'eyeRight', 'mouthLeft', 'mouthRight', 'nose',
  'leftEyeBrowLeft', 'leftEyeBrowRight', 'leftEyeBrowUp', 'rightEyeBrowLeft', 'rightEyeBrowRight', 'rightEyeBrowUp',
  'leftEyeLeft', 'leftEyeRight', 'leftEyeUp', 'leftEyeDown', 'rightEyeLeft', 'rightEyeRight', 'rightEyeUp', 'rightEyeDown',
  'noseLeft', 'noseRight', 'mouthUp', 'mouthDown', 'leftPupil', 'rightPupil',
  'upperJawlineLeft', 'midJawlineLeft', 'chinBottom', 'midJawlineRight', 'upperJawlineRight',
];

let engine: FaceEngine;
let pool: FacePool;

before(async () => {
  engine = await createFaceEngine({ workers: 2 });
  assert.ok(engine instanceof FacePool, 'createFaceEngine returns the worker pool');
  pool = engine;
});

after(async () => {
  await engine?.close();
});

const inUnit = (v: number): boolean => Number.isFinite(v) && v >= 0 && v <= 1;

/** Every face of a result is well formed: ratios in 0..1, Rekognition's landmark names, scores in range. */
function checkResult(r: DetectResult, what: string): void {
  assert.ok(r.width > 0 && r.height > 0, `${what}: the image size is reported (${r.width}x${r.height})`);
  let previous = Infinity;
  for (const [i, f] of r.faces.entries()) {
    const where = `${what}, face ${i}`;
    const { left, top, width, height } = f.box;
    for (const [k, v] of Object.entries(f.box)) assert.ok(inUnit(v), `${where}: box.${k} = ${v} lies in 0..1`);
    assert.ok(left + width <= 1 + 1e-6 && top + height <= 1 + 1e-6, `${where}: the box ends inside the image`);
    assert.ok(width > 0 && height > 0, `${where}: the box has an area`);
    const area = width * height;
    assert.ok(area <= previous, `${where}: faces are sorted by box area, largest first`);
    previous = area;
    assert.ok(f.confidence >= 30 && f.confidence <= 100, `${where}: confidence ${f.confidence} lies in 30..100`);
    assert.ok(typeof f.mouthOpen.value === 'boolean' && f.mouthOpen.confidence >= 50 && f.mouthOpen.confidence <= 100, `${where}: mouthOpen ${JSON.stringify(f.mouthOpen)}`);
    assert.deepEqual(f.landmarks.map((l) => l.type), LANDMARK_TYPES, `${where}: the landmarks carry Rekognition's types, in order`);
    for (const l of f.landmarks) assert.ok(inUnit(l.x) && inUnit(l.y), `${where}: landmark ${l.type} (${l.x}, ${l.y}) lies in 0..1`);
    for (const [k, v] of Object.entries(f.pose)) assert.ok(Number.isFinite(v) && Math.abs(v) <= 180, `${where}: pose.${k} = ${v} is an angle in degrees`);
    for (const [k, v] of Object.entries(f.quality)) assert.ok(v >= 0 && v <= 100, `${where}: quality.${k} = ${v} lies in 0..100`);
  }
}

async function detect(image: Uint8Array, what: string, opts?: { descriptors?: boolean; maxFaces?: number }): Promise<DetectResult> {
  const r = await engine.detect(image, opts);
  checkResult(r, what);
  return r;
}

async function oneFace(image: Uint8Array, what: string, descriptors = false): Promise<DetectedFace> {
  const r = await detect(image, what, { descriptors });
  assert.equal(r.faces.length, 1, `${what}: one face found`);
  return r.faces[0]!;
}

const landmark = (f: DetectedFace, type: string): { x: number; y: number } => {
  const l = f.landmarks.find((x) => x.type === type);
  assert.ok(l, `landmark ${type} present`);
  return l;
};

test('the engine starts two workers, each with its models loaded and warmed', () => {
  assert.equal(engine.workers, 2, 'two workers were asked for');
  assert.equal(engine.backend, 'onnxruntime', `the networks run on onnxruntime-node (${pool.fellBack ?? ''})`);
  const s = pool.stats();
  assert.equal(s.live, 2, 'two workers are alive');
  assert.equal(s.ready, 2, 'both are ready before createFaceEngine resolves');
});

test('the same person scores at least 80, different people under 80', async () => {
  const names = ['photos/biden/biden.jpg', 'photos/biden/biden2.jpg', 'photos/alex_lacamoire/alex_lacamoire1.jpg', 'photos/alex_lacamoire/img1.jpg', 'photos/rose_leslie/img2.jpg'];
  const faces = await Promise.all(names.map((n) => oneFace(load(n), n, true)));
  const d = faces.map((f, i) => {
    assert.ok(f.descriptor instanceof Float32Array && f.descriptor.length === 128, `${names[i]}: a 128-D descriptor when asked for`);
    return f.descriptor;
  });
  const [biden1, biden2, alex1, alex2, rose] = d as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  for (const [a, b, what] of [[biden1, biden2, 'Biden'], [alex1, alex2, 'Lacamoire']] as const) {
    const s = engine.similarity(a, b);
    assert.ok(s >= MATCH_SIMILARITY, `two photos of ${what}: similarity ${s.toFixed(1)} >= 80 (distance ${engine.distance(a, b).toFixed(3)})`);
  }
  const people = [biden1, alex1, rose];
  for (let i = 0; i < people.length; i++) {
    for (let j = i + 1; j < people.length; j++) {
      const s = engine.similarity(people[i]!, people[j]!);
      assert.ok(s < MATCH_SIMILARITY, `different people ${i} and ${j}: similarity ${s.toFixed(1)} < 80`);
    }
  }
  assert.equal(engine.distance(biden1, biden1), 0, 'a descriptor is at distance 0 from itself');
  assert.ok(engine.similarity(biden1, biden1) >= 99.9, 'and at similarity 99.9 or more');
  // The same image twice: the same descriptor, so an identical image scores at least 99.9.
  const again = await oneFace(load(names[0]!), 'biden.jpg again', true);
  assert.ok(engine.similarity(biden1, again.descriptor!) >= 99.9, `an identical image scores ${engine.similarity(biden1, again.descriptor!)}`);
});

test('the distance -> similarity mapping is decreasing, 99.9 at distance 0, 80 where the calibration put it', () => {
  let last = 101;
  for (let d = 0; d <= 1.5; d += 0.05) {
    const s = similarityFromDistance(d);
    assert.ok(s < last && s >= 0 && s <= 100, `similarity ${s} at distance ${d.toFixed(2)} is in 0..100 and below the previous one`);
    last = s;
  }
  assert.ok(similarityFromDistance(0) >= 99.9, `an identical descriptor scores ${similarityFromDistance(0)}`);
  // bench/faces-calibrate.ts: every labelled set keeps its false-accept rate at or below 0.1 % below this distance (docs/faces.md).
  const d80 = distanceForSimilarity(MATCH_SIMILARITY);
  assert.ok(d80 > 0.4 && d80 < 0.5, `similarity 80 sits at distance ${d80}`);
  assert.ok(Math.abs(similarityFromDistance(SIMILARITY_MIDPOINT) - 50) < 1e-9, 'the midpoint maps to similarity 50');
  assert.ok(Math.abs(similarityFromDistance(distanceForSimilarity(80)) - 80) < 1e-9, 'distanceForSimilarity inverts similarityFromDistance');
  const a = new Float32Array([0, 0, 0]);
  assert.throws(() => engine.distance(a, new Float32Array(4)), RangeError, 'descriptors of different lengths are refused');
});

test('an image without a face (a white square) yields no faces', async () => {
  const r = await detect(load('scenes/test_images_white.png'), 'white square');
  assert.equal(r.faces.length, 0, 'no face in a white square');
});

test('bytes that are not a decodable JPEG or PNG are an InvalidImageError', async () => {
  const webp = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).webp().toBuffer();
  const jpegHeaderThenNoise = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, ...randomBytes(4000)]);
  const pngHeaderThenNoise = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...randomBytes(4000)]);
  const cases: Array<[string, Uint8Array]> = [
    ['random bytes', new Uint8Array(randomBytes(10_000))],
    ['an empty buffer', new Uint8Array(0)],
    ['a WebP image', new Uint8Array(webp)],
    ['a JPEG signature followed by noise', jpegHeaderThenNoise],
    ['a PNG signature followed by noise', pngHeaderThenNoise],
  ];
  for (const [what, bytes] of cases) {
    await assert.rejects(engine.detect(bytes), InvalidImageError, `${what} is refused as an invalid image`);
  }
  // The workers that refused the last two are still serving.
  await oneFace(load('photos/obama/obama_small.jpg'), 'a photo after the refusals');
});

test('a tight face crop yields a face: the padded retry', async () => {
  for (const name of ['crops/bernadette/bernadette2.png', 'crops/penny/penny2.png']) {
    const f = await oneFace(load(name), name);
    assert.ok(f.box.width > 0.6 && f.box.height > 0.6, `${name}: the face fills most of the crop (${f.box.width} x ${f.box.height})`);
    assert.ok(landmark(f, 'eyeLeft').x < landmark(f, 'eyeRight').x, `${name}: eyeLeft is the eye on the image's left`);
  }
});

/** An ID-style crop as aligned-face pipelines store them: the middle 76 % across, 28 % to 95 % down, 100x100. */
async function eyebrowToChin(bytes: Uint8Array): Promise<Uint8Array> {
  const { width, height } = (await sharp(bytes).metadata()).autoOrient;
  const top = Math.round(height * 0.28);
  const out = sharp(bytes).rotate().extract({ left: Math.round(width * 0.12), top, width: Math.round(width * 0.76), height: Math.round(height * 0.95) - top }).resize(100, 100, { fit: 'fill' });
  return new Uint8Array(await out.png().toBuffer());
}

test('eyebrow-to-chin crops, small and greyscale, are found: the same person matches, another does not', async () => {
  // ORL faces (../shared/data/faces/more/orl, Olivetti Research Laboratory), cut as aligned-face pipelines cut them.
  const names = ['more/orl/orl_s02/1.png', 'more/orl/orl_s02/2.png', 'more/orl/orl_s01/1.png'];
  const crops = await Promise.all(names.map((n) => eyebrowToChin(load(n))));
  const faces = await Promise.all(crops.map((c, i) => oneFace(c, `${names[i]} cut`, true)));
  for (const [i, f] of faces.entries()) assert.ok(f.box.width > 0.5 && f.box.height > 0.5, `${names[i]}: the face fills the crop (${JSON.stringify(f.box)})`);
  const same = engine.similarity(faces[0]!.descriptor!, faces[1]!.descriptor!);
  const other = engine.similarity(faces[0]!.descriptor!, faces[2]!.descriptor!);
  assert.ok(same >= MATCH_SIMILARITY, `two crops of one person: similarity ${same.toFixed(1)} >= 80`);
  assert.ok(other < MATCH_SIMILARITY, `crops of two people: similarity ${other.toFixed(1)} < 80`);
  // A colour photo's face cut from the brows to the chin (by its landmarks), 100x100 and grey, still matches another photo.
  const full = await oneFace(load('photos/obama/obama.jpg'), 'obama.jpg');
  const L = (t: string) => landmark(full, t);
  const meta = (await sharp(load('photos/obama/obama.jpg')).metadata()).autoOrient;
  const top = Math.round(Math.min(L('leftEyeBrowUp').y, L('rightEyeBrowUp').y) * meta.height);
  const left = Math.round(L('upperJawlineLeft').x * meta.width);
  const cut = await sharp(load('photos/obama/obama.jpg'))
    .rotate()
    .extract({ left, top, width: Math.round(L('upperJawlineRight').x * meta.width) - left, height: Math.round(L('chinBottom').y * meta.height) - top })
    .resize(100, 100, { fit: 'fill' })
    .greyscale()
    .png()
    .toBuffer();
  const idCrop = await oneFace(new Uint8Array(cut), 'greyscale ID crop of obama.jpg', true);
  const photo = await oneFace(load('photos/obama/obama3.jpg'), 'obama3.jpg', true);
  const s = engine.similarity(idCrop.descriptor!, photo.descriptor!);
  assert.ok(s >= MATCH_SIMILARITY, `the ID crop matches another photo: ${s.toFixed(1)}`);
});

test('the mouth: open on a surprised face, closed on a sad one', async () => {
  const [surprised, sad] = await Promise.all([oneFace(load('scenes/test_images_surprised.jpg'), 'surprised'), oneFace(load('scenes/examples_images_sad.jpg'), 'sad')]);
  assert.equal(surprised.mouthOpen.value, true, `the surprised face's mouth is open (${JSON.stringify(surprised.mouthOpen)})`);
  assert.equal(sad.mouthOpen.value, false, `the sad face's mouth is closed (${JSON.stringify(sad.mouthOpen)})`);
});

test('the tfjs-wasm fallback gives the same results as onnxruntime, within float rounding', { timeout: 120_000 }, async () => {
  const fallback = await createFaceEngine({ workers: 1, backend: 'tfjs-wasm' });
  try {
    assert.equal(fallback.backend, 'tfjs-wasm');
    for (const name of ['photos/obama/obama_small.jpg', 'scenes/examples_images_bbt1.jpg']) {
      const [a, b] = await Promise.all([engine.detect(load(name), { descriptors: true }), fallback.detect(load(name), { descriptors: true })]);
      assert.equal(a.faces.length, b.faces.length, `${name}: the same faces`);
      for (const [i, fa] of a.faces.entries()) {
        const fb = b.faces[i]!;
        assert.ok(Math.abs(fa.confidence - fb.confidence) < 0.01, `${name} face ${i}: confidence ${fa.confidence} and ${fb.confidence}`);
        for (const k of ['left', 'top', 'width', 'height'] as const) assert.ok(Math.abs(fa.box[k] - fb.box[k]) < 1e-4, `${name} face ${i}: box ${k}`);
        for (const [j, l] of fa.landmarks.entries()) assert.ok(Math.abs(l.x - fb.landmarks[j]!.x) < 1e-4 && Math.abs(l.y - fb.landmarks[j]!.y) < 1e-4, `${name} face ${i}: landmark ${l.type}`);
        const d = engine.distance(fa.descriptor!, fb.descriptor!);
        assert.ok(d < 1e-3, `${name} face ${i}: descriptors ${d} apart`);
      }
    }
  } finally {
    await fallback.close();
  }
});

test('a group photo yields several faces, largest first; maxFaces keeps the largest', async () => {
  const image = load('scenes/examples_images_bbt1.jpg');
  const [all, two] = await Promise.all([detect(image.slice(), 'group photo'), detect(image.slice(), 'group photo, maxFaces 2', { maxFaces: 2 })]);
  assert.ok(all.faces.length >= 3, `several faces found (${all.faces.length})`);
  assert.equal(two.faces.length, 2, 'maxFaces 2 returns two faces');
  for (let i = 0; i < 2; i++) {
    const a = all.faces[i]!.box;
    const b = two.faces[i]!.box;
    assert.ok(Math.abs(a.left - b.left) < 0.005 && Math.abs(a.top - b.top) < 0.005, `face ${i} of maxFaces 2 is face ${i} of the full result`);
  }
  for (const f of all.faces) assert.equal(f.descriptor, undefined, 'no descriptor unless asked for');
});

test('EXIF orientation is applied before detection', async () => {
  const upright = load('photos/obama/obama_small.jpg');
  // Store the pixels turned a quarter anticlockwise, with orientation 6 (display turned a quarter clockwise).
  const stored = await sharp(upright).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
  const [a, b] = await Promise.all([detect(upright.slice(), 'upright'), detect(new Uint8Array(stored), 'EXIF-rotated')]);
  assert.deepEqual([b.width, b.height], [a.width, a.height], 'the size is reported after rotation');
  assert.equal(b.faces.length, 1, 'the face is found in the EXIF-rotated image');
  const fa = a.faces[0]!.box;
  const fb = b.faces[0]!.box;
  assert.ok(Math.abs(fa.left - fb.left) < 0.03 && Math.abs(fa.top - fb.top) < 0.03, `the box matches the upright image's (${JSON.stringify(fa)} vs ${JSON.stringify(fb)})`);
});

test('pose follows the image: mirroring flips yaw, turning the image changes roll', async () => {
  const turned = load('photos/kit_harington/john2.jpeg');
  const frontal = load('photos/biden/biden2.jpg');
  const [mirrored, rotated] = await Promise.all([sharp(turned).flop().jpeg().toBuffer(), sharp(frontal).rotate(20, { background: '#808080' }).jpeg().toBuffer()]);
  const [f1, f2, f3, f4] = await Promise.all([
    oneFace(turned.slice(), 'turned face'),
    oneFace(new Uint8Array(mirrored), 'mirrored'),
    oneFace(frontal.slice(), 'frontal face'),
    oneFace(new Uint8Array(rotated), 'frontal face turned 20 degrees clockwise'),
  ]);
  assert.ok(Math.abs(f1.pose.yaw) > 15, `the turned face has a clear yaw (${f1.pose.yaw})`);
  assert.ok(Math.sign(f1.pose.yaw) !== Math.sign(f2.pose.yaw) && Math.abs(f1.pose.yaw + f2.pose.yaw) < 10, `mirroring flips yaw (${f1.pose.yaw} and ${f2.pose.yaw})`);
  assert.ok(Math.abs(f3.pose.yaw) < 15 && Math.abs(f3.pose.roll) < 10, `the frontal face is near frontal (${JSON.stringify(f3.pose)})`);
  const dRoll = f4.pose.roll - f3.pose.roll;
  assert.ok(Math.abs(dRoll - 20) < 5, `turning the image 20 degrees clockwise adds about 20 to roll (${dRoll.toFixed(1)})`);
  const eyes = (f: DetectedFace) => landmark(f, 'eyeRight').y - landmark(f, 'eyeLeft').y;
  assert.ok(eyes(f4) > eyes(f3), 'after a clockwise turn the right eye sits lower');
});

test('quality follows the pixels: blur lowers sharpness, darkening lowers brightness', async () => {
  const photo = load('photos/rose_leslie/img2.jpg');
  const [blurred, dark] = await Promise.all([sharp(photo).blur(4).jpeg().toBuffer(), sharp(photo).linear(0.4, 0).jpeg().toBuffer()]);
  const [f, fb, fd] = await Promise.all([oneFace(photo.slice(), 'photo'), oneFace(new Uint8Array(blurred), 'blurred'), oneFace(new Uint8Array(dark), 'darkened')]);
  assert.ok(f.quality.sharpness > 60, `the photo is sharp (${f.quality.sharpness})`);
  assert.ok(fb.quality.sharpness < f.quality.sharpness - 30, `blur lowers sharpness (${f.quality.sharpness} -> ${fb.quality.sharpness})`);
  assert.ok(fd.quality.brightness < f.quality.brightness * 0.6, `darkening lowers brightness (${f.quality.brightness} -> ${fd.quality.brightness})`);
});

test('two workers serve concurrent requests', async () => {
  const before = pool.stats().served.reduce((a, b) => a + b, 0);
  const served0 = pool.stats().served;
  const image = load('photos/obama/obama_small.jpg');
  const results = await Promise.all(Array.from({ length: 4 }, (_, i) => detect(image.slice(), `concurrent request ${i}`)));
  for (const [i, r] of results.entries()) assert.equal(r.faces.length, 1, `concurrent request ${i} found the face`);
  const s = pool.stats();
  assert.equal(s.served.reduce((a, b) => a + b, 0) - before, 4, 'four requests were served');
  for (const [i, n] of s.served.entries()) assert.ok(n > (served0[i] ?? 0), `worker ${i} served some of them`);
});

test('the image bytes are transferred, not copied, when the view spans its buffer', async () => {
  const bytes = load('photos/obama/obama_small.jpg');
  const length = bytes.length;
  await detect(bytes, 'transferred');
  assert.equal(bytes.length, 0, "the caller's view is detached: the buffer moved to the worker");
  const big = new Uint8Array(length + 32);
  big.set(load('photos/obama/obama_small.jpg'), 16);
  const part = big.subarray(16, 16 + length);
  const r = await detect(part, 'a view on part of a buffer');
  assert.equal(r.faces.length, 1, 'a view on part of a larger buffer is read');
  assert.equal(part.length, length, 'and left intact: it was copied');
});

test('a worker crash rejects its request and the worker is replaced', async () => {
  const pending = engine.detect(load('photos/obama/obama.jpg'), { descriptors: true });
  const outcome = pending.then(
    () => 'resolved',
    (e: unknown) => e,
  );
  await new Promise((r) => setImmediate(r));
  assert.ok(pool.simulateCrash(), 'a busy worker was ended');
  const e = await outcome;
  assert.ok(e instanceof Error && !(e instanceof InvalidImageError), `the in-flight request is rejected with an Error (${String(e)})`);
  assert.match((e as Error).message, /worker/, 'the error says the worker failed');
  const deadline = Date.now() + 60_000;
  while (pool.stats().ready < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(pool.stats().ready, 2, 'a new worker took its place');
  const results = await Promise.all([0, 1].map((i) => detect(load('photos/obama/obama_small.jpg'), `after the crash ${i}`)));
  for (const r of results) assert.equal(r.faces.length, 1, 'both workers serve after the crash');
});

test('a closed engine refuses requests', async () => {
  await engine.close();
  await assert.rejects(engine.detect(load('photos/obama/obama_small.jpg')), /closed/, 'detect after close is refused');
  await engine.close();
});
