// Debug connections: psql (or a GUI) inside the running test's transaction.
//
// At a breakpoint in a test, a user wants to look at the test database and see the test's
// uncommitted rows. PGlite has one session, so a connection to the debug database (a name the
// test process hands out: `debug_<random>`, never reached by accident) can share it:
// - while a connection holds a transaction (the test's), the debug connection's statements run
//   inside it, between that connection's own statements: only while it is idle in its
//   transaction (at a ReadyForQuery), never half-way through one of its exchanges; the debug
//   connection waits meanwhile, and is never refused for waiting;
// - when no transaction is open, each of its statements runs in a transaction of its own that is
//   rolled back: a debug connection never commits anything.
// Whatever it does leaves the test's transaction as it was:
// - transaction control (COMMIT, ROLLBACK, SAVEPOINT, ...) is refused, saying why;
// - each statement runs inside a savepoint, so an error (a typo in psql) is rolled back to it
//   and does not abort the test's transaction;
// - what it sets (SET, set_config(), ...) is undone, with the rest of that statement, since the
//   session it would change is the test's;
// - it never holds the session, and its startup never reaches PGlite (a session's startup
//   inside the test's transaction): it is answered from the reported settings.
// It is told it is idle (STATUS), and BEGIN alone does nothing: it has no transaction to end.
// Its statements are taken a whole exchange at a time (up to a Sync or a simple Query): an
// exchange waiting for a reply before its Sync (a Flush) is not served on it. Its simple
// queries replace the session's unnamed prepared statement, as any simple query does on
// PostgreSQL: the drivers' statements use it within one exchange (named ones are the client's).
'use strict';
const { message, int32, cstring, eachMessage } = require('./framing');
const protocol = require('./protocol');
const copy = require('./copy');
const encoding = require('./encoding');
const session = require('./session');

const { REPORTED, REPORTED_QUERY, MAY_CHANGE_SETTINGS, OWN_SETTINGS, BACKEND_PID, withReported, beforeReady } = session;

const SAVEPOINT = 'pglite_testcase_debug';

// What a debug connection's statements may change: every setting PostgreSQL lists, the server's
// own (custom settings are not in pg_settings), and who the session is.
const SETTINGS_FINGERPRINT =
  "SELECT pg_catalog.md5(pg_catalog.string_agg(name || '=' || setting, ',' ORDER BY name)) || ',' || " +
  [...OWN_SETTINGS, BACKEND_PID]
    .map((name) => `coalesce(pg_catalog.current_setting('${name}', true), '')`)
    .join(" || ',' || ") +
  " || ',' || session_user || ',' || current_user FROM pg_catalog.pg_settings";

// Statements that would end, or step outside, the test's transaction: first words.
const TRANSACTION_CONTROL = new Set(['commit', 'end', 'abort', 'rollback', 'savepoint', 'release']);

const WHY_IN_TEST =
  "a debug connection runs inside the running test's transaction (rolled back when the test ends), and " +
  "transaction control here would act on the test's own";
const WHY_BETWEEN_TESTS =
  'a debug connection never commits: no test is running, so each of its statements runs in a ' +
  'transaction of its own that is rolled back';
const HINT_IN_TEST = "What a debug connection does is part of the test's transaction, and is rolled back with it.";

// The transaction-control statement of `sql` that a debug connection refuses ('COMMIT',
// 'PREPARE TRANSACTION', 'SET CONSTRAINTS', ...), or null.
function refusedStatement(sql) {
  for (const tokens of copy.statements(sql)) {
    const words = tokens.slice(0, 2).map((token) => (token.type === 'word' ? token.text.toLowerCase() : ''));
    if (TRANSACTION_CONTROL.has(words[0])) return tokens[0].text.toUpperCase();
    if (words[0] === 'prepare' && words[1] === 'transaction') return 'PREPARE TRANSACTION';
    if (words[0] === 'set' && words[1] === 'constraints') return 'SET CONSTRAINTS';
  }
  return null;
}

