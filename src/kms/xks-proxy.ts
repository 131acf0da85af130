import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { randomUUID } from 'node:crypto';
import { readFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Database } from '../store/database.ts';
import type { RootOfTrust } from '../root/root-of-trust.ts';
import type { CallContext } from '../server/service.ts';
import type { Principal } from '../iam/principal.ts';
import { AccessDeniedError, type Authorizer } from '../iam/authorizer.ts';
import type { Recorder } from '../trail/recorder.ts';
import { eventTime, userIdentity, type TrailEvent } from '../trail/event.ts';
import type { WireResponse } from '../wire/protocol.ts';
import { AuthFailure } from '../wire/auth-errors.ts';
import { AwsError } from '../wire/errors.ts';
import { header, parseSigV4, sha256Hex, verifySignature, type SigningRequest } from '../wire/sigv4.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { randomBytes } from '../crypto/random.ts';
import { AeadError, gcmDecrypt, gcmEncryptWithIv } from '../crypto/aead.ts';
import { hkdfSha256 } from '../crypto/hkdf.ts';
import { GrantStore } from './grants.ts';
import { keyAuthorizer } from './key-authorization.ts';
import { NotFoundException } from './errors.ts';
import type { KeyRecord, KeyStore } from './keys.ts';
import {
  ciphertextDataIntegrityValue,
  decodeBase64,
  gcmAadFor,
  XKS_ALGORITHM,
  XKS_API_SUFFIX,
  XKS_CDIV_ALGORITHM,
  XKS_ERRORS,
  XKS_KEY_ID,
  XKS_MAX_AAD,
  XKS_MAX_PLAINTEXT,
  XKS_SIGNING_SERVICE,
  type XksErrorName,
} from './xks-format.ts';

/** Where Trent serves the XKS Proxy API, and the XksProxyUriPath a KMS names for it. */
export const XKS_PROXY_PREFIX = '/_trent/xks';
export const XKS_PROXY_URI_PATH = `${XKS_PROXY_PREFIX}${XKS_API_SUFFIX}`;
/** The IAM user whose permissions every proxy call has: the remote KMS is a principal of this account like any other. */
export const XKS_PROXY_USER = 'xks-proxy';
/** The proxy configuration file a server writes into its data directory (the AWS KMS console's format). */
export const XKS_PROXY_CONFIG_FILE = 'xks-proxy.json';

export function xksProxyCredentialAad(accessKeyId: string): Buffer {
  return Buffer.from(`trent:kms:xks-proxy-credential:${accessKeyId}`);
}

/** Requests signed more than five minutes away from the server's clock fail authentication (replay protection). */
const MAX_SKEW_MS = 5 * 60 * 1000;
const MAX_BODY_BYTES = 64 * 1024;
const CACHE_MS = 5_000;
/** Trent's ciphertext metadata: format 1, the backing-key version (uint32) and the 15-byte nonce of the per-request key. */
const METADATA_FORMAT = 0x01;
const METADATA_BYTES = 20;
const HKDF_INFO = Buffer.from('trent xks proxy v1 per-request key');
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

class XksProxyError extends Error {
  readonly errorName: XksErrorName;
  constructor(errorName: XksErrorName, message: string) {
    super(message);
    this.errorName = errorName;
  }
}

/**
 * The SigV4 credentials Trent's XKS proxy accepts (kms_xks_proxy_credentials): unrelated to IAM access keys, in the
 * form the API prescribes (an access key id of 20 to 30 characters A-Z and 2-7, a secret of 43 to 64 base64
 * characters), kept only wrapped by the root of trust. Each names the IAM user its calls act as.
 */
export class XksProxyCredentials {
  readonly #db: Database;
  readonly #root: RootOfTrust;
  readonly #cache = new Map<string, { value: { secret: string; userName: string } | undefined; until: number }>();

  constructor(db: Database, root: RootOfTrust) {
    this.#db = db;
    this.#root = root;
  }

