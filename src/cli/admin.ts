import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Instance } from '../server/instance.ts';
import { createLogger } from '../server/log.ts';
import type { CallContext } from '../server/service.ts';
import { AccessDeniedError, Authorizer } from '../iam/authorizer.ts';
import { iamService } from '../iam/api.ts';
import { Recorder } from '../trail/recorder.ts';
import { TrailStore } from '../trail/store.ts';
import { eventTime, userIdentity } from '../trail/event.ts';
import { AwsError } from '../wire/errors.ts';
import type { XmlObject } from '../wire/xml.ts';
import { NormalizedSchema } from '@smithy/core/schema';
import type { StaticOperationSchema } from '@smithy/types';
import { DEFAULT_DATA_DIR, pkcs11Settings, rootPassphrase, setting, storeSettings } from './options.ts';

/** trent admin's commands, in the AWS CLI's spelling, and the IAM operations they call. */
export const OPERATIONS: Record<string, string> = {
  'create-user': 'CreateUser',
  'get-user': 'GetUser',
  'list-users': 'ListUsers',
  'delete-user': 'DeleteUser',
  'create-access-key': 'CreateAccessKey',
  'list-access-keys': 'ListAccessKeys',
  'update-access-key': 'UpdateAccessKey',
  'delete-access-key': 'DeleteAccessKey',
  'put-user-policy': 'PutUserPolicy',
  'get-user-policy': 'GetUserPolicy',
  'list-user-policies': 'ListUserPolicies',
  'delete-user-policy': 'DeleteUserPolicy',
  'create-role': 'CreateRole',
  'get-role': 'GetRole',
  'update-assume-role-policy': 'UpdateAssumeRolePolicy',
  'delete-role': 'DeleteRole',
  'put-role-policy': 'PutRolePolicy',
  'get-role-policy': 'GetRolePolicy',
  'list-role-policies': 'ListRolePolicies',
  'delete-role-policy': 'DeleteRolePolicy',
  'list-roles': 'ListRoles',
  'tag-user': 'TagUser',
  'untag-user': 'UntagUser',
  'list-user-tags': 'ListUserTags',
  'tag-role': 'TagRole',
  'untag-role': 'UntagRole',
  'list-role-tags': 'ListRoleTags',
  'put-user-permissions-boundary': 'PutUserPermissionsBoundary',
  'delete-user-permissions-boundary': 'DeleteUserPermissionsBoundary',
  'put-role-permissions-boundary': 'PutRolePermissionsBoundary',
  'delete-role-permissions-boundary': 'DeleteRolePermissionsBoundary',
  'create-group': 'CreateGroup',
  'get-group': 'GetGroup',
  'list-groups': 'ListGroups',
  'list-groups-for-user': 'ListGroupsForUser',
  'delete-group': 'DeleteGroup',
  'add-user-to-group': 'AddUserToGroup',
  'remove-user-from-group': 'RemoveUserFromGroup',
  'put-group-policy': 'PutGroupPolicy',
  'get-group-policy': 'GetGroupPolicy',
  'list-group-policies': 'ListGroupPolicies',
  'delete-group-policy': 'DeleteGroupPolicy',
  'create-policy': 'CreatePolicy',
  'get-policy': 'GetPolicy',
  'list-policies': 'ListPolicies',
  'delete-policy': 'DeletePolicy',
  'create-policy-version': 'CreatePolicyVersion',
  'get-policy-version': 'GetPolicyVersion',
  'list-policy-versions': 'ListPolicyVersions',
  'delete-policy-version': 'DeletePolicyVersion',
  'set-default-policy-version': 'SetDefaultPolicyVersion',
  'attach-user-policy': 'AttachUserPolicy',
  'detach-user-policy': 'DetachUserPolicy',
  'attach-group-policy': 'AttachGroupPolicy',
  'detach-group-policy': 'DetachGroupPolicy',
  'attach-role-policy': 'AttachRolePolicy',
  'detach-role-policy': 'DetachRolePolicy',
  'list-attached-user-policies': 'ListAttachedUserPolicies',
  'list-attached-group-policies': 'ListAttachedGroupPolicies',
  'list-attached-role-policies': 'ListAttachedRolePolicies',
  'list-entities-for-policy': 'ListEntitiesForPolicy',
};

