// A JSON editor for policy documents: the text is checked as it is typed (JSON syntax, with line and column, and
// the policy grammar's shape), and saving sends it as it is; what the service refuses is shown in AWS's words.
import { button, h, note, replace } from './ui.ts';

/** Where the JSON parser stopped, as line and column, from its "position N" message. */
function where(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return '';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return ` (line ${line}, column ${col})`;
}

/** The problems a policy document has, or none. Syntax first; then the grammar's required parts. */
export function policyProblems(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const msg = (err as Error).message;
    return [`Not valid JSON: ${msg.replace(/\s*\(line \d+ column \d+\)/, '')}${where(text, msg)}`];
  }
  const problems: string[] = [];
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return ['A policy is a JSON object.'];
  const d = doc as Record<string, unknown>;
  if (d['Version'] !== undefined && d['Version'] !== '2012-10-17' && d['Version'] !== '2008-10-17') problems.push('Version must be "2012-10-17" (or the older "2008-10-17").');
  const st = d['Statement'];
  const statements = Array.isArray(st) ? st : st && typeof st === 'object' ? [st] : undefined;
  if (!statements) return [...problems, 'Statement is missing: a policy needs at least one statement.'];
  statements.forEach((s, i) => {
    const n = `Statement ${i + 1}`;
    if (!s || typeof s !== 'object') return problems.push(`${n} is not an object.`);
    const o = s as Record<string, unknown>;
    if (o['Effect'] !== 'Allow' && o['Effect'] !== 'Deny') problems.push(`${n}: Effect must be "Allow" or "Deny".`);
    if (o['Action'] === undefined && o['NotAction'] === undefined) problems.push(`${n}: Action or NotAction is required.`);
    if (o['Action'] !== undefined && o['NotAction'] !== undefined) problems.push(`${n}: Action and NotAction cannot both be given.`);
    return undefined;
  });
  return problems;
}

export function policyEditor(initial: string, save: (text: string) => Promise<void>): HTMLElement {
  let pretty = initial;
  try {
    pretty = JSON.stringify(JSON.parse(initial), null, 2);
  } catch {
    // shown as stored
  }
  const area = h('textarea', { class: 'mono policy', rows: String(Math.min(30, Math.max(10, pretty.split('\n').length + 1))), spellcheck: 'false', id: 'policy-text' });
  area.value = pretty;
  const problems = h('div', { class: 'policy-problems', id: 'policy-problems', 'aria-live': 'polite' });
  const status = h('div', { id: 'policy-status' });
  const check = () => {
    const p = policyProblems(area.value);
    replace(problems, p.length ? h('ul', { class: 'problems' }, p.map((x) => h('li', null, x))) : note('The document is well formed.', 'ok'));
    saveButton.disabled = p.length > 0;
    return p;
  };
  const saveButton = button(
    'Save policy',
    async () => {
      if (check().length) return;
      replace(status);
      await save(area.value);
      replace(status, note('Saved.', 'ok'));
    },
    { class: 'primary', id: 'policy-save' },
    status,
  );
  area.addEventListener('input', () => {
    replace(status);
    check();
  });
  check();
  return h('div', { class: 'policy-editor' }, area, problems, h('div', { class: 'toolbar' }, saveButton), status);
}
