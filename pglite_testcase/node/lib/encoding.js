// Client encodings other than UTF8, converted here.
//
// PostgreSQL converts between a client's `client_encoding` and the database's with
// conversion functions that are loadable modules, which PGlite cannot load: its backend
// dies on the first conversion. So the backend keeps talking UTF8, the client's setting
// lives in a setting of this server's own (SETTING), and this module converts each
// client's messages on the way in and PGlite's replies on the way out, as PostgreSQL
// would: text in every message, values in text format, and in binary format the values
// whose types PostgreSQL sends as text (text, varchar, name, json, enums, arrays of them...).
//
// Encodings are converted with the tables of node's TextDecoder (ICU); an encoding node
// has no table for still works for ASCII, and any other character gets an error that says
// so, never a wrong byte.
'use strict';
const { message, eachMessage, int16, int32 } = require('./framing');
const protocol = require('./protocol');

// The setting that holds a client's client_encoding ('' : the one it connected with).
const SETTING = 'pglite_testcase.client_encoding';

// PostgreSQL's names: its aliases (encnames.c), cleaned as it cleans them (letters and
// digits, lower case), to the name it reports.
const ALIASES = {
  abc: 'WIN1258',
  alt: 'WIN866',
  big5: 'BIG5',
  euccn: 'EUC_CN',
  eucjis2004: 'EUC_JIS_2004',
  eucjp: 'EUC_JP',
  euckr: 'EUC_KR',
  euctw: 'EUC_TW',
  gb18030: 'GB18030',
  gbk: 'GBK',
  iso88591: 'LATIN1',
  iso885910: 'LATIN6',
  iso885913: 'LATIN7',
  iso885914: 'LATIN8',
  iso885915: 'LATIN9',
  iso885916: 'LATIN10',
  iso88592: 'LATIN2',
  iso88593: 'LATIN3',
  iso88594: 'LATIN4',
  iso88595: 'ISO_8859_5',
  iso88596: 'ISO_8859_6',
  iso88597: 'ISO_8859_7',
  iso88598: 'ISO_8859_8',
  iso88599: 'LATIN5',
  johab: 'JOHAB',
  koi8: 'KOI8R',
  koi8r: 'KOI8R',
  koi8u: 'KOI8U',
  mskanji: 'SJIS',
  muleinternal: 'MULE_INTERNAL',
  shiftjis: 'SJIS',
  shiftjis2004: 'SHIFT_JIS_2004',
  sjis: 'SJIS',
  sqlascii: 'SQL_ASCII',
  tcvn: 'WIN1258',
  tcvn5712: 'WIN1258',
  uhc: 'UHC',
  unicode: 'UTF8',
  utf8: 'UTF8',
  vscii: 'WIN1258',
  win: 'WIN1251',
  win932: 'SJIS',
  win936: 'GBK',
  win949: 'UHC',
  win950: 'BIG5',
  windows932: 'SJIS',
  windows936: 'GBK',
  windows949: 'UHC',
  windows950: 'BIG5',
};
for (let n = 1; n <= 10; n += 1) ALIASES[`latin${n}`] = `LATIN${n}`;
for (const n of [866, 874, 1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257, 1258]) {
  ALIASES[`win${n}`] = `WIN${n}`;
  ALIASES[`windows${n}`] = `WIN${n}`;
}

// PostgreSQL's name for an encoding name a client gave, or null if it names none.
function canonicalName(name) {
  return ALIASES[String(name).toLowerCase().replace(/[^a-z0-9]/g, '')] || null;
}

// The encodings that need no conversion here.
const NATIVE = new Set(['UTF8', 'SQL_ASCII']);

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const HIGH = range(0xa1, 0xfe);

