// Session timeouts the server enforces itself.
//
// PGlite cannot run PostgreSQL's timers for idle_in_transaction_session_timeout,
// idle_session_timeout and transaction_timeout: on PGlite 0.5 the first one to fire leaves the
// backend answering nothing, for every client. So PGlite never sees them: a client's values
// live in settings of this server's own (SETTINGS), transactional and per connection like
// any setting, and the scheduler ends a connection that stays idle (in a transaction, or at
// all) or in one transaction too long with PostgreSQL's own FATAL error.
'use strict';

const TIMEOUTS = {
  idle_in_transaction_session_timeout: {
    sqlstate: '25P03',
    message: 'terminating connection due to idle-in-transaction timeout',
  },
  idle_session_timeout: { sqlstate: '57P05', message: 'terminating connection due to idle-session timeout' },
  transaction_timeout: { sqlstate: '25P04', message: 'terminating connection due to transaction timeout' },
};
const NAMES = Object.keys(TIMEOUTS);
const SETTINGS = NAMES.map((name) => `pglite_testcase.${name}`);
const settingOf = (name) => `pglite_testcase.${name}`;

const UNITS = { us: 0.001, ms: 1, s: 1000, min: 60000, h: 3600000, d: 86400000 };

// Milliseconds from a value as PostgreSQL takes it ('100', '100ms', '1s', '5min'), or null.
function milliseconds(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(String(text));
  if (!match) return null;
  return Math.round(Number(match[1]) * UNITS[match[2] || 'ms']);
}

const NAME_PATTERN = `(${NAMES.join('|')})`;
const VALUE = String.raw`('(?:[^']|'')*'|[A-Za-z0-9_.]+)`;
const SET = new RegExp(String.raw`(^|;)(\s*)SET\s+(SESSION\s+|LOCAL\s+)?${NAME_PATTERN}\s*(?:TO|=)\s*${VALUE}`, 'gi');
const RESET = new RegExp(String.raw`(^|;)(\s*)RESET\s+${NAME_PATTERN}\b`, 'gi');
const SET_CONFIG = new RegExp(String.raw`\bset_config\s*\(\s*'${NAME_PATTERN}'`, 'gi');
const SHOW = new RegExp(String.raw`^\s*SHOW\s+${NAME_PATTERN}\s*;?\s*$`, 'i');
const MENTIONS = new RegExp(NAME_PATTERN, 'i');

// `sql` with its statements on these settings aimed at the server's own; `raising(sqlstate,
// message)` gives SQL that fails so (a value PostgreSQL would refuse).
function rewriteSql(sql, raising) {
  if (!MENTIONS.test(sql)) return sql;
  const show = SHOW.exec(sql);
  if (show) {
    const name = show[1].toLowerCase();
    return `SELECT coalesce(nullif(pg_catalog.current_setting('${settingOf(name)}', true), ''), '0') AS ${name}`;
  }
  let refused = null;
  const rewritten = sql
    .replace(SET, (whole, start, space, scope, name, value) => {
      const setting = settingOf(name.toLowerCase());
      if (/^default$/i.test(value)) return `${start}${space}SET ${scope || ''}${setting} TO DEFAULT`;
      const text = value.startsWith("'") ? value.slice(1, -1).replace(/''/g, "'") : value;
      if (milliseconds(text) === null) refused = refused || `invalid value for parameter "${name}": "${text}"`;
      return `${start}${space}SET ${scope || ''}${setting} TO '${String(milliseconds(text))}'`;
    })
    .replace(RESET, (whole, start, space, name) => `${start}${space}RESET ${settingOf(name.toLowerCase())}`)
    .replace(SET_CONFIG, (whole, name) => `pg_catalog.set_config('${settingOf(name.toLowerCase())}'`);
  return refused === null ? rewritten : raising('22023', refused);
}

// Startup settings (name, value) with these aimed at the server's own.
function redirectStartupSetting(name, value) {
  const key = name.toLowerCase();
  if (!NAMES.includes(key)) return [name, value];
  return [settingOf(key), String(milliseconds(value) === null ? value : milliseconds(value))];
}

// A client's values, from the settings' values (in SETTINGS' order): { name: ms }.
function valuesOf(settingValues) {
  const values = {};
  NAMES.forEach((name, i) => {
    values[name] = milliseconds(settingValues[i] || '0') || 0;
  });
  return values;
}

module.exports = { TIMEOUTS, NAMES, SETTINGS, milliseconds, rewriteSql, redirectStartupSetting, valuesOf };
