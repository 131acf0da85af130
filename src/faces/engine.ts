// The face engine: detection, landmarks, pose, quality, mouth openness and 128-D descriptors for
// Rekognition's face operations. Inference runs in a pool of worker threads (src/faces/worker.ts), each with its
// own copy of face-api's networks (on onnxruntime-node, or TensorFlow.js WASM as the fallback: src/faces/nets.ts);
// the main thread only queues requests, moves the image bytes to an idle worker and compares descriptors. Images
// live only in memory, only for the call.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
// sharp is loaded here, on the main thread, before any worker loads it: that keeps its native
// libraries open for the life of the process, so replacing a worker never unloads them.
import 'sharp';
import { threadEntry } from '../threads/channel.ts';
import { similarityFromDistance } from './calibration.ts';
import type { Backend } from './nets.ts';

/** A face's bounding box, as ratios of the image's width and height (0..1), as Rekognition reports them. */
export interface FaceBox { left: number; top: number; width: number; height: number }
/** A facial landmark with Rekognition's type name; x and y are ratios of the image's width and height. */
export interface FaceLandmark { type: string; x: number; y: number }
export interface DetectedFace {
  box: FaceBox;
  /** Detector confidence, 0..100. */
  confidence: number;
  landmarks: FaceLandmark[];
  /**
   * Head pose in degrees, estimated from the landmarks. roll > 0: the face is turned clockwise in the
   * image; yaw > 0: the nose points towards the image's right; pitch > 0: the face is tilted up.
   */
  pose: { roll: number; yaw: number; pitch: number };
  /** 0..100, computed from the face region's pixels. */
  quality: { brightness: number; sharpness: number };
  /** Whether the mouth is open, from the landmarks' geometry, with a confidence of 50..100. */
  mouthOpen: { value: boolean; confidence: number };
  /** The 128-D face descriptor, present when asked for. */
  descriptor?: Float32Array;
}
/** The image's size in pixels after EXIF rotation, and its faces sorted by box area, largest first. */
export interface DetectResult { width: number; height: number; faces: DetectedFace[] }

/** The bytes are not a decodable JPEG or PNG (Rekognition accepts JPEG and PNG only). */
export class InvalidImageError extends Error {
  constructor(message = 'the image is not a valid JPEG or PNG') {
    super(message);
    this.name = 'InvalidImageError';
  }
}

export interface FaceEngine {
  /**
   * Finds the faces in a JPEG or PNG image. The image's ArrayBuffer is transferred to a worker thread,
   * not copied, whenever `image` spans the whole of it: the caller's view is then detached (zero length)
   * when the call returns, so pass a copy (`image.slice()`) if the bytes are needed again. A view on part
   * of a larger buffer (a pooled Node Buffer, for instance) is copied and left intact.
   * Rejects with InvalidImageError when the bytes are not a decodable JPEG or PNG.
   */
  detect(image: Uint8Array, opts?: { descriptors?: boolean; maxFaces?: number }): Promise<DetectResult>;
  /** Rekognition's 0..100 similarity from two descriptors, through the calibrated mapping. */
  similarity(a: Float32Array, b: Float32Array): number;
  /** The raw model distance (euclidean), for tests and calibration. */
  distance(a: Float32Array, b: Float32Array): number;
  readonly workers: number;
  /** The network backend the workers run on. */
  readonly backend: Backend;
  close(): Promise<void>;
}

/** JPEG and PNG by their magic bytes, or undefined for anything else. */
export function sniffImageFormat(bytes: Uint8Array): 'jpeg' | 'png' | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= png.length && png.every((b, i) => bytes[i] === b)) return 'png';
  return undefined;
}

