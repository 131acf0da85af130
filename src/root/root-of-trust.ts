/**
 * The root of trust wraps backing keys and other key material. Implementations keep the root key
 * out of the database: in a sealed key file (keyfile.ts) or inside an HSM. Nothing they unwrap is
 * ever written down by Trent.
 */
export interface RootOfTrust {
  /** 'keyfile' or 'pkcs11'; shown by health and logs, never the key itself. */
  readonly kind: string;
  /** A short, non-secret fingerprint of the root key, to detect a data directory opened with the wrong key. */
  readonly keyCheckValue: string;
  /** Wrap key material. `aad` binds the wrapped value to what it belongs to (for example a key ARN and version). */
  wrap(plaintext: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** Unwrap; throws RootUnwrapError if the value was tampered with, belongs elsewhere or the key is wrong. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** Throws RootUnavailableError if the root cannot be used now (an HSM gone); cached key material must then not be used either. */
  checkAvailable(): void;
  /** The first byte of every value this root wraps, so that a data directory part-way through a migration can tell them apart. */
  readonly wrapPrefix: number;
  close(): Promise<void>;
}

/** The root of trust cannot be reached (HSM unplugged, session lost, wrong PIN): fail closed, never fall back. */
export class RootUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RootUnavailableError';
  }
}

export class RootUnwrapError extends Error {
  constructor(message = 'the root of trust could not unwrap this value') {
    super(message);
    this.name = 'RootUnwrapError';
  }
}

export class RootKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RootKeyError';
  }
}
