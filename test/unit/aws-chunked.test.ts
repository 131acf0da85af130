import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { getSigningKey } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { AwsChunkedDecoder, AwsChunkedError, type AwsChunkedOptions, MAX_LINE_BYTES } from '../../src/wire/aws-chunked.ts';
import { BodyVerifier, checkDeclaredForms, type BodyVerifierOptions } from '../../src/wire/body-verifier.ts';
import { AwsError } from '../../src/wire/errors.ts';
import { checksumBase64 } from '../../src/wire/checksums.ts';
import { chunkStringToSign, hmacHex, sha256Hex, trailerStringToSign } from '../../src/wire/sigv4.ts';

// ---- helpers -------------------------------------------------------------------------------

/** Split `body` into pieces of the given sizes (cycled) and feed them as separate writes. */
function pieces(body: Buffer, sizes: number[] = [body.length || 1]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (pos < body.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    out.push(body.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

interface Decoded {
  data: Buffer;
  decoder: AwsChunkedDecoder;
  verifier?: BodyVerifier;
}

async function decode(input: Buffer[] | Buffer, opts: AwsChunkedOptions = {}, verify?: (d: AwsChunkedDecoder) => BodyVerifierOptions): Promise<Decoded> {
  const decoder = new AwsChunkedDecoder(opts);
  const verifier = verify ? new BodyVerifier(verify(decoder)) : undefined;
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(Buffer.from(chunk));
      cb();
    },
  });
  const source = Readable.from(Array.isArray(input) ? input : [input], { objectMode: false });
  if (verifier) await pipeline(source, decoder, verifier, sink);
  else await pipeline(source, decoder, sink);
  return { data: Buffer.concat(out), decoder, ...(verifier ? { verifier } : {}) };
}

