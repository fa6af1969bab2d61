'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { EventEmitter } = require('events');
const { message, cstring, int32, eachMessage } = require('../lib/framing');
const protocol = require('../lib/protocol');
const { Scheduler } = require('../lib/scheduler');
const { ScramVerifier } = require('../lib/auth');

// A socket that records what the server writes.
class FakeSocket extends EventEmitter {
  constructor() {
    super();
    this.written = [];
    this.destroyed = false;
    this.ended = false;
  }
  setNoDelay() {}
  write(bytes) {
    this.written.push(Buffer.from(bytes));
  }
  end(bytes) {
    if (bytes) this.write(bytes);
    this.ended = true;
    this.destroyed = true;
    setImmediate(() => this.emit('close'));
  }
  destroy() {
    this.end();
  }
  send(bytes) {
    this.emit('data', bytes);
  }
  types() {
    const typesOf = (bytes) => [...eachMessage(bytes)].map((part) => String.fromCharCode(part[0]));
    return this.written.flatMap((bytes) => (bytes.length === 1 ? ['N'] : typesOf(bytes)));
  }
}

// PGlite stand-in: answers simple queries, tracking the transaction status.
class FakeHost {
  constructor() {
    this.status = 'I';
    this.log = [];
  }
  reply(sql) {
    if (/^BEGIN/i.test(sql)) this.status = 'T';
    if (/^(COMMIT|ROLLBACK)/i.test(sql)) this.status = 'I';
    if (/^FAIL/.test(sql)) {
      if (this.status === 'T') this.status = 'E';
      return Buffer.concat([protocol.errorResponse('ERROR', '42601', 'failed'), protocol.readyForQuery(this.status)]);
    }
    if (/count\(\*\)/.test(sql)) {
      const row = message('D', Buffer.from([0, 1]), int32(1), Buffer.from('3'));
      return Buffer.concat([row, protocol.readyForQuery(this.status)]);
    }
    return Buffer.concat([message('C', cstring('OK')), protocol.readyForQuery(this.status)]);
  }
  async run(batch) {
    if (this.delayMs) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const parts = [...eachMessage(batch)];
    const replies = parts.map((part) => {
      if (part[0] === 0x51) {
        const sql = protocol.queryText(part);
        // The session layer's own queries (session.test.js covers them): 'reset', 'load', or unlogged.
        if (sql === 'DISCARD ALL') this.log.push('reset');
        else if (sql.startsWith('SELECT pg_catalog.set_config')) return this.reply(sql);
        else if (sql.startsWith('SET SESSION AUTHORIZATION postgres; RESET')) this.log.push('load');
        else if (sql.startsWith('SET SESSION AUTHORIZATION postgres')) return this.reply(sql);
        else if (!/pg_catalog\.(current_setting|concat_ws)/.test(sql)) this.log.push(sql);
        return this.reply(sql);
      }
      this.log.push(String.fromCharCode(part[0]));
      return part[0] === 0x53 ? protocol.readyForQuery(this.status) : Buffer.alloc(0);
    });
    return Buffer.concat(replies);
  }
  query(sql) {
    return this.run(protocol.simpleQuery(sql));
  }
  async startSession() {
    this.log.push('startup');
    const keyData = message('K', int32(0), int32(0));
    return Buffer.concat([message('R', int32(0)), keyData, protocol.readyForQuery(this.status)]);
  }
  async copyFrom(sql, data) {
    this.log.push(`copy ${sql} <${data.toString()}>`);
    return this.reply('COPY');
  }
}

