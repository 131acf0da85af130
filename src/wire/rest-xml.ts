import type { AwsError } from './errors.ts';
import type { WireResponse } from './protocol.ts';
import { buildXml } from './xml.ts';

/** S3's request ids: a 16-hex x-amz-request-id and a longer x-amz-id-2. */
export function s3RequestHeaders(requestId: string): Record<string, string> {
  return { 'x-amz-request-id': requestId, 'x-amz-id-2': Buffer.from(requestId).toString('base64') };
}

/** S3's <Error> document; HEAD responses carry no body, so clients map the status alone. */
export function restXmlError(requestId: string, err: AwsError, method: string): WireResponse {
  const headers: WireResponse['headers'] = { ...err.headers, ...s3RequestHeaders(requestId) };
  if (method === 'HEAD') return { status: err.status, headers: { ...headers, 'content-length': 0 } };
  const body = Buffer.from(
    buildXml({ Error: { Code: err.code, Message: err.message, ...err.fields, RequestId: requestId, HostId: headers['x-amz-id-2'] as string } }),
  );
  return { status: err.status, headers: { ...headers, 'content-type': 'application/xml', 'content-length': body.length }, body };
}
