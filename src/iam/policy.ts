/**
 * The IAM policy language and its evaluation, as a pure library: parse a JSON policy document into a
 * normalised form, evaluate it against a request, and combine identity-based and resource-based
 * policies into an authorization decision the way AWS documents it ("Policy evaluation logic").
 *
 * Matching and condition details live in policy-match.ts and policy-conditions.ts.
 */
import { PolicyDocumentError, SYNTAX_ERROR, parseConditions, evaluateConditions, type ConditionBlock, type ContextLookup } from './policy-conditions.ts';
import { Pattern, splitArn, type VariableResolver } from './policy-match.ts';
import { UNIQUE_ID } from './principal-ids.ts';

export { PolicyDocumentError } from './policy-conditions.ts';
export { CONDITION_OPERATORS } from './policy-conditions.ts';

/**
 * IAM's size quotas count characters other than whitespace; the quota for a user's inline policies is
 * their aggregate, which only the caller can add up (see policySize).
 */
export const USER_INLINE_POLICY_MAX_CHARS = 2048;
export const GROUP_INLINE_POLICY_MAX_CHARS = 5120;
export const ROLE_INLINE_POLICY_MAX_CHARS = 10240;
export const MANAGED_POLICY_MAX_CHARS = 6144;
/** KMS key policies: 32 KB. */
export const KEY_POLICY_MAX_BYTES = 32 * 1024;
/** S3 bucket policies: 20 KB. */
export const BUCKET_POLICY_MAX_BYTES = 20 * 1024;

/** A policy's size as IAM counts it against its quotas: characters other than whitespace. */
export function policySize(text: string): number {
  return text.replace(/\s+/g, '').length;
}

export type PolicyKind = 'identity' | 'resource';

export interface ParsePolicyOptions {
  /** Largest allowed size in non-whitespace characters (default for identity policies: ROLE_INLINE_POLICY_MAX_CHARS). */
  maxChars?: number;
  /** Largest allowed size in UTF-8 bytes (default for resource policies: KEY_POLICY_MAX_BYTES). */
  maxBytes?: number;
}

/** One entry of a Principal / NotPrincipal element. */
export type PrincipalEntry =
  | { type: 'AWS'; value: string }
  | { type: 'Service'; value: string }
  | { type: 'CanonicalUser'; value: string }
  | { type: 'Federated'; value: string };

export interface PolicyStatement {
  readonly sid?: string;
  readonly effect: 'Allow' | 'Deny';
  /** Exactly one of actions / notActions is set. */
  readonly actions?: readonly Pattern[];
  readonly notActions?: readonly Pattern[];
  /** At most one of resources / notResources is set; neither means every resource (resource policies only). */
  readonly resources?: readonly Pattern[];
  readonly notResources?: readonly Pattern[];
  /** Resource policies: exactly one of principals / notPrincipals. `'*'` is everyone. */
  readonly principals?: '*' | readonly PrincipalEntry[];
  readonly notPrincipals?: '*' | readonly PrincipalEntry[];
  readonly conditions: readonly ConditionBlock[];
}

export interface PolicyDocument {
  readonly kind: PolicyKind;
  /** '2012-10-17' or '2008-10-17' (the default when absent: policy variables are then plain text, as on AWS). */
  readonly version: '2012-10-17' | '2008-10-17';
  readonly id?: string;
  readonly statements: readonly PolicyStatement[];
  /** The document as given. */
  readonly text: string;
}

export interface RequestContext {
  principal: {
    /** arn:aws:iam::111122223333:user/app, arn:aws:sts::111122223333:assumed-role/Role/session or arn:aws:iam::111122223333:root */
    arn: string;
    accountId: string;
    type: 'IAMUser' | 'AssumedRole' | 'Root';
    /** IAM users. */
    userName?: string;
    /** Assumed roles: arn:aws:iam::acct:role/Role (a resource-policy Principal naming the role matches its sessions). */
    roleArn?: string;
    /** aws:userid: AIDA... for users, AROA...:session for role sessions, the account id for root. */
    userId?: string;
    /** Assumed roles: the role's unique id (AROA...), which a stored resource policy names the role by. */
    roleId?: string;
  };
  /** e.g. 'kms:Decrypt' (matched case-insensitively). */
  action: string;
  /** An ARN, or '*' for actions without a resource. */
  resource: string;
  /**
   * Condition context: keys case-insensitive (stored lower-cased), values strings; multi-valued keys
   * are arrays. Absent key = undefined. aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
   * aws:username, aws:userid and (for kms: actions) kms:CallerAccount are derived from `principal`
   * when not given here; see principalContextKeys and requestContextKeys.
   */
  context: Record<string, string | string[] | undefined>;
  /**
   * Condition keys the server cannot decide (AWS would set them in this request; this server does not):
   * a condition on one, when the key is absent, fails closed (see UnknownKeys in policy-conditions.ts).
   */
  unknownKey?: (lowerKey: string) => boolean;
}

