// `trent admin` prints what the AWS CLI prints. Every command it has runs here once: a command that reads is compared
// byte for byte with `aws iam` (CLI v1, JSON) on the same server and state; a command that creates is compared in
// shape (the same members, of the same JSON types) with the CLI creating its own entity; a command whose AWS output
// is empty prints nothing, as the CLI does. Lists longer than a page are followed to their end, as the CLI does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { OPERATIONS, outputSchema } from '../../src/cli/admin.ts';
import { REPO, removeDir, startTrent, type RunningTrent } from '../helpers/trent.ts';
import { aws } from '../helpers/cli.ts';
import { exec, type Run } from '../helpers/assert.ts';

let t: RunningTrent;

before(async () => {
  t = await startTrent();
});
after(async () => {
  await t?.stop();
  if (t) await removeDir(t.dataDir);
});

const admin = (args: string[]): Promise<Run> => exec(process.execPath, [join(REPO, 'bin/trent.mjs'), 'admin', ...args, '--data-dir', t.dataDir], { ...process.env, TRENT_LOG_LEVEL: 'warn' });
const cli = (args: string[]): Promise<Run> => aws(t, 'v1', ['iam', ...args, '--output', 'json']);

/** A JSON value's shape: member names and JSON types, lists by their first element. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return typeof v;
}

const covered = new Set<string>();

async function ok(r: Run, what: string): Promise<Run> {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  return r;
}

/** A command that reads: the same bytes as `aws iam` with the same arguments. */
async function same(args: string[], cliArgs = args): Promise<Record<string, any>> {
  covered.add(args[0]!);
  const mine = await ok(await admin(args), `trent admin ${args.join(' ')}`);
  const theirs = await ok(await cli(cliArgs), `aws iam ${cliArgs.join(' ')}`);
  assert.equal(mine.stdout, theirs.stdout, `trent admin ${args.join(' ')} prints what aws iam prints`);
  return JSON.parse(mine.stdout);
}

/** A command that creates: the shape of what `aws iam` prints creating an entity of its own. */
async function created(args: string[], cliArgs: string[]): Promise<Record<string, any>> {
  covered.add(args[0]!);
  const mine = JSON.parse((await ok(await admin(args), `trent admin ${args.join(' ')}`)).stdout);
  const theirs = JSON.parse((await ok(await cli(cliArgs), `aws iam ${cliArgs.join(' ')}`)).stdout);
  assert.deepEqual(shape(mine), shape(theirs), `trent admin ${args[0]} has the AWS CLI's shape`);
  return mine;
}

/** A command whose output AWS's model leaves empty: nothing printed, as the AWS CLI prints nothing. */
async function quiet(args: string[]): Promise<void> {
  covered.add(args[0]!);
  assert.deepEqual(Object.keys(outputSchema(OPERATIONS[args[0]!]!)!.getMemberSchemas()), [], `${args[0]} returns nothing on AWS`);
  const r = await ok(await admin(args), `trent admin ${args.join(' ')}`);
  assert.equal(r.stdout, '', `trent admin ${args[0]} prints nothing`);
}

const doc = (action: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });
const trust = (service: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] });

