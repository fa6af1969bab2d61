'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { message, cstring, int32, eachMessage } = require('../lib/framing');
const protocol = require('../lib/protocol');
const { piecesOf, expectsReady } = require('../lib/batches');
const { Host } = require('../lib/host');
const { Scheduler } = require('../lib/scheduler');
const { Watchdog } = require('../lib/watchdog');
const { realPGlite, skipWithout } = require('../test-support/real-pglite');

// A simple Query message of exactly `length` bytes inserting one row into t.
function insertOfLength(length) {
  const head = "INSERT INTO t VALUES ('";
  const tail = "')";
  return message('Q', cstring(head + 'x'.repeat(length - 6 - head.length - tail.length) + tail));
}

const types = (reply) => [...eachMessage(reply)].map((part) => String.fromCharCode(part[0])).join('');
const readyCount = (reply) => [...eachMessage(reply)].filter((part) => part[0] === 0x5a).length;

const sync = () => protocol.SYNC;
const bindOfLength = (length) => message('B', Buffer.alloc(length - 5));

test('a batch is cut after every message that ends at a multiple of 8192 bytes, except the last', () => {
  const batch = Buffer.concat([bindOfLength(8192), bindOfLength(100), bindOfLength(8092), bindOfLength(50), sync()]);
  const pieces = piecesOf(batch);
  assert.deepStrictEqual(
    pieces.map((piece) => piece.length),
    [8192, 100 + 8092, 50 + 5]
  );
  assert.deepStrictEqual(Buffer.concat(pieces), batch);
  assert.deepStrictEqual(piecesOf(bindOfLength(8192)).length, 1, 'a single message is never cut');
  const seventy = Buffer.concat(Array.from({ length: 70 }, () => bindOfLength(128)));
  assert.deepStrictEqual(
    piecesOf(seventy).map((piece) => piece.length),
    [8192, 70 * 128 - 8192]
  );
});

test('a simple Query runs in a call of its own', () => {
  const batch = Buffer.concat([insertOfLength(100), insertOfLength(200), bindOfLength(50), sync(), insertOfLength(60)]);
  assert.deepStrictEqual(
    piecesOf(batch).map((piece) => piece.length),
    [100, 200, 55, 60]
  );
});

test('PGlite owes ReadyForQuery for a batch ending in Sync or Query only', () => {
  assert.strictEqual(expectsReady(Buffer.concat([insertOfLength(100), protocol.SYNC])), true);
  assert.strictEqual(expectsReady(insertOfLength(100)), true);
  assert.strictEqual(expectsReady(message('H')), false);
});

async function realHost() {
  const { PGlite, MemoryFS } = realPGlite();
  const host = await Host.start({ PGlite, MemoryFS, watchdog: new Watchdog(), debug: () => {} });
  await host.query('CREATE TABLE t (x text)');
  return host;
}

test('real PGlite answers every message of batches whose messages end at 8192·k', { skip: skipWithout, timeout: 120000 }, async () => {
  const host = await realHost();
  try {
    for (let first = 8192 - 300; first <= 8192 + 300; first += 1) {
      const reply = await host.run(Buffer.concat([insertOfLength(first), insertOfLength(100)]));
      assert.strictEqual(readyCount(reply), 2, `batch [${first}, 100]: ${types(reply)}`);
    }
    const seventy = await host.run(Buffer.concat(Array.from({ length: 70 }, () => insertOfLength(128))));
    assert.strictEqual(readyCount(seventy), 70);
    // Failing simple queries, pipelined (PGlite left out the ReadyForQuery of each but the last).
    const failing = await host.run(Buffer.concat([1, 2, 3].map(() => message('Q', cstring('SELECT 1/0')))));
    assert.strictEqual(readyCount(failing), 3);
    // The extended protocol: one Sync, one ReadyForQuery, whatever the sizes.
    for (let pad = 0; pad < 200; pad += 1) {
      const parts = [];
      for (let i = 0; i < 60; i += 1) {
        const value = Buffer.from('v'.repeat(pad));
        parts.push(message('P', cstring(''), cstring('INSERT INTO t VALUES ($1)'), Buffer.from([0, 0])));
        parts.push(message('B', cstring(''), cstring(''), Buffer.from([0, 0, 0, 1]), int32(value.length), value,
          Buffer.from([0, 0])));
        parts.push(message('E', cstring(''), int32(0)));
      }
      parts.push(protocol.SYNC);
      const reply = await host.run(Buffer.concat(parts));
      assert.strictEqual(readyCount(reply), 1, `pad ${pad}`);
      assert.strictEqual([...eachMessage(reply)].filter((part) => part[0] === 0x43).length, 60, `pad ${pad}`);
    }
  } finally {
    await host.close();
  }
});

// A client of a real server: startup, then raw bytes; replies read until `ready` ReadyForQuery.
class RawClient {
  constructor(socketPath) {
    this.socket = net.connect(socketPath);
    this.buffer = Buffer.alloc(0);
    this.waiters = [];
    this.socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiters.forEach((check) => check());
    });
  }
  until(ready) {
    return new Promise((resolve) => {
      const check = () => {
        if (readyCount(this.buffer) < ready) return;
        this.waiters = this.waiters.filter((other) => other !== check);
        const reply = this.buffer;
        this.buffer = Buffer.alloc(0);
        resolve(reply);
      };
      this.waiters.push(check);
      check();
    });
  }
  async start() {
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
    this.socket.write(Buffer.concat([int32(8 + params.length), int32(196608), params]));
    return this.until(1);
  }
  send(bytes) {
    this.socket.write(bytes);
  }
  close() {
    this.socket.end(message('X'));
  }
}

test('the same bytes through a server connection, split into two socket chunks anywhere', { skip: skipWithout, timeout: 120000 }, async () => {
  const host = await realHost();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgtc-batches-'));
  const scheduler = new Scheduler(host, { graceMs: 2000, verifier: null, onCancel: () => {} });
  const listener = net.createServer((socket) => scheduler.accept(socket));
  await new Promise((resolve) => listener.listen(path.join(dir, 'socket'), resolve));
  const client = new RawClient(path.join(dir, 'socket'));
  try {
    await client.start();
    const batch = Buffer.concat([insertOfLength(8192), insertOfLength(100), insertOfLength(64)]);
    // Every offset within 300 bytes of the 8192 boundary, every 61st elsewhere.
    for (let at = 1; at < batch.length; at += Math.abs(at - 8192) <= 300 ? 1 : 61) {
      client.send(batch.subarray(0, at));
      await new Promise((resolve) => setImmediate(resolve));
      client.send(batch.subarray(at));
      const reply = await client.until(3);
      assert.strictEqual(readyCount(reply), 3, `split at ${at}: ${types(reply)}`);
    }
  } finally {
    client.close();
    listener.close();
    while (scheduler.clients.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await scheduler.idle;
    await host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
