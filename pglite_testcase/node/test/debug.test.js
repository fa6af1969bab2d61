'use strict';
// Debug connections (lib/debug.js) on real PGlite: a second connection inside the transaction of
// the connection that holds the session, that cannot end or break it.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { message, cstring, int32, eachMessage } = require('../lib/framing');
const protocol = require('../lib/protocol');
const { Host } = require('../lib/host');
const { Scheduler } = require('../lib/scheduler');
const { Watchdog } = require('../lib/watchdog');
const { refusedStatement, unitsOf, wholeExchanges } = require('../lib/debug');
const { realPGlite, skipWithout } = require('../test-support/real-pglite');

const DEBUG_DATABASE = 'debug_0123456789ab';
const GRACE_MS = 150;

test('transaction control is found wherever it starts a statement, and only there', () => {
  const refused = {
    COMMIT: 'COMMIT',
    'commit work': 'COMMIT',
    'SELECT 1; rollback': 'ROLLBACK',
    '/* why */ ROLLBACK TO SAVEPOINT sa_savepoint_1': 'ROLLBACK',
    '-- done\nEND': 'END',
    abort: 'ABORT',
    'savepoint mine': 'SAVEPOINT',
    'RELEASE SAVEPOINT pglite_testcase_class': 'RELEASE',
    "PREPARE TRANSACTION 'x'": 'PREPARE TRANSACTION',
    'SET CONSTRAINTS ALL IMMEDIATE': 'SET CONSTRAINTS',
  };
  for (const [sql, statement] of Object.entries(refused)) assert.strictEqual(refusedStatement(sql), statement, sql);
  for (const sql of [
    "SELECT 'commit'",
    'SELECT 1 AS "rollback"',
    'UPDATE t SET name = 1',
    'BEGIN',
    'START TRANSACTION',
    'PREPARE q AS SELECT 1',
    "DO $$ BEGIN PERFORM 1; END $$",
    '',
  ]) {
    assert.strictEqual(refusedStatement(sql), null, sql);
  }
});

test('a debug batch is cut into exchanges; only whole exchanges are taken', () => {
  const parse = message('P', cstring(''), cstring('SELECT 1'), Buffer.from([0, 0]));
  const query = message('Q', cstring('SELECT 2'));
  const units = unitsOf([parse, protocol.SYNC, query, parse, protocol.SYNC]);
  assert.deepStrictEqual(
    units.map((unit) => unit.map((part) => String.fromCharCode(part[0])).join('')),
    ['PS', 'Q', 'PS']
  );
  assert.strictEqual(wholeExchanges([parse, message('H')]), 0, 'a Flush does not end an exchange');
  assert.strictEqual(wholeExchanges([parse, protocol.SYNC, parse]), 2);
  assert.strictEqual(wholeExchanges([message('X')]), 1, 'Terminate is taken');
});

// A client on a real socket: what it received, message by message.
class Client {
  constructor(socketPath) {
    this.socket = net.connect(socketPath);
    this.buffer = Buffer.alloc(0);
    this.messages = [];
    this.socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      let offset = 0;
      for (const part of eachMessage(this.buffer)) {
        if (offset + part.length > this.buffer.length || part.length < 5) break;
        this.messages.push(Buffer.from(part));
        offset += part.length;
      }
      this.buffer = this.buffer.subarray(offset);
    });
    this.closed = new Promise((resolve) => this.socket.on('close', resolve));
  }

  get readyCount() {
    return this.messages.filter((part) => part[0] === 0x5a).length;
  }

  async waitFor(predicate, what, ms = 20000) {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  // Send `bytes`, then wait for one more ReadyForQuery (or for the connection to end); the
  // messages received meanwhile.
  async exchange(bytes) {
    const start = this.messages.length;
    const ready = this.readyCount;
    let ended = false;
    this.closed.then(() => (ended = true));
    this.socket.write(bytes);
    await this.waitFor(() => this.readyCount > ready || ended, 'a ReadyForQuery');
    return this.messages.slice(start);
  }

  async start(database) {
    return this.exchange(protocol.startupMessage({ user: 'postgres', database }));
  }

  async query(sql) {
    return this.exchange(message('Q', cstring(sql)));
  }

  end() {
    this.socket.end(message('X'));
    return this.closed;
  }
}

