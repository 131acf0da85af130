// A face worker thread: loads TensorFlow.js with its WASM backend (SIMD) and face-api's SSD MobileNet
// detector, 68-point landmark net and ResNet descriptor net from the package's model folder, warms them
// up, then answers the pool's detect requests one at a time. Images are decoded with sharp into memory
// only; nothing about them is written anywhere.
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { parentPort } from 'node:worker_threads';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import * as tfjs from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import {
  InvalidImageError,
  sniffImageFormat,
  type DetectedFace,
  type DetectRequest,
  type DetectResult,
  type FaceLandmark,
  type WorkerMessage,
} from './engine.ts';

/** Images larger than this on their longer side are scaled down for detection (ratios are unaffected). */
const MAX_DETECT_SIDE = 1280;
/** Detector score below which a candidate is not reported as a face (0..1). */
const MIN_DETECTOR_SCORE = 0.5;
/** Grey border added on each side, as a fraction of the image's size, when a first pass finds no face. */
const RETRY_PADDING = 0.75;
/** A face found in the padded image is kept only if at least this share of its box lies in the image. */
const MIN_SHARE_INSIDE = 0.4;
const GREY = 128;
/** Side of the grey square that sharpness is measured on. */
const SHARPNESS_SIDE = 112;
/** Laplacian variance at which sharpness reaches 1 - 1/e (about 63). */
const SHARPNESS_SCALE = 300;

const port = parentPort;
if (!port) throw new Error('src/faces/worker.ts runs only as a worker thread');

const require = createRequire(import.meta.url);
const MODEL_DIR = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
const WASM_DIR = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + sep;

sharp.cache(false);

type Tensor3D = faceapi.tf.Tensor3D;
type Point = { x: number; y: number };

async function init(): Promise<void> {
  // The .wasm files come from the installed package: nothing is fetched.
  setWasmPaths(WASM_DIR);
  if (!(await tfjs.setBackend('wasm')) || tfjs.getBackend() !== 'wasm') {
    throw new Error(`the TensorFlow.js WASM backend did not start (backend is ${tfjs.getBackend()}); refusing to run on a slower one`);
  }
  await tfjs.ready();
  if ((await tfjs.env().getAsync('WASM_HAS_SIMD_SUPPORT')) !== true) {
    throw new Error('WebAssembly SIMD is not available: the face models would run several times slower; refusing to start');
  }
  // Nothing may fall back to the pure-JavaScript backend (or any other) later.
  for (const name of ['cpu', 'webgl', 'webgpu', 'tensorflow']) {
    if (tfjs.findBackendFactory(name)) tfjs.removeBackend(name);
  }
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODEL_DIR);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(MODEL_DIR);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(MODEL_DIR);
  await warmUp();
  if (tfjs.getBackend() !== 'wasm') throw new Error(`the backend changed to ${tfjs.getBackend()} during warm-up`);
}

/** One pass through every model, and through decoding, so the first real request is not the slow one. */
async function warmUp(): Promise<void> {
  const png = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: GREY, g: GREY, b: GREY } } }).png().toBuffer();
  await detect(new Uint8Array(png), true, 1);
  const face = faceapi.tf.fill([150, 150, 3], GREY, 'int32') as Tensor3D;
  try {
    await faceapi.nets.faceLandmark68Net.detectLandmarks(face);
    await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(face);
  } finally {
    face.dispose();
  }
}

interface Decoded {
  /** Size after EXIF rotation, before any scaling. */
  width: number;
  height: number;
  /** RGB pixels, 3 bytes a pixel, at the detection size. */
  rgb: Uint8Array;
  w: number;
  h: number;
}

async function decode(bytes: Uint8Array): Promise<Decoded> {
  if (!sniffImageFormat(bytes)) throw new InvalidImageError();
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'error' }).metadata();
  } catch {
    throw new InvalidImageError();
  }
  if ((meta.format !== 'jpeg' && meta.format !== 'png') || !meta.width || !meta.height) throw new InvalidImageError();
  const { width, height } = meta.autoOrient;
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, { failOn: 'error' })
      .rotate()
      .resize({ width: MAX_DETECT_SIDE, height: MAX_DETECT_SIDE, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: { r: GREY, g: GREY, b: GREY } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch {
    throw new InvalidImageError();
  }
  const { data, info } = out;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new Error(`unexpected decoded layout: ${info.width}x${info.height}x${info.channels}`);
  }
  return { width, height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), w: info.width, h: info.height };
}

const ssdOptions = new faceapi.SsdMobilenetv1Options({ minConfidence: MIN_DETECTOR_SCORE, maxResults: 100 });

interface Found {
  score: number;
  /** Box and points in the detection image's pixels (unpadded). */
  box: { x: number; y: number; width: number; height: number };
  points: Point[];
  descriptor?: Float32Array;
}

