import { randomUUID } from 'node:crypto';
import type * as R from '@aws-sdk/client-rekognition';
import { openFromBytes, sealToBytes } from '../crypto/aead.ts';
import type { KmsServiceClient } from '../kms/service-client.ts';
import { ObjectReadError, type ObjectReader } from '../s3/reader.ts';
import type { CallContext, JsonService } from '../server/service.ts';
import type { Database } from '../store/database.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { AwsError } from '../wire/errors.ts';
import { int, str } from '../wire/validate.ts';
import { InvalidImageError, type DetectedFace, type FaceEngine } from './engine.ts';
import { distanceForSimilarity, similarityFromDistance } from './calibration.ts';
import { FaceVectors } from './vector-index.ts';
import { ServiceShapes } from '../wire/shapes.ts';

type In = Record<string, unknown>;
type W<T> = JsonWire<T>;

const MAX_BYTES = 5 * 1024 * 1024;
const MAX_S3_BYTES = 15 * 1024 * 1024;
const FACE_MODEL_VERSION = '7.0';
const KEY_TAG = 'trent:kms-key-id';
const DATA_KEY_CACHE_MS = 5 * 60_000;

const err = {
  invalidParameter: (m: string) => new AwsError('InvalidParameterException', 400, m),
  invalidImage: () => new AwsError('InvalidImageFormatException', 400, 'Request has invalid image format'),
  tooLarge: () => new AwsError('ImageTooLargeException', 400, 'Image size is too large.'),
  notFound: (m: string) => new AwsError('ResourceNotFoundException', 400, m),
  exists: (m: string) => new AwsError('ResourceAlreadyExistsException', 400, m),
  s3: () => new AwsError('InvalidS3ObjectException', 400, 'Unable to get object metadata from S3. Check object key, region and/or access permissions.'),
  noFace: () => new AwsError('InvalidParameterException', 400, 'There are no faces in the image. Should be at least 1.'),
};

interface Collection {
  id: string;
  arn: string;
  createdAt: number;
  kmsKeyArn: string;
  dataKey: Buffer;
  /** Bumped by every change to the collection's faces, on any node. */
  generation: number;
}

interface FaceRow {
  face_id: string;
  image_id: string;
  external_image_id: string | null;
  box: string;
  confidence: number;
  vector: Buffer;
  user_id: string | null;
}

/** A collection's faces, decrypted into memory for search; dropped when the data key expires from the cache. */
interface Index {
  key: Buffer;
  until: number;
  /** The collection this index was built for (a collection deleted and created again is a new one). */
  createdAt: number;
  /** rk_collections.generation the faces below reflect; -1 when they must be read again. */
  generation: number;
  faces: FaceVectors<Omit<FaceRow, 'vector'>>;
}

/** The largest distance whose similarity can reach `threshold` (a hair over, so the exact test below decides). */
function distanceLimit(threshold: number): number {
  return threshold <= 0 ? Infinity : threshold >= 100 ? 0 : distanceForSimilarity(threshold) * (1 + 1e-9);
}

function boxOut(b: { left: number; top: number; width: number; height: number }): W<R.BoundingBox> {
  return { Width: b.width, Height: b.height, Left: b.left, Top: b.top };
}

/**
 * The face attributes Rekognition defines beyond the default ones, and those Trent's model can estimate: mouth
 * openness, from the landmarks' geometry (docs/faces.md). The rest (age, gender, emotions, glasses, beard, smile,
 * occlusion, gaze, and eye openness, which the landmarks do not show reliably) would need models Trent does not
 * have, so they are refused rather than made up.
 */
const ATTRIBUTES = ['DEFAULT', 'ALL', 'AGE_RANGE', 'BEARD', 'EMOTIONS', 'EYE_DIRECTION', 'EYEGLASSES', 'EYES_OPEN', 'GENDER', 'MOUTH_OPEN', 'MUSTACHE', 'FACE_OCCLUDED', 'SMILE', 'SUNGLASSES'];
const ESTIMATED = ['MOUTH_OPEN'] as const;
type Estimated = (typeof ESTIMATED)[number];

/**
 * The attributes asked for (Attributes of DetectFaces, DetectionAttributes of IndexFaces): ALL means every one
 * Trent estimates; an attribute it cannot estimate is refused, named alone or beside ALL; a value outside
 * Rekognition's list fails validation as on AWS.
 */
