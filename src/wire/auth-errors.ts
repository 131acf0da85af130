import { AwsError } from './errors.ts';

export type WireProtocol = 'json' | 'query' | 'restxml';

/** Why authentication failed, independent of protocol; mapped to each protocol's AWS error below. */
export type AuthFailureKind =
  | 'missing' // no Authorization header, no presigned query
  | 'incomplete' // malformed Authorization header or presigned query
  | 'unknown-key' // access key id not found or inactive
  | 'signature' // the signature does not match
  | 'skew' // X-Amz-Date more than 15 minutes from the server clock
  | 'expired' // a presigned URL past X-Amz-Expires
  | 'payload-hash' // x-amz-content-sha256 does not match the body (S3)
  | 'token-expired'; // temporary credentials past their expiry

export class AuthFailure extends Error {
  readonly kind: AuthFailureKind;
  readonly fields: Record<string, string>;
  constructor(kind: AuthFailureKind, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = 'AuthFailure';
    this.kind = kind;
    this.fields = fields;
  }
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const S3_SIGNATURE_MISMATCH = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
const INVALID_TOKEN = 'The security token included in the request is invalid.';

/**
 * AWS answers the same failure differently per protocol: awsJson services (KMS, Secrets Manager ...)
 * use 400 with *Exception names, awsQuery services (STS, IAM) use 403 codes, S3 its own vocabulary.
 */
export function authError(f: AuthFailure, protocol: WireProtocol): AwsError {
  switch (protocol) {
    case 'json':
      switch (f.kind) {
        case 'missing':
          return new AwsError('MissingAuthenticationTokenException', 400, 'Missing Authentication Token');
        case 'incomplete':
          return new AwsError('IncompleteSignatureException', 400, f.message);
        case 'unknown-key':
          return new AwsError('UnrecognizedClientException', 400, INVALID_TOKEN);
        case 'token-expired':
          return new AwsError('ExpiredTokenException', 400, 'The security token included in the request is expired');
        case 'skew':
        case 'expired':
          return new AwsError('InvalidSignatureException', 400, f.message);
        case 'signature':
        case 'payload-hash':
          return new AwsError('InvalidSignatureException', 400, SIGNATURE_MISMATCH);
      }
      break;
    case 'query':
      switch (f.kind) {
        case 'missing':
          return new AwsError('MissingAuthenticationToken', 403, 'Request is missing Authentication Token');
        case 'incomplete':
          return new AwsError('IncompleteSignature', 400, f.message);
        case 'unknown-key':
          return new AwsError('InvalidClientTokenId', 403, INVALID_TOKEN);
        case 'token-expired':
          return new AwsError('ExpiredToken', 403, 'The security token included in the request is expired');
        case 'skew':
        case 'expired':
          return new AwsError('SignatureDoesNotMatch', 403, f.message);
        case 'signature':
        case 'payload-hash':
          return new AwsError('SignatureDoesNotMatch', 403, SIGNATURE_MISMATCH);
      }
      break;
    case 'restxml':
      switch (f.kind) {
        case 'missing':
          return new AwsError('AccessDenied', 403, 'Access Denied');
        case 'incomplete':
          return new AwsError(f.fields['presigned'] ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', 400, f.message);
        case 'unknown-key':
          return new AwsError('InvalidAccessKeyId', 403, 'The AWS Access Key Id you provided does not exist in our records.', pick(f.fields, 'AWSAccessKeyId'));
        case 'token-expired':
          return new AwsError('ExpiredToken', 400, 'The provided token has expired.');
        case 'skew':
          return new AwsError('RequestTimeTooSkewed', 403, 'The difference between the request time and the current time is too large.', {
            ...pick(f.fields, 'RequestTime', 'ServerTime'),
            MaxAllowedSkewMilliseconds: '900000',
          });
        case 'expired':
          return new AwsError('AccessDenied', 403, 'Request has expired', pick(f.fields, 'X-Amz-Expires', 'Expires', 'ServerTime'));
        case 'signature':
          return new AwsError('SignatureDoesNotMatch', 403, S3_SIGNATURE_MISMATCH, pick(f.fields, 'AWSAccessKeyId', 'SignatureProvided'));
        case 'payload-hash':
          return new AwsError('XAmzContentSHA256Mismatch', 400, "The provided 'x-amz-content-sha256' header does not match what was computed.", pick(
            f.fields,
            'ClientComputedContentSHA256',
            'S3ComputedContentSHA256',
          ));
      }
  }
  return new AwsError('AccessDenied', 403, 'Access Denied');
}

function pick(fields: Record<string, string>, ...names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (fields[n] !== undefined) out[n] = fields[n];
  return out;
}