/** Faces in `input`, largest first, at most maxFaces, with landmarks and optionally descriptors. */
async function findFaces(input: Tensor3D, descriptors: boolean, maxFaces: number, dx: number, dy: number, w: number, h: number): Promise<Found[]> {
  let detections = await faceapi.nets.ssdMobilenetv1.locateFaces(input, ssdOptions);
  // Keep the faces that lie (mostly) in the original image, then the largest maxFaces of them.
  detections = detections.filter((d) => {
    const b = d.box;
    const iw = Math.max(0, Math.min(b.x + b.width, dx + w) - Math.max(b.x, dx));
    const ih = Math.max(0, Math.min(b.y + b.height, dy + h) - Math.max(b.y, dy));
    return iw * ih >= MIN_SHARE_INSIDE * b.width * b.height;
  });
  detections.sort((a, b) => b.box.area - a.box.area);
  detections = detections.slice(0, maxFaces);
  if (detections.length === 0) return [];
  const withDetection = detections.map((d) => faceapi.extendWithFaceDetection({}, d));
  const task = new faceapi.DetectAllFaceLandmarksTask(Promise.resolve(withDetection), input, false);
  const results: Array<{ detection: faceapi.FaceDetection; landmarks: faceapi.FaceLandmarks68; descriptor?: Float32Array }> = descriptors
    ? await task.withFaceDescriptors()
    : await task;
  return results.map((r) => ({
    score: r.detection.score,
    box: { x: r.detection.box.x - dx, y: r.detection.box.y - dy, width: r.detection.box.width, height: r.detection.box.height },
    points: r.landmarks.positions.map((p) => ({ x: p.x - dx, y: p.y - dy })),
    descriptor: r.descriptor ? new Float32Array(r.descriptor) : undefined,
  }));
}

async function detect(bytes: Uint8Array, descriptors: boolean, maxFaces: number): Promise<DetectResult> {
  const img = await decode(bytes);
  const { w, h } = img;
  const input = faceapi.tf.tensor3d(img.rgb, [h, w, 3], 'int32') as Tensor3D;
  let found: Found[];
  try {
    found = await findFaces(input, descriptors, maxFaces, 0, 0, w, h);
    if (found.length === 0) {
      // Tight, ID-style crops leave the detector no context: add a grey border and look once more.
      const px = Math.round(w * RETRY_PADDING);
      const py = Math.round(h * RETRY_PADDING);
      const padded = faceapi.tf.pad(input, [[py, py], [px, px], [0, 0]], GREY) as Tensor3D;
      try {
        found = await findFaces(padded, descriptors, maxFaces, px, py, w, h);
      } finally {
        padded.dispose();
      }
    }
  } finally {
    input.dispose();
  }
  const faces = found.map((f) => describe(f, img));
  faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
  return { width: img.width, height: img.height, faces };
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));
const round = (v: number, digits = 6): number => Number(v.toFixed(digits));

function describe(f: Found, img: Decoded): DetectedFace {
  const { w, h } = img;
  const x0 = Math.min(w, Math.max(0, f.box.x));
  const y0 = Math.min(h, Math.max(0, f.box.y));
  const x1 = Math.min(w, Math.max(0, f.box.x + f.box.width));
  const y1 = Math.min(h, Math.max(0, f.box.y + f.box.height));
  const face: DetectedFace = {
    box: { left: round(x0 / w), top: round(y0 / h), width: round((x1 - x0) / w), height: round((y1 - y0) / h) },
    confidence: round(Math.min(100, f.score * 100), 4),
    landmarks: rekognitionLandmarks(f.points, w, h),
    pose: estimatePose(f.points),
    quality: measureQuality(img, x0, y0, x1, y1),
  };
  if (f.descriptor) face.descriptor = f.descriptor;
  return face;
}

// ---- landmarks: the 68 points (iBUG 300-W order, 0-based) under Rekognition's names ----
// Rekognition's "left" is the image's left (the subject's right), as in the 68-point scheme's numbering.
const LANDMARKS: ReadonlyArray<readonly [string, readonly number[]]> = [
  ['eyeLeft', [36, 37, 38, 39, 40, 41]],
  ['eyeRight', [42, 43, 44, 45, 46, 47]],
  ['mouthLeft', [48]],
  ['mouthRight', [54]],
  ['nose', [30]],
  ['leftEyeBrowLeft', [17]],
  ['leftEyeBrowRight', [21]],
  ['leftEyeBrowUp', [19]],
  ['rightEyeBrowLeft', [22]],
  ['rightEyeBrowRight', [26]],
  ['rightEyeBrowUp', [24]],
  ['leftEyeLeft', [36]],
  ['leftEyeRight', [39]],
  ['leftEyeUp', [37, 38]],
  ['leftEyeDown', [40, 41]],
  ['rightEyeLeft', [42]],
  ['rightEyeRight', [45]],
  ['rightEyeUp', [43, 44]],
  ['rightEyeDown', [46, 47]],
  ['noseLeft', [31]],
  ['noseRight', [35]],
  ['mouthUp', [51]],
  ['mouthDown', [57]],
  // The model has no pupils: the centre of the eye's six points stands in for them.
  ['leftPupil', [36, 37, 38, 39, 40, 41]],
  ['rightPupil', [42, 43, 44, 45, 46, 47]],
  ['upperJawlineLeft', [1]],
  ['midJawlineLeft', [4]],
  ['chinBottom', [8]],
  ['midJawlineRight', [12]],
  ['upperJawlineRight', [15]],
];

