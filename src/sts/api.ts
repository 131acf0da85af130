import type { GetCallerIdentityResponse } from '@aws-sdk/client-sts';
import type { CallContext, QueryService } from '../server/service.ts';
import type { Database } from '../store/database.ts';
import type { IdentityStore } from '../iam/identities.ts';
import { parsePolicy } from '../iam/policy.ts';
import { MAX_TAGS, requestTagContext, TAG_KEY, TAG_VALUE } from '../iam/api-common.ts';
import { AwsError } from '../wire/errors.ts';
import { ServiceShapes } from '../wire/shapes.ts';
import type { Principal } from '../iam/principal.ts';

async function getCallerIdentity(ctx: CallContext): Promise<Required<Pick<GetCallerIdentityResponse, 'Arn' | 'UserId' | 'Account'>>> {
  const p = ctx.principal;
  return { Arn: p.arn, UserId: p.principalId, Account: p.accountId };
}

export interface StsDeps {
  db: Database;
  identities: IdentityStore;
  accountId: string;
}

/** The packed size AWS allows for the inline and managed session policies together, in characters. */
const SESSION_POLICY_MAX_CHARS = 2048;
const MAX_SESSION_POLICY_ARNS = 10;
const POLICY_ARN = /^arn:aws:iam::(\d{12}|aws):policy\/.+$/;

/**
 * AssumeRole's session policies: an inline Policy and up to ten managed PolicyArns. They narrow the session to
 * what both the role's policies and one of them allow. A managed policy is read when a request is evaluated,
 * so one that does not exist (or no longer exists) allows nothing.
 */
function readSessionPolicies(p: Map<string, string>): { policy?: string; policyArns?: string[] } {
  const policy = p.get('Policy');
  const arns: string[] = [];
  for (let i = 1; p.has(`PolicyArns.member.${i}.arn`); i++) arns.push(p.get(`PolicyArns.member.${i}.arn`)!);
  if (arns.length > MAX_SESSION_POLICY_ARNS) {
    throw new AwsError('ValidationError', 400, `1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to ${MAX_SESSION_POLICY_ARNS}`);
  }
  for (const arn of arns) if (!POLICY_ARN.test(arn)) throw new AwsError('ValidationError', 400, `The policy ARN ${arn} is not a valid IAM policy ARN.`);
  if (policy !== undefined) {
    if (policy.length > SESSION_POLICY_MAX_CHARS) {
      throw new AwsError('ValidationError', 400, `1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to ${SESSION_POLICY_MAX_CHARS}`);
    }
    try {
      parsePolicy(policy, 'identity');
    } catch (err) {
      throw new AwsError('MalformedPolicyDocument', 400, (err as Error).message);
    }
  }
  return { ...(policy !== undefined ? { policy } : {}), ...(arns.length ? { policyArns: arns } : {}) };
}

/** Session tags as AssumeRole takes them: Tags.member.N.Key/Value and TransitiveTagKeys.member.N, checked as STS checks them. */
function readSessionTags(p: Map<string, string>): { tags: Array<{ Key: string; Value: string }>; transitive: string[] } {
  const tags: Array<{ Key: string; Value: string }> = [];
  for (let i = 1; p.has(`Tags.member.${i}.Key`) || p.has(`Tags.member.${i}.Value`); i++) {
    const Key = p.get(`Tags.member.${i}.Key`);
    const Value = p.get(`Tags.member.${i}.Value`);
    if (Key === undefined) throw new AwsError('ValidationError', 400, `1 validation error detected: Value null at 'tags.${i}.member.key' failed to satisfy constraint: Member must not be null`);
    if (Value === undefined) throw new AwsError('ValidationError', 400, `1 validation error detected: Value null at 'tags.${i}.member.value' failed to satisfy constraint: Member must not be null`);
    if ([...Key].length > 128) throw new AwsError('ValidationError', 400, `1 validation error detected: Value at 'tags.${i}.member.key' failed to satisfy constraint: Member must have length less than or equal to 128`);
    if (!TAG_KEY.test(Key)) throw new AwsError('ValidationError', 400, `1 validation error detected: Value '${Key}' at 'tags.${i}.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+`);
    if ([...Value].length > 256) throw new AwsError('ValidationError', 400, `1 validation error detected: Value at 'tags.${i}.member.value' failed to satisfy constraint: Member must have length less than or equal to 256`);
    if (!TAG_VALUE.test(Value)) throw new AwsError('ValidationError', 400, `1 validation error detected: Value at 'tags.${i}.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`);
    if (Key.toLowerCase().startsWith('aws:')) throw new AwsError('InvalidParameterValue', 400, 'Tag keys can\'t start with "aws:". This prefix is reserved for AWS use.');
    tags.push({ Key, Value });
  }
  if (tags.length > MAX_TAGS) throw new AwsError('ValidationError', 400, `1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to ${MAX_TAGS}`);
  const lower = new Set(tags.map((t) => t.Key.toLowerCase()));
  if (lower.size < tags.length) throw new AwsError('InvalidParameterValue', 400, 'Duplicate tag keys found. Please note that Tag keys are case insensitive.');
  const transitive: string[] = [];
  for (let i = 1; p.has(`TransitiveTagKeys.member.${i}`); i++) transitive.push(p.get(`TransitiveTagKeys.member.${i}`)!);
  if (transitive.length > MAX_TAGS) throw new AwsError('ValidationError', 400, `1 validation error detected: Value at 'transitiveTagKeys' failed to satisfy constraint: Member must have length less than or equal to ${MAX_TAGS}`);
  for (const k of transitive) {
    if (!lower.has(k.toLowerCase())) throw new AwsError('InvalidParameterValue', 400, 'The specified transitive tag key must be included in the requested tags.');
  }
  return { tags, transitive };
}

