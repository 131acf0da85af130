import { AwsError } from '../wire/errors.ts';

/** AWS KMS's error codes, each with the HTTP status KMS uses. */
export class NotFoundException extends AwsError {
  constructor(message: string) {
    super('NotFoundException', 400, message);
  }
}
export class DisabledException extends AwsError {
  constructor(arn: string) {
    super('DisabledException', 400, `${arn} is disabled.`);
  }
}
export class KMSInvalidStateException extends AwsError {
  constructor(message: string) {
    super('KMSInvalidStateException', 400, message);
  }
}
export class InvalidCiphertextException extends AwsError {
  constructor(message = 'The ciphertext is invalid: it is malformed, was altered, or its encryption context does not match.') {
    super('InvalidCiphertextException', 400, message);
  }
}
export class IncorrectKeyException extends AwsError {
  constructor() {
    super('IncorrectKeyException', 400, 'The key ID in the request does not identify a CMK that can perform this operation.');
  }
}
export class InvalidKeyUsageException extends AwsError {
  constructor(message: string) {
    super('InvalidKeyUsageException', 400, message);
  }
}
export class ValidationException extends AwsError {
  constructor(message: string) {
    super('ValidationException', 400, message);
  }
}
export class AlreadyExistsException extends AwsError {
  constructor(message: string) {
    super('AlreadyExistsException', 400, message);
  }
}
export class LimitExceededException extends AwsError {
  constructor(message: string) {
    super('LimitExceededException', 400, message);
  }
}
export class InvalidAliasNameException extends AwsError {
  constructor(message: string) {
    super('InvalidAliasNameException', 400, message);
  }
}
export class InvalidMarkerException extends AwsError {
  constructor() {
    super('InvalidMarkerException', 400, 'The marker that specifies where pagination should next begin is not valid.');
  }
}
export class MalformedPolicyDocumentException extends AwsError {
  constructor(message: string) {
    super('MalformedPolicyDocumentException', 400, message);
  }
}
export class TagException extends AwsError {
  constructor(message: string) {
    super('TagException', 400, message);
  }
}
export class UnsupportedOperationException extends AwsError {
  constructor(message: string) {
    super('UnsupportedOperationException', 400, message);
  }
}
export class DryRunOperationException extends AwsError {
  constructor() {
    // KMS's model gives this error no HTTP status of its own: a client error, 400 (412 is EC2's DryRunOperation).
    super('DryRunOperationException', 400, 'The request would have succeeded, but the DryRun option is set.');
  }
}
export class KMSInternalException extends AwsError {
  constructor() {
    super('KMSInternalException', 500, 'The request was rejected because an internal exception occurred. The request can be retried.');
  }
}
export class KMSInvalidSignatureException extends AwsError {
  constructor() {
    super('KMSInvalidSignatureException', 400, 'The signature verification failed: the signature does not match the message, key and algorithm.');
  }
}
export class KMSInvalidMacException extends AwsError {
  constructor() {
    super('KMSInvalidMacException', 400, 'The HMAC verification failed: the MAC does not match the message, key and algorithm.');
  }
}
export class InvalidImportTokenException extends AwsError {
  constructor() {
    super('InvalidImportTokenException', 400, 'The import token is not valid for this KMS key.');
  }
}
export class ExpiredImportTokenException extends AwsError {
  constructor() {
    super('ExpiredImportTokenException', 400, 'The import token has expired: call GetParametersForImport again.');
  }
}
export class IncorrectKeyMaterialException extends AwsError {
  constructor(message: string) {
    super('IncorrectKeyMaterialException', 400, message);
  }
}
export class InvalidGrantTokenException extends AwsError {
  constructor(message = 'The grant token is not valid.') {
    super('InvalidGrantTokenException', 400, message);
  }
}
export class InvalidGrantIdException extends AwsError {
  constructor(message = 'The grant ID is not valid.') {
    super('InvalidGrantIdException', 400, message);
  }
}
export class InvalidArnException extends AwsError {
  constructor(message: string) {
    super('InvalidArnException', 400, message);
  }
}

/** Custom key stores: AWS's error codes for the key store operations, all client faults (400) as KMS answers them. */
function clientError(code: string) {
  return class extends AwsError {
    constructor(message: string) {
      super(code, 400, message);
    }
  };
}
export const CustomKeyStoreNotFoundException = clientError('CustomKeyStoreNotFoundException');
export const CustomKeyStoreInvalidStateException = clientError('CustomKeyStoreInvalidStateException');
export const CustomKeyStoreNameInUseException = clientError('CustomKeyStoreNameInUseException');
export const CustomKeyStoreHasCMKsException = clientError('CustomKeyStoreHasCMKsException');
export const CloudHsmClusterNotFoundException = clientError('CloudHsmClusterNotFoundException');
export const CloudHsmClusterInUseException = clientError('CloudHsmClusterInUseException');
export const CloudHsmClusterNotActiveException = clientError('CloudHsmClusterNotActiveException');
export const CloudHsmClusterNotRelatedException = clientError('CloudHsmClusterNotRelatedException');
export const CloudHsmClusterInvalidConfigurationException = clientError('CloudHsmClusterInvalidConfigurationException');
export const IncorrectTrustAnchorException = clientError('IncorrectTrustAnchorException');
export const XksProxyUriInUseException = clientError('XksProxyUriInUseException');
export const XksProxyUriUnreachableException = clientError('XksProxyUriUnreachableException');
export const XksProxyIncorrectAuthenticationCredentialException = clientError('XksProxyIncorrectAuthenticationCredentialException');
export const XksProxyInvalidResponseException = clientError('XksProxyInvalidResponseException');
export const XksProxyInvalidConfigurationException = clientError('XksProxyInvalidConfigurationException');
export const XksKeyNotFoundException = clientError('XksKeyNotFoundException');
export const XksKeyAlreadyInUseException = clientError('XksKeyAlreadyInUseException');
export const XksKeyInvalidConfigurationException = clientError('XksKeyInvalidConfigurationException');