function mean(points: Point[], indices: readonly number[]): Point {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    const p = points[i];
    if (!p) throw new Error(`landmark ${i} missing`);
    x += p.x;
    y += p.y;
  }
  return { x: x / indices.length, y: y / indices.length };
}

function rekognitionLandmarks(points: Point[], w: number, h: number): FaceLandmark[] {
  return LANDMARKS.map(([type, indices]) => {
    const p = mean(points, indices);
    return { type, x: round(clamp01(p.x / w)), y: round(clamp01(p.y / h)) };
  });
}

// ---- pose: a generic 3-D face fitted to six landmarks under a scaled orthographic camera ----
// Model coordinates (x right in the image, y up, z towards the camera; arbitrary units): nose tip, chin,
// outer corners of the eyes, corners of the mouth. These are the usual generic-head approximations.
const POSE_POINTS: ReadonlyArray<readonly [number, readonly [number, number, number]]> = [
  [30, [0, 0, 0]],
  [8, [0, -330, -65]],
  [36, [-225, 170, -135]],
  [45, [225, 170, -135]],
  [48, [-150, -150, -125]],
  [54, [150, -150, -125]],
];

/** (XᵀX)⁻¹Xᵀ for the centred model points: 3 rows of 6. */
const POSE_PINV: number[][] = (() => {
  const n = POSE_POINTS.length;
  const c = [0, 0, 0];
  for (const [, p] of POSE_POINTS) for (let k = 0; k < 3; k++) c[k]! += p[k]! / n;
  const X = POSE_POINTS.map(([, p]) => [p[0] - c[0]!, p[1] - c[1]!, p[2] - c[2]!]);
  const A = [0, 1, 2].map((r) => [0, 1, 2].map((s) => X.reduce((sum, row) => sum + row[r]! * row[s]!, 0)));
  const inv = invert3(A);
  return [0, 1, 2].map((r) => X.map((row) => inv[r]![0]! * row[0]! + inv[r]![1]! * row[1]! + inv[r]![2]! * row[2]!));
})();

function invert3(m: number[][]): number[][] {
  const [a, b, c] = m[0]!;
  const [d, e, f] = m[1]!;
  const [g, h, i] = m[2]!;
  const A = e! * i! - f! * h!;
  const B = -(d! * i! - f! * g!);
  const C = d! * h! - e! * g!;
  const det = a! * A + b! * B + c! * C;
  if (Math.abs(det) < 1e-12) throw new Error('singular pose model');
  return [
    [A / det, -(b! * i! - c! * h!) / det, (b! * f! - c! * e!) / det],
    [B / det, (a! * i! - c! * g!) / det, -(a! * f! - c! * d!) / det],
    [C / det, -(a! * h! - b! * g!) / det, (a! * e! - b! * d!) / det],
  ];
}

const DEG = 180 / Math.PI;

