// The trail's guarantees under failure: while the audit store cannot write, Trent serves nothing (503,
// no handler runs, so nothing changes unaudited) and recovers by itself once writes succeed again; and a
// response that reached its client was recorded first, so it survives a SIGKILL of the server under load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KMSClient, CreateKeyCommand, EncryptCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { CloudTrailClient, LookupEventsCommand, type Event, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { startTrent, removeDir, tempDir, type RunningTrent } from '../helpers/trent.ts';

interface TrailRecord {
  eventName: string;
  eventSource: string;
  requestID: string;
  eventID: string;
  errorCode?: string;
}

interface SdkError {
  name: string;
  message: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const record = (e: Event): TrailRecord => {
  assert.equal(typeof e.CloudTrailEvent, 'string', 'CloudTrailEvent is a JSON string');
  return JSON.parse(e.CloudTrailEvent!) as TrailRecord;
};

async function outcome<T>(call: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: SdkError }> {
  return call.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err: err as SdkError }),
  );
}

/** The call must be refused with 503 ServiceUnavailable; returns its request ID. */
async function unavailable(call: Promise<unknown>, what: string): Promise<string> {
  const o = await outcome(call);
  if (o.ok) assert.fail(`${what}: expected ServiceUnavailable, but the call succeeded: ${JSON.stringify(o.value)}`);
  assert.equal(o.err.name, 'ServiceUnavailable', `${what}: expected ServiceUnavailable, got ${o.err.name}: ${o.err.message}`);
  assert.equal(o.err.$metadata?.httpStatusCode, 503, `${what}: HTTP 503`);
  assert.ok(o.err.$metadata?.requestId, `${what}: the refusal carries a request ID`);
  return o.err.$metadata.requestId;
}

async function lookupAll(ct: CloudTrailClient, input: LookupEventsCommandInput = {}): Promise<Event[]> {
  const events: Event[] = [];
  let token: string | undefined;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 1000, 'LookupEvents paging ends');
    const r = await ct.send(new LookupEventsCommand({ ...input, MaxResults: 50, ...(token ? { NextToken: token } : {}) }));
    events.push(...(r.Events ?? []));
    token = r.NextToken;
    if (!token) return events;
  }
}

async function keyIds(kms: KMSClient): Promise<string[]> {
  const r = await kms.send(new ListKeysCommand({ Limit: 1000 }));
  assert.equal(r.Truncated, false, 'ListKeys fits one page');
  return (r.Keys ?? []).map((k) => k.KeyId!).sort();
}

