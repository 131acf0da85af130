// The audit trail under hostile input: no request can make another request's change go unrecorded, a secret
// typed into the wrong member never reaches the trail, health tells the truth, and a state-changing call cut
// short by a crash still leaves its event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:https';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { SecretsManagerClient, CreateSecretCommand, DescribeSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SSMClient, PutParameterCommand } from '@aws-sdk/client-ssm';
import { DISTRIBUTED, filesContaining, removeDir, startTrent, storageDirs, tempDir, type RunningTrent } from '../helpers/trent.ts';
import { errorCode, signed } from '../helpers/raw.ts';

let t: RunningTrent;
let fault: string;

before(async () => {
  const dir = await tempDir();
  fault = join(dir, 'AUDIT-FAULT');
  t = await startTrent({ dataDir: dir, env: { TRENT_TEST_TRAIL_FAULT_FILE: fault } });
});
after(async () => {
  await t.stop();
  await removeDir(t.dataDir);
});

function secretsCall(op: string, body: string | Buffer) {
  return signed(t, 'secretsmanager', { method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `secretsmanager.${op}` }, body });
}

/** Every stored event, parsed, with its request ID. */
async function events(): Promise<Array<Record<string, unknown>>> {
  const db = await t.openDb('trail');
  try {
    const rows = await db.all<{ record: string }>('SELECT record FROM trail_events ORDER BY seq');
    return rows.map((r) => JSON.parse(r.record) as Record<string, unknown>);
  } finally {
    await db.close();
  }
}

function health(path = '/_trent/health'): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', servername: 'localhost', port: t.port, path, ca: t.ca, agent: false }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> }));
    });
    r.on('error', reject);
    r.end();
  });
}

test('a body nested thousands of levels deep is refused as SerializationException and costs no other call its record', async () => {
  const sm = new SecretsManagerClient(t.clientConfig());
  const kms = new KMSClient(t.clientConfig());
  const ssm = new SSMClient(t.clientConfig());
  await sm.send(new CreateSecretCommand({ Name: 'poison-target', SecretString: 'v0' }));
  const poison = (depth: number, op: string) => {
    const deep = '{"x":'.repeat(depth) + '1' + '}'.repeat(depth);
    return secretsCall(op, op === 'PutResourcePolicy' ? `{"SecretId":"poison-target","ResourcePolicy":"{}","Unknown":${deep}}` : `{"SecretId":"poison-target","SecretString":"v","Unknown":${deep}}`);
  };
  // Poisoned calls interleaved with legitimate state changes, all in flight together.
  const legit: Array<Promise<{ requestId: string; what: string }>> = [];
  const poisoned: Array<ReturnType<typeof secretsCall>> = [];
  for (let i = 0; i < 40; i++) {
    poisoned.push(poison(5000 + i * 125, i % 2 ? 'PutResourcePolicy' : 'PutSecretValue'));
    legit.push(sm.send(new CreateSecretCommand({ Name: `legit-${i}`, SecretString: `value-${i}` })).then((r) => ({ requestId: r.$metadata.requestId!, what: `secret ${i}` })));
    legit.push(kms.send(new CreateKeyCommand({ Description: `legit-${i}` })).then((r) => ({ requestId: r.$metadata.requestId!, what: `key ${i}` })));
    legit.push(ssm.send(new PutParameterCommand({ Name: `/legit/${i}`, Value: `p${i}`, Type: 'SecureString' })).then((r) => ({ requestId: r.$metadata.requestId!, what: `parameter ${i}` })));
  }
  for (const r of await Promise.all(poisoned)) {
    assert.equal(r.status, 400, r.body);
    assert.equal(errorCode(r), 'SerializationException');
  }
  const done = await Promise.all(legit);
  assert.equal(done.length, 120, 'every legitimate call succeeded');
  const recorded = new Set((await events()).map((e) => e['requestID']));
  const missing = done.filter((d) => !recorded.has(d.requestId));
  assert.deepEqual(missing, [], 'every legitimate change has its event');
  // The poisoned calls are on record too, as the client errors they are.
  const refused = (await events()).filter((e) => e['errorCode'] === 'SerializationException');
  assert.equal(refused.length, 40);
  // Depths a parser may still read (up to 3,000) are refused the same way: nothing unreadable is stored.
  const r = await poison(3000, 'PutSecretValue');
  assert.equal(r.status, 400);
  for (const e of await events()) assert.doesNotThrow(() => JSON.stringify(e));
  assert.equal((await sm.send(new DescribeSecretCommand({ SecretId: 'poison-target' }))).Name, 'poison-target');
});

test('a secret typed into a misspelt or invented member never reaches the trail', async () => {
  const typo = 'TYPO-SECRET-6c1f0e2b9a';
  const extra = 'EXTRA-SECRET-93d0aa71';
  const r = await secretsCall('CreateSecret', JSON.stringify({ Name: 'typo-secret', secretString: typo, Extra: extra, Nested: { deeper: extra } }));
  assert.equal(r.status, 200, r.body);
  const r2 = await secretsCall('PutSecretValue', JSON.stringify({ SecretId: 'typo-secret', SecretString: 'real', secretBinary: typo, ClientRequestToken: 'c'.repeat(36) }));
  assert.equal(r2.status, 200, r2.body);
  const all = JSON.stringify(await events());
  assert.ok(!all.includes(typo) && !all.includes(extra), 'no unmodelled member in any event');
  const created = (await events()).find((e) => e['eventName'] === 'CreateSecret' && (e['requestParameters'] as Record<string, unknown> | null)?.['name'] === 'typo-secret');
  assert.deepEqual(created?.['requestParameters'], { name: 'typo-secret' });
  const db = await t.openDb('trail');
  await db.checkpoint();
  await db.close();
  assert.deepEqual(await filesContaining(storageDirs(t.dataDir), [Buffer.from(typo), Buffer.from(extra)]), [], 'nowhere on disk');
});

