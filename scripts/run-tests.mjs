#!/usr/bin/env node
// Runs the test files under the given folders (default: test/unit, test/integration, then test/e2e) with
// node's test runner and tsx. Node 20's runner has no glob support, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureBuilt } from './ensure-built.mjs';

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test/unit', 'test/integration', 'test/e2e'];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
for (const r of roots) statSync(r).isDirectory() ? walk(r) : files.push(r);
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Servers under test run the compiled program: build it once here rather than in each test process.
ensureBuilt();
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
