// COPY ... FROM STDIN, which PGlite cannot take over the wire protocol (its
// WebAssembly traps waiting for input). PGlite loads COPY data from a blob
// instead (`COPY ... FROM '/dev/blob'`), so the server plays the COPY
// sub-protocol with the client itself: it answers CopyInResponse, collects
// the CopyData messages, and at CopyDone runs the same COPY from the blob.
'use strict';
const { message, int16 } = require('./framing');

// SQL tokens: words, quoted identifiers, string literals, dollar-quoted
// strings, numbers and single punctuation characters; comments and
// whitespace skipped.
function tokenize(sql) {
  const tokens = [];
  let i = 0;
  const n = sql.length;
  const push = (type, start, end) => tokens.push({ type, start, end, text: sql.slice(start, end) });
  while (i < n) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth += 1;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth -= 1;
          i += 2;
        } else i += 1;
      }
    } else if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      const start = i;
      const escapes = c !== "'";
      i += escapes ? 2 : 1;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i += 1;
      }
      i += 1;
      push('string', start, Math.min(i, n));
    } else if (c === '"') {
      const start = i;
      i += 1;
      while (i < n && !(sql[i] === '"' && sql[i + 1] !== '"')) i += sql[i] === '"' ? 2 : 1;
      i += 1;
      push('identifier', start, Math.min(i, n));
    } else if (c === '$' && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i))) {
      const tag = sql.slice(i).match(/^\$([A-Za-z_][A-Za-z0-9_]*)?\$/)[0];
      const start = i;
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? n : end + tag.length;
      push('string', start, i);
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i])) i += 1;
      push('word', start, i);
    } else if (/[0-9]/.test(c)) {
      const start = i;
      while (i < n && /[0-9.eE]/.test(sql[i])) i += 1;
      push('number', start, i);
    } else {
      push('punctuation', i, i + 1);
      i += 1;
    }
  }
  return tokens;
}

function isWord(token, word) {
  return token !== undefined && token.type === 'word' && token.text.toLowerCase() === word;
}

// The statements of a query string, as token lists.
function statements(sql) {
  const result = [[]];
  for (const token of tokenize(sql)) {
    if (token.type === 'punctuation' && token.text === ';') result.push([]);
    else result[result.length - 1].push(token);
  }
  return result.filter((tokens) => tokens.length > 0);
}

// `COPY [BINARY] table [(columns)]` at the start of `tokens`: the table's name, its
// column names if listed, whether BINARY was said, and the index of the next token.
function copyTarget(tokens) {
  if (!isWord(tokens[0], 'copy')) return null;
  let i = 1;
  let binary = false;
  if (isWord(tokens[i], 'binary')) {
    binary = true; // COPY BINARY table: the pre-7.3 spelling
    i += 1;
  }
  const nameStart = i;
  while (tokens[i] && (tokens[i].type === 'word' || tokens[i].type === 'identifier')) {
    i += 1;
    if (tokens[i] && tokens[i].text === '.') i += 1;
    else break;
  }
  if (i === nameStart) return null;
  const table = tokens.slice(nameStart, i).map((token) => token.text).join('');
  let names = null;
  if (tokens[i] && tokens[i].text === '(') {
    names = [];
    for (i += 1; tokens[i] && tokens[i].text !== ')'; i += 1) {
      if (tokens[i].type === 'word' || tokens[i].type === 'identifier') names.push(tokens[i].text);
    }
    i += 1;
  }
  return { table, names, binary, next: i };
}

// A query with the columns of a COPY's table, for their types.
function selectColumns(table, names) {
  return `SELECT ${names ? names.join(', ') : '*'} FROM ${table} LIMIT 0`;
}

// If `sql` is one `COPY ... TO STDOUT` statement: a query giving the same columns.
function copyOutColumnsQuery(sql) {
  if (!/stdout/i.test(sql)) return null;
  const found = statements(sql);
  if (found.length !== 1) return null;
  const tokens = found[0];
  if (!isWord(tokens[0], 'copy')) return null;
  if (tokens[1] && tokens[1].text === '(') {
    let depth = 0;
    for (let i = 1; i < tokens.length; i += 1) {
      if (tokens[i].text === '(') depth += 1;
      if (tokens[i].text === ')') depth -= 1;
      if (depth === 0) return i > 2 ? sql.slice(tokens[2].start, tokens[i].start) : null;
    }
    return null;
  }
  const target = copyTarget(tokens);
  return target === null ? null : selectColumns(target.table, target.names);
}

