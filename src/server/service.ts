import type { Readable } from 'node:stream';
import type { Principal } from '../iam/principal.ts';
import type { AuditResource } from '../trail/event.ts';
import type { AccessCheck } from '../iam/authorizer.ts';
import type { ServiceShapes } from '../wire/shapes.ts';

/** Everything an operation handler may know about its caller. Handlers never see HTTP. */
export interface CallContext {
  requestId: string;
  principal: Principal;
  /** The region this Trent instance serves (ARNs carry it). */
  region: string;
  /** The region the client signed for. */
  signingRegion: string;
  sourceIp: string;
  userAgent: string;
  /** The request's Referer header, when it has one (a browser following a link or posting a form). */
  referer?: string;
  receivedAt: Date;
  /** Resources the operation acted on (CloudTrail's `resources`), added by handlers once resolved. */
  resources: AuditResource[];
  /** The operation's name, e.g. 'Encrypt', 'PutObject'. */
  operation: string;
  /** The raw request input (JSON services), for services whose condition keys come from it. */
  input?: unknown;
  /** Set when a service calls another on the caller's behalf (S3 calling KMS): 's3.us-east-1.amazonaws.com'. */
  viaService?: string;
  /** Is the caller allowed this? Throws AccessDenied (in the service's protocol) when not. */
  authorize(check: AccessCheck): Promise<void>;
  /**
   * Only on a request the pipeline passed on without authenticating it (RestXmlService.unsigned): authenticate it by a
   * SigV4 signature it carries in its body (S3's POST policy), making the credential's owner the caller. Until then
   * `principal` throws. Throws the protocol's authentication errors.
   */
  signIn?(signed: SignedString): Promise<void>;
}

/** A SigV4 signature over a given string, with the credential that made it (S3 POST Object: the base64 policy). */
export interface SignedString {
  accessKeyId: string;
  /** YYYYMMDD, the credential scope's date. */
  date: string;
  region: string;
  service: string;
  sessionToken?: string;
  stringToSign: string;
  /** Lower-case hex. */
  signature: string;
}

// Handlers take the service's typed request (often the AWS SDK's own shape) and return its typed response.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler<I = any, O = any> = (ctx: CallContext, input: I) => Promise<O>;

/** What a service's CloudTrail events show. Anything secret (plaintext, ciphertext, key material) must be left out here. */
export interface AuditPolicy {
  requestParameters?(operation: string, input: unknown): Record<string, unknown> | null;
  responseElements?(operation: string, output: unknown): Record<string, unknown> | null;
  readOnly?(operation: string): boolean;
  /** CloudTrail's eventCategory: 'Data' events (S3 object reads and writes) are not management events. */
  category?(operation: string): 'Management' | 'Data';
}

interface ServiceBase {
  /** The SigV4 signing name (credential scope service), e.g. 'kms', 'sts', 's3'. */
  signingName: string;
  /** CloudTrail's eventSource, e.g. 'kms.amazonaws.com'. */
  eventSource: string;
  /** Largest request body accepted before the handler runs; larger bodies get 413. */
  maxBodyBytes?: number;
  audit?: AuditPolicy;
  /** AWS's model of the service's requests (JSON and query services): checks member types, and bounds what events show. */
  shapes?: ServiceShapes;
  /**
   * Whether a state-changing operation may change what serving processes cache (key records, identities, policies,
   * bucket records), so that the other workers must drop their caches before it is answered. Every state-changing
   * operation does, unless the service says otherwise (S3's object writes change no cached record).
   */
  changesCachedState?(operation: string): boolean;
}

export interface JsonService extends ServiceBase {
  protocol: 'json';
  /**
   * Where access is checked: 'handler' (the service checks resources itself, as KMS does with key policies),
   * or an IAM action prefix checked by the pipeline before every operation (identity policies, resource '*').
   */
  authorization: 'handler' | { prefix: string };
  /** X-Amz-Target prefixes accepted (the text before the last '.'). */
  targetPrefixes: string[];
  operations: Record<string, Handler>;
}

export interface QueryService extends ServiceBase {
  protocol: 'query';
  xmlns: string;
  version: string;
  /** Handlers get the flat request parameters and return the <ActionResult> content. */
  operations: Record<string, Handler<Map<string, string>, Record<string, unknown> | undefined>>;
}

/** A REST request as S3 needs it: already authenticated, body still streaming and verified as it is read. */
export interface RestRequest {
  method: string;
  path: string;
  rawQuery: string;
  query: Map<string, string>;
  headers: Record<string, string | undefined>;
  body: Readable;
}

export interface RestResponse {
  status: number;
  headers?: Record<string, string | number>;
  body?: Buffer | string | Readable;
  /** What the CloudTrail event shows as responseElements (never secrets). */
  audit?: Record<string, unknown>;
}

/** The operation a REST request names (and whatever the service resolved on the way, such as bucket and key). */
export interface RestRoute {
  operation: string;
  /**
   * Set when the request's x-amz-checksum-* headers name the checksum of something other than its body (S3's
   * CompleteMultipartUpload: the assembled object), so the body is not checked against them.
   */
  checksumHeadersNotOfBody?: boolean;
}

export interface RestXmlService<R extends RestRoute = RestRoute> extends ServiceBase {
  protocol: 'restxml';
  /** Decided before authentication, so that even a refused call is recorded under its operation. Must not throw. */
  route(request: Omit<RestRequest, 'body'>): R;
  /**
   * Routes the service takes without SigV4, authenticating them itself if at all (S3: a CORS preflight, a POST form
   * upload). The pipeline hands such a request over as it came, with a context whose signIn binds the caller.
   */
  unsigned?(route: R): boolean;
  handle(ctx: CallContext, route: R, request: RestRequest): Promise<RestResponse>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Service = JsonService | QueryService | RestXmlService<any>;
