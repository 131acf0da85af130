import { request } from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import type { HttpRequest as SmithyRequest } from '@smithy/types';
import type { RunningTrent } from './trent.ts';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RawRequest {
  method: string;
  path: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export function signer(t: RunningTrent, service: string, creds?: { accessKeyId: string; secretAccessKey: string }): SignatureV4 {
  return new SignatureV4({
    service,
    region: t.region,
    credentials: creds ?? { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: service !== 's3',
  });
}

export function smithyRequest(t: RunningTrent, r: RawRequest): SmithyRequest {
  return {
    method: r.method,
    protocol: 'https:',
    hostname: 'localhost',
    port: t.port,
    path: r.path,
    query: r.query ?? {},
    headers: { host: `localhost:${t.port}`, ...r.headers },
    ...(r.body !== undefined ? { body: r.body } : {}),
  };
}

/** Sign with the SDK's own signer (optionally at another time), then let `mutate` tamper before sending. */
export async function signed(
  t: RunningTrent,
  service: string,
  r: RawRequest,
  opts: { creds?: { accessKeyId: string; secretAccessKey: string }; signingDate?: Date; mutate?: (req: SmithyRequest) => void } = {},
): Promise<RawResponse> {
  const req = (await signer(t, service, opts.creds).sign(smithyRequest(t, r), opts.signingDate ? { signingDate: opts.signingDate } : {})) as SmithyRequest;
  opts.mutate?.(req);
  return send(t, req);
}

export function send(t: RunningTrent, req: SmithyRequest, extra: { expectContinue?: boolean } = {}): Promise<RawResponse> {
  const qs = new URLSearchParams(req.query as Record<string, string>).toString().replace(/\+/g, '%20');
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: t.port,
        method: req.method,
        path: req.path + (qs ? `?${qs}` : ''),
        headers: req.headers,
        ca: t.ca,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    r.on('error', reject);
    if (extra.expectContinue) {
      r.on('continue', () => r.end(req.body));
    } else r.end(req.body);
  });
}

export const STS_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

export function stsRequest(body = STS_BODY): RawRequest {
  return { method: 'POST', path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body };
}

export function kmsRequest(op = 'ListKeys', body = '{}'): RawRequest {
  return { method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${op}` }, body };
}

export function s3Request(path = '/'): RawRequest {
  return { method: 'GET', path, headers: { 'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' } };
}

/** The code from any of the three error forms. */
export function errorCode(r: RawResponse): string | undefined {
  if (r.body.startsWith('{')) return (JSON.parse(r.body) as { __type?: string }).__type;
  return /<Code>([^<]+)<\/Code>/.exec(r.body)?.[1];
}