export const ADMIN_USAGE = `trent admin COMMAND [--data-dir DIR] [--option value ...]
  IAM administration without the AWS CLI, acting as the account's admin user (audited like API calls).
  Commands and their options are IAM's, in the AWS CLI's spelling:
    ${Object.keys(OPERATIONS).join(', ')}
  e.g. trent admin create-user --user-name app --tags Key=team,Value=library
       trent admin put-user-policy --user-name app --policy-name kms-use --policy-document file://policy.json
       trent admin create-access-key --user-name app      (prints the secret once)
       trent admin create-policy --policy-name kms-use --policy-document file://policy.json
       trent admin attach-group-policy --group-name staff --policy-arn arn:aws:iam::ACCOUNT:policy/kms-use
       trent admin create-policy-version --policy-arn ARN --policy-document file://v2.json --set-as-default
       trent admin untag-user --user-name app --tag-keys team
  Lists take several values after one option (--tags Key=a,Value=1 Key=b,Value=2; --tag-keys a b);
  an option without a value is true (--set-as-default), --no-OPTION false.
  Root options (--root pkcs11 ..., --root-passphrase-file) as for trent serve.`;

const ROOT_FLAGS = new Set(['root', 'pkcs11-module', 'pkcs11-token', 'pkcs11-pin-file', 'pkcs11-key-label', 'root-passphrase-file', 'data-dir', 'db', 'blobs']);

/** Options whose values are lists in the AWS CLI's spelling (several values after one option). */
const LIST_OPTIONS = new Set(['tags', 'tag-keys']);
/** Boolean options: present means true, --no-NAME false. */
const BOOLEAN_OPTIONS = new Set(['set-as-default', 'only-attached']);

/**
 * --user-name app --policy-document file://p.json -> UserName=app, PolicyDocument=<file content>.
 * --tags Key=a,Value=1 Key=b,Value=2 -> Tags.member.1.Key=a, ...; --tag-keys a b -> TagKeys.member.1=a, ...;
 * --set-as-default -> SetAsDefault=true; --no-set-as-default -> SetAsDefault=false.
 */
function parseOptions(args: string[]): { params: Map<string, string>; flags: Record<string, string> } {
  const params = new Map<string, string>();
  const flags: Record<string, string> = {};
  const pascal = (name: string) => name.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const name = a.slice(2);
    const values: string[] = [];
    while (i + 1 < args.length && !args[i + 1]!.startsWith('--')) values.push(args[++i]!);
    if (ROOT_FLAGS.has(name)) {
      if (values.length !== 1) throw new Error(`--${name} needs a value`);
      flags[name] = values[0]!;
      continue;
    }
    if (LIST_OPTIONS.has(name)) {
      if (values.length === 0) throw new Error(`--${name} needs a value`);
      values.forEach((v, n) => {
        if (name === 'tags') {
          const m = /^Key=([^,]*),Value=(.*)$/.exec(v);
          if (!m) throw new Error(`--tags takes Key=KEY,Value=VALUE, not '${v}'`);
          params.set(`Tags.member.${n + 1}.Key`, m[1]!);
          params.set(`Tags.member.${n + 1}.Value`, m[2]!);
        } else params.set(`${pascal(name)}.member.${n + 1}`, v);
      });
      continue;
    }
    if (values.length > 1) throw new Error(`--${name} takes one value`);
    if (BOOLEAN_OPTIONS.has(name) || (name.startsWith('no-') && BOOLEAN_OPTIONS.has(name.slice(3)))) {
      if (values.length) throw new Error(`--${name} takes no value`);
      params.set(pascal(name.replace(/^no-/, '')), String(!name.startsWith('no-')));
      continue;
    }
    if (values.length === 0) throw new Error(`--${name} needs a value`);
    const value = values[0]!;
    params.set(pascal(name), value.startsWith('file://') ? readFileSync(value.slice(7), 'utf8') : value);
  }
  return { params, flags };
}

