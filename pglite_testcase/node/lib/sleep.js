// `SELECT pg_sleep(n)`, served by the server itself.
//
// PGlite runs on this thread, so a pg_sleep in PGlite stops every client for its length, and
// no CancelRequest can end it. A statement that is only `SELECT pg_sleep(n)` reads nothing and
// writes nothing: the server answers it as PostgreSQL would after waiting n seconds on a
// timer, while other clients run, and a CancelRequest (Ctrl-C, connection.cancel(), an asyncio
// timeout) ends the wait with PostgreSQL's 57014 error.
'use strict';
const { message, cstring, int16, int32 } = require('./framing');
const protocol = require('./protocol');

const NUMBER = String.raw`(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)`;
const CAST = String.raw`(?:\s*::\s*(?:float8|double precision|numeric|int2|int4|int8|integer|smallint|bigint|real|float4))?`;
const SLEEP = new RegExp(String.raw`^\s*select\s+(?:pg_catalog\s*\.\s*)?pg_sleep\s*\(\s*(?:${NUMBER}|(\$1))${CAST}\s*\)\s*;?\s*$`, 'i');

const VOID = 2278;
const BINARY_NUMBERS = { 701: (b) => b.readDoubleBE(0), 700: (b) => b.readFloatBE(0), 20: (b) => Number(b.readBigInt64BE(0)), 23: (b) => b.readInt32BE(0), 21: (b) => b.readInt16BE(0) };

function rowDescription(format) {
  return message('T', int16(1), cstring('pg_sleep'), int32(0), int16(0), int32(VOID), int16(4), int32(-1), int16(format));
}

const ROW = message('D', int16(1), int32(0)); // void: an empty value, in text and in binary

// The seconds a Bind's one parameter says, for a Parse with `$1` and these parameter types.
function boundSeconds(bind, types) {
  const portal = protocol.stringAt(bind, 5);
  const statement = protocol.stringAt(bind, portal.end + 1);
  let offset = statement.end + 1;
  const formatCount = bind.readInt16BE(offset);
  const formats = [];
  for (let i = 0; i < formatCount; i += 1) formats.push(bind.readInt16BE(offset + 2 + 2 * i));
  offset += 2 + 2 * formatCount;
  if (bind.readInt16BE(offset) !== 1) return null;
  const length = bind.readInt32BE(offset + 2);
  if (length < 0) return null;
  const value = bind.subarray(offset + 6, offset + 6 + length);
  if ((formats[0] || 0) === 0) {
    const text = value.toString('utf8');
    return new RegExp(`^\\s*${NUMBER}\\s*$`, 'i').test(text) ? Number(text) : null;
  }
  const read = BINARY_NUMBERS[types[0]];
  return read && value.length >= 2 ? read(value) : null;
}

// The result format a Bind asks for (0 text, 1 binary).
function resultFormat(bind) {
  const portal = protocol.stringAt(bind, 5);
  const statement = protocol.stringAt(bind, portal.end + 1);
  let offset = statement.end + 1;
  offset += 2 + 2 * bind.readInt16BE(offset);
  const params = bind.readInt16BE(offset);
  offset += 2;
  for (let i = 0; i < params; i += 1) offset += 4 + Math.max(bind.readInt32BE(offset), 0);
  const count = bind.readInt16BE(offset);
  return count === 0 ? 0 : bind.readInt16BE(offset + 2);
}

// If a batch is one `SELECT pg_sleep(n)` (a simple Query, or Parse, Bind, Describe, Execute,
// Sync of the unnamed statement and portal): { milliseconds, reply } with the reply PostgreSQL
// sends once the sleep is over (before its ReadyForQuery). Otherwise null.
function planSleep(parts) {
  if (parts.length === 1 && parts[0][0] === 0x51) {
    const match = SLEEP.exec(protocol.queryText(parts[0]));
    if (!match || match[2]) return null;
    return { milliseconds: Number(match[1]) * 1000, reply: Buffer.concat([rowDescription(0), ROW, message('C', cstring('SELECT 1'))]) };
  }
  if (parts.length > 5) return null; // the hot path: most batches are not a sleep
  const types = parts.map((part) => String.fromCharCode(part[0])).join('');
  if (types !== 'PBDES' && types !== 'PBES') return null;
  if (types === 'PBDES' && parts[2][5] !== 0x50) return null; // Describe of the portal only
  const { name, query } = protocol.parseFields(parts[0]);
  const match = name === '' ? SLEEP.exec(query) : null;
  const bind = parts[1];
  if (!match || protocol.stringAt(bind, 5).text !== '' || protocol.boundStatement(bind) !== '') return null;
  const seconds = match[2] ? boundSeconds(bind, protocol.parameterTypes(parts[0])) : Number(match[1]);
  if (seconds === null || !Number.isFinite(seconds)) return null;
  const describe = types === 'PBDES' ? [rowDescription(resultFormat(bind))] : [];
  const reply = Buffer.concat([message('1'), message('2'), ...describe, ROW, message('C', cstring('SELECT 1'))]);
  return { milliseconds: Math.max(seconds, 0) * 1000, reply };
}

module.exports = { planSleep };
