import type { ChecksumAlgorithm } from './checksums.ts';

/**
 * The CRC of a concatenation from the CRCs of its pieces, without the bytes: what S3 does to give a multipart object a
 * FULL_OBJECT checksum (the CRC of the whole object) from its parts' CRCs. The three CRCs S3 combines are reflected,
 * with an all-ones initial value and final XOR, so crc(A || B) = crc(A) * x^(8 * |B|) mod P  XOR  crc(B), where the
 * product is carry-less and taken in the reflected bit order (the method of zlib's crc32_combine).
 */

interface CrcModel {
  width: number;
  /** The polynomial, reflected. */
  poly: bigint;
}

const MODELS: Partial<Record<ChecksumAlgorithm, CrcModel>> = {
  CRC32: { width: 32, poly: 0xedb88320n },
  CRC32C: { width: 32, poly: 0x82f63b78n },
  CRC64NVME: { width: 64, poly: 0x9a6c9329ac4bc9b5n },
};

/** The algorithms whose checksums combine (S3's FULL_OBJECT multipart checksums). */
export function combinable(alg: ChecksumAlgorithm): boolean {
  return MODELS[alg] !== undefined;
}

/** a * b modulo the polynomial, both in the reflected representation (the top bit is x^0). */
function multModP(m: CrcModel, a: bigint, b: bigint): bigint {
  let bit = 1n << BigInt(m.width - 1);
  let p = 0n;
  for (;;) {
    if (a & bit) {
      p ^= b;
      if ((a & (bit - 1n)) === 0n) break;
    }
    bit >>= 1n;
    b = b & 1n ? (b >> 1n) ^ m.poly : b >> 1n;
  }
  return p;
}

/** x^(2^k) mod P for k = 0 .. 63, per model. */
const POWERS = new Map<CrcModel, bigint[]>();

function powers(m: CrcModel): bigint[] {
  let t = POWERS.get(m);
  if (!t) {
    t = [1n << BigInt(m.width - 2)]; // x^1
    for (let k = 1; k < 64; k++) t.push(multModP(m, t[k - 1]!, t[k - 1]!));
    POWERS.set(m, t);
  }
  return t;
}

/** x^(8 * bytes) mod P. */
function shiftOperator(m: CrcModel, bytes: number): bigint {
  const t = powers(m);
  let p = 1n << BigInt(m.width - 1); // x^0
  let n = BigInt(bytes);
  let k = 3; // 8 = 2^3
  while (n > 0n) {
    if (n & 1n) p = multModP(m, t[k % 64]!, p);
    n >>= 1n;
    k++;
  }
  return p;
}

function toBig(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
}

function toBytes(v: bigint, width: number): Buffer {
  return Buffer.from(v.toString(16).padStart(width / 4, '0'), 'hex');
}

/**
 * The CRC (big-endian digest bytes, as on the wire) of the concatenation of pieces given as their CRCs and byte
 * lengths, in order. Throws for an algorithm that does not combine (SHA-1, SHA-256).
 */
export function combineCrcs(alg: ChecksumAlgorithm, pieces: ReadonlyArray<{ crc: Uint8Array; length: number }>): Buffer {
  const m = MODELS[alg];
  if (!m) throw new Error(`${alg} checksums cannot be combined`);
  // Parts of a multipart upload mostly share one size: each distinct length's operator is computed once.
  const operators = new Map<number, bigint>();
  let crc: bigint | undefined;
  for (const piece of pieces) {
    const next = toBig(piece.crc);
    if (crc === undefined) {
      crc = next;
      continue;
    }
    let op = operators.get(piece.length);
    if (op === undefined) {
      op = shiftOperator(m, piece.length);
      operators.set(piece.length, op);
    }
    crc = multModP(m, op, crc) ^ next;
  }
  // The CRC of nothing is 0 for all three models (initial value and final XOR cancel).
  return toBytes(crc ?? 0n, m.width);
}
