import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { fsyncDir, tempPathFor } from './atomic-file.ts';
import { assertBlobKey, BlobNotFound, type BlobStore } from './blob-store.ts';

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Bytes gathered from a stream before one writev: few system calls, and about two batches held at most. */
const BATCH_BYTES = 1024 * 1024;

/**
 * Write a stream to a file in batches of about BATCH_BYTES, one writev each. While one batch is being written the next
 * is gathered (the source is read on meanwhile, so encryption and the disk work at once); the source is not read
 * further while two batches wait (back-pressure). Returns the bytes written.
 */
async function writeBatched(fh: FileHandle, data: AsyncIterable<Uint8Array>): Promise<number> {
  let size = 0;
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let writing: Promise<unknown> = Promise.resolve();
  try {
    for await (const chunk of data) {
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= BATCH_BYTES) {
        await writing;
        const ready = batch;
        writing = fh.writev(ready as NodeJS.ArrayBufferView[]);
        size += batchBytes;
        batch = [];
        batchBytes = 0;
      }
    }
    await writing;
    if (batch.length) await fh.writev(batch as NodeJS.ArrayBufferView[]);
    return size + batchBytes;
  } catch (err) {
    await writing.catch(() => undefined);
    throw err;
  }
}

/** Bytes per read of a streamed get (the default is 64 KiB): fewer reads, and a consumer that keeps up is never starved. */
const READ_BYTES = 256 * 1024;

/** Blobs as files under one directory: temp file, fsync, rename, fsync of the directory. */
export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly #tmp: string;

  private constructor(root: string) {
    this.root = root;
    this.#tmp = join(root, '.tmp');
  }

  /**
   * Opens the store and removes temp files a crash left behind (they were never visible). A second
   * process opening the store beside a running server passes `sweep: false`: the server's temp files are live.
   */
  static async open(root: string, opts: { sweep?: boolean } = {}): Promise<FsBlobStore> {
    const store = new FsBlobStore(root);
    await mkdir(store.#tmp, { recursive: true, mode: 0o700 });
    if (opts.sweep !== false) for (const name of await readdir(store.#tmp)) await rm(join(store.#tmp, name), { force: true });
    return store;
  }

  #path(key: string): string {
    assertBlobKey(key);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ size: number }> {
    const target = this.#path(key);
    const tmp = tempPathFor(join(this.#tmp, 'blob'));
    const fh = await open(tmp, 'wx', 0o600);
    let size = 0;
    try {
      if (data instanceof Uint8Array) {
        await fh.writeFile(data);
        size = data.length;
      } else size = await writeBatched(fh, data);
      await fh.sync();
      await fh.close();
    } catch (err) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    try {
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await fsyncDir(dirname(target));
    return { size };
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.#path(key);
    // Open first so that a missing blob is reported before any byte is streamed.
    const fh = await open(path, 'r').catch((err) => {
      throw isNotFound(err) ? new BlobNotFound(key) : err;
    });
    return createReadStream('', { fd: fh, highWaterMark: READ_BYTES, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async read(key: string): Promise<Buffer> {
    try {
      return await readFile(this.#path(key));
    } catch (err) {
      throw isNotFound(err) ? new BlobNotFound(key) : err;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.#path(key))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#path(key);
    try {
      await unlink(path);
      await fsyncDir(dirname(path));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const walk = async function* (dir: string, root: string): AsyncGenerator<string> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const full = join(dir, e.name);
        if (e.isDirectory()) yield* walk(full, root);
        else yield relative(root, full).split(sep).join('/');
      }
    };
    for await (const key of walk(this.root, this.root)) if (key.startsWith(prefix)) yield key;
  }
}