test('every trent admin command prints the AWS CLI shape', async () => {
  await created(['create-user', '--user-name', 'u1', '--tags', 'Key=team,Value=ops'], ['create-user', '--user-name', 'c1', '--tags', 'Key=team,Value=ops']);
  await same(['get-user', '--user-name', 'u1']);
  await same(['list-users']);
  const key = (await created(['create-access-key', '--user-name', 'u1'], ['create-access-key', '--user-name', 'c1'])).AccessKey.AccessKeyId as string;
  await quiet(['update-access-key', '--user-name', 'u1', '--access-key-id', key, '--status', 'Inactive']);
  await same(['list-access-keys', '--user-name', 'u1']);
  await quiet(['put-user-policy', '--user-name', 'u1', '--policy-name', 'p1', '--policy-document', doc('kms:ListKeys')]);
  assert.deepEqual((await same(['get-user-policy', '--user-name', 'u1', '--policy-name', 'p1'])).PolicyDocument, JSON.parse(doc('kms:ListKeys')), 'the policy as JSON');
  await same(['list-user-policies', '--user-name', 'u1']);

  await created(['create-role', '--role-name', 'r1', '--assume-role-policy-document', trust('lambda.amazonaws.com'), '--description', 'a role'], [
    'create-role', '--role-name', 'cr1', '--assume-role-policy-document', trust('lambda.amazonaws.com'), '--description', 'a role',
  ]);
  await quiet(['update-assume-role-policy', '--role-name', 'r1', '--policy-document', trust('secretsmanager.amazonaws.com')]);
  await same(['get-role', '--role-name', 'r1']);
  await quiet(['put-role-policy', '--role-name', 'r1', '--policy-name', 'rp1', '--policy-document', doc('kms:Decrypt')]);
  await same(['get-role-policy', '--role-name', 'r1', '--policy-name', 'rp1']);
  await same(['list-role-policies', '--role-name', 'r1']);
  await same(['list-roles']);

  await quiet(['tag-user', '--user-name', 'u1', '--tags', 'Key=a,Value=1', 'Key=b,Value=2']);
  await quiet(['untag-user', '--user-name', 'u1', '--tag-keys', 'a']);
  await same(['list-user-tags', '--user-name', 'u1']);
  await quiet(['tag-role', '--role-name', 'r1', '--tags', 'Key=a,Value=1', 'Key=b,Value=2']);
  await quiet(['untag-role', '--role-name', 'r1', '--tag-keys', 'b']);
  await same(['list-role-tags', '--role-name', 'r1']);

  await created(['create-group', '--group-name', 'g1'], ['create-group', '--group-name', 'cg1']);
  await quiet(['add-user-to-group', '--group-name', 'g1', '--user-name', 'u1']);
  await same(['get-group', '--group-name', 'g1']);
  await same(['list-groups']);
  await same(['list-groups-for-user', '--user-name', 'u1']);
  await quiet(['put-group-policy', '--group-name', 'g1', '--policy-name', 'gp1', '--policy-document', doc('kms:DescribeKey')]);
  await same(['get-group-policy', '--group-name', 'g1', '--policy-name', 'gp1']);
  await same(['list-group-policies', '--group-name', 'g1']);

  const arn = (await created(['create-policy', '--policy-name', 'mp1', '--policy-document', doc('kms:Encrypt'), '--description', 'managed'], [
    'create-policy', '--policy-name', 'cmp1', '--policy-document', doc('kms:Encrypt'), '--description', 'managed',
  ])).Policy.Arn as string;
  const cliArn = arn.replace(/policy\/mp1$/, 'policy/cmp1');
  await created(['create-policy-version', '--policy-arn', arn, '--policy-document', doc('kms:Encrypt')], ['create-policy-version', '--policy-arn', cliArn, '--policy-document', doc('kms:Encrypt')]);
  await quiet(['set-default-policy-version', '--policy-arn', arn, '--version-id', 'v2']);
  await same(['get-policy', '--policy-arn', arn]);
  await same(['list-policies', '--scope', 'Local']);
  await same(['get-policy-version', '--policy-arn', arn, '--version-id', 'v2']);
  await same(['list-policy-versions', '--policy-arn', arn]);
  await quiet(['attach-user-policy', '--user-name', 'u1', '--policy-arn', arn]);
  await quiet(['attach-group-policy', '--group-name', 'g1', '--policy-arn', arn]);
  await quiet(['attach-role-policy', '--role-name', 'r1', '--policy-arn', arn]);
  await same(['list-attached-user-policies', '--user-name', 'u1']);
  await same(['list-attached-group-policies', '--group-name', 'g1']);
  await same(['list-attached-role-policies', '--role-name', 'r1']);
  await same(['list-entities-for-policy', '--policy-arn', arn]);
  await quiet(['put-user-permissions-boundary', '--user-name', 'u1', '--permissions-boundary', arn]);
  await quiet(['put-role-permissions-boundary', '--role-name', 'r1', '--permissions-boundary', arn]);
  await same(['get-user', '--user-name', 'u1']);
  await same(['get-role', '--role-name', 'r1']);

  await quiet(['delete-user-permissions-boundary', '--user-name', 'u1']);
  await quiet(['delete-role-permissions-boundary', '--role-name', 'r1']);
  await quiet(['detach-user-policy', '--user-name', 'u1', '--policy-arn', arn]);
  await quiet(['detach-group-policy', '--group-name', 'g1', '--policy-arn', arn]);
  await quiet(['detach-role-policy', '--role-name', 'r1', '--policy-arn', arn]);
  await quiet(['delete-policy-version', '--policy-arn', arn, '--version-id', 'v1']);
  await quiet(['delete-policy', '--policy-arn', arn]);
  await quiet(['delete-group-policy', '--group-name', 'g1', '--policy-name', 'gp1']);
  await quiet(['remove-user-from-group', '--group-name', 'g1', '--user-name', 'u1']);
  await quiet(['delete-group', '--group-name', 'g1']);
  await quiet(['delete-role-policy', '--role-name', 'r1', '--policy-name', 'rp1']);
  await quiet(['delete-role', '--role-name', 'r1']);
  await quiet(['delete-user-policy', '--user-name', 'u1', '--policy-name', 'p1']);
  await quiet(['delete-access-key', '--user-name', 'u1', '--access-key-id', key]);
  await quiet(['delete-user', '--user-name', 'u1']);

  assert.deepEqual([...covered].sort(), Object.keys(OPERATIONS).sort(), 'every command was checked');
});

test('a list longer than a page is followed to its end, as the AWS CLI follows it; --max-items asks for one page', async () => {
  const iam = new IAMClient(t.clientConfig());
  for (let i = 0; i < 105; i += 15) {
    await Promise.all(Array.from({ length: Math.min(15, 105 - i) }, (_, j) => iam.send(new CreateUserCommand({ UserName: `many-${String(i + j).padStart(3, '0')}` }))));
  }
  iam.destroy();
  const all = await same(['list-users']);
  assert.ok(all.Users.length > 100 && !('IsTruncated' in all) && !('Marker' in all), `${all.Users.length} users in one list`);
  const page = await same(['list-users', '--max-items', '5'], ['list-users', '--no-paginate', '--max-items', '5']);
  assert.equal(page.Users.length, 5);
  assert.equal(page.IsTruncated, true);
  assert.equal(typeof page.Marker, 'string');
});

test('an error is the AWS error code and message on stderr, and exit status 1', async () => {
  const r = await admin(['get-user', '--user-name', 'nobody']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^trent admin get-user: NoSuchEntity: The user with name nobody cannot be found\.\n$/);
});
