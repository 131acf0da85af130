import type * as K from '@aws-sdk/client-kms';
import type { CallContext } from '../server/service.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { AwsError } from '../wire/errors.ts';
import { int, memberPath, oneOf, str } from './input.ts';
import { UnsupportedOperationException, ValidationException } from './errors.ts';
import { decodeMarker, encodeMarker } from './keys.ts';
import { CLUSTER_ID } from './hsm-keys.ts';
import type { CustomKeyStoreRecord, CustomKeyStores } from './custom-key-stores.ts';

type In = Record<string, unknown>;
type W<T> = JsonWire<T>;

/** AWS's patterns for the key store parameters (XksProxyUriEndpoint also takes a port here: Trent reaches proxies on any port). */
const URI_ENDPOINT = /^https:\/\/[a-zA-Z0-9.-]+(:\d{1,5})?$/;
const URI_PATH = /^(\/[a-zA-Z0-9/_-]+\/kms\/xks\/v\d{1,2})$|^(\/kms\/xks\/v\d{1,2})$/;
const ACCESS_KEY_ID = /^[A-Z2-7]+$/;
const RAW_SECRET = /^[a-zA-Z0-9/+=]+$/;

/** AWS's validation wording; `what` is "Value 'x'", "Value '***'" for a secret, or "Value null". */
const fail = (field: string, constraint: string, what: string) => new ValidationException(`1 validation error detected: ${what} at '${memberPath(field)}' failed to satisfy constraint: ${constraint}`);

/** A string member with AWS's length bounds and pattern; secrets are never echoed in the message. */
function patterned(input: In, field: string, re: RegExp, reText: string, opts: { min: number; max: number; secret?: boolean; path?: string }): string | undefined {
  const v = str(input, field, { min: opts.min, max: opts.max, ...(opts.path ? { path: opts.path } : {}) });
  if (v !== undefined && !re.test(v)) throw fail(opts.path ?? field, `Member must satisfy regular expression pattern: ${reText}`, opts.secret ? "Value '***'" : `Value '${v}'`);
  return v;
}

const required = (field: string, type: string) => new ValidationException(`${field} is required for custom key stores with a CustomKeyStoreType of ${type}.`);
const notFor = (fields: string[], type: string) => new ValidationException(`${fields.join(', ')} ${fields.length > 1 ? 'are' : 'is'} not valid for custom key stores with a CustomKeyStoreType of ${type}.`);

function credentialOf(input: In): { accessKeyId: string; secretAccessKey: string } | undefined {
  const v = input['XksProxyAuthenticationCredential'];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new AwsError('SerializationException', 400, "Expected a structure at 'XksProxyAuthenticationCredential'.");
  const c = v as In;
  const accessKeyId = patterned(c, 'AccessKeyId', ACCESS_KEY_ID, '^[A-Z2-7]+$', { min: 20, max: 30, secret: true, path: 'XksProxyAuthenticationCredential.AccessKeyId' });
  const secretAccessKey = patterned(c, 'RawSecretAccessKey', RAW_SECRET, '^[a-zA-Z0-9\\/+=]+$', { min: 43, max: 64, secret: true, path: 'XksProxyAuthenticationCredential.RawSecretAccessKey' });
  if (accessKeyId === undefined) throw fail('XksProxyAuthenticationCredential.AccessKeyId', 'Member must not be null', 'Value null');
  if (secretAccessKey === undefined) throw fail('XksProxyAuthenticationCredential.RawSecretAccessKey', 'Member must not be null', 'Value null');
  return { accessKeyId, secretAccessKey };
}

/** XksProxyConnectivity: Trent reaches proxies at public endpoints; it has no Amazon VPC to offer an endpoint service in. */
function connectivityOf(input: In): 'PUBLIC_ENDPOINT' | undefined {
  const c = oneOf(input, 'XksProxyConnectivity', ['PUBLIC_ENDPOINT', 'VPC_ENDPOINT_SERVICE'] as const);
  if (c === 'VPC_ENDPOINT_SERVICE' || input['XksProxyVpcEndpointServiceName'] !== undefined || input['XksProxyVpcEndpointServiceOwner'] !== undefined) {
    throw new UnsupportedOperationException('VPC_ENDPOINT_SERVICE connectivity is not available: Trent reaches external key store proxies at public endpoints (PUBLIC_ENDPOINT).');
  }
  return c;
}

