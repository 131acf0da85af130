import type * as SM from '@aws-sdk/client-secrets-manager';
import type * as S from '@aws-sdk/client-ssm';
import type { JsonWire } from '../wire/aws-json.ts';
import { AwsError } from '../wire/errors.ts';
import { ValidationException } from './errors.ts';

/**
 * Parameters that reference Secrets Manager secrets: GetParameter and GetParameters read
 * /aws/reference/secretsmanager/<secret id>[:<version id or staging label>] from Secrets Manager ("Referencing AWS
 * Secrets Manager secrets from Parameter Store parameters" in the Systems Manager User Guide). The answer is a
 * SecureString parameter named by the reference, at version 0, with the secret's ARN, the version's creation date and
 * a SourceResult describing what Secrets Manager returned. Error texts are the ones AWS answers with.
 */

export const SECRET_REFERENCE_PREFIX = '/aws/reference/secretsmanager/';
const VERSION_ID = /^[A-Za-z0-9-]{32,64}$/;
/** The Systems Manager guide: a referenced staging label may use only letters, numbers, '.', '-' and '_'. */
const STAGE = /^[A-Za-z0-9._-]{1,256}$/;

/** A reference with more than one selector, an empty one or one of other characters. */
export class SecretReferenceError extends ValidationException {
  constructor() {
    super('Invalid parameter name. Please use correct syntax for referencing a version/label  <name>:<version/label>');
  }
}

export interface SecretReference {
  /** The parameter name the answer carries: the reference without its selector. */
  name: string;
  /** ':<version id or label>' as given, if any. */
  selector?: string;
  request: { SecretId: string; VersionId?: string; VersionStage?: string };
  /** The answer when Secrets Manager has no such secret or version. */
  notFound(): AwsError;
  /** A Secrets Manager error as Parameter Store reports it. */
  failure(err: unknown): unknown;
}

/** The reference a parameter name makes, or undefined when it names a parameter of Parameter Store's own. */
export function parseSecretReference(raw: string): SecretReference | undefined {
  const text = raw.trim();
  if (!text.startsWith(SECRET_REFERENCE_PREFIX)) return undefined;
  const parts = text.slice(SECRET_REFERENCE_PREFIX.length).split(':');
  const [secretId, label] = parts;
  if (parts.length > 2 || !secretId || label === '' || (label !== undefined && !VERSION_ID.test(label) && !STAGE.test(label))) throw new SecretReferenceError();
  const name = `${SECRET_REFERENCE_PREFIX}${secretId}`;
  const selector = label === undefined ? undefined : `:${label}`;
  const notFound = () =>
    new AwsError('ParameterNotFound', 400, `An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret ${name.slice(1)}${selector ?? 'null'} not found.`);
  return {
    name,
    ...(selector ? { selector } : {}),
    request: { SecretId: secretId, ...(label === undefined ? {} : VERSION_ID.test(label) ? { VersionId: label } : { VersionStage: label }) },
    notFound,
    failure(err: unknown): unknown {
      if (!(err instanceof AwsError) || err.status >= 500) return err;
      if (err.code === 'ResourceNotFoundException') return notFound();
      // Access refusals keep their code; an invalid secret name is ValidationException in both services.
      if (err.code === 'AccessDeniedException' || err.code === 'ValidationException') return err;
      // A secret scheduled for deletion.
      if (err.code === 'InvalidRequestException') return new ValidationException('Invalid Request to Secrets Manager');
      return new ValidationException('An error occurred while calling one AWS dependency service.');
    },
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** SourceResult's createdDate, written as AWS writes it there: "Jan 2, 2006, 3:04:05 PM" (UTC). */
function sourceDate(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const h = d.getUTCHours();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}, ${h % 12 || 12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'}`;
}

/** The parameter AWS answers for a referenced secret version (a binary secret has no Value). */
export function secretParameter(ref: SecretReference, secret: JsonWire<SM.GetSecretValueResponse>): JsonWire<S.Parameter> {
  const source = {
    ARN: secret.ARN,
    name: secret.Name,
    versionId: secret.VersionId,
    ...(secret.SecretString !== undefined ? { secretString: secret.SecretString } : {}),
    versionStages: secret.VersionStages ?? [],
    createdDate: sourceDate(secret.CreatedDate!),
  };
  return {
    Name: ref.name,
    Type: 'SecureString',
    ...(secret.SecretString !== undefined ? { Value: secret.SecretString } : {}),
    Version: 0,
    ...(ref.selector ? { Selector: ref.selector } : {}),
    SourceResult: JSON.stringify(source),
    LastModifiedDate: secret.CreatedDate!,
    ARN: secret.ARN!,
  };
}
