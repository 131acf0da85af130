import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../store/database.ts';
import { UniqueViolation } from '../store/database.ts';
import type { RootOfTrust } from '../root/root-of-trust.ts';
import { RootUnavailableError } from '../root/root-of-trust.ts';
import type { CallContext } from '../server/service.ts';
import { randomBytes } from '../crypto/random.ts';
import { AwsError } from '../wire/errors.ts';
import { decodeBlob, openUnderBackingKey, sealUnderBackingKey } from './envelope.ts';
import { decodeHsmBlob, decodeXksBlob, encodeHsmBlob, encodeKeyHeader, encodeXksBlob, FORMAT_HSM, FORMAT_XKS } from './ciphertext.ts';
import { canonicalEncryptionContext, type EncryptionContext } from './encryption-context.ts';
import {
  CloudHsmClusterInUseException,
  CloudHsmClusterInvalidConfigurationException,
  CloudHsmClusterNotActiveException,
  CloudHsmClusterNotFoundException,
  CloudHsmClusterNotRelatedException,
  CustomKeyStoreHasCMKsException,
  CustomKeyStoreInvalidStateException,
  CustomKeyStoreNameInUseException,
  CustomKeyStoreNotFoundException,
  IncorrectTrustAnchorException,
  InvalidCiphertextException,
  KMSInternalException,
  KMSInvalidStateException,
  LimitExceededException,
  UnsupportedOperationException,
  XksKeyAlreadyInUseException,
  XksKeyInvalidConfigurationException,
  XksKeyNotFoundException,
  XksProxyIncorrectAuthenticationCredentialException,
  XksProxyInvalidConfigurationException,
  XksProxyInvalidResponseException,
  XksProxyUriInUseException,
  XksProxyUriUnreachableException,
} from './errors.ts';
import { certificateDer, HsmError, HsmTokens, type HsmCluster } from './hsm-keys.ts';
import { XksCallError, XksClient, type XksEndpoint, type XksFailure, type XksRequestMetadata } from './xks-client.ts';
import type { KeyRecord } from './keys.ts';

export type CustomKeyStoreType = 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';
export type ConnectionState = 'CONNECTED' | 'CONNECTING' | 'FAILED' | 'DISCONNECTED' | 'DISCONNECTING';

export interface CustomKeyStoreRecord {
  id: string;
  accountId: string;
  region: string;
  name: string;
  type: CustomKeyStoreType;
  state: ConnectionState;
  errorCode: string | null;
  createdAt: number;
  clusterId: string | null;
  trustAnchor: string | null;
  xks: { uriEndpoint: string; uriPath: string; connectivity: string; accessKeyId: string } | null;
}

interface StoreRow {
  custom_key_store_id: string;
  account_id: string;
  region: string;
  name: string;
  store_type: string;
  connection_state: string;
  connection_error_code: string | null;
  created_at: number;
  cloud_hsm_cluster_id: string | null;
  trust_anchor: string | null;
  xks_uri_endpoint: string | null;
  xks_uri_path: string | null;
  xks_connectivity: string | null;
  xks_access_key_id: string | null;
}

const STORE_COLUMNS = `custom_key_store_id, account_id, region, name, store_type, connection_state, connection_error_code, created_at,
  cloud_hsm_cluster_id, trust_anchor, xks_uri_endpoint, xks_uri_path, xks_connectivity, xks_access_key_id`;

function fromRow(r: StoreRow): CustomKeyStoreRecord {
  return {
    id: r.custom_key_store_id,
    accountId: r.account_id,
    region: r.region,
    name: r.name,
    type: r.store_type as CustomKeyStoreType,
    state: r.connection_state as ConnectionState,
    errorCode: r.connection_error_code,
    createdAt: Number(r.created_at),
    clusterId: r.cloud_hsm_cluster_id,
    trustAnchor: r.trust_anchor,
    xks:
      r.store_type === 'EXTERNAL_KEY_STORE'
        ? { uriEndpoint: r.xks_uri_endpoint ?? '', uriPath: r.xks_uri_path ?? '', connectivity: r.xks_connectivity ?? 'PUBLIC_ENDPOINT', accessKeyId: r.xks_access_key_id ?? '' }
        : null,
  };
}

/** What a key store's secrets are bound to when the root of trust wraps them (and `trent root migrate` re-wraps them). */
export function keyStorePasswordAad(storeId: string): Buffer {
  return Buffer.from(`trent:kms:custom-key-store-password:${storeId}`);
}
export function xksSecretAad(storeId: string): Buffer {
  return Buffer.from(`trent:kms:custom-key-store-xks-secret:${storeId}`);
}

/** A KMS key's object on its store's token is found by this label. */
export function hsmKeyLabel(keyId: string): string {
  return `trent-kms-${keyId}`;
}

/** AWS's limit on custom key stores per account and Region. */
const MAX_STORES = 10;

/** The KMS operation a proxy call serves, named as kmsViaService wants it (the service's short name). */
function viaService(ctx: CallContext): string | undefined {
  return ctx.viaService ? ctx.viaService.split('.')[0] : undefined;
}