const rowsOf = (messages) => protocol.rows(Buffer.concat(messages));
const errorOf = (messages) => protocol.firstError(Buffer.concat(messages));
const statusOf = (messages) => protocol.transactionStatus(messages[messages.length - 1]);
const settle = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));

async function withServer(run, { debugDatabase = DEBUG_DATABASE } = {}) {
  const { PGlite, MemoryFS } = realPGlite();
  const host = await Host.start({ PGlite, MemoryFS, watchdog: new Watchdog(), debug: () => {} });
  await host.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgtc-debug-'));
  const socketPath = path.join(dir, 'socket');
  const scheduler = new Scheduler(host, { graceMs: GRACE_MS, verifier: null, onCancel: () => {}, debugDatabase, databases: host.databaseNames });
  const listener = net.createServer((socket) => scheduler.accept(socket));
  await new Promise((resolve) => listener.listen(socketPath, resolve));
  const clients = [];
  const connect = () => {
    const client = new Client(socketPath);
    clients.push(client);
    return client;
  };
  try {
    await run(connect);
  } finally {
    clients.forEach((client) => client.socket.destroy());
    listener.close();
    while (scheduler.clients.size > 0) await settle(5);
    await scheduler.idle;
    await host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a debug connection sees the open transaction\'s rows and cannot end or break it', { skip: skipWithout, timeout: 120000 }, async () => {
  await withServer(async (connect) => {
    const test = connect();
    await test.start('postgres');
    await test.query('BEGIN');
    await test.query("INSERT INTO items VALUES (1, 'uncommitted')");
    const debug = connect();
    const started = await debug.start(DEBUG_DATABASE);
    assert.strictEqual(errorOf(started), null);
    assert.strictEqual(statusOf(started), 'I', 'told it is idle: a driver commits nothing it sees open');
    assert.ok(started.some((part) => part[0] === 0x53 && part.includes(Buffer.from('server_version'))));

    assert.deepStrictEqual(rowsOf(await debug.query('SELECT id, name FROM items')), [['1', 'uncommitted']]);

    // COMMIT, ROLLBACK and the rest: refused, saying why; the test's transaction goes on.
    for (const sql of ['COMMIT', 'ROLLBACK', 'SELECT 1; END', 'ROLLBACK TO SAVEPOINT nowhere', 'SAVEPOINT mine']) {
      const reply = await debug.query(sql);
      const error = errorOf(reply);
      assert.strictEqual(error.C, '25000', sql);
      assert.match(error.M, /^pglite_testcase: \w+ refused: a debug connection runs inside the running test's transaction/);
      assert.strictEqual(statusOf(reply), 'I');
    }
    const begin = await debug.query('BEGIN');
    assert.ok(begin.find((part) => part[0] === 0x4e).includes(Buffer.from('BEGIN does nothing on a debug connection')));
    assert.strictEqual(errorOf(begin), null);
    // A typo is rolled back to its savepoint: the test's transaction is not aborted.
    const typo = await debug.query('SELEC 1');
    assert.strictEqual(errorOf(typo).C, '42601');
    assert.strictEqual(statusOf(typo), 'I');
    // Its writes are part of the test's transaction.
    await debug.query("INSERT INTO items VALUES (2, 'from psql')");
    // What it sets is undone, with a warning.
    const set = await debug.query('SET search_path TO nowhere');
    const notice = set.find((part) => part[0] === 0x4e);
    assert.ok(notice && notice.includes(Buffer.from('was undone')), 'a warning says it was undone');

    const own = await test.query('SELECT count(*), current_setting(\'search_path\') FROM items');
    assert.deepStrictEqual(rowsOf(own), [['2', '"$user", public']]);
    assert.strictEqual(statusOf(own), 'T', 'the test\'s transaction is still open and healthy');

    assert.strictEqual(statusOf(await test.query('ROLLBACK')), 'I');
    // No transaction open: each debug statement runs in one of its own, rolled back.
    const between = await debug.query("INSERT INTO items VALUES (3, 'between tests'); SELECT count(*) FROM items");
    assert.deepStrictEqual(rowsOf(between), [['1']]);
    assert.strictEqual(statusOf(between), 'I');
    assert.match(errorOf(await debug.query('COMMIT')).M, /COMMIT refused: a debug connection never commits/);
    assert.deepStrictEqual(rowsOf(await test.query('SELECT count(*) FROM items')), [['0']]);
    await debug.end();
    await test.end();
  });
});

test('in a failed transaction a debug statement fails as the test\'s would, and cannot end it', { skip: skipWithout, timeout: 120000 }, async () => {
  await withServer(async (connect) => {
    const test = connect();
    await test.start('postgres');
    assert.strictEqual(statusOf(await test.query('BEGIN; SELECT 1/0')), 'E');
    const debug = connect();
    await debug.start(DEBUG_DATABASE);
    assert.strictEqual(errorOf(await debug.query('SELECT 1')).C, '25P02');
    assert.strictEqual(errorOf(await debug.query('ROLLBACK')).C, '25000');
    assert.strictEqual(statusOf(await test.query('SELECT 1')), 'E', 'still the test\'s failed transaction');
    assert.strictEqual(statusOf(await test.query('ROLLBACK')), 'I');
  });
});

test('a debug connection waits for the test\'s exchange to end, never refused; others still are', { skip: skipWithout, timeout: 120000 }, async () => {
  await withServer(async (connect) => {
    const test = connect();
    await test.start('postgres');
    await test.query("BEGIN; INSERT INTO items VALUES (1, 'x')");
    const debug = connect();
    await debug.start(DEBUG_DATABASE);
    // The test is half-way through an extended-query exchange (no Sync yet).
    test.socket.write(
      Buffer.concat([
        message('P', cstring(''), cstring("INSERT INTO items VALUES (2, 'y')"), Buffer.from([0, 0])),
        message('B', cstring(''), cstring(''), Buffer.from([0, 0, 0, 0, 0, 0])),
        message('E', cstring(''), int32(0)),
        message('H'),
      ])
    );
    await test.waitFor(() => test.messages.some((part) => part[0] === 0x43 && part.includes(Buffer.from('INSERT'))), 'the INSERT');
    const before = debug.readyCount;
    debug.socket.write(message('Q', cstring('SELECT count(*) FROM items')));
    await settle(3 * GRACE_MS);
    assert.strictEqual(debug.readyCount, before, 'not served in the middle of the test\'s exchange');
    assert.strictEqual(errorOf(debug.messages), null, 'and not refused for waiting');
    // An ordinary connection is refused after graceMs, as before.
    const ordinary = connect();
    const refused = await ordinary.start('postgres');
    assert.strictEqual(errorOf(refused).C, '55P03');
    // The test's Sync ends its exchange: the debug query is answered, seeing both rows.
    await test.exchange(protocol.SYNC);
    await debug.waitFor(() => debug.readyCount > before, 'the debug query');
    assert.deepStrictEqual(rowsOf(debug.messages.slice(-3)), [['2']]);
    await test.query('ROLLBACK');
  });
});

test('the debug database answers only to its exact name, and only when the server has one', { skip: skipWithout, timeout: 120000 }, async () => {
  await withServer(async (connect) => {
    const near = connect();
    const reply = await near.start(`${DEBUG_DATABASE}x`);
    assert.strictEqual(errorOf(reply).C, '3D000');
  });
  await withServer(
    async (connect) => {
      const client = connect();
      assert.strictEqual(errorOf(await client.start(DEBUG_DATABASE)).C, '3D000');
    },
    { debugDatabase: null }
  );
});
