// Clients taking turns on PGlite's single session.
//
// - Clients take turns batch by batch while no transaction is open; once a
//   client opens a transaction (or is mid-way through an extended-query
//   exchange, or a COPY) it owns the session until that ends, and the others wait.
// - A client that waits longer than `graceMs` gets a real PostgreSQL FATAL error
//   that says what happened and what to use instead, and is disconnected
//   (never an endless hang).
// - A client that leaves inside its transaction has it rolled back; when the
//   last client leaves, session state is reset (DISCARD ALL) so the next client
//   starts from a fresh session, as on a real server. Nothing else runs until
//   that is done.
// - A debug connection (debug.js) never holds the session and never waits its turn
//   out: it runs inside the transaction of the client that holds the session, while
//   that client is idle in it, and otherwise waits as long as it takes.
'use strict';
const { Connection } = require('./connection');
const protocol = require('./protocol');
const copy = require('./copy');
const { Sessions } = require('./session');
const { Notifications } = require('./notify');
const { TypeCatalog, ConversionError, rowDescription } = require('./encoding');
const { TIMEOUTS } = require('./timeouts');
const { planSleep } = require('./sleep');
const { DebugConnections } = require('./debug');

const CANCELED = 'canceling statement due to user request';
const { message, cstring, int16, eachMessage } = require('./framing');

const COLUMN_TYPES_STATEMENT = 'pglite_testcase_column_types';

const WAIT_HINT =
  'PGlite serves one session: while a test runs, its transaction holds it. Reach the ' +
  'database through the test case (self.engine, self.sessionmaker, self.session, ' +
  'self.connection) instead of an engine or connection of your own.';

class Scheduler {
  // host: run(batch), query(sql), copyFrom(sql, data), startSession(startup)
  // options: graceMs, verifier (SCRAM, or null), onCancel(), debug(text), debugDatabase (the
  // name a debug connection asks for; null or absent: none is accepted)
  constructor(host, options) {
    this.host = host;
    this.graceMs = options.graceMs;
    this.verifier = options.verifier || null;
    this.onCancel = options.onCancel;
    this.debug = options.debug || (() => {});
    this.clients = new Set();
    this.owner = null; // the client whose transaction is open
    this.ready = new Set(); // clients with work waiting
    this.running = false;
    this.idle = Promise.resolve(); // settles when the queued cleanups are done
    this.pendingCleanups = 0;
    this.nextId = 1;
    this.sessions = new Sessions(host, { databases: options.databases });
    this.debugConnections = new DebugConnections(host, { database: options.debugDatabase || null, debug: this.debug });
    this.notifications = new Notifications(this.clients, host, (client) => this.owner === client);
    this.types = new TypeCatalog(async (sql) => {
      const reply = await host.query(sql);
      return protocol.firstError(reply) ? null : protocol.rows(reply);
    });
  }

  accept(socket) {
    const client = new Connection(socket, {
      id: this.nextId++,
      verifier: this.verifier,
      types: this.types,
      isDebug: (parameters) => this.debugConnections.isDebug(parameters),
      hooks: {
        onWork: (connection) => this.schedule(connection),
        onClose: (connection) => this.leave(connection),
        onCancel: (processId, secret) => this.cancel(processId, secret),
        onSettingsStatement: (sql) => this.sessions.noteCustomSettings(sql),
      },
    });
    this.clients.add(client);
    return client;
  }

  cancel(processId, secret) {
    for (const client of this.clients) {
      if (client.processId === processId && client.secret === secret && client.started) {
        if (client.sleeping) this.wake(client, CANCELED);
        else this.onCancel(client);
        return;
      }
    }
  }

  // `SELECT pg_sleep(n)` on a timer (sleep.js): the other clients run meanwhile.
  // The package's own statement timeout (the watchdog's) ends a longer sleep, with PostgreSQL's
  // statement-timeout error rather than by stopping PGlite.
  sleep(client, plan) {
    const limit = this.host.watchdog ? this.host.watchdog.timeoutMs : 0;
    const timer =
      limit > 0 && plan.milliseconds > limit
        ? setTimeout(() => this.wake(client, 'canceling statement due to statement timeout'), limit)
        : setTimeout(() => this.wake(client, null), plan.milliseconds);
    client.sleeping = { plan, timer };
    this.debug(`client ${client.prefix} sleeps ${plan.milliseconds} ms`);
  }

