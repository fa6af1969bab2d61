'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { planQuery, isCopyFromStdin, copyInResponse, emptyInput, raising, copyOutColumnsQuery } = require('../lib/copy');

test('a lone COPY ... FROM STDIN is played by the server, reading from the blob', () => {
  assert.deepStrictEqual(planQuery('COPY t FROM STDIN'), {
    kind: 'copy',
    table: 't',
    columns: null,
    binary: false,
    sql: "COPY t FROM '/dev/blob'",
    columnsQuery: 'SELECT * FROM t LIMIT 0',
  });
  const plan = planQuery('copy "My Table" (a, "B") from stdin with (format binary);');
  assert.strictEqual(plan.table, '"My Table"');
  assert.strictEqual(plan.columns, 2);
  assert.strictEqual(plan.binary, true);
  assert.strictEqual(plan.sql, `copy "My Table" (a, "B") from '/dev/blob' with (format binary);`);
});

test('formats: text, csv, binary in every spelling', () => {
  assert.strictEqual(planQuery("COPY s.t FROM STDIN (FORMAT csv, HEADER true)").binary, false);
  assert.strictEqual(planQuery("COPY s.t FROM STDIN (FORMAT 'binary')").binary, true);
  assert.strictEqual(planQuery('COPY s.t FROM STDIN WITH BINARY').binary, true);
  assert.strictEqual(planQuery('COPY BINARY t FROM STDIN').binary, true);
  assert.strictEqual(planQuery('COPY s.t FROM STDIN WHERE "binary" = 1').binary, false);
  assert.strictEqual(planQuery('COPY s.t FROM STDIN').table, 's.t');
});

test("psycopg2's copy_from statement", () => {
  const plan = planQuery("COPY t (a,b) FROM stdin WITH DELIMITER AS '\t' NULL AS '\\N'");
  assert.strictEqual(plan.columns, 2);
  assert.strictEqual(plan.sql, "COPY t (a,b) FROM '/dev/blob' WITH DELIMITER AS '\t' NULL AS '\\N'");
});

test('everything else goes to PGlite as it is', () => {
  for (const sql of [
    'SELECT 1',
    'COPY t TO STDOUT',
    'COPY (SELECT 1) TO STDOUT',
    "COPY t FROM '/tmp/file'",
    "SELECT 'COPY t FROM STDIN'",
    'SELECT 1 -- COPY t FROM STDIN',
    'SELECT $$COPY t FROM STDIN$$',
    'SELECT stdin FROM copy',
  ]) {
    assert.strictEqual(planQuery(sql), null, sql);
  }
});

test('COPY FROM STDIN among other statements is refused, not run', () => {
  assert.strictEqual(planQuery('COPY t FROM STDIN; SELECT 1').kind, 'refuse');
  assert.strictEqual(planQuery('SELECT 1; copy t from stdin').kind, 'refuse');
  assert.strictEqual(isCopyFromStdin('COPY t FROM STDIN'), true);
  assert.strictEqual(isCopyFromStdin('COPY t TO STDOUT'), false);
});

test('CopyInResponse: overall format, then one format per column', () => {
  assert.deepStrictEqual([...copyInResponse(false, 2)], [0x47, 0, 0, 0, 11, 0, 0, 2, 0, 0, 0, 0]);
  assert.deepStrictEqual([...copyInResponse(true, 1)], [0x47, 0, 0, 0, 9, 1, 0, 1, 0, 1]);
});

test('empty input of the binary format is a valid file with no rows', () => {
  assert.strictEqual(emptyInput(false).length, 0);
  assert.strictEqual(emptyInput(true).length, 21);
  assert.strictEqual(emptyInput(true).toString('latin1', 0, 11), 'PGCOPY\n\xff\r\n\0');
});

test('raising quotes its message', () => {
  assert.match(raising('57014', "it's"), /MESSAGE = 'it''s'/);
});

test("a COPY TO STDOUT's columns, as a query that can be described", () => {
  assert.strictEqual(copyOutColumnsQuery('copy (select chr(8364), (1)) to stdout (format binary)'), 'select chr(8364), (1)');
  assert.strictEqual(copyOutColumnsQuery('COPY s."T" (a, "B") TO STDOUT'), 'SELECT a, "B" FROM s."T" LIMIT 0');
  assert.strictEqual(copyOutColumnsQuery('COPY t TO STDOUT WITH BINARY'), 'SELECT * FROM t LIMIT 0');
  assert.strictEqual(copyOutColumnsQuery('COPY t FROM STDIN'), null);
  assert.strictEqual(copyOutColumnsQuery('SELECT 1; COPY t TO STDOUT'), null);
});
