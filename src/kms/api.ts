import type * as K from '@aws-sdk/client-kms';
import type { CallContext, JsonService } from '../server/service.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { blob, bool, int, memberPath, oneOf, str, stringList } from './input.ts';
import { randomBytes } from '../crypto/random.ts';
import { UniqueViolation } from '../store/database.ts';
import { AwsError } from '../wire/errors.ts';
import { decodeBlob, openUnderBackingKey, sealUnderBackingKey } from './envelope.ts';
import { FORMAT_HSM, FORMAT_V1, peekBlob } from './ciphertext.ts';
import type { CustomKeyStores } from './custom-key-stores.ts';
import { customKeyStoreOperations } from './api-key-stores.ts';
import { keyAuthorizer, touched } from './key-authorization.ts';
import { XKS_KEY_ID } from './xks-format.ts';
import { randomUUID } from 'node:crypto';
import { readEncryptionContext } from './encryption-context.ts';
import {
  AlreadyExistsException,
  DryRunOperationException,
  ExpiredImportTokenException,
  InvalidImportTokenException,
  IncorrectKeyException,
  InvalidAliasNameException,
  InvalidCiphertextException,
  InvalidKeyUsageException,
  KMSInvalidMacException,
  KMSInvalidSignatureException,
  KMSInvalidStateException,
  LimitExceededException,
  NotFoundException,
  TagException,
  UnsupportedOperationException,
  ValidationException,
  XksKeyAlreadyInUseException,
} from './errors.ts';
import { ANY_STATE, DAY_MS, decodeMarker, encodeMarker, MANAGEABLE, requireState, TOGGLEABLE, USABLE, type KeyRecord, type KeyState, type KeyStore } from './keys.ts';
import { defaultKeyPolicy, POLICY_NAME, validateKeyPolicy } from './policy.ts';
import { InvalidPrincipalError, requestPrincipal, type Authorizer } from '../iam/authorizer.ts';
import { allowsPutKeyPolicy } from '../iam/policy.ts';
import { checkPrincipalArn, CONTEXT_OPERATIONS, GRANT_OPERATIONS, GrantStore, grantWithin, principalMatches, readConstraints, type GrantRecord } from './grants.ts';
import { InvalidArnException, InvalidGrantIdException, InvalidGrantTokenException, MalformedPolicyDocumentException } from './errors.ts';
import { KEY_SPECS, maxRsaPlaintext, type KeySpecInfo } from './key-specs.ts';
import { MU_BYTES } from './ml-dsa.ts';
import { checkImportedMaterial, generateWrappingKey, tokenHash, unwrapImportedMaterial, WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS } from './import.ts';
import {
  dataKeyPair,
  deriveShared,
  digestLength,
  generateMaterialAsync,
  mac,
  macEquals,
  publicKeyFor,
  rsaDecrypt,
  rsaEncrypt,
  signMessage,
  verifyMessage,
} from './asymmetric.ts';
import type { TrailStore } from '../trail/store.ts';
import { lowerCamel } from '../trail/event.ts';
import { slow, type CryptoPool } from './crypto-pool.ts';
import { ServiceShapes } from '../wire/shapes.ts';

type In = Record<string, unknown>;
type W<T> = JsonWire<T>;

export const MAX_PLAINTEXT = 4096;
export const MAX_CIPHERTEXT = 6144;
const MAX_ON_DEMAND_ROTATIONS = 25;
const DEFAULT_ROTATION_DAYS = 365;
const MAX_TAGS = 50;
const MAX_ALIASES_PER_KEY = 50;
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;

const seconds = (ms: number | null | undefined): number | undefined => (ms === null || ms === undefined ? undefined : ms / 1000);

export interface KmsDeps {
  keys: KeyStore;
  /** Identity policies for PutKeyPolicy's lockout safety check; key policies and grants are enforced through ctx.authorize. */
  authorizer: Authorizer;
  /** GetKeyLastUsage is answered from the audit records. */
  trail: TrailStore;
  trailRetentionDays: number;
  now?: () => number;
  /** Where slow asymmetric operations run (RSA, ECDSA over a digest, ML-DSA): off the event loop. */
  pool?: CryptoPool;
  /** Custom key stores (PKCS#11 tokens and external key store proxies); without them the six operations are refused. */
  customKeyStores?: CustomKeyStores;
}

/** Request fields a KMS CloudTrail event may show: never Plaintext or CiphertextBlob. */
const AUDITED_FIELDS = new Set([
  'KeyId', 'EncryptionContext', 'EncryptionAlgorithm', 'KeySpec', 'NumberOfBytes', 'Description', 'KeyUsage', 'Origin', 'Tags',
  'Policy', 'PolicyName', 'AliasName', 'TargetKeyId', 'PendingWindowInDays', 'RotationPeriodInDays', 'SourceKeyId', 'DestinationKeyId',
  'SourceEncryptionContext', 'DestinationEncryptionContext', 'SourceEncryptionAlgorithm', 'DestinationEncryptionAlgorithm', 'Limit',
  'Marker', 'DryRun', 'TagKeys', 'BypassPolicyLockoutSafetyCheck', 'MultiRegion', 'CustomerMasterKeySpec', 'GrantTokens',
  'SigningAlgorithm', 'MessageType', 'MacAlgorithm', 'KeyPairSpec', 'KeyAgreementAlgorithm',
  'WrappingAlgorithm', 'WrappingKeySpec', 'ValidTo', 'ExpirationModel', 'ImportType', 'GranteePrincipal', 'RetiringPrincipal', 'Operations',
  'Constraints', 'Name', 'GrantId', 'IncludeKeyMaterial', 'KeyMaterialId', 'KeyMaterialDescription',
  'CustomKeyStoreId', 'CustomKeyStoreName', 'NewCustomKeyStoreName', 'CustomKeyStoreType', 'CloudHsmClusterId', 'TrustAnchorCertificate',
  'XksProxyUriEndpoint', 'XksProxyUriPath', 'XksProxyConnectivity', 'XksKeyId',
]);
/** Operations whose responses carry key material or data: their responseElements are null, as on AWS. */
/** AWS's enum values: anything else is a ValidationException before any key is looked up. */
const SIGNING_ENUM = [
  'RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256', 'ECDSA_SHA_384', 'ECDSA_SHA_512', 'SM2DSA', 'ML_DSA_SHAKE_256', 'ED25519_SHA_512', 'ED25519_PH_SHA_512',
] as const;
const MAC_ENUM = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'] as const;

const CRYPTOGRAPHIC = new Set([
  'GetParametersForImport',
  'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateRandom', 'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext', 'Sign', 'Verify', 'GenerateMac', 'VerifyMac', 'DeriveSharedSecret', 'GetPublicKey',
]);
/** What GetKeyLastUsage tracks. */
const TRACKED_USES = [
  'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext',
  'Sign', 'Verify', 'GenerateMac', 'VerifyMac', 'DeriveSharedSecret',
] as const;
const READ_ONLY_OPS = /^(Describe|List|Get|Encrypt$|Decrypt$|ReEncrypt$|GenerateDataKey|GenerateRandom$|Sign$|Verify$|GenerateMac$|VerifyMac$|DeriveSharedSecret$)/;

function auditedRequest(input: unknown): Record<string, unknown> | null {
  if (!input || typeof input !== 'object') return null;
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) if (AUDITED_FIELDS.has(k)) kept[k] = v;
  return Object.keys(kept).length ? (lowerCamel(kept) as Record<string, unknown>) : null;
}


/** The KeyMetadata AWS returns for a symmetric encryption key. */
function specOf(k: KeyRecord): KeySpecInfo {
  return KEY_SPECS[k.keySpec] ?? KEY_SPECS['SYMMETRIC_DEFAULT']!;
}

/** The algorithms a key offers, by its spec and usage, as KeyMetadata and GetPublicKey list them. */
function algorithms(k: KeyRecord): Record<string, string[]> {
  const spec = specOf(k);
  switch (k.keyUsage) {
    case 'ENCRYPT_DECRYPT':
      return { EncryptionAlgorithms: [...spec.encryption] };
    case 'SIGN_VERIFY':
      return { SigningAlgorithms: [...spec.signing] };
    case 'GENERATE_VERIFY_MAC':
      return { MacAlgorithms: [...spec.mac] };
    case 'KEY_AGREEMENT':
      return { KeyAgreementAlgorithms: [...spec.keyAgreement] };
  }
  return {};
}

export function keyMetadata(k: KeyRecord): W<K.KeyMetadata> {
  return {
    AWSAccountId: k.accountId,
    KeyId: k.keyId,
    Arn: k.arn,
    CreationDate: seconds(k.createdAt)!,
    Enabled: k.keyState === 'Enabled',
    Description: k.description,
    KeyUsage: k.keyUsage as K.KeyUsageType,
    KeyState: k.keyState,
    ...(k.deletionAt !== null ? { DeletionDate: seconds(k.deletionAt)! } : {}),
    ...(k.pendingWindowDays !== null && k.keyState === 'PendingDeletion' ? { PendingDeletionWindowInDays: k.pendingWindowDays } : {}),
    Origin: k.origin as K.OriginType,
    ...(k.origin === 'EXTERNAL' && k.expirationModel ? { ExpirationModel: k.expirationModel as K.ExpirationModelType } : {}),
    ...(k.validTo !== null ? { ValidTo: seconds(k.validTo)! } : {}),
    KeyManager: k.keyManager,
    CustomerMasterKeySpec: k.keySpec as K.CustomerMasterKeySpec,
    KeySpec: k.keySpec as K.KeySpec,
    ...(algorithms(k) as Partial<W<K.KeyMetadata>>),
    MultiRegion: false,
    ...(k.customKeyStoreId ? { CustomKeyStoreId: k.customKeyStoreId } : {}),
    ...(k.cloudHsmClusterId ? { CloudHsmClusterId: k.cloudHsmClusterId } : {}),
    ...(k.xksKeyId ? { XksKeyConfiguration: { Id: k.xksKeyId } } : {}),
    // Symmetric encryption keys (the ones that rotate) name their current material.
    ...(k.keySpec === 'SYMMETRIC_DEFAULT' && k.currentKeyMaterialId ? { CurrentKeyMaterialId: k.currentKeyMaterialId } : {}),
  };
}

