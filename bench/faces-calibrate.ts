// Calibrates and times the face engine (src/faces/engine.ts) on the labelled test photos.
//
//   node --import tsx bench/faces-calibrate.ts [--data ../shared/data/faces] [--workers N] [--runs 20] [--verbose] [--json]
//
// Calibration: one descriptor per image of photos/ and crops/ (its largest face); every pair of images in
// the same folder of the same set is a genuine pair, every pair from different folders an impostor pair.
// Reports ROC AUC, the distance thresholds at 0.1 % and 1 % false-accept rate with the true-accept rate at
// each, and where the engine's distance -> similarity mapping puts them. Timing: detect + landmarks +
// descriptor for one 640x480 JPEG on a single worker, then the whole pool's throughput.
// See docs/faces.md for the figures and the choice of constants.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createFaceEngine, type FaceEngine } from '../src/faces/engine.ts';
import { distanceForSimilarity, MATCH_SIMILARITY, SIMILARITY_MIDPOINT, SIMILARITY_SCALE, similarityFromDistance } from '../src/faces/calibration.ts';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: fileURLToPath(new URL('../../shared/data/faces', import.meta.url)) },
    workers: { type: 'string', default: String(availableParallelism()) },
    runs: { type: 'string', default: '20' },
    verbose: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const workers = Number(args.workers);
const runs = Number(args.runs);
if (!Number.isInteger(workers) || workers < 1 || !Number.isInteger(runs) || runs < 1) throw new Error('--workers and --runs take positive integers');

interface Sample { set: string; person: string; file: string; descriptor?: Float32Array; faces: number }
interface Pair { a: Sample; b: Sample; distance: number; genuine: boolean }

function listImages(set: string): Sample[] {
  const root = join(args.data, set);
  const out: Sample[] = [];
  for (const person of readdirSync(root).sort()) {
    const dir = join(root, person);
    if (!statSync(dir).isDirectory()) continue;
    for (const name of readdirSync(dir).sort()) {
      if (/\.(jpe?g|png)$/i.test(name)) out.push({ set, person, file: join(dir, name), faces: 0 });
    }
  }
  return out;
}

/** Area under the ROC curve, genuine pairs scoring lower distances: P(genuine < impostor), ties half. */
function auc(genuine: number[], impostor: number[]): number {
  const all = [...genuine.map((d) => ({ d, g: true })), ...impostor.map((d) => ({ d, g: false }))].sort((x, y) => x.d - y.d);
  // Mann-Whitney U through ranks (average ranks for ties).
  let rankSumGenuine = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.d === all[i]!.d) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k]!.g) rankSumGenuine += rank;
    i = j + 1;
  }
  const n1 = genuine.length;
  const n2 = impostor.length;
  const u = rankSumGenuine - (n1 * (n1 + 1)) / 2;
  return 1 - u / (n1 * n2);
}

/** The largest threshold t (accept when distance < t) whose false-accept rate is at most `far`, and its rates. */
function atFar(genuine: number[], impostor: number[], far: number): { threshold: number; far: number; tar: number; falseAccepts: number } {
  const imp = [...impostor].sort((a, b) => a - b);
  const allowed = Math.floor(far * imp.length);
  const threshold = allowed < imp.length ? imp[allowed]! : Infinity;
  return rates(genuine, impostor, threshold);
}

function rates(genuine: number[], impostor: number[], threshold: number): { threshold: number; far: number; tar: number; falseAccepts: number } {
  const falseAccepts = impostor.filter((d) => d < threshold).length;
  return { threshold, far: falseAccepts / impostor.length, tar: genuine.filter((d) => d < threshold).length / genuine.length, falseAccepts };
}

