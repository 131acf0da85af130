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
