// How a client's messages are handed to PGlite.
//
// PGlite 0.3.x reads the messages of one execProtocolRaw call through
// PostgreSQL's 8 KB input buffer, and decides after each message whether more
// follow by whether that buffer still holds bytes. When a message other than
// the last ends exactly at byte 8192·k of the call, the buffer is empty there:
// PGlite answers up to that message and drops the rest, with no error and no
// ReadyForQuery, and the client waits forever. A batch is therefore cut after
// any such message; the pieces run one after the other, their replies joined.
//
// PGlite 0.3 also leaves out the ReadyForQuery of a simple Query that fails when
// more messages follow in the same call (the client, owed one per Query, waits
// forever): a simple Query always runs in a call of its own.
'use strict';

const PGLITE_INPUT_BUFFER = 8192;

// The pieces of `batch` (whole protocol messages) to run one call each.
function piecesOf(batch, bufferSize = PGLITE_INPUT_BUFFER) {
  const pieces = [];
  let start = 0;
  let offset = 0;
  while (offset + 5 <= batch.length) {
    const query = batch[offset] === 0x51;
    if (query && offset > start) {
      pieces.push(batch.subarray(start, offset));
      start = offset;
    }
    offset += 1 + batch.readInt32BE(offset + 1);
    const next = offset < batch.length ? batch[offset] : null;
    if (next !== null && (query || (offset - start) % bufferSize === 0)) {
      pieces.push(batch.subarray(start, offset));
      start = offset;
    }
  }
  pieces.push(start === 0 ? batch : batch.subarray(start));
  return pieces;
}

// Whether PGlite owes a ReadyForQuery for `batch`: it ends with Sync or a simple Query.
function expectsReady(batch) {
  let offset = 0;
  let last = -1;
  while (offset + 5 <= batch.length) {
    last = batch[offset];
    offset += 1 + batch.readInt32BE(offset + 1);
  }
  return last === 0x53 || last === 0x51;
}

module.exports = { piecesOf, expectsReady, PGLITE_INPUT_BUFFER };
