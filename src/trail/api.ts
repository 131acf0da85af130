import type * as C from '@aws-sdk/client-cloudtrail';
import type { CallContext, JsonService } from '../server/service.ts';
import type { SystemObjects } from '../s3/system.ts';
import type { Database } from '../store/database.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { bool, int, str } from '../wire/validate.ts';
import {
  InvalidEventCategoryException,
  InvalidLookupAttributesException,
  InvalidMaxResultsException,
  InvalidNextTokenException,
  InvalidParameterException,
  InvalidS3PrefixException,
  InvalidTimeRangeException,
  InvalidTrailNameException,
  S3BucketDoesNotExistException,
  TrailAlreadyExistsException,
  TrailNotProvidedException,
  UnsupportedOperationException,
} from './errors.ts';
import { lowerCamel, type TrailEvent } from './event.ts';
import { isoSeconds } from './delivery.ts';
import type { DigestSigner } from './signing.ts';
import type { LookupAttributeKey, TrailStore } from './store.ts';
import { DEFAULT_SELECTORS, findTrail, getTrail, listTrails, parseSelectors, trailArn, type TrailRecord } from './trails.ts';
import { ServiceShapes } from '../wire/shapes.ts';

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

export interface CloudTrailDeps {
  store: TrailStore;
  db: Database;
  objects: SystemObjects;
  signer: DigestSigner;
  accountId: string;
  region: string;
  now?: () => number;
}

const TRAIL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$/;

function trailShape(t: TrailRecord, region: string): JsonWire<C.Trail> {
  return {
    Name: t.name,
    S3BucketName: t.bucket,
    ...(t.prefix ? { S3KeyPrefix: t.prefix } : {}),
    IncludeGlobalServiceEvents: t.includeGlobal,
    IsMultiRegionTrail: t.multiRegion,
    HomeRegion: region,
    TrailARN: t.arn,
    LogFileValidationEnabled: t.validation,
    HasCustomEventSelectors: t.eventSelectors !== null,
    HasInsightSelectors: false,
    IsOrganizationTrail: false,
  };
}

function createResponse(t: TrailRecord): JsonWire<C.CreateTrailResponse> {
  return {
    Name: t.name,
    S3BucketName: t.bucket,
    ...(t.prefix ? { S3KeyPrefix: t.prefix } : {}),
    IncludeGlobalServiceEvents: t.includeGlobal,
    IsMultiRegionTrail: t.multiRegion,
    TrailARN: t.arn,
    LogFileValidationEnabled: t.validation,
    IsOrganizationTrail: false,
  };
}

/** Options Trent does not provide: refused rather than accepted and ignored. */
function refuseUnsupported(input: Record<string, unknown>): void {
  for (const k of ['SnsTopicName', 'CloudWatchLogsLogGroupArn', 'CloudWatchLogsRoleArn', 'KmsKeyId']) {
    if (input[k] !== undefined && input[k] !== null && input[k] !== '') {
      throw new UnsupportedOperationException(`${k} is not supported: Trent delivers trail log files to its own S3 buckets, encrypted with SSE-S3.`);
    }
  }
  if (input['IsOrganizationTrail'] === true) throw new UnsupportedOperationException('Organization trails are not supported.');
}