  // Its sleep is over (error: null), or cancelled (error: the message): its answer, as PostgreSQL's.
  async wake(client, error) {
    const sleeping = client.sleeping;
    if (!sleeping) return;
    clearTimeout(sleeping.timer);
    let status = client.lastStatus;
    let reply = sleeping.plan.reply;
    if (client.debug) {
      // Its sleep touched nothing: the test's transaction is not its to fail.
      client.sleeping = null;
      if (client.closed) return;
      const answer = error === null ? reply : protocol.errorResponse('ERROR', '57014', error);
      client.write(Buffer.concat([answer, protocol.readyForQuery(status)]));
      this.schedule(client);
      this.pump();
      return;
    }
    if (error !== null) {
      reply = protocol.errorResponse('ERROR', '57014', error);
      if (status === 'T') {
        // The client's transaction fails, as it does on PostgreSQL (the client holds the session).
        while (this.running) await new Promise((resolve) => setImmediate(resolve));
        this.running = true;
        try {
          status = protocol.transactionStatus(await this.host.query(copy.raising('57014', error))) || 'E';
        } finally {
          this.running = false;
        }
      }
    }
    client.sleeping = null;
    if (client.closed) return;
    const answer = Buffer.concat([reply, protocol.readyForQuery(status)]);
    if (status === 'I') {
      // Outside a transaction another client may hold the session by now: it keeps it.
      client.write(this.notifications.flush(client, answer));
      client.lastStatus = 'I';
      this.armTimeouts(client);
    } else {
      this.answer(client, answer);
    }
    this.schedule(client);
    this.pump();
  }

  schedule(client) {
    if (client.closed || !client.hasWork()) return;
    clearTimeout(client.idleTimer); // it is not idle any more
    client.idleTimer = null;
    this.ready.add(client);
    this.startWaitTimers();
    this.pump();
  }

  // Run ready clients one piece of work at a time, the transaction owner first.
  async pump() {
    if (this.running || this.pendingCleanups > 0) return;
    this.running = true;
    try {
      while (this.pendingCleanups === 0) {
        const client = this.nextRunnable();
        if (!client) break;
        this.ready.delete(client);
        if (client.waitTimer) clearTimeout(client.waitTimer);
        client.waitTimer = null;
        // Binary values of types not yet known are converted once the catalog says what they are
        // (never mid-way through another exchange of the client's: only at a ReadyForQuery).
        if (client.conversion && client.phase === 'session' && client.lastStatus !== null) {
          await client.conversion.learnInbound(client.inbox);
          if (client.closed) continue;
        }
        const work = client.nextWork();
        this.runningClient = client;
        if (work) await this.run(client, work);
        this.runningClient = null;
        if (client.timedOutAfterRun && !client.closed) this.timedOut(client, client.timedOutAfterRun);
        if (client.terminated) {
          client.end();
          continue;
        }
        if (client.hasWork()) this.ready.add(client);
        this.startWaitTimers();
      }
    } finally {
      this.running = false;
    }
  }

