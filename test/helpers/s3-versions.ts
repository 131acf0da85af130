import type { Readable } from 'node:stream';
import { DISTRIBUTED, filesUnder, storageDirs, type RunningTrent } from './trent.ts';

/** A response body as text. */
export async function text(body: unknown): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body as Readable) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The blobs (ciphertext files) of one version, and what protects its object key, read from the server's database. A
 * small object's ciphertext is kept in its own row (inline): it is named `inline:<object uid>` here, and blobStored
 * finds it there.
 */
export async function versionRow(t: RunningTrent, bucket: string, key: string, versionId: string): Promise<{ blobs: string[]; uid: string; wrappedKey: Buffer } | undefined> {
  const db = await t.openDb();
  try {
    const row = await db.get<{ segments: string; object_uid: string; wrapped_key: Buffer }>(
      'SELECT segments, object_uid, wrapped_key FROM s3_objects WHERE bucket_name = ? AND object_key = ? AND version_id = ?',
      [bucket, key, versionId],
    );
    if (!row) return undefined;
    const blobs = (JSON.parse(row.segments) as Array<{ blob: string; inline?: true }>).map((s) => (s.inline ? `inline:${row.object_uid}` : s.blob));
    return { blobs, uid: row.object_uid, wrappedKey: Buffer.from(row.wrapped_key) };
  } finally {
    await db.close();
  }
}

/** Whether a blob is still stored (on disk, or in the distributed blob store's directory; an inline one, in its row). */
export async function blobStored(t: RunningTrent, blob: string): Promise<boolean> {
  if (blob.startsWith('inline:')) {
    const db = await t.openDb();
    try {
      return (await db.get('SELECT 1 AS x FROM s3_objects WHERE object_uid = ? AND inline_body IS NOT NULL', [blob.slice('inline:'.length)])) !== undefined;
    } finally {
      await db.close();
    }
  }
  const id = blob.split('/').pop()!;
  const dirs = DISTRIBUTED ? [process.env['TRENT_TEST_S3_DIR']!] : storageDirs(t.dataDir);
  for (const d of dirs) {
    const files = await filesUnder(d).catch(() => [] as string[]);
    if (files.some((f) => f.includes(id) && !f.includes('/.tmp/'))) return true;
  }
  return false;
}

/** Wait until `check` holds (polling), or fail after `ms`. */
export async function eventually(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
