// One client connection: its bytes, its startup, its authentication, its COPY.
//
// Everything that needs no backend is answered at once, as the bytes arrive:
// SSLRequest and GSSENCRequest ('N'), CancelRequest, password
// authentication. What needs PGlite is queued as work for the scheduler: the
// startup message (once authenticated), batches of messages, a COPY.
'use strict';
const crypto = require('crypto');
const { ReceiveBuffer, SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST } = require('./framing');
const protocol = require('./protocol');
const { StatementNames } = protocol;
const copy = require('./copy');
const { MAY_CHANGE_SETTINGS, MAY_RESET } = require('./session');
const encoding = require('./encoding');
const timeouts = require('./timeouts');
const { listenStatements } = require('./notify');
const { wholeExchanges } = require('./debug');

const MAX_STARTUP_LENGTH = 10000; // as PostgreSQL's

const EXTENDED_COPY =
  'COPY ... FROM STDIN through the extended query protocol is not supported on PGlite: send it as a simple ' +
  'query (psycopg: cursor.copy(), psycopg2: copy_expert(), asyncpg: copy_records_to_table())';

function startupParameters(startup) {
  const values = startup.toString('utf8', 8, startup.length).split('\0');
  const parameters = {};
  for (let i = 0; i + 1 < values.length; i += 2) if (values[i]) parameters[values[i]] = values[i + 1];
  return parameters;
}

// A message that could not be converted to UTF-8, made one that fails with `error`
// (other messages go as they are: PGlite's own UTF-8 check refuses what is wrong in them).
function failingMessage(part, error) {
  if (part[0] === 0x51) return protocol.simpleQuery(copy.raising(error.sqlstate, error.message));
  if (part[0] === 0x50) {
    const { name, rest } = protocol.parseFields(part);
    return protocol.parseMessage(name, copy.raising(error.sqlstate, error.message), rest);
  }
  return part;
}

