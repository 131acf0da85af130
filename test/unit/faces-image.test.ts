// The pixel and geometry work under the face networks (src/faces/image.ts), the SSD box decoding
// (src/faces/nets.ts), the ONNX models built from face-api's weights (src/faces/onnx.ts) and the landmark
// geometry behind MouthOpen (src/faces/pipeline.ts), without a worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHIP_PADDING, CHIP_SIZE, chipTransform, detectorInput, faceChip, mirror, similarityTransform, warp, type Point, type Rgb } from '../../src/faces/image.ts';
import { decodeDetections, MODEL_DIR } from '../../src/faces/nets.ts';
import { readWeights } from '../../src/faces/onnx.ts';
import { boxOfPoints, eyeAspectRatio, mouthGapRatio, mouthOpen } from '../../src/faces/pipeline.ts';

function image(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Rgb {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(f(x, y), (y * w + x) * 3);
  return { data, w, h };
}

test('similarityTransform recovers a rotation, scale and translation exactly', () => {
  const from: Point[] = [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 3, y: 7 }, { x: -4, y: 2 }];
  const angle = 0.3;
  const scale = 1.7;
  const [a, b, tx, ty] = [scale * Math.cos(angle), scale * Math.sin(angle), 5, -2];
  const to = from.map((p) => ({ x: a * p.x - b * p.y + tx, y: b * p.x + a * p.y + ty }));
  const t = similarityTransform(from, to);
  for (const [got, want] of [[t.a, a], [t.b, b], [t.tx, tx], [t.ty, ty]] as const) assert.ok(Math.abs(got - want) < 1e-9, `${got} = ${want}`);
});

test('the chip follows the face: turning, scaling and moving the landmarks turns, scales and moves the chip', () => {
  // Any 68 points, and the same points turned 25 degrees, doubled and moved.
  const angle = (25 * Math.PI) / 180;
  const place = (p: Point): Point => ({ x: 2 * (Math.cos(angle) * p.x - Math.sin(angle) * p.y) + 300, y: 2 * (Math.sin(angle) * p.x + Math.cos(angle) * p.y) + 120 });
  const points = Array.from({ length: 68 }, (_, i) => ({ x: 50 + (i % 9) * 10 + (i % 4), y: 40 + Math.floor(i / 9) * 11 }));
  const a = chipTransform(points);
  const b = chipTransform(points.map(place));
  assert.ok(Math.abs(b.scale - 2 * a.scale) < 1e-9, `twice the scale (${a.scale}, ${b.scale})`);
  for (const [x, y] of [[0, 0], [149, 0], [75, 75], [0, 149]] as const) {
    const viaA = place({ x: a.toImage.a * x + a.toImage.b * y + a.toImage.c, y: a.toImage.d * x + a.toImage.e * y + a.toImage.f });
    const viaB = { x: b.toImage.a * x + b.toImage.b * y + b.toImage.c, y: b.toImage.d * x + b.toImage.e * y + b.toImage.f };
    assert.ok(Math.hypot(viaA.x - viaB.x, viaA.y - viaB.y) < 1e-6, `chip pixel (${x}, ${y}) lands on the same face point`);
  }
  assert.equal(CHIP_SIZE, 150, "dlib's descriptor chips are 150 pixels");
  assert.equal(CHIP_PADDING, 0.25, 'with 25 % padding');
});

test('warp: the identity map reproduces the pixels; outside is the fill or the nearest edge', () => {
  const img = image(4, 3, (x, y) => [x * 10, y * 20, 7]);
  const same = warp(img, { a: 1, b: 0, c: 0, d: 0, e: 1, f: 0 }, 4, 3, 0);
  assert.deepEqual(Array.from(same), Array.from(img.data));
  const shifted = warp(img, { a: 1, b: 0, c: -1, d: 0, e: 1, f: 0 }, 4, 3, 99);
  assert.deepEqual(Array.from(shifted.subarray(0, 3)), [99, 99, 99], 'left of the image: the fill');
  const edged = warp(img, { a: 1, b: 0, c: -1, d: 0, e: 1, f: 0 }, 4, 3, 'edge');
  assert.deepEqual(Array.from(edged.subarray(0, 3)), [0, 0, 7], 'left of the image: the edge pixel');
  // Averaging 2x2 samples per pixel at half size is a box filter.
  const big = image(4, 4, (x) => [x % 2 === 0 ? 0 : 200, 0, 0]);
  const half = warp(big, { a: 2, b: 0, c: 0.5, d: 0, e: 2, f: 0.5 }, 2, 2, 0, 2);
  assert.ok(Math.abs(half[0]! - 100) < 1e-6, `a 2x2 area average (${half[0]})`);
});

