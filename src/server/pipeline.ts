import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { PassThrough, Readable, pipeline as streamPipeline } from 'node:stream';
import type { Logger } from 'pino';
import type { IdentityStore, ResolvedKey } from '../iam/identities.ts';
import { AuthFailure, authError, type WireProtocol } from '../wire/auth-errors.ts';
import { AwsError, InternalFailure } from '../wire/errors.ts';
import { jsonError, jsonResponse, operationFromTarget, parseJsonBody } from '../wire/aws-json.ts';
import { parseQueryParams, queryError, queryResponse } from '../wire/aws-query.ts';
import { restXmlError, s3RequestHeaders } from '../wire/rest-xml.ts';
import type { WireResponse } from '../wire/protocol.ts';
import type { XmlObject } from '../wire/xml.ts';
import {
  checkTime,
  header,
  parseQuery,
  parseSigV4,
  peekScopeService,
  sha256Hex,
  verifySignature,
  verifySignedString,
  UNSIGNED_PAYLOAD,
  type ParsedSigV4,
  type SigningRequest,
} from '../wire/sigv4.ts';
import { AwsChunkedDecoder, AwsChunkedError } from '../wire/aws-chunked.ts';
import { auditQueryParams, conformJson } from '../wire/shapes.ts';
import { BodyVerifier } from '../wire/body-verifier.ts';
import { algorithmForHeader } from '../wire/checksums.ts';
import type { CallContext, RestRoute, Service, SignedString } from './service.ts';
import type { Principal } from '../iam/principal.ts';
import type { TLSSocket } from 'node:tls';
import { eventTime, userIdentity, type AuditResource, type TrailEvent } from '../trail/event.ts';
import type { Recorder } from '../trail/recorder.ts';
import { RootUnavailableError } from '../root/root-of-trust.ts';
import { UnstorableText } from '../store/database.ts';
import { AccessDeniedError, type AccessCheck, type Authorizer } from '../iam/authorizer.ts';
import { CONSOLE_PATH, consoleAssets } from './console-assets.ts';

/** The protocol AWS uses for each signing name, so that errors are shaped right even before a service exists here. */
const KNOWN_PROTOCOLS: Record<string, WireProtocol> = {
  kms: 'json',
  secretsmanager: 'json',
  ssm: 'json',
  rekognition: 'json',
  cloudtrail: 'json',
  sts: 'query',
  iam: 'query',
  s3: 'restxml',
};

const DEFAULT_MAX_BODY = 1024 * 1024;
const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

export interface PipelineOptions {
  services: Service[];
  identities: IdentityStore;
  region: string;
  log: Logger;
  now?: () => Date;
  /** Answers GET /_trent/health and /_trent/ready without authentication: 503, naming the component, while calls cannot be served. */
  health: () => Promise<{ status: number; body: Record<string, unknown> }>;
  /** Every call is recorded here before its response is sent. */
  recorder: Recorder;
  accountId: string;
  authorizer: Authorizer;
  /**
   * After a call that may have changed state, before it is answered: other serving processes drop what they cached
   * about it (see server/workers.ts). `scope` is the service's signing name.
   */
  changed?: (scope: string) => Promise<void>;
  /**
   * Requests under the XKS proxy's path (src/kms/xks-proxy.ts): authenticated with the proxy's own SigV4 credential,
   * answered in the XKS Proxy API's error shape, and recorded through the same recorder before they are answered.
   */
  xks?: { handles(rawPath: string): boolean; handle(req: IncomingMessage, sreq: SigningRequest): Promise<WireResponse> };
}

interface Exchange {
  req: IncomingMessage;
  sreq: SigningRequest;
  requestId: string;
  protocol: WireProtocol;
  service?: Service;
  signingName?: string;
  operation?: string;
  xmlns: string;
  receivedAt: Date;
  principal?: Principal;
  accessKeyId?: string;
  signingRegion?: string;
  input?: unknown;
  /** What the event may show of the input: modelled, non-sensitive members only (see wire/shapes.ts). */
  auditInput?: unknown;
  output?: unknown;
  /** The call's CloudTrail event id: its intent (if it changes state) and its event share it. */
  eventId: string;
  /** Its intent is on record: the call changes state, and its event must reach the store whatever happens. */
  began?: boolean;
  resources: AuditResource[];
  /** REST (S3) requests: the route decided before authentication, and the request's headers (names lower-case). */
  route?: RestRoute;
  restHeaders?: Record<string, string | undefined>;
}