export type StatementOutcome = 'Allow' | 'Deny' | 'NotApplicable';

// ---- parsing -----------------------------------------------------------------------------------

const TOP_LEVEL_FIELDS = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
const PRINCIPAL_TYPES = new Set(['AWS', 'Service', 'CanonicalUser', 'Federated']);
const ACTION_TEXT = /^[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+$/;
const ACCOUNT_ID = /^\d{12}$/;
const AWS_PRINCIPAL_ARN = /^arn:[a-z-]+:(iam|sts)::\d{12}:.+$/;

function fail(message: string = SYNTAX_ERROR): never {
  throw new PolicyDocumentError(message);
}

function stringList(v: unknown, emptyMessage: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) fail(emptyMessage);
  for (const x of list) if (typeof x !== 'string') fail();
  return list as string[];
}

function parseAction(a: string): Pattern {
  if (a !== '*') {
    if ((a.match(/:/g) ?? []).length > 1) fail('Actions/Condition can contain only one colon.');
    if (!ACTION_TEXT.test(a)) fail('Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.');
  }
  return new Pattern(a, 'glob', { ignoreCase: true });
}

function parseResource(r: string, variables: boolean): Pattern {
  if (r !== '*' && !(r.startsWith('arn:') && splitArn(r))) fail(`Resource ${r} must be in ARN format or "*".`);
  return new Pattern(r, 'resource', { variables });
}

const INVALID_PRINCIPAL = 'Invalid principal in policy';

function parsePrincipal(v: unknown): '*' | PrincipalEntry[] {
  if (v === '*') return '*';
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(INVALID_PRINCIPAL);
  const out: PrincipalEntry[] = [];
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) fail(INVALID_PRINCIPAL);
  for (const [type, value] of entries) {
    if (!PRINCIPAL_TYPES.has(type)) fail(INVALID_PRINCIPAL);
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0) fail(INVALID_PRINCIPAL);
    for (const x of list) {
      if (typeof x !== 'string' || x === '') fail(INVALID_PRINCIPAL);
      // AWS principals: "*", a 12-digit account id, an IAM/STS ARN, or the unique id (AIDA.../AROA...) a
      // stored policy keeps for an IAM user or role (src/iam/principal-ids.ts). A wildcard inside an ARN
      // is not a pattern on AWS (only a bare "*" is), so it is kept and compared literally.
      if (type === 'AWS' && x !== '*' && !ACCOUNT_ID.test(x) && !AWS_PRINCIPAL_ARN.test(x) && !UNIQUE_ID.test(x)) fail(INVALID_PRINCIPAL);
      out.push({ type: type as PrincipalEntry['type'], value: x });
    }
  }
  return out;
}