class Connection {
  // hooks: onWork(connection), onClose(connection), onCancel(processId, secret),
  //   onSettingsStatement(sql) (optional: a statement that may change settings arrived)
  // types: the TypeCatalog that encoding conversions share
  // isDebug(parameters): whether a startup's parameters ask for a debug connection (debug.js)
  constructor(socket, { id, verifier, hooks, types = null, isDebug = () => false }) {
    this.socket = socket;
    this.id = id;
    this.prefix = `c${id}_`;
    this.processId = id;
    this.secret = crypto.randomBytes(4).readInt32BE(0);
    this.verifier = verifier; // null: no password asked (the Unix socket's 0700 directory keeps others out)
    this.hooks = hooks;
    this.received = new ReceiveBuffer();
    this.phase = 'startup'; // startup, auth, queued, session, copy, closed
    this.started = false; // PGlite has run this client's startup: it may have session state
    this.terminated = false;
    this.inbox = [];
    this.statements = new StatementNames(this.prefix);
    this.waitTimer = null;
    this.copyState = null;
    this.skippingToSync = false;
    this.savedSettings = null; // its settings while another client has the backend (SQL), null: none
    this.reported = new Map(); // the reported settings' values it was last told
    this.settingsChanged = false; // it ran something that may have changed a setting
    this.listening = new Set(); // LISTEN channels
    this.statementEffects = new Map(); // named statements that change settings or LISTEN
    this.pendingNotifications = []; // for after its transaction
    this.types = types;
    this.startupEncoding = 'UTF8'; // its client_encoding when it has set none
    this.encoding = 'UTF8';
    this.conversion = null; // its messages' conversions when its encoding is not PGlite's (encoding.js)
    this.lastStatus = null; // the transaction status its last reply ended with (null: none)
    this.timeouts = {}; // its session timeouts in ms (timeouts.js), 0 or absent: none
    this.idleTimer = null; // ends it when it stays idle too long (see the scheduler)
    this.sleeping = null; // its pg_sleep on the server's timer (sleep.js)
    this.transactionTimer = null;
    this.isDebug = isDebug;
    this.debug = false; // a debug connection: inside the test's transaction, never holding the session
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.close());
  }

  // Its client_encoding is now `name` (PostgreSQL's name): conversions follow.
  useEncoding(name) {
    if (name === this.encoding) return;
    this.encoding = name;
    const codec = encoding.codecFor(name);
    this.conversion = codec === null ? null : new encoding.ClientConversion(codec, this.types);
  }

  // A client message as PGlite takes it: in UTF-8, its client_encoding and session-timeout
  // statements aimed at the server's own settings. One that cannot be converted fails as on
  // PostgreSQL.
  converted(part) {
    const type = part[0];
    if (this.conversion) part = this.conversion.inbound(part, failingMessage);
    if (type !== 0x51 && type !== 0x50) return part;
    const sql = type === 0x51 ? protocol.queryText(part) : protocol.parseFields(part).query;
    const rewritten = timeouts.rewriteSql(
      encoding.rewriteSql(sql, { raising: copy.raising, startupEncoding: this.startupEncoding }),
      copy.raising
    );
    if (rewritten === sql) return part;
    if (type === 0x51) return protocol.simpleQuery(rewritten);
    const { name, rest } = protocol.parseFields(part);
    return protocol.parseMessage(name, rewritten, rest);
  }

  get closed() {
    return this.phase === 'closed';
  }

  write(bytes) {
    if (!this.socket.destroyed && bytes.length > 0) this.socket.write(bytes);
  }

  // Send `bytes` (if any) and close: the client is done for.
  end(bytes) {
    if (!this.socket.destroyed) this.socket.end(bytes);
    this.close();
  }

  close() {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.inbox = [];
    this.received.clear();
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    clearTimeout(this.idleTimer);
    clearTimeout(this.transactionTimer);
    if (this.sleeping) clearTimeout(this.sleeping.timer);
    this.hooks.onClose(this);
  }

  receive(chunk) {
    if (this.closed) return;
    this.received.push(chunk);
    if (this.phase === 'startup') this.readStartupPhase();
    if (this.phase === 'auth') this.readAuthentication();
    if (this.phase === 'session' || this.phase === 'copy' || this.phase === 'queued') {
      for (let part = this.received.nextMessage(false); part; part = this.received.nextMessage(false)) {
        if (this.skippingToSync) {
          // What follows a refused statement up to its Sync is dropped, as after an error.
          if (part[0] === 0x53) {
            this.skippingToSync = false;
            this.write(protocol.readyForQuery('I'));
          } else if (part[0] === 0x58) {
            this.inbox.push(part);
          }
          continue;
        }
        this.inbox.push(part);
      }
      if (this.phase === 'copy') this.readCopyData();
    }
    if (this.hasWork()) this.hooks.onWork(this);
  }

  readStartupPhase() {
    while (this.phase === 'startup') {
      if (this.received.length >= 4 && this.received.int32(0) > MAX_STARTUP_LENGTH) {
        this.end(protocol.fatal('08P01', 'invalid length of startup packet'));
        return;
      }
      const part = this.received.nextMessage(true);
      if (!part) return;
      const code = part.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.write(Buffer.from('N'));
      } else if (code === CANCEL_REQUEST) {
        // A statement cannot be interrupted inside PGlite: a cancel meant for a
        // client stops PGlite (see the scheduler); any other is ignored.
        if (part.length >= 16) this.hooks.onCancel(part.readInt32BE(8), part.readInt32BE(12));
        this.end();
      } else {
        this.parameters = startupParameters(part);
        this.debug = this.isDebug(this.parameters);
        // PGlite's one session stays postgres's: the server applies the client's role and
        // settings itself (session.js), and keeps them for this client only.
        this.startup = protocol.startupMessage({ user: 'postgres', database: 'postgres' });
        this.user = this.parameters.user || '';
        if (this.verifier) {
          this.exchange = this.verifier.exchange();
          this.phase = 'auth';
          this.write(this.exchange.start());
        } else {
          this.phase = 'queued';
        }
      }
    }
  }

  readAuthentication() {
    while (this.phase === 'auth') {
      const part = this.received.nextMessage(false);
      if (!part) return;
      const step = this.exchange.step(part);
      if (step.failed) {
        this.end(protocol.fatal('28P01', `password authentication failed for user "${this.user}"`));
      } else if (step.done) {
        this.authenticated = step.reply; // sent just before PGlite's AuthenticationOk
        this.phase = 'queued';
      } else {
        this.write(step.reply);
      }
    }
  }

  // The statement waiting first is refused with `error` instead of run: its messages up to the
  // next Sync (or its simple Query) are dropped, and it is answered with `error` and
  // ReadyForQuery, as PostgreSQL answers a statement that failed (the client is idle: only the
  // client whose transaction is open runs while others wait).
  failWaitingStatement(error) {
    const end = this.inbox.findIndex((part) => part[0] === 0x53 || part[0] === 0x51);
    this.write(error);
    if (end < 0) {
      this.inbox = [];
      this.skippingToSync = true; // its Sync has not arrived: answered when it does
      return;
    }
    this.inbox = this.inbox.slice(end + 1);
    this.write(protocol.readyForQuery('I'));
  }

  hasWork() {
    if (this.closed || this.sleeping) return false;
    if (this.phase === 'queued') return true;
    if (this.phase === 'copy') return this.copyState.end !== null;
    if (this.debug) return this.phase === 'session' && wholeExchanges(this.inbox) > 0;
    return this.phase === 'session' && this.inbox.length > 0;
  }

  // The next thing to run in PGlite for this client, or null.
  nextWork() {
    if (this.phase === 'queued') return { kind: 'startup', message: this.startup };
    if (this.phase === 'copy') {
      const { plan, end } = this.copyState;
      return end === null ? null : { kind: 'copy-end', plan, ...end };
    }
    if (this.phase !== 'session') return null;
    const parts = [];
    let taken = 0;
    let work = null;
    let mayReset = false;
    const listens = [];
    // A debug connection runs whole exchanges only (debug.js): the rest waits for its Sync.
    const available = this.debug ? wholeExchanges(this.inbox) : this.inbox.length;
    for (; taken < available; taken += 1) {
      const part = this.converted(this.inbox[taken]);
      const type = part[0];
      if (type === 0x58) {
        // Terminate: the client is leaving. Act on it now rather than on the socket's
        // close event, which may come after the next client has connected.
        this.terminated = true;
        taken = this.inbox.length;
        break;
      }
      // CopyData, CopyDone, CopyFail outside a COPY: ignored, as PostgreSQL does.
      if (type === 0x64 || type === 0x63 || type === 0x66) continue;
      let sql = null;
      let statement = '';
      if (type === 0x51) sql = protocol.queryText(part);
      if (type === 0x50) ({ name: statement, query: sql } = protocol.parseFields(part));
      if (sql !== null) {
        const effects = { listens: listenStatements(sql), changes: MAY_CHANGE_SETTINGS.test(sql), resets: false };
        effects.resets = effects.changes && MAY_RESET.test(sql);
        if (effects.changes && this.hooks.onSettingsStatement) this.hooks.onSettingsStatement(sql);
        // What a named statement does happens when it is executed (Bind), often in a later batch.
        if (type === 0x50 && statement) {
          if (effects.changes || effects.listens.length > 0) this.statementEffects.set(statement, effects);
          else this.statementEffects.delete(statement);
        }
        if (type === 0x51 || !statement) {
          listens.push(...effects.listens);
          if (effects.changes) this.settingsChanged = true;
          if (effects.resets) mayReset = true;
        }
      } else if (type === 0x42 && this.statementEffects.size > 0) {
        const effects = this.statementEffects.get(protocol.boundStatement(part));
        if (effects) {
          listens.push(...effects.listens);
          if (effects.changes) this.settingsChanged = true;
          if (effects.resets) mayReset = true;
        }
      }
      if (type === 0x51) {
        const plan = copy.planQuery(protocol.queryText(part));
        if (plan && plan.kind === 'copy') {
          if (parts.length === 0) {
            work = { kind: 'copy-start', plan };
            taken += 1;
          }
          break; // what came before runs first
        }
        if (plan) {
          parts.push(protocol.simpleQuery(copy.raising('0A000', plan.message)));
          continue;
        }
        const deallocate = this.statements.rewriteSql(protocol.queryText(part));
        parts.push(deallocate === null ? part : protocol.simpleQuery(deallocate));
        continue;
      }
      parts.push(this.statements.rewrite(type === 0x50 ? this.withoutExtendedCopy(part) : part));
    }
    this.inbox = this.inbox.slice(taken);
    if (work) return work;
    return parts.length > 0 ? { kind: 'batch', parts, mayReset, listens } : null;
  }

  withoutExtendedCopy(parse) {
    const { name, query, rest } = protocol.parseFields(parse);
    if (!copy.isCopyFromStdin(query)) return parse;
    return protocol.parseMessage(name, copy.raising('0A000', EXTENDED_COPY), rest);
  }

  // The server told the client CopyInResponse: what it sends now is COPY data.
  beginCopy(plan) {
    this.phase = 'copy';
    this.copyState = { plan, chunks: [], end: null };
    this.readCopyData();
  }

  readCopyData() {
    const state = this.copyState;
    let taken = 0;
    for (; taken < this.inbox.length && state.end === null; taken += 1) {
      const part = this.inbox[taken];
      const type = part[0];
      if (type === 0x64) state.chunks.push(part.subarray(5));
      else if (type === 0x63) state.end = { data: state.chunks, failure: null };
      else if (type === 0x66) state.end = { data: null, failure: part.toString('utf8', 5, part.length - 1) };
      else if (type !== 0x48 && type !== 0x53) {
        // Flush and Sync are ignored during COPY, as PostgreSQL does; anything else ends it.
        state.end = { data: null, failure: `unexpected message type 0x${type.toString(16)} during COPY from stdin` };
      }
    }
    this.inbox = this.inbox.slice(taken);
  }

  endCopy() {
    this.phase = 'session';
    this.copyState = null;
  }
}

module.exports = { Connection, startupParameters };
