// Splitting a client's byte stream into PostgreSQL protocol messages.
//
// Before the startup a message is `int32 length, int32 code, ...`; after it,
// `byte type, int32 length, ...` (both lengths count themselves, not the type
// byte). Large values (an 80 MB bytea parameter) arrive in thousands of
// chunks, so the buffer grows by doubling and every byte is copied a bounded
// number of times: appending chunk by chunk with Buffer.concat would copy
// everything received so far at each chunk, quadratic in the message size.
'use strict';

const MIN_CAPACITY = 16 * 1024;

class ReceiveBuffer {
  constructor() {
    this.storage = Buffer.allocUnsafe(0);
    this.start = 0; // first byte not yet taken
    this.end = 0; // one past the last byte received
    this.bytesCopied = 0; // for tests: total bytes moved by push() and its reallocations
  }

  get length() {
    return this.end - this.start;
  }

  push(chunk) {
    if (this.end + chunk.length > this.storage.length) this.reallocate(this.length + chunk.length);
    chunk.copy(this.storage, this.end);
    this.end += chunk.length;
    this.bytesCopied += chunk.length;
  }

  // Move the unread bytes into a fresh buffer, at least twice as large as
  // needed. Bytes are only ever written after `end`, never over the old
  // buffer's start: messages taken earlier are views into it and must keep
  // their content.
  reallocate(needed) {
    const capacity = Math.max(MIN_CAPACITY, 2 * needed);
    const storage = Buffer.allocUnsafe(capacity);
    this.storage.copy(storage, 0, this.start, this.end);
    this.bytesCopied += this.length;
    this.end = this.length;
    this.start = 0;
    this.storage = storage;
  }

  int32(offset) {
    return this.storage.readInt32BE(this.start + offset);
  }

  // The next `n` bytes, as a view that stays valid after later pushes.
  take(n) {
    const message = this.storage.subarray(this.start, this.start + n);
    this.start += n;
    return message;
  }

  clear() {
    this.storage = Buffer.allocUnsafe(0);
    this.start = 0;
    this.end = 0;
  }

  // Length of the next whole message, or 0 if it has not fully arrived.
  nextLength(startup) {
    if (startup) {
      if (this.length < 8) return 0;
      const length = this.int32(0);
      return this.length >= length ? Math.max(length, 8) : 0;
    }
    if (this.length < 5) return 0;
    const length = this.int32(1) + 1;
    return this.length >= length ? Math.max(length, 5) : 0;
  }

  hasMessage(startup) {
    return this.nextLength(startup) > 0;
  }

  nextMessage(startup) {
    const length = this.nextLength(startup);
    return length > 0 ? this.take(length) : null;
  }
}

// A regular message: type byte, length, body parts.
function message(type, ...parts) {
  const buffers = parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : part));
  const bodyLength = buffers.reduce((sum, part) => sum + part.length, 0);
  const out = Buffer.allocUnsafe(5 + bodyLength);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(bodyLength + 4, 1);
  let offset = 5;
  for (const part of buffers) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function int32(value) {
  const out = Buffer.allocUnsafe(4);
  out.writeInt32BE(value, 0);
  return out;
}

function int16(value) {
  const out = Buffer.allocUnsafe(2);
  out.writeInt16BE(value, 0);
  return out;
}

function cstring(text) {
  return Buffer.from(`${text}\0`, 'utf8');
}

// The messages in a reply (a concatenation of whole messages), as views.
function* eachMessage(buffer) {
  let offset = 0;
  while (offset + 5 <= buffer.length) {
    const length = buffer.readInt32BE(offset + 1) + 1;
    yield buffer.subarray(offset, offset + length);
    offset += length;
  }
}

// Startup-phase message codes.
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

module.exports = {
  ReceiveBuffer,
  message,
  int32,
  int16,
  cstring,
  eachMessage,
  SSL_REQUEST,
  GSSENC_REQUEST,
  CANCEL_REQUEST,
  PROTOCOL_3,
};
