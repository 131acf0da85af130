import type { Queryable } from '../store/database.ts';
import type { TrailEvent } from './event.ts';
import { InvalidEventSelectorsException, TrailNotFoundException } from './errors.ts';

/** CloudTrail's classic event selectors (PutEventSelectors). */
export interface EventSelector {
  ReadWriteType: 'ReadOnly' | 'WriteOnly' | 'All';
  IncludeManagementEvents: boolean;
  DataResources: Array<{ Type: string; Values: string[] }>;
  ExcludeManagementEventSources: string[];
}

/** A log file delivered since the last digest: what the next digest lists. */
export interface DeliveredLog {
  s3Bucket: string;
  s3Object: string;
  hashValue: string;
  oldestEventTime: string;
  newestEventTime: string;
}

export interface TrailRecord {
  name: string;
  arn: string;
  bucket: string;
  prefix: string | null;
  includeGlobal: boolean;
  multiRegion: boolean;
  validation: boolean;
  eventSelectors: EventSelector[] | null;
  createdAt: number;
  isLogging: boolean;
  startLoggingAt: number | null;
  stopLoggingAt: number | null;
  /** The last event recorded before StopLogging: a stopped trail still delivers up to it. */
  stopSeq: number | null;
  cursorSeq: number;
  pendingLogs: DeliveredLog[];
  lastDeliveryAt: number | null;
  lastAttemptAt: number | null;
  lastDeliveryError: string | null;
  chainStart: number | null;
  digest: { bucket: string; key: string; hash: string; signature: string; end: number } | null;
  lastDigestAt: number | null;
  lastDigestError: string | null;
}

interface TrailRow {
  name: string;
  arn: string;
  bucket: string;
  prefix: string | null;
  include_global: number;
  multi_region: number;
  validation: number;
  event_selectors: string | null;
  created_at: number;
  is_logging: number;
  start_logging_at: number | null;
  stop_logging_at: number | null;
  stop_seq: number | null;
  cursor_seq: number;
  pending_logs: string;
  last_delivery_at: number | null;
  last_attempt_at: number | null;
  last_delivery_error: string | null;
  chain_start: number | null;
  digest_bucket: string | null;
  digest_key: string | null;
  digest_hash: string | null;
  digest_signature: string | null;
  digest_end: number | null;
  last_digest_at: number | null;
  last_digest_error: string | null;
}

const n = (v: number | null): number | null => (v === null ? null : Number(v));

function fromRow(r: TrailRow): TrailRecord {
  return {
    name: r.name,
    arn: r.arn,
    bucket: r.bucket,
    prefix: r.prefix,
    includeGlobal: !!r.include_global,
    multiRegion: !!r.multi_region,
    validation: !!r.validation,
    eventSelectors: r.event_selectors ? (JSON.parse(r.event_selectors) as EventSelector[]) : null,
    createdAt: Number(r.created_at),
    isLogging: !!r.is_logging,
    startLoggingAt: n(r.start_logging_at),
    stopLoggingAt: n(r.stop_logging_at),
    stopSeq: n(r.stop_seq),
    cursorSeq: Number(r.cursor_seq),
    pendingLogs: JSON.parse(r.pending_logs) as DeliveredLog[],
    lastDeliveryAt: n(r.last_delivery_at),
    lastAttemptAt: n(r.last_attempt_at),
    lastDeliveryError: r.last_delivery_error,
    chainStart: n(r.chain_start),
    digest:
      r.digest_key && r.digest_bucket && r.digest_hash && r.digest_signature && r.digest_end !== null
        ? { bucket: r.digest_bucket, key: r.digest_key, hash: r.digest_hash, signature: r.digest_signature, end: Number(r.digest_end) }
        : null,
    lastDigestAt: n(r.last_digest_at),
    lastDigestError: r.last_digest_error,
  };
}

export function trailArn(region: string, accountId: string, name: string): string {
  return `arn:aws:cloudtrail:${region}:${accountId}:trail/${name}`;
}

/** A trail named by its name or its ARN. */
export async function findTrail(q: Queryable, nameOrArn: string): Promise<TrailRecord | undefined> {
  const row = nameOrArn.startsWith('arn:')
    ? await q.get<TrailRow>('SELECT * FROM ct_trails WHERE arn = ?', [nameOrArn])
    : await q.get<TrailRow>('SELECT * FROM ct_trails WHERE name = ?', [nameOrArn]);
  return row ? fromRow(row) : undefined;
}