function readTags(input: In): Array<{ TagKey: string; TagValue: string }> {
  const v = input['Tags'];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ValidationException('Tags must be a list.');
  const seen = new Set<string>();
  return v.map((t, i) => {
    const tag = (t ?? {}) as In;
    const key = str(tag, 'TagKey', { required: true, min: 1, max: 128, path: `Tags.${i + 1}.member.TagKey` });
    const value = str(tag, 'TagValue', { required: true, min: 0, max: 256, path: `Tags.${i + 1}.member.TagValue` });
    // AWS reserves the prefix in any letter case.
    if (key.toLowerCase().startsWith('aws:')) throw new TagException('Tags beginning with aws: are reserved');
    if (seen.has(key)) throw new TagException(`Duplicate tag key ${key}.`);
    seen.add(key);
    return { TagKey: key, TagValue: value };
  });
}

/** A member the model requires, missing: AWS's wording. */
const missing = (field: string) => new ValidationException(`1 validation error detected: Value null at '${memberPath(field)}' failed to satisfy constraint: Member must not be null`);

function checkAliasName(name: string): void {
  if (!name.startsWith('alias/')) throw new ValidationException('Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html');
  if (!ALIAS_NAME.test(name) || name.length > 256) {
    throw new ValidationException(`1 validation error detected: Value '${name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$`);
  }
  if (name.startsWith('alias/aws/')) throw new InvalidAliasNameException('Alias must not begin with alias/aws/: that prefix is reserved for AWS managed keys.');
}

/**
 * AWS KMS symmetric keys. Every handler takes the SDK's request shape in its awsJson form and returns
 * the SDK's response shape; key-state rules come from keys.ts, the ciphertext from envelope.ts.
 */
function grantShape(g: GrantRecord, keyArn: string): W<K.GrantListEntry> {
  return {
    KeyId: keyArn,
    GrantId: g.grantId,
    ...(g.name ? { Name: g.name } : {}),
    CreationDate: g.createdAt / 1000,
    GranteePrincipal: g.granteePrincipal,
    ...(g.retiringPrincipal ? { RetiringPrincipal: g.retiringPrincipal } : {}),
    IssuingAccount: g.issuingAccount,
    Operations: g.operations as K.GrantOperation[],
    ...(g.constraints ? { Constraints: g.constraints } : {}),
  };
}