  /**
   * The server's proxy credential, made on first start, and the configuration file (XksProxyUriPath and the
   * credential, mode 0600) an operator hands to the KMS that uses Trent as its external key store proxy.
   */
  async ensure(dataDir: string): Promise<{ accessKeyId: string }> {
    const existing = await this.#db.get<{ access_key_id: string }>("SELECT access_key_id FROM kms_xks_proxy_credentials WHERE name = 'default'");
    if (!existing) {
      const accessKeyId = Array.from(randomBytes(26), (b) => BASE32[b & 31]).join('');
      const secret = randomBytes(32).toString('base64');
      const wrapped = await this.#root.wrap(Buffer.from(secret, 'utf8'), xksProxyCredentialAad(accessKeyId));
      // Several serving processes may start together: the first insert wins, the others read it.
      await this.#db.run(
        "INSERT INTO kms_xks_proxy_credentials (access_key_id, name, user_name, secret_wrapped, created_at) VALUES (?, 'default', ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        [accessKeyId, XKS_PROXY_USER, wrapped, Date.now()],
      );
    }
    const row = (await this.#db.get<{ access_key_id: string }>("SELECT access_key_id FROM kms_xks_proxy_credentials WHERE name = 'default'"))!;
    const found = (await this.lookup(row.access_key_id))!;
    const text = `${JSON.stringify({ XksProxyUriPath: XKS_PROXY_URI_PATH, XksProxyAuthenticationCredential: { AccessKeyId: row.access_key_id, RawSecretAccessKey: found.secret } }, null, 2)}\n`;
    const path = join(dataDir, XKS_PROXY_CONFIG_FILE);
    const current = await readFile(path, 'utf8').catch(() => undefined);
    if (current !== text) await writeFileAtomic(path, text, 0o600);
    else await chmod(path, 0o600);
    return { accessKeyId: row.access_key_id };
  }

  /** A credential's secret and user, from a short-lived cache or the database. */
  async lookup(accessKeyId: string): Promise<{ secret: string; userName: string } | undefined> {
    const hit = this.#cache.get(accessKeyId);
    if (hit && hit.until > Date.now()) return hit.value;
    const row = await this.#db.get<{ secret_wrapped: Uint8Array; user_name: string }>('SELECT secret_wrapped, user_name FROM kms_xks_proxy_credentials WHERE access_key_id = ?', [accessKeyId]);
    let value: { secret: string; userName: string } | undefined;
    if (row) {
      const secret = await this.#root.unwrap(row.secret_wrapped, xksProxyCredentialAad(accessKeyId));
      value = { secret: secret.toString('utf8'), userName: row.user_name };
      secret.fill(0);
    }
    if (this.#cache.size > 100) this.#cache.clear();
    this.#cache.set(accessKeyId, { value, until: Date.now() + CACHE_MS });
    return value;
  }

  invalidate(): void {
    this.#cache.clear();
  }
}

export interface XksProxyDeps {
  db: Database;
  root: RootOfTrust;
  keys: KeyStore;
  authorizer: Authorizer;
  recorder: Recorder;
  credentials: XksProxyCredentials;
  accountId: string;
  region: string;
  log: Logger;
  /** What GetHealthStatus names as the proxy model. */
  version: string;
  now?: () => Date;
}

type Operation = 'GetHealthStatus' | 'GetKeyMetadata' | 'Encrypt' | 'Decrypt';
/** The KMS action a proxy operation needs on the key, for the proxy's IAM user. */
const ACTIONS: Record<Exclude<Operation, 'GetHealthStatus'>, string> = { GetKeyMetadata: 'DescribeKey', Encrypt: 'Encrypt', Decrypt: 'Decrypt' };
const METADATA_FIELDS = ['awsPrincipalArn', 'awsSourceVpc', 'awsSourceVpce', 'kmsKeyArn', 'kmsOperation', 'kmsRequestId', 'kmsViaService'] as const;

interface Call {
  requestId: string;
  receivedAt: Date;
  operation: Operation | undefined;
  externalKeyId?: string;
  accessKeyId?: string;
  principal?: Principal;
  requestParameters: Record<string, unknown> | null;
  resources: CallContext['resources'];
}

/**
 * Trent as an External Key Store proxy (the AWS KMS XKS Proxy API, version 1), under XKS_PROXY_URI_PATH: a KMS
 * (AWS KMS, or another Trent) that keeps a KMS key in an external key store backed by Trent calls GetKeyMetadata,
 * Encrypt and Decrypt on a Trent key, and GetHealthStatus. Requests are signed with SigV4 for kms-xks-proxy with
 * the proxy credential (XksProxyCredentials), and each call then acts as the IAM user xks-proxy: the Trent key's
 * policy, identity policies and grants decide, and a disabled (or deleted) Trent key refuses the remote KMS at
 * once. Every call, refused or not, is recorded in Trent's audit trail before it is answered.
 *
 * The external key's AES-GCM: the ciphertext metadata names the Trent key's backing-key version and a 15-byte
 * nonce; the per-request key is HKDF-SHA256(backing key, salt = nonce); the GCM AAD is the request's AAD and the
 * metadata, each preceded by its length, as the API recommends. Rotating the Trent key keeps old ciphertexts.
 */
export class XksProxyService {
  readonly #deps: XksProxyDeps;
  readonly #authorizedKey: ReturnType<typeof keyAuthorizer>;
  readonly #now: () => Date;
  #principal: { value: Principal | undefined; accessKeyId: string; until: number } | undefined;