const READ_ONLY = /^(Describe|List|Get|Lookup|Head|BatchGet|Search)/;

/**
 * One request's path: body framing, SigV4, service routing, the operation, and the AWS-shaped
 * response or error. Handlers receive typed input and a CallContext, never HTTP.
 */
export class Pipeline {
  readonly #services = new Map<string, Service>();
  readonly #byTarget = new Map<string, Service>();
  readonly #opts: PipelineOptions;
  readonly #now: () => Date;

  constructor(opts: PipelineOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date());
    for (const s of opts.services) {
      this.#services.set(s.signingName, s);
      if (s.protocol === 'json') for (const p of s.targetPrefixes) this.#byTarget.set(p, s);
    }
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    this.#run(req)
      .then((wire) => this.#send(req, res, wire, started))
      .catch((err) => {
        this.#opts.log.error({ err }, 'response could not be sent');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
  };

  async #run(req: IncomingMessage): Promise<WireResponse & { exchange?: Exchange; error?: AwsError }> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const sreq: SigningRequest = {
      method: req.method ?? 'GET',
      rawPath: q < 0 ? url : url.slice(0, q),
      rawQuery: q < 0 ? '' : url.slice(q + 1),
      headers: req.headersDistinct as Record<string, string[] | undefined>,
    };
    if ((sreq.rawPath === '/_trent/health' || sreq.rawPath === '/_trent/ready') && (sreq.method === 'GET' || sreq.method === 'HEAD')) {
      const h = await this.#opts.health();
      const body = Buffer.from(JSON.stringify(h.body));
      return { status: h.status, headers: { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' }, body };
    }
    // The console's static files: no API call, so neither authenticated nor audited; every call the page makes is.
    if ((sreq.rawPath === CONSOLE_PATH || sreq.rawPath.startsWith(`${CONSOLE_PATH}/`)) && (sreq.method === 'GET' || sreq.method === 'HEAD')) {
      return consoleAssets.answer(sreq.rawPath, { acceptEncoding: header(sreq, 'accept-encoding'), ifNoneMatch: header(sreq, 'if-none-match') });
    }
    if (this.#opts.xks?.handles(sreq.rawPath)) return this.#opts.xks.handle(req, sreq);
    const ex = this.#classify(req, sreq);
    let wire: WireResponse;
    // Fail closed: nothing is served while calls cannot be recorded. A failing store is tried again first (one write,
    // shared by the requests arriving together), so that every serving process recovers as soon as the store does.
    if (this.#opts.recorder.failing && !(await this.#opts.recorder.check())) {
      if (ex.protocol !== 'restxml') req.resume();
      wire = this.#errorResponse(ex, AUDIT_UNAVAILABLE());
    } else {
      try {
        wire = await this.#authenticated(ex);
      } catch (err) {
        wire = this.#errorResponse(ex, err);
      }
    }
    const event = this.#event(ex, wire);
    // A call that may have changed state: other serving processes drop their caches while its event commits.
    const dropped = ex.began && this.#opts.changed && (ex.service?.changesCachedState?.(ex.operation ?? '') ?? true) ? this.#opts.changed(ex.service?.signingName ?? '') : undefined;
    try {
      await this.#opts.recorder.record(event);
      if (dropped) await dropped;
    } catch {
      // The call ran, but its event is not durable: the client is refused; a call that changed state keeps its
      // event in the recorder (and its intent in the store) until the store takes it.
      if (ex.began) this.#opts.recorder.hold(event);
      wire = this.#errorResponse(ex, AUDIT_UNAVAILABLE());
    }
    return { ...wire, exchange: ex };
  }

  #readOnly(ex: Exchange): boolean {
    const name = ex.operation ?? 'Unknown';
    return ex.service?.audit?.readOnly ? ex.service.audit.readOnly(name) : READ_ONLY.test(name);
  }

  /**
   * A state-changing call runs only once its intent is on record: if the audit store cannot commit now, the call is
   * refused before, not after, the change; if it commits, the change can never exist without an event.
   */
  async #preflight(ex: Exchange): Promise<void> {
    if (this.#readOnly(ex)) return;
    try {
      await this.#opts.recorder.begin(this.#event(ex, { status: 0, headers: {} }));
    } catch {
      throw AUDIT_UNAVAILABLE();
    }
    ex.began = true;
  }

  /**
   * The CloudTrail record of this call; request and response fields only as the service's audit policy allows,
   * from the request's modelled, non-sensitive members. Never throws: an event that cannot be built in full is
   * built without its request and response fields.
   */
  #event(ex: Exchange, wire: WireResponse & { error?: AwsError }): TrailEvent {
    const service = ex.service;
    const name = ex.operation ?? 'Unknown';
    const audit = service?.audit;
    const err = wire.error;
    let requestParameters: Record<string, unknown> | null = null;
    let responseElements: Record<string, unknown> | null = null;
    let category: 'Management' | 'Data' = 'Management';
    let readOnly = false;
    try {
      category = audit?.category?.(name) ?? 'Management';
      readOnly = this.#readOnly(ex);
    } catch {
      // keep the defaults
    }
    try {
      if (ex.auditInput !== undefined && audit?.requestParameters) requestParameters = audit.requestParameters(name, ex.auditInput);
      if (!err && ex.output !== undefined && audit?.responseElements) responseElements = audit.responseElements(name, ex.output);
    } catch {
      // A malformed input the handler rejected may not fit the policy's expectations: record no parameters then.
      requestParameters = null;
      responseElements = null;
    }
    let socketFacts: { sourceIPAddress: string; tls?: { tlsVersion: string; cipherSuite: string } } = { sourceIPAddress: '' };
    try {
      const socket = ex.req.socket as TLSSocket;
      socketFacts = { sourceIPAddress: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''), tls: tlsOf(socket) };
    } catch {
      // a socket already gone: no address or TLS details
    }
    return {
      eventVersion: '1.11',
      userIdentity: userIdentity(ex.principal, ex.accessKeyId),
      eventTime: eventTime(ex.receivedAt),
      eventSource: service?.eventSource ?? `${ex.signingName ?? 'unknown'}.amazonaws.com`,
      eventName: name,
      awsRegion: this.#opts.region,
      sourceIPAddress: socketFacts.sourceIPAddress,
      userAgent: header(ex.sreq, 'user-agent') ?? '',
      // CloudTrail records every authorisation failure as AccessDenied, whatever the protocol calls it.
      ...(err ? { errorCode: err.code === 'AccessDeniedException' ? 'AccessDenied' : err.code, errorMessage: err.message } : {}),
      requestParameters,
      responseElements,
      requestID: ex.requestId,
      eventID: ex.eventId,
      readOnly,
      ...(ex.resources.length ? { resources: [...ex.resources] } : {}),
      eventType: 'AwsApiCall',
      managementEvent: category === 'Management',
      recipientAccountId: this.#opts.accountId,
      eventCategory: category,
      ...(socketFacts.tls ? { tlsDetails: { ...socketFacts.tls, clientProvidedHostHeader: header(ex.sreq, 'host') ?? '' } } : {}),
    };
  }

