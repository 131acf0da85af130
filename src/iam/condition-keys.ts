/**
 * The condition keys Trent decides. A key AWS defines that Trent does not compute must not be treated as
 * absent where AWS would set it (a "Deny unless ..." statement would then fail open): such a key is
 * unknown, and a condition on it fails closed (policy-conditions.ts, UnknownKeys).
 *
 * A key is decided by Trent when it is in the request context, or when it is listed here: set by Trent
 * wherever AWS sets it, or never set for Trent's requests because what it describes does not exist here
 * (VPC endpoints, AWS Organizations, service principals, MFA devices, federation). docs/security.md lists
 * the same keys; a unit test keeps the two in step.
 */

/** Global keys Trent sets in every request where AWS does (all or some of the time). */
export const GLOBAL_KEYS_SET = [
  'aws:CalledVia',
  'aws:CalledViaFirst',
  'aws:CalledViaLast',
  'aws:CurrentTime',
  'aws:EpochTime',
  'aws:MultiFactorAuthPresent',
  'aws:PrincipalAccount',
  'aws:PrincipalArn',
  'aws:PrincipalIsAWSService',
  'aws:PrincipalTag/',
  'aws:PrincipalType',
  'aws:Referer',
  'aws:RequestTag/',
  'aws:RequestedRegion',
  'aws:ResourceAccount',
  'aws:ResourceTag/',
  'aws:SecureTransport',
  'aws:SourceIp',
  'aws:TagKeys',
  'aws:TokenIssueTime',
  'aws:UserAgent',
  'aws:userid',
  'aws:username',
  'aws:ViaAWSService',
] as const;

/** Global keys AWS sets only for things Trent does not have, so they are rightly absent from every Trent request. */
export const GLOBAL_KEYS_NEVER_SET = [
  'aws:AssumedRoot',
  'aws:Ec2InstanceSourcePrivateIPv4',
  'aws:Ec2InstanceSourceVpc',
  'aws:FederatedProvider',
  'aws:MultiFactorAuthAge',
  'aws:PrincipalOrgID',
  'aws:PrincipalOrgPaths',
  'aws:PrincipalServiceName',
  'aws:PrincipalServiceNamesList',
  'aws:ResourceOrgID',
  'aws:ResourceOrgPaths',
  'aws:SourceAccount',
  'aws:SourceArn',
  'aws:SourceIdentity',
  'aws:SourceOrgID',
  'aws:SourceOrgPaths',
  'aws:SourceVpc',
  'aws:SourceVpcArn',
  'aws:SourceVpce',
  'aws:VpcSourceIp',
  'aws:VpceAccount',
  'aws:VpceOrgID',
  'aws:VpceOrgPaths',
] as const;

/** Service keys Trent sets wherever AWS does; a name ending in '/' or ':' stands for every key it begins. */
export const SERVICE_KEYS = [
  'iam:PermissionsBoundary',
  'iam:PolicyARN',
  'iam:ResourceTag/',
  'kms:CallerAccount',
  'kms:EncryptionContext:',
  'kms:EncryptionContextKeys',
  'kms:GrantIsForAWSResource',
  'kms:GrantOperations',
  'kms:GranteePrincipal',
  'kms:KeyManager',
  'kms:KeyOrigin',
  'kms:KeySpec',
  'kms:KeyUsage',
  'kms:RequestAlias',
  'kms:ResourceAliases',
  'kms:RetiringPrincipal',
  'kms:ViaService',
  's3:authType',
  's3:delimiter',
  's3:ExistingObjectTag/',
  's3:max-keys',
  's3:object-lock-legal-hold',
  's3:object-lock-mode',
  's3:object-lock-remaining-retention-days',
  's3:object-lock-retain-until-date',
  's3:prefix',
  's3:RequestObjectTag/',
  's3:RequestObjectTagKeys',
  's3:signatureversion',
  's3:VersionId',
  's3:x-amz-content-sha256',
  's3:x-amz-server-side-encryption',
  's3:x-amz-server-side-encryption-aws-kms-key-id',
  's3:x-amz-server-side-encryption-customer-algorithm',
  'ssm:Overwrite',
  'ssm:Recursive',
  'sts:RoleSessionName',
  'sts:TransitiveTagKeys',
] as const;

/** Namespaces whose keys AWS could set in a request to a service Trent serves. Keys of other services are never set here. */
const NAMESPACES = new Set(['aws', 'kms', 's3', 'sts', 'iam', 'secretsmanager', 'ssm', 'rekognition', 'cloudtrail']);

const exact = new Set<string>();
const prefixes: string[] = [];
for (const k of [...GLOBAL_KEYS_SET, ...GLOBAL_KEYS_NEVER_SET, ...SERVICE_KEYS]) {
  const l = k.toLowerCase();
  if (l.endsWith('/') || l.endsWith(':')) prefixes.push(l);
  else exact.add(l);
}

/**
 * Resources whose tags Trent puts in the request context as aws:ResourceTag/ (and iam:ResourceTag/):
 * KMS keys, secrets, S3 buckets (an object's tags reach policies as s3:ExistingObjectTag/, as on AWS), IAM users and roles
 * (IAM groups have no tags, and Trent's managed policies none either). For other resources (SSM parameters, face collections, trails) the tags are not looked up, so the key is unknown.
 */
const TAGGED_RESOURCE = /^(arn:aws:kms:[^:]*:\d{12}:key\/|arn:aws:secretsmanager:|arn:aws:s3:::|arn:aws:iam::\d{12}:(user|role|group|policy)\/)/;

/**
 * Whether a condition key (lower-cased) is one AWS may set that Trent cannot decide for a request on `resource`.
 * Used only when the key is absent from the request context.
 */
export function isUnknownConditionKey(lowerKey: string, resource: string): boolean {
  const colon = lowerKey.indexOf(':');
  if (colon < 0 || !NAMESPACES.has(lowerKey.slice(0, colon))) return false;
  if ((lowerKey.startsWith('aws:resourcetag/') || lowerKey.startsWith('iam:resourcetag/')) && resource !== '*' && !TAGGED_RESOURCE.test(resource)) return true;
  if (exact.has(lowerKey)) return false;
  return !prefixes.some((p) => lowerKey.startsWith(p));
}
