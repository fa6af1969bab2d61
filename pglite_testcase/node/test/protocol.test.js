'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { message, cstring, int16, int32 } = require('../lib/framing');
const protocol = require('../lib/protocol');

const parse = (name, sql) => message('P', cstring(name), cstring(sql), int16(0));
const bind = (portal, statement) => message('B', cstring(portal), cstring(statement), int16(0), int16(0), int16(0));
const describe = (kind, name) => message('D', kind, cstring(name));
const close = (kind, name) => message('C', kind, cstring(name));
const execute = (portal) => message('E', cstring(portal), int32(0));
const names = (part) => part.toString('utf8', 5).split('\0').filter(Boolean);

test('statement names get the client prefix; portal names stay as the client gave them', () => {
  const statements = new protocol.StatementNames('c7_');
  assert.deepStrictEqual(names(statements.rewrite(parse('_pg3_0', 'SELECT 1'))), ['c7__pg3_0', 'SELECT 1']);
  const bound = statements.rewrite(bind('cur', '_pg3_0'));
  assert.deepStrictEqual(names(bound), ['cur', 'c7__pg3_0']);
  assert.deepStrictEqual(names(statements.rewrite(describe('S', '_pg3_0'))), ['Sc7__pg3_0']);
  assert.deepStrictEqual(names(statements.rewrite(describe('P', 'cur'))), ['Pcur']);
  assert.deepStrictEqual(names(statements.rewrite(execute('cur'))), ['cur']);
  assert.deepStrictEqual(names(statements.rewrite(close('P', 'cur'))), ['Pcur']);
  assert.deepStrictEqual([...statements.prepared], ['c7__pg3_0']);
  assert.deepStrictEqual(names(statements.rewrite(close('S', '_pg3_0'))), ['Sc7__pg3_0']);
  assert.deepStrictEqual([...statements.prepared], []);
});

test('unnamed statements and portals are left alone', () => {
  const statements = new protocol.StatementNames('c1_');
  for (const part of [parse('', 'SELECT 1'), bind('', ''), describe('P', ''), describe('S', ''), execute('')]) {
    assert.strictEqual(statements.rewrite(part), part);
  }
});

test('a rewritten message keeps its length field right', () => {
  const rewritten = new protocol.StatementNames('client_').rewrite(bind('p', 's'));
  assert.strictEqual(rewritten.readInt32BE(1) + 1, rewritten.length);
});

test('transaction status and who holds the session', () => {
  const done = (status) => Buffer.concat([message('C', cstring('SELECT 1')), protocol.readyForQuery(status)]);
  assert.strictEqual(protocol.transactionStatus(done('I')), 'I');
  assert.strictEqual(protocol.holdsSession(done('I')), false);
  assert.strictEqual(protocol.holdsSession(done('T')), true);
  assert.strictEqual(protocol.holdsSession(done('E')), true);
  assert.strictEqual(protocol.holdsSession(message('1')), true); // ParseComplete, no ReadyForQuery yet
});

test("PGlite's abort notices are dropped, other notices kept", () => {
  const notice = (text) => message('N', 'SNOTICE\0', cstring(`M${text}`), Buffer.from([0]));
  const reply = Buffer.concat([
    notice('# 1743: aborting transaction 12'),
    message('C', cstring('ROLLBACK')),
    notice('relation exists, skipping'),
    protocol.readyForQuery('I'),
  ]);
  const kept = [...require('../lib/framing').eachMessage(protocol.withoutAbortNotices(reply))];
  assert.deepStrictEqual(kept.map((part) => String.fromCharCode(part[0])), ['C', 'N', 'Z']);
});

test('errors and rows are read from replies', () => {
  const error = protocol.errorResponse('ERROR', '42P01', 'relation "x" does not exist');
  assert.deepStrictEqual(protocol.firstError(Buffer.concat([error, protocol.readyForQuery('I')])), {
    S: 'ERROR',
    V: 'ERROR',
    C: '42P01',
    M: 'relation "x" does not exist',
  });
  const row = message('D', int16(2), int32(2), Buffer.from('12'), int32(-1));
  assert.deepStrictEqual(protocol.firstRow(row), ['12', null]);
  assert.strictEqual(protocol.firstError(row), null);
});

test('each client gets its own BackendKeyData', () => {
  const reply = Buffer.concat([message('R', int32(0)), message('K', int32(0), int32(0)), protocol.readyForQuery('I')]);
  const keyed = protocol.withBackendKey(reply, 42, -7);
  const key = keyed.subarray(9, 9 + 13);
  assert.strictEqual(String.fromCharCode(key[0]), 'K');
  assert.strictEqual(key.readInt32BE(5), 42);
  assert.strictEqual(key.readInt32BE(9), -7);
});

test("SQL DEALLOCATE of a statement the client prepared names it as the server does", () => {
  const statements = new protocol.StatementNames('c3_');
  statements.rewrite(parse('_pg3_0', 'SELECT 1'));
  statements.rewrite(parse('Mixed', 'SELECT 2'));
  assert.strictEqual(statements.rewriteSql('DEALLOCATE _pg3_0'), 'DEALLOCATE "c3__pg3_0"');
  assert.strictEqual(statements.rewriteSql('deallocate prepare "Mixed";'), 'deallocate prepare "c3_Mixed"');
  assert.strictEqual(statements.rewriteSql('DEALLOCATE _pg3_0'), null, 'already gone: PostgreSQL says so');
  assert.strictEqual(statements.rewriteSql('DEALLOCATE sql_prepared'), null, 'PREPAREd in SQL: not renamed');
  assert.strictEqual(statements.rewriteSql('SELECT 1'), null);
  statements.rewrite(parse('_pg3_1', 'SELECT 1'));
  assert.strictEqual(statements.rewriteSql('DEALLOCATE ALL'), null);
  assert.deepStrictEqual([...statements.prepared], []);
});
