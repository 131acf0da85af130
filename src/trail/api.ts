import type * as C from '@aws-sdk/client-cloudtrail';
import type { JsonService } from '../server/service.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { int } from '../wire/validate.ts';
import { InvalidEventCategoryException, InvalidLookupAttributesException, InvalidMaxResultsException, InvalidNextTokenException, InvalidTimeRangeException } from './errors.ts';
import type { TrailEvent } from './event.ts';
import type { LookupAttributeKey, TrailStore } from './store.ts';

const ATTRIBUTE_KEYS: readonly LookupAttributeKey[] = ['EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId'];
const LOOKUP_WINDOW_MS = 90 * 24 * 3600 * 1000;

function epochSeconds(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  // Clients send epoch seconds as numbers; accept ISO strings too.
  const ms = typeof v === 'number' ? v * 1000 : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw new InvalidTimeRangeException();
  void field;
  return ms;
}

function encodeToken(time: number, seq: number): string {
  return Buffer.from(JSON.stringify({ t: time, s: seq })).toString('base64url');
}

function decodeToken(token: unknown): { time: number; seq: number } | undefined {
  if (token === undefined || token === null) return undefined;
  if (typeof token !== 'string') throw new InvalidNextTokenException();
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { t?: unknown; s?: unknown };
    if (typeof v.t === 'number' && typeof v.s === 'number') return { time: v.t, seq: v.s };
  } catch {
    /* fall through */
  }
  throw new InvalidNextTokenException();
}

/** AWS CloudTrail's LookupEvents over Trent's audit store (trails and delivery arrive with object storage). */
export function cloudTrailService(store: TrailStore): JsonService {
  return {
    protocol: 'json',
    signingName: 'cloudtrail',
    eventSource: 'cloudtrail.amazonaws.com',
    // JS v3 sends the short form; botocore and the CLI the long one.
    targetPrefixes: ['CloudTrail_20131101', 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101'],
    maxBodyBytes: 64 * 1024,
    operations: {
      async LookupEvents(_ctx, input: Record<string, unknown>): Promise<JsonWire<C.LookupEventsResponse>> {
        const attrs = input['LookupAttributes'];
        let attribute: { key: LookupAttributeKey; value: string } | undefined;
        if (attrs !== undefined && attrs !== null) {
          if (!Array.isArray(attrs)) throw new InvalidLookupAttributesException('LookupAttributes must be a list.');
          if (attrs.length > 1) throw new InvalidLookupAttributesException('You cannot specify more than one lookup attribute.');
          if (attrs.length === 1) {
            const a = (attrs[0] ?? {}) as Record<string, unknown>;
            const key = a['AttributeKey'];
            const value = a['AttributeValue'];
            if (typeof key !== 'string' || !ATTRIBUTE_KEYS.includes(key as LookupAttributeKey)) {
              throw new InvalidLookupAttributesException(`AttributeKey must be one of ${ATTRIBUTE_KEYS.join(', ')}.`);
            }
            if (typeof value !== 'string' || value.length < 1 || value.length > 2000) throw new InvalidLookupAttributesException('AttributeValue must be 1 to 2000 characters.');
            attribute = { key: key as LookupAttributeKey, value };
          }
        }
        if (input['EventCategory'] !== undefined) throw new InvalidEventCategoryException();
        const now = Date.now();
        const endTime = epochSeconds(input['EndTime'], 'EndTime') ?? now;
        const startTime = epochSeconds(input['StartTime'], 'StartTime') ?? endTime - LOOKUP_WINDOW_MS;
        if (startTime > endTime) throw new InvalidTimeRangeException();
        let limit: number;
        try {
          limit = int(input, 'MaxResults') ?? 50;
        } catch {
          throw new InvalidMaxResultsException();
        }
        if (limit < 1 || limit > 50) throw new InvalidMaxResultsException();
        const after = decodeToken(input['NextToken']);
        const rows = await store.lookup({ ...(attribute ? { attribute } : {}), startTime, endTime, limit: limit + 1, ...(after ? { after } : {}) });
        const shown = rows.slice(0, limit);
        const events = shown.map((r) => {
          const e = JSON.parse(r.record) as TrailEvent;
          return {
            EventId: e.eventID,
            EventName: e.eventName,
            ReadOnly: String(e.readOnly),
            ...(e.userIdentity.accessKeyId ? { AccessKeyId: e.userIdentity.accessKeyId } : {}),
            EventTime: r.eventTime / 1000,
            EventSource: e.eventSource,
            ...(e.userIdentity.userName ? { Username: e.userIdentity.userName } : {}),
            Resources: (e.resources ?? []).map((res) => ({ ResourceType: res.type, ResourceName: res.ARN })),
            CloudTrailEvent: r.record,
          };
        });
        const last = shown[shown.length - 1];
        return { Events: events, ...(rows.length > limit && last ? { NextToken: encodeToken(last.eventTime, last.seq) } : {}) };
      },
    },
  };
}
