import { AwsError } from '../wire/errors.ts';
import { KmsAuditUnavailable } from '../kms/service-client.ts';

/**
 * AWS Systems Manager's error codes for Parameter Store. SSM answers every client error with HTTP 400,
 * the code in `__type`. Messages never carry a parameter's value.
 */

export class ValidationException extends AwsError {
  constructor(message: string) {
    super('ValidationException', 400, message);
  }
}
export class AccessDeniedException extends AwsError {
  constructor(message: string) {
    super('AccessDeniedException', 400, message);
  }
}
export class ParameterNotFound extends AwsError {
  constructor(name: string) {
    super('ParameterNotFound', 400, `Parameter ${name} not found.`);
  }
}
export class ParameterVersionNotFound extends AwsError {
  constructor(name: string, version: number | string) {
    super('ParameterVersionNotFound', 400, `Systems Manager could not find version ${version} of ${name}. Verify the version and try again.`);
  }
}
export class ParameterAlreadyExists extends AwsError {
  constructor() {
    super('ParameterAlreadyExists', 400, 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
  }
}
export class ParameterLimitExceeded extends AwsError {
  constructor(tier: string, max: number) {
    super('ParameterLimitExceeded', 400, `You have reached the maximum number of ${tier.toLowerCase()} parameters for this account and Region (${max}). Delete parameters, or use another tier.`);
  }
}
export class ParameterMaxVersionLimitExceeded extends AwsError {
  constructor(name: string, oldest: number) {
    super(
      'ParameterMaxVersionLimitExceeded',
      400,
      `You attempted to create a new version of ${name} with the overwrite flag. Version ${oldest}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.`,
    );
  }
}
export class ParameterPatternMismatchException extends AwsError {
  constructor(pattern: string) {
    super('ParameterPatternMismatchException', 400, `Parameter value failed to satisfy the parameter's AllowedPattern: ${pattern}`);
  }
}
export class InvalidAllowedPatternException extends AwsError {
  constructor(message: string) {
    super('InvalidAllowedPatternException', 400, message);
  }
}
export class HierarchyLevelLimitExceededException extends AwsError {
  constructor() {
    super('HierarchyLevelLimitExceededException', 400, 'A parameter name hierarchy can have a maximum of 15 levels.');
  }
}
export class HierarchyTypeMismatchException extends AwsError {
  constructor(message: string) {
    super('HierarchyTypeMismatchException', 400, message);
  }
}
export class InvalidKeyId extends AwsError {
  constructor(message: string) {
    super('InvalidKeyId', 400, message);
  }
}
export class UnsupportedParameterType extends AwsError {
  constructor(message: string) {
    super('UnsupportedParameterType', 400, message);
  }
}
export class TooManyUpdates extends AwsError {
  constructor() {
    super('TooManyUpdates', 400, 'There are concurrent updates for a resource that supports one update at a time. Try again.');
  }
}
export class IncompatiblePolicyException extends AwsError {
  constructor(message: string) {
    super('IncompatiblePolicyException', 400, message);
  }
}
export class InvalidPolicyTypeException extends AwsError {
  constructor(message: string) {
    super('InvalidPolicyTypeException', 400, message);
  }
}
export class InvalidPolicyAttributeException extends AwsError {
  constructor(message: string) {
    super('InvalidPolicyAttributeException', 400, message);
  }
}
export class PoliciesLimitExceededException extends AwsError {
  constructor(max: number) {
    super('PoliciesLimitExceededException', 400, `A parameter can have at most ${max} policies.`);
  }
}
export class ParameterVersionLabelLimitExceeded extends AwsError {
  constructor(max: number) {
    super('ParameterVersionLabelLimitExceeded', 400, `A parameter version can have at most ${max} labels.`);
  }
}
export class InvalidFilterKey extends AwsError {
  constructor(message: string) {
    super('InvalidFilterKey', 400, message);
  }
}
export class InvalidFilterOption extends AwsError {
  constructor(message: string) {
    super('InvalidFilterOption', 400, message);
  }
}
export class InvalidFilterValue extends AwsError {
  constructor(message: string) {
    super('InvalidFilterValue', 400, message);
  }
}
export class InvalidNextToken extends AwsError {
  constructor() {
    super('InvalidNextToken', 400, 'The specified token is not valid.');
  }
}
export class InvalidResourceId extends AwsError {
  constructor() {
    super('InvalidResourceId', 400, 'The resource ID is not valid. Verify that you entered the correct ID and try again.');
  }
}
export class InvalidResourceType extends AwsError {
  constructor(type: string) {
    super('InvalidResourceType', 400, `The resource type ${type} is not valid here: Trent's Systems Manager tags parameters only (ResourceType Parameter).`);
  }
}
export class TooManyTagsError extends AwsError {
  constructor(max: number) {
    super('TooManyTagsError', 400, `A resource can have at most ${max} tags.`);
  }
}

/**
 * KMS failures as Parameter Store reports them: a refusal by the key policy or IAM stays
 * AccessDeniedException (KMS's message); any other KMS client error (unknown, disabled or pending-deletion
 * key, wrong key usage, a ciphertext that does not open) becomes InvalidKeyId, naming the KMS error the
 * way SSM does. Audit failures and server faults pass through unchanged.
 */
export function kmsFailure(err: unknown): unknown {
  if (err instanceof KmsAuditUnavailable) return err;
  if (!(err instanceof AwsError) || err.status >= 500 || err instanceof InvalidKeyId) return err;
  if (err.code === 'AccessDeniedException') return new AccessDeniedException(err.message);
  return new InvalidKeyId(`${err.message} (Service: AWSKMS; Status Code: 400; Error Code: ${err.code})`);
}
