import { XMLBuilder, XMLParser } from 'fast-xml-parser';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true });

export type XmlValue = string | number | boolean | null | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

/** Serialise `{ Root: {...} }`; arrays become repeated elements; text is escaped by fast-xml-parser. */
export function buildXml(doc: XmlObject, prolog = true): string {
  return (prolog ? '<?xml version="1.0" encoding="UTF-8"?>\n' : '') + builder.build(doc);
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
});

/** Parse a request body; element values stay strings. Throws on malformed XML. */
export function parseXml(text: string): XmlObject {
  return parser.parse(text, true) as XmlObject;
}
