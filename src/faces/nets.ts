// The three face networks behind one interface, on one of two backends:
//   onnxruntime   onnxruntime-node on the CPU, one intra-op thread (the pool's workers are the parallelism), with the
//                 models built in memory from face-api's weights (src/faces/onnx.ts). The default.
//   tfjs-wasm     face-api's own TensorFlow.js code on the WASM backend with SIMD: the fallback, used when
//                 onnxruntime-node does not load here, or when TRENT_FACES_BACKEND=tfjs-wasm asks for it.
// Both take the same pixels (src/faces/image.ts makes them) and give the same numbers within float rounding
// (docs/faces.md gives the tolerance measured).
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import type * as FaceApi from '@vladmandic/face-api/dist/face-api.node-wasm.js';

export type Backend = 'onnxruntime' | 'tfjs-wasm';

export interface Detections {
  /** Per anchor: ymin, xmin, ymax, xmax as ratios of the 512-pixel square. */
  boxes: Float32Array;
  /** Per anchor: the face score, 0..1. */
  scores: Float32Array;
}

export interface FaceNets {
  readonly backend: Backend;
  /** SSD MobileNet v1 on one 512x512x3 image (NHWC, 0..255). */
  detect(pixels: Float32Array): Promise<Detections>;
  /** The 68 landmarks of n 112x112 faces: 136 numbers each, x and y as ratios of the square. */
  landmarks(pixels: Float32Array, n: number): Promise<Float32Array>;
  /** The 128-D descriptors of n 150x150 face chips. */
  describe(pixels: Float32Array, n: number): Promise<Float32Array>;
}

const require = createRequire(import.meta.url);
export const MODEL_DIR = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');

/** Decodes SSD box encodings against the anchors as face-api's output layer does, and turns logits into scores. */
export function decodeDetections(encodings: Float32Array, logits: Float32Array, anchors: Float32Array): Detections {
  const n = anchors.length / 4;
  const boxes = new Float32Array(n * 4);
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a0 = anchors[i * 4]!, a1 = anchors[i * 4 + 1]!, a2 = anchors[i * 4 + 2]!, a3 = anchors[i * 4 + 3]!;
    const s0 = a2 - a0, s1 = a3 - a1;
    const c0 = a0 + s0 / 2, c1 = a1 + s1 / 2;
    const e0 = encodings[i * 4]!, e1 = encodings[i * 4 + 1]!, e2 = encodings[i * 4 + 2]!, e3 = encodings[i * 4 + 3]!;
    const h0 = (Math.exp(e2 / 5) * s0) / 2, h1 = (Math.exp(e3 / 5) * s1) / 2;
    const m0 = (e0 / 10) * s0 + c0, m1 = (e1 / 10) * s1 + c1;
    boxes[i * 4] = m0 - h0;
    boxes[i * 4 + 1] = m1 - h1;
    boxes[i * 4 + 2] = m0 + h0;
    boxes[i * 4 + 3] = m1 + h1;
    scores[i] = 1 / (1 + Math.exp(-logits[i * 3 + 1]!));
  }
  return { boxes, scores };
}

async function onnxNets(): Promise<FaceNets> {
  const ort = await import('onnxruntime-node');
  const { detectorModel, landmarkModel, descriptorModel } = await import('./onnx.ts');
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' as const, graphOptimizationLevel: 'all' as const, logSeverityLevel: 3 as const };
  const det = detectorModel(MODEL_DIR);
  const detector = await ort.InferenceSession.create(det.model, options);
  const landmarker = await ort.InferenceSession.create(landmarkModel(MODEL_DIR), options);
  const describer = await ort.InferenceSession.create(descriptorModel(MODEL_DIR), options);
  const out = (r: Record<string, { data: unknown }>, name: string) => r[name]!.data as Float32Array;
  return {
    backend: 'onnxruntime',
    async detect(pixels) {
      const r = await detector.run({ image: new ort.Tensor('float32', pixels, [1, 512, 512, 3]) });
      return decodeDetections(out(r, 'boxes'), out(r, 'classes'), det.anchors);
    },
    async landmarks(pixels, n) {
      return out(await landmarker.run({ face: new ort.Tensor('float32', pixels.subarray(0, n * 112 * 112 * 3), [n, 112, 112, 3]) }), 'landmarks');
    },
    async describe(pixels, n) {
      return out(await describer.run({ face: new ort.Tensor('float32', pixels.subarray(0, n * 150 * 150 * 3), [n, 150, 150, 3]) }), 'descriptor');
    },
  };
}

async function tfjsNets(): Promise<FaceNets> {
  const tfjs = await import('@tensorflow/tfjs');
  const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
  const faceapi = await import('@vladmandic/face-api/dist/face-api.node-wasm.js');
  // The .wasm files come from the installed package: nothing is fetched.
  setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + sep);
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
  const tf = faceapi.tf;
  const batch = async (pixels: Float32Array, n: number, side: number, run: (input: FaceApi.NetInput) => { dataSync(): unknown; dispose(): void }) => {
    const t = tf.tensor4d(pixels.subarray(0, n * side * side * 3), [n, side, side, 3]);
    const images = tf.unstack(t) as FaceApi.tf.Tensor3D[];
    try {
      const result = run(await faceapi.toNetInput(images));
      try {
        return new Float32Array(result.dataSync() as Float32Array);
      } finally {
        result.dispose();
      }
    } finally {
      t.dispose();
      for (const i of images) i.dispose();
    }
  };
  if (tfjs.getBackend() !== 'wasm') throw new Error(`the backend changed to ${tfjs.getBackend()}`);
  return {
    backend: 'tfjs-wasm',
    async detect(pixels) {
      const t = tf.tensor3d(pixels, [512, 512, 3]) as FaceApi.tf.Tensor3D;
      try {
        const r = faceapi.nets.ssdMobilenetv1.forwardInput(await faceapi.toNetInput(t));
        try {
          return { boxes: new Float32Array(r.boxes[0]!.dataSync() as Float32Array), scores: new Float32Array(r.scores[0]!.dataSync() as Float32Array) };
        } finally {
          for (const x of [...r.boxes, ...r.scores]) x.dispose();
        }
      } finally {
        t.dispose();
      }
    },
    landmarks: (pixels, n) => batch(pixels, n, 112, (input) => faceapi.nets.faceLandmark68Net.forwardInput(input)),
    describe: (pixels, n) => batch(pixels, n, 150, (input) => faceapi.nets.faceRecognitionNet.forwardInput(input)),
  };
}

/**
 * Loads the networks on the backend asked for (TRENT_FACES_BACKEND: onnxruntime or tfjs-wasm), or else on
 * onnxruntime, falling back to tfjs-wasm when onnxruntime-node cannot load; `fellBack` says why it fell back.
 */
export async function loadNets(wanted = process.env['TRENT_FACES_BACKEND']): Promise<{ nets: FaceNets; fellBack?: string }> {
  if (wanted && wanted !== 'onnxruntime' && wanted !== 'tfjs-wasm') throw new Error(`TRENT_FACES_BACKEND must be onnxruntime or tfjs-wasm, not ${wanted}`);
  if (wanted === 'tfjs-wasm') return { nets: await tfjsNets() };
  try {
    return { nets: await onnxNets() };
  } catch (e) {
    if (wanted === 'onnxruntime') throw e;
    return { nets: await tfjsNets(), fellBack: `onnxruntime-node did not load (${e instanceof Error ? e.message : String(e)})` };
  }
}
