// The audit trail: search (LookupEvents by attribute and time range), each event's full record, the trails with
// their delivery status, and their integrity, validated here in the browser from the trail's own files.
import { DescribeTrailsCommand, GetTrailStatusCommand, StartLoggingCommand, StopLoggingCommand, type LookupAttributeKey, type Trail } from '@aws-sdk/client-cloudtrail';
import { S3Client } from '@aws-sdk/client-s3';
import { caller, lookup, trail, type TrailRecord } from '../events.ts';
import { client, clientConfig, current } from '../session.ts';
import { validateTrail } from '../trail-validate.ts';
import { badge, button, dialog, errorBox, field, h, note, pool, pre, replace, section, select, table, time, type Child } from '../ui.ts';

const s3 = () => client('s3', () => new S3Client({ ...clientConfig(), forcePathStyle: true }));

const ATTRIBUTES: Array<[string, string]> = [
  ['', 'any event'],
  ['EventName', 'Event name'],
  ['EventSource', 'Event source'],
  ['Username', 'User name'],
  ['AccessKeyId', 'Access key ID'],
  ['ResourceName', 'Resource name (ARN)'],
  ['ResourceType', 'Resource type'],
  ['ReadOnly', 'Read only (true/false)'],
  ['EventId', 'Event ID'],
];

