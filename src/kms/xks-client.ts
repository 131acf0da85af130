import { request as httpsRequest, Agent } from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import {
  ciphertextDataIntegrityValue,
  decodeBase64,
  isXksErrorName,
  XKS_ALGORITHM,
  XKS_CDIV_ALGORITHM,
  XKS_SIGNING_SERVICE,
  type XksErrorName,
} from './xks-format.ts';
import { XKS_MAX_METADATA } from './ciphertext.ts';

/** Where an external key store's proxy is and how Trent signs for it. */
export interface XksEndpoint {
  /** https://HOST (a port may follow: Trent, unlike AWS KMS, reaches proxies on any port). */
  uriEndpoint: string;
  /** [/prefix]/kms/xks/v1 */
  uriPath: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The region Trent serves, named in the credential scope. */
  region: string;
}

/** The requestMetadata every proxy call carries, for the proxy's audit log and its own authorization. */
export interface XksRequestMetadata {
  kmsOperation: string;
  kmsRequestId: string;
  awsPrincipalArn?: string;
  kmsKeyArn?: string;
  kmsViaService?: string;
}

/** Why a proxy call failed: it could not be reached, it answered with one of the API's errors, or its answer made no sense. */
export type XksFailure =
  | { kind: 'unreachable' | 'tls' | 'timeout'; detail: string }
  | { kind: 'proxy'; status: number; errorName: XksErrorName | undefined }
  | { kind: 'invalid-response'; detail: string };

export class XksCallError extends Error {
  readonly failure: XksFailure;
  constructor(failure: XksFailure) {
    super(failure.kind === 'proxy' ? `the proxy answered ${failure.status} ${failure.errorName ?? '(no error name)'}` : `${failure.kind}: ${failure.detail}`);
    this.name = 'XksCallError';
    this.failure = failure;
  }
}

export interface XksHealth {
  xksProxyFleetSize: number;
  xksProxyVendor: string;
  xksProxyModel: string;
  ekmVendor: string;
  ekmFleetDetails: Array<{ id: string; model: string; healthStatus: 'ACTIVE' | 'DEGRADED' | 'UNAVAILABLE' }>;
}

export interface XksKeyMetadata {
  keySpec: string;
  keyUsage: string[];
  keyStatus: string;
}

export interface XksEncrypted {
  ciphertext: Buffer;
  metadata: Buffer;
  iv: Buffer;
  tag: Buffer;
}

const MAX_RESPONSE_BYTES = 64 * 1024;
const TLS_CODES = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|ERR_SSL_|EPROTO$)/;

/**
 * The client side of the External Key Store Proxy API: JSON over HTTPS, each request signed with SigV4 for the
 * service kms-xks-proxy with the key store's proxy credential (host and x-amz-date signed, as AWS KMS signs).
 * The proxy's certificate must chain to a CA this process trusts (the system's, or NODE_EXTRA_CA_CERTS). Every
 * answer is checked against the API before it is used; a proxy that breaks the API is an invalid response.
 */
export class XksClient {
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(opts: { timeoutMs?: number } = {}) {
    // AWS KMS waits 250 ms; Trent allows more by default, for proxies further away than AWS would accept.
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    this.#agent = new Agent({ keepAlive: true, maxSockets: 64, minVersion: 'TLSv1.2' });
  }

  close(): void {
    this.#agent.destroy();
  }

  async health(ep: XksEndpoint, meta: Pick<XksRequestMetadata, 'kmsOperation' | 'kmsRequestId'>): Promise<XksHealth> {
    const r = await this.#call(ep, '/health', { requestMetadata: { kmsRequestId: meta.kmsRequestId, kmsOperation: meta.kmsOperation } });
    const fleet = r['ekmFleetDetails'];
    const ok =
      Number.isInteger(r['xksProxyFleetSize']) &&
      (r['xksProxyFleetSize'] as number) > 0 &&
      ['xksProxyVendor', 'xksProxyModel', 'ekmVendor'].every((k) => typeof r[k] === 'string') &&
      Array.isArray(fleet) &&
      fleet.length >= 1 &&
      fleet.length <= 10 &&
      fleet.every((e: unknown) => {
        const d = (e ?? {}) as Record<string, unknown>;
        return typeof d['id'] === 'string' && typeof d['model'] === 'string' && ['ACTIVE', 'DEGRADED', 'UNAVAILABLE'].includes(d['healthStatus'] as string);
      });
    if (!ok) throw new XksCallError({ kind: 'invalid-response', detail: 'GetHealthStatus answered without the fields the API requires' });
    return r as unknown as XksHealth;
  }

  async keyMetadata(ep: XksEndpoint, externalKeyId: string, meta: XksRequestMetadata): Promise<XksKeyMetadata> {
    const r = await this.#call(ep, `/keys/${externalKeyId}/metadata`, { requestMetadata: meta });
    const usage = r['keyUsage'];
    if (typeof r['keySpec'] !== 'string' || typeof r['keyStatus'] !== 'string' || !Array.isArray(usage) || usage.length > 10 || usage.some((u) => typeof u !== 'string')) {
      throw new XksCallError({ kind: 'invalid-response', detail: 'GetKeyMetadata answered without keySpec, keyUsage and keyStatus' });
    }
    return { keySpec: r['keySpec'], keyUsage: usage as string[], keyStatus: r['keyStatus'] };
  }