const XKS_FIELDS = ['XksProxyUriEndpoint', 'XksProxyUriPath', 'XksProxyAuthenticationCredential', 'XksProxyConnectivity', 'XksProxyVpcEndpointServiceName', 'XksProxyVpcEndpointServiceOwner'];
const HSM_FIELDS = ['CloudHsmClusterId', 'TrustAnchorCertificate', 'KeyStorePassword'];
const present = (input: In, fields: string[]) => fields.filter((f) => input[f] !== undefined && input[f] !== null);

export function customKeyStoreEntry(s: CustomKeyStoreRecord): W<K.CustomKeyStoresListEntry> {
  return {
    CustomKeyStoreId: s.id,
    CustomKeyStoreName: s.name,
    CustomKeyStoreType: s.type,
    ConnectionState: s.state,
    ...(s.state === 'FAILED' && s.errorCode ? { ConnectionErrorCode: s.errorCode as K.ConnectionErrorCodeType } : {}),
    CreationDate: s.createdAt / 1000,
    ...(s.type === 'AWS_CLOUDHSM' ? { CloudHsmClusterId: s.clusterId ?? undefined, TrustAnchorCertificate: s.trustAnchor ?? undefined } : {}),
    ...(s.xks
      ? { XksProxyConfiguration: { Connectivity: s.xks.connectivity as K.XksProxyConnectivityType, AccessKeyId: s.xks.accessKeyId, UriEndpoint: s.xks.uriEndpoint, UriPath: s.xks.uriPath } }
      : {}),
  } as W<K.CustomKeyStoresListEntry>;
}

/**
 * The six custom key store operations. They name no key: access is decided by identity policies (kms:<Operation>
 * on "*"), as on AWS. The work is in custom-key-stores.ts.
 */
