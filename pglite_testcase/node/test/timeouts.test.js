'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { raising } = require('../lib/copy');
const timeouts = require('../lib/timeouts');

test('session timeouts are aimed at the server-side settings, never at PGlite', () => {
  const { rewriteSql } = timeouts;
  assert.strictEqual(
    rewriteSql('SET SESSION idle_in_transaction_session_timeout = 100', raising),
    "SET SESSION pglite_testcase.idle_in_transaction_session_timeout TO '100'"
  );
  assert.strictEqual(rewriteSql("set idle_session_timeout to '2s'", raising), "SET pglite_testcase.idle_session_timeout TO '2000'");
  assert.strictEqual(rewriteSql('SET LOCAL transaction_timeout TO DEFAULT', raising), 'SET LOCAL pglite_testcase.transaction_timeout TO DEFAULT');
  assert.strictEqual(rewriteSql('RESET idle_session_timeout; SELECT 1', raising), 'RESET pglite_testcase.idle_session_timeout; SELECT 1');
  assert.strictEqual(
    rewriteSql("SELECT set_config('transaction_timeout', '5min', false)", raising),
    "SELECT pg_catalog.set_config('pglite_testcase.transaction_timeout', '5min', false)"
  );
  assert.match(rewriteSql('SHOW idle_session_timeout', raising), /AS idle_session_timeout$/);
  assert.strictEqual(rewriteSql("SET idle_session_timeout = 'soon'", raising), raising('22023', 'invalid value for parameter "idle_session_timeout": "soon"'));
  assert.strictEqual(rewriteSql('SET statement_timeout = 100', raising), 'SET statement_timeout = 100');
});

test("values in PostgreSQL's units; startup settings redirected too", () => {
  assert.strictEqual(timeouts.milliseconds('100'), 100);
  assert.strictEqual(timeouts.milliseconds('1.5s'), 1500);
  assert.strictEqual(timeouts.milliseconds('5min'), 300000);
  assert.strictEqual(timeouts.milliseconds('-1'), null);
  assert.deepStrictEqual(timeouts.redirectStartupSetting('idle_session_timeout', '1s'), ['pglite_testcase.idle_session_timeout', '1000']);
  assert.deepStrictEqual(timeouts.redirectStartupSetting('TimeZone', 'UTC'), ['TimeZone', 'UTC']);
  assert.deepStrictEqual(timeouts.valuesOf(['100', '', '2000']), {
    idle_in_transaction_session_timeout: 100,
    idle_session_timeout: 0,
    transaction_timeout: 2000,
  });
});