  async run(client, work) {
    if (client.debug && work.kind !== 'batch') return this.runDebugStartup(client, work);
    if (work.kind === 'startup') return this.runStartup(client, work.message);
    if (work.kind === 'copy-start') return this.startCopy(client, work.plan);
    if (work.kind === 'copy-end') return this.endCopy(client, work);
    const sleep = client.lastStatus === 'I' || client.lastStatus === 'T' ? planSleep(work.parts) : null;
    if (sleep) {
      this.sleep(client, sleep);
      return;
    }
    if (client.debug) return this.runDebug(client, work);
    const outsideTransaction = this.owner === null;
    if (outsideTransaction) await this.sessions.switchTo(client);
    const started = Date.now();
    let reply = await this.sessions.report(client, await this.host.run(Buffer.concat(work.parts)), work.mayReset);
    // transaction_timeout covers a statement's own implicit transaction too: PGlite could not
    // be interrupted, so the client is told when the statement is done (what it did stays done).
    const limit = client.timeouts.transaction_timeout;
    if (outsideTransaction && limit > 0 && Date.now() - started > limit && protocol.transactionStatus(reply) === 'I') {
      const { sqlstate, message } = TIMEOUTS.transaction_timeout;
      client.end(protocol.fatal(sqlstate, message));
      return;
    }
    if (client.conversion) {
      // In the encoding the client has at the end of the batch (a batch that changes it
      // gets all of its reply in the new one).
      const learn = protocol.transactionStatus(reply) !== null;
      if (learn && protocol.startsCopyOut(reply) === 1) {
        const query = work.parts.find((part) => part[0] === 0x51);
        const columns = query ? copy.copyOutColumnsQuery(protocol.queryText(query)) : null;
        client.conversion.copyColumns = columns === null ? null : await this.columnTypes(columns);
      }
      reply = await client.conversion.outbound(reply, learn, (error, status) => this.unconvertible(error, status));
    }
    await this.notifications.afterBatch(client, work.listens, reply);
    this.answer(client, reply);
    const batch = protocol.describeBatch(work.parts);
    this.debug(`client ${client.prefix} ran ${batch}; in transaction: ${this.owner !== null}`);
  }

  // The column type OIDs of `query` (described, not run), or null if it cannot be described.
  async columnTypes(query) {
    const name = cstring(COLUMN_TYPES_STATEMENT);
    const reply = await this.host.run(
      Buffer.concat([
        protocol.parseMessage(COLUMN_TYPES_STATEMENT, query, int16(0)),
        message('D', 'S', name),
        message('C', 'S', name),
        protocol.SYNC,
      ])
    );
    for (const part of eachMessage(reply)) {
      if (part[0] === 0x54) {
        const oids = rowDescription(part).map(([oid]) => oid);
        await this.types.learn(oids);
        return oids;
      }
    }
    return null;
  }

  // What replaces a reply from a value the client's encoding cannot hold up to its
  // ReadyForQuery (`status`, null: none): PostgreSQL's error; an open transaction fails, as
  // on PostgreSQL. (Outside a transaction the statement has taken effect.)
  async unconvertible(error, status) {
    const parts = [protocol.errorResponse('ERROR', error.sqlstate, error.message)];
    if (status === 'T') {
      const failed = await this.host.query(copy.raising(error.sqlstate, error.message));
      parts.push(protocol.readyForQuery(protocol.transactionStatus(failed) || 'E'));
    } else if (status !== null) {
      parts.push(protocol.readyForQuery(status));
    }
    return Buffer.concat(parts);
  }

  // Send PGlite's reply; its transaction status says who holds the session now.
  // A client that left meanwhile may hold it too: its cleanup ends what it left open.
  answer(client, reply) {
    const routed = this.notifications.flush(client, this.notifications.route(client, reply));
    client.write(routed);
    client.lastStatus = protocol.transactionStatus(reply);
    this.owner = protocol.holdsSession(reply) ? client : null;
    this.armTimeouts(client);
  }

  // The client's session timeouts (timeouts.js), from the state its last reply left it in: idle
  // in a transaction, idle outside one, or in a transaction since it began.
  armTimeouts(client) {
    clearTimeout(client.idleTimer);
    client.idleTimer = null;
    const status = client.lastStatus;
    const { idle_in_transaction_session_timeout: inTransaction, idle_session_timeout: idle, transaction_timeout: whole } =
      client.timeouts;
    const transaction = status === 'T' || status === 'E';
    const idleLimit = transaction ? inTransaction : status === 'I' ? idle : 0;
    if (idleLimit > 0) {
      const which = transaction ? 'idle_in_transaction_session_timeout' : 'idle_session_timeout';
      client.idleTimer = setTimeout(() => this.timedOut(client, which), idleLimit);
    }
    if (!transaction) {
      clearTimeout(client.transactionTimer);
      client.transactionTimer = null;
    } else if (whole > 0 && client.transactionTimer === null) {
      client.transactionTimer = setTimeout(() => this.timedOut(client, 'transaction_timeout'), whole);
    }
  }

