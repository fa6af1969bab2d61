// The PGlite instance: its start, the requests that run in it, its dumps.
//
// PGlite runs on this thread: while a statement runs nothing else here does.
// Every request is marked for the watchdog (see watchdog.js). PGlite failing
// internally (a WebAssembly trap such as "RuntimeError: unreachable" or
// "memory access out of bounds", an out-of-memory) leaves an instance that
// cannot be trusted, so it ends this process, saying why on stderr; the test
// process reports that and starts a new PGlite.
'use strict';
const fs = require('fs');
const { message, cstring } = require('./framing');
const protocol = require('./protocol');
const { piecesOf, expectsReady } = require('./batches');
const { BASELINE_SQL, BACKEND_PID } = require('./session');
const { snapshotFileSystem, startOptions, pgliteLine, withoutSpareWal, SHARED_BUFFERS } = require('./snapshot');

const EXIT_PGLITE_FAILED = 70;

// What a new client's first statements load on a fresh backend (~0.1 s here): PL/pgSQL, a
// temporary table with a deferred constraint trigger (the test case's commit guard makes one),
// the catalogs drivers read when they connect. A spare, started before anyone needs it
// (runtime/keeper.py), runs these so that the run that takes it does not; nothing is left.
const WARM_UP = [
  `DO $warm_up$ BEGIN
    CREATE TEMP TABLE pglite_testcase_warm_up (armed boolean);
    GRANT INSERT ON pglite_testcase_warm_up TO PUBLIC;
    CREATE FUNCTION pg_temp.pglite_testcase_warm_up() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      IF current_query() ~* '^\\s*set' THEN RETURN NULL; END IF;
      RETURN NULL;
    END $f$;
    CREATE CONSTRAINT TRIGGER pglite_testcase_warm_up AFTER INSERT ON pglite_testcase_warm_up
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.pglite_testcase_warm_up();
    INSERT INTO pglite_testcase_warm_up VALUES (true);
    SET CONSTRAINTS ALL IMMEDIATE;
    DROP TABLE pglite_testcase_warm_up;
    DROP FUNCTION pg_temp.pglite_testcase_warm_up();
  END $warm_up$`,
  'SELECT pg_catalog.version(), current_schema(), current_setting(\'transaction_isolation\')',
  "SELECT typname, oid, typarray, oid::regtype::text, typdelim FROM pg_type WHERE oid = to_regtype('hstore')",
];

// PGlite asks every new session for an MD5 password and accepts any: the
// server has authenticated the client already (or needs not, on the Unix socket).
const ANY_PASSWORD = message('p', cstring('md5'));

function failedInternally(err) {
  const detail = err && err.stack ? err.stack : String(err);
  process.stderr.write(
    'pglite_testcase: PGlite failed internally and cannot be trusted any more, so this PGlite process ' +
      `stops: ${detail}\n`
  );
  process.exit(EXIT_PGLITE_FAILED);
}

class Host {
  constructor(db, watchdog, { onFailure = failedInternally } = {}) {
    this.db = db;
    this.watchdog = watchdog;
    this.onFailure = onFailure;
    this.databaseNames = ['postgres'];
    if (typeof db._handleBlob !== 'function' || typeof db._cleanupBlob !== 'function') {
      throw new Error('this PGlite has no _handleBlob/_cleanupBlob: COPY FROM STDIN cannot be served');
    }
    this.trap = null;
    this.keepTraps();
  }