/** Messages for what went wrong between Trent and a proxy, by failure (AWS words these per scenario too). */
function xksTrouble(f: XksFailure): string {
  switch (f.kind) {
    case 'unreachable':
      return `Trent cannot reach the external key store proxy (${f.detail}). Check that the proxy is running and that the key store's XksProxyUriEndpoint is right.`;
    case 'tls':
      return `Trent cannot establish a TLS connection with the external key store proxy (${f.detail}). Check the proxy's certificate: it must match the endpoint's host name and chain to a CA this server trusts.`;
    case 'timeout':
      return 'The external key store proxy did not answer in time. Retry; if it keeps happening, check the proxy and its key manager.';
    case 'invalid-response':
      return `Trent cannot interpret the answer of the external key store proxy: ${f.detail}.`;
    case 'proxy':
      switch (f.errorName) {
        case 'AuthenticationFailedException':
          return "The external key store proxy could not authenticate Trent: check the key store's proxy authentication credential.";
        case 'AccessDeniedException':
          return 'The external key store proxy denied the operation: check that its authorization allows this caller and this external key.';
        case 'KeyNotFoundException':
          return 'The external key store proxy does not know the external key of this KMS key.';
        case 'InvalidStateException':
          return 'The external key of this KMS key is not enabled in its external key manager.';
        case 'InvalidKeyUsageException':
          return 'The external key of this KMS key does not allow the requested operation in its external key manager.';
        case 'InvalidCiphertextException':
          return 'The external key store proxy rejected the ciphertext: the ciphertext or the encryption context is corrupted, missing or not the one it was encrypted with.';
        case 'InvalidUriPathException':
          return "The external key store proxy does not serve the key store's XksProxyUriPath.";
        case 'ThrottlingException':
          return 'The external key store proxy refused the request because of its request rate. Retry later.';
        case 'DependencyTimeoutException':
          return 'The external key store proxy timed out waiting for its external key manager. Retry the request.';
        case 'UnsupportedOperationException':
          return 'The external key store proxy does not support the requested operation.';
        case 'InternalException':
          return 'The external key store proxy cannot communicate with its external key manager.';
        case 'ValidationException':
          return 'The external key store proxy refused the request as invalid.';
        default:
          return `The external key store proxy answered HTTP ${f.status} without an error Trent can interpret.`;
      }
  }
}

/**
 * Custom key stores: their records and connection states, the HSM-backed store (AWS_CLOUDHSM, a PKCS#11 token
 * in place of a CloudHSM cluster) and the external key store (EXTERNAL_KEY_STORE, an XKS proxy), and the
 * cryptography of the KMS keys kept in them. The connection state lives in the database and is read before
 * every use, so a store disconnected through any serving process is refused by all of them at once.
 */
export class CustomKeyStores {
  readonly #db: Database;
  readonly #root: RootOfTrust;
  readonly accountId: string;
  readonly region: string;
  readonly #clusters: ReadonlyMap<string, HsmCluster>;
  readonly tokens: HsmTokens;
  readonly #xks: XksClient;
  readonly #log: Logger | undefined;
  readonly #now: () => number;

  constructor(opts: { db: Database; root: RootOfTrust; accountId: string; region: string; clusters?: ReadonlyMap<string, HsmCluster>; xks?: XksClient; log?: Logger; now?: () => number }) {
    this.#db = opts.db;
    this.#root = opts.root;
    this.accountId = opts.accountId;
    this.region = opts.region;
    this.#clusters = opts.clusters ?? new Map();
    this.#xks = opts.xks ?? new XksClient();
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.tokens = new HsmTokens((id) => this.#loginFor(id));
  }

  // ---- records ----

  async get(id: string, q: Queryable = this.#db): Promise<CustomKeyStoreRecord | undefined> {
    const row = await q.get<StoreRow>(`SELECT ${STORE_COLUMNS} FROM kms_custom_key_stores WHERE custom_key_store_id = ? AND account_id = ? AND region = ?`, [id, this.accountId, this.region]);
    return row ? fromRow(row) : undefined;
  }

  async require(id: string, q: Queryable = this.#db): Promise<CustomKeyStoreRecord> {
    const s = await this.get(id, q);
    if (!s) throw new CustomKeyStoreNotFoundException(`Custom key store ${id} does not exist in this account and Region.`);
    return s;
  }

  async byName(name: string): Promise<CustomKeyStoreRecord | undefined> {
    const row = await this.#db.get<StoreRow>(`SELECT ${STORE_COLUMNS} FROM kms_custom_key_stores WHERE account_id = ? AND region = ? AND name = ?`, [this.accountId, this.region, name]);
    return row ? fromRow(row) : undefined;
  }

  async list(limit: number, after: string | undefined): Promise<CustomKeyStoreRecord[]> {
    const rows = await this.#db.all<StoreRow>(
      `SELECT ${STORE_COLUMNS} FROM kms_custom_key_stores WHERE account_id = ? AND region = ? ${after !== undefined ? 'AND custom_key_store_id > ?' : ''} ORDER BY custom_key_store_id LIMIT ?`,
      after !== undefined ? [this.accountId, this.region, after, limit + 1] : [this.accountId, this.region, limit + 1],
    );
    return rows.map(fromRow);
  }

  /** The operator's declared token for a cluster id. */
  cluster(clusterId: string): HsmCluster | undefined {
    return this.#clusters.get(clusterId);
  }

  // ---- creation, update, deletion ----

