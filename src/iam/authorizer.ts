import type { IdentityStore } from './identities.ts';
import type { Principal } from './principal.ts';
import { authorize, parsePolicy, type AuthorizationInput, type PolicyDocument, type RequestContext } from './policy.ts';
import { entityArn, principalValues, rewritePrincipals, UNIQUE_ID } from './principal-ids.ts';
import { isUnknownConditionKey } from './condition-keys.ts';

/** One access decision a service asks for. */
export interface AccessCheck {
  /** 'kms:Decrypt', 's3:GetObject', 'iam:CreateUser' ... */
  action: string;
  /** The resource ARN, or '*' for actions that name none. */
  resource: string;
  /** The resource's own policy (key policy, bucket policy, role trust policy), as JSON text. */
  resourcePolicy?: string | null;
  resourceAccount?: string;
  mode: 'key-policy' | 'resource-or-identity' | 'identity';
  /** Service-specific condition keys (names case-insensitive). */
  context?: Record<string, string | string[] | undefined>;
  /**
   * A KMS grant allows this call (its constraints already checked). A function is asked only when the policies alone
   * do not allow the call and no policy denies it explicitly (a grant can only add an allowance), so the common case,
   * a key policy that allows, costs no grant lookup.
   */
  grantAllows?: boolean | (() => Promise<boolean>);
  /**
   * The resource's tags, as aws:ResourceTag/KEY. Services that keep tags pass them here (or put the keys in
   * `context` themselves); S3 passes a bucket's tags, and is where an object's tags go once objects keep them.
   */
  resourceTags?: Record<string, string>;
}

/** Facts about the call that feed the global condition keys (a service's CallContext carries them all). */
export interface CallFacts {
  principal: Principal;
  sourceIp: string;
  receivedAt: Date;
  region: string;
  /** Set when a service calls on the caller's behalf, e.g. 's3.us-east-1.amazonaws.com'. */
  viaService?: string;
  /** The client's User-Agent and Referer headers (aws:UserAgent, aws:Referer); an empty or missing one is absent. */
  userAgent?: string;
  referer?: string;
}

export class AccessDeniedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessDeniedError';
  }
}

/**
 * A resource policy names an IAM user or role that does not exist (or a unique id whose principal is
 * gone). Each service answers with its own error: IAM MalformedPolicyDocument, KMS
 * MalformedPolicyDocumentException, S3 MalformedPolicy.
 */
export class InvalidPrincipalError extends Error {
  readonly principal: string;
  constructor(principal: string) {
    super(`Invalid principal in policy: "AWS":"${principal}"`);
    this.name = 'InvalidPrincipalError';
    this.principal = principal;
  }
}

