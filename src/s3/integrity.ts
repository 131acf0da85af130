import { checkDeclaredForms } from '../wire/body-verifier.ts';
import { algorithmForHeader, checksumHeaderName, createChecksummer, isValidBase64Checksum, parseChecksumAlgorithm, type ChecksumAlgorithm } from '../wire/checksums.ts';
import { AwsError } from '../wire/errors.ts';
import { InvalidRequest } from './errors.ts';

/**
 * The integrity headers S3 takes (Content-MD5, x-amz-checksum-*, x-amz-sdk-checksum-algorithm, x-amz-trailer) and
 * the checksums it keeps. The pipeline checks a body against them as it streams (wire/body-verifier.ts); this is
 * what S3 itself decides about them.
 */

/** The x-amz-checksum-<algorithm> headers a request carries (not -algorithm, -mode or -type). */
function sentChecksumHeaders(headers: Record<string, string | undefined>): Array<{ name: string; algorithm: ChecksumAlgorithm; value: string }> {
  const out: Array<{ name: string; algorithm: ChecksumAlgorithm; value: string }> = [];
  for (const [name, value] of Object.entries(headers)) {
    const algorithm = value === undefined ? undefined : algorithmForHeader(name);
    if (algorithm) out.push({ name, algorithm, value: value! });
  }
  return out;
}

/** At most one x-amz-checksum-<algorithm> header, as S3 requires. */
function singleChecksumHeader(headers: Record<string, string | undefined>): { name: string; algorithm: ChecksumAlgorithm; value: string } | undefined {
  const sent = sentChecksumHeaders(headers);
  if (sent.length > 1) throw new InvalidRequest('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  return sent[0];
}

/**
 * The integrity headers of a request, checked for form before its body is read (the body is checked against them
 * as it streams, and the answer must not wait for it): Content-MD5 (InvalidDigest), the x-amz-checksum-* value and
 * x-amz-sdk-checksum-algorithm (InvalidRequest). `bodyChecksum` false: the checksum headers describe the object
 * being assembled, not this body (CompleteMultipartUpload checks them itself).
 */
export function checkIntegrityHeaders(headers: Record<string, string | undefined>, bodyChecksum: boolean): void {
  const checksum = bodyChecksum ? singleChecksumHeader(headers) : undefined;
  checkDeclaredForms({ contentMd5Base64: headers['content-md5'], checksum });
  const sdk = headers['x-amz-sdk-checksum-algorithm'];
  if (checksum && sdk !== undefined && parseChecksumAlgorithm(sdk) !== checksum.algorithm) {
    throw new InvalidRequest('Value for x-amz-sdk-checksum-algorithm header is invalid.');
  }
}

/**
 * CompleteMultipartUpload's x-amz-checksum-<algorithm>: the checksum of the whole object, checked against the one the
 * parts make: for a COMPOSITE upload the checksum of the parts' checksums (with or without its -<parts> suffix), for a
 * FULL_OBJECT upload the CRC of the whole object. x-amz-checksum-type, when sent, must be the upload's. A malformed
 * value is InvalidRequest before the body is read; a mismatch is BadDigest.
 */
export function declaredObjectChecksum(
  headers: Record<string, string | undefined>,
  uploadAlgorithm: ChecksumAlgorithm | null,
  uploadType: 'COMPOSITE' | 'FULL_OBJECT' | null = uploadAlgorithm ? 'COMPOSITE' : null,
): { algorithm: ChecksumAlgorithm; matches(computed: string): boolean } | undefined {
  const type = headers['x-amz-checksum-type']?.trim().toUpperCase();
  if (type !== undefined && (uploadType === null || type !== uploadType)) {
    throw new AwsError('BadDigest', 400, `The x-amz-checksum-type ${type} does not match the checksum type of the upload (${uploadType ?? 'none'}).`);
  }
  const sent = singleChecksumHeader(headers);
  if (!sent) return undefined;
  const m = (uploadType === 'FULL_OBJECT' ? /^([A-Za-z0-9+/=]+)$/ : /^([A-Za-z0-9+/=]+)(?:-([1-9][0-9]{0,4}))?$/).exec(sent.value.trim());
  if (!m || !isValidBase64Checksum(sent.algorithm, m[1]!)) throw new InvalidRequest(`Value for ${checksumHeaderName(sent.algorithm)} header is invalid.`);
  const digest = m[1]!;
  const parts = m[2];
  return {
    algorithm: sent.algorithm,
    matches: (computed) =>
      sent.algorithm === uploadAlgorithm &&
      (uploadType === 'FULL_OBJECT' ? computed === digest : parts === undefined ? computed.startsWith(`${digest}-`) : computed === `${digest}-${parts}`),
  };
}

/** The checksum algorithm a body comes with (its trailer, its header, or the one the SDK declares). */
export function requestedChecksum(headers: Record<string, string | undefined>): ChecksumAlgorithm | undefined {
  const trailer = headers['x-amz-trailer'];
  if (trailer) {
    const a = algorithmForHeader(trailer);
    if (a) return a;
  }
  for (const k of Object.keys(headers)) {
    if (k === 'x-amz-checksum-algorithm' || k === 'x-amz-checksum-mode' || k === 'x-amz-checksum-type') continue;
    const a = algorithmForHeader(k);
    if (a) return a;
  }
  const declared = headers['x-amz-sdk-checksum-algorithm'] ?? headers['x-amz-checksum-algorithm'];
  if (declared !== undefined) {
    const a = parseChecksumAlgorithm(declared);
    if (!a) throw new InvalidRequest(`Checksum algorithm ${declared} is not supported.`);
    return a;
  }
  return undefined;
}

/** A multipart object's composite checksum: the checksum of its parts' checksums, then -<number of parts>. */
export function compositeChecksum(alg: ChecksumAlgorithm, parts: string[]): string {
  const c = createChecksummer(alg);
  for (const p of parts) c.update(Buffer.from(p, 'base64'));
  return `${c.digest().toString('base64')}-${parts.length}`;
}
