// The logic under `trent aws` and `trent admin`: reading an AWS CLI command line, adding SigV4 to a user's AWS
// config for `s3 presign`, a start-up that loads nothing heavy, and IAM results printed in the AWS CLI's shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { commandWords, optionValue, withS3SigV4 } from '../../src/cli/aws.ts';
import { cliShape, OPERATIONS, outputSchema } from '../../src/cli/admin.ts';

const REPO = resolve(import.meta.dirname, '..', '..');

test('commandWords skips global options and their values; optionValue reads both spellings', () => {
  assert.deepEqual(commandWords(['--endpoint-url', 'https://h:1', '--region', 'eu-west-1', 's3', 'presign', 's3://b/k', '--expires-in', '60']).slice(0, 2), ['s3', 'presign']);
  assert.deepEqual(commandWords(['--profile=p', '--debug', 's3', 'presign']).slice(0, 2), ['s3', 'presign']);
  assert.deepEqual(commandWords(['--output', 'text', 'kms', 'list-keys']).slice(0, 2), ['kms', 'list-keys']);
  assert.equal(optionValue(['kms', '--endpoint-url', 'https://a'], '--endpoint-url'), 'https://a');
  assert.equal(optionValue(['kms', '--endpoint-url=https://b'], '--endpoint-url'), 'https://b');
  assert.equal(optionValue(['kms', 'list-keys'], '--endpoint-url'), undefined);
});

test('withS3SigV4: adds s3.signature_version to the profile in use, keeps everything else, never overrides a choice', () => {
  const sig = '    signature_version = s3v4';
  assert.equal(withS3SigV4('', 'default'), `[default]\ns3 =\n${sig}\n`);
  assert.equal(withS3SigV4('[profile other]\nregion = eu-west-1', 'default'), `[profile other]\nregion = eu-west-1\n[default]\ns3 =\n${sig}\n`);
  assert.equal(withS3SigV4('[default]\noutput = text\n[profile x]\nregion = a\n', 'default'), `[default]\ns3 =\n${sig}\noutput = text\n[profile x]\nregion = a\n`);
  assert.equal(withS3SigV4('[default]\noutput = text\n[profile x]\nregion = a\n', 'x'), `[default]\noutput = text\n[profile x]\ns3 =\n${sig}\nregion = a\n`);
  // An s3 section without a signature version gets one; one with a signature version is left as the user chose.
  assert.equal(withS3SigV4('[default]\ns3 =\n    addressing_style = path\nregion = a\n', 'default'), `[default]\ns3 =\n${sig}\n    addressing_style = path\nregion = a\n`);
  const chosen = '[default]\ns3 =\n    addressing_style = path\n    signature_version = s3\n';
  assert.equal(withS3SigV4(chosen, 'default'), chosen);
  // [profile default] names the default profile too; a profile name is matched literally.
  assert.equal(withS3SigV4('[profile default]\n', 'default'), `[profile default]\ns3 =\n${sig}\n`);
  assert.equal(withS3SigV4('[profile a.b]\n', 'a+b'), `[profile a.b]\n[profile a+b]\ns3 =\n${sig}\n`);
});

/** The relative imports of a source file, resolved, followed to the end; and its package imports. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'|import\('([^']+)'\)/gm)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

test('trent aws starts light: it loads no server, store or service module and no package, only node: modules', () => {
  const { files, packages } = importGraph(join(REPO, 'src/cli/aws.ts'));
  const names = [...files].map((f) => relative(REPO, f)).sort();
  assert.deepEqual(names, ['src/cli/aws.ts', 'src/cli/options.ts', 'src/server/instance-paths.ts']);
  assert.ok([...packages].every((p) => p.startsWith('node:')), `packages: ${[...packages]}`);
});

test("cliShape: IAM's XML-shaped results in the AWS CLI's JSON shape, by AWS's model", () => {
  const listUsers = outputSchema('ListUsers')!;
  const user = { Path: '/', UserName: 'app', UserId: 'AIDA', Arn: 'arn:aws:iam::1:user/app', CreateDate: '2026-01-01T00:00:00Z' };
  assert.deepEqual(cliShape({ Users: { member: [user] }, IsTruncated: 'false' }, listUsers), { Users: [user], IsTruncated: false });
  assert.deepEqual(cliShape({ Users: { member: [] }, IsTruncated: false }, listUsers), { Users: [], IsTruncated: false });
  assert.deepEqual(cliShape({ Users: { member: user }, IsTruncated: true, Marker: 'm' }, listUsers), { Users: [user], IsTruncated: true, Marker: 'm' }, 'a single member');
  // Nested lists and typed numbers and booleans.
  const getUser = outputSchema('GetUser')!;
  assert.deepEqual(cliShape({ User: { ...user, Tags: { member: [{ Key: 'a', Value: '1' }] } } }, getUser), { User: { ...user, Tags: [{ Key: 'a', Value: '1' }] } });
  const getPolicy = outputSchema('GetPolicy')!;
  const policy = cliShape({ Policy: { PolicyName: 'p', AttachmentCount: '2', IsAttachable: 'true', PermissionsBoundaryUsageCount: 0 } }, getPolicy) as { Policy: Record<string, unknown> };
  assert.deepEqual(policy.Policy, { PolicyName: 'p', AttachmentCount: 2, IsAttachable: true, PermissionsBoundaryUsageCount: 0 });
  // A map: awsQuery's entry/key/value.
  const summary = outputSchema('GetAccountSummary')!;
  assert.deepEqual(cliShape({ SummaryMap: { entry: [{ key: 'Users', value: '3' }, { key: 'Groups', value: '1' }] } }, summary), { SummaryMap: { Users: 3, Groups: 1 } });
});

test('every trent admin command names an IAM operation of AWS’s model', () => {
  for (const [command, operation] of Object.entries(OPERATIONS)) {
    assert.ok(outputSchema(operation), `${command}: ${operation} is in @aws-sdk/client-iam`);
    assert.equal(command, operation.replace(/[A-Z]/g, (c, i: number) => (i ? '-' : '') + c.toLowerCase()), 'the command is the AWS CLI spelling of the operation');
  }
});
