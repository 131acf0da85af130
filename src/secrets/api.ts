import { createHash, randomInt, randomUUID } from 'node:crypto';
import type * as SM from '@aws-sdk/client-secrets-manager';
import type { Logger } from 'pino';
import { openFromBytes, sealToBytes } from '../crypto/aead.ts';
import { randomString } from '../crypto/random.ts';
import { InvalidPrincipalError, requestPrincipal, type Authorizer } from '../iam/authorizer.ts';
import { evaluate, type PolicyDocument } from '../iam/policy.ts';
import { allowsBroadAccess } from './public-policy.ts';
import type { KmsServiceClient } from '../kms/service-client.ts';
import type { CallContext, JsonService } from '../server/service.ts';
import type { Database, Queryable } from '../store/database.ts';
import type { JsonWire } from '../wire/aws-json.ts';
import { AwsError } from '../wire/errors.ts';
import { blob, bool, int, str, stringList } from '../wire/validate.ts';
import { lowerCamel } from '../trail/event.ts';
import {
  AccessDeniedException,
  InvalidNameException,
  InvalidNextTokenException,
  InvalidParameterException,
  InvalidRequestException,
  LimitExceededException,
  MalformedPolicyDocumentException,
  ResourceExistsException,
  ResourceNotFoundException,
} from './errors.ts';
import { findFunction, type RotationEvent, type RotationInvoker } from './rotation.ts';
import { nextRun, parseSchedule } from './schedule.ts';
import { ServiceShapes } from '../wire/shapes.ts';

type In = Record<string, unknown>;
type W<T> = JsonWire<T>;

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
const PREVIOUS = 'AWSPREVIOUS';
const MAX_VALUE = 65536;
const DAY = 24 * 3600 * 1000;

interface SecretRow {
  arn: string;
  name: string;
  description: string | null;
  kms_key_id: string | null;
  created_at: number;
  last_changed_at: number;
  last_accessed_at: number | null;
  deleted_at: number | null;
  delete_after: number | null;
  rotation_enabled: number;
  rotation_lambda: string | null;
  rotation_rules: string | null;
  last_rotated_at: number | null;
  next_rotation_at: number | null;
  tags: string;
  policy: string | null;
}

interface VersionRow {
  arn: string;
  version_id: string;
  created_at: number;
  kms_key_arn: string;
  data_key: Buffer;
  ciphertext: Buffer;
  kind: string;
  request_hash: string;
  last_accessed_at: number | null;
}