/** A datetime-local input's value (local time, to the minute). */
function localInput(d: Date): string {
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

function eventDetail(e: TrailRecord): Promise<unknown> {
  return dialog(`${e.eventName} · ${time(e.eventTime)}`, h('div', { id: 'event-detail' }, pre(e.raw, { class: 'event-json' })));
}

function searchSection(query: URLSearchParams): HTMLElement {
  const key = select(ATTRIBUTES, query.get('key') ?? '', { name: 'attribute', id: 'search-key' });
  const value = h('input', { name: 'value', id: 'search-value', value: query.get('value') ?? '', placeholder: 'value' });
  const start = h('input', { type: 'datetime-local', id: 'search-start', value: localInput(new Date(Date.now() - 24 * 3600_000)) });
  const end = h('input', { type: 'datetime-local', id: 'search-end', value: localInput(new Date(Date.now() + 60_000)) });
  const results = h('div', { id: 'search-results' });
  let token: string | undefined;
  let shown: TrailRecord[] = [];
  const draw = (more: boolean) => {
    replace(
      results,
      table(
        [
          { title: 'Time', cell: (e) => time(e.eventTime), class: 'nowrap' },
          { title: 'Event', cell: (e) => h('button', { type: 'button', class: 'linkish', onclick: () => void eventDetail(e) }, e.eventName) },
          { title: 'Source', cell: (e) => e.eventSource },
          { title: 'Caller', cell: (e) => h('span', { class: 'mono' }, caller(e)) },
          { title: 'Resources', cell: (e) => e.resources.map((r) => r.name).join(', ') || '—' },
          { title: 'Outcome', cell: (e) => (e.record.errorCode ? badge(e.record.errorCode, 'bad') : badge('ok', 'ok')) },
        ],
        shown,
        { empty: 'No events match.', rowProps: (e) => ({ 'data-event-name': e.eventName, 'data-event-id': e.eventId }) },
      ),
      more ? h('button', { type: 'button', id: 'search-more', onclick: () => void run(false) }, 'More') : null,
    );
  };
  const run = async (fresh: boolean) => {
    if (fresh) {
      token = undefined;
      shown = [];
    }
    replace(results, ...(shown.length ? [] : [h('p', { class: 'loading' }, 'Searching…')]));
    try {
      const out = await lookup({
        ...(key.value && value.value ? { attribute: { key: key.value as LookupAttributeKey, value: value.value } } : {}),
        ...(start.value ? { start: new Date(start.value) } : {}),
        ...(end.value ? { end: new Date(end.value) } : {}),
        limit: 50,
        ...(token ? { nextToken: token } : {}),
      });
      shown = [...shown, ...out.events];
      token = out.more;
      draw(Boolean(out.more));
    } catch (err) {
      replace(results, errorBox(err));
    }
  };
  const form = h(
    'form',
    { class: 'search', id: 'search-form' },
    field('Attribute', key),
    field('Value', value),
    field('From', start),
    field('To', end),
    h('button', { type: 'submit', class: 'primary', id: 'search' }, 'Search'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void run(true);
  });
  void run(true);
  return h('section', { class: 'panel', id: 'trail-search' }, h('header', null, h('h2', null, 'Events')), h('div', { class: 'section-body' }, form, results));
}

async function trailsWithStatus(): Promise<Array<{ t: Trail; status: Awaited<ReturnType<typeof getStatus>> | undefined; error?: unknown }>> {
  const trails = (await trail().send(new DescribeTrailsCommand({}))).trailList ?? [];
  return pool(trails, 4, async (t) => {
    try {
      return { t, status: await getStatus(t.Name!) };
    } catch (error) {
      return { t, status: undefined, error };
    }
  });
}
const getStatus = (name: string) => trail().send(new GetTrailStatusCommand({ Name: name }));

function trailsSection(): HTMLElement {
  return section(
    'Trails and delivery',
    async (_body, reload) => {
      const rows = await trailsWithStatus();
      const out = h('div', { class: 'action-status' });
      return [
        table(
          [
            { title: 'Trail', cell: (r) => r.t.Name! },
            { title: 'Bucket', cell: (r) => `s3://${r.t.S3BucketName}/${r.t.S3KeyPrefix ?? ''}` },
            { title: 'Logging', cell: (r) => (r.status ? badge(r.status.IsLogging ? 'on' : 'off', r.status.IsLogging ? 'ok' : 'warn') : r.error ? errorBox(r.error) : '—') },
            { title: 'Validation', cell: (r) => badge(r.t.LogFileValidationEnabled ? 'on' : 'off', r.t.LogFileValidationEnabled ? 'ok' : 'warn') },
            { title: 'Last delivery', cell: (r) => (r.status?.LatestDeliveryTime ? time(r.status.LatestDeliveryTime) : '—') },
            { title: 'Delivery error', cell: (r) => (r.status?.LatestDeliveryError ? badge(r.status.LatestDeliveryError, 'bad') : '—') },
            { title: 'Last digest', cell: (r) => (r.status?.LatestDigestDeliveryTime ? time(r.status.LatestDigestDeliveryTime) : '—') },
            { title: 'Digest error', cell: (r) => (r.status?.LatestDigestDeliveryError ? badge(r.status.LatestDigestDeliveryError, 'bad') : '—') },
            {
              title: '',
              cell: (r) =>
                r.status
                  ? button(
                      r.status.IsLogging ? 'Stop logging' : 'Start logging',
                      async () => {
                        await trail().send(r.status!.IsLogging ? new StopLoggingCommand({ Name: r.t.Name! }) : new StartLoggingCommand({ Name: r.t.Name! }));
                        reload();
                      },
                      {},
                      out,
                    )
                  : null,
            },
          ],
          rows,
          { empty: 'No trails: events are kept and searchable here, but none are delivered to a bucket.', rowProps: (r) => ({ 'data-trail': r.t.Name! }) },
        ),
        out,
      ];
    },
    { id: 'trails' },
  );
}

function integritySection(): HTMLElement {
  return section(
    'Integrity',
    async () => {
      const rows = (await trailsWithStatus()).filter((r) => r.t.LogFileValidationEnabled);
      if (rows.length === 0) return note('No trail has log file validation on: there are no signed digests to check.', 'warn');
      const which = select(
        rows.map((r) => [r.t.Name!, r.t.Name!]),
        rows[0]!.t.Name!,
        { id: 'validate-trail' },
      );
      const start = h('input', { type: 'datetime-local', id: 'validate-start', value: localInput(new Date(Date.now() - 24 * 3600_000)) });
      const end = h('input', { type: 'datetime-local', id: 'validate-end', value: localInput(new Date(Date.now() + 60_000)) });
      const out = h('div', { id: 'validation' });
      const run = async () => {
        const s = current()!;
        const row = rows.find((r) => r.t.Name === which.value)!;
        const progress = h('p', { class: 'loading' }, 'Validating…');
        replace(out, progress);
        const status = await getStatus(row.t.Name!).catch(() => row.status);
        const result = await validateTrail({
          s3: s3(),
          cloudtrail: trail(),
          trail: row.t,
          ...(status ? { status } : {}),
          accountId: s.accountId,
          region: s.region,
          start: new Date(start.value),
          end: new Date(end.value),
          progress: (n) => (progress.textContent = `Validating… ${n} files checked`),
        });
        const ok = result.invalidDigests === 0 && result.invalidLogs === 0 && result.warnings.length === 0;
        replace(
          out,
          h(
            'div',
            { class: `summary ${ok ? 'ok' : 'bad'}`, id: 'validation-summary' },
            h('strong', null, ok ? (result.validDigests ? 'Valid' : 'Nothing to check') : 'Problems found'),
            ` · ${result.validDigests} digest files valid, ${result.invalidDigests} invalid · ${result.validLogs} log files valid, ${result.invalidLogs} invalid`,
          ),
          result.warnings.map((w) => note(w, 'warn')),
          table(
            [
              { title: 'File', cell: (f) => f.kind },
              { title: 'Object', cell: (f) => h('span', { class: 'mono' }, f.uri) },
              { title: 'Result', cell: (f) => (f.status === 'valid' ? badge('valid', 'ok') : badge(`INVALID: ${f.status}`, 'bad')) },
            ],
            // What failed first, then what held.
            [...result.files.filter((f) => f.status !== 'valid'), ...result.files.filter((f) => f.status === 'valid')],
            { empty: 'No digest files in this period yet (a digest is written every hour, or as often as the server is set to).', rowProps: (f) => ({ 'data-status': f.status === 'valid' ? 'valid' : 'invalid' }) },
          ),
        );
      };
      return [
        h('p', { class: 'muted' }, 'Reads the trail’s digest and log files through S3 and checks every signature and hash in this browser, with the public keys CloudTrail lists (ListPublicKeys): the same checks as aws cloudtrail validate-logs.'),
        h('div', { class: 'search' }, field('Trail', which), field('From', start), field('To', end), button('Validate', run, { class: 'primary', id: 'validate' }, out)),
        out,
      ];
    },
    { id: 'integrity' },
  );
}

export function render(root: HTMLElement, _path: string[], query: URLSearchParams): void {
  const parts: Child[] = [searchSection(query), trailsSection(), integritySection()];
  replace(root, parts);
}