function startup() {
  const body = Buffer.from('user\0postgres\0database\0postgres\0\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

const query = (sql) => message('Q', cstring(sql));
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

async function connect(scheduler) {
  const socket = new FakeSocket();
  const client = scheduler.accept(socket);
  socket.send(startup());
  await settle();
  return { socket, client };
}

function setup(options = {}) {
  const host = new FakeHost();
  const cancels = [];
  const scheduler = new Scheduler(host, { graceMs: 200, onCancel: (client) => cancels.push(client.id), ...options });
  return { host, scheduler, cancels };
}

test('a client in a transaction holds the session; the others wait their turn', async () => {
  const { host, scheduler } = setup();
  const a = await connect(scheduler);
  const b = await connect(scheduler);
  a.socket.send(query('BEGIN'));
  await settle();
  b.socket.send(query('SELECT 1'));
  await settle();
  assert.ok(!host.log.includes('SELECT 1'), 'b ran inside a\'s transaction');
  a.socket.send(query('COMMIT'));
  await settle();
  // b's turn: its own session settings are loaded first.
  assert.deepStrictEqual(host.log.slice(-3), ['COMMIT', 'load', 'SELECT 1']);
});

// One client inside a transaction, and a new connection: what the newcomer sends waits.
async function newcomerWhileOneHoldsTheSession() {
  const { scheduler } = setup();
  const a = await connect(scheduler);
  a.socket.send(query('BEGIN'));
  await settle();
  const b = new FakeSocket();
  scheduler.accept(b);
  return b;
}

test('waiting longer than graceMs ends in a FATAL error with advice', async () => {
  const b = await newcomerWhileOneHoldsTheSession();
  b.send(startup());
  await new Promise((resolve) => setTimeout(resolve, 300));
  const error = protocol.firstError(Buffer.concat(b.written));
  assert.strictEqual(error.S, 'FATAL');
  assert.strictEqual(error.C, '55P03');
  assert.match(error.M, /this connection waited 200 ms for another connection's transaction to end and was refused/);
  assert.match(error.H, /self\.engine/);
  assert.ok(b.ended);
});

test('SSLRequest is answered at once, even while another client holds the session', async () => {
  const b = await newcomerWhileOneHoldsTheSession();
  b.send(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])); // SSLRequest
  await settle();
  assert.deepStrictEqual(b.written.map(String), ['N']);
});

test('a client leaving inside its transaction has it rolled back; the last one out resets the session', async () => {
  const { host, scheduler } = setup();
  const a = await connect(scheduler);
  a.socket.send(query('BEGIN'));
  await settle();
  a.socket.send(message('X'));
  await settle();
  assert.deepStrictEqual(host.log.slice(-3), ['S', 'ROLLBACK', 'reset']);
  assert.strictEqual(scheduler.owner, null);
});

test('COPY FROM STDIN: CopyInResponse, the data collected, then one COPY from the blob', async () => {
  const { host, scheduler } = setup();
  const a = await connect(scheduler);
  a.socket.send(query('COPY t FROM STDIN'));
  await settle();
  const response = a.socket.written[a.socket.written.length - 1];
  assert.strictEqual(String.fromCharCode(response[0]), 'G');
  assert.strictEqual(response.readInt16BE(6), 3, 'the column count PGlite gave');
  a.socket.send(Buffer.concat([message('d', '1\tx\n'), message('d', '2\ty\n')]));
  a.socket.send(message('c'));
  await settle();
  assert.strictEqual(host.log[host.log.length - 1], "copy COPY t FROM '/dev/blob' <1\tx\n2\ty\n>");
  assert.strictEqual(protocol.transactionStatus(a.socket.written[a.socket.written.length - 1]), 'I');
});

test('CopyFail makes PGlite raise the same error the client is told', async () => {
  const { host, scheduler } = setup();
  const a = await connect(scheduler);
  a.socket.send(query('COPY t (a) FROM STDIN'));
  await settle();
  a.socket.send(message('f', cstring('client gave up')));
  await settle();
  assert.match(host.log[host.log.length - 1], /ERRCODE = '57014', MESSAGE = 'COPY from stdin failed: client gave up'/);
});

test('a CancelRequest with a client\'s key stops PGlite; any other is only closed', async () => {
  const { scheduler, cancels } = setup();
  const a = await connect(scheduler);
  const keyData = [...eachMessage(Buffer.concat(a.socket.written))].find((part) => part[0] === 0x4b);
  const cancel = (processId, secret) => {
    const socket = new FakeSocket();
    scheduler.accept(socket);
    socket.send(Buffer.concat([int32(16), int32(80877102), int32(processId), int32(secret)]));
    return socket;
  };
  const wrong = cancel(keyData.readInt32BE(5), keyData.readInt32BE(9) ^ 1);
  await settle();
  assert.ok(wrong.ended);
  assert.deepStrictEqual(cancels, []);
  cancel(keyData.readInt32BE(5), keyData.readInt32BE(9));
  await settle();
  assert.deepStrictEqual(cancels, [a.client.id]);
});

test('with a password, the startup is answered with a SCRAM request and PGlite is not involved yet', async () => {
  const { host, scheduler } = setup({ verifier: new ScramVerifier('pw') });
  const socket = new FakeSocket();
  scheduler.accept(socket);
  socket.send(startup());
  await settle();
  assert.deepStrictEqual(socket.types(), ['R']);
  assert.strictEqual(socket.written[0].readInt32BE(5), 10);
  assert.deepStrictEqual(host.log, []);
  socket.send(message('p', cstring('SCRAM-SHA-256'), int32(3), Buffer.from('n,,')));
  await settle();
  const error = protocol.firstError(Buffer.concat(socket.written));
  assert.strictEqual(error.C, '28P01');
  assert.strictEqual(error.M, 'password authentication failed for user "postgres"');
  assert.deepStrictEqual(host.log, []);
});

test('a client that leaves while its statement runs inside its transaction has it rolled back', async () => {
  const { host, scheduler } = setup();
  const a = await connect(scheduler);
  a.socket.send(query('BEGIN'));
  await settle();
  host.delayMs = 50;
  a.socket.send(query('INSERT'));
  await new Promise((resolve) => setTimeout(resolve, 10));
  a.socket.emit('close'); // gone while PGlite runs its INSERT
  host.delayMs = 0;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepStrictEqual(host.log.slice(-4), ['INSERT', 'S', 'ROLLBACK', 'reset']);
  assert.strictEqual(host.status, 'I');
});

test('a started client that waits longer than graceMs gets an ERROR for that statement and stays connected', async () => {
  const { host, scheduler } = setup();
  const a = await connect(scheduler);
  const b = await connect(scheduler);
  a.socket.send(query('BEGIN'));
  await settle();
  b.socket.written = [];
  b.socket.send(query('SELECT waiting'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const error = protocol.firstError(Buffer.concat(b.socket.written));
  assert.strictEqual(error.S, 'ERROR');
  assert.strictEqual(error.C, '55P03');
  assert.match(error.M, /this statement waited 200 ms for another connection's transaction to end and was not run/);
  assert.strictEqual(protocol.transactionStatus(Buffer.concat(b.socket.written)), 'I');
  assert.ok(!b.socket.ended, 'still connected');
  assert.ok(!host.log.includes('SELECT waiting'), 'never run');
  // An extended-protocol statement whose Sync comes later: the error now, ReadyForQuery at the Sync.
  b.socket.written = [];
  b.socket.send(Buffer.concat([message('P', cstring(''), cstring('SELECT 2'), Buffer.from([0, 0])), message('H')]));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.strictEqual(protocol.firstError(Buffer.concat(b.socket.written)).C, '55P03');
  b.socket.send(protocol.SYNC);
  await settle();
  assert.strictEqual(protocol.transactionStatus(Buffer.concat(b.socket.written)), 'I');
  // Once a's transaction ends, b's statements run again.
  a.socket.send(query('COMMIT'));
  await settle();
  b.socket.send(query('SELECT after'));
  await settle();
  assert.ok(host.log.includes('SELECT after'));
});
