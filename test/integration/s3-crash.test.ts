// Durability of S3 writes under SIGKILL: a mixed load of small (inline) and large (blob store) PUTs, overwrites and
// deletes runs against a server of several worker processes; the server is killed with SIGKILL at a random moment,
// the primary in some rounds and one worker in others; after each kill every object whose write or delete was
// acknowledged must read back byte for byte as acknowledged (an operation cut off by the kill may have happened or
// not, but nothing else). Runs on the embedded store and, through scripts/distributed-backends.mjs, on PostgreSQL
// with an S3-compatible blob store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { removeDir, startTrent, tempDir, type RunningTrent } from '../helpers/trent.ts';

/** What a key holds: its bytes, or null for no object. */
type Content = Buffer | null;

interface KeyState {
  /** The states the key may be in: one once every operation on it was answered; more after one was cut off. */
  possible: Content[];
  /** The operation in flight on this key (one at a time per key, so that answered operations have an order). */
  busy: boolean;
}

const KEYS = 40;
const SMALL_MAX = 100 * 1024;
const BUCKETS = ['crash-plain', 'crash-versioned'] as const;

function describe(c: Content): string {
  return c === null ? 'absent' : `${c.length} bytes, sha256 ${createHash('sha256').update(c).digest('hex').slice(0, 12)}`;
}

function client(t: RunningTrent): S3Client {
  return new S3Client(t.clientConfig({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }));
}

/** Connections refused or reset while the reads check: counted and reported, retried for up to 10 s. */
const connectionErrors: string[] = [];

async function read(s3: S3Client, bucket: string, key: string): Promise<Content> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return null;
      // Durability is what this test checks; a connection lost while a worker is replaced is reported, and retried.
      const code = (err as { code?: string }).code ?? '';
      if (!['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code) || Date.now() > deadline) throw err;
      connectionErrors.push(`${new Date().toISOString()} ${code} reading ${bucket}/${key}`);
      await sleep(100);
    }
  }
}

/** The processes serving: the primary's children (its worker processes). */
function workersOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function gone(pids: number[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (const pid of pids) {
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      if (Date.now() > deadline) throw new Error(`process ${pid} is still alive`);
      await sleep(50);
    }
  }
}

test('every acknowledged PUT, overwrite and delete survives SIGKILL of the primary or of a worker, byte for byte', { timeout: 15 * 60_000 }, async () => {
  const dataDir = await tempDir('trent-crash-');
  const state = new Map<string, KeyState>();
  for (const b of BUCKETS) for (let i = 0; i < KEYS; i++) state.set(`${b}/k${i}`, { possible: [null], busy: false });
  let t = await startTrent({ dataDir, args: ['--workers', '2'] });
  let s3 = client(t);
  const counts = { acked: 0, cutOff: 0, rounds: 0 };
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKETS[0] }));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKETS[1] }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKETS[1], VersioningConfiguration: { Status: 'Enabled' } }));

    /** Check every key against what may be in it, then take what is there as its one state. */
    const verify = async (when: string) => {
      const wrong: string[] = [];
      for (const [id, st] of state) {
        const [bucket, key] = [id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1)];
        const got = await read(s3, bucket, key);
        const ok = st.possible.some((p) => (p === null ? got === null : got !== null && got.equals(p)));
        if (!ok) wrong.push(`${id}: ${describe(got)}, expected ${st.possible.map(describe).join(' or ')}`);
        st.possible = [got];
      }
      assert.deepEqual(wrong, [], `after ${when}: every key as acknowledged`);
    };

    for (let round = 0; round < 6; round++) {
      counts.rounds++;
      let stop = false;
      const ids = [...state.keys()];
      const worker = async () => {
        while (!stop) {
          const id = ids[randomInt(ids.length)]!;
          const st = state.get(id)!;
          if (st.busy) {
            await sleep(1);
            continue;
          }
          st.busy = true;
          const [bucket, key] = [id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1)];
          const r = Math.random();
          // 55% small PUTs (stored inline), 20% large ones (the blob store), 25% deletes; most PUTs overwrite.
          const next: Content = r < 0.25 ? null : r < 0.8 ? randomBytes(randomInt(1, SMALL_MAX)) : randomBytes(randomInt(SMALL_MAX + 1024, 1536 * 1024));
          try {
            if (next === null) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
            else await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: next, ContentLength: next.length }));
            st.possible = [next];
            counts.acked++;
          } catch {
            // Cut off (or refused while the server went down): it may have happened, or not.
            st.possible = [...st.possible, next];
            counts.cutOff++;
          } finally {
            st.busy = false;
          }
        }
      };
      const load = Array.from({ length: 12 }, worker);
      await sleep(1500 + randomInt(2500));
      const primary = t.process.pid!;
      const workers = workersOf(primary);
      assert.ok(workers.length >= 2, `the server runs worker processes (${workers.length})`);
      if (round % 2 === 0) {
        // The primary: its workers lose their channel and exit; the server is started again on the same data.
        process.kill(primary, 'SIGKILL');
        stop = true;
        await Promise.all(load);
        await gone([primary, ...workers]);
        s3.destroy();
        t = await startTrent({ dataDir, args: ['--workers', '2'] });
        s3 = client(t);
        await verify(`SIGKILL of the primary (round ${round + 1})`);
      } else {
        // One worker: the primary starts another; the server keeps serving meanwhile.
        process.kill(workers[randomInt(workers.length)]!, 'SIGKILL');
        await sleep(200);
        stop = true;
        await Promise.all(load);
        await verify(`SIGKILL of a worker (round ${round + 1})`);
      }
    }
    // And a last time from a server started afresh, after a clean stop.
    s3.destroy();
    await t.stop();
    t = await startTrent({ dataDir, args: ['--workers', '2'] });
    s3 = client(t);
    await verify('a clean restart');
    assert.ok(counts.acked > 100, `${counts.acked} operations acknowledged, ${counts.cutOff} cut off, in ${counts.rounds} rounds`);
    if (connectionErrors.length) console.log(`# connections refused or reset while checking (retried): ${connectionErrors.join('; ')}\n${t.output().slice(-3000)}`);
  } catch (err) {
    // What the server said (its workers' exits and replacements) explains most failures here.
    (err as Error).message += `\nround ${counts.rounds}; the server's output:\n${t.output().slice(-6000)}`;
    throw err;
  } finally {
    s3.destroy();
    await t.stop('SIGKILL');
    await removeDir(dataDir);
  }
});
