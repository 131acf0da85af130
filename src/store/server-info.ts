import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';

/** The file in which a running server says which it is (its lock is serve.lock, see lock.ts). */
export const SERVER_FILE = 'serve.json';

/** What a running server says about itself (serve.json): for `trent status`, `trent stop` and a refused second start. */
export interface ServerInfo {
  pid: number;
  endpoint: string;
  port: number;
  startedAt: string;
  version: string;
  dataDir: string;
  /** Serving processes: the workers' pids, or the server's own. */
  workers: number[];
  db: string;
  blobs: string;
  root: string;
  logFile: string;
}

export async function writeServerInfo(dataDir: string, info: ServerInfo): Promise<void> {
  await writeFileAtomic(join(dataDir, SERVER_FILE), JSON.stringify(info, null, 2) + '\n', 0o600);
}

export async function removeServerInfo(dataDir: string): Promise<void> {
  await rm(join(dataDir, SERVER_FILE), { force: true });
}

/** The running server's facts, or undefined if none runs (a serve.json left by a killed server names a dead process). */
export async function runningServer(dataDir: string): Promise<ServerInfo | undefined> {
  const text = await readFile(join(dataDir, SERVER_FILE), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  let info: ServerInfo;
  try {
    info = JSON.parse(text) as ServerInfo;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(info.pid) || info.pid <= 0) return undefined;
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return info;
}
