'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { ReceiveBuffer, message, cstring, eachMessage } = require('../lib/framing');

function startup(parameters) {
  const body = Buffer.from(`${parameters}\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

test('messages split across arbitrary chunk boundaries come out whole', () => {
  const stream = Buffer.concat([
    startup('user\0postgres\0'),
    message('Q', cstring('SELECT 1')),
    message('S'),
    message('Q', cstring('SELECT 2')),
  ]);
  for (const size of [1, 2, 3, 7, 64]) {
    const buffer = new ReceiveBuffer();
    const seen = [];
    let started = false;
    for (let offset = 0; offset < stream.length; offset += size) {
      buffer.push(stream.subarray(offset, offset + size));
      for (let part = buffer.nextMessage(!started); part; part = buffer.nextMessage(!started)) {
        seen.push(started ? String.fromCharCode(part[0]) : 'startup');
        started = true;
      }
    }
    assert.deepStrictEqual(seen, ['startup', 'Q', 'S', 'Q'], `chunks of ${size}`);
    assert.strictEqual(buffer.length, 0);
  }
});

test('a message taken keeps its content while more arrives', () => {
  const buffer = new ReceiveBuffer();
  buffer.push(message('Q', cstring('first')));
  const first = buffer.nextMessage(false);
  for (let i = 0; i < 100; i += 1) buffer.push(message('Q', cstring(`later ${i} ${'x'.repeat(1000)}`)));
  assert.strictEqual(first.toString('utf8', 5, first.length - 1), 'first');
  assert.strictEqual(buffer.nextMessage(false).toString('utf8', 5, 12), 'later 0');
});

test('a large message is copied a bounded number of times (linear, not quadratic)', () => {
  const buffer = new ReceiveBuffer();
  const size = 80 * 1024 * 1024;
  const whole = message('B', Buffer.alloc(size, 0x61));
  const chunk = 64 * 1024; // what a socket delivers at a time
  let taken = null;
  for (let offset = 0; offset < whole.length; offset += chunk) {
    assert.strictEqual(taken, null, 'the message came out before all of it arrived');
    buffer.push(whole.subarray(offset, offset + chunk));
    taken = buffer.nextMessage(false);
  }
  assert.strictEqual(taken && taken.length, whole.length);
  // Each byte is copied in once, plus at most once per doubling of the buffer.
  assert.ok(buffer.bytesCopied < 3 * whole.length, `copied ${buffer.bytesCopied} bytes for ${whole.length}`);
});

test('the whole large message comes out intact', () => {
  const buffer = new ReceiveBuffer();
  const body = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 1) body[i] = i % 251;
  const whole = message('d', body);
  for (let offset = 0; offset < whole.length; offset += 65536) buffer.push(whole.subarray(offset, offset + 65536));
  const part = buffer.nextMessage(false);
  assert.ok(part.subarray(5).equals(body));
});

test('eachMessage walks a reply', () => {
  const reply = Buffer.concat([message('C', cstring('SELECT 1')), message('Z', 'I')]);
  assert.deepStrictEqual([...eachMessage(reply)].map((part) => String.fromCharCode(part[0])), ['C', 'Z']);
});
