// Faces: Rekognition collections with their face counts and the KMS key that seals their face vectors, the faces
// in a collection, and a search by an uploaded image (the image goes to Trent in the request and is not kept).
import { DescribeCollectionCommand, ListCollectionsCommand, ListFacesCommand, RekognitionClient, SearchFacesByImageCommand } from '@aws-sdk/client-rekognition';
import { lookup } from '../events.ts';
import { client, clientConfig } from '../session.ts';
import { badge, button, dialog, field, h, note, pool, replace, section, select, table, time, type Child } from '../ui.ts';

const rekognition = () => client('rekognition', () => new RekognitionClient(clientConfig()));

async function allCollections(): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const out = await rekognition().send(new ListCollectionsCommand({ MaxResults: 1000, ...(token ? { NextToken: token } : {}) }));
    ids.push(...(out.CollectionIds ?? []));
    token = out.NextToken;
  } while (token);
  return ids;
}

/**
 * The key that seals a collection's face vectors, as the trail shows it: the KMS call Rekognition made for the
 * collection (its encryption context names the collection's ARN) names the key. Older than the trail's lookup
 * window, it cannot be told from here.
 */
async function sealingKey(arn: string): Promise<Child> {
  for (const name of ['GenerateDataKey', 'Decrypt']) {
    const { events } = await lookup({ attribute: { key: 'EventName', value: name }, limit: 500 });
    const hit = events.find((e) => {
      const ctx = (e.record.requestParameters?.['encryptionContext'] ?? {}) as Record<string, string>;
      return ctx['aws:rekognition:collection-arn'] === arn && !e.record.errorCode;
    });
    const key = hit?.resources.find((r) => r.type === 'AWS::KMS::Key')?.name;
    if (key) return [h('span', { class: 'mono small' }, key), h('div', { class: 'small muted' }, `${name} at ${time(hit!.eventTime)}`)];
  }
  return h('span', { class: 'muted' }, 'not in the trail’s lookup window');
}

function collectionsSection(): HTMLElement {
  return section(
    'Collections',
    async () => {
      const ids = await allCollections();
      const rows = await pool(ids, 4, async (id) => {
        const d = await rekognition().send(new DescribeCollectionCommand({ CollectionId: id }));
        return { id, d, key: await sealingKey(d.CollectionARN!).catch(() => '—' as Child) };
      });
      return table(
        [
          { title: 'Collection', cell: (r) => r.id },
          { title: 'Faces', cell: (r) => String(r.d.FaceCount ?? 0), class: 'num' },
          { title: 'Users', cell: (r) => String(r.d.UserCount ?? 0), class: 'num' },
          { title: 'Sealing key', cell: (r) => r.key },
          { title: 'Model', cell: (r) => r.d.FaceModelVersion ?? '—' },
          { title: 'Created', cell: (r) => time(r.d.CreationTimestamp) },
          { title: '', cell: (r) => button('Faces', () => showFaces(r.id), { 'data-action': 'faces' }) },
        ],
        rows,
        { empty: 'No collections yet.', rowProps: (r) => ({ 'data-collection': r.id }) },
      );
    },
    { id: 'collections' },
  );
}

async function showFaces(id: string): Promise<void> {
  const out = await rekognition().send(new ListFacesCommand({ CollectionId: id, MaxResults: 100 }));
  await dialog(
    `Faces in ${id}`,
    table(
      [
        { title: 'Face', cell: (f) => h('span', { class: 'mono small' }, f.FaceId!) },
        { title: 'External image id', cell: (f) => f.ExternalImageId ?? '—' },
        { title: 'User', cell: (f) => f.UserId ?? '—' },
        { title: 'Confidence', cell: (f) => (f.Confidence ?? 0).toFixed(2), class: 'num' },
      ],
      out.Faces ?? [],
      { empty: 'No faces.' },
    ),
  );
}

function searchSection(): HTMLElement {
  return section(
    'Search by image',
    async () => {
      const ids = await allCollections();
      if (ids.length === 0) return note('There is no collection to search.');
      const which = select(
        ids.map((i) => [i, i]),
        ids[0],
        { id: 'face-collection' },
      );
      const file = h('input', { type: 'file', accept: 'image/jpeg,image/png', id: 'face-image' });
      const threshold = h('input', { type: 'number', min: '0', max: '100', value: '80', id: 'face-threshold' });
      const preview = h('div', { class: 'preview' });
      const out = h('div', { id: 'face-results' });
      file.addEventListener('change', () => {
        const f = file.files?.[0];
        if (!f) return replace(preview);
        const url = URL.createObjectURL(f);
        const img = h('img', { src: url, alt: 'the image searched for' });
        img.addEventListener('load', () => URL.revokeObjectURL(url));
        replace(preview, img);
      });
      const run = async () => {
        const f = file.files?.[0];
        if (!f) throw Object.assign(new Error('Choose an image.'), { name: 'NoImage' });
        replace(out, h('p', { class: 'loading' }, 'Searching…'));
        const r = await rekognition().send(new SearchFacesByImageCommand({ CollectionId: which.value, Image: { Bytes: new Uint8Array(await f.arrayBuffer()) }, FaceMatchThreshold: Number(threshold.value), MaxFaces: 10 }));
        replace(
          out,
          h('p', { class: 'muted' }, `Face found in the image with confidence ${(r.SearchedFaceConfidence ?? 0).toFixed(2)}.`),
          table(
            [
              { title: 'Similarity', cell: (m) => badge((m.Similarity ?? 0).toFixed(2), (m.Similarity ?? 0) >= 95 ? 'ok' : 'warn'), class: 'num' },
              { title: 'Face', cell: (m) => h('span', { class: 'mono small' }, m.Face?.FaceId ?? '—') },
              { title: 'External image id', cell: (m) => m.Face?.ExternalImageId ?? '—' },
            ],
            r.FaceMatches ?? [],
            { empty: 'No face in the collection matches.', rowProps: (m) => ({ 'data-external-id': m.Face?.ExternalImageId ?? '' }) },
          ),
        );
      };
      return [h('div', { class: 'search' }, field('Collection', which), field('Image', file), field('Threshold', threshold), button('Search', run, { class: 'primary', id: 'face-search' }, out)), preview, out];
    },
    { id: 'face-search-section' },
  );
}

export function render(root: HTMLElement): void {
  replace(root, collectionsSection(), searchSection());
}
