// Small DOM helpers. Every piece of text reaches the page as a text node or an attribute value, never as markup,
// so nothing a server or a user wrote can become script (the page's CSP also forbids inline code).

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (ev: Event) => void;
export type Props = Record<string, string | number | boolean | Handler | undefined | null>;

function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

function applyProps(el: Element, props: Props | undefined): void {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as Handler);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else if (k === 'checked' && 'checked' in el) (el as HTMLInputElement).checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** An HTML element. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  applyProps(el, props ?? undefined);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** An SVG element. */
export function svg(tag: string, props?: Props | null, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props ?? undefined);
  append(el, children);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replace(el: Element, ...children: Child[]): void {
  clear(el);
  append(el, children);
}

/** What an AWS SDK error says: the service's error code and its message, as AWS wrote them. */
export function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string; Code?: string };
  const code = e?.Code ?? e?.name ?? 'Error';
  return `${code}: ${e?.message ?? String(err)}`;
}

/** An error as the page shows it: the AWS error code and message, in a box that says it is an error. */
export function errorBox(err: unknown, hint?: string): HTMLElement {
  return h('div', { class: 'error', role: 'alert' }, h('strong', null, 'Error '), errorText(err), hint ? h('p', { class: 'hint' }, hint) : null);
}

export function note(text: Child, kind: 'info' | 'ok' | 'warn' = 'info'): HTMLElement {
  return h('div', { class: `note ${kind}` }, text);
}

/**
 * A part of a page that loads on its own: shows a loading line, then what `load` renders, or the AWS error it met.
 * One failing section (for example AccessDenied on one service) never takes the rest of the page with it.
 */
export function section(title: string, load: (body: HTMLElement, reload: () => void) => Promise<Child>, opts: { id?: string; actions?: Child } = {}): HTMLElement & { reload(): void } {
  const body = h('div', { class: 'section-body' });
  const el = h('section', { class: 'panel', ...(opts.id ? { id: opts.id } : {}) }, h('header', null, h('h2', null, title), h('div', { class: 'actions' }, opts.actions)), body);
  const run = () => {
    replace(body, h('p', { class: 'loading' }, 'Loading…'));
    load(body, run).then(
      (content) => {
        if (content !== undefined) replace(body, content);
      },
      (err: unknown) => replace(body, errorBox(err)),
    );
  };
  run();
  return Object.assign(el, { reload: run });
}

export interface Column<T> {
  title: string;
  cell: (row: T) => Child;
  class?: string;
}

export function table<T>(columns: Column<T>[], rows: T[], opts: { empty?: string; rowProps?: (row: T) => Props } = {}): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, opts.empty ?? 'Nothing here yet.');
  return h(
    'table',
    null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', c.class ? { class: c.class } : null, c.title)))),
    h(
      'tbody',
      null,
      rows.map((r) => h('tr', opts.rowProps?.(r) ?? null, columns.map((c) => h('td', c.class ? { class: c.class } : null, c.cell(r))))),
    ),
  );
}

/** A button that runs `action`, disabled while it runs; a failure is shown in `out` (or beside the button). */
export function button(label: string, action: () => Promise<void> | void, props: Props = {}, out?: HTMLElement): HTMLButtonElement {
  const b: HTMLButtonElement = h('button', { type: 'button', ...props }, label);
  b.addEventListener('click', () => {
    b.disabled = true;
    Promise.resolve()
      .then(action)
      .catch((err: unknown) => {
        const box = errorBox(err);
        if (out) replace(out, box);
        else b.insertAdjacentElement('afterend', box);
      })
      .finally(() => {
        b.disabled = false;
      });
  });
  return b;
}

/** A modal dialog; resolves with the value `submit` returns, or undefined when cancelled. Errors stay in the dialog. */
export function dialog<T>(title: string, content: Child, submit?: { label: string; run: () => Promise<T> | T; danger?: boolean }): Promise<T | undefined> {
  return new Promise((resolve) => {
    const status = h('div', { class: 'dialog-status' });
    const d = h('dialog', { class: 'dialog', 'aria-label': title });
    const close = (v: T | undefined) => {
      d.close();
      d.remove();
      resolve(v);
    };
    const ok = submit
      ? button(
          submit.label,
          async () => {
            replace(status);
            close(await submit.run());
          },
          { class: submit.danger ? 'danger' : 'primary' },
          status,
        )
      : null;
    const form = h('form', { method: 'dialog' }, h('h3', null, title), h('div', { class: 'dialog-body' }, content), status, h('div', { class: 'dialog-actions' }, h('button', { type: 'button', onclick: () => close(undefined) }, submit ? 'Cancel' : 'Close'), ok));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      ok?.click();
    });
    d.addEventListener('cancel', (e) => {
      e.preventDefault();
      close(undefined);
    });
    d.appendChild(form);
    document.body.appendChild(d);
    d.showModal();
    const first = d.querySelector<HTMLElement>('input, select, textarea');
    first?.focus();
  });
}

export function field(label: string, control: HTMLElement, help?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', null, label), control, help ? h('small', null, help) : null);
}

export function select(options: Array<[string, string]>, value?: string, props: Props = {}): HTMLSelectElement {
  const s = h('select', props, options.map(([v, text]) => h('option', { value: v }, text)));
  if (value !== undefined) s.value = value;
  return s;
}

export function badge(text: string, kind: 'ok' | 'warn' | 'bad' | 'muted' = 'muted'): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}

export function time(d: Date | number | string | undefined): string {
  if (d === undefined) return '—';
  const date = d instanceof Date ? d : new Date(typeof d === 'number' && d < 1e12 ? d * 1000 : d);
  if (Number.isNaN(date.getTime())) return '—';
  return date.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A value shown in a <pre>, pretty-printed when it is JSON. */
export function pre(value: string, props: Props = {}): HTMLElement {
  let text = value;
  try {
    text = JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    // not JSON: as it is
  }
  return h('pre', props, text);
}

export function link(href: string, text: Child, props: Props = {}): HTMLAnchorElement {
  return h('a', { href, ...props }, text);
}

/** Runs `fn` over items with at most `n` in flight. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Offers bytes as a file download (a blob: URL, revoked at once after use). */
export function download(name: string, data: Uint8Array, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([data as BlobPart], { type }));
  const a = h('a', { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
