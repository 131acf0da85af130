import { randomUUID } from 'node:crypto';
import { AccessDeniedError } from '../iam/authorizer.ts';
import { eventTime, userIdentity, type TrailEvent } from '../trail/event.ts';
import type { Recorder } from '../trail/recorder.ts';
import { AwsError } from '../wire/errors.ts';
import type { CallContext, JsonService } from './service.ts';

export interface OnBehalfCall {
  /** The service whose operation runs (KMS, Secrets Manager). */
  target: JsonService;
  recorder: Recorder;
  accountId: string;
  /** The caller's own request, whose identity the operation runs with. */
  ctx: CallContext;
  /** The service making the call, as CloudTrail names it in `invokedBy` (s3, ssm ...). */
  service: string;
  operation: string;
  input: Record<string, unknown>;
  /** The error the caller's request fails with when the event cannot be recorded. */
  auditUnavailable: () => AwsError;
}

/**
 * One service's operation run for another on a caller's behalf (S3 SSE-KMS calling KMS, Parameter Store reading a
 * Secrets Manager secret): the same handler a client reaches over the wire, with the original caller's identity (so
 * their policies and the resource's decide), recorded as AWS records it: an event of the target service of its own,
 * `userIdentity.invokedBy` and `sourceIPAddress` naming the calling service, `sharedEventID` the caller's request,
 * and never the response. The event is durable before the result is used (fail closed), like a direct call's.
 */
export async function callOnBehalf(call: OnBehalfCall): Promise<unknown> {
  const { target, ctx, service, operation, input } = call;
  const handler = target.operations[operation]!;
  const inner: CallContext = { ...ctx, requestId: randomUUID(), resources: [], operation, input, viaService: `${service}.${ctx.region}.amazonaws.com` };
  let output: unknown;
  let error: AwsError | undefined;
  try {
    output = await handler(inner, input);
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
    eventSource: target.eventSource,
    eventName: operation,
    awsRegion: ctx.region,
    sourceIPAddress: invokedBy,
    userAgent: invokedBy,
    ...(error ? { errorCode: error.code === 'AccessDeniedException' ? 'AccessDenied' : error.code, errorMessage: error.message } : {}),
    requestParameters: target.audit?.requestParameters?.(operation, input) ?? null,
    // Never the response: it holds plaintext, data keys or secret values.
    responseElements: null,
    requestID: inner.requestId,
    eventID: randomUUID(),
    readOnly: true,
    ...(inner.resources.length ? { resources: inner.resources } : {}),
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: call.accountId,
    eventCategory: 'Management',
    sharedEventID: ctx.requestId,
  };
  try {
    await call.recorder.record(event);
  } catch {
    throw call.auditUnavailable();
  }
  if (error) throw error;
  return output;
}
