import type { AwsError } from './errors.ts';
import { AwsError as Err } from './errors.ts';
import type { WireResponse } from './protocol.ts';

/**
 * An AWS SDK shape as it travels in awsJson 1.1: blobs as base64 strings, timestamps as epoch
 * seconds. Handlers use the SDK's own request and response types through this.
 */
export type JsonWire<T> = T extends Uint8Array
  ? string
  : T extends Date
    ? number
    : T extends Array<infer U>
      ? Array<JsonWire<U>>
      : T extends object
        ? { [K in keyof T]: JsonWire<T[K]> }
        : T;

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** The operation name from X-Amz-Target: the text after the last '.' (CloudTrail's prefix differs by client). */
export function operationFromTarget(target: string | undefined): { prefix: string; operation: string } | undefined {
  if (!target) return undefined;
  const dot = target.lastIndexOf('.');
  if (dot <= 0 || dot === target.length - 1) return undefined;
  return { prefix: target.slice(0, dot), operation: target.slice(dot + 1) };
}

export function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Err('SerializationException', 400, 'The request body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Err('SerializationException', 400, 'The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

export function jsonResponse(requestId: string, output: unknown): WireResponse {
  const body = Buffer.from(JSON.stringify(output ?? {}));
  return {
    status: 200,
    headers: { 'content-type': JSON_CONTENT_TYPE, 'content-length': body.length, 'x-amzn-requestid': requestId },
    body,
  };
}

/** `__type` in the body (botocore reads only that) and the x-amzn-ErrorType header (as AWS sends). */
export function jsonError(requestId: string, err: AwsError): WireResponse {
  const body = Buffer.from(JSON.stringify({ __type: err.code, message: err.message, ...err.fields }));
  return {
    status: err.status,
    headers: {
      ...err.headers,
      'content-type': JSON_CONTENT_TYPE,
      'content-length': body.length,
      'x-amzn-requestid': requestId,
      'x-amzn-errortype': err.code,
    },
    body,
  };
}
