// Buckets: each bucket's encryption posture (default SSE mode, KMS key, Bucket Key, and the share of its objects
// under each mode), browsing, upload and download (SSE-C asks for the customer's key, which is never kept), and
// presigned links.
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketEncryptionCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
  type ServerSideEncryption,
  type _Object,
} from '@aws-sdk/client-s3';
import { KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { client, clientConfig } from '../session.ts';
import { badge, button, bytes, dialog, download, errorBox, field, h, link, note, pool, replace, section, select, table, time, type Child } from '../ui.ts';

const s3 = () => client('s3', () => new S3Client({ ...clientConfig(), forcePathStyle: true }));
const kms = () => client('kms', () => new KMSClient(clientConfig()));

type Mode = 'SSE-KMS' | 'SSE-S3' | 'SSE-C' | 'DSSE-KMS' | 'none' | 'unknown';

interface Posture {
  defaultMode: string;
  kmsKey?: string;
  bucketKey?: boolean;
  counts: Map<Mode, number>;
  sampled: number;
  total: number;
  truncated: boolean;
}

/** How many objects are looked at per bucket (one HEAD each): enough for the share, bounded for large buckets. */
const SAMPLE = 200;

async function defaultEncryption(bucket: string): Promise<{ mode: string; kmsKey?: string; bucketKey?: boolean }> {
  try {
    const out = await s3().send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    const rule = out.ServerSideEncryptionConfiguration?.Rules?.[0];
    const d = rule?.ApplyServerSideEncryptionByDefault;
    const mode = d?.SSEAlgorithm === 'aws:kms' ? 'SSE-KMS' : d?.SSEAlgorithm === 'aws:kms:dsse' ? 'DSSE-KMS' : d?.SSEAlgorithm === 'AES256' ? 'SSE-S3' : 'none';
    return { mode, ...(d?.KMSMasterKeyID ? { kmsKey: d.KMSMasterKeyID } : {}), ...(rule?.BucketKeyEnabled !== undefined ? { bucketKey: rule.BucketKeyEnabled } : {}) };
  } catch (err) {
    if ((err as { name?: string }).name === 'ServerSideEncryptionConfigurationNotFoundError') return { mode: 'none' };
    throw err;
  }
}

/** An object's mode, from HEAD: a 400 without the customer's key is what S3 answers for an SSE-C object. */
async function objectMode(bucket: string, key: string): Promise<{ mode: Mode; kmsKey?: string; bucketKey?: boolean }> {
  try {
    const h = await s3().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const mode: Mode = h.SSECustomerAlgorithm ? 'SSE-C' : h.ServerSideEncryption === 'aws:kms' ? 'SSE-KMS' : h.ServerSideEncryption === 'aws:kms:dsse' ? 'DSSE-KMS' : h.ServerSideEncryption === 'AES256' ? 'SSE-S3' : 'none';
    return { mode, ...(h.SSEKMSKeyId ? { kmsKey: h.SSEKMSKeyId } : {}), ...(h.BucketKeyEnabled !== undefined ? { bucketKey: h.BucketKeyEnabled } : {}) };
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 400) return { mode: 'SSE-C' };
    return { mode: 'unknown' };
  }
}

async function posture(bucket: string): Promise<Posture> {
  const enc = await defaultEncryption(bucket);
  const keys: string[] = [];
  let token: string | undefined;
  let truncated = false;
  do {
    const out = await s3().send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of out.Contents ?? []) keys.push(o.Key!);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
    if (keys.length >= 5000 && token) {
      truncated = true;
      break;
    }
  } while (token);
  const sample = keys.slice(0, SAMPLE);
  const modes = await pool(sample, 8, (k) => objectMode(bucket, k));
  const counts = new Map<Mode, number>();
  for (const m of modes) counts.set(m.mode, (counts.get(m.mode) ?? 0) + 1);
  return { defaultMode: enc.mode, ...(enc.kmsKey ? { kmsKey: enc.kmsKey } : {}), ...(enc.bucketKey !== undefined ? { bucketKey: enc.bucketKey } : {}), counts, sampled: sample.length, total: keys.length, truncated };
}