  /** Decide the service and protocol from the credential scope, X-Amz-Target or the request's shape. */
  #classify(req: IncomingMessage, sreq: SigningRequest): Exchange {
    const requestId = randomUUID();
    const scope = peekScopeService(sreq);
    const target = operationFromTarget(header(sreq, 'x-amz-target'));
    let service = scope ? this.#services.get(scope) : target ? this.#byTarget.get(target.prefix) : undefined;
    // What a browser sends S3 without SigV4: a CORS preflight, and an HTML form upload (signed by the policy in its body).
    if (!service && !scope && !target && isBrowserS3Request(sreq)) service = this.#services.get('s3');
    let protocol: WireProtocol;
    if (service) protocol = service.protocol;
    else if (scope && KNOWN_PROTOCOLS[scope]) protocol = KNOWN_PROTOCOLS[scope]!;
    else if (target) protocol = 'json';
    else if (/^application\/x-www-form-urlencoded/.test(header(sreq, 'content-type') ?? '') || /(^|&)Action=/.test(sreq.rawQuery)) {
      protocol = 'query';
      service ??= scope ? undefined : this.#services.get('sts');
    } else protocol = 'restxml';
    let rest: { route?: RestRoute; restHeaders?: Record<string, string | undefined>; input?: unknown; auditInput?: unknown; operation?: string } = {};
    if (service?.protocol === 'restxml') {
      const headers: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
      for (const [k, v] of Object.entries(sreq.headers)) headers[k] = v?.join(',');
      const route = service.route({ method: sreq.method, path: sreq.rawPath, rawQuery: sreq.rawQuery, query: new Map(parseQuery(sreq.rawQuery)), headers });
      const input = { route, query: sreq.rawQuery, host: headers['host'] };
      rest = { route, restHeaders: headers, input, auditInput: input, operation: route.operation };
    }
    return {
      req,
      sreq,
      requestId: protocol === 'restxml' ? randomBytes(8).toString('hex').toUpperCase() : requestId,
      protocol,
      ...(service ? { service } : {}),
      ...(scope ? { signingName: scope } : {}),
      xmlns: service?.protocol === 'query' ? service.xmlns : STS_XMLNS,
      receivedAt: this.#now(),
      resources: [],
      eventId: randomUUID(),
      ...(target ? { operation: target.operation } : {}),
      ...(protocol === 'query' ? queryAction(sreq.rawQuery) : {}),
      ...rest,
    };
  }

  async #authenticated(ex: Exchange): Promise<WireResponse> {
    const { sreq } = ex;
    // JSON and query bodies are small and bounded: read them first, so that even a call refused for its
    // signature is recorded under its operation name.
    let body: Buffer | undefined;
    if (ex.protocol !== 'restxml') {
      body = await readBody(this.#decodedBody(ex, undefined, undefined), ex.service?.maxBodyBytes ?? DEFAULT_MAX_BODY);
      if (ex.protocol === 'query') ex.operation = parseQueryParams(sreq.rawQuery, body, header(sreq, 'content-type')).get('Action') ?? ex.operation;
    }
    const parsed = parseSigV4(sreq);
    // A preflight is never signed, even when it carries the query of a presigned URL (which signs the actual request).
    if ((!parsed || sreq.method === 'OPTIONS') && ex.service?.protocol === 'restxml' && ex.route && ex.service.unsigned?.(ex.route)) return this.#unsignedRestXml(ex);
    if (!parsed) {
      if (isSigV2(sreq)) throw new AwsError('InvalidRequest', 400, 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
      throw new AuthFailure('missing', 'no authentication');
    }
    const now = this.#now();
    checkTime(parsed, now);
    ex.accessKeyId = parsed.accessKeyId;
    ex.signingRegion = parsed.region;
    const identity = await this.#identity(parsed.accessKeyId, parsed.sessionToken, now);
    if (body === undefined) return this.#restXml(ex, parsed, identity, now);
    await this.#verifyBuffered(ex, parsed, identity, body);
    ex.principal = identity.principal;
    const ctx = this.#context(ex, parsed, identity, now);
    if (!ex.service) throw unknownService(ex);
    return ex.service.protocol === 'json' ? this.#json(ex, ctx, body) : this.#query(ex, ctx, body);
  }

  /** The owner of an access key (and, for temporary credentials, its session token), or the AuthFailure saying why not. */
  async #identity(accessKeyId: string, sessionToken: string | undefined, now: Date): Promise<ResolvedKey> {
    let identity: ResolvedKey | undefined;
    if (sessionToken !== undefined || accessKeyId.startsWith('ASIA')) {
      // Temporary credentials (STS AssumeRole): the key, its session token and its expiry must all hold.
      const session = sessionToken ? await this.#opts.identities.resolveSession(accessKeyId, sessionToken, now.getTime()) : undefined;
      if (session === 'expired') throw new AuthFailure('token-expired', 'the session has expired');
      identity = session;
    } else identity = await this.#opts.identities.resolveAccessKey(accessKeyId);
    if (!identity) throw new AuthFailure('unknown-key', 'unknown access key', { AWSAccessKeyId: accessKeyId });
    return identity;
  }

  /**
   * An S3 request a browser sends without SigV4 (RestXmlService.unsigned: a CORS preflight, a POST form upload), handed
   * to S3 with no caller yet and its body as it came. S3 authenticates a form itself through ctx.signIn (the policy's
   * SigV4 signature, checked here with the signer's key); until then the context has no principal and every access
   * check fails closed. Its event is recorded like any other call's, refused or not.
   */
  async #unsignedRestXml(ex: Exchange): Promise<WireResponse> {
    const now = this.#now();
    const authorizer = this.#opts.authorizer;
    const service = ex.service as Extract<Service, { protocol: 'restxml' }>;
    let principal: Principal | undefined;
    const ctx: CallContext = {
      requestId: ex.requestId,
      get principal(): Principal {
        if (!principal) throw new AuthFailure('missing', 'no authentication');
        return principal;
      },
      region: this.#opts.region,
      signingRegion: this.#opts.region,
      sourceIp: (ex.req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      userAgent: header(ex.sreq, 'user-agent') ?? '',
      ...refererOf(ex),
      receivedAt: now,
      resources: ex.resources,
      get operation() {
        return ex.operation ?? 'Unknown';
      },
      authorize(check: AccessCheck) {
        return authorizer.check(this, check);
      },
      signIn: async (signed: SignedString) => {
        if (principal) throw new Error('signIn called twice');
        ex.accessKeyId = signed.accessKeyId;
        ex.signingRegion = signed.region;
        const identity = await this.#identity(signed.accessKeyId, signed.sessionToken, now);
        await verifySignedString(signed, identity.secretAccessKey);
        principal = identity.principal;
        ex.principal = principal;
        ctx.signingRegion = signed.region;
      },
    };
    await this.#preflight(ex);
    const out = await service.handle(ctx, ex.route!, {
      method: ex.sreq.method,
      path: ex.sreq.rawPath,
      rawQuery: ex.sreq.rawQuery,
      query: new Map(parseQuery(ex.sreq.rawQuery)),
      headers: ex.restHeaders!,
      body: ex.req,
    });
    if (out.audit) ex.output = out.audit;
    return { status: out.status, headers: { ...s3RequestHeaders(ex.requestId), ...(out.headers ?? {}) }, ...(out.body !== undefined ? { body: out.body } : {}) };
  }

  /** Non-S3 services sign the hash of the body itself; a presigned URL may also carry UNSIGNED-PAYLOAD. */
  async #verifyBuffered(ex: Exchange, parsed: ParsedSigV4, identity: ResolvedKey, body: Buffer): Promise<void> {
    const computed = sha256Hex(body);
    const claimed = header(ex.sreq, 'x-amz-content-sha256');
    let hashes: string[];
    if (parsed.presigned) hashes = [...(claimed ? [claimed] : []), UNSIGNED_PAYLOAD, computed];
    else if (claimed && !/^[0-9a-f]{64}$/i.test(claimed)) hashes = [claimed];
    else if (claimed && claimed.toLowerCase() !== computed) throw new AuthFailure('signature', 'payload hash does not match the body');
    else hashes = [computed];
    await verifySignature(parsed, identity.secretAccessKey, ex.sreq, { uriEscapePath: true, payloadHashes: hashes });
  }

  async #restXml(ex: Exchange, parsed: ParsedSigV4, identity: ResolvedKey, now: Date): Promise<WireResponse> {
    const claimed = header(ex.sreq, 'x-amz-content-sha256');
    if (!parsed.presigned && !claimed) throw new AwsError('InvalidRequest', 400, 'Missing required header for this request: x-amz-content-sha256');
    const payloadHash = parsed.presigned ? (claimed ?? UNSIGNED_PAYLOAD) : claimed!;
    const verified = await verifySignature(parsed, identity.secretAccessKey, ex.sreq, { uriEscapePath: false, payloadHashes: [payloadHash] });
    ex.principal = identity.principal;
    const body = this.#decodedBody(ex, parsed, verified.signingKey);
    const ctx = this.#context(ex, parsed, identity, now);
    if (!ex.service || ex.service.protocol !== 'restxml') {
      // Integrity failures (payload hash, Content-MD5, checksums) are reported before anything else.
      for await (const chunk of body) void chunk;
      throw unknownService(ex);
    }
    await this.#preflight(ex);
    const out = await ex.service.handle(ctx, ex.route!, {
      method: ex.sreq.method,
      path: ex.sreq.rawPath,
      rawQuery: ex.sreq.rawQuery,
      query: new Map(parseQuery(ex.sreq.rawQuery)),
      headers: ex.restHeaders!,
      body,
    });
    if (out.audit) ex.output = out.audit;
    return { status: out.status, headers: { ...s3RequestHeaders(ex.requestId), ...(out.headers ?? {}) }, ...(out.body !== undefined ? { body: out.body } : {}) };
  }

  /**
   * The request body as the client meant it: aws-chunked framing removed (chunk signatures checked),
   * and the payload hash, Content-MD5 and x-amz-checksum-* (header or trailer) verified as it streams.
   * A mismatch surfaces as a stream error before the consumer sees the end of the body.
   */
  #decodedBody(ex: Exchange, parsed: ParsedSigV4 | undefined, signingKey: Uint8Array | undefined): Readable {
    const { req, sreq } = ex;
    const claimed = header(sreq, 'x-amz-content-sha256') ?? '';
    const encoding = header(sreq, 'content-encoding') ?? '';
    const chunked = /(^|,)\s*aws-chunked\s*(,|$)/i.test(encoding) || claimed.startsWith('STREAMING-');
    const stages: NodeJS.ReadWriteStream[] = [];
    let decoder: AwsChunkedDecoder | undefined;
    if (chunked) {
      const decodedLength = header(sreq, 'x-amz-decoded-content-length');
      const signed = claimed.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
      if (signed && (!signingKey || !parsed)) throw new AwsError('InvalidRequest', 400, 'Signed streaming payloads are accepted by S3 only.');
      decoder = new AwsChunkedDecoder({
        ...(decodedLength !== undefined ? { decodedContentLength: Number(decodedLength) } : {}),
        ...(signed && signingKey && parsed
          ? { signing: { signingKey, longDate: parsed.longDate, scope: parsed.scope, seedSignature: parsed.signature }, signedTrailer: claimed.endsWith('-TRAILER') }
          : {}),
      });
      stages.push(decoder);
    }
    const trailerName = header(sreq, 'x-amz-trailer')?.toLowerCase();
    const checksumHeader = ex.route?.checksumHeadersNotOfBody
      ? undefined
      : Object.keys(sreq.headers).find((h) => algorithmForHeader(h) !== undefined && h !== 'x-amz-checksum-algorithm');
    const checksumName = trailerName && algorithmForHeader(trailerName) ? trailerName : checksumHeader;
    const md5 = header(sreq, 'content-md5');
    const hexHash = ex.protocol === 'restxml' && /^[0-9a-f]{64}$/i.test(claimed) ? claimed.toLowerCase() : undefined;
    if (checksumName || md5 || hexHash) {
      const algorithm = checksumName ? algorithmForHeader(checksumName)! : undefined;
      const fromTrailer = checksumName !== undefined && checksumName === trailerName;
      stages.push(
        new BodyVerifier({
          ...(hexHash ? { expectedSha256Hex: hexHash } : {}),
          ...(md5 ? { contentMd5Base64: md5 } : {}),
          ...(algorithm
            ? { checksum: { algorithm, expected: fromTrailer ? () => decoder?.trailers.get(checksumName!) : header(sreq, checksumName!) } }
            : {}),
        }),
      );
    }
    if (stages.length === 0) return req;
    const out = new PassThrough();
    const streams: Array<NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream> = [req, ...stages, out];
    streamPipeline(streams, (err) => {
      // pipeline() destroys `out` with the error, so its consumer sees it; nothing else to do here.
      void err;
    });
    return out;
  }

  #context(ex: Exchange, parsed: ParsedSigV4, identity: ResolvedKey, now: Date): CallContext {
    const authorizer = this.#opts.authorizer;
    const ctx: CallContext = {
      requestId: ex.requestId,
      principal: identity.principal,
      region: this.#opts.region,
      signingRegion: parsed.region,
      sourceIp: (ex.req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      userAgent: header(ex.sreq, 'user-agent') ?? '',
      ...refererOf(ex),
      receivedAt: now,
      resources: ex.resources,
      get operation() {
        return ex.operation ?? 'Unknown';
      },
      authorize(check: AccessCheck) {
        return authorizer.check(this, check);
      },
    };
    return ctx;
  }

  async #json(ex: Exchange, ctx: CallContext, body: Buffer): Promise<WireResponse> {
    const service = ex.service as Extract<Service, { protocol: 'json' }>;
    const target = operationFromTarget(header(ex.sreq, 'x-amz-target'));
    if (!target || !service.targetPrefixes.includes(target.prefix)) {
      throw new AwsError('UnknownOperationException', 400, 'The X-Amz-Target header is missing or names another service.');
    }
    ex.operation = target.operation;
    const handler = Object.hasOwn(service.operations, target.operation) ? service.operations[target.operation] : undefined;
    if (!handler) throw new AwsError('UnknownOperationException', 400, `Trent does not implement ${target.operation}.`);
    const input = parseJsonBody(body);
    const shape = service.shapes?.input(target.operation);
    // Wrong member types are refused here, as AWS's JSON services refuse them; the event sees the checked view only.
    ex.auditInput = shape ? conformJson(input, shape) : {};
    ex.input = input;
    ctx.input = input;
    if (service.authorization !== 'handler') await ctx.authorize({ action: `${service.authorization.prefix}:${target.operation}`, resource: '*', mode: 'identity' });
    await this.#preflight(ex);
    const output = await handler(ctx, input);
    ex.output = output;
    return jsonResponse(ex.requestId, output);
  }

  async #query(ex: Exchange, ctx: CallContext, body: Buffer): Promise<WireResponse> {
    const service = ex.service as Extract<Service, { protocol: 'query' }>;
    const params = parseQueryParams(ex.sreq.rawQuery, body, header(ex.sreq, 'content-type'));
    params.delete('Version');
    const action = params.get('Action');
    params.delete('Action');
    if (!action) throw new AwsError('MissingAction', 400, 'Missing Action');
    ex.operation = action;
    const handler = Object.hasOwn(service.operations, action) ? service.operations[action] : undefined;
    if (!handler) throw new AwsError('InvalidAction', 400, `Could not find operation ${action} for version ${service.version}`);
    ex.input = params;
    ex.auditInput = auditQueryParams(params, service.shapes?.input(action));
    await this.#preflight(ex);
    const result = await handler(ctx, params);
    ex.output = result;
    return queryResponse(ex.requestId, service.xmlns, action, result as XmlObject | undefined);
  }

  #errorResponse(ex: Exchange, err: unknown): WireResponse & { error: AwsError } {
    let awsErr: AwsError;
    if (err instanceof AwsError) awsErr = err;
    else if (err instanceof AuthFailure) awsErr = authError(err, ex.protocol);
    else if (err instanceof AwsChunkedError) {
      awsErr =
        err.reason === 'signature'
          ? authError(new AuthFailure('signature', err.message), ex.protocol)
          : err.reason === 'too-large'
            ? new AwsError('EntityTooLarge', 400, 'Your proposed upload exceeds the maximum allowed size.')
            : new AwsError('IncompleteBody', 400, err.message);
    } else if (err instanceof AccessDeniedError) {
      awsErr = ex.protocol === 'json' ? new AwsError('AccessDeniedException', 400, err.message) : new AwsError('AccessDenied', 403, err.message);
    } else if (err instanceof UnstorableText) {
      awsErr = new AwsError(ex.protocol === 'json' ? 'ValidationException' : ex.protocol === 'query' ? 'ValidationError' : 'InvalidArgument', 400, err.message);
    } else if (err instanceof RootUnavailableError) {
      this.#opts.log.error({ err: err.message, requestId: ex.requestId }, 'root of trust unavailable');
      awsErr = new AwsError('ServiceUnavailable', 503, `The root of trust is unavailable: ${err.message}`);
    } else if (err instanceof BodyTooLarge) awsErr = new AwsError(ex.protocol === 'json' ? 'RequestEntityTooLargeException' : 'RequestEntityTooLarge', 413, err.message);
    else if (clientGone(err, ex)) {
      // The client closed the connection before its body arrived: nobody is left to answer; not a server failure.
      this.#opts.log.info({ requestId: ex.requestId }, 'the client closed the connection before its request was complete');
      awsErr = new AwsError(ex.protocol === 'restxml' ? 'IncompleteBody' : 'IncompleteSignatureException', 400, 'The client closed the connection before the request was complete.');
    } else {
      this.#opts.log.error({ err, requestId: ex.requestId }, 'unhandled failure');
      awsErr = new InternalFailure(ex.protocol === 'restxml' ? 'InternalError' : 'InternalFailure');
    }
    const wire = ex.protocol === 'json' ? jsonError(ex.requestId, awsErr) : ex.protocol === 'query' ? queryError(ex.requestId, ex.xmlns, awsErr) : restXmlError(ex.requestId, awsErr, ex.sreq.method);
    return { ...wire, error: awsErr };
  }

  #send(req: IncomingMessage, res: ServerResponse, wire: WireResponse & { exchange?: Exchange; error?: AwsError }, started: bigint): void {
    const ex = wire.exchange;
    const unread = unreadBody(req);
    res.writeHead(wire.status, unread === 'close' ? { ...wire.headers, connection: 'close' } : wire.headers);
    const body = wire.body;
    if (body instanceof Readable) {
      streamPipeline(body, res, (err) => {
        if (err) this.#opts.log.warn({ err: err.message, requestId: ex?.requestId }, 'response stream failed');
      });
    } else res.end(body);
    if (unread === 'drain') drainBody(req, res);
    if (ex) {
      this.#opts.log.info(
        {
          requestId: ex.requestId,
          method: req.method,
          service: ex.service?.signingName ?? ex.signingName,
          operation: ex.operation,
          status: wire.status,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request',
      );
    }
  }
}

