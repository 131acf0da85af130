import { randomUUID } from 'node:crypto';
import type * as SM from '@aws-sdk/client-secrets-manager';
import { AccessDeniedError } from '../iam/authorizer.ts';
import type { CallContext, JsonService } from '../server/service.ts';
import { eventTime, userIdentity, type TrailEvent } from '../trail/event.ts';
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
 * calling service, durable before the value is used (fail closed). The same pattern as src/kms/service-client.ts.
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
    const operation = 'GetSecretValue';
    const handler = this.#secrets.operations[operation]!;
    const sctx: CallContext = { ...ctx, requestId: randomUUID(), resources: [], operation, input, viaService: `${service}.${ctx.region}.amazonaws.com` };
    let output: JsonWire<SM.GetSecretValueResponse> | undefined;
    let error: AwsError | undefined;
    try {
      output = (await handler(sctx, input)) as JsonWire<SM.GetSecretValueResponse>;
    } catch (err) {
      if (err instanceof AccessDeniedError) error = new AwsError('AccessDeniedException', 400, err.message);
      else if (!(err instanceof AwsError)) throw err;
      else error = err;
    }
    const invokedBy = `${service}.amazonaws.com`;
    const event: TrailEvent = {
      eventVersion: '1.11',
      userIdentity: { ...userIdentity(ctx.principal, ctx.principal.accessKeyId), invokedBy },
      eventTime: eventTime(ctx.receivedAt),
      eventSource: this.#secrets.eventSource,
      eventName: operation,
      awsRegion: ctx.region,
      sourceIPAddress: invokedBy,
      userAgent: invokedBy,
      ...(error ? { errorCode: error.code === 'AccessDeniedException' ? 'AccessDenied' : error.code, errorMessage: error.message } : {}),
      requestParameters: this.#secrets.audit?.requestParameters?.(operation, input) ?? null,
      // Never the value: GetSecretValue's response is not on record.
      responseElements: null,
      requestID: sctx.requestId,
      eventID: randomUUID(),
      readOnly: true,
      ...(sctx.resources.length ? { resources: sctx.resources } : {}),
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: this.#accountId,
      eventCategory: 'Management',
      sharedEventID: ctx.requestId,
    };
    try {
      await this.#recorder.record(event);
    } catch {
      throw new SecretsAuditUnavailable();
    }
    if (error) throw error;
    return output!;
  }
}