/** AWS CloudTrail: LookupEvents over Trent's audit store, and trails that deliver log files and signed digests into S3. */
export function cloudTrailService(deps: CloudTrailDeps): JsonService {
  const { store, db, objects, signer, accountId, region } = deps;
  const now = deps.now ?? Date.now;

  async function checkBucket(bucket: string | undefined, prefix: string | undefined): Promise<void> {
    if (!bucket || !(await objects.bucketExists(bucket))) throw new S3BucketDoesNotExistException(bucket ?? '');
    if (prefix !== undefined && (prefix.length > 200 || prefix.startsWith('/') || prefix.endsWith('/'))) {
      throw new InvalidS3PrefixException('S3KeyPrefix must be at most 200 characters and must not begin or end with a slash.');
    }
  }

  function nameOf(input: Record<string, unknown>, field = 'Name'): string {
    const v = input[field];
    if (typeof v !== 'string' || v.length === 0) throw new TrailNotProvidedException();
    return v;
  }

  function touch(ctx: CallContext, t: TrailRecord): void {
    ctx.resources.push({ ARN: t.arn, accountId, type: 'AWS::CloudTrail::Trail' });
  }

  return {
    protocol: 'json',
    shapes: new ServiceShapes('@aws-sdk/client-cloudtrail'),
    signingName: 'cloudtrail',
    eventSource: 'cloudtrail.amazonaws.com',
    // JS v3 sends the short form; botocore and the CLI the long one.
    targetPrefixes: ['CloudTrail_20131101', 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101'],
    maxBodyBytes: 64 * 1024,
    authorization: { prefix: 'cloudtrail' },
    audit: {
      requestParameters: (_op, input) => (input && typeof input === 'object' && Object.keys(input).length ? (lowerCamel(input) as Record<string, unknown>) : null),
      responseElements: (op, output) => (/^(Create|Update|PutEventSelectors)/.test(op) && output ? (lowerCamel(output) as Record<string, unknown>) : null),
    },
    operations: {
      async CreateTrail(ctx, input: Record<string, unknown>): Promise<JsonWire<C.CreateTrailResponse>> {
        const name = nameOf(input);
        if (!TRAIL_NAME.test(name) || /[._-]{2}/.test(name)) {
          throw new InvalidTrailNameException('Trail names must be 3 to 128 letters, digits, periods, underscores or dashes, starting and ending with a letter or digit, with no adjacent punctuation.');
        }
        refuseUnsupported(input);
        const bucket = str(input, 'S3BucketName', { required: true });
        const prefix = str(input, 'S3KeyPrefix');
        await checkBucket(bucket, prefix);
        const t = now();
        const created = await db.transaction(async (tx) => {
          if (await findTrail(tx, name)) throw new TrailAlreadyExistsException(name);
          await tx.run(
            `INSERT INTO ct_trails (name, arn, bucket, prefix, include_global, multi_region, validation, event_selectors, created_at, is_logging,
                                    cursor_seq, pending_logs) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, ?, '[]')`,
            [name, trailArn(region, accountId, name), bucket!, prefix ?? null, (bool(input, 'IncludeGlobalServiceEvents') ?? true) ? 1 : 0, bool(input, 'IsMultiRegionTrail') ? 1 : 0, bool(input, 'EnableLogFileValidation') ? 1 : 0, t, await store.maxSeq()],
          );
          return getTrail(tx, name);
        });
        touch(ctx, created);
        return createResponse(created);
      },

      async UpdateTrail(ctx, input: Record<string, unknown>): Promise<JsonWire<C.UpdateTrailResponse>> {
        const name = nameOf(input);
        refuseUnsupported(input);
        const existing = await getTrail(db, name);
        touch(ctx, existing);
        const bucket = str(input, 'S3BucketName');
        const prefix = str(input, 'S3KeyPrefix');
        if (bucket !== undefined || prefix !== undefined) await checkBucket(bucket ?? existing.bucket, prefix);
        const validation = bool(input, 'EnableLogFileValidation');
        const sets: string[] = [];
        const params: Array<string | number | null> = [];
        const set = (col: string, v: string | number | null) => {
          sets.push(`${col} = ?`);
          params.push(v);
        };
        if (bucket !== undefined) set('bucket', bucket);
        if (prefix !== undefined) set('prefix', prefix || null);
        const includeGlobal = bool(input, 'IncludeGlobalServiceEvents');
        if (includeGlobal !== undefined) set('include_global', includeGlobal ? 1 : 0);
        const multi = bool(input, 'IsMultiRegionTrail');
        if (multi !== undefined) set('multi_region', multi ? 1 : 0);
        if (validation !== undefined && validation !== existing.validation) {
          set('validation', validation ? 1 : 0);
          // Turning validation on starts a new digest chain; turning it off ends the current one.
          set('chain_start', validation ? now() : null);
          for (const c of ['digest_bucket', 'digest_key', 'digest_hash', 'digest_signature', 'digest_end']) set(c, null);
          set('pending_logs', '[]');
        }
        if (sets.length) await db.run(`UPDATE ct_trails SET ${sets.join(', ')} WHERE name = ?`, [...params, existing.name]);
        return createResponse(await getTrail(db, existing.name));
      },

      async DeleteTrail(ctx, input: Record<string, unknown>): Promise<Record<string, never>> {
        const t = await getTrail(db, nameOf(input));
        touch(ctx, t);
        await db.run('DELETE FROM ct_trails WHERE name = ?', [t.name]);
        return {};
      },

      async DescribeTrails(_ctx, input: Record<string, unknown>): Promise<JsonWire<C.DescribeTrailsResponse>> {
        const names = input['trailNameList'];
        if (names !== undefined && names !== null && (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))) {
          throw new InvalidParameterException('trailNameList must be a list of trail names or ARNs.');
        }
        const all = await listTrails(db);
        const wanted = Array.isArray(names) && names.length ? all.filter((t) => (names as string[]).some((n) => n === t.name || n === t.arn)) : all;
        return { trailList: wanted.map((t) => trailShape(t, region)) };
      },

      async ListTrails(_ctx): Promise<JsonWire<C.ListTrailsResponse>> {
        return { Trails: (await listTrails(db)).map((t) => ({ TrailARN: t.arn, Name: t.name, HomeRegion: region })) };
      },

      async GetTrail(ctx, input: Record<string, unknown>): Promise<JsonWire<C.GetTrailResponse>> {
        const t = await getTrail(db, nameOf(input));
        touch(ctx, t);
        return { Trail: trailShape(t, region) };
      },

      async GetTrailStatus(ctx, input: Record<string, unknown>): Promise<JsonWire<C.GetTrailStatusResponse>> {
        const t = await getTrail(db, nameOf(input));
        touch(ctx, t);
        const sec = (ms: number | null) => (ms === null ? undefined : ms / 1000);
        return {
          IsLogging: t.isLogging,
          ...(t.lastDeliveryAt !== null ? { LatestDeliveryTime: sec(t.lastDeliveryAt)! } : {}),
          ...(t.lastAttemptAt !== null ? { LatestDeliveryAttemptTime: isoSeconds(t.lastAttemptAt), LatestDeliveryAttemptSucceeded: t.lastDeliveryError ? '' : isoSeconds(t.lastAttemptAt) } : {}),
          ...(t.lastDeliveryError ? { LatestDeliveryError: t.lastDeliveryError } : {}),
          ...(t.startLoggingAt !== null ? { StartLoggingTime: sec(t.startLoggingAt)!, TimeLoggingStarted: isoSeconds(t.startLoggingAt) } : {}),
          ...(t.stopLoggingAt !== null ? { StopLoggingTime: sec(t.stopLoggingAt)!, TimeLoggingStopped: isoSeconds(t.stopLoggingAt) } : {}),
          ...(t.lastDigestAt !== null ? { LatestDigestDeliveryTime: sec(t.lastDigestAt)! } : {}),
          ...(t.lastDigestError ? { LatestDigestDeliveryError: t.lastDigestError } : {}),
        };
      },

      async StartLogging(ctx, input: Record<string, unknown>): Promise<Record<string, never>> {
        const t = await getTrail(db, nameOf(input));
        touch(ctx, t);
        if (t.isLogging) return {};
        const at = now();
        // Delivery starts with the events recorded from now on; a digest chain starts (or resumes) here.
        await db.run('UPDATE ct_trails SET is_logging = 1, start_logging_at = ?, cursor_seq = ?, chain_start = COALESCE(chain_start, ?) WHERE name = ?', [at, await store.maxSeq(), at, t.name]);
        return {};
      },

      async StopLogging(ctx, input: Record<string, unknown>): Promise<Record<string, never>> {
        const t = await getTrail(db, nameOf(input));
        touch(ctx, t);
        if (!t.isLogging) return {};
        await db.run('UPDATE ct_trails SET is_logging = 0, stop_logging_at = ?, stop_seq = ? WHERE name = ?', [now(), await store.maxSeq(), t.name]);
        return {};
      },

      async PutEventSelectors(ctx, input: Record<string, unknown>): Promise<JsonWire<C.PutEventSelectorsResponse>> {
        const t = await getTrail(db, nameOf(input, 'TrailName'));
        touch(ctx, t);
        if (input['AdvancedEventSelectors'] !== undefined) throw new UnsupportedOperationException('AdvancedEventSelectors are not supported; use EventSelectors.');
        const selectors = parseSelectors(input['EventSelectors']);
        await db.run('UPDATE ct_trails SET event_selectors = ? WHERE name = ?', [JSON.stringify(selectors), t.name]);
        return { TrailARN: t.arn, EventSelectors: selectors };
      },

      async GetEventSelectors(ctx, input: Record<string, unknown>): Promise<JsonWire<C.GetEventSelectorsResponse>> {
        const t = await getTrail(db, nameOf(input, 'TrailName'));
        touch(ctx, t);
        return { TrailARN: t.arn, EventSelectors: t.eventSelectors ?? DEFAULT_SELECTORS };
      },

      async ListPublicKeys(_ctx, input: Record<string, unknown>): Promise<JsonWire<C.ListPublicKeysResponse>> {
        const t = now();
        const end = epochSeconds(input['EndTime'], 'EndTime') ?? t;
        const start = epochSeconds(input['StartTime'], 'StartTime') ?? end;
        if (start > end) throw new InvalidTimeRangeException();
        const keys = await signer.publicKeys(start, end);
        // A blob: base64 of the PKCS#1 DER on the wire (the AWS CLI keeps blobs as base64 text and decodes it itself).
        return {
          PublicKeyList: keys.map((k) => ({
            Value: k.publicDer.toString('base64'),
            ValidityStartTime: k.validFrom / 1000,
            ValidityEndTime: k.validTo / 1000,
            Fingerprint: k.fingerprint,
          })),
        };
      },

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