test('fail closed: while the audit store cannot write, calls get 503 and change nothing; Trent recovers once it can', async (ctx) => {
  const work = await tempDir('trent-trail-fault-');
  const fault = join(work, 'audit-fault');
  let t: RunningTrent | undefined;
  let kms: KMSClient | undefined;
  let ct: CloudTrailClient | undefined;
  let sts: STSClient | undefined;
  try {
    t = await startTrent({ env: { TRENT_TEST_TRAIL_FAULT_FILE: fault } });
    kms = new KMSClient(t.clientConfig());
    ct = new CloudTrailClient(t.clientConfig());
    sts = new STSClient(t.clientConfig());
    const created = await kms.send(new CreateKeyCommand({ Description: 'fail closed' }));
    const keyId = created.KeyMetadata!.KeyId!;
    const encrypt = () => kms!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('audited only') }));

    const succeeded: string[] = [created.$metadata.requestId!];
    const ok = await encrypt();
    assert.ok(ok.CiphertextBlob, 'Encrypt works while the store is healthy');
    succeeded.push(ok.$metadata.requestId!);
    const keysBefore = await keyIds(kms);
    assert.ok(keysBefore.includes(keyId), 'ListKeys shows the key');

    // The disk "fails".
    await writeFile(fault, 'injected');
    /** Calls refused while the store could not write: none of them can have an event. */
    const refusedWhileFailing: string[] = [];
    refusedWhileFailing.push(await unavailable(encrypt(), 'the first Encrypt after the failure'));
    refusedWhileFailing.push(await unavailable(encrypt(), 'a second Encrypt'));
    refusedWhileFailing.push(await unavailable(kms.send(new CreateKeyCommand({ Description: 'must not exist' })), 'CreateKey'));
    refusedWhileFailing.push(await unavailable(kms.send(new ListKeysCommand({})), 'ListKeys'));
    refusedWhileFailing.push(await unavailable(ct.send(new LookupEventsCommand({ MaxResults: 1 })), 'LookupEvents'));
    refusedWhileFailing.push(await unavailable(sts.send(new GetCallerIdentityCommand({})), 'STS GetCallerIdentity'));
    refusedWhileFailing.push(await unavailable(encrypt(), 'a third Encrypt'));

    // The disk comes back: a refused call's own event is the probe, so Trent serves again within a few calls.
    await rm(fault);
    const probes: string[] = [];
    let recovered: string | undefined;
    for (let attempt = 0; attempt < 5 && !recovered; attempt++) {
      const o = await outcome(encrypt());
      if (o.ok) recovered = o.value.$metadata.requestId!;
      else {
        assert.equal(o.err.name, 'ServiceUnavailable', `while recovering only ServiceUnavailable is expected, got ${o.err.name}: ${o.err.message}`);
        probes.push(o.err.$metadata!.requestId!);
      }
    }
    assert.ok(recovered, `Encrypt succeeds again within 5 attempts once the store can write (${probes.length} refused)`);
    succeeded.push(recovered);
    ctx.diagnostic(`refused while failing: ${refusedWhileFailing.length}; refused after the store recovered: ${probes.length}`);

    const keysAfter = await keyIds(kms);
    assert.deepEqual(keysAfter, keysBefore, 'the refused CreateKey created no key');

    const events = await lookupAll(ct);
    const byRequest = new Map<string, TrailRecord[]>();
    for (const e of events) {
      const r = record(e);
      byRequest.set(r.requestID, [...(byRequest.get(r.requestID) ?? []), r]);
    }
    for (const id of succeeded) {
      const rs = byRequest.get(id) ?? [];
      assert.equal(rs.length, 1, `the successful call ${id} has one event`);
      assert.equal(rs[0]!.errorCode, undefined, `the successful call ${id} is recorded as a success`);
    }
    for (const id of refusedWhileFailing) assert.equal(byRequest.get(id), undefined, `no event for ${id}, refused while the store could not write`);
    for (const id of probes) {
      for (const r of byRequest.get(id) ?? []) assert.equal(r.errorCode, 'ServiceUnavailable', `the refused probe ${id} is recorded as refused, not as a success`);
    }
    const createKeys = events.map(record).filter((r) => r.eventName === 'CreateKey');
    assert.deepEqual(
      createKeys.map((r) => [r.requestID, r.errorCode]),
      [[created.$metadata.requestId, undefined]],
      'only the one real CreateKey is recorded, and as a success',
    );
    await t.waitForOutput(/audit store write failed/, 'the failure is logged');
    await t.waitForOutput(/audit store recovered/, 'the recovery is logged');
  } finally {
    kms?.destroy();
    ct?.destroy();
    sts?.destroy();
    await t?.stop();
    if (t) await removeDir(t.dataDir);
    await removeDir(work);
  }
});