const MODE_ORDER: Mode[] = ['SSE-KMS', 'DSSE-KMS', 'SSE-S3', 'SSE-C', 'none', 'unknown'];

/** The share of objects per mode: a bar, and the counts in words. */
function shareOf(p: Posture): Child {
  if (p.sampled === 0) return h('span', { class: 'muted' }, 'no objects');
  const bar = h(
    'span',
    { class: 'share', title: 'share of objects by encryption mode' },
    MODE_ORDER.filter((m) => p.counts.get(m)).map((m) => {
      const seg = h('span', { class: `seg mode-${m.toLowerCase()}` });
      seg.style.width = `${(100 * p.counts.get(m)!) / p.sampled}%`;
      return seg;
    }),
  );
  const words = MODE_ORDER.filter((m) => p.counts.get(m))
    .map((m) => `${p.counts.get(m)} ${m}`)
    .join(' · ');
  const of = p.sampled < p.total ? ` (of the first ${p.sampled} of ${p.truncated ? `${p.total}+` : p.total})` : '';
  return h('span', { class: 'share-cell' }, bar, h('span', { class: 'share-words' }, `${words}${of}`));
}

function defaultCell(p: Posture): Child {
  const kind = p.defaultMode === 'none' ? 'bad' : p.defaultMode === 'SSE-S3' ? 'warn' : 'ok';
  return [badge(p.defaultMode, kind), p.kmsKey ? h('div', { class: 'mono small' }, p.kmsKey) : null, p.bucketKey ? h('div', { class: 'small' }, 'Bucket Key on') : null];
}

async function keyChoices(): Promise<Array<[string, string]>> {
  const out = await kms().send(new ListAliasesCommand({ Limit: 100 }));
  const aliases = (out.Aliases ?? []).filter((a) => a.TargetKeyId);
  return [['', 'aws/s3 (AWS managed)'], ...aliases.filter((a) => a.AliasName !== 'alias/aws/s3').map((a): [string, string] => [a.AliasName!, a.AliasName!])];
}

async function createBucket(): Promise<void> {
  const name = h('input', { name: 'bucket', placeholder: 'my-bucket', autocomplete: 'off' });
  const mode = select(
    [
      ['SSE-S3', 'SSE-S3 (keys managed by Trent)'],
      ['SSE-KMS', 'SSE-KMS (a KMS key)'],
    ],
    'SSE-S3',
  );
  const created = await dialog('Create a bucket', [field('Name', name), field('Default encryption', mode)], {
    label: 'Create bucket',
    run: async () => {
      await s3().send(new CreateBucketCommand({ Bucket: name.value.trim() }));
      if (mode.value === 'SSE-KMS') {
        await s3().send(
          new PutBucketEncryptionCommand({ Bucket: name.value.trim(), ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }] } }),
        );
      }
      return name.value.trim();
    },
  });
  if (created) location.hash = `#/buckets/${encodeURIComponent(created)}`;
}

function renderList(root: HTMLElement): void {
  replace(
    root,
    section(
      'Buckets',
      async () => {
        const buckets = (await s3().send(new ListBucketsCommand({}))).Buckets ?? [];
        const rows = await pool(buckets, 4, async (b) => {
          try {
            return { b, p: await posture(b.Name!) };
          } catch (error) {
            return { b, error };
          }
        });
        return table(
          [
            { title: 'Bucket', cell: (r) => link(`#/buckets/${encodeURIComponent(r.b.Name!)}`, r.b.Name!) },
            { title: 'Default encryption', cell: (r) => (r.p ? defaultCell(r.p) : errorBox(r.error)) },
            { title: 'Objects', cell: (r) => (r.p ? `${r.p.total}${r.p.truncated ? '+' : ''}` : '—'), class: 'num' },
            { title: 'Objects by encryption', cell: (r) => (r.p ? shareOf(r.p) : '—') },
            { title: 'Created', cell: (r) => time(r.b.CreationDate) },
          ],
          rows,
          { empty: 'No buckets yet.', rowProps: (r) => ({ 'data-bucket': r.b.Name! }) },
        );
      },
      { id: 'buckets', actions: button('Create bucket', createBucket, { id: 'create-bucket' }) },
    ),
  );
}