class BodyTooLarge extends Error {}

/** The request's Referer header, for aws:Referer (see CallContext.referer). */
function refererOf(ex: Exchange): { referer?: string } {
  const referer = header(ex.sreq, 'referer');
  return referer === undefined ? {} : { referer };
}

/** An error that means the client went away mid-request (the request stream aborted or the socket reset). */
function clientGone(err: unknown, ex: Exchange): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (ex.req.destroyed || ex.req.socket.destroyed) && (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error | undefined)?.message === 'aborted');
}

/** The most of an unread request body read and discarded after an early answer; beyond it the connection is closed. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * An answer given before the request body was read to its end (an early refusal, or a body refused midway) leaves
 * the client sending; one that reads the answer only after sending its whole body (botocore) would block until its
 * timeout and then retry. 'drain': read the rest and discard it, so the client finishes and reads the answer;
 * 'close': the body is too long to drain, or the request stream is gone (a stage of the body failed), so the
 * connection closes once the answer is out.
 */
function unreadBody(req: IncomingMessage): 'none' | 'drain' | 'close' {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const hasBody = req.headers['transfer-encoding'] !== undefined || (declared !== undefined && declared !== 0);
  if (req.readableEnded || !hasBody) return 'none';
  if (req.destroyed) return 'close';
  return !req.complete && declared !== undefined && declared > DRAIN_LIMIT ? 'close' : 'drain';
}

function drainBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = res.socket;
  let bytes = 0;
  req.unpipe();
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > DRAIN_LIMIT) socket?.destroy();
  });
  req.resume();
}

/** A connection's TLS version and cipher never change: asked of OpenSSL once per connection, not once per event. */
const tlsCache = new WeakMap<TLSSocket, { tlsVersion: string; cipherSuite: string }>();
function tlsOf(socket: TLSSocket): { tlsVersion: string; cipherSuite: string } {
  let t = tlsCache.get(socket);
  if (!t) {
    t = { tlsVersion: socket.getProtocol?.() ?? 'unknown', cipherSuite: socket.getCipher?.()?.standardName ?? 'unknown' };
    tlsCache.set(socket, t);
  }
  return t;
}

/** The answer while the audit trail cannot record calls: a 5xx, nothing served unaudited. */
const AUDIT_UNAVAILABLE = () => new AwsError('ServiceUnavailable', 503, 'The request was not served because the audit trail cannot record it. Try again later.');

/**
 * A request a browser makes of S3 without SigV4: a CORS preflight (OPTIONS), or an HTML form upload (a
 * multipart/form-data POST, its credentials in the form). Neither carries an Authorization header.
 */
function isBrowserS3Request(sreq: SigningRequest): boolean {
  if (header(sreq, 'authorization') !== undefined) return false;
  return sreq.method === 'OPTIONS' || (sreq.method === 'POST' && /^multipart\/form-data\s*;/i.test(header(sreq, 'content-type') ?? ''));
}

