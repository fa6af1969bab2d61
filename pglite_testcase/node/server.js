// PGlite behind a PostgreSQL wire-protocol socket, started by pglite_testcase.
//
// PGlite has a single backend session. This server shares it between clients
// the way a test suite needs:
// - clients take turns message batch by message batch while no transaction is
//   open; once a client opens a transaction it owns the session until the
//   transaction ends, and everyone else waits;
// - a client that waits longer than `graceMs` gets a real PostgreSQL FATAL error
//   that says what happened and what to use instead, and is disconnected
//   (never an endless hang);
// - SSLRequest / GSSENCRequest are answered 'N', so libpq's sslmode=prefer works;
// - a client that disconnects inside its transaction has it rolled back; when
//   the last client leaves, session state is reset (DISCARD ALL) so the next
//   client starts from a fresh session, as on a real server;
// - stdin is a control channel of JSON lines ({"id", "cmd": "dump", "path"}
//   writes a data-directory tarball; {"cmd": "timeout", "ms"} sets the
//   statement timeout); end of stdin (the Python process is gone) stops the
//   server and removes its private directory, so nothing outlives the test run;
// - a watchdog thread enforces the statement timeout (see `watched`).
'use strict';
const fs = require('fs');
const net = require('net');
const readline = require('readline');
const { PGlite } = require('@electric-sql/pglite');

const config = JSON.parse(process.argv[2]);
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