// How each encoding's characters are found: its TextDecoder label, and its byte
// sequences beyond ASCII (single bytes, or [lead bytes, trail bytes] pairs).
const ISO_8859 = { single: range(0x80, 0xff), c1: true };
const TABLES = {
  LATIN1: { label: 'latin1-identity', ...ISO_8859 },
  LATIN2: { label: 'iso-8859-2', ...ISO_8859 },
  LATIN3: { label: 'iso-8859-3', ...ISO_8859 },
  LATIN4: { label: 'iso-8859-4', ...ISO_8859 },
  LATIN5: { label: 'windows-1254', ...ISO_8859 }, // ISO-8859-9 above 0x9F
  LATIN6: { label: 'iso-8859-10', ...ISO_8859 },
  LATIN7: { label: 'iso-8859-13', ...ISO_8859 },
  LATIN8: { label: 'iso-8859-14', ...ISO_8859 },
  LATIN9: { label: 'iso-8859-15', ...ISO_8859 },
  ISO_8859_5: { label: 'iso-8859-5', ...ISO_8859 },
  ISO_8859_6: { label: 'iso-8859-6', ...ISO_8859 },
  ISO_8859_7: { label: 'iso-8859-7', ...ISO_8859 },
  ISO_8859_8: { label: 'iso-8859-8', ...ISO_8859 },
  WIN866: { label: 'ibm866', single: range(0x80, 0xff) },
  WIN874: { label: 'windows-874', single: range(0x80, 0xff) },
  KOI8R: { label: 'koi8-r', single: range(0x80, 0xff) },
  KOI8U: { label: 'koi8-u', single: range(0x80, 0xff) },
  EUC_JP: { label: 'euc-jp', pairs: [[HIGH, HIGH], [[0x8e], range(0xa1, 0xdf)]], triples: [[[0x8f], HIGH, HIGH]] },
  EUC_KR: { label: 'euc-kr', pairs: [[HIGH, HIGH]] },
  EUC_CN: { label: 'gbk', pairs: [[HIGH, HIGH]] },
  UHC: { label: 'euc-kr', pairs: [[range(0x81, 0xfe), [...range(0x41, 0x5a), ...range(0x61, 0x7a), ...range(0x81, 0xfe)]]] },
  SJIS: {
    label: 'shift_jis',
    single: range(0xa1, 0xdf),
    pairs: [[[...range(0x81, 0x9f), ...range(0xe0, 0xfc)], [...range(0x40, 0x7e), ...range(0x80, 0xfc)]]],
  },
  BIG5: { label: 'big5', pairs: [[range(0x81, 0xfe), [...range(0x40, 0x7e), ...range(0xa1, 0xfe)]]] },
  GBK: { label: 'gbk', pairs: [[range(0x81, 0xfe), [...range(0x40, 0x7e), ...range(0x80, 0xfe)]]] },
};
for (const n of [1250, 1251, 1253, 1254, 1255, 1256, 1257, 1258]) {
  TABLES[`WIN${n}`] = { label: `windows-${n}`, single: range(0x80, 0xff) };
}
TABLES.WIN1252 = { label: 'windows-1252-table', single: range(0x80, 0xff) };

class ConversionError extends Error {
  constructor(sqlstate, text) {
    super(text);
    this.sqlstate = sqlstate;
  }
}