function summary(pairs: Pair[]) {
  const genuine = pairs.filter((p) => p.genuine).map((p) => p.distance);
  const impostor = pairs.filter((p) => !p.genuine).map((p) => p.distance);
  const d80 = distanceForSimilarity(MATCH_SIMILARITY);
  return {
    genuinePairs: genuine.length,
    impostorPairs: impostor.length,
    auc: genuine.length && impostor.length ? auc(genuine, impostor) : NaN,
    far0_1: atFar(genuine, impostor, 0.001),
    far1: atFar(genuine, impostor, 0.01),
    at06: rates(genuine, impostor, 0.6),
    atSimilarity80: rates(genuine, impostor, d80),
    maxGenuine: Math.max(...genuine),
    minImpostor: Math.min(...impostor),
  };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const f3 = (n: number): string => n.toFixed(3);
const pct = (n: number): string => `${(n * 100).toFixed(2)} %`;

async function enroll(engine: FaceEngine, samples: Sample[]): Promise<void> {
  await Promise.all(
    samples.map(async (s) => {
      const r = await engine.detect(new Uint8Array(readFileSync(s.file)), { descriptors: true });
      s.faces = r.faces.length;
      s.descriptor = r.faces[0]?.descriptor;
      if (args.verbose) {
        const f = r.faces[0];
        const where = f ? `box ${JSON.stringify(f.box)} conf ${f.confidence.toFixed(1)} pose ${JSON.stringify(f.pose)} quality ${JSON.stringify(f.quality)}` : 'no face';
        console.log(`  ${relative(args.data, s.file)} ${r.width}x${r.height}: ${r.faces.length} face(s); largest ${where}`);
      }
    }),
  );
}

async function timing(): Promise<{ single: Record<string, number>; withoutDescriptor: Record<string, number>; poolImagesPerSecond: number; poolWorkers: number }> {
  const photo = await sharp(readFileSync(join(args.data, 'photos/obama/obama.jpg')))
    .rotate()
    .resize(640, 480, { fit: 'cover', position: 'north' })
    .jpeg({ quality: 90 })
    .toBuffer();
  const stats = (ms: number[]) => {
    const s = [...ms].sort((a, b) => a - b);
    return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: percentile(s, 0.5), p95: percentile(s, 0.95), min: s[0]!, max: s[s.length - 1]! };
  };
  const time = async (engine: FaceEngine, descriptors: boolean) => {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = await engine.detect(new Uint8Array(photo), { descriptors });
      ms.push(performance.now() - t);
      if (r.faces.length !== 1) throw new Error(`expected one face in the timing photo, found ${r.faces.length}`);
    }
    return stats(ms);
  };
  const one = await createFaceEngine({ workers: 1 });
  let single: Record<string, number>;
  let withoutDescriptor: Record<string, number>;
  try {
    await one.detect(new Uint8Array(photo), { descriptors: true });
    single = await time(one, true);
    withoutDescriptor = await time(one, false);
  } finally {
    await one.close();
  }
  const pool = await createFaceEngine({ workers });
  let poolImagesPerSecond: number;
  try {
    const n = runs * workers;
    const t = performance.now();
    await Promise.all(Array.from({ length: n }, () => pool.detect(new Uint8Array(photo), { descriptors: true })));
    poolImagesPerSecond = n / ((performance.now() - t) / 1000);
  } finally {
    await pool.close();
  }
  return { single, withoutDescriptor, poolImagesPerSecond, poolWorkers: workers };
}

const samples = [...listImages('photos'), ...listImages('crops')];
const engine = await createFaceEngine({ workers });
const t = performance.now();
try {
  if (args.verbose) console.log('images:');
  await enroll(engine, samples);
} finally {
  await engine.close();
}
const enrolSeconds = (performance.now() - t) / 1000;
const usable = samples.filter((s) => s.descriptor);
const pairs: Pair[] = [];
for (let i = 0; i < usable.length; i++) {
  for (let j = i + 1; j < usable.length; j++) {
    const a = usable[i]!;
    const b = usable[j]!;
    pairs.push({ a, b, distance: engine.distance(a.descriptor!, b.descriptor!), genuine: a.set === b.set && a.person === b.person });
  }
}
const overall = summary(pairs);
const bySet = Object.fromEntries(['photos', 'crops'].map((set) => [set, summary(pairs.filter((p) => p.a.set === set && p.b.set === set))]));
const timed = await timing();