function parseStatement(raw: unknown, kind: PolicyKind, variables: boolean): PolicyStatement {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail();
  const s = raw as Record<string, unknown>;
  for (const k of Object.keys(s)) if (!STATEMENT_FIELDS.has(k)) fail();
  if (s['Sid'] !== undefined && typeof s['Sid'] !== 'string') fail();
  const effect = s['Effect'];
  if (effect !== 'Allow' && effect !== 'Deny') fail();

  const hasPrincipal = s['Principal'] !== undefined;
  const hasNotPrincipal = s['NotPrincipal'] !== undefined;
  if (kind === 'identity' && (hasPrincipal || hasNotPrincipal)) fail('Policy document should not specify a principal.');
  if (kind === 'resource') {
    if (!hasPrincipal && !hasNotPrincipal) fail('Missing required field Principal');
    if (hasPrincipal && hasNotPrincipal) fail();
    // AWS: "NotPrincipal must be used with "Effect":"Deny". Using it with "Effect":"Allow" is not supported."
    if (hasNotPrincipal && effect !== 'Deny') fail('NotPrincipal must be used with Effect Deny.');
  }

  const hasAction = s['Action'] !== undefined;
  const hasNotAction = s['NotAction'] !== undefined;
  if (!hasAction && !hasNotAction) fail('Policy statement must contain actions.');
  if (hasAction && hasNotAction) fail();

  const hasResource = s['Resource'] !== undefined;
  const hasNotResource = s['NotResource'] !== undefined;
  if (hasResource && hasNotResource) fail();
  if (kind === 'identity' && !hasResource && !hasNotResource) fail('Policy statement must contain resources.');

  const actionsMsg = 'Policy statement must contain actions.';
  const resourcesMsg = 'Policy statement must contain resources.';
  const st: {
    -readonly [K in keyof PolicyStatement]: PolicyStatement[K];
  } = { effect, conditions: parseConditions(s['Condition'], variables) };
  if (typeof s['Sid'] === 'string') st.sid = s['Sid'];
  if (hasAction) st.actions = stringList(s['Action'], actionsMsg).map(parseAction);
  else st.notActions = stringList(s['NotAction'], actionsMsg).map(parseAction);
  if (hasResource) st.resources = stringList(s['Resource'], resourcesMsg).map((r) => parseResource(r, variables));
  if (hasNotResource) st.notResources = stringList(s['NotResource'], resourcesMsg).map((r) => parseResource(r, variables));
  if (hasPrincipal) st.principals = parsePrincipal(s['Principal']);
  if (hasNotPrincipal) st.notPrincipals = parsePrincipal(s['NotPrincipal']);
  return st;
}

/**
 * Parse and validate a policy document. Identity policies (IAM user/role policies) must not name a
 * principal and need Resource or NotResource in every statement; resource policies (key policies,
 * bucket policies) need Principal or NotPrincipal and may leave out Resource (it then means "this
 * resource"). Throws PolicyDocumentError with AWS's wording for what is wrong.
 */
export function parsePolicy(text: string, kind: PolicyKind, options: ParsePolicyOptions = {}): PolicyDocument {
  const maxChars = options.maxChars ?? (kind === 'identity' ? ROLE_INLINE_POLICY_MAX_CHARS : undefined);
  const maxBytes = options.maxBytes ?? (kind === 'resource' ? KEY_POLICY_MAX_BYTES : undefined);
  if (maxBytes !== undefined && Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new PolicyDocumentError(`Policy document exceeds the maximum size of ${maxBytes} bytes.`, 'too-large');
  }
  if (maxChars !== undefined && policySize(text) > maxChars) {
    throw new PolicyDocumentError(`Cannot exceed quota for PolicySize: ${maxChars}`, 'too-large');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    fail();
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail();
  const d = raw as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!TOP_LEVEL_FIELDS.has(k)) fail();
  const version = d['Version'] ?? '2008-10-17';
  if (version !== '2012-10-17' && version !== '2008-10-17') fail('The policy failed legacy parsing');
  if (d['Id'] !== undefined && typeof d['Id'] !== 'string') fail();
  const rawStatements = d['Statement'];
  if (rawStatements === undefined) fail();
  const list = Array.isArray(rawStatements) ? rawStatements : [rawStatements];
  if (list.length === 0) fail();
  // Policy variables are only substituted in Version 2012-10-17 documents.
  const variables = version === '2012-10-17';
  const statements = list.map((s) => parseStatement(s, kind, variables));
  const sids = new Set<string>();
  for (const s of statements) {
    if (s.sid === undefined || s.sid === '') continue;
    if (sids.has(s.sid)) fail('Statement IDs (SID) in a single policy must be unique.');
    sids.add(s.sid);
  }
  const doc: { -readonly [K in keyof PolicyDocument]: PolicyDocument[K] } = { kind, version, statements, text };
  if (typeof d['Id'] === 'string') doc.id = d['Id'];
  return doc;
}

// ---- request context ---------------------------------------------------------------------------