  /**
   * Encrypt through the proxy, asking for the Ciphertext Data Integrity Value and checking it: an answer that
   * would not decrypt to what was sent is refused here, before anything depends on it.
   */
  async encrypt(ep: XksEndpoint, externalKeyId: string, meta: XksRequestMetadata, plaintext: Uint8Array, aad: Uint8Array): Promise<XksEncrypted> {
    const r = await this.#call(ep, `/keys/${externalKeyId}/encrypt`, {
      requestMetadata: meta,
      plaintext: Buffer.from(plaintext).toString('base64'),
      encryptionAlgorithm: XKS_ALGORITHM,
      additionalAuthenticatedData: Buffer.from(aad).toString('base64'),
      ciphertextDataIntegrityValueAlgorithm: XKS_CDIV_ALGORITHM,
    });
    const ciphertext = decodeBase64(r['ciphertext']);
    const iv = decodeBase64(r['initializationVector']);
    const tag = decodeBase64(r['authenticationTag']);
    const metadata = r['ciphertextMetadata'] === undefined ? Buffer.alloc(0) : decodeBase64(r['ciphertextMetadata']);
    const bad = (detail: string) => new XksCallError({ kind: 'invalid-response', detail });
    if (!ciphertext || !iv || !tag || !metadata) throw bad('Encrypt answered without a base64 ciphertext, initializationVector and authenticationTag');
    if (ciphertext.length !== plaintext.length) throw bad('the ciphertext is not as long as the plaintext');
    if (iv.length !== 12 && iv.length !== 16) throw bad('the initialization vector is neither 12 nor 16 bytes');
    if (tag.length !== 16) throw bad('the authentication tag is not 16 bytes');
    if (metadata.length > XKS_MAX_METADATA) throw bad('the ciphertext metadata is longer than 20 bytes');
    const expected = ciphertextDataIntegrityValue({ aad, metadata, iv, ciphertext, tag });
    if (typeof r['ciphertextDataIntegrityValue'] !== 'string' || r['ciphertextDataIntegrityValue'] !== expected) throw bad('the ciphertext data integrity value does not match the ciphertext');
    return { ciphertext, metadata, iv, tag };
  }

  async decrypt(ep: XksEndpoint, externalKeyId: string, meta: XksRequestMetadata, parts: { ciphertext: Uint8Array; metadata: Uint8Array; iv: Uint8Array; tag: Uint8Array; aad: Uint8Array }): Promise<Buffer> {
    const r = await this.#call(ep, `/keys/${externalKeyId}/decrypt`, {
      requestMetadata: meta,
      ciphertext: Buffer.from(parts.ciphertext).toString('base64'),
      ...(parts.metadata.length ? { ciphertextMetadata: Buffer.from(parts.metadata).toString('base64') } : {}),
      encryptionAlgorithm: XKS_ALGORITHM,
      additionalAuthenticatedData: Buffer.from(parts.aad).toString('base64'),
      initializationVector: Buffer.from(parts.iv).toString('base64'),
      authenticationTag: Buffer.from(parts.tag).toString('base64'),
    });
    const plaintext = decodeBase64(r['plaintext']);
    if (!plaintext || plaintext.length !== parts.ciphertext.length) throw new XksCallError({ kind: 'invalid-response', detail: 'Decrypt answered without a plaintext as long as the ciphertext' });
    return plaintext;
  }

  async #call(ep: XksEndpoint, path: string, body: unknown): Promise<Record<string, unknown>> {
    const url = new URL(ep.uriEndpoint);
    const payload = Buffer.from(JSON.stringify(body));
    const signer = new SignatureV4({
      service: XKS_SIGNING_SERVICE,
      region: ep.region,
      credentials: { accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey },
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
    });
    const signed = await signer.sign(
      new HttpRequest({
        method: 'POST',
        protocol: 'https:',
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: `${ep.uriPath}${path}`,
        headers: { host: url.host, 'content-type': 'application/json' },
        body: payload,
      }),
      { unsignableHeaders: new Set(['content-type', 'content-length']) },
    );
    const { status, text } = await new Promise<{ status: number; text: Buffer }>((resolve, reject) => {
      const req = httpsRequest(
        {
          method: 'POST',
          host: url.hostname,
          port: url.port ? Number(url.port) : 443,
          path: `${ep.uriPath}${path}`,
          headers: { ...(signed.headers as Record<string, string>), 'content-length': String(payload.length) },
          agent: this.#agent,
          timeout: this.#timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              res.destroy();
              reject(new XksCallError({ kind: 'invalid-response', detail: 'the answer is too large' }));
            } else chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks) }));
          res.on('error', (err) => reject(classify(err)));
        },
      );
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('the proxy did not answer in time'), { code: 'ETIMEDOUT' })), this.#timeoutMs);
      req.on('timeout', () => req.destroy(Object.assign(new Error('the proxy did not answer in time'), { code: 'ETIMEDOUT' })));
      req.on('close', () => clearTimeout(timer));
      req.on('error', (err) => reject(classify(err)));
      req.end(payload);
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (status !== 200) {
      const name = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>)['errorName'] : undefined;
      throw new XksCallError({ kind: 'proxy', status, errorName: isXksErrorName(name) ? name : undefined });
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new XksCallError({ kind: 'invalid-response', detail: 'the answer is not a JSON object' });
    return parsed as Record<string, unknown>;
  }
}

function classify(err: unknown): XksCallError {
  if (err instanceof XksCallError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return new XksCallError({ kind: 'timeout', detail: e.message });
  if (TLS_CODES.test(code) || /certificate|SSL|TLS/i.test(e?.message ?? '')) return new XksCallError({ kind: 'tls', detail: `${code || 'TLS'}: ${e.message}` });
  return new XksCallError({ kind: 'unreachable', detail: `${code || 'error'}: ${e?.message ?? String(err)}` });
}
