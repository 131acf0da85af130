// Pixel work for the face networks, on decoded 8-bit RGB images in memory: the detector's 512x512 input, the
// landmark net's 112x112 face crops, and the descriptor net's 150x150 face chips aligned from the landmarks as
// dlib aligns them. Outputs are float32 NHWC pixels in 0..255, ready for either backend (src/faces/nets.ts).

export interface Rgb {
  /** 3 bytes a pixel, row by row. */
  data: Uint8Array;
  w: number;
  h: number;
}

export interface Point { x: number; y: number }

/** A map from output pixel (x, y) to source position: sx = a*x + b*y + c, sy = d*x + e*y + f. */
export interface Affine { a: number; b: number; c: number; d: number; e: number; f: number }

/**
 * Samples `img` through `m` into a w x h float image (NHWC, 0..255), bilinearly; positions outside the image take
 * `fill`, or the nearest edge pixel when `fill` is 'edge'. With `samples` > 1 each output pixel averages samples x samples points spread over its footprint (an
 * area filter for strong reductions, where bilinear sampling alone would alias).
 */
export function warp(img: Rgb, m: Affine, w: number, h: number, fillWith: number | 'edge', samples = 1, out: Float32Array = new Float32Array(w * h * 3)): Float32Array {
  const { data, w: iw, h: ih } = img;
  const clamp = fillWith === 'edge';
  const fill = clamp ? 0 : fillWith;
  const k = Math.max(1, Math.floor(samples));
  const inv = 1 / (k * k);
  let o = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = 0; sy < k; sy++) {
        const oy = k === 1 ? 0 : (sy + 0.5) / k - 0.5;
        for (let sx = 0; sx < k; sx++) {
          const ox = k === 1 ? 0 : (sx + 0.5) / k - 0.5;
          let px = m.a * (x + ox) + m.b * (y + oy) + m.c;
          let py = m.d * (x + ox) + m.e * (y + oy) + m.f;
          let x0 = Math.floor(px);
          let y0 = Math.floor(py);
          if (clamp) {
            // Edge replication: positions outside take the nearest edge pixel.
            if (x0 < 0) { x0 = 0; px = 0; } else if (x0 > iw - 1) { x0 = iw - 1; px = iw - 1; }
            if (y0 < 0) { y0 = 0; py = 0; } else if (y0 > ih - 1) { y0 = ih - 1; py = ih - 1; }
          }
          const fx = px - x0;
          const fy = py - y0;
          const x1 = clamp ? Math.min(x0 + 1, iw - 1) : x0 + 1;
          const y1 = clamp ? Math.min(y0 + 1, ih - 1) : y0 + 1;
          // The four neighbours, each either a pixel or the fill.
          let r00 = fill, g00 = fill, b00 = fill, r10 = fill, g10 = fill, b10 = fill;
          let r01 = fill, g01 = fill, b01 = fill, r11 = fill, g11 = fill, b11 = fill;
          const inY0 = y0 >= 0 && y0 < ih;
          const inY1 = y1 >= 0 && y1 < ih;
          const inX0 = x0 >= 0 && x0 < iw;
          const inX1 = x1 >= 0 && x1 < iw;
          if (inY0 && inX0) { const i = (y0 * iw + x0) * 3; r00 = data[i]!; g00 = data[i + 1]!; b00 = data[i + 2]!; }
          if (inY0 && inX1) { const i = (y0 * iw + x1) * 3; r10 = data[i]!; g10 = data[i + 1]!; b10 = data[i + 2]!; }
          if (inY1 && inX0) { const i = (y1 * iw + x0) * 3; r01 = data[i]!; g01 = data[i + 1]!; b01 = data[i + 2]!; }
          if (inY1 && inX1) { const i = (y1 * iw + x1) * 3; r11 = data[i]!; g11 = data[i + 1]!; b11 = data[i + 2]!; }
          const w00 = (1 - fx) * (1 - fy);
          const w10 = fx * (1 - fy);
          const w01 = (1 - fx) * fy;
          const w11 = fx * fy;
          r += r00 * w00 + r10 * w10 + r01 * w01 + r11 * w11;
          g += g00 * w00 + g10 * w10 + g01 * w01 + g11 * w11;
          b += b00 * w00 + b10 * w10 + b01 * w01 + b11 * w11;
        }
      }
      out[o++] = r * inv;
      out[o++] = g * inv;
      out[o++] = b * inv;
    }
  }
  return out;
}

