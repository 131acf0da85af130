// The Trent console: a page that signs in with an access key (or a role), trades it at once for temporary
// credentials, and then calls Trent's own AWS APIs from the browser, so that every action is authenticated,
// authorised and audited as from any other client. Pages load on demand; the address's #fragment names the page.
import { current, forget, signIn, signOut, ENDPOINT } from './session.ts';
import { errorBox, field, h, note, replace, select, time, type Child } from './ui.ts';
import { fetchHealth } from './health-data.ts';

declare global {
  interface Window {
    trustedTypes?: { createPolicy(name: string, rules: { createHTML?: (s: string, ...rest: unknown[]) => string }): unknown };
  }
}

// The CSP requires Trusted Types for every HTML sink. The page itself never writes markup; the AWS SDK parses XML
// answers (S3, IAM, STS) with DOMParser, which is let through, and nothing else is.
window.trustedTypes?.createPolicy('default', {
  createHTML: (s: string, _type: unknown, sink: unknown) => {
    if (sink === 'DOMParser parseFromString') return s;
    throw new TypeError(`markup refused for ${String(sink)}`);
  },
});

interface Page {
  render(root: HTMLElement, path: string[], query: URLSearchParams): Promise<void> | void;
}

const PAGES: Array<{ id: string; title: string; load: () => Promise<Page> }> = [
  { id: 'keys', title: 'Keys', load: () => import('./pages/keys.ts') },
  { id: 'trail', title: 'Audit trail', load: () => import('./pages/trail.ts') },
  { id: 'buckets', title: 'Buckets', load: () => import('./pages/buckets.ts') },
  { id: 'secrets', title: 'Secrets & parameters', load: () => import('./pages/secrets.ts') },
  { id: 'faces', title: 'Faces', load: () => import('./pages/faces.ts') },
  { id: 'identity', title: 'Identity', load: () => import('./pages/identity.ts') },
  { id: 'health', title: 'Health', load: () => import('./pages/health.ts') },
];

const app = document.getElementById('app')!;

function route(): { page: string; path: string[]; query: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [p, q] = raw.split('?', 2) as [string, string | undefined];
  const path = p.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: path[0] ?? '', path: path.slice(1), query: new URLSearchParams(q ?? '') };
}

async function render(): Promise<void> {
  const s = current();
  if (!s) return renderSignIn();
  const r = route();
  const page = PAGES.find((p) => p.id === r.page) ?? PAGES[0]!;
  if (page.id !== r.page) {
    location.replace(`#/${page.id}`);
    return;
  }
  const main = h('main', { id: 'page', 'data-page': page.id });
  const left = Math.max(0, Math.round((s.expiration.getTime() - Date.now()) / 60000));
  replace(
    app,
    h(
      'header',
      { class: 'top' },
      h('div', { class: 'brand' }, 'Trent'),
      h('nav', null, PAGES.map((p) => h('a', { href: `#/${p.id}`, class: p.id === page.id ? 'active' : '' }, p.title))),
      h(
        'div',
        { class: 'who' },
        h('span', { id: 'whoami', title: `temporary credentials from ${s.via}, ending ${time(s.expiration)}` }, s.arn),
        h('small', null, ` ${s.via}, ${left} min left`),
        h('button', { type: 'button', id: 'sign-out', onclick: () => signOut() }, 'Sign out'),
      ),
    ),
    main,
  );
  document.title = `${page.title} · Trent console`;
  try {
    const mod = await page.load();
    await mod.render(main, r.path, r.query);
  } catch (err) {
    replace(main, errorBox(err));
  }
}

function renderSignIn(): void {
  const region = h('input', { name: 'region', value: 'us-east-1', autocomplete: 'off', required: true });
  const accessKeyId = h('input', { name: 'accessKeyId', autocomplete: 'off', spellcheck: 'false', required: true });
  const secret = h('input', { name: 'secretAccessKey', type: 'password', autocomplete: 'off', required: true });
  const role = h('input', { name: 'roleArn', autocomplete: 'off', spellcheck: 'false', placeholder: 'arn:aws:iam::123456789012:role/name (optional)' });
  const duration = select(
    [
      ['900', '15 minutes'],
      ['3600', '1 hour'],
      ['14400', '4 hours'],
      ['43200', '12 hours'],
    ],
    '3600',
    { name: 'duration' },
  );
  const status = h('div', { id: 'sign-in-status' });
  const server = h('p', { class: 'server' }, `Trent at ${ENDPOINT}`);
  // What the server says of itself needs no credentials: its region, so that the form need not be filled twice.
  fetchHealth('/_trent/health')
    .then((hlt) => {
      if (typeof hlt.body['region'] === 'string') region.value = hlt.body['region'];
      server.append(` · ${String(hlt.body['status'] ?? 'unknown')} · version ${String(hlt.body['version'] ?? '?')}`);
    })
    .catch(() => undefined);
  const form = h(
    'form',
    { class: 'sign-in', autocomplete: 'off' },
    h('h1', null, 'Trent console'),
    server,
    field('Access key ID', accessKeyId),
    field('Secret access key', secret, 'Used once, to obtain temporary credentials (STS GetSessionToken), then forgotten.'),
    field('Role to assume', role, 'Optional: sign in as this role (STS AssumeRole) instead. IAM accepts only role sessions, as AWS does for sessions without MFA.'),
    h('div', { class: 'row' }, field('Region', region), field('Session length', duration)),
    h('button', { type: 'submit', class: 'primary', id: 'sign-in' }, 'Sign in'),
    status,
    h('p', { class: 'fine' }, 'Nothing is stored: the temporary credentials live in this tab only; signing out or closing it forgets them.'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const submit = form.querySelector('button[type=submit]') as HTMLButtonElement;
    submit.disabled = true;
    replace(status, h('p', { class: 'loading' }, 'Signing in…'));
    const request = {
      region: region.value.trim(),
      accessKeyId: accessKeyId.value.trim(),
      secretAccessKey: secret.value,
      ...(role.value.trim() ? { roleArn: role.value.trim() } : {}),
      durationSeconds: Number(duration.value),
    };
    // The long-term secret leaves the form at once; only the call in flight holds it.
    secret.value = '';
    signIn(request).then(
      () => {
        accessKeyId.value = '';
        // A page named in the address (a link followed before signing in) is shown; otherwise the keys.
        if (!route().page) location.replace('#/keys');
        else void render();
      },
      (err: unknown) => {
        submit.disabled = false;
        replace(status, errorBox(err));
      },
    );
  });
  replace(app, h('div', { class: 'sign-in-page' }, form, healthLine()));
}

function healthLine(): Child {
  return note(h('span', null, 'Server health: ', h('a', { href: '/_trent/health' }, '/_trent/health'), ' and ', h('a', { href: '/_trent/ready' }, '/_trent/ready'), ' (no credentials needed).'));
}

window.addEventListener('hashchange', () => void render());
void render();

// Leaving the page forgets the session, so that a page restored from the back-forward cache asks to sign in again.
window.addEventListener('pagehide', () => forget());
window.addEventListener('pageshow', (e) => {
  if (e.persisted) void render();
});