function debug(...args) {
  if (config.debug) process.stderr.write(`[pglite_testcase] ${args.join(' ')}\n`);
}

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function fatal(sqlstate, message, hint) {
  const fields = [['S', 'FATAL'], ['V', 'FATAL'], ['C', sqlstate], ['M', message]];
  if (hint) fields.push(['H', hint]);
  const body = Buffer.concat([
    ...fields.map(([k, v]) => Buffer.concat([Buffer.from(k), Buffer.from(v, 'utf8'), Buffer.from([0])])),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const WAIT_HINT =
  'PGlite serves one session: while a test runs, its transaction holds it. Reach the ' +
  'database through the test case (self.engine, self.sessionmaker, self.session, ' +
  'self.connection) instead of an engine or connection of your own.';

// Whether the client that got `reply` keeps the session: inside a transaction
// (ReadyForQuery status 'T'), a failed one ('E'), or mid-way through an
// extended-query exchange (no ReadyForQuery yet).
function holdsSession(reply) {
  const n = reply.length;
  const readyForQuery =
    n >= 6 && reply[n - 6] === 0x5a && reply[n - 5] === 0 && reply[n - 4] === 0 && reply[n - 3] === 0 && reply[n - 2] === 5;
  return !readyForQuery || reply[n - 1] !== 0x49;
}

// PGlite warns "# 1743: aborting transaction N" to the client at every rollback,
// something PostgreSQL never says: drop those NoticeResponses.
const ABORT_NOTICE = Buffer.from('aborting transaction');
function withoutAbortNotices(reply) {
  if (reply.indexOf(0x4e) < 0) return reply; // no 'N' byte at all: nothing to look at
  const buffer = Buffer.from(reply.buffer, reply.byteOffset, reply.length);
  const kept = [];
  let start = 0;
  let offset = 0;
  while (offset + 5 <= buffer.length) {
    const length = buffer.readInt32BE(offset + 1) + 1;
    if (buffer[offset] === 0x4e && buffer.subarray(offset, offset + length).indexOf(ABORT_NOTICE) >= 0) {
      kept.push(buffer.subarray(start, offset));
      start = offset + length;
    }
    offset += length;
  }
  if (start === 0) return reply;
  kept.push(buffer.subarray(start));
  return Buffer.concat(kept);
}

// PGlite cannot interrupt a running statement (statement_timeout has no effect:
// the statement runs on this thread). A watchdog thread does the only thing
// possible: when one batch runs longer than the statement timeout, it says so
// on stderr and kills this process. The test process reports it and starts a new PGlite.
const watch = new Int32Array(new SharedArrayBuffer(12)); // [0]: batch running (0: idle), [1]: timeout ms, [2]: never set
// The watchdog looks every 50 ms rather than being woken for every batch: a
// wake-up per batch would cost each round trip a thread switch.
const WATCHDOG = `
const { workerData } = require('worker_threads');
const fs = require('fs');
const watch = new Int32Array(workerData);
const TICK = 50;
let seen = 0;
let runningFor = 0;
for (;;) {
  Atomics.wait(watch, 2, 0, TICK);
  const batch = Atomics.load(watch, 0);
  const timeout = Atomics.load(watch, 1);
  runningFor = batch !== 0 && batch === seen ? runningFor + TICK : 0;
  seen = batch;
  if (timeout > 0 && runningFor >= timeout) {
    fs.writeSync(2, 'pglite_testcase: a statement ran longer than statement_timeout (' + timeout + ' ms); ' +
      'PGlite cannot cancel it, so this PGlite process stops\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}`;
let batchNumber = 0;

function startWatchdog(timeoutMs) {
  Atomics.store(watch, 1, timeoutMs);
  const { Worker } = require('worker_threads');
  new Worker(WATCHDOG, { eval: true, workerData: watch.buffer }).unref();
}

async function watched(run) {
  batchNumber = (batchNumber % 2147483646) + 1;
  Atomics.store(watch, 0, batchNumber);
  try {
    return await run();
  } finally {
    Atomics.store(watch, 0, 0);
  }
}

class Client {
  constructor(socket, server) {
    this.socket = socket;
    this.server = server;
    this.buffer = Buffer.alloc(0);
    this.started = false;
    this.closed = false;
    this.terminated = false;
    this.waitTimer = null;
    this.prepared = new Set();
    this.prefix = `c${server.nextClientId++}_`;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.server.schedule(this);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.server.leave(this);
    });
  }

  // Whole protocol messages from the buffer; what needs no backend is answered here.
  takeMessages() {
    const parts = [];
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 8) break;
        const length = this.buffer.readInt32BE(0);
        if (this.buffer.length < length) break;
        const code = this.buffer.readInt32BE(4);
        const message = this.buffer.subarray(0, length);
        this.buffer = this.buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.socket.write('N');
          continue;
        }
        if (code === CANCEL_REQUEST) {
          // A statement runs to completion inside PGlite: there is nothing to cancel.
          this.socket.end();
          this.buffer = Buffer.alloc(0);
          break;
        }
        this.started = true;
        parts.push(message);
        continue;
      }
      if (this.buffer.length < 5) break;
      const length = this.buffer.readInt32BE(1) + 1;
      if (this.buffer.length < length) break;
      const message = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      if (message[0] === 0x58) {
        // Terminate: the client is leaving. Act on it now rather than on the socket's
        // close event, which may come after the next client has connected.
        this.terminated = true;
        this.buffer = Buffer.alloc(0);
        break;
      }
      parts.push(this.renameObjects(message));
    }
    return parts;
  }

  // Named prepared statements and portals live in the one shared session, and
  // drivers name them per connection (psycopg: _pg3_0, asyncpg:
  // __asyncpg_stmt_1__), so two clients would collide. Each client's names get
  // its own prefix on the way in; the ones it prepared are deallocated when it leaves.
  renameObjects(message) {
    const type = String.fromCharCode(message[0]);
    const prefix = this.prefix;
    const at = (offset) => {
      const end = message.indexOf(0, offset);
      return { name: message.toString('utf8', offset, end), end };
    };
    const renamed = (name) => (name ? prefix + name : '');
    let fields; // [before, ...names, after]
    if (type === 'P' || type === 'E') {
      const first = at(5);
      fields = [message.subarray(5, 5), first.name, message.subarray(first.end)];
      if (type === 'P' && first.name) this.prepared.add(renamed(first.name));
    } else if (type === 'B') {
      const portal = at(5);
      const statement = at(portal.end + 1);
      fields = [message.subarray(5, 5), portal.name, Buffer.from([0]), statement.name, message.subarray(statement.end)];
    } else if ((type === 'D' || type === 'C') && message.length > 6) {
      const target = at(6);
      if (type === 'C' && message[5] === 0x53) this.prepared.delete(renamed(target.name));
      fields = [message.subarray(5, 6), target.name, message.subarray(target.end)];
    } else {
      return message;
    }
    const parts = fields.map((field, i) => (typeof field === 'string' ? Buffer.from(renamed(field), 'utf8') : field));
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(5);
    head.write(type, 0);
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  }

  hasWholeMessage() {
    if (!this.started) return this.buffer.length >= 8 && this.buffer.length >= this.buffer.readInt32BE(0);
    return this.buffer.length >= 5 && this.buffer.length >= this.buffer.readInt32BE(1) + 1;
  }

  refuse() {
    this.waitTimer = null;
    const waited = `waited ${config.graceMs} ms for another connection's transaction to end`;
    const message = this.started
      ? `pglite_testcase: this statement ${waited}; the connection was closed`
      : `pglite_testcase: this connection ${waited} and was refused`;
    this.socket.end(fatal('55P03', message, WAIT_HINT));
    this.buffer = Buffer.alloc(0);
    this.closed = true;
    this.server.leave(this);
  }
}

