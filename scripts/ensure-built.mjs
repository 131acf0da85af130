// Rebuilds dist/ when a TypeScript source is newer than the last build, so that tests and benchmarks always run the
// compiled program as it is in the working tree; and the console (apps/console, a browser bundle made by esbuild)
// into dist/console when one of its sources is newer than its last build. One build at a time: concurrent test
// processes wait for it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const STAMP = join(ROOT, 'dist', '.build-stamp');
const LOCK = join(ROOT, 'dist.lock');
const SOURCES = ['src', 'apps/library/src'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];
/** The console's sources: its scripts, stylesheet, page template and build script. */
const CONSOLE = { stamp: join(ROOT, 'dist', '.console-build-stamp'), sources: ['apps/console'], extensions: ['.ts', '.css', '.html', '.mjs'], out: join(ROOT, 'dist', 'console') };

function newestSource(sources = SOURCES, extensions = ['.ts']) {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (extensions.some((x) => e.name.endsWith(x))) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const s of sources) walk(join(ROOT, s));
  for (const c of CONFIGS) newest = Math.max(newest, statSync(join(ROOT, c)).mtimeMs);
  return newest;
}

function fresh() {
  return existsSync(STAMP) && statSync(STAMP).mtimeMs >= newestSource();
}

function consoleFresh() {
  return existsSync(CONSOLE.stamp) && statSync(CONSOLE.stamp).mtimeMs >= newestSource(CONSOLE.sources, CONSOLE.extensions);
}

/**
 * Bundle the console into dist/console. A failed bundle leaves no console (its folder is emptied first), which the
 * console's tests report; a forced build (npm run build, npm ci) fails with it, a test run only warns, so that one
 * broken page does not stop every other test.
 */
function buildConsole(force) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'apps', 'console', 'build.mjs'), CONSOLE.out], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    const message = `the console build failed:\n${r.stdout}${r.stderr}`;
    if (force) throw new Error(message);
    process.stderr.write(`${message}\n`);
    return;
  }
  writeFileSync(CONSOLE.stamp, '');
  utimesSync(CONSOLE.stamp, started / 1000, started / 1000);
}

/** Build dist/ (and dist/console) if any source changed since the last build. Returns true if it built. */
export function ensureBuilt(force = false) {
  if (!force && fresh() && consoleFresh()) return false;
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      // Another process is building; a lock older than five minutes was left by a killed build.
      if (Date.now() - statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs > 5 * 60_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('waited 10 minutes for another build of dist/');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (!force && fresh()) {
      if (consoleFresh()) return false;
      buildConsole(false);
      return true;
    }
    const started = Date.now();
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
    // Type errors do not stop the emit (`npm run typecheck` reports them); a missing program does.
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error(`the build failed:\n${r.stdout}${r.stderr}`);
    writeFileSync(STAMP, '');
    // The stamp carries the time the build started: a source saved during the build makes the next check rebuild.
    utimesSync(STAMP, started / 1000, started / 1000);
    if (force || !consoleFresh()) buildConsole(force);
    return true;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) {
  ensureBuilt(process.argv.includes('--force'));
}