  constructor(deps: XksProxyDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#authorizedKey = keyAuthorizer({ authorizer: deps.authorizer, keys: deps.keys, grants: new GrantStore(deps.db) });
  }

  handles(rawPath: string): boolean {
    return rawPath === XKS_PROXY_PREFIX || rawPath.startsWith(`${XKS_PROXY_PREFIX}/`);
  }

  /** Answer one request under XKS_PROXY_PREFIX; its event is durable before the answer leaves (fail closed). */
  async handle(req: IncomingMessage, sreq: SigningRequest): Promise<WireResponse> {
    const started = process.hrtime.bigint();
    const call: Call = { requestId: randomUUID(), receivedAt: this.#now(), operation: undefined, requestParameters: null, resources: [] };
    let status = 200;
    let body: Record<string, unknown>;
    let error: XksProxyError | undefined;
    try {
      body = await this.#run(req, sreq, call);
    } catch (err) {
      error = err instanceof XksProxyError ? err : this.#unexpected(err, call);
      status = XKS_ERRORS[error.errorName];
      body = { errorName: error.errorName, errorMessage: error.message };
    }
    const methodNotAllowed = error?.errorName === 'ValidationException' && req.method !== 'POST' && call.operation !== undefined;
    if (methodNotAllowed) status = 405;
    try {
      await this.#deps.recorder.record(this.#event(req, sreq, call, error));
    } catch {
      // Nothing is served unrecorded.
      status = 500;
      body = { errorName: 'InternalException', errorMessage: 'The call was not served because the audit trail cannot record it. Try again later.' };
    }
    const payload = Buffer.from(JSON.stringify(body));
    this.#deps.log.info(
      { requestId: call.requestId, method: req.method, service: XKS_SIGNING_SERVICE, operation: call.operation, status, ms: Number(process.hrtime.bigint() - started) / 1e6 },
      'request',
    );
    return {
      status,
      headers: {
        'content-type': 'application/json',
        'content-length': payload.length,
        'x-amzn-requestid': call.requestId,
        ...(methodNotAllowed ? { allow: 'POST' } : {}),
      },
      body: payload,
    };
  }