const sec = (ms: number | null | undefined): number | undefined => (ms === null || ms === undefined ? undefined : ms / 1000);
/** AWS reports when a secret (or version) was last read to the day only. */
const day = (ms: number): number => Math.floor(ms / DAY) * DAY;
/** What ListSecretVersionIds shows in KmsKeyIds for a version encrypted under the AWS managed key aws/secretsmanager. */
const DEFAULT_KEY = 'DefaultEncryptionKey';
const FILTER_KEYS = new Set(['name', 'description', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all']);

/** Whether every whitespace-separated word of `value` begins some word of `text`. */
function wordsBegin(value: string, text: string, caseSensitive: boolean): boolean {
  const fold = (x: string) => (caseSensitive ? x : x.toLowerCase());
  const wanted = fold(value).split(/\s+/).filter(Boolean);
  const have = fold(text).split(/\s+/).filter(Boolean);
  return wanted.length > 0 && wanted.every((w) => have.some((h) => h.startsWith(w)));
}

/** Lower-case keywords: split at anything but letters and digits, and where case or letter/digit changes. */
function keywords(text: string): string[] {
  return text
    .split(/[^A-Za-z0-9]+/)
    .flatMap((part) => part.split(/(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])/))
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** The characters a secret name may have: ASCII letters and digits and -/_+=.@! (AWS's ValidationException names them). */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@!-]+$/;
const CANNOT_INVOKE = 'Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.';

function valueAad(arn: string, versionId: string): Buffer {
  return Buffer.from(`trent:secretsmanager:v1:${arn}\n${versionId}`);
}

/** What a version holds, hashed to tell an idempotent retry (same token, same value) from a conflicting one. */
function requestHash(kind: string, value: Buffer): string {
  return createHash('sha256').update(kind).update('\0').update(value).digest('hex');
}

/** KMS failures as Secrets Manager reports them: no permission is AccessDeniedException; an unusable key is Encryption/DecryptionFailure. */
function kmsFailure(err: unknown, writing: boolean): unknown {
  if (err instanceof AwsError && err.code === 'AccessDeniedException') return new AwsError('AccessDeniedException', 400, `Access to KMS is not allowed: ${err.message}`);
  if (err instanceof AwsError && err.status < 500 && err.code !== 'ServiceUnavailable') {
    return writing
      ? new AwsError('EncryptionFailure', 400, `Secrets Manager can't encrypt the protected secret text using the provided KMS key: ${err.message}`)
      : new AwsError('DecryptionFailure', 400, `Secrets Manager can't decrypt the protected secret text using the provided KMS key: ${err.message}`);
  }
  return err;
}

function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}
function decodeToken(t: string | undefined): number {
  if (t === undefined) return 0;
  try {
    const v = JSON.parse(Buffer.from(t, 'base64url').toString()) as { o?: unknown };
    if (typeof v.o === 'number' && v.o >= 0) return v.o;
  } catch {
    /* fall through */
  }
  throw new InvalidNextTokenException();
}

export interface SecretsDeps {
  db: Database;
  kms: KmsServiceClient;
  authorizer: Authorizer;
  invoker: RotationInvoker;
  accountId: string;
  region: string;
  log: Logger;
  now?: () => number;
}

/**
 * AWS Secrets Manager. Every secret version is encrypted under its own 256-bit data key from KMS
 * (GenerateDataKey under the secret's key or aws/secretsmanager, encryption context {SecretARN,
 * SecretVersionId}, as AWS does), with AES-256-GCM; only the KMS ciphertext of the data key is kept.
 * Rotation runs AWS's four steps against a registered rotation function (rotation.ts).
 */
export function secretsService(deps: SecretsDeps): JsonService & { sweep(): Promise<void>; idle(): Promise<void> } {
  const { db, kms, accountId, region } = deps;
  const now = deps.now ?? Date.now;
  const rotating = new Map<string, Promise<void>>();

  function secretArn(name: string): string {
    return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${randomString(6, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}`;
  }

  async function find(q: Queryable, id: string): Promise<SecretRow | undefined> {
    if (id.startsWith('arn:')) {
      const exact = await q.get<SecretRow>('SELECT * FROM sm_secrets WHERE arn = ?', [id]);
      if (exact) return exact;
      // A partial ARN (without the random suffix) names the secret too.
      const m = /^arn:aws:secretsmanager:[^:]+:\d{12}:secret:(.+)$/.exec(id);
      // A prefix test rather than LIKE: SQLite's LIKE ignores ASCII case and PostgreSQL's does not, and "_" in a name is a LIKE wildcard.
      return m ? q.get<SecretRow>('SELECT * FROM sm_secrets WHERE name = ? AND substr(arn, 1, ?) = ?', [m[1]!, [...id].length + 1, `${id}-`]) : undefined;
    }
    return q.get<SecretRow>('SELECT * FROM sm_secrets WHERE name = ?', [id]);
  }

  async function secret(ctx: CallContext, id: string, opts: { allowDeleted?: boolean } = {}): Promise<SecretRow> {
    if (!id.startsWith('arn:') && !SECRET_NAME.test(id)) throw new InvalidNameException();
    const s = await find(db, id);
    if (!s) {
      await ctx.authorize({ action: `secretsmanager:${ctx.operation}`, resource: '*', mode: 'identity' });
      throw new ResourceNotFoundException();
    }
    ctx.resources.push({ ARN: s.arn, accountId, type: 'AWS::SecretsManager::Secret' });
    await ctx.authorize({ action: `secretsmanager:${ctx.operation}`, resource: s.arn, resourcePolicy: s.policy, mode: 'resource-or-identity', context: tagContext(s) });
    if (s.deleted_at !== null && !opts.allowDeleted) {
      throw new InvalidRequestException("You can't perform this operation on the secret because it was marked for deletion.");
    }
    return s;
  }

  function tagContext(s: SecretRow): Record<string, string> {
    const out: Record<string, string> = {};
    for (const t of JSON.parse(s.tags) as Array<{ Key: string; Value: string }>) out[`aws:ResourceTag/${t.Key}`] = t.Value;
    return out;
  }

  async function stages(q: Queryable, arn: string): Promise<Map<string, string[]>> {
    const rows = await q.all<{ stage: string; version_id: string }>('SELECT stage, version_id FROM sm_stages WHERE arn = ? ORDER BY stage', [arn]);
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.version_id, [...(out.get(r.version_id) ?? []), r.stage]);
    return out;
  }

  async function stageOwner(q: Queryable, arn: string, stage: string): Promise<string | undefined> {
    return (await q.get<{ version_id: string }>('SELECT version_id FROM sm_stages WHERE arn = ? AND stage = ?', [arn, stage]))?.version_id;
  }

  /** Attach a stage to a version (detaching it elsewhere); AWSCURRENT moving leaves AWSPREVIOUS (and no AWSPENDING) on the version it left. */
  async function moveStage(q: Queryable, arn: string, stage: string, versionId: string): Promise<void> {
    const from = await stageOwner(q, arn, stage);
    if (from === versionId) return;
    await q.run('DELETE FROM sm_stages WHERE arn = ? AND stage = ?', [arn, stage]);
    await q.run('INSERT INTO sm_stages (arn, stage, version_id) VALUES (?, ?, ?)', [arn, stage, versionId]);
    if (stage === CURRENT && from !== undefined) {
      await q.run('DELETE FROM sm_stages WHERE arn = ? AND stage = ?', [arn, PREVIOUS]);
      await q.run('INSERT INTO sm_stages (arn, stage, version_id) VALUES (?, ?, ?)', [arn, PREVIOUS, from]);
      // As on AWS, the version AWSCURRENT leaves also loses AWSPENDING: a finished rotation's label is not left behind.
      await q.run('DELETE FROM sm_stages WHERE arn = ? AND stage = ? AND version_id = ?', [arn, PENDING, from]);
    }
  }

  /** The value of a request: SecretString or SecretBinary, exactly one, at most 64 KiB. */
  function valueOf(input: In, required: boolean): { kind: 'string' | 'binary'; value: Buffer } | undefined {
    const s = str(input, 'SecretString', { min: 1, max: MAX_VALUE });
    const b = blob(input, 'SecretBinary', { min: 1, max: MAX_VALUE });
    if (s !== undefined && b !== undefined) throw new InvalidParameterException('You can\'t specify both a binary secret value and a string secret value in the same secret.');
    if (s !== undefined) {
      if (Buffer.byteLength(s) > MAX_VALUE) throw new InvalidParameterException('The secret value is larger than 65536 bytes.');
      return { kind: 'string', value: Buffer.from(s, 'utf8') };
    }
    if (b !== undefined) return { kind: 'binary', value: b };
    if (required) throw new InvalidParameterException('You must provide either SecretString or SecretBinary.');
    return undefined;
  }

  /**
   * The ClientRequestToken that becomes a new version's id. The SDKs and CLIs always send one; a raw request without
   * it is refused as AWS refuses it (InvalidRequestException, or InvalidParameterException for RotateSecret).
   */
  function token(input: In, missing: 'InvalidRequestException' | 'InvalidParameterException' = 'InvalidRequestException'): string {
    const t = str(input, 'ClientRequestToken', { min: 32, max: 64 });
    if (t === undefined) {
      const message = 'You must provide a ClientRequestToken value. We recommend a UUID-type value.';
      throw missing === 'InvalidRequestException' ? new InvalidRequestException(message) : new InvalidParameterException(message);
    }
    return t;
  }

  /** A SecretId: an ARN, or a name of AWS's characters (anything else is ValidationException on every operation, as on AWS). */
  function secretIdOf(input: In, field = 'SecretId', required = true): string {
    const id = required ? str(input, field, { required: true, min: 1, max: 2048 }) : str(input, field, { min: 1, max: 2048 });
    if (id !== undefined && !id.startsWith('arn:') && !SECRET_NAME.test(id)) throw new InvalidNameException();
    return id!;
  }

  /** Store a new version, encrypted under a fresh KMS data key; idempotent for the same token and value. */
  async function putVersion(ctx: CallContext, s: SecretRow, versionId: string, v: { kind: string; value: Buffer }, stagesToSet: string[]): Promise<{ created: boolean }> {
    const hash = requestHash(v.kind, v.value);
    const existing = await db.get<{ request_hash: string }>('SELECT request_hash FROM sm_versions WHERE arn = ? AND version_id = ?', [s.arn, versionId]);
    if (existing) {
      if (existing.request_hash !== hash) throw new ResourceExistsException(`A version with VersionId ${versionId} already exists with a different value.`);
      return { created: false };
    }
    const dk = await kms
      .generateDataKey(ctx, 'secretsmanager', s.kms_key_id ?? (await kms.resolveArn(undefined, 'secretsmanager')), { SecretARN: s.arn, SecretVersionId: versionId })
      .catch((err: unknown) => {
        throw kmsFailure(err, true);
      });
    let sealed: Buffer;
    try {
      sealed = sealToBytes(dk.plaintext, v.value, valueAad(s.arn, versionId));
    } finally {
      dk.plaintext.fill(0);
    }
    const t = now();
    await db.transaction(async (tx) => {
      await tx.run('INSERT INTO sm_versions (arn, version_id, created_at, kms_key_arn, data_key, ciphertext, kind, request_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        s.arn,
        versionId,
        t,
        dk.keyArn,
        dk.ciphertext,
        sealed,
        v.kind,
        hash,
      ]);
      for (const st of stagesToSet) await moveStage(tx, s.arn, st, versionId);
      await tx.run('UPDATE sm_secrets SET last_changed_at = ? WHERE arn = ?', [t, s.arn]);
      // AWS keeps about 100 versions: the oldest versions without a stage go first.
      const unlabelled = await tx.all<{ version_id: string }>(
        'SELECT version_id FROM sm_versions v WHERE arn = ? AND NOT EXISTS (SELECT 1 FROM sm_stages s WHERE s.arn = v.arn AND s.version_id = v.version_id) ORDER BY created_at',
        [s.arn],
      );
      const total = await tx.get<{ n: number }>('SELECT count(*) AS n FROM sm_versions WHERE arn = ?', [s.arn]);
      let excess = Number(total?.n ?? 0) - 100;
      for (const u of unlabelled) {
        if (excess-- <= 0) break;
        await tx.run('DELETE FROM sm_versions WHERE arn = ? AND version_id = ?', [s.arn, u.version_id]);
      }
    });
    return { created: true };
  }

  async function readVersion(ctx: CallContext, s: SecretRow, versionId: string | undefined, stage: string | undefined): Promise<{ v: VersionRow; plaintext: Buffer; stages: string[] }> {
    let id = versionId;
    if (id === undefined) {
      const st = stage ?? CURRENT;
      id = await stageOwner(db, s.arn, st);
      if (!id) throw new ResourceNotFoundException(`Secrets Manager can't find the specified secret value for staging label: ${st}`);
    }
    const v = await db.get<VersionRow>('SELECT * FROM sm_versions WHERE arn = ? AND version_id = ?', [s.arn, id]);
    if (!v) throw new ResourceNotFoundException(`Secrets Manager can't find the specified secret value for VersionId: ${id}`);
    const st = (await stages(db, s.arn)).get(id) ?? [];
    if (versionId !== undefined && stage !== undefined && !st.includes(stage)) {
      throw new InvalidRequestException(`The requested secret version ${versionId} does not have the staging label ${stage}.`);
    }
    const dk = await kms.decrypt(ctx, 'secretsmanager', v.data_key, { SecretARN: s.arn, SecretVersionId: id }, v.kms_key_arn).catch((err: unknown) => {
      throw kmsFailure(err, false);
    });
    try {
      return { v, plaintext: openFromBytes(dk.plaintext, v.ciphertext, valueAad(s.arn, id)), stages: st };
    } catch {
      throw new AwsError('DecryptionFailure', 400, "Secrets Manager can't decrypt the protected secret text using the provided KMS key.");
    } finally {
      dk.plaintext.fill(0);
    }
  }

  /** Remember (to the day, as AWS reports it) when the secret and the version were last read. */
  async function accessed(s: SecretRow, versionId: string): Promise<void> {
    const t = now();
    await db.transaction(async (tx) => {
      await tx.run('UPDATE sm_secrets SET last_accessed_at = ? WHERE arn = ?', [t, s.arn]);
      await tx.run('UPDATE sm_versions SET last_accessed_at = ? WHERE arn = ? AND version_id = ?', [t, s.arn, versionId]);
    });
  }

  function valueResponse(s: SecretRow, r: { v: VersionRow; plaintext: Buffer; stages: string[] }): W<SM.GetSecretValueResponse> {
    return {
      ARN: s.arn,
      Name: s.name,
      VersionId: r.v.version_id,
      ...(r.v.kind === 'string' ? { SecretString: r.plaintext.toString('utf8') } : { SecretBinary: r.plaintext.toString('base64') }),
      VersionStages: r.stages,
      CreatedDate: sec(r.v.created_at)!,
    };
  }

  async function describe(s: SecretRow): Promise<W<SM.DescribeSecretResponse>> {
    const st = await stages(db, s.arn);
    const tags = JSON.parse(s.tags) as SM.Tag[];
    const rules = s.rotation_rules ? (JSON.parse(s.rotation_rules) as Record<string, unknown>) : undefined;
    return {
      ARN: s.arn,
      Name: s.name,
      ...(s.description ? { Description: s.description } : {}),
      ...(s.kms_key_id ? { KmsKeyId: s.kms_key_id } : {}),
      // AWS leaves RotationEnabled out until rotation was configured once (it is false after CancelRotateSecret).
      ...(s.rotation_enabled || s.rotation_lambda ? { RotationEnabled: !!s.rotation_enabled } : {}),
      ...(s.rotation_lambda ? { RotationLambdaARN: s.rotation_lambda } : {}),
      ...(rules ? { RotationRules: rules } : {}),
      ...(s.last_rotated_at ? { LastRotatedDate: sec(s.last_rotated_at) } : {}),
      LastChangedDate: sec(s.last_changed_at),
      ...(s.last_accessed_at ? { LastAccessedDate: sec(day(s.last_accessed_at)) } : {}),
      ...(s.deleted_at ? { DeletedDate: sec(s.delete_after ?? s.deleted_at) } : {}),
      ...(s.rotation_enabled && s.next_rotation_at ? { NextRotationDate: sec(s.next_rotation_at) } : {}),
      // No Tags when there are none, and no PrimaryRegion: Trent does not replicate secrets (AWS shows it only then).
      ...(tags.length ? { Tags: tags } : {}),
      VersionIdsToStages: Object.fromEntries(st),
      CreatedDate: sec(s.created_at),
    };
  }

  function readTags(input: In): Array<{ Key: string; Value: string }> {
    const v = input['Tags'];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.length > 50) throw new InvalidParameterException('Tags must be a list of at most 50 tags.');
    return v.map((t) => {
      const o = (t ?? {}) as Record<string, unknown>;
      if (typeof o['Key'] !== 'string' || o['Key'].length < 1 || o['Key'].length > 128) throw new InvalidParameterException('A tag key must be 1 to 128 characters.');
      if (typeof o['Value'] !== 'string' || o['Value'].length > 256) throw new InvalidParameterException('A tag value must be at most 256 characters.');
      if (o['Key'].startsWith('aws:')) throw new InvalidParameterException('Tag keys starting with aws: are reserved.');
      return { Key: o['Key'], Value: o['Value'] };
    });
  }

  async function checkKey(keyId: string | undefined): Promise<string | null> {
    if (keyId === undefined) return null;
    try {
      await kms.keys.resolve(keyId, { aliases: true });
    } catch {
      throw new AwsError('EncryptionFailure', 400, `The KMS key ${keyId} cannot be used: it does not exist.`);
    }
    return keyId;
  }

  /**
   * AWS's four rotation steps against the registered function; stages move as AWS moves them. Before the first step,
   * as AWS does, the new version is staged AWSPENDING under the request token without a value yet (DescribeSecret lists
   * it, GetSecretValue on it is ResourceNotFoundException until createSecret puts the value), which is what AWS's
   * rotation templates check for before they do anything. Resolves once that is committed; the steps run after.
   */
  async function rotate(ctx: CallContext | undefined, s: SecretRow, versionId: string): Promise<void> {
    const fn = s.rotation_lambda ? await findFunction(db, s.rotation_lambda) : undefined;
    if (!fn) throw new InvalidRequestException(`The rotation function ${s.rotation_lambda ?? '(none)'} is not registered with Trent (trent secrets register-rotation-function).`);
    if (rotating.has(s.arn)) throw new InvalidRequestException("A previous rotation isn't complete. That rotation will be reattempted.");
    const run = async () => {
      try {
        for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
          const event: RotationEvent = { Step: step, SecretId: s.arn, ClientRequestToken: versionId, RotationToken: randomUUID() };
          await deps.invoker.invoke(fn, event);
        }
        // After finishSecret, Secrets Manager itself removes AWSPENDING from the now-current version.
        await db.transaction(async (tx) => {
          const current = await stageOwner(tx, s.arn, CURRENT);
          const pending = await stageOwner(tx, s.arn, PENDING);
          if (current === versionId && pending === versionId) await tx.run('DELETE FROM sm_stages WHERE arn = ? AND stage = ?', [s.arn, PENDING]);
          const t = now();
          const rules = s.rotation_rules ? parseSchedule(JSON.parse(s.rotation_rules) as Record<string, never>) : undefined;
          await tx.run('UPDATE sm_secrets SET last_rotated_at = ?, next_rotation_at = ? WHERE arn = ?', [t, rules ? nextRun(rules, t) : null, s.arn]);
        });
      } catch (err) {
        // AWSPENDING stays where the failed step left it; AWSCURRENT never moved. The next RotateSecret reattempts.
        deps.log.warn({ secret: s.arn, err: (err as Error).message }, 'secret rotation failed');
        const rules = s.rotation_rules ? parseSchedule(JSON.parse(s.rotation_rules) as Record<string, never>) : undefined;
        if (rules) await db.run('UPDATE sm_secrets SET next_rotation_at = ? WHERE arn = ?', [now() + 3600_000, s.arn]);
      }
    };
    const staged = db.transaction((tx) => moveStage(tx, s.arn, PENDING, versionId));
    const running = staged.then(run).finally(() => rotating.delete(s.arn));
    rotating.set(s.arn, running.catch(() => undefined));
    await staged;
    void ctx;
  }

  const service: JsonService & { sweep(): Promise<void>; idle(): Promise<void> } = {
    protocol: 'json',
    shapes: new ServiceShapes('@aws-sdk/client-secrets-manager'),
    signingName: 'secretsmanager',
    eventSource: 'secretsmanager.amazonaws.com',
    targetPrefixes: ['secretsmanager'],
    maxBodyBytes: 256 * 1024,
    authorization: 'handler',
    audit: {
      // Never a secret value in an event; GetRandomPassword's result is a secret too.
      requestParameters: (_op, input) => {
        if (!input || typeof input !== 'object') return null;
        const { SecretString: _s, SecretBinary: _b, ...rest } = input as Record<string, unknown>;
        void _s;
        void _b;
        return Object.keys(rest).length ? (lowerCamel(rest) as Record<string, unknown>) : null;
      },
      responseElements: (op, output) => {
        if (!output || /^(Get|BatchGet|List|Describe)/.test(op)) return null;
        const o = output as Record<string, unknown>;
        return { arn: o['ARN'], name: o['Name'], ...(o['VersionId'] ? { versionId: o['VersionId'] } : {}) };
      },
      readOnly: (op) => /^(Get|BatchGet|List|Describe|Validate)/.test(op),
    },
    operations: {
      async CreateSecret(ctx, input): Promise<W<SM.CreateSecretResponse>> {
        const v = valueOf(input, false);
        // A token is needed only when the request makes a first version.
        const versionId = v ? token(input) : (str(input, 'ClientRequestToken', { min: 32, max: 64 }) ?? randomUUID());
        const name = str(input, 'Name', { required: true, min: 1, max: 512 });
        if (!SECRET_NAME.test(name)) throw new InvalidNameException();
        if (input['AddReplicaRegions'] !== undefined) throw new AwsError('InvalidParameterException', 400, 'Replication to other Regions is not supported: Trent serves one Region.');
        const kmsKeyId = await checkKey(str(input, 'KmsKeyId', { min: 0, max: 2048 }) || undefined);
        const tags = readTags(input);
        await ctx.authorize({
          action: 'secretsmanager:CreateSecret',
          resource: `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-??????`,
          mode: 'identity',
          context: { 'aws:TagKeys': tags.map((t) => t.Key), ...Object.fromEntries(tags.map((t) => [`aws:RequestTag/${t.Key}`, t.Value])) },
        });
        const existing = await find(db, name);
        if (existing) {
          if (existing.deleted_at !== null) throw new InvalidRequestException("You can't create this secret because a secret with this name is already scheduled for deletion.");
          // A retry of the same request (same token and value) succeeds without a second secret.
          const same = v && (await db.get<{ request_hash: string }>('SELECT request_hash FROM sm_versions WHERE arn = ? AND version_id = ?', [existing.arn, versionId]));
          if (same && v && same.request_hash === requestHash(v.kind, v.value)) return { ARN: existing.arn, Name: existing.name, VersionId: versionId };
          throw new ResourceExistsException(`The operation failed because the secret ${name} already exists.`);
        }
        const arn = secretArn(name);
        const t = now();
        try {
          await db.run('INSERT INTO sm_secrets (arn, name, description, kms_key_id, created_at, last_changed_at, tags) VALUES (?, ?, ?, ?, ?, ?, ?)', [
            arn,
            name,
            str(input, 'Description', { min: 0, max: 2048 }) ?? null,
            kmsKeyId,
            t,
            t,
            JSON.stringify(tags),
          ]);
        } catch {
          throw new ResourceExistsException(`The operation failed because the secret ${name} already exists.`);
        }
        const s = (await find(db, arn))!;
        ctx.resources.push({ ARN: arn, accountId, type: 'AWS::SecretsManager::Secret' });
        if (v) {
          try {
            await putVersion(ctx, s, versionId, v, [CURRENT]);
          } catch (err) {
            // Nothing half-made: a secret whose first value cannot be encrypted is not created.
            await db.run('DELETE FROM sm_secrets WHERE arn = ?', [arn]);
            throw err;
          }
        }
        return { ARN: arn, Name: name, ...(v ? { VersionId: versionId } : {}) };
      },

      async GetSecretValue(ctx, input): Promise<W<SM.GetSecretValueResponse>> {
        const s = await secret(ctx, secretIdOf(input));
        const r = await readVersion(ctx, s, str(input, 'VersionId', { min: 32, max: 64 }), str(input, 'VersionStage', { min: 1, max: 256 }));
        try {
          await accessed(s, r.v.version_id);
          return valueResponse(s, r);
        } finally {
          r.plaintext.fill(0);
        }
      },

      async BatchGetSecretValue(ctx, input): Promise<W<SM.BatchGetSecretValueResponse>> {
        const ids = stringList(input, 'SecretIdList', 20);
        const filters = input['Filters'];
        if (ids && filters !== undefined) throw new InvalidParameterException('Specify either SecretIdList or Filters, not both.');
        const max = int(input, 'MaxResults', { min: 1, max: 20 }) ?? 20;
        const offset = decodeToken(str(input, 'NextToken'));
        let names: string[];
        if (ids) names = ids;
        else {
          const all = await listFiltered(filters, false);
          names = all.map((x) => x.arn);
        }
        const page = ids ? names : names.slice(offset, offset + max);
        const values: W<SM.SecretValueEntry>[] = [];
        const errors: W<SM.APIErrorType>[] = [];
        for (const id of page) {
          try {
            const s = await secret({ ...ctx, operation: 'GetSecretValue' }, id);
            const r = await readVersion(ctx, s, undefined, CURRENT);
            try {
              await accessed(s, r.v.version_id);
              values.push(valueResponse(s, r) as W<SM.SecretValueEntry>);
            } finally {
              r.plaintext.fill(0);
            }
          } catch (err) {
            if (err instanceof AwsError) errors.push({ SecretId: id, ErrorCode: err.code, Message: err.message });
            else if ((err as Error).name === 'AccessDeniedError') errors.push({ SecretId: id, ErrorCode: 'AccessDeniedException', Message: (err as Error).message });
            else throw err;
          }
        }
        const more = !ids && offset + max < names.length;
        return { SecretValues: values, Errors: errors, ...(more ? { NextToken: encodeToken(offset + max) } : {}) };
      },

      async PutSecretValue(ctx, input): Promise<W<SM.PutSecretValueResponse>> {
        const versionId = token(input);
        const s = await secret(ctx, secretIdOf(input));
        const v = valueOf(input, true)!;
        const stagesIn = stringList(input, 'VersionStages', 20) ?? [CURRENT];
        await putVersion(ctx, s, versionId, v, stagesIn);
        return { ARN: s.arn, Name: s.name, VersionId: versionId, VersionStages: (await stages(db, s.arn)).get(versionId) ?? [] };
      },

      async UpdateSecret(ctx, input): Promise<W<SM.UpdateSecretResponse>> {
        const valueGiven = input['SecretString'] !== undefined || input['SecretBinary'] !== undefined;
        const newVersion = valueGiven ? token(input) : undefined;
        const s = await secret(ctx, secretIdOf(input));
        const description = str(input, 'Description', { min: 0, max: 2048 });
        const kmsKeyIn = str(input, 'KmsKeyId', { min: 0, max: 2048 });
        const kmsKeyId = kmsKeyIn !== undefined ? await checkKey(kmsKeyIn || undefined) : undefined;
        const v = valueOf(input, false);
        if (description !== undefined) await db.run('UPDATE sm_secrets SET description = ?, last_changed_at = ? WHERE arn = ?', [description, now(), s.arn]);
        if (kmsKeyId !== undefined) await db.run('UPDATE sm_secrets SET kms_key_id = ?, last_changed_at = ? WHERE arn = ?', [kmsKeyId, now(), s.arn]);
        let versionId: string | undefined;
        if (v) {
          versionId = newVersion!;
          await putVersion(ctx, (await find(db, s.arn))!, versionId, v, [CURRENT]);
        }
        return { ARN: s.arn, Name: s.name, ...(versionId ? { VersionId: versionId } : {}) };
      },

      async UpdateSecretVersionStage(ctx, input): Promise<W<SM.UpdateSecretVersionStageResponse>> {
        const s = await secret(ctx, secretIdOf(input));
        const stage = str(input, 'VersionStage', { required: true, min: 1, max: 256 });
        const removeFrom = str(input, 'RemoveFromVersionId', { min: 32, max: 64 });
        const moveTo = str(input, 'MoveToVersionId', { min: 32, max: 64 });
        await db.transaction(async (tx) => {
          const owner = await stageOwner(tx, s.arn, stage);
          if (moveTo !== undefined) {
            if (!(await tx.get('SELECT 1 AS x FROM sm_versions WHERE arn = ? AND version_id = ?', [s.arn, moveTo]))) throw new ResourceNotFoundException(`Secrets Manager can't find the specified secret value for VersionId: ${moveTo}`);
            if (owner !== undefined && owner !== moveTo && owner !== removeFrom) {
              throw new InvalidParameterException(`The staging label ${stage} is currently attached to version ${owner}, so you must explicitly reference that version in RemoveFromVersionId.`);
            }
            await moveStage(tx, s.arn, stage, moveTo);
          } else {
            if (removeFrom === undefined) throw new InvalidParameterException('Specify MoveToVersionId, RemoveFromVersionId, or both.');
            if (stage === CURRENT) throw new InvalidParameterException('You can only move AWSCURRENT to another version; you cannot remove it.');
            if (owner !== removeFrom) throw new InvalidParameterException(`The staging label ${stage} is not attached to version ${removeFrom}.`);
            await tx.run('DELETE FROM sm_stages WHERE arn = ? AND stage = ?', [s.arn, stage]);
          }
          await tx.run('UPDATE sm_secrets SET last_changed_at = ? WHERE arn = ?', [now(), s.arn]);
        });
        return { ARN: s.arn, Name: s.name };
      },

      async DescribeSecret(ctx, input): Promise<W<SM.DescribeSecretResponse>> {
        return describe(await secret(ctx, secretIdOf(input), { allowDeleted: true }));
      },

      async ListSecrets(ctx, input): Promise<W<SM.ListSecretsResponse>> {
        await ctx.authorize({ action: 'secretsmanager:ListSecrets', resource: '*', mode: 'identity' });
        const max = int(input, 'MaxResults', { min: 1, max: 100 }) ?? 100;
        const offset = decodeToken(str(input, 'NextToken'));
        const all = await listFiltered(input['Filters'], bool(input, 'IncludePlannedDeletion') ?? false);
        if (str(input, 'SortOrder') === 'desc') all.reverse();
        const page = all.slice(offset, offset + max);
        const list: W<SM.SecretListEntry>[] = [];
        for (const s of page) {
          const { VersionIdsToStages, ...rest } = await describe(s);
          list.push({ ...rest, SecretVersionsToStages: VersionIdsToStages } as W<SM.SecretListEntry>);
        }
        return { SecretList: list, ...(offset + max < all.length ? { NextToken: encodeToken(offset + max) } : {}) };
      },

      async ListSecretVersionIds(ctx, input): Promise<W<SM.ListSecretVersionIdsResponse>> {
        const s = await secret(ctx, secretIdOf(input), { allowDeleted: true });
        const max = int(input, 'MaxResults', { min: 1, max: 100 }) ?? 100;
        const offset = decodeToken(str(input, 'NextToken'));
        const includeDeprecated = bool(input, 'IncludeDeprecated') ?? false;
        const st = await stages(db, s.arn);
        // Oldest first, as AWS lists them.
        const versions = (
          await db.all<Pick<VersionRow, 'version_id' | 'created_at' | 'kms_key_arn' | 'last_accessed_at'>>(
            'SELECT version_id, created_at, kms_key_arn, last_accessed_at FROM sm_versions WHERE arn = ? ORDER BY created_at, version_id',
            [s.arn],
          )
        ).filter((v) => includeDeprecated || st.has(v.version_id));
        const page = versions.slice(offset, offset + max);
        const defaultKey = page.length ? await kms.resolveArn(undefined, 'secretsmanager') : undefined;
        return {
          ARN: s.arn,
          Name: s.name,
          Versions: page.map((v) => ({
            VersionId: v.version_id,
            VersionStages: st.get(v.version_id) ?? [],
            ...(v.last_accessed_at ? { LastAccessedDate: sec(day(v.last_accessed_at)) } : {}),
            CreatedDate: sec(v.created_at),
            KmsKeyIds: [v.kms_key_arn === defaultKey ? DEFAULT_KEY : v.kms_key_arn],
          })),
          ...(offset + max < versions.length ? { NextToken: encodeToken(offset + max) } : {}),
        };
      },

      async DeleteSecret(ctx, input): Promise<W<SM.DeleteSecretResponse>> {
        const id = secretIdOf(input);
        const window = int(input, 'RecoveryWindowInDays', { min: 7, max: 30 });
        const force = bool(input, 'ForceDeleteWithoutRecovery') ?? false;
        if (window !== undefined && force) throw new InvalidParameterException("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
        const t = now();
        if (force && !(await find(db, id))) {
          // AWS answers a forced deletion of a secret that does not exist as if it had deleted it.
          await ctx.authorize({ action: 'secretsmanager:DeleteSecret', resource: '*', mode: 'identity' });
          const named = /^arn:aws:secretsmanager:[^:]+:\d{12}:secret:(.+?)(-[A-Za-z0-9]{6})?$/.exec(id);
          return named ? { ARN: id, Name: named[1]!, DeletionDate: sec(t) } : { ARN: secretArn(id), Name: id, DeletionDate: sec(t) };
        }
        const s = await secret(ctx, id, { allowDeleted: true });
        if (force) {
          await purge(s.arn);
          return { ARN: s.arn, Name: s.name, DeletionDate: sec(t) };
        }
        if (s.deleted_at !== null) throw new InvalidRequestException("You can't perform this operation on the secret because it was already scheduled for deletion.");
        const after = t + (window ?? 30) * DAY;
        await db.run('UPDATE sm_secrets SET deleted_at = ?, delete_after = ? WHERE arn = ?', [t, after, s.arn]);
        return { ARN: s.arn, Name: s.name, DeletionDate: sec(after) };
      },

      async RestoreSecret(ctx, input): Promise<W<SM.RestoreSecretResponse>> {
        const s = await secret(ctx, secretIdOf(input), { allowDeleted: true });
        await db.run('UPDATE sm_secrets SET deleted_at = NULL, delete_after = NULL WHERE arn = ?', [s.arn]);
        return { ARN: s.arn, Name: s.name };
      },

      async TagResource(ctx, input): Promise<void> {
        const s = await secret(ctx, secretIdOf(input));
        const add = readTags(input);
        const tags = new Map((JSON.parse(s.tags) as Array<{ Key: string; Value: string }>).map((t) => [t.Key, t.Value]));
        for (const t of add) tags.set(t.Key, t.Value);
        if (tags.size > 50) throw new LimitExceededException('A secret can have at most 50 tags.');
        await db.run('UPDATE sm_secrets SET tags = ? WHERE arn = ?', [JSON.stringify([...tags].map(([Key, Value]) => ({ Key, Value }))), s.arn]);
      },

      async UntagResource(ctx, input): Promise<void> {
        const s = await secret(ctx, secretIdOf(input));
        const keys = new Set(stringList(input, 'TagKeys', 50) ?? []);
        const tags = (JSON.parse(s.tags) as Array<{ Key: string; Value: string }>).filter((t) => !keys.has(t.Key));
        await db.run('UPDATE sm_secrets SET tags = ? WHERE arn = ?', [JSON.stringify(tags), s.arn]);
      },

      async GetResourcePolicy(ctx, input): Promise<W<SM.GetResourcePolicyResponse>> {
        const s = await secret(ctx, secretIdOf(input));
        return { ARN: s.arn, Name: s.name, ...(s.policy ? { ResourcePolicy: await deps.authorizer.renderPrincipals(s.policy) } : {}) };
      },

      async PutResourcePolicy(ctx, input): Promise<W<SM.PutResourcePolicyResponse>> {
        const s = await secret(ctx, secretIdOf(input));
        const policy = str(input, 'ResourcePolicy', { required: true, min: 1, max: 20480 });
        let doc: PolicyDocument;
        try {
          doc = deps.authorizer.parsePolicy(policy, 'resource');
        } catch (err) {
          throw new MalformedPolicyDocumentException((err as Error).message);
        }
        // As on AWS, public policies are blocked only when the caller asks (BlockPublicPolicy defaults to false).
        if ((bool(input, 'BlockPublicPolicy') ?? false) && allowsBroadAccess(doc)) {
          throw new AwsError('PublicPolicyException', 400, 'The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.');
        }
        // IAM users and roles are stored by unique id, as AWS stores them (src/iam/principal-ids.ts).
        const stored = await deps.authorizer.bindPrincipals(policy, accountId).catch((err: unknown) => {
          throw err instanceof InvalidPrincipalError ? new MalformedPolicyDocumentException('This resource policy contains an unsupported principal.') : err;
        });
        await db.run('UPDATE sm_secrets SET policy = ? WHERE arn = ?', [stored, s.arn]);
        return { ARN: s.arn, Name: s.name };
      },

      async DeleteResourcePolicy(ctx, input): Promise<W<SM.DeleteResourcePolicyResponse>> {
        const s = await secret(ctx, secretIdOf(input));
        await db.run('UPDATE sm_secrets SET policy = NULL WHERE arn = ?', [s.arn]);
        return { ARN: s.arn, Name: s.name };
      },

      async ValidateResourcePolicy(ctx, input): Promise<W<SM.ValidateResourcePolicyResponse>> {
        const id = secretIdOf(input, 'SecretId', false) as string | undefined;
        const text = str(input, 'ResourcePolicy', { required: true, min: 1, max: 20480 });
        // AWS asks for both secretsmanager:ValidateResourcePolicy and secretsmanager:PutResourcePolicy.
        let resource = `arn:aws:secretsmanager:${region}:${accountId}:secret:*`;
        if (id !== undefined) {
          const s = await secret(ctx, id);
          resource = s.arn;
          await ctx.authorize({ action: 'secretsmanager:PutResourcePolicy', resource: s.arn, resourcePolicy: s.policy, mode: 'resource-or-identity', context: tagContext(s) });
        } else {
          await ctx.authorize({ action: 'secretsmanager:ValidateResourcePolicy', resource: '*', mode: 'identity' });
          await ctx.authorize({ action: 'secretsmanager:PutResourcePolicy', resource: '*', mode: 'identity' });
        }
        const errors = validatePolicy(ctx, text, resource);
        return { PolicyValidationPassed: errors.length === 0, ValidationErrors: errors };
      },

      async GetRandomPassword(ctx, input): Promise<W<SM.GetRandomPasswordResponse>> {
        await ctx.authorize({ action: 'secretsmanager:GetRandomPassword', resource: '*', mode: 'identity' });
        const length = int(input, 'PasswordLength', { min: 1, max: 4096 }) ?? 32;
        const exclude = new Set([...(str(input, 'ExcludeCharacters', { min: 0, max: 4096 }) ?? '')]);
        const classes: string[] = [];
        if (!bool(input, 'ExcludeLowercase')) classes.push('abcdefghijklmnopqrstuvwxyz');
        if (!bool(input, 'ExcludeUppercase')) classes.push('ABCDEFGHIJKLMNOPQRSTUVWXYZ');
        if (!bool(input, 'ExcludeNumbers')) classes.push('0123456789');
        if (!bool(input, 'ExcludePunctuation')) classes.push('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
        if (bool(input, 'IncludeSpace')) classes.push(' ');
        const usable = classes.map((c) => [...c].filter((ch) => !exclude.has(ch)).join('')).filter((c) => c.length > 0);
        if (usable.length === 0) throw new InvalidParameterException('No characters are left to build a password from.');
        const requireEach = bool(input, 'RequireEachIncludedType') ?? true;
        if (requireEach && length < usable.length) throw new InvalidParameterException('The password length is too short to include each required character type.');
        const all = usable.join('');
        const chars = Array.from({ length }, () => all[randomInt(all.length)]!);
        if (requireEach) {
          // Put one character of each type at distinct random places.
          const places = new Set<number>();
          while (places.size < usable.length) places.add(randomInt(length));
          [...places].forEach((p, i) => (chars[p] = usable[i]![randomInt(usable[i]!.length)]!));
        }
        return { RandomPassword: chars.join('') };
      },

      async RotateSecret(ctx, input): Promise<W<SM.RotateSecretResponse>> {
        const versionId = token(input, 'InvalidParameterException');
        const s = await secret(ctx, secretIdOf(input));
        const lambda = str(input, 'RotationLambdaARN', { min: 1, max: 2048 }) ?? s.rotation_lambda ?? undefined;
        if (!lambda) throw new InvalidRequestException('No Lambda rotation function ARN is associated with this secret.');
        // A function Trent cannot run (none is registered under that ARN) is refused as AWS refuses a Lambda function it
        // cannot invoke, before anything about the secret's rotation changes.
        if (!(await findFunction(db, lambda))) throw new AccessDeniedException(CANNOT_INVOKE);
        const rulesIn = input['RotationRules'] as Record<string, unknown> | undefined;
        let rulesText = s.rotation_rules;
        let schedule = rulesText ? parseSchedule(JSON.parse(rulesText) as Record<string, never>) : undefined;
        if (rulesIn !== undefined) {
          const rules = { ...(rulesIn['AutomaticallyAfterDays'] !== undefined ? { AutomaticallyAfterDays: Number(rulesIn['AutomaticallyAfterDays']) } : {}), ...(typeof rulesIn['ScheduleExpression'] === 'string' ? { ScheduleExpression: rulesIn['ScheduleExpression'] } : {}), ...(typeof rulesIn['Duration'] === 'string' ? { Duration: rulesIn['Duration'] } : {}) };
          schedule = parseSchedule(rules);
          rulesText = JSON.stringify(rules);
        }
        const immediately = bool(input, 'RotateImmediately') ?? true;
        // A rotation whose AWSPENDING never became AWSCURRENT is still in progress: it is reattempted, not replaced.
        const current = await stageOwner(db, s.arn, CURRENT);
        const pending = await stageOwner(db, s.arn, PENDING);
        const t = now();
        await db.run('UPDATE sm_secrets SET rotation_enabled = 1, rotation_lambda = ?, rotation_rules = ?, next_rotation_at = ? WHERE arn = ?', [
          lambda,
          rulesText,
          schedule ? nextRun(schedule, t) : null,
          s.arn,
        ]);
        if (!immediately) return { ARN: s.arn, Name: s.name };
        if (rotating.has(s.arn)) throw new InvalidRequestException('A previous rotation isn\'t complete. That rotation will be reattempted.');
        const fresh = (await find(db, s.arn))!;
        if (pending !== undefined && pending !== current && pending !== versionId) {
          await rotate(ctx, fresh, pending);
          throw new InvalidRequestException("A previous rotation isn't complete. That rotation will be reattempted.");
        }
        await rotate(ctx, fresh, versionId);
        return { ARN: s.arn, Name: s.name, VersionId: versionId };
      },

      async CancelRotateSecret(ctx, input): Promise<W<SM.CancelRotateSecretResponse>> {
        const s = await secret(ctx, secretIdOf(input));
        await db.run('UPDATE sm_secrets SET rotation_enabled = 0, next_rotation_at = NULL WHERE arn = ?', [s.arn]);
        const pending = await stageOwner(db, s.arn, PENDING);
        return { ARN: s.arn, Name: s.name, ...(pending ? { VersionId: pending } : {}) };
      },
    },

    /** Scheduled work: rotations that fell due (even across restarts), and deletions whose recovery window ended. */
    async sweep() {
      const t = now();
      for (const r of await db.all<{ arn: string }>('SELECT arn FROM sm_secrets WHERE delete_after IS NOT NULL AND delete_after <= ?', [t])) await purge(r.arn);
      for (const s of await db.all<SecretRow>('SELECT * FROM sm_secrets WHERE rotation_enabled = 1 AND deleted_at IS NULL AND next_rotation_at IS NOT NULL AND next_rotation_at <= ?', [t])) {
        if (rotating.has(s.arn)) continue;
        const current = await stageOwner(db, s.arn, CURRENT);
        const pending = await stageOwner(db, s.arn, PENDING);
        await rotate(undefined, s, pending !== undefined && pending !== current ? pending : randomUUID()).catch((err) => deps.log.warn({ secret: s.arn, err: (err as Error).message }, 'scheduled rotation could not start'));
      }
    },

    /** Resolves when no rotation is running (tests and shutdown). */
    async idle() {
      while (rotating.size) await Promise.allSettled([...rotating.values()]);
    },
  };

  /** Delete a secret and all its versions for good (secure_delete overwrites the pages). */
  async function purge(arn: string): Promise<void> {
    await db.transaction(async (tx) => {
      await tx.run('DELETE FROM sm_stages WHERE arn = ?', [arn]);
      await tx.run('DELETE FROM sm_versions WHERE arn = ?', [arn]);
      await tx.run('DELETE FROM sm_secrets WHERE arn = ?', [arn]);
    });
  }

  async function listFiltered(filters: unknown, includeDeleted: boolean): Promise<SecretRow[]> {
    let rows = await db.all<SecretRow>('SELECT * FROM sm_secrets ORDER BY created_at, name');
    if (!includeDeleted) rows = rows.filter((r) => r.deleted_at === null);
    if (filters === undefined || filters === null) return rows;
    if (!Array.isArray(filters) || filters.length > 10) throw new InvalidParameterException('Filters must be a list of at most 10 filters.');
    for (const f of filters as Array<{ Key?: string; Values?: string[] }>) {
      if (!FILTER_KEYS.has(String(f.Key))) throw new InvalidParameterException(`Invalid filter key ${String(f.Key)}.`);
      const values = f.Values ?? [];
      rows = rows.filter((r) => {
        const tags = JSON.parse(r.tags) as Array<{ Key: string; Value: string }>;
        // One value matching is enough; "!value" matches what value does not.
        return values.some((raw) => {
          const negated = raw.startsWith('!');
          const v = negated ? raw.slice(1) : raw;
          return filterMatches(String(f.Key), v, r, tags) !== negated;
        });
      });
    }
    return rows;
  }

  /**
   * ListSecrets filters as AWS matches them: every word of the value must begin a word of the attribute. Names, tag
   * keys and tag values match case-sensitively (a name is one word: "Data" finds DatabaseSecret, not MyData or
   * databaseSecret); descriptions in any case ("My Description" finds "Description of my secret"); "all" splits both
   * sides into keywords, at punctuation and at changes between lower and upper case, letters and digits.
   */
  function filterMatches(key: string, value: string, r: SecretRow, tags: Array<{ Key: string; Value: string }>): boolean {
    switch (key) {
      case 'name':
        return wordsBegin(value, r.name, true);
      case 'description':
        return wordsBegin(value, r.description ?? '', false);
      case 'tag-key':
        return tags.some((t) => wordsBegin(value, t.Key, true));
      case 'tag-value':
        return tags.some((t) => wordsBegin(value, t.Value, true));
      case 'primary-region':
        return wordsBegin(value, region, true);
      case 'owning-service':
        return false;
      default: {
        const wanted = keywords(value);
        const have = [r.name, r.description ?? '', ...tags.flatMap((t) => [t.Key, t.Value])].flatMap(keywords);
        return wanted.length > 0 && wanted.every((w) => have.some((h) => h.startsWith(w)));
      }
    }
  }

  /**
   * ValidateResourcePolicy's three checks, as AWS describes them: the policy's syntax, that it does not allow broad
   * access (public-policy.ts), and that it does not lock the caller out of changing it again. AWS does not publish
   * its CheckName values; these name the checks.
   */
  function validatePolicy(ctx: CallContext, text: string, resource: string): W<SM.ValidationErrorsEntry>[] {
    let doc: PolicyDocument;
    try {
      doc = deps.authorizer.parsePolicy(text, 'resource');
    } catch (err) {
      return [{ CheckName: 'PolicySyntax', ErrorMessage: (err as Error).message }];
    }
    const errors: W<SM.ValidationErrorsEntry>[] = [];
    if (allowsBroadAccess(doc)) {
      errors.push({ CheckName: 'BroadAccess', ErrorMessage: 'The resource policy allows broad access to the secret: a statement lets any principal in without a condition that confines it to fixed principals, accounts, organizations, networks or sources.' });
    }
    const lockout = evaluate(doc, { principal: requestPrincipal(ctx.principal), action: 'secretsmanager:PutResourcePolicy', resource, context: {} });
    if (lockout === 'Deny') {
      errors.push({ CheckName: 'LockoutPrevention', ErrorMessage: 'The resource policy denies you secretsmanager:PutResourcePolicy on the secret: you could not change the policy again.' });
    }
    return errors;
  }

  return service;
}