const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

/** GetSessionToken's bounds for an IAM user's session (an account's root: 900 to 3600, default 3600), in seconds. */
const USER_SESSION = { min: 900, max: 129_600, default: 43_200 };
const ROOT_SESSION = { min: 900, max: 3600, default: 3600 };

/** AWS's words when a caller names an MFA device that is not its user's: Trent has no MFA devices, so every one. */
const MFA_FAILED = 'MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.';

function sessionDuration(p: Map<string, string>, bounds: { min: number; max: number; default: number }): number {
  const raw = p.get('DurationSeconds');
  if (raw === undefined) return bounds.default;
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new AwsError('ValidationError', 400, `1 validation error detected: Value '${raw.slice(0, 32)}' at 'durationSeconds' failed to satisfy constraint: Member must be an integer`);
  }
  if (n < 900) throw new AwsError('ValidationError', 400, `1 validation error detected: Value '${n}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`);
  if (n > 129_600) throw new AwsError('ValidationError', 400, `1 validation error detected: Value '${n}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600`);
  // An account's root sessions are cut to an hour rather than refused, as AWS documents.
  return Math.min(n, bounds.max);
}

/** Temporary credentials (AssumeRole or GetSessionToken), as opposed to an IAM user's access key. */
export function isTemporary(principal: Principal): boolean {
  return principal.tokenIssuedAt !== undefined || principal.type === 'AssumedRole';
}

const isoNoMillis = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * AWS STS (awsQuery): GetCallerIdentity; AssumeRole and GetSessionToken, issuing temporary credentials that SigV4
 * verification honours until they expire.
 */
