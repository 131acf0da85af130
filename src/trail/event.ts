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
  /** Facts about the call that have no other field (CloudTrail's free-form additionalEventData). */
  additionalEventData?: Record<string, unknown>;
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

/** CloudTrail's largest event (256 KB): anything bigger is recorded without its request and response fields. */
export const MAX_EVENT_BYTES = 256 * 1024;

/**
 * An event ready for the audit store: its JSON text and the indexed columns, computed once, outside any
 * batch, by code that cannot throw. A value a request made up (an operation name, a user agent) reaches a
 * column only cleaned of control characters and cut to a bounded length, so no request can make a batch fail.
 */
export interface PreparedEvent {
  eventId: string;
  time: number;
  name: string;
  source: string;
  username: string | null;
  accessKeyId: string | null;
  readOnly: boolean;
  errorCode: string | null;
  management: boolean;
  resources: Array<{ type: string; name: string }>;
  record: string;
}

/** A column value from anything: text without control characters (PostgreSQL refuses NUL), at most `max` characters. */
export function columnText(v: unknown, max = 256): string {
  const s = typeof v === 'string' ? v : String(v ?? '');
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, '\uFFFD').slice(0, max);
}

/**
 * Serialise an event for the store. An event whose request or response fields cannot be serialised (too deep,
 * too large) is still recorded, without those fields and with a note saying why, so that the call stays on record.
 */
export function prepareEvent(event: TrailEvent): PreparedEvent {
  let record = trySerialize(event);
  if (record === undefined || record.length > MAX_EVENT_BYTES) {
    const slim: TrailEvent = {
      ...event,
      requestParameters: null,
      responseElements: null,
      additionalEventData: { ...(event.additionalEventData ?? {}), parametersOmitted: 'the request or response fields were too large or too deeply nested to record' },
    };
    record = trySerialize(slim);
    if (record === undefined || record.length > MAX_EVENT_BYTES) {
      // Only request-controlled text remains (user agent, host header, error message): keep the call, cut the text.
      const bare: TrailEvent = {
        ...slim,
        userAgent: columnText(event.userAgent, 1024),
        ...(event.errorMessage !== undefined ? { errorMessage: columnText(event.errorMessage, 1024) } : {}),
        ...(event.tlsDetails ? { tlsDetails: { ...event.tlsDetails, clientProvidedHostHeader: columnText(event.tlsDetails.clientProvidedHostHeader, 1024) } } : {}),
        resources: (event.resources ?? []).slice(0, 16),
        additionalEventData: slim.additionalEventData ?? {},
      };
      record = JSON.stringify(bare);
    }
  }
  const time = Date.parse(event.eventTime);
  return {
    eventId: columnText(event.eventID, 64),
    time: Number.isFinite(time) ? time : Date.now(),
    name: columnText(event.eventName, 128),
    source: columnText(event.eventSource, 128),
    username: event.userIdentity.userName === undefined ? null : columnText(event.userIdentity.userName),
    accessKeyId: event.userIdentity.accessKeyId === undefined ? null : columnText(event.userIdentity.accessKeyId, 128),
    readOnly: event.readOnly,
    errorCode: event.errorCode === undefined ? null : columnText(event.errorCode, 128),
    management: event.managementEvent,
    resources: event.managementEvent ? (event.resources ?? []).slice(0, 64).map((r) => ({ type: columnText(r.type), name: columnText(r.ARN, 2048) })) : [],
    record,
  };
}

function trySerialize(event: TrailEvent): string | undefined {
  try {
    return JSON.stringify(event);
  } catch {
    return undefined;
  }
}
