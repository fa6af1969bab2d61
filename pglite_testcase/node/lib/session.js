// Each client connection's own session state on PGlite's one backend session.
//
// PostgreSQL gives every connection a backend of its own; PGlite has one. So that
// what a client sets is seen by that client only, the server keeps the state of
// the client whose turn it is in the backend, and when another client's turn
// comes (never inside a transaction: the owner keeps the session), it saves the
// settings of the one leaving and loads those of the one coming in.
//
// Clients also learn of setting changes as PostgreSQL tells them: ParameterStatus
// for the reported settings, at startup and before the ReadyForQuery that follows
// any change (PGlite 0.3 sends them at startup only).
'use strict';
const { message, cstring, eachMessage } = require('./framing');
const protocol = require('./protocol');
const encoding = require('./encoding');
const timeouts = require('./timeouts');

// Settings kept in the server's own names rather than PGlite's (see encoding.js, timeouts.js).
const OWN_SETTINGS = [encoding.SETTING, ...timeouts.SETTINGS];

// PostgreSQL 17's GUC_REPORT settings.
const REPORTED = [
  'in_hot_standby',
  'integer_datetimes',
  'TimeZone',
  'IntervalStyle',
  'is_superuser',
  'application_name',
  'default_transaction_read_only',
  'scram_iterations',
  'DateStyle',
  'standard_conforming_strings',
  'session_authorization',
  'client_encoding',
  'server_version',
  'server_encoding',
];

// What every session starts with here, beyond PGlite's boot values: PostgreSQL's own
// defaults where PGlite starts otherwise (it boots with client_min_messages = debug3,
// log_min_messages = debug1 and enable_seqscan = off, and RESET sends search_path to
// pg_catalog): [name, PostgreSQL's default, PGlite's value].
const BASELINE = [
  ['client_min_messages', 'notice', 'debug3'],
  ['log_min_messages', 'warning', 'debug1'],
  ['search_path', '"$user", public', 'pg_catalog'],
  ['enable_seqscan', 'on', 'off'],
];

// A statement that may change a setting: SET, RESET, DISCARD, set_config(). A guess on the
// side of looking: a miss costs a stale ParameterStatus, a false hit one query.
const MAY_CHANGE_SETTINGS = /(?:^|;)\s*(?:set|reset|discard)\b|\bset_config\s*\(/i;
const MAY_RESET = /(?:^|;)\s*(?:reset|discard)\b/i;

function literal(text) {
  return `'${String(text).replace(/'/g, "''")}'`;
}

function parameterStatus(name, value) {
  return message('S', cstring(name), cstring(value));
}

// The reported settings, then the server's own settings (the client's client_encoding, timeouts).
const REPORTED_QUERY = `SELECT ${[
  ...REPORTED.map((name) => `pg_catalog.current_setting(${literal(name)})`),
  ...OWN_SETTINGS.map((name) => `pg_catalog.current_setting(${literal(name)}, true)`),
].join(', ')}`;

// Custom settings (`SET app.tenant = ...`, `set_config('app.tenant', ...)`) are not in pg_settings
// either: the names clients have used, seen in their statements (a function's body included, where
// it is created), are saved by name too. Dynamic SQL that builds the name escapes this.
const CUSTOM_NAME = String.raw`"?[A-Za-z_][\w$]*"?\."?[A-Za-z_][\w$.]*"?`;
const CUSTOM_SET = new RegExp(String.raw`(?:^|;)\s*(?:set|reset)\s+(?:session\s+)?(${CUSTOM_NAME})`, 'gi');
const CUSTOM_SET_CONFIG = /\bset_config\s*\(\s*'([^']+)'/gi;
const MAX_CUSTOM_NAMES = 256;

