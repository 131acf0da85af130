// Secrets and parameters: names, versions and staging labels, rotation schedules and how the last rotation ended.
// A value is fetched only when someone asks to see it, and that reveal is an ordinary GetSecretValue (or
// GetParameter with decryption): it is in the trail under the caller's name like any other read.
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  ListSecretsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  type SecretListEntry,
} from '@aws-sdk/client-secrets-manager';
import { DescribeParametersCommand, GetParameterCommand, SSMClient, type ParameterMetadata } from '@aws-sdk/client-ssm';
import { lookup } from '../events.ts';
import { client, clientConfig } from '../session.ts';
import { badge, button, dialog, h, note, pool, replace, section, table, time, type Child } from '../ui.ts';

const sm = () => client('secretsmanager', () => new SecretsManagerClient(clientConfig()));
const ssm = () => client('ssm', () => new SSMClient(clientConfig()));

async function allSecrets(): Promise<SecretListEntry[]> {
  const out: SecretListEntry[] = [];
  let token: string | undefined;
  do {
    const page = await sm().send(new ListSecretsCommand({ MaxResults: 100, ...(token ? { NextToken: token } : {}) }));
    out.push(...(page.SecretList ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

function schedule(s: SecretListEntry): string {
  if (!s.RotationEnabled) return s.RotationLambdaARN ? 'off' : 'not set up';
  const r = s.RotationRules;
  return r?.ScheduleExpression ?? (r?.AutomaticallyAfterDays ? `every ${r.AutomaticallyAfterDays} days` : 'on');
}

/** How the last rotation ended: an AWSPENDING version left behind means one did not finish. */
async function lastRotation(s: SecretListEntry): Promise<Child> {
  if (!s.RotationLambdaARN && !s.LastRotatedDate) return '—';
  const versions = await sm().send(new ListSecretVersionIdsCommand({ SecretId: s.ARN! }));
  const pending = (versions.Versions ?? []).find((v) => v.VersionStages?.includes('AWSPENDING') && !v.VersionStages.includes('AWSCURRENT'));
  if (pending) return badge(`did not finish (AWSPENDING ${pending.VersionId!.slice(0, 8)}…)`, 'bad');
  return s.LastRotatedDate ? badge(`succeeded ${time(s.LastRotatedDate)}`, 'ok') : '—';
}

/** The value, fetched on this click only (a GetSecretValue, recorded in the trail), and hidden again on request. */
function revealer(fetchValue: () => Promise<string>, id: string): HTMLElement {
  const holder = h('div', { class: 'reveal', 'data-reveal': id });
  const hide = () =>
    replace(
      holder,
      button(
        'Reveal value',
        async () => {
          const value = await fetchValue();
          replace(holder, h('pre', { class: 'secret-value' }, value), h('button', { type: 'button', onclick: hide, class: 'hide' }, 'Hide'));
        },
        { class: 'reveal-button' },
        holder,
      ),
    );
  hide();
  return holder;
}

function secretsSection(): HTMLElement {
  return section(
    'Secrets',
    async (_body, reload) => {
      const secrets = await allSecrets();
      const rows = await pool(secrets, 4, async (s) => ({ s, last: await lastRotation(s).catch(() => '—' as Child) }));
      const status = h('div', { class: 'action-status' });
      return [
        table(
          [
            { title: 'Name', cell: (r) => r.s.Name! },
            { title: 'Description', cell: (r) => r.s.Description || '—' },
            {
              title: 'Versions and labels',
              cell: (r) =>
                h(
                  'ul',
                  { class: 'plain' },
                  Object.entries(r.s.SecretVersionsToStages ?? {}).map(([v, labels]) => h('li', null, h('span', { class: 'mono' }, `${v.slice(0, 8)}…`), ' ', labels.map((l) => badge(l, l === 'AWSCURRENT' ? 'ok' : 'muted')))),
                ),
            },
            { title: 'Rotation', cell: (r) => schedule(r.s) },
            { title: 'Next rotation', cell: (r) => (r.s.NextRotationDate ? time(r.s.NextRotationDate) : '—') },
            { title: 'Last rotation', cell: (r) => r.last },
            { title: 'KMS key', cell: (r) => h('span', { class: 'mono small' }, r.s.KmsKeyId ?? 'aws/secretsmanager') },
            {
              title: 'Value',
              cell: (r) => [
                revealer(async () => {
                  const v = await sm().send(new GetSecretValueCommand({ SecretId: r.s.ARN! }));
                  return v.SecretString ?? `(binary, ${v.SecretBinary?.length ?? 0} bytes)`;
                }, r.s.Name!),
                r.s.RotationEnabled
                  ? button(
                      'Rotate now',
                      async () => {
                        await sm().send(new RotateSecretCommand({ SecretId: r.s.ARN! }));
                        reload();
                      },
                      {},
                      status,
                    )
                  : null,
                button('History', () => revealHistory(r.s), {}, status),
              ],
            },
          ],
          rows,
          { empty: 'No secrets yet.', rowProps: (r) => ({ 'data-secret': r.s.Name! }) },
        ),
        status,
      ];
    },
    { id: 'secrets' },
  );
}

/** Who read the secret's value, from the trail. */
async function revealHistory(s: SecretListEntry): Promise<void> {
  const { events } = await lookup({ attribute: { key: 'ResourceName', value: s.ARN! }, limit: 200 });
  const reads = events.filter((e) => e.eventName === 'GetSecretValue');
  await dialog(
    `Reads of ${s.Name}`,
    table(
      [
        { title: 'Time', cell: (e) => time(e.eventTime) },
        { title: 'Caller', cell: (e) => h('span', { class: 'mono' }, e.record.userIdentity?.arn ?? '—') },
        { title: 'From', cell: (e) => e.record.sourceIPAddress ?? '—' },
        { title: 'Outcome', cell: (e) => (e.record.errorCode ? badge(e.record.errorCode, 'bad') : badge('read', 'ok')) },
      ],
      reads,
      { empty: 'Nobody has read it in the trail’s lookup window.' },
    ),
  );
}

async function allParameters(): Promise<ParameterMetadata[]> {
  const out: ParameterMetadata[] = [];
  let token: string | undefined;
  do {
    const page = await ssm().send(new DescribeParametersCommand({ MaxResults: 50, ...(token ? { NextToken: token } : {}) }));
    out.push(...(page.Parameters ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

function parametersSection(): HTMLElement {
  return section(
    'Parameters',
    async () => {
      const params = await allParameters();
      return table(
        [
          { title: 'Name', cell: (p) => p.Name! },
          { title: 'Type', cell: (p) => badge(p.Type ?? '—', p.Type === 'SecureString' ? 'ok' : 'muted') },
          { title: 'Version', cell: (p) => String(p.Version ?? '—'), class: 'num' },
          { title: 'Labels / tier', cell: (p) => p.Tier ?? '—' },
          { title: 'KMS key', cell: (p) => (p.Type === 'SecureString' ? h('span', { class: 'mono small' }, p.KeyId ?? 'alias/aws/ssm') : '—') },
          { title: 'Modified', cell: (p) => time(p.LastModifiedDate) },
          {
            title: 'Value',
            cell: (p) =>
              revealer(async () => {
                const v = await ssm().send(new GetParameterCommand({ Name: p.Name!, WithDecryption: true }));
                return v.Parameter?.Value ?? '';
              }, p.Name!),
          },
        ],
        params,
        { empty: 'No parameters yet.', rowProps: (p) => ({ 'data-parameter': p.Name! }) },
      );
    },
    { id: 'parameters' },
  );
}

export function render(root: HTMLElement): void {
  replace(root, note('Values are not loaded with the page: each “Reveal value” is one GetSecretValue (or GetParameter) call, recorded in the audit trail under your name.'), secretsSection(), parametersSection());
}