/** The caller as the policy engine sees it, with the unique ids stored policies name principals by. */
export function requestPrincipal(p: Principal): RequestContext['principal'] {
  return {
    arn: p.arn,
    accountId: p.accountId,
    type: p.type,
    ...(p.userName ? { userName: p.userName } : {}),
    ...(p.roleArn ? { roleArn: p.roleArn } : {}),
    ...(p.roleId ? { roleId: p.roleId } : {}),
    userId: p.type === 'Root' ? p.accountId : p.principalId,
  };
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The account in a resource ARN (S3 ARNs carry none: the caller's account, Trent serving one). */
function resourceAccountOf(arn: string, fallback: string): string {
  return /^arn:[^:]*:[^:]*:[^:]*:(\d{12}):/.exec(arn)?.[1] ?? fallback;
}

const PARSED_MAX = 2000;

/**
 * Evaluates access checks the way AWS does (src/iam/policy.ts), with the principal's identity policies,
 * the resource's policy and the global condition keys of the request. Parsed policy documents are kept
 * by their text, so a policy is parsed once however often it is evaluated.
 */
export class Authorizer {
  readonly #identities: IdentityStore;
  readonly #parsed = new Map<string, PolicyDocument>();

  constructor(identities: IdentityStore) {
    this.#identities = identities;
  }

  #parse(text: string, kind: 'identity' | 'resource'): PolicyDocument {
    const key = `${kind}\u0000${text}`;
    let doc = this.#parsed.get(key);
    if (!doc) {
      doc = parsePolicy(text, kind);
      if (this.#parsed.size >= PARSED_MAX) this.#parsed.clear();
      this.#parsed.set(key, doc);
    }
    return doc;
  }

  /** The identity policies of a principal, for checks that need them elsewhere (the key policy lockout check). */
  async identityPolicies(principal: Principal): Promise<PolicyDocument[]> {
    return (await this.#identities.policyTexts(principal)).map((t) => this.#parse(t, 'identity'));
  }

  /** What limits a principal's identity policies: its permissions boundary and a role session's session policies. */
  async limits(principal: Principal): Promise<Pick<AuthorizationInput, 'permissionsBoundary' | 'sessionPolicies'>> {
    const pp = await this.#identities.principalPolicies(principal);
    return {
      ...(pp.boundary !== null ? { permissionsBoundary: this.#parse(pp.boundary, 'identity') } : {}),
      ...(pp.session !== null ? { sessionPolicies: pp.session.map((t) => this.#parse(t, 'identity')) } : {}),
    };
  }

  /** Every policy text that takes part in a principal's decisions (identity policies, boundary, session policies), for services that look up costly condition keys only when some policy names them. */
  async identityPolicyTexts(principal: Principal): Promise<string[]> {
    const pp = await this.#identities.principalPolicies(principal);
    return [...pp.identity, ...(pp.boundary !== null ? [pp.boundary] : []), ...(pp.session ?? [])];
  }

  /** Parse (and cache) a policy; throws PolicyDocumentError with what is wrong. */
  parsePolicy(text: string, kind: 'identity' | 'resource'): PolicyDocument {
    return this.#parse(text, kind);
  }

  parseResourcePolicy(text: string): PolicyDocument {
    return this.#parse(text, 'resource');
  }

  /**
   * The form of a resource policy to store: each IAM user or role of `accountId` named by ARN in a
   * Principal element is replaced by its unique id, as AWS does, so that a principal deleted and
   * created again under the same name is not the one the policy named. Throws InvalidPrincipalError
   * for a user or role of this account that does not exist, and for a unique id whose principal is gone.
   * Other accounts' ARNs, account ids, "*" and role-session ARNs are kept as written.
   */
  async bindPrincipals(text: string, accountId: string): Promise<string> {
    const ids = new Map<string, string>();
    for (const v of principalValues(text)) {
      if (ids.has(v)) continue;
      if (UNIQUE_ID.test(v)) {
        if ((await this.#identities.arnForUniqueId(v)) === undefined) throw new InvalidPrincipalError(v);
        continue;
      }
      const entity = entityArn(v);
      if (!entity || entity.accountId !== accountId) continue;
      const id = await this.#identities.uniqueIdForArn(v);
      if (id === undefined) throw new InvalidPrincipalError(v);
      ids.set(v, id);
    }
    return ids.size ? rewritePrincipals(text, (v) => ids.get(v)) : text;
  }

  /**
   * The unique id a grant binds a principal ARN to: an IAM user's or role's id, or ROLE_ID:SESSION for a
   * role session of this account; undefined for account roots, services and other accounts. Throws
   * InvalidPrincipalError when the ARN names a user or role of this account that does not exist.
   */
  async principalIdFor(arn: string, accountId: string): Promise<string | undefined> {
    const entity = entityArn(arn);
    if (entity) {
      if (entity.accountId !== accountId) return undefined;
      const id = await this.#identities.uniqueIdForArn(arn);
      if (id === undefined) throw new InvalidPrincipalError(arn);
      return id;
    }
    const session = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
    if (!session || session[1] !== accountId) return undefined;
    const roleId = await this.#identities.roleIdByName(accountId, session[2]!);
    if (roleId === undefined) throw new InvalidPrincipalError(arn);
    return `${roleId}:${session[3]!}`;
  }

  /** The ARN to show for a principal a grant or policy names by unique id: its current ARN, or the id itself once it is gone. */
  async principalArnFor(id: string): Promise<string | undefined> {
    return this.#identities.arnForUniqueId(id);
  }

  /** A stored resource policy as AWS shows it: unique ids of existing principals read as their ARNs; those of deleted ones stay ids. */
  async renderPrincipals(text: string): Promise<string> {
    const arns = new Map<string, string>();
    for (const v of principalValues(text)) {
      if (!UNIQUE_ID.test(v) || arns.has(v)) continue;
      const arn = await this.#identities.arnForUniqueId(v);
      if (arn !== undefined) arns.set(v, arn);
    }
    return arns.size ? rewritePrincipals(text, (v) => arns.get(v)) : text;
  }

  /** Throws AccessDeniedError with AWS's wording when the call is not allowed. */
  async check(facts: CallFacts, c: AccessCheck): Promise<void> {
    const p = facts.principal;
    const calledVia = facts.viaService ? [facts.viaService.replace(/^([a-z0-9-]+)\..*$/, '$1.amazonaws.com')] : undefined;
    const context: Record<string, string | string[] | undefined> = {
      'aws:securetransport': 'true',
      'aws:sourceip': facts.viaService ? undefined : facts.sourceIp,
      // A service calling on the caller's behalf is its own client (CloudTrail names it as the event's userAgent);
      // a Referer only ever comes from the caller's browser.
      'aws:useragent': facts.viaService ? calledVia![0] : facts.userAgent || undefined,
      'aws:referer': facts.viaService ? undefined : facts.referer,
      'aws:currenttime': isoSeconds(facts.receivedAt),
      'aws:epochtime': String(Math.floor(facts.receivedAt.getTime() / 1000)),
      'aws:principalarn': p.type === 'AssumedRole' ? p.roleArn : p.arn,
      'aws:principalaccount': p.accountId,
      'aws:principaltype': p.type === 'IAMUser' ? 'User' : p.type === 'AssumedRole' ? 'AssumedRole' : 'Account',
      'aws:userid': p.principalId,
      'aws:username': p.type === 'IAMUser' ? p.userName : undefined,
      'aws:requestedregion': facts.region,
      'aws:viaawsservice': facts.viaService ? 'true' : 'false',
      'aws:calledvia': calledVia,
      'aws:calledviafirst': calledVia?.[0],
      'aws:calledvialast': calledVia?.[calledVia.length - 1],
      'aws:principalisawsservice': 'false',
      'aws:resourceaccount': c.resource === '*' ? undefined : (c.resourceAccount ?? resourceAccountOf(c.resource, p.accountId)),
      // Temporary credentials (AWS sets these for every request made with them): when they were issued, and
      // whether MFA was used to get them (never: Trent's AssumeRole takes no MFA code).
      'aws:tokenissuetime': p.tokenIssuedAt !== undefined ? isoSeconds(new Date(p.tokenIssuedAt)) : undefined,
      'aws:multifactorauthpresent': p.tokenIssuedAt !== undefined ? 'false' : undefined,
    };
    const pp = await this.#identities.principalPolicies(p);
    for (const [k, v] of Object.entries(pp.tags)) context[`aws:principaltag/${k.toLowerCase()}`] = v;
    for (const [k, v] of Object.entries(c.resourceTags ?? {})) context[`aws:resourcetag/${k.toLowerCase()}`] = v;
    for (const [k, v] of Object.entries(c.context ?? {})) context[k.toLowerCase()] = v;
    const request: RequestContext = {
      principal: requestPrincipal(p),
      action: c.action,
      resource: c.resource,
      context,
      unknownKey: (k) => isUnknownConditionKey(k, c.resource),
    };
    const decide = (grantAllows: boolean) =>
      authorize({
        request,
        identityPolicies: pp.identity.map((t) => this.#parse(t, 'identity')),
        ...(pp.boundary !== null ? { permissionsBoundary: this.#parse(pp.boundary, 'identity') } : {}),
        ...(pp.session !== null ? { sessionPolicies: pp.session.map((t) => this.#parse(t, 'identity')) } : {}),
        ...(c.resourcePolicy ? { resourcePolicy: this.#parse(c.resourcePolicy, 'resource') } : {}),
        resourceAccount: c.resourceAccount ?? p.accountId,
        mode: c.mode,
        ...(grantAllows ? { grantAllows: true } : {}),
      });
    let result = decide(c.grantAllows === true);
    if (!result.allowed && typeof c.grantAllows === 'function' && !result.reason?.startsWith('explicit-deny') && (await c.grantAllows())) result = decide(true);
    if (!result.allowed) throw new AccessDeniedError(result.message ?? `User: ${p.arn} is not authorized to perform: ${c.action} on resource: ${c.resource}`);
  }
}