function customSettingNames(sql) {
  const names = [];
  for (const pattern of [CUSTOM_SET, CUSTOM_SET_CONFIG]) {
    pattern.lastIndex = 0;
    for (let match = pattern.exec(sql); match !== null; match = pattern.exec(sql)) {
      const name = match[1].replace(/"/g, '').toLowerCase(); // (names are case-insensitive)
      if (name.includes('.') && !name.startsWith('pglite_testcase.')) names.push(name);
    }
  }
  return names;
}

const restoreByName = (name) =>
  `CASE WHEN COALESCE(pg_catalog.current_setting(${literal(name)}, true), '') <> '' ` +
  `THEN pg_catalog.format('SELECT pg_catalog.set_config(%L, %L, false)', ${literal(name)}, ` +
  `pg_catalog.current_setting(${literal(name)}, true)) END`;

// The settings a client made, as SQL that makes them again.
function savedQuery(customNames) {
  const custom = [...customNames].map((name) => `, ${restoreByName(name)}`).join('');
  return `${SAVED_QUERY.slice(0, -1)}${custom})`;
}

const SAVED_QUERY =
  "SELECT pg_catalog.concat_ws('; ', " +
  "(SELECT pg_catalog.string_agg(pg_catalog.format('SELECT pg_catalog.set_config(%L, %L, false)', name, setting), '; ') " +
  "FROM pg_catalog.pg_settings WHERE source = 'session'), " +
  "CASE WHEN session_user <> 'postgres' " +
  "THEN pg_catalog.format('SET SESSION AUTHORIZATION %I', session_user) END, " +
  "CASE WHEN pg_catalog.current_setting('role') <> 'none' " +
  "THEN pg_catalog.format('SET ROLE %I', pg_catalog.current_setting('role')) END, " +
  // Custom settings are not in pg_settings: the server's own by name.
  OWN_SETTINGS.map(
    (name) =>
      `CASE WHEN pg_catalog.current_setting('${name}', true) <> '' ` +
      `THEN pg_catalog.format('SELECT pg_catalog.set_config(%L, %L, false)', '${name}', ` +
      `pg_catalog.current_setting('${name}', true)) END`
  ).join(', ') +
  ')';

// pg_backend_pid() reads it (see Host.start): each client its own process id.
const BACKEND_PID = 'pglite_testcase.backend_pid';

const setConfig = (name, value) => `pg_catalog.set_config(${literal(name)}, ${literal(value)}, false)`;

const BASELINE_SQL = `SELECT ${BASELINE.map(([name, value]) => setConfig(name, value)).join(', ')}`;

// After a RESET or DISCARD: PostgreSQL's defaults where PGlite's reset values differ.
const AFTER_RESET_SQL = BASELINE.map(
  ([name, value, pgliteValue]) =>
    `SELECT ${setConfig(name, value)} WHERE pg_catalog.current_setting(${literal(name)}) = ${literal(pgliteValue)}`
).join('; ');

// Back to what a new connection gets, then `saved` (a client's own settings, SQL).
function loadSql(saved) {
  // PGlite's SET SESSION AUTHORIZATION DEFAULT keeps the last role set: name the user.
  const parts = ['SET SESSION AUTHORIZATION postgres', 'RESET ROLE', 'RESET ALL', BASELINE_SQL];
  if (saved) parts.push(saved);
  return parts.join('; ');
}

// Startup parameters that are settings: everything but the connection's identity, and
// options' `-c name=value` / `--name=value`.
function startupSettings(parameters) {
  const settings = [];
  for (const [name, value] of Object.entries(parameters)) {
    if (['user', 'database', 'replication', 'options'].includes(name)) continue;
    settings.push([name, value]);
  }
  const words = [];
  let word = '';
  let escaped = false;
  for (const char of parameters.options || '') {
    if (escaped) {
      word += char;
      escaped = false;
    } else if (char === '\\') {
      escaped = true;
    } else if (/\s/.test(char)) {
      if (word) words.push(word);
      word = '';
    } else {
      word += char;
    }
  }
  if (word) words.push(word);
  for (let i = 0; i < words.length; i += 1) {
    let setting = null;
    if (words[i] === '-c' && i + 1 < words.length) setting = words[++i];
    else if (words[i].startsWith('-c')) setting = words[i].slice(2);
    else if (words[i].startsWith('--')) setting = words[i].slice(2);
    if (setting === null || !setting.includes('=')) continue;
    const at = setting.indexOf('=');
    settings.push([setting.slice(0, at).replace(/-/g, '_'), setting.slice(at + 1)]);
  }
  return settings;
}

function applySql(settings) {
  return settings.map(([name, value]) => `SELECT ${setConfig(name, value)}`).join('; ');
}

// `reply` with `extra` messages put before its final ReadyForQuery.
function beforeReady(reply, extra) {
  if (extra.length === 0) return reply;
  const at = reply.length - 6;
  return Buffer.concat([reply.subarray(0, at), ...extra, reply.subarray(at)]);
}

// A startup reply with its ParameterStatus messages replaced by `reported`'s.
function withReported(reply, reported) {
  const parts = [];
  for (const part of eachMessage(reply)) {
    if (part[0] === 0x53) continue;
    if (part[0] === 0x4b || part[0] === 0x5a) {
      for (const [name, value] of reported) parts.push(parameterStatus(name, value));
      reported = new Map();
    }
    parts.push(part);
  }
  return Buffer.concat(parts);
}

// `values` with client_encoding the client's own: `setting` (encoding.SETTING's value), else
// the one it connected with. The client's conversions follow it.
function withEncoding(values, client, setting) {
  const name = encoding.effectiveEncoding(setting, client.startupEncoding);
  values.set('client_encoding', name);
  client.useEncoding(name);
  return values;
}

class Sessions {
  // host: query(sql) → reply
  constructor(host, { databases = ['postgres'] } = {}) {
    this.host = host;
    this.databases = new Set(databases); // the names the one database answers to
    this.loaded = null; // the client whose settings the backend holds (null: none)
    this.fresh = false; // the backend holds a new connection's settings
    this.customNames = new Set(); // custom settings' names clients have used (see customSettingNames)
    this.savedQuery = SAVED_QUERY;
  }

  // A statement of a client that may change settings: the custom settings it names are saved from now on.
  noteCustomSettings(sql) {
    let added = false;
    for (const name of customSettingNames(sql)) {
      if (this.customNames.has(name) || this.customNames.size >= MAX_CUSTOM_NAMES) continue;
      this.customNames.add(name);
      added = true;
    }
    if (added) this.savedQuery = savedQuery(this.customNames);
  }

  // `client`'s turn: its settings in the backend (called outside transactions only).
  async switchTo(client) {
    if (this.loaded === client) return;
    const leaving = this.loaded;
    if (leaving !== null && !leaving.closed) {
      const row = protocol.firstRow(await this.host.query(this.savedQuery));
      leaving.savedSettings = row && row[0] ? row[0] : null;
    }
    if (!(this.fresh && client.savedSettings === null)) {
      // Custom settings are not in pg_settings: the process id is set again by name.
      await this.host.query(`${loadSql(client.savedSettings)}; SELECT ${setConfig(BACKEND_PID, String(client.processId))}`);
    }
    this.loaded = client;
    this.fresh = false;
  }

  // A client left: what it set is not kept for anyone.
  forget(client) {
    if (this.loaded === client) this.loaded = null;
  }

  // The last client left: the backend back to a new connection's session.
  async reset() {
    await this.host.query('DISCARD ALL'); // alone: it cannot run in a multi-statement query's transaction
    await this.host.query(`SET SESSION AUTHORIZATION postgres; ${BASELINE_SQL}`);
    this.loaded = null;
    this.fresh = true;
  }

  // The reported settings' values for `client`, its client_encoding its own.
  async reportedValues(client) {
    const row = protocol.firstRow(await this.host.query(REPORTED_QUERY)) || [];
    const values = new Map(REPORTED.map((name, i) => [name, row[i]]).filter(([, value]) => value !== undefined));
    client.timeouts = timeouts.valuesOf(row.slice(REPORTED.length + 1));
    return withEncoding(values, client, row[REPORTED.length]);
  }

  // After `client`'s startup ran in PGlite (its settings loaded fresh): the database and
  // role it asked for checked, its startup settings applied, and its reply's
  // ParameterStatus the values it really has. Returns { reply } or { fatal }.
  async start(client, parameters, reply) {
    const user = parameters.user || '';
    const database = parameters.database || user;
    if (!this.databases.has(database)) return { fatal: protocol.fatal('3D000', `database "${database}" does not exist`) };
    const settings = [];
    for (const [name, value] of startupSettings(parameters)) {
      if (name.toLowerCase() !== 'client_encoding') {
        settings.push(timeouts.redirectStartupSetting(name, value));
        continue;
      }
      // Kept here, not in PGlite's session (see encoding.js).
      const canonical = encoding.canonicalName(value);
      if (canonical === null) return { fatal: protocol.fatal('22023', `invalid value for parameter "client_encoding": "${value}"`) };
      client.startupEncoding = canonical;
    }
    settings.push([BACKEND_PID, String(client.processId)]);
    const statements = [];
    if (user !== 'postgres') {
      const found = await this.host.query(`SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${literal(user)} AND rolcanlogin`);
      if (protocol.firstRow(found) === null) return { fatal: protocol.fatal('28000', `role "${user}" does not exist`) };
      statements.push(`SET SESSION AUTHORIZATION "${user.replace(/"/g, '""')}"`);
    }
    statements.push(applySql(settings)); // never empty: the process id is one of them
    const applied = await this.host.query(statements.join('; '));
    const error = protocol.firstError(applied);
    if (error) return { fatal: protocol.fatal(error.C, error.M, error.H) };
    client.reported = await this.reportedValues(client);
    return { reply: withReported(reply, client.reported) };
  }

  // `reply` to `client`'s batch, with ParameterStatus for the reported settings it changed.
  async report(client, reply, mayReset) {
    const status = protocol.transactionStatus(reply);
    if (!client.settingsChanged || status === null || status === 'E') return reply;
    if (mayReset) {
      await this.host.query(`${AFTER_RESET_SQL}; SELECT ${setConfig(BACKEND_PID, String(client.processId))}`);
    }
    const now = await this.reportedValues(client);
    const extra = [];
    for (const [name, value] of now) {
      if (client.reported.get(name) !== value) extra.push(parameterStatus(name, value));
    }
    client.reported = now;
    if (status === 'I') client.settingsChanged = false; // inside a transaction, its end may undo a change
    return beforeReady(reply, extra);
  }
}

module.exports = {
  Sessions,
  REPORTED,
  REPORTED_QUERY,
  OWN_SETTINGS,
  BASELINE_SQL,
  BACKEND_PID,
  MAY_CHANGE_SETTINGS,
  MAY_RESET,
  startupSettings,
  customSettingNames,
  withReported,
  beforeReady,
};