export async function getTrail(q: Queryable, nameOrArn: string): Promise<TrailRecord> {
  const t = await findTrail(q, nameOrArn);
  if (!t) throw new TrailNotFoundException(nameOrArn);
  return t;
}

export async function listTrails(q: Queryable): Promise<TrailRecord[]> {
  return (await q.all<TrailRow>('SELECT * FROM ct_trails ORDER BY name')).map(fromRow);
}

export const DEFAULT_SELECTORS: EventSelector[] = [{ ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [], ExcludeManagementEventSources: [] }];

/** Services whose events are "global service events" (IncludeGlobalServiceEvents). */
const GLOBAL_SOURCES = new Set(['iam.amazonaws.com', 'sts.amazonaws.com']);

/** Whether a trail with these settings logs this event. */
export function selects(trail: Pick<TrailRecord, 'eventSelectors' | 'includeGlobal'>, e: TrailEvent): boolean {
  if (!trail.includeGlobal && GLOBAL_SOURCES.has(e.eventSource)) return false;
  for (const s of trail.eventSelectors ?? DEFAULT_SELECTORS) {
    if (s.ReadWriteType === 'ReadOnly' && !e.readOnly) continue;
    if (s.ReadWriteType === 'WriteOnly' && e.readOnly) continue;
    if (e.managementEvent) {
      if (s.IncludeManagementEvents && !s.ExcludeManagementEventSources.includes(e.eventSource)) return true;
      continue;
    }
    const objectArns = (e.resources ?? []).filter((r) => r.type === 'AWS::S3::Object').map((r) => r.ARN);
    for (const d of s.DataResources) {
      if (d.Type !== 'AWS::S3::Object') continue;
      if (d.Values.some((v) => v === 'arn:aws:s3' || v === 'arn:aws:s3:::' || objectArns.some((arn) => arn.startsWith(v)))) return true;
    }
  }
  return false;
}

/** Validate PutEventSelectors' EventSelectors (classic selectors; at most 5, S3 object data resources only). */
export function parseSelectors(input: unknown): EventSelector[] {
  if (!Array.isArray(input) || input.length < 1 || input.length > 5) throw new InvalidEventSelectorsException('EventSelectors must hold 1 to 5 selectors.');
  return input.map((raw) => {
    const s = (raw ?? {}) as Record<string, unknown>;
    const rw = s['ReadWriteType'] ?? 'All';
    if (rw !== 'ReadOnly' && rw !== 'WriteOnly' && rw !== 'All') throw new InvalidEventSelectorsException('ReadWriteType must be ReadOnly, WriteOnly or All.');
    const include = s['IncludeManagementEvents'] ?? true;
    if (typeof include !== 'boolean') throw new InvalidEventSelectorsException('IncludeManagementEvents must be a boolean.');
    const exclude = s['ExcludeManagementEventSources'] ?? [];
    if (!Array.isArray(exclude) || exclude.some((x) => typeof x !== 'string')) throw new InvalidEventSelectorsException('ExcludeManagementEventSources must be a list of event sources.');
    const data = s['DataResources'] ?? [];
    if (!Array.isArray(data) || data.length > 250) throw new InvalidEventSelectorsException('DataResources must be a list of at most 250 resources.');
    const resources = data.map((d) => {
      const r = (d ?? {}) as Record<string, unknown>;
      if (r['Type'] !== 'AWS::S3::Object') throw new InvalidEventSelectorsException(`DataResources Type ${String(r['Type'])} is not supported: Trent logs data events for AWS::S3::Object.`);
      const values = r['Values'] ?? [];
      if (!Array.isArray(values) || values.some((v) => typeof v !== 'string' || !v.startsWith('arn:aws:s3'))) {
        throw new InvalidEventSelectorsException('DataResources Values must be S3 ARNs (arn:aws:s3:::bucket/prefix, or arn:aws:s3 for all buckets).');
      }
      return { Type: 'AWS::S3::Object', Values: values as string[] };
    });
    return { ReadWriteType: rw, IncludeManagementEvents: include, DataResources: resources, ExcludeManagementEventSources: exclude as string[] };
  });
}
