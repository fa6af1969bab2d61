'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { message, cstring, int16, int32, eachMessage } = require('../lib/framing');
const protocol = require('../lib/protocol');
const { raising } = require('../lib/copy');
const encoding = require('../lib/encoding');

const { canonicalName, codecFor, rewriteSql, ClientConversion, TypeCatalog, ConversionError } = encoding;

test("client_encoding names are PostgreSQL's, in any spelling it takes", () => {
  for (const [given, name] of [
    ['latin1', 'LATIN1'],
    ['ISO-8859-1', 'LATIN1'],
    ['iso_8859_15', 'LATIN9'],
    ['euc-jp', 'EUC_JP'],
    ['eucjp', 'EUC_JP'],
    ['utf-8', 'UTF8'],
    ['UNICODE', 'UTF8'],
    ['windows-1252', 'WIN1252'],
    ['win', 'WIN1251'],
    ['Shift_JIS', 'SJIS'],
    ['sql_ascii', 'SQL_ASCII'],
  ]) {
    assert.strictEqual(canonicalName(given), name, given);
  }
  assert.strictEqual(canonicalName('nosuch'), null);
  assert.strictEqual(codecFor('UTF8'), null);
  assert.strictEqual(codecFor('SQL_ASCII'), null);
});

test('single-byte encodings convert both ways, byte for byte', () => {
  const latin1 = codecFor('LATIN1');
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const utf8 = latin1.toUtf8(all);
  assert.strictEqual(utf8.toString('utf8'), all.toString('latin1')); // ISO-8859-1 is the first 256 code points
  assert.deepStrictEqual(latin1.fromUtf8(utf8), all);
  const latin9 = codecFor('LATIN9');
  assert.deepStrictEqual(latin9.fromUtf8(Buffer.from('€uro')), Buffer.from([0xa4, 0x75, 0x72, 0x6f]));
  assert.throws(() => latin9.fromUtf8(Buffer.from('¤')), ConversionError); // LATIN9 gave its 0xA4 to €
  assert.deepStrictEqual(latin9.toUtf8(Buffer.from([0xa4])), Buffer.from('€'));
  assert.deepStrictEqual(codecFor('WIN1252').fromUtf8(Buffer.from('€')), Buffer.from([0x80]));
  assert.deepStrictEqual(codecFor('KOI8R').toUtf8(Buffer.from([0xc1])), Buffer.from('а'));
});

test('multibyte encodings convert both ways', () => {
  const eucJp = codecFor('EUC_JP');
  const text = 'あいう日本ｶﾅ';
  const bytes = eucJp.fromUtf8(Buffer.from(text));
  assert.deepStrictEqual(bytes.subarray(0, 2), Buffer.from([0xa4, 0xa2]));
  assert.strictEqual(eucJp.toUtf8(bytes).toString('utf8'), text);
  const sjis = codecFor('SJIS');
  assert.strictEqual(sjis.toUtf8(sjis.fromUtf8(Buffer.from(text))).toString('utf8'), text);
  const gbk = codecFor('GBK');
  assert.strictEqual(gbk.toUtf8(gbk.fromUtf8(Buffer.from('中文'))).toString('utf8'), '中文');
});

test('what an encoding cannot hold is an error as PostgreSQL words it, never a wrong byte', () => {
  assert.throws(
    () => codecFor('LATIN1').fromUtf8(Buffer.from('a€')),
    (err) =>
      err instanceof ConversionError &&
      err.sqlstate === '22P05' &&
      err.message === 'character with byte sequence 0xe2 0x82 0xac in encoding "UTF8" has no equivalent in encoding "LATIN1"'
  );
  assert.throws(
    () => codecFor('EUC_JP').toUtf8(Buffer.from([0x41, 0xa4])),
    (err) => err.sqlstate === '22021' && err.message === 'invalid byte sequence for encoding "EUC_JP": 0xa4'
  );
  // No table in node for EUC_TW: ASCII passes, anything else is refused with the reason.
  const eucTw = codecFor('EUC_TW');
  assert.deepStrictEqual(eucTw.toUtf8(Buffer.from('plain')), Buffer.from('plain'));
  assert.throws(() => eucTw.fromUtf8(Buffer.from('é')), (err) => err.sqlstate === '0A000' && /only ASCII/.test(err.message));
});

