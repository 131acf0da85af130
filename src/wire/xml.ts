import { XMLBuilder, XMLParser, type EntityDecoderOptions } from 'fast-xml-parser';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true });

export type XmlValue = string | number | boolean | null | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

/**
 * Serialise `{ Root: {...} }`; arrays become repeated elements; text is escaped by fast-xml-parser. A carriage
 * return is written as a character reference: a reader turns a literal one into a line feed (XML 1.0 §2.11),
 * and S3 keys are exact byte strings.
 */
export function buildXml(doc: XmlObject, prolog = true): string {
  return (prolog ? '<?xml version="1.0" encoding="UTF-8"?>\n' : '') + builder.build(doc).replace(/\r/g, '&#13;');
}

/** Deepest element nesting a request document may have (S3's deepest, a lifecycle rule's And filter, is 5). */
export const MAX_XML_DEPTH = 32;
/** Most elements a request document may have (CompleteMultipartUpload: 10,000 parts of a few elements each). */
export const MAX_XML_ELEMENTS = 100_000;

/** A request document refused for its shape before it is parsed: too deep, too many elements, or a DTD. */
export class XmlLimitError extends Error {}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML 1.0's Char production: what a character reference may name. */
function isXmlChar(c: number): boolean {
  return c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/**
 * The entities a document without a DTD has: the five predefined ones and character references (how a client sends
 * a CR in a key: &#13;). No HTML names, no declared entities (a DOCTYPE is refused before parsing).
 */
const entityDecoder: EntityDecoderOptions = {
  setExternalEntities() {},
  addInputEntities() {},
  reset() {},
  setXmlVersion() {},
  decode(text: string): string {
    if (!text.includes('&')) return text;
    return text.replace(/&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([A-Za-z]+));/g, (whole, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
      if (name !== undefined) {
        const v = PREDEFINED[name];
        if (v === undefined) throw new Error(`undeclared entity &${name};`);
        return v;
      }
      const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
      if (!isXmlChar(code)) throw new Error(`character reference ${whole} names no XML character`);
      return String.fromCodePoint(code);
    });
  },
};

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  // Values are kept exactly as sent: S3 keys, tag values and the like may begin or end with white space.
  trimValues: false,
  processEntities: true,
  entityDecoder,
  maxNestedTags: MAX_XML_DEPTH,
});

/**
 * Parse a request body; element values stay strings, white space and all (callers trim where the schema's type
 * is not a string). Throws on malformed XML; XmlLimitError on a document with a DOCTYPE (no entity of its own
 * is ever expanded), nested deeper than MAX_XML_DEPTH, or with more than MAX_XML_ELEMENTS elements.
 */
export function parseXml(text: string): XmlObject {
  checkShape(text);
  return parser.parse(text, true) as XmlObject;
}

/** One pass over the text before any parsing: start tags counted, nesting followed, declarations refused. */
function checkShape(text: string): void {
  let elements = 0;
  let depth = 0;
  let at = text.indexOf('<');
  while (at >= 0) {
    const next = text.charCodeAt(at + 1);
    if (next === 0x21 /* ! */) {
      if (text.startsWith('<!--', at)) at = skipPast(text, at, '-->');
      else if (text.startsWith('<![CDATA[', at)) at = skipPast(text, at, ']]>');
      else throw new XmlLimitError('document type declarations are not accepted');
    } else if (next === 0x3f /* ? */) {
      at = skipPast(text, at, '?>');
    } else if (next === 0x2f /* / */) {
      depth--;
      at = text.indexOf('>', at);
    } else {
      const end = text.indexOf('>', at);
      if (end < 0) return; // malformed: the parser says so
      if (++elements > MAX_XML_ELEMENTS) throw new XmlLimitError(`more than ${MAX_XML_ELEMENTS} elements`);
      if (text.charCodeAt(end - 1) !== 0x2f /* / */ && ++depth > MAX_XML_DEPTH) throw new XmlLimitError(`nested deeper than ${MAX_XML_DEPTH} elements`);
      at = end;
    }
    if (at < 0) return;
    at = text.indexOf('<', at + 1);
  }
}

function skipPast(text: string, from: number, terminator: string): number {
  const i = text.indexOf(terminator, from);
  return i < 0 ? -1 : i + terminator.length - 1;
}
