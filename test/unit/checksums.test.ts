import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Crc32 } from '@aws-crypto/crc32';
import { Crc32c } from '@aws-crypto/crc32c';
import {
  type ChecksumAlgorithm,
  CHECKSUM_ALGORITHMS,
  algorithmForHeader,
  checksumBase64,
  checksumHeaderName,
  createChecksummer,
  isValidBase64Checksum,
  parseChecksumAlgorithm,
} from '../../src/wire/checksums.ts';

const CHECK_INPUT = Buffer.from('123456789', 'latin1');

test('CRC32 of "hello small object" is the value botocore sends', () => {
  assert.equal(checksumBase64('CRC32', Buffer.from('hello small object')), '/SXDEw==');
});

test('catalogue check values for "123456789"', () => {
  const hex = (alg: ChecksumAlgorithm) => Buffer.from(checksumBase64(alg, CHECK_INPUT), 'base64').toString('hex');
  assert.equal(hex('CRC32'), 'cbf43926');
  assert.equal(hex('CRC32C'), 'e3069283');
  assert.equal(hex('CRC64NVME'), 'ae8b14860a799888');
  assert.equal(hex('SHA1'), createHash('sha1').update(CHECK_INPUT).digest('hex'));
  assert.equal(hex('SHA256'), createHash('sha256').update(CHECK_INPUT).digest('hex'));
});

test('AWS documentation trailer value: CRC32C of 66560 bytes of "a" is sOO8/Q==', () => {
  assert.equal(checksumBase64('CRC32C', Buffer.alloc(66560, 'a')), 'sOO8/Q==');
});

test('SHA-1 / SHA-256 match node:crypto on random data', () => {
  const data = randomBytes(100_003);
  assert.equal(checksumBase64('SHA1', data), createHash('sha1').update(data).digest('base64'));
  assert.equal(checksumBase64('SHA256', data), createHash('sha256').update(data).digest('base64'));
});

test('incremental updates give the one-shot value for every algorithm', () => {
  const data = randomBytes(256 * 1024 + 13);
  for (const alg of CHECKSUM_ALGORITHMS) {
    const c = createChecksummer(alg);
    let pos = 0;
    let step = 1;
    while (pos < data.length) {
      c.update(data.subarray(pos, pos + step));
      pos += step;
      step = (step * 7 + 3) % 9973;
    }
    assert.equal(c.digest().toString('base64'), checksumBase64(alg, data), alg);
  }
});

test('empty input', () => {
  assert.equal(checksumBase64('CRC32', Buffer.alloc(0)), 'AAAAAA==');
  assert.equal(checksumBase64('CRC32C', Buffer.alloc(0)), 'AAAAAA==');
  assert.equal(checksumBase64('CRC64NVME', Buffer.alloc(0)), 'AAAAAAAAAAA=');
  assert.equal(checksumBase64('SHA256', Buffer.alloc(0)), createHash('sha256').digest('base64'));
});

test('digest lengths', () => {
  const lengths: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };
  for (const alg of CHECKSUM_ALGORITHMS) assert.equal(createChecksummer(alg).digest().length, lengths[alg], alg);
});

test('header names', () => {
  assert.equal(checksumHeaderName('CRC32'), 'x-amz-checksum-crc32');
  assert.equal(checksumHeaderName('CRC32C'), 'x-amz-checksum-crc32c');
  assert.equal(checksumHeaderName('CRC64NVME'), 'x-amz-checksum-crc64nvme');
  assert.equal(checksumHeaderName('SHA1'), 'x-amz-checksum-sha1');
  assert.equal(checksumHeaderName('SHA256'), 'x-amz-checksum-sha256');
  for (const alg of CHECKSUM_ALGORITHMS) {
    assert.equal(algorithmForHeader(checksumHeaderName(alg)), alg);
    assert.equal(algorithmForHeader(checksumHeaderName(alg).toUpperCase()), alg);
  }
  assert.equal(algorithmForHeader('X-Amz-Checksum-Crc32C'), 'CRC32C');
  assert.equal(algorithmForHeader('x-amz-checksum-md5'), undefined);
  assert.equal(algorithmForHeader('x-amz-checksum-mode'), undefined);
  assert.equal(algorithmForHeader('x-amz-checksum-algorithm'), undefined);
  assert.equal(algorithmForHeader('crc32'), undefined);
  assert.equal(parseChecksumAlgorithm('crc64nvme'), 'CRC64NVME');
  assert.equal(parseChecksumAlgorithm('MD5'), undefined);
});

test('isValidBase64Checksum checks form and decoded length', () => {
  assert.equal(isValidBase64Checksum('CRC32', '/SXDEw=='), true);
  assert.equal(isValidBase64Checksum('CRC32C', 'sOO8/Q=='), true);
  assert.equal(isValidBase64Checksum('CRC32', '/SXDEw'), false); // unpadded
  assert.equal(isValidBase64Checksum('CRC32', '/SXDEw==='), false);
  assert.equal(isValidBase64Checksum('CRC32', '/SXD Ew=='), false);
  assert.equal(isValidBase64Checksum('CRC32', ''), false);
  assert.equal(isValidBase64Checksum('CRC64NVME', '/SXDEw=='), false); // 4 bytes, needs 8
  assert.equal(isValidBase64Checksum('CRC64NVME', checksumBase64('CRC64NVME', CHECK_INPUT)), true);
  for (const alg of CHECKSUM_ALGORITHMS) {
    const v = checksumBase64(alg, CHECK_INPUT);
    assert.equal(isValidBase64Checksum(alg, v), true, alg);
    for (const other of CHECKSUM_ALGORITHMS) {
      if (checksumBase64(other, CHECK_INPUT).length !== v.length) assert.equal(isValidBase64Checksum(other, v), false, `${other} <- ${alg}`);
    }
  }
  assert.equal(isValidBase64Checksum('SHA256', createHash('sha256').digest('hex')), false); // hex, not base64
});

test('CRC32 / CRC32C agree with @aws-crypto on random data (CRC32 may use zlib natively)', () => {
  const data = randomBytes(300_001);
  const be = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b.toString('base64');
  };
  assert.equal(checksumBase64('CRC32', data), be(new Crc32().update(data).digest()));
  assert.equal(checksumBase64('CRC32C', data), be(new Crc32c().update(data).digest()));
});