const report = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  images: samples.length,
  withoutFace: samples.filter((s) => !s.descriptor).map((s) => relative(args.data, s.file)),
  enrolSeconds,
  overall,
  bySet,
  mapping: {
    midpoint: SIMILARITY_MIDPOINT,
    scale: SIMILARITY_SCALE,
    distanceAtSimilarity80: distanceForSimilarity(MATCH_SIMILARITY),
    similarityAt06: similarityFromDistance(0.6),
    similarityAtFar0_1: similarityFromDistance(overall.far0_1.threshold),
    similarityAtFar1: similarityFromDistance(overall.far1.threshold),
    worstGenuineSimilarity: similarityFromDistance(overall.maxGenuine),
    bestImpostorSimilarity: similarityFromDistance(overall.minImpostor),
    bySimilarity: [95, 90, 85, 80, 75, 70, 60, 50].map((similarity) => {
      const distance = distanceForSimilarity(similarity);
      const r = rates(
        pairs.filter((p) => p.genuine).map((p) => p.distance),
        pairs.filter((p) => !p.genuine).map((p) => p.distance),
        distance,
      );
      return { similarity, distance, far: r.far, tar: r.tar };
    }),
  },
  timing640x480ms: timed,
};

if (args.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const line = (name: string, s: ReturnType<typeof summary>) => {
    console.log(`${name}: ${s.genuinePairs} genuine and ${s.impostorPairs} impostor pairs, AUC ${(s.auc * 100).toFixed(3)} %`);
    console.log(`  at 0.1 % FAR: distance < ${f3(s.far0_1.threshold)} (${s.far0_1.falseAccepts} false accepts), TAR ${pct(s.far0_1.tar)}`);
    console.log(`  at 1 % FAR:   distance < ${f3(s.far1.threshold)} (${s.far1.falseAccepts} false accepts), TAR ${pct(s.far1.tar)}`);
    console.log(`  at distance 0.6: FAR ${pct(s.at06.far)}, TAR ${pct(s.at06.tar)}`);
    console.log(`  at similarity 80 (distance < ${f3(s.atSimilarity80.threshold)}): FAR ${pct(s.atSimilarity80.far)}, TAR ${pct(s.atSimilarity80.tar)}`);
    console.log(`  largest genuine distance ${f3(s.maxGenuine)}, smallest impostor distance ${f3(s.minImpostor)}`);
  };
  console.log(`${samples.length} images, ${usable.length} with a face (${enrolSeconds.toFixed(1)} s on ${workers} workers)`);
  if (report.withoutFace.length) console.log(`no face found in: ${report.withoutFace.join(', ')}`);
  line('all', overall);
  for (const [set, s] of Object.entries(bySet)) line(set, s);
  const m = report.mapping;
  console.log(`mapping: similarity = 100 / (1 + exp((d - ${m.midpoint}) / ${m.scale}))`);
  console.log(`  similarity 80 at distance ${f3(m.distanceAtSimilarity80)}; distance 0.6 -> ${m.similarityAt06.toFixed(1)}`);
  console.log(`  0.1 % FAR threshold -> ${m.similarityAtFar0_1.toFixed(1)}; 1 % FAR threshold -> ${m.similarityAtFar1.toFixed(1)}`);
  console.log(`  worst genuine pair -> ${m.worstGenuineSimilarity.toFixed(1)}; best impostor pair -> ${m.bestImpostorSimilarity.toFixed(1)}`);
  for (const r of m.bySimilarity) console.log(`  similarity >= ${r.similarity}: distance < ${f3(r.distance)}, FAR ${pct(r.far)}, TAR ${pct(r.tar)}`);
  const ms = (r: Record<string, number>) => `mean ${r.mean!.toFixed(0)} ms, p50 ${r.p50!.toFixed(0)}, p95 ${r.p95!.toFixed(0)}, min ${r.min!.toFixed(0)}`;
  console.log(`640x480 JPEG, one worker, ${runs} runs: detect + landmarks + descriptor ${ms(timed.single)}; without descriptor ${ms(timed.withoutDescriptor)}`);
  console.log(`pool of ${timed.poolWorkers} workers: ${timed.poolImagesPerSecond.toFixed(2)} images/s with descriptors`);
}
