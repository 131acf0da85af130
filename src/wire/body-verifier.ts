import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AwsError } from './errors.ts';
import { type ChecksumAlgorithm, type Checksummer, checksumHeaderName, createChecksummer, isValidBase64Checksum } from './checksums.ts';

/**
 * Pass-through stream that checks a request body against what the client declared: the
 * x-amz-content-sha256 hash, Content-MD5, an x-amz-checksum-* value (header or aws-chunked
 * trailer) and the Content-Length. Every check runs when the body ends (the consumer commits only
 * after that), including the form of the declared values: a service refuses a malformed one before it
 * reads the body (checkDeclaredForms), and a stream failing at its first byte would tear the request
 * down under the answer. Only the digests that were asked for are computed.
 */

export interface BodyVerifierOptions {
  /** Hex SHA-256 from x-amz-content-sha256 (a real hash, not UNSIGNED-PAYLOAD / STREAMING-*). */
  expectedSha256Hex?: string;
  /** Content-MD5 as sent (base64 of the 16-byte digest). */
  contentMd5Base64?: string;
  /**
   * A flexible checksum to compute and, when `expected` yields a value, verify. `expected` may be
   * a function, read at the end of the body (e.g. `() => decoder.trailers.get('x-amz-checksum-crc32')`);
   * a function that returns undefined is a trailer the client announced but did not send.
   */
  checksum?: { algorithm: ChecksumAlgorithm; expected?: string | (() => string | undefined) };
  /** Content-Length (or x-amz-decoded-content-length): the body must have exactly this many bytes. */
  expectedLength?: number;
  /** Compute the MD5 even without Content-MD5 (e.g. for the ETag). */
  computeMd5?: boolean;
  /** Compute the SHA-256 even without an expected value. */
  computeSha256?: boolean;
}

const MD5_BASE64 = /^[A-Za-z0-9+/]{22}==$/;

/**
 * The form of the declared values a body will be checked against, before any of it is read: a Content-MD5 that is
 * not base64 of 16 bytes is InvalidDigest, an x-amz-checksum-* value that is not base64 of the algorithm's digest
 * InvalidRequest (AWS's codes and words).
 */
export function checkDeclaredForms(declared: { contentMd5Base64?: string | undefined; checksum?: { algorithm: ChecksumAlgorithm; value: string } | undefined }): void {
  const md5 = declared.contentMd5Base64;
  if (md5 !== undefined && !MD5_BASE64.test(md5.trim())) throw invalidDigest();
  const c = declared.checksum;
  if (c && !isValidBase64Checksum(c.algorithm, c.value.trim())) throw invalidChecksumValue(c.algorithm);
}

export class BodyVerifier extends Transform {
  /** Bytes seen so far. */
  bytes = 0;
  /** Set at the end of the body, when computed. */
  sha256Hex: string | undefined;
  md5Base64: string | undefined;
  md5Hex: string | undefined;
  /** The computed flexible checksum (base64), when one was configured. */
  checksumBase64: string | undefined;
  readonly checksumAlgorithm: ChecksumAlgorithm | undefined;

  private readonly opts: BodyVerifierOptions;
  private readonly sha256: Hash | undefined;
  private readonly md5: Hash | undefined;
  private readonly checksummer: Checksummer | undefined;
  private failed = false;

  constructor(opts: BodyVerifierOptions = {}) {
    super();
    this.opts = opts;
    this.sha256 = opts.expectedSha256Hex !== undefined || opts.computeSha256 ? createHash('sha256') : undefined;
    this.md5 = opts.contentMd5Base64 !== undefined || opts.computeMd5 ? createHash('md5') : undefined;
    this.checksumAlgorithm = opts.checksum?.algorithm;
    this.checksummer = opts.checksum ? createChecksummer(opts.checksum.algorithm) : undefined;
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failed) return callback();
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    try {
      this.bytes += buf.length;
      this.sha256?.update(buf);
      this.md5?.update(buf);
      this.checksummer?.update(buf);
      callback(null, buf);
    } catch (err) {
      this.failed = true;
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.failed) return callback();
    try {
      this.finish();
      callback();
    } catch (err) {
      this.failed = true;
      callback(err as Error);
    }
  }

  private finish(): void {
    const o = this.opts;
    checkDeclaredForms({
      contentMd5Base64: o.contentMd5Base64,
      checksum: o.checksum && typeof o.checksum.expected === 'string' ? { algorithm: o.checksum.algorithm, value: o.checksum.expected } : undefined,
    });
    if (o.expectedLength !== undefined && this.bytes !== o.expectedLength) {
      throw new AwsError('IncompleteBody', 400, 'You did not provide the number of bytes specified by the Content-Length HTTP header');
    }

    if (this.md5) {
      const digest = this.md5.digest();
      this.md5Base64 = digest.toString('base64');
      this.md5Hex = digest.toString('hex');
    }
    if (this.sha256) this.sha256Hex = this.sha256.digest('hex');
    if (this.checksummer) this.checksumBase64 = this.checksummer.digest().toString('base64');

    if (o.contentMd5Base64 !== undefined && o.contentMd5Base64.trim() !== this.md5Base64) {
      throw new AwsError('BadDigest', 400, 'The Content-MD5 you specified did not match what we received.');
    }

    if (o.expectedSha256Hex !== undefined && o.expectedSha256Hex.trim().toLowerCase() !== this.sha256Hex) {
      throw new AwsError('XAmzContentSHA256Mismatch', 400, "The provided 'x-amz-content-sha256' header does not match what was computed.", {
        ClientComputedContentSHA256: o.expectedSha256Hex,
        S3ComputedContentSHA256: this.sha256Hex!,
      });
    }

    const c = o.checksum;
    if (c && c.expected !== undefined) {
      const alg = c.algorithm;
      const raw = typeof c.expected === 'function' ? c.expected() : c.expected;
      if (raw === undefined) {
        throw new AwsError('InvalidRequest', 400, `The request body is missing the ${checksumHeaderName(alg)} trailer named by x-amz-trailer.`);
      }
      const expected = raw.trim();
      if (!isValidBase64Checksum(alg, expected)) throw invalidChecksumValue(alg);
      if (expected !== this.checksumBase64) {
        throw new AwsError('BadDigest', 400, `The ${alg} you specified did not match the calculated checksum.`);
      }
    }
  }
}

function invalidDigest(): AwsError {
  return new AwsError('InvalidDigest', 400, 'The Content-MD5 you specified was invalid.');
}

function invalidChecksumValue(alg: ChecksumAlgorithm): AwsError {
  return new AwsError('InvalidRequest', 400, `Value for ${checksumHeaderName(alg)} header is invalid.`);
}