/**
 * The SSD detector's input as face-api makes it: the image padded with black on the right or bottom to a square
 * of side max(w, h), resized bilinearly to 512x512 (TensorFlow's resize without corner alignment).
 */
export function detectorInput(img: Rgb, size = 512): { pixels: Float32Array; side: number } {
  const side = Math.max(img.w, img.h);
  const s = side / size;
  // The same bilinear sampling as warp(), separable: each output column's source columns and weights once.
  const { data, w, h } = img;
  const x0 = new Int32Array(size), x1 = new Int32Array(size), wx = new Float32Array(size);
  for (let x = 0; x < size; x++) {
    const px = x * s;
    const i = Math.floor(px);
    x0[x] = i < w ? i : -1;
    x1[x] = i + 1 < w ? i + 1 : -1;
    wx[x] = px - i;
  }
  const out = new Float32Array(size * size * 3);
  const row = new Float32Array(size * 3);
  const horizontal = (y: number, into: Float32Array) => {
    const base = y * w * 3;
    for (let x = 0; x < size; x++) {
      const f = wx[x]!;
      const a = x0[x]!, b = x1[x]!;
      for (let c = 0; c < 3; c++) {
        const va = a >= 0 ? data[base + a * 3 + c]! : 0;
        const vb = b >= 0 ? data[base + b * 3 + c]! : 0;
        into[x * 3 + c] = va + (vb - va) * f;
      }
    }
  };
  const next = new Float32Array(size * 3);
  for (let y = 0; y < size; y++) {
    const py = y * s;
    const i = Math.floor(py);
    if (i >= h) break; // below the image: black, as the array already is
    const fy = py - i;
    horizontal(i, row);
    const o = y * size * 3;
    if (i + 1 < h && fy > 0) {
      horizontal(i + 1, next);
      for (let k = 0; k < size * 3; k++) out[o + k] = row[k]! + (next[k]! - row[k]!) * fy;
    } else {
      const keep = i + 1 < h ? 1 : 1 - fy;
      for (let k = 0; k < size * 3; k++) out[o + k] = row[k]! * keep;
    }
  }
  return { pixels: out, side };
}

/**
 * A face box cut from the image for the landmark net as face-api cuts it: the box rounded to whole pixels and
 * clipped to the image, padded with black to a square (centred), resized bilinearly to `size`. Returns the pixels
 * and the map from the crop's unit square back to image pixels.
 */
export function landmarkInput(img: Rgb, box: { x: number; y: number; width: number; height: number }, size = 112, out?: Float32Array): { pixels: Float32Array; toImage: (u: number, v: number) => Point } {
  const x0 = Math.max(0, Math.round(box.x));
  const y0 = Math.max(0, Math.round(box.y));
  const x1 = Math.min(img.w, Math.round(box.x + box.width));
  const y1 = Math.min(img.h, Math.round(box.y + box.height));
  const bw = Math.max(1, x1 - x0);
  const bh = Math.max(1, y1 - y0);
  const side = Math.max(bw, bh);
  const padX = bw < bh ? Math.round((bh - bw) / 2) : 0;
  const padY = bh < bw ? Math.round((bw - bh) / 2) : 0;
  const s = side / size;
  // Source x = x0 - padX + s * X; pixels outside the clipped box are black (face-api pads the cut-out box).
  const crop: Rgb = cropRgb(img, x0, y0, bw, bh);
  const pixels = warp(crop, { a: s, b: 0, c: -padX, d: 0, e: s, f: -padY }, size, size, 0, 1, out);
  return { pixels, toImage: (u, v) => ({ x: x0 - padX + u * side, y: y0 - padY + v * side }) };
}

function cropRgb(img: Rgb, x0: number, y0: number, w: number, h: number): Rgb {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(img.data.subarray(((y0 + y) * img.w + x0) * 3, ((y0 + y) * img.w + x0 + w) * 3), y * w * 3);
  return { data, w, h };
}