test('crash under load: every Encrypt whose success reached its client is in the trail after a SIGKILL and restart', async (ctx) => {
  const TOTAL = 2000;
  const IN_FLIGHT = 64;
  const KILL_AFTER = Math.round(TOTAL * 0.4);
  let t: RunningTrent | undefined;
  let t2: RunningTrent | undefined;
  let kms: KMSClient | undefined;
  let ct: CloudTrailClient | undefined;
  try {
    t = await startTrent();
    const server = t;
    kms = new KMSClient(
      t.clientConfig({
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({
          httpsAgent: new Agent({ ca: t.ca, keepAlive: true, maxSockets: IN_FLIGHT }),
          connectionTimeout: 5_000,
          requestTimeout: 15_000,
        }),
      }),
    );
    const client = kms;
    const created = await client.send(new CreateKeyCommand({ Description: 'crash under load' }));
    const keyId = created.KeyMetadata!.KeyId!;

    const acknowledged: string[] = [];
    let completed = 0;
    let failed = 0;
    let next = 0;
    let killed: Promise<number | null> | undefined;
    let killedAt = 0;
    const started = Date.now();
    const worker = async () => {
      while (next < TOTAL) {
        next++;
        const o = await outcome(client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(`load ${next}`) })));
        // A success that reached us was recorded before it was sent: collect it, before or after the kill.
        if (o.ok) acknowledged.push(o.value.$metadata.requestId!);
        else failed++;
        completed++;
        if (completed >= KILL_AFTER && !killed) {
          killedAt = Date.now() - started;
          killed = server.stop('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    assert.ok(killed, 'the server was killed');
    const signal = await killed;
    assert.equal(signal, null, 'the server did not exit by itself');
    assert.equal(server.process.signalCode, 'SIGKILL', 'the server died of SIGKILL');
    ctx.diagnostic(
      `${acknowledged.length} of ${TOTAL} Encrypt calls succeeded before the kill (${failed} failed); killed after ${killedAt} ms, all calls done after ${Date.now() - started} ms`,
    );
    assert.ok(acknowledged.length >= KILL_AFTER * 0.9, `most calls before the kill succeeded (${acknowledged.length})`);
    assert.ok(acknowledged.length < TOTAL, 'the kill interrupted the run');
    client.destroy();
    kms = undefined;

    t2 = await startTrent({ dataDir: t.dataDir });
    ct = new CloudTrailClient(t2.clientConfig());
    const events = await lookupAll(ct, { LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }] });
    const recorded = new Set<string>();
    const eventIds = new Set<string>();
    for (const e of events) {
      const r = record(e);
      assert.equal(r.eventName, 'Encrypt', 'only Encrypt events');
      assert.ok(!eventIds.has(r.eventID), `event ${r.eventID} appears once`);
      eventIds.add(r.eventID);
      recorded.add(r.requestID);
    }
    ctx.diagnostic(`${events.length} Encrypt events recorded after the restart`);
    const acknowledgedSet = new Set(acknowledged);
    const missing = acknowledged.filter((id) => !recorded.has(id));
    assert.deepEqual(missing, [], `every acknowledged Encrypt is in the trail (${missing.length} of ${acknowledged.length} missing)`);
    for (const e of events) {
      if (acknowledgedSet.has(record(e).requestID)) assert.equal(record(e).errorCode, undefined, 'an acknowledged call is recorded as a success');
    }
  } finally {
    kms?.destroy();
    ct?.destroy();
    await t2?.stop();
    await t?.stop('SIGKILL');
    if (t) await removeDir(t.dataDir);
  }
});

test('a state-changing call that arrives first after the store fails is refused before it changes anything', async () => {
  const dir = await tempDir('trent-fault-');
  const fault = join(dir, 'FAIL');
  const t = await startTrent({ env: { TRENT_TEST_TRAIL_FAULT_FILE: fault } });
  try {
    const kms = new KMSClient(t.clientConfig());
    const before = (await kms.send(new ListKeysCommand({}))).Keys!.length;
    await writeFile(fault, '');
    // No call has failed yet, so the recorder does not know: the preflight write must catch it.
    const err = await kms.send(new CreateKeyCommand({ Description: 'must not exist' })).catch((e) => e);
    assert.equal(err.name, 'ServiceUnavailable', 'CreateKey is refused');
    assert.equal(err.$metadata.httpStatusCode, 503, 'with a 503');
    await rm(fault);
    let after: number | undefined;
    for (let i = 0; i < 5 && after === undefined; i++) {
      after = await kms.send(new ListKeysCommand({})).then((r) => r.Keys!.length, () => undefined);
    }
    assert.equal(after, before, 'no key was created while the audit store was failing');
  } finally {
    await t.stop();
    await removeDir(t.dataDir);
    await removeDir(dir);
  }
});
