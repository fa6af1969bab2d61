'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { message, cstring, int16, int32, eachMessage } = require('../lib/framing');
const protocol = require('../lib/protocol');
const { planSleep } = require('../lib/sleep');

const bind = (params, resultFormat = 0) =>
  message('B', cstring(''), cstring(''), int16(params.length ? 1 : 0), ...(params.length ? [int16(params[0].format)] : []),
    int16(params.length), ...params.flatMap((p) => [int32(p.bytes.length), p.bytes]), int16(1), int16(resultFormat));
const describe = message('D', Buffer.from('P'), cstring(''));
const execute = message('E', cstring(''), int32(0));
const types = (reply) => [...eachMessage(reply)].map((part) => String.fromCharCode(part[0])).join('');

test('a lone SELECT pg_sleep(n) is planned on a timer, with the reply PostgreSQL sends', () => {
  const simple = planSleep([protocol.simpleQuery('select pg_sleep(1.5);')]);
  assert.strictEqual(simple.milliseconds, 1500);
  assert.strictEqual(types(simple.reply), 'TDC');
  const parse = protocol.parseMessage('', 'SELECT pg_catalog.pg_sleep($1)', Buffer.concat([int16(1), int32(701)]));
  const value = Buffer.alloc(8);
  value.writeDoubleBE(0.25);
  const extended = planSleep([parse, bind([{ format: 1, bytes: value }]), describe, execute, protocol.SYNC]);
  assert.strictEqual(extended.milliseconds, 250);
  assert.strictEqual(types(extended.reply), '12TDC');
  const textParam = protocol.parseMessage('', 'select pg_sleep($1::float8)', int16(0));
  assert.strictEqual(planSleep([textParam, bind([{ format: 0, bytes: Buffer.from('2') }]), execute, protocol.SYNC]).milliseconds, 2000);
});

test('anything else goes to PGlite', () => {
  for (const sql of ['SELECT pg_sleep(1), 1', 'SELECT pg_sleep(1); SELECT 1', 'SELECT count(*) FROM pg_sleep(1)', 'SELECT 1']) {
    assert.strictEqual(planSleep([protocol.simpleQuery(sql)]), null, sql);
  }
  const named = protocol.parseMessage('s1', 'SELECT pg_sleep(1)', int16(0));
  assert.strictEqual(planSleep([named, bind([]), execute, protocol.SYNC]), null);
  const numeric = protocol.parseMessage('', 'SELECT pg_sleep($1)', Buffer.concat([int16(1), int32(1700)]));
  assert.strictEqual(planSleep([numeric, bind([{ format: 1, bytes: Buffer.alloc(8) }]), execute, protocol.SYNC]), null);
});