test('statements that set client_encoding are aimed at the server-side setting', () => {
  const options = { raising, startupEncoding: 'UTF8' };
  const setting = encoding.SETTING;
  assert.strictEqual(rewriteSql('SET client_encoding TO latin1', options), `SET ${setting} TO 'LATIN1'`);
  assert.strictEqual(rewriteSql("set local client_encoding = 'euc-jp'", options), `SET local ${setting} TO 'EUC_JP'`);
  assert.strictEqual(rewriteSql('SET NAMES "LATIN9"; SELECT 1', options), `SET ${setting} TO 'LATIN9'; SELECT 1`);
  assert.strictEqual(rewriteSql('SET client_encoding TO DEFAULT', options), `SET ${setting} TO DEFAULT`);
  assert.strictEqual(rewriteSql('RESET client_encoding', options), `RESET ${setting}`);
  assert.strictEqual(rewriteSql("SELECT set_config('client_encoding', $1, false)", options), `SELECT pg_catalog.set_config('${setting}', $1, false)`);
  assert.match(rewriteSql('SHOW client_encoding', { raising, startupEncoding: 'LATIN1' }), /'LATIN1'\) AS client_encoding$/);
  assert.strictEqual(rewriteSql('SET client_encoding TO nosuch', options), raising('22023', 'invalid value for parameter "client_encoding": "nosuch"'));
  assert.strictEqual(rewriteSql('SELECT 1', options), 'SELECT 1');
  assert.strictEqual(encoding.effectiveEncoding('', 'LATIN1'), 'LATIN1');
  assert.strictEqual(encoding.effectiveEncoding('euc-jp', 'LATIN1'), 'EUC_JP');
});

// A catalog that knows the built-in types only (no backend).
const builtinTypes = () => new TypeCatalog(async () => null);

function rowDescription(columns) {
  return message(
    'T',
    int16(columns.length),
    ...columns.flatMap(([name, oid, format]) => [cstring(name), int32(0), int16(0), int32(oid), int16(-1), int32(-1), int16(format)])
  );
}

function dataRow(values) {
  return message('D', int16(values.length), ...values.flatMap((value) => [int32(value.length), value]));
}

function binaryTextArray(items) {
  return Buffer.concat([
    int32(1),
    int32(0),
    int32(25),
    int32(items.length),
    int32(1),
    ...items.flatMap((item) => [int32(Buffer.byteLength(item)), Buffer.from(item)]),
  ]);
}

test("replies: names, text values, binary text and arrays, errors; other binary values untouched", async () => {
  const conversion = new ClientConversion(codecFor('LATIN1'), builtinTypes());
  const int8 = Buffer.from([0, 0, 0, 0, 0, 0, 0xc3, 0xa9]); // bytes that would be 'é' in UTF-8
  const reply = Buffer.concat([
    rowDescription([
      ['nämé', 25, 0],
      ['b', 25, 1],
      ['n', 20, 1],
      ['a', 1009, 1],
    ]),
    dataRow([Buffer.from('é'), Buffer.from('ü'), int8, binaryTextArray(['ä', 'b'])]),
    protocol.errorResponse('ERROR', '42P01', 'relation "€" does not exist'),
    protocol.readyForQuery('I'),
  ]);
  const out = [...eachMessage(await conversion.outbound(reply, true, async () => Buffer.alloc(0)))];
  assert.ok(out[0].includes(Buffer.from([0x6e, 0xe4, 0x6d, 0xe9, 0]))); // nämé
  const row = out[1];
  assert.ok(row.includes(Buffer.from([0, 0, 0, 1, 0xe9, 0, 0, 0, 1, 0xfc]))); // é, ü: one byte each
  assert.ok(row.includes(int8)); // an int8 is not text
  assert.ok(row.includes(binaryTextArray(['\u00e4', 'b']).subarray(0, 20))); // array header kept
  assert.ok(row.includes(Buffer.from([0, 0, 0, 1, 0xe4, 0, 0, 0, 1, 0x62]))); // elements converted, lengths too
  assert.ok(out[2].includes(Buffer.from('relation "?" does not exist'))); // an error never fails to be sent
});

