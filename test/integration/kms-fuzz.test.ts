import { test, before, after } from 'node:test';
import { Rng } from '../helpers/rng.ts';
import assert from 'node:assert/strict';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { KMSClient, CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
// Every assert.ok here carries a message: without one, a failing assert.ok makes node read and re-parse
// the (tsx-transformed, single-line) source to describe the call, which takes minutes.
import { startTrent, removeDir, type RunningTrent } from '../helpers/trent.ts';

/**
 * Sends thousands of malformed and tampered ciphertext blobs through the real Decrypt API and checks
 * that every one is answered with a 400 InvalidCiphertextException (ValidationException where the
 * blob is outside Decrypt's 1..6144-byte bounds), and that no request reaches an internal error.
 */

const MAX_CIPHERTEXT = 6144;
const ID_LEN = 36;
const VERSION_AT = 2 + ID_LEN;
const NONCE_AT = VERSION_AT + 4;
const IV_AT = NONCE_AT + 32;
const CT_AT = IV_AT + 12;
const TOTAL = 3_600;
const IN_FLIGHT = 32;

let t: RunningTrent;
let kms: KMSClient;

before(async () => {
  t = await startTrent();
  kms = new KMSClient(t.clientConfig({ maxAttempts: 1 }));
});
after(async () => {
  kms?.destroy();
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});


function fuzzSeed(): number {
  const env = process.env['KMS_FUZZ_SEED'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`KMS_FUZZ_SEED must be an integer 0..4294967295, not ${env}`);
    return n;
  }
  return randomInt(0, 0xffffffff);
}

interface Sample {
  keyId: string;
  ec: Record<string, string> | undefined;
  plaintext: Buffer;
  blob: Buffer;
}

const MUTATIONS = ['random', 'bitflip', 'insert', 'delete', 'splice', 'length-field', 'overwrite', 'truncate', 'other-key', 'unknown-key', 'other-version', 'oversized'] as const;
type Mutation = (typeof MUTATIONS)[number];

function withKeyId(blob: Buffer, keyId: string): Buffer {
  const m = Buffer.from(blob);
  m.write(keyId, 2, 'ascii');
  return m;
}

