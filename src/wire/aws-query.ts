import type { AwsError } from './errors.ts';
import type { WireResponse } from './protocol.ts';
import { parseQuery } from './sigv4.ts';
import { buildXml, type XmlObject } from './xml.ts';

/** awsQuery parameters come from the form body (POST) or the query string (GET); SigV4 query parameters are dropped. */
export function parseQueryParams(rawQuery: string, body: Buffer, contentType: string | undefined): Map<string, string> {
  const params = new Map<string, string>();
  const add = (pairs: Array<[string, string]>) => {
    for (const [k, v] of pairs) if (!k.startsWith('X-Amz-')) params.set(k, v);
  };
  add(parseQuery(rawQuery));
  if (body.length && (!contentType || contentType.startsWith('application/x-www-form-urlencoded'))) {
    // Form encoding: '+' is a space here, unlike in a SigV4 query string.
    add(parseQuery(body.toString('utf8').replace(/\+/g, '%20')));
  }
  return params;
}

export function queryResponse(requestId: string, xmlns: string, action: string, result: XmlObject | undefined): WireResponse {
  const doc: XmlObject = {
    [`${action}Response`]: {
      '@_xmlns': xmlns,
      ...(result ? { [`${action}Result`]: result } : {}),
      ResponseMetadata: { RequestId: requestId },
    },
  };
  const body = Buffer.from(buildXml(doc, false));
  return { status: 200, headers: { 'content-type': 'text/xml', 'content-length': body.length, 'x-amzn-requestid': requestId }, body };
}

export function queryError(requestId: string, xmlns: string, err: AwsError): WireResponse {
  const doc: XmlObject = {
    ErrorResponse: {
      '@_xmlns': xmlns,
      Error: { Type: err.fault, Code: err.code, Message: err.message, ...err.fields },
      RequestId: requestId,
    },
  };
  const body = Buffer.from(buildXml(doc, false));
  return {
    status: err.status,
    headers: { ...err.headers, 'content-type': 'text/xml', 'content-length': body.length, 'x-amzn-requestid': requestId },
    body,
  };
}