  // PGlite 0.5 runs its backend's main loop in a catch that handles PostgreSQL's longjmp and
  // drops every other exception: after a WebAssembly trap or a JavaScript error (seen: "null
  // function or function signature mismatch" in pg_trgm's % operator with some other extensions
  // loaded, depending on the order their bundles finish loading; node's RangeError in a deep
  // recursion) the statement was answered with half a reply and the next request spun forever.
  // The error is kept here and reported after the request, as PGlite 0.3 reports its traps itself.
  keepTraps() {
    const mod = this.db.mod;
    if (!mod || typeof mod._PostgresMainLoopOnce !== 'function') return;
    const once = mod._PostgresMainLoopOnce;
    const longjmp = this.db.POSTGRES_MAIN_LONGJMP;
    mod._PostgresMainLoopOnce = (...args) => {
      try {
        return once(...args);
      } catch (err) {
        if (!(err && err.status === longjmp) && this.trap === null) this.trap = err;
        throw err;
      }
    };
  }

  // `compiled` and `snapshot`: PGlite's module being compiled (snapshot.compileModule) and the
  // snapshot being read, when the caller started them earlier (server.js does, first thing).
  static async start({
    PGlite,
    MemoryFS,
    extensions = {},
    loadDataDir = null,
    watchdog,
    debug,
    line = pgliteLine(),
    compiled = null,
    snapshot = null,
    mark = () => {},
  }) {
    const options = { extensions, ...(await startOptions(PGlite, line, SHARED_BUFFERS, debug, compiled)) };
    mark('compiled');
    if (loadDataDir) {
      const tar = await (snapshot || fs.promises.readFile(loadDataDir));
      options.fs = snapshotFileSystem(MemoryFS, tar, line.pgdata, mark);
    }
    mark('snapshot read');
    const db = new PGlite(options);
    await db.waitReady;
    mark('waitReady');
    if (!loadDataDir) {
      // A new database (initdb): the session's database is kept (0.3: template1; 0.5:
      // postgres), the other two are never used; without them a snapshot is a third of the
      // size (0.3: 9.1 MB instead of 28; 0.5: 9.5 MB instead of 25).
      const { rows } = await db.query('SELECT current_database() AS name');
      for (const name of ['postgres', 'template1', 'template0'].filter((n) => n !== rows[0].name)) {
        await db.exec(`UPDATE pg_database SET datistemplate = false WHERE datname = '${name}'`);
        await db.exec(`DROP DATABASE ${name}`);
      }
    }
    debug(`PGlite ${line.version} started${loadDataDir ? ` from ${loadDataDir}` : ' (initdb)'}`);
    const host = new Host(db, watchdog);
    host.line = line;
    // PGlite starts sessions at client_min_messages = debug3 and log_min_messages =
    // debug1: every statement would send clients DEBUG notices and log. Use
    // PostgreSQL's defaults.
    await host.setUp(BASELINE_SQL);
    // PGlite cannot load PostgreSQL's encoding conversions (they are loadable modules), and
    // dies on the first one it tries: without a default conversion, PostgreSQL itself refuses
    // a client_encoding other than UTF8 and SQL_ASCII, with its own error.
    // (Catalog changes: PGlite 0.3 boots with allow_system_table_mods on, 0.5 without.)
    await host.setUp('SET allow_system_table_mods TO on');
    await host.setUp('UPDATE pg_catalog.pg_conversion SET condefault = false WHERE condefault');
    // PGlite's pg_backend_pid() is 0 for everyone: each client gets the process id of its
    // BackendKeyData (the server sets it per client; NOTIFY names the sender by it too).
    await host.setUp(
      'CREATE OR REPLACE FUNCTION pg_catalog.pg_backend_pid() RETURNS integer LANGUAGE sql STABLE ' +
        `AS $$ SELECT coalesce(nullif(pg_catalog.current_setting('${BACKEND_PID}', true), ''), '0')::integer $$`
    );
    await host.setUp('RESET allow_system_table_mods');
    const { rows } = await db.query('SELECT current_database() AS name');
    host.databaseNames = ['postgres', rows[0].name];
    return host;
  }

  // Load what clients' first statements need (see WARM_UP).
  async warmUp() {
    for (const sql of WARM_UP) await this.setUp(sql);
  }

