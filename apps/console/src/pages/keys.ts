// Keys: every KMS key with its state, spec, rotation, aliases and deletion date; create, enable/disable, rotate,
// schedule or cancel deletion, edit the key policy; and, per key, a chart of its use from the audit trail.
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  PutKeyPolicyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  VerifyCommand,
  type AliasListEntry,
  type KeyMetadata,
  type KeySpec,
  type KeyUsageType,
} from '@aws-sdk/client-kms';
import { stackedBars } from '../chart.ts';
import { caller, lookup } from '../events.ts';
import { client, clientConfig } from '../session.ts';
import { badge, button, dialog, field, h, link, note, pool, replace, section, select, table, time, type Child } from '../ui.ts';
import { policyEditor } from '../policy-editor.ts';

const kms = () => client('kms', () => new KMSClient(clientConfig()));

async function allKeys(): Promise<string[]> {
  const ids: string[] = [];
  let marker: string | undefined;
  do {
    const out = await kms().send(new ListKeysCommand({ Limit: 1000, ...(marker ? { Marker: marker } : {}) }));
    for (const k of out.Keys ?? []) ids.push(k.KeyId!);
    marker = out.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return ids;
}

async function allAliases(keyId?: string): Promise<AliasListEntry[]> {
  const out: AliasListEntry[] = [];
  let marker: string | undefined;
  do {
    const page = await kms().send(new ListAliasesCommand({ Limit: 100, ...(keyId ? { KeyId: keyId } : {}), ...(marker ? { Marker: marker } : {}) }));
    out.push(...(page.Aliases ?? []));
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return out;
}

function stateBadge(state: string | undefined): HTMLElement {
  return badge(state ?? 'unknown', state === 'Enabled' ? 'ok' : state === 'PendingDeletion' || state === 'Unavailable' ? 'bad' : 'warn');
}

/** Rotation applies to symmetric encryption keys with KMS-made material (AWS's rule). */
function rotatable(m: KeyMetadata): boolean {
  return m.KeyManager === 'CUSTOMER' && m.KeySpec === 'SYMMETRIC_DEFAULT' && m.Origin === 'AWS_KMS' && m.KeyState !== 'PendingDeletion';
}

async function rotationText(m: KeyMetadata): Promise<Child> {
  if (m.KeyManager === 'AWS') return 'yearly (AWS managed)';
  if (!rotatable(m)) return '—';
  try {
    const r = await kms().send(new GetKeyRotationStatusCommand({ KeyId: m.KeyId! }));
    return r.KeyRotationEnabled ? `every ${r.RotationPeriodInDays ?? 365} days${r.NextRotationDate ? `, next ${time(r.NextRotationDate).slice(0, 10)}` : ''}` : 'off';
  } catch {
    return '—';
  }
}

const CREATE_CHOICES: Array<[string, string]> = [
  ['SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT', 'Symmetric (AES-256-GCM) · encrypt and decrypt'],
  ['RSA_2048/ENCRYPT_DECRYPT', 'RSA 2048 · encrypt and decrypt'],
  ['RSA_3072/SIGN_VERIFY', 'RSA 3072 · sign and verify'],
  ['ECC_NIST_P256/SIGN_VERIFY', 'ECC NIST P-256 · sign and verify'],
  ['ECC_NIST_P384/SIGN_VERIFY', 'ECC NIST P-384 · sign and verify'],
  ['ECC_NIST_P256/KEY_AGREEMENT', 'ECC NIST P-256 · key agreement'],
  ['HMAC_256/GENERATE_VERIFY_MAC', 'HMAC 256 · generate and verify MACs'],
  ['ML_DSA_65/SIGN_VERIFY', 'ML-DSA-65 · sign and verify'],
];

async function createKey(): Promise<void> {
  const description = h('input', { name: 'description', placeholder: 'what the key is for' });
  const kind = select(CREATE_CHOICES, 'SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT', { name: 'kind' });
  const alias = h('input', { name: 'alias', placeholder: 'my-app (optional)' });
  const created = await dialog(
    'Create a key',
    [field('Description', description), field('Kind', kind), field('Alias', alias, 'Without the alias/ prefix.')],
    {
      label: 'Create key',
      run: async () => {
        const [spec, usage] = kind.value.split('/') as [KeySpec, KeyUsageType];
        const out = await kms().send(new CreateKeyCommand({ Description: description.value, KeySpec: spec, KeyUsage: usage }));
        const id = out.KeyMetadata!.KeyId!;
        if (alias.value.trim()) await kms().send(new CreateAliasCommand({ AliasName: `alias/${alias.value.trim().replace(/^alias\//, '')}`, TargetKeyId: id }));
        return id;
      },
    },
  );
  if (created) location.hash = `#/keys/${encodeURIComponent(created)}`;
}

function renderList(root: HTMLElement): void {
  replace(
    root,
    section(
      'Keys',
      async () => {
        // Both lists at once; when both are refused, the page says why the key list was (not whichever refusal came first).
        const [keys, aliasList] = await Promise.allSettled([allKeys(), allAliases()]);
        if (keys.status === 'rejected') throw keys.reason;
        if (aliasList.status === 'rejected') throw aliasList.reason;
        const [ids, aliases] = [keys.value, aliasList.value];
        const metas = await pool(ids, 8, async (id) => (await kms().send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!);
        const rows = await pool(metas, 8, async (m) => ({ m, rotation: await rotationText(m), aliases: aliases.filter((a) => a.TargetKeyId === m.KeyId).map((a) => a.AliasName!) }));
        // Customer keys first, newest first; AWS managed keys after them.
        rows.sort((a, b) => (a.m.KeyManager === b.m.KeyManager ? (b.m.CreationDate?.getTime() ?? 0) - (a.m.CreationDate?.getTime() ?? 0) : a.m.KeyManager === 'CUSTOMER' ? -1 : 1));
        return table(
          [
            { title: 'Aliases', cell: (r) => (r.aliases.length ? r.aliases.join(', ') : '—') },
            { title: 'Key', cell: (r) => link(`#/keys/${encodeURIComponent(r.m.KeyId!)}`, r.m.KeyId!, { class: 'mono' }), class: 'nowrap' },
            { title: 'Description', cell: (r) => r.m.Description || '—' },
            { title: 'State', cell: (r) => stateBadge(r.m.KeyState) },
            { title: 'Spec', cell: (r) => r.m.KeySpec ?? '—' },
            { title: 'Usage', cell: (r) => r.m.KeyUsage ?? '—' },
            { title: 'Rotation', cell: (r) => r.rotation },
            { title: 'Deletion', cell: (r) => (r.m.DeletionDate ? `pending, ${time(r.m.DeletionDate)}` : '—') },
            { title: 'Manager', cell: (r) => r.m.KeyManager ?? '—' },
            { title: 'Created', cell: (r) => time(r.m.CreationDate).slice(0, 10), class: 'nowrap' },
          ],
          rows,
          { empty: 'No keys yet.', rowProps: (r) => ({ 'data-key-id': r.m.KeyId! }) },
        );
      },
      { id: 'keys', actions: button('Create key', createKey, { class: 'primary', id: 'create-key' }) },
    ),
  );
}

function detailSection(keyId: string): HTMLElement {
  return section(
    'Key',
    async (_body, reload) => {
      const m = (await kms().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      const aliases = (await allAliases(m.KeyId)).map((a) => a.AliasName!);
      const rotation = await rotationText(m);
      const out = h('div', { class: 'action-status' });
      const act = (label: string, run: () => Promise<unknown>, props: Record<string, string> = {}) =>
        button(
          label,
          async () => {
            await run();
            reload();
          },
          props,
          out,
        );
      const customer = m.KeyManager === 'CUSTOMER';
      const actions: Child[] = [];
      if (customer && m.KeyState === 'Enabled') actions.push(act('Disable', () => kms().send(new DisableKeyCommand({ KeyId: m.KeyId! })), { id: 'disable-key' }));
      if (customer && m.KeyState === 'Disabled') actions.push(act('Enable', () => kms().send(new EnableKeyCommand({ KeyId: m.KeyId! })), { id: 'enable-key' }));
      if (rotatable(m)) {
        actions.push(
          rotation === 'off'
            ? button(
                'Turn on rotation',
                async () => {
                  const days = h('input', { type: 'number', min: '90', max: '2560', value: '365', name: 'period' });
                  const done = await dialog('Automatic rotation', field('Rotate every (days)', days, '90 to 2560 days, as AWS KMS allows.'), {
                    label: 'Turn on',
                    run: async () => {
                      await kms().send(new EnableKeyRotationCommand({ KeyId: m.KeyId!, RotationPeriodInDays: Number(days.value) }));
                      return true;
                    },
                  });
                  if (done) reload();
                },
                { id: 'enable-rotation' },
                out,
              )
            : act('Turn off rotation', () => kms().send(new DisableKeyRotationCommand({ KeyId: m.KeyId! })), { id: 'disable-rotation' }),
        );
        if (m.KeyState === 'Enabled') actions.push(act('Rotate now', () => kms().send(new RotateKeyOnDemandCommand({ KeyId: m.KeyId! })), { id: 'rotate-now' }));
      }
      if (customer && m.KeyState === 'PendingDeletion') actions.push(act('Cancel deletion', () => kms().send(new CancelKeyDeletionCommand({ KeyId: m.KeyId! })), { id: 'cancel-deletion' }));
      else if (customer) {
        actions.push(
          button(
            'Schedule deletion',
            async () => {
              const days = h('input', { type: 'number', min: '7', max: '30', value: '30', name: 'window' });
              const done = await dialog(
                'Schedule key deletion',
                [note('Everything encrypted under this key becomes unreadable once it is deleted. Until then the deletion can be cancelled.', 'warn'), field('Waiting period (days)', days, '7 to 30 days.')],
                {
                  label: 'Schedule deletion',
                  danger: true,
                  run: async () => {
                    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId!, PendingWindowInDays: Number(days.value) }));
                    return true;
                  },
                },
              );
              if (done) reload();
            },
            { class: 'danger', id: 'schedule-deletion' },
            out,
          ),
        );
      }
      return [
        h(
          'dl',
          { class: 'facts' },
          fact('Key ID', h('span', { class: 'mono', id: 'key-id' }, m.KeyId!)),
          fact('ARN', h('span', { class: 'mono' }, m.Arn!)),
          fact('Aliases', aliases.length ? aliases.join(', ') : '—'),
          fact('Description', m.Description || '—'),
          fact('State', stateBadge(m.KeyState)),
          fact('Spec and usage', `${m.KeySpec} · ${m.KeyUsage}`),
          fact('Origin', m.Origin ?? '—'),
          fact('Manager', m.KeyManager ?? '—'),
          fact('Rotation', rotation),
          fact('Created', time(m.CreationDate)),
          m.DeletionDate ? fact('Deletion', `scheduled for ${time(m.DeletionDate)}`) : null,
        ),
        h('div', { class: 'toolbar' }, actions),
        out,
      ];
    },
    { id: 'key-detail' },
  );
}

function fact(name: string, value: Child): Child {
  return [h('dt', null, name), h('dd', null, value)];
}

const WINDOWS: Array<[string, string]> = [
  ['3600000', 'last hour'],
  ['86400000', 'last 24 hours'],
  ['604800000', 'last 7 days'],
];

/** The key's use over time: LookupEvents for the key's ARN, counted per time bucket by operation or by caller. */
function usageSection(keyId: string): HTMLElement {
  const windowSel = select(WINDOWS, '3600000', { name: 'window', id: 'usage-window' });
  const groupSel = select(
    [
      ['operation', 'by operation'],
      ['caller', 'by caller'],
    ],
    'operation',
    { name: 'group', id: 'usage-group' },
  );
  let reloadChart = () => {};
  const el = section(
    'Use over time',
    async (_body, reload) => {
      reloadChart = reload;
      const arn = (await kms().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn!;
      const windowMs = Number(windowSel.value);
      const buckets = windowMs <= 3600_000 ? 60 : windowMs <= 86_400_000 ? 48 : 84;
      const bucketMs = windowMs / buckets;
      const end = new Date();
      const start = new Date(end.getTime() - windowMs);
      const { events, more } = await lookup({ attribute: { key: 'ResourceName', value: arn }, start, end, limit: 1000 });
      const byGroup = new Map<string, number[]>();
      const perCaller = new Map<string, { caller: string; operation: string; count: number; last: Date }>();
      for (const e of events) {
        const i = Math.min(buckets - 1, Math.floor((e.eventTime.getTime() - start.getTime()) / bucketMs));
        if (i < 0) continue;
        const who = caller(e);
        const name = groupSel.value === 'caller' ? who : e.eventName;
        const counts = byGroup.get(name) ?? new Array<number>(buckets).fill(0);
        counts[i]!++;
        byGroup.set(name, counts);
        const k = `${who}\n${e.eventName}`;
        const c = perCaller.get(k) ?? { caller: who, operation: e.eventName, count: 0, last: e.eventTime };
        c.count++;
        if (e.eventTime > c.last) c.last = e.eventTime;
        perCaller.set(k, c);
      }
      const starts = Array.from({ length: buckets }, (_, i) => new Date(start.getTime() + i * bucketMs));
      const series = [...byGroup.entries()].sort((a, b) => b[1].reduce((x, y) => x + y, 0) - a[1].reduce((x, y) => x + y, 0)).map(([name, counts]) => ({ name, counts }));
      return [
        h('p', { class: 'muted', id: 'usage-count' }, `${events.length} call${events.length === 1 ? '' : 's'} naming this key in the ${WINDOWS.find((w) => w[0] === windowSel.value)![1]}${more ? ' (the most recent 1000 shown)' : ''}.`),
        stackedBars(starts, bucketMs, series, `Use of ${keyId}`),
        table(
          [
            { title: 'Caller', cell: (r) => h('span', { class: 'mono' }, r.caller) },
            { title: 'Operation', cell: (r) => r.operation },
            { title: 'Calls', cell: (r) => String(r.count), class: 'num' },
            { title: 'Last', cell: (r) => time(r.last) },
          ],
          [...perCaller.values()].sort((a, b) => b.count - a.count),
          { empty: 'No use in this window.' },
        ),
      ];
    },
    { id: 'key-usage', actions: [windowSel, groupSel, h('button', { type: 'button', id: 'usage-refresh', onclick: () => reloadChart() }, 'Refresh')] },
  );
  windowSel.addEventListener('change', () => reloadChart());
  groupSel.addEventListener('change', () => reloadChart());
  return el;
}

const b64 = (u: Uint8Array) => {
  let s = '';
  for (const c of u) s += String.fromCharCode(c);
  return btoa(s);
};
const unb64 = (s: string) => Uint8Array.from(atob(s.trim()), (c) => c.charCodeAt(0));

/** Encrypt and decrypt (or sign and verify) with the key, through the page: ordinary, audited KMS calls. */
function trySection(keyId: string): HTMLElement {
  return section(
    'Use the key',
    async () => {
      const m = (await kms().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      const input = h('textarea', { id: 'try-input', rows: '3', placeholder: 'text' });
      const output = h('textarea', { id: 'try-output', rows: '4', readonly: true, class: 'mono' });
      const status = h('div', { id: 'try-status' });
      const ok = (text: string) => replace(status, note(text, 'ok'));
      if (m.KeyUsage === 'ENCRYPT_DECRYPT') {
        const algorithm = m.KeySpec === 'SYMMETRIC_DEFAULT' ? undefined : 'RSAES_OAEP_SHA_256';
        return [
          field('Plaintext', input),
          h(
            'div',
            { class: 'toolbar' },
            button(
              'Encrypt',
              async () => {
                const out = await kms().send(new EncryptCommand({ KeyId: m.KeyId!, Plaintext: new TextEncoder().encode(input.value), ...(algorithm ? { EncryptionAlgorithm: algorithm } : {}) }));
                output.value = b64(out.CiphertextBlob!);
                ok(`Encrypted under ${out.KeyId} (${out.EncryptionAlgorithm}).`);
              },
              { id: 'encrypt', class: 'primary' },
              status,
            ),
            button(
              'Decrypt',
              async () => {
                const out = await kms().send(new DecryptCommand({ KeyId: m.KeyId!, CiphertextBlob: unb64(output.value), ...(algorithm ? { EncryptionAlgorithm: algorithm } : {}) }));
                input.value = new TextDecoder().decode(out.Plaintext!);
                ok('Decrypted.');
              },
              { id: 'decrypt' },
              status,
            ),
          ),
          field('Ciphertext (base64)', output),
          status,
        ];
      }
      if (m.KeyUsage === 'SIGN_VERIFY') {
        const algorithm = m.SigningAlgorithms?.[0];
        return [
          field('Message', input),
          h(
            'div',
            { class: 'toolbar' },
            button(
              'Sign',
              async () => {
                const out = await kms().send(new SignCommand({ KeyId: m.KeyId!, Message: new TextEncoder().encode(input.value), MessageType: 'RAW', SigningAlgorithm: algorithm }));
                output.value = b64(out.Signature!);
                ok(`Signed with ${out.SigningAlgorithm}.`);
              },
              { id: 'sign', class: 'primary' },
              status,
            ),
            button(
              'Verify',
              async () => {
                const out = await kms().send(new VerifyCommand({ KeyId: m.KeyId!, Message: new TextEncoder().encode(input.value), MessageType: 'RAW', SigningAlgorithm: algorithm, Signature: unb64(output.value) }));
                ok(out.SignatureValid ? 'The signature is valid.' : 'The signature is not valid.');
              },
              { id: 'verify' },
              status,
            ),
          ),
          field('Signature (base64)', output),
          status,
        ];
      }
      return note(`Keys for ${m.KeyUsage} are used through the API.`);
    },
    { id: 'key-try' },
  );
}

function policySection(keyId: string): HTMLElement {
  return section(
    'Key policy',
    async () => {
      const out = await kms().send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }));
      return policyEditor(out.Policy ?? '{}', async (text) => {
        await kms().send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: text }));
      });
    },
    { id: 'key-policy' },
  );
}

export function render(root: HTMLElement, path: string[]): void {
  const keyId = path[0];
  if (!keyId) return renderList(root);
  replace(root, h('p', { class: 'crumbs' }, link('#/keys', 'Keys'), ' / ', h('span', { class: 'mono' }, keyId)), detailSection(keyId), usageSection(keyId), trySection(keyId), policySection(keyId));
}

