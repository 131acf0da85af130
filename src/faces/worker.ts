// A face worker thread: loads the face networks (src/faces/nets.ts: onnxruntime-node, or TensorFlow.js on WASM as
// the fallback), warms them up, then answers the pool's detect requests one at a time through the pipeline
// (src/faces/pipeline.ts). Images are decoded with sharp into memory only; nothing about them is written anywhere.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { InvalidImageError, type DetectRequest, type WorkerMessage } from './engine.ts';
import { loadNets } from './nets.ts';
import { createPipeline, type Pipeline } from './pipeline.ts';

const port = parentPort;
if (!port) throw new Error('src/faces/worker.ts runs only as a worker thread');

function send(m: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

/** One pass through every model, and through decoding, so the first real request is not the slow one. */
async function warmUp(pipeline: Pipeline): Promise<void> {
  const png = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
  await pipeline.detect(new Uint8Array(png), true, 1);
  await pipeline.nets.landmarks(new Float32Array(112 * 112 * 3).fill(128), 1);
  await pipeline.nets.describe(new Float32Array(2 * 150 * 150 * 3).fill(128), 2);
}

const { nets, fellBack } = await loadNets();
// TRENT_FACES_ABLATE (bench/faces-calibrate.ts --ablate) turns steps off to measure what they add.
const ablate = new Set((process.env['TRENT_FACES_ABLATE'] ?? '').split(',').filter(Boolean));
const pipeline = createPipeline(nets, { align: !ablate.has('align'), flip: !ablate.has('flip'), crops: !ablate.has('crops'), chipFill: ablate.has('edge') ? 'edge' : 0 });
await warmUp(pipeline);

let chain: Promise<void> = Promise.resolve();

async function serve(req: DetectRequest): Promise<void> {
  try {
    const result = await pipeline.detect(new Uint8Array(req.image), req.descriptors, req.maxFaces);
    const transfer = result.faces.flatMap((f) => (f.descriptor ? [f.descriptor.buffer as ArrayBuffer] : []));
    send({ type: 'result', id: req.id, result }, transfer);
  } catch (e) {
    const invalidImage = e instanceof InvalidImageError;
    send({ type: 'failed', id: req.id, invalidImage, message: e instanceof Error ? e.message : String(e) });
  }
}

port.on('message', (req: DetectRequest) => {
  if (req?.type !== 'detect') return;
  chain = chain.then(() => serve(req));
});
send({ type: 'ready', backend: nets.backend, ...(fellBack ? { fellBack } : {}) });
