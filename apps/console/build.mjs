// Builds the console (apps/console/src) into a folder of static files: index.html, and under assets/ the bundled
// scripts (the AWS SDK for JavaScript included, split per page) and the stylesheet, named by the hash of their
// content, each with Brotli and gzip twins that the server sends to browsers that accept them.
// `node apps/console/build.mjs OUTDIR`; scripts/ensure-built.mjs runs it after the server's build.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const HERE = import.meta.dirname;
/** Where the page is served (src/server/console-assets.ts serves the files below it). */
const BASE = '/_trent/console';

export async function buildConsole(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  const assets = join(outDir, 'assets');
  mkdirSync(assets, { recursive: true });
  const result = await build({
    absWorkingDir: HERE,
    entryPoints: { main: join(HERE, 'src', 'main.ts'), style: join(HERE, 'src', 'style.css') },
    bundle: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: ['chrome115', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    outdir: assets,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.entries(result.metafile.outputs);
  const entry = (name) => {
    const found = outputs.find(([, o]) => o.entryPoint && basename(o.entryPoint).startsWith(name) && !o.entryPoint.endsWith('.map'));
    if (!found) throw new Error(`no output for ${name}`);
    return `${BASE}/assets/${basename(found[0])}`;
  };
  const main = entry('main.ts');
  const style = outputs.find(([p]) => /style-[A-Z0-9]+\.css$/.test(p));
  if (!style) throw new Error('no stylesheet in the build');
  const html = readFileSync(join(HERE, 'index.html'), 'utf8')
    .replace('%STYLE%', `${BASE}/assets/${basename(style[0])}`)
    .replace('%MAIN%', main);
  writeFileSync(join(outDir, 'index.html'), html);
  // The stylesheet entry's empty script twin (esbuild writes one per entry) is not needed.
  for (const f of readdirSync(assets)) if (/^style-[A-Z0-9]+\.js(\.map)?$/.test(f)) rmSync(join(assets, f));
  compress(outDir);
  return { main, bytes: totalBytes(assets) };
}

function compress(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) compress(p);
    else if (/\.(js|css|html)$/.test(e.name)) {
      const body = readFileSync(p);
      writeFileSync(`${p}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }));
      writeFileSync(`${p}.gz`, gzipSync(body, { level: 9 }));
    }
  }
}

function totalBytes(dir) {
  let n = 0;
  for (const f of readdirSync(dir)) if (/\.(js|css)$/.test(f)) n += readFileSync(join(dir, f)).length;
  return n;
}

if (process.argv[1] === import.meta.filename) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node apps/console/build.mjs OUTDIR\n');
    process.exit(2);
  }
  buildConsole(out).then(
    (r) => process.stdout.write(`console built: ${r.main} (${Math.round(r.bytes / 1024)} KiB of scripts and styles)\n`),
    (err) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
