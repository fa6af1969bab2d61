// A worker thread that can act while PGlite blocks the main thread.
//
// PGlite runs statements on the main thread and cannot interrupt them
// (PostgreSQL's statement_timeout has no effect), and while one runs the main
// thread reads neither its sockets nor its standard input. The watchdog looks
// every 50 ms (polling rather than being woken: a wake-up per request would
// cost each round trip a thread switch) and ends the process when
// - one request has run longer than the statement timeout, or
// - the test process that started this one is gone (this process's parent
//   changed), or, once a test process has adopted it (a spare the keeper started,
//   handed over: `adopt`), the adopting process is gone: then it also removes the
//   private directory, which nobody else will.
// Either way it says why on stderr first.
'use strict';
const fs = require('fs');
const { Worker, isMainThread, workerData } = require('worker_threads');

const TICK_MS = 50;
const RUNNING = 0; // slot: number of the request running (0: none)
const TIMEOUT = 1; // slot: statement timeout in ms (0: none)
const WAKE = 2; // slot: never set; waited on for one tick
const ADOPTER = 3; // slot: pid of the process that adopted this one (0: none)
const DIR_LENGTH = 4; // slot: bytes of the adopter's private directory in `dir`
const SLOTS = 5;
const DIR_BYTES = 4096;

// One look: what to do, given the state of the previous look.
function look(state, { running, timeoutMs, parentPid, currentParentPid, adopter = 0, adopterAlive = true }) {
  if (adopter ? !adopterAlive : parentPid && currentParentPid !== parentPid) return { ...state, action: 'orphaned' };
  const runningFor = running !== 0 && running === state.seen ? state.runningFor + TICK_MS : 0;
  const action = timeoutMs > 0 && runningFor >= timeoutMs ? 'timeout' : null;
  return { seen: running, runningFor, action };
}

function say(line) {
  fs.writeSync(2, `pglite_testcase: ${line}\n`);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function watch({ buffer, dir, parentPid, privateDir }) {
  const slots = new Int32Array(buffer);
  let state = { seen: 0, runningFor: 0, action: null };
  for (;;) {
    Atomics.wait(slots, WAKE, 0, TICK_MS);
    const timeoutMs = Atomics.load(slots, TIMEOUT);
    const running = Atomics.load(slots, RUNNING);
    const adopter = Atomics.load(slots, ADOPTER);
    const adopterAlive = adopter ? alive(adopter) : true;
    state = look(state, { running, timeoutMs, parentPid, currentParentPid: process.ppid, adopter, adopterAlive });
    if (state.action === 'orphaned') {
      const gone = adopter || parentPid;
      const directory = adopter ? Buffer.from(dir.slice(0, Atomics.load(slots, DIR_LENGTH))).toString() : privateDir;
      if (directory) fs.rmSync(directory, { recursive: true, force: true });
      say(`the test process (pid ${gone}) is gone, so this PGlite process stops`);
      process.kill(process.pid, 'SIGKILL');
    } else if (state.action === 'timeout') {
      say(
        `a statement ran longer than statement_timeout (${timeoutMs} ms); PGlite cannot cancel it, ` +
          'so this PGlite process stops'
      );
      process.kill(process.pid, 'SIGKILL');
    }
  }
}

class Watchdog {
  constructor({ timeoutMs = 0, parentPid = 0, privateDir = null } = {}) {
    this.slots = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
    this.dir = new Uint8Array(new SharedArrayBuffer(DIR_BYTES));
    this.slots[TIMEOUT] = timeoutMs;
    this.parentPid = parentPid;
    this.privateDir = privateDir;
    this.requests = 0;
  }

  start() {
    const { parentPid, privateDir } = this;
    const data = { pgliteTestcaseWatchdog: true, buffer: this.slots.buffer, dir: this.dir, parentPid, privateDir };
    new Worker(__filename, { workerData: data }).unref();
    return this;
  }

  setTimeout(ms) {
    Atomics.store(this.slots, TIMEOUT, ms);
  }

  // From now on the process to watch is `pid` (not this one's parent), and the private
  // directory to remove when it is gone is `privateDir`.
  adopt(pid, privateDir) {
    const bytes = Buffer.from(privateDir || '');
    if (bytes.length > DIR_BYTES) throw new Error(`a private directory path longer than ${DIR_BYTES} bytes`);
    this.dir.set(bytes);
    Atomics.store(this.slots, DIR_LENGTH, bytes.length);
    Atomics.store(this.slots, ADOPTER, pid);
  }

  // The statement timeout in force (0: none).
  get timeoutMs() {
    return Atomics.load(this.slots, TIMEOUT);
  }

  async watched(run) {
    this.requests = (this.requests % 2147483646) + 1;
    Atomics.store(this.slots, RUNNING, this.requests);
    try {
      return await run();
    } finally {
      Atomics.store(this.slots, RUNNING, 0);
    }
  }
}

if (!isMainThread && workerData && workerData.pgliteTestcaseWatchdog) watch(workerData);

module.exports = { Watchdog, look, TICK_MS };
