// Reading and rewriting the protocol messages that pass between clients and PGlite.
'use strict';
const { message, int32, cstring, eachMessage } = require('./framing');

function errorResponse(severity, sqlstate, text, hint) {
  const fields = [
    ['S', severity],
    ['V', severity],
    ['C', sqlstate],
    ['M', text],
  ];
  if (hint) fields.push(['H', hint]);
  const encoded = fields.map(([code, value]) => Buffer.concat([Buffer.from(code), cstring(value)]));
  return message('E', ...encoded, Buffer.from([0]));
}

function fatal(sqlstate, text, hint) {
  return errorResponse('FATAL', sqlstate, text, hint);
}

const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

function readyForQuery(status) {
  return message('Z', status);
}

// The transaction status a reply ends with ('I' idle, 'T' in a transaction,
// 'E' in a failed one), or null when it does not end with ReadyForQuery
// (mid-way through an extended-query exchange, or a COPY).
function transactionStatus(reply) {
  const n = reply.length;
  // ReadyForQuery: 'Z', length 5, status.
  const endsWithReady =
    n >= 6 && reply[n - 6] === 0x5a && reply[n - 5] === 0 && reply[n - 4] === 0 && reply[n - 3] === 0 &&
    reply[n - 2] === 5;
  return endsWithReady ? String.fromCharCode(reply[n - 1]) : null;
}

// Whether `reply` ends by starting a COPY with the client (CopyInResponse, CopyBothResponse).
function startsCopy(reply) {
  let last = -1;
  for (const part of eachMessage(reply)) last = part[0];
  return last === 0x47 || last === 0x57;
}

// The format of the COPY TO STDOUT that `reply` starts (0 text, 1 binary), or null.
function startsCopyOut(reply) {
  if (reply.indexOf(0x48) < 0) return null;
  for (const part of eachMessage(reply)) if (part[0] === 0x48) return part[5];
  return null;
}

// Whether the client that got `reply` keeps the session for its next messages.
function holdsSession(reply) {
  return transactionStatus(reply) !== 'I';
}

// PGlite sends "# 1743: aborting transaction N" to the client at every
// rollback, something PostgreSQL never says: drop those NoticeResponses.
const ABORT_NOTICE = Buffer.from('aborting transaction');
function withoutAbortNotices(reply) {
  if (reply.indexOf(0x4e) < 0) return reply; // no 'N' byte at all: nothing to look at
  const kept = [];
  let start = 0;
  let offset = 0;
  for (const part of eachMessage(reply)) {
    if (part[0] === 0x4e && part.indexOf(ABORT_NOTICE) >= 0) {
      kept.push(reply.subarray(start, offset));
      start = offset + part.length;
    }
    offset += part.length;
  }
  if (start === 0) return reply;
  kept.push(reply.subarray(start));
  return Buffer.concat(kept);
}

// The first error's fields of a reply ({C: sqlstate, M: message, ...}), or null.
function firstError(reply) {
  for (const part of eachMessage(reply)) {
    if (part[0] !== 0x45) continue;
    const fields = {};
    let offset = 5;
    while (offset < part.length && part[offset] !== 0) {
      const end = part.indexOf(0, offset + 1);
      fields[String.fromCharCode(part[offset])] = part.toString('utf8', offset + 1, end);
      offset = end + 1;
    }
    return fields;
  }
  return null;
}

// The text columns of each DataRow of a reply.
function rows(reply) {
  const found = [];
  for (const part of eachMessage(reply)) {
    if (part[0] !== 0x44) continue;
    const values = [];
    let offset = 7;
    for (let i = part.readInt16BE(5); i > 0; i -= 1) {
      const length = part.readInt32BE(offset);
      offset += 4;
      values.push(length < 0 ? null : part.toString('utf8', offset, offset + length));
      if (length > 0) offset += length;
    }
    found.push(values);
  }
  return found;
}

// The text columns of the first DataRow of a reply.
function firstRow(reply) {
  const found = rows(reply);
  return found.length > 0 ? found[0] : null;
}

// A StartupMessage (protocol 3.0) with `parameters`.
function startupMessage(parameters) {
  const body = Buffer.concat([
    ...Object.entries(parameters).flatMap(([name, value]) => [cstring(name), cstring(value)]),
    Buffer.from([0]),
  ]);
  return Buffer.concat([int32(8 + body.length), int32(196608), body]);
}

function simpleQuery(sql) {
  return message('Q', cstring(sql));
}

// The SQL text of a simple Query ('Q') message.
function queryText(query) {
  return query.toString('utf8', 5, query.length - 1);
}

// A NUL-terminated string of a message, from `offset`: its text and where it ends.
function stringAt(part, offset) {
  const end = part.indexOf(0, offset);
  return { text: part.toString('utf8', offset, end), end };
}