// The SQL texts of a unit's simple Query and Parse messages.
function sqlOf(unit) {
  const texts = [];
  for (const part of unit) {
    if (part[0] === 0x51) texts.push(protocol.queryText(part));
    else if (part[0] === 0x50) texts.push(protocol.parseFields(part).query);
  }
  return texts;
}

// A batch's exchanges: its messages up to and including each Sync or simple Query.
function unitsOf(parts) {
  const units = [];
  let unit = [];
  for (const part of parts) {
    unit.push(part);
    if (part[0] === 0x53 || part[0] === 0x51) {
      units.push(unit);
      unit = [];
    }
  }
  if (unit.length > 0) units.push(unit);
  return units;
}

// The index just past the last message of `inbox` that ends an exchange (Sync, Query) or the
// connection (Terminate): what a debug connection's next batch may take (0: nothing yet).
function wholeExchanges(inbox) {
  for (let i = inbox.length - 1; i >= 0; i -= 1) {
    const type = inbox[i][0];
    if (type === 0x53 || type === 0x51 || type === 0x58) return i + 1;
  }
  return 0;
}

// `reply` with its ParameterStatus messages left out (nothing a debug connection sets is kept)
// and its ReadyForQuery saying idle (see STATUS).
function asDebugReply(reply) {
  const parts = [];
  for (const part of eachMessage(reply)) {
    if (part[0] === 0x53) continue;
    parts.push(part[0] === 0x5a ? protocol.readyForQuery(STATUS) : part);
  }
  return Buffer.concat(parts);
}

function notice(severity, sqlstate, text) {
  const fields = [
    ['S', severity],
    ['V', severity],
    ['C', sqlstate],
    ['M', text],
  ].map(([code, value]) => Buffer.concat([Buffer.from(code), cstring(value)]));
  return message('N', ...fields, Buffer.from([0]));
}

const UNDONE =
  "pglite_testcase: this debug connection shares the test's session, so what this statement set " +
  '(SET, set_config(), a role) was undone, with the rest of the statement';

// The transaction status a debug connection is always told: idle. It holds no transaction of its
// own, and a driver that commits or rolls back when it sees one open (psycopg's `with
// connect()` block, a pool's reset) would have its COMMIT refused.
const STATUS = 'I';

// BEGIN or START TRANSACTION alone: nothing to begin (its statements run in the test's
// transaction, or one of their own); answered at once, with a notice saying so.
function beginAlone(unit) {
  if (unit.length !== 1 || unit[0][0] !== 0x51) return null;
  const found = copy.statements(protocol.queryText(unit[0]));
  if (found.length !== 1) return null;
  const words = found[0].map((token) => token.text.toLowerCase());
  if (words[0] === 'begin') return 'BEGIN';
  if (words[0] === 'start' && words[1] === 'transaction') return 'START TRANSACTION';
  return null;
}

class DebugConnections {
  // host: run(batch), query(sql); database: the debug database's name (null: none accepted)
  constructor(host, { database = null, debug = () => {} } = {}) {
    this.host = host;
    this.database = database;
    this.debug = debug;
  }

  // Whether a startup's parameters ask for the debug database.
  isDebug(parameters) {
    return this.database !== null && parameters.database === this.database;
  }

  // The startup's reply: authenticated already (or on the Unix socket), with the reported
  // settings of `owner` (the client holding the session) or of the session, and the debug
  // connection's own client_encoding. Returns { reply } or { fatal }.
  async start(client, owner) {
    const parameters = client.parameters || {};
    let name = 'UTF8';
    const asked = Object.entries(parameters).find(([key]) => key.toLowerCase() === 'client_encoding');
    if (asked) {
      name = encoding.canonicalName(asked[1]);
      if (name === null) {
        return { fatal: protocol.fatal('22023', `invalid value for parameter "client_encoding": "${asked[1]}"`) };
      }
    }
    client.startupEncoding = name;
    client.useEncoding(name);
    let reported;
    if (owner !== null && owner.reported.size > 0) {
      reported = new Map(owner.reported);
    } else {
      const row = protocol.firstRow(await this.host.query(REPORTED_QUERY)) || [];
      reported = new Map(REPORTED.map((setting, i) => [setting, row[i]]).filter(([, value]) => value !== undefined));
    }
    reported.set('client_encoding', name);
    const ok = message('R', int32(0));
    const reply = Buffer.concat([ok, message('K', int32(0), int32(0)), protocol.readyForQuery(STATUS)]);
    return { reply: withReported(reply, reported), status: STATUS };
  }