test("the detector's input pads to a square at the bottom or right, then resizes to 512", () => {
  const img = image(64, 32, () => [255, 255, 255]);
  const { pixels, side } = detectorInput(img);
  assert.equal(side, 64);
  assert.equal(pixels.length, 512 * 512 * 3);
  assert.equal(pixels[(100 * 512 + 100) * 3], 255, 'the image in the top half');
  assert.equal(pixels[(400 * 512 + 100) * 3], 0, 'black padding below');
});

test('mirroring twice gives the image back; a face chip of a flat image is flat', () => {
  const px = Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => i);
  assert.deepEqual(Array.from(mirror(mirror(px, 5, 2), 5, 2)), Array.from(px));
  assert.deepEqual(Array.from(mirror(px, 5, 2).subarray(0, 3)), [12, 13, 14], 'the last pixel of the row comes first');
  const grey = image(300, 300, () => [90, 90, 90]);
  const points = Array.from({ length: 68 }, (_, i) => ({ x: 100 + (i % 9) * 12, y: 100 + Math.floor(i / 9) * 12 }));
  const chip = faceChip(grey, points);
  assert.ok(chip.every((v) => Math.abs(v - 90) < 1e-3), 'every chip pixel comes from inside the grey image');
});

test('SSD box decoding: zero encodings give the anchors back, a zero logit a score of 0.5', () => {
  const anchors = Float32Array.from([0.1, 0.2, 0.5, 0.6]);
  const { boxes, scores } = decodeDetections(new Float32Array(4), Float32Array.from([0, 0, 0]), anchors);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(boxes[i]! - anchors[i]!) < 1e-6, `coordinate ${i}`);
  assert.equal(scores[0], 0.5);
});

test("face-api's weights are read as the manifests describe them", () => {
  const w = readWeights(MODEL_DIR, 'face_recognition_model');
  const fc = w.get('fc');
  assert.deepEqual(fc?.shape, [256, 128], 'the descriptor layer');
  assert.equal(fc?.data.length, 256 * 128);
  assert.ok(fc!.data.every(Number.isFinite), 'finite values');
  const conv = w.get('conv32_down/conv/filters')!;
  assert.deepEqual(conv.shape, [7, 7, 3, 32]);
});

test('eye aspect and mouth gap ratios from landmark geometry; MouthOpen from the gap', () => {
  // A schematic face: eyes 30 wide, lids `open` apart; mouth 50 wide, inner lips `gap` apart.
  const face = (open: number, gap: number): Point[] => {
    const p: Point[] = Array.from({ length: 68 }, () => ({ x: 0, y: 0 }));
    for (const [o, cx] of [[36, 60], [42, 140]] as const) {
      p[o] = { x: cx - 15, y: 80 };
      p[o + 3] = { x: cx + 15, y: 80 };
      p[o + 1] = { x: cx - 5, y: 80 - open / 2 };
      p[o + 2] = { x: cx + 5, y: 80 - open / 2 };
      p[o + 4] = { x: cx + 5, y: 80 + open / 2 };
      p[o + 5] = { x: cx - 5, y: 80 + open / 2 };
    }
    p[48] = { x: 75, y: 160 };
    p[54] = { x: 125, y: 160 };
    for (const [up, down, x] of [[61, 67, 90], [62, 66, 100], [63, 65, 110]] as const) {
      p[up] = { x, y: 160 - gap / 2 };
      p[down] = { x, y: 160 + gap / 2 };
    }
    return p;
  };
  assert.ok(Math.abs(eyeAspectRatio(face(9, 0)) - 0.3) < 1e-9, 'eye aspect ratio: lid distance over eye width');
  assert.ok(Math.abs(mouthGapRatio(face(9, 10)) - 0.2) < 1e-9, 'mouth gap over mouth width');
  const box = boxOfPoints(face(9, 10).slice(36, 68));
  assert.ok(box.width > 0 && box.height > 0);
});

test("the detector's fast resize samples exactly as the general warp does", () => {
  const img = image(37, 23, (x, y) => [(x * 7 + y * 3) % 256, (x * y) % 256, (255 - x * 5) & 255]);
  const fast = detectorInput(img, 64);
  const s = 37 / 64;
  const general = warp(img, { a: s, b: 0, c: 0, d: 0, e: s, f: 0 }, 64, 64, 0);
  let max = 0;
  for (let i = 0; i < general.length; i++) max = Math.max(max, Math.abs(fast.pixels[i]! - general[i]!));
  assert.ok(max < 1e-3, `the largest difference is ${max}`);
});
