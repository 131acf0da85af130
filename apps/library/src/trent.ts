// Everything the library asks of Trent, through the AWS SDK for JavaScript over HTTPS, as the library's own IAM
// user. Member photos go into an SSE-KMS bucket under the library key (one data key per object, so each KMS event
// names the object in its encryption context); faces are compared and searched by Rekognition-compatible calls.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { CloudTrailClient, LookupEventsCommand, type Event } from '@aws-sdk/client-cloudtrail';
import {
  CompareFacesCommand,
  DeleteFacesCommand,
  IndexFacesCommand,
  RekognitionClient,
  SearchFacesByImageCommand,
} from '@aws-sdk/client-rekognition';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface TrentConnection {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The CA that signed Trent's certificate. */
  caPath: string;
}

export interface LibraryResources {
  bucket: string;
  keyArn: string;
  collection: string;
}

/** The similarity at or above which a face is accepted: Rekognition's default, calibrated in Trent to <= 0.1% false accepts. */
export const THRESHOLD = 80;

export function clientConfig(c: TrentConnection) {
  return {
    region: c.region,
    endpoint: c.endpoint,
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: readFileSync(c.caPath), keepAlive: true }) }),
  };
}

/** A face problem the member can fix (no face in the frame, an unreadable image): shown to them as it is. */
export class FaceProblem extends Error {}

export interface KeyEvent {
  time: string;
  name: string;
  user: string;
  invokedBy: string | null;
  objectArn: string | null;
  errorCode: string | null;
}

export class TrentServices {
  readonly s3: S3Client;
  readonly rekognition: RekognitionClient;
  readonly cloudtrail: CloudTrailClient;

  constructor(
    connection: TrentConnection,
    readonly resources: LibraryResources,
  ) {
    const config = clientConfig(connection);
    this.s3 = new S3Client({ ...config, forcePathStyle: true });
    this.rekognition = new RekognitionClient(config);
    this.cloudtrail = new CloudTrailClient(config);
  }

  photoKey(memberNumber: string): string {
    return `members/${memberNumber}.jpg`;
  }

  /** Stores the photo (SSE-KMS under the library key, no Bucket Key) and indexes its face; returns the FaceId. */
  async enrol(memberNumber: string, photo: Buffer, contentType: string): Promise<{ photoKey: string; faceId: string }> {
    const { bucket, keyArn, collection } = this.resources;
    const photoKey = this.photoKey(memberNumber);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: photoKey,
        Body: photo,
        ContentType: contentType,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: keyArn,
        BucketKeyEnabled: false,
      }),
    );
    try {
      const out = await this.rekognition
        .send(
          new IndexFacesCommand({
            CollectionId: collection,
            Image: { S3Object: { Bucket: bucket, Name: photoKey } },
            ExternalImageId: memberNumber,
            MaxFaces: 1,
            QualityFilter: 'AUTO',
          }),
        )
        .catch(faceProblem);
      const faceId = out.FaceRecords?.[0]?.Face?.FaceId;
      if (!faceId) {
        const reasons = out.UnindexedFaces?.flatMap((u) => u.Reasons ?? []) ?? [];
        throw new FaceProblem(reasons.length ? `The photo's face is not clear enough (${reasons.join(', ').toLowerCase()}).` : 'No face was found in the photo.');
      }
      return { photoKey, faceId };
    } catch (e) {
      await this.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: photoKey }));
      throw e;
    }
  }

  /** Deletes the member's face vector and photo. */
  async forget(photoKey: string, faceId: string): Promise<void> {
    await this.rekognition.send(new DeleteFacesCommand({ CollectionId: this.resources.collection, FaceIds: [faceId] }));
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.resources.bucket, Key: photoKey }));
  }

  /** The best similarity between the largest face in the frame and the member's stored photo (0 when no match). */
  async compare(frame: Buffer, photoKey: string): Promise<number> {
    const out = await this.rekognition
      .send(
        new CompareFacesCommand({
          SourceImage: { Bytes: frame },
          TargetImage: { S3Object: { Bucket: this.resources.bucket, Name: photoKey } },
          SimilarityThreshold: 0,
          QualityFilter: 'NONE',
        }),
      )
      .catch(faceProblem);
    return Math.max(0, ...(out.FaceMatches ?? []).map((m) => m.Similarity ?? 0));
  }

  /** The member whose indexed face best matches the frame, at or above the threshold. */
  async search(frame: Buffer): Promise<{ memberNumber: string; similarity: number } | undefined> {
    const out = await this.rekognition
      .send(new SearchFacesByImageCommand({ CollectionId: this.resources.collection, Image: { Bytes: frame }, FaceMatchThreshold: THRESHOLD, MaxFaces: 1 }))
      .catch(faceProblem);
    const best = out.FaceMatches?.[0];
    const memberNumber = best?.Face?.ExternalImageId;
    return memberNumber ? { memberNumber, similarity: best.Similarity ?? 0 } : undefined;
  }

  /** Every use of the library key since `since`, newest first, from the audit trail (LookupEvents). */
  async keyEvents(since: Date, limit = 2000): Promise<KeyEvent[]> {
    const events: Event[] = [];
    let NextToken: string | undefined;
    do {
      const out = await this.cloudtrail.send(
        new LookupEventsCommand({
          LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: this.resources.keyArn }],
          StartTime: since,
          MaxResults: 50,
          NextToken,
        }),
      );
      events.push(...(out.Events ?? []));
      NextToken = out.NextToken;
    } while (NextToken && events.length < limit);
    return events.map((e) => {
      const record = JSON.parse(e.CloudTrailEvent ?? '{}') as {
        userIdentity?: { arn?: string; invokedBy?: string };
        requestParameters?: { encryptionContext?: Record<string, string> };
        errorCode?: string;
      };
      return {
        time: (e.EventTime ?? new Date(0)).toISOString(),
        name: e.EventName ?? '',
        user: e.Username ?? record.userIdentity?.arn ?? '',
        invokedBy: record.userIdentity?.invokedBy ?? null,
        objectArn: record.requestParameters?.encryptionContext?.['aws:s3:arn'] ?? record.requestParameters?.encryptionContext?.['aws:rekognition:collection-arn'] ?? null,
        errorCode: record.errorCode ?? null,
      };
    });
  }
}

function faceProblem(e: unknown): never {
  const name = (e as { name?: string }).name;
  const message = (e as { message?: string }).message ?? '';
  if (name === 'InvalidParameterException' && /face/i.test(message)) throw new FaceProblem('No face was found. Look straight at the camera and try again.');
  if (name === 'InvalidImageFormatException') throw new FaceProblem('The image could not be read. Use a JPEG or PNG photo.');
  if (name === 'ImageTooLargeException') throw new FaceProblem('The image is too large.');
  throw e;
}
