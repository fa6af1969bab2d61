'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { message, cstring, int32, eachMessage } = require('../lib/framing');
const protocol = require('../lib/protocol');
const { Host } = require('../lib/host');
const { Watchdog } = require('../lib/watchdog');
const { realPGlite, skipWithout } = require('../test-support/real-pglite');

// What Host needs of PGlite: execProtocol answering from a buffer it reuses, as PGlite does.
class FakePGlite {
  constructor() {
    this.shared = new Uint8Array(64);
    this.blob = undefined;
    this.requests = [];
  }
  async execProtocolRaw(batch) {
    this.requests.push(Buffer.from(batch));
    if (this.throwNext) throw this.throwNext;
    const reply = this.replyTo(Buffer.from(batch));
    this.shared.set(reply);
    return this.shared.subarray(0, reply.length);
  }
  replyTo(batch) {
    if (batch[0] === 0 && batch.readInt32BE(4) === 196608) return message('R', int32(5), Buffer.from([1, 2, 3, 4]));
    if (batch[0] === 0x70) return Buffer.concat([message('R', int32(0)), protocol.readyForQuery('I')]);
    const blob = this.blob ? `<${Buffer.from(this.blob).toString()}>` : '';
    return Buffer.concat([message('C', cstring(`${protocol.queryText(batch)}${blob}`)), protocol.readyForQuery('I')]);
  }
  async execProtocol(batch) {
    return { messages: [], data: await this.execProtocolRaw(batch) };
  }
  async _handleBlob(blob) {
    this.blob = blob ? await blob.arrayBuffer() : undefined;
  }
  async _cleanupBlob() {
    this.blob = undefined;
  }
}

const command = (reply) => reply.toString('utf8', 5, reply.indexOf(0, 5));

test("a reply stays intact after PGlite reuses its buffer for the next request", async () => {
  const host = new Host(new FakePGlite(), new Watchdog());
  const first = await host.query('SELECT 1');
  await host.query('SELECT 2222');
  assert.strictEqual(command(first), 'SELECT 1');
});

test('PGlite failing internally is reported, never passed on as a reply', async () => {
  const db = new FakePGlite();
  const failures = [];
  const host = new Host(db, new Watchdog(), { onFailure: (err) => failures.push(err.message) });
  db.throwNext = new Error('RuntimeError: unreachable');
  await assert.rejects(host.query('SELECT 1'));
  assert.deepStrictEqual(failures, ['RuntimeError: unreachable']);
});

test("a session's start answers PGlite's password request itself", async () => {
  const db = new FakePGlite();
  const host = new Host(db, new Watchdog());
  const startup = Buffer.concat([int32(8 + 14), int32(196608), Buffer.from('user\0postgres\0\0')]);
  const reply = await host.startSession(startup);
  assert.strictEqual(reply.readInt32BE(5), 0, 'AuthenticationOk, not the MD5 request');
  assert.strictEqual(db.requests[1][0], 0x70, 'a password message went to PGlite');
});

test('COPY data reaches PGlite as its blob, for that one statement only', async () => {
  const db = new FakePGlite();
  const host = new Host(db, new Watchdog());
  const reply = await host.copyFrom("COPY t FROM '/dev/blob'", Buffer.from('1\tx\n'));
  assert.strictEqual(command(reply), "COPY t FROM '/dev/blob'<1\tx\n>");
  assert.strictEqual(db.blob, undefined);
  assert.strictEqual(command(await host.query('SELECT 1')), 'SELECT 1');
});

test('the watchdog sees every request while it runs', async () => {
  const watchdog = new Watchdog();
  const db = new FakePGlite();
  let seen = null;
  db.replyTo = (batch) => {
    seen = Atomics.load(watchdog.slots, 0);
    return FakePGlite.prototype.replyTo.call(db, batch);
  };
  await new Host(db, watchdog).query('SELECT 1');
  assert.notStrictEqual(seen, 0);
  assert.strictEqual(Atomics.load(watchdog.slots, 0), 0);
});

test('a Query that PGlite answers without ReadyForQuery ends with an error and the Sync\'s ReadyForQuery', async () => {
  const db = new FakePGlite();
  db.replyTo = (batch) =>
    batch[0] === 0x53 ? protocol.readyForQuery('I') : message('C', cstring(protocol.queryText(batch)));
  const host = new Host(db, new Watchdog(), { onFailure: assert.fail });
  const reply = await host.query('SELECT 1');
  const parts = [...eachMessage(reply)].map((part) => String.fromCharCode(part[0]));
  assert.deepStrictEqual(parts, ['C', 'E', 'Z']);
  assert.strictEqual(protocol.firstError(reply).C, 'XX000');
  assert.strictEqual(protocol.transactionStatus(reply), 'I');
});

test('PGlite answering neither the statement nor a Sync with ReadyForQuery is a failure, never a wait', async () => {
  const db = new FakePGlite();
  db.replyTo = () => message('C', cstring('SELECT 1'));
  const failures = [];
  const host = new Host(db, new Watchdog(), { onFailure: (err) => failures.push(err.message) });
  await assert.rejects(host.query('SELECT 1'));
  assert.match(failures[0], /neither the statement nor a Sync/);
});