function requestedAttributes(input: In, field: string): Set<Estimated> {
  const v = input[field];
  if (v === undefined || v === null) return new Set();
  if (!Array.isArray(v) || v.some((a) => typeof a !== 'string')) throw new AwsError('ValidationException', 400, `1 validation error detected: Value at '${field.charAt(0).toLowerCase() + field.slice(1)}' failed to satisfy constraint: Member must be a list of strings`);
  const bad = (v as string[]).filter((a) => !ATTRIBUTES.includes(a));
  if (bad.length) {
    throw new AwsError(
      'ValidationException',
      400,
      `1 validation error detected: Value '[${(v as string[]).join(', ')}]' at '${field.charAt(0).toLowerCase() + field.slice(1)}' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [${ATTRIBUTES.join(', ')}]]`,
    );
  }
  const unsupported = (v as string[]).filter((a) => a !== 'DEFAULT' && a !== 'ALL' && !(ESTIMATED as readonly string[]).includes(a));
  if (unsupported.length) {
    throw new AwsError('InvalidParameterException', 400, `Trent's face model cannot estimate ${unsupported.join(', ')}: beside the default attributes it estimates ${ESTIMATED.join(', ')} only (which ALL returns).`);
  }
  const out = new Set<Estimated>();
  for (const a of v as string[]) {
    if (a === 'ALL') for (const e of ESTIMATED) out.add(e);
    else if ((ESTIMATED as readonly string[]).includes(a)) out.add(a as Estimated);
  }
  return out;
}

function faceDetail(f: DetectedFace, attributes: ReadonlySet<Estimated> = new Set()): W<R.FaceDetail> {
  return {
    BoundingBox: boxOut(f.box),
    Landmarks: f.landmarks.map((l) => ({ Type: l.type as R.LandmarkType, X: l.x, Y: l.y })),
    Pose: { Roll: f.pose.roll, Yaw: f.pose.yaw, Pitch: f.pose.pitch },
    Quality: { Brightness: f.quality.brightness, Sharpness: f.quality.sharpness },
    Confidence: f.confidence,
    ...(attributes.has('MOUTH_OPEN') ? { MouthOpen: { Value: f.mouthOpen.value, Confidence: f.mouthOpen.confidence } } : {}),
  };
}

function comparedFace(f: DetectedFace): W<R.ComparedFace> {
  return { ...faceDetail(f) } as W<R.ComparedFace>;
}

function vectorAad(collectionArn: string, faceId: string): Buffer {
  return Buffer.from(`trent:rekognition:face-vector:v1:${collectionArn}\n${faceId}`);
}

export interface FacesDeps {
  db: Database;
  engine: () => Promise<FaceEngine>;
  kms: KmsServiceClient;
  objects: ObjectReader;
  accountId: string;
  region: string;
  now?: () => number;
}

/**
 * Amazon Rekognition's face operations. Images live only in memory for the call. Each collection has
 * its own data key from KMS (under aws/rekognition, or the key named by the collection's
 * `trent:kms-key-id` tag); every face vector is sealed with it (AES-256-GCM), and search decrypts the
 * collection into memory only after checking the key is usable, so disabling the key stops search.
 */
