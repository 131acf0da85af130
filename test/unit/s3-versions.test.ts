// The rules under S3 versioning, Object Lock, object tags and lifecycle, each on its own: version ids, which lock
// holds and which retention change it allows, lock headers and documents, tag sets and headers, lifecycle documents,
// which objects a rule covers and when its actions fall due. And the version rows themselves, on an embedded database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AwsError } from '../../src/wire/errors.ts';
import { parseXml } from '../../src/wire/xml.ts';
import { dueAt, expiryOf, parseLifecycleConfiguration, ruleCovers, lifecycleRulesXml } from '../../src/s3/lifecycle.ts';
import { checkRetentionChange, lockForNewVersion, lockHeaders, parseLockConfiguration, parseRetention, requireIntegrity } from '../../src/s3/object-lock.ts';
import { isVersionIdForm, lockedNow, newVersionId } from '../../src/s3/objects.ts';
import { checkObjectTags, tagsOfHeader } from '../../src/s3/tagging.ts';
import type { BucketRecord } from '../../src/s3/buckets.ts';

const DAY = 86_400_000;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AwsError, `an AwsError, not ${String(err)}`);
    return `${err.code}:${err.status}`;
  }
  return 'ok';
}

test('version ids: 32 URL-safe characters, random; "null" names the null version; anything else is no version id', () => {
  const ids = new Set(Array.from({ length: 1000 }, newVersionId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.ok(isVersionIdForm(id), id);
  assert.ok(isVersionIdForm('null'));
  for (const bad of ['', 'NULL', 'a'.repeat(31), 'a'.repeat(33), `${'a'.repeat(31)}/`, '../etc']) assert.equal(isVersionIdForm(bad), false, bad);
});

test('Object Lock holds a version while a legal hold is on or a retention runs; GOVERNANCE alone yields to the bypass', () => {
  const now = 1_000_000;
  const future = now + 1000;
  assert.equal(lockedNow({ retention: null }, now), false);
  assert.equal(lockedNow({ retention: { mode: 'COMPLIANCE', until: future } }, now), true);
  assert.equal(lockedNow({ retention: { mode: 'COMPLIANCE', until: future } }, now, true), true, 'COMPLIANCE never yields');
  assert.equal(lockedNow({ retention: { mode: 'GOVERNANCE', until: future } }, now), true);
  assert.equal(lockedNow({ retention: { mode: 'GOVERNANCE', until: future } }, now, true), false);
  assert.equal(lockedNow({ retention: { mode: 'COMPLIANCE', until: now } }, now), false, 'a retention that has run out holds nothing');
  assert.equal(lockedNow({ retention: null, legalHold: true }, now, true), true, 'a legal hold yields to no bypass');
  assert.equal(lockedNow({ retention: null, legalHold: false }, now), false);
});

test('retention changes: extend in the same mode freely; shorten, remove or change mode only GOVERNANCE with the bypass; anything once it has run out', () => {
  const now = 1_000_000;
  const c = { mode: 'COMPLIANCE' as const, until: now + 10_000 };
  const g = { mode: 'GOVERNANCE' as const, until: now + 10_000 };
  const check = (cur: typeof c | typeof g | null, next: typeof c | typeof g | null, bypass: boolean, at = now) => code(() => checkRetentionChange(cur, next, bypass, at));
  assert.equal(check(c, { mode: 'COMPLIANCE', until: now + 20_000 }, false), 'ok');
  assert.equal(check(c, { mode: 'COMPLIANCE', until: now + 5_000 }, true), 'AccessDenied:403');
  assert.equal(check(c, { mode: 'GOVERNANCE', until: now + 20_000 }, true), 'AccessDenied:403');
  assert.equal(check(c, null, true), 'AccessDenied:403');
  assert.equal(check(g, { mode: 'GOVERNANCE', until: now + 20_000 }, false), 'ok');
  assert.equal(check(g, { mode: 'GOVERNANCE', until: now + 5_000 }, false), 'AccessDenied:403');
  assert.equal(check(g, { mode: 'GOVERNANCE', until: now + 5_000 }, true), 'ok');
  assert.equal(check(g, { mode: 'COMPLIANCE', until: now + 20_000 }, false), 'AccessDenied:403');
  assert.equal(check(g, null, true), 'ok');
  assert.equal(check(c, null, false, now + 10_000), 'ok', 'run out');
  assert.equal(check(null, { mode: 'COMPLIANCE', until: now + 1 }, false), 'ok');
});

test('lock headers: both mode and date or neither, a known mode, an ISO date in the future (kept to the second), ON or OFF', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const h = (x: Record<string, string>) => code(() => lockHeaders(x, now));
  assert.deepEqual(lockHeaders({ 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': '2030-01-02T00:00:00.750Z' }, now), {
    retention: { mode: 'GOVERNANCE', until: Date.parse('2030-01-02T00:00:00Z') },
  });
  assert.deepEqual(lockHeaders({ 'x-amz-object-lock-legal-hold': 'OFF' }, now), { legalHold: false });
  assert.equal(h({ 'x-amz-object-lock-mode': 'GOVERNANCE' }), 'InvalidArgument:400');
  assert.equal(h({ 'x-amz-object-lock-retain-until-date': '2030-01-02T00:00:00Z' }), 'InvalidArgument:400');
  assert.equal(h({ 'x-amz-object-lock-mode': 'Governance', 'x-amz-object-lock-retain-until-date': '2030-01-02T00:00:00Z' }), 'InvalidArgument:400');
  assert.equal(h({ 'x-amz-object-lock-mode': 'COMPLIANCE', 'x-amz-object-lock-retain-until-date': 'tomorrow' }), 'InvalidArgument:400');
  assert.equal(h({ 'x-amz-object-lock-mode': 'COMPLIANCE', 'x-amz-object-lock-retain-until-date': '2029-12-31T00:00:00Z' }), 'InvalidArgument:400');
  assert.equal(h({ 'x-amz-object-lock-legal-hold': 'on' }), 'InvalidArgument:400');
});

test('a new version takes the lock asked for, else the bucket default counted from now; a bucket without Object Lock refuses lock headers', () => {
  const bucket = (objectLock: BucketRecord['objectLock']) => ({ objectLock }) as BucketRecord;
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.deepEqual(lockForNewVersion(bucket({ enabled: true, defaultRetention: { mode: 'COMPLIANCE', days: 2 } }), {}, now), { retention: { mode: 'COMPLIANCE', until: now + 2 * DAY } });
  assert.deepEqual(lockForNewVersion(bucket({ enabled: true, defaultRetention: { mode: 'GOVERNANCE', years: 1 } }), {}, now), { retention: { mode: 'GOVERNANCE', until: now + 365 * DAY } });
  const own = { mode: 'GOVERNANCE' as const, until: now + 5000 };
  assert.deepEqual(lockForNewVersion(bucket({ enabled: true, defaultRetention: { mode: 'COMPLIANCE', days: 2 } }), { retention: own }, now), { retention: own });
  assert.deepEqual(lockForNewVersion(bucket(null), {}, now), {});
  assert.equal(code(() => lockForNewVersion(bucket(null), { legalHold: true }, now)), 'InvalidRequest:400');
});

test('a write taking a lock needs Content-MD5 or an x-amz-checksum-* header or trailer', () => {
  assert.equal(code(() => requireIntegrity({ 'content-md5': 'x' }, 'Put Object')), 'ok');
  assert.equal(code(() => requireIntegrity({ 'x-amz-checksum-crc32': 'x' }, 'Put Object')), 'ok');
  assert.equal(code(() => requireIntegrity({ 'x-amz-trailer': 'x-amz-checksum-crc64nvme' }, 'Put Part')), 'ok');
  assert.equal(code(() => requireIntegrity({ 'x-amz-sdk-checksum-algorithm': 'CRC32' }, 'Put Object')), 'InvalidRequest:400');
  assert.equal(code(() => requireIntegrity({ 'x-amz-content-sha256': 'abc' }, 'Put Object')), 'InvalidRequest:400');
});

test('Object Lock documents: the configuration (Days or Years, positive, bounded), a retention, as AWS checks them', () => {
  const cfg = (x: string) => parseLockConfiguration(parseXml(x));
  assert.deepEqual(cfg('<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>'), { enabled: true });
  assert.deepEqual(cfg('<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>2</Years></DefaultRetention></Rule></ObjectLockConfiguration>'), {
    enabled: true,
    defaultRetention: { mode: 'COMPLIANCE', years: 2 },
  });
  const bad = (x: string) => code(() => cfg(x));
  assert.equal(bad('<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>'), 'MalformedXML:400');
  assert.equal(bad('<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule/></ObjectLockConfiguration>'), 'MalformedXML:400');
  assert.equal(bad('<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode></DefaultRetention></Rule></ObjectLockConfiguration>'), 'MalformedXML:400');
  assert.equal(bad('<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>-1</Days></DefaultRetention></Rule></ObjectLockConfiguration>'), 'InvalidArgument:400');
  assert.equal(bad('<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>36501</Days></DefaultRetention></Rule></ObjectLockConfiguration>'), 'InvalidArgument:400');
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(parseRetention(parseXml('<Retention/>'), now), null, 'an empty retention removes it');
  assert.equal(code(() => parseRetention(parseXml('<Retention><Mode>COMPLIANCE</Mode></Retention>'), now)), 'MalformedXML:400');
  assert.equal(code(() => parseRetention(parseXml('<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2020-01-01T00:00:00Z</RetainUntilDate></Retention>'), now)), 'InvalidArgument:400');
});

test('object tags: the limits AWS sets, and the x-amz-tagging header in URL query form', () => {
  assert.deepEqual(tagsOfHeader('a=1&b=two%20words&c'), [
    { Key: 'a', Value: '1' },
    { Key: 'b', Value: 'two words' },
    { Key: 'c', Value: '' },
  ]);
  assert.deepEqual(tagsOfHeader(''), []);
  assert.equal(code(() => tagsOfHeader('a=1&a=2')), 'InvalidArgument:400');
  assert.equal(code(() => tagsOfHeader('a=%E0%A4%A')), 'InvalidArgument:400');
  const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
  assert.equal(code(() => checkObjectTags(tags(10))), 'ok');
  assert.equal(code(() => checkObjectTags(tags(11))), 'BadRequest:400');
  assert.equal(code(() => checkObjectTags([{ Key: 'é'.repeat(128), Value: '日本'.repeat(128) }])), 'ok', 'Unicode letters, counted as characters');
  assert.equal(code(() => checkObjectTags([{ Key: '', Value: '' }])), 'InvalidTag:400');
  assert.equal(code(() => checkObjectTags([{ Key: 'a<b', Value: '' }])), 'InvalidTag:400');
  assert.equal(code(() => checkObjectTags([{ Key: 'AWS:x', Value: '' }])), 'InvalidTag:400');
});

test('lifecycle documents as AWS checks them, answered back as sent', () => {
  const doc = (rules: string) => parseXml(`<LifecycleConfiguration>${rules}</LifecycleConfiguration>`);
  const parse = (rules: string) => parseLifecycleConfiguration(doc(rules));
  const bad = (rules: string) => code(() => parse(rules));
  const rules = parse(
    '<Rule><ID>a</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeLessThan>100</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>' +
      '<Rule><ID>b</ID><Filter/><Status>Disabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>',
  );
  assert.deepEqual(rules[0]!.filter, { prefix: 'p/', tags: [{ Key: 'k', Value: 'v' }], sizeLessThan: 100 });
  assert.deepEqual(lifecycleRulesXml(rules), [
    { ID: 'a', Filter: { And: { Prefix: 'p/', Tag: [{ Key: 'k', Value: 'v' }], ObjectSizeLessThan: 100 } }, Status: 'Enabled', Expiration: { Days: 3 } },
    { ID: 'b', Filter: {}, Status: 'Disabled', NoncurrentVersionExpiration: { NoncurrentDays: 1 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } },
  ]);
  // The original form: a rule-level Prefix stays one.
  assert.deepEqual(lifecycleRulesXml(parse('<Rule><ID>old</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>')), [
    { ID: 'old', Prefix: 'logs/', Status: 'Enabled', Expiration: { Days: 1 } },
  ]);
  assert.equal(bad(''), 'MalformedXML:400');
  assert.equal(bad('<Rule><ID>x</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>'), 'MalformedXML:400', 'neither Filter nor Prefix');
  assert.equal(bad('<Rule><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>'), 'MalformedXML:400', 'two predicates');
  assert.equal(bad('<Rule><Filter><And><Prefix>a</Prefix></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>'), 'MalformedXML:400', 'an And of one');
  assert.equal(bad('<Rule><Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>'), 'InvalidRequest:400');
  assert.equal(bad('<Rule><Filter><And><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>'), 'InvalidRequest:400');
  assert.equal(bad('<Rule><Prefix>a</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>'), 'InvalidRequest:400', 'mixed forms');
  assert.equal(bad('<Rule><Prefix>a</Prefix><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>'), 'InvalidRequest:400');
  assert.equal(bad('<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>'), 'InvalidRequest:400');
  assert.equal(bad('<Rule><Filter/><Status>Enabled</Status><NoncurrentVersionExpiration/></Rule>'), 'MalformedXML:400');
  assert.equal(bad('<Rule><Filter/><Status>Enabled</Status><Expiration><Date>2031-01-01T00:00:01Z</Date></Expiration></Rule>'), 'InvalidArgument:400');
  assert.equal(bad(`${'<Rule><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>'.repeat(1001)}`), 'InvalidRequest:400');
});

test('which objects a rule covers: its prefix, all its tags (more on the object are fine), sizes strictly between its bounds', () => {
  const [rule] = parseLifecycleConfiguration(
    parseXml(
      '<LifecycleConfiguration><Rule><ID>r</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value></Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>20</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>',
    ),
  );
  const tags = [
    { Key: 'a', Value: '1' },
    { Key: 'b', Value: '' },
    { Key: 'c', Value: 'extra' },
  ];
  assert.equal(ruleCovers(rule!, 'logs/x', 15, tags), true);
  assert.equal(ruleCovers(rule!, 'other/x', 15, tags), false);
  assert.equal(ruleCovers(rule!, 'logs/x', 10, tags), false, 'greater than, not equal');
  assert.equal(ruleCovers(rule!, 'logs/x', 20, tags), false, 'less than, not equal');
  assert.equal(ruleCovers(rule!, 'logs/x', 15, tags.slice(0, 1)), false, 'every tag of the rule');
  assert.equal(ruleCovers(rule!, 'logs/x', 15, [{ Key: 'a', Value: '2' }, tags[1]!]), false, 'key and value');
});

test('when actions fall due: the start plus the days, up to the next midnight UTC (the worked examples of AWS’s guide)', () => {
  // Created 1/15/2014 10:30 UTC, 3 days: due 1/19/2014 00:00 UTC.
  assert.equal(dueAt(Date.parse('2014-01-15T10:30:00Z'), 3), Date.parse('2014-01-19T00:00:00Z'));
  // Noncurrent since 1/2/2014 11:30 UTC, 5 days: due 1/8/2014 00:00 UTC.
  assert.equal(dueAt(Date.parse('2014-01-02T11:30:00Z'), 5), Date.parse('2014-01-08T00:00:00Z'));
  // Created 00:05 on January 2, one day: due 00:00 on January 4.
  assert.equal(dueAt(Date.parse('2014-01-02T00:05:00Z'), 1), Date.parse('2014-01-04T00:00:00Z'));
  // A shorter lifecycle day (tests) keeps the same rule.
  assert.equal(dueAt(2500, 1, 2000), 6000);
  const rules = parseLifecycleConfiguration(
    parseXml(
      '<LifecycleConfiguration><Rule><ID>late</ID><Filter/><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule><Rule><ID>soon</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><ID>off</ID><Filter/><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>',
    ),
  );
  const created = Date.parse('2014-01-15T10:30:00Z');
  assert.deepEqual(expiryOf(rules, 'tmp/x', 1, undefined, created), { at: Date.parse('2014-01-17T00:00:00Z'), ruleId: 'soon' }, 'the earliest rule');
  assert.deepEqual(expiryOf(rules, 'keep/x', 1, undefined, created), { at: Date.parse('2014-02-15T00:00:00Z'), ruleId: 'late' });
});