// ---- dlib's face chips ----
// dlib aligns a face for its ResNet descriptor (dlib_face_recognition_resnet_model_v1, the net face-api ships)
// with get_face_chip_details(shape, 150, 0.25): a similarity transform, fitted by least squares, from the
// landmarks to a mean face shape; the chip is 150x150 and the mean shape is inset by 25 % padding on each side.
// The mean shape below is dlib's, for the 68-point points 17..67 (in dlib/image_transforms/interpolation.h, as
// ratios of a unit square). dlib fits the eyes, nose and outer lips only: points 27..54 and 60..64 without the
// eyebrows (17..26), the lower outer lip (55..59) and the lower inner lip (65..67).
const MEAN_X = [
  0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
  0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
  0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721, 0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
  0.553364, 0.490127, 0.42689,
];
const MEAN_Y = [
  0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
  0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
  0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
  0.784792, 0.824182, 0.831803, 0.824182,
];
const CHIP_POINTS: number[] = [];
for (let i = 27; i <= 67; i++) if (!((i >= 55 && i <= 59) || (i >= 65 && i <= 67))) CHIP_POINTS.push(i);

/** The chip's side and padding that dlib's descriptor model was trained with. */
export const CHIP_SIZE = 150;
export const CHIP_PADDING = 0.25;

/**
 * The least-squares similarity transform (rotation, uniform scale, translation) taking `from` to `to`, as
 * dlib's find_similarity_transform fits it (Umeyama's method). Returns [s*cos, s*sin, tx, ty]: x' = a x - b y + tx,
 * y' = b x + a y + ty.
 */
export function similarityTransform(from: Point[], to: Point[]): { a: number; b: number; tx: number; ty: number } {
  const n = from.length;
  let mfx = 0, mfy = 0, mtx = 0, mty = 0;
  for (let i = 0; i < n; i++) {
    mfx += from[i]!.x; mfy += from[i]!.y; mtx += to[i]!.x; mty += to[i]!.y;
  }
  mfx /= n; mfy /= n; mtx /= n; mty /= n;
  let sxx = 0, sxy = 0, varFrom = 0;
  for (let i = 0; i < n; i++) {
    const fx = from[i]!.x - mfx, fy = from[i]!.y - mfy, tx = to[i]!.x - mtx, ty = to[i]!.y - mty;
    sxx += fx * tx + fy * ty; // the cos part
    sxy += fx * ty - fy * tx; // the sin part
    varFrom += fx * fx + fy * fy;
  }
  const a = sxx / varFrom;
  const b = sxy / varFrom;
  return { a, b, tx: mtx - (a * mfx - b * mfy), ty: mty - (b * mfx + a * mfy) };
}

/** The map from chip pixels to image pixels for a face with 68 landmarks (image pixels). */
export function chipTransform(points: Point[], size = CHIP_SIZE, padding = CHIP_PADDING): { toImage: Affine; scale: number } {
  const from = CHIP_POINTS.map((i) => points[i]!);
  const to = CHIP_POINTS.map((i) => ({ x: ((padding + MEAN_X[i - 17]!) / (2 * padding + 1)) * size, y: ((padding + MEAN_Y[i - 17]!) / (2 * padding + 1)) * size }));
  // Fit chip -> image directly (the inverse of dlib's image -> chip fit, the same transform up to rounding).
  const t = similarityTransform(to, from);
  // Pixel (x, y) sits at coordinates (x, y) in both the chip and the image, as in dlib's extract_image_chip.
  const toImage: Affine = { a: t.a, b: -t.b, c: t.tx, d: t.b, e: t.a, f: t.ty };
  return { toImage, scale: Math.hypot(t.a, t.b) };
}

/** The aligned 150x150 chip of a face (area-filtered when the face is larger than the chip). */
export function faceChip(img: Rgb, points: Point[], fill: number | 'edge' = 0, out?: Float32Array): Float32Array {
  const { toImage, scale } = chipTransform(points);
  return warp(img, toImage, CHIP_SIZE, CHIP_SIZE, fill, Math.min(8, Math.ceil(scale - 0.25)), out);
}

/** A float NHWC image mirrored left to right. */
export function mirror(pixels: Float32Array, w: number, h: number, out = new Float32Array(pixels.length)): Float32Array {
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (w - 1 - x)) * 3;
      out[d] = pixels[s]!;
      out[d + 1] = pixels[s + 1]!;
      out[d + 2] = pixels[s + 2]!;
    }
  }
  return out;
}
