import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runningServer, SERVER_FILE } from '../store/server-info.ts';
import { DEFAULT_DATA_DIR, setting } from './options.ts';

export const STATUS_USAGE = `trent status [--data-dir DIR] [--json]
  is a server running on the data directory? where, since when, which stores, workers and root of trust`;
export const STOP_USAGE = `trent stop [--data-dir DIR]
  stops the server running on the data directory (SIGTERM; it finishes in-flight requests within 10 s)`;
export const LOGS_USAGE = `trent logs [--data-dir DIR] [-n LINES] [-f]
  prints the server's log (DIR/logs/trent.log, JSON lines); -f follows it, across rotations`;

type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function dataDirOf(argv: string[], extra: Options = {}) {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, ...extra }, strict: true });
  const v = values as Record<string, unknown>;
  return { dataDir: resolve(setting(v['data-dir'] as string | undefined, 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!), values: v };
}

export async function status(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(STATUS_USAGE + '\n');
    return 0;
  }
  const { dataDir, values } = dataDirOf(argv, { json: { type: 'boolean' } });
  const info = await runningServer(dataDir);
  if (values['json']) {
    process.stdout.write(JSON.stringify(info ? { running: true, ...info } : { running: false, dataDir }, null, 2) + '\n');
    return info ? 0 : 3;
  }
  if (!info) {
    process.stdout.write(`Trent is not running on ${dataDir}${existsSync(join(dataDir, 'trent.db')) ? '' : ' (no data directory there yet)'}\n`);
    return 3;
  }
  const since = Date.parse(info.startedAt);
  const up = Number.isFinite(since) ? ` (up ${Math.round((Date.now() - since) / 1000)} s)` : '';
  process.stdout.write(
    `Trent ${info.version} is running on ${info.dataDir}\n` +
      `  endpoint        ${info.endpoint}\n` +
      `  process         pid ${info.pid}, since ${info.startedAt}${up}\n` +
      `  workers         ${info.workers.length} (pids ${info.workers.join(', ')})\n` +
      `  metadata        ${info.db}\n` +
      `  blobs           ${info.blobs}\n` +
      `  root of trust   ${info.root}\n` +
      `  log             ${info.logFile}\n`,
  );
  return 0;
}

export async function stop(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(STOP_USAGE + '\n');
    return 0;
  }
  const { dataDir } = dataDirOf(argv);
  const info = await runningServer(dataDir);
  if (!info) {
    process.stdout.write(`Trent is not running on ${dataDir}\n`);
    return 0;
  }
  process.kill(info.pid, 'SIGTERM');
  // The server removes serve.json as it finishes; it has 10 s before it exits regardless.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (!(await runningServer(dataDir))) {
      process.stdout.write(`stopped Trent (pid ${info.pid}) on ${dataDir}\n`);
      return 0;
    }
  }
  process.stderr.write(`trent stop: pid ${info.pid} is still running after 15 s (see ${join(dataDir, SERVER_FILE)})\n`);
  return 1;
}

export async function logs(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(LOGS_USAGE + '\n');
    return 0;
  }
  const { dataDir, values } = dataDirOf(argv, { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n', default: '50' } });
  const file = join(dataDir, 'logs', 'trent.log');
  const lines = Number(values['lines']);
  if (!Number.isInteger(lines) || lines < 0) throw new Error(`invalid -n: ${String(values['lines'])}`);
  if (!existsSync(file)) {
    if (!values['follow']) {
      process.stdout.write(`no log yet at ${file}\n`);
      return 0;
    }
  } else process.stdout.write(await tail(file, lines));
  if (!values['follow']) return 0;
  // Follow: read what is appended; a rotation (the file replaced or cut) starts again from the new file's beginning.
  let offset = existsSync(file) ? statSync(file).size : 0;
  let reading = false;
  const readMore = async () => {
    if (reading || !existsSync(file)) return;
    reading = true;
    try {
      const size = statSync(file).size;
      if (size < offset) offset = 0;
      if (size > offset) {
        await new Promise<void>((done) =>
          createReadStream(file, { start: offset, end: size - 1 })
            .on('end', () => done())
            .on('error', () => done())
            .pipe(process.stdout, { end: false }),
        );
        offset = size;
      }
    } finally {
      reading = false;
    }
  };
  watch(join(dataDir, 'logs'), () => void readMore());
  setInterval(() => void readMore(), 1000);
  await new Promise<void>((r) => process.once('SIGINT', r));
  return 0;
}

/** The last `n` lines of a file, read from its end. */
async function tail(file: string, n: number): Promise<string> {
  if (n === 0) return '';
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    let start = size;
    let text = '';
    while (start > 0) {
      const len = Math.min(64 * 1024, start);
      start -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, start);
      text = buf.toString('utf8') + text;
      if (text.split('\n').length > n + 1) break;
    }
    const all = text.split('\n');
    if (all[all.length - 1] === '') all.pop();
    return all.slice(-n).join('\n') + (all.length ? '\n' : '');
  } finally {
    await fh.close();
  }
}
