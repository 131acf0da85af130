import { RootUnwrapError, type RootOfTrust } from './root-of-trust.ts';

/**
 * The root of trust while a data directory is being migrated from one root to another: values are
 * unwrapped by whichever root wrapped them (their first byte says which) and new values are wrapped
 * by the new root. A migration interrupted at any point therefore leaves a directory that works.
 */
export class MigratingRoot implements RootOfTrust {
  readonly kind: string;
  readonly #from: RootOfTrust;
  readonly #to: RootOfTrust;

  constructor(from: RootOfTrust, to: RootOfTrust) {
    this.#from = from;
    this.#to = to;
    this.kind = `${from.kind}->${to.kind} (migration in progress)`;
  }

  get keyCheckValue(): string {
    return this.#to.keyCheckValue;
  }

  get wrapPrefix(): number {
    return this.#to.wrapPrefix;
  }

  wrap(plaintext: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return this.#to.wrap(plaintext, aad);
  }

  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    if (wrapped[0] === this.#to.wrapPrefix) return this.#to.unwrap(wrapped, aad);
    if (wrapped[0] === this.#from.wrapPrefix) return this.#from.unwrap(wrapped, aad);
    return Promise.reject(new RootUnwrapError('unknown wrapped-key format'));
  }

  checkAvailable(): void {
    this.#to.checkAvailable();
  }

  async close(): Promise<void> {
    await this.#from.close();
    await this.#to.close();
  }
}
