import type { GetCallerIdentityResponse } from '@aws-sdk/client-sts';
import type { CallContext, QueryService } from '../server/service.ts';
import type { Database } from '../store/database.ts';
import type { IdentityStore } from '../iam/identities.ts';
import { parsePolicy } from '../iam/policy.ts';
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
      requestParameters: (_op, input) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of input as Map<string, string>) out[k.charAt(0).toLowerCase() + k.slice(1)] = v;
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
        // Refused rather than ignored: a session without the MFA, source identity or tags the caller asked for would be
        // evaluated as if the caller had not asked (aws:MultiFactorAuthPresent, aws:SourceIdentity, aws:PrincipalTag).
        if (p.has('SerialNumber') || p.has('TokenCode')) throw new AwsError('ValidationError', 400, 'MFA (SerialNumber, TokenCode) is not supported by Trent: it has no MFA devices.');
        if (p.has('SourceIdentity')) throw new AwsError('ValidationError', 400, 'SourceIdentity is not supported by Trent.');
        if ([...p.keys()].some((k) => k.startsWith('Tags.') || k.startsWith('TransitiveTagKeys.'))) throw new AwsError('ValidationError', 400, 'Session tags (Tags, TransitiveTagKeys) are not supported by Trent.');
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
          context: { 'sts:RoleSessionName': sessionName },
        });
        const duration = Number(p.get('DurationSeconds') ?? 3600);
        const max = Number(role.max_session_duration);
        if (!Number.isInteger(duration) || duration < 900 || duration > max) {
          throw new AwsError('ValidationError', 400, `The requested DurationSeconds exceeds the MaxSessionDuration set for this role (${max}), or is below 900.`);
        }
        const expires = Math.floor(ctx.receivedAt.getTime() / 1000) * 1000 + duration * 1000;
        const s = await deps.identities.createSession({ roleId: role.role_id, roleName: role.role_name, accountId: role.account_id }, sessionName, expires, sessionPolicies);
        return {
          Credentials: { AccessKeyId: s.accessKeyId, SecretAccessKey: s.secretAccessKey, SessionToken: s.sessionToken, Expiration: isoNoMillis(expires) },
          AssumedRoleUser: { AssumedRoleId: `${role.role_id}:${sessionName}`, Arn: s.arn },
        };
      },
    },
  };
}
