// The audit store's writer thread: commits (and their fsyncs) on an embedded SQLite store happen here, so that the
// event loop serving requests never waits for the disk. It owns a connection of its own to the trail database.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteDatabase } from '../store/sqlite.ts';
import { TrailStore } from './store.ts';
import type { WriterCall, WriterReply } from './writer.ts';

const { file, faultFile } = workerData as { file: string; faultFile?: string };
const db = SqliteDatabase.open(file);
const store = new TrailStore(db, faultFile);

parentPort!.on('message', (m: WriterCall | 'close') => {
  if (m === 'close') {
    void db.close().finally(() => parentPort!.close());
    return;
  }
  const run = async (): Promise<unknown> => {
    switch (m.method) {
      case 'write':
        return store.write(m.args[0]);
      case 'heartbeat':
        return store.heartbeat(m.args[0], m.args[1]);
      case 'retire':
        return store.retire(m.args[0]);
      case 'recoverIntents':
        return store.recoverIntents(m.args[0], m.args[1], m.args[2]);
      case 'recoverIntentsOf':
        return store.recoverIntentsOf(m.args[0]);
    }
  };
  run().then(
    (value) => parentPort!.postMessage({ id: m.id, ok: true, value } satisfies WriterReply),
    (err: unknown) => parentPort!.postMessage({ id: m.id, ok: false, message: (err as Error).message ?? String(err) } satisfies WriterReply),
  );
});
