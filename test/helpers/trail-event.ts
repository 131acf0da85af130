import { randomUUID } from 'node:crypto';
import type { TrailEvent } from '../../src/trail/event.ts';

/** A management event for the trail store tests: a KMS call by the admin at `at`, with `extra` fields over it. */
export function event(name: string, at: Date, extra: Partial<TrailEvent> = {}): TrailEvent {
  return {
    eventVersion: '1.11',
    userIdentity: { type: 'IAMUser', userName: 'admin', accessKeyId: 'AKIAEXAMPLE' },
    eventTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'kms.amazonaws.com',
    eventName: name,
    awsRegion: 'us-east-1',
    sourceIPAddress: '127.0.0.1',
    userAgent: 'test',
    requestParameters: null,
    responseElements: null,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: true,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
    ...extra,
  };
}
