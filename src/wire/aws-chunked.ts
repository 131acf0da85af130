import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { EMPTY_SHA256, chunkStringToSign, hexEqual, hmacHex, sha256Hex, trailerStringToSign } from './sigv4.ts';

/**
 * Streaming decoder for `Content-Encoding: aws-chunked` request bodies (the HTTP
 * `Transfer-Encoding: chunked` layer is already gone by the time the body reaches us):
 *
 *   <hex-size>[;chunk-signature=<64 hex>]\r\n<data>\r\n      (repeated)
 *   0[;chunk-signature=<64 hex>]\r\n
 *   [\r\n]                                                   (signed form: the empty data's CRLF)
 *   name:value\r\n ...                                       (trailers, optionally x-amz-trailer-signature)
 *   \r\n                                                     (may be missing at end of stream)
 *
 * Data goes out as it arrives. Signed chunks are hashed incrementally and their signature checked
 * at the chunk's end; a mismatch fails the stream (the consumer only commits at end of stream).
 */

export type AwsChunkedErrorReason = 'malformed' | 'length' | 'signature' | 'too-large';

export class AwsChunkedError extends Error {
  constructor(
    readonly reason: AwsChunkedErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'AwsChunkedError';
  }
}

export interface AwsChunkedOptions {
  /** x-amz-decoded-content-length: the decoded body must have exactly this many bytes. */
  decodedContentLength?: number;
  /** Fail with 'too-large' as soon as the decoded body would exceed this many bytes. */
  maxDecodedBytes?: number;
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]: every chunk carries a chained chunk-signature. */
  signing?: { signingKey: Uint8Array; longDate: string; scope: string; seedSignature: string };
  /** With `signing`: the trailer must carry a valid x-amz-trailer-signature. */
  signedTrailer?: boolean;
}

/** Longest chunk-header or trailer line accepted (without its CRLF). */
export const MAX_LINE_BYTES = 4096;
/** Most trailer lines accepted. */
const MAX_TRAILERS = 64;

const TRAILER_SIGNATURE = 'x-amz-trailer-signature';
const CR = 0x0d;
const LF = 0x0a;

/**
 * header: reading a chunk header line; data: inside a chunk's data; data-end: expecting the CRLF
 * after a chunk's data; trailers: after the 0-size chunk, reading trailer lines; done: the body is
 * complete, only stray CR/LF may follow.
 */
type State = 'header' | 'data' | 'data-end' | 'trailers' | 'done';

const SIZE = /^[0-9a-fA-F]{1,16}$/;
const SIG = /^[0-9a-f]{64}$/;

export class AwsChunkedDecoder extends Transform {
  /** Trailer headers by lower-case name (without x-amz-trailer-signature); filled once the stream ends successfully. */
  readonly trailers = new Map<string, string>();
  /** Decoded bytes emitted so far. */
  decodedBytes = 0;
  /** Decoded bytes announced by the chunk headers read so far. */
  private announcedBytes = 0;

  private readonly opts: AwsChunkedOptions;
  private state: State = 'header';
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  /** Bytes of data left in the current chunk. */
  private remaining = 0;
  /** In 'data-end': whether the CR was already seen. */
  private sawCr = false;

  private previousSignature: string | undefined;
  private chunkSignature: string | undefined;
  private chunkHash: Hash | undefined;

  private readonly pendingTrailers = new Map<string, string>();
  /** name:value\n for each trailer line, in order, for the trailer signature. */
  private trailerText = '';
  private trailerSignature: string | undefined;
  private trailerLines = 0;
  private blankBeforeTrailers = false;
  private failed = false;

