import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { buildXml, MAX_XML_DEPTH, MAX_XML_ELEMENTS, parseXml, XmlLimitError } from '../../src/wire/xml.ts';

const nested = (depth: number) => `${'<e>'.repeat(depth)}x${'</e>'.repeat(depth)}`;

test('parseXml keeps values exactly: outer white space, tabs, line feeds, and character references for CR', () => {
  const doc = parseXml('<?xml version="1.0"?>\n<Delete>\n  <Object>\n    <Key>doc </Key>\n  </Object>\n  <Object><Key> </Key></Object>\n' +
    '  <Object><Key>\ta&#13;b&#xD;c&#10;&amp;&lt;&gt;&quot;&apos;</Key></Object>\n</Delete>');
  const objects = (doc['Delete'] as { Object: Array<{ Key: string }> }).Object;
  assert.deepEqual(objects.map((o) => o.Key), ['doc ', ' ', '\ta\rb\rc\n&<>"\'']);
});

test('parseXml normalises literal line ends as XML requires; only character references carry a CR', () => {
  assert.deepEqual(parseXml('<a><k>x\r\ny\rz</k></a>'), { a: { k: 'x\ny\nz' } });
});

test('parseXml refuses HTML entity names and references to characters XML cannot hold', () => {
  for (const bad of ['<a>&nbsp;</a>', '<a>&#0;</a>', '<a>&#x1;</a>', '<a>&#xFFFE;</a>', '<a>&#x110000;</a>']) assert.throws(() => parseXml(bad), bad);
  assert.deepEqual(parseXml('<a>&#x1F600;&#9;</a>'), { a: '\u{1F600}\t' });
});

test('buildXml writes a CR as a character reference, and a parser reads back the exact string', () => {
  const keys = ['a\rb', ' x ', 'a\r\nb', '\t<&>"\''];
  const xml = buildXml({ R: { Key: keys } });
  assert.ok(!xml.includes('\r'), 'no literal CR');
  const back = new XMLParser({ trimValues: false, parseTagValue: false, htmlEntities: true }).parse(xml) as { R: { Key: string[] } };
  assert.deepEqual(back.R.Key, keys);
  assert.deepEqual((parseXml(xml)['R'] as { Key: string[] }).Key, keys);
});

test(`parseXml refuses nesting deeper than ${MAX_XML_DEPTH} elements, and accepts exactly that`, () => {
  assert.doesNotThrow(() => parseXml(nested(MAX_XML_DEPTH)));
  assert.throws(() => parseXml(nested(MAX_XML_DEPTH + 1)), XmlLimitError);
  assert.doesNotThrow(() => parseXml(`<a>${'<b/>'.repeat(MAX_XML_DEPTH * 4)}${nested(MAX_XML_DEPTH - 1)}</a>`), 'empty elements and siblings do not add depth');
});

test(`parseXml refuses more than ${MAX_XML_ELEMENTS} elements, and accepts exactly that`, () => {
  assert.doesNotThrow(() => parseXml(`<a>${'<b/>'.repeat(MAX_XML_ELEMENTS - 1)}</a>`));
  assert.throws(() => parseXml(`<a>${'<b/>'.repeat(MAX_XML_ELEMENTS)}</a>`), XmlLimitError);
});

test('parseXml refuses a DOCTYPE (no entity of the document is expanded); comments, CDATA and the declaration are not elements', () => {
  assert.throws(() => parseXml('<!DOCTYPE a [<!ENTITY x "yyyy">]><a>&x;</a>'), XmlLimitError);
  assert.throws(() => parseXml('<a><!ENTITY x "y"></a>'), XmlLimitError);
  assert.deepEqual(parseXml(`<?xml version="1.0"?><a><!-- ${nested(40)} --><![CDATA[${nested(40)}]]></a>`), { '?xml': '', a: nested(40) });
});

test('parseXml still refuses malformed documents', () => {
  for (const bad of ['<a><b>1</a>', 'garbage', '<a></a><b></b>', '<a>']) assert.throws(() => parseXml(bad), (err: Error) => !(err instanceof XmlLimitError), bad);
});