  // A session timeout fired: the connection ends with PostgreSQL's FATAL error (its transaction
  // is rolled back as for any client that leaves inside one). A client whose statement is
  // running is ended when the statement is done.
  timedOut(client, which) {
    if (which !== 'transaction_timeout') client.idleTimer = null;
    if (client.closed) return;
    if (this.ready.has(client) || (this.running && this.runningClient === client)) {
      if (which !== 'transaction_timeout') return; // it is busy, so not idle
      client.timedOutAfterRun = which;
      return;
    }
    const { sqlstate, message } = TIMEOUTS[which];
    this.debug(`client ${client.prefix}: ${which}`);
    client.end(protocol.fatal(sqlstate, message));
  }

  async runStartup(client, startup) {
    await this.sessions.switchTo(client);
    let reply = await this.host.startSession(startup);
    client.started = true;
    if (client.closed) return;
    if (!protocol.firstError(reply)) {
      const started = await this.sessions.start(client, client.parameters || {}, reply);
      if (started.fatal) {
        client.end(Buffer.concat([client.authenticated || Buffer.alloc(0), started.fatal]));
        return;
      }
      reply = started.reply;
    }
    client.phase = 'session';
    const keyed = protocol.withBackendKey(reply, client.processId, client.secret);
    client.write(client.authenticated ? Buffer.concat([client.authenticated, keyed]) : keyed);
    if (protocol.firstError(reply)) {
      client.end();
      return;
    }
    client.lastStatus = protocol.transactionStatus(reply);
    this.owner = protocol.holdsSession(reply) ? client : null;
    this.debug(`client ${client.prefix} started`);
  }

  // A debug connection's startup (it never reaches PGlite), or its COPY FROM STDIN (refused).
  async runDebugStartup(client, work) {
    if (work.kind !== 'startup') {
      const text = 'COPY ... FROM STDIN is not served on a debug connection';
      await this.answerDebug(client, this.debugConnections.refusal(text));
      return;
    }
    const started = await this.debugConnections.start(client, this.owner);
    const authenticated = client.authenticated || Buffer.alloc(0);
    client.started = true;
    if (client.closed) return;
    if (started.fatal) {
      client.end(Buffer.concat([authenticated, started.fatal]));
      return;
    }
    client.phase = 'session';
    client.lastStatus = started.status;
    const keyed = protocol.withBackendKey(started.reply, client.processId, client.secret);
    client.write(Buffer.concat([authenticated, keyed]));
    this.debug(`client ${client.prefix} started as a debug connection (status ${started.status})`);
  }

  // A debug connection's batch, inside the owner's transaction (debug.js).
  async runDebug(client, work) {
    const reply = await this.debugConnections.run(work.parts, this.owner);
    await this.answerDebug(client, reply);
    this.debug(`debug client ${client.prefix} ran ${protocol.describeBatch(work.parts)}`);
  }

  // Its reply, in its encoding; it holds nothing (never the owner, no timeouts), and a value its
  // encoding cannot hold fails its statement only, never the test's transaction.
  async answerDebug(client, reply) {
    if (client.conversion) {
      reply = await client.conversion.outbound(reply, true, async (error, status) =>
        Buffer.concat([
          protocol.errorResponse('ERROR', error.sqlstate, error.message),
          status === null ? Buffer.alloc(0) : protocol.readyForQuery(status),
        ])
      );
    }
    client.write(reply);
    const status = protocol.transactionStatus(reply);
    if (status !== null) client.lastStatus = status;
  }

  async startCopy(client, plan) {
    if (this.owner === null) await this.sessions.switchTo(client);
    let columns = plan.columns;
    if (columns === null) {
      const counted = await this.host.query(copy.columnCountQuery(plan.table));
      if (client.closed || protocol.firstError(counted)) {
        // No such table, a failed transaction, ...: PGlite's own COPY says what is wrong.
        const reply = await this.host.copyFrom(plan.sql, copy.emptyInput(plan.binary));
        if (client.closed || protocol.firstError(reply)) {
          this.answer(client, reply);
          return;
        }
        columns = 0;
      } else {
        columns = Number(protocol.firstRow(counted)[0]);
      }
    }
    client.write(copy.copyInResponse(plan.binary, columns));
    client.beginCopy(plan);
    this.owner = client;
    this.debug(`client ${client.prefix} copies into ${plan.table}`);
  }