function estimatePose(points: Point[]): { roll: number; yaw: number; pitch: number } {
  const n = POSE_POINTS.length;
  // Image coordinates with y pointing up, centred.
  const u = POSE_POINTS.map(([i]) => points[i]!.x);
  const v = POSE_POINTS.map(([i]) => -points[i]!.y);
  const mu = u.reduce((s, x) => s + x, 0) / n;
  const mv = v.reduce((s, x) => s + x, 0) / n;
  const r1 = POSE_PINV.map((row) => row.reduce((s, p, k) => s + p * (u[k]! - mu), 0));
  const r2 = POSE_PINV.map((row) => row.reduce((s, p, k) => s + p * (v[k]! - mv), 0));
  const norm = (a: number[]): number => Math.hypot(a[0]!, a[1]!, a[2]!);
  const n1 = norm(r1);
  if (n1 === 0) return { roll: 0, yaw: 0, pitch: 0 };
  const a = r1.map((x) => x / n1);
  const dot = r2[0]! * a[0]! + r2[1]! * a[1]! + r2[2]! * a[2]!;
  const b0 = r2.map((x, k) => x - dot * a[k]!);
  const n2 = norm(b0);
  if (n2 === 0) return { roll: 0, yaw: 0, pitch: 0 };
  const b = b0.map((x) => x / n2);
  const c = [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
  // R = [a; b; c] = Rz(γ)·Ry(β)·Rx(α), γ counter-clockwise in a y-up frame.
  const beta = Math.asin(Math.max(-1, Math.min(1, -c[0]!)));
  const alpha = Math.atan2(c[1]!, c[2]!);
  const gamma = Math.atan2(b[0]!, a[0]!);
  return { roll: round(-gamma * DEG, 2), yaw: round(beta * DEG, 2), pitch: round(-alpha * DEG, 2) };
}

// ---- quality: brightness and sharpness of the face region ----
function measureQuality(img: Decoded, x0: number, y0: number, x1: number, y1: number): { brightness: number; sharpness: number } {
  const { rgb, w } = img;
  const ix0 = Math.floor(x0);
  const iy0 = Math.floor(y0);
  const ix1 = Math.max(ix0 + 1, Math.ceil(x1));
  const iy1 = Math.max(iy0 + 1, Math.ceil(y1));
  const luma = (x: number, y: number): number => {
    const o = (y * w + x) * 3;
    return 0.299 * rgb[o]! + 0.587 * rgb[o + 1]! + 0.114 * rgb[o + 2]!;
  };
  let sum = 0;
  for (let y = iy0; y < iy1; y++) for (let x = ix0; x < ix1; x++) sum += luma(x, y);
  const brightness = (sum / ((ix1 - ix0) * (iy1 - iy0)) / 255) * 100;

  // The region resampled to a fixed square (area average when shrinking, bilinear when enlarging), so the
  // measure does not depend on the face's size in pixels; then the variance of its Laplacian.
  const S = SHARPNESS_SIDE;
  const g = new Float32Array(S * S);
  const sx = (ix1 - ix0) / S;
  const sy = (iy1 - iy0) / S;
  for (let ty = 0; ty < S; ty++) {
    for (let tx = 0; tx < S; tx++) {
      let value: number;
      if (sx >= 1 && sy >= 1) {
        const ax = ix0 + Math.floor(tx * sx);
        const bx = Math.max(ax + 1, ix0 + Math.floor((tx + 1) * sx));
        const ay = iy0 + Math.floor(ty * sy);
        const by = Math.max(ay + 1, iy0 + Math.floor((ty + 1) * sy));
        let s = 0;
        for (let y = ay; y < by; y++) for (let x = ax; x < bx; x++) s += luma(x, y);
        value = s / ((bx - ax) * (by - ay));
      } else {
        const fx = Math.min(ix1 - 1, Math.max(ix0, ix0 + (tx + 0.5) * sx - 0.5));
        const fy = Math.min(iy1 - 1, Math.max(iy0, iy0 + (ty + 0.5) * sy - 0.5));
        const x = Math.floor(fx);
        const y = Math.floor(fy);
        const x2 = Math.min(ix1 - 1, x + 1);
        const y2 = Math.min(iy1 - 1, y + 1);
        const wx = fx - x;
        const wy = fy - y;
        value = (1 - wy) * ((1 - wx) * luma(x, y) + wx * luma(x2, y)) + wy * ((1 - wx) * luma(x, y2) + wx * luma(x2, y2));
      }
      g[ty * S + tx] = value;
    }
  }
  let ls = 0;
  let ls2 = 0;
  for (let y = 1; y < S - 1; y++) {
    for (let x = 1; x < S - 1; x++) {
      const i = y * S + x;
      const l = 4 * g[i]! - g[i - 1]! - g[i + 1]! - g[i - S]! - g[i + S]!;
      ls += l;
      ls2 += l * l;
    }
  }
  const count = (S - 2) * (S - 2);
  const variance = Math.max(0, ls2 / count - (ls / count) ** 2);
  const sharpness = 100 * (1 - Math.exp(-variance / SHARPNESS_SCALE));
  return { brightness: round(brightness, 2), sharpness: round(sharpness, 2) };
}

// ---- the request loop ----
let chain: Promise<void> = Promise.resolve();

function send(m: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

async function serve(req: DetectRequest): Promise<void> {
  try {
    const result = await detect(new Uint8Array(req.image), req.descriptors, req.maxFaces);
    const transfer = result.faces.flatMap((f) => (f.descriptor ? [f.descriptor.buffer as ArrayBuffer] : []));
    send({ type: 'result', id: req.id, result }, transfer);
  } catch (e) {
    const invalidImage = e instanceof InvalidImageError;
    send({ type: 'failed', id: req.id, invalidImage, message: e instanceof Error ? e.message : String(e) });
  }
}

await init();
port.on('message', (req: DetectRequest) => {
  if (req?.type !== 'detect') return;
  chain = chain.then(() => serve(req));
});
send({ type: 'ready' });
