import type { Principal } from '../iam/principal.ts';

/** A CloudTrail record, as AWS writes it (eventVersion 1.11). */
export interface TrailEvent {
  eventVersion: string;
  userIdentity: {
    type: string;
    principalId?: string;
    arn?: string;
    accountId?: string;
    accessKeyId?: string;
    userName?: string;
    /** Set when a service called on the user's behalf (for example S3 calling KMS for SSE-KMS). */
    invokedBy?: string;
  };
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  errorCode?: string;
  errorMessage?: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: AuditResource[];
  eventType: 'AwsApiCall';
  managementEvent: boolean;
  recipientAccountId: string;
  eventCategory: 'Management' | 'Data';
  /** Links the events of one request across services (an S3 PutObject and the KMS call it made). */
  sharedEventID?: string;
  tlsDetails?: { tlsVersion: string; cipherSuite: string; clientProvidedHostHeader: string };
}

export interface AuditResource {
  ARN: string;
  accountId: string;
  type: string;
}

export function userIdentity(principal: Principal | undefined, accessKeyId: string | undefined): TrailEvent['userIdentity'] {
  if (!principal) return { type: 'Unknown', ...(accessKeyId ? { accessKeyId } : {}) };
  return {
    type: principal.type,
    principalId: principal.principalId,
    arn: principal.arn,
    accountId: principal.accountId,
    accessKeyId: principal.accessKeyId,
    ...(principal.userName ? { userName: principal.userName } : {}),
  };
}

/** CloudTrail's time format: ISO 8601 in UTC, to the second. */
export function eventTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** What CloudTrail shows of a request body: AWS's lower-camel-case field names. */
export function lowerCamel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(lowerCamel);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k.charAt(0).toLowerCase() + k.slice(1)] = v;
  return out;
}
