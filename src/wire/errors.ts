/**
 * An error with AWS's code, HTTP status and message. Each protocol writer (awsJson, awsQuery,
 * restXml) turns it into that protocol's wire form. Services declare one subclass per AWS code.
 */
export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  /** Extra elements some errors carry on the wire (S3's <Key>, <RequestTime> ...). Never secrets. */
  readonly fields: Readonly<Record<string, string>>;
  /** Extra response headers (S3 puts some facts there). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: string, status: number, message: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
    super(message);
    this.name = code;
    this.code = code;
    this.status = status;
    this.fields = fields;
    this.headers = headers;
  }

  get fault(): 'Sender' | 'Receiver' {
    return this.status >= 500 ? 'Receiver' : 'Sender';
  }
}

/** Unexpected failures are answered as this: no internal detail leaves the server. */
export class InternalFailure extends AwsError {
  constructor(code = 'InternalFailure') {
    super(code, 500, 'The request processing has failed because of an unknown error, exception or failure.');
  }
}

export class ServiceUnavailable extends AwsError {
  constructor(message = 'The service is temporarily unable to handle the request.') {
    super('ServiceUnavailable', 503, message);
  }
}