const hex = (bytes) => Array.from(bytes, (b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');

function isAscii(bytes) {
  for (let i = 0; i < bytes.length; i += 1) if (bytes[i] >= 0x80) return false;
  return true;
}

// Length of the UTF-8 sequence that starts with `lead`.
function utf8Length(lead) {
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

// Windows-1252 from 0x80 to 0x9F (node 20 decodes it as ISO-8859-1, 0x80 as nothing);
// undefined bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) have no character, as in PostgreSQL.
const WIN1252_C1 = '€\0‚ƒ„…†‡ˆ‰Š‹Œ\0Ž\0\0‘’“”•–—˜™š›œ\0žŸ';

function decoderFor(label) {
  if (label === 'latin1-identity') return { decode: (bytes) => String.fromCharCode(bytes[0]) };
  if (label === 'windows-1252-table') {
    return {
      decode: (bytes) => {
        if (bytes[0] >= 0xa0) return String.fromCharCode(bytes[0]);
        if (WIN1252_C1[bytes[0] - 0x80] === '\0') throw new Error('undefined');
        return WIN1252_C1[bytes[0] - 0x80];
      },
    };
  }
  try {
    return new TextDecoder(label, { fatal: true });
  } catch {
    return null; // a node without this ICU table
  }
}

// One encoding: byte sequences to and from UTF-8, built once from the decoder's table.
class Codec {
  constructor(name) {
    this.name = name;
    const table = TABLES[name];
    const decoder = table ? decoderFor(table.label) : null;
    this.toServer = new Map(); // the client's bytes (as a 'latin1' string key) → UTF-8 bytes
    this.toClient = new Map(); // a code point → the client's bytes
    this.lengths = new Map(); // lead byte → sequence length
    this.converts = decoder !== null;
    if (!decoder) return;
    const add = (bytes) => {
      let text;
      try {
        text = table.c1 && bytes.length === 1 && bytes[0] < 0xa0 ? String.fromCharCode(bytes[0]) : decoder.decode(Buffer.from(bytes));
      } catch {
        return;
      }
      if (!text || text.includes('\ufffd') || [...text].length !== 1) return;
      this.toServer.set(Buffer.from(bytes).toString('latin1'), Buffer.from(text, 'utf8'));
      this.lengths.set(bytes[0], bytes.length);
      const point = text.codePointAt(0);
      if (!this.toClient.has(point)) this.toClient.set(point, Buffer.from(bytes));
    };
    for (const byte of table.single || []) add([byte]);
    for (const [leads, trails] of table.pairs || []) for (const a of leads) for (const b of trails) add([a, b]);
    for (const [leads, seconds, thirds] of table.triples || []) {
      for (const a of leads) for (const b of seconds) for (const c of thirds) add([a, b, c]);
    }
    for (const [leadsOf] of table.pairs || []) for (const lead of leadsOf) if (!this.lengths.has(lead)) this.lengths.set(lead, 2);
  }

  // The client's bytes as UTF-8 (throws ConversionError as PostgreSQL would).
  toUtf8(bytes) {
    return this.translate(
      bytes,
      (lead) => this.lengths.get(lead) || 1,
      (sequence) => this.toServer.get(sequence.toString('latin1')),
      (sequence, length) =>
        length > 1 && sequence.length === length
          ? new ConversionError('22P05', `character with byte sequence ${hex(sequence)} in encoding "${this.name}" has no equivalent in encoding "UTF8"`)
          : new ConversionError('22021', `invalid byte sequence for encoding "${this.name}": ${hex(sequence)}`)
    );
  }

  // UTF-8 bytes in the client's encoding (throws ConversionError as PostgreSQL would).
  fromUtf8(bytes) {
    return this.translate(
      bytes,
      utf8Length,
      (sequence) => this.toClient.get(sequence.toString('utf8').codePointAt(0)),
      (sequence) =>
        new ConversionError('22P05', `character with byte sequence ${hex(sequence)} in encoding "UTF8" has no equivalent in encoding "${this.name}"`)
    );
  }

  // `bytes` with each non-ASCII sequence (its length from its lead byte) replaced by `lookup`'s
  // bytes for it; a sequence without any is `failure`'s error. ASCII is the same on both sides.
  translate(bytes, lengthOf, lookup, failure) {
    if (isAscii(bytes)) return bytes;
    if (!this.converts) throw this.unsupported();
    const out = [];
    let start = 0;
    for (let i = 0; i < bytes.length; ) {
      if (bytes[i] < 0x80) {
        i += 1;
        continue;
      }
      const length = lengthOf(bytes[i]);
      const sequence = bytes.subarray(i, i + length);
      const converted = lookup(sequence);
      if (!converted) throw failure(sequence, length);
      out.push(bytes.subarray(start, i), converted);
      i += length;
      start = i;
    }
    out.push(bytes.subarray(start));
    return Buffer.concat(out);
  }

  unsupported() {
    return new ConversionError(
      '0A000',
      `pglite_testcase: the PGlite server converts only ASCII characters to and from client_encoding ${this.name} ` +
        '(node has no conversion table for it); use UTF8 or another encoding'
    );
  }
}

const codecs = new Map();

// The codec for a client's encoding (PostgreSQL's name), or null when none is needed.
function codecFor(name) {
  if (!name || NATIVE.has(name)) return null;
  if (!codecs.has(name)) codecs.set(name, new Codec(name));
  return codecs.get(name);
}

// -- the statements that set client_encoding ----------------------------------------------

const VALUE = String.raw`('(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z0-9_\-]+)`;
const SET_ENCODING = new RegExp(
  String.raw`(^|;)(\s*)SET\s+(SESSION\s+|LOCAL\s+)?(?:client_encoding\s*(?:TO|=)|NAMES)\s*${VALUE}`,
  'gi'
);
const RESET_ENCODING = /(^|;)(\s*)RESET\s+client_encoding\b/gi;
const SHOW_ENCODING = /^\s*SHOW\s+client_encoding\s*;?\s*$/i;
const SET_CONFIG_ENCODING = /\bset_config\s*\(\s*'client_encoding'/gi;

function unquote(value) {
  if (value.startsWith("'")) return value.slice(1, -1).replace(/''/g, "'");
  if (value.startsWith('"')) return value.slice(1, -1).replace(/""/g, '"');
  return value;
}

function literal(text) {
  return `'${String(text).replace(/'/g, "''")}'`;
}

// Whether `sql` may touch client_encoding (a cheap test before rewriting).
function mentionsEncoding(sql) {
  return /client_encoding|\bNAMES\b/i.test(sql);
}

// `sql` with its client_encoding statements aimed at SETTING (the backend stays UTF8).
// `raising(sqlstate, message)` gives SQL that fails so; `startupEncoding` is what SHOW
// reports when the client set nothing.
function rewriteSql(sql, { raising, startupEncoding }) {
  if (!mentionsEncoding(sql)) return sql;
  if (SHOW_ENCODING.test(sql)) {
    return `SELECT coalesce(nullif(pg_catalog.current_setting('${SETTING}', true), ''), ${literal(startupEncoding)}) AS client_encoding`;
  }
  let refused = null;
  const rewritten = sql
    .replace(SET_ENCODING, (whole, start, space, scope, value) => {
      if (/^default$/i.test(value)) return `${start}${space}SET ${scope || ''}${SETTING} TO DEFAULT`;
      const name = canonicalName(unquote(value));
      if (name === null) refused = refused || `invalid value for parameter "client_encoding": "${unquote(value)}"`;
      return `${start}${space}SET ${scope || ''}${SETTING} TO ${literal(name || '')}`;
    })
    .replace(RESET_ENCODING, (whole, start, space) => `${start}${space}RESET ${SETTING}`)
    .replace(SET_CONFIG_ENCODING, `pg_catalog.set_config('${SETTING}'`);
  return refused === null ? rewritten : raising('22023', refused);
}

// The encoding a client has: the setting's value (any spelling), else the one it connected with.
function effectiveEncoding(settingValue, startupEncoding) {
  return (settingValue && canonicalName(settingValue)) || startupEncoding || 'UTF8';
}

// -- the messages ---------------------------------------------------------------------------

// Binary values PostgreSQL sends and receives as text in the client's encoding, by the
// type's send function: text-like values whole, jsonb after its version byte, arrays and
// records element by element.
const TEXT_SENDS = new Set(['textsend', 'varcharsend', 'bpcharsend', 'namesend', 'unknownsend', 'json_send', 'enum_send', 'citextsend']);
// Built-in types' send functions, so that the common ones need no catalog lookup.
const BUILTIN = new Map([
  [25, ['textsend', 0]],
  [1043, ['varcharsend', 0]],
  [1042, ['bpcharsend', 0]],
  [19, ['namesend', 0]],
  [705, ['unknownsend', 0]],
  [114, ['json_send', 0]],
  [3802, ['jsonb_send', 0]],
  [1009, ['array_send', 25]],
  [1015, ['array_send', 1043]],
  [1014, ['array_send', 1042]],
  [1003, ['array_send', 19]],
  [199, ['array_send', 114]],
  [3807, ['array_send', 3802]],
  [2249, ['record_send', 0]],
]);
const UNCONVERTED = ['', 0]; // any other built-in type: its binary form holds no text
const FIRST_USER_OID = 16384; // types from CREATE TYPE, CREATE DOMAIN, extensions

// Types by OID, learned from the catalog as they are met (one query per batch at most).
class TypeCatalog {
  // query(sql) → rows ([[oid, send, elem], ...]) or null
  constructor(query) {
    this.query = query;
    this.known = new Map(BUILTIN);
  }

  async learn(oids) {
    // Built-in types not listed in BUILTIN hold no text in their binary form.
    const unknown = [...new Set(oids)].filter((oid) => oid >= FIRST_USER_OID && !this.known.has(oid));
    if (unknown.length === 0) return;
    const rows = await this.query(
      `SELECT oid::int8, typsend::text, typelem::int8, typbasetype::int8 FROM pg_catalog.pg_type WHERE oid IN (${unknown.join(', ')})`
    );
    for (const oid of unknown) this.known.set(oid, UNCONVERTED);
    for (const [oid, send, elem] of rows || []) this.known.set(Number(oid), [send, Number(elem)]);
    // The element types of the arrays just learnt.
    const elements = unknown.map((oid) => this.kind(oid)[1]).filter((oid) => oid >= FIRST_USER_OID && !this.known.has(oid));
    if (elements.length > 0) await this.learn(elements);
  }

  kind(oid) {
    return this.known.get(oid) || UNCONVERTED;
  }

  // Whether a binary value of this type may hold text.
  holdsText(oid) {
    return this.kind(oid)[0] !== '';
  }
}

// A binary value of type `oid`, converted by `convert` (bytes → bytes) where it holds text.
function convertBinary(value, oid, types, convert) {
  const [send, elem] = types.kind(oid);
  if (TEXT_SENDS.has(send)) return convert(value);
  if (send === 'jsonb_send' && value.length > 0) return Buffer.concat([value.subarray(0, 1), convert(value.subarray(1))]);
  if (send === 'array_send') return convertArray(value, types, convert);
  if (send === 'record_send') return convertRecord(value, types, convert);
  return value;
}

function convertArray(value, types, convert) {
  const dimensions = value.readInt32BE(0);
  const elem = value.readUInt32BE(8);
  if (!types.holdsText(elem)) return value;
  let offset = 12 + 8 * dimensions;
  const parts = [value.subarray(0, offset)];
  while (offset < value.length) {
    const length = value.readInt32BE(offset);
    offset += 4;
    if (length < 0) {
      parts.push(value.subarray(offset - 4, offset));
      continue;
    }
    const converted = convertBinary(value.subarray(offset, offset + length), elem, types, convert);
    parts.push(int32(converted.length), converted);
    offset += length;
  }
  return Buffer.concat(parts);
}

function convertRecord(value, types, convert) {
  const count = value.readInt32BE(0);
  let offset = 4;
  const parts = [value.subarray(0, 4)];
  for (let i = 0; i < count; i += 1) {
    const oid = value.readUInt32BE(offset);
    const length = value.readInt32BE(offset + 4);
    offset += 8;
    if (length < 0) {
      parts.push(value.subarray(offset - 8, offset));
      continue;
    }
    const converted = convertBinary(value.subarray(offset, offset + length), oid, types, convert);
    parts.push(value.subarray(offset - 8, offset - 4), int32(converted.length), converted); // its OID, its new length
    offset += length;
  }
  return Buffer.concat(parts);
}

// The OIDs inside binary values that a catalog lookup must know first.
function elementOids(value, oid, types, found) {
  const [send] = types.kind(oid);
  if (send === 'array_send' && value.length >= 12) found.push(value.readUInt32BE(8));
  if (send === 'record_send' && value.length >= 4) {
    let offset = 4;
    for (let i = 0; i < value.readInt32BE(0) && offset + 8 <= value.length; i += 1) {
      found.push(value.readUInt32BE(offset));
      const length = value.readInt32BE(offset + 4);
      offset += 8 + Math.max(length, 0);
    }
  }
}

// Reading a message's fields.
class Reader {
  constructor(part) {
    this.part = part;
    this.offset = 5;
  }

  cstring() {
    const end = this.part.indexOf(0, this.offset);
    const value = this.part.subarray(this.offset, end);
    this.offset = end + 1;
    return value;
  }

  int16() {
    const value = this.part.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32() {
    const value = this.part.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(length) {
    const value = this.part.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  rest() {
    return this.part.subarray(this.offset);
  }
}

const zeroTerminated = (bytes) => Buffer.concat([bytes, Buffer.from([0])]);

// Error and notice fields, converted (what cannot be shown in the client's encoding is
// shown as '?', as PostgreSQL does when a conversion fails inside error reporting).
function convertFields(part, codec) {
  const reader = new Reader(part);
  const fields = [];
  while (reader.offset < part.length && part[reader.offset] !== 0) {
    const code = part.subarray(reader.offset, reader.offset + 1);
    reader.offset += 1;
    const value = reader.cstring();
    let converted;
    try {
      converted = codec.fromUtf8(value);
    } catch {
      converted = Buffer.from(value.toString('utf8').replace(/[^\x00-\x7f]/gu, '?'));
    }
    fields.push(code, zeroTerminated(converted));
  }
  return message(String.fromCharCode(part[0]), ...fields, Buffer.from([0]));
}

// A RowDescription's [type OID, format] per column.
function rowDescription(part) {
  const reader = new Reader(part);
  const count = reader.int16();
  const columns = [];
  for (let i = 0; i < count; i += 1) {
    reader.cstring();
    reader.offset += 6; // table OID, column number
    const oid = part.readUInt32BE(reader.offset);
    reader.offset += 10; // type OID, size, modifier
    columns.push([oid, reader.int16()]);
  }
  return columns;
}

const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

// Binary COPY data (its header, whole rows, its trailer, any of them) with the text in its
// values converted; `oids`: the columns' types.
function convertBinaryCopy(data, oids, types, convert) {
  const parts = [];
  let offset = 0;
  if (data.length >= 19 && data.subarray(0, 11).equals(COPY_SIGNATURE)) {
    offset = 19 + data.readUInt32BE(15);
    parts.push(data.subarray(0, offset));
  }
  while (offset + 2 <= data.length) {
    const count = data.readInt16BE(offset);
    parts.push(data.subarray(offset, offset + 2));
    offset += 2;
    if (count < 0) break;
    for (let i = 0; i < count && offset + 4 <= data.length; i += 1) {
      const length = data.readInt32BE(offset);
      offset += 4;
      if (length < 0) {
        parts.push(int32(-1));
        continue;
      }
      const value = data.subarray(offset, offset + length);
      offset += length;
      const converted = oids[i] ? convertBinary(value, oids[i], types, convert) : value;
      parts.push(int32(converted.length), converted);
    }
  }
  parts.push(data.subarray(offset));
  return Buffer.concat(parts);
}

// One client's conversions: its messages in, PGlite's replies out.
class ClientConversion {
  constructor(codec, types) {
    this.codec = codec;
    this.types = types;
    this.parameterTypes = new Map(); // statement name → parameter type OIDs (from its Parse)
    this.columns = null; // the last RowDescription's [oid, format] per column
    this.copyFormat = null; // the format of the COPY TO STDOUT under way (0 text, 1 binary)
    this.copyColumns = null; // its columns' type OIDs, if known (see copyColumnTypes)
  }

  // COPY FROM STDIN data as PGlite takes it; `oids`: the columns' types (binary format).
  copyIn(data, binary, oids) {
    if (!binary) return this.codec.toUtf8(data);
    if (oids === null) return data;
    return convertBinaryCopy(data, oids, this.types, (bytes) => this.codec.toUtf8(bytes));
  }

  // The types of the binary parameters in `parts` (Parse and Bind messages), learnt from
  // the catalog before the messages are converted.
  async learnInbound(parts) {
    const oids = [];
    for (const part of parts) {
      if (part[0] === 0x50) oids.push(...protocol.parameterTypes(part));
    }
    if (oids.length > 0) await this.types.learn(oids);
  }

  // One client message as UTF-8. A message that cannot be converted becomes one that fails
  // with PostgreSQL's error: `failing(part, error)` gives it.
  inbound(part, failing) {
    try {
      return this.inboundOne(part);
    } catch (err) {
      if (!(err instanceof ConversionError)) throw err;
      return failing(part, err);
    }
  }

  inboundOne(part) {
    const type = part[0];
    if (type === 0x51) return message('Q', zeroTerminated(this.codec.toUtf8(new Reader(part).cstring())));
    if (type === 0x50) {
      const reader = new Reader(part);
      const name = reader.cstring();
      const query = reader.cstring();
      this.parameterTypes.set(name.toString('latin1'), protocol.parameterTypes(part));
      return message('P', zeroTerminated(this.codec.toUtf8(name)), zeroTerminated(this.codec.toUtf8(query)), reader.rest());
    }
    if (type === 0x42) return this.inboundBind(part);
    if (type === 0x44 || type === 0x43 || type === 0x45) {
      // Describe, Close: a kind byte and a name; Execute: a name and a row limit.
      if (type === 0x45) {
        const reader = new Reader(part);
        const name = reader.cstring();
        return message('E', zeroTerminated(this.codec.toUtf8(name)), reader.rest());
      }
      const reader = new Reader(part);
      const kind = reader.bytes(1);
      return message(String.fromCharCode(type), kind, zeroTerminated(this.codec.toUtf8(reader.cstring())));
    }
    return part;
  }

  inboundBind(part) {
    const reader = new Reader(part);
    const portal = reader.cstring();
    const statement = reader.cstring();
    const formatCount = reader.int16();
    const formats = [];
    for (let i = 0; i < formatCount; i += 1) formats.push(reader.int16());
    const count = reader.int16();
    const values = [];
    for (let i = 0; i < count; i += 1) {
      const length = reader.int32();
      values.push(length < 0 ? null : reader.bytes(length));
    }
    const rest = reader.rest();
    const oids = this.parameterTypes.get(statement.toString('latin1')) || [];
    const formatOf = (i) => (formatCount === 0 ? 0 : formatCount === 1 ? formats[0] : formats[i]);
    const encoded = values.map((value, i) => {
      if (value === null) return int32(-1);
      let converted = value;
      if (formatOf(i) === 0) converted = this.codec.toUtf8(value);
      else if (oids[i]) converted = convertBinary(value, oids[i], this.types, (bytes) => this.codec.toUtf8(bytes));
      return Buffer.concat([int32(converted.length), converted]);
    });
    const formatBytes = formats.map(int16);
    return message(
      'B',
      zeroTerminated(this.codec.toUtf8(portal)),
      zeroTerminated(this.codec.toUtf8(statement)),
      int16(formatCount),
      ...formatBytes,
      int16(count),
      ...encoded,
      rest
    );
  }

  // PGlite's reply in the client's encoding. A value the encoding cannot hold ends the
  // statement with PostgreSQL's error: `failed(error, status)` gives the ErrorResponse and
  // ReadyForQuery to put in place of the rest of the reply up to its ReadyForQuery.
  async outbound(reply, learn, failed) {
    if (learn) await this.learnReplyTypes(reply);
    const out = [];
    let skipping = false;
    for (const part of eachMessage(reply)) {
      const type = part[0];
      if (skipping) {
        if (type === 0x5a) {
          out.push(await failed(skipping, String.fromCharCode(part[5])));
          skipping = false;
        }
        continue;
      }
      try {
        out.push(this.outboundOne(part));
      } catch (err) {
        if (!(err instanceof ConversionError)) throw err;
        skipping = err;
      }
    }
    if (skipping) out.push(await failed(skipping, null));
    return Buffer.concat(out);
  }

  async learnReplyTypes(reply) {
    const oids = [];
    let columns = this.columns;
    for (const part of eachMessage(reply)) {
      if (part[0] === 0x54) {
        columns = rowDescription(part);
        for (const [oid, format] of columns) if (format === 1) oids.push(oid);
      } else if (part[0] === 0x44 && columns && columns.some(([, format]) => format === 1)) {
        // Element types of binary arrays and records are only known from their values.
        const reader = new Reader(part);
        const count = reader.int16();
        for (let i = 0; i < count && i < columns.length; i += 1) {
          const length = reader.int32();
          if (length < 0) continue;
          const value = reader.bytes(length);
          if (columns[i][1] === 1) elementOids(value, columns[i][0], this.types, oids);
        }
      }
    }
    if (oids.length > 0) await this.types.learn(oids);
  }

  outboundOne(part) {
    const type = part[0];
    const convert = (bytes) => this.codec.fromUtf8(bytes);
    switch (type) {
      case 0x54: {
        // RowDescription: the names.
        this.columns = rowDescription(part);
        const reader = new Reader(part);
        const count = reader.int16();
        const pieces = [int16(count)];
        for (let i = 0; i < count; i += 1) pieces.push(zeroTerminated(convert(reader.cstring())), reader.bytes(18));
        return message('T', ...pieces);
      }
      case 0x44: {
        const reader = new Reader(part);
        const count = reader.int16();
        const pieces = [int16(count)];
        for (let i = 0; i < count; i += 1) {
          const length = reader.int32();
          if (length < 0) {
            pieces.push(int32(-1));
            continue;
          }
          const value = reader.bytes(length);
          const column = this.columns && this.columns[i];
          const converted = column && column[1] === 1 ? convertBinary(value, column[0], this.types, convert) : convert(value);
          pieces.push(int32(converted.length), converted);
        }
        return message('D', ...pieces);
      }
      case 0x45:
      case 0x4e:
        return convertFields(part, this.codec);
      case 0x43:
        return message('C', zeroTerminated(convert(new Reader(part).cstring())));
      case 0x53: {
        const reader = new Reader(part);
        return message('S', zeroTerminated(convert(reader.cstring())), zeroTerminated(convert(reader.cstring())));
      }
      case 0x41: {
        const reader = new Reader(part);
        const pid = reader.bytes(4);
        return message('A', pid, zeroTerminated(convert(reader.cstring())), zeroTerminated(convert(reader.cstring())));
      }
      case 0x48:
        this.copyFormat = part[5];
        return part;
      case 0x64:
        if (this.copyFormat === 0) return message('d', convert(part.subarray(5)));
        if (this.copyFormat === 1 && this.copyColumns) {
          return message('d', convertBinaryCopy(part.subarray(5), this.copyColumns, this.types, convert));
        }
        return part;
      case 0x63:
        this.copyFormat = null;
        this.copyColumns = null;
        return part;
      default:
        return part;
    }
  }
}

module.exports = {
  SETTING,
  canonicalName,
  codecFor,
  rewriteSql,
  mentionsEncoding,
  effectiveEncoding,
  ConversionError,
  ClientConversion,
  TypeCatalog,
  rowDescription,
};