  // Run protocol messages; PGlite's reply, copied (PGlite hands out a view of a
  // buffer it reuses for the next request), without its abort notices.
  async run(batch) {
    const pieces = piecesOf(batch);
    let reply;
    if (pieces.length === 1) {
      reply = Buffer.from(await this.runOnce(batch));
    } else {
      const replies = [];
      for (const piece of pieces) replies.push(Buffer.from(await this.runOnce(piece)));
      reply = Buffer.concat(replies);
    }
    if (expectsReady(batch) && protocol.transactionStatus(reply) === null && !protocol.startsCopy(reply)) {
      reply = await this.readyAfter(reply);
    }
    return protocol.withoutAbortNotices(reply);
  }

  async runOnce(batch) {
    try {
      // execProtocol, not execProtocolRaw: PGlite parses every reply message into a list that
      // only execProtocol empties, so with execProtocolRaw alone node's heap grew with every
      // message ever sent (about 3 KB a statement). Its data is the same raw reply.
      const { data } = await this.watchdog.watched(() =>
        this.db.execProtocol(batch, { syncToFs: false, throwOnError: false })
      );
      const trap = this.trap;
      this.trap = null;
      if (trap !== null) throw trap;
      return data;
    } catch (err) {
      this.onFailure(err);
      throw err;
    }
  }

  // After some internal errors PGlite answers a Sync or a Query without the
  // ReadyForQuery it owes (PGlite 0.5, in some states, with nothing at all), and sends
  // nothing more: the client would wait forever.
  // The statement ends with an error instead, and a Sync gets the session's state.
  async readyAfter(reply) {
    const ready = Buffer.from(await this.runOnce(protocol.SYNC));
    const error = protocol.errorResponse(
      'ERROR',
      'XX000',
      'pglite_testcase: PGlite ended this statement without ReadyForQuery; the statement is treated as failed'
    );
    if (protocol.transactionStatus(ready) === null) {
      const failure = new Error('PGlite answered neither the statement nor a Sync with ReadyForQuery');
      this.onFailure(failure);
      throw failure;
    }
    return Buffer.concat([reply, error, ready]);
  }

  query(sql) {
    return this.run(protocol.simpleQuery(sql));
  }

  // A statement of the server's own set-up, which must work.
  async setUp(sql) {
    const error = protocol.firstError(await this.query(sql));
    if (error) throw new Error(`setting PGlite up failed: ${error.M} (${sql})`);
  }

  // A client's session begins: PGlite's reply to its startup message and to
  // the password PGlite asks for, without that request.
  async startSession(startup) {
    const first = await this.run(startup);
    if (first[0] !== 0x52 || first.readInt32BE(5) !== 5) return first; // not PGlite's MD5 request: an error
    return this.run(ANY_PASSWORD);
  }

  // `COPY ... FROM '/dev/blob'` with `data` as the blob.
  async copyFrom(sql, data) {
    try {
      await this.db._handleBlob(new Blob([data]));
    } catch (err) {
      this.onFailure(err);
      throw err;
    }
    try {
      return await this.query(sql);
    } finally {
      await this.db._cleanupBlob();
    }
  }

  // The data directory as a tarball at `path` (a new file, readable by its owner only).
  async dump(path) {
    // After a checkpoint a start replays nothing, and needs only the WAL from its redo point on.
    await this.db.exec('CHECKPOINT');
    const { rows } = await this.db.query(
      'SELECT redo_wal_file AS first, pg_walfile_name(pg_current_wal_lsn()) AS last FROM pg_control_checkpoint()'
    );
    const blob = await this.db.dumpDataDir('none');
    const data = withoutSpareWal(Buffer.from(await blob.arrayBuffer()), rows[0].first, rows[0].last);
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      for (let written = 0; written < data.length; ) written += fs.writeSync(fd, data, written);
      fs.closeSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(path, { force: true }); // never half a snapshot (disk full, ...)
      throw err;
    }
  }

  close() {
    return this.db.close();
  }
}

module.exports = { Host, EXIT_PGLITE_FAILED };
