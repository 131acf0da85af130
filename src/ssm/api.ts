import type * as S from '@aws-sdk/client-ssm';
import type { CallContext, JsonService } from '../server/service.ts';
import type { Database } from '../store/database.ts';
import type { KmsServiceClient } from '../kms/service-client.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { lowerCamel } from '../trail/event.ts';
import { UniqueViolation } from '../store/database.ts';
import { bool, int, oneOf, str } from '../wire/validate.ts';
import { ValidationError } from '../wire/validate.ts';
import { AwsError } from '../wire/errors.ts';
import {
  InvalidFilterKey,
  InvalidFilterOption,
  InvalidFilterValue,
  InvalidNextToken,
  InvalidResourceId,
  InvalidResourceType,
  kmsFailure,
  ParameterAlreadyExists,
  ParameterLimitExceeded,
  ParameterMaxVersionLimitExceeded,
  ParameterNotFound,
  ParameterVersionLabelLimitExceeded,
  ParameterVersionNotFound,
  TooManyTagsError,
  TooManyUpdates,
  ValidationException,
} from './errors.ts';
import { canonicalName, checkName, checkPath, parameterArn, parseRef, underPath, validLabel, MAX_LABEL_LENGTH, type ParameterRef } from './names.ts';
import { checkPattern, compilePattern } from './pattern.ts';
import { parsePolicies, policyList } from './policies.ts';
import { openValue, sealValue } from './secure.ts';
import { ParameterStore, type ParameterRecord, type ParameterType, type Tag, type Tier, type VersionRecord } from './store.ts';
import { ServiceShapes } from '../wire/shapes.ts';
import type { SecretsServiceClient } from '../secrets/service-client.ts';
import { parseSecretReference, secretParameter, SecretReferenceError, type SecretReference } from './secret-reference.ts';

type In = Record<string, unknown>;
type W<T> = JsonWire<T>;

const TYPES = ['String', 'StringList', 'SecureString'] as const;
const TIERS = ['Standard', 'Advanced', 'Intelligent-Tiering'] as const;
const RESOURCE_TYPES = ['Document', 'ManagedInstance', 'MaintenanceWindow', 'Parameter', 'PatchBaseline', 'OpsItem', 'OpsMetadata', 'Automation', 'Association'] as const;
export const STANDARD_MAX_BYTES = 4096;
export const ADVANCED_MAX_BYTES = 8192;
export const MAX_VERSIONS = 100;
export const MAX_LABELS_PER_VERSION = 10;
export const MAX_TAGS = 50;
const STANDARD_PARAMETER_LIMIT = 10_000;
const ADVANCED_PARAMETER_LIMIT = 100_000;
export const DEFAULT_KEY_ALIAS = 'alias/aws/ssm';
const KEY_ID_PATTERN = /^[a-zA-Z0-9:/_-]+$/;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const SWEEP_INTERVAL_MS = 10_000;
const SCAN_BATCH = 200;
const RESOURCE_TYPE = 'AWS::SSM::Parameter';

/** Request fields SSM's CloudTrail events may show: never Value. */
const AUDITED_FIELDS = new Set([
  'Name', 'Names', 'Type', 'Tier', 'KeyId', 'WithDecryption', 'Overwrite', 'Labels', 'ParameterVersion', 'Path', 'Recursive',
  'ParameterFilters', 'Filters', 'MaxResults', 'ResourceType', 'ResourceId', 'TagKeys', 'Tags', 'DataType', 'Description',
  'AllowedPattern', 'Policies', 'Shared',
]);
const READ_ONLY = /^(Get|Describe|List)/;

function auditedRequest(input: unknown): Record<string, unknown> | null {
  if (!input || typeof input !== 'object') return null;
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input as In)) if (AUDITED_FIELDS.has(k)) kept[k] = v;
  return Object.keys(kept).length ? (lowerCamel(kept) as Record<string, unknown>) : null;
}

function auditedResponse(op: string, output: unknown): Record<string, unknown> | null {
  if (!output || typeof output !== 'object') return null;
  const o = output as In;
  if (op === 'PutParameter') return { version: o['Version'], tier: o['Tier'] };
  if (op === 'LabelParameterVersion' || op === 'UnlabelParameterVersion' || op === 'DeleteParameters') return lowerCamel(o) as Record<string, unknown>;
  return null;
}

const seconds = (ms: number): number => ms / 1000;

interface Filter {
  key: string;
  option: string;
  values: string[];
}

export interface SsmDeps {
  db: Database;
  kms: KmsServiceClient;
  /** Secrets Manager, for /aws/reference/secretsmanager/ parameters (without it they are not found). */
  secrets?: SecretsServiceClient;
  accountId: string;
  region: string;
  now?: () => number;
}

/**
 * AWS Systems Manager Parameter Store: String, StringList and SecureString parameters with versions,
 * labels, tags, tiers and Expiration policies. Every operation checks `ssm:<Operation>` against the
 * parameter's ARN itself; SecureString values are encrypted and decrypted through KMS on the caller's
 * behalf (secure.ts), so each use of a key shows in the audit trail as a KMS event invoked by SSM.
 */
