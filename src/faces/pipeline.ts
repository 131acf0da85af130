// What a face worker does with one image, on either network backend (src/faces/nets.ts): decode, find the faces
// (the SSD detector; a padded retry; then, for an image that is itself a tight face crop, the landmark net on the
// whole image, accepted only when the result passes the detector's own check), 68 landmarks, pose, quality, mouth
// openness from the landmarks, and on request the 128-D descriptor of the face aligned as dlib aligns
// it, averaged with its mirror image's. docs/faces.md explains each step and the measurements behind it.
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { InvalidImageError, sniffImageFormat, type DetectedFace, type DetectResult, type FaceLandmark } from './engine.ts';
import { CHIP_SIZE, detectorInput, faceChip, landmarkInput, mirror, warp, type Point, type Rgb } from './image.ts';
import type { FaceNets } from './nets.ts';

/** Images larger than this on their longer side are scaled down for detection (ratios are unaffected). */
const MAX_DETECT_SIDE = 1280;
/** Detector score below which a candidate is not reported as a face (0..1). */
const MIN_DETECTOR_SCORE = 0.5;
/** Overlap above which the weaker of two candidates is dropped (face-api's value). */
const NMS_IOU = 0.5;
/** Grey border added on each side, as a fraction of the image's size, when a first pass finds no face. */
const RETRY_PADDING = 0.75;
/** A face found in the padded image is kept only if at least this share of its box lies in the image. */
const MIN_SHARE_INSIDE = 0.4;
/**
 * The crop check: a face read from the whole image by the landmark net is accepted when the detector, shown that
 * face framed as it frames faces in photographs, scores it at least this (docs/faces.md: the measurements).
 */
const CROP_MIN_SCORE = 0.3;
const GREY = 128;
/** Side of the grey square that sharpness is measured on. */
const SHARPNESS_SIDE = 112;
/** Laplacian variance at which sharpness reaches 1 - 1/e (about 63). */
const SHARPNESS_SCALE = 300;

sharp.cache(false);

interface Decoded {
  /** Size after EXIF rotation, before any scaling. */
  width: number;
  height: number;
  /** The pixels at the detection size. */
  img: Rgb;
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
  return { width, height, img: { data: new Uint8Array(data.buffer, data.byteOffset, data.length), w: info.width, h: info.height } };
}

interface Box { x: number; y: number; width: number; height: number }

interface Found {
  score: number;
  /** Box and points in the detection image's pixels. */
  box: Box;
  points: Point[];
  descriptor?: Float32Array;
}