function postureSection(bucket: string): HTMLElement & { reload(): void } {
  return section(
    'Encryption posture',
    async (_body, reload) => {
      const p = await posture(bucket);
      const out = h('div', { class: 'action-status' });
      const edit = button(
        'Change default',
        async () => {
          const mode = select(
            [
              ['AES256', 'SSE-S3'],
              ['aws:kms', 'SSE-KMS'],
            ],
            p.defaultMode === 'SSE-KMS' ? 'aws:kms' : 'AES256',
          );
          const key = select(await keyChoices());
          const bucketKey = h('input', { type: 'checkbox', checked: p.bucketKey ?? true });
          const done = await dialog('Default encryption', [field('Mode', mode), field('KMS key (SSE-KMS)', key), field('S3 Bucket Key (SSE-KMS: far fewer KMS calls)', bucketKey)], {
            label: 'Save',
            run: async () => {
              await s3().send(
                new PutBucketEncryptionCommand({
                  Bucket: bucket,
                  ServerSideEncryptionConfiguration: {
                    Rules: [
                      {
                        ApplyServerSideEncryptionByDefault: { SSEAlgorithm: mode.value as ServerSideEncryption, ...(mode.value === 'aws:kms' && key.value ? { KMSMasterKeyID: key.value } : {}) },
                        ...(mode.value === 'aws:kms' ? { BucketKeyEnabled: bucketKey.checked } : {}),
                      },
                    ],
                  },
                }),
              );
              return true;
            },
          });
          if (done) reload();
        },
        { id: 'edit-default' },
        out,
      );
      return [
        h(
          'dl',
          { class: 'facts', id: 'posture' },
          h('dt', null, 'Default encryption'),
          h('dd', { id: 'posture-default' }, defaultCell(p)),
          h('dt', null, 'Objects'),
          h('dd', null, `${p.total}${p.truncated ? '+' : ''}`),
          h('dt', null, 'By encryption'),
          h('dd', { id: 'posture-share' }, shareOf(p)),
        ),
        h('div', { class: 'toolbar' }, edit),
        out,
      ];
    },
    { id: 'bucket-posture' },
  );
}

const b64 = (u: Uint8Array) => btoa(String.fromCharCode(...u));
function customerKey(text: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
  } catch {
    throw Object.assign(new Error('The customer key must be 32 bytes, base64-encoded.'), { name: 'InvalidKey' });
  }
  if (key.length !== 32) throw Object.assign(new Error('The customer key must be 32 bytes (256 bits), base64-encoded.'), { name: 'InvalidKey' });
  return key;
}

function ssecInput(): { control: HTMLElement; input: HTMLInputElement } {
  const input = h('input', { type: 'password', class: 'mono', name: 'ssec', autocomplete: 'off', placeholder: '32 bytes, base64' });
  const gen = h('button', {
    type: 'button',
    onclick: () => {
      input.type = 'text';
      input.value = b64(crypto.getRandomValues(new Uint8Array(32)));
    },
  }, 'Generate');
  return { control: h('span', { class: 'inline' }, input, gen), input };
}