/** The principal-derived global condition keys (lower-cased names) for a request. */
export function principalContextKeys(principal: RequestContext['principal'], action?: string): Record<string, string> {
  const out: Record<string, string> = {
    'aws:principalarn': principal.type === 'AssumedRole' && principal.roleArn ? principal.roleArn : principal.arn,
    'aws:principalaccount': principal.accountId,
    'aws:principaltype': principal.type === 'IAMUser' ? 'User' : principal.type === 'Root' ? 'Account' : 'AssumedRole',
  };
  if (principal.type === 'IAMUser' && principal.userName !== undefined) out['aws:username'] = principal.userName;
  const userId = principal.userId ?? (principal.type === 'Root' ? principal.accountId : undefined);
  if (userId !== undefined) out['aws:userid'] = userId;
  if (action && action.toLowerCase().startsWith('kms:')) out['kms:calleraccount'] = principal.accountId;
  return out;
}

/** Request-level global condition keys a server usually knows (lower-cased names), for building RequestContext.context. */
export function requestContextKeys(opts: { now?: Date; secureTransport?: boolean; sourceIp?: string; requestedRegion?: string; userAgent?: string }): Record<string, string> {
  const out: Record<string, string> = {};
  if (opts.now) {
    out['aws:currenttime'] = opts.now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    out['aws:epochtime'] = String(Math.floor(opts.now.getTime() / 1000));
  }
  if (opts.secureTransport !== undefined) out['aws:securetransport'] = String(opts.secureTransport);
  if (opts.sourceIp !== undefined) out['aws:sourceip'] = opts.sourceIp;
  if (opts.requestedRegion !== undefined) out['aws:requestedregion'] = opts.requestedRegion;
  if (opts.userAgent !== undefined) out['aws:useragent'] = opts.userAgent;
  return out;
}

interface Prepared {
  req: RequestContext;
  action: string;
  lookup: ContextLookup;
  resolve: VariableResolver;
  /** The caller has a permissions boundary (a Deny with NotPrincipal then always applies to it, as AWS documents). */
  hasBoundary: boolean;
}

