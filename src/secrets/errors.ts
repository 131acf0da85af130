import { AwsError } from '../wire/errors.ts';

/** AWS Secrets Manager's error codes (all HTTP 400, as Secrets Manager answers them). */
export class ResourceNotFoundException extends AwsError {
  constructor(message = "Secrets Manager can't find the specified secret.") {
    super('ResourceNotFoundException', 400, message);
  }
}
export class ResourceExistsException extends AwsError {
  constructor(message: string) {
    super('ResourceExistsException', 400, message);
  }
}
/** A secret name (or SecretId that is not an ARN) with characters outside AWS's set; AWS's words. */
export class InvalidNameException extends AwsError {
  constructor() {
    super('ValidationException', 400, 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
  }
}
/** Secrets Manager could not invoke the rotation function (on AWS also when the function does not exist). */
export class AccessDeniedException extends AwsError {
  constructor(message: string) {
    super('AccessDeniedException', 400, message);
  }
}
export class InvalidRequestException extends AwsError {
  constructor(message: string) {
    super('InvalidRequestException', 400, message);
  }
}
export class InvalidParameterException extends AwsError {
  constructor(message: string) {
    super('InvalidParameterException', 400, message);
  }
}
export class InvalidNextTokenException extends AwsError {
  constructor() {
    super('InvalidNextTokenException', 400, 'The NextToken value is invalid.');
  }
}
export class LimitExceededException extends AwsError {
  constructor(message: string) {
    super('LimitExceededException', 400, message);
  }
}
export class MalformedPolicyDocumentException extends AwsError {
  constructor(message: string) {
    super('MalformedPolicyDocumentException', 400, message);
  }
}
export class EncryptionFailure extends AwsError {
  constructor(message: string) {
    super('EncryptionFailure', 400, message);
  }
}
export class DecryptionFailure extends AwsError {
  constructor(message: string) {
    super('DecryptionFailure', 400, message);
  }
}