  async #checkCapacityAndName(tx: Queryable, name: string, except?: string): Promise<void> {
    const named = await tx.get<{ id: string }>('SELECT custom_key_store_id AS id FROM kms_custom_key_stores WHERE account_id = ? AND region = ? AND name = ?', [this.accountId, this.region, name]);
    if (named && named.id !== except) throw new CustomKeyStoreNameInUseException(`A custom key store named ${name} already exists in this account and Region.`);
  }

  /** An AWS_CLOUDHSM store on a declared token: the trust anchor must be the token's, and no other store may use that token (or a related one). */
  async createHsm(input: { name: string; clusterId: string; trustAnchor: string; password: string }): Promise<string> {
    const cluster = this.#declaredCluster(input.clusterId);
    const given = certificateDer(input.trustAnchor);
    if (!given || !given.equals(cluster.trustAnchorDer)) throw new IncorrectTrustAnchorException(`The trust anchor certificate is not the one of cluster ${input.clusterId}.`);
    this.#requireActive(cluster);
    const id = `cks-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const wrapped = await this.#wrap(Buffer.from(input.password, 'utf8'), keyStorePasswordAad(id));
    try {
      await this.#db.transaction(async (tx) => {
        await this.#checkCount(tx);
        await this.#checkCapacityAndName(tx, input.name);
        await this.#checkClusterFree(tx, cluster);
        await tx.run(
          `INSERT INTO kms_custom_key_stores (custom_key_store_id, account_id, region, name, store_type, connection_state, created_at, cloud_hsm_cluster_id, trust_anchor, password_wrapped)
           VALUES (?, ?, ?, ?, 'AWS_CLOUDHSM', 'DISCONNECTED', ?, ?, ?, ?)`,
          [id, this.accountId, this.region, input.name, this.#now(), input.clusterId, input.trustAnchor, wrapped],
        );
      });
    } catch (err) {
      throw this.#uniqueness(err, input.name);
    }
    return id;
  }

  /** An EXTERNAL_KEY_STORE with a public endpoint: the proxy must answer GetHealthStatus with the credential given before the store exists. */
  async createXks(ctx: CallContext, input: { name: string; uriEndpoint: string; uriPath: string; accessKeyId: string; secretAccessKey: string }): Promise<string> {
    await this.#db.transaction(async (tx) => {
      await this.#checkCount(tx);
      await this.#checkCapacityAndName(tx, input.name);
      await this.#checkUriFree(tx, input.uriEndpoint, input.uriPath);
    });
    await this.#storeHealth(ctx, { uriEndpoint: input.uriEndpoint, uriPath: input.uriPath, accessKeyId: input.accessKeyId, secretAccessKey: input.secretAccessKey, region: this.region });
    const id = `cks-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const wrapped = await this.#wrap(Buffer.from(input.secretAccessKey, 'utf8'), xksSecretAad(id));
    try {
      await this.#db.transaction(async (tx) => {
        await this.#checkCount(tx);
        await this.#checkCapacityAndName(tx, input.name);
        await this.#checkUriFree(tx, input.uriEndpoint, input.uriPath);
        await tx.run(
          `INSERT INTO kms_custom_key_stores (custom_key_store_id, account_id, region, name, store_type, connection_state, created_at, xks_uri_endpoint, xks_uri_path, xks_connectivity, xks_access_key_id, xks_secret_wrapped)
           VALUES (?, ?, ?, ?, 'EXTERNAL_KEY_STORE', 'DISCONNECTED', ?, ?, ?, 'PUBLIC_ENDPOINT', ?, ?)`,
          [id, this.accountId, this.region, input.name, this.#now(), input.uriEndpoint, input.uriPath, input.accessKeyId, wrapped],
        );
      });
    } catch (err) {
      throw this.#uniqueness(err, input.name);
    }
    return id;
  }

  async update(
    ctx: CallContext,
    id: string,
    change: { name?: string; password?: string; clusterId?: string; uriEndpoint?: string; uriPath?: string; credential?: { accessKeyId: string; secretAccessKey: string } },
  ): Promise<void> {
    const store = await this.require(id);
    const disconnectedOnly = store.type === 'AWS_CLOUDHSM' ? change.password !== undefined || change.clusterId !== undefined : change.uriEndpoint !== undefined;
    if (disconnectedOnly && store.state !== 'DISCONNECTED') {
      throw new CustomKeyStoreInvalidStateException(
        `Custom key store ${id} is ${store.state}: disconnect it (DisconnectCustomKeyStore) before changing ${store.type === 'AWS_CLOUDHSM' ? 'its cluster or password' : 'its proxy endpoint'}.`,
      );
    }
    let cluster: HsmCluster | undefined;
    if (change.clusterId !== undefined && change.clusterId !== store.clusterId) {
      cluster = this.#declaredCluster(change.clusterId);
      const current = store.trustAnchor ? certificateDer(store.trustAnchor) : undefined;
      if (!current || !current.equals(cluster.trustAnchorDer)) {
        throw new CloudHsmClusterNotRelatedException(`Cluster ${change.clusterId} is not related to the cluster of custom key store ${id}: its trust anchor certificate differs.`);
      }
      this.#requireActive(cluster);
    }
    let secret: string | undefined;
    if (store.type === 'EXTERNAL_KEY_STORE' && (change.uriEndpoint !== undefined || change.uriPath !== undefined || change.credential !== undefined)) {
      const ep = await this.endpointOf(store);
      const next: XksEndpoint = {
        uriEndpoint: change.uriEndpoint ?? ep.uriEndpoint,
        uriPath: change.uriPath ?? ep.uriPath,
        accessKeyId: change.credential?.accessKeyId ?? ep.accessKeyId,
        secretAccessKey: change.credential?.secretAccessKey ?? ep.secretAccessKey,
        region: this.region,
      };
      if (change.uriEndpoint !== undefined || change.uriPath !== undefined) {
        await this.#db.transaction((tx) => this.#checkUriFree(tx, next.uriEndpoint, next.uriPath, id));
      }
      await this.#storeHealth(ctx, next, 'UpdateCustomKeyStore');
      secret = change.credential?.secretAccessKey;
    }
    const password = change.password !== undefined ? await this.#wrap(Buffer.from(change.password, 'utf8'), keyStorePasswordAad(id)) : undefined;
    const xksSecret = secret !== undefined ? await this.#wrap(Buffer.from(secret, 'utf8'), xksSecretAad(id)) : undefined;
    try {
      await this.#db.transaction(async (tx) => {
        const now = await this.require(id, tx);
        if (disconnectedOnly && now.state !== 'DISCONNECTED') throw new CustomKeyStoreInvalidStateException(`Custom key store ${id} is ${now.state}.`);
        if (change.name !== undefined) await this.#checkCapacityAndName(tx, change.name, id);
        if (cluster) await this.#checkClusterFree(tx, cluster, id);
        const sets: string[] = [];
        const params: Array<string | Buffer> = [];
        const set = (column: string, value: string | Buffer | undefined) => {
          if (value === undefined) return;
          sets.push(`${column} = ?`);
          params.push(value);
        };
        set('name', change.name);
        set('password_wrapped', password);
        set('cloud_hsm_cluster_id', cluster?.clusterId);
        set('xks_uri_endpoint', change.uriEndpoint);
        set('xks_uri_path', change.uriPath);
        set('xks_access_key_id', change.credential?.accessKeyId);
        set('xks_secret_wrapped', xksSecret);
        if (sets.length) await tx.run(`UPDATE kms_custom_key_stores SET ${sets.join(', ')} WHERE custom_key_store_id = ?`, [...params, id]);
      });
    } catch (err) {
      throw this.#uniqueness(err, change.name ?? store.name);
    }
  }

  async delete(id: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const store = await this.require(id, tx);
      if (store.state !== 'DISCONNECTED') throw new CustomKeyStoreInvalidStateException(`Custom key store ${id} is ${store.state}: disconnect it (DisconnectCustomKeyStore) before deleting it.`);
      const keys = await tx.get<{ n: number }>('SELECT count(*) AS n FROM kms_keys WHERE custom_key_store_id = ?', [id]);
      if (Number(keys?.n ?? 0) > 0) {
        throw new CustomKeyStoreHasCMKsException(`Custom key store ${id} still holds KMS keys: schedule their deletion (ScheduleKeyDeletion) and delete the store once they are gone.`);
      }
      await tx.run('DELETE FROM kms_custom_key_stores WHERE custom_key_store_id = ?', [id]);
    });
  }

  // ---- connection ----

  /**
   * ConnectCustomKeyStore. AWS connects in the background and reports CONNECTED or FAILED through
   * DescribeCustomKeyStores; Trent's connection takes milliseconds, so the call itself waits for the outcome
   * (its answer is the same empty 200 either way). A token is connected by logging in to it with the store's
   * password; a proxy by a GetHealthStatus that reports at least one available key manager.
   */
  async connect(ctx: CallContext, id: string): Promise<void> {
    const store = await this.require(id);
    if (store.state === 'CONNECTED') return;
    if (store.state === 'FAILED' || store.state === 'DISCONNECTING') {
      throw new CustomKeyStoreInvalidStateException(
        `Custom key store ${id} is ${store.state}: ${store.state === 'FAILED' ? 'disconnect it (DisconnectCustomKeyStore), then connect it again' : 'wait until it is disconnected'}.`,
      );
    }
    let cluster: HsmCluster | undefined;
    if (store.type === 'AWS_CLOUDHSM') {
      cluster = this.#clusters.get(store.clusterId ?? '');
      // Synchronous refusals, as AWS gives them: a token that is not there, or a library that cannot be loaded.
      if (cluster) this.#requireActive(cluster);
    }
    const started = await this.#db.run("UPDATE kms_custom_key_stores SET connection_state = 'CONNECTING', connection_error_code = NULL WHERE custom_key_store_id = ? AND connection_state IN ('DISCONNECTED', 'CONNECTING')", [id]);
    if (started.changes === 0) throw new CustomKeyStoreInvalidStateException(`Custom key store ${id} changed its connection state meanwhile; describe it and try again.`);
    let failure: string | undefined;
    if (store.type === 'AWS_CLOUDHSM') {
      if (!cluster) failure = 'CLUSTER_NOT_FOUND';
      else {
        // A session this process still holds from before must not vouch for the password now.
        this.tokens.disconnect(id);
        try {
          await this.tokens.session(id);
        } catch (err) {
          failure = hsmConnectionError(err);
          if (!(err instanceof HsmError)) this.#log?.error({ err, customKeyStoreId: id }, 'connecting a custom key store failed');
        }
      }
    } else {
      try {
        const health = await this.#xks.health(await this.endpointOf(store), { kmsOperation: 'ConnectCustomKeyStore', kmsRequestId: ctx.requestId });
        if (health.ekmFleetDetails.every((e) => e.healthStatus === 'UNAVAILABLE')) failure = 'XKS_PROXY_NOT_REACHABLE';
      } catch (err) {
        failure = err instanceof XksCallError ? xksConnectionError(err.failure) : 'INTERNAL_ERROR';
      }
    }
    await this.#db.run("UPDATE kms_custom_key_stores SET connection_state = ?, connection_error_code = ? WHERE custom_key_store_id = ? AND connection_state = 'CONNECTING'", [
      failure ? 'FAILED' : 'CONNECTED',
      failure ?? null,
      id,
    ]);
  }

  /** DisconnectCustomKeyStore: refused at once by every serving process (they read the state before each use); this one also logs out of the token now. */
  async disconnect(id: string): Promise<void> {
    const store = await this.require(id);
    if (store.state === 'DISCONNECTED' || store.state === 'DISCONNECTING') throw new CustomKeyStoreInvalidStateException(`Custom key store ${id} is already ${store.state}.`);
    await this.#db.run("UPDATE kms_custom_key_stores SET connection_state = 'DISCONNECTED', connection_error_code = NULL WHERE custom_key_store_id = ?", [id]);
    this.tokens.disconnect(id);
  }

  /** After another process's change (the workers' bus): close the sessions of stores that are no longer connected. */
  async closeDisconnected(): Promise<void> {
    for (const id of this.tokens.connected) {
      const s = await this.get(id).catch(() => undefined);
      if (!s || s.state !== 'CONNECTED') this.tokens.disconnect(id);
    }
  }

  // ---- keys in custom key stores ----

  /** A store the caller names for CreateKey: it must exist, be of the kind the origin names, and be connected. */
  async storeForNewKey(id: string, origin: string): Promise<CustomKeyStoreRecord> {
    const store = await this.require(id);
    const wanted = origin === 'AWS_CLOUDHSM' ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE';
    if (store.type !== wanted) throw new UnsupportedOperationException(`Origin ${origin} cannot be used with custom key store ${id}, whose type is ${store.type}.`);
    if (store.state !== 'CONNECTED') throw new CustomKeyStoreInvalidStateException(`Custom key store ${id} is ${store.state}: KMS keys can be created only in a connected custom key store.`);
    return store;
  }

  /** A new key's AES-256 material, generated in the store's token (before the key's record exists: a failure leaves nothing behind). */
  async generateHsmKey(store: CustomKeyStoreRecord, keyId: string): Promise<void> {
    try {
      await this.tokens.generateKey(store.id, hsmKeyLabel(keyId));
    } catch (err) {
      if (err instanceof HsmError) throw new CustomKeyStoreInvalidStateException(`The token of custom key store ${store.id} cannot generate the key: ${err.message}.`);
      throw err;
    }
  }

  /** Undo generateHsmKey after the key's record could not be written. */
  async discardHsmKey(store: CustomKeyStoreRecord, keyId: string): Promise<void> {
    await this.tokens.destroyKey(store.id, hsmKeyLabel(keyId)).catch(() => false);
  }

  /**
   * CreateKey in an external key store: the external key must be one no other KMS key of the store uses, and the
   * proxy must describe it as an enabled AES-256 key for encryption and decryption.
   */
  async checkExternalKey(ctx: CallContext, store: CustomKeyStoreRecord, xksKeyId: string): Promise<void> {
    const taken = await this.#db.get<{ key_id: string }>('SELECT key_id FROM kms_keys WHERE custom_key_store_id = ? AND xks_key_id = ?', [store.id, xksKeyId]);
    if (taken) throw new XksKeyAlreadyInUseException(`External key ${xksKeyId} is already associated with another KMS key in custom key store ${store.id}.`);
    let meta;
    try {
      meta = await this.#xks.keyMetadata(await this.endpointOf(store), xksKeyId, { awsPrincipalArn: ctx.principal.arn, kmsOperation: 'CreateKey', kmsRequestId: ctx.requestId, ...optional('kmsViaService', viaService(ctx)) });
    } catch (err) {
      if (!(err instanceof XksCallError)) throw err;
      const f = err.failure;
      if (f.kind === 'proxy' && f.errorName === 'KeyNotFoundException') throw new XksKeyNotFoundException(`The external key store proxy does not know external key ${xksKeyId}.`);
      if (f.kind === 'proxy' && (f.errorName === 'InvalidStateException' || f.errorName === 'InvalidKeyUsageException' || f.errorName === 'UnsupportedOperationException')) {
        throw new XksKeyInvalidConfigurationException(xksTrouble(f));
      }
      if (f.kind === 'proxy' && f.errorName === 'AccessDeniedException') throw new KMSInvalidStateException(xksTrouble(f));
      throw new CustomKeyStoreInvalidStateException(xksTrouble(f));
    }
    if (meta.keySpec !== 'AES_256') throw new XksKeyInvalidConfigurationException(`External key ${xksKeyId} is a ${meta.keySpec} key; a KMS key needs an AES_256 external key.`);
    if (!meta.keyUsage.includes('ENCRYPT') || !meta.keyUsage.includes('DECRYPT')) throw new XksKeyInvalidConfigurationException(`External key ${xksKeyId} must allow both ENCRYPT and DECRYPT.`);
    if (meta.keyStatus !== 'ENABLED') throw new XksKeyInvalidConfigurationException(`External key ${xksKeyId} is not enabled in its external key manager.`);
  }

  /** The store of a key about to be used: it must be connected, or every cryptographic operation is KMSInvalidStateException. */
  async #connectedStoreOf(key: KeyRecord): Promise<CustomKeyStoreRecord> {
    const store = await this.get(key.customKeyStoreId ?? '');
    if (!store || store.state !== 'CONNECTED') {
      if (key.customKeyStoreId) this.tokens.disconnect(key.customKeyStoreId);
      throw new KMSInvalidStateException(`${key.arn} is in custom key store ${key.customKeyStoreId}, which is not connected (${store?.state ?? 'deleted'}): connect it (ConnectCustomKeyStore) and try again.`);
    }
    return store;
  }

  /** Encrypt under a key in a custom key store: in its token, or twice (Trent's layer, then the proxy's). */
  async encrypt(ctx: CallContext, key: KeyRecord, plaintext: Uint8Array, ec: EncryptionContext, material: () => Promise<{ secret: import('node:crypto').KeyObject; version: number }>): Promise<Buffer> {
    const store = await this.#connectedStoreOf(key);
    if (store.type === 'AWS_CLOUDHSM') {
      const header = encodeKeyHeader(FORMAT_HSM, key.keyId);
      try {
        const out = await this.tokens.encrypt(store.id, hsmKeyLabel(key.keyId), plaintext, Buffer.concat([header, canonicalEncryptionContext(ec)]));
        return encodeHsmBlob(key.keyId, out.iv, out.ciphertext, out.tag);
      } catch (err) {
        throw hsmCryptoError(err, key, store);
      }
    }
    const m = await material();
    const inner = sealUnderBackingKey(key.keyId, m.version, m.secret, plaintext, ec);
    const aad = xksAad(key.keyId, ec);
    try {
      const out = await this.#xks.encrypt(await this.endpointOf(store), key.xksKeyId ?? '', this.#metadata(ctx, key), inner, aad);
      return encodeXksBlob(key.keyId, { metadata: out.metadata, iv: out.iv, tag: out.tag, ciphertext: out.ciphertext });
    } catch (err) {
      if (err instanceof XksCallError) throw new KMSInvalidStateException(xksTrouble(err.failure));
      throw err;
    }
  }

  /** Decrypt a version 2 or 3 blob of a key in a custom key store. */
  async decrypt(ctx: CallContext, key: KeyRecord, ciphertext: Buffer, ec: EncryptionContext, material: (version: number) => Promise<import('node:crypto').KeyObject | undefined>): Promise<Buffer> {
    const store = await this.#connectedStoreOf(key);
    if (store.type === 'AWS_CLOUDHSM') {
      const blob = decodeHsmBlob(ciphertext);
      try {
        return await this.tokens.decrypt(store.id, hsmKeyLabel(key.keyId), { iv: blob.iv, ciphertext: blob.ciphertext, tag: blob.tag, aad: Buffer.concat([blob.header, canonicalEncryptionContext(ec)]) });
      } catch (err) {
        if (err instanceof HsmError && err.failure === 'data') throw new InvalidCiphertextException();
        throw hsmCryptoError(err, key, store);
      }
    }
    const blob = decodeXksBlob(ciphertext);
    let inner: Buffer;
    try {
      inner = await this.#xks.decrypt(await this.endpointOf(store), key.xksKeyId ?? '', this.#metadata(ctx, key), {
        ciphertext: blob.ciphertext,
        metadata: blob.metadata,
        iv: blob.iv,
        tag: blob.tag,
        aad: xksAad(key.keyId, ec),
      });
    } catch (err) {
      if (err instanceof XksCallError) throw new KMSInvalidStateException(xksTrouble(err.failure));
      throw err;
    }
    // The proxy's layer is off; what it returned must be Trent's own layer for this very key.
    const invalid = () => new KMSInvalidStateException('The ciphertext the external key store proxy returned, or the encryption context, is corrupted or not the one it was encrypted with.');
    let innerBlob;
    try {
      innerBlob = decodeBlob(inner);
    } catch {
      throw invalid();
    }
    if (innerBlob.keyId !== key.keyId) throw invalid();
    const secret = await material(innerBlob.version);
    if (!secret) throw invalid();
    try {
      return openUnderBackingKey(innerBlob, secret, ec);
    } catch (err) {
      if (err instanceof InvalidCiphertextException) throw invalid();
      throw err;
    } finally {
      inner.fill(0);
    }
  }

  /** GenerateRandom with a CustomKeyStoreId: bytes from the store's token. External key stores cannot. */
  async random(id: string, n: number): Promise<Buffer> {
    const store = await this.require(id);
    if (store.type === 'EXTERNAL_KEY_STORE') throw new UnsupportedOperationException(`${id} is an external key store: GenerateRandom takes the ID of an AWS_CLOUDHSM key store only.`);
    if (store.state !== 'CONNECTED') throw new CustomKeyStoreInvalidStateException(`Custom key store ${id} is ${store.state}: GenerateRandom needs a connected key store.`);
    try {
      return await this.tokens.random(id, n);
    } catch (err) {
      if (err instanceof HsmError) throw new CustomKeyStoreInvalidStateException(`The token of custom key store ${id} cannot draw random bytes: ${err.message}.`);
      throw err;
    }
  }

  /**
   * A deleted key's material in its token, destroyed as AWS destroys it in CloudHSM: best effort, when the store
   * is connected at the end of the waiting period; otherwise the object stays on the token (and is reported).
   */
  async destroyHsmKey(key: KeyRecord): Promise<void> {
    if (key.origin !== 'AWS_CLOUDHSM' || !key.customKeyStoreId) return;
    const store = await this.get(key.customKeyStoreId);
    if (!store || store.state !== 'CONNECTED') {
      this.#log?.warn({ keyArn: key.arn, customKeyStoreId: key.customKeyStoreId }, 'deleted key: its store is not connected, so its key material stays on the token');
      return;
    }
    try {
      await this.tokens.destroyKey(store.id, hsmKeyLabel(key.keyId));
    } catch (err) {
      this.#log?.warn({ keyArn: key.arn, err: (err as Error).message }, 'deleted key: its key material could not be destroyed on the token');
    }
  }

  close(): void {
    this.tokens.close();
    this.#xks.close();
  }

  // ---- helpers ----

  #declaredCluster(clusterId: string): HsmCluster {
    const cluster = this.#clusters.get(clusterId);
    if (!cluster) throw new CloudHsmClusterNotFoundException(`Cluster ${clusterId} is not declared on this server (TRENT_KMS_HSM_CLUSTERS).`);
    return cluster;
  }

  #requireActive(cluster: HsmCluster): void {
    let present: boolean;
    try {
      present = this.tokens.present(cluster);
    } catch (err) {
      if (err instanceof HsmError) throw new CloudHsmClusterInvalidConfigurationException(`Cluster ${cluster.clusterId} cannot be used: ${err.message}.`);
      throw err;
    }
    if (!present) throw new CloudHsmClusterNotActiveException(`The token of cluster ${cluster.clusterId} is not present.`);
  }

  async #checkCount(tx: Queryable): Promise<void> {
    const n = await tx.get<{ n: number }>('SELECT count(*) AS n FROM kms_custom_key_stores WHERE account_id = ? AND region = ?', [this.accountId, this.region]);
    if (Number(n?.n ?? 0) >= MAX_STORES) throw new LimitExceededException(`An account can have at most ${MAX_STORES} custom key stores in a Region.`);
  }

  /** A cluster is in use when a store has it, or a related one (the same trust anchor: the same backup history). */
  async #checkClusterFree(tx: Queryable, cluster: HsmCluster, except?: string): Promise<void> {
    const rows = await tx.all<{ id: string; cluster: string; anchor: string | null }>(
      "SELECT custom_key_store_id AS id, cloud_hsm_cluster_id AS cluster, trust_anchor AS anchor FROM kms_custom_key_stores WHERE store_type = 'AWS_CLOUDHSM'",
    );
    for (const r of rows) {
      if (r.id === except) continue;
      const der = r.anchor ? certificateDer(r.anchor) : undefined;
      if (r.cluster === cluster.clusterId || (der && der.equals(cluster.trustAnchorDer))) {
        throw new CloudHsmClusterInUseException(`Cluster ${cluster.clusterId} (or a cluster with the same trust anchor) is already associated with custom key store ${r.id}.`);
      }
    }
  }

  async #checkUriFree(tx: Queryable, uriEndpoint: string, uriPath: string, except?: string): Promise<void> {
    const row = await tx.get<{ id: string }>(
      'SELECT custom_key_store_id AS id FROM kms_custom_key_stores WHERE account_id = ? AND region = ? AND xks_uri_endpoint = ? AND xks_uri_path = ?',
      [this.accountId, this.region, uriEndpoint, uriPath],
    );
    if (row && row.id !== except) throw new XksProxyUriInUseException(`${uriEndpoint}${uriPath} is already the proxy of external key store ${row.id}.`);
  }

  #uniqueness(err: unknown, name: string): unknown {
    if (!(err instanceof UniqueViolation)) return err;
    return new CustomKeyStoreNameInUseException(`A custom key store named ${name} (or one on the same cluster or proxy URI) was created at the same time; describe the key stores and try again.`);
  }

  /** GetHealthStatus for CreateCustomKeyStore and UpdateCustomKeyStore: a failure refuses the call, with AWS's exceptions. */
  async #storeHealth(ctx: CallContext, ep: XksEndpoint, operation = 'CreateCustomKeyStore'): Promise<void> {
    let health;
    try {
      health = await this.#xks.health(ep, { kmsOperation: operation, kmsRequestId: ctx.requestId });
    } catch (err) {
      if (!(err instanceof XksCallError)) throw err;
      const f = err.failure;
      const message = xksTrouble(f);
      if (f.kind === 'proxy') {
        if (f.errorName === 'AuthenticationFailedException') throw new XksProxyIncorrectAuthenticationCredentialException(message);
        if (f.errorName === 'InvalidUriPathException') throw new XksProxyInvalidConfigurationException(message);
        if (f.errorName === 'DependencyTimeoutException' || f.errorName === 'ThrottlingException') throw new XksProxyUriUnreachableException(message);
        throw new XksProxyInvalidResponseException(message);
      }
      if (f.kind === 'invalid-response') throw new XksProxyInvalidResponseException(message);
      throw new XksProxyUriUnreachableException(message);
    }
    if (health.ekmFleetDetails.every((e) => e.healthStatus === 'UNAVAILABLE')) {
      throw new XksProxyUriUnreachableException('The external key store proxy reports that none of its external key managers is available.');
    }
  }

  /** The proxy endpoint and credential of an external key store (the secret unwrapped for this call only). */
  async endpointOf(store: CustomKeyStoreRecord): Promise<XksEndpoint> {
    const row = await this.#db.get<{ s: Uint8Array }>('SELECT xks_secret_wrapped AS s FROM kms_custom_key_stores WHERE custom_key_store_id = ?', [store.id]);
    if (!row?.s || !store.xks) throw new KMSInternalException();
    const secret = await this.#unwrap(row.s, xksSecretAad(store.id));
    try {
      return { uriEndpoint: store.xks.uriEndpoint, uriPath: store.xks.uriPath, accessKeyId: store.xks.accessKeyId, secretAccessKey: secret.toString('utf8'), region: this.region };
    } finally {
      secret.fill(0);
    }
  }

  #metadata(ctx: CallContext, key: KeyRecord): XksRequestMetadata {
    return { awsPrincipalArn: ctx.principal.arn, kmsKeyArn: key.arn, kmsOperation: ctx.operation, kmsRequestId: ctx.requestId, ...optional('kmsViaService', viaService(ctx)) };
  }

  /** HsmTokens' login: the store's token and its password, unwrapped by the root of trust for the login only. */
  async #loginFor(id: string): Promise<{ cluster: HsmCluster; pin: string }> {
    const row = await this.#db.get<{ cluster: string | null; p: Uint8Array | null }>('SELECT cloud_hsm_cluster_id AS cluster, password_wrapped AS p FROM kms_custom_key_stores WHERE custom_key_store_id = ?', [id]);
    const cluster = row?.cluster ? this.#clusters.get(row.cluster) : undefined;
    if (!row?.p || !cluster) throw new HsmError('token-absent', `the cluster of custom key store ${id} is not declared on this server`);
    const pin = await this.#unwrap(row.p, keyStorePasswordAad(id));
    try {
      return { cluster, pin: pin.toString('utf8') };
    } finally {
      pin.fill(0);
    }
  }

  async #wrap(secret: Buffer, aad: Buffer): Promise<Buffer> {
    try {
      return await this.#root.wrap(secret, aad);
    } finally {
      secret.fill(0);
    }
  }

  async #unwrap(wrapped: Uint8Array, aad: Buffer): Promise<Buffer> {
    try {
      return await this.#root.unwrap(wrapped, aad);
    } catch (err) {
      if (err instanceof RootUnavailableError) throw new AwsError('KMSInternalException', 500, `The root of trust is unavailable: ${err.message}.`);
      throw new KMSInternalException();
    }
  }
}

