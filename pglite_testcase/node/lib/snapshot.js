// Start-up and memory of a PGlite instance: which PGlite line runs (0.3:
// PostgreSQL 17; 0.5: PostgreSQL 18), how a snapshot gets in, how a snapshot is
// cut down, and postgres's shared buffers.
'use strict';
const fs = require('fs');
const path = require('path');

// Where PGlite 0.3 keeps its data directory in its in-memory file system.
const PGDATA = '/tmp/pglite/base';
// Where PGlite 0.4 and later keep it.
const PGDATA_05 = '/pglite/data';

// The PGlite version on NODE_PATH, read from disk (0.5 no longer exports its package.json).
function pgliteVersion() {
  const main = require.resolve('@electric-sql/pglite'); // <package>/dist/index.cjs
  let dir = path.dirname(main);
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}

// What differs between the lines, as this server uses them.
function pgliteLine(version = pgliteVersion()) {
  const [major, minor] = version.split('.').map(Number);
  const modern = major > 0 || minor >= 4;
  return {
    version,
    // 0.4+: start parameters are an option (0.3: patched into the wasm module), initdb runs
    // separately and takes its own parameters, the session runs in `postgres` (0.3: template1).
    modern,
    pgdata: modern ? PGDATA_05 : PGDATA,
  };
}

function field(tar, start, length) {
  let end = start;
  while (end < start + length && tar[end] !== 0) end++;
  return tar.toString('utf8', start, end);
}

// Each entry of a ustar archive: name, type byte, offsets of its data and of the next header.
function* entries(tar) {
  let offset = 0;
  while (offset + 512 <= tar.length && tar[offset] !== 0) {
    const prefix = tar.toString('latin1', offset + 257, offset + 262) === 'ustar' ? field(tar, offset + 345, 155) : '';
    const name = (prefix ? `${prefix}/` : '') + field(tar, offset, 100);
    const size = parseInt(field(tar, offset + 124, 12).trim() || '0', 8);
    const data = offset + 512;
    const next = data + Math.ceil(size / 512) * 512;
    yield { name, type: tar[offset + 156], data, size, header: offset, next };
    offset = next;
  }
}

// PGlite's own `loadDataDir` copies the tarball four times and looks every path
// component up again for each of its ~1,000 files (~250 ms for the 28 MB empty
// database). Here each directory is made once and each file keeps a view of the
// tarball (canOwn: no copy).
function untarInto(FS, tar, root) {
  const made = new Set();
  const mkdirs = (dir) => {
    if (made.has(dir)) return;
    const parent = dir.slice(0, dir.lastIndexOf('/'));
    if (parent) mkdirs(parent);
    if (!FS.analyzePath(dir).exists) FS.mkdir(dir);
    made.add(dir);
  };
  mkdirs(root);
  for (const { name, type, data, size } of entries(tar)) {
    const target = `${root}/${name.replace(/^\/+|\/+$/g, '')}`;
    if (type === 0x35) mkdirs(target); // '5': a directory
    else if (type === 0x30 || type === 0) {
      mkdirs(target.slice(0, target.lastIndexOf('/')));
      FS.writeFile(target, tar.subarray(data, data + size), { canOwn: true });
    } else throw new Error(`the snapshot holds an entry of type ${type} (${name}): not a PGlite data directory`);
  }
}

// A file system option for PGlite (its documented `fs`): the in-memory one,
// with the snapshot written into it before postgres starts.
function snapshotFileSystem(MemoryFS, tar, pgdata = PGDATA, mark = () => {}) {
  class SnapshotFS extends MemoryFS {
    async init(pg, emscriptenOptions) {
      const { emscriptenOpts } = await super.init(pg, emscriptenOptions);
      const load = (module) => {
        mark('untar start');
        untarInto(module.FS, tar, pgdata);
        mark('untar end');
      };
      return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun || []), load] } };
    }
  }
  return new SnapshotFS();
}