test('a batch that ends without Sync, or starts a COPY, owes no ReadyForQuery', async () => {
  const db = new FakePGlite();
  db.replyTo = (batch) => (batch[0] === 0x48 ? Buffer.alloc(0) : message('G', Buffer.from([0, 0, 0])));
  const host = new Host(db, new Watchdog(), { onFailure: assert.fail });
  assert.strictEqual((await host.run(message('H'))).length, 0);
  assert.strictEqual((await host.query('COPY t FROM STDIN'))[0], 0x47);
  assert.strictEqual(db.requests.length, 2, 'no Sync sent');
});

test('a Query that PGlite answers with nothing at all ends with an error and the Sync\'s ReadyForQuery', async () => {
  const db = new FakePGlite();
  db.replyTo = (batch) => (batch[0] === 0x53 ? protocol.readyForQuery('I') : Buffer.alloc(0));
  const host = new Host(db, new Watchdog(), { onFailure: assert.fail });
  const reply = await host.query('SELECT 1');
  assert.strictEqual(protocol.firstError(reply).C, 'XX000');
  assert.strictEqual(protocol.transactionStatus(reply), 'I');
});

test('a lone Sync that PGlite answers with nothing gets the next Sync\'s ReadyForQuery, with an error', async () => {
  const db = new FakePGlite();
  let syncs = 0;
  db.replyTo = () => (syncs++ === 0 ? Buffer.alloc(0) : protocol.readyForQuery('I'));
  const host = new Host(db, new Watchdog(), { onFailure: assert.fail });
  const reply = await host.run(protocol.SYNC);
  assert.strictEqual(protocol.firstError(reply).C, 'XX000');
  assert.strictEqual(protocol.transactionStatus(reply), 'I');
});

test('a warm-up on real PGlite succeeds and leaves nothing behind', { skip: skipWithout, timeout: 120000 }, async () => {
  const { PGlite, MemoryFS } = realPGlite();
  const host = await Host.start({ PGlite, MemoryFS, watchdog: new Watchdog(), debug: () => {} });
  try {
    await host.warmUp(); // (each statement of it must succeed: setUp throws otherwise)
    const left = await host.query(
      "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'pglite_testcase_warm_up%'), " +
        "(SELECT count(*) FROM pg_proc WHERE proname = 'pglite_testcase_warm_up')"
    );
    assert.deepStrictEqual(protocol.firstRow(left), ['0', '0']);
    assert.strictEqual(protocol.transactionStatus(left), 'I');
  } finally {
    await host.close();
  }
});

test("node's heap does not keep PGlite's replies", { skip: skipWithout, timeout: 300000 }, async () => {
  // PGlite parses each reply message into a list that only execProtocol empties.
  require('v8').setFlagsFromString('--expose-gc');
  const collect = require('vm').runInNewContext('gc');
  const { PGlite, MemoryFS } = realPGlite();
  const host = await Host.start({ PGlite, MemoryFS, watchdog: new Watchdog(), debug: () => {} });
  const heapAfter = async (queries) => {
    for (let i = 0; i < queries; i += 1) await host.query("SELECT repeat('x', 1000)");
    collect();
    return process.memoryUsage().heapUsed;
  };
  const before = await heapAfter(500);
  const after = await heapAfter(3000);
  assert.ok(after - before < 1024 * 1024, `the heap grew by ${after - before} bytes over 3,000 queries`);
});

// PGlite 0.5's request loop: its main loop in a catch that handles PostgreSQL's longjmp and drops the rest.
class DroppingPGlite extends FakePGlite {
  constructor(steps) {
    super();
    this.POSTGRES_MAIN_LONGJMP = 100;
    this.mod = { _PostgresMainLoopOnce: () => steps.shift()() };
  }
  async execProtocolRaw(batch) {
    if (batch[0] !== 0x51) return super.execProtocolRaw(batch);
    try {
      this.mod._PostgresMainLoopOnce();
    } catch (err) {
      if (err.status !== this.POSTGRES_MAIN_LONGJMP) return message('T', Buffer.from([0, 0])); // half a reply
    }
    return super.execProtocolRaw(batch);
  }
}

test('an error that PGlite 0.5 drops inside its backend is reported, never a half reply and a spin', async () => {
  const raise = (err) => () => {
    throw err;
  };
  const db = new DroppingPGlite([
    raise(Object.assign(new Error('longjmp'), { status: 100 })), // PostgreSQL's own ERROR: no failure
    raise(new Error('RuntimeError: null function or function signature mismatch')),
  ]);
  const failures = [];
  const host = new Host(db, new Watchdog(), { onFailure: (err) => failures.push(err.message) });
  assert.strictEqual(command(await host.query('SELECT 1')), 'SELECT 1');
  await assert.rejects(host.query('SELECT 2'), /null function/);
  assert.deepStrictEqual(failures, ['RuntimeError: null function or function signature mismatch']);
});
