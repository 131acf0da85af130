import { readFileSync } from 'node:fs';

/** A setting from the command line, else the environment, else a default. */
export function setting(cli: string | undefined, envName: string, fallback?: string): string | undefined {
  return cli ?? process.env[envName] ?? fallback;
}

/** The root passphrase comes from a file or the environment, never from the command line. */
export function rootPassphrase(file: string | undefined): string | undefined {
  const path = file ?? process.env['TRENT_ROOT_PASSPHRASE_FILE'];
  if (path) return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  return process.env['TRENT_ROOT_PASSPHRASE'] || undefined;
}

export const DEFAULT_DATA_DIR = '.trent';
export const DEFAULT_HOST = 'localhost';
export const DEFAULT_PORT = '4566';