/** Euclidean distance between two descriptors of the same length. */
export function descriptorDistance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`descriptor lengths differ or are zero: ${a.length} and ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum);
}

// ---- the protocol between the pool and its workers ----

/** Pool to worker. */
export interface DetectRequest {
  type: 'detect';
  id: number;
  image: ArrayBuffer;
  descriptors: boolean;
  maxFaces: number;
}
/** Worker to pool. */
export type WorkerMessage =
  | { type: 'ready'; backend: Backend; fellBack?: string }
  | { type: 'result'; id: number; result: DetectResult }
  | { type: 'failed'; id: number; invalidImage: boolean; message: string };

/** A worker that takes longer than this over one image is presumed stuck: it is ended and replaced. */
export const REQUEST_TIMEOUT_MS = 120_000;
/** Workers that fail to start this many times in a row put the pool out of service. */
const MAX_START_FAILURES = 3;

interface Job {
  id: number;
  image: ArrayBuffer;
  descriptors: boolean;
  maxFaces: number;
  resolve: (r: DetectResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job?: Job;
  timer?: NodeJS.Timeout;
  /** Why the pool ended this worker, when it did. */
  endedBecause?: string;
  lastError?: Error;
  served: number;
}

/** The worker-thread pool behind createFaceEngine. */
export class FacePool implements FaceEngine {
  readonly workers: number;
  backend: Backend = 'onnxruntime';
  /** Why the workers run on the fallback backend, when they do. */
  fellBack?: string;
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private startFailures = 0;
  private broken?: Error;
  private starting?: { pending: number; resolve: () => void; reject: (e: Error) => void };

  private constructor(
    workers: number,
    private readonly wanted?: Backend,
  ) {
    this.workers = workers;
  }

  /** Starts `workers` workers and resolves once every one has loaded and warmed its models. */
  static async start(workers: number, backend?: Backend): Promise<FacePool> {
    const pool = new FacePool(workers, backend);
    const ready = new Promise<void>((resolve, reject) => {
      pool.starting = { pending: workers, resolve, reject };
    });
    for (let i = 0; i < workers; i++) pool.spawn();
    try {
      await ready;
    } catch (e) {
      await pool.close();
      throw e;
    }
    pool.starting = undefined;
    return pool;
  }

  detect(image: Uint8Array, opts: { descriptors?: boolean; maxFaces?: number } = {}): Promise<DetectResult> {
    if (this.closed) return Promise.reject(new Error('the face engine is closed'));
    if (this.broken && ![...this.slots].some((s) => s.ready)) {
      return Promise.reject(new Error(`the face engine is out of service: ${this.broken.message}`));
    }
    if (!(image instanceof Uint8Array)) return Promise.reject(new TypeError('image must be a Uint8Array'));
    const maxFaces = opts.maxFaces ?? 100;
    if (!Number.isInteger(maxFaces) || maxFaces < 1) return Promise.reject(new RangeError(`maxFaces must be a positive integer: ${maxFaces}`));
    // Refuse what is plainly not a JPEG or PNG here, without holding a worker.
    if (!sniffImageFormat(image)) return Promise.reject(new InvalidImageError());
    const whole = image.buffer instanceof ArrayBuffer && image.byteOffset === 0 && image.byteLength === image.buffer.byteLength;
    // Uint8Array's slice copies; a Buffer's slice would share Node's pool (whose memory must never be transferred).
    const buffer = whole ? (image.buffer as ArrayBuffer) : (Uint8Array.prototype.slice.call(image).buffer as ArrayBuffer);
    return new Promise<DetectResult>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, image: buffer, descriptors: opts.descriptors === true, maxFaces, resolve, reject });
      this.dispatch();
    });
  }

  similarity(a: Float32Array, b: Float32Array): number {
    return similarityFromDistance(descriptorDistance(a, b));
  }

  distance(a: Float32Array, b: Float32Array): number {
    return descriptorDistance(a, b);
  }

  /** Requests served by each live worker, for tests and diagnostics. */
  stats(): { live: number; ready: number; busy: number; queued: number; served: number[] } {
    const slots = [...this.slots];
    return {
      live: slots.length,
      ready: slots.filter((s) => s.ready).length,
      busy: slots.filter((s) => s.job).length,
      queued: this.queue.length,
      served: slots.map((s) => s.served),
    };
  }

  /**
   * Ends a busy worker as a crash would (tests use it): its request is rejected and a new worker
   * takes its place. Returns false when no worker is busy.
   */
  simulateCrash(): boolean {
    const slot = [...this.slots].find((s) => s.job);
    if (!slot) return false;
    slot.endedBecause = 'crashed (simulated)';
    void slot.worker.terminate();
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new Error('the face engine is closed');
    for (const job of this.queue.splice(0)) job.reject(error);
    const ends: Promise<unknown>[] = [];
    for (const slot of this.slots) {
      slot.endedBecause = 'stopped: the face engine was closed';
      ends.push(slot.worker.terminate());
    }
    await Promise.allSettled(ends);
  }

  private spawn(): void {
    const entry = threadEntry(import.meta.url, 'worker');
    const env = this.wanted ? { ...process.env, TRENT_FACES_BACKEND: this.wanted } : process.env;
    const worker = new Worker(entry.file, { eval: entry.eval, stdout: false, stderr: false, env });
    const slot: Slot = { worker, ready: false, served: 0 };
    this.slots.add(slot);
    worker.on('message', (m: WorkerMessage) => this.onMessage(slot, m));
    worker.on('error', (e: Error) => {
      slot.lastError = e;
    });
    worker.on('messageerror', (e: Error) => {
      slot.lastError = e;
      slot.endedBecause = `sent an unreadable message: ${e.message}`;
      void worker.terminate();
    });
    worker.on('exit', (code: number) => this.onExit(slot, code));
  }

  private onMessage(slot: Slot, m: WorkerMessage): void {
    if (m.type === 'ready') {
      slot.ready = true;
      this.backend = m.backend;
      if (m.fellBack) this.fellBack = m.fellBack;
      this.startFailures = 0;
      if (this.starting && --this.starting.pending === 0) this.starting.resolve();
      this.dispatch();
      return;
    }
    const job = slot.job;
    if (!job || job.id !== m.id) return;
    clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    slot.served++;
    if (m.type === 'result') job.resolve(m.result);
    else job.reject(m.invalidImage ? new InvalidImageError(m.message) : new Error(`face detection failed: ${m.message}`));
    this.dispatch();
  }

  private onExit(slot: Slot, code: number): void {
    this.slots.delete(slot);
    clearTimeout(slot.timer);
    const why = slot.endedBecause ?? `exited with code ${code}${slot.lastError ? `: ${slot.lastError.message}` : ''}`;
    if (slot.job) {
      slot.job.reject(new Error(`the face worker ${why}`));
      slot.job = undefined;
    }
    if (this.closed) return;
    if (!slot.ready) {
      // It failed while loading: during start-up that fails the engine; later, retry a few times.
      const error = new Error(`a face worker failed to start: ${slot.lastError?.message ?? why}`);
      if (this.starting) {
        this.starting.reject(error);
        return;
      }
      if (++this.startFailures >= MAX_START_FAILURES) {
        this.broken = error;
        if (![...this.slots].some((s) => s.ready)) {
          const out = new Error(`the face engine is out of service: ${error.message}`);
          for (const job of this.queue.splice(0)) job.reject(out);
        }
        return;
      }
      setTimeout(() => {
        if (!this.closed) this.spawn();
      }, 200 * this.startFailures).unref();
      return;
    }
    this.spawn();
  }

  private dispatch(): void {
    if (this.closed) return;
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.timer = setTimeout(() => {
        slot.endedBecause = `took longer than ${REQUEST_TIMEOUT_MS} ms over one image and was stopped`;
        void slot.worker.terminate();
      }, REQUEST_TIMEOUT_MS);
      slot.timer.unref();
      const request: DetectRequest = { type: 'detect', id: job.id, image: job.image, descriptors: job.descriptors, maxFaces: job.maxFaces };
      slot.worker.postMessage(request, [job.image]);
    }
  }
}

/**
 * Starts a face engine with `workers` worker threads (default: os.availableParallelism()); resolves once
 * every worker has loaded and warmed the models. `backend` asks for one network backend (default: the
 * TRENT_FACES_BACKEND variable, or else onnxruntime with tfjs-wasm as the fallback).
 */
export async function createFaceEngine(opts: { workers?: number; backend?: Backend } = {}): Promise<FaceEngine> {
  const workers = opts.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer: ${workers}`);
  if (opts.backend !== undefined && opts.backend !== 'onnxruntime' && opts.backend !== 'tfjs-wasm') throw new RangeError(`backend must be onnxruntime or tfjs-wasm: ${String(opts.backend)}`);
  return FacePool.start(workers, opts.backend);
}