async function rejectsWith(p: Promise<unknown>, reason: AwsChunkedError['reason']): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AwsChunkedError, `expected AwsChunkedError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

async function rejectsAws(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AwsError, `expected AwsError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Unsigned aws-chunked encoding with a CRC32 trailer, as botocore / the JS SDK send it. */
function encodeUnsigned(data: Buffer, chunkSize: number, trailers: Array<[string, string]> = []): Buffer {
  const parts: Buffer[] = [];
  for (let pos = 0; pos < data.length; pos += chunkSize) {
    const chunk = data.subarray(pos, pos + chunkSize);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n'));
  for (const [k, v] of trailers) parts.push(Buffer.from(`${k}:${v}\r\n`));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

// ---- the AWS documentation example (S3 API reference, "Transferring Payload in Multiple Chunks") ----

const DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const DOC_LONG_DATE = '20130524T000000Z';
const DOC_SCOPE = '20130524/us-east-1/s3/aws4_request';
const DOC_DATA = Buffer.alloc(65536 + 1024, 'a');
const DOC_SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const DOC_SIGS = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
];
// Same request with a trailing x-amz-checksum-crc32c ("Signature calculations for trailing headers").
const DOC_TRAILER_SEED = '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e';
const DOC_TRAILER_SIGS = [
  'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2',
  '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7',
  '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992',
];
const DOC_TRAILER_SIGNATURE = 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435';

async function docSigningKey(): Promise<Uint8Array> {
  return getSigningKey(Hash.bind(null, 'sha256'), { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: DOC_SECRET }, '20130524', 'us-east-1', 's3');
}

function docBody(sigs: string[], trailer = ''): Buffer {
  return Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`),
    DOC_DATA.subarray(0, 65536),
    Buffer.from(`\r\n400;chunk-signature=${sigs[1]}\r\n`),
    DOC_DATA.subarray(65536),
    Buffer.from(`\r\n0;chunk-signature=${sigs[2]}\r\n\r\n`),
    Buffer.from(trailer),
  ]);
}

test('AWS doc vector: chunk signatures chain from the seed (sigv4 helpers)', async () => {
  const key = await docSigningKey();
  let prev = DOC_SEED;
  const chunks = [DOC_DATA.subarray(0, 65536), DOC_DATA.subarray(65536), Buffer.alloc(0)];
  chunks.forEach((c, i) => {
    const sig = hmacHex(key, chunkStringToSign(DOC_LONG_DATE, DOC_SCOPE, prev, sha256Hex(c)));
    assert.equal(sig, DOC_SIGS[i]);
    prev = sig;
  });
});

test('AWS doc vector: signed chunks decode and verify', async () => {
  const signingKey = await docSigningKey();
  const signing = { signingKey, longDate: DOC_LONG_DATE, scope: DOC_SCOPE, seedSignature: DOC_SEED };
  const body = docBody(DOC_SIGS);
  assert.equal(body.length, 66824); // Content-Length in the documentation
  for (const split of [[body.length], [1000], [7, 65536, 3], [1]]) {
    const { data, decoder } = await decode(pieces(body, split), { signing, decodedContentLength: 66560 });
    assert.ok(data.equals(DOC_DATA), `split ${split}`);
    assert.equal(decoder.decodedBytes, 66560);
    assert.equal(decoder.trailers.size, 0);
  }
});

test('AWS doc vector: a flipped data byte, a wrong signature or a missing one fail with signature', async () => {
  const signingKey = await docSigningKey();
  const signing = { signingKey, longDate: DOC_LONG_DATE, scope: DOC_SCOPE, seedSignature: DOC_SEED };
  const body = docBody(DOC_SIGS);

  const flippedData = Buffer.from(body);
  flippedData[100]! ^= 0x01;
  await rejectsWith(decode(flippedData, { signing }), 'signature');

  const flippedLast = Buffer.from(body);
  flippedLast[body.length - 70]! ^= 0x01; // inside the data of the 1 KiB chunk
  await rejectsWith(decode(flippedLast, { signing }), 'signature');

  const badSig = docBody([DOC_SIGS[0]!, DOC_SIGS[1]!, DOC_SIGS[2]!.replace(/^b/, 'c')]);
  await rejectsWith(decode(badSig, { signing }), 'signature');

  const swapped = docBody([DOC_SIGS[1]!, DOC_SIGS[0]!, DOC_SIGS[2]!]);
  await rejectsWith(decode(swapped, { signing }), 'signature');

  const wrongSeed = { ...signing, seedSignature: DOC_SEED.replace(/^4/, '5') };
  await rejectsWith(decode(body, { signing: wrongSeed }), 'signature');

  const unsignedBody = encodeUnsigned(DOC_DATA, 65536);
  await rejectsWith(decode(unsignedBody, { signing }), 'signature');

  // Without signing configured, the same (tampered) body decodes: signatures are only checked on request.
  const { data } = await decode(badSig);
  assert.ok(data.equals(DOC_DATA));
});

test('AWS doc vector with a signed trailer', async () => {
  const signingKey = await docSigningKey();
  const signing = { signingKey, longDate: DOC_LONG_DATE, scope: DOC_SCOPE, seedSignature: DOC_TRAILER_SEED };
  const trailerSig = hmacHex(signingKey, trailerStringToSign(DOC_LONG_DATE, DOC_SCOPE, DOC_TRAILER_SIGS[2]!, sha256Hex('x-amz-checksum-crc32c:sOO8/Q==\n')));
  assert.equal(trailerSig, DOC_TRAILER_SIGNATURE);
  const trailer = `x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:${DOC_TRAILER_SIGNATURE}\r\n`;
  for (const ending of ['\r\n', '']) {
    const body = docBody(DOC_TRAILER_SIGS, trailer + ending);
    for (const split of [[body.length], [1]]) {
      const { data, decoder, verifier } = await decode(pieces(body, split), { signing, signedTrailer: true, decodedContentLength: 66560 }, (d) => ({
        checksum: { algorithm: 'CRC32C', expected: () => d.trailers.get('x-amz-checksum-crc32c') },
      }));
      assert.ok(data.equals(DOC_DATA));
      assert.equal(decoder.trailers.get('x-amz-checksum-crc32c'), 'sOO8/Q==');
      assert.equal(decoder.trailers.has('x-amz-trailer-signature'), false);
      assert.equal(verifier!.checksumBase64, 'sOO8/Q==');
    }
  }
  // Tampered trailer value, wrong trailer signature, or none at all.
  await rejectsWith(decode(docBody(DOC_TRAILER_SIGS, trailer.replace('sOO8', 'sOO9') + '\r\n'), { signing, signedTrailer: true }), 'signature');
  await rejectsWith(decode(docBody(DOC_TRAILER_SIGS, trailer.replace('d81f', 'd81e') + '\r\n'), { signing, signedTrailer: true }), 'signature');
  await rejectsWith(decode(docBody(DOC_TRAILER_SIGS, 'x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n'), { signing, signedTrailer: true }), 'signature');
});

// ---- unsigned trailer form (botocore >= 1.36, JS SDK streams) -----------------------------------

const SMALL_WIRE = '12\r\nhello small object\r\n0\r\nx-amz-checksum-crc32:/SXDEw==\r\n\r\n';

test('aws-wire.md small object: decodes with its CRC32 trailer, and BodyVerifier accepts it', async () => {
  const { data, decoder, verifier } = await decode(Buffer.from(SMALL_WIRE), { decodedContentLength: 18 }, (d) => ({
    checksum: { algorithm: 'CRC32', expected: () => d.trailers.get('x-amz-checksum-crc32') },
    expectedLength: 18,
    computeMd5: true,
  }));
  assert.equal(data.toString(), 'hello small object');
  assert.deepEqual([...decoder.trailers], [['x-amz-checksum-crc32', '/SXDEw==']]);
  assert.equal(verifier!.checksumBase64, '/SXDEw==');
  assert.equal(verifier!.bytes, 18);
  assert.equal(verifier!.md5Base64, '+fzdIlLlOmJq/9UV6zQtzw=='); // the Content-MD5 the CLI sent for the same body
  assert.equal(verifier!.sha256Hex, undefined); // not asked for
});

test('aws-wire.md small object: a wrong trailer CRC fails with BadDigest; a missing one with InvalidRequest', async () => {
  const wrong = SMALL_WIRE.replace('/SXDEw==', 'AAAAAA==');
  await rejectsAws(
    decode(Buffer.from(wrong), {}, (d) => ({ checksum: { algorithm: 'CRC32', expected: () => d.trailers.get('x-amz-checksum-crc32') } })),
    'BadDigest',
  );
  await rejectsAws(
    decode(Buffer.from(SMALL_WIRE), {}, (d) => ({ checksum: { algorithm: 'CRC32C', expected: () => d.trailers.get('x-amz-checksum-crc32c') } })),
    'InvalidRequest',
  );
  await rejectsAws(
    decode(Buffer.from(SMALL_WIRE.replace('/SXDEw==', 'nope')), {}, (d) => ({
      checksum: { algorithm: 'CRC32', expected: () => d.trailers.get('x-amz-checksum-crc32') },
    })),
    'InvalidRequest',
  );
});

test('input fed one byte at a time', async () => {
  const { data, decoder } = await decode(pieces(Buffer.from(SMALL_WIRE), [1]), { decodedContentLength: 18 });
  assert.equal(data.toString(), 'hello small object');
  assert.equal(decoder.trailers.get('x-amz-checksum-crc32'), '/SXDEw==');
});

test('tolerated endings: no final empty line, blank line before trailers, no trailers, trailing CRLF', async () => {
  const variants = [
    '12\r\nhello small object\r\n0\r\nx-amz-checksum-crc32:/SXDEw==\r\n',
    '12\r\nhello small object\r\n0\r\nx-amz-checksum-crc32:/SXDEw==',
    '12\r\nhello small object\r\n0\r\n\r\nx-amz-checksum-crc32:/SXDEw==\r\n\r\n',
    '12\r\nhello small object\r\n0\r\nX-Amz-Checksum-CRC32 : /SXDEw==\r\n\r\n\r\n',
  ];
  for (const v of variants) {
    for (const split of [[v.length], [1], [2], [3]]) {
      const { data, decoder } = await decode(pieces(Buffer.from(v), split), { decodedContentLength: 18 });
      assert.equal(data.toString(), 'hello small object', JSON.stringify(v));
      assert.equal(decoder.trailers.get('x-amz-checksum-crc32'), '/SXDEw==', JSON.stringify(v));
    }
  }
  for (const v of ['12\r\nhello small object\r\n0\r\n', '12\r\nhello small object\r\n0\r\n\r\n', '0\r\n\r\n', '0\r\n']) {
    const { data, decoder } = await decode(Buffer.from(v));
    assert.equal(data.length, v.startsWith('0') ? 0 : 18);
    assert.equal(decoder.trailers.size, 0);
  }
});

for (const chunkSize of [64 * 1024, 1024 * 1024]) {
  test(`random data in ${chunkSize / 1024} KiB chunks with a CRC32 trailer`, async () => {
    const data = randomBytes(3 * chunkSize + 12345);
    const crc = checksumBase64('CRC32', data);
    const body = encodeUnsigned(data, chunkSize, [['x-amz-checksum-crc32', crc]]);
    for (const split of [[body.length], [16 * 1024], [8191, 3, 65537], [chunkSize + 1]]) {
      const { data: out, decoder, verifier } = await decode(pieces(body, split), { decodedContentLength: data.length, maxDecodedBytes: data.length }, (d) => ({
        checksum: { algorithm: 'CRC32', expected: () => d.trailers.get('x-amz-checksum-crc32') },
        computeSha256: true,
      }));
      assert.ok(out.equals(data));
      assert.equal(decoder.decodedBytes, data.length);
      assert.equal(verifier!.sha256Hex, sha256Hex(data));
    }
  });
}

test('truncated stream (no 0 chunk) is malformed', async () => {
  const body = encodeUnsigned(randomBytes(70000), 65536);
  const end = body.indexOf('\r\n0\r\n');
  await rejectsWith(decode(body.subarray(0, end + 2)), 'malformed'); // complete chunks, no 0 chunk
  await rejectsWith(decode(body.subarray(0, 1000)), 'malformed'); // mid-data
  await rejectsWith(decode(body.subarray(0, 3)), 'malformed'); // mid-header
  await rejectsWith(decode(Buffer.alloc(0)), 'malformed'); // empty
});

test('framing errors are malformed', async () => {
  for (const bad of [
    'zz\r\nhello\r\n0\r\n\r\n', // not hex
    '\r\n0\r\n\r\n', // empty size
    '5\r\nhello small object\r\n0\r\n\r\n', // size shorter than data
    '20\r\nhello small object\r\n0\r\n\r\n', // size longer than data (runs into the trailer)
    '12\r\nhello small object\r\n0\r\nnot a trailer\r\n\r\n',
    '12\r\nhello small object\r\n0\r\n\r\nx-amz-checksum-crc32:/SXDEw==\r\n\r\ngarbage',
    'ffffffffffffffffff\r\n',
  ]) {
    await rejectsWith(decode(Buffer.from(bad)), 'malformed');
  }
});

test('decoded length mismatch fails with length', async () => {
  await rejectsWith(decode(Buffer.from(SMALL_WIRE), { decodedContentLength: 17 }), 'length');
  await rejectsWith(decode(Buffer.from(SMALL_WIRE), { decodedContentLength: 19 }), 'length');
  await rejectsWith(decode(Buffer.from('0\r\n\r\n'), { decodedContentLength: 1 }), 'length');
});

test('maxDecodedBytes exceeded fails with too-large', async () => {
  await rejectsWith(decode(Buffer.from(SMALL_WIRE), { maxDecodedBytes: 17 }), 'too-large');
  const { data } = await decode(Buffer.from(SMALL_WIRE), { maxDecodedBytes: 18 });
  assert.equal(data.length, 18);
});

test('oversized header or trailer line is malformed', async () => {
  const longExt = `12;${'x'.repeat(MAX_LINE_BYTES + 10)}\r\nhello small object\r\n0\r\n\r\n`;
  await rejectsWith(decode(Buffer.from(longExt)), 'malformed');
  await rejectsWith(decode(pieces(Buffer.from(longExt), [100])), 'malformed');
  // A line that never ends must not be buffered without bound.
  await rejectsWith(decode(pieces(Buffer.alloc(1024 * 1024, '1'), [4096])), 'malformed');
  const longTrailer = `12\r\nhello small object\r\n0\r\nx-amz-meta:${'v'.repeat(MAX_LINE_BYTES)}\r\n\r\n`;
  await rejectsWith(decode(Buffer.from(longTrailer)), 'malformed');
  // Just under the bound is fine.
  const okExt = `12;${'x'.repeat(MAX_LINE_BYTES - 3)}\r\nhello small object\r\n0\r\n\r\n`;
  assert.equal((await decode(pieces(Buffer.from(okExt), [1]))).data.toString(), 'hello small object');
});

// ---- BodyVerifier on plain bodies ------------------------------------------------------------

async function verifyPlain(body: Buffer, opts: BodyVerifierOptions, split: number[] = [body.length || 1]): Promise<{ out: Buffer; v: BodyVerifier }> {
  const v = new BodyVerifier(opts);
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces(body, split)),
    v,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return { out: Buffer.concat(out), v };
}

test('BodyVerifier: legacy UNSIGNED-PAYLOAD + Content-MD5 body, header checksum, sha256', async () => {
  const body = Buffer.from('hello small object');
  const { out, v } = await verifyPlain(
    body,
    {
      contentMd5Base64: '+fzdIlLlOmJq/9UV6zQtzw==',
      expectedSha256Hex: sha256Hex(body),
      checksum: { algorithm: 'CRC32', expected: '/SXDEw==' },
      expectedLength: 18,
    },
    [5],
  );
  assert.ok(out.equals(body));
  assert.equal(v.bytes, 18);
  assert.equal(v.md5Hex, Buffer.from('+fzdIlLlOmJq/9UV6zQtzw==', 'base64').toString('hex'));
  assert.equal(v.sha256Hex, sha256Hex(body));
  assert.equal(v.checksumBase64, '/SXDEw==');
});

test('BodyVerifier: mismatches and malformed declarations', async () => {
  const body = Buffer.from('hello small object');
  await rejectsAws(verifyPlain(body, { contentMd5Base64: '1B2M2Y8AsgTpgAmY7PhCfg==' }), 'BadDigest');
  await rejectsAws(verifyPlain(body, { contentMd5Base64: 'not-md5' }), 'InvalidDigest');
  await rejectsAws(verifyPlain(Buffer.alloc(0), { contentMd5Base64: 'not-md5' }), 'InvalidDigest');
  await rejectsAws(verifyPlain(body, { checksum: { algorithm: 'CRC32', expected: 'AAAAAA==' } }), 'BadDigest');
  await rejectsAws(verifyPlain(body, { checksum: { algorithm: 'CRC32', expected: 'AAAA' } }), 'InvalidRequest');
  await rejectsAws(verifyPlain(body, { expectedLength: 19 }), 'IncompleteBody');
  await assert.rejects(verifyPlain(body, { expectedSha256Hex: sha256Hex('other') }), (err: unknown) => {
    assert.ok(err instanceof AwsError);
    assert.equal(err.code, 'XAmzContentSHA256Mismatch');
    assert.equal(err.status, 400);
    assert.equal(err.fields.ClientComputedContentSHA256, sha256Hex('other'));
    assert.equal(err.fields.S3ComputedContentSHA256, sha256Hex(body));
    return true;
  });
  await rejectsAws(verifyPlain(body, { checksum: { algorithm: 'SHA256', expected: checksumBase64('SHA256', Buffer.from('x')) } }), 'BadDigest');
  const { v } = await verifyPlain(body, { checksum: { algorithm: 'CRC64NVME', expected: checksumBase64('CRC64NVME', body) } });
  assert.equal(v.checksumBase64, checksumBase64('CRC64NVME', body));
  // Computed but not checked when no expected value is given.
  const { v: v2 } = await verifyPlain(body, { checksum: { algorithm: 'SHA1' } });
  assert.equal(v2.checksumBase64, checksumBase64('SHA1', body));
  assert.equal(v2.md5Base64, undefined);
});

test('BodyVerifier: a malformed declaration fails when the body ends, not at its first byte (the service refuses it before reading)', async () => {
  const body = randomBytes(100_000);
  for (const opts of [{ contentMd5Base64: 'not-md5' }, { checksum: { algorithm: 'SHA256' as const, expected: 'AAAA' } }]) {
    const v = new BodyVerifier(opts);
    const seen: Buffer[] = [];
    v.on('data', (c: Buffer) => seen.push(c));
    const failed = new Promise<unknown>((resolve) => v.once('error', resolve));
    v.write(body.subarray(0, 50_000));
    await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.concat(seen).length, 50_000, 'the first bytes pass through');
    v.end(body.subarray(50_000));
    const err = await failed;
    assert.ok(err instanceof AwsError && err.code === (opts.contentMd5Base64 ? 'InvalidDigest' : 'InvalidRequest'), String(err));
  }
});

test('checkDeclaredForms: the codes AWS gives a malformed Content-MD5 or checksum value; well-formed values pass', () => {
  const code = (f: () => void) => {
    try {
      f();
      return 'none';
    } catch (err) {
      return (err as AwsError).code;
    }
  };
  assert.equal(code(() => checkDeclaredForms({ contentMd5Base64: 'notbase64!' })), 'InvalidDigest');
  assert.equal(code(() => checkDeclaredForms({ contentMd5Base64: 'YWJj' })), 'InvalidDigest');
  assert.equal(code(() => checkDeclaredForms({ contentMd5Base64: ' 1B2M2Y8AsgTpgAmY7PhCfg== ' })), 'none');
  assert.equal(code(() => checkDeclaredForms({ checksum: { algorithm: 'SHA256', value: 'AAAA' } })), 'InvalidRequest');
  assert.equal(code(() => checkDeclaredForms({ checksum: { algorithm: 'CRC32', value: checksumBase64('SHA256', Buffer.from('x')) } })), 'InvalidRequest');
  assert.equal(code(() => checkDeclaredForms({ checksum: { algorithm: 'CRC32', value: checksumBase64('CRC32', Buffer.from('x')) } })), 'none');
});

test('data streams out before its chunk (or the body) is complete', async () => {
  const decoder = new AwsChunkedDecoder({ decodedContentLength: 1 << 20 });
  const got: Buffer[] = [];
  decoder.on('data', (c: Buffer) => got.push(c));
  const data = randomBytes(1 << 20);
  decoder.write(Buffer.concat([Buffer.from('100000\r\n'), data.subarray(0, 1000)]));
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(got).length, 1000);
  decoder.write(data.subarray(1000));
  decoder.end(Buffer.from('\r\n0\r\n\r\n'));
  await new Promise((r) => decoder.on('end', r));
  assert.ok(Buffer.concat(got).equals(data));
});
