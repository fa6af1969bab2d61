'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { untarInto, withoutSpareWal, entries } = require('../lib/snapshot');

// A ustar archive as PGlite's dumpDataDir writes one: names with a leading '/', directories of type '5'.
function tarOf(items) {
  const parts = [];
  for (const { name, data = Buffer.alloc(0), type = '0' } of items) {
    const header = Buffer.alloc(512);
    header.write(name, 0);
    header.write('0000644\0', 100);
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write(type, 156);
    header.write('ustar\x0000', 257);
    parts.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function fakeFS() {
  const dirs = new Set(['/', '/tmp']);
  const files = new Map();
  return {
    dirs,
    files,
    analyzePath: (p) => ({ exists: dirs.has(p) || files.has(p) }),
    mkdir: (p) => {
      if (dirs.has(p)) throw new Error(`EEXIST ${p}`);
      if (!dirs.has(p.slice(0, p.lastIndexOf('/')) || '/')) throw new Error(`ENOENT parent of ${p}`);
      dirs.add(p);
    },
    writeFile: (p, data, options) => {
      if (!dirs.has(p.slice(0, p.lastIndexOf('/')))) throw new Error(`ENOENT parent of ${p}`);
      files.set(p, { data, canOwn: options && options.canOwn });
    },
  };
}

test('a snapshot is written into the file system: every directory once, every file without a copy', () => {
  const tar = tarOf([
    { name: '/base', type: '5' },
    { name: '/base/1', type: '5' },
    { name: '/base/1/1259', data: Buffer.alloc(8192, 7) },
    { name: '/global/pg_control', data: Buffer.from('control') }, // its directory has no entry of its own
    { name: '/PG_VERSION', data: Buffer.from('17\n') },
  ]);
  const FS = fakeFS();
  untarInto(FS, tar, '/tmp/pglite/base');
  assert.deepStrictEqual([...FS.files.keys()].sort(), [
    '/tmp/pglite/base/PG_VERSION',
    '/tmp/pglite/base/base/1/1259',
    '/tmp/pglite/base/global/pg_control',
  ]);
  const table = FS.files.get('/tmp/pglite/base/base/1/1259');
  assert.strictEqual(table.data.length, 8192);
  assert.strictEqual(table.data.buffer, tar.buffer); // a view of the tarball
  assert.strictEqual(table.canOwn, true);
  assert.strictEqual(FS.files.get('/tmp/pglite/base/PG_VERSION').data.toString(), '17\n');
  assert.ok(FS.dirs.has('/tmp/pglite/base/global'));
});

test('an entry that is neither a file nor a directory is refused', () => {
  const FS = fakeFS();
  assert.throws(() => untarInto(FS, tarOf([{ name: '/link', type: '2' }]), '/tmp/pglite/base'), /type 50/);
});

test('a dump keeps the WAL segments from the redo point to the current one, and everything else', () => {
  const segment = (n) => `/pg_wal/0000000100000000000000${n}`;
  const tar = tarOf([
    { name: '/pg_wal', type: '5' },
    ...['04', '05', '06', '07', '08'].map((n) => ({ name: segment(n), data: Buffer.alloc(1024, 1) })),
    { name: '/pg_wal/archive_status', type: '5' },
    { name: '/base/1/1259', data: Buffer.alloc(100, 2) },
  ]);
  const kept = withoutSpareWal(tar, '000000010000000000000005', '000000010000000000000006');
  assert.deepStrictEqual(
    [...entries(kept)].map((entry) => entry.name),
    ['/pg_wal', segment('05'), segment('06'), '/pg_wal/archive_status', '/base/1/1259']
  );
  const table = [...entries(kept)].find((entry) => entry.name === '/base/1/1259');
  assert.deepStrictEqual(kept.subarray(table.data, table.data + table.size), Buffer.alloc(100, 2));
});

test('the PGlite line decides the start options and where the data directory is', async () => {
  const { pgliteLine, startOptions, pgliteVersion } = require('../lib/snapshot');
  assert.deepStrictEqual(pgliteLine('0.3.15'), { version: '0.3.15', modern: false, pgdata: '/tmp/pglite/base' });
  assert.deepStrictEqual(pgliteLine('0.5.17'), { version: '0.5.17', modern: true, pgdata: '/pglite/data' });
  const PGlite = { defaultStartParams: ['--single', '-c', 'search_path=public', '-c', 'io_method=sync'] };
  assert.deepStrictEqual(await startOptions(PGlite, pgliteLine('0.5.17'), '16MB'), {
    startParams: ['--single', '-c', 'io_method=sync', '-c', 'shared_buffers=16MB'],
    initDbStartParams: ['--wal-segsize=1'],
  });
  let version = null;
  try {
    version = pgliteVersion();
  } catch (err) {
    return; // no PGlite on NODE_PATH
  }
  assert.match(version, /^0\.\d+\.\d+$/);
});
