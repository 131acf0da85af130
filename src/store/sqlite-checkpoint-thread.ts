// A SQLite database's checkpointer: copies committed pages from the write-ahead log into the database file, with
// the fsyncs that takes, in a thread of its own with a connection of its own, so that no event loop serving requests
// ever waits for it (the serving connections run with wal_autocheckpoint = 0). See sqlite.ts.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointCall, CheckpointReply } from './sqlite-checkpointer.ts';

const require = createRequire(import.meta.url);
const Libsql = require('libsql') as new (path: string) => { pragma(sql: string): unknown; close(): void };

const { file } = workerData as { file: string };
const db = new Libsql(file);
// FULL: the checkpoint syncs the log before it copies pages, and the database file after, before the log may be reused.
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
db.pragma('wal_autocheckpoint = 0');

parentPort!.on('message', (m: CheckpointCall | 'close') => {
  if (m === 'close') {
    try {
      db.close();
    } finally {
      parentPort!.close();
    }
    return;
  }
  try {
    // PASSIVE copies what no reader still needs, without waiting for anyone; TRUNCATE waits for readers and writers
    // (busy_timeout) and leaves an empty log behind, so that no page of a deleted row survives in it.
    db.pragma(`wal_checkpoint(${m.method === 'truncate' ? 'TRUNCATE' : 'PASSIVE'})`);
    parentPort!.postMessage({ id: m.id, ok: true } satisfies CheckpointReply);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, ok: false, message: (err as Error).message } satisfies CheckpointReply);
  }
});
