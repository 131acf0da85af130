// A fresh SoftHSM2 token per test: its own configuration file and token directory under a temporary
// directory, an initialised token, and a PIN file readable by its owner only. Removing the token
// from a running process works by renaming the token directory away and leaving an empty one in its
// place (the configuration marks slots removable); renaming it back restores it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const SOFTHSM_UTIL = 'softhsm2-util';
export const USER_PIN = '1234';
export const SO_PIN = '5678';

export interface SoftHsm {
  /** SOFTHSM2_CONF for Trent and for anything else that loads the module. */
  env: { SOFTHSM2_CONF: string };
  module: string;
  token: string;
  pinFile: string;
  /** The temporary directory holding the configuration, tokens and PIN file. */
  dir: string;
  /** `trent serve` / `trent root migrate` arguments for this token (plus `--root pkcs11` for serve). */
  serveArgs: string[];
  /** The PKCS#11 settings without `--root` (what `trent root migrate` takes). */
  pkcs11Args: string[];
  /** Make the token vanish for every process using this configuration. */
  removeToken: () => Promise<void>;
  /** Put it back, as it was. */
  restoreToken: () => Promise<void>;
  cleanup: () => Promise<void>;
}

/**
 * Why SoftHSM tests cannot run here, or undefined if they can. Without the module, the tests fail
 * on CI (which installs it, so its absence there is a defect) and are skipped elsewhere.
 */
export function softHsmMissing(): string | undefined {
  if (existsSync(SOFTHSM_MODULE)) return undefined;
  const why = `SoftHSM2 is not installed (${SOFTHSM_MODULE} is missing): apt-get install softhsm2`;
  if (process.env['CI']) throw new Error(`${why}; CI must provide it (.ci/run installs it)`);
  return why;
}

/** Create a configuration, a token labelled `label` (initialised with PIN 1234) and a 0600 PIN file. */
export async function createSoftHsm(opts: { label?: string; pin?: string } = {}): Promise<SoftHsm> {
  const dir = await mkdtemp(join(tmpdir(), 'trent-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  const awayDir = join(dir, 'tokens.removed');
  const conf = join(dir, 'softhsm2.conf');
  const pinFile = join(dir, 'pin');
  const token = opts.label ?? 'trent-test';
  try {
    await mkdir(tokenDir, { mode: 0o700 });
    await writeFile(conf, [`directories.tokendir = ${tokenDir}`, 'objectstore.backend = file', 'slots.removable = true', 'log.level = ERROR', ''].join('\n'), { mode: 0o600 });
    const env = { SOFTHSM2_CONF: conf };
    await run(SOFTHSM_UTIL, ['--init-token', '--free', '--label', token, '--pin', USER_PIN, '--so-pin', SO_PIN], { env: { ...process.env, ...env } });
    await writeFile(pinFile, `${opts.pin ?? USER_PIN}\n`, { mode: 0o600 });
    const pkcs11Args = ['--pkcs11-module', SOFTHSM_MODULE, '--pkcs11-token', token, '--pkcs11-pin-file', pinFile];
    return {
      env,
      module: SOFTHSM_MODULE,
      token,
      pinFile,
      dir,
      serveArgs: ['--root', 'pkcs11', ...pkcs11Args],
      pkcs11Args,
      removeToken: async () => {
        await rename(tokenDir, awayDir);
        await mkdir(tokenDir, { mode: 0o700 });
      },
      restoreToken: async () => {
        await rm(tokenDir, { recursive: true, force: true });
        await rename(awayDir, tokenDir);
      },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
