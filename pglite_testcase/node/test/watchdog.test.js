'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { look, TICK_MS } = require('../lib/watchdog');

function run(looks) {
  let state = { seen: 0, runningFor: 0, action: null };
  for (const seen of looks) {
    state = look(state, seen);
    if (state.action) return state.action;
  }
  return null;
}

test('a request running longer than the timeout is stopped; shorter ones are not', () => {
  const tick = (running, timeoutMs = 200) => ({ running, timeoutMs, parentPid: 1, currentParentPid: 1 });
  const ticks = 200 / TICK_MS;
  assert.strictEqual(run(Array.from({ length: ticks + 1 }, () => tick(7))), 'timeout');
  assert.strictEqual(run(Array.from({ length: ticks }, () => tick(7))), null);
  // Many short requests one after another are not one long one.
  assert.strictEqual(run(Array.from({ length: 50 }, (_, i) => tick(i + 1))), null);
  assert.strictEqual(run(Array.from({ length: 50 }, () => tick(7, 0))), null, 'no timeout set');
  assert.strictEqual(run(Array.from({ length: 50 }, () => tick(0))), null, 'idle');
});

test('a changed parent means the test process is gone', () => {
  assert.strictEqual(run([{ running: 0, timeoutMs: 0, parentPid: 100, currentParentPid: 1 }]), 'orphaned');
  assert.strictEqual(run([{ running: 0, timeoutMs: 0, parentPid: 100, currentParentPid: 100 }]), null);
});

function runNode(script) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

const WATCHDOG = JSON.stringify(path.join(__dirname, '..', 'lib', 'watchdog.js'));

test('a blocked main thread is killed when its parent is not the one it was given', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'watchdog-test-'));
  const script = `
    const { Watchdog } = require(${WATCHDOG});
    new Watchdog({ parentPid: process.ppid + 100000, privateDir: ${JSON.stringify(dir)} }).start();
    setTimeout(() => { for (;;) {} }, 10); // the main thread never returns, like PGlite running a statement
  `;
  const result = await runNode(script);
  assert.strictEqual(result.signal, 'SIGKILL');
  assert.match(result.stderr, /the test process \(pid \d+\) is gone, so this PGlite process stops/);
  assert.strictEqual(fs.existsSync(dir), false, 'the private directory was removed');
  assert.ok(result.seconds < 10, `took ${result.seconds} s`);
});

test('a blocked main thread is killed after the statement timeout', async () => {
  const script = `
    const { Watchdog } = require(${WATCHDOG});
    const watchdog = new Watchdog({ timeoutMs: 300, parentPid: process.ppid }).start();
    setTimeout(() => watchdog.watched(() => { for (;;) {} }), 10);
  `;
  const result = await runNode(script);
  assert.strictEqual(result.signal, 'SIGKILL');
  assert.match(result.stderr, /ran longer than statement_timeout \(300 ms\); PGlite cannot cancel it/);
});

test('once adopted, the adopting process is watched instead of the parent', () => {
  const tick = (adopterAlive, currentParentPid = 100) => ({
    running: 0,
    timeoutMs: 0,
    parentPid: 100,
    currentParentPid,
    adopter: 200,
    adopterAlive,
  });
  assert.strictEqual(run([tick(true, 1)]), null, 'the keeper that started it may be gone');
  assert.strictEqual(run([tick(false)]), 'orphaned');
});

test('a blocked main thread is killed when the process that adopted it is gone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'watchdog-test-'));
  const gone = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => gone.on('exit', resolve));
  const script = `
    const { Watchdog } = require(${WATCHDOG});
    const watchdog = new Watchdog({ parentPid: process.ppid }).start();
    watchdog.adopt(${gone.pid}, ${JSON.stringify(dir)});
    setTimeout(() => { for (;;) {} }, 10);
  `;
  const result = await runNode(script);
  assert.strictEqual(result.signal, 'SIGKILL');
  assert.match(result.stderr, new RegExp(`the test process \\(pid ${gone.pid}\\) is gone`));
  assert.strictEqual(fs.existsSync(dir), false, 'the adopter\'s private directory was removed');
});
