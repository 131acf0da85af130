// The audit trail through CloudTrail's LookupEvents, as every page that shows history reads it.
import { CloudTrailClient, LookupEventsCommand, type LookupAttributeKey } from '@aws-sdk/client-cloudtrail';
import { client, clientConfig } from './session.ts';

export const trail = () => client('cloudtrail', () => new CloudTrailClient(clientConfig()));

/** One event as the pages use it: LookupEvents' summary and the CloudTrail record it carries. */
export interface TrailRecord {
  eventId: string;
  eventName: string;
  eventSource: string;
  eventTime: Date;
  username?: string;
  record: {
    userIdentity?: { type?: string; arn?: string; userName?: string; accessKeyId?: string; invokedBy?: string };
    errorCode?: string;
    errorMessage?: string;
    requestParameters?: Record<string, unknown> | null;
    sourceIPAddress?: string;
    [k: string]: unknown;
  };
  raw: string;
  resources: Array<{ type?: string; name?: string }>;
}

export interface Lookup {
  attribute?: { key: LookupAttributeKey; value: string };
  start?: Date;
  end?: Date;
  /** At most this many events (pages of 50). */
  limit?: number;
  nextToken?: string;
}

/** Events newest first, following NextToken until `limit`; `more` is the token to continue from, if any. */
export async function lookup(q: Lookup): Promise<{ events: TrailRecord[]; more?: string }> {
  const limit = q.limit ?? 50;
  const events: TrailRecord[] = [];
  let token = q.nextToken;
  do {
    const out = await trail().send(
      new LookupEventsCommand({
        ...(q.attribute ? { LookupAttributes: [{ AttributeKey: q.attribute.key, AttributeValue: q.attribute.value }] } : {}),
        ...(q.start ? { StartTime: q.start } : {}),
        ...(q.end ? { EndTime: q.end } : {}),
        MaxResults: Math.min(50, limit - events.length),
        ...(token ? { NextToken: token } : {}),
      }),
    );
    for (const e of out.Events ?? []) {
      let record: TrailRecord['record'] = {};
      try {
        record = JSON.parse(e.CloudTrailEvent ?? '{}') as TrailRecord['record'];
      } catch {
        // an unreadable record: the summary still shows
      }
      events.push({
        eventId: e.EventId ?? '',
        eventName: e.EventName ?? '',
        eventSource: e.EventSource ?? '',
        eventTime: e.EventTime ?? new Date(0),
        ...(e.Username ? { username: e.Username } : {}),
        record,
        raw: e.CloudTrailEvent ?? '',
        resources: (e.Resources ?? []).map((r) => ({ ...(r.ResourceType ? { type: r.ResourceType } : {}), ...(r.ResourceName ? { name: r.ResourceName } : {}) })),
      });
    }
    token = out.NextToken;
  } while (token && events.length < limit);
  return { events, ...(token ? { more: token } : {}) };
}

/** Who made a call, as briefly as the record allows. */
export function caller(e: TrailRecord): string {
  const u = e.record.userIdentity;
  const who = u?.arn ?? e.username ?? u?.type ?? 'unknown';
  return u?.invokedBy ? `${who} via ${u.invokedBy}` : who;
}