/** Signature Version 2 (header `AWS AKID:sig`, or AWSAccessKeyId + Signature in the query), which Trent refuses as AWS does for new buckets. */
function isSigV2(sreq: SigningRequest): boolean {
  if (/^AWS [^:\s]+:/.test(header(sreq, 'authorization') ?? '')) return true;
  const q = parseQuery(sreq.rawQuery);
  return q.some(([k]) => k === 'AWSAccessKeyId') && q.some(([k]) => k === 'Signature');
}

function queryAction(rawQuery: string): { operation?: string } {
  const action = parseQuery(rawQuery).find(([k]) => k === 'Action')?.[1];
  return action ? { operation: action } : {};
}

function unknownService(ex: Exchange): AwsError {
  const name = ex.signingName ?? 'unknown';
  if (ex.protocol === 'json') return new AwsError('UnknownOperationException', 400, `Trent does not provide the '${name}' service yet.`);
  if (ex.protocol === 'query') return new AwsError('InvalidAction', 400, `Trent does not provide the '${name}' service yet.`);
  return new AwsError('NotImplemented', 501, `Trent does not provide the '${name}' service yet.`);
}

/**
 * Buffer a body up to `limit` bytes. A larger body is read on and discarded (up to a hard cap) so
 * that the client, which may still be sending, receives the 413 instead of a reset connection.
 */
function readBody(stream: Readable, limit: number): Promise<Buffer> {
  const hardCap = Math.max(limit * 8, 64 * 1024 * 1024);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > hardCap) {
        stream.destroy();
        reject(new BodyTooLarge(`The request body is larger than the ${limit} bytes this operation accepts.`));
      }
    });
    stream.once('error', reject);
    stream.once('end', () =>
      size > limit ? reject(new BodyTooLarge(`The request body is larger than the ${limit} bytes this operation accepts.`)) : resolve(Buffer.concat(chunks)),
    );
  });
}
