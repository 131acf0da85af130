#!/usr/bin/env node
// Runs Trent's TypeScript sources directly through tsx, so the command works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
