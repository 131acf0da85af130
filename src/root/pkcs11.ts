import { readFileSync } from 'node:fs';
import { randomBytes } from '../crypto/random.ts';
import { aesKeyTemplate, findSecretKeys, gcmParams as gcm, pkcs11, pkcs11Code as describe, staysInToken } from './pkcs11-aes.ts';
import { RootKeyError, RootUnavailableError, RootUnwrapError, type RootOfTrust } from './root-of-trust.ts';

type Handle = Buffer;

export interface Pkcs11Options {
  /** Path of the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** Token label. */
  token: string;
  /** File holding the user PIN (never on the command line). */
  pinFile: string;
  /** Label of the AES-256 root key on the token; generated if absent. */
  keyLabel?: string;
}

const WRAP_PREFIX = 0x02;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PROBE_INTERVAL_MS = 1000;
const RECONNECT_INTERVAL_MS = 500;
const KCV_AAD = Buffer.from('trent key check value');

interface Session {
  session: Handle;
  key: Handle;
}

/**
 * Root of trust inside a PKCS#11 token. The root key is an AES-256 secret key generated on the token
 * with CKA_SENSITIVE true and CKA_EXTRACTABLE false: its value never leaves the HSM. Wrapping is
 * CKM_AES_GCM inside the token, with a random 96-bit IV and the AAD bound in.
 *
 * Fail closed: any token or session failure makes operations throw RootUnavailableError (there is
 * no software fallback); the next operation re-initialises the library, reopens the session, logs
 * in and finds the key again, so Trent recovers by itself when the token is back.
 */
export class Pkcs11Root implements RootOfTrust {
  readonly kind = 'pkcs11';
  readonly wrapPrefix = WRAP_PREFIX;
  keyCheckValue = '';
  readonly #opts: Required<Pkcs11Options>;
  readonly #lib: InstanceType<typeof pkcs11.PKCS11>;
  #initialized = false;
  #current: Session | undefined;
  #lastProbe = 0;
  #lastError = '';
  #lastReconnect = 0;

  private constructor(opts: Pkcs11Options) {
    this.#opts = { keyLabel: 'trent-root', ...opts };
    this.#lib = new pkcs11.PKCS11();
  }

  /** Load the module, log in, and find or (with `create`) generate the root key. */
  static async open(opts: Pkcs11Options, create: boolean): Promise<Pkcs11Root> {
    const root = new Pkcs11Root(opts);
    try {
      root.#lib.load(opts.module);
    } catch (err) {
      throw new RootKeyError(`cannot load the PKCS#11 module ${opts.module}: ${describe(err)}`);
    }
    root.#connect(create);
    root.keyCheckValue = root.#keyCheck();
    return root;
  }

  #pin(): string {
    try {
      return readFileSync(this.#opts.pinFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new RootKeyError(`cannot read the PKCS#11 PIN file ${this.#opts.pinFile}: ${describe(err)}`);
    }
  }