export function facesService(deps: FacesDeps): JsonService {
  const { db, kms, accountId, region } = deps;
  const now = deps.now ?? Date.now;
  const indexes = new Map<string, Index>();

  const collectionArn = (id: string) => `arn:aws:rekognition:${region}:${accountId}:collection/${id}`;

  async function authorize(ctx: CallContext, resource = '*'): Promise<void> {
    await ctx.authorize({ action: `rekognition:${ctx.operation}`, resource, mode: 'identity' });
  }

  /** The image of a request, from Bytes (at most 5 MB) or an S3Object read with the caller's permissions (at most 15 MB). */
  async function imageOf(ctx: CallContext, input: In, field: string): Promise<Uint8Array> {
    const image = input[field] as { Bytes?: unknown; S3Object?: { Bucket?: unknown; Name?: unknown; Version?: unknown } } | undefined;
    if (!image || typeof image !== 'object') throw err.invalidParameter(`${field} is required.`);
    if (image.Bytes !== undefined) {
      if (typeof image.Bytes !== 'string') throw err.invalidImage();
      if (image.Bytes.length > Math.ceil((MAX_BYTES * 4) / 3) + 4) throw err.tooLarge();
      const decoded = Buffer.from(image.Bytes, 'base64');
      if (decoded.length > MAX_BYTES) throw err.tooLarge();
      if (decoded.length === 0) throw err.invalidImage();
      // Small Buffers share Node's pool: the image gets its own memory, which the engine hands to a worker.
      const bytes = new Uint8Array(decoded.length);
      bytes.set(decoded);
      decoded.fill(0);
      return bytes;
    }
    const s3 = image.S3Object;
    if (!s3 || typeof s3.Bucket !== 'string' || typeof s3.Name !== 'string') throw err.invalidParameter(`${field} needs Bytes or S3Object with Bucket and Name.`);
    if (s3.Version !== undefined) throw err.invalidParameter('S3Object Version is not supported: Trent buckets are not versioned.');
    try {
      return await deps.objects.read(ctx, s3.Bucket, s3.Name, MAX_S3_BYTES);
    } catch (e) {
      if (e instanceof ObjectReadError) throw e.reason === 'too-large' ? err.tooLarge() : e.reason === 'kms' && /not authorized/.test(e.message) ? new AwsError('AccessDeniedException', 400, e.message) : err.s3();
      throw e;
    }
  }

  async function detect(image: Uint8Array, descriptors: boolean) {
    try {
      return await (await deps.engine()).detect(image, { descriptors });
    } catch (e) {
      if (e instanceof InvalidImageError) throw err.invalidImage();
      throw e;
    } finally {
      // The engine transfers the bytes to its worker (leaving this buffer detached); anything left here is wiped.
      if (image.buffer.byteLength > 0) image.fill(0);
    }
  }

  function qualityFilter(input: In): 'NONE' | 'AUTO' | 'LOW' | 'MEDIUM' | 'HIGH' {
    const q = str(input, 'QualityFilter') ?? 'NONE';
    if (!['NONE', 'AUTO', 'LOW', 'MEDIUM', 'HIGH'].includes(q)) throw err.invalidParameter('QualityFilter must be NONE, AUTO, LOW, MEDIUM or HIGH.');
    return q as 'NONE';
  }

  /**
   * Faces below the filter's quality bar (AWS's AUTO/LOW/MEDIUM/HIGH), here by detection confidence and face size.
   * The model's confidence runs lower than Rekognition's for profiles and crops (docs/faces.md), hence these bars.
   */
  function lowQuality(f: DetectedFace, filter: string): boolean {
    if (filter === 'NONE') return false;
    const bar = filter === 'HIGH' ? 85 : filter === 'MEDIUM' ? 70 : filter === 'LOW' ? 40 : 55;
    return f.confidence < bar || f.box.width < 0.02 || f.box.height < 0.02;
  }

  async function collection(ctx: CallContext, id: string): Promise<Collection> {
    const row = await db.get<{ collection_id: string; arn: string; created_at: number; kms_key_arn: string; data_key: Buffer; generation: number }>('SELECT * FROM rk_collections WHERE collection_id = ?', [id]);
    if (!row) {
      await authorize(ctx, collectionArn(id));
      throw err.notFound(`The collection id: ${id} does not exist`);
    }
    ctx.resources.push({ ARN: row.arn, accountId, type: 'AWS::Rekognition::Collection' });
    await authorize(ctx, row.arn);
    return { id: row.collection_id, arn: row.arn, createdAt: Number(row.created_at), kmsKeyArn: row.kms_key_arn, dataKey: row.data_key, generation: Number(row.generation) };
  }

  /** The collection's data key, from KMS (an audited Decrypt) or the short-lived cache; the KMS key must be usable either way. */
  async function dataKey(ctx: CallContext, c: Collection): Promise<Buffer> {
    try {
      await kms.assertUsable(c.kmsKeyArn);
    } catch (e) {
      indexes.delete(c.id);
      throw kmsError(e);
    }
    const hit = indexes.get(c.id);
    if (hit && hit.until > now() && hit.createdAt === c.createdAt) return hit.key;
    const out = await kms.decrypt(ctx, 'rekognition', c.dataKey, { 'aws:rekognition:collection-arn': c.arn }, c.kmsKeyArn).catch((e: unknown) => {
      throw kmsError(e);
    });
    indexes.set(c.id, { key: out.plaintext, until: now() + DATA_KEY_CACHE_MS, createdAt: c.createdAt, generation: -1, faces: new FaceVectors() });
    return out.plaintext;
  }

  /**
   * Records a change to a collection's faces (rk_collections.generation + 1, after the rows changed) and applies it
   * to this node's index when no other node changed the collection meanwhile; otherwise the index is read again
   * on next use. Other nodes see the new generation on their next request and read the faces again.
   */
  async function changed(c: Collection, apply: (faces: Index['faces']) => void): Promise<void> {
    const row = await db.get<{ generation: number }>('UPDATE rk_collections SET generation = generation + 1 WHERE collection_id = ? RETURNING generation', [c.id]);
    const idx = indexes.get(c.id);
    if (!idx) return;
    if (row && idx.generation >= 0 && Number(row.generation) === idx.generation + 1) {
      apply(idx.faces);
      idx.generation = Number(row.generation);
    } else {
      idx.faces.clear();
      idx.generation = -1;
    }
  }

  function kmsError(e: unknown): unknown {
    if (e instanceof AwsError && e.status < 500) return new AwsError('AccessDeniedException', 400, `The collection's KMS key cannot be used: ${e.message}`);
    return e;
  }

  /** Every face of a collection, decrypted (cached while the data key is). */
  async function facesOf(ctx: CallContext, c: Collection): Promise<Index['faces']> {
    const key = await dataKey(ctx, c);
    const idx = indexes.get(c.id)!;
    // Another node may have added or removed faces: the collection's generation says so, and the faces are read again.
    if (idx.generation !== c.generation || idx.faces.size === 0) {
      idx.faces.clear();
      idx.generation = c.generation;
      for (const r of await db.all<FaceRow>('SELECT * FROM rk_faces WHERE collection_id = ?', [c.id])) {
        const plain = openFromBytes(key, r.vector, vectorAad(c.arn, r.face_id));
        const { vector: _v, ...row } = r;
        void _v;
        idx.faces.set(r.face_id, { vector: new Float32Array(plain.buffer, plain.byteOffset, plain.length / 4), row });
      }
    }
    return idx.faces;
  }

  function faceOut(r: Omit<FaceRow, 'vector'>): W<R.Face> {
    return {
      FaceId: r.face_id,
      BoundingBox: boxOut(JSON.parse(r.box) as { left: number; top: number; width: number; height: number }),
      ImageId: r.image_id,
      ...(r.external_image_id ? { ExternalImageId: r.external_image_id } : {}),
      Confidence: Number(r.confidence),
      IndexFacesModelVersion: FACE_MODEL_VERSION,
      ...(r.user_id ? { UserId: r.user_id } : {}),
    };
  }

  async function search(ctx: CallContext, c: Collection, vector: Float32Array, threshold: number, max: number, exclude?: string) {
    const faces = await facesOf(ctx, c);
    const matches: Array<{ similarity: number; row: Omit<FaceRow, 'vector'> }> = [];
    for (const { id, distance } of faces.within(vector, distanceLimit(threshold))) {
      if (id === exclude) continue;
      const s = similarityFromDistance(distance);
      if (s >= threshold) matches.push({ similarity: s, row: faces.get(id)!.row });
    }
    matches.sort((a, b) => b.similarity - a.similarity);
    return matches.slice(0, max);
  }

  function threshold(input: In, field: string): number {
    const v = input[field];
    if (v === undefined || v === null) return 80;
    if (typeof v !== 'number' || v < 0 || v > 100) throw err.invalidParameter(`${field} must be between 0 and 100.`);
    return v;
  }

  function page<T>(items: T[], input: In, maxDefault: number, maxLimit: number): { items: T[]; next?: string } {
    const max = int(input, 'MaxResults', { min: 0, max: maxLimit }) ?? maxDefault;
    const token = str(input, 'NextToken');
    const offset = token ? Number(Buffer.from(token, 'base64url').toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw new AwsError('InvalidPaginationTokenException', 400, 'Invalid pagination token.');
    const items2 = items.slice(offset, offset + max);
    return { items: items2, ...(offset + max < items.length ? { next: Buffer.from(String(offset + max)).toString('base64url') } : {}) };
  }

  async function usersOf(c: Collection): Promise<Array<{ user_id: string; faces: number }>> {
    return db.all<{ user_id: string; faces: number }>(
      'SELECT u.user_id, (SELECT count(*) FROM rk_faces f WHERE f.collection_id = u.collection_id AND f.user_id = u.user_id) AS faces FROM rk_users u WHERE u.collection_id = ? ORDER BY u.user_id',
      [c.id],
    );
  }

  /** Users ranked by their best face's similarity to `vector`. */
  async function searchUsers(ctx: CallContext, c: Collection, vector: Float32Array, thresholdValue: number, max: number) {
    const faces = await facesOf(ctx, c);
    const best = new Map<string, number>();
    for (const { id, distance } of faces.within(vector, distanceLimit(thresholdValue))) {
      const userId = faces.get(id)!.row.user_id;
      if (!userId) continue;
      const s = similarityFromDistance(distance);
      if (s > (best.get(userId) ?? -1)) best.set(userId, s);
    }
    return [...best].filter(([, s]) => s >= thresholdValue).sort((a, b) => b[1] - a[1]).slice(0, max).map(([UserId, Similarity]) => ({ Similarity, User: { UserId, UserStatus: 'ACTIVE' as const } }));
  }

  function collectionId(input: In): string {
    const id = str(input, 'CollectionId', { required: true, min: 1, max: 255 });
    if (!/^[a-zA-Z0-9_.-]+$/.test(id)) throw err.invalidParameter('CollectionId may contain letters, digits, _ . and - only.');
    return id;
  }

  return {
    protocol: 'json',
    shapes: new ServiceShapes('@aws-sdk/client-rekognition'),
    signingName: 'rekognition',
    eventSource: 'rekognition.amazonaws.com',
    targetPrefixes: ['RekognitionService'],
    // Room for two 5 MB images in base64, and for an oversized one to reach the handler and get ImageTooLargeException.
    maxBodyBytes: 32 * 1024 * 1024,
    authorization: 'handler',
    audit: {
      // Never image bytes or biometric data in an event: images appear as their S3 location at most.
      requestParameters: (_op, input) => {
        if (!input || typeof input !== 'object') return null;
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
          const name = k.charAt(0).toLowerCase() + k.slice(1);
          if (k.endsWith('Image') || k === 'Image') {
            const s3 = (v as { S3Object?: unknown } | undefined)?.S3Object;
            out[name] = s3 ? { s3Object: s3 } : { bytes: 'omitted' };
          } else out[name] = v;
        }
        return out;
      },
      responseElements: (op, output) => {
        if (!output) return null;
        const o = output as Record<string, unknown>;
        if (op === 'CreateCollection') return { collectionArn: o['CollectionArn'], faceModelVersion: o['FaceModelVersion'] };
        if (op === 'IndexFaces') return { faceIds: ((o['FaceRecords'] as Array<{ Face: { FaceId: string } }>) ?? []).map((r) => r.Face.FaceId) };
        return null;
      },
      readOnly: (op) => /^(Detect|Compare|Describe|List|Search)/.test(op),
    },
    operations: {
      async DetectFaces(ctx, input): Promise<W<R.DetectFacesResponse>> {
        await authorize(ctx);
        const attributes = requestedAttributes(input, 'Attributes');
        const result = await detect(await imageOf(ctx, input, 'Image'), false);
        return { FaceDetails: result.faces.slice(0, 100).map((f) => faceDetail(f, attributes)) };
      },

      async CompareFaces(ctx, input): Promise<W<R.CompareFacesResponse>> {
        await authorize(ctx);
        const min = threshold(input, 'SimilarityThreshold');
        const filter = qualityFilter(input);
        const [src, tgt] = await Promise.all([detect(await imageOf(ctx, input, 'SourceImage'), true), imageOf(ctx, input, 'TargetImage').then((t) => detect(t, true))]);
        const source = src.faces[0];
        if (!source) throw err.noFace();
        const engine = await deps.engine();
        const matches: W<R.CompareFacesMatch>[] = [];
        const unmatched: W<R.ComparedFace>[] = [];
        for (const f of tgt.faces.slice(0, 100)) {
          if (lowQuality(f, filter)) continue;
          const similarity = engine.similarity(source.descriptor!, f.descriptor!);
          if (similarity >= min) matches.push({ Similarity: similarity, Face: comparedFace(f) });
          else unmatched.push(comparedFace(f));
        }
        matches.sort((a, b) => b.Similarity! - a.Similarity!);
        return { SourceImageFace: { BoundingBox: boxOut(source.box), Confidence: source.confidence }, FaceMatches: matches, UnmatchedFaces: unmatched };
      },

      async CreateCollection(ctx, input): Promise<W<R.CreateCollectionResponse>> {
        const id = collectionId(input);
        const arn = collectionArn(id);
        await authorize(ctx, arn);
        const tags = (input['Tags'] as Record<string, string> | undefined) ?? {};
        if (typeof tags !== 'object' || Array.isArray(tags)) throw err.invalidParameter('Tags must map strings to strings.');
        if (await db.get('SELECT 1 AS x FROM rk_collections WHERE collection_id = ?', [id])) throw err.exists(`The collection id: ${id} already exists`);
        const keyId = tags[KEY_TAG] ?? (await kms.resolveArn(undefined, 'rekognition'));
        const dk = await kms.generateDataKey(ctx, 'rekognition', keyId, { 'aws:rekognition:collection-arn': arn }).catch((e: unknown) => {
          throw kmsError(e);
        });
        dk.plaintext.fill(0);
        try {
          await db.run('INSERT INTO rk_collections (collection_id, arn, created_at, kms_key_arn, data_key, tags) VALUES (?, ?, ?, ?, ?, ?)', [id, arn, now(), dk.keyArn, dk.ciphertext, JSON.stringify(tags)]);
        } catch {
          throw err.exists(`The collection id: ${id} already exists`);
        }
        ctx.resources.push({ ARN: arn, accountId, type: 'AWS::Rekognition::Collection' });
        return { StatusCode: 200, CollectionArn: arn, FaceModelVersion: FACE_MODEL_VERSION };
      },

      async DescribeCollection(ctx, input): Promise<W<R.DescribeCollectionResponse>> {
        const c = await collection(ctx, collectionId(input));
        const faces = await db.get<{ n: number }>('SELECT count(*) AS n FROM rk_faces WHERE collection_id = ?', [c.id]);
        const users = await db.get<{ n: number }>('SELECT count(*) AS n FROM rk_users WHERE collection_id = ?', [c.id]);
        return { FaceCount: Number(faces?.n ?? 0), UserCount: Number(users?.n ?? 0), FaceModelVersion: FACE_MODEL_VERSION, CollectionARN: c.arn, CreationTimestamp: c.createdAt / 1000 };
      },

      async ListCollections(ctx, input): Promise<W<R.ListCollectionsResponse>> {
        await authorize(ctx);
        const ids = (await db.all<{ collection_id: string }>('SELECT collection_id FROM rk_collections ORDER BY collection_id')).map((r) => r.collection_id);
        const p = page(ids, input, 1000, 4096);
        return { CollectionIds: p.items, FaceModelVersions: p.items.map(() => FACE_MODEL_VERSION), ...(p.next ? { NextToken: p.next } : {}) };
      },

      async DeleteCollection(ctx, input): Promise<W<R.DeleteCollectionResponse>> {
        const c = await collection(ctx, collectionId(input));
        // The vectors go with their rows; the data key's ciphertext goes too, so nothing can open them again.
        await db.transaction(async (tx) => {
          await tx.run('DELETE FROM rk_faces WHERE collection_id = ?', [c.id]);
          await tx.run('DELETE FROM rk_users WHERE collection_id = ?', [c.id]);
          await tx.run('DELETE FROM rk_collections WHERE collection_id = ?', [c.id]);
        });
        indexes.get(c.id)?.key.fill(0);
        indexes.delete(c.id);
        return { StatusCode: 200 };
      },

      async IndexFaces(ctx, input): Promise<W<R.IndexFacesResponse>> {
        const c = await collection(ctx, collectionId(input));
        const external = str(input, 'ExternalImageId', { min: 1, max: 255 });
        if (external !== undefined && !/^[a-zA-Z0-9_.\-:]+$/.test(external)) throw err.invalidParameter('ExternalImageId may contain letters, digits, _ . - and : only.');
        const maxFaces = int(input, 'MaxFaces', { min: 1, max: 100 }) ?? 100;
        const filter = qualityFilter(input);
        const attributes = requestedAttributes(input, 'DetectionAttributes');
        const key = await dataKey(ctx, c);
        const result = await detect(await imageOf(ctx, input, 'Image'), true);
        const imageId = randomUUID();
        const records: W<R.FaceRecord>[] = [];
        const unindexed: W<R.UnindexedFace>[] = [];
        const t = now();
        const idx = indexes.get(c.id);
        for (const [i, f] of result.faces.entries()) {
          if (i >= maxFaces) {
            unindexed.push({ Reasons: ['EXCEEDS_MAX_FACES'], FaceDetail: faceDetail(f, attributes) });
            continue;
          }
          if (lowQuality(f, filter)) {
            unindexed.push({ Reasons: ['LOW_CONFIDENCE'], FaceDetail: faceDetail(f, attributes) });
            continue;
          }
          const faceId = randomUUID();
          const v = Buffer.from(f.descriptor!.buffer, f.descriptor!.byteOffset, f.descriptor!.byteLength);
          const sealed = sealToBytes(key, v, vectorAad(c.arn, faceId));
          const row = { face_id: faceId, image_id: imageId, external_image_id: external ?? null, box: JSON.stringify(f.box), confidence: f.confidence, user_id: null };
          await db.run('INSERT INTO rk_faces (collection_id, face_id, image_id, external_image_id, box, confidence, vector, user_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)', [
            c.id,
            faceId,
            imageId,
            row.external_image_id,
            row.box,
            row.confidence,
            sealed,
            t,
          ]);
          const vector = new Float32Array(f.descriptor!);
          await changed(c, (faces) => {
            if (faces.size > 0) faces.set(faceId, { vector, row });
          });
          records.push({ Face: faceOut(row), FaceDetail: faceDetail(f, attributes) });
        }
        return { FaceRecords: records, FaceModelVersion: FACE_MODEL_VERSION, UnindexedFaces: unindexed };
      },

      async ListFaces(ctx, input): Promise<W<R.ListFacesResponse>> {
        const c = await collection(ctx, collectionId(input));
        const userId = str(input, 'UserId', { min: 1, max: 128 });
        const ids = input['FaceIds'] as string[] | undefined;
        let rows = await db.all<Omit<FaceRow, 'vector'>>('SELECT face_id, image_id, external_image_id, box, confidence, user_id FROM rk_faces WHERE collection_id = ? ORDER BY face_id', [c.id]);
        if (userId) rows = rows.filter((r) => r.user_id === userId);
        if (Array.isArray(ids)) rows = rows.filter((r) => ids.includes(r.face_id));
        const p = page(rows, input, 1000, 4096);
        return { Faces: p.items.map(faceOut), FaceModelVersion: FACE_MODEL_VERSION, ...(p.next ? { NextToken: p.next } : {}) };
      },

      async DeleteFaces(ctx, input): Promise<W<R.DeleteFacesResponse>> {
        const c = await collection(ctx, collectionId(input));
        const ids = input['FaceIds'];
        if (!Array.isArray(ids) || ids.length < 1 || ids.length > 4096) throw err.invalidParameter('FaceIds must list 1 to 4096 face ids.');
        const deleted: string[] = [];
        const failed: W<R.UnsuccessfulFaceDeletion>[] = [];
        for (const id of ids as string[]) {
          const r = await db.run('DELETE FROM rk_faces WHERE collection_id = ? AND face_id = ?', [c.id, id]);
          if (r.changes) {
            deleted.push(id);
            await changed(c, (faces) => faces.delete(id));
          } else failed.push({ FaceId: id, Reasons: ['ASSOCIATED_TO_AN_EXISTING_USER'] as R.UnsuccessfulFaceDeletionReason[] });
        }
        return { DeletedFaces: deleted, ...(failed.length ? { UnsuccessfulFaceDeletions: failed.map((f) => ({ FaceId: f.FaceId, Reasons: [] })) } : {}) };
      },

      async SearchFaces(ctx, input): Promise<W<R.SearchFacesResponse>> {
        const c = await collection(ctx, collectionId(input));
        const faceId = str(input, 'FaceId', { required: true, min: 1, max: 64 });
        const faces = await facesOf(ctx, c);
        const self = faces.get(faceId);
        if (!self) throw err.invalidParameter(`Face ${faceId} is not in the collection.`);
        const matches = await search(ctx, c, self.vector, threshold(input, 'FaceMatchThreshold'), int(input, 'MaxFaces', { min: 1, max: 4096 }) ?? 80, faceId);
        return { SearchedFaceId: faceId, FaceMatches: matches.map((m) => ({ Similarity: m.similarity, Face: faceOut(m.row) })), FaceModelVersion: FACE_MODEL_VERSION };
      },

      async SearchFacesByImage(ctx, input): Promise<W<R.SearchFacesByImageResponse>> {
        const c = await collection(ctx, collectionId(input));
        qualityFilter(input);
        await dataKey(ctx, c);
        const result = await detect(await imageOf(ctx, input, 'Image'), true);
        const f = result.faces[0];
        if (!f) throw err.noFace();
        const matches = await search(ctx, c, f.descriptor!, threshold(input, 'FaceMatchThreshold'), int(input, 'MaxFaces', { min: 1, max: 4096 }) ?? 80);
        return { SearchedFaceBoundingBox: boxOut(f.box), SearchedFaceConfidence: f.confidence, FaceMatches: matches.map((m) => ({ Similarity: m.similarity, Face: faceOut(m.row) })), FaceModelVersion: FACE_MODEL_VERSION };
      },

      async CreateUser(ctx, input): Promise<W<R.CreateUserResponse>> {
        const c = await collection(ctx, collectionId(input));
        const userId = str(input, 'UserId', { required: true, min: 1, max: 128 });
        if (!/^[a-zA-Z0-9_.\-:]+$/.test(userId)) throw err.invalidParameter('UserId may contain letters, digits, _ . - and : only.');
        if (await db.get('SELECT 1 AS x FROM rk_users WHERE collection_id = ? AND user_id = ?', [c.id, userId])) {
          if (input['ClientRequestToken'] !== undefined) return {};
          throw new AwsError('ConflictException', 400, `User ${userId} already exists in the collection.`);
        }
        await db.run('INSERT INTO rk_users (collection_id, user_id, created_at) VALUES (?, ?, ?)', [c.id, userId, now()]);
        return {};
      },

      async DeleteUser(ctx, input): Promise<W<R.DeleteUserResponse>> {
        const c = await collection(ctx, collectionId(input));
        const userId = str(input, 'UserId', { required: true, min: 1, max: 128 });
        const r = await db.run('DELETE FROM rk_users WHERE collection_id = ? AND user_id = ?', [c.id, userId]);
        if (!r.changes) throw err.notFound(`The user ${userId} does not exist`);
        await db.run('UPDATE rk_faces SET user_id = NULL WHERE collection_id = ? AND user_id = ?', [c.id, userId]);
        await changed(c, (faces) => {
          for (const f of faces.values()) if (f.row.user_id === userId) f.row.user_id = null;
        });
        return {};
      },

      async ListUsers(ctx, input): Promise<W<R.ListUsersResponse>> {
        const c = await collection(ctx, collectionId(input));
        const p = page(await usersOf(c), input, 500, 500);
        return { Users: p.items.map((u) => ({ UserId: u.user_id, UserStatus: Number(u.faces) > 0 ? 'ACTIVE' : 'CREATED' })), ...(p.next ? { NextToken: p.next } : {}) };
      },

      async AssociateFaces(ctx, input): Promise<W<R.AssociateFacesResponse>> {
        const c = await collection(ctx, collectionId(input));
        const userId = str(input, 'UserId', { required: true, min: 1, max: 128 });
        if (!(await db.get('SELECT 1 AS x FROM rk_users WHERE collection_id = ? AND user_id = ?', [c.id, userId]))) throw err.notFound(`The user ${userId} does not exist`);
        const ids = input['FaceIds'];
        if (!Array.isArray(ids) || ids.length < 1 || ids.length > 100) throw err.invalidParameter('FaceIds must list 1 to 100 face ids.');
        const minMatch = threshold(input, 'UserMatchThreshold');
        const faces = await facesOf(ctx, c);
        const engine = await deps.engine();
        const existing = [...faces.values()].filter((f) => f.row.user_id === userId);
        const associated: Array<{ FaceId: string }> = [];
        const failed: W<R.UnsuccessfulFaceAssociation>[] = [];
        for (const id of ids as string[]) {
          const f = faces.get(id);
          if (!f) {
            failed.push({ FaceId: id, Reasons: ['FACE_NOT_FOUND'] });
            continue;
          }
          if (f.row.user_id && f.row.user_id !== userId) {
            failed.push({ FaceId: id, UserId: f.row.user_id, Reasons: ['ASSOCIATED_TO_A_DIFFERENT_USER'] });
            continue;
          }
          // A face must look like the user's faces already associated (UserMatchThreshold), as on AWS.
          const best = existing.length ? Math.max(...existing.map((e) => engine.similarity(e.vector, f.vector))) : 100;
          if (best < minMatch) {
            failed.push({ FaceId: id, Confidence: best, Reasons: ['LOW_MATCH_CONFIDENCE'] });
            continue;
          }
          await db.run('UPDATE rk_faces SET user_id = ? WHERE collection_id = ? AND face_id = ?', [userId, c.id, id]);
          f.row.user_id = userId;
          await changed(c, (faces) => {
            const cached = faces.get(id);
            if (cached) cached.row.user_id = userId;
          });
          associated.push({ FaceId: id });
        }
        return { AssociatedFaces: associated, UnsuccessfulFaceAssociations: failed, UserStatus: 'ACTIVE' };
      },

      async DisassociateFaces(ctx, input): Promise<W<R.DisassociateFacesResponse>> {
        const c = await collection(ctx, collectionId(input));
        const userId = str(input, 'UserId', { required: true, min: 1, max: 128 });
        const ids = input['FaceIds'];
        if (!Array.isArray(ids) || ids.length < 1 || ids.length > 100) throw err.invalidParameter('FaceIds must list 1 to 100 face ids.');
        const done: Array<{ FaceId: string }> = [];
        const failed: W<R.UnsuccessfulFaceDisassociation>[] = [];
        for (const id of ids as string[]) {
          const r = await db.run('UPDATE rk_faces SET user_id = NULL WHERE collection_id = ? AND face_id = ? AND user_id = ?', [c.id, id, userId]);
          if (r.changes) {
            done.push({ FaceId: id });
            await changed(c, (faces) => {
              const f = faces.get(id);
              if (f) f.row.user_id = null;
            });
          } else failed.push({ FaceId: id, Reasons: ['FACE_NOT_FOUND'] });
        }
        return { DisassociatedFaces: done, UnsuccessfulFaceDisassociations: failed, UserStatus: 'ACTIVE' };
      },

      async SearchUsers(ctx, input): Promise<W<R.SearchUsersResponse>> {
        const c = await collection(ctx, collectionId(input));
        const userId = str(input, 'UserId', { min: 1, max: 128 });
        const faceId = str(input, 'FaceId', { min: 1, max: 64 });
        if ((userId === undefined) === (faceId === undefined)) throw err.invalidParameter('Specify exactly one of UserId and FaceId.');
        const faces = await facesOf(ctx, c);
        const minMatch = threshold(input, 'UserMatchThreshold');
        const max = int(input, 'MaxUsers', { min: 1, max: 500 }) ?? 10;
        let probe: Float32Array | undefined;
        if (faceId) probe = faces.get(faceId)?.vector;
        else probe = [...faces.values()].find((f) => f.row.user_id === userId)?.vector;
        if (!probe) throw err.notFound(faceId ? `Face ${faceId} does not exist` : `The user ${userId} has no faces`);
        const matches = (await searchUsers(ctx, c, probe, minMatch, max + 1)).filter((m) => m.User.UserId !== userId).slice(0, max);
        return { UserMatches: matches, FaceModelVersion: FACE_MODEL_VERSION, ...(faceId ? { SearchedFace: { FaceId: faceId } } : { SearchedUser: { UserId: userId } }) };
      },

      async SearchUsersByImage(ctx, input): Promise<W<R.SearchUsersByImageResponse>> {
        const c = await collection(ctx, collectionId(input));
        await dataKey(ctx, c);
        const filter = qualityFilter(input);
        const result = await detect(await imageOf(ctx, input, 'Image'), true);
        const f = result.faces.find((x) => !lowQuality(x, filter));
        if (!f) throw err.noFace();
        const matches = await searchUsers(ctx, c, f.descriptor!, threshold(input, 'UserMatchThreshold'), int(input, 'MaxUsers', { min: 1, max: 500 }) ?? 10);
        return {
          UserMatches: matches,
          FaceModelVersion: FACE_MODEL_VERSION,
          SearchedFace: { FaceDetail: faceDetail(f) },
          UnsearchedFaces: result.faces.filter((x) => x !== f).map((x) => ({ FaceDetails: faceDetail(x), Reasons: ['FACE_NOT_LARGEST'] as R.UnsearchedFaceReason[] })),
        };
      },
    },
  };
}
