'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { customSettingNames } = require('../lib/session');

test('custom settings are found where statements set them, a function body included', () => {
  const sql =
    "SET app.tenant = 'a'; SELECT set_config('My.Region', 'north', false); SET SESSION \"App\".\"Level\" TO 2; " +
    "SET search_path TO x; CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.other', 'x', false) $$";
  assert.deepStrictEqual(customSettingNames(sql), ['app.tenant', 'app.level', 'my.region', 'app.other']);
});

test("the server's own settings and built-in ones are not custom", () => {
  assert.deepStrictEqual(customSettingNames("SET pglite_testcase.client_encoding = 'LATIN1'; SET TimeZone = 'UTC'"), []);
  assert.deepStrictEqual(customSettingNames("SELECT set_config('search_path', 'x', false)"), []);
});