  /** (Re)initialise the library, open a session on the labelled token, log in, find or create the key. */
  #connect(create = false): Session {
    const lib = this.#lib;
    if (this.#initialized) {
      try {
        lib.C_Finalize();
      } catch {
        /* already gone */
      }
      this.#initialized = false;
    }
    lib.C_Initialize();
    this.#initialized = true;
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === this.#opts.token);
    if (slot === undefined) throw new RootUnavailableError(`PKCS#11 token '${this.#opts.token}' is not present`);
    const session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
    try {
      lib.C_Login(session, pkcs11.CKU_USER, this.#pin());
    } catch (err) {
      const code = describe(err);
      if (code !== 'CKR_USER_ALREADY_LOGGED_IN') {
        lib.C_CloseSession(session);
        if (code === 'CKR_PIN_INCORRECT' || code === 'CKR_PIN_INVALID' || code === 'CKR_PIN_LOCKED') throw new RootKeyError(`PKCS#11 login to token '${this.#opts.token}' failed: ${code}`);
        throw err;
      }
    }
    const found = findSecretKeys(lib, session, this.#opts.keyLabel);
    if (found.length > 1) throw new RootKeyError(`more than one key labelled '${this.#opts.keyLabel}' on token '${this.#opts.token}'`);
    let key = found[0];
    if (!key) {
      if (!create) throw new RootKeyError(`no root key labelled '${this.#opts.keyLabel}' on token '${this.#opts.token}'`);
      key = lib.C_GenerateKey(session, { mechanism: pkcs11.CKM_AES_KEY_GEN }, aesKeyTemplate(this.#opts.keyLabel));
    }
    // A root key the operator put on the token may have been imported: it must only be unable to leave it now.
    if (!staysInToken(lib, session, key, false)) {
      throw new RootKeyError(`the root key '${this.#opts.keyLabel}' is extractable or not sensitive; Trent only uses a key that cannot leave the HSM`);
    }
    this.#current = { session, key };
    this.#lastError = '';
    return this.#current;
  }

  #session(): Session {
    if (this.#current) return this.#current;
    // While the token is away, reconnect at most twice a second: a network HSM should not get a full
    // PKCS#11 initialisation from every request.
    const now = Date.now();
    if (this.#lastError && now - this.#lastReconnect < RECONNECT_INTERVAL_MS) {
      throw new RootUnavailableError(`the HSM is unavailable: ${this.#lastError}`);
    }
    this.#lastReconnect = now;
    try {
      return this.#connect();
    } catch (err) {
      this.#current = undefined;
      this.#lastError = err instanceof Error ? err.message : String(err);
      if (err instanceof RootKeyError || err instanceof RootUnavailableError) throw err instanceof RootKeyError ? new RootUnavailableError(err.message) : err;
      throw new RootUnavailableError(`the HSM is unavailable: ${describe(err)}`);
    }
  }

  /** Forget the session after a token failure; the next call reconnects. */
  #lost(err: unknown): never {
    this.#lastError = describe(err);
    const s = this.#current;
    this.#current = undefined;
    if (s) {
      try {
        this.#lib.C_CloseSession(s.session);
      } catch {
        /* the session is already gone */
      }
    }
    throw new RootUnavailableError(`the HSM is unavailable: ${this.#lastError}`);
  }

  #keyCheck(): string {
    const { session, key } = this.#session();
    // A fixed IV is used for this one constant input only; wrapping always draws a random IV.
    this.#lib.C_EncryptInit(session, { mechanism: pkcs11.CKM_AES_GCM, parameter: gcm(Buffer.alloc(IV_BYTES), KCV_AAD) }, key);
    // Tokens refuse an empty input, so the check encrypts one constant zero block; its tag identifies the key.
    return this.#lib.C_Encrypt(session, Buffer.alloc(16), Buffer.alloc(16 + TAG_BYTES)).subarray(16).toString('hex').slice(0, 16);
  }

  async wrap(plaintext: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    const { session, key } = this.#session();
    const iv = randomBytes(IV_BYTES);
    try {
      this.#lib.C_EncryptInit(session, { mechanism: pkcs11.CKM_AES_GCM, parameter: gcm(iv, Buffer.from(aad)) }, key);
      // Room for the whole output: a short buffer leaves the operation active on the session (CKR_BUFFER_TOO_SMALL).
      const out = this.#lib.C_Encrypt(session, Buffer.from(plaintext), Buffer.alloc(plaintext.length + TAG_BYTES));
      return Buffer.concat([Buffer.of(WRAP_PREFIX), iv, out]);
    } catch (err) {
      this.#lost(err);
    }
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    if (wrapped.length < 1 + IV_BYTES + TAG_BYTES || wrapped[0] !== WRAP_PREFIX) throw new RootUnwrapError('unknown wrapped-key format');
    const { session, key } = this.#session();
    const iv = Buffer.from(wrapped.subarray(1, 1 + IV_BYTES));
    const body = Buffer.from(wrapped.subarray(1 + IV_BYTES));
    try {
      this.#lib.C_DecryptInit(session, { mechanism: pkcs11.CKM_AES_GCM, parameter: gcm(iv, Buffer.from(aad)) }, key);
      return this.#lib.C_Decrypt(session, body, Buffer.alloc(body.length));
    } catch (err) {
      // A tampered value and a vanished token can give the same code (CKR_GENERAL_ERROR): probe the token to tell them apart.
      if (this.#probe()) {
        this.#resetSession();
        throw new RootUnwrapError();
      }
      this.#lost(err);
    }
  }

  /** Is the key still reachable? A cheap attribute read on the key handle. */
  #probe(): boolean {
    const s = this.#current;
    if (!s) return false;
    try {
      this.#lib.C_GetAttributeValue(s.session, s.key, [{ type: pkcs11.CKA_KEY_TYPE }]);
      return true;
    } catch (err) {
      this.#lastError = describe(err);
      return false;
    }
  }

  /** After a failed operation the session may hold an active operation; start afresh on the next call. */
  #resetSession(): void {
    const s = this.#current;
    this.#current = undefined;
    if (s) {
      try {
        this.#lib.C_CloseSession(s.session);
      } catch {
        /* ignore */
      }
    }
  }

  checkAvailable(): void {
    const now = Date.now();
    if (this.#current && now - this.#lastProbe < PROBE_INTERVAL_MS) return;
    this.#lastProbe = now;
    if (this.#current && this.#probe()) return;
    this.#current = undefined;
    this.#session();
  }

  async close(): Promise<void> {
    this.#resetSession();
    if (this.#initialized) {
      try {
        this.#lib.C_Finalize();
      } catch {
        /* ignore */
      }
      this.#initialized = false;
    }
  }
}
