/**
 * IAM unique identifiers in resource policies. AWS stores an IAM user or role named in a policy's
 * Principal element by its unique id (AIDA... / AROA...), so a principal deleted and created again
 * under the same name is a different principal and does not inherit access; a stored policy reads
 * back with ARNs while the principals exist, and with the bare id once one is gone.
 *
 * This module finds the Principal / NotPrincipal "AWS" values in a policy's JSON text and rewrites
 * them in place, leaving every other byte as written (key policies and bucket policies read back as
 * they were put).
 */

/** An IAM user (AIDA) or role (AROA) unique id, as Trent mints them (src/crypto/random.ts awsId). */
export const UNIQUE_ID = /^(AIDA|AROA)[A-Z0-9]{12,}$/;

/** A same-partition IAM user or role ARN, with its account and kind. */
const ENTITY_ARN = /^arn:aws:iam::(\d{12}):(user|role)\/.+$/;

export function entityArn(value: string): { accountId: string; kind: 'user' | 'role' } | undefined {
  const m = ENTITY_ARN.exec(value);
  return m ? { accountId: m[1]!, kind: m[2] as 'user' | 'role' } : undefined;
}

interface Span {
  start: number;
  end: number;
  value: string;
}

/** Raised for text that is not JSON; callers validate documents before rewriting them, so this is a bug guard. */
class NotJson extends Error {}

/**
 * The string tokens of a policy that are AWS principal values: Statement (an object or a list of them)
 * → Principal | NotPrincipal → "AWS" → a string or a list of strings. Offsets are of the JSON tokens,
 * quotes included.
 */
export function principalSpans(text: string): Span[] {
  const spans: Span[] = [];
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const str = (): Span => {
    if (text[i] !== '"') throw new NotJson();
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) throw new NotJson();
    i++;
    return { start, end: i, value: JSON.parse(text.slice(start, i)) as string };
  };
  // path: the keys (or '[]' for list items) from the document root to the current value.
  const value = (path: string[]): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const key = str().value;
        ws();
        if (text[i++] !== ':') throw new NotJson();
        value([...path, key]);
        ws();
        if (text[i] === ',') i++;
        else if (text[i++] === '}') return;
        else throw new NotJson();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value([...path, '[]']);
        ws();
        if (text[i] === ',') i++;
        else if (text[i++] === ']') return;
        else throw new NotJson();
      }
    } else if (c === '"') {
      const s = str();
      if (isPrincipalPath(path)) spans.push(s);
    } else {
      const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
      if (!m) throw new NotJson();
      i += m[0].length;
    }
  };
  value([]);
  return spans;
}

function isPrincipalPath(path: string[]): boolean {
  // Statement / [ [] ] / (Not)Principal / AWS / [ [] ]
  let k = 0;
  if (path[k++] !== 'Statement') return false;
  if (path[k] === '[]') k++;
  if (path[k] !== 'Principal' && path[k] !== 'NotPrincipal') return false;
  k++;
  if (path[k++] !== 'AWS') return false;
  if (path[k] === '[]') k++;
  return k === path.length;
}

/** Replace each AWS principal value for which `map` gives a new value; the rest of the text is untouched. */
export function rewritePrincipals(text: string, map: (value: string) => string | undefined): string {
  let spans: Span[];
  try {
    spans = principalSpans(text);
  } catch (err) {
    if (err instanceof NotJson) return text;
    throw err;
  }
  let out = '';
  let at = 0;
  for (const s of spans) {
    const next = map(s.value);
    if (next === undefined || next === s.value) continue;
    out += text.slice(at, s.start) + JSON.stringify(next);
    at = s.end;
  }
  return out + text.slice(at);
}

/** The AWS principal values of a policy text (empty when it is not JSON). */
export function principalValues(text: string): string[] {
  try {
    return principalSpans(text).map((s) => s.value);
  } catch (err) {
    if (err instanceof NotJson) return [];
    throw err;
  }
}
