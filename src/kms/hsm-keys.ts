import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { randomBytes } from '../crypto/random.ts';
import { aesKeyTemplate, findSecretKeys, gcmParams as gcm, pkcs11, pkcs11Code as codeOf, staysInToken, type Pkcs11Library as Library } from '../root/pkcs11-aes.ts';

type Handle = Buffer;

/**
 * A PKCS#11 token that an AWS_CLOUDHSM key store may use in place of a CloudHSM cluster. The operator declares
 * each one (TRENT_KMS_HSM_CLUSTERS, docs/custom-key-stores.md): an id in CloudHSM's form, the module, the token
 * label and the token's trust anchor certificate, which CreateCustomKeyStore must present. API callers can only
 * name a declared token: which libraries the server loads is never theirs to choose.
 */
export interface HsmCluster {
  clusterId: string;
  module: string;
  token: string;
  /** The trust anchor certificate as declared (PEM), and its DER form for comparisons. */
  trustAnchor: string;
  trustAnchorDer: Buffer;
}

export const CLUSTER_ID = /^cluster-[2-7a-zA-Z]{11,16}$/;

/** Parse a PEM certificate; undefined when it is not one. */
export function certificateDer(pem: string): Buffer | undefined {
  try {
    return new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
}

/**
 * The declared tokens, from a JSON file: {"clusters": [{"clusterId", "module", "token", "trustAnchorCertificate"}]}
 * where trustAnchorCertificate is the path of a PEM file. No file: no AWS_CLOUDHSM key stores can be created.
 */
export function loadHsmClusters(file: string | undefined): Map<string, HsmCluster> {
  const out = new Map<string, HsmCluster>();
  if (!file) return out;
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { clusters?: unknown };
  if (!Array.isArray(doc.clusters)) throw new Error(`${file}: expected {"clusters": [...]}`);
  for (const [i, c] of doc.clusters.entries()) {
    const entry = (c ?? {}) as Record<string, unknown>;
    const field = (name: string): string => {
      const v = entry[name];
      if (typeof v !== 'string' || !v) throw new Error(`${file}: clusters[${i}].${name} must be a non-empty string`);
      return v;
    };
    const clusterId = field('clusterId');
    if (!CLUSTER_ID.test(clusterId)) throw new Error(`${file}: clusters[${i}].clusterId must look like a CloudHSM cluster id (cluster- and 11 to 16 letters or digits 2-7)`);
    if (out.has(clusterId)) throw new Error(`${file}: cluster ${clusterId} is declared twice`);
    const trustAnchor = readFileSync(field('trustAnchorCertificate'), 'utf8');
    const trustAnchorDer = certificateDer(trustAnchor);
    if (!trustAnchorDer) throw new Error(`${file}: clusters[${i}].trustAnchorCertificate is not a PEM certificate`);
    out.set(clusterId, { clusterId, module: field('module'), token: field('token'), trustAnchor, trustAnchorDer });
  }
  return out;
}

/** Why a token operation failed, in terms the key store maps onto AWS's answers. */
export type HsmFailure =
  | 'module' // the PKCS#11 library cannot be loaded
  | 'token-absent' // no token with the label is present
  | 'pin-incorrect'
  | 'pin-locked'
  | 'user-not-initialised'
  | 'logged-in-elsewhere' // this process is already logged in to the token for something else (the root of trust)
  | 'key-missing' // the key's object is not on the token
  | 'data' // the token refused the data (a tampered ciphertext)
  | 'unavailable'; // any other token or session failure

export class HsmError extends Error {
  readonly failure: HsmFailure;
  constructor(failure: HsmFailure, message: string) {
    super(message);
    this.name = 'HsmError';
    this.failure = failure;
  }
}


/** What opening a store's session needs: its token and the PIN, unwrapped for the login only. */
export interface StoreLogin {
  cluster: HsmCluster;
  pin: string;
}

interface OpenSession {
  lib: Library;
  slot: Handle;
  session: Handle;
  token: string;
  /** Object handles of the store's keys, found once per session. */
  keys: Map<string, Handle>;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** PKCS#11 codes after which the session (or the whole library state) is gone rather than the data being wrong. */
const SESSION_GONE = new Set(['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_CRYPTOKI_NOT_INITIALIZED', 'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_DEVICE_ERROR', 'CKR_USER_NOT_LOGGED_IN', 'CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID']);

/**
 * This process's sessions on the tokens of AWS_CLOUDHSM key stores: one logged-in session per connected store,
 * opened on first use. A store's AES-256 keys are generated inside its token as sensitive, never-extractable
 * objects, and every encryption, decryption and random draw for them happens in the token. Calls are
 * synchronous PKCS#11 calls (tens of microseconds on SoftHSM2), so one session per store serves every request
 * of the process in turn.
 *
 * A library is loaded once per process and never finalised here: the PKCS#11 root of trust may share it (one
 * module's state per process), and C_Finalize would end its sessions too. A login is per process and token, so
 * a token this process is already logged in to for anything else (the root's token) is refused, never shared.
 */
export class HsmTokens {
  readonly #libs = new Map<string, Library>();
  readonly #sessions = new Map<string, OpenSession>();
  readonly #opening = new Map<string, Promise<OpenSession>>();
  readonly #login: (storeId: string) => Promise<StoreLogin>;

  /** `login` reads a store's token and PIN (unwrapped by the root of trust) when a session must be opened. */
  constructor(login: (storeId: string) => Promise<StoreLogin>) {
    this.#login = login;
  }

  #library(module: string): Library {
    let lib = this.#libs.get(module);
    if (!lib) {
      lib = new pkcs11.PKCS11();
      try {
        lib.load(module);
      } catch (err) {
        throw new HsmError('module', `the PKCS#11 module ${module} cannot be loaded: ${codeOf(err)}`);
      }
      this.#libs.set(module, lib);
    }
    this.#initialise(lib);
    return lib;
  }

  #initialise(lib: Library): void {
    try {
      lib.C_Initialize();
    } catch (err) {
      // Initialised already: by this class earlier, or by the root of trust on the same module.
      if (codeOf(err) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw new HsmError('unavailable', `C_Initialize failed: ${codeOf(err)}`);
    }
  }

  #slotOf(lib: Library, token: string): Handle | undefined {
    return lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token);
  }

  /** Is the cluster's token present (CreateCustomKeyStore's check that the cluster is active)? */
  present(cluster: HsmCluster): boolean {
    const lib = this.#library(cluster.module);
    try {
      return this.#slotOf(lib, cluster.token) !== undefined;
    } catch (err) {
      throw new HsmError('unavailable', `the token list cannot be read: ${codeOf(err)}`);
    }
  }

  /** Open (or reuse) the store's logged-in session. ConnectCustomKeyStore calls it to prove the PIN. */
  async session(storeId: string): Promise<OpenSession> {
    const open = this.#sessions.get(storeId);
    if (open) return open;
    let pending = this.#opening.get(storeId);
    if (!pending) {
      pending = this.#open(storeId).finally(() => this.#opening.delete(storeId));
      this.#opening.set(storeId, pending);
    }
    return pending;
  }

  async #open(storeId: string): Promise<OpenSession> {
    const { cluster, pin } = await this.#login(storeId);
    const lib = this.#library(cluster.module);
    let slot: Handle | undefined;
    try {
      slot = this.#slotOf(lib, cluster.token);
    } catch (err) {
      throw new HsmError('unavailable', `the token list cannot be read: ${codeOf(err)}`);
    }
    if (slot === undefined) throw new HsmError('token-absent', `no token labelled '${cluster.token}' is present`);
    let session: Handle;
    try {
      session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
    } catch (err) {
      throw new HsmError('unavailable', `C_OpenSession failed: ${codeOf(err)}`);
    }
    try {
      lib.C_Login(session, pkcs11.CKU_USER, pin);
    } catch (err) {
      const code = codeOf(err);
      // Someone else's login (a session of ours on this token would have been found above): never shared.
      const ours = [...this.#sessions.values()].some((s) => s.lib === lib && s.token === cluster.token);
      if (!(code === 'CKR_USER_ALREADY_LOGGED_IN' && ours)) {
        try {
          lib.C_CloseSession(session);
        } catch {
          /* already gone */
        }
        if (code === 'CKR_PIN_INCORRECT' || code === 'CKR_PIN_INVALID' || code === 'CKR_PIN_LEN_RANGE') throw new HsmError('pin-incorrect', 'the token refused the key store password');
        if (code === 'CKR_PIN_LOCKED') throw new HsmError('pin-locked', 'the token has locked its user PIN');
        if (code === 'CKR_USER_PIN_NOT_INITIALIZED') throw new HsmError('user-not-initialised', 'the token has no user PIN');
        if (code === 'CKR_USER_ALREADY_LOGGED_IN') throw new HsmError('logged-in-elsewhere', `this server is already logged in to token '${cluster.token}' for another purpose (its root of trust?); give the key store a token of its own`);
        throw new HsmError('unavailable', `C_Login failed: ${code}`);
      }
    }
    const s: OpenSession = { lib, slot, session, token: cluster.token, keys: new Map() };
    this.#sessions.set(storeId, s);
    return s;
  }

  /** Close the store's session in this process: closing the last one logs the process out of the token. */
  disconnect(storeId: string): void {
    const s = this.#sessions.get(storeId);
    this.#sessions.delete(storeId);
    if (!s) return;
    s.keys.clear();
    try {
      s.lib.C_CloseSession(s.session);
    } catch {
      /* the session is already gone */
    }
  }

  /** Stores with a session open in this process. */
  get connected(): string[] {
    return [...this.#sessions.keys()];
  }

  /**
   * Run `fn` on the store's session. A session lost under it (the token reset, or the library re-initialised by
   * the root of trust) is reopened and `fn` tried once more; anything else surfaces as an HsmError.
   */
  async #withSession<T>(storeId: string, fn: (s: OpenSession) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const s = await this.session(storeId);
      try {
        return fn(s);
      } catch (err) {
        if (err instanceof HsmError && err.failure !== 'unavailable') throw err;
        const code = err instanceof HsmError ? err.message : codeOf(err);
        const alive = this.#alive(s);
        this.#drop(storeId, s);
        if (!alive && attempt === 0) {
          this.#initialise(s.lib);
          continue;
        }
        throw err instanceof HsmError ? err : new HsmError('unavailable', `the token failed: ${code}`);
      }
    }
  }

  #alive(s: OpenSession): boolean {
    try {
      s.lib.C_GetSessionInfo(s.session);
      return true;
    } catch {
      return false;
    }
  }

  /** Forget a session after a failure (it may hold an operation left active); the next call opens a fresh one and logs in again. */
  #drop(storeId: string, s: OpenSession): void {
    if (this.#sessions.get(storeId) === s) this.#sessions.delete(storeId);
    s.keys.clear();
    try {
      s.lib.C_CloseSession(s.session);
    } catch {
      /* gone */
    }
  }

  #find(s: OpenSession, label: string): Handle {
    const hit = s.keys.get(label);
    if (hit) return hit;
    const found = findSecretKeys(s.lib, s.session, label);
    if (found.length !== 1) throw new HsmError('key-missing', found.length ? `more than one object labelled ${label} on the token` : `the token holds no key labelled ${label}`);
    s.keys.set(label, found[0]!);
    return found[0]!;
  }

  /** Generate an AES-256 key inside the token: sensitive, never extractable, usable for encryption and decryption only. */
  async generateKey(storeId: string, label: string): Promise<void> {
    await this.#withSession(storeId, (s) => {
      let key: Handle;
      try {
        key = s.lib.C_GenerateKey(s.session, { mechanism: pkcs11.CKM_AES_KEY_GEN }, aesKeyTemplate(label, Buffer.from(label, 'utf8')));
      } catch (err) {
        throw new HsmError('unavailable', `C_GenerateKey failed: ${codeOf(err)}`);
      }
      if (!staysInToken(s.lib, s.session, key, true)) {
        s.lib.C_DestroyObject(s.session, key);
        throw new HsmError('unavailable', 'the token made a key that could leave it; refusing to use it');
      }
      s.keys.set(label, key);
    });
  }

  /** AES-256-GCM inside the token, with a random 96-bit IV chosen here. */
  async encrypt(storeId: string, label: string, plaintext: Uint8Array, aad: Uint8Array): Promise<{ iv: Buffer; ciphertext: Buffer; tag: Buffer }> {
    const iv = randomBytes(IV_BYTES);
    return this.#withSession(storeId, (s) => {
      const key = this.#find(s, label);
      // Room for the whole output: a short buffer leaves the operation active on the session (CKR_BUFFER_TOO_SMALL).
      s.lib.C_EncryptInit(s.session, { mechanism: pkcs11.CKM_AES_GCM, parameter: gcm(iv, Buffer.from(aad)) }, key);
      const out = s.lib.C_Encrypt(s.session, Buffer.from(plaintext), Buffer.alloc(plaintext.length + TAG_BYTES));
      return { iv, ciphertext: Buffer.from(out.subarray(0, out.length - TAG_BYTES)), tag: Buffer.from(out.subarray(out.length - TAG_BYTES)) };
    });
  }

  async decrypt(storeId: string, label: string, parts: { iv: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array; aad: Uint8Array }): Promise<Buffer> {
    return this.#withSession(storeId, (s) => {
      const key = this.#find(s, label);
      const body = Buffer.concat([parts.ciphertext, parts.tag]);
      try {
        s.lib.C_DecryptInit(s.session, { mechanism: pkcs11.CKM_AES_GCM, parameter: gcm(Buffer.from(parts.iv), Buffer.from(parts.aad)) }, key);
        return Buffer.from(s.lib.C_Decrypt(s.session, body, Buffer.alloc(body.length)));
      } catch (err) {
        // A tampered ciphertext and a vanished token can give the same code (CKR_GENERAL_ERROR): a live session means the data.
        if (!SESSION_GONE.has(codeOf(err)) && this.#alive(s)) throw new HsmError('data', codeOf(err));
        throw err;
      }
    });
  }

  /** Random bytes drawn by the token (GenerateRandom with a CustomKeyStoreId). */
  async random(storeId: string, n: number): Promise<Buffer> {
    return this.#withSession(storeId, (s) => Buffer.from(s.lib.C_GenerateRandom(s.session, Buffer.alloc(n))));
  }

  /** Destroy a key's object (the key was deleted); false when the token no longer holds it. */
  async destroyKey(storeId: string, label: string): Promise<boolean> {
    return this.#withSession(storeId, (s) => {
      let key: Handle;
      try {
        key = this.#find(s, label);
      } catch (err) {
        if (err instanceof HsmError && err.failure === 'key-missing') return false;
        throw err;
      }
      s.lib.C_DestroyObject(s.session, key);
      s.keys.delete(label);
      return true;
    });
  }

  /** Close every session of this process (server stop). Libraries stay loaded: the root of trust may share them. */
  close(): void {
    for (const id of [...this.#sessions.keys()]) this.disconnect(id);
  }
}