function prepare(req: RequestContext, hasBoundary = false): Prepared {
  const map = new Map<string, string | readonly string[]>(Object.entries(principalContextKeys(req.principal, req.action)));
  for (const [k, v] of Object.entries(req.context)) if (v !== undefined) map.set(k.toLowerCase(), v);
  const lookup: ContextLookup = (k) => map.get(k);
  // Only single-valued keys can be policy variables; a multi-valued one leaves the variable unresolved.
  const resolve: VariableResolver = (k) => {
    const v = map.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  return { req, action: req.action.toLowerCase(), lookup, resolve, hasBoundary };
}

// ---- evaluation --------------------------------------------------------------------------------

/**
 * How a resource policy's Principal element names the caller: as itself (the user, the role session's own
 * ARN, or everyone), as the role behind a role session, only through its account, or not at all. The
 * difference matters for permissions boundaries and session policies: AWS lets a resource policy that names
 * a user or a session allow it beyond them, but one that names the role is limited by them.
 */
type PrincipalMatch = 'self' | 'role' | 'account' | 'none';

function partitionOf(arn: string): string {
  return arn.split(':')[1] ?? 'aws';
}

/** Whether an AWS principal value names the caller's account (a 12-digit id or arn:PARTITION:iam::ACCT:root). */
function namesAccount(value: string, p: RequestContext['principal']): boolean {
  return value === p.accountId || value === `arn:${partitionOf(p.arn)}:iam::${p.accountId}:root`;
}

/**
 * Whether an AWS principal value names the caller itself: the user (by unique id, or by ARN in a policy
 * stored before ids were kept), the session's own ARN, or (for a session) the role behind it, likewise.
 */
function namesIdentity(value: string, p: RequestContext['principal']): 'self' | 'role' | undefined {
  if (p.type === 'Root') return namesAccount(value, p) ? 'self' : undefined;
  if (value === p.arn) return 'self';
  if (p.type === 'IAMUser') return p.userId !== undefined && value === p.userId ? 'self' : undefined;
  return (p.roleArn !== undefined && value === p.roleArn) || (p.roleId !== undefined && value === p.roleId) ? 'role' : undefined;
}

function principalMatch(principals: '*' | readonly PrincipalEntry[], p: RequestContext['principal']): PrincipalMatch {
  // "*" names every principal; for a role session it is taken as naming the role, the narrower reading.
  const everyone: PrincipalMatch = p.type === 'AssumedRole' ? 'role' : 'self';
  if (principals === '*') return everyone;
  let best: PrincipalMatch = 'none';
  for (const e of principals) {
    // Service, CanonicalUser and Federated principals never name an IAM caller.
    if (e.type !== 'AWS') continue;
    if (e.value === '*') {
      if (everyone === 'self') return 'self';
      best = 'role';
      continue;
    }
    const named = namesIdentity(e.value, p);
    if (named === 'self') return 'self';
    if (named === 'role') best = 'role';
    else if (best === 'none' && namesAccount(e.value, p)) best = 'account';
  }
  return best;
}

/**
 * NotPrincipal (Deny only). AWS checks the caller as a chain, the account first and then the user (or
 * the role, then its session), and warns that naming only the user "might deny access to the entire
 * account containing the principal". So the statement applies unless every link is listed: the
 * account (id or root ARN) and the identity (user ARN; role or session ARN). AWS also documents that
 * such a Deny "will always deny any IAM principal that has a permissions boundary policy attached".
 */
function notPrincipalApplies(notPrincipals: '*' | readonly PrincipalEntry[], p: RequestContext['principal'], hasBoundary: boolean): boolean {
  if (hasBoundary) return true;
  if (notPrincipals === '*') return false;
  const aws = notPrincipals.filter((e) => e.type === 'AWS').map((e) => e.value);
  if (aws.includes('*')) return false;
  const accountListed = aws.some((v) => namesAccount(v, p));
  if (p.type === 'Root') return !accountListed;
  const identityListed = aws.some((v) => namesIdentity(v, p) !== undefined);
  return !(accountListed && identityListed);
}

function actionApplies(st: PolicyStatement, action: string): boolean {
  if (st.actions) return st.actions.some((a) => a.matches(action));
  return !st.notActions!.some((a) => a.matches(action));
}

function resourceApplies(st: PolicyStatement, resource: string, resolve: VariableResolver): boolean {
  if (st.resources) return st.resources.some((r) => r.matches(resource, resolve));
  if (st.notResources) return !st.notResources.some((r) => r.matches(resource, resolve));
  return true;
}

interface DetailedOutcome {
  deny: boolean;
  /** An Allow statement applies and names the caller itself (or is an identity policy). */
  allowSelf: boolean;
  /** An Allow statement applies because it names the role behind the caller's session. */
  allowRole: boolean;
  /** An Allow statement applies only because it names the caller's account. */
  allowAccount: boolean;
}

function evaluatePrepared(doc: PolicyDocument, pr: Prepared): DetailedOutcome {
  const out: DetailedOutcome = { deny: false, allowSelf: false, allowRole: false, allowAccount: false };
  const unknownKey = pr.req.unknownKey;
  for (const st of doc.statements) {
    if (st.effect === 'Allow' && out.allowSelf) continue;
    let match: PrincipalMatch = 'self';
    if (doc.kind === 'resource') {
      if (st.principals) match = principalMatch(st.principals, pr.req.principal);
      else if (st.notPrincipals) match = notPrincipalApplies(st.notPrincipals, pr.req.principal, pr.hasBoundary) ? 'self' : 'none';
      if (match === 'none') continue;
    }
    if (!actionApplies(st, pr.action)) continue;
    if (!resourceApplies(st, pr.req.resource, pr.resolve)) continue;
    if (!evaluateConditions(st.conditions, pr.lookup, pr.resolve, unknownKey ? { isUnknown: unknownKey, effect: st.effect } : undefined)) continue;
    if (st.effect === 'Deny') {
      out.deny = true;
      return out;
    }
    if (match === 'self') out.allowSelf = true;
    else if (match === 'role') out.allowRole = true;
    else out.allowAccount = true;
  }
  return out;
}

function allows(r: DetailedOutcome): boolean {
  return r.allowSelf || r.allowRole || r.allowAccount;
}

/**
 * Evaluate one document: Deny if any applicable Deny statement; else Allow if any applicable Allow
 * statement; else NotApplicable. For a resource policy, an Allow that names only the caller's account
 * counts as Allow here; authorize() is where that is treated as delegation rather than a grant.
 */
export function evaluate(doc: PolicyDocument, req: RequestContext): StatementOutcome {
  const r = evaluatePrepared(doc, prepare(req));
  return r.deny ? 'Deny' : allows(r) ? 'Allow' : 'NotApplicable';
}

// ---- authorization -----------------------------------------------------------------------------

export interface AuthorizationInput {
  request: RequestContext;
  /** Identity-based policies of the principal: its inline and attached managed policies, and for a user those of its groups; for a role session, the role's. */
  identityPolicies: PolicyDocument[];
  /** The resource's policy, if the service has one here (KMS key policy, S3 bucket policy). */
  resourcePolicy?: PolicyDocument;
  /** The account that owns the resource. */
  resourceAccount: string;
  /**
   * 'key-policy' (KMS): the key policy is authoritative: allowed if the key policy allows the principal directly, or if the key policy allows
   *   the principal's account (root / account id principal) AND an identity policy allows; a grant allowance (grantAllows) also allows.
   * 'resource-or-identity' (S3 same account): allowed if the identity policy OR the resource policy allows.
   * 'identity' (IAM, STS, CloudTrail, KMS operations without a key like CreateKey/ListKeys): only identity policies count.
   * In every mode an explicit Deny in any policy wins.
   */
  mode: 'key-policy' | 'resource-or-identity' | 'identity';
  /** Set by the caller when a KMS grant allows this operation (the grant constraints were already checked by the caller). */
  grantAllows?: boolean;
  /** The user's or role's permissions boundary, if it has one: the most its identity policies can allow. */
  permissionsBoundary?: PolicyDocument;
  /** A role session's session policies (AssumeRole's Policy and PolicyArns), if any were passed: the most the session can do. */
  sessionPolicies?: PolicyDocument[];
}

export type DenialReason =
  | 'explicit-deny-identity'
  | 'explicit-deny-resource'
  | 'explicit-deny-boundary'
  | 'explicit-deny-session'
  | 'no-identity-allow'
  | 'no-resource-allow'
  | 'no-boundary-allow'
  | 'no-session-allow';

export interface AuthorizationResult {
  allowed: boolean;
  /** Why, for the denial message. */
  reason?: DenialReason;
  /** AWS's wording: "User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no identity-based policy allows the ACTION action", ... */
  message?: string;
}

/** AWS's access-denied wording for `reason`. */
export function denialMessage(req: Pick<RequestContext, 'principal' | 'action' | 'resource'>, reason: DenialReason): string {
  const head = `User: ${req.principal.arn} is not authorized to perform: ${req.action} on resource: ${req.resource}`;
  switch (reason) {
    case 'explicit-deny-identity':
      return `${head} with an explicit deny in an identity-based policy`;
    case 'explicit-deny-resource':
      return `${head} with an explicit deny in a resource-based policy`;
    case 'explicit-deny-boundary':
      return `${head} with an explicit deny in a permissions boundary`;
    case 'explicit-deny-session':
      return `${head} with an explicit deny in a session policy`;
    case 'no-identity-allow':
      return `${head} because no identity-based policy allows the ${req.action} action`;
    case 'no-resource-allow':
      return `${head} because no resource-based policy allows the ${req.action} action`;
    case 'no-boundary-allow':
      return `${head} because no permissions boundary allows the ${req.action} action`;
    case 'no-session-allow':
      return `${head} because no session policy allows the ${req.action} action`;
  }
}

function deny(req: RequestContext, reason: DenialReason): AuthorizationResult {
  return { allowed: false, reason, message: denialMessage(req, reason) };
}

/**
 * Decide a request. The order follows AWS's evaluation logic: an explicit Deny in any applicable
 * policy ends it (resource policy, identity policies, permissions boundary, session policies, reported
 * in that order: AWS names only one policy type in the message); then the mode decides which Allows are
 * needed.
 *
 * - The root user is not subject to identity-based policies: it counts as allowed by identity
 *   wherever an identity allowance is needed (and its identityPolicies are ignored), but in
 *   key-policy mode the key policy must still allow it (naming the account or root counts directly).
 * - A resource policy Allow that names only the caller's account (12-digit id or :root) delegates to
 *   the account's IAM policies: within the account it does not grant access by itself (AWS: the
 *   account principal "includes" users and roles only through their identity policies).
 * - Permissions boundaries and session policies limit what identity policies allow: the identity path
 *   needs an Allow in the identity policies, in the boundary (when there is one) and in a session policy
 *   (when any were passed). Within the account they do not limit a resource policy that names the user or
 *   the session itself, but they do limit one that names the role behind a session (AWS, "Evaluating
 *   effective permissions with boundaries" and "Session policies").
 * - Across accounts both sides must allow: the resource policy (directly or through the account)
 *   and the caller's identity policies.
 */
export function authorize(input: AuthorizationInput): AuthorizationResult {
  const { request, mode } = input;
  const p = request.principal;
  const isRoot = p.type === 'Root';
  const boundary = isRoot ? undefined : input.permissionsBoundary;
  const session = isRoot ? undefined : input.sessionPolicies;
  const pr = prepare(request, boundary !== undefined);

  const resource = input.resourcePolicy ? evaluatePrepared(input.resourcePolicy, pr) : { deny: false, allowSelf: false, allowRole: false, allowAccount: false };
  if (resource.deny) return deny(request, 'explicit-deny-resource');

  let identityAllows = isRoot;
  if (!isRoot) {
    for (const doc of input.identityPolicies) {
      const r = evaluatePrepared(doc, pr);
      if (r.deny) return deny(request, 'explicit-deny-identity');
      if (allows(r)) identityAllows = true;
    }
  }
  let boundaryAllows = true;
  if (boundary) {
    const r = evaluatePrepared(boundary, pr);
    if (r.deny) return deny(request, 'explicit-deny-boundary');
    boundaryAllows = allows(r);
  }
  let sessionAllows = true;
  if (session) {
    sessionAllows = false;
    for (const doc of session) {
      const r = evaluatePrepared(doc, pr);
      if (r.deny) return deny(request, 'explicit-deny-session');
      if (allows(r)) sessionAllows = true;
    }
  }

  const limitsAllow = boundaryAllows && sessionAllows;
  const identityPath = identityAllows && limitsAllow;
  // What stops the identity path (and a resource policy naming the role), for the denial message.
  const limitReason: DenialReason = !boundaryAllows ? 'no-boundary-allow' : 'no-session-allow';
  const identityReason: DenialReason = identityAllows ? limitReason : 'no-identity-allow';

  const sameAccount = p.accountId === input.resourceAccount;
  const resourceAllowsAny = allows(resource);
  // For the root user, a statement naming its account names it directly.
  const resourceAllowsDirect = resource.allowSelf || (isRoot && resource.allowAccount) || (resource.allowRole && limitsAllow);
  const directReason: DenialReason = resource.allowRole && !identityAllows ? limitReason : identityReason;

  switch (mode) {
    case 'identity':
      return identityPath ? { allowed: true } : deny(request, identityReason);
    case 'resource-or-identity':
      if (sameAccount) return identityPath || resourceAllowsDirect ? { allowed: true } : deny(request, directReason);
      if (!resourceAllowsAny) return deny(request, 'no-resource-allow');
      return identityPath ? { allowed: true } : deny(request, identityReason);
    case 'key-policy':
      if (input.grantAllows) return { allowed: true };
      if (sameAccount && resourceAllowsDirect) return { allowed: true };
      if (!resourceAllowsAny) return deny(request, 'no-resource-allow');
      return identityPath ? { allowed: true } : deny(request, sameAccount ? directReason : identityReason);
  }
}

/** The account field of an ARN ('' when it has none). */
export function arnAccount(arn: string): string {
  return splitArn(arn)?.[4] ?? '';
}

/**
 * Whether `principal` could still call kms:PutKeyPolicy on the key under `keyPolicy` given its
 * identity policies (AWS's lockout safety check), within its permissions boundary and session policies
 * (`limits`). `context` is the condition context to assume (default: only what derives from the principal).
 */
export function allowsPutKeyPolicy(
  keyPolicy: PolicyDocument,
  principal: RequestContext['principal'],
  identityPolicies: PolicyDocument[],
  keyArn: string,
  context: RequestContext['context'] = {},
  limits: Pick<AuthorizationInput, 'permissionsBoundary' | 'sessionPolicies'> = {},
): boolean {
  return authorize({
    request: { principal, action: 'kms:PutKeyPolicy', resource: keyArn, context },
    identityPolicies,
    resourcePolicy: keyPolicy,
    resourceAccount: arnAccount(keyArn),
    mode: 'key-policy',
    ...limits,
  }).allowed;
}