async function upload(bucket: string, prefix: string, done: () => void): Promise<void> {
  const file = h('input', { type: 'file', name: 'file', id: 'upload-file' });
  const name = h('input', { name: 'key', id: 'upload-key', placeholder: 'the file’s name' });
  file.addEventListener('change', () => {
    if (!name.value && file.files?.[0]) name.value = file.files[0].name;
  });
  const mode = select(
    [
      ['', 'Bucket default'],
      ['AES256', 'SSE-S3'],
      ['aws:kms', 'SSE-KMS'],
      ['SSE-C', 'SSE-C (your own key)'],
    ],
    '',
    { id: 'upload-mode' },
  );
  const key = select(await keyChoices(), '', { id: 'upload-kms-key' });
  const ssec = ssecInput();
  const kmsField = field('KMS key', key);
  const ssecField = field('Customer key', ssec.control, 'Trent never stores it: keep it, or the object cannot be read again.');
  const sync = () => {
    kmsField.hidden = mode.value !== 'aws:kms';
    ssecField.hidden = mode.value !== 'SSE-C';
  };
  mode.addEventListener('change', sync);
  sync();
  const ok = await dialog(`Upload to ${bucket}/${prefix}`, [field('File', file), field('Object name', name), field('Encryption', mode), kmsField, ssecField], {
    label: 'Upload',
    run: async () => {
      const f = file.files?.[0];
      if (!f) throw Object.assign(new Error('Choose a file.'), { name: 'NoFile' });
      const input: PutObjectCommandInput = { Bucket: bucket, Key: `${prefix}${name.value || f.name}`, Body: new Uint8Array(await f.arrayBuffer()), ContentType: f.type || 'application/octet-stream' };
      if (mode.value === 'AES256' || mode.value === 'aws:kms') input.ServerSideEncryption = mode.value;
      if (mode.value === 'aws:kms' && key.value) input.SSEKMSKeyId = key.value;
      if (mode.value === 'SSE-C') {
        input.SSECustomerAlgorithm = 'AES256';
        input.SSECustomerKey = customerKey(ssec.input.value) as unknown as string;
      }
      await s3().send(new PutObjectCommand(input));
      return true;
    },
  });
  if (ok) done();
}

async function downloadObject(bucket: string, o: _Object, mode: Mode): Promise<void> {
  const fetchIt = async (customer?: Uint8Array) => {
    const out = await s3().send(
      new GetObjectCommand({ Bucket: bucket, Key: o.Key!, ...(customer ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: customer as unknown as string } : {}) }),
    );
    download(o.Key!.split('/').pop() || 'object', await out.Body!.transformToByteArray(), out.ContentType);
  };
  if (mode !== 'SSE-C') return fetchIt();
  const ssec = ssecInput();
  await dialog(`Download ${o.Key}`, [note('This object is encrypted with a customer key (SSE-C): give the key it was stored with.'), field('Customer key', ssec.control)], {
    label: 'Download',
    run: async () => {
      await fetchIt(customerKey(ssec.input.value));
      return true;
    },
  });
}

async function presign(bucket: string, o: _Object, mode: Mode): Promise<void> {
  const expiry = select(
    [
      ['900', '15 minutes'],
      ['3600', '1 hour'],
      ['86400', '1 day'],
      ['604800', '7 days'],
    ],
    '3600',
    { id: 'presign-expiry' },
  );
  const out = h('div', { id: 'presigned' });
  const make = button(
    'Make link',
    async () => {
      const url = await getSignedUrl(s3(), new GetObjectCommand({ Bucket: bucket, Key: o.Key! }), { expiresIn: Number(expiry.value) });
      replace(
        out,
        h('textarea', { readonly: true, rows: '4', class: 'mono', id: 'presigned-url' }, url),
        note('Anyone with this link can read the object until it expires, or until your session’s credentials do, whichever is first. Each use is recorded in the trail under your name.'),
      );
    },
    { class: 'primary', id: 'presign-make' },
    out,
  );
  await dialog(`Link to ${o.Key}`, [mode === 'SSE-C' ? note('An SSE-C object needs its key in headers, which a link cannot carry.', 'warn') : null, field('Valid for', expiry), make, out]);
}