  // The reply to a refused exchange.
  refusal(text, hint) {
    const error = protocol.errorResponse('ERROR', '25000', `pglite_testcase: ${text}`, hint);
    return Buffer.concat([error, protocol.readyForQuery(STATUS)]);
  }

  // Run a debug connection's batch (whole exchanges) beside `owner`, the client holding the
  // session (null: none): its reply.
  async run(parts, owner) {
    const replies = [];
    for (const unit of unitsOf(parts)) replies.push(await this.runExchange(unit, owner));
    return Buffer.concat(replies);
  }

  async runExchange(unit, owner) {
    const texts = sqlOf(unit);
    for (const sql of texts) {
      const refused = refusedStatement(sql);
      if (refused !== null) {
        this.debug(`debug connection: ${refused} refused`);
        if (owner === null) return this.refusal(`${refused} refused: ${WHY_BETWEEN_TESTS}.`);
        return this.refusal(`${refused} refused: ${WHY_IN_TEST}.`, HINT_IN_TEST);
      }
    }
    const begin = beginAlone(unit);
    if (begin !== null) {
      const where =
        owner === null ? 'each of its statements runs in a transaction of its own' : "it runs inside the test's transaction";
      const text = `pglite_testcase: ${begin} does nothing on a debug connection: ${where}`;
      const done = message('C', cstring(begin));
      return Buffer.concat([notice('NOTICE', '00000', text), done, protocol.readyForQuery(STATUS)]);
    }
    if (owner === null) {
      await this.host.query('BEGIN');
      try {
        return asDebugReply(await this.host.run(Buffer.concat(unit)));
      } finally {
        await this.host.query('ROLLBACK');
      }
    }
    if (owner.lastStatus === 'E') {
      // The test's transaction has failed: PostgreSQL refuses every statement in it but those
      // that end it, which are refused above.
      return asDebugReply(await this.host.run(Buffer.concat(unit)));
    }
    const before = await this.fingerprint();
    await this.host.query(`SAVEPOINT ${SAVEPOINT}`);
    let reply = await this.host.run(Buffer.concat(unit));
    if (protocol.transactionStatus(reply) === null) {
      // Never left half-way (an exchange cut short by PGlite): a Sync ends it.
      reply = Buffer.concat([reply, await this.host.run(protocol.SYNC)]);
    }
    const after = protocol.transactionStatus(reply);
    if (after === 'I') {
      // Not refused above, and yet the transaction ended: nothing can undo that; the test's
      // own commit guard and outcome checks see it.
      this.debug("debug connection: the test's transaction ended during a debug statement");
      return reply;
    }
    const changed =
      after === 'T' && (texts.some((sql) => MAY_CHANGE_SETTINGS.test(sql)) || (await this.fingerprint()) !== before);
    if (after === 'T' && !changed) {
      await this.host.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
    } else {
      await this.host.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}; RELEASE SAVEPOINT ${SAVEPOINT}`);
    }
    reply = asDebugReply(reply);
    return changed ? beforeReady(reply, [notice('WARNING', '01000', UNDONE)]) : reply;
  }

  async fingerprint() {
    const row = protocol.firstRow(await this.host.query(SETTINGS_FINGERPRINT));
    return row ? row[0] : null;
  }
}

module.exports = { DebugConnections, refusedStatement, unitsOf, wholeExchanges, STATUS };
