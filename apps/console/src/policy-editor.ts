// A JSON editor for policy documents: the text is checked as it is typed (JSON syntax, with line and column, and
// the policy grammar's shape), and saving sends it as it is; what the service refuses is shown in AWS's words.
import { button, h, note, replace } from './ui.ts';

/**
 * The offset of the first character JSON's grammar does not allow (or the text's length, where it ends too soon):
 * the parser's own messages do not always say where.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string) => (text.startsWith(word, i) ? (i += word.length) : fail());
  const string = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i]!.charCodeAt(0) < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? '')) fail();
      }
      i++;
    }
    if (text[i] !== '"') fail();
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    }
    if (c === '"') return string();
    if (c === 't') return void literal('true');
    if (c === 'f') return void literal('false');
    if (c === 'n') return void literal('null');
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return -1;
  } catch (at) {
    if (typeof at === 'number') return at;
    throw at;
  }
}

/** Line and column (from 1) of an offset. */
function where(text: string, offset: number): string {
  const before = text.slice(0, offset);
  return ` (line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')})`;
}

/** The problems a policy document has, or none. Syntax first; then the grammar's required parts. */
export function policyProblems(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const at = jsonErrorOffset(text);
    const msg = (err as Error).message.replace(/\s*in JSON at position \d+.*$/, '').replace(/,\s*(\.\.\.)?".*$/s, '');
    return [`Not valid JSON: ${msg}${at >= 0 ? where(text, at) : ''}`];
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