/** `changed`: called after an upload or a delete, which change the bucket's posture. */
function objectsSection(bucket: string, prefix: string, changed: () => void): HTMLElement {
  return section(
    'Objects',
    async (_body, reloadObjects) => {
      const reload = () => {
        reloadObjects();
        changed();
      };
      const out = await s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', MaxKeys: 200 }));
      const objects = out.Contents ?? [];
      const modes = await pool(objects, 8, (o) => objectMode(bucket, o.Key!));
      const status = h('div', { class: 'action-status' });
      const folders = (out.CommonPrefixes ?? []).map((p) => p.Prefix!);
      const rows: Array<{ folder?: string; o?: _Object; mode?: Awaited<ReturnType<typeof objectMode>> }> = [...folders.map((f) => ({ folder: f })), ...objects.map((o, i) => ({ o, mode: modes[i] }))];
      return [
        h('div', { class: 'toolbar' }, button('Upload', () => upload(bucket, prefix, reload), { class: 'primary', id: 'upload' }, status)),
        status,
        table(
          [
            {
              title: 'Name',
              cell: (r) => (r.folder ? link(`#/buckets/${encodeURIComponent(bucket)}?prefix=${encodeURIComponent(r.folder)}`, r.folder.slice(prefix.length)) : h('span', { class: 'mono' }, r.o!.Key!.slice(prefix.length))),
            },
            { title: 'Size', cell: (r) => (r.o ? bytes(r.o.Size) : 'folder'), class: 'num' },
            { title: 'Modified', cell: (r) => (r.o ? time(r.o.LastModified) : '') },
            { title: 'Encryption', cell: (r) => (r.mode ? [badge(r.mode.mode, r.mode.mode === 'none' ? 'bad' : r.mode.mode === 'unknown' ? 'muted' : 'ok'), r.mode.kmsKey ? h('div', { class: 'mono small' }, r.mode.kmsKey) : null] : '') },
            {
              title: '',
              cell: (r) =>
                r.o
                  ? h(
                      'span',
                      { class: 'row-actions' },
                      button('Download', () => downloadObject(bucket, r.o!, r.mode!.mode), { 'data-action': 'download' }, status),
                      button('Link', () => presign(bucket, r.o!, r.mode!.mode), { 'data-action': 'link' }, status),
                      button(
                        'Delete',
                        async () => {
                          const yes = await dialog(`Delete ${r.o!.Key}?`, note('The object is deleted (or, in a versioned bucket, hidden behind a delete marker).', 'warn'), { label: 'Delete', danger: true, run: () => true });
                          if (!yes) return;
                          await s3().send(new DeleteObjectCommand({ Bucket: bucket, Key: r.o!.Key! }));
                          reload();
                        },
                        { 'data-action': 'delete', class: 'danger' },
                        status,
                      ),
                    )
                  : null,
            },
          ],
          rows,
          { empty: prefix ? 'Nothing under this prefix.' : 'The bucket is empty.', rowProps: (r) => (r.o ? { 'data-key': r.o.Key! } : { 'data-folder': r.folder! }) },
        ),
        out.IsTruncated ? note('More than 200 entries: only the first 200 are listed.') : null,
      ];
    },
    { id: 'bucket-objects' },
  );
}

export function render(root: HTMLElement, path: string[], query: URLSearchParams): void {
  const bucket = path[0];
  if (!bucket) return renderList(root);
  const prefix = query.get('prefix') ?? '';
  const crumbs: Child[] = [link('#/buckets', 'Buckets'), ' / ', link(`#/buckets/${encodeURIComponent(bucket)}`, bucket)];
  let acc = '';
  for (const part of prefix.split('/').filter(Boolean)) {
    acc += `${part}/`;
    crumbs.push(' / ', link(`#/buckets/${encodeURIComponent(bucket)}?prefix=${encodeURIComponent(acc)}`, part));
  }
  const posture = postureSection(bucket);
  replace(root, h('p', { class: 'crumbs' }, crumbs), posture, objectsSection(bucket, prefix, () => posture.reload()));
}
