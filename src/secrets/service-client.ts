import type * as SM from '@aws-sdk/client-secrets-manager';
import { callOnBehalf } from '../server/on-behalf.ts';
import type { CallContext, JsonService } from '../server/service.ts';
import type { Recorder } from '../trail/recorder.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { AwsError } from '../wire/errors.ts';

/** The services that read secrets on a caller's behalf, as CloudTrail names them in `invokedBy`. */
export type SecretsCallingService = 'ssm';

/** An audit failure while recording a secret read made on a caller's behalf: the caller's request fails too. */
export class SecretsAuditUnavailable extends AwsError {
  constructor() {
    super('ServiceUnavailable', 503, 'The request was not served because the audit trail cannot record its Secrets Manager call. Try again later.');
  }
}

/**
 * Secrets Manager as other Trent services use it (Parameter Store's /aws/reference/secretsmanager/ parameters): the
 * GetSecretValue a client reaches over the wire, run with the original caller's identity (so the secret's resource
 * policy and the caller's identity policies decide, and KMS sees the caller too), and recorded as AWS records it: a
 * Secrets Manager GetSecretValue event of its own, with `userIdentity.invokedBy` and `sourceIPAddress` naming the
 * calling service, durable before the value is used (fail closed): see callOnBehalf, which KMS's service client uses too.
 */
export class SecretsServiceClient {
  readonly #secrets: JsonService;
  readonly #recorder: Recorder;
  readonly #accountId: string;

  constructor(secrets: JsonService, recorder: Recorder, accountId: string) {
    this.#secrets = secrets;
    this.#recorder = recorder;
    this.#accountId = accountId;
  }

  /** The secret's value as GetSecretValue answers it; errors are the Secrets Manager errors the caller would get. */
  async getSecretValue(ctx: CallContext, service: SecretsCallingService, input: { SecretId: string; VersionId?: string; VersionStage?: string }): Promise<JsonWire<SM.GetSecretValueResponse>> {
    const output = await callOnBehalf({
      target: this.#secrets,
      recorder: this.#recorder,
      accountId: this.#accountId,
      ctx,
      service,
      operation: 'GetSecretValue',
      input,
      auditUnavailable: () => new SecretsAuditUnavailable(),
    });
    return output as JsonWire<SM.GetSecretValueResponse>;
  }
}