export function kmsService(deps: KmsDeps): JsonService {
  const { keys, trail } = deps;
  const now = deps.now ?? Date.now;
  const db = keys.db;
  const grants = new GrantStore(db);
  const pool = deps.pool;
  const stores = (): CustomKeyStores => {
    if (!deps.customKeyStores) throw new UnsupportedOperationException('Custom key stores are not available on this server.');
    return deps.customKeyStores;
  };
  /** An asymmetric operation, in the pool when it is slow and there is one, else in place. */
  const sign = async (...args: Parameters<typeof signMessage>): Promise<Buffer> => (pool && slow(args[0], args[4]) ? pool.run('sign', ...args) : signMessage(...args));

  function limitOf(input: In): number {
    return int(input, 'Limit', { min: 1, max: 1000 }) ?? 100;
  }

  function page<T>(items: T[], limit: number, sortKey: (t: T) => string): { items: T[]; Truncated: boolean; NextMarker?: string } {
    const truncated = items.length > limit;
    const shown = items.slice(0, limit);
    return { items: shown, Truncated: truncated, ...(truncated ? { NextMarker: encodeMarker(sortKey(shown[shown.length - 1]!)) } : {}) };
  }

  /** Key policy, identity policies and grants for a key (key-authorization.ts); records the key as the event's resource. */
  const authorizedKey = keyAuthorizer({ authorizer: deps.authorizer, keys, grants });

  /** Actions that name no key: identity policies only. */
  async function authorizedAccount(ctx: CallContext, resource = '*', context: Record<string, string | string[] | undefined> = {}): Promise<void> {
    await ctx.authorize({ action: `kms:${ctx.operation}`, resource, mode: 'identity', context: { 'kms:CallerAccount': ctx.principal.accountId, ...context } });
  }

  /** A key policy as stored: the IAM users and roles it names bound to their unique ids, as AWS keeps them. */
  async function boundKeyPolicy(text: string, accountId: string): Promise<string> {
    try {
      return await deps.authorizer.bindPrincipals(text, accountId);
    } catch (err) {
      if (err instanceof InvalidPrincipalError) throw new MalformedPolicyDocumentException('Policy contains a statement with one or more invalid principals.');
      throw err;
    }
  }

  /** The unique id a grant keeps for a grantee or retiring principal (see Authorizer.principalIdFor). */
  async function grantPrincipalId(arn: string, field: string, accountId: string): Promise<string | undefined> {
    try {
      return await deps.authorizer.principalIdFor(arn, accountId);
    } catch (err) {
      if (err instanceof InvalidPrincipalError) throw new InvalidArnException(`${field} ${arn} does not name an existing IAM user, role or role session.`);
      throw err;
    }
  }

  /** A grant as ListGrants shows it: a grantee or retiring principal that no longer exists reads as the unique id the grant keeps, as on AWS. */
  async function shownGrant(g: GrantRecord): Promise<GrantRecord> {
    const gone = async (id: string | null) => id !== null && (await deps.authorizer.principalArnFor(id.split(':')[0]!)) === undefined;
    return {
      ...g,
      granteePrincipal: (await gone(g.granteeId)) ? g.granteeId! : g.granteePrincipal,
      retiringPrincipal: (await gone(g.retiringId)) ? g.retiringId : g.retiringPrincipal,
    };
  }

  /** PutKeyPolicy's safety check: refuse a policy under which the caller could no longer call PutKeyPolicy. */
  async function lockoutCheck(ctx: CallContext, policyText: string, keyArn: string): Promise<void> {
    let doc;
    try {
      doc = deps.authorizer.parseResourcePolicy(policyText);
    } catch (err) {
      throw new MalformedPolicyDocumentException((err as Error).message);
    }
    const identity = await deps.authorizer.identityPolicies(ctx.principal);
    const p = ctx.principal;
    if (!allowsPutKeyPolicy(doc, requestPrincipal(p), identity, keyArn, {}, await deps.authorizer.limits(p))) {
      throw new MalformedPolicyDocumentException(
        'The new key policy will not allow you to update the key policy in the future. Set BypassPolicyLockoutSafetyCheck to true to bypass this safety check.',
      );
    }
  }

  async function usableKey(id: string, ctx: CallContext, usage = 'ENCRYPT_DECRYPT', symmetricOnly = true, side?: 'Source' | 'Destination'): Promise<KeyRecord> {
    const key = await authorizedKey(ctx, await keys.resolve(id, { aliases: true }), side ? { side } : {});
    requireState(key, USABLE);
    if (key.keyUsage !== usage) throw new InvalidKeyUsageException(`${key.arn} key usage is ${key.keyUsage} which is not valid for ${ctx.operation}.`);
    if (symmetricOnly && usage === 'ENCRYPT_DECRYPT' && specOf(key).kind !== 'symmetric') {
      throw new InvalidKeyUsageException(`${key.arn} key spec is ${key.keySpec} which is not valid for ${ctx.operation}.`);
    }
    return key;
  }

  async function materialOf(key: KeyRecord): Promise<Buffer> {
    const material = await keys.backingKey(key, key.currentVersion);
    if (!material) throw new KMSInvalidStateException(`${key.arn} has no key material.`);
    return material;
  }

  function noContext(ec: Record<string, string>, field = 'EncryptionContext'): void {
    if (Object.keys(ec).length > 0) throw new ValidationException(`${field} is not supported with asymmetric KMS keys.`);
  }

  /** The key a symmetric ciphertext blob names (any of Trent's formats), or undefined for anything else (an RSA ciphertext, garbage). */
  function namedKey(ciphertext: Buffer): string | undefined {
    const peeked = peekBlob(ciphertext);
    if (!peeked || peeked.format !== FORMAT_V1) return peeked?.keyId;
    try {
      return decodeBlob(ciphertext).keyId;
    } catch {
      return undefined;
    }
  }

  /**
   * Decrypt any ciphertext a caller may hold: an RSA-OAEP one (named by its KeyId, with its algorithm)
   * or a symmetric blob (which names its own key). Shared by Decrypt and ReEncrypt's source side.
   */
  async function decryptAny(
    ctx: CallContext,
    ciphertext: Buffer,
    ec: Record<string, string>,
    requestedKeyId: string | undefined,
    algorithm: string | undefined,
    contextField: string,
  ): Promise<{ key: KeyRecord; plaintext: Buffer; algorithm: string; keyMaterialId?: string }> {
    if (requestedKeyId !== undefined) {
      // An asymmetric ciphertext names no key: the KeyId says which RSA key to use.
      const candidate = await authorizedKey(ctx, await keys.resolve(requestedKeyId, { aliases: true }), ctx.operation === 'ReEncrypt' ? { side: 'Source' } : {});
      // As on AWS, a ciphertext that names another key is IncorrectKeyException before anything about the key named is checked.
      const named = namedKey(ciphertext);
      if (named !== undefined && named !== candidate.keyId) throw new IncorrectKeyException();
      const kind = specOf(candidate).kind;
      if (kind !== 'rsa' && kind !== 'symmetric') throw new InvalidKeyUsageException(`${candidate.arn} key usage is ${candidate.keyUsage} which is not valid for ${ctx.operation}.`);
      if (kind === 'rsa') {
        requireState(candidate, USABLE);
        if (candidate.keyUsage !== 'ENCRYPT_DECRYPT') throw new InvalidKeyUsageException(`${candidate.arn} key usage is ${candidate.keyUsage} which is not valid for ${ctx.operation}.`);
        const alg = algorithmFor(candidate, algorithm, 'encryption', 'EncryptionAlgorithm');
        noContext(ec, contextField);
        try {
          const material = await materialOf(candidate);
          return { key: candidate, plaintext: pool ? await pool.run('rsaDecrypt', material, alg, ciphertext) : rsaDecrypt(material, alg, ciphertext), algorithm: alg };
        } catch (err) {
          if (err instanceof AwsError) throw err;
          throw new InvalidCiphertextException();
        }
      }
    }
    if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') throw new InvalidCiphertextException();
    const { key, plaintext, keyMaterialId } = await decryptBlob(ctx, ciphertext, ec, requestedKeyId);
    return { key, plaintext, algorithm: 'SYMMETRIC_DEFAULT', keyMaterialId };
  }

  /** Encrypt under a symmetric or RSA key, with AWS's per-key rules. Shared by Encrypt and ReEncrypt's destination side. */
  async function encryptAny(
    ctx: CallContext,
    key: KeyRecord,
    plaintext: Buffer,
    ec: Record<string, string>,
    algorithm: string | undefined,
    contextField: string,
    input: In,
  ): Promise<{ blob: Buffer; algorithm: string; keyMaterialId?: string }> {
    if (specOf(key).kind === 'rsa') {
      const alg = algorithmFor(key, algorithm, 'encryption', 'EncryptionAlgorithm');
      noContext(ec, contextField);
      const limit = maxRsaPlaintext(specOf(key).bits!, alg);
      if (plaintext.length > limit) throw new ValidationException(`Algorithm ${alg} and key spec ${key.keySpec} cannot encrypt data larger than ${limit} bytes.`);
      dryRun(input);
      const material = await materialOf(key);
      return { blob: pool ? await pool.run('rsaEncrypt', material, alg, plaintext) : rsaEncrypt(material, alg, plaintext), algorithm: alg };
    }
    if ((algorithm ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT') throw new InvalidKeyUsageException(`${algorithm} is not a valid encryption algorithm for ${key.arn}.`);
    dryRun(input);
    return { ...(await encryptWith(ctx, key, plaintext, ec)), algorithm: 'SYMMETRIC_DEFAULT' };
  }

  function algorithmFor(key: KeyRecord, given: string | undefined, kind: 'encryption' | 'signing' | 'mac', field: string): string {
    const allowed = specOf(key)[kind];
    if (given === undefined) throw field === 'EncryptionAlgorithm' ? new ValidationException(`EncryptionAlgorithm is required for ${key.keySpec} keys.`) : missing(field);
    if (!allowed.includes(given)) throw new InvalidKeyUsageException(`Algorithm ${given} is incompatible with key spec ${key.keySpec}.`);
    return given;
  }

  /** Automatic rotation: symmetric keys whose material KMS generated. Imported material rotates only on demand. */
  function rotatable(k: KeyRecord, onDemand = false): void {
    if (specOf(k).kind !== 'symmetric') throw new UnsupportedOperationException(`${k.arn} is a ${k.keySpec} key: only symmetric encryption keys can be rotated.`);
    if (k.customKeyStoreId) throw new UnsupportedOperationException(`${k.arn} is in custom key store ${k.customKeyStoreId}: keys in custom key stores do not rotate.`);
    if (k.origin === 'EXTERNAL' && !onDemand) throw new UnsupportedOperationException(`${k.arn} has imported key material: it rotates only on demand (RotateKeyOnDemand after ImportKeyMaterial with ImportType NEW_KEY_MATERIAL).`);
  }

  /**
   * Seal under the key's current material; the id of that material comes back with the blob, as AWS reports it.
   * A key in a custom key store is sealed in its token, or twice: under its own material, then by its proxy.
   */
  async function encryptWith(ctx: CallContext, key: KeyRecord, plaintext: Buffer, ec: Record<string, string>): Promise<{ blob: Buffer; keyMaterialId?: string }> {
    if (key.customKeyStoreId) {
      let keyMaterialId: string | undefined;
      const blob = await stores().encrypt(ctx, key, plaintext, ec, async () => {
        const m = await keys.material(key, key.currentVersion);
        if (!m) throw new KMSInvalidStateException(`${key.arn} has no key material.`);
        keyMaterialId = m.id;
        return { secret: m.secret, version: key.currentVersion };
      });
      return { blob, ...(keyMaterialId ? { keyMaterialId } : {}) };
    }
    const material = await keys.material(key, key.currentVersion);
    if (!material) throw new KMSInvalidStateException(`${key.arn} is pending import.`);
    return { blob: sealUnderBackingKey(key.keyId, key.currentVersion, material.secret, plaintext, ec), keyMaterialId: material.id };
  }

  /** Decrypt a blob: find its key, check the requested KeyId and the key's state, then open it. */
  async function decryptBlob(
    ctx: CallContext,
    ciphertext: Buffer,
    ec: Record<string, string>,
    requestedKeyId: string | undefined,
  ): Promise<{ key: KeyRecord; plaintext: Buffer; keyMaterialId?: string }> {
    const peeked = peekBlob(ciphertext);
    if (peeked && peeked.format !== FORMAT_V1) {
      if (requestedKeyId !== undefined) {
        const requested = await keys.resolve(requestedKeyId, { aliases: true });
        if (requested.keyId !== peeked.keyId) throw new IncorrectKeyException();
      }
      const key = await keys.get(peeked.keyId);
      if (!key) throw new InvalidCiphertextException();
      await authorizedKey(ctx, key, ctx.operation === 'ReEncrypt' ? { side: 'Source' } : {});
      requireState(key, USABLE);
      // Each kind of key has its one format: a blob in another is not this key's ciphertext.
      if (!key.customKeyStoreId || (peeked.format === FORMAT_HSM) !== (key.origin === 'AWS_CLOUDHSM')) throw new InvalidCiphertextException();
      let keyMaterialId: string | undefined;
      const plaintext = await stores().decrypt(ctx, key, ciphertext, ec, async (version) => {
        const m = await keys.material(key, version);
        keyMaterialId = m?.id;
        return m?.secret;
      });
      return { key, plaintext, ...(keyMaterialId ? { keyMaterialId } : {}) };
    }
    const parsed = decodeBlob(ciphertext);
    if (requestedKeyId !== undefined) {
      const requested = await keys.resolve(requestedKeyId, { aliases: true });
      if (requested.keyId !== parsed.keyId) throw new IncorrectKeyException();
    }
    const key = await keys.get(parsed.keyId);
    // A ciphertext naming a key that does not (or no longer) exist cannot be decrypted.
    if (!key) throw new InvalidCiphertextException();
    await authorizedKey(ctx, key, ctx.operation === 'ReEncrypt' ? { side: 'Source' } : {});
    requireState(key, USABLE);
    // A key in a custom key store never makes a version 1 blob of its own (the inner layer of an external key's ciphertext is one: it must not open here).
    if (key.customKeyStoreId) throw new InvalidCiphertextException();
    const material = await keys.material(key, parsed.version);
    if (!material) throw new InvalidCiphertextException();
    return { key, plaintext: openUnderBackingKey(parsed, material.secret, ec), keyMaterialId: material.id };
  }

  function dryRun(input: In): void {
    if (bool(input, 'DryRun')) throw new DryRunOperationException();
  }

  function dataKeyBytes(input: In): number {
    const spec = oneOf(input, 'KeySpec', ['AES_256', 'AES_128'] as const);
    const count = int(input, 'NumberOfBytes', { min: 1, max: 1024 });
    if (spec !== undefined && count !== undefined) throw new ValidationException('Specify either KeySpec or NumberOfBytes, not both.');
    if (spec === undefined && count === undefined) throw new ValidationException('Specify either KeySpec or NumberOfBytes.');
    return count ?? (spec === 'AES_128' ? 16 : 32);
  }

  async function generateDataKey(ctx: CallContext, input: In, withPlaintext: boolean) {
    const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
    const ec = readEncryptionContext(input['EncryptionContext']);
    stringList(input, 'GrantTokens', 10);
    const bytes = dataKeyBytes(input);
    const key = await usableKey(keyId, ctx);
    dryRun(input);
    const dataKey = randomBytes(bytes);
    try {
      const sealed = await encryptWith(ctx, key, dataKey, ec);
      return {
        CiphertextBlob: sealed.blob.toString('base64'),
        KeyId: key.arn,
        ...(withPlaintext ? { Plaintext: dataKey.toString('base64') } : {}),
        ...(sealed.keyMaterialId ? { KeyMaterialId: sealed.keyMaterialId } : {}),
      };
    } finally {
      dataKey.fill(0);
    }
  }

  async function mutate(ctx: CallContext, id: string, allowed: readonly KeyState[], fn: (key: KeyRecord, q: Parameters<Parameters<typeof db.transaction>[0]>[0]) => Promise<void>): Promise<KeyRecord> {
    // Authorised before the transaction: the check reads policies and grants, which a transaction would serialise behind itself.
    await authorizedKey(ctx, await keys.resolve(id, { aliases: false }));
    try {
      return await db.transaction(async (tx) => {
        const key = touched(ctx, await keys.resolve(id, { aliases: false }, tx));
        requireState(key, allowed);
        await fn(key, tx);
        return (await keys.get(key.keyId, tx))!;
      });
    } finally {
      // Committed or not, nothing cached may outlive a write attempt.
      keys.invalidate();
    }
  }

  /**
   * RAW messages are hashed by the algorithm; DIGEST messages must already be a digest of its length (AWS's
   * wording); EXTERNAL_MU is ML-DSA's 64-byte message representative mu. True when the message is not RAW.
   */
  function checkMessageType(type: string, algorithm: string, message: Buffer): boolean {
    const mlDsa = algorithm === 'ML_DSA_SHAKE_256';
    if (type === 'EXTERNAL_MU') {
      if (!mlDsa) throw new ValidationException(`MessageType EXTERNAL_MU is only valid with ML_DSA_SHAKE_256, not ${algorithm}.`);
      if (message.length !== MU_BYTES) throw new ValidationException(`Digest is invalid length for algorithm ${algorithm}.`);
      return true;
    }
    if (type !== 'DIGEST') return false;
    if (mlDsa) throw new ValidationException('MessageType DIGEST is not valid with ML_DSA_SHAKE_256: send RAW, or the 64-byte mu as EXTERNAL_MU.');
    if (algorithm.startsWith('ED25519')) throw new ValidationException('ED25519_SHA_512 signs RAW messages only.');
    if (message.length !== digestLength(algorithm)) throw new ValidationException(`Digest is invalid length for algorithm ${algorithm}.`);
    return true;
  }

  /** What Sign and Verify share: the key, the message, the algorithm the key allows and whether the message is a digest. */
  async function signingInput(ctx: CallContext, input: In): Promise<{ key: KeyRecord; message: Buffer; algorithm: string; digest: boolean }> {
    const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
    const message = blob(input, 'Message', { required: true, min: 1, max: MAX_PLAINTEXT });
    const type = oneOf(input, 'MessageType', ['RAW', 'DIGEST', 'EXTERNAL_MU'] as const) ?? 'RAW';
    const requested = oneOf(input, 'SigningAlgorithm', SIGNING_ENUM);
    stringList(input, 'GrantTokens', 10);
    const key = await usableKey(keyId, ctx, 'SIGN_VERIFY', false);
    const algorithm = algorithmFor(key, requested, 'signing', 'SigningAlgorithm');
    const digest = checkMessageType(type, algorithm, message);
    dryRun(input);
    return { key, message, algorithm, digest };
  }

  async function generateDataKeyPair(ctx: CallContext, input: In, withPlaintext: boolean) {
    const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
    const pairSpec = oneOf(input, 'KeyPairSpec', ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'ECC_NIST_EDWARDS25519', 'SM2'] as const);
    if (pairSpec === undefined) throw missing('KeyPairSpec');
    if (pairSpec === 'SM2') throw new UnsupportedOperationException('SM2 key pairs are offered only in China Regions.');
    const ec = readEncryptionContext(input['EncryptionContext']);
    stringList(input, 'GrantTokens', 10);
    if (input['Recipient'] !== undefined) throw new UnsupportedOperationException('Recipient (Nitro Enclaves attestation) is not supported.');
    const key = await usableKey(keyId, ctx);
    if (key.customKeyStoreId) throw new UnsupportedOperationException(`${key.arn} is in custom key store ${key.customKeyStoreId}: data key pairs cannot be generated under keys in custom key stores.`);
    dryRun(input);
    const pair = pool && pairSpec.startsWith('RSA') ? await pool.run('dataKeyPair', pairSpec) : dataKeyPair(pairSpec);
    try {
      const sealed = await encryptWith(ctx, key, pair.privateKey, ec);
      return {
        KeyId: key.arn,
        KeyPairSpec: pairSpec,
        PublicKey: pair.publicKey.toString('base64'),
        PrivateKeyCiphertextBlob: sealed.blob.toString('base64'),
        ...(withPlaintext ? { PrivateKeyPlaintext: pair.privateKey.toString('base64') } : {}),
        ...(sealed.keyMaterialId ? { KeyMaterialId: sealed.keyMaterialId } : {}),
      };
    } finally {
      pair.privateKey.fill(0);
    }
  }

  const operations: Record<string, (ctx: CallContext, input: In) => Promise<unknown>> = {
    async CreateKey(ctx, input): Promise<W<K.CreateKeyResponse>> {
      const description = str(input, 'Description', { min: 0, max: 8192 }) ?? '';
      const usageIn = oneOf(input, 'KeyUsage', ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const);
      const keyUsage = usageIn ?? 'ENCRYPT_DECRYPT';
      const KEY_SPEC_ENUM = [...new Set([...Object.keys(KEY_SPECS), 'SM2'])];
      const keySpec = oneOf(input, 'KeySpec', KEY_SPEC_ENUM) ?? oneOf(input, 'CustomerMasterKeySpec', KEY_SPEC_ENUM) ?? 'SYMMETRIC_DEFAULT';
      const origin = oneOf(input, 'Origin', ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const) ?? 'AWS_KMS';
      const customKeyStoreId = str(input, 'CustomKeyStoreId', { min: 1, max: 64 });
      const xksKeyId = str(input, 'XksKeyId', { min: 1, max: 128 });
      if (xksKeyId !== undefined && !XKS_KEY_ID.test(xksKeyId)) {
        throw new ValidationException(`1 validation error detected: Value '${xksKeyId}' at 'xksKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_.]+$`);
      }
      const inStore = origin === 'AWS_CLOUDHSM' || origin === 'EXTERNAL_KEY_STORE';
      const spec = KEY_SPECS[keySpec];
      if (!spec) throw new UnsupportedOperationException(`KeySpec ${keySpec} is not supported: Trent offers ${Object.keys(KEY_SPECS).join(', ')}.`);
      if (usageIn === undefined && keySpec !== 'SYMMETRIC_DEFAULT') throw new ValidationException('You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.');
      if (!spec.usages.includes(keyUsage)) throw new ValidationException(`KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}; use ${spec.usages.join(' or ')}.`);
      if (bool(input, 'MultiRegion')) throw new UnsupportedOperationException('Multi-Region keys are not supported: Trent serves a single Region.');
      if (inStore) {
        if (customKeyStoreId === undefined) throw new ValidationException(`Origin ${origin} requires a CustomKeyStoreId.`);
        if (keySpec !== 'SYMMETRIC_DEFAULT' || keyUsage !== 'ENCRYPT_DECRYPT') {
          throw new UnsupportedOperationException(`KMS keys in custom key stores are symmetric encryption keys only (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT), not ${keySpec} ${keyUsage}.`);
        }
        if (origin === 'EXTERNAL_KEY_STORE' && xksKeyId === undefined) throw new ValidationException('XksKeyId is required for a KMS key with an Origin of EXTERNAL_KEY_STORE.');
      } else if (customKeyStoreId !== undefined) throw new ValidationException(`CustomKeyStoreId is valid only with an Origin of AWS_CLOUDHSM or EXTERNAL_KEY_STORE, not ${origin}.`);
      if (origin !== 'EXTERNAL_KEY_STORE' && xksKeyId !== undefined) throw new ValidationException(`XksKeyId is valid only for a KMS key with an Origin of EXTERNAL_KEY_STORE, not ${origin}.`);
      const policyIn = str(input, 'Policy', { min: 1, max: 131072 }) ?? defaultKeyPolicy(ctx.principal.accountId);
      validateKeyPolicy(policyIn);
      const policy = await boundKeyPolicy(policyIn, keys.accountId);
      const tags = readTags(input);
      if (tags.length > MAX_TAGS) throw new TagException(`A key can have at most ${MAX_TAGS} tags.`);
      const requestTags: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((t) => t.TagKey), 'kms:KeySpec': keySpec, 'kms:KeyUsage': keyUsage, 'kms:KeyOrigin': origin };
      for (const t of tags) requestTags[`aws:RequestTag/${t.TagKey}`] = t.TagValue;
      await authorizedAccount(ctx, '*', requestTags);
      // AWS's lockout safety check applies to the policy a key is created with, too.
      if (input['Policy'] !== undefined && !bool(input, 'BypassPolicyLockoutSafetyCheck')) await lockoutCheck(ctx, policy, `arn:aws:kms:${keys.region}:${keys.accountId}:key/*`);
      const external = origin === 'EXTERNAL';
      if (external && spec.kind === 'mldsa') throw new UnsupportedOperationException(`Importing ${keySpec} key material is not supported: Trent generates ML-DSA keys itself.`);
      // A key in a custom key store: its store must be connected; an external key must be one the proxy offers for it.
      const store = inStore ? await stores().storeForNewKey(customKeyStoreId!, origin) : undefined;
      if (store && origin === 'EXTERNAL_KEY_STORE') await stores().checkExternalKey(ctx, store, xksKeyId!);
      const keyId = randomUUID();
      const inToken = origin === 'AWS_CLOUDHSM';
      if (store && inToken) await stores().generateHsmKey(store, keyId);
      // A key in an external key store has material of its own too (the inner layer of its double encryption).
      const material = external || inToken ? Buffer.alloc(0) : await generateMaterialAsync(spec);
      let key: KeyRecord;
      try {
        key = await db.transaction(async (tx) => {
          const k = await keys.create(tx, {
            description,
            keyUsage,
            keySpec,
            origin,
            keyManager: 'CUSTOMER',
            policy,
            now: now(),
            material,
            external,
            keyId,
            ...(store ? { customKeyStore: { id: store.id, ...(xksKeyId !== undefined ? { xksKeyId } : {}), inToken } } : {}),
          });
          for (const t of tags) await tx.run('INSERT INTO kms_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)', [k.keyId, t.TagKey, t.TagValue]);
          return k;
        });
      } catch (err) {
        if (store && inToken) await stores().discardHsmKey(store, keyId);
        if (err instanceof UniqueViolation && store && !inToken) throw new XksKeyAlreadyInUseException(`External key ${xksKeyId} is already associated with another KMS key in custom key store ${store.id}.`);
        throw err;
      } finally {
        material.fill(0);
      }
      touched(ctx, key);
      return { KeyMetadata: keyMetadata(key) };
    },

    async DescribeKey(ctx, input): Promise<W<K.DescribeKeyResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: true }));
      stringList(input, 'GrantTokens', 10);
      return { KeyMetadata: keyMetadata(key) };
    },

    async ListKeys(ctx, input): Promise<W<K.ListKeysResponse>> {
      await authorizedAccount(ctx);
      const limit = limitOf(input);
      const p = page(await keys.list(limit, decodeMarker(str(input, 'Marker', { min: 1, max: 1024 }))), limit, (k) => k.keyId);
      return { Keys: p.items.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })), Truncated: p.Truncated, ...(p.NextMarker ? { NextMarker: p.NextMarker } : {}) };
    },

    async UpdateKeyDescription(ctx, input): Promise<void> {
      const description = str(input, 'Description', { required: true, min: 0, max: 8192 });
      await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), MANAGEABLE, async (k, tx) => {
        await tx.run('UPDATE kms_keys SET description = ? WHERE key_id = ?', [description, k.keyId]);
      });
    },

    async EnableKey(ctx, input): Promise<void> {
      await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), TOGGLEABLE, async (k, tx) => {
        await tx.run("UPDATE kms_keys SET key_state = 'Enabled' WHERE key_id = ?", [k.keyId]);
        // A key re-enabled after its rotation date has passed rotates at the next sweep (AWS rotates it then too).
      });
    },

    async DisableKey(ctx, input): Promise<void> {
      await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), TOGGLEABLE, async (k, tx) => {
        await tx.run("UPDATE kms_keys SET key_state = 'Disabled' WHERE key_id = ?", [k.keyId]);
      });
    },

    async ScheduleKeyDeletion(ctx, input): Promise<W<K.ScheduleKeyDeletionResponse>> {
      const days = int(input, 'PendingWindowInDays', { min: 7, max: 30 }) ?? 30;
      const at = now() + days * DAY_MS;
      const key = await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), MANAGEABLE, async (k, tx) => {
        if (k.keyManager === 'AWS') throw new UnsupportedOperationException(`${k.arn} is an AWS managed key and cannot be deleted.`);
        await tx.run("UPDATE kms_keys SET key_state = 'PendingDeletion', deletion_at = ?, pending_window_days = ? WHERE key_id = ?", [at, days, k.keyId]);
      });
      return { KeyId: key.arn, DeletionDate: seconds(at)!, KeyState: 'PendingDeletion', PendingWindowInDays: days };
    },

    async CancelKeyDeletion(ctx, input): Promise<W<K.CancelKeyDeletionResponse>> {
      const key = await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), ['PendingDeletion'], async (k, tx) => {
        // A key without material (imported material deleted or expired) goes back to waiting for an import.
        await tx.run(
          `UPDATE kms_keys SET key_state = CASE WHEN current_version = 0 OR EXISTS (SELECT 1 FROM kms_key_versions v WHERE v.key_id = kms_keys.key_id AND v.version <= kms_keys.current_version AND v.material_wrapped IS NULL)
             THEN 'PendingImport' ELSE 'Disabled' END, deletion_at = NULL, pending_window_days = NULL WHERE key_id = ?`,
          [k.keyId],
        );
      });
      return { KeyId: key.arn };
    },

    async CreateAlias(ctx, input): Promise<void> {
      const aliasName = str(input, 'AliasName', { required: true, min: 1, max: 256 });
      const target = str(input, 'TargetKeyId', { required: true, min: 1, max: 2048 });
      checkAliasName(aliasName);
      await authorizedAccount(ctx, keys.aliasArn(aliasName));
      try {
        await mutate(ctx, target, MANAGEABLE, async (k, tx) => {
          const count = await tx.get<{ n: number }>('SELECT count(*) AS n FROM kms_aliases WHERE target_key_id = ?', [k.keyId]);
          if (Number(count?.n ?? 0) >= MAX_ALIASES_PER_KEY) throw new LimitExceededException(`A key can have at most ${MAX_ALIASES_PER_KEY} aliases.`);
          const t = now();
          await tx.run('INSERT INTO kms_aliases (account_id, region, alias_name, target_key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [
            keys.accountId,
            keys.region,
            aliasName,
            k.keyId,
            t,
            t,
          ]);
        });
      } catch (err) {
        if (err instanceof UniqueViolation) throw new AlreadyExistsException(`An alias with the name ${keys.aliasArn(aliasName)} already exists`);
        throw err;
      }
    },

    async UpdateAlias(ctx, input): Promise<void> {
      const aliasName = str(input, 'AliasName', { required: true, min: 1, max: 256 });
      const target = str(input, 'TargetKeyId', { required: true, min: 1, max: 2048 });
      checkAliasName(aliasName);
      await authorizedAccount(ctx, keys.aliasArn(aliasName));
      const current = await keys.resolve(aliasName, { aliases: true }).catch(() => undefined);
      // UpdateAlias needs the permission on the key the alias leaves as well as on its new key.
      if (current) await authorizedKey(ctx, current);
      await mutate(ctx, target, MANAGEABLE, async (k, tx) => {
        const r = await tx.run('UPDATE kms_aliases SET target_key_id = ?, updated_at = ? WHERE account_id = ? AND region = ? AND alias_name = ?', [
          k.keyId,
          now(),
          keys.accountId,
          keys.region,
          aliasName,
        ]);
        if (r.changes === 0) throw new NotFoundException(`Alias ${keys.aliasArn(aliasName)} is not found.`);
      });
    },

    async DeleteAlias(ctx, input): Promise<void> {
      const aliasName = str(input, 'AliasName', { required: true, min: 1, max: 256 });
      checkAliasName(aliasName);
      await authorizedAccount(ctx, keys.aliasArn(aliasName));
      const current = await keys.resolve(aliasName, { aliases: true }).catch(() => undefined);
      if (current) await authorizedKey(ctx, current);
      await db.transaction(async (tx) => {
        const row = await tx.get<{ target_key_id: string }>('SELECT target_key_id FROM kms_aliases WHERE account_id = ? AND region = ? AND alias_name = ?', [
          keys.accountId,
          keys.region,
          aliasName,
        ]);
        // AWS allows DeleteAlias whatever the state of the alias's key.
        if (!row) throw new NotFoundException(`Alias ${keys.aliasArn(aliasName)} is not found.`);
        await tx.run('DELETE FROM kms_aliases WHERE account_id = ? AND region = ? AND alias_name = ?', [keys.accountId, keys.region, aliasName]);
      });
      keys.invalidate();
    },

    async ListAliases(ctx, input): Promise<W<K.ListAliasesResponse>> {
      await authorizedAccount(ctx);
      const limit = limitOf(input);
      const keyIdIn = str(input, 'KeyId', { min: 1, max: 2048 });
      const keyId = keyIdIn !== undefined ? (await keys.resolve(keyIdIn, { aliases: false })).keyId : undefined;
      const p = page(await keys.aliases(keyId, limit, decodeMarker(str(input, 'Marker', { min: 1, max: 1024 }))), limit, (a) => a.aliasName);
      return {
        Aliases: p.items.map((a) => ({
          AliasName: a.aliasName,
          AliasArn: a.aliasArn,
          TargetKeyId: a.targetKeyId,
          CreationDate: seconds(a.createdAt)!,
          LastUpdatedDate: seconds(a.updatedAt)!,
        })),
        Truncated: p.Truncated,
        ...(p.NextMarker ? { NextMarker: p.NextMarker } : {}),
      };
    },

    async Encrypt(ctx, input): Promise<W<K.EncryptResponse>> {
      const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
      const plaintext = blob(input, 'Plaintext', { required: true, min: 1, max: MAX_PLAINTEXT });
      const ec = readEncryptionContext(input['EncryptionContext']);
      stringList(input, 'GrantTokens', 10);
      const algorithm = oneOf(input, 'EncryptionAlgorithm', ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const);
      try {
        const key = await usableKey(keyId, ctx, 'ENCRYPT_DECRYPT', false);
        const out = await encryptAny(ctx, key, plaintext, ec, algorithm, 'EncryptionContext', input);
        return { CiphertextBlob: out.blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: out.algorithm as K.EncryptionAlgorithmSpec };
      } finally {
        plaintext.fill(0);
      }
    },

    async Decrypt(ctx, input): Promise<W<K.DecryptResponse>> {
      const ciphertext = blob(input, 'CiphertextBlob', { required: true, min: 1, max: MAX_CIPHERTEXT });
      const ec = readEncryptionContext(input['EncryptionContext']);
      stringList(input, 'GrantTokens', 10);
      const requested = str(input, 'KeyId', { min: 1, max: 2048 });
      const algorithm = oneOf(input, 'EncryptionAlgorithm', ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const);
      if (input['Recipient'] !== undefined) throw new UnsupportedOperationException('Recipient (Nitro Enclaves attestation) is not supported.');
      const { key, plaintext, algorithm: used, keyMaterialId } = await decryptAny(ctx, ciphertext, ec, requested, algorithm, 'EncryptionContext');
      try {
        dryRun(input);
        return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: used as K.EncryptionAlgorithmSpec, ...(keyMaterialId ? { KeyMaterialId: keyMaterialId } : {}) };
      } finally {
        plaintext.fill(0);
      }
    },

    async ReEncrypt(ctx, input): Promise<W<K.ReEncryptResponse>> {
      const ciphertext = blob(input, 'CiphertextBlob', { required: true, min: 1, max: MAX_CIPHERTEXT });
      const sourceEc = readEncryptionContext(input['SourceEncryptionContext'], 'SourceEncryptionContext');
      const destEc = readEncryptionContext(input['DestinationEncryptionContext'], 'DestinationEncryptionContext');
      const sourceKeyId = str(input, 'SourceKeyId', { min: 1, max: 2048 });
      const destinationKeyId = str(input, 'DestinationKeyId', { required: true, min: 1, max: 2048 });
      stringList(input, 'GrantTokens', 10);
      const algorithms = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const;
      const sourceAlgorithm = oneOf(input, 'SourceEncryptionAlgorithm', algorithms);
      const destinationAlgorithm = oneOf(input, 'DestinationEncryptionAlgorithm', algorithms);
      const destination = await usableKey(destinationKeyId, ctx, 'ENCRYPT_DECRYPT', false, 'Destination');
      const source = await decryptAny(ctx, ciphertext, sourceEc, sourceKeyId, sourceAlgorithm, 'SourceEncryptionContext');
      try {
        const out = await encryptAny(ctx, destination, source.plaintext, destEc, destinationAlgorithm, 'DestinationEncryptionContext', input);
        return {
          CiphertextBlob: out.blob.toString('base64'),
          SourceKeyId: source.key.arn,
          KeyId: destination.arn,
          SourceEncryptionAlgorithm: source.algorithm as K.EncryptionAlgorithmSpec,
          DestinationEncryptionAlgorithm: out.algorithm as K.EncryptionAlgorithmSpec,
          ...(source.keyMaterialId ? { SourceKeyMaterialId: source.keyMaterialId } : {}),
          ...(out.keyMaterialId ? { DestinationKeyMaterialId: out.keyMaterialId } : {}),
        };
      } finally {
        source.plaintext.fill(0);
      }
    },

    async GenerateDataKey(ctx, input): Promise<W<K.GenerateDataKeyResponse>> {
      if (input['Recipient'] !== undefined) throw new UnsupportedOperationException('Recipient (Nitro Enclaves attestation) is not supported.');
      return generateDataKey(ctx, input, true);
    },

    async GenerateDataKeyWithoutPlaintext(ctx, input): Promise<W<K.GenerateDataKeyWithoutPlaintextResponse>> {
      return generateDataKey(ctx, input, false);
    },

    async CreateGrant(ctx, input): Promise<W<K.CreateGrantResponse>> {
      const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
      const grantee = str(input, 'GranteePrincipal', { required: true, min: 1, max: 256 });
      const retiring = str(input, 'RetiringPrincipal', { min: 1, max: 256 });
      checkPrincipalArn(grantee, 'GranteePrincipal');
      if (retiring !== undefined) checkPrincipalArn(retiring, 'RetiringPrincipal');
      const ops = input['Operations'];
      if (!Array.isArray(ops) || ops.length === 0 || ops.some((o) => typeof o !== 'string' || !(GRANT_OPERATIONS as readonly string[]).includes(o))) {
        throw new ValidationException(`Operations must be a non-empty list of ${GRANT_OPERATIONS.join(', ')}.`);
      }
      const constraints = readConstraints(input['Constraints']);
      const name = str(input, 'Name', { min: 1, max: 256 });
      if (name !== undefined && !/^[a-zA-Z0-9:/_-]+$/.test(name)) throw new ValidationException('Name may hold letters, digits and : / _ - only.');
      stringList(input, 'GrantTokens', 10);
      const key = await authorizedKey(ctx, await keys.resolve(keyId, { aliases: false }));
      requireState(key, MANAGEABLE);
      const operations = [...new Set(ops as string[])];
      const kind = specOf(key).kind;
      // AWS: a constrained grant may also allow DescribeKey, RetireGrant and CreateGrant, to which the constraint does not apply
      // (for CreateGrant it binds the grants made under it instead); operations that take no encryption context may not be in it.
      if (constraints && operations.some((o) => !CONTEXT_OPERATIONS.has(o) && o !== 'DescribeKey' && o !== 'CreateGrant' && o !== 'RetireGrant')) {
        throw new ValidationException('Encryption context constraints apply only to grants for cryptographic operations that take an encryption context.');
      }
      if (kind !== 'symmetric' && constraints) throw new ValidationException('Grant constraints are not supported for asymmetric or HMAC keys.');
      // Grantees and retiring principals are kept by unique id, as AWS keeps them: one that does not exist is refused.
      const granteeId = (await grantPrincipalId(grantee, 'GranteePrincipal', key.accountId)) ?? null;
      const retiringId = retiring === undefined ? null : ((await grantPrincipalId(retiring, 'RetiringPrincipal', key.accountId)) ?? null);
      dryRun(input);
      const out = await grants.create(
        db,
        { keyId: key.keyId, name: name ?? null, granteePrincipal: grantee, granteeId, retiringPrincipal: retiring ?? null, retiringId, issuingAccount: `arn:aws:iam::${ctx.principal.accountId}:root`, operations, constraints },
        now(),
      );
      return { GrantId: out.grantId, GrantToken: out.grantToken };
    },

    async ListGrants(ctx, input): Promise<W<K.ListGrantsResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      const limit = limitOf(input);
      const grantId = str(input, 'GrantId', { min: 1, max: 128 });
      const grantee = str(input, 'GranteePrincipal', { min: 1, max: 256 });
      const marker = decodeMarker(str(input, 'Marker', { min: 1, max: 1024 }));
      const all = (await grants.forKey(key.keyId)).filter((g) => (!grantId || g.grantId === grantId) && (!grantee || g.granteePrincipal === grantee) && (!marker || g.grantId > marker));
      all.sort((a, b) => (a.grantId < b.grantId ? -1 : 1));
      const p = page(all, limit, (g) => g.grantId);
      return { Grants: await Promise.all(p.items.map(async (g) => grantShape(await shownGrant(g), key.arn))), Truncated: p.Truncated, ...(p.NextMarker ? { NextMarker: p.NextMarker } : {}) };
    },

    async ListRetirableGrants(ctx, input): Promise<W<K.ListGrantsResponse>> {
      const retiring = str(input, 'RetiringPrincipal', { required: true, min: 1, max: 256 });
      checkPrincipalArn(retiring, 'RetiringPrincipal');
      await authorizedAccount(ctx);
      const limit = limitOf(input);
      const marker = decodeMarker(str(input, 'Marker', { min: 1, max: 1024 }));
      const retiringId = (await deps.authorizer.principalIdFor(retiring, ctx.principal.accountId).catch(() => undefined)) ?? null;
      const all = (await grants.retirable(retiring, retiringId)).filter((g) => !marker || g.grantId > marker).sort((a, b) => (a.grantId < b.grantId ? -1 : 1));
      const p = page(all, limit, (g) => g.grantId);
      return { Grants: await Promise.all(p.items.map(async (g) => grantShape(await shownGrant(g), keys.keyArn(g.keyId)))), Truncated: p.Truncated, ...(p.NextMarker ? { NextMarker: p.NextMarker } : {}) };
    },

    async RetireGrant(ctx, input): Promise<void> {
      const token = str(input, 'GrantToken', { min: 1, max: 8192 });
      const keyIdIn = str(input, 'KeyId', { min: 1, max: 2048 });
      const grantId = str(input, 'GrantId', { min: 1, max: 128 });
      let grant: GrantRecord | undefined;
      if (token !== undefined) {
        grant = await grants.byToken(token);
        if (!grant) throw new InvalidGrantTokenException();
      } else {
        if (keyIdIn === undefined || grantId === undefined) throw new ValidationException('Specify GrantToken, or KeyId and GrantId.');
        const key = await keys.resolve(keyIdIn, { aliases: false });
        grant = await grants.get(grantId);
        if (!grant || grant.keyId !== key.keyId) throw new NotFoundException(`Grant ${grantId} does not exist for ${key.arn}.`);
      }
      touched(ctx, (await keys.get(grant.keyId))!);
      dryRun(input);
      // AWS: the retiring principal, or the grantee when the grant includes RetireGrant, may retire a grant; otherwise kms:RetireGrant must be allowed.
      const p = ctx.principal;
      const mayRetire =
        (grant.retiringPrincipal !== null && principalMatches(grant.retiringPrincipal, grant.retiringId, p) && grant.retiringPrincipal !== `arn:aws:iam::${p.accountId}:root`) ||
        (principalMatches(grant.granteePrincipal, grant.granteeId, p) && grant.operations.includes('RetireGrant'));
      if (!mayRetire) await authorizedKey(ctx, (await keys.get(grant.keyId))!);
      await grants.delete(grant.grantId);
    },

    async RevokeGrant(ctx, input): Promise<void> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      const grantId = str(input, 'GrantId', { required: true, min: 1, max: 128 });
      dryRun(input);
      const grant = await grants.get(grantId);
      if (!grant || grant.keyId !== key.keyId) throw new InvalidGrantIdException(`Grant ${grantId} does not exist for ${key.arn}.`);
      await grants.delete(grantId);
    },

    async GenerateRandom(ctx, input): Promise<W<K.GenerateRandomResponse>> {
      await authorizedAccount(ctx);
      const count = int(input, 'NumberOfBytes', { min: 1, max: 1024 });
      if (count === undefined) throw new ValidationException('NumberOfBytes is required.');
      const storeId = str(input, 'CustomKeyStoreId', { min: 1, max: 64 });
      if (input['Recipient'] !== undefined) throw new UnsupportedOperationException('Recipient (Nitro Enclaves attestation) is not supported.');
      // With a CustomKeyStoreId, the bytes come from the store's token.
      return { Plaintext: (storeId !== undefined ? await stores().random(storeId, count) : randomBytes(count)).toString('base64') };
    },

    async EnableKeyRotation(ctx, input): Promise<void> {
      const period = int(input, 'RotationPeriodInDays', { min: 90, max: 2560 }) ?? DEFAULT_ROTATION_DAYS;
      await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), USABLE, async (k, tx) => {
        if (k.keyManager === 'AWS') throw new UnsupportedOperationException(`${k.arn} is an AWS managed key: its rotation cannot be changed.`);
        rotatable(k);
        // A new period counts from now, as AWS does when the schedule changes.
        await tx.run('UPDATE kms_keys SET rotation_enabled = 1, rotation_period_days = ?, next_rotation_at = ? WHERE key_id = ?', [period, now() + period * DAY_MS, k.keyId]);
      });
    },

    async DisableKeyRotation(ctx, input): Promise<void> {
      await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), USABLE, async (k, tx) => {
        if (k.keyManager === 'AWS') throw new UnsupportedOperationException(`${k.arn} is an AWS managed key: its rotation cannot be changed.`);
        rotatable(k);
        await tx.run('UPDATE kms_keys SET rotation_enabled = 0, next_rotation_at = NULL WHERE key_id = ?', [k.keyId]);
      });
    },

    async GetKeyRotationStatus(ctx, input): Promise<W<K.GetKeyRotationStatusResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      requireState(key, ANY_STATE);
      return {
        KeyId: key.arn,
        KeyRotationEnabled: key.rotationEnabled,
        ...(key.rotationEnabled && key.rotationPeriodDays !== null ? { RotationPeriodInDays: key.rotationPeriodDays } : {}),
        ...(key.rotationEnabled && key.nextRotationAt !== null ? { NextRotationDate: seconds(key.nextRotationAt)! } : {}),
      };
    },

    async RotateKeyOnDemand(ctx, input): Promise<W<K.RotateKeyOnDemandResponse>> {
      const key = await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), USABLE, async (k, tx) => {
        if (k.keyManager === 'AWS') throw new UnsupportedOperationException(`${k.arn} is an AWS managed key and rotates automatically.`);
        rotatable(k, true);
        if (k.onDemandRotations >= MAX_ON_DEMAND_ROTATIONS) {
          throw new LimitExceededException(`${k.arn} has reached the limit of ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations.`);
        }
        // Imported material: the material imported with ImportType NEW_KEY_MATERIAL becomes current.
        if (k.origin === 'EXTERNAL') await keys.rotateToImported(tx, k, now());
        else await keys.rotate(tx, k, 'ON_DEMAND', now());
        await tx.run('UPDATE kms_keys SET on_demand_rotations = on_demand_rotations + 1 WHERE key_id = ?', [k.keyId]);
      });
      return { KeyId: key.arn };
    },

    async ListKeyRotations(ctx, input): Promise<W<K.ListKeyRotationsResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      const include = oneOf(input, 'IncludeKeyMaterial', ['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY'] as const);
      const limit = limitOf(input);
      const after = decodeMarker(str(input, 'Marker', { min: 1, max: 1024 }));
      const symmetric = specOf(key).kind === 'symmetric';
      if (include !== undefined && !symmetric) throw new UnsupportedOperationException(`${key.arn} is a ${key.keySpec} key: IncludeKeyMaterial applies to keys that rotate (symmetric encryption keys).`);
      const external = key.origin === 'EXTERNAL';
      // ROTATIONS_ONLY (the default): completed rotations; ALL_KEY_MATERIAL adds the first material and one pending rotation.
      const all = (await keys.materials(key.keyId)).filter((m) => (include === 'ALL_KEY_MATERIAL' || m.rotationType !== null) && (after === undefined || m.version > Number(after)));
      const p = page(all, limit, (m) => String(m.version));
      return {
        Rotations: p.items.map((m) => ({
          KeyId: key.arn,
          ...(m.keyMaterialId ? { KeyMaterialId: m.keyMaterialId } : {}),
          ...(external && m.description !== null ? { KeyMaterialDescription: m.description } : {}),
          ...(external ? { ImportState: m.imported ? ('IMPORTED' as const) : ('PENDING_IMPORT' as const) } : {}),
          ...(symmetric ? { KeyMaterialState: m.version === key.currentVersion ? ('CURRENT' as const) : m.version > key.currentVersion ? ('PENDING_ROTATION' as const) : ('NON_CURRENT' as const) } : {}),
          ...(external && m.expirationModel ? { ExpirationModel: m.expirationModel as K.ExpirationModelType } : {}),
          ...(external && m.validTo !== null ? { ValidTo: seconds(m.validTo)! } : {}),
          ...(m.rotatedAt !== null ? { RotationDate: seconds(m.rotatedAt)! } : {}),
          ...(m.rotationType ? { RotationType: m.rotationType } : {}),
        })),
        Truncated: p.Truncated,
        ...(p.NextMarker ? { NextMarker: p.NextMarker } : {}),
      };
    },

    async TagResource(ctx, input): Promise<void> {
      const tags = readTags(input);
      await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), MANAGEABLE, async (k, tx) => {
        for (const t of tags) {
          await tx.run('INSERT INTO kms_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?) ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value', [
            k.keyId,
            t.TagKey,
            t.TagValue,
          ]);
        }
        const count = await tx.get<{ n: number }>('SELECT count(*) AS n FROM kms_tags WHERE key_id = ?', [k.keyId]);
        if (Number(count?.n ?? 0) > MAX_TAGS) throw new TagException(`A key can have at most ${MAX_TAGS} tags.`);
      });
    },

    async UntagResource(ctx, input): Promise<void> {
      const tagKeys = stringList(input, 'TagKeys', MAX_TAGS);
      if (!tagKeys) throw missing('TagKeys');
      await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), MANAGEABLE, async (k, tx) => {
        for (const t of tagKeys) await tx.run('DELETE FROM kms_tags WHERE key_id = ? AND tag_key = ?', [k.keyId, t]);
      });
    },

    async ListResourceTags(ctx, input): Promise<W<K.ListResourceTagsResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      const limit = int(input, 'Limit', { min: 1, max: 50 }) ?? 50;
      const after = decodeMarker(str(input, 'Marker', { min: 1, max: 1024 }));
      const all = (await keys.tags(key.keyId)).filter((t) => after === undefined || t.TagKey > after);
      const p = page(all, limit, (t) => t.TagKey);
      return { Tags: p.items, Truncated: p.Truncated, ...(p.NextMarker ? { NextMarker: p.NextMarker } : {}) };
    },

    async GetKeyPolicy(ctx, input): Promise<W<K.GetKeyPolicyResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      const name = str(input, 'PolicyName', { min: 1, max: 128 }) ?? POLICY_NAME;
      if (name !== POLICY_NAME) throw new NotFoundException(`No such policy exists: ${name}`);
      return { Policy: await deps.authorizer.renderPrincipals(key.policy), PolicyName: POLICY_NAME };
    },

    async PutKeyPolicy(ctx, input): Promise<void> {
      const policyIn = str(input, 'Policy', { required: true, min: 1, max: 131072 });
      const name = str(input, 'PolicyName', { min: 1, max: 128 }) ?? POLICY_NAME;
      const bypass = bool(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
      if (name !== POLICY_NAME) throw new NotFoundException(`No such policy exists: ${name}`);
      validateKeyPolicy(policyIn);
      const target = await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false });
      const policy = await boundKeyPolicy(policyIn, target.accountId);
      if (!bypass) await lockoutCheck(ctx, policy, target.arn);
      await mutate(ctx, target.keyId, ANY_STATE, async (k, tx) => {
        if (k.keyManager === 'AWS') throw new UnsupportedOperationException(`${k.arn} is an AWS managed key: its policy cannot be changed.`);
        await tx.run('UPDATE kms_keys SET policy = ? WHERE key_id = ?', [policy, k.keyId]);
      });
    },

    async ListKeyPolicies(ctx, input): Promise<W<K.ListKeyPoliciesResponse>> {
      await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      limitOf(input);
      return { PolicyNames: [POLICY_NAME], Truncated: false };
    },

    async GetPublicKey(ctx, input): Promise<W<K.GetPublicKeyResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: true }));
      stringList(input, 'GrantTokens', 10);
      requireState(key, USABLE);
      const spec = specOf(key);
      if (spec.kind === 'symmetric' || spec.kind === 'hmac') throw new UnsupportedOperationException(`${key.arn} is a ${key.keySpec} key: only asymmetric keys have a public key.`);
      return {
        KeyId: key.arn,
        PublicKey: publicKeyFor(key.keySpec, spec, await materialOf(key)).toString('base64'),
        CustomerMasterKeySpec: key.keySpec as K.CustomerMasterKeySpec,
        KeySpec: key.keySpec as K.KeySpec,
        KeyUsage: key.keyUsage as K.KeyUsageType,
        ...(algorithms(key) as Partial<W<K.GetPublicKeyResponse>>),
      };
    },

    async Sign(ctx, input): Promise<W<K.SignResponse>> {
      const { key, message, algorithm, digest } = await signingInput(ctx, input);
      const signature = await sign(specOf(key), await materialOf(key), algorithm, message, digest, key.keySpec);
      return { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: algorithm as K.SigningAlgorithmSpec };
    },

    async Verify(ctx, input): Promise<W<K.VerifyResponse>> {
      const signature = blob(input, 'Signature', { required: true, min: 1, max: 6144 });
      const { key, message, algorithm, digest } = await signingInput(ctx, input);
      const spec = specOf(key);
      const material = await materialOf(key);
      const valid = pool && slow(spec, digest) ? await pool.run('verify', spec, material, algorithm, message, digest, signature, key.keySpec) : verifyMessage(spec, material, algorithm, message, digest, signature, key.keySpec);
      if (!valid) throw new KMSInvalidSignatureException();
      return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm as K.SigningAlgorithmSpec };
    },

    async GenerateMac(ctx, input): Promise<W<K.GenerateMacResponse>> {
      const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
      const message = blob(input, 'Message', { required: true, min: 1, max: MAX_PLAINTEXT });
      const requested = oneOf(input, 'MacAlgorithm', MAC_ENUM);
      stringList(input, 'GrantTokens', 10);
      const key = await usableKey(keyId, ctx, 'GENERATE_VERIFY_MAC', false);
      const algorithm = algorithmFor(key, requested, 'mac', 'MacAlgorithm');
      dryRun(input);
      return { KeyId: key.arn, Mac: mac(await materialOf(key), algorithm, message).toString('base64'), MacAlgorithm: algorithm as K.MacAlgorithmSpec };
    },

    async VerifyMac(ctx, input): Promise<W<K.VerifyMacResponse>> {
      const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
      const message = blob(input, 'Message', { required: true, min: 1, max: MAX_PLAINTEXT });
      const candidate = blob(input, 'Mac', { required: true, min: 1, max: 6144 });
      const requested = oneOf(input, 'MacAlgorithm', MAC_ENUM);
      stringList(input, 'GrantTokens', 10);
      const key = await usableKey(keyId, ctx, 'GENERATE_VERIFY_MAC', false);
      const algorithm = algorithmFor(key, requested, 'mac', 'MacAlgorithm');
      dryRun(input);
      if (!macEquals(await materialOf(key), algorithm, message, candidate)) throw new KMSInvalidMacException();
      return { KeyId: key.arn, MacValid: true, MacAlgorithm: algorithm as K.MacAlgorithmSpec };
    },

    async GenerateDataKeyPair(ctx, input): Promise<W<K.GenerateDataKeyPairResponse>> {
      return generateDataKeyPair(ctx, input, true);
    },

    async GenerateDataKeyPairWithoutPlaintext(ctx, input): Promise<W<K.GenerateDataKeyPairWithoutPlaintextResponse>> {
      return generateDataKeyPair(ctx, input, false);
    },

    async DeriveSharedSecret(ctx, input): Promise<W<K.DeriveSharedSecretResponse>> {
      const keyId = str(input, 'KeyId', { required: true, min: 1, max: 2048 });
      const algorithm = oneOf(input, 'KeyAgreementAlgorithm', ['ECDH'] as const);
      if (algorithm === undefined) throw missing('KeyAgreementAlgorithm');
      const peer = blob(input, 'PublicKey', { required: true, min: 1, max: 8192 });
      stringList(input, 'GrantTokens', 10);
      if (input['Recipient'] !== undefined) throw new UnsupportedOperationException('Recipient (Nitro Enclaves attestation) is not supported.');
      const key = await usableKey(keyId, ctx, 'KEY_AGREEMENT', false);
      dryRun(input);
      let secret: Buffer;
      try {
        secret = deriveShared(await materialOf(key), peer);
      } catch (err) {
        if (err instanceof AwsError) throw err;
        throw new ValidationException(`PublicKey must be a DER-encoded SubjectPublicKeyInfo on the curve of ${key.keySpec}.`);
      }
      try {
        return { KeyId: key.arn, SharedSecret: secret.toString('base64'), KeyAgreementAlgorithm: 'ECDH', KeyOrigin: key.origin as K.OriginType };
      } finally {
        secret.fill(0);
      }
    },

    async GetParametersForImport(ctx, input): Promise<W<K.GetParametersForImportResponse>> {
      const algorithm = oneOf(input, 'WrappingAlgorithm', [...WRAPPING_ALGORITHMS, 'RSAES_PKCS1_V1_5', 'SM2PKE'] as const);
      const wrappingSpec = oneOf(input, 'WrappingKeySpec', [...WRAPPING_KEY_SPECS, 'SM2'] as const);
      if (algorithm === undefined) throw missing('WrappingAlgorithm');
      if (wrappingSpec === undefined) throw missing('WrappingKeySpec');
      if (algorithm === 'RSAES_PKCS1_V1_5' || algorithm === 'SM2PKE' || wrappingSpec === 'SM2') {
        throw new UnsupportedOperationException(`${algorithm} with ${wrappingSpec} is not offered: use RSAES_OAEP_SHA_1/256 or RSA_AES_KEY_WRAP_SHA_1/256 with an RSA wrapping key.`);
      }
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      if (key.origin !== 'EXTERNAL') throw new UnsupportedOperationException(`${key.arn} origin is ${key.origin} which is not valid for this operation.`);
      requireState(key, ['Enabled', 'Disabled', 'PendingImport']);
      const wrapping = await generateWrappingKey(wrappingSpec);
      const token = randomBytes(48);
      const hash = tokenHash(token);
      const validUntil = now() + DAY_MS;
      const wrapped = await keys.wrapForImport(wrapping.privateKey, hash);
      wrapping.privateKey.fill(0);
      await db.run('INSERT INTO kms_import_parameters (token_hash, key_id, wrapping_algorithm, wrapping_key_wrapped, valid_until, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
        hash,
        key.keyId,
        algorithm,
        wrapped,
        validUntil,
        now(),
      ]);
      return { KeyId: key.arn, ImportToken: token.toString('base64'), PublicKey: wrapping.publicKey.toString('base64'), ParametersValidTo: seconds(validUntil)! };
    },

    async ImportKeyMaterial(ctx, input): Promise<W<K.ImportKeyMaterialResponse>> {
      const token = blob(input, 'ImportToken', { required: true, min: 1, max: 6144 });
      const encrypted = blob(input, 'EncryptedKeyMaterial', { required: true, min: 1, max: 6144 });
      const model = oneOf(input, 'ExpirationModel', ['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'] as const);
      const importType = oneOf(input, 'ImportType', ['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL'] as const);
      const materialId = str(input, 'KeyMaterialId', { min: 64, max: 64 });
      const description = str(input, 'KeyMaterialDescription', { min: 0, max: 256 });
      const validToIn = input['ValidTo'];
      const validTo = validToIn === undefined || validToIn === null ? null : typeof validToIn === 'number' ? validToIn * 1000 : Date.parse(String(validToIn));
      if (importType === 'NEW_KEY_MATERIAL' && materialId !== undefined) throw new ValidationException('You cannot specify a KeyMaterialId when ImportType is NEW_KEY_MATERIAL.');
      // AWS's default ExpirationModel is KEY_MATERIAL_EXPIRES, so an import without ValidTo must say KEY_MATERIAL_DOES_NOT_EXPIRE.
      const expiration = model ?? 'KEY_MATERIAL_EXPIRES';
      if (expiration === 'KEY_MATERIAL_EXPIRES' && validTo === null) throw new ValidationException('A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES');
      if (validTo !== null && !Number.isFinite(validTo)) throw new ValidationException('ValidTo is not a valid date.');
      if (expiration === 'KEY_MATERIAL_DOES_NOT_EXPIRE' && validTo !== null) throw new ValidationException('ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.');
      if (validTo !== null && (validTo <= now() || validTo > now() + 365 * DAY_MS)) throw new ValidationException('ValidTo must be in the future and within 365 days.');
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: false }));
      if (key.origin !== 'EXTERNAL') throw new UnsupportedOperationException(`${key.arn} origin is ${key.origin} which is not valid for this operation.`);
      requireState(key, ['Enabled', 'Disabled', 'PendingImport']);
      const symmetric = specOf(key).kind === 'symmetric';
      // AWS: asymmetric and HMAC keys take one material for life; ImportType, KeyMaterialId and KeyMaterialDescription are for symmetric keys.
      if (!symmetric && (importType !== undefined || materialId !== undefined || description !== undefined)) {
        throw new ValidationException(`ImportType, KeyMaterialId and KeyMaterialDescription are only valid for symmetric encryption keys; ${key.arn} is a ${key.keySpec} key.`);
      }
      const params = await db.get<{ key_id: string; wrapping_algorithm: string; wrapping_key_wrapped: Uint8Array; valid_until: number }>(
        'SELECT key_id, wrapping_algorithm, wrapping_key_wrapped, valid_until FROM kms_import_parameters WHERE token_hash = ?',
        [tokenHash(token)],
      );
      if (!params || params.key_id !== key.keyId) throw new InvalidImportTokenException();
      if (Number(params.valid_until) <= now()) throw new ExpiredImportTokenException();
      const wrappingKey = await keys.unwrapForImport(Buffer.from(params.wrapping_key_wrapped), tokenHash(token));
      let material: Buffer;
      try {
        material = unwrapImportedMaterial(wrappingKey, params.wrapping_algorithm as (typeof WRAPPING_ALGORITHMS)[number], encrypted);
      } finally {
        wrappingKey.fill(0);
      }
      let imported: { keyMaterialId: string };
      try {
        checkImportedMaterial(key.keySpec, specOf(key), material);
        try {
          imported = await db.transaction(async (tx) =>
            keys.importMaterial(tx, key, material, {
              ...(importType !== undefined ? { importType } : {}),
              ...(materialId !== undefined ? { keyMaterialId: materialId } : {}),
              ...(description !== undefined ? { description } : {}),
              validTo,
              expirationModel: expiration,
              now: now(),
            }),
          );
        } finally {
          keys.invalidate();
        }
      } finally {
        material.fill(0);
      }
      return { KeyId: key.arn, ...(symmetric ? { KeyMaterialId: imported.keyMaterialId } : {}) };
    },

    async DeleteImportedKeyMaterial(ctx, input): Promise<W<K.DeleteImportedKeyMaterialResponse>> {
      const which = str(input, 'KeyMaterialId', { min: 64, max: 64 });
      let deleted: string | null | undefined;
      const key = await mutate(ctx, str(input, 'KeyId', { required: true, min: 1, max: 2048 }), ANY_STATE, async (k, tx) => {
        if (k.origin !== 'EXTERNAL') throw new UnsupportedOperationException(`${k.arn} has origin ${k.origin}: only imported material can be deleted.`);
        deleted = await keys.dropMaterial(tx, k.keyId, which);
      });
      return { KeyId: key.arn, ...(specOf(key).kind === 'symmetric' && deleted ? { KeyMaterialId: deleted } : {}) };
    },

    async GetKeyLastUsage(ctx, input): Promise<W<K.GetKeyLastUsageResponse>> {
      const key = await authorizedKey(ctx, await keys.resolve(str(input, 'KeyId', { required: true, min: 1, max: 2048 }), { aliases: true }));
      const last = await trail.lastUse(key.arn, TRACKED_USES);
      // Every call is recorded from the key's creation; lookups reach back as far as retention keeps them.
      const trackingStart = Math.max(key.createdAt, now() - deps.trailRetentionDays * DAY_MS);
      return {
        KeyId: key.arn,
        KeyCreationDate: seconds(key.createdAt)!,
        TrackingStartDate: seconds(trackingStart)!,
        ...(last
          ? {
              KeyLastUsage: {
                Operation: last.eventName as K.KeyLastUsageTrackingOperation,
                Timestamp: Date.parse(last.eventTime) / 1000,
                CloudTrailEventId: last.eventID,
                KmsRequestId: last.requestID,
              },
            }
          : {}),
      };
    },
  };

  Object.assign(operations, customKeyStoreOperations(deps.customKeyStores, (ctx) => authorizedAccount(ctx)));

  return {
    protocol: 'json',
    shapes: new ServiceShapes('@aws-sdk/client-kms'),
    signingName: 'kms',
    eventSource: 'kms.amazonaws.com',
    targetPrefixes: ['TrentService'],
    maxBodyBytes: 64 * 1024,
    operations,
    authorization: 'handler',
    audit: {
      requestParameters: (_op, input) => auditedRequest(input),
      // A grant token is a bearer credential for RetireGrant: events show the grant id only.
      responseElements: (op, output) =>
        op === 'CreateGrant' && output ? { grantId: (output as { GrantId?: string }).GrantId } : CRYPTOGRAPHIC.has(op) || READ_ONLY_OPS.test(op) || !output ? null : (lowerCamel(output) as Record<string, unknown>),
      readOnly: (op) => READ_ONLY_OPS.test(op),
    },
  };
}
