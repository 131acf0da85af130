import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package's root: the nearest folder above this module holding Trent's package.json (sources and dist/ alike). */
export const PACKAGE_ROOT: string = findRoot(import.meta.dirname);

export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'trent') return dir;
    if (dirname(dir) === dir) throw new Error(`Trent's package.json was not found above ${from}`);
  }
}