test('wrong member types are SerializationException before anything runs; the call is recorded as such', async () => {
  const r = await secretsCall('CreateSecret', JSON.stringify({ Name: { nested: 'object' }, SecretString: 'x' }));
  assert.equal(r.status, 400);
  assert.equal(errorCode(r), 'SerializationException');
  assert.match(r.body, /'Name'/);
  const invalid = await secretsCall('CreateSecret', Buffer.concat([Buffer.from('{"Name":"utf8-'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]));
  assert.equal(invalid.status, 400);
  assert.equal(errorCode(invalid), 'SerializationException');
  const ids = new Set([r.headers['x-amzn-requestid'], invalid.headers['x-amzn-requestid']]);
  const recorded = (await events()).filter((e) => ids.has(e['requestID'] as string));
  assert.deepEqual(recorded.map((e) => e['errorCode']), ['SerializationException', 'SerializationException']);
});

test('health and readiness answer 503, naming the audit trail, while events cannot be written', async () => {
  assert.equal((await health()).status, 200);
  assert.equal((await health('/_trent/ready')).status, 200);
  await writeFile(fault, '');
  try {
    const sm = new SecretsManagerClient(t.clientConfig());
    await assert.rejects(sm.send(new CreateSecretCommand({ Name: 'while-failing', SecretString: 'x' })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 503);
    // Each serving process checks its own store connection when nothing was written for a second: within that, and
    // on every connection (every worker), health says 503 and names the audit trail.
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 8; i++) {
      for (const path of ['/_trent/health', '/_trent/ready']) {
        const h = await health(path);
        assert.equal(h.status, 503, path);
        assert.match(JSON.stringify(h.body), /auditTrail.*failing/);
      }
    }
  } finally {
    await rm(fault, { force: true });
  }
  // The next call's event probes the store; once it commits, Trent serves and says so.
  const sm = new SecretsManagerClient(t.clientConfig());
  for (let i = 0; i < 20; i++) {
    const ok = await sm.send(new DescribeSecretCommand({ SecretId: 'typo-secret' })).then(
      () => true,
      () => false,
    );
    if (ok) break;
  }
  assert.equal((await health()).status, 200);
  await assert.rejects(sm.send(new DescribeSecretCommand({ SecretId: 'while-failing' })), { name: 'ResourceNotFoundException' });
});

test('a state-changing call cut short by SIGKILL is on record after the restart, its outcome marked unknown', async () => {
  const dir = await tempDir();
  // On PostgreSQL a restarted node cannot know that no other node runs: it waits for the dead recorder's heartbeat
  // to age (eight heartbeats), here made short.
  const env = { TRENT_TRAIL_HEARTBEAT_SECONDS: '1' };
  let s = await startTrent({ dataDir: dir, env });
  try {
    const kms = new KMSClient(s.clientConfig());
    // RSA-4096 generation takes long enough to kill the server while the call runs.
    const pending = kms.send(new CreateKeyCommand({ KeySpec: 'RSA_4096', KeyUsage: 'SIGN_VERIFY', Description: 'cut-short' })).catch((e: unknown) => e);
    const db = await s.openDb('trail');
    let intents = 0;
    for (let i = 0; i < 400 && intents === 0; i++) {
      intents = Number((await db.get<{ n: number }>('SELECT count(*) AS n FROM trail_intents'))!.n);
      if (!intents) await new Promise((r) => setTimeout(r, 5));
    }
    await db.close();
    assert.equal(intents, 1, 'the call is on record as an intent while it runs');
    await s.stop('SIGKILL');
    await pending;
    s = await startTrent({ dataDir: dir, env });
    const db2 = await s.openDb('trail');
    let cut: Record<string, Record<string, unknown>> | undefined;
    let left = -1;
    for (let i = 0; i < 300 && !cut; i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      const rows = await db2.all<{ record: string }>("SELECT record FROM trail_events WHERE event_name = 'CreateKey'");
      left = Number((await db2.get<{ n: number }>('SELECT count(*) AS n FROM trail_intents'))!.n);
      cut = rows.map((r) => JSON.parse(r.record) as Record<string, Record<string, unknown>>).find((e) => e['requestParameters']?.['description'] === 'cut-short');
      if (!DISTRIBUTED) break; // the embedded store recovers before the server is ready
    }
    await db2.close();
    assert.ok(cut, 'the interrupted CreateKey has its event');
    assert.match(String(cut['additionalEventData']?.['outcome']), /^unknown/);
    assert.equal(left, 0, 'no intent left behind');
  } finally {
    await s.stop();
    await removeDir(dir);
  }
});
