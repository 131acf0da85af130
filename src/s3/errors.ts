import { AwsError } from '../wire/errors.ts';
import { KmsAuditUnavailable } from '../kms/service-client.ts';

/** Amazon S3's error codes, each with the HTTP status S3 uses. Extra fields become elements of <Error>. */

export class NoSuchBucket extends AwsError {
  constructor(bucket: string) {
    super('NoSuchBucket', 404, 'The specified bucket does not exist', { BucketName: bucket });
  }
}
export class NoSuchKey extends AwsError {
  constructor(key: string) {
    super('NoSuchKey', 404, 'The specified key does not exist.', { Key: key });
  }
}
export class NoSuchUpload extends AwsError {
  constructor(uploadId: string) {
    super('NoSuchUpload', 404, 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });
  }
}
export class BucketAlreadyOwnedByYou extends AwsError {
  constructor(bucket: string) {
    super('BucketAlreadyOwnedByYou', 409, 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: bucket });
  }
}
export class BucketNotEmpty extends AwsError {
  constructor(bucket: string, versioned = false) {
    super('BucketNotEmpty', 409, `The bucket you tried to delete is not empty${versioned ? '. You must delete all versions in the bucket.' : ''}`, { BucketName: bucket });
  }
}
export class InvalidBucketName extends AwsError {
  constructor(bucket: string) {
    super('InvalidBucketName', 400, 'The specified bucket is not valid.', { BucketName: bucket });
  }
}
export class InvalidArgument extends AwsError {
  constructor(message: string, name?: string, value?: string) {
    super('InvalidArgument', 400, message, name !== undefined ? { ArgumentName: name, ArgumentValue: value ?? '' } : {});
  }
}
export class InvalidRequest extends AwsError {
  constructor(message: string) {
    super('InvalidRequest', 400, message);
  }
}
export class AccessDenied extends AwsError {
  constructor(message = 'Access Denied') {
    super('AccessDenied', 403, message);
  }
}
export class MalformedXML extends AwsError {
  constructor(message = 'The XML you provided was not well-formed or did not validate against our published schema') {
    super('MalformedXML', 400, message);
  }
}
export class InvalidRange extends AwsError {
  constructor(size: number, rangeRequested?: string) {
    super(
      'InvalidRange',
      416,
      'The requested range is not satisfiable',
      { ...(rangeRequested !== undefined ? { RangeRequested: rangeRequested } : {}), ActualObjectSize: String(size) },
      { 'content-range': `bytes */${size}` },
    );
  }
}
export class InvalidPartNumber extends AwsError {
  constructor(requested: number, actual: number) {
    super('InvalidPartNumber', 416, 'The requested partnumber is not satisfiable', { PartNumberRequested: String(requested), ActualPartCount: String(actual) });
  }
}
export class PreconditionFailed extends AwsError {
  constructor(condition: string) {
    super('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold', { Condition: condition });
  }
}
export class ConditionalRequestConflict extends AwsError {
  constructor() {
    super('ConditionalRequestConflict', 409, 'A conflicting conditional operation is currently in progress against this resource. Please try again.');
  }
}
export class EntityTooLarge extends AwsError {
  constructor(max: number) {
    super('EntityTooLarge', 400, 'Your proposed upload exceeds the maximum allowed size', { MaxSizeAllowed: String(max) });
  }
}
export class EntityTooSmall extends AwsError {
  constructor() {
    super('EntityTooSmall', 400, 'Your proposed upload is smaller than the minimum allowed object size.');
  }
}
export class InvalidPart extends AwsError {
  constructor(message = 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.') {
    super('InvalidPart', 400, message);
  }
}
export class InvalidPartOrder extends AwsError {
  constructor() {
    super('InvalidPartOrder', 400, 'The list of parts was not in ascending order. Parts must be ordered by part number.');
  }
}
export class NotImplemented extends AwsError {
  constructor(what: string) {
    super('NotImplemented', 501, `A header or query you provided implies functionality that is not implemented: ${what}`);
  }
}
export class MethodNotAllowed extends AwsError {
  constructor(method: string) {
    super('MethodNotAllowed', 405, 'The specified method is not allowed against this resource.', { Method: method });
  }
}
export class ServerSideEncryptionConfigurationNotFoundError extends AwsError {
  constructor(bucket: string) {
    super('ServerSideEncryptionConfigurationNotFoundError', 404, 'The server side encryption configuration was not found', { BucketName: bucket });
  }
}
export class NoSuchPublicAccessBlockConfiguration extends AwsError {
  constructor(bucket: string) {
    super('NoSuchPublicAccessBlockConfiguration', 404, 'The public access block configuration was not found', { BucketName: bucket });
  }
}
export class NoSuchTagSet extends AwsError {
  constructor(bucket: string) {
    super('NoSuchTagSet', 404, 'The TagSet does not exist', { BucketName: bucket });
  }
}
export class NoSuchBucketPolicy extends AwsError {
  constructor(bucket: string) {
    super('NoSuchBucketPolicy', 404, 'The bucket policy does not exist', { BucketName: bucket });
  }
}
export class AccessControlListNotSupported extends AwsError {
  constructor() {
    super('AccessControlListNotSupported', 400, 'The bucket does not allow ACLs');
  }
}
export class InvalidBucketAclWithObjectOwnership extends AwsError {
  constructor() {
    super('InvalidBucketAclWithObjectOwnership', 400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting");
  }
}
export class MalformedACLError extends AwsError {
  constructor() {
    super('MalformedACLError', 400, 'The ACL you provided was not well formed or did not validate against our published schema');
  }
}
export class InvalidObjectState extends AwsError {
  constructor(message: string) {
    super('InvalidObjectState', 403, message);
  }
}

// Versioning, Object Lock, tagging and lifecycle.
export class NoSuchVersion extends AwsError {
  constructor(key: string, versionId: string) {
    super('NoSuchVersion', 404, 'The specified version does not exist.', { Key: key, VersionId: versionId });
  }
}
/** A version id that names no version Trent could have made (nor 'null'). */
export class InvalidVersionId extends InvalidArgument {
  constructor(versionId: string) {
    super('Invalid version id specified', 'versionId', versionId);
  }
}
export class InvalidBucketState extends AwsError {
  constructor(message: string) {
    super('InvalidBucketState', 409, message);
  }
}
/** A version Object Lock protects (retention or legal hold): it cannot be deleted or replaced, by anyone. */
export class VersionLocked extends AwsError {
  constructor() {
    super('AccessDenied', 403, 'Access Denied because object protected by object lock.');
  }
}
export class ObjectLockConfigurationNotFoundError extends AwsError {
  constructor(bucket: string) {
    super('ObjectLockConfigurationNotFoundError', 404, 'Object Lock configuration does not exist for this bucket', { BucketName: bucket });
  }
}
export class NoSuchObjectLockConfiguration extends AwsError {
  constructor() {
    super('NoSuchObjectLockConfiguration', 404, 'The specified object does not have a ObjectLock configuration');
  }
}
export class NoSuchLifecycleConfiguration extends AwsError {
  constructor(bucket: string) {
    super('NoSuchLifecycleConfiguration', 404, 'The lifecycle configuration does not exist', { BucketName: bucket });
  }
}
export class InvalidTag extends AwsError {
  constructor(message: string) {
    super('InvalidTag', 400, message);
  }
}

/**
 * KMS failures surface from S3 under S3's names: 'KMS.NotFoundException', 'KMS.DisabledException',
 * 'KMS.KMSInvalidStateException' ..., with KMS's message and status (400). Audit failures pass through.
 */
export function kmsError(err: unknown): unknown {
  if (err instanceof KmsAuditUnavailable) return err;
  // A caller without kms:Decrypt / kms:GenerateDataKey on the key is refused by S3 as AccessDenied, with KMS's explanation.
  if (err instanceof AwsError && err.code === 'AccessDeniedException') return new AwsError('AccessDenied', 403, err.message);
  if (err instanceof AwsError && !err.code.startsWith('KMS.') && err.status < 500) return new AwsError(`KMS.${err.code}`, 400, err.message);
  return err;
}