/** The AAD Trent sends a proxy: the blob's header and the SHA-256 of the canonical encryption context. */
export function xksAad(keyId: string, ec: EncryptionContext): Buffer {
  return Buffer.concat([encodeKeyHeader(FORMAT_XKS, keyId), createHash('sha256').update(canonicalEncryptionContext(ec)).digest()]);
}

function optional<K extends string>(name: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [name]: value } as Record<K, string>);
}

/** ConnectionErrorCode for a token that refused the connection. */
function hsmConnectionError(err: unknown): string {
  if (!(err instanceof HsmError)) return 'INTERNAL_ERROR';
  switch (err.failure) {
    case 'pin-incorrect':
      return 'INVALID_CREDENTIALS';
    case 'pin-locked':
      return 'USER_LOCKED_OUT';
    case 'user-not-initialised':
      return 'USER_NOT_FOUND';
    case 'logged-in-elsewhere':
      return 'USER_LOGGED_IN';
    case 'token-absent':
      return 'INSUFFICIENT_CLOUDHSM_HSMS';
    default:
      return 'INTERNAL_ERROR';
  }
}

/** ConnectionErrorCode for a proxy that refused the connection. */
function xksConnectionError(f: XksFailure): string {
  switch (f.kind) {
    case 'unreachable':
      return 'XKS_PROXY_NOT_REACHABLE';
    case 'tls':
      return 'XKS_PROXY_INVALID_TLS_CONFIGURATION';
    case 'timeout':
      return 'XKS_PROXY_TIMED_OUT';
    case 'invalid-response':
      return 'XKS_PROXY_INVALID_RESPONSE';
    case 'proxy':
      switch (f.errorName) {
        case 'AuthenticationFailedException':
          return 'INVALID_CREDENTIALS';
        case 'AccessDeniedException':
          return 'XKS_PROXY_ACCESS_DENIED';
        case 'InvalidUriPathException':
          return 'XKS_PROXY_INVALID_CONFIGURATION';
        case 'DependencyTimeoutException':
        case 'ThrottlingException':
          return 'XKS_PROXY_TIMED_OUT';
        default:
          return 'XKS_PROXY_INVALID_RESPONSE';
      }
  }
}

/** A token failure during a cryptographic operation: KMSInvalidStateException, as AWS answers for a key in a custom key store. */
function hsmCryptoError(err: unknown, key: KeyRecord, store: CustomKeyStoreRecord): unknown {
  if (!(err instanceof HsmError)) return err;
  if (err.failure === 'key-missing') return new KMSInvalidStateException(`The key material of ${key.arn} is no longer in the token of custom key store ${store.id}.`);
  return new KMSInvalidStateException(`The token of custom key store ${store.id} cannot be used now (${err.message}); check the token, or disconnect and connect the key store.`);
}