  async #run(req: IncomingMessage, sreq: SigningRequest, call: Call): Promise<Record<string, unknown>> {
    const route = this.#route(sreq.rawPath);
    call.operation = route?.operation;
    if (route?.externalKeyId !== undefined) call.externalKeyId = route.externalKeyId;
    if (this.#deps.recorder.failing && !(await this.#deps.recorder.check())) {
      throw new XksProxyError('InternalException', 'The call was not served because the audit trail cannot record it. Try again later.');
    }
    if (!route) throw new XksProxyError('InvalidUriPathException', `Trent's XKS proxy serves ${XKS_PROXY_URI_PATH}/health and ${XKS_PROXY_URI_PATH}/keys/{externalKeyId}/{metadata|encrypt|decrypt}.`);
    if (sreq.method !== 'POST') {
      req.resume();
      throw new XksProxyError('ValidationException', 'XKS proxy API requests are POST requests.');
    }
    const raw = await readBody(req);
    await this.#authenticate(sreq, raw, call);
    let input: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      input = parsed as Record<string, unknown>;
    } catch {
      throw new XksProxyError('ValidationException', 'The request body must be a JSON object.');
    }
    const meta = readMetadata(input['requestMetadata'], route.operation !== 'GetHealthStatus');
    call.requestParameters = {
      ...(route.externalKeyId !== undefined ? { externalKeyId: route.externalKeyId } : {}),
      requestMetadata: meta,
      ...(typeof input['encryptionAlgorithm'] === 'string' ? { encryptionAlgorithm: input['encryptionAlgorithm'].slice(0, 64) } : {}),
      ...(typeof input['ciphertextDataIntegrityValueAlgorithm'] === 'string' ? { ciphertextDataIntegrityValueAlgorithm: input['ciphertextDataIntegrityValueAlgorithm'].slice(0, 64) } : {}),
    };
    if (route.operation === 'GetHealthStatus') return this.#health();
    const key = await this.#key(route.externalKeyId!, route.operation, call);
    switch (route.operation) {
      case 'GetKeyMetadata':
        return keyMetadata(key);
      case 'Encrypt':
        return this.#encrypt(key, input);
      case 'Decrypt':
        return this.#decrypt(key, input);
    }
  }

  #route(rawPath: string): { operation: Operation; externalKeyId?: string } | undefined {
    if (!rawPath.startsWith(`${XKS_PROXY_URI_PATH}/`)) return undefined;
    const rest = rawPath.slice(XKS_PROXY_URI_PATH.length + 1);
    if (rest === 'health') return { operation: 'GetHealthStatus' };
    const m = /^keys\/([^/]+)\/(metadata|encrypt|decrypt)$/.exec(rest);
    if (!m) return undefined;
    const operation = m[2] === 'metadata' ? 'GetKeyMetadata' : m[2] === 'encrypt' ? 'Encrypt' : 'Decrypt';
    return { operation, externalKeyId: m[1]! };
  }

  /** SigV4 for kms-xks-proxy with one of the proxy's credentials, within five minutes of the server's clock. */
  async #authenticate(sreq: SigningRequest, body: Buffer, call: Call): Promise<void> {
    const refuse = (why: string) => new XksProxyError('AuthenticationFailedException', `The request could not be authenticated: ${why}.`);
    let parsed;
    try {
      parsed = parseSigV4(sreq);
    } catch (err) {
      if (err instanceof AuthFailure) throw refuse(err.message);
      throw err;
    }
    if (!parsed) throw refuse('it carries no SigV4 Authorization header');
    call.accessKeyId = parsed.accessKeyId;
    if (parsed.presigned) throw refuse('presigned requests are not accepted');
    if (parsed.service !== XKS_SIGNING_SERVICE) throw refuse(`the credential scope names the service ${parsed.service}, not ${XKS_SIGNING_SERVICE}`);
    if (Math.abs(this.#now().getTime() - parsed.date.getTime()) > MAX_SKEW_MS) throw refuse('its X-Amz-Date is more than five minutes from the server clock');
    const credential = await this.#deps.credentials.lookup(parsed.accessKeyId);
    if (!credential) throw refuse('the access key id is not one of this proxy\'s credentials');
    const computed = sha256Hex(body);
    const claimed = header(sreq, 'x-amz-content-sha256');
    if (claimed !== undefined && claimed.toLowerCase() !== computed) throw refuse('the payload hash does not match the body');
    try {
      await verifySignature(parsed, credential.secret, sreq, { uriEscapePath: true, payloadHashes: [computed] });
    } catch (err) {
      if (err instanceof AuthFailure) throw refuse('the signature does not match');
      throw err;
    }
    call.principal = await this.#userPrincipal(credential.userName, parsed.accessKeyId);
  }

  /** The IAM user a credential acts as (read at most once a second); undefined while it does not exist. */
  async #userPrincipal(userName: string, accessKeyId: string): Promise<Principal | undefined> {
    const hit = this.#principal;
    if (hit && hit.accessKeyId === accessKeyId && hit.until > Date.now()) return hit.value;
    const row = await this.#deps.db.get<{ user_id: string; arn: string; account_id: string }>('SELECT user_id, arn, account_id FROM iam_users WHERE account_id = ? AND user_name = ?', [
      this.#deps.accountId,
      userName,
    ]);
    const value: Principal | undefined = row ? { type: 'IAMUser', accountId: row.account_id, arn: row.arn, principalId: row.user_id, userName, accessKeyId } : undefined;
    this.#principal = { value, accessKeyId, until: Date.now() + 1000 };
    return value;
  }

  /** The Trent key an external key id names, with the proxy user's permission for the operation. */
  async #key(externalKeyId: string, operation: Exclude<Operation, 'GetHealthStatus'>, call: Call): Promise<KeyRecord> {
    if (!XKS_KEY_ID.test(externalKeyId)) throw new XksProxyError('ValidationException', 'The external key id is not valid: 1 to 128 letters, digits, hyphens, periods and underscores.');
    let key: KeyRecord;
    try {
      key = await this.#deps.keys.resolve(externalKeyId, { aliases: false });
    } catch (err) {
      if (err instanceof NotFoundException) throw new XksProxyError('KeyNotFoundException', `This proxy has no external key ${externalKeyId}.`);
      throw err;
    }
    const principal = call.principal;
    if (!principal) throw new XksProxyError('AccessDeniedException', `The proxy's IAM user ${XKS_PROXY_USER} does not exist in this account: create it and allow it to use the keys it should serve.`);
    const ctx = this.#context(call, principal, ACTIONS[operation]);
    try {
      await this.#authorizedKey(ctx, key);
    } catch (err) {
      if (err instanceof AccessDeniedError || (err instanceof AwsError && /AccessDenied/.test(err.code))) {
        throw new XksProxyError('AccessDeniedException', `${principal.arn} is not allowed kms:${ACTIONS[operation]} on ${key.arn}.`);
      }
      throw err;
    }
    return key;
  }

  #context(call: Call, principal: Principal, operation: string): CallContext {
    const authorizer = this.#deps.authorizer;
    const region = this.#deps.region;
    return {
      requestId: call.requestId,
      principal,
      region,
      signingRegion: region,
      sourceIp: '',
      userAgent: '',
      receivedAt: call.receivedAt,
      resources: call.resources,
      operation,
      authorize(check) {
        return authorizer.check(this, check);
      },
    };
  }

  /**
   * A deep check: the root of trust (which every key's material depends on) wraps and unwraps a test value now.
   * One Trent node answers for itself: a fleet of one proxy in front of one key manager.
   */
  async #health(): Promise<Record<string, unknown>> {
    let status: 'ACTIVE' | 'UNAVAILABLE' = 'ACTIVE';
    try {
      const probe = randomBytes(32);
      const aad = Buffer.from('trent:kms:xks-proxy-health');
      const back = await this.#deps.root.unwrap(await this.#deps.root.wrap(probe, aad), aad);
      if (!back.equals(probe)) status = 'UNAVAILABLE';
    } catch {
      status = 'UNAVAILABLE';
    }
    return {
      xksProxyFleetSize: 1,
      xksProxyVendor: 'Trent',
      xksProxyModel: `Trent XKS proxy ${this.#deps.version}`,
      ekmVendor: 'Trent',
      ekmFleetDetails: [{ id: `trent-${this.#deps.region}`, model: `Trent KMS, root of trust ${this.#deps.root.kind}`, healthStatus: status }],
    };
  }

  /** The key must be one whose material Trent holds, usable for encryption. */
  #usable(key: KeyRecord): void {
    if (key.keyState !== 'Enabled') throw new XksProxyError('InvalidStateException', `${key.arn} is ${key.keyState} in Trent.`);
    if (!eligible(key)) throw new XksProxyError('InvalidKeyUsageException', `${key.arn} is not a symmetric encryption key whose material Trent holds; it cannot serve as an external key.`);
  }

  async #encrypt(key: KeyRecord, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.#usable(key);
    algorithmOf(input);
    const plaintext = field(input, 'plaintext', true, XKS_MAX_PLAINTEXT)!;
    const aad = field(input, 'additionalAuthenticatedData', false, XKS_MAX_AAD);
    const cdiv = input['ciphertextDataIntegrityValueAlgorithm'];
    if (cdiv !== undefined && cdiv !== XKS_CDIV_ALGORITHM) throw new XksProxyError('ValidationException', `ciphertextDataIntegrityValueAlgorithm must be ${XKS_CDIV_ALGORITHM}.`);
    const version = key.currentVersion;
    const material = await this.#deps.keys.material(key, version);
    if (!material) throw new XksProxyError('InvalidStateException', `${key.arn} has no key material in Trent.`);
    const nonce = randomBytes(METADATA_BYTES - 5);
    const metadata = Buffer.alloc(METADATA_BYTES);
    metadata[0] = METADATA_FORMAT;
    metadata.writeUInt32BE(version, 1);
    nonce.copy(metadata, 5);
    const k = hkdfSha256(material.secret, nonce, HKDF_INFO, 32);
    try {
      const iv = randomBytes(12);
      const { ciphertext, tag } = gcmEncryptWithIv(k, iv, plaintext, gcmAadFor(aad, metadata));
      const out: Record<string, unknown> = {
        ciphertext: ciphertext.toString('base64'),
        ciphertextMetadata: metadata.toString('base64'),
        initializationVector: iv.toString('base64'),
        authenticationTag: tag.toString('base64'),
      };
      if (cdiv !== undefined) {
        // The integrity value first, then a decryption of what is about to be returned (the API's recommended order).
        out['ciphertextDataIntegrityValue'] = ciphertextDataIntegrityValue({ aad, metadata, iv, ciphertext, tag });
        const check = gcmDecrypt(k, iv, ciphertext, tag, gcmAadFor(aad, metadata));
        const same = check.equals(plaintext);
        check.fill(0);
        if (!same) throw new XksProxyError('InternalException', 'The encryption could not be verified.');
      }
      return out;
    } finally {
      k.fill(0);
      plaintext.fill(0);
    }
  }

  async #decrypt(key: KeyRecord, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.#usable(key);
    algorithmOf(input);
    const ciphertext = field(input, 'ciphertext', true, XKS_MAX_PLAINTEXT)!;
    const metadata = field(input, 'ciphertextMetadata', false, 20);
    const iv = field(input, 'initializationVector', true, 16)!;
    const tag = field(input, 'authenticationTag', true, 16)!;
    const aad = field(input, 'additionalAuthenticatedData', false, XKS_MAX_AAD);
    if (iv.length !== 12 && iv.length !== 16) throw new XksProxyError('ValidationException', 'initializationVector must be 12 or 16 bytes.');
    if (tag.length !== 16) throw new XksProxyError('ValidationException', 'authenticationTag must be 16 bytes.');
    const invalid = () => new XksProxyError('InvalidCiphertextException', 'The ciphertext, its metadata, the initialization vector, the additional authenticated data or the authentication tag is corrupted, missing or otherwise invalid.');
    // Only this proxy's own ciphertexts decrypt: they carry its metadata (format, backing-key version, nonce) and a 96-bit IV.
    if (!metadata || metadata.length !== METADATA_BYTES || metadata[0] !== METADATA_FORMAT || iv.length !== 12) throw invalid();
    const material = await this.#deps.keys.material(key, metadata.readUInt32BE(1));
    if (!material) throw invalid();
    const k = hkdfSha256(material.secret, metadata.subarray(5), HKDF_INFO, 32);
    try {
      const plaintext = gcmDecrypt(k, iv, ciphertext, tag, gcmAadFor(aad, metadata));
      try {
        return { plaintext: plaintext.toString('base64') };
      } finally {
        plaintext.fill(0);
      }
    } catch (err) {
      if (err instanceof AeadError || err instanceof RangeError) throw invalid();
      throw err;
    } finally {
      k.fill(0);
    }
  }

  #unexpected(err: unknown, call: Call): XksProxyError {
    if (err instanceof AwsError && err.code === 'KMSInternalException') return new XksProxyError('InternalException', 'Trent cannot use the key material now (its root of trust is unavailable).');
    this.#deps.log.error({ err, requestId: call.requestId }, 'XKS proxy call failed');
    return new XksProxyError('InternalException', 'The request processing failed.');
  }

  /** The call's CloudTrail record: request metadata and parameters, never plaintext, ciphertext or AAD. */
  #event(req: IncomingMessage, sreq: SigningRequest, call: Call, error: XksProxyError | undefined): TrailEvent {
    let tls: TrailEvent['tlsDetails'];
    let sourceIPAddress = '';
    try {
      const socket = req.socket as TLSSocket;
      sourceIPAddress = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      tls = { tlsVersion: socket.getProtocol?.() ?? 'unknown', cipherSuite: socket.getCipher?.()?.standardName ?? 'unknown', clientProvidedHostHeader: header(sreq, 'host') ?? '' };
    } catch {
      tls = undefined;
    }
    return {
      eventVersion: '1.11',
      userIdentity: userIdentity(call.principal, call.accessKeyId),
      eventTime: eventTime(call.receivedAt),
      eventSource: 'kms.amazonaws.com',
      eventName: `Xks${call.operation ?? 'InvalidUriPath'}`,
      awsRegion: this.#deps.region,
      sourceIPAddress,
      userAgent: header(sreq, 'user-agent') ?? '',
      ...(error ? { errorCode: error.errorName, errorMessage: error.message } : {}),
      requestParameters: call.requestParameters ?? (call.externalKeyId !== undefined ? { externalKeyId: call.externalKeyId } : null),
      responseElements: null,
      requestID: call.requestId,
      eventID: randomUUID(),
      readOnly: true,
      ...(call.resources.length ? { resources: [...call.resources] } : {}),
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: this.#deps.accountId,
      eventCategory: 'Management',
      ...(tls ? { tlsDetails: tls } : {}),
      additionalEventData: { xksProxyUriPath: XKS_PROXY_URI_PATH },
    };
  }
}