function iou(a: Box, b: Box): number {
  const iw = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const ih = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = iw * ih;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

export interface Pipeline {
  readonly nets: FaceNets;
  detect(bytes: Uint8Array, descriptors: boolean, maxFaces: number): Promise<DetectResult>;
}

/**
 * Steps that can be turned off to measure what they add (bench/faces-calibrate.ts --ablate): `align` (without it,
 * face-api's own chip: the landmarks' bounding box with 20 % padding, squared and resized), `flip` (the mirror
 * image's descriptor averaged in) and `crops` (the landmark fallback for images that are face crops); and
 * `chipFill`, what the chip shows beyond the image's edge (black, as dlib's chips; 'edge' was measured and not kept).
 */
export interface PipelineOptions { align: boolean; flip: boolean; crops: boolean; chipFill: number | 'edge' }

export function createPipeline(nets: FaceNets, options: PipelineOptions = { align: true, flip: true, crops: true, chipFill: 0 }): Pipeline {
  /** Candidate boxes (image pixels) scoring at least `minScore`, after non-maximum suppression, best first. */
  async function locate(img: Rgb, minScore: number): Promise<Array<{ score: number; box: Box }>> {
    const { pixels, side } = detectorInput(img);
    const { boxes, scores } = await nets.detect(pixels);
    const candidates: Array<{ score: number; box: Box }> = [];
    for (let i = 0; i < scores.length; i++) {
      if (scores[i]! <= minScore) continue;
      const top = Math.max(0, boxes[i * 4]!) * side;
      const left = Math.max(0, boxes[i * 4 + 1]!) * side;
      const bottom = Math.min(1, boxes[i * 4 + 2]!) * side;
      const right = Math.min(1, boxes[i * 4 + 3]!) * side;
      if (right <= left || bottom <= top) continue;
      candidates.push({ score: scores[i]!, box: { x: left, y: top, width: right - left, height: bottom - top } });
    }
    candidates.sort((a, b) => b.score - a.score);
    const kept: typeof candidates = [];
    for (const c of candidates) {
      if (kept.length >= 100) break;
      if (kept.every((k) => iou(k.box, c.box) <= NMS_IOU)) kept.push(c);
    }
    return kept;
  }

  /** The 68 points of each box (image pixels). */
  async function landmarks(img: Rgb, boxes: Box[]): Promise<Point[][]> {
    if (boxes.length === 0) return [];
    const side = 112 * 112 * 3;
    const batch = new Float32Array(boxes.length * side);
    const maps = boxes.map((b, i) => landmarkInput(img, b, 112, batch.subarray(i * side, (i + 1) * side)).toImage);
    const out = await nets.landmarks(batch, boxes.length);
    return maps.map((toImage, i) => Array.from({ length: 68 }, (_, k) => toImage(out[i * 136 + 2 * k]!, out[i * 136 + 2 * k + 1]!)));
  }

  /** Descriptors of the faces: the aligned chip and its mirror image through the net, averaged. */
  async function describe(img: Rgb, faces: Point[][]): Promise<Float32Array[]> {
    const side = CHIP_SIZE * CHIP_SIZE * 3;
    const per = options.flip ? 2 : 1;
    const batch = new Float32Array(faces.length * per * side);
    faces.forEach((points, i) => {
      const slot = batch.subarray(per * i * side, (per * i + 1) * side);
      const chip = options.align ? faceChip(img, points, options.chipFill, slot) : unalignedChip(img, points, slot);
      if (options.flip) mirror(chip, CHIP_SIZE, CHIP_SIZE, batch.subarray((2 * i + 1) * side, (2 * i + 2) * side));
    });
    const out = await nets.describe(batch, faces.length * per);
    return faces.map((_, i) => {
      const d = new Float32Array(128);
      for (let k = 0; k < 128; k++) d[k] = options.flip ? (out[2 * i * 128 + k]! + out[(2 * i + 1) * 128 + k]!) / 2 : out[i * 128 + k]!;
      return d;
    });
  }

  /** face-api's chip: the landmarks' bounding box grown by 20 %, cut, squared with black and resized. */
  function unalignedChip(img: Rgb, points: Point[], out: Float32Array): Float32Array {
    const b = boxOfPoints(points, 0);
    return landmarkInput(img, { x: b.x - 0.1 * b.width, y: b.y - 0.1 * b.height, width: 1.2 * b.width, height: 1.2 * b.height }, CHIP_SIZE, out).pixels;
  }

  /** Faces found by the detector in img, or in img with a grey border (dx, dy on each side), inside the image. */
  async function detectorFaces(img: Rgb, dx: number, dy: number, w: number, h: number, maxFaces: number): Promise<Array<{ score: number; box: Box }>> {
    let found = await locate(img, MIN_DETECTOR_SCORE);
    found = found.filter((d) => {
      const b = d.box;
      const iw = Math.max(0, Math.min(b.x + b.width, dx + w) - Math.max(b.x, dx));
      const ih = Math.max(0, Math.min(b.y + b.height, dy + h) - Math.max(b.y, dy));
      return iw * ih >= MIN_SHARE_INSIDE * b.width * b.height;
    });
    found.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
    return found.slice(0, maxFaces).map((d) => ({ score: d.score, box: { ...d.box, x: d.box.x - dx, y: d.box.y - dy } }));
  }

  /**
   * An image that is itself a face crop (ID-photo style, eyebrows to chin, perhaps small or grey): the landmark net
   * reads the whole image as one face; the face is then framed as the detector sees faces in photographs (the
   * face's box a third of a grey square) and accepted only when the detector finds it there.
   */
  async function cropFace(img: Rgb): Promise<{ score: number; box: Box; points: Point[] } | undefined> {
    const whole: Box = { x: 0, y: 0, width: img.w, height: img.h };
    let [points] = await landmarks(img, [whole]);
    // Once more from the box the points give, as the detector would have boxed the face.
    [points] = await landmarks(img, [boxOfPoints(points!)]);
    const box = boxOfPoints(points!);
    // Frame it: the box's centre in the middle of a 3x larger grey square.
    const side = 3 * Math.max(box.width, box.height);
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const s = side / 512;
    const framed = warp(img, { a: s, b: 0, c: cx - side / 2, d: 0, e: s, f: cy - side / 2 }, 512, 512, GREY, Math.min(4, Math.ceil(s - 0.25)));
    const { boxes, scores } = await nets.detect(framed);
    let best = 0;
    const target: Box = { x: (box.x - (cx - side / 2)) / side, y: (box.y - (cy - side / 2)) / side, width: box.width / side, height: box.height / side };
    for (let i = 0; i < scores.length; i++) {
      if (scores[i]! <= best) continue;
      const b: Box = { x: boxes[i * 4 + 1]!, y: boxes[i * 4]!, width: boxes[i * 4 + 3]! - boxes[i * 4 + 1]!, height: boxes[i * 4 + 2]! - boxes[i * 4]! };
      if (iou(b, target) >= 0.3) best = scores[i]!;
    }
    if (best < CROP_MIN_SCORE) return undefined;
    return { score: best, box, points: points! };
  }

  return {
    nets,
    async detect(bytes, descriptors, maxFaces) {
      const { width, height, img } = await decode(bytes);
      const { w, h } = img;
      let found: Found[] = [];
      let dets = await detectorFaces(img, 0, 0, w, h, maxFaces);
      if (dets.length === 0) {
        // Tight, ID-style crops leave the detector no context: add a grey border and look once more.
        const px = Math.round(w * RETRY_PADDING);
        const py = Math.round(h * RETRY_PADDING);
        const padded: Rgb = { data: new Uint8Array(0), w: w + 2 * px, h: h + 2 * py };
        const pixels = warp(img, { a: 1, b: 0, c: -px, d: 0, e: 1, f: -py }, padded.w, padded.h, GREY);
        padded.data = Uint8Array.from(pixels);
        dets = await detectorFaces(padded, px, py, w, h, maxFaces);
      }
      if (dets.length > 0) {
        const points = await landmarks(img, dets.map((d) => d.box));
        found = dets.map((d, i) => ({ score: d.score, box: d.box, points: points[i]! }));
      } else if (options.crops) {
        const crop = await cropFace(img);
        if (crop) found = [crop];
      }
      if (descriptors && found.length > 0) {
        const ds = await describe(img, found.map((f) => f.points));
        found.forEach((f, i) => (f.descriptor = ds[i]));
      }
      const faces = found.map((f) => describeFace(f, img));
      faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
      return { width, height, faces };
    },
  };
}

/** The box a detector gives a face with these landmarks: jaw to jaw across, brows (raised a little) to chin. */
export function boxOfPoints(points: Point[], raise = 0.1): Box {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of points) {
    x0 = Math.min(x0, p.x);
    x1 = Math.max(x1, p.x);
    y0 = Math.min(y0, p.y);
    y1 = Math.max(y1, p.y);
  }
  const top = y0 - raise * (y1 - y0);
  return { x: x0, y: top, width: x1 - x0, height: y1 - top };
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));
const round = (v: number, digits = 6): number => Number(v.toFixed(digits));

