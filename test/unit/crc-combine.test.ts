import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createChecksummer, type ChecksumAlgorithm } from '../../src/wire/checksums.ts';
import { combinable, combineCrcs } from '../../src/wire/crc-combine.ts';

function crc(alg: ChecksumAlgorithm, data: Uint8Array): Buffer {
  const c = createChecksummer(alg);
  c.update(data);
  return c.digest();
}

for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
  test(`${alg}: the CRCs of pieces combine into the CRC of the whole, for any split`, () => {
    const whole = randomBytes(200_000);
    for (const cuts of [[0], [1], [65_536], [5, 70_000, 70_001, 199_999], [100_000, 150_000]]) {
      const bounds = [0, ...cuts, whole.length];
      const pieces = [];
      for (let i = 0; i < bounds.length - 1; i++) {
        const piece = whole.subarray(bounds[i], bounds[i + 1]);
        pieces.push({ crc: crc(alg, piece), length: piece.length });
      }
      assert.equal(combineCrcs(alg, pieces).toString('hex'), crc(alg, whole).toString('hex'), `cuts ${cuts.join(',')}`);
    }
  });

  test(`${alg}: equal-sized pieces (a multipart upload's shape) and a single piece`, () => {
    const parts = [randomBytes(4096), randomBytes(4096), randomBytes(4096), randomBytes(17)];
    const combined = combineCrcs(alg, parts.map((p) => ({ crc: crc(alg, p), length: p.length })));
    assert.equal(combined.toString('hex'), crc(alg, Buffer.concat(parts)).toString('hex'));
    assert.equal(combineCrcs(alg, [{ crc: crc(alg, parts[0]!), length: 4096 }]).toString('hex'), crc(alg, parts[0]!).toString('hex'));
    assert.equal(combineCrcs(alg, []).toString('hex'), crc(alg, Buffer.alloc(0)).toString('hex'), 'nothing combines to the CRC of nothing');
  });
}

test('SHA-1 and SHA-256 do not combine', () => {
  assert.equal(combinable('SHA256'), false);
  assert.equal(combinable('CRC32'), true);
  assert.throws(() => combineCrcs('SHA1', []));
});
