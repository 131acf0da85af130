import { AwsError } from '../wire/errors.ts';

export class InvalidLookupAttributesException extends AwsError {
  constructor(message: string) {
    super('InvalidLookupAttributesException', 400, message);
  }
}
export class InvalidTimeRangeException extends AwsError {
  constructor() {
    super('InvalidTimeRangeException', 400, 'Occurs if the timestamp values are not valid. Either the start time occurs after the end time, or the time range is outside the range of possible values.');
  }
}
export class InvalidMaxResultsException extends AwsError {
  constructor() {
    super('InvalidMaxResultsException', 400, 'MaxResults must be between 1 and 50.');
  }
}
export class InvalidNextTokenException extends AwsError {
  constructor() {
    super('InvalidNextTokenException', 400, 'The NextToken is not valid.');
  }
}
export class InvalidEventCategoryException extends AwsError {
  constructor() {
    super('InvalidEventCategoryException', 400, 'EventCategory must be insight; Trent records no Insights events, so omit it.');
  }
}
export class TrailNotFoundException extends AwsError {
  constructor(name: string) {
    super('TrailNotFoundException', 400, `Unknown trail: ${name} for the user: the trail does not exist in this account and region.`);
  }
}
export class TrailAlreadyExistsException extends AwsError {
  constructor(name: string) {
    super('TrailAlreadyExistsException', 400, `Trail ${name} already exists for customer.`);
  }
}
export class InvalidTrailNameException extends AwsError {
  constructor(message: string) {
    super('InvalidTrailNameException', 400, message);
  }
}
export class S3BucketDoesNotExistException extends AwsError {
  constructor(bucket: string) {
    super('S3BucketDoesNotExistException', 400, `S3 bucket ${bucket} does not exist.`);
  }
}
export class InvalidS3PrefixException extends AwsError {
  constructor(message: string) {
    super('InvalidS3PrefixException', 400, message);
  }
}
export class InvalidEventSelectorsException extends AwsError {
  constructor(message: string) {
    super('InvalidEventSelectorsException', 400, message);
  }
}
export class InvalidParameterException extends AwsError {
  constructor(message: string) {
    super('InvalidParameterException', 400, message);
  }
}
export class UnsupportedOperationException extends AwsError {
  constructor(message: string) {
    super('UnsupportedOperationException', 400, message);
  }
}
export class TrailNotProvidedException extends AwsError {
  constructor() {
    super('TrailNotProvidedException', 400, 'A trail name or ARN is required.');
  }
}