/** Keys Trent can serve as external keys: symmetric encryption keys with material Trent holds (not in a custom key store itself). */
function eligible(key: KeyRecord): boolean {
  return key.keySpec === 'SYMMETRIC_DEFAULT' && key.keyUsage === 'ENCRYPT_DECRYPT' && !key.customKeyStoreId;
}

/** GetKeyMetadata: a usable key is an enabled AES_256 key for ENCRYPT and DECRYPT; anything else reads as what it is. */
function keyMetadata(key: KeyRecord): Record<string, unknown> {
  const usage = eligible(key) ? ['ENCRYPT', 'DECRYPT'] : [];
  return { keySpec: key.keySpec === 'SYMMETRIC_DEFAULT' ? 'AES_256' : key.keySpec, keyUsage: usage, keyStatus: key.keyState === 'Enabled' ? 'ENABLED' : 'DISABLED' };
}

function algorithmOf(input: Record<string, unknown>): void {
  if (input['encryptionAlgorithm'] !== XKS_ALGORITHM) throw new XksProxyError('ValidationException', `encryptionAlgorithm must be ${XKS_ALGORITHM}.`);
}

/** A base64 member; beyond the sizes the API requires, UnsupportedOperationException (501), as the API allows. */
function field(input: Record<string, unknown>, name: string, required: boolean, max: number): Buffer | undefined {
  const v = input[name];
  if (v === undefined || v === null) {
    if (required) throw new XksProxyError('ValidationException', `${name} is required.`);
    return undefined;
  }
  const b = decodeBase64(v);
  if (!b) throw new XksProxyError('ValidationException', `${name} must be base64-encoded.`);
  if (b.length > max) throw new XksProxyError('UnsupportedOperationException', `${name} is longer than the ${max} bytes this proxy accepts.`);
  return b;
}

/** requestMetadata: kmsRequestId and kmsOperation always; awsPrincipalArn for key operations. Only its known fields are kept (for the trail). */
function readMetadata(v: unknown, keyOperation: boolean): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new XksProxyError('ValidationException', 'requestMetadata is required.');
  const m = v as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const f of METADATA_FIELDS) {
    const x = m[f];
    if (x === undefined) continue;
    if (typeof x !== 'string') throw new XksProxyError('ValidationException', `requestMetadata.${f} must be a string.`);
    out[f] = x.slice(0, 2048);
  }
  for (const f of keyOperation ? ['kmsRequestId', 'kmsOperation', 'awsPrincipalArn'] : ['kmsRequestId', 'kmsOperation']) {
    if (out[f] === undefined) throw new XksProxyError('ValidationException', `requestMetadata.${f} is required.`);
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) over = true;
      else chunks.push(c);
    });
    req.once('error', reject);
    req.once('end', () => (over ? reject(new XksProxyError('UnsupportedOperationException', `The request body is larger than the ${MAX_BODY_BYTES} bytes this proxy accepts.`)) : resolve(Buffer.concat(chunks))));
  });
}
