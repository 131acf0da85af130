// Identity: IAM users and their access keys (create, deactivate, activate), roles with their trust policies, and
// customer managed policies. IAM takes no session from GetSessionToken without MFA (as on AWS), so this page needs
// a role session: the page says so instead of failing.
import {
  CreateAccessKeyCommand,
  GetPolicyVersionCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListPoliciesCommand,
  ListRolesCommand,
  ListUsersCommand,
  UpdateAccessKeyCommand,
  type AccessKeyMetadata,
  type User,
} from '@aws-sdk/client-iam';
import { client, clientConfig, current } from '../session.ts';
import { badge, button, dialog, field, h, note, pool, pre, replace, section, table, time } from '../ui.ts';

const iam = () => client('iam', () => new IAMClient(clientConfig()));

function usersSection(): HTMLElement {
  return section(
    'Users and access keys',
    async (_body, reload) => {
      const users = (await iam().send(new ListUsersCommand({ MaxItems: 1000 }))).Users ?? [];
      const rows = await pool(users, 4, async (u) => ({ u, keys: (await iam().send(new ListAccessKeysCommand({ UserName: u.UserName! }))).AccessKeyMetadata ?? [] }));
      const status = h('div', { class: 'action-status' });
      const keyRow = (u: User, k: AccessKeyMetadata) =>
        h(
          'li',
          { 'data-access-key': k.AccessKeyId! },
          h('span', { class: 'mono' }, k.AccessKeyId!),
          ' ',
          badge(k.Status ?? '—', k.Status === 'Active' ? 'ok' : 'muted'),
          ` ${time(k.CreateDate)} `,
          button(
            k.Status === 'Active' ? 'Deactivate' : 'Activate',
            async () => {
              await iam().send(new UpdateAccessKeyCommand({ UserName: u.UserName!, AccessKeyId: k.AccessKeyId!, Status: k.Status === 'Active' ? 'Inactive' : 'Active' }));
              reload();
            },
            { 'data-action': k.Status === 'Active' ? 'deactivate' : 'activate' },
            status,
          ),
        );
      return [
        table(
          [
            { title: 'User', cell: (r) => r.u.UserName! },
            { title: 'ARN', cell: (r) => h('span', { class: 'mono small' }, r.u.Arn!) },
            { title: 'Created', cell: (r) => time(r.u.CreateDate) },
            { title: 'Access keys', cell: (r) => h('ul', { class: 'plain' }, r.keys.map((k) => keyRow(r.u, k))) },
            {
              title: '',
              cell: (r) =>
                button(
                  'Create access key',
                  async () => {
                    const out = await iam().send(new CreateAccessKeyCommand({ UserName: r.u.UserName! }));
                    await dialog('New access key', [
                      note('The secret is shown this once: Trent keeps it only wrapped by its root of trust and will not show it again.', 'warn'),
                      field('Access key ID', h('input', { readonly: true, class: 'mono', value: out.AccessKey!.AccessKeyId!, id: 'new-access-key-id' })),
                      field('Secret access key', h('input', { readonly: true, class: 'mono', value: out.AccessKey!.SecretAccessKey!, id: 'new-secret' })),
                    ]);
                    reload();
                  },
                  { 'data-action': 'create-access-key' },
                  status,
                ),
            },
          ],
          rows,
          { rowProps: (r) => ({ 'data-user': r.u.UserName! }) },
        ),
        status,
      ];
    },
    { id: 'users' },
  );
}

function rolesSection(): HTMLElement {
  return section(
    'Roles',
    async () => {
      const roles = (await iam().send(new ListRolesCommand({ MaxItems: 1000 }))).Roles ?? [];
      return table(
        [
          { title: 'Role', cell: (r) => r.RoleName! },
          { title: 'ARN', cell: (r) => h('span', { class: 'mono small' }, r.Arn!) },
          { title: 'Max session', cell: (r) => `${Math.round((r.MaxSessionDuration ?? 3600) / 60)} min` },
          { title: 'Created', cell: (r) => time(r.CreateDate) },
          { title: 'Trust policy', cell: (r) => button('Show', () => dialog(`Trust policy of ${r.RoleName}`, pre(decodeURIComponent(r.AssumeRolePolicyDocument ?? '{}')))) },
        ],
        roles,
        { empty: 'No roles yet.', rowProps: (r) => ({ 'data-role': r.RoleName! }) },
      );
    },
    { id: 'roles' },
  );
}

function policiesSection(): HTMLElement {
  return section(
    'Customer managed policies',
    async () => {
      const policies = (await iam().send(new ListPoliciesCommand({ Scope: 'Local', MaxItems: 1000 }))).Policies ?? [];
      return table(
        [
          { title: 'Policy', cell: (p) => p.PolicyName! },
          { title: 'ARN', cell: (p) => h('span', { class: 'mono small' }, p.Arn!) },
          { title: 'Attached to', cell: (p) => String(p.AttachmentCount ?? 0), class: 'num' },
          { title: 'Default version', cell: (p) => p.DefaultVersionId ?? '—' },
          { title: 'Updated', cell: (p) => time(p.UpdateDate) },
          {
            title: 'Document',
            cell: (p) =>
              button('Show', async () => {
                const v = await iam().send(new GetPolicyVersionCommand({ PolicyArn: p.Arn!, VersionId: p.DefaultVersionId! }));
                await dialog(`${p.PolicyName} (${p.DefaultVersionId})`, pre(decodeURIComponent(v.PolicyVersion?.Document ?? '{}')));
              }),
          },
        ],
        policies,
        { empty: 'No customer managed policies.', rowProps: (p) => ({ 'data-policy': p.PolicyName! }) },
      );
    },
    { id: 'policies' },
  );
}

export function render(root: HTMLElement): void {
  const s = current()!;
  if (s.via === 'GetSessionToken') {
    // AWS's own rule, shown as AWS words it: the page still tries, so what IAM answers is what is shown.
    replace(
      root,
      note(
        'You signed in with an access key, so this session comes from STS GetSessionToken. As on AWS, IAM does not accept such a session unless it was authenticated with MFA (which Trent does not offer): IAM answers that the token is invalid. Sign in with a role to assume to manage users, keys, roles and policies.',
        'warn',
      ),
      usersSection(),
    );
    return;
  }
  replace(root, usersSection(), rolesSection(), policiesSection());
}