// PGlite 0.3 starts postgres with `-c shared_buffers=128MB`, built into its
// WebAssembly module: a command-line setting, so postgresql.conf cannot lower it,
// and an option to pass start parameters only exists from PGlite 0.4. The
// segment is zeroed at start, so all of it is resident: ~110 MB of a 370 MB node
// process, and ~80 ms of the start; a test database needs a few MB. The setting
// is a NUL-terminated string in the module's data section: the module is compiled
// here with that string replaced by one no longer, NUL-padded, and handed to
// PGlite (its documented `wasmModule`). Another PGlite build without the string:
// undefined, and PGlite loads its own module as before.
const BUILT_IN_SHARED_BUFFERS = 'shared_buffers=128MB';

// Enough for a test database's catalogs and rows; PGlite's own 128 MB is resident from the start.
const SHARED_BUFFERS = '16MB';

async function moduleWithSharedBuffers(setting, debug = () => {}) {
  const file = path.join(path.dirname(require.resolve('@electric-sql/pglite')), 'pglite.wasm');
  const bytes = fs.readFileSync(file);
  const needle = Buffer.from(`${BUILT_IN_SHARED_BUFFERS}\0`);
  const wanted = `shared_buffers=${setting}`;
  const at = bytes.indexOf(needle);
  if (at < 0 || bytes.indexOf(needle, at + 1) >= 0 || wanted.length > BUILT_IN_SHARED_BUFFERS.length) {
    debug(`${BUILT_IN_SHARED_BUFFERS} is not in ${file} once: PGlite keeps its own shared_buffers`);
    return undefined;
  }
  const replacement = Buffer.alloc(needle.length);
  replacement.write(wanted);
  replacement.copy(bytes, at);
  return WebAssembly.compile(bytes);
}

// PGlite's WebAssembly module for this line, being compiled: V8 compiles it on threads of
// its own, so a start that calls this first loads PGlite's JavaScript and reads the
// snapshot meanwhile. Resolves to undefined where PGlite compiles its own (0.4+).
function compileModule(line, setting, debug = () => {}) {
  return line.modern ? Promise.resolve(undefined) : moduleWithSharedBuffers(setting, debug);
}

// PGlite's options for its start on this line: shared_buffers at `setting` (PGlite's own
// is 128 MB), and on 0.4+ 1 MB WAL segments for initdb (16 MB ones make the empty
// snapshot 25 MB instead of 9.5 MB; pg_resetwal-free: initdb's own --wal-segsize).
// `compiled`: what compileModule returned, if the start called it earlier.
async function startOptions(PGlite, line, setting, debug = () => {}, compiled = null) {
  if (!line.modern) {
    const wasmModule = await (compiled || compileModule(line, setting, debug));
    return wasmModule ? { wasmModule } : {};
  }
  return {
    startParams: [...withoutSetting(PGlite.defaultStartParams, 'search_path'), '-c', `shared_buffers=${setting}`],
    initDbStartParams: ['--wal-segsize=1'],
  };
}

// PGlite 0.5 starts postgres with `-c search_path=public`: a command-line setting, so RESET and
// DISCARD ALL would give `public` instead of PostgreSQL's `"$user", public`. Without it, the
// server's default is PostgreSQL's.
function withoutSetting(params, name) {
  const kept = [];
  for (let i = 0; i < params.length; i++) {
    if (params[i] === '-c' && String(params[i + 1]).startsWith(`${name}=`)) i++;
    else kept.push(params[i]);
  }
  return kept;
}

// A data-directory tarball without the WAL segments a start cannot need: those
// before the last checkpoint's redo segment, and the recycled ones after the
// current one (PGlite keeps up to min_wal_size = 80 MB of them).
function withoutSpareWal(tar, first, last) {
  const kept = [];
  for (const { name, header, next } of entries(tar)) {
    const segment = /\/pg_wal\/([0-9A-F]{24})$/.exec(name);
    if (!segment || (segment[1] >= first && segment[1] <= last)) kept.push(tar.subarray(header, next));
  }
  kept.push(Buffer.alloc(1024)); // end of archive
  return Buffer.concat(kept);
}

module.exports = {
  PGDATA,
  PGDATA_05,
  pgliteVersion,
  pgliteLine,
  startOptions,
  compileModule,
  SHARED_BUFFERS,
  untarInto,
  snapshotFileSystem,
  moduleWithSharedBuffers,
  withoutSpareWal,
  entries,
};