  async endCopy(client, { plan, data, failure }) {
    client.endCopy();
    let input = failure === null ? Buffer.concat(data) : null;
    if (input !== null && client.conversion) {
      try {
        const oids = plan.binary ? await this.columnTypes(plan.columnsQuery) : null;
        input = client.conversion.copyIn(input, plan.binary, oids);
      } catch (err) {
        if (!(err instanceof ConversionError)) throw err;
        this.answer(client, await this.host.query(copy.raising(err.sqlstate, err.message)));
        return;
      }
    }
    const reply =
      input !== null
        ? await this.host.copyFrom(plan.sql, input)
        : await this.host.query(copy.raising('57014', `COPY from stdin failed: ${failure}`));
    this.answer(client, reply);
  }

  startWaitTimers() {
    if (this.owner === null) return;
    for (const client of this.ready) {
      if (client !== this.owner && !client.debug && client.waitTimer === null) {
        client.waitTimer = setTimeout(() => this.refuse(client), this.graceMs);
      }
    }
  }

  // A client waited too long for another's transaction. A new connection is refused (FATAL);
  // a started one gets an ERROR for its waiting statement, which is not run, and stays
  // connected (as a lock_timeout would leave it on PostgreSQL).
  refuse(client) {
    client.waitTimer = null;
    const waited = `waited ${this.graceMs} ms for another connection's transaction to end`;
    if (!client.started) {
      client.end(protocol.fatal('55P03', `pglite_testcase: this connection ${waited} and was refused`, WAIT_HINT));
      return;
    }
    const error = protocol.errorResponse('ERROR', '55P03', `pglite_testcase: this statement ${waited} and was not run`, WAIT_HINT);
    client.failWaitingStatement(error);
    if (!client.hasWork()) this.ready.delete(client);
    this.startWaitTimers();
  }

  nextRunnable() {
    const owner = this.owner;
    if (owner === null) {
      for (const client of this.ready) return client;
      return null;
    }
    if (this.ready.has(owner)) return owner;
    // The owner idle in its transaction, at a ReadyForQuery: a debug connection's turn.
    const idleInTransaction = owner.phase === 'session' && (owner.lastStatus === 'T' || owner.lastStatus === 'E');
    if (!idleInTransaction) return null;
    for (const client of this.ready) if (client.debug) return client;
    return null;
  }

  leave(client) {
    if (!this.clients.delete(client)) return;
    this.ready.delete(client);
    // Clients whose startup has not run have no session state to lose (nor debug connections,
    // which keep none).
    const lastOne = ![...this.clients].some((other) => other.started && !other.debug);
    const owned = this.owner === client;
    if (!client.started && !owned) return;
    this.pendingCleanups += 1; // nothing else runs until this client's traces are gone
    this.idle = this.idle
      .then(() => this.cleanUpAfter(client, lastOne))
      .finally(() => {
        this.pendingCleanups -= 1;
        this.pump();
      });
  }

  async cleanUpAfter(client, lastOne) {
    this.debug(`client ${client.prefix} left (owner: ${this.owner === client}, last: ${lastOne})`);
    while (this.running) await new Promise((resolve) => setImmediate(resolve));
    this.running = true;
    try {
      if (this.owner === client) {
        // Finish any half-sent extended-protocol exchange, then end its transaction.
        const reply = await this.host.run(protocol.SYNC);
        if (protocol.holdsSession(reply)) await this.host.query('ROLLBACK');
        this.owner = null;
      }
      if (lastOne) {
        await this.sessions.reset();
      } else {
        this.sessions.forget(client);
        for (const name of client.statements.prepared) {
          await this.host.query(`DEALLOCATE "${name.replace(/"/g, '""')}"`);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

module.exports = { Scheduler, WAIT_HINT };