// If `tokens` are a `COPY table [(columns)] FROM STDIN ...` statement: where
// STDIN is, the table's name, the column count if listed, and the format.
function copyFromStdin(tokens) {
  const target = copyTarget(tokens);
  if (target === null) return null;
  const { table, names } = target;
  let { binary, next: i } = target;
  const columns = names === null ? null : names.length;
  const stdin = tokens[i + 1];
  for (let j = i + 2; j < tokens.length && !isWord(tokens[j], 'where'); j += 1) {
    if (isWord(tokens[j], 'format')) {
      const value = tokens[j + 1];
      binary = value !== undefined && value.text.replace(/'/g, '').toLowerCase() === 'binary';
      j += 1;
    } else if (isWord(tokens[j], 'binary')) {
      binary = true; // WITH BINARY
    }
  }
  return { table, columns, binary, stdin, columnsQuery: selectColumns(table, names) };
}

// What the server does with a simple Query's text:
// - { kind: 'copy', ... }: a lone COPY ... FROM STDIN, played by the server;
// - { kind: 'refuse', message }: COPY ... FROM STDIN among other statements,
//   which PGlite cannot run;
// - null: anything else, passed to PGlite as it is.
function planQuery(sql) {
  if (!/stdin/i.test(sql)) return null; // the common case, without tokenizing
  const found = statements(sql).map((tokens) => copyFromStdin(tokens));
  const copies = found.filter((copy) => copy !== null);
  if (copies.length === 0) return null;
  if (found.length > 1) {
    return { kind: 'refuse', message: 'COPY ... FROM STDIN must be the only statement of its query string on PGlite' };
  }
  const copy = copies[0];
  const fromBlob = `${sql.slice(0, copy.stdin.start)}'/dev/blob'${sql.slice(copy.stdin.end)}`;
  return {
    kind: 'copy',
    table: copy.table,
    columns: copy.columns,
    binary: copy.binary,
    sql: fromBlob,
    columnsQuery: copy.columnsQuery,
  };
}

// Whether a statement prepared through the extended protocol is a COPY ... FROM STDIN.
function isCopyFromStdin(sql) {
  return /stdin/i.test(sql) && statements(sql).some((tokens) => copyFromStdin(tokens) !== null);
}

// A statement that makes PGlite itself raise `text` with `sqlstate`, so that
// its transaction state afterwards is what PostgreSQL's would be (a failed
// transaction block, or an idle session).
function raising(sqlstate, text) {
  const literal = `'${text.replace(/'/g, "''")}'`;
  const raise = `RAISE EXCEPTION USING ERRCODE = '${sqlstate}', MESSAGE = ${literal}`;
  return `DO $pglite_testcase$ BEGIN ${raise}; END $pglite_testcase$`;
}

// The query counting the columns a COPY without a column list takes.
function columnCountQuery(table) {
  const literal = `'${table.replace(/'/g, "''")}'`;
  return (
    'SELECT count(*) FROM pg_catalog.pg_attribute ' +
    `WHERE attrelid = ${literal}::pg_catalog.regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`
  );
}

function copyInResponse(binary, columns) {
  const format = binary ? 1 : 0;
  return message('G', Buffer.from([format]), int16(columns), ...Array.from({ length: columns }, () => int16(format)));
}

// What COPY FROM reads when there is nothing to read: PostgreSQL's binary
// format needs its header and trailer even for no rows.
function emptyInput(binary) {
  if (!binary) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8), Buffer.from([0xff, 0xff])]);
}

module.exports = {
  tokenize,
  statements,
  planQuery,
  isCopyFromStdin,
  copyOutColumnsQuery,
  raising,
  columnCountQuery,
  copyInResponse,
  emptyInput,
};