export async function admin(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help' || !OPERATIONS[command]) {
    process.stdout.write(ADMIN_USAGE + '\n');
    return command && command !== '--help' && command !== 'help' ? 2 : 0;
  }
  const operation = OPERATIONS[command]!;
  const { params, flags } = parseOptions(rest);
  const dataDir = resolve(setting(flags['data-dir'], 'TRENT_DATA_DIR', DEFAULT_DATA_DIR)!);
  const stores = storeSettings(dataDir, { db: flags['db'], blobs: flags['blobs'] });
  const pkcs11 = pkcs11Settings(flags);
  const passphrase = rootPassphrase(flags['root-passphrase-file']);
  const instance = await Instance.open({ dataDir, beside: true, ...stores, ...(pkcs11 ? { pkcs11 } : {}), ...(passphrase !== undefined ? { rootPassphrase: passphrase } : {}) });
  try {
    const log = createLogger(setting(undefined, 'TRENT_LOG_LEVEL', 'warn'));
    const recorder = new Recorder(new TrailStore(instance.trailDb), log);
    const authorizer = new Authorizer(instance.identities);
    const service = iamService({ db: instance.db, identities: instance.identities, authorizer, accountId: instance.accountId });
    const admin = await instance.identities.resolveAccessKey(instance.adminAccessKeyId);
    if (!admin) throw new Error('the admin access key is missing or inactive');
    /** One IAM call, recorded in the trail as an API call would be. */
    const call = async (input: Map<string, string>): Promise<{ result?: XmlObject; error?: AwsError }> => {
      const receivedAt = new Date();
      const ctx: CallContext = {
        requestId: randomUUID(),
        principal: admin.principal,
        region: instance.region,
        signingRegion: instance.region,
        sourceIp: '127.0.0.1',
        userAgent: 'trent-admin',
        receivedAt,
        resources: [],
        operation,
        authorize(check) {
          return authorizer.check(this, check);
        },
      };
      let result: XmlObject | undefined;
      let error: AwsError | undefined;
      try {
        result = (await service.operations[operation]!(ctx, input)) as XmlObject | undefined;
      } catch (err) {
        if (err instanceof AccessDeniedError) error = new AwsError('AccessDenied', 403, err.message);
        else if (err instanceof AwsError) error = err;
        else throw err;
      }
      await recorder.record({
        eventVersion: '1.11',
        userIdentity: userIdentity(admin.principal, admin.principal.accessKeyId),
        eventTime: eventTime(receivedAt),
        eventSource: service.eventSource,
        eventName: operation,
        awsRegion: instance.region,
        sourceIPAddress: '127.0.0.1',
        userAgent: 'trent-admin',
        ...(error ? { errorCode: error.code, errorMessage: error.message } : {}),
        requestParameters: service.audit?.requestParameters?.(operation, input) ?? null,
        responseElements: error ? null : (service.audit?.responseElements?.(operation, result) ?? null),
        requestID: ctx.requestId,
        eventID: randomUUID(),
        readOnly: /^(Get|List)/.test(operation),
        ...(ctx.resources.length ? { resources: ctx.resources } : {}),
        eventType: 'AwsApiCall',
        managementEvent: true,
        recipientAccountId: instance.accountId,
        eventCategory: 'Management',
      });
      return { ...(result ? { result } : {}), ...(error ? { error } : {}) };
    };

    const schema = outputSchema(operation);
    // The AWS CLI follows a truncated list to its end and prints one list without IsTruncated and Marker;
    // --marker or --max-items ask for one page, which is printed as IAM answers it.
    const paginate = schema?.getMemberSchemas()['IsTruncated'] !== undefined && !params.has('Marker') && !params.has('MaxItems');
    let output: Record<string, unknown> = {};
    for (let marker: string | undefined, first = true; first || marker !== undefined; first = false) {
      const page = await call(marker === undefined ? params : new Map([...params, ['Marker', marker]]));
      if (page.error) {
        await recorder.drained();
        process.stderr.write(`trent admin ${command}: ${page.error.code}: ${page.error.message}\n`);
        return 1;
      }
      const shaped = (schema ? cliShape(page.result ?? {}, schema) : (page.result ?? {})) as Record<string, unknown>;
      marker = paginate && shaped['IsTruncated'] === true && typeof shaped['Marker'] === 'string' ? shaped['Marker'] : undefined;
      if (paginate) {
        delete shaped['IsTruncated'];
        delete shaped['Marker'];
      }
      output = first ? shaped : mergePages(output, shaped);
    }
    await recorder.drained();
    if (paginate) {
      // The AWS CLI builds a followed list from its lists first, then the rest (GetGroup's Group), in the model's order.
      const members = schema!.getMemberSchemas();
      const order = Object.keys(members).sort((a, b) => Number(!members[a]!.isListSchema()) - Number(!members[b]!.isListSchema()));
      output = Object.fromEntries(order.filter((k) => k in output).map((k) => [k, output[k]]));
    }
    // As the AWS CLI: nothing at all for an operation that returns nothing.
    if (Object.keys(output).length) process.stdout.write(JSON.stringify(output, decodePolicies, 4) + '\n');
    return 0;
  } finally {
    await instance.close();
  }
}