function mutate(rng: Rng, kind: Mutation, base: Sample, corpus: readonly Sample[], keyIds: readonly string[]): Buffer {
  const src = base.blob;
  switch (kind) {
    case 'random':
      return rng.bytes(rng.range(1, MAX_CIPHERTEXT));
    case 'bitflip': {
      const m = Buffer.from(src);
      const n = rng.pick([1, 1, 1, 2, 4, 16]);
      for (let i = 0; i < n; i++) m[rng.int(m.length)]! ^= 1 << rng.int(8);
      return m;
    }
    case 'insert': {
      const at = rng.range(0, src.length);
      return Buffer.concat([src.subarray(0, at), rng.bytes(rng.range(1, 8)), src.subarray(at)]);
    }
    case 'delete': {
      const at = rng.int(src.length);
      return Buffer.concat([src.subarray(0, at), src.subarray(Math.min(src.length, at + rng.range(1, 8)))]);
    }
    case 'splice': {
      const other = rng.pick(corpus).blob;
      const boundaries = [2, VERSION_AT, NONCE_AT, IV_AT, CT_AT];
      const cutA = rng.int(2) === 0 ? rng.pick(boundaries) : rng.range(0, src.length);
      const cutB = rng.int(2) === 0 ? cutA : rng.range(0, other.length);
      return Buffer.concat([src.subarray(0, Math.min(cutA, src.length)), other.subarray(Math.min(cutB, other.length))]);
    }
    case 'length-field': {
      const m = Buffer.from(src);
      switch (rng.int(3)) {
        case 0:
          m[1] = rng.int(256);
          return m;
        case 1:
          m[0] = rng.int(256);
          return m;
        default: {
          const l = rng.range(0, 80);
          return Buffer.concat([Buffer.from([0x01, l]), rng.bytes(l), src.subarray(VERSION_AT)]);
        }
      }
    }
    case 'overwrite': {
      const m = Buffer.from(src);
      rng.bytes(rng.range(1, 16)).copy(m, rng.int(m.length));
      return m;
    }
    case 'truncate':
      return src.subarray(0, rng.range(1, src.length - 1));
    case 'other-key': {
      // A blob made under one key that names another existing key: it must never decrypt.
      const other = keyIds.filter((k) => k !== base.keyId);
      const m = withKeyId(src, rng.pick(other));
      if (rng.int(2) === 0) m.writeUInt32BE(rng.pick([1, 2]), VERSION_AT);
      return m;
    }
    case 'unknown-key': {
      const h = rng.bytes(16).toString('hex');
      return withKeyId(src, `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
    }
    case 'other-version': {
      const m = Buffer.from(src);
      m.writeUInt32BE(rng.pick([0, 2, 3, 0x7fffffff, 0x80000000, 0xffffffff, rng.u32()]), VERSION_AT);
      return m;
    }
    case 'oversized': {
      const n = rng.range(MAX_CIPHERTEXT + 1, 7000);
      return rng.int(2) === 0 ? rng.bytes(n) : Buffer.concat([src, rng.bytes(Math.max(0, n - src.length))]).subarray(0, n);
    }
  }
}

/** Run `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

test(`Decrypt answers ${TOTAL} tampered ciphertexts with 400 InvalidCiphertextException and keeps working`, { timeout: 120_000 }, async (tc) => {
  const seed = fuzzSeed();
  tc.diagnostic(`seed ${seed} (replay the mutation sequence with KMS_FUZZ_SEED=${seed})`);
  const rng = new Rng(seed);
  const phase = (() => {
    let last = Date.now();
    return (name: string) => {
      const now = Date.now();
      tc.diagnostic(`${name}: ${now - last} ms`);
      last = now;
    };
  })();

  const keyIds: string[] = [];
  for (let i = 0; i < 2; i++) {
    const created = await kms.send(new CreateKeyCommand({ Description: `fuzz ${i}` }));
    keyIds.push(created.KeyMetadata!.KeyId!);
  }
  const specs: Array<{ key: number; size: number; ec?: Record<string, string> }> = [
    { key: 0, size: 1 },
    { key: 0, size: 5, ec: { purpose: 'fuzz' } },
    { key: 0, size: 200, ec: { a: '1', b: '2', 'clé': '\u{1F511}' } },
    { key: 0, size: 4096 },
    { key: 1, size: 32, ec: { tenant: 'other' } },
    { key: 1, size: 64 },
  ];
  const corpus: Sample[] = [];
  for (const s of specs) {
    const plaintext = randomBytes(s.size);
    const out = await kms.send(new EncryptCommand({ KeyId: keyIds[s.key]!, Plaintext: plaintext, ...(s.ec ? { EncryptionContext: s.ec } : {}) }));
    corpus.push({ keyId: keyIds[s.key]!, ec: s.ec, plaintext, blob: Buffer.from(out.CiphertextBlob!) });
  }
  const originals = new Set(corpus.map((s) => s.blob.toString('hex')));
  phase('keys and corpus');

  // The blobs, drawn up front so the sequence depends on the seed alone.
  const cases: Array<{ kind: Mutation; base: Sample; blob: Buffer }> = [];
  for (let i = 0; i < TOTAL; i++) {
    const kind = MUTATIONS[i % MUTATIONS.length]!;
    const base = rng.pick(corpus);
    let blob = mutate(rng, kind, base, corpus, keyIds);
    while (blob.length === 0 || originals.has(blob.toString('hex'))) blob = mutate(rng, kind, base, corpus, keyIds);
    cases.push({ kind, base, blob });
  }
  // Claiming another existing key must be among them, with every key as the claimed one.
  for (const k of keyIds) assert.ok(cases.some((c) => c.kind === 'other-key' && c.blob.subarray(2, VERSION_AT).toString('latin1') === k && c.base.keyId !== k), `some blob claims key ${k}`);

  phase('mutations drawn');
  const tally = new Map<string, number>();
  const unexpected: string[] = [];
  const started = Date.now();
  await pool(cases, IN_FLIGHT, async ({ kind, base, blob }, i) => {
    const expected = blob.length > MAX_CIPHERTEXT ? 'ValidationException' : 'InvalidCiphertextException';
    let outcome: string;
    try {
      const r = await kms.send(new DecryptCommand({ CiphertextBlob: blob, ...(base.ec ? { EncryptionContext: base.ec } : {}) }));
      outcome = `decrypted (${r.Plaintext?.length} bytes under ${r.KeyId})`;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      outcome = `${e.name} ${e.$metadata?.httpStatusCode}`;
    }
    tally.set(`${kind}: ${outcome}`, (tally.get(`${kind}: ${outcome}`) ?? 0) + 1);
    if (outcome !== `${expected} 400`) {
      unexpected.push(`#${i} ${kind}, ${blob.length} bytes: expected ${expected} 400, got ${outcome}; blob ${blob.subarray(0, 80).toString('hex')}...`);
    }
  });
  const elapsed = Date.now() - started;

  for (const [k, n] of [...tally].sort()) tc.diagnostic(`${k}: ${n}`);
  tc.diagnostic(`${cases.length} Decrypt calls in ${elapsed} ms, ${IN_FLIGHT} in flight`);
  assert.deepEqual(unexpected.slice(0, 20), [], `${unexpected.length} unexpected answers (first 20 shown)`);
  const count = (name: string) => [...tally].filter(([k]) => k.endsWith(`: ${name} 400`)).reduce((a, [, n]) => a + n, 0);
  assert.equal(count('InvalidCiphertextException') + count('ValidationException'), TOTAL);
  assert.ok(count('ValidationException') >= TOTAL / MUTATIONS.length, 'the oversized blobs were sent');
  assert.ok(count('InvalidCiphertextException') >= 3_000, `${count('InvalidCiphertextException')} InvalidCiphertextException answers, 3000 wanted`);

  // The server is still up and still decrypts, every original, with the right plaintext.
  assert.equal(t.process.exitCode, null);
  assert.equal(t.process.signalCode, null);
  for (const s of corpus) {
    const r = await kms.send(new DecryptCommand({ CiphertextBlob: s.blob, ...(s.ec ? { EncryptionContext: s.ec } : {}) }));
    assert.deepEqual(Buffer.from(r.Plaintext!), s.plaintext);
    assert.ok(r.KeyId!.endsWith(`:key/${s.keyId}`), `${r.KeyId} is the ARN of ${s.keyId}`);
  }
  const fresh = await kms.send(new EncryptCommand({ KeyId: keyIds[1]!, Plaintext: Buffer.from('still alive') }));
  const back = await kms.send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob! }));
  assert.equal(Buffer.from(back.Plaintext!).toString(), 'still alive');
  assert.doesNotMatch(t.output(), /unhandled failure/, 'no request reached the internal error path');
});

test('Decrypt of an empty blob and of the 6144/6145-byte boundary', async () => {
  const cases: Array<[Buffer, string]> = [
    [Buffer.alloc(0), 'ValidationException'],
    [Buffer.alloc(MAX_CIPHERTEXT, 1), 'InvalidCiphertextException'],
    [Buffer.alloc(MAX_CIPHERTEXT + 1, 1), 'ValidationException'],
    [Buffer.concat([Buffer.from([1, ID_LEN]), Buffer.from(randomUUID()), Buffer.alloc(MAX_CIPHERTEXT - 2 - ID_LEN, 0)]), 'InvalidCiphertextException'],
  ];
  for (const [blob, expected] of cases) {
    const err = await kms.send(new DecryptCommand({ CiphertextBlob: blob })).catch((e: unknown) => e);
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(e.name, expected, `${blob.length} bytes`);
    assert.equal(e.$metadata?.httpStatusCode, 400);
  }
  assert.doesNotMatch(t.output(), /unhandled failure/);
});
