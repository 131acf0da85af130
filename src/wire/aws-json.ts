import { isUtf8 } from 'node:buffer';
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

/** Deeper than any AWS request shape nests (their documents included): a body nested further is refused unread. */
export const MAX_JSON_DEPTH = 64;

/**
 * The request body as a JSON object. Refused with SerializationException (400), as AWS refuses them: bodies that
 * are not UTF-8, not JSON, not an object, or nested deeper than MAX_JSON_DEPTH (which no AWS shape needs, and
 * which would otherwise travel on into code that recurses over the value).
 */
export function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  if (!isUtf8(body)) throw new Err('SerializationException', 400, 'The request body is not valid UTF-8.');
  if (jsonTooDeep(body, MAX_JSON_DEPTH)) throw new Err('SerializationException', 400, `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
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

/**
 * Whether the JSON text in `body` nests objects and arrays more than `max` levels. Scanned before parsing, so that
 * a megabyte of brackets costs a scan, not a parse: outside strings byte by byte, across strings (a base64 image is
 * one long string) by jumping from quote to quote.
 */
export function jsonTooDeep(body: Buffer, max: number): boolean {
  let depth = 0;
  const n = body.length;
  for (let i = 0; i < n; i++) {
    const c = body[i];
    if (c === 0x22) {
      // Find the closing quote: one not preceded by an odd number of backslashes.
      let j = i;
      for (;;) {
        j = body.indexOf(0x22, j + 1);
        if (j < 0) return false; // unterminated: JSON.parse refuses it
        let k = j - 1;
        while (body[k] === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
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
