import assert from 'node:assert/strict';
import { test } from 'node:test';
import { descriptorDistance } from '../../src/faces/engine.ts';
import { FaceVectors } from '../../src/faces/vector-index.ts';

function vector(seed: number, dim = 128): Float32Array {
  // A small deterministic generator: the test needs varied vectors, not randomness.
  let x = seed * 2654435761 + 1;
  return Float32Array.from({ length: dim }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return (x / 2147483648 - 0.5) * 0.3;
  });
}

test('within() returns exactly the faces within the distance, with descriptorDistance\'s values', () => {
  const index = new FaceVectors<string>();
  const vectors = Array.from({ length: 500 }, (_, i) => vector(i + 1));
  vectors.forEach((v, i) => index.set(`f${i}`, { vector: v, row: `row ${i}` }));
  const probe = vector(7);
  const all = vectors.map((v, i) => ({ id: `f${i}`, distance: descriptorDistance(probe, v) })).sort((a, b) => a.distance - b.distance);
  const limit = all[20]!.distance;
  const near = index.within(probe, limit).sort((a, b) => a.distance - b.distance);
  assert.deepEqual(near, all.filter((n) => n.distance <= limit));
  assert.equal(near[0]!.id, 'f6');
  assert.equal(near[0]!.distance, 0);
  assert.equal(index.within(probe, Infinity).length, 500);
});

test('the packed copy follows additions and deletions', () => {
  const index = new FaceVectors<number>();
  const a = vector(1);
  index.set('a', { vector: a, row: 1 });
  assert.deepEqual(index.within(a, 0.001).map((n) => n.id), ['a']);
  index.set('b', { vector: Float32Array.from(a), row: 2 });
  assert.deepEqual(index.within(a, 0.001).map((n) => n.id).sort(), ['a', 'b']);
  index.delete('a');
  assert.deepEqual(index.within(a, 0.001).map((n) => n.id), ['b']);
  index.clear();
  assert.deepEqual(index.within(a, Infinity), []);
});

test('vectors of another length are refused, not compared', () => {
  const index = new FaceVectors<number>();
  index.set('short', { vector: new Float32Array(64), row: 1 });
  assert.throws(() => index.within(new Float32Array(128), 1), RangeError);
  assert.throws(() => index.within(new Float32Array(0), 1), RangeError);
});