export function ssmService(deps: SsmDeps): JsonService {
  const { kms, accountId, region } = deps;
  const now = deps.now ?? Date.now;
  const store = new ParameterStore(deps.db);
  let nextSweep = 0;

  const arnOf = (name: string): string => parameterArn(region, accountId, name);
  const live = (p: ParameterRecord | undefined): p is ParameterRecord => p !== undefined && (p.expiresAt === null || p.expiresAt > now());

  function touch(ctx: CallContext, arn: string): void {
    if (!ctx.resources.some((r) => r.ARN === arn)) ctx.resources.push({ ARN: arn, accountId, type: RESOURCE_TYPE });
  }

  async function authorize(ctx: CallContext, action: string, arn: string, context: Record<string, string | string[] | undefined> = {}): Promise<void> {
    if (arn !== '*') touch(ctx, arn);
    await ctx.authorize({ action: `ssm:${action}`, resource: arn, mode: 'identity', context });
  }

  /** Expiration policies: parameters whose time has come are deleted (reads already treat them as gone). */
  async function sweep(): Promise<void> {
    const t = now();
    if (t < nextSweep) return;
    nextSweep = t + SWEEP_INTERVAL_MS;
    for (const name of await store.expiredNames(t)) {
      await store.db.transaction(async (tx) => {
        const p = await store.parameter(name, tx);
        if (p && p.expiresAt !== null && p.expiresAt <= t) await store.remove(tx, name);
      });
    }
  }

  async function findLive(ref: ParameterRef): Promise<ParameterRecord | undefined> {
    for (const name of ref.candidates) {
      const p = await store.parameter(name);
      if (live(p)) return p;
    }
    return undefined;
  }

  /** The name a parameter is stored under: a root-level one stored before names were canonical may keep its slash. */
  async function storedName(name: string): Promise<string> {
    if (name.includes('/') || live(await store.parameter(name))) return name;
    return live(await store.parameter(`/${name}`)) ? `/${name}` : name;
  }

  /**
   * A Secrets Manager secret read through Parameter Store (/aws/reference/secretsmanager/<secret>[:version or stage]),
   * as AWS answers it: only with decryption, the caller needing ssm:<operation> on the reference's ARN and
   * secretsmanager:GetSecretValue on the secret; the read is a GetSecretValue of its own in the audit trail, invoked by
   * SSM. Parameter Store keeps nothing of the secret.
   */
  async function referencedSecret(ctx: CallContext, ref: SecretReference, decrypt: boolean, operation: 'GetParameter' | 'GetParameters'): Promise<W<S.Parameter>> {
    if (!decrypt) throw new ValidationException('WithDecryption flag must be True for retrieving a Secret Manager secret.');
    await authorize(ctx, operation, arnOf(ref.name));
    if (!deps.secrets) throw ref.notFound();
    try {
      return secretParameter(ref, await deps.secrets.getSecretValue(ctx, 'ssm', ref.request));
    } catch (err) {
      throw ref.failure(err);
    }
  }

  /** The version a reference selects; undefined when the selector names nothing (GetParameters lists it as invalid). */
  async function selectVersion(p: ParameterRecord, ref: ParameterRef): Promise<{ version?: VersionRecord; error?: Error }> {
    const sel = ref.selector;
    if (!sel) return { version: (await store.version(p.name, p.currentVersion))! };
    if ('version' in sel) {
      const v = await store.version(p.name, sel.version);
      return v ? { version: v } : { error: new ParameterVersionNotFound(p.name, sel.version) };
    }
    const v = (await store.versions(p.name)).find((x) => x.labels.includes(sel.label));
    return v ? { version: v } : { error: new ParameterNotFound(`${p.name}${ref.selectorText}`) };
  }

  /** The Value a read returns: the text, or for SecureString the ciphertext (base64) unless decryption was asked for. */
  async function valueOf(ctx: CallContext, p: ParameterRecord, v: VersionRecord, decrypt: boolean): Promise<string> {
    if (v.type !== 'SecureString') return v.value.toString('utf8');
    if (!decrypt) return v.value.toString('base64');
    const plaintext = await openValue(kms, ctx, v.tier, v.value, p.arn);
    try {
      return plaintext.toString('utf8');
    } finally {
      plaintext.fill(0);
    }
  }

  function parameterShape(p: ParameterRecord, v: VersionRecord, value: string, selectorText?: string): W<S.Parameter> {
    return {
      Name: p.name,
      Type: v.type,
      Value: value,
      Version: v.version,
      ...(selectorText ? { Selector: selectorText } : {}),
      LastModifiedDate: seconds(v.lastModifiedAt),
      ARN: p.arn,
      DataType: v.dataType,
    };
  }

  function metadataShape(p: ParameterRecord, v: VersionRecord): W<S.ParameterMetadata> {
    return {
      Name: p.name,
      ARN: p.arn,
      Type: p.type,
      ...(v.keyId ? { KeyId: v.keyId } : {}),
      LastModifiedDate: seconds(p.lastModifiedAt),
      LastModifiedUser: p.lastModifiedUser,
      ...(v.description ? { Description: v.description } : {}),
      ...(v.allowedPattern ? { AllowedPattern: v.allowedPattern } : {}),
      Version: p.currentVersion,
      Tier: p.tier,
      Policies: policyList(v.policies),
      DataType: p.dataType,
    };
  }

  function historyShape(p: ParameterRecord, v: VersionRecord, value: string): W<S.ParameterHistory> {
    return {
      Name: p.name,
      Type: v.type,
      ...(v.keyId ? { KeyId: v.keyId } : {}),
      LastModifiedDate: seconds(v.lastModifiedAt),
      LastModifiedUser: v.lastModifiedUser,
      ...(v.description ? { Description: v.description } : {}),
      Value: value,
      ...(v.allowedPattern ? { AllowedPattern: v.allowedPattern } : {}),
      Version: v.version,
      Labels: v.labels,
      Tier: v.tier,
      Policies: policyList(v.policies),
      DataType: v.dataType,
    };
  }

  function encodeToken(op: string, cursor: string | number): string {
    return Buffer.from(JSON.stringify({ o: op, c: cursor })).toString('base64url');
  }

  function decodeToken(input: In, op: string): string | number | undefined {
    const t = input['NextToken'];
    if (t === undefined || t === null) return undefined;
    if (typeof t !== 'string') throw new InvalidNextToken();
    try {
      const v = JSON.parse(Buffer.from(t, 'base64url').toString('utf8')) as { o?: unknown; c?: unknown };
      if (v.o === op && (typeof v.c === 'string' || typeof v.c === 'number')) return v.c;
    } catch {
      /* fall through */
    }
    throw new InvalidNextToken();
  }

  function nameOf(input: In, field = 'Name'): string {
    return str(input, field, { required: true, min: 1, max: 2048 });
  }

  function namesOf(input: In): string[] {
    const v = input['Names'];
    if (v === undefined || v === null) throw new ValidationError("1 validation error detected: Value null at 'names' failed to satisfy constraint: Member must not be null");
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ValidationException('Names must be a list of parameter names.');
    if (v.length < 1 || v.length > 10) throw new ValidationException("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10");
    return [...new Set(v as string[])];
  }

  function labelsOf(input: In): string[] {
    const v = input['Labels'];
    if (v === undefined || v === null) throw new ValidationError("1 validation error detected: Value null at 'labels' failed to satisfy constraint: Member must not be null");
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ValidationException('Labels must be a list of strings.');
    if (v.length < 1 || v.length > MAX_LABELS_PER_VERSION) {
      throw new ValidationException(`1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length between 1 and ${MAX_LABELS_PER_VERSION}`);
    }
    for (const l of v as string[]) {
      if (l.length < 1 || l.length > MAX_LABEL_LENGTH) throw new ValidationException(`Labels must be 1 to ${MAX_LABEL_LENGTH} characters long.`);
    }
    return [...new Set(v as string[])];
  }

  function readTags(input: In, field: string): Tag[] | undefined {
    const v = input[field];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw new ValidationException(`${field} must be a list of tags.`);
    if (v.length > 1000) throw new ValidationException(`1 validation error detected: Value at '${field.toLowerCase()}' failed to satisfy constraint: Member must have length less than or equal to 1000`);
    const byKey = new Map<string, string>();
    for (const t of v) {
      const tag = (t ?? {}) as In;
      const key = str(tag, 'Key', { required: true, min: 1, max: 128 });
      const value = str(tag, 'Value', { required: true, min: 0, max: 256 });
      if (!TAG_TEXT.test(key) || !TAG_TEXT.test(value)) throw new ValidationException('Tag keys and values may contain only letters, numbers, spaces and _ . : / = + - @.');
      if (key.toLowerCase().startsWith('aws:')) throw new ValidationException("Tag keys beginning with 'aws:' are reserved for AWS use.");
      byKey.set(key, value);
    }
    return [...byKey].map(([Key, Value]) => ({ Key, Value }));
  }

  function requestTagContext(tags: Tag[]): Record<string, string | string[]> {
    const c: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((t) => t.Key) };
    for (const t of tags) c[`aws:RequestTag/${t.Key}`] = t.Value;
    return c;
  }

  /** ParameterFilters for DescribeParameters ('describe') or GetParametersByPath ('path'), checked as SSM checks them. */
  function readFilters(input: In, mode: 'describe' | 'path'): Filter[] {
    const raw = input['ParameterFilters'];
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) throw new ValidationException('ParameterFilters must be a list.');
    return raw.map((f) => {
      const filter = (f ?? {}) as In;
      const key = str(filter, 'Key', { required: true, min: 1, max: 132 });
      const option = str(filter, 'Option', { min: 1, max: 10 });
      const valuesRaw = filter['Values'];
      if (valuesRaw !== undefined && valuesRaw !== null && (!Array.isArray(valuesRaw) || valuesRaw.some((x) => typeof x !== 'string' || x.length < 1 || x.length > 1024))) {
        throw new InvalidFilterValue('Filter values must be strings of 1 to 1024 characters.');
      }
      const values = (valuesRaw ?? []) as string[];
      if (values.length > 50) throw new InvalidFilterValue('A filter can have at most 50 values.');
      const isTag = key.startsWith('tag:') && key.length > 4;
      const keys = mode === 'describe' ? ['Name', 'Type', 'KeyId', 'Path', 'Tier', 'DataType'] : ['Type', 'KeyId', 'Label'];
      if (!(keys.includes(key) || (isTag && mode === 'describe'))) {
        throw new InvalidFilterKey(
          mode === 'describe'
            ? `The filter key ${key} is not valid for DescribeParameters: use Name, Type, KeyId, Path, Tier, DataType or tag:<key>.`
            : `The filter key ${key} is not valid for GetParametersByPath: use Type, KeyId or Label.`,
        );
      }
      const options = key === 'Path' ? ['Recursive', 'OneLevel'] : key === 'Label' ? ['Equals'] : key === 'Name' ? ['Equals', 'BeginsWith', 'Contains'] : ['Equals', 'BeginsWith'];
      const chosen = option ?? (key === 'Path' ? 'OneLevel' : 'Equals');
      if (!options.includes(chosen)) throw new InvalidFilterOption(`The filter option ${chosen} is not valid for key ${key}: use ${options.join(' or ')}.`);
      if (!isTag && values.length === 0) throw new InvalidFilterValue(`The filter ${key} needs at least one value.`);
      if (key === 'Type' && chosen === 'Equals') for (const x of values) if (!(TYPES as readonly string[]).includes(x)) throw new InvalidFilterValue(`${x} is not a parameter type: use String, StringList or SecureString.`);
      if (key === 'Tier' && chosen === 'Equals') for (const x of values) if (x !== 'Standard' && x !== 'Advanced') throw new InvalidFilterValue(`${x} is not a parameter tier: use Standard or Advanced.`);
      let checked = values;
      if (key === 'Path') {
        checked = values.map((x) => {
          try {
            return checkPath(x);
          } catch (err) {
            throw new InvalidFilterValue(`The Path filter value ${x} is not valid: ${(err as Error).message}`);
          }
        });
      }
      return { key, option: chosen, values: checked };
    });
  }

  function textMatches(value: string | null | undefined, f: Filter): boolean {
    if (value === null || value === undefined) return false;
    if (f.option === 'BeginsWith') return f.values.some((x) => value.startsWith(x));
    if (f.option === 'Contains') return f.values.some((x) => value.includes(x));
    return f.values.includes(value);
  }

  function metadataMatches(p: ParameterRecord, v: VersionRecord, f: Filter): boolean {
    switch (f.key) {
      case 'Name':
        return textMatches(p.name, f) || (!p.name.startsWith('/') && textMatches(`/${p.name}`, f)) || textMatches(canonicalName(p.name), f);
      case 'Type':
        return textMatches(p.type, f);
      case 'KeyId':
        return textMatches(v.keyId, f);
      case 'Tier':
        return textMatches(p.tier, f);
      case 'DataType':
        return textMatches(p.dataType, f);
      case 'Path':
        return f.values.some((path) => underPath(p.name, path, f.option === 'Recursive'));
      default: {
        const tag = p.tags.find((t) => t.Key === f.key.slice(4));
        return tag !== undefined && (f.values.length === 0 || textMatches(tag.Value, f));
      }
    }
  }

  /**
   * Parameters in name order after `after`, accepted by `accept`, at most `max` of them; `next` is set when
   * more would follow. Expired parameters are skipped.
   */
  async function scan<T>(after: string | undefined, max: number, prefix: string | undefined, accept: (p: ParameterRecord) => Promise<T | undefined>): Promise<{ items: T[]; next?: string }> {
    const items: T[] = [];
    let cursor = after;
    let last: string | undefined;
    for (;;) {
      const batch = await store.page(cursor, SCAN_BATCH, prefix);
      for (const p of batch) {
        if (!live(p)) continue;
        const x = await accept(p);
        if (x === undefined) continue;
        if (items.length === max) return { items, next: last! };
        items.push(x);
        last = p.name;
      }
      if (batch.length < SCAN_BATCH) return { items };
      cursor = batch[batch.length - 1]!.name;
    }
  }

  const operations: Record<string, (ctx: CallContext, input: In) => Promise<unknown>> = {
    async PutParameter(ctx, input): Promise<W<S.PutParameterResult>> {
      const name = await storedName(checkName(nameOf(input), region, accountId, { creating: true }));
      const value = str(input, 'Value', { required: true });
      if (value.length === 0) throw new ValidationException("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1");
      const type = oneOf(input, 'Type', TYPES);
      const keyIdIn = str(input, 'KeyId', { min: 1, max: 256 });
      if (keyIdIn !== undefined && !KEY_ID_PATTERN.test(keyIdIn)) {
        throw new ValidationException("1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-zA-Z0-9:/_-]+)$");
      }
      const overwrite = bool(input, 'Overwrite') ?? false;
      const descriptionIn = str(input, 'Description', { min: 0, max: 1024 });
      const patternIn = str(input, 'AllowedPattern', { min: 0, max: 1024 });
      const tierIn = oneOf(input, 'Tier', TIERS);
      const policiesIn = str(input, 'Policies', { min: 1, max: 4096 });
      const dataTypeIn = str(input, 'DataType', { min: 0, max: 128 });
      const tags = readTags(input, 'Tags');
      if (tags && overwrite) {
        throw new ValidationException('Tags and Overwrite cannot be used together: to change the tags of an existing parameter, use AddTagsToResource and RemoveTagsFromResource.');
      }
      if (tags && tags.length > MAX_TAGS) throw new TooManyTagsError(MAX_TAGS);
      const braces = value.indexOf('{{');
      if (braces >= 0 && value.indexOf('}}', braces + 2) >= 0) throw new ValidationException('Parameter values cannot contain references wrapped in double braces ({{ }}).');
      const arn = arnOf(name);
      await authorize(ctx, 'PutParameter', arn, { 'ssm:Overwrite': String(overwrite), ...(tags ? requestTagContext(tags) : {}) });

      const existing = await store.parameter(name);
      const current = live(existing) ? existing : undefined;
      const currentVersion = current ? await store.version(current.name, current.currentVersion) : undefined;
      if (current && !overwrite) throw new ParameterAlreadyExists();
      if (!current && type === undefined) throw new ValidationException('A parameter type is required when you create a parameter.');
      const finalType: ParameterType = type ?? current!.type;
      if (keyIdIn !== undefined && finalType !== 'SecureString') throw new ValidationException('KeyId applies to SecureString parameters only.');
      const dataType = dataTypeIn ?? currentVersion?.dataType ?? 'text';
      if (dataType !== 'text') {
        throw new ValidationException(`The data type ${dataType} is not supported: Trent stores text parameters (aws:ec2:image and aws:ssm:integration need EC2 and integrations it does not have).`);
      }
      // Omitted fields carry over from the current version, as on AWS; an empty policy list clears policies.
      const description = descriptionIn ?? currentVersion?.description ?? null;
      const allowedPattern = patternIn ?? currentVersion?.allowedPattern ?? null;
      const policies = policiesIn !== undefined ? parsePolicies(policiesIn, now()) : { stored: currentVersion?.policies ?? null, count: currentVersion?.policies ? 1 : 0, expiresAt: current?.expiresAt ?? null };

      const bytes = Buffer.byteLength(value, 'utf8');
      const requestedTier = tierIn ?? current?.tier ?? 'Standard';
      const needsAdvanced = bytes > STANDARD_MAX_BYTES || policies.count > 0;
      let tier: Tier;
      if (requestedTier === 'Intelligent-Tiering') {
        tier = current?.tier === 'Advanced' || needsAdvanced || (!current && (await store.countByTier('Standard')) >= STANDARD_PARAMETER_LIMIT) ? 'Advanced' : 'Standard';
      } else {
        tier = requestedTier;
      }
      if (tier === 'Standard') {
        if (current?.tier === 'Advanced') {
          throw new ValidationException("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier: delete it and create it again.");
        }
        if (bytes > STANDARD_MAX_BYTES) {
          throw new ValidationException(`Standard tier parameters support a maximum parameter value of ${STANDARD_MAX_BYTES} bytes. To store a larger value, use the advanced-parameter tier.`);
        }
        if (policies.count > 0) throw new ValidationException('Parameter policies are supported only for advanced-tier parameters: use Tier Advanced or Intelligent-Tiering.');
      }
      if (bytes > ADVANCED_MAX_BYTES) throw new ValidationException(`Advanced tier parameters support a maximum parameter value of ${ADVANCED_MAX_BYTES} bytes.`);
      if (allowedPattern) checkPattern(allowedPattern, value);
      else if (patternIn !== undefined) compilePattern(patternIn);

      let keyId: string | null = null;
      let stored: Buffer;
      if (finalType === 'SecureString') {
        keyId = keyIdIn ?? (currentVersion?.type === 'SecureString' ? currentVersion.keyId : null) ?? DEFAULT_KEY_ALIAS;
        if (keyId === DEFAULT_KEY_ALIAS) {
          // The AWS managed key comes into being on first use.
          try {
            await kms.resolveArn(undefined, 'ssm');
          } catch (err) {
            throw kmsFailure(err);
          }
        }
        const plaintext = Buffer.from(value, 'utf8');
        try {
          stored = await sealValue(kms, ctx, tier, keyId, arn, plaintext);
        } finally {
          plaintext.fill(0);
        }
      } else {
        stored = Buffer.from(value, 'utf8');
      }

      const at = now();
      const user = ctx.principal.arn;
      const version = (current?.currentVersion ?? 0) + 1;
      try {
        await store.db.transaction(async (tx) => {
          const again = await store.parameter(name, tx);
          const againLive = again && (again.expiresAt === null || again.expiresAt > at) ? again : undefined;
          if ((againLive?.currentVersion ?? 0) !== (current?.currentVersion ?? 0)) throw new TooManyUpdates();
          if (again && !againLive) await store.remove(tx, name);
          if (!againLive) {
            const limit = tier === 'Standard' ? STANDARD_PARAMETER_LIMIT : ADVANCED_PARAMETER_LIMIT;
            if ((await store.countByTier(tier, tx)) >= limit) throw new ParameterLimitExceeded(tier, limit);
          } else {
            const kept = await store.versionLabels(name, tx);
            if (kept.length >= MAX_VERSIONS) {
              const oldest = kept[0]!;
              if (oldest.labels.length > 0) throw new ParameterMaxVersionLimitExceeded(name, oldest.version);
              await store.deleteVersion(tx, name, oldest.version);
            }
          }
          const record: ParameterRecord = {
            name,
            arn,
            type: finalType,
            tier,
            dataType,
            currentVersion: version,
            tags: againLive ? againLive.tags : (tags ?? []),
            lastModifiedAt: at,
            lastModifiedUser: user,
            expiresAt: policies.expiresAt,
          };
          if (againLive) await store.updateParameter(tx, record);
          else await store.insertParameter(tx, record);
          await store.insertVersion(tx, {
            name,
            version,
            type: finalType,
            tier,
            dataType,
            value: stored,
            keyId,
            description,
            allowedPattern,
            policies: policies.stored,
            labels: [],
            lastModifiedAt: at,
            lastModifiedUser: user,
          });
        });
      } catch (err) {
        if (err instanceof UniqueViolation) throw current ? new TooManyUpdates() : new ParameterAlreadyExists();
        throw err;
      }
      return { Version: version, Tier: tier };
    },

    async GetParameter(ctx, input): Promise<W<S.GetParameterResult>> {
      const decrypt = bool(input, 'WithDecryption') ?? false;
      const secretRef = parseSecretReference(nameOf(input));
      if (secretRef) return { Parameter: await referencedSecret(ctx, secretRef, decrypt, 'GetParameter') };
      const ref = parseRef(nameOf(input), region, accountId);
      await authorize(ctx, 'GetParameter', ref.arn);
      const p = await findLive(ref);
      if (!p) throw new ParameterNotFound(ref.given);
      const { version, error } = await selectVersion(p, ref);
      if (!version) throw error!;
      return { Parameter: parameterShape(p, version, await valueOf(ctx, p, version, decrypt), ref.selectorText) };
    },

    async GetParameters(ctx, input): Promise<W<S.GetParametersResult>> {
      const names = namesOf(input);
      const decrypt = bool(input, 'WithDecryption') ?? false;
      const refs: ParameterRef[] = [];
      const secretRefs: Array<{ given: string; ref?: SecretReference }> = [];
      const invalid: string[] = [];
      for (const n of names) {
        try {
          const secretRef = parseSecretReference(n);
          if (secretRef) secretRefs.push({ given: n, ref: secretRef });
          else refs.push(parseRef(n, region, accountId));
        } catch (err) {
          if (err instanceof SecretReferenceError) secretRefs.push({ given: n });
          else if (!(err instanceof AwsError) || err.status >= 500) throw err;
          else invalid.push(n);
        }
      }
      for (const ref of refs) await authorize(ctx, 'GetParameters', ref.arn);
      const found: Array<W<S.Parameter>> = [];
      // A reference that cannot be answered (malformed, no decryption, no such secret or version) is an invalid parameter.
      for (const { given, ref } of secretRefs) {
        if (!ref) {
          invalid.push(given);
          continue;
        }
        try {
          found.push(await referencedSecret(ctx, ref, decrypt, 'GetParameters'));
        } catch (err) {
          if (!(err instanceof AwsError) || err.status >= 500 || err.code === 'AccessDeniedException') throw err;
          invalid.push(given);
        }
      }
      for (const ref of refs) {
        const p = await findLive(ref);
        const version = p ? (await selectVersion(p, ref)).version : undefined;
        if (!p || !version) {
          invalid.push(ref.given);
          continue;
        }
        found.push(parameterShape(p, version, await valueOf(ctx, p, version, decrypt), ref.selectorText));
      }
      found.sort((a, b) => (a.Name! < b.Name! ? -1 : a.Name! > b.Name! ? 1 : 0));
      return { Parameters: found, InvalidParameters: invalid };
    },

    async GetParametersByPath(ctx, input): Promise<W<S.GetParametersByPathResult>> {
      const path = checkPath(nameOf(input, 'Path'));
      const recursive = bool(input, 'Recursive') ?? false;
      const decrypt = bool(input, 'WithDecryption') ?? false;
      const filters = readFilters(input, 'path');
      const max = int(input, 'MaxResults', { min: 1, max: 10 }) ?? 10;
      const after = decodeToken(input, 'GetParametersByPath');
      if (after !== undefined && typeof after !== 'string') throw new InvalidNextToken();
      await authorize(ctx, 'GetParametersByPath', arnOf(path), { 'ssm:Recursive': String(recursive) });
      const labelFilter = filters.find((f) => f.key === 'Label');
      const page = await scan(after, max, path === '/' ? undefined : `${path}/`, async (p) => {
        if (!underPath(p.name, path, recursive)) return undefined;
        let v: VersionRecord | undefined;
        if (labelFilter) {
          v = (await store.versions(p.name)).find((x) => x.labels.some((l) => labelFilter.values.includes(l)));
          if (!v) return undefined;
        } else {
          v = (await store.version(p.name, p.currentVersion))!;
        }
        for (const f of filters) {
          if (f.key === 'Type' && !textMatches(v.type, f)) return undefined;
          if (f.key === 'KeyId' && !textMatches(v.keyId, f)) return undefined;
        }
        return { p, v };
      });
      const parameters: Array<W<S.Parameter>> = [];
      for (const { p, v } of page.items) parameters.push(parameterShape(p, v, await valueOf(ctx, p, v, decrypt)));
      return { Parameters: parameters, ...(page.next !== undefined ? { NextToken: encodeToken('GetParametersByPath', page.next) } : {}) };
    },

    async DescribeParameters(ctx, input): Promise<W<S.DescribeParametersResult>> {
      const filters = readFilters(input, 'describe');
      const legacy = input['Filters'];
      if (legacy !== undefined && legacy !== null) {
        if (filters.length) throw new ValidationException('Use either Filters or ParameterFilters, not both.');
        if (!Array.isArray(legacy)) throw new ValidationException('Filters must be a list.');
        for (const f of legacy) {
          const lf = (f ?? {}) as In;
          const key = oneOf(lf, 'Key', ['Name', 'Type', 'KeyId'] as const);
          const values = lf['Values'];
          if (key === undefined) throw new InvalidFilterKey('Each filter needs a Key: Name, Type or KeyId.');
          if (!Array.isArray(values) || values.length === 0 || values.some((x) => typeof x !== 'string')) throw new InvalidFilterValue(`The filter ${key} needs at least one value.`);
          filters.push({ key, option: 'Equals', values: values as string[] });
        }
      }
      const max = int(input, 'MaxResults', { min: 1, max: 50 }) ?? 50;
      const after = decodeToken(input, 'DescribeParameters');
      if (after !== undefined && typeof after !== 'string') throw new InvalidNextToken();
      await authorize(ctx, 'DescribeParameters', '*');
      // Trent shares no parameters across accounts: the shared view is always empty.
      if (bool(input, 'Shared')) return { Parameters: [] };
      const page = await scan(after, max, undefined, async (p) => {
        const v = (await store.version(p.name, p.currentVersion))!;
        return filters.every((f) => metadataMatches(p, v, f)) ? metadataShape(p, v) : undefined;
      });
      return { Parameters: page.items, ...(page.next !== undefined ? { NextToken: encodeToken('DescribeParameters', page.next) } : {}) };
    },

    async GetParameterHistory(ctx, input): Promise<W<S.GetParameterHistoryResult>> {
      const ref = parseRef(nameOf(input), region, accountId);
      if (ref.selector) throw new ValidationException('GetParameterHistory takes a parameter name without a version or label selector.');
      const decrypt = bool(input, 'WithDecryption') ?? false;
      const max = int(input, 'MaxResults', { min: 1, max: 50 }) ?? 50;
      const after = decodeToken(input, 'GetParameterHistory');
      if (after !== undefined && typeof after !== 'number') throw new InvalidNextToken();
      await authorize(ctx, 'GetParameterHistory', ref.arn);
      const p = await findLive(ref);
      if (!p) throw new ParameterNotFound(ref.given);
      const versions = (await store.versions(p.name)).filter((v) => after === undefined || v.version > after);
      const shown = versions.slice(0, max);
      const out: Array<W<S.ParameterHistory>> = [];
      for (const v of shown) out.push(historyShape(p, v, await valueOf(ctx, p, v, decrypt)));
      const more = versions.length > max;
      return { Parameters: out, ...(more ? { NextToken: encodeToken('GetParameterHistory', shown[shown.length - 1]!.version) } : {}) };
    },

    async DeleteParameter(ctx, input): Promise<W<S.DeleteParameterResult>> {
      const name = await storedName(checkName(nameOf(input), region, accountId));
      await authorize(ctx, 'DeleteParameter', arnOf(name));
      const deleted = await store.db.transaction(async (tx) => {
        const p = await store.parameter(name, tx);
        if (!p) return false;
        await store.remove(tx, name);
        return live(p);
      });
      if (!deleted) throw new ParameterNotFound(name);
      return {};
    },

    async DeleteParameters(ctx, input): Promise<W<S.DeleteParametersResult>> {
      const names = namesOf(input);
      const valid: string[] = [];
      const invalid: string[] = [];
      for (const n of names) {
        let name: string;
        try {
          name = checkName(n, region, accountId);
        } catch {
          invalid.push(n);
          continue;
        }
        valid.push(await storedName(name));
      }
      for (const n of valid) await authorize(ctx, 'DeleteParameters', arnOf(n));
      // The body builds its own lists: on PostgreSQL it can run more than once (retried after a serialization failure).
      const result = await store.db.transaction(async (tx) => {
        const deleted: string[] = [];
        const missing: string[] = [];
        for (const n of valid) {
          const p = await store.parameter(n, tx);
          if (p) await store.remove(tx, n);
          if (live(p)) deleted.push(n);
          else missing.push(n);
        }
        return { deleted, missing };
      });
      return { DeletedParameters: result.deleted, InvalidParameters: [...invalid, ...result.missing] };
    },

    async LabelParameterVersion(ctx, input): Promise<W<S.LabelParameterVersionResult>> {
      const name = await storedName(checkName(nameOf(input), region, accountId));
      const requested = int(input, 'ParameterVersion', { min: 1, max: Number.MAX_SAFE_INTEGER });
      const labels = labelsOf(input);
      await authorize(ctx, 'LabelParameterVersion', arnOf(name));
      const invalid = labels.filter((l) => !validLabel(l));
      const valid = labels.filter((l) => validLabel(l));
      const version = await store.db.transaction(async (tx) => {
        const p = await store.parameter(name, tx);
        if (!live(p)) throw new ParameterNotFound(name);
        const target = requested ?? p.currentVersion;
        const all = await store.versionLabels(name, tx);
        const mine = all.find((v) => v.version === target);
        if (!mine) throw new ParameterVersionNotFound(name, target);
        const next = [...new Set([...mine.labels, ...valid])];
        if (next.length > MAX_LABELS_PER_VERSION) throw new ParameterVersionLabelLimitExceeded(MAX_LABELS_PER_VERSION);
        // A label names one version of a parameter: attaching it here moves it from wherever it was.
        for (const other of all) {
          if (other.version === target) continue;
          const kept = other.labels.filter((l) => !valid.includes(l));
          if (kept.length !== other.labels.length) await store.setLabels(tx, name, other.version, kept);
        }
        if (next.length !== mine.labels.length) await store.setLabels(tx, name, target, next);
        return target;
      });
      return { InvalidLabels: invalid, ParameterVersion: version };
    },

    async UnlabelParameterVersion(ctx, input): Promise<W<S.UnlabelParameterVersionResult>> {
      const name = await storedName(checkName(nameOf(input), region, accountId));
      const target = int(input, 'ParameterVersion', { min: 1, max: Number.MAX_SAFE_INTEGER });
      if (target === undefined) throw new ValidationError("1 validation error detected: Value null at 'parameterVersion' failed to satisfy constraint: Member must not be null");
      const labels = labelsOf(input);
      await authorize(ctx, 'UnlabelParameterVersion', arnOf(name));
      return store.db.transaction(async (tx) => {
        const p = await store.parameter(name, tx);
        if (!live(p)) throw new ParameterNotFound(name);
        const v = (await store.versionLabels(name, tx)).find((x) => x.version === target);
        if (!v) throw new ParameterVersionNotFound(name, target);
        const removed = labels.filter((l) => v.labels.includes(l));
        const invalid = labels.filter((l) => !v.labels.includes(l));
        if (removed.length) await store.setLabels(tx, name, target, v.labels.filter((l) => !removed.includes(l)));
        return { RemovedLabels: removed, InvalidLabels: invalid };
      });
    },

    async AddTagsToResource(ctx, input): Promise<W<S.AddTagsToResourceResult>> {
      const name = await taggable(input);
      const tags = readTags(input, 'Tags');
      if (!tags) throw new ValidationError("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null");
      await authorize(ctx, 'AddTagsToResource', arnOf(name), requestTagContext(tags));
      await store.db.transaction(async (tx) => {
        const p = await store.parameter(name, tx);
        if (!live(p)) throw new InvalidResourceId();
        const merged = new Map(p.tags.map((t) => [t.Key, t.Value]));
        for (const t of tags) merged.set(t.Key, t.Value);
        if (merged.size > MAX_TAGS) throw new TooManyTagsError(MAX_TAGS);
        await store.setTags(tx, name, [...merged].map(([Key, Value]) => ({ Key, Value })));
      });
      return {};
    },

    async RemoveTagsFromResource(ctx, input): Promise<W<S.RemoveTagsFromResourceResult>> {
      const name = await taggable(input);
      const keys = input['TagKeys'];
      if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k.length < 1 || k.length > 128)) {
        throw new ValidationException('TagKeys must be a list of tag keys (1 to 128 characters each).');
      }
      await authorize(ctx, 'RemoveTagsFromResource', arnOf(name), { 'aws:TagKeys': keys as string[] });
      await store.db.transaction(async (tx) => {
        const p = await store.parameter(name, tx);
        if (!live(p)) throw new InvalidResourceId();
        await store.setTags(tx, name, p.tags.filter((t) => !(keys as string[]).includes(t.Key)));
      });
      return {};
    },

    async ListTagsForResource(ctx, input): Promise<W<S.ListTagsForResourceResult>> {
      const name = await taggable(input);
      await authorize(ctx, 'ListTagsForResource', arnOf(name));
      const p = await store.parameter(name);
      if (!live(p)) throw new InvalidResourceId();
      return { TagList: p.tags };
    },
  };

  /** The parameter a tagging request names (ResourceType Parameter, ResourceId its name). */
  async function taggable(input: In): Promise<string> {
    const type = oneOf(input, 'ResourceType', RESOURCE_TYPES);
    if (type === undefined) throw new ValidationError("1 validation error detected: Value null at 'resourceType' failed to satisfy constraint: Member must not be null");
    if (type !== 'Parameter') throw new InvalidResourceType(type);
    const id = str(input, 'ResourceId', { required: true, min: 1 });
    let name: string;
    try {
      name = checkName(id, region, accountId);
    } catch {
      throw new InvalidResourceId();
    }
    return storedName(name);
  }

  // Every call first deletes what Expiration policies have expired (at most every few seconds).
  const swept: Record<string, (ctx: CallContext, input: In) => Promise<unknown>> = {};
  for (const [op, handler] of Object.entries(operations)) {
    swept[op] = async (ctx, input) => {
      await sweep();
      return handler(ctx, input);
    };
  }

  return {
    protocol: 'json',
    shapes: new ServiceShapes('@aws-sdk/client-ssm'),
    signingName: 'ssm',
    eventSource: 'ssm.amazonaws.com',
    targetPrefixes: ['AmazonSSM'],
    maxBodyBytes: 256 * 1024,
    authorization: 'handler',
    operations: swept,
    audit: {
      requestParameters: (_op, input) => auditedRequest(input),
      responseElements: (op, output) => auditedResponse(op, output),
      readOnly: (op) => READ_ONLY.test(op),
    },
  };
}
