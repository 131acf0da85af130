#!/usr/bin/env node
// Runs Trent's compiled JavaScript: dist/ is built from the TypeScript sources by `npm run build`, which `npm ci`
// runs (the prepare script), so no command compiles TypeScript at run time.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('trent: the compiled program (dist/) is missing; run `npm run build` (npm ci runs it)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// A command has said what it had to say: whatever it left open (a database handle, a timer after a failed start)
// must not keep the process alive. Output still being written gets a moment to drain.
setTimeout(() => process.exit(code), 500).unref();
