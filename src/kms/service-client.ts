import { callOnBehalf } from '../server/on-behalf.ts';
import type { CallContext, JsonService } from '../server/service.ts';
import type { Recorder } from '../trail/recorder.ts';
import { AwsError } from '../wire/errors.ts';
import type { KeyRecord, KeyStore } from './keys.ts';
import { requireState, USABLE } from './keys.ts';
import { awsManagedKey } from './managed-keys.ts';

/** The services that call KMS on a caller's behalf, as CloudTrail names them in `invokedBy`. */
export type CallingService = 's3' | 'secretsmanager' | 'ssm' | 'rekognition';

/** An audit failure while recording a KMS call made on a caller's behalf: the caller's request must fail too. */
export class KmsAuditUnavailable extends AwsError {
  constructor() {
    super('ServiceUnavailable', 503, 'The request was not served because the audit trail cannot record its KMS call. Try again later.');
  }
}

/**
 * KMS as other Trent services use it (S3 SSE-KMS, Secrets Manager, SSM SecureString ...): the same
 * operation handlers a client reaches over the wire, run with the original caller's identity, and
 * recorded in the audit trail as AWS records them (see callOnBehalf): a KMS event of its own, with
 * `userIdentity.invokedBy` and `sourceIPAddress` naming the calling service, durable before the
 * result is used (fail closed), exactly like a direct call.
 */
export class KmsServiceClient {
  readonly #kms: JsonService;
  readonly #keys: KeyStore;
  readonly #recorder: Recorder;

  constructor(kms: JsonService, keys: KeyStore, recorder: Recorder) {
    this.#kms = kms;
    this.#keys = keys;
    this.#recorder = recorder;
  }

  get keys(): KeyStore {
    return this.#keys;
  }

  /** The ARN of a key named by id, ARN, alias name or alias ARN; `undefined` means the service's AWS managed key (created on first use). */
  async resolveArn(keyId: string | undefined, service: CallingService): Promise<string> {
    if (keyId === undefined) return (await awsManagedKey(this.#keys, service)).arn;
    return (await this.#keys.resolve(keyId, { aliases: true })).arn;
  }

  /**
   * The key must be usable right now (Enabled). Services that cache material derived from a KMS data
   * key (S3 Bucket Keys) check this locally on every use, so that disabling a key takes effect at once.
   */
  async assertUsable(keyArn: string): Promise<KeyRecord> {
    const key = await this.#keys.resolve(keyArn, { aliases: false });
    requireState(key, USABLE);
    return key;
  }

  async generateDataKey(ctx: CallContext, service: CallingService, keyId: string, encryptionContext: Record<string, string>): Promise<{ keyArn: string; plaintext: Buffer; ciphertext: Buffer }> {
    const input = { KeyId: keyId, EncryptionContext: encryptionContext, KeySpec: 'AES_256' };
    const out = (await this.#call(ctx, service, 'GenerateDataKey', input)) as { KeyId: string; Plaintext: string; CiphertextBlob: string };
    return { keyArn: out.KeyId, plaintext: Buffer.from(out.Plaintext, 'base64'), ciphertext: Buffer.from(out.CiphertextBlob, 'base64') };
  }

  async encrypt(ctx: CallContext, service: CallingService, keyId: string, plaintext: Buffer, encryptionContext: Record<string, string>): Promise<{ keyArn: string; ciphertext: Buffer }> {
    const input = { KeyId: keyId, Plaintext: plaintext.toString('base64'), EncryptionContext: encryptionContext };
    const out = (await this.#call(ctx, service, 'Encrypt', input)) as { KeyId: string; CiphertextBlob: string };
    return { keyArn: out.KeyId, ciphertext: Buffer.from(out.CiphertextBlob, 'base64') };
  }

  async decrypt(ctx: CallContext, service: CallingService, ciphertext: Buffer, encryptionContext: Record<string, string>, keyId?: string): Promise<{ keyArn: string; plaintext: Buffer }> {
    const input = { CiphertextBlob: ciphertext.toString('base64'), EncryptionContext: encryptionContext, ...(keyId ? { KeyId: keyId } : {}) };
    const out = (await this.#call(ctx, service, 'Decrypt', input)) as { KeyId: string; Plaintext: string };
    return { keyArn: out.KeyId, plaintext: Buffer.from(out.Plaintext, 'base64') };
  }

  #call(ctx: CallContext, service: CallingService, operation: string, input: Record<string, unknown>): Promise<unknown> {
    return callOnBehalf({ target: this.#kms, recorder: this.#recorder, accountId: this.#keys.accountId, ctx, service, operation, input, auditUnavailable: () => new KmsAuditUnavailable() });
  }
}