class Server {
  constructor(db, sessionSettings) {
    this.db = db;
    this.sessionSettings = sessionSettings;
    this.clients = new Set();
    this.owner = null; // the client whose transaction is open
    this.ready = new Set(); // clients with whole messages waiting to run
    this.running = false;
    this.idle = Promise.resolve();
    this.nextClientId = 1;
    this.pendingCleanups = 0;
  }

  accept(socket) {
    this.clients.add(new Client(socket, this));
  }

  schedule(client) {
    if (client.closed || !client.hasWholeMessage()) return;
    this.ready.add(client);
    this.startWaitTimers();
    this.pump();
  }

  // Run ready clients one batch at a time, the transaction owner first.
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
        const parts = client.takeMessages();
        if (parts.length > 0 && !client.closed) {
          let reply;
          try {
            const batch = Buffer.concat(parts);
            reply = withoutAbortNotices(await watched(() => this.db.execProtocolRaw(batch, { syncToFs: false })));
          } catch (err) {
            // PGlite itself failed: drop this client (it sees the connection close)
            // rather than leave it waiting for an answer that will not come.
            process.stderr.write(`pglite_testcase: PGlite failed a request: ${err && err.stack ? err.stack : err}\n`);
            client.socket.destroy();
            continue;
          }
          if (reply.length && !client.socket.destroyed) client.socket.write(reply);
          this.owner = holdsSession(reply) ? client : null;
          if (config.debug) {
            const types = parts.map((part) => (client.started && part[0] > 32 ? String.fromCharCode(part[0]) : '*')).join('');
            const query = parts.find((part) => client.started && (part[0] === 0x51 || part[0] === 0x50));
            const sql = query ? query.toString('utf8', query[0] === 0x51 ? 5 : 5, Math.min(query.length, 120)).replace(/\0/g, ' ') : '';
            debug(`client ${client.prefix} ran ${types} ${sql}; in transaction: ${this.owner !== null}`);
          }
        }
        if (client.terminated) {
          client.socket.end();
          this.leave(client);
          continue;
        }
        if (client.hasWholeMessage()) this.ready.add(client);
        this.startWaitTimers();
      }
    } catch (err) {
      process.stderr.write(`pglite_testcase server error: ${err && err.stack ? err.stack : err}\n`);
    } finally {
      this.running = false;
    }
  }

  startWaitTimers() {
    if (this.owner === null) return;
    for (const client of this.ready) {
      if (client !== this.owner && client.waitTimer === null) {
        client.waitTimer = setTimeout(() => client.refuse(), config.graceMs);
      }
    }
  }

  nextRunnable() {
    if (this.owner !== null) return this.ready.has(this.owner) ? this.owner : null;
    for (const client of this.ready) return client;
    return null;
  }

  leave(client) {
    if (!this.clients.delete(client)) return;
    this.ready.delete(client);
    if (client.waitTimer) clearTimeout(client.waitTimer);
    // Clients whose startup has not run yet have no session state to lose.
    const lastOne = ![...this.clients].some((other) => other.started);
    this.pendingCleanups += 1; // nothing else runs until this client's traces are gone
    this.idle = this.idle
      .then(() => this.cleanUpAfter(client, lastOne))
      .catch((err) => process.stderr.write(`pglite_testcase reset error: ${err && err.stack ? err.stack : err}\n`))
      .finally(() => {
        this.pendingCleanups -= 1;
        this.pump();
      });
  }

  async cleanUpAfter(client, lastOne) {
    debug(`client ${client.prefix} left (owner: ${this.owner === client}, last: ${lastOne})`);
    while (this.running) await new Promise((resolve) => setImmediate(resolve));
    this.running = true;
    try {
      if (this.owner === client) {
        // Finish any half-sent extended-protocol exchange, then end its transaction.
        const reply = await this.db.execProtocolRaw(SYNC, { syncToFs: false });
        if (holdsSession(reply)) await this.db.exec('ROLLBACK');
        this.owner = null;
      }
      if (lastOne) {
        await this.db.exec('DISCARD ALL');
        // DISCARD ALL returns to the boot values; PGlite sets some per session (search_path).
        for (const { name, setting } of this.sessionSettings) {
          await this.db.query('SELECT set_config($1, $2, false)', [name, setting]);
        }
      } else {
        for (const name of client.prepared) {
          await this.db.exec(`DEALLOCATE "${name.replace(/"/g, '""')}"`).catch(() => {});
        }
      }
    } finally {
      this.running = false;
    }
  }
}