/** IAM's output shape for `operation`, from AWS's service model as the AWS SDK for JavaScript ships it. */
export function outputSchema(operation: string): NormalizedSchema | undefined {
  const model = createRequire(import.meta.url)('@aws-sdk/client-iam') as Record<string, unknown>;
  const op = model[`${operation}$`] as StaticOperationSchema | undefined;
  return Array.isArray(op) && op[0] === 9 ? NormalizedSchema.of(op[5]) : undefined;
}

/**
 * A result as IAM's awsQuery XML carries it (lists as {member: [...]}, maps as {entry: [{key, value}]}, numbers and
 * booleans possibly as text) in the shape the AWS CLI prints: lists as arrays, maps as objects, typed scalars.
 * Timestamps stay as IAM sends them, as AWS CLI v1 prints them.
 */
export function cliShape(value: unknown, schema: NormalizedSchema): unknown {
  if (value === undefined || value === null) return undefined;
  if (schema.isListSchema()) {
    const items = Array.isArray(value) ? value : typeof value === 'object' ? (value as { member?: unknown }).member : value;
    const list = items === undefined || items === null || items === '' ? [] : Array.isArray(items) ? items : [items];
    const member = schema.getValueSchema();
    return list.map((v) => cliShape(v, member));
  }
  if (schema.isMapSchema()) {
    const valueSchema = schema.getValueSchema();
    const out: Record<string, unknown> = {};
    const entries = typeof value === 'object' ? (value as { entry?: unknown }).entry : undefined;
    if (entries !== undefined) {
      for (const e of Array.isArray(entries) ? entries : [entries]) out[String((e as { key: unknown }).key)] = cliShape((e as { value: unknown }).value, valueSchema);
    } else for (const [k, v] of Object.entries(value as object)) out[k] = cliShape(v, valueSchema);
    return out;
  }
  if (schema.isStructSchema()) {
    const members = schema.getMemberSchemas();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as object)) {
      if (k.startsWith('@_')) continue;
      const shaped = members[k] ? cliShape(v, members[k]) : v;
      if (shaped !== undefined) out[k] = shaped;
    }
    return out;
  }
  if (schema.isBooleanSchema()) return value === true || value === 'true';
  if (schema.isNumericSchema()) return typeof value === 'number' ? value : Number(value);
  if (schema.isTimestampSchema()) return value instanceof Date ? value.toISOString() : value;
  return value;
}

/** Two pages of a list operation as one: their lists joined, the rest from the later page. */
function mergePages(before: Record<string, unknown>, page: Record<string, unknown>): Record<string, unknown> {
  const out = { ...before };
  for (const [k, v] of Object.entries(page)) out[k] = Array.isArray(v) && Array.isArray(out[k]) ? [...(out[k] as unknown[]), ...v] : v;
  return out;
}

/** IAM returns policy documents URL-encoded; the AWS CLI prints them as JSON, and so does this. */
function decodePolicies(key: string, value: unknown): unknown {
  if ((key === 'PolicyDocument' || key === 'AssumeRolePolicyDocument' || key === 'Document') && typeof value === 'string') return JSON.parse(decodeURIComponent(value));
  return value;
}
