// PGlite behind a PostgreSQL wire-protocol socket, started by pglite_testcase.
//
// PGlite has a single backend session; this server shares it between clients
// the way a test suite needs (lib/scheduler.js), answers what needs no backend
// itself (lib/connection.js: SSL and GSS requests are answered 'N', so libpq's
// sslmode=prefer works; on TCP, SCRAM-SHA-256 with the instance's password,
// lib/auth.js), plays COPY FROM STDIN with the client (lib/copy.js), and runs
// everything else in PGlite (lib/host.js). A connection to the debug database
// (lib/debug.js) joins the transaction of the connection holding the session: psql on a
// test paused at a breakpoint. A watchdog thread (lib/watchdog.js)
// enforces the statement timeout and notices the test process's death even
// while PGlite blocks this thread.
//
// Arguments: one JSON object (socketPath, or TCP on 127.0.0.1 at port, 0 or absent
// for a free one; graceMs, loadDataDir, extensions, privateDir, parentPid,
// statementTimeoutMs, debug, debugDatabase: the database name of debug connections, lib/debug.js;
// warmUp: load what clients' first statements need before "ready", for a spare that nobody
// waits for).
// The TCP password comes in the environment (PGLITE_TESTCASE_PASSWORD), not in
// the arguments, which every local user can read.
//
// When it accepts connections it writes {"event": "ready", "port", "timeline"} on stdout (the
// timeline: when each step of its start happened, in seconds since the epoch).
// Standard input is a control channel of JSON lines, each answered on stdout:
// {"id", "cmd": "dump", "path"} writes a data-directory tarball;
// {"id", "cmd": "timeout", "ms"} sets the statement timeout;
// {"id", "cmd": "adopt", "pid", "privateDir"}: another process took this server over (the
// keeper's spare, runtime/keeper.py), and moved its private directory there. Its end (the test
// process is gone, or done) stops the server and removes the private directory.
'use strict';
const { performance } = require('perf_hooks');
// When each step of the start happened (ms from node's own start), sent with "ready".
const timeline = { node: 0, main: performance.now() };
const mark = (step) => {
  timeline[step] = performance.now();
};
const fs = require('fs');
const { compileModule, pgliteLine, SHARED_BUFFERS } = require('./lib/snapshot');

const config = JSON.parse(process.argv[2]);

// First PGlite's WebAssembly module (compiled on V8's own threads) and the snapshot (read on
// libuv's): both go on while the rest of this server and PGlite's JavaScript load. A failure
// is reported by main(), as any other failure to start.
function startEarly() {
  try {
    const line = pgliteLine();
    const compiled = compileModule(line, SHARED_BUFFERS);
    const snapshot = config.loadDataDir ? fs.promises.readFile(config.loadDataDir) : null;
    for (const promise of [compiled, snapshot]) if (promise) promise.catch(() => {}); // awaited in Host.start
    return { line, compiled, snapshot };
  } catch (error) {
    return { error };
  }
}
const early = startEarly();
mark('compiling');

const net = require('net');
const readline = require('readline');
const { Watchdog } = require('./lib/watchdog');
const { Host } = require('./lib/host');
const { Scheduler } = require('./lib/scheduler');
const { ScramVerifier } = require('./lib/auth');

const EXIT_SERVER_ERROR = 72;

const password = process.env.PGLITE_TESTCASE_PASSWORD || null;
delete process.env.PGLITE_TESTCASE_PASSWORD;

function debug(text) {
  if (config.debug) process.stderr.write(`[pglite_testcase] ${text}\n`);
}

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function serverError(err) {
  process.stderr.write(`pglite_testcase: server error: ${err && err.stack ? err.stack : err}\n`);
  process.exit(EXIT_SERVER_ERROR);
}

// PGlite runs a statement on this thread, so a CancelRequest is read only once the
// statement is over: too late to cancel anything. PostgreSQL ignores a cancel that finds
// nothing running, and so does this server (asyncpg sends one whenever a task waiting for
// a query is cancelled). Ctrl-C in a test is honoured on the Python side, which stops node.
function cancelled(client) {
  debug(`a CancelRequest for client ${client.id} came after its statement: ignored`);
}