// The statement name of a Bind ('B'): after the portal name.
function boundStatement(bind) {
  const portal = stringAt(bind, 5);
  return stringAt(bind, portal.end + 1).text;
}

// Parse ('P'): statement name, query text, the rest (parameter types).
function parseFields(parse) {
  const name = stringAt(parse, 5);
  const query = stringAt(parse, name.end + 1);
  return { name: name.text, query: query.text, rest: parse.subarray(query.end + 1) };
}

// The parameter type OIDs a Parse message declares (0: left to the server).
function parameterTypes(parse) {
  const { rest } = parseFields(parse);
  return Array.from({ length: rest.readInt16BE(0) }, (_, i) => rest.readUInt32BE(2 + 4 * i));
}

function parseMessage(name, query, rest) {
  return message('P', cstring(name), cstring(query), rest);
}

// Named prepared statements live in the one shared session, and drivers name
// them per connection (psycopg: _pg3_0, asyncpg: __asyncpg_stmt_1__), so two
// clients would collide. Each client's statement names get a prefix of its
// own on the way in; the ones it prepared are deallocated when it leaves.
// Portals are not renamed: they live until the end of a transaction (or
// Sync), and for that long their client holds the session. psycopg's named
// cursors also need them as the client named them: they DECLARE a cursor in
// SQL and then describe the portal of the same name.
const DEALLOCATE = /^(\s*deallocate\s+(?:prepare\s+)?)("(?:[^"]|"")+"|[^\s;"]+)\s*;?\s*$/i;

class StatementNames {
  constructor(prefix) {
    this.prefix = prefix;
    this.prepared = new Set();
  }

  renamed(name) {
    return name ? this.prefix + name : '';
  }

  // SQL `DEALLOCATE name` of a statement the client prepared through the protocol (psycopg
  // does that with libpq < 17): the name as the server knows it. Other SQL is left alone.
  rewriteSql(sql) {
    const match = DEALLOCATE.exec(sql);
    if (!match) return null;
    if (/^all$/i.test(match[2])) {
      this.prepared.clear();
      return null;
    }
    const name = match[2].startsWith('"') ? match[2].slice(1, -1).replace(/""/g, '"') : match[2].toLowerCase();
    const renamed = this.renamed(name);
    if (!this.prepared.has(renamed)) return null;
    this.prepared.delete(renamed);
    return `${match[1]}"${renamed.replace(/"/g, '""')}"`;
  }

  // `part` with its statement name (if any) renamed.
  rewrite(part) {
    const type = part[0];
    if (type === 0x50) {
      // Parse: statement name first.
      const { name, query, rest } = parseFields(part);
      if (!name) return part;
      this.prepared.add(this.renamed(name));
      return parseMessage(this.renamed(name), query, rest);
    }
    if (type === 0x42) {
      // Bind: portal name, then statement name.
      const portal = stringAt(part, 5);
      const statement = stringAt(part, portal.end + 1);
      if (!statement.text) return part;
      return message(
        'B',
        part.subarray(5, portal.end + 1),
        cstring(this.renamed(statement.text)),
        part.subarray(statement.end + 1)
      );
    }
    if ((type === 0x44 || type === 0x43) && part[5] === 0x53) {
      // Describe / Close of a statement ('S'); portals ('P') keep their names.
      const name = stringAt(part, 6);
      if (!name.text) return part;
      if (type === 0x43) this.prepared.delete(this.renamed(name.text));
      return message(String.fromCharCode(type), 'S', cstring(this.renamed(name.text)), part.subarray(name.end + 1));
    }
    return part;
  }
}

// PGlite gives every client the same BackendKeyData (0, 0). Each client gets
// its own, so that a CancelRequest names the connection it is meant for.
function withBackendKey(reply, processId, secret) {
  const parts = [];
  for (const part of eachMessage(reply)) {
    parts.push(part[0] === 0x4b ? message('K', int32(processId), int32(secret)) : part);
  }
  return Buffer.concat(parts);
}

// Which messages a batch holds, for the debug log: "PBDES", "Q: SELECT 1".
function describeBatch(parts) {
  const types = parts.map((part) => String.fromCharCode(part[0])).join('');
  const query = parts.find((part) => part[0] === 0x51 || part[0] === 0x50);
  if (!query) return types;
  const sql = query[0] === 0x51 ? queryText(query) : parseFields(query).query;
  return `${types} ${sql.slice(0, 120).replace(/\s+/g, ' ')}`;
}

module.exports = {
  errorResponse,
  fatal,
  readyForQuery,
  SYNC,
  transactionStatus,
  holdsSession,
  startsCopy,
  startsCopyOut,
  withoutAbortNotices,
  firstError,
  firstRow,
  rows,
  simpleQuery,
  startupMessage,
  queryText,
  parseFields,
  boundStatement,
  stringAt,
  parseMessage,
  parameterTypes,
  StatementNames,
  withBackendKey,
  describeBatch,
};