export function stsService(deps: StsDeps): QueryService {
  return {
    protocol: 'query',
    shapes: new ServiceShapes('@aws-sdk/client-sts'),
    signingName: 'sts',
    eventSource: 'sts.amazonaws.com',
    xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
    version: '2011-06-15',
    maxBodyBytes: 64 * 1024,
    audit: {
      // As CloudTrail shows them: camelCase names, and lists (Tags, TransitiveTagKeys, PolicyArns) as lists.
      requestParameters: (_op, input) => {
        const out: Record<string, unknown> = {};
        const camel = (k: string) => k.charAt(0).toLowerCase() + k.slice(1);
        for (const [k, v] of input as Map<string, string>) {
          const m = /^(\w+)\.member\.(\d+)(?:\.(\w+))?$/.exec(k);
          if (!m) {
            out[camel(k)] = v;
            continue;
          }
          const list = (out[camel(m[1]!)] ??= []) as unknown[];
          const i = Number(m[2]) - 1;
          if (m[3] === undefined) list[i] = v;
          else ((list[i] ??= {}) as Record<string, string>)[camel(m[3])] = v;
        }
        for (const [k, v] of Object.entries(out)) if (Array.isArray(v)) out[k] = v.filter((x) => x !== undefined);
        return Object.keys(out).length ? out : null;
      },
      // As CloudTrail shows AssumeRole and GetSessionToken: the new access key id and expiry, never the secret or the session token.
      responseElements: (op, output) => {
        if ((op !== 'AssumeRole' && op !== 'GetSessionToken') || !output) return null;
        const o = output as { Credentials: { AccessKeyId: string; Expiration: string }; AssumedRoleUser?: Record<string, string> };
        const credentials = { accessKeyId: o.Credentials.AccessKeyId, expiration: o.Credentials.Expiration };
        if (!o.AssumedRoleUser) return { credentials };
        return { credentials, assumedRoleUser: { assumedRoleId: o.AssumedRoleUser['AssumedRoleId'], arn: o.AssumedRoleUser['Arn'] } };
      },
    },
    operations: {
      // GetCallerIdentity needs no permission, as on AWS.
      GetCallerIdentity: async (ctx) => getCallerIdentity(ctx),

      // No permission is needed, and no policy can deny it (AWS: it authenticates the user). Long-term credentials only.
      async GetSessionToken(ctx, p) {
        const caller = ctx.principal;
        const duration = sessionDuration(p, caller.type === 'Root' ? ROOT_SESSION : USER_SESSION);
        if (isTemporary(caller)) throw new AwsError('AccessDenied', 403, 'Cannot call GetSessionToken with session credentials');
        if (p.has('SerialNumber') || p.has('TokenCode')) throw new AwsError('AccessDenied', 403, MFA_FAILED);
        const expires = Math.floor(ctx.receivedAt.getTime() / 1000) * 1000 + duration * 1000;
        const s = await deps.identities.createUserSession({ userId: caller.principalId, userName: caller.userName ?? '', arn: caller.arn, accountId: caller.accountId }, expires);
        return { Credentials: { AccessKeyId: s.accessKeyId, SecretAccessKey: s.secretAccessKey, SessionToken: s.sessionToken, Expiration: isoNoMillis(expires) } };
      },

      async AssumeRole(ctx, p) {
        const roleArn = p.get('RoleArn');
        const sessionName = p.get('RoleSessionName');
        if (!roleArn) throw new AwsError('ValidationError', 400, "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
        if (!sessionName || !SESSION_NAME.test(sessionName)) {
          throw new AwsError('ValidationError', 400, "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*, length 2 to 64");
        }
        const sessionPolicies = readSessionPolicies(p);
        // Refused rather than ignored: a session without the MFA or source identity the caller asked for would be
        // evaluated as if the caller had not asked (aws:MultiFactorAuthPresent, aws:SourceIdentity).
        if (p.has('SerialNumber') || p.has('TokenCode')) throw new AwsError('ValidationError', 400, 'MFA (SerialNumber, TokenCode) is not supported by Trent: it has no MFA devices.');
        if (p.has('SourceIdentity')) throw new AwsError('ValidationError', 400, 'SourceIdentity is not supported by Trent.');
        const { tags, transitive } = readSessionTags(p);
        // A session in a role chain passes its transitive tags on; a new tag may not replace one of them.
        const incoming = ctx.principal.type === 'AssumedRole' ? await deps.identities.sessionTags(ctx.principal.accessKeyId) : undefined;
        const inherited = new Set((incoming?.transitive ?? []).map((k) => k.toLowerCase()));
        if (tags.some((t) => inherited.has(t.Key.toLowerCase()))) {
          throw new AwsError('InvalidParameterValue', 400, "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session.");
        }
        // The tags asked for are request tags of both checks; passing any needs sts:TagSession too, as on AWS.
        const tagContext = { ...(tags.length ? requestTagContext(tags) : {}), ...(transitive.length ? { 'sts:TransitiveTagKeys': transitive } : {}) };
        const role = await deps.db.get<{ role_id: string; role_name: string; arn: string; assume_role_policy: string; max_session_duration: number; account_id: string }>(
          'SELECT role_id, role_name, arn, assume_role_policy, max_session_duration, account_id FROM iam_roles WHERE arn = ?',
          [roleArn],
        );
        ctx.resources.push({ ARN: roleArn, accountId: deps.accountId, type: 'AWS::IAM::Role' });
        // The trust policy decides, as a resource policy: it may name the caller, or trust the account and leave it to IAM policies.
        if (!role) {
          await ctx.authorize({ action: 'sts:AssumeRole', resource: roleArn, mode: 'identity', context: { 'sts:RoleSessionName': sessionName } });
          throw new AwsError('AccessDenied', 403, `User: ${ctx.principal.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
        }
        await ctx.authorize({
          action: 'sts:AssumeRole',
          resource: role.arn,
          resourcePolicy: role.assume_role_policy,
          resourceAccount: role.account_id,
          mode: 'key-policy',
          context: { 'sts:RoleSessionName': sessionName, ...tagContext },
        });
        if (tags.length) {
          await ctx.authorize({
            action: 'sts:TagSession',
            resource: role.arn,
            resourcePolicy: role.assume_role_policy,
            resourceAccount: role.account_id,
            mode: 'key-policy',
            context: { 'sts:RoleSessionName': sessionName, ...tagContext },
          });
        }
        const duration = Number(p.get('DurationSeconds') ?? 3600);
        const max = Number(role.max_session_duration);
        if (!Number.isInteger(duration) || duration < 900 || duration > max) {
          throw new AwsError('ValidationError', 400, `The requested DurationSeconds exceeds the MaxSessionDuration set for this role (${max}), or is below 900.`);
        }
        const expires = Math.floor(ctx.receivedAt.getTime() / 1000) * 1000 + duration * 1000;
        // The session's tags: those asked for, and those inherited from the calling session (transitive, so passed on again).
        const sessionTags = incoming ? Object.fromEntries(Object.entries(incoming.tags).filter(([k]) => inherited.has(k.toLowerCase()))) : {};
        for (const t of tags) sessionTags[t.Key] = t.Value;
        const passedOn = [...transitive, ...(incoming?.transitive ?? [])];
        const s = await deps.identities.createSession({ roleId: role.role_id, roleName: role.role_name, accountId: role.account_id }, sessionName, expires, sessionPolicies, {
          tags: sessionTags,
          transitive: passedOn,
        });
        return {
          Credentials: { AccessKeyId: s.accessKeyId, SecretAccessKey: s.secretAccessKey, SessionToken: s.sessionToken, Expiration: isoNoMillis(expires) },
          AssumedRoleUser: { AssumedRoleId: `${role.role_id}:${sessionName}`, Arn: s.arn },
        };
      },
    },
  };
}