export function customKeyStoreOperations(stores: CustomKeyStores | undefined, authorizedAccount: (ctx: CallContext) => Promise<void>) {
  const need = (): CustomKeyStores => {
    if (!stores) throw new UnsupportedOperationException('Custom key stores are not available on this server.');
    return stores;
  };
  const storeId = (input: In) => str(input, 'CustomKeyStoreId', { required: true, min: 1, max: 64 });

  return {
    async CreateCustomKeyStore(ctx: CallContext, input: In): Promise<W<K.CreateCustomKeyStoreResponse>> {
      const name = str(input, 'CustomKeyStoreName', { required: true, min: 1, max: 256 });
      const type = oneOf(input, 'CustomKeyStoreType', ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const) ?? 'AWS_CLOUDHSM';
      if (type === 'AWS_CLOUDHSM') {
        const clusterId = patterned(input, 'CloudHsmClusterId', CLUSTER_ID, 'cluster-[2-7a-zA-Z]{11,16}', { min: 19, max: 24 });
        const trustAnchor = str(input, 'TrustAnchorCertificate', { min: 1, max: 5000 });
        const password = str(input, 'KeyStorePassword', { min: 7, max: 32 });
        const misplaced = present(input, XKS_FIELDS);
        if (misplaced.length) throw notFor(misplaced, type);
        if (clusterId === undefined) throw required('CloudHsmClusterId', type);
        if (trustAnchor === undefined) throw required('TrustAnchorCertificate', type);
        if (password === undefined) throw required('KeyStorePassword', type);
        await authorizedAccount(ctx);
        return { CustomKeyStoreId: await need().createHsm({ name, clusterId, trustAnchor, password }) };
      }
      const misplaced = present(input, HSM_FIELDS);
      if (misplaced.length) throw notFor(misplaced, type);
      const uriEndpoint = patterned(input, 'XksProxyUriEndpoint', URI_ENDPOINT, '^https://[a-zA-Z0-9.-]+$', { min: 10, max: 128 });
      const uriPath = patterned(input, 'XksProxyUriPath', URI_PATH, '^(/[a-zA-Z0-9\\/_-]+/kms/xks/v\\d{1,2})$|^(/kms/xks/v\\d{1,2})$', { min: 10, max: 128 });
      const credential = credentialOf(input);
      const connectivity = connectivityOf(input);
      if (uriEndpoint === undefined) throw required('XksProxyUriEndpoint', type);
      if (uriPath === undefined) throw required('XksProxyUriPath', type);
      if (credential === undefined) throw required('XksProxyAuthenticationCredential', type);
      if (connectivity === undefined) throw required('XksProxyConnectivity', type);
      await authorizedAccount(ctx);
      return { CustomKeyStoreId: await need().createXks(ctx, { name, uriEndpoint, uriPath, ...credential }) };
    },

    async DescribeCustomKeyStores(ctx: CallContext, input: In): Promise<W<K.DescribeCustomKeyStoresResponse>> {
      const id = str(input, 'CustomKeyStoreId', { min: 1, max: 64 });
      const name = str(input, 'CustomKeyStoreName', { min: 1, max: 256 });
      const limit = int(input, 'Limit', { min: 1, max: 1000 }) ?? 100;
      const marker = decodeMarker(str(input, 'Marker', { min: 1, max: 1024 }));
      if (id !== undefined && name !== undefined) throw new ValidationException('Specify either CustomKeyStoreId or CustomKeyStoreName, not both.');
      await authorizedAccount(ctx);
      if (!stores) {
        if (id !== undefined || name !== undefined) throw new AwsError('CustomKeyStoreNotFoundException', 400, `Custom key store ${id ?? name} does not exist in this account and Region.`);
        return { CustomKeyStores: [], Truncated: false };
      }
      if (id !== undefined || name !== undefined) {
        const s = id !== undefined ? await stores.get(id) : await stores.byName(name!);
        if (!s) throw new AwsError('CustomKeyStoreNotFoundException', 400, `Custom key store ${id ?? name} does not exist in this account and Region.`);
        return { CustomKeyStores: [customKeyStoreEntry(s)], Truncated: false };
      }
      const all = await stores.list(limit, marker);
      const truncated = all.length > limit;
      const shown = all.slice(0, limit);
      return { CustomKeyStores: shown.map(customKeyStoreEntry), Truncated: truncated, ...(truncated ? { NextMarker: encodeMarker(shown[shown.length - 1]!.id) } : {}) };
    },

    async UpdateCustomKeyStore(ctx: CallContext, input: In): Promise<W<K.UpdateCustomKeyStoreResponse>> {
      const id = storeId(input);
      const name = str(input, 'NewCustomKeyStoreName', { min: 1, max: 256 });
      const password = str(input, 'KeyStorePassword', { min: 7, max: 32 });
      const clusterId = patterned(input, 'CloudHsmClusterId', CLUSTER_ID, 'cluster-[2-7a-zA-Z]{11,16}', { min: 19, max: 24 });
      const uriEndpoint = patterned(input, 'XksProxyUriEndpoint', URI_ENDPOINT, '^https://[a-zA-Z0-9.-]+$', { min: 10, max: 128 });
      const uriPath = patterned(input, 'XksProxyUriPath', URI_PATH, '^(/[a-zA-Z0-9\\/_-]+/kms/xks/v\\d{1,2})$|^(/kms/xks/v\\d{1,2})$', { min: 10, max: 128 });
      const credential = credentialOf(input);
      connectivityOf(input);
      await authorizedAccount(ctx);
      const s = need();
      const store = await s.require(id);
      const misplaced = present(input, store.type === 'AWS_CLOUDHSM' ? XKS_FIELDS : ['CloudHsmClusterId', 'KeyStorePassword']);
      if (misplaced.length) throw notFor(misplaced, store.type);
      await s.update(ctx, id, {
        ...(name !== undefined ? { name } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(clusterId !== undefined ? { clusterId } : {}),
        ...(uriEndpoint !== undefined ? { uriEndpoint } : {}),
        ...(uriPath !== undefined ? { uriPath } : {}),
        ...(credential !== undefined ? { credential } : {}),
      });
      return {};
    },

    async ConnectCustomKeyStore(ctx: CallContext, input: In): Promise<W<K.ConnectCustomKeyStoreResponse>> {
      const id = storeId(input);
      await authorizedAccount(ctx);
      await need().connect(ctx, id);
      return {};
    },

    async DisconnectCustomKeyStore(ctx: CallContext, input: In): Promise<W<K.DisconnectCustomKeyStoreResponse>> {
      const id = storeId(input);
      await authorizedAccount(ctx);
      await need().disconnect(id);
      return {};
    },

    async DeleteCustomKeyStore(ctx: CallContext, input: In): Promise<W<K.DeleteCustomKeyStoreResponse>> {
      const id = storeId(input);
      await authorizedAccount(ctx);
      await need().delete(id);
      return {};
    },
  };
}
