// Health: what the server says of itself without credentials (/_trent/health and /_trent/ready): readiness of each
// component, the serving processes, the storage backends and the root of trust; refreshed every few seconds.
import { fetchHealth } from '../health-data.ts';
import { current } from '../session.ts';
import { badge, errorBox, h, replace, time, type Child } from '../ui.ts';

const LABELS: Record<string, string> = {
  auditTrail: 'Audit trail',
  rootOfTrust: 'Root of trust',
  metadata: 'Metadata store',
  blobs: 'Object storage',
  faces: 'Face model',
};

function state(v: unknown): Child {
  const text = String(v);
  return badge(text, /^ok\b/.test(text) ? 'ok' : /^(failing|unavailable)/.test(text) ? 'bad' : 'warn');
}

export function render(root: HTMLElement): void {
  const body = h('div', { id: 'health' });
  replace(root, h('section', { class: 'panel' }, h('header', null, h('h2', null, 'Health')), h('div', { class: 'section-body' }, body)));
  const load = async () => {
    try {
      const [health, ready] = await Promise.all([fetchHealth('/_trent/health'), fetchHealth('/_trent/ready')]);
      const b = health.body;
      const components = (b['components'] ?? {}) as Record<string, unknown>;
      const backends = (b['backends'] ?? {}) as Record<string, unknown>;
      const s = current();
      replace(
        body,
        h(
          'dl',
          { class: 'facts' },
          h('dt', null, 'Status'),
          h('dd', { id: 'health-status' }, badge(String(b['status'] ?? 'unknown'), health.status === 200 ? 'ok' : 'bad'), ` HTTP ${health.status}`),
          h('dt', null, 'Ready'),
          h('dd', { id: 'ready-status' }, badge(ready.status === 200 ? 'ready' : 'not ready', ready.status === 200 ? 'ok' : 'bad'), ` HTTP ${ready.status}`),
          h('dt', null, 'Version'),
          h('dd', null, String(b['version'] ?? '—')),
          h('dt', null, 'Region'),
          h('dd', null, String(b['region'] ?? '—')),
          h('dt', null, 'Serving processes'),
          h('dd', { id: 'health-workers' }, b['workers'] === undefined ? '—' : String(b['workers'])),
          Object.entries(backends).map(([k, v]) => [h('dt', null, LABELS[k] ?? k), h('dd', null, String(v))]),
        ),
        h('h3', null, 'Components'),
        h(
          'table',
          { id: 'components' },
          h('thead', null, h('tr', null, h('th', null, 'Component'), h('th', null, 'State'))),
          h('tbody', null, Object.entries(components).map(([k, v]) => h('tr', { 'data-component': k }, h('td', null, LABELS[k] ?? k), h('td', null, state(v))))),
        ),
        h('p', { class: 'muted' }, `Checked ${time(new Date())}. `, s ? `This tab’s session ends ${time(s.expiration)}.` : ''),
      );
    } catch (err) {
      replace(body, errorBox(err));
    }
  };
  void load();
  const timer = setInterval(() => {
    if (!body.isConnected) clearInterval(timer);
    else void load();
  }, 5000);
}