test('a value the encoding cannot hold ends the statement with an error in place of its rows', async () => {
  const conversion = new ClientConversion(codecFor('LATIN1'), builtinTypes());
  const reply = Buffer.concat([
    rowDescription([['x', 25, 0]]),
    dataRow([Buffer.from('€')]),
    message('C', cstring('SELECT 1')),
    protocol.readyForQuery('T'),
  ]);
  const failed = async (error, status) => Buffer.concat([protocol.errorResponse('ERROR', error.sqlstate, error.message), protocol.readyForQuery(status === 'T' ? 'E' : status)]);
  const out = await conversion.outbound(reply, true, failed);
  assert.deepStrictEqual(protocol.firstError(out).C, '22P05');
  assert.strictEqual(protocol.transactionStatus(out), 'E');
  assert.ok(![...eachMessage(out)].some((part) => part[0] === 0x44 || part[0] === 0x43));
});

test("client messages: the query, a Bind's text and binary text parameters; a bad one fails as on PostgreSQL", () => {
  const conversion = new ClientConversion(codecFor('LATIN1'), builtinTypes());
  const query = conversion.inbound(message('Q', cstring('x')).fill(0xe9, 5, 6), null);
  assert.strictEqual(protocol.queryText(query), 'é');
  conversion.inbound(protocol.parseMessage('s1', 'SELECT $1, $2, $3', Buffer.concat([int16(3), int32(25), int32(25), int32(20)])), null);
  const bind = message(
    'B',
    cstring(''),
    cstring('s1'),
    int16(3),
    int16(0),
    int16(1),
    int16(1),
    int16(3),
    int32(1),
    Buffer.from([0xe9]),
    int32(1),
    Buffer.from([0xfc]),
    int32(8),
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0xe9]),
    int16(0)
  );
  const converted = conversion.inbound(bind, null);
  assert.ok(converted.includes(Buffer.concat([int32(2), Buffer.from('é'), int32(2), Buffer.from('ü'), int32(8)])));
  assert.ok(converted.includes(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0xe9]))); // the int8 untouched
  const eucJp = new ClientConversion(codecFor('EUC_JP'), builtinTypes());
  const failing = (part, error) => protocol.simpleQuery(raising(error.sqlstate, error.message));
  const refused = eucJp.inbound(Buffer.concat([Buffer.from('Q'), int32(7), Buffer.from([0x41, 0xa4, 0])]), failing);
  assert.match(protocol.queryText(refused), /22021.*invalid byte sequence for encoding "EUC_JP": 0xa4/);
});

test('binary COPY data: text fields converted, lengths with them, header, other fields and trailer kept', () => {
  const conversion = new ClientConversion(codecFor('LATIN9'), builtinTypes());
  const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), int32(0), int32(0)]);
  const row = (text) => Buffer.concat([int16(3), int32(text.length), text, int32(-1), int32(4), int32(0x61a4)]);
  const latin9 = Buffer.concat([header, row(Buffer.from([0x61, 0xa4])), int16(-1)]);
  const utf8 = Buffer.concat([header, row(Buffer.from('a€')), int16(-1)]);
  assert.deepStrictEqual(conversion.copyIn(latin9, true, [25, 25, 23]), utf8);
  assert.deepStrictEqual(conversion.copyIn(Buffer.from([0x61, 0xa4, 0x0a]), false, null), Buffer.from('a€\n'));
});