async function main() {
  if (config.parentPid && process.ppid !== config.parentPid) process.exit(0); // started by a process already gone
  // Its thread starts once PGlite is up: its start (a second V8 and node environment) would
  // compete with PGlite's for the CPU. Until then no statement runs long, and a test process
  // that died meanwhile is noticed then (and by its end of stdin).
  const watchdog = new Watchdog({
    timeoutMs: config.statementTimeoutMs || 0,
    parentPid: config.parentPid || 0,
    privateDir: config.privateDir,
  });
  const { PGlite, MemoryFS } = require('@electric-sql/pglite');
  mark('required');
  const extensions = {};
  for (const [name, spec] of Object.entries(config.extensions || {})) {
    extensions[name] = require(spec.module)[spec.export];
  }
  if (early.error) throw early.error;
  const { line, compiled, snapshot } = early;
  const host = await Host.start({
    PGlite,
    MemoryFS,
    extensions,
    loadDataDir: config.loadDataDir,
    watchdog,
    debug,
    line,
    compiled,
    snapshot,
    mark,
  });
  mark('host');
  if (config.warmUp) {
    await host.warmUp();
    mark('warmed up');
  }
  const scheduler = new Scheduler(host, {
    graceMs: config.graceMs,
    verifier: password ? new ScramVerifier(password) : null,
    onCancel: cancelled,
    databases: host.databaseNames,
    debugDatabase: config.debugDatabase || null,
    debug,
  });
  process.on('unhandledRejection', serverError);
  const listener = net.createServer((socket) => scheduler.accept(socket));
  await new Promise((resolve, reject) => {
    listener.once('error', reject);
    if (config.socketPath) listener.listen(config.socketPath, resolve);
    else listener.listen(config.port || 0, '127.0.0.1', resolve);
  });
  const bound = listener.address();
  mark('listening');
  const seconds = (ms) => (performance.timeOrigin + ms) / 1000; // as Python's time.time()
  watchdog.start();
  emit({
    event: 'ready',
    port: bound && typeof bound === 'object' ? bound.port : null,
    timeline: Object.fromEntries(Object.entries(timeline).map(([step, ms]) => [step, seconds(ms)])),
  });

  let stopping = false;
  async function stop(parentGone) {
    if (stopping) return;
    stopping = true;
    if (parentGone && config.privateDir) {
      // The test process is gone (or done with it): clean up what it may not.
      fs.rmSync(config.privateDir, { recursive: true, force: true });
    }
    listener.close();
    for (const client of scheduler.clients) client.socket.destroy();
    setTimeout(() => process.exit(0), 2000).unref();
    try {
      await host.close();
    } finally {
      process.exit(0);
    }
  }
  process.on('SIGTERM', () => stop(false));
  process.on('SIGINT', () => stop(false));

  const commands = readline.createInterface({ input: process.stdin });
  commands.on('line', async (line) => {
    let request = {};
    try {
      request = JSON.parse(line);
      if (request.cmd === 'timeout') {
        watchdog.setTimeout(request.ms);
      } else if (request.cmd === 'adopt') {
        // A spare the keeper started, handed over: the adopting test process is watched from now
        // on, and its private directory (where it moved this one's) is the one to remove.
        watchdog.adopt(request.pid, request.privateDir);
        config.parentPid = request.pid;
        config.privateDir = request.privateDir;
      } else if (request.cmd === 'dump') {
        await scheduler.idle;
        await host.dump(request.path);
      } else {
        throw new Error(`unknown command ${request.cmd}`);
      }
      emit({ id: request.id, ok: true });
    } catch (err) {
      emit({ id: request.id, ok: false, error: String(err && err.message ? err.message : err), code: err && err.code });
    }
  });
  commands.on('close', () => stop(true));
}

main().catch((err) => {
  process.stderr.write(`PGlite failed to start: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