  constructor(opts: AwsChunkedOptions = {}) {
    super();
    this.opts = opts;
    this.previousSignature = opts.signing?.seedSignature;
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failed) return callback();
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    try {
      this.consume(buf);
      callback();
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

  private consume(buf: Buffer): void {
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.state) {
        case 'header':
        case 'trailers': {
          const nl = buf.indexOf(LF, pos);
          if (nl < 0) {
            this.appendLine(buf.subarray(pos));
            return;
          }
          this.appendLine(buf.subarray(pos, nl));
          pos = nl + 1;
          const line = this.takeLine();
          if (this.state === 'header') this.onHeaderLine(line);
          else this.onTrailerLine(line);
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, len - pos);
          const data = buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          this.decodedBytes += n;
          this.chunkHash?.update(data);
          this.push(data);
          if (this.remaining === 0) {
            this.endChunkData();
            this.state = 'data-end';
            this.sawCr = false;
          }
          break;
        }
        case 'data-end': {
          const b = buf[pos++];
          if (b === CR && !this.sawCr) {
            this.sawCr = true;
          } else if (b === LF) {
            this.state = 'header';
          } else {
            throw new AwsChunkedError('malformed', 'aws-chunked: chunk data is not followed by CRLF (chunk size does not match its data)');
          }
          break;
        }
        case 'done': {
          const b = buf[pos++];
          if (b !== CR && b !== LF) throw new AwsChunkedError('malformed', 'aws-chunked: unexpected data after the end of the body');
          break;
        }
      }
    }
  }

  private appendLine(part: Buffer): void {
    if (part.length === 0) return;
    this.lineLength += part.length;
    // +1: allow the CR that still belongs to the line terminator.
    if (this.lineLength > MAX_LINE_BYTES + 1) {
      throw new AwsChunkedError('malformed', `aws-chunked: ${this.state === 'header' ? 'chunk header' : 'trailer'} line longer than ${MAX_LINE_BYTES} bytes`);
    }
    // Copy: the caller's buffer may be reused once _transform returns.
    this.lineParts.push(Buffer.from(part));
  }

  /** The accumulated line without its terminating CR, as latin1 text. */
  private takeLine(): string {
    const raw = this.lineParts.length === 1 ? this.lineParts[0]! : Buffer.concat(this.lineParts, this.lineLength);
    this.lineParts = [];
    this.lineLength = 0;
    const end = raw.length > 0 && raw[raw.length - 1] === CR ? raw.length - 1 : raw.length;
    if (end > MAX_LINE_BYTES) throw new AwsChunkedError('malformed', `aws-chunked: line longer than ${MAX_LINE_BYTES} bytes`);
    return raw.toString('latin1', 0, end);
  }

  private onHeaderLine(line: string): void {
    const parts = line.split(';');
    const sizeText = parts[0]!.trim();
    if (!SIZE.test(sizeText)) throw new AwsChunkedError('malformed', `aws-chunked: invalid chunk size '${sizeText.slice(0, 32)}'`);
    const size = parseInt(sizeText, 16);
    if (!Number.isSafeInteger(size)) throw new AwsChunkedError('malformed', `aws-chunked: chunk size '${sizeText}' is too large`);
    let signature: string | undefined;
    for (let i = 1; i < parts.length; i++) {
      const ext = parts[i]!;
      const eq = ext.indexOf('=');
      const name = (eq < 0 ? ext : ext.slice(0, eq)).trim().toLowerCase();
      if (name === 'chunk-signature') signature = eq < 0 ? '' : ext.slice(eq + 1).trim();
    }

    const signing = this.opts.signing;
    if (signing) {
      if (signature === undefined) throw new AwsChunkedError('signature', 'aws-chunked: chunk is missing its chunk-signature');
      if (!SIG.test(signature)) throw new AwsChunkedError('signature', 'aws-chunked: malformed chunk-signature');
    }

    if (size > 0) {
      const after = this.announcedBytes + size;
      const max = this.opts.maxDecodedBytes;
      if (max !== undefined && after > max) throw new AwsChunkedError('too-large', `aws-chunked: decoded body exceeds the maximum of ${max} bytes`);
      const declared = this.opts.decodedContentLength;
      if (declared !== undefined && after > declared) {
        throw new AwsChunkedError('length', `aws-chunked: decoded body is longer than x-amz-decoded-content-length (${declared})`);
      }
      this.announcedBytes = after;
      this.remaining = size;
      if (signing) {
        this.chunkSignature = signature;
        this.chunkHash = createHash('sha256');
      }
      this.state = 'data';
      return;
    }

    // The final, empty chunk. It is signed like any other (over the empty string).
    if (signing) this.verifyChunk(signature!, EMPTY_SHA256);
    this.state = 'trailers';
  }

  /** Called when the current chunk's data is complete. */
  private endChunkData(): void {
    if (!this.chunkHash) return;
    const digest = this.chunkHash.digest('hex');
    this.chunkHash = undefined;
    this.verifyChunk(this.chunkSignature!, digest);
    this.chunkSignature = undefined;
  }

  private verifyChunk(provided: string, dataSha256Hex: string): void {
    const s = this.opts.signing!;
    const expected = hmacHex(s.signingKey, chunkStringToSign(s.longDate, s.scope, this.previousSignature!, dataSha256Hex));
    if (!hexEqual(expected, provided)) throw new AwsChunkedError('signature', 'aws-chunked: chunk signature does not match');
    this.previousSignature = provided;
  }

  private onTrailerLine(line: string): void {
    if (line.trim() === '') {
      if (this.trailerLines === 0 && !this.blankBeforeTrailers) {
        // Either the CRLF after the empty final chunk's data (signed form, trailers may follow) or the end of the body.
        this.blankBeforeTrailers = true;
      } else {
        this.state = 'done';
      }
      return;
    }
    this.addTrailer(line);
  }

  private addTrailer(line: string): void {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new AwsChunkedError('malformed', 'aws-chunked: malformed trailer line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!name) throw new AwsChunkedError('malformed', 'aws-chunked: malformed trailer line');
    if (++this.trailerLines > MAX_TRAILERS) throw new AwsChunkedError('malformed', 'aws-chunked: too many trailer lines');
    if (name === TRAILER_SIGNATURE) {
      if (this.trailerSignature !== undefined) throw new AwsChunkedError('malformed', 'aws-chunked: repeated x-amz-trailer-signature');
      this.trailerSignature = value;
      return;
    }
    if (this.trailerSignature !== undefined) throw new AwsChunkedError('malformed', 'aws-chunked: trailer after x-amz-trailer-signature');
    if (this.pendingTrailers.has(name)) throw new AwsChunkedError('malformed', `aws-chunked: repeated trailer '${name.slice(0, 64)}'`);
    this.pendingTrailers.set(name, value);
    this.trailerText += `${name}:${value}\n`;
  }

  private finish(): void {
    if (this.state === 'trailers' && this.lineLength > 0) {
      // Tolerate a last trailer line that ends the stream without its CRLF.
      const line = this.takeLine();
      if (line.trim() !== '') this.addTrailer(line);
    }
    if (this.state !== 'trailers' && this.state !== 'done') {
      throw new AwsChunkedError('malformed', 'aws-chunked: body ended before the final 0-size chunk');
    }

    const signing = this.opts.signing;
    if (signing && this.opts.signedTrailer) {
      const provided = this.trailerSignature;
      if (provided === undefined) throw new AwsChunkedError('signature', 'aws-chunked: trailer is missing x-amz-trailer-signature');
      const expected = hmacHex(signing.signingKey, trailerStringToSign(signing.longDate, signing.scope, this.previousSignature!, sha256Hex(this.trailerText)));
      if (!hexEqual(expected, provided)) throw new AwsChunkedError('signature', 'aws-chunked: trailer signature does not match');
    }

    const declared = this.opts.decodedContentLength;
    if (declared !== undefined && declared !== this.decodedBytes) {
      throw new AwsChunkedError('length', `aws-chunked: decoded body has ${this.decodedBytes} bytes but x-amz-decoded-content-length is ${declared}`);
    }

    for (const [k, v] of this.pendingTrailers) this.trailers.set(k, v);
  }
}