function describeFace(f: Found, img: Rgb): DetectedFace {
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
    mouthOpen: mouthOpen(f.points),
  };
  if (f.descriptor) face.descriptor = f.descriptor;
  return face;
}

// ---- the mouth, from the landmarks' geometry ----
// Mouth openness is the inner lips' gap (points 61-67, 62-66, 63-65) over the mouth's width (48-54). A logistic
// curve turns it into the probability that the mouth is open, true above 50; its midpoint and width were chosen on
// 70 faces labelled by eye (docs/faces.md). Eye openness is not given: the landmark net's eyelid points barely move
// when eyes close (the eye aspect ratio of closed eyes in the labelled faces lies among that of open ones).
export const MOUTH_OPEN_MIDPOINT = 0.1;
export const MOUTH_OPEN_WIDTH = 0.03;

const dist = (a: Point, b: Point): number => Math.hypot(a.x - b.x, a.y - b.y);

/** The eye aspect ratio: the two vertical eyelid distances over the corner-to-corner width, both eyes averaged. */
export function eyeAspectRatio(p: Point[]): number {
  const eye = (o: number) => (dist(p[o + 1]!, p[o + 5]!) + dist(p[o + 2]!, p[o + 4]!)) / (2 * dist(p[o]!, p[o + 3]!));
  return (eye(36) + eye(42)) / 2;
}

export function mouthGapRatio(p: Point[]): number {
  return (dist(p[61]!, p[67]!) + dist(p[62]!, p[66]!) + dist(p[63]!, p[65]!)) / (3 * dist(p[48]!, p[54]!));
}

export function mouthOpen(p: Point[]): { value: boolean; confidence: number } {
  const q = 1 / (1 + Math.exp(-(mouthGapRatio(p) - MOUTH_OPEN_MIDPOINT) / MOUTH_OPEN_WIDTH));
  return { value: q >= 0.5, confidence: round(100 * Math.max(q, 1 - q), 3) };
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
function measureQuality(img: Rgb, x0: number, y0: number, x1: number, y1: number): { brightness: number; sharpness: number } {
  const { data: rgb, w } = img;
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