async function main() {
  const extensions = {};
  for (const [name, spec] of Object.entries(config.extensions || {})) {
    extensions[name] = require(spec.module)[spec.export];
  }
  const options = { extensions };
  if (config.loadDataDir) options.loadDataDir = new Blob([fs.readFileSync(config.loadDataDir)]);
  const db = new PGlite(options);
  await db.waitReady;
  // PGlite starts sessions at client_min_messages = debug3 and log_min_messages =
  // debug1: every statement would send clients DEBUG notices and log. Use
  // PostgreSQL's defaults.
  await db.exec('SET client_min_messages TO notice; SET log_min_messages TO warning');
  const { rows: sessionSettings } = await db.query(
    "SELECT name, setting FROM pg_settings WHERE source = 'session'"
  );
  const server = new Server(db, sessionSettings);
  startWatchdog(config.statementTimeoutMs || 0);
  const listener = net.createServer((socket) => server.accept(socket));
  await new Promise((resolve, reject) => {
    listener.once('error', reject);
    if (config.socketPath) listener.listen(config.socketPath, resolve);
    else listener.listen(0, '127.0.0.1', resolve);
  });
  const bound = listener.address();
  emit({ event: 'ready', port: bound && typeof bound === 'object' ? bound.port : null });

  let stopping = false;
  async function stop(parentGone) {
    if (stopping) return;
    stopping = true;
    if (parentGone && config.privateDir) {
      // The test process is gone (killed, or SIGTERM): clean up what it cannot.
      fs.rmSync(config.privateDir, { recursive: true, force: true });
    }
    listener.close();
    for (const client of server.clients) client.socket.destroy();
    setTimeout(() => process.exit(0), 2000).unref();
    try {
      await db.close();
    } finally {
      process.exit(0);
    }
  }
  process.on('SIGTERM', () => stop(false));
  process.on('SIGINT', () => stop(false));

  const commands = readline.createInterface({ input: process.stdin });
  commands.on('line', async (line) => {
    const request = JSON.parse(line);
    try {
      if (request.cmd === 'timeout') {
        Atomics.store(watch, 1, request.ms);
        emit({ id: request.id, ok: true });
        return;
      }
      if (request.cmd !== 'dump') throw new Error(`unknown command ${request.cmd}`);
      await server.idle;
      const blob = await db.dumpDataDir(request.compression || 'none');
      const tmp = `${request.path}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()));
        fs.renameSync(tmp, request.path);
      } catch (err) {
        fs.rmSync(tmp, { force: true }); // never half a snapshot (disk full, ...)
        throw err;
      }
      emit({ id: request.id, ok: true });
    } catch (err) {
      emit({ id: request.id, ok: false, error: String(err && err.message ? err.message : err) });
    }
  });
  commands.on('close', () => stop(true));
}

main().catch((err) => {
  process.stderr.write(`PGlite failed to start: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
